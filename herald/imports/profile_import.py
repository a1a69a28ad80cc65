"""Running a profile import: CSV rows to typed profile fields and upserts by identifier."""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError
from sqlalchemy.orm import Session

from herald.errors import HeraldError, validation_fields
from herald.imports.files import _csv_records, _is_blank
from herald.imports.mapping import (
    CONSENT_FIELDS,
    CONSENT_VALUES,
    IGNORE,
    IMPORT_EVIDENCE,
    PROPERTIES,
    PROPERTY_PREFIX,
)
from herald.imports.running import RowError, _count, _import_in_batches
from herald.imports.schemas import ProfileImportCounts
from herald.jobs.service import JobRun
from herald.models.profile import IDENTIFIERS, LOCATION_FIELDS
from herald.profiles import schemas as profile_schemas
from herald.profiles.export import FORMULA_TRIGGERS
from herald.profiles.identity import ProfileRef
from herald.profiles.service import upsert_profiles
from herald.tenancy.service import default_region
from herald.validation import (
    NotJson,
    normalize_phone,
    parse_json,
    unstorable_reason,
    unstorable_values,
)

# Rows per transaction.
PROFILE_BATCH = 500

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
