"""Running an import, the parts both kinds share: batches of rows, one transaction each with its
checkpoint and the rows' errors."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from typing import Any, Protocol, TypeVar

import sqlalchemy as sa
from sqlalchemy.orm import Session

from herald.imports.service import MAX_REASON_LENGTH, MAX_STORED_ERRORS
from herald.jobs.service import JobRun
from herald.models import Job, JobError

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


def _count(items: Iterable[bool]) -> int:
    return sum(1 for item in items if item)
