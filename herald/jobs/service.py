"""Jobs: durable rows for long work, run by handlers registered per kind.

A domain registers a handler with `@job_handler("kind")` and starts work with `create_job`. The
handler is called with a `JobRun`; it does its work in batches, committing each batch with its
checkpoint (`run.save_progress`), so a job restarted after a crash continues where it stopped.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from herald.db import Database, utcnow
from herald.errors import Conflict
from herald.models import Job
from herald.tenancy.scope import get_scoped

logger = logging.getLogger(__name__)

# A worker refreshes its heartbeat at least this often while it holds a job...
HEARTBEAT_INTERVAL = timedelta(seconds=30)
# ...so a job whose heartbeat is older than this lost its worker.
STALE_AFTER = timedelta(minutes=5)
# A pending job the sweep finds older than this lost its kick.
KICK_GRACE = timedelta(seconds=30)
# A job whose handler raised waits this long before the sweep retries it.
RETRY_DELAY = timedelta(seconds=30)


class JobFailed(Exception):
    """A handler's permanent failure: the job ends as failed without further attempts."""


@dataclass
class JobRun:
    """What a handler gets: the job's identity and the means to record progress durably."""

    database: Database
    job_id: uuid.UUID
    org_id: uuid.UUID
    payload: dict[str, Any]
    checkpoint: dict[str, Any] | None
    progress_done: int
    progress_total: int | None

    def save_progress(
        self,
        session: Session,
        *,
        done: int,
        total: int | None = None,
        checkpoint: dict[str, Any] | None = None,
    ) -> None:
        """Record progress in the caller's transaction, so work and checkpoint commit together."""
        values: dict[str, Any] = {"progress_done": done, "heartbeat_at": utcnow()}
        if total is not None:
            values["progress_total"] = total
            self.progress_total = total
        if checkpoint is not None:
            values["checkpoint"] = checkpoint
            self.checkpoint = checkpoint
        session.execute(sa.update(Job).where(Job.id == self.job_id).values(**values))
        self.progress_done = done


JobHandler = Callable[[JobRun], dict[str, Any] | None]
_handlers: dict[str, JobHandler] = {}


def job_handler(kind: str) -> Callable[[JobHandler], JobHandler]:
    def decorator(handler: JobHandler) -> JobHandler:
        _handlers[kind] = handler
        return handler

    return decorator


def create_job(
    session: Session,
    org_id: uuid.UUID,
    kind: str,
    payload: dict[str, Any] | None = None,
    *,
    dedupe_key: str | None = None,
    progress_total: int | None = None,
    run_after: datetime | None = None,
    kick: bool = True,
) -> Job:
    """Add a pending job and kick a worker once the caller commits.

    With a `dedupe_key`, a second active job under the same key is refused with `Conflict`.
    With `kick=False` no worker is kicked: the caller runs the job itself (`execute_job`, as the
    CLI does); should it not, the sweep kicks the job once it has waited past `KICK_GRACE`.
    """
    from herald.jobs.tasks import run_job
    from herald.worker import enqueue_after_commit

    job = Job(
        org_id=org_id,
        kind=kind,
        payload=payload or {},
        dedupe_key=dedupe_key,
        progress_total=progress_total,
        run_after=run_after or utcnow(),
    )
    try:
        with session.begin_nested():
            session.add(job)
    except IntegrityError as exc:
        raise Conflict(f"a {kind} job for {dedupe_key} is already pending or running") from exc
    if not kick:
        return job
    if run_after is None:
        enqueue_after_commit(session, run_job, str(job.id))
    else:
        enqueue_after_commit(session, run_job.schedule, args=(str(job.id),), eta=run_after)
    return job


def get_job(session: Session, org_id: uuid.UUID, job_id: uuid.UUID) -> Job:
    return get_scoped(session, Job, org_id, job_id)


