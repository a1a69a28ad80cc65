"""The message ledger's shared writes: what happened to a message is one MessageEvent row."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from psycopg.types.json import Jsonb
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from herald.analytics import marks
from herald.db import new_ids, utcnow
from herald.models import Message, MessageEvent
from herald.tenancy.scope import get_scoped


def get_message(session: Session, org_id: uuid.UUID, message_id: uuid.UUID) -> Message:
    return get_scoped(session, Message, org_id, message_id)


def record_event(
    session: Session,
    message: Message,
    kind: str,
    *,
    data: dict[str, Any] | None = None,
    machine: bool = False,
    provider_event_id: str | None = None,
    at: datetime | None = None,
) -> MessageEvent | None:
    """Add an event to the message's history. With a provider's event id, a second delivery of
    the same webhook event adds nothing and returns None."""
    event = MessageEvent(
        org_id=message.org_id,
        message_id=message.id,
        kind=kind,
        at=at or utcnow(),
        machine=machine,
        data=data or {},
        provider_event_id=provider_event_id,
    )
    if provider_event_id is None:
        session.add(event)
        session.flush()
    else:
        try:
            with session.begin_nested():
                session.add(event)
        except IntegrityError:
            return None
    _mark_for_analytics(session, message.org_id, kind, [event.at], touch=not machine)
    return event


def _mark_for_analytics(
    session: Session, org_id: uuid.UUID, kind: str, moments: list[datetime], *, touch: bool
) -> None:
    """Analytics' hand-off: the hours these events fall in need their rollups recomputed."""
    if touch and kind in ("opened", "clicked"):
        marks.mark_touches(session, org_id, moments)
    else:
        marks.mark_hours(session, org_id, moments)


def add_events(
    session: Session,
    kind: str,
    events: Sequence[tuple[uuid.UUID, uuid.UUID, dict[str, Any]]],
    *,
    at: datetime | None = None,
) -> None:
    """Events of one kind for many messages, given as (org id, message id, data), in one
    INSERT: the batch paths' `record_event` (no provider event ids: nothing to deduplicate)."""
    when = at or utcnow()
    ids = iter(new_ids(len(events)))
    bulk_insert(
        session,
        MessageEvent,
        [
            {
                "id": next(ids),
                "org_id": org_id,
                "message_id": message_id,
                "kind": kind,
                "at": when,
                "machine": False,
                "data": data,
            }
            for org_id, message_id, data in events
        ],
    )
    for org_id in {org_id for org_id, _message, _data in events}:
        _mark_for_analytics(session, org_id, kind, [when], touch=True)


# --- Batch writes -------------------------------------------------------------------------------
#
# The batch paths (a campaign's fan-out, a send task's claim and record) write a few hundred rows
# at a time. On PostgreSQL one statement takes them all as one array a column, through unnest():
# its text is the same whatever the number of rows, so neither SQLAlchemy nor the driver renders
# or parses a statement with thousands of parameters, and the server plans it once. Elsewhere
# (SQLite) the same writes go through SQLAlchemy's multi-row INSERT and executemany UPDATE.


def bulk_insert(
    session: Session,
    model: type[Any],
    rows: Sequence[dict[str, Any]],
    *,
    skip_conflicts: tuple[str, ...] = (),
    returning: str | None = None,
) -> list[Any]:
    """Insert rows (dicts with the same keys, every value given) in one statement. With
    `skip_conflicts` (the columns of a unique key) a row whose key is taken is left out; with
    `returning` (a column name) the list holds that column of each row inserted."""
    if not rows:
        return []
    columns = tuple(rows[0])
    if _is_postgresql(session):
        params, constant = _pg_params(model.__table__, columns, rows, keep=columns[0])
        statement = _pg_insert(model.__table__, columns, constant, skip_conflicts, returning)
        result = session.execute(statement, params)
    else:
        insert = sqlite.insert(model)
        if skip_conflicts:
            insert = insert.on_conflict_do_nothing(index_elements=list(skip_conflicts))
        if returning is None:
            session.execute(insert, list(rows))
            return []
        result = session.execute(insert.returning(model.__table__.c[returning]), list(rows))
    return list(result.scalars()) if returning is not None else []


def bulk_update(session: Session, model: type[Any], rows: Sequence[dict[str, Any]]) -> None:
    """Update rows by primary key (`id`): each dict holds the id and the new values, the same
    keys in every dict."""
    if not rows:
        return
    columns = tuple(rows[0])
    if _is_postgresql(session):
        params, constant = _pg_params(model.__table__, columns, rows, keep="id")
        session.execute(_pg_update(model.__table__, columns, constant), params)
    else:
        session.execute(sa.update(model), list(rows))


