from __future__ import annotations

import uuid

from fastapi import APIRouter

from herald.jobs import service
from herald.jobs.schemas import JobOut
from herald.routing import JsonBodyRoute
from herald.tenancy.auth import ManagementAuth
from herald.tenancy.deps import DbSession

router = APIRouter(prefix="/api/jobs", tags=["jobs"], route_class=JsonBodyRoute)


@router.get("/{job_id}", operation_id="get_job")
def get_job(job_id: uuid.UUID, auth: ManagementAuth, session: DbSession) -> JobOut:
    return JobOut.model_validate(service.get_job(session, auth.org_id, job_id))


@router.post("/{job_id}/cancel", operation_id="cancel_job")
def cancel_job(job_id: uuid.UUID, auth: ManagementAuth, session: DbSession) -> JobOut:
    auth.require_role("admin")
    return JobOut.model_validate(service.cancel_job(session, auth.org_id, job_id))
