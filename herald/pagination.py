"""Keyset pagination: opaque cursors that name the last row of a page."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Annotated, Any, TypeVar

import sqlalchemy as sa
from fastapi import Query
from sqlalchemy.orm import Session

from herald.errors import InvalidInput

Row = TypeVar("Row")

# The most rows a page of any list answers, and the `limit` parameter of the list endpoints.
MAX_PAGE = 500
PageLimit = Annotated[int, Query(ge=1, le=MAX_PAGE)]


def encode_cursor(*parts: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps([str(p) for p in parts]).encode()).decode()


def _bad_cursor() -> InvalidInput:
    return InvalidInput.for_field("cursor", "not a cursor this API returned")


def decode_cursor(cursor: str, size: int) -> list[str]:
    try:
        parts = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (binascii.Error, ValueError) as exc:
        raise _bad_cursor() from exc
    if not isinstance(parts, list) or len(parts) != size:
        raise _bad_cursor()
    return [str(p) for p in parts]


def decode_id_cursor(cursor: str) -> uuid.UUID:
    (text,) = decode_cursor(cursor, 1)
    try:
        return uuid.UUID(text)
    except ValueError as exc:
        raise _bad_cursor() from exc


def newest_first(
    query: sa.Select[Row], time_column: Any, id_column: Any, cursor: str | None
) -> sa.Select[Row]:
    """Order by (time, id) descending and continue after the row the cursor names."""
    query = query.order_by(time_column.desc(), id_column.desc())
    if not cursor:
        return query
    time_text, id_text = decode_cursor(cursor, 2)
    try:
        last_time, last_id = datetime.fromisoformat(time_text), uuid.UUID(id_text)
    except ValueError as exc:
        raise _bad_cursor() from exc
    return query.where(
        sa.or_(time_column < last_time, sa.and_(time_column == last_time, id_column < last_id))
    )


def time_id_cursor(time: datetime, row_id: uuid.UUID) -> str:
    return encode_cursor(time.isoformat(), row_id)


def newest_first_page(
    session: Session,
    query: sa.Select[Row],
    time_column: Any,
    id_column: Any,
    *,
    limit: int,
    cursor: str | None,
) -> tuple[list[Row], str | None]:
    """One page of a query, newest first by (time, id), and the cursor of the next page (None on
    the last). `time_column` and `id_column` are the model's attributes of the same names."""
    page = newest_first(query, time_column, id_column, cursor).limit(limit + 1)
    rows = list(session.scalars(page))
    if len(rows) <= limit:
        return rows, None
    last = rows[limit - 1]
    return rows[:limit], time_id_cursor(
        getattr(last, time_column.key), getattr(last, id_column.key)
    )


def iterate_by_id(
    session: Session, query: sa.Select[Any], id_column: Any, batch: int = 1000
) -> Iterator[Any]:
    """Every row of an ORM query in id order, fetched `batch` at a time by keyset, expunged after
    each batch: for exports that must not hold a whole table in memory."""
    last: Any = None
    while True:
        page = query.order_by(id_column)
        if last is not None:
            page = page.where(id_column > last)
        rows = list(session.scalars(page.limit(batch)))
        yield from rows
        if len(rows) < batch:
            return
        last = rows[-1].id
        session.expunge_all()
