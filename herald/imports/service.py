"""Imports: profiles from CSV and events from JSON Lines, as background jobs. No HTTP here.

Starting an import (`start_profile_import`, `start_event_import`) checks what can be checked up
front (UTF-8 text; a CSV header that the mapping fits and that has an identifier column; a first
line that is a JSON object), then adds the job row and the file, in `JobFile` chunks, to the
caller's transaction: any worker on any machine can read it, and a rejected file stores nothing.

Running one (`run_profile_import`, `run_event_import`, called by the job handlers in tasks.py)
reads the stored chunks as a stream. A first pass counts the rows, so that progress has a total.
Then each batch is one transaction: the upserted profiles or ingested events, a `JobError` per
problem with a row, and the checkpoint (the last row read and the running counts). A job that
stops half way resumes after its last committed batch. Profiles are upserts by identifier and so
idempotent; an event without a `unique_id` gets one derived from the job and its line number, so
that a batch processed twice (say by a worker that took over a stalled job) stores each event once.

The parts live by concern in `herald.imports`: `mapping` (CSV columns to profile fields), `files`
(reading the stored file), `running` (the batches and errors shared by both kinds),
`profile_import` and `event_import`; this module starts imports and reads their results."""

from __future__ import annotations

import codecs
import csv
import io
import itertools
import json
import uuid
from collections.abc import Iterator
from typing import IO, Any, cast

import sqlalchemy as sa
from sqlalchemy.orm import Session

from herald.errors import InvalidInput, NotFound
from herald.imports.mapping import DELIMITERS, resolve_mapping
from herald.imports.schemas import (
    EventImportCounts,
    Import,
    ImportCounts,
    ImportStatus,
    ImportType,
    Mapping,
    ProfileImportCounts,
)
from herald.jobs.service import create_job
from herald.models import Job, JobError, JobFile
from herald.pagination import newest_first_page
from herald.profiles.export import csv_stream, neutralize
from herald.tenancy.scope import get_scoped, scoped

PROFILE_KIND = "import.profiles"
EVENT_KIND = "import.events"
IMPORT_KINDS = (PROFILE_KIND, EVENT_KIND)
# The job kind of each import type, as the list API and the dashboard name them, and back.
KIND_OF_TYPE: dict[ImportType, str] = {"profiles": PROFILE_KIND, "events": EVENT_KIND}
TYPE_OF_KIND: dict[str, ImportType] = {kind: type_ for type_, kind in KIND_OF_TYPE.items()}
# What each kind of import counts (its `result`, and its checkpoint's running counts).
COUNTS_OF_KIND: dict[str, type[ProfileImportCounts] | type[EventImportCounts]] = {
    PROFILE_KIND: ProfileImportCounts,
    EVENT_KIND: EventImportCounts,
}

MB = 1024 * 1024
# Size of the stored pieces of an uploaded file.
CHUNK_SIZE = 1 * MB

# The header row must end within this many bytes; a JSON line may be at most this long.
MAX_HEADER_BYTES = 1 * MB
MAX_LINE_BYTES = 5 * MB
# Per-row problems kept for the errors CSV; rows beyond this are still counted.
MAX_STORED_ERRORS = 100_000
MAX_REASON_LENGTH = 2000


def _not_utf8(offset: int) -> InvalidInput:
    return InvalidInput.for_field(
        "file", f"is not UTF-8 text (an invalid byte at offset {offset}); save it as UTF-8"
    )


def _read_header(stream: IO[bytes]) -> tuple[list[str], str]:
    """The header row and the delimiter (comma, semicolon or tab: whichever the first line has
    most of). Leaves the stream at its start."""
    head = stream.read(MAX_HEADER_BYTES)
    stream.seek(0)
    if not head:
        raise InvalidInput.for_field("file", "is empty")
    try:
        text = codecs.getincrementaldecoder("utf-8-sig")().decode(
            head, final=len(head) < MAX_HEADER_BYTES
        )
    except UnicodeDecodeError as exc:
        raise _not_utf8(exc.start) from exc
    first_line, newline, _rest = text.partition("\n")
    if not newline and len(head) == MAX_HEADER_BYTES:
        raise InvalidInput.for_field("file", "the header row is longer than 1 MB")
    delimiter = max(DELIMITERS, key=lambda d: (first_line.count(d), -DELIMITERS.index(d)))
    try:
        record = next(csv.reader(io.StringIO(text), delimiter=delimiter), [])
    except csv.Error as exc:
        raise InvalidInput.for_field("file", f"the header row is not valid CSV: {exc}") from exc
    header = [cell.strip() for cell in record]
    if not any(header):
        raise InvalidInput.for_field("file", "the first row must name the columns")
    return header, delimiter


def _check_first_line(stream: IO[bytes]) -> None:
    """Refuse a file that is plainly not JSON Lines (a CSV sent to the wrong endpoint, say)."""
    for number in range(1, 101):
        line = stream.readline(MAX_LINE_BYTES)
        if not line:
            break
        if number == 1:
            line = line.removeprefix(codecs.BOM_UTF8)
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except (ValueError, UnicodeDecodeError):
            value = None
        if not isinstance(value, dict):
            raise InvalidInput.for_field(
                "file",
                f"line {number} is not a JSON object: send JSON Lines, one event object a line",
            )
        break
    stream.seek(0)