def _is_postgresql(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _pg_params(
    table: sa.Table, columns: tuple[str, ...], rows: Sequence[dict[str, Any]], keep: str
) -> tuple[dict[str, Any], tuple[bool, ...]]:
    """The statement's parameters: an array a column, or the value itself for a column that has
    the same value in every row (a batch's organization, status, timestamps: fewer values for
    the driver to adapt one by one). `keep` stays an array, so that unnest() has one."""
    params: dict[str, Any] = {}
    constant = []
    for index, name in enumerate(columns):
        values = [row[name] for row in rows]
        same = name != keep and values.count(values[0]) == len(values)
        if isinstance(table.c[name].type, sa.JSON):
            values = [None if v is None else Jsonb(v) for v in (values[:1] if same else values)]
        params[f"c{index}"] = values[0] if same else values
        constant.append(same)
    return params, tuple(constant)


def _pg_source(
    table: sa.Table, columns: tuple[str, ...], constant: tuple[bool, ...]
) -> tuple[list[str], str]:
    """The value of each column (`v.cN` from the arrays, or a cast constant) and the unnest()
    they come from. Only the table's own column names reach the statements below
    (`table.c[name]` refuses any other)."""
    dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
    types = [table.c[name].type.compile(dialect=dialect) for name in columns]
    values, arrays, aliases = [], [], []
    for index, (sql_type, same) in enumerate(zip(types, constant, strict=True)):
        if same:
            values.append(f"CAST(:c{index} AS {sql_type})")
        else:
            values.append(f"v.c{index}")
            arrays.append(f"CAST(:c{index} AS {sql_type}[])")
            aliases.append(f"c{index}")
    return values, f"unnest({', '.join(arrays)}) AS v({', '.join(aliases)})"


@lru_cache(maxsize=128)
def _pg_insert(
    table: sa.Table,
    columns: tuple[str, ...],
    constant: tuple[bool, ...],
    skip_conflicts: tuple[str, ...],
    returning: str | None,
) -> sa.TextClause:
    for name in (*skip_conflicts, *([returning] if returning else [])):
        table.c[name]  # a name that is not a column raises KeyError
    values, source = _pg_source(table, columns, constant)
    insert = f"INSERT INTO {table.name} ({', '.join(columns)}) "
    sql = insert + f"SELECT {', '.join(values)} FROM {source}"  # noqa: S608
    if skip_conflicts:
        sql += f" ON CONFLICT ({', '.join(skip_conflicts)}) DO NOTHING"
    if returning is not None:
        sql += f" RETURNING {returning}"
    return sa.text(sql)


@lru_cache(maxsize=128)
def _pg_update(
    table: sa.Table, columns: tuple[str, ...], constant: tuple[bool, ...]
) -> sa.TextClause:
    values, source = _pg_source(table, columns, constant)
    assignments = ", ".join(
        f"{name} = {value}" for name, value in zip(columns, values, strict=True) if name != "id"
    )
    key = f"v.c{columns.index('id')}"
    return sa.text(
        f"UPDATE {table.name} SET {assignments} FROM {source} "  # noqa: S608
        f"WHERE {table.name}.id = {key}"
    )


# --- Statuses -----------------------------------------------------------------------------------

# queued -> sending -> sent -> delivered; or a final failure. A retried send goes back to queued.
QUEUED = "queued"
SENDING = "sending"
SENT = "sent"
DELIVERED = "delivered"
BOUNCED = "bounced"
COMPLAINED = "complained"
FAILED = "failed"
SUPPRESSED = "suppressed"
SKIPPED = "skipped"
STATUSES = (QUEUED, SENDING, SENT, DELIVERED, BOUNCED, COMPLAINED, FAILED, SUPPRESSED, SKIPPED)
# Nothing more will be sent for a message in one of these (delivery reports may still arrive).
FINAL_STATUSES = frozenset(STATUSES) - {QUEUED, SENDING}


def set_status(
    session: Session,
    message: Message,
    status: str,
    *,
    data: dict[str, Any] | None = None,
    at: datetime | None = None,
    provider_event_id: str | None = None,
) -> MessageEvent | None:
    """Move the message to `status` and record the change as an event of the same kind, in the
    caller's transaction: a status never changes without its event. Sets `sent_at` or
    `delivered_at` when the status is sent or delivered."""
    if status not in STATUSES:
        raise ValueError(f"unknown message status {status!r}")
    when = at or utcnow()
    message.status = status
    if status == SENT:
        message.sent_at = when
    elif status == DELIVERED:
        message.delivered_at = when
    return record_event(
        session, message, status, data=data, at=when, provider_event_id=provider_event_id
    )
