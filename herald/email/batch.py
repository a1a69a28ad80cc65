"""What a send batch is made of: its limits and timings (batch size, heartbeats, retries), the
message a provider gets, a prepared message and what handing it over came to."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal, Protocol

from herald.email.providers import SendError, SendResult

# Messages a send task takes at most (one claim, one render loop, one SMTP connection, one
# record). Larger batches cost fewer statements a message; smaller ones spread a campaign over
# more worker threads and hold fewer messages in `sending` at a time.
BATCH_SIZE = 200

# A sending worker refreshes the heartbeats of its messages this often...
HEARTBEAT_INTERVAL = timedelta(seconds=30)
# ...so a message `sending` with an older heartbeat lost its worker.
STALE_AFTER = timedelta(minutes=5)
# A queued message the sweep finds this long past its time lost its kick.
KICK_GRACE = timedelta(seconds=60)
# Attempts at one message (claims, including those after a crash) before it fails for good.
MAX_ATTEMPTS = 5
# Wait before the next attempt after a transient error, by attempt number (the last repeats).
RETRY_DELAYS = (
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
)
# Suppressions that stop transactional email too: sending there cannot work or was asked not to
# be done at all. An unsubscribe only stops marketing.
TRANSACTIONAL_BLOCKING_REASONS = frozenset({"hard_bounce", "complaint", "manual"})
MAX_ERROR_LENGTH = 2000


class Outgoing(Protocol):
    """A message ready for its channel's provider (an email's MIME, an SMS's body)."""

    @property
    def message_id(self) -> uuid.UUID: ...

    @property
    def org_id(self) -> uuid.UUID: ...


class ChannelProvider(Protocol):
    """Any channel's provider: hands one ready message over, or raises a SendError."""

    name: str

    def send(self, outgoing: Any, /) -> SendResult: ...


@dataclass(frozen=True)
class Prepared:
    # The ready message (named `email` from when email was the only channel).
    email: Outgoing
    provider: ChannelProvider
    attempt: int
    # Recorded on the message with its outcome.
    subject: str
    from_address: str


# What handing a message over came to: sent (with the provider's answer), or an error to retry
# later or to fail with (and the provider's refusal, when it gave one).
Handed = (
    tuple[Literal["sent"], SendResult]
    | tuple[Literal["retry", "failed"], str]
    | tuple[Literal["retry", "failed"], str, SendError]
)


def retry_delay(attempt: int) -> timedelta:
    return RETRY_DELAYS[min(max(attempt, 1), len(RETRY_DELAYS)) - 1]