def _store_file(session: Session, job_id: uuid.UUID, stream: IO[bytes]) -> tuple[int, int]:
    """Copy the stream into JobFile chunks, checking that it is UTF-8 on the way.

    Returns (bytes, chunks). Chunks go straight to the database, so memory holds one at a time.
    """
    decoder = codecs.getincrementaldecoder("utf-8")()
    size = seq = 0
    while chunk := stream.read(CHUNK_SIZE):
        try:
            decoder.decode(chunk)
        except UnicodeDecodeError as exc:
            raise _not_utf8(size + exc.start) from exc
        session.execute(sa.insert(JobFile).values(job_id=job_id, seq=seq, data=chunk))
        size += len(chunk)
        seq += 1
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError as exc:
        raise _not_utf8(size) from exc
    if size == 0:
        raise InvalidInput.for_field("file", "is empty")
    return size, seq


def start_profile_import(
    session: Session,
    org_id: uuid.UUID,
    stream: IO[bytes],
    *,
    filename: str | None = None,
    mapping: Mapping | None = None,
    kick: bool = True,
) -> Job:
    """Check the CSV's header against the mapping, then add the job and store the file.

    `stream` must be seekable. Raises InvalidInput, and stores nothing, when the file or the
    mapping is wrong. With `kick=False` the caller runs the job itself (the CLI does).
    """
    header, delimiter = _read_header(stream)
    fields = resolve_mapping(header, mapping)
    job = create_job(
        session,
        org_id,
        PROFILE_KIND,
        {
            "filename": filename,
            "mapping": mapping,
            "columns": header,
            "fields": fields,
            "delimiter": delimiter,
        },
        kick=kick,
    )
    size, chunks = _store_file(session, job.id, stream)
    job.payload = {**job.payload, "bytes": size, "chunks": chunks}
    session.flush()
    return job


def start_event_import(
    session: Session,
    org_id: uuid.UUID,
    stream: IO[bytes],
    *,
    filename: str | None = None,
    kick: bool = True,
) -> Job:
    """Add an event import job and store its JSON Lines file (see `start_profile_import`)."""
    _check_first_line(stream)
    job = create_job(session, org_id, EVENT_KIND, {"filename": filename}, kick=kick)
    size, chunks = _store_file(session, job.id, stream)
    job.payload = {**job.payload, "bytes": size, "chunks": chunks}
    session.flush()
    return job


def get_import_job(session: Session, org_id: uuid.UUID, job_id: uuid.UUID) -> Job:
    job = get_scoped(session, Job, org_id, job_id)
    if job.kind not in IMPORT_KINDS:
        raise NotFound("import not found")
    return job


def list_import_jobs(
    session: Session,
    org_id: uuid.UUID,
    *,
    import_type: ImportType | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> tuple[list[Job], str | None]:
    """The organization's imports (of one type, or both), newest first, a page at a time."""
    kinds = [KIND_OF_TYPE[import_type]] if import_type else list(IMPORT_KINDS)
    query = scoped(Job, org_id).where(Job.kind.in_(kinds))
    return newest_first_page(session, query, Job.created_at, Job.id, limit=limit, cursor=cursor)


def _counts(kind: str, values: dict[str, Any] | None) -> ImportCounts | None:
    return None if values is None else COUNTS_OF_KIND[kind].model_validate(values)


def to_schema(job: Job) -> Import:
    """An import job as the API shows it."""
    checkpoint = job.checkpoint or {}
    so_far = job.result if job.result is not None else checkpoint.get("counts")
    return Import(
        id=job.id,
        type=TYPE_OF_KIND[job.kind],
        filename=job.payload.get("filename"),
        status=cast(ImportStatus, job.status),  # the table's check constraint allows no other
        progress_done=job.progress_done,
        progress_total=job.progress_total,
        error=job.error,
        result=_counts(job.kind, job.result),
        counts=_counts(job.kind, so_far),
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
    )


def error_csv_lines(session: Session, job: Job) -> Iterator[bytes]:
    """The job's per-row problems as CSV (row or line number, field, reason), streamed."""
    rows = session.execute(
        sa.select(JobError.item, JobError.field, JobError.reason)
        .where(JobError.job_id == job.id)
        .order_by(JobError.id)
        .execution_options(yield_per=1000)
    )
    header = ["line" if job.kind == EVENT_KIND else "row", "field", "reason"]
    body = ([item, neutralize(field), neutralize(reason)] for item, field, reason in rows)
    return csv_stream(itertools.chain([header], body))


def error_rows(session: Session, job: Job, limit: int) -> tuple[list[JobError], int]:
    """The first `limit` stored row problems, in file order, and how many are stored."""
    rows = list(
        session.scalars(
            sa.select(JobError).where(JobError.job_id == job.id).order_by(JobError.id).limit(limit)
        )
    )
    stored = session.scalar(
        sa.select(sa.func.count()).select_from(JobError).where(JobError.job_id == job.id)
    )
    return rows, stored or 0
