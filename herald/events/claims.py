"""De-duplication by client id: each event with a `unique_id` claims its key, so a retried event is
recognized and stored once, whatever the batch it comes in."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Session

from herald.errors import InvalidInput
from herald.events.batch import EventInput, Outcome, _Call, _pg_rows
from herald.events.pgtext import array_literal, uuid_array_literal
from herald.models import EventKey

# (event_id, profile_id) of stored event keys, by unique_id.
KnownKeys = dict[str, tuple[uuid.UUID, uuid.UUID]]

# One probe of the primary key per unique id (a LATERAL subquery with LIMIT 1, which PostgreSQL
# plans as a nested loop over the index whatever its statistics). With `unique_id = ANY(list)` or
# a join, the planner chose to read the whole table for a thousand ids on tables of 20,000 to
# 100,000 rows, analyzed or not: 3 to 20 times slower, and slower as the table grows.
_KNOWN_KEYS_PG = (
    "SELECT w.key, k.event_id, k.profile_id "
    "FROM unnest(%(unique_ids)s::varchar[]) AS w(key) CROSS JOIN LATERAL ("
    "SELECT event_id, profile_id FROM event_keys "
    "WHERE org_id = %(org_id)s AND unique_id = w.key LIMIT 1) k"
)


def _known_keys(
    session: Session, org_id: uuid.UUID, unique_ids: list[str], postgres: bool
) -> KnownKeys:
    """The stored keys among these unique ids."""
    rows: Any
    if postgres:
        rows = _pg_rows(
            session,
            _KNOWN_KEYS_PG,
            {"org_id": org_id, "unique_ids": array_literal(unique_ids)},
        )
    else:
        rows = session.execute(
            sa.select(EventKey.unique_id, EventKey.event_id, EventKey.profile_id).where(
                EventKey.org_id == org_id, EventKey.unique_id.in_(unique_ids)
            )
        )
    return {unique_id: (event_id, profile_id) for unique_id, event_id, profile_id in rows}


def _mark_duplicate(outcome: Outcome, key: tuple[uuid.UUID, uuid.UUID]) -> None:
    outcome.duplicate = True
    outcome.event_id, outcome.profile_id = key


def _recognize_failed_retries(call: _Call, live: list[int]) -> None:
    """An event whose profile could not be resolved but whose unique_id is already stored (a
    retry, after its person was changed) is answered as the duplicate it is, not as an error."""
    items, outcomes = call.items, call.outcomes
    failed = [i for i in live if outcomes[i].error is not None and items[i].unique_id is not None]
    if not failed:
        return
    unique_ids = list({items[i].unique_id or "" for i in failed})
    known = _known_keys(call.session, call.org_id, unique_ids, call.postgres)
    for index in failed:
        key = known.get(items[index].unique_id or "")
        if key is not None:
            outcomes[index].error = None
            outcomes[index].error_type = InvalidInput
            _mark_duplicate(outcomes[index], key)


_CLAIM_KEYS_PG = (
    "INSERT INTO event_keys (org_id, unique_id, event_id, profile_id, created_at) "
    "SELECT %(org_id)s, k.unique_id, k.event_id, k.profile_id, %(now)s "
    "FROM unnest(%(unique_ids)s::varchar[], %(event_ids)s::uuid[], %(profile_ids)s::uuid[]) "
    "AS k(unique_id, event_id, profile_id) "
    "ON CONFLICT DO NOTHING RETURNING unique_id"
)


def _claim_unique_ids(call: _Call, live: list[int], first_index: dict[str, int]) -> list[int]:
    """Record the unique_id of each new event; return the events to store. Of two events with one
    unique_id, in this batch or in a concurrent one, only the first stored is kept."""
    if not first_index:
        return live
    session = call.session
    org_id = call.org_id
    outcomes = call.outcomes
    now = call.now
    # One statement for the whole batch, in the batch's order (the order its key locks are taken).
    if call.postgres:
        rows = _pg_rows(
            session,
            _CLAIM_KEYS_PG,
            {
                "org_id": org_id,
                "now": now,
                "unique_ids": array_literal(first_index),
                "event_ids": uuid_array_literal(call.event_texts[i] for i in first_index.values()),
                "profile_ids": uuid_array_literal(
                    call.profile_texts[i] for i in first_index.values()
                ),
            },
        )
        inserted = {unique_id for (unique_id,) in rows}
    else:
        inserted = set(
            session.scalars(
                sqlite.insert(EventKey).on_conflict_do_nothing().returning(EventKey.unique_id),
                [
                    {
                        "org_id": org_id,
                        "unique_id": unique_id,
                        "event_id": outcomes[index].event_id,
                        "profile_id": outcomes[index].profile_id,
                        "created_at": now,
                    }
                    for unique_id, index in first_index.items()
                ],
            )
        )
    return _settle_claims(call, live, first_index, inserted)


def _first_claims(items: list[EventInput], live: list[int]) -> dict[str, int]:
    """The first event of each unique_id among these."""
    first_index: dict[str, int] = {}
    for index in live:
        unique_id = items[index].unique_id
        if unique_id is not None and unique_id not in first_index:
            first_index[unique_id] = index
    return first_index


def _settle_claims(
    call: _Call, live: list[int], first_index: dict[str, int], inserted: set[str]
) -> list[int]:
    """After the claims: the events to store (no unique_id, or the first of one this call
    claimed), and the others answered as duplicates of the event stored first."""
    if len(inserted) == len(first_index) and len(first_index) == len(live):
        return live  # the common case: every event new, each with its own unique_id
    items, outcomes = call.items, call.outcomes
    raced = [u for u in first_index if u not in inserted]
    stored = _known_keys(call.session, call.org_id, raced, call.postgres) if raced else {}
    kept = []
    for index in live:
        unique_id = items[index].unique_id
        if unique_id is None or (unique_id in inserted and first_index[unique_id] == index):
            kept.append(index)
        elif unique_id in stored:
            _mark_duplicate(outcomes[index], stored[unique_id])
        else:  # the same unique_id earlier in this batch
            first = outcomes[first_index[unique_id]]
            outcomes[index].duplicate = True
            outcomes[index].event_id = first.event_id
            outcomes[index].profile_id = first.profile_id
    return kept
