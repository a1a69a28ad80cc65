"""The registry of live Herald processes, and taking over what a dead one claimed.

Every process that claims work (`herald worker`, `scheduler`, `run`) registers a row in
`processes` and refreshes its heartbeat every HEARTBEAT_INTERVAL from a daemon thread. A claim
(`herald.worker.claim_many`) records the claiming process in the row's `claimed_by`. A claim is
abandoned, and may be taken by anyone, when its process

- stopped cleanly (`stopped_at` is set on the way out, after the grace period), or
- has not beaten for STALE_AFTER (it was killed, or lost its machine).

Every worker runs the `processes.recovery` pump: every RECOVERY_EVERY it marks processes newly
found gone as reaped and, when there were any, runs the re-kicking sweeps at once: they kick the
abandoned claims, and the rows whose kicks the dead worker had taken from the queue (lost with
it) without waiting for those kicks' grace. A killed worker's messages and jobs are so taken
over within STALE_AFTER + RECOVERY_EVERY (about 40 s) instead of the five minutes a row's own
heartbeat needs to go stale.
The embedded `herald run` knows its previous instance on this machine is dead the moment it
starts, and re-kicks its claims before serving.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from herald.db import Database, utcnow
from herald.models import Process

logger = logging.getLogger(__name__)

HEARTBEAT_INTERVAL = timedelta(seconds=10)
# Three missed beats: the process is gone.
STALE_AFTER = timedelta(seconds=30)
# How often a worker looks for processes that went away.
RECOVERY_EVERY = timedelta(seconds=5)
# Rows of processes that stopped this long ago are deleted.
FORGET_AFTER = timedelta(days=7)

_current: uuid.UUID | None = None


def current_process_id() -> uuid.UUID | None:
    """This process's id in the registry, or None when it did not register (an API process, a
    CLI command): its claims then end only with their rows' own heartbeats."""
    return _current


def gone(now: datetime) -> sa.ColumnElement[bool]:
    """The condition on `Process` rows for processes that stopped or stopped beating."""
    return sa.or_(Process.stopped_at.is_not(None), Process.heartbeat_at < now - STALE_AFTER)


def abandoned_by_process(
    claimed_by: sa.ColumnElement[uuid.UUID | None], now: datetime
) -> sa.ColumnElement[bool]:
    """True for a claim whose process is gone."""
    return claimed_by.in_(sa.select(Process.id).where(gone(now)))


class Registration:
    """This process's row and the thread that keeps it beating."""

    def __init__(self, database: Database, role: str) -> None:
        self.database = database
        self.role = role
        self.id = uuid.uuid4()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> Registration:
        global _current
        now = utcnow()
        with self.database.transaction() as session:
            session.add(
                Process(
                    id=self.id,
                    role=self.role,
                    hostname=socket.gethostname()[:255],
                    pid=os.getpid(),
                    started_at=now,
                    heartbeat_at=now,
                )
            )
        _current = self.id
        self._thread = threading.Thread(target=self._beat, name="process-heartbeat", daemon=True)
        self._thread.start()
        logger.info("registered as %s process %s", self.role, self.id)
        return self

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_INTERVAL.total_seconds()):
            try:
                with self.database.transaction() as session:
                    stopped = session.scalar(
                        sa.update(Process)
                        .where(Process.id == self.id)
                        .values(heartbeat_at=utcnow())
                        .returning(Process.stopped_at)
                    )
                if stopped is not None:
                    logger.error(
                        "process %s was taken for dead (no heartbeat for %ss): its claims may "
                        "have been taken over",
                        self.id,
                        STALE_AFTER.total_seconds(),
                    )
            except Exception:
                logger.warning("could not refresh the process heartbeat", exc_info=True)

    def stop(self) -> None:
        """Mark this process stopped, so that whatever it still holds is anyone's at once, and
        kick that work (the sweeps) rather than leave it to the next sweep."""
        global _current
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        try:
            with self.database.transaction() as session:
                session.execute(
                    sa.update(Process).where(Process.id == self.id).values(stopped_at=utcnow())
                )
            _current = None
            from herald.worker import run_sweeps

            run_sweeps()
        except Exception:
            logger.warning("could not record the end of process %s", self.id, exc_info=True)


def register(database: Database, role: str) -> Registration:
    return Registration(database, role).start()


def mark_previous_instances_stopped(session: Session, role: str) -> int:
    """For the embedded `herald run`: its earlier instances on this machine are dead (this one
    could not have started on their data otherwise), so their claims are released now."""
    result = session.execute(
        sa.update(Process)
        .where(
            Process.role == role,
            Process.hostname == socket.gethostname()[:255],
            Process.stopped_at.is_(None),
            Process.id != _current,
        )
        .values(stopped_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def reap(session: Session, now: datetime) -> list[uuid.UUID]:
    """Mark the processes found gone since the last look as reaped; returns their ids. One
    conditional UPDATE, so of several workers looking at once one reaps each process."""
    reaped = list(
        session.scalars(
            sa.update(Process)
            .where(Process.reaped_at.is_(None), gone(now))
            .values(reaped_at=now)
            .returning(Process.id)
            .execution_options(synchronize_session=False)
        )
    )
    session.execute(
        sa.delete(Process).where(
            Process.stopped_at < now - FORGET_AFTER, Process.reaped_at.is_not(None)
        )
    )
    return reaped


_last_recovery = 0.0


def recover(database: Database) -> int:
    """The recovery pump's body: at most every RECOVERY_EVERY, reap gone processes and, if any,
    run the sweeps now. Returns 0 so that the pump idles between looks."""
    global _last_recovery
    if time.monotonic() - _last_recovery < RECOVERY_EVERY.total_seconds():
        return 0
    _last_recovery = time.monotonic()
    with database.transaction() as session:
        reaped = reap(session, utcnow())
    if reaped:
        from herald.worker import run_sweeps

        logger.warning(
            "processes %s are gone; re-kicking their claims", ", ".join(map(str, reaped))
        )
        run_sweeps(after_lost_worker=True)
    return 0
