"""HTTP handlers for profile and event imports."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Annotated

from fastapi import APIRouter, File, Form, Query, Response, UploadFile, status
from fastapi.responses import StreamingResponse

from herald.db import get_database
from herald.imports import mapping as imports_mapping
from herald.imports import service
from herald.imports.schemas import (
    Import,
    ImportList,
    ImportRowError,
    ImportRowErrors,
    ImportType,
)
from herald.jobs.schemas import JobOut
from herald.pagination import PageLimit
from herald.routing import JsonBodyRoute
from herald.tenancy.auth import ManagementAuth
from herald.tenancy.deps import DbSession

router = APIRouter(tags=["imports"], route_class=JsonBodyRoute)

MAPPING_HELP = (
    'A JSON object of CSV column to Herald field, for example {"E-mail": "email", '
    '"Plan": "properties.plan", "Notes": "ignore"}. Columns left out map to the field of the '
    "same name, else to a custom property of that name."
)


def _accepted(job: JobOut, response: Response) -> JobOut:
    response.headers["Location"] = f"/api/jobs/{job.id}"
    return job


@router.post(
    "/api/imports/profiles",
    status_code=status.HTTP_202_ACCEPTED,
    operation_id="import_profiles",
)
def import_profiles(
    auth: ManagementAuth,
    session: DbSession,
    response: Response,
    file: Annotated[UploadFile, File(description="UTF-8 CSV with a header row.")],
    mapping: Annotated[str | None, Form(description=MAPPING_HELP)] = None,
) -> JobOut:
    """Import profiles from CSV in the background: each row creates or updates the profile its
    email, phone or external_id names. Follow the job at `GET /api/jobs/{id}`."""
    auth.require_role("admin")
    job = service.start_profile_import(
        session,
        auth.org_id,
        file.file,
        filename=file.filename,
        mapping=imports_mapping.parse_mapping(mapping),
    )
    return _accepted(JobOut.model_validate(job), response)


@router.post(
    "/api/imports/events",
    status_code=status.HTTP_202_ACCEPTED,
    operation_id="import_events",
)
def import_events(
    auth: ManagementAuth,
    session: DbSession,
    response: Response,
    file: Annotated[
        UploadFile,
        File(description="UTF-8 JSON Lines: one event object a line, as for /api/track."),
    ],
) -> JobOut:
    """Import events from JSON Lines in the background. Follow the job at `GET /api/jobs/{id}`."""
    auth.require_role("admin")
    job = service.start_event_import(session, auth.org_id, file.file, filename=file.filename)
    return _accepted(JobOut.model_validate(job), response)


@router.get("/api/imports", operation_id="list_imports")
def list_imports(
    auth: ManagementAuth,
    session: DbSession,
    kind: Annotated[
        ImportType | None, Query(description="Only imports of profiles, or only of events.")
    ] = None,
    limit: PageLimit = 50,
    cursor: str | None = None,
) -> ImportList:
    """The organization's imports, newest first, with their progress and counts."""
    jobs, next_cursor = service.list_import_jobs(
        session, auth.org_id, import_type=kind, limit=limit, cursor=cursor
    )
    return ImportList(data=[service.to_schema(job) for job in jobs], next_cursor=next_cursor)


@router.get("/api/imports/{job_id}", operation_id="get_import")
def get_import(job_id: uuid.UUID, auth: ManagementAuth, session: DbSession) -> Import:
    """One import: the job with the file's name and what it imported so far."""
    return service.to_schema(service.get_import_job(session, auth.org_id, job_id))


@router.get("/api/imports/{job_id}/error-rows", operation_id="list_import_error_rows")
def list_import_error_rows(
    job_id: uuid.UUID,
    auth: ManagementAuth,
    session: DbSession,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> ImportRowErrors:
    """The first rows an import could not take, and why, as JSON (the CSV has all of them)."""
    job = service.get_import_job(session, auth.org_id, job_id)
    rows, stored = service.error_rows(session, job, limit)
    return ImportRowErrors(
        data=[ImportRowError(item=r.item, field=r.field, reason=r.reason) for r in rows],
        stored=stored,
    )


@router.get(
    "/api/imports/{job_id}/errors",
    operation_id="get_import_errors",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"text/csv": {}}, "description": "CSV: row (or line), field, reason"}
    },
)
def get_import_errors(
    job_id: uuid.UUID, auth: ManagementAuth, session: DbSession
) -> StreamingResponse:
    """The rows an import could not take, and why, as CSV."""
    job = service.get_import_job(session, auth.org_id, job_id)

    def rows() -> Iterator[bytes]:
        # The request's session is closed once the handler returns; the stream reads on its own.
        with get_database().transaction() as stream_session:
            yield from service.error_csv_lines(stream_session, job)

    return StreamingResponse(
        rows(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="import-{job.id}-errors.csv"'},
    )