def cancel_job(session: Session, org_id: uuid.UUID, job_id: uuid.UUID) -> Job:
    job = get_scoped(session, Job, org_id, job_id)
    if job.status not in ("pending", "running"):
        raise Conflict(f"job is already {job.status}")
    job.status = "cancelled"
    job.finished_at = utcnow()
    session.flush()
    return job


def execute_job(database: Database, job_id: uuid.UUID) -> str:
    """Claim and run one job. Safe to call twice for the same job: the second call does nothing."""
    from herald.worker import claim

    with database.transaction() as session:
        job = session.get(Job, job_id)
        if job is None or job.run_after > utcnow():
            return "skipped"
        if not claim(session, Job, job_id, stale_after=STALE_AFTER):
            return "not-claimed"
        session.refresh(job)
        if job.attempts > job.max_attempts:
            job.status, job.finished_at = "failed", utcnow()
            job.error = (job.error or "") + "\ngave up after too many attempts"
            return "failed"
        if job.started_at is None:
            job.started_at = utcnow()
        kind = job.kind
        handler = _handlers.get(kind)
        run = JobRun(
            database=database,
            job_id=job.id,
            org_id=job.org_id,
            payload=dict(job.payload),
            checkpoint=job.checkpoint,
            progress_done=job.progress_done,
            progress_total=job.progress_total,
        )
    if handler is None:
        return _finish(database, job_id, "failed", error=f"no handler for job kind {kind!r}")
    stop_heartbeat = threading.Event()
    heartbeat = threading.Thread(
        target=_beat,
        args=(database, job_id, stop_heartbeat),
        name=f"heartbeat-{job_id}",
        daemon=True,
    )
    heartbeat.start()
    try:
        result = handler(run)
    except JobFailed as exc:
        return _finish(database, job_id, "failed", error=str(exc))
    except Exception as exc:
        # Back to pending with a delay; the sweep kicks it again, up to max_attempts.
        logger.exception("job %s (%s) raised; it will be retried", job_id, kind)
        with database.transaction() as session:
            session.execute(
                sa.update(Job)
                .where(Job.id == job_id, Job.status == "running")
                .values(status="pending", error=repr(exc), run_after=utcnow() + RETRY_DELAY)
            )
        return "retry"
    finally:
        stop_heartbeat.set()
        heartbeat.join()
    return _finish(database, job_id, "succeeded", result=result)


def _beat(database: Database, job_id: uuid.UUID, stop: threading.Event) -> None:
    """Keep a long job's heartbeat fresh, so that only a dead worker's job looks stale."""
    while not stop.wait(HEARTBEAT_INTERVAL.total_seconds()):
        try:
            with database.transaction() as session:
                session.execute(
                    sa.update(Job)
                    .where(Job.id == job_id, Job.status == "running")
                    .values(heartbeat_at=utcnow())
                )
        except Exception:
            logger.warning("could not refresh the heartbeat of job %s", job_id, exc_info=True)


def _finish(
    database: Database,
    job_id: uuid.UUID,
    status: str,
    *,
    error: str | None = None,
    result: dict[str, Any] | None = None,
) -> str:
    with database.transaction() as session:
        # A job cancelled while it ran stays cancelled.
        values: dict[str, Any] = {
            "status": status,
            "finished_at": utcnow(),
            "error": error,
            "result": result,
        }
        session.execute(
            sa.update(Job).where(Job.id == job_id, Job.status == "running").values(**values)
        )
    return status


def find_jobs_to_kick(session: Session, now: datetime) -> list[uuid.UUID]:
    """Pending jobs whose time has come and whose kick is overdue, and running ones whose worker
    is gone."""
    from herald.worker import abandoned

    rows = session.scalars(
        sa.select(Job.id)
        .where(
            sa.or_(
                sa.and_(Job.status == "pending", Job.run_after <= now - KICK_GRACE),
                # A retry waits for its delay, then only the sweep can wake it.
                sa.and_(Job.status == "pending", Job.run_after <= now, Job.attempts > 0),
                abandoned(Job, now, stale_after=STALE_AFTER),
            )
        )
        .limit(1000)
    )
    return list(rows)
