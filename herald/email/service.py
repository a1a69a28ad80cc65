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
3. Each message the provider accepted goes into the hand-off journal (`message_handoffs`, one
   INSERT committed) before the next message goes out on that connection. The outcomes are
   recorded in bulk when the batch ends or every RECORD_EVERY: sent, back to queued with a delay
   (transient error), or failed (permanent error, or too many attempts); the same transaction
   forgets the batch's hand-offs. A worker that takes over a dead sender's messages records
   those in the journal as sent instead of sending them again, so a sender killed mid-batch
   re-sends at most the one message in flight per open SMTP connection, or the one call in
   flight per API provider connection: SMTP and the providers' APIs have no idempotency, and
   that is the floor.

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
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import cast

import sqlalchemy as sa
from sqlalchemy.orm import Session

from herald.db import Database, utcnow
from herald.email import failover
from herald.email.batch import Handed, Prepared
from herald.email.claiming import claim_and_prepare_many
from herald.email.heartbeats import _heartbeats
from herald.email.providers import EmailProvider, OutgoingEmail, PermanentSendError, SendResult
from herald.email.providers.base import OnAccepted
from herald.email.recording import _record
from herald.models import MessageHandoff
from herald.worker import register_sweep

logger = logging.getLogger(__name__)

# A batch still sending records the outcomes it has after this long (what a provider accepted
# is in the hand-off journal at once).
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
        ready, recorded = _handed_over_before(database, ready)
        outcomes.update(recorded)
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
    """Step 2 and 3: send each message, writing each one the provider took to the hand-off
    journal at once, before the next goes out on that connection; the outcomes are recorded in
    bulk when the batch is done or has taken RECORD_EVERY since the last record."""
    outcomes: dict[uuid.UUID, str] = {}
    done: list[tuple[Prepared, Handed]] = []
    with _heartbeats.beating(database, [p.email.message_id for p in ready]) as beating:
        last_record = time.monotonic()
        sent_so_far = 0
        with _journal(database) as journal:
            for chunk in _chunks(ready):
                handed = _hand_over(database, chunk, journal(chunk))
                done.extend(zip(chunk, handed, strict=True))
                sent_so_far += len(chunk)
                more = sent_so_far < len(ready)
                if more and time.monotonic() - last_record < RECORD_EVERY.total_seconds():
                    continue
                outcomes.update(_record_batch(database, done))
                beating.stop([p.email.message_id for p, _handed in done])
                done, last_record = [], time.monotonic()
    return outcomes


def _record_batch(database: Database, done: list[tuple[Prepared, Handed]]) -> dict[uuid.UUID, str]:
    """Record the batch's outcomes, and forget their hand-offs, in one transaction."""
    with database.transaction() as session:
        outcomes = _record(session, done)
        session.execute(
            sa.delete(MessageHandoff).where(
                MessageHandoff.message_id.in_([p.email.message_id for p, _handed in done])
            )
        )
    return outcomes


@contextmanager
def _journal(database: Database) -> Iterator[Callable[[list[Prepared]], OnAccepted]]:
    """Writes a message of `chunk` to the hand-off journal the moment its provider took it, in
    one INSERT committed before the next message goes out: a sender killed mid-batch leaves at
    most the one message in flight on each connection (or the one batch call in flight) without
    a trace, and only that one is sent again (SMTP and the providers' APIs have no idempotency).
    If the write fails, the batch's record still records the message.

    One connection serves the batch's hand-offs (taken at the first one): a pool checkout per
    message, with its liveness ping, doubled the journal's cost. On PostgreSQL its commits do
    not wait for the WAL flush: the journal guards against a killed sender, and a database
    crash within the flush delay costs at most what it cost before there was a journal (those
    messages are sent again)."""
    held: list[sa.Connection] = []

    def connection() -> sa.Connection:
        if not held:
            opened = database.engine.connect()
            if opened.dialect.name == "postgresql":
                opened.exec_driver_sql("SET synchronous_commit TO off")
                opened.commit()
            held.append(opened)
        return held[0]

    def noting(chunk: list[Prepared]) -> OnAccepted:
        return lambda index, result: accepted(chunk[index], result)

    def accepted(prepared: Prepared, result: SendResult) -> None:
        try:
            journal = connection()
            journal.execute(
                sa.insert(MessageHandoff),
                {
                    "message_id": prepared.email.message_id,
                    "attempt": prepared.attempt,
                    "provider": result.provider or prepared.provider.name,
                    "provider_message_id": result.provider_message_id,
                    "provider_id": result.provider_id,
                    "accepted_at": utcnow(),
                },
            )
            journal.commit()
        except Exception:
            logger.exception(
                "could not note that message %s was handed over", prepared.email.message_id
            )
            for broken in held:
                broken.invalidate()
                broken.close()
            held.clear()

    try:
        yield noting
    finally:
        for journal in held:
            if journal.dialect.name == "postgresql":
                journal.exec_driver_sql("RESET synchronous_commit")
                journal.commit()
            journal.close()


def _handed_over_before(
    database: Database, ready: list[Prepared]
) -> tuple[list[Prepared], dict[uuid.UUID, str]]:
    """Of messages just claimed, those a provider accepted under an earlier claim whose sender
    died before recording it (its hand-off is in the journal) are recorded as sent now, not sent
    again. Returns the others, and what happened to these.

    Only a message claimed before can have a hand-off (a claim counts an attempt, and only a
    hold, which hands nothing over, gives one back), so a batch of first claims, the usual
    case, costs no query."""
    claimed_before = [p.email.message_id for p in ready if p.attempt > 1]
    if not claimed_before:
        return ready, {}
    with database.transaction() as session:
        noted = {
            row.message_id: row
            for row in session.scalars(
                sa.select(MessageHandoff).where(MessageHandoff.message_id.in_(claimed_before))
            )
        }
    if not noted:
        return ready, {}
    done: list[tuple[Prepared, Handed]] = []
    for prepared in ready:
        row = noted.get(prepared.email.message_id)
        if row is not None:
            logger.info("message %s was handed over before its sender died", row.message_id)
            result = SendResult(row.provider_message_id, row.provider, row.provider_id)
            done.append((prepared, ("sent", result)))
    return [p for p in ready if p.email.message_id not in noted], _record_batch(database, done)


PRUNE_HANDOFFS_AFTER = timedelta(days=1)


@register_sweep("message-handoffs")
def forget_old_handoffs(session: Session, now: datetime) -> int:
    """Hand-offs of messages nobody took over in a day (a cancelled campaign's, say)."""
    session.execute(
        sa.delete(MessageHandoff).where(MessageHandoff.accepted_at < now - PRUNE_HANDOFFS_AFTER)
    )
    return 0
