"""What one ingestion call works on: the events in (`EventInput`), their outcomes, the state of
the call shared by its steps, and where its statements run (the caller's session or, for new
people on PostgreSQL, a connection of its own)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psycopg
import sqlalchemy as sa
from sqlalchemy.orm import Session

from herald.errors import FieldError, HeraldError, InvalidInput
from herald.events import schemas
from herald.profiles.identity import ProfileRef

SOURCES = ("api", "segment", "import", "sdk")


@dataclass(slots=True)
class EventInput:
    """One event after validation; `profile` still names the person in the caller's terms."""

    name: str
    profile: ProfileRef
    properties: dict[str, Any] = field(default_factory=dict)
    value: float | None = None
    time: datetime | None = None
    unique_id: str | None = None
    # Raw phone as sent; normalized with the organization's region during ingestion.
    raw_phone: str | None = None


@dataclass(slots=True)
class Outcome:
    index: int
    event_id: uuid.UUID | None = None
    profile_id: uuid.UUID | None = None
    duplicate: bool = False
    error: FieldError | None = None
    # What kind of failure, so a single-event call answers 404 or 409 rather than always 422.
    error_type: type[HeraldError] = InvalidInput


@dataclass(slots=True)
class _Call:
    """One `ingest` call: what it stores, for whom, and where."""

    session: Session
    org_id: uuid.UUID
    items: list[EventInput]
    outcomes: list[Outcome]
    source: str
    requests: Sequence[int] | None
    now: datetime
    postgres: bool
    # On PostgreSQL, each stored event's id and its profile's id as text, by item index: made once,
    # whichever statements they go into.
    event_texts: dict[int, str] = field(default_factory=dict)
    profile_texts: dict[int, str] = field(default_factory=dict)


def event_input(event: schemas.TrackEvent, default_unique_id: str | None = None) -> EventInput:
    """The ingestion input for a validated tracking request."""
    who = event.profile
    return EventInput(
        name=event.event,
        profile=ProfileRef(who.id, who.email, None, who.external_id, who.anonymous_id),
        raw_phone=who.phone,
        properties=event.properties,
        value=event.value,
        time=event.time,
        unique_id=event.unique_id or default_unique_id,
    )


# A change record: org_id, profile_id, reason, event_names, created_at.
ChangeRow = tuple[uuid.UUID, uuid.UUID, str, list[str] | None, datetime]


# Where ingestion's statements run: the caller's session, or (for new people on PostgreSQL) a
# connection of their own.
Executor = Session | sa.Connection


@contextmanager
def _driver_cursor(executor: Executor, statement: str) -> Iterator[Any]:
    """A psycopg cursor on the executor's connection, inside its transaction. Errors come out as
    SQLAlchemy's (IntegrityError, OperationalError, ...), as from session.execute."""
    connection = executor.connection() if isinstance(executor, Session) else executor
    driver_connection = connection.connection.driver_connection
    assert driver_connection is not None
    try:
        with driver_connection.cursor() as cursor:
            yield cursor
    except psycopg.Error as exc:
        raise sa.exc.DBAPIError.instance(statement, None, exc, psycopg.Error) from exc


def _pg_rows(
    executor: Executor, statement: str, params: dict[str, Any] | None = None
) -> list[tuple[Any, ...]]:
    """Run one of the PostgreSQL statements below on the session's connection, straight through
    psycopg: their text is fixed, so SQLAlchemy would add only per-statement and per-row work."""
    with _driver_cursor(executor, statement) as cursor:
        cursor.execute(statement, params)
        return cursor.fetchall() if cursor.description is not None else []
