"""Huey tasks for jobs: thin wrappers around the service."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.orm import Session

from herald.db import get_database
from herald.jobs import service
from herald.worker import enqueue_after_commit, huey, register_sweep


@huey.task(name="herald.jobs.run")  # type: ignore[untyped-decorator]
def run_job(job_id: str) -> str:
    return service.execute_job(get_database(), uuid.UUID(job_id))


@register_sweep("jobs", rekicks=True)
def kick_waiting_jobs(session: Session, now: datetime) -> int:
    job_ids = service.find_jobs_to_kick(session, now)
    for job_id in job_ids:
        enqueue_after_commit(session, run_job, str(job_id))
    return len(job_ids)
