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
"""

from __future__ import annotations

import codecs
import csv
import io
import itertools
import json
import re
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import IO, Any, Protocol, TypeVar, cast

import sqlalchemy as sa
from pydantic import TypeAdapter, ValidationError
from sqlalchemy.orm import Session

from herald.db import Database
from herald.errors import FieldError, HeraldError, InvalidInput, NotFound, validation_fields
from herald.events import schemas as event_schemas
from herald.events.service import EventInput, event_input, ingest
from herald.imports.headers import field_for_header
from herald.imports.schemas import (
    EventImportCounts,
    Import,
    ImportCounts,
    ImportStatus,
    ImportType,
    Mapping,
    ProfileImportCounts,
)
from herald.jobs.service import JobFailed, JobRun, create_job
from herald.models import Job, JobError, JobFile
from herald.models.profile import DESCRIPTIVE_FIELDS, IDENTIFIERS, LOCATION_FIELDS
from herald.pagination import newest_first_page
from herald.profiles import schemas as profile_schemas
from herald.profiles.export import FORMULA_TRIGGERS, csv_stream, neutralize
from herald.profiles.identity import ProfileRef
from herald.profiles.limits import MAX_KEY_LENGTH, MAX_PROPERTIES
from herald.profiles.service import RequestEvidence, upsert_profiles
from herald.tenancy.scope import get_scoped, scoped
from herald.tenancy.service import default_region
from herald.validation import (
    NotJson,
    normalize_phone,
    parse_json,
    unstorable_reason,
    unstorable_values,
)

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
# Rows per transaction.
PROFILE_BATCH = 500
EVENT_BATCH = 1000
# The header row must end within this many bytes; a JSON line may be at most this long.
MAX_HEADER_BYTES = 1 * MB
MAX_LINE_BYTES = 5 * MB
# Per-row problems kept for the errors CSV; rows beyond this are still counted.
MAX_STORED_ERRORS = 100_000
MAX_REASON_LENGTH = 2000

# --- Mapping CSV columns to profile fields ------------------------------------------------------

# A column of consent: subscribed or unsubscribed (also yes/no, true/false, 1/0), recorded in the
# profile's consent history with the method "import".
CONSENT_FIELDS = {"email_consent": "email", "sms_consent": "sms"}
CONSENT_VALUES = {
    **dict.fromkeys(("subscribed", "yes", "y", "true", "1"), "subscribed"),
    **dict.fromkeys(("unsubscribed", "no", "n", "false", "0"), "unsubscribed"),
}
BUILTIN_FIELDS = (*IDENTIFIERS, *DESCRIPTIVE_FIELDS, *CONSENT_FIELDS)
IGNORE = "ignore"
PROPERTIES = "properties"  # a JSON object of custom properties, as the export writes them
PROPERTY_PREFIX = "properties."
# Columns of Herald's own export that describe the stored row rather than the person.
EXPORT_ONLY_COLUMNS = ("id", "created_at", "updated_at")
DELIMITERS = (",", ";", "\t")
FIELD_HELP = (
    "use email, phone, external_id, first_name, last_name, timezone, "
    + ", ".join(LOCATION_FIELDS)
    + ", email_consent, sms_consent, properties.<name>, properties or ignore"
)

IMPORT_EVIDENCE = RequestEvidence(source="import", default_method="import")

_mapping_adapter: TypeAdapter[Mapping] = TypeAdapter(Mapping)


def parse_mapping(raw: str | None) -> Mapping | None:
    """The `mapping` form field: a JSON object of column name to field, or nothing."""
    if raw is None or not raw.strip():
        return None
    try:
        return _mapping_adapter.validate_json(raw)
    except ValidationError as exc:
        reason = "must be a JSON object of CSV column name to Herald field name"
        details = "; ".join(f"{f.field}: {f.reason}" for f in validation_fields(exc.errors())[:3])
        raise InvalidInput.for_field("mapping", f"{reason} ({details})") from exc


def _simple_name(name: str) -> str:
    return re.sub(r"[\s\-]+", "_", name.strip().lower())


def _field_named(target: str) -> str | None:
    """The canonical field a mapping value names, or None when it names none."""
    target = target.strip()
    if target.lower().startswith(PROPERTY_PREFIX):
        name = target[len(PROPERTY_PREFIX) :].strip()
        return PROPERTY_PREFIX + name if 0 < len(name) <= MAX_KEY_LENGTH else None
    simple = _simple_name(target)
    if simple in (*BUILTIN_FIELDS, PROPERTIES, IGNORE):
        return simple
    return None


def _automatic_field(column: str) -> str:
    """What a column maps to without a mapping: a field of the same name, else a property."""
    if not column:
        return IGNORE
    simple = _simple_name(column)
    if simple in (*BUILTIN_FIELDS, PROPERTIES):
        return simple
    if simple in EXPORT_ONLY_COLUMNS:
        return IGNORE
    if column.lower().startswith(PROPERTY_PREFIX) and len(column) > len(PROPERTY_PREFIX):
        return PROPERTY_PREFIX + column[len(PROPERTY_PREFIX) :].strip()
    return PROPERTY_PREFIX + column


def resolve_mapping(header: Sequence[str], mapping: Mapping | None) -> list[str]:
    """The field each column of `header` feeds. Columns the mapping leaves out map automatically.

    Raises InvalidInput naming every problem: an unknown field, a column that is not in the
    header, two columns for one field, too many properties, or no identifier column at all.
    """
    errors: list[FieldError] = []
    columns = [name.strip() for name in header]
    explicit: dict[str, str] = {}
    for column, target in (mapping or {}).items():
        key = column.strip()
        where = f"mapping.{key}"
        field = _field_named(target)
        if key not in columns:
            errors.append(FieldError(where, "the file's header has no such column"))
        elif columns.count(key) > 1:
            errors.append(FieldError(where, "the file's header has this column more than once"))
        if field is None:
            errors.append(FieldError(where, f"unknown field {target!r}: {FIELD_HELP}"))
        else:
            explicit[key] = field
    fields = [explicit.get(column, _automatic_field(column)) for column in columns]
    # A common spelling ("E-mail", "Zip") feeds its field unless another column already does:
    # then it stays a custom property, as before spellings were known.
    taken = set(fields)
    for index, column in enumerate(columns):
        spelled = None if column in explicit else field_for_header(column)
        if spelled is not None and spelled not in taken:
            fields[index] = spelled
            taken.add(spelled)

    sources: dict[str, list[str]] = {}
    for column, field in zip(columns, fields, strict=True):
        if field != IGNORE:
            sources.setdefault(field, []).append(column)
    for field, names in sources.items():
        if len(names) > 1:
            listed = ", ".join(repr(n) for n in names)
            errors.append(
                FieldError(
                    f"mapping.{names[1]}",
                    f"{field} would come from {len(names)} columns ({listed}); "
                    "map all but one to another field or to ignore",
                )
            )
        if field.startswith(PROPERTY_PREFIX) and len(field) - len(PROPERTY_PREFIX) > MAX_KEY_LENGTH:
            errors.append(
                FieldError(f"mapping.{names[0]}", f"property names are at most {MAX_KEY_LENGTH}")
            )
    property_count = sum(1 for field in sources if field.startswith(PROPERTY_PREFIX))
    if property_count > MAX_PROPERTIES:
        errors.append(
            FieldError(
                "mapping",
                f"{property_count} columns would become custom properties; a profile has at most "
                f"{MAX_PROPERTIES}: map the others to ignore",
            )
        )
    if not any(field in IDENTIFIERS for field in sources):
        errors.append(
            FieldError(
                "mapping" if mapping else "file",
                "no column maps to email, phone or external_id: name a column so, "
                "or map one in `mapping`",
            )
        )
    if errors:
        message = "; ".join(f"{e.field}: {e.reason}" for e in errors[:3])
        raise InvalidInput(f"the file cannot be imported as it is: {message}", errors)
    return fields


# --- Starting an import -------------------------------------------------------------------------


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


# --- Reading the stored file --------------------------------------------------------------------


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


# --- Running: shared parts ----------------------------------------------------------------------

# (row or line number, field, reason)
RowError = tuple[int, str, str]


def _still_running(session: Session, job_id: uuid.UUID) -> bool:
    """False once the job was cancelled: the import stops at the next batch."""
    return session.scalar(sa.select(Job.status).where(Job.id == job_id)) == "running"


Item = TypeVar("Item")


class _Counts(Protocol):
    rows: int

    def model_dump(self) -> dict[str, Any]: ...


def _import_in_batches(
    run: JobRun,
    records: Iterable[tuple[int, Item]],
    *,
    keep: Callable[[Item], bool],
    process: Callable[[Session, list[tuple[int, Item]]], list[RowError]],
    counts: _Counts,
    position: str,
    resume_after: int,
    stored_errors: int,
    batch_size: int,
) -> None:
    """Feed numbered records to `process` in batches. Each batch commits together with its row
    errors and a checkpoint (the last record number read, the counts), so a restarted job skips
    exactly what was committed. A cancelled job stops at the next batch."""
    batch: list[tuple[int, Item]] = []
    last = saved = resume_after

    def commit_batch() -> bool:
        nonlocal stored_errors, batch, saved
        with run.database.transaction() as session:
            if not _still_running(session, run.job_id):
                return False
            errors = process(session, batch)
            stored_errors = _store_errors(session, run.job_id, errors, stored_errors)
            run.save_progress(
                session,
                done=counts.rows,
                checkpoint={
                    position: last,
                    "counts": counts.model_dump(),
                    "stored_errors": stored_errors,
                },
            )
        batch, saved = [], last
        return True

    for number, record in records:
        if number <= resume_after:
            continue
        last = number
        if keep(record):
            batch.append((number, record))
        if len(batch) >= batch_size and not commit_batch():
            return
    if last > saved:
        commit_batch()


def _store_errors(
    session: Session, job_id: uuid.UUID, errors: list[RowError], stored_before: int
) -> int:
    """Add JobError rows (up to MAX_STORED_ERRORS for the job); return how many are stored."""
    room = max(MAX_STORED_ERRORS - stored_before, 0)
    rows = [
        {"job_id": job_id, "item": item, "field": field[:255], "reason": reason[:MAX_REASON_LENGTH]}
        for item, field, reason in errors[:room]
    ]
    if rows:
        session.execute(sa.insert(JobError), rows)
    return stored_before + len(rows)


# --- Profiles -----------------------------------------------------------------------------------

_NUMBER = re.compile(r"-?(0|[1-9][0-9]{0,14})(\.[0-9]+)?")


def typed_value(text: str) -> Any:
    """A custom property's cell as a JSON value: true/false as booleans, plain decimal numbers
    (no leading zeros, so zip codes and ids stay text) as numbers, everything else as text."""
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if _NUMBER.fullmatch(text):
        return float(text) if "." in text else int(text)
    return text


def cell_value(raw: str) -> str:
    """A cell without surrounding spaces, and without the apostrophe that Herald's export (like
    other tools) puts before a value a spreadsheet would run as a formula: exports import back."""
    value = raw.strip()
    if len(value) > 1 and value[0] == "'" and value[1] in "".join(FORMULA_TRIGGERS):
        return value[1:]
    return value


def _row_data(
    fields: Sequence[str], columns: Sequence[str], record: Sequence[str]
) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """The IdentifyRequest-shaped data one row holds (blank cells are left out, so they change
    nothing), and its problems as (column, reason)."""
    problems: list[tuple[str, str]] = []
    if len(record) > len(fields) and not _is_blank(record[len(fields) :]):
        problems.append(("row", f"has {len(record)} cells; the header has {len(fields)}"))
    data: dict[str, Any] = {}
    location: dict[str, str] = {}
    properties: dict[str, Any] = {}
    from_json: dict[str, Any] = {}
    for index, field in enumerate(fields):
        if field == IGNORE or index >= len(record):
            continue
        value = cell_value(record[index])
        if not value:
            continue
        if (reason := unstorable_reason(value)) is not None:
            problems.append((columns[index], reason))
        elif field in LOCATION_FIELDS:
            location[field] = value
        elif field in CONSENT_FIELDS:
            status = CONSENT_VALUES.get(value.lower())
            if status is None:
                problems.append((columns[index], "must be subscribed or unsubscribed"))
            else:
                consent = data.setdefault("consent", {})
                consent[CONSENT_FIELDS[field]] = {"status": status, "method": "import"}
        elif field == PROPERTIES:
            try:
                parsed = parse_json(value)
            except NotJson as exc:
                problems.append((columns[index], f"is {exc}"))
                continue
            if not isinstance(parsed, dict):
                problems.append((columns[index], "must be a JSON object of custom properties"))
            elif unstorable := unstorable_values(parsed, columns[index]):
                problems.extend((p.field, p.reason) for p in unstorable)
            else:
                from_json = parsed
        elif field.startswith(PROPERTY_PREFIX):
            properties[field[len(PROPERTY_PREFIX) :]] = typed_value(value)
        else:
            data[field] = value
    if location:
        data["location"] = location
    if from_json or properties:
        data["properties"] = {**from_json, **properties}
    if not any(name in data for name in IDENTIFIERS):
        problems.append(("row", "has no email, phone or external_id"))
    return data, problems


def _column_for(loc: str, columns_by_field: dict[str, str]) -> str:
    """The CSV column a validation error's location points at ("location.city" -> "City")."""
    head, _, tail = loc.partition(".")
    if head == "location" and tail:
        return columns_by_field.get(tail.split(".")[0], loc)
    return columns_by_field.get(head, loc)


