"""Sending messages: claim their rows, check each may still be sent, render them, hand them to
the organization's provider, record what happened. A batch of messages (a campaign's kick
carries up to BATCH_SIZE) costs a few statements, not a few per message; one message is a batch
of one.

The order is what makes a crash harmless (DESIGN invariant 3):

1. One transaction claims the rows (queued -> sending, or a sending row whose worker stopped
   heartbeating) in one compare-and-set UPDATE, asks each source's send gate once (a paused
   campaign holds its messages, a cancelled one skips them), re-checks suppression and consent
   (they may have changed since the messages were queued), renders each message and builds its
   MIME, and commits.
2. The provider is called for each message outside any transaction (one pooled SMTP connection
   serves the whole batch).
3. Each message the provider accepted is recorded as sent at once, in a transaction of its own,
   before the next message goes out on that connection; refusals are recorded in bulk when the
   batch ends or every RECORD_EVERY: back to queued with a delay (transient error), or failed
   (permanent error, or too many attempts). So a sender killed mid-batch re-sends at most the
   one message in flight per open SMTP connection, or the one call in flight per API provider
   connection: SMTP and the providers' APIs have no idempotency, and that is the floor.

A worker that dies in step 2 leaves its rows `sending`; once their heartbeat is older than
`STALE_AFTER` the sweep kicks them again and another worker claims them. The provider gets the
same message id and idempotency key, so the outbox stores each once; over SMTP, which has no
idempotency, a re-sent copy carries the same Message-ID header.

The steps live by concern in `herald.email`: `claiming` (step 1), `gates` (send gates),
`recording` (step 3), `heartbeats` (heartbeats and the sweep); constants and types in `batch`."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator, Sequence
from datetime import timedelta
from typing import cast

from herald.db import Database
from herald.email import failover
from herald.email.batch import Handed, Prepared
from herald.email.claiming import claim_and_prepare_many
from herald.email.heartbeats import _heartbeats
from herald.email.providers import EmailProvider, OutgoingEmail, PermanentSendError, SendResult
from herald.email.providers.base import OnAccepted
from herald.email.recording import _record

logger = logging.getLogger(__name__)

# A batch still sending records the refusals it has after this long (what a provider accepted
# is recorded at once).
RECORD_EVERY = timedelta(seconds=1)


def send_message(database: Database, message_id: uuid.UUID) -> str:
    """Claim, check, render and send one message; returns what happened ("sent", "retry",
    "failed", "suppressed", "skipped", or why nothing was done). Safe to call any number of
    times for the same message."""
    return send_messages(database, [message_id])[message_id]


def send_messages(database: Database, message_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, str]:
    """`send_message` for a batch: what happened to each message, by id."""
    with database.transaction() as session:
        prepared = claim_and_prepare_many(session, message_ids)
    outcomes = {mid: p for mid, p in prepared.items() if isinstance(p, str)}
    ready = [p for p in prepared.values() if isinstance(p, Prepared)]
    if ready:
        outcomes.update(_hand_over_and_record(database, ready))
    return outcomes


def _hand_over(
    database: Database, chunk: list[Prepared], on_accepted: OnAccepted | None = None
) -> list[Handed]:
    """The one place the send path calls providers: a chunk of messages with the same provider
    (the organization's failover list, or its single provider). `on_accepted` hears of each
    message the provider took as soon as it did, before the next goes out."""
    # An SMS provider takes the same calls as an email provider (`send`, or `send_batch`), so
    # `send_many` hands its chunk over as well; only email has a failover list (a Router).
    emails = cast("list[OutgoingEmail]", [p.email for p in chunk])
    outcomes = failover.hand_over(
        database, cast("EmailProvider", chunk[0].provider), emails, on_accepted
    )
    handed: list[Handed] = []
    for outcome in outcomes:
        if isinstance(outcome, SendResult):
            handed.append(("sent", outcome))
        elif isinstance(outcome, PermanentSendError):
            handed.append(("failed", str(outcome), outcome))
        else:  # transient, or a provider that cannot send now: later, maybe through another
            handed.append(("retry", str(outcome), outcome))
    return handed


def _chunks(ready: list[Prepared]) -> Iterator[list[Prepared]]:
    """Runs of messages with the same provider, as many as it takes in one call."""
    start = 0
    while start < len(ready):
        provider = ready[start].provider
        size = max(1, getattr(provider, "batch_size", 1))
        stop = start + 1
        while stop < len(ready) and stop - start < size and ready[stop].provider is provider:
            stop += 1
        yield ready[start:stop]
        start = stop


def _hand_over_and_record(database: Database, ready: list[Prepared]) -> dict[uuid.UUID, str]:
    """Step 2 and 3: send each message, recording each one the provider took at once, before
    the next goes out on that connection; refusals are recorded when the batch is done or has
    taken RECORD_EVERY since the last record."""
    outcomes: dict[uuid.UUID, str] = {}
    done: list[tuple[Prepared, Handed]] = []
    with _heartbeats.beating(database, [p.email.message_id for p in ready]) as beating:
        last_record = time.monotonic()
        sent_so_far = 0
        for chunk in _chunks(ready):
            recorded: set[int] = set()
            handed = _hand_over(database, chunk, _recorder(database, chunk, recorded, outcomes))
            done.extend(
                pair
                for index, pair in enumerate(zip(chunk, handed, strict=True))
                if index not in recorded
            )
            sent_so_far += len(chunk)
            more = sent_so_far < len(ready)
            if more and time.monotonic() - last_record < RECORD_EVERY.total_seconds():
                continue
            if done:
                with database.transaction() as session:
                    outcomes.update(_record(session, done))
                beating.stop([p.email.message_id for p, _handed in done])
            done, last_record = [], time.monotonic()
    return outcomes


def _recorder(
    database: Database, chunk: list[Prepared], recorded: set[int], outcomes: dict[uuid.UUID, str]
) -> OnAccepted:
    """Records a message of `chunk` as sent the moment its provider took it, in a transaction of
    its own, so that a sender killed mid-batch leaves unrecorded at most the one message in
    flight on each connection (or the one batch call in flight): SMTP and the providers' APIs
    have no idempotency, so that one is sent again. If the record fails, the batch's record
    has another go."""

    def accepted(index: int, result: SendResult) -> None:
        prepared = chunk[index]
        try:
            with database.transaction() as session:
                outcomes.update(_record(session, [(prepared, ("sent", result))]))
        except Exception:
            logger.exception("could not record message %s as sent yet", prepared.email.message_id)
            return
        recorded.add(index)
        _heartbeats.stop([prepared.email.message_id])

    return accepted
