"""Background jobs: every long piece of work (an import, a recompute) is one of these rows."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from herald.db import Base, JSONType, UTCDateTime, new_id, utcnow

JOB_STATUSES = ("pending", "running", "succeeded", "failed", "cancelled")
ACTIVE_JOB_STATUSES = ("pending", "running")


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (
        sa.CheckConstraint(
            "status IN ('pending', 'running', 'succeeded', 'failed', 'cancelled')", name="status"
        ),
        # At most one active job per key: "two recomputes of the same segment never run at once".
        sa.Index(
            "uq_jobs_active_dedupe_key",
            "dedupe_key",
            unique=True,
            sqlite_where=sa.text("status IN ('pending', 'running')"),
            postgresql_where=sa.text("status IN ('pending', 'running')"),
        ),
        sa.Index("ix_jobs_status_run_after", "status", "run_after"),
        # Lists of one kind of job, newest first (the Imports screen).
        sa.Index("ix_jobs_org_id_kind_created_at", "org_id", "kind", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    org_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(sa.String(64))
    status: Mapped[str] = mapped_column(sa.String(16), default="pending")
    dedupe_key: Mapped[str | None] = mapped_column(sa.String(200))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    # Where a restarted job resumes; saved in the same transaction as the work it covers.
    checkpoint: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    error: Mapped[str | None] = mapped_column(sa.Text)
    progress_done: Mapped[int] = mapped_column(sa.Integer, default=0)
    progress_total: Mapped[int | None] = mapped_column(sa.Integer)
    attempts: Mapped[int] = mapped_column(sa.Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(sa.Integer, default=5)
    run_after: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Refreshed while a worker holds the job; a stale heartbeat means the worker died.
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The process (herald.models.Process) holding the claim: when it is gone, so is the claim.
    claimed_by: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class JobFile(Base):
    """An uploaded file a job reads (an import), in chunks, so that any worker can read it."""

    __tablename__ = "job_files"

    job_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    data: Mapped[bytes] = mapped_column(sa.LargeBinary)


class JobError(Base):
    """A problem with one item of a job's input (a CSV row, a JSON line), for people to fix."""

    __tablename__ = "job_errors"

    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True
    )
    job_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("jobs.id", ondelete="CASCADE"), index=True
    )
    item: Mapped[int] = mapped_column(sa.Integer)  # row or line number, counting from 1
    field: Mapped[str] = mapped_column(sa.String(255))
    reason: Mapped[str] = mapped_column(sa.Text)
