"""Profiles as CSV, safe to open in a spreadsheet."""

from __future__ import annotations

import csv
import io
import itertools
import json
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime

from herald.models import Profile
from herald.models.profile import DESCRIPTIVE_FIELDS, IDENTIFIERS

COLUMNS = ("id", *IDENTIFIERS, *DESCRIPTIVE_FIELDS, "properties", "created_at", "updated_at")
# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection).
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def neutralize(value: str) -> str:
    """Prefix a would-be formula with an apostrophe, which spreadsheets show as plain text."""
    return "'" + value if value.startswith(FORMULA_TRIGGERS) else value


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, dict):
        return neutralize(json.dumps(value, ensure_ascii=False, sort_keys=True))
    if isinstance(value, datetime):
        return value.isoformat()
    return neutralize(str(value))


def csv_stream(rows: Iterable[Sequence[object]]) -> Iterator[bytes]:
    """Each row as one encoded CSV line, produced as the rows are read (for streamed downloads).
    Cells are written as given: neutralize what people supplied before it gets here."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for row in rows:
        writer.writerow(row)
        yield buffer.getvalue().encode()
        buffer.seek(0)
        buffer.truncate()


def csv_lines(profiles: Iterable[Profile]) -> Iterator[bytes]:
    """The header, then one CSV line per profile."""
    header: list[Sequence[object]] = [COLUMNS]
    body = ([_cell(getattr(profile, column)) for column in COLUMNS] for profile in profiles)
    return csv_stream(itertools.chain(header, body))
