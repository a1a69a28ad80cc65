"""Running an event import: JSON lines to events, each without a `unique_id` given one derived
from the job and its line number, so that a batch processed twice stores each event once."""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import TypeAdapter, ValidationError
from sqlalchemy.orm import Session

from herald.errors import validation_fields
from herald.events import schemas as event_schemas
from herald.events.batch import EventInput, event_input
from herald.events.service import ingest
from herald.imports.files import _lines
from herald.imports.running import RowError, _count, _import_in_batches
from herald.imports.schemas import EventImportCounts
from herald.imports.service import MAX_LINE_BYTES, MB
from herald.jobs.service import JobRun
from herald.validation import NotJson, parse_json, unstorable_values

EVENT_BATCH = 1000

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
