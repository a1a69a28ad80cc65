"""Values as PostgreSQL's text formats spell them, built in bulk for ingestion's statements.

Ingestion hands PostgreSQL a thousand rows at a time. Through the driver's per-value adapters
(a COPY row or an array parameter element by element) that costs as much Python time as the rest
of a batch; joined as text here, it is a string method or two per value. Only what ingestion
sends is covered: text, JSON, UUIDs, timestamps and floats."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from pydantic_core import to_json

# COPY's text format: a backslash starts an escape, tab separates columns, newline ends a row.
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
NULL = "\\N"


def copy_text(value: str) -> str:
    """A text column of a COPY row."""
    if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
        return value.translate(_COPY_ESCAPES)
    return value


def json_text(value: Any) -> str:
    """Compact JSON, as stored in a JSON column."""
    return to_json(value).decode()


def copy_json(value: Any) -> str:
    """A JSON column of a COPY row. Encoded JSON holds no raw tab, newline or carriage return
    (they are escaped inside strings), so only its backslashes need doubling."""
    text = json_text(value)
    return text.replace("\\", "\\\\") if "\\" in text else text


def copy_optional(value: str | None) -> str:
    return NULL if value is None else copy_text(value)


def _array_element(value: str | None) -> str:
    if value is None:
        return "NULL"
    if "\\" in value or '"' in value:
        value = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{value}"'


def array_literal(values: Iterable[str | None]) -> str:
    """An array parameter (`'{"a","b",NULL}'`, cast in SQL with `::varchar[]`, `::jsonb[]`, ...):
    each element quoted as text, its backslashes and double quotes escaped; None is NULL."""
    return "{" + ",".join(map(_array_element, values)) + "}"


def uuid_array_literal(values: Iterable[uuid.UUID | str]) -> str:
    """A UUID array parameter (cast in SQL with `::uuid[]`); UUIDs need no quoting."""
    return "{" + ",".join(map(str, values)) + "}"