def _row_ref(
    fields: profile_schemas.ProfileFields, region: str | None, columns_by_field: dict[str, str]
) -> tuple[ProfileRef | None, list[tuple[str, str]]]:
    """Who the row names, as POST /api/identify reads it; or the problem with its phone."""
    phone = None
    if fields.phone:
        try:
            phone = normalize_phone(fields.phone, region)
        except ValueError as exc:
            return None, [(columns_by_field.get("phone", "phone"), str(exc))]
    return ProfileRef(email=fields.email, phone=phone, external_id=fields.external_id), []


def _profile_batch(
    session: Session,
    org_id: uuid.UUID,
    fields: Sequence[str],
    columns: Sequence[str],
    batch: list[tuple[int, list[str]]],
    counts: ProfileImportCounts,
) -> list[RowError]:
    """Create or update a profile per row, as POST /api/identify would one row after another."""
    columns_by_field = {
        field: column for field, column in zip(fields, columns, strict=True) if field != IGNORE
    }
    region = default_region(session, org_id)
    errors: list[RowError] = []
    numbers: list[int] = []
    items: list[tuple[profile_schemas.ProfileFields, ProfileRef]] = []
    for number, record in batch:
        counts.rows += 1
        data, problems = _row_data(fields, columns, record)
        if not problems:
            try:
                request = profile_schemas.ProfileFields.model_validate(data)
            except ValidationError as exc:
                problems = [
                    (_column_for(f.field, columns_by_field), f.reason)
                    for f in validation_fields(exc.errors())
                ]
            else:
                ref, problems = _row_ref(request, region, columns_by_field)
                if ref is not None:
                    numbers.append(number)
                    items.append((request, ref))
        if problems:
            counts.errors += 1
            errors.extend((number, column, reason) for column, reason in problems)
    for number, outcome in zip(
        numbers, upsert_profiles(session, org_id, items, IMPORT_EVIDENCE), strict=True
    ):
        if isinstance(outcome, HeraldError):
            counts.errors += 1
            problems = [(_column_for(f.field, columns_by_field), f.reason) for f in outcome.fields]
            errors.extend((number, column, reason) for column, reason in problems)
            if not problems:
                errors.append((number, "row", outcome.message))
        elif outcome.created:
            counts.created += 1
        elif outcome.changed:
            counts.updated += 1
        else:
            counts.unchanged += 1
    # In the order of the file, as the errors CSV lists them.
    errors.sort(key=lambda error: error[0])
    return errors


