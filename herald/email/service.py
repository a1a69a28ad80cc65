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
3. A new transaction records the results, in bulk: sent, back to queued with a delay
   (transient error), or failed (permanent error, or too many attempts). A long batch records
   what it has done every RECORD_EVERY, so a crash re-sends little.

A worker that dies in step 2 leaves its rows `sending`; once their heartbeat is older than
`STALE_AFTER` the sweep kicks them again and another worker claims them. The provider gets the
same message id and idempotency key, so the outbox stores each once; over SMTP, which has no
idempotency, a re-sent copy carries the same Message-ID header.

The steps live by concern in `herald.email`: `claiming` (step 1), `gates` (send gates),
`recording` (step 3), `heartbeats` (heartbeats and the sweep); constants and types in `batch`."""

from __future__ import annotations

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
from herald.email.recording import _record

# A batch still sending records the outcomes it has after this long, so a crash re-sends little.
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


def _hand_over(database: Database, chunk: list[Prepared]) -> list[Handed]:
    """The one place the send path calls providers: a chunk of messages with the same provider
    (the organization's failover list, or its single provider)."""
    # An SMS provider takes the same calls as an email provider (`send`, or `send_batch`), so
    # `send_many` hands its chunk over as well; only email has a failover list (a Router).
    emails = cast("list[OutgoingEmail]", [p.email for p in chunk])
    outcomes = failover.hand_over(database, cast("EmailProvider", chunk[0].provider), emails)
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
    """Step 2 and 3: send each message, recording the outcomes when the batch is done or has
    taken RECORD_EVERY since the last record."""
    outcomes: dict[uuid.UUID, str] = {}
    done: list[tuple[Prepared, Handed]] = []
    with _heartbeats.beating(database, [p.email.message_id for p in ready]) as beating:
        last_record = time.monotonic()
        sent_so_far = 0
        for chunk in _chunks(ready):
            done.extend(zip(chunk, _hand_over(database, chunk), strict=True))
            sent_so_far += len(chunk)
            more = sent_so_far < len(ready)
            if more and time.monotonic() - last_record < RECORD_EVERY.total_seconds():
                continue
            with database.transaction() as session:
                outcomes.update(_record(session, done))
            beating.stop([p.email.message_id for p, _handed in done])
            done, last_record = [], time.monotonic()
    return outcomes
