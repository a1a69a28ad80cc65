"""Reading an import's stored file: its `JobFile` chunks as one stream, as CSV records or lines."""

from __future__ import annotations

import codecs
import csv
import io
import uuid
from collections.abc import Iterator, Sequence
from typing import Any

import sqlalchemy as sa

from herald.db import Database
from herald.imports.service import MAX_LINE_BYTES
from herald.jobs.service import JobFailed
from herald.models import JobFile


class StoredFile(io.RawIOBase):
    """A job's stored file as a byte stream, one chunk in memory at a time.

    Each chunk is read in a short transaction of its own, so callers must not read while they
    hold a write transaction (SQLite allows one writer, and Herald begins every transaction as
    one): read a batch, then process it.
    """

    def __init__(self, database: Database, job_id: uuid.UUID) -> None:
        super().__init__()
        self._database = database
        self._job_id = job_id
        self._seq = 0
        self._chunk = memoryview(b"")
        self._exhausted = False

    def readable(self) -> bool:
        return True

    def _next_chunk(self) -> bool:
        with self._database.transaction() as session:
            data = session.scalar(
                sa.select(JobFile.data).where(
                    JobFile.job_id == self._job_id, JobFile.seq == self._seq
                )
            )
        if data is None:
            self._exhausted = True
            return False
        self._seq += 1
        self._chunk = memoryview(bytes(data))
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._chunk:
            if self._exhausted or not self._next_chunk():
                return 0
        target = memoryview(buffer).cast("B")
        count = min(len(target), len(self._chunk))
        target[:count] = self._chunk[:count]
        self._chunk = self._chunk[count:]
        return count


def open_stored(database: Database, job_id: uuid.UUID) -> io.BufferedReader:
    return io.BufferedReader(StoredFile(database, job_id), buffer_size=64 * 1024)


def _csv_records(
    database: Database, job_id: uuid.UUID, delimiter: str
) -> Iterator[tuple[int, list[str]]]:
    """(record number, cells) for every record, the header being record 1, as a spreadsheet
    numbers its rows."""
    with io.TextIOWrapper(open_stored(database, job_id), encoding="utf-8-sig", newline="") as text:
        reader = csv.reader(text, delimiter=delimiter)
        number = 0
        while True:
            try:
                record = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                raise JobFailed(f"row {number + 1} is not valid CSV: {exc}") from exc
            number += 1
            yield number, record


def _lines(database: Database, job_id: uuid.UUID) -> Iterator[tuple[int, bytes | None]]:
    """(line number, content) for every line, counting from 1; None for a line that is too long
    (which is skipped to its end)."""
    with open_stored(database, job_id) as raw:
        number = 0
        while True:
            line = raw.readline(MAX_LINE_BYTES + 1)
            if not line:
                return
            number += 1
            if len(line) > MAX_LINE_BYTES and not line.endswith(b"\n"):
                while (rest := raw.readline(MAX_LINE_BYTES)) and not rest.endswith(b"\n"):
                    pass
                yield number, None
                continue
            if number == 1:
                line = line.removeprefix(codecs.BOM_UTF8)
            yield number, line


def _is_blank(record: Sequence[str]) -> bool:
    return not any(cell.strip() for cell in record)