def _count(items: Iterable[bool]) -> int:
    return sum(1 for item in items if item)


def run_profile_import(run: JobRun) -> dict[str, Any]:
    """The `import.profiles` job: upsert a profile per CSV row, in batches (see the module doc)."""
    payload = run.payload
    fields: list[str] = payload["fields"]
    columns: list[str] = payload["columns"]
    delimiter: str = payload["delimiter"]
    database = run.database
    if run.progress_total is None:
        total = _count(
            number > 1 and not _is_blank(record)
            for number, record in _csv_records(database, run.job_id, delimiter)
        )
        with database.transaction() as session:
            run.save_progress(session, done=0, total=total)
    checkpoint = run.checkpoint or {}
    resume_after: int = checkpoint.get("row", 1)  # record 1 is the header
    counts = ProfileImportCounts.model_validate(checkpoint.get("counts", {}))

    _import_in_batches(
        run,
        _csv_records(database, run.job_id, delimiter),
        keep=lambda record: not _is_blank(record),
        process=lambda session, batch: _profile_batch(
            session, run.org_id, fields, columns, batch, counts
        ),
        counts=counts,
        position="row",
        resume_after=resume_after,
        stored_errors=checkpoint.get("stored_errors", 0),
        batch_size=PROFILE_BATCH,
    )
    return counts.model_dump()


