"""What every email provider implements: take one finished MIME message, hand it on, say how."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from herald.email.mime import MimeParts

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class OutgoingEmail:
    """One message ready to go: the MIME bytes are final (headers, parts, DKIM signature)."""

    message_id: uuid.UUID
    org_id: uuid.UUID
    # Stable across retries of the same message; given to providers that deduplicate by a key.
    idempotency_key: str
    envelope_from: str
    envelope_to: list[str] = field(default_factory=list)
    mime: bytes = b""
    # Set when an earlier attempt's outcome was unknown: only this provider (an email_providers
    # id) may be asked again.
    unsure_provider_id: uuid.UUID | None = None
    # What the MIME was built from, for providers whose API takes fields, not MIME (parsing
    # the MIME again cost tens of milliseconds a message).
    parts: MimeParts | None = None


@dataclass(frozen=True)
class SendResult:
    """The provider's id for the message, to match its delivery reports later, and which
    provider took it (set by the failover router: the organization's list names several)."""

    provider_message_id: str
    provider: str | None = None
    provider_id: uuid.UUID | None = None


class SendError(Exception):
    """The provider did not take the message. `code` is the provider's (an SMTP reply code)."""

    def __init__(self, message: str, *, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        # The provider of the organization's list that gave this answer (failover sets it).
        self.provider_id: uuid.UUID | None = None
        self.provider: str | None = None


class TransientSendError(SendError):
    """Worth retrying later: a 4xx reply, a timeout, a dropped connection.

    `maybe_sent` says the provider may have taken the message although no answer said so (the
    request was written, then the connection timed out or dropped): such a message is never
    handed to another provider, only retried through the same one (docs/email.md, Failover)."""

    def __init__(self, message: str, *, code: int | None = None, maybe_sent: bool = False) -> None:
        super().__init__(message, code=code)
        self.maybe_sent = maybe_sent


class PermanentSendError(SendError):
    """Retrying cannot help: a 5xx reply, a refused recipient, a configuration the provider
    rejects. `suppress` says the provider found the address itself invalid: it goes on the
    suppression list as a hard bounce."""

    def __init__(self, message: str, *, code: int | None = None, suppress: bool = False) -> None:
        super().__init__(message, code=code)
        self.suppress = suppress


class ProviderUnavailable(SendError):
    """The provider refuses to send anything for now, whatever the message: a suspended
    account, bad credentials, sending paused. The message is not at fault (it may go through
    another provider, or later); the provider's circuit breaker opens at once."""


# What a batch send gives for each message, in order: the provider's answer or its refusal.
Outcome = SendResult | SendError


class EmailProvider(Protocol):
    name: str

    def send(self, email: OutgoingEmail) -> SendResult:
        """Hand the message over, or raise TransientSendError / PermanentSendError /
        ProviderUnavailable."""
        ...


class NotYet(Exception):
    """The message may not go now but must not fail either: it waits until `until` (an SMS in
    the recipient's quiet hours, a daily limit reached)."""

    def __init__(self, until: datetime, reason: str) -> None:
        super().__init__(reason)
        self.until = until
        self.reason = reason


# Told at once of each message a provider accepted (its index in the batch, the answer), before
# the next message goes out on the same connection: the send path records it there, so a crash
# re-sends at most the one message in flight per connection (or the one batch call in flight).
OnAccepted = Callable[[int, SendResult], None]


def report_accepted(
    outcomes: Sequence[Outcome],
    on_accepted: OnAccepted | None,
    indexes: Sequence[int] | None = None,
) -> None:
    """Tell `on_accepted` of the accepted ones among one call's outcomes; `indexes`: their
    places in the batch (in order from 0 when left out)."""
    if on_accepted is None:
        return
    for place, outcome in enumerate(outcomes):
        if isinstance(outcome, SendResult):
            on_accepted(place if indexes is None else indexes[place], outcome)


def send_many(
    provider: EmailProvider,
    emails: Sequence[OutgoingEmail],
    on_accepted: OnAccepted | None = None,
) -> list[Outcome]:
    """Hand over a batch: through the provider's batch call when it has one (`send_batch`),
    else one message at a time. A provider that becomes unavailable fails the rest of the
    batch without being asked again. `on_accepted` hears of each accepted message as soon as
    the provider's answer is in."""
    outcomes: list[Outcome]
    batch = getattr(provider, "send_batch", None)
    if batch is not None:
        # The provider reports each call's accepted messages as that call returns.
        return list(batch(emails, on_accepted))
    outcomes = []
    for index, email in enumerate(emails):
        if outcomes and isinstance(outcomes[-1], ProviderUnavailable):
            outcomes.append(outcomes[-1])
            continue
        try:
            result = provider.send(email)
        except SendError as exc:
            outcomes.append(exc)
        except Exception as exc:
            # Not an answer the provider gave: it may have taken the message.
            logger.exception("provider %s raised on message %s", provider.name, email.message_id)
            outcomes.append(TransientSendError(repr(exc), maybe_sent=True))
        else:
            outcomes.append(result)
            if on_accepted is not None:
                on_accepted(index, result)
    return outcomes
