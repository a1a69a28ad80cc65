"""Herald's own processes: the registry of live workers (whose claims die with them) and the
record of periodic runs (so that several schedulers run each periodic task once per period)."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from herald.db import Base, UTCDateTime, new_id, utcnow


class Process(Base):
    """A running `herald worker`, `scheduler`, `run` or `serve`: it beats every few seconds while
    it lives and sets `stopped_at` on a clean shutdown. Work rows it claimed name it
    (`claimed_by`), so once it is stopped or silent its claims are taken over at once."""

    __tablename__ = "processes"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    role: Mapped[str] = mapped_column(sa.String(32))
    hostname: Mapped[str] = mapped_column(sa.String(255))
    pid: Mapped[int] = mapped_column(sa.Integer)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    heartbeat_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    stopped_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Set by the live process that noticed this one was gone and re-kicked its claims.
    reaped_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class PeriodicRun(Base):
    """One row per periodic task and period: the scheduler that inserts it enqueues the task,
    any other scheduler finds the key taken and does not."""

    __tablename__ = "periodic_runs"

    task: Mapped[str] = mapped_column(sa.String(100), primary_key=True)
    period: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    process_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