# --- Events -------------------------------------------------------------------------------------

_event_adapter: TypeAdapter[event_schemas.TrackEvent] = TypeAdapter(event_schemas.TrackEvent)


def derived_unique_id(job_id: uuid.UUID, line: int) -> str:
    """The unique_id of an imported event that has none: the same on every run of the job."""
    return f"import:{job_id}:{line}"


def _parse_line(job_id: uuid.UUID, number: int, line: bytes | None) -> EventInput | list[RowError]:
    if line is None:
        return [(number, "line", f"is longer than {MAX_LINE_BYTES // MB} MB")]
    try:
        raw = parse_json(line)
    except NotJson as exc:
        return [(number, "line", str(exc))]
    if not isinstance(raw, dict):
        return [(number, "line", "must be a JSON object")]
    if unstorable := unstorable_values(raw):
        return [(number, problem.field, problem.reason) for problem in unstorable]
    try:
        event = _event_adapter.validate_python(raw)
    except ValidationError as exc:
        return [(number, f.field, f.reason) for f in validation_fields(exc.errors())]
    return event_input(event, derived_unique_id(job_id, number))


def _event_batch(
    session: Session,
    run: JobRun,
    batch: list[tuple[int, bytes | None]],
    counts: EventImportCounts,
) -> list[RowError]:
    errors: list[RowError] = []
    items: list[EventInput] = []
    numbers: list[int] = []
    for number, line in batch:
        counts.rows += 1
        parsed = _parse_line(run.job_id, number, line)
        if isinstance(parsed, EventInput):
            items.append(parsed)
            numbers.append(number)
        else:
            counts.errors += 1
            errors.extend(parsed)
    outcomes = ingest(session, run.org_id, items, source="import") if items else []
    for outcome, number in zip(outcomes, numbers, strict=True):
        if outcome.error is not None:
            counts.errors += 1
            errors.append((number, outcome.error.field, outcome.error.reason))
        elif outcome.duplicate:
            counts.duplicates += 1
        else:
            counts.stored += 1
    errors.sort(key=lambda error: error[0])
    return errors


def run_event_import(run: JobRun) -> dict[str, Any]:
    """The `import.events` job: ingest an event per JSON line, in batches (see the module doc)."""
    database = run.database
    if run.progress_total is None:
        total = _count(
            line is None or bool(line.strip()) for _n, line in _lines(database, run.job_id)
        )
        with database.transaction() as session:
            run.save_progress(session, done=0, total=total)
    checkpoint = run.checkpoint or {}
    resume_after: int = checkpoint.get("line", 0)
    counts = EventImportCounts.model_validate(checkpoint.get("counts", {}))

    _import_in_batches(
        run,
        _lines(database, run.job_id),
        keep=lambda line: line is None or bool(line.strip()),
        process=lambda session, batch: _event_batch(session, run, batch, counts),
        counts=counts,
        position="line",
        resume_after=resume_after,
        stored_errors=checkpoint.get("stored_errors", 0),
        batch_size=EVENT_BATCH,
    )
    return counts.model_dump()


# --- Reading results ----------------------------------------------------------------------------


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
