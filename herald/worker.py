"""The task queue: one Huey instance, kicks sent after commit, row claiming and the periodic sweep.

The database is the truth and the queue only carries kicks (DESIGN invariant 3). A unit of work is a
row with a status before any task is queued; a task claims its row with one conditional UPDATE, so
two workers given the same kick cannot both act; and `sweep` re-sends kicks for rows that are still
pending or whose worker stopped heartbeating, so a lost kick, a dead worker or a flushed Redis only
delays work.
"""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import Callable, Collection
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol, TypeVar

import sqlalchemy as sa
from huey import Huey, crontab
from huey.consumer import Scheduler
from huey.storage import BaseStorage, RedisStorage, SqliteStorage
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from herald.db import Database, get_database, on_commit, utcnow
from herald.models import PeriodicRun
from herald.observability.metrics import SWEEP_REQUEUES
from herald.system import processes

logger = logging.getLogger(__name__)

# Every module that defines tasks; a worker imports them all so that it knows every task name.
TASK_MODULES = (
    "herald.worker",
    "herald.jobs.tasks",
    "herald.idempotency",
    "herald.events.tasks",
    "herald.imports.tasks",
    "herald.segments.tasks",
    "herald.email.tasks",
    "herald.campaigns.tasks",
    "herald.analytics.tasks",
    "herald.flows.tasks",
    "herald.system.tasks",
    "herald.retention.tasks",
)


class _UnconfiguredStorage(BaseStorage):  # type: ignore[misc]
    def enqueue(self, data: bytes, priority: int | None = None) -> None:
        raise RuntimeError("the task queue is not configured: call herald.worker.configure_queue()")


huey = Huey("herald", storage_class=_UnconfiguredStorage, utc=True, results=False)


def configure_queue(
    *, redis_url: str | None, data_dir: Path, immediate: bool = False, name: str = "herald"
) -> None:
    """Choose where kicks are stored: Redis when configured, else a SQLite file in the data dir.

    `immediate` runs each task synchronously when it is enqueued (for tests of request flows);
    `name` separates queues that share one Redis (parallel test runs).
    """
    huey.name = name
    if redis_url:
        huey.storage_class = RedisStorage
        huey.storage_kwargs = {"url": redis_url}
    else:
        data_dir.mkdir(parents=True, exist_ok=True)
        huey.storage_class = SqliteStorage
        huey.storage_kwargs = {"filename": str((data_dir / "queue.db").resolve())}
    huey.immediate_use_memory = False
    huey._immediate = immediate
    huey.storage = huey.create_storage()


def import_task_modules() -> None:
    for module in TASK_MODULES:
        importlib.import_module(module)


def queue_is_reachable() -> bool:
    """True when the queue storage answers (used by /readyz)."""
    storage = huey.storage
    try:
        if isinstance(storage, RedisStorage):
            return bool(storage.conn.ping())
        if isinstance(storage, SqliteStorage):
            with storage.db(commit=False) as cursor:
                cursor.execute("SELECT 1")
            return True
    except Exception:
        logger.warning("queue storage unreachable", exc_info=True)
        return False
    return not isinstance(storage, _UnconfiguredStorage)


class Kickable(Protocol):
    """A Huey task function: calling it enqueues it."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any: ...


def enqueue_after_commit(session: Session, task: Kickable, *args: Any, **kwargs: Any) -> None:
    """Enqueue `task(*args, **kwargs)` once the session commits; nothing is sent on rollback."""
    on_commit(session, lambda: task(*args, **kwargs))


# --- Claiming rows ------------------------------------------------------------------------------

Row = TypeVar("Row")


def claim(
    session: Session,
    model: type[Any],
    row_id: Any,
    *,
    stale_after: timedelta,
    pending: str = "pending",
    running: str = "running",
    ready: sa.ColumnElement[bool] | None = None,
) -> bool:
    """Atomically take a work row: pending, or running with a heartbeat older than `stale_after`.
    `claim_many` with one row."""
    claimed = claim_many(
        session,
        model,
        [row_id],
        stale_after=stale_after,
        pending=pending,
        running=running,
        ready=ready,
    )
    return row_id in claimed


def claim_many(
    session: Session,
    model: type[Any],
    row_ids: Collection[Any],
    *,
    stale_after: timedelta,
    pending: str = "pending",
    running: str = "running",
    ready: sa.ColumnElement[bool] | None = None,
) -> set[Any]:
    """Atomically take the work rows among `row_ids` that are pending, or running with a
    heartbeat older than `stale_after`; returns the ids taken.

    The model needs `status`, `attempts` and `heartbeat_at` columns. One UPDATE with the condition
    in its WHERE clause is a compare-and-set on SQLite and on PostgreSQL alike, so of two workers
    handed the same kick exactly one wins each row. On PostgreSQL the rows are picked with
    `FOR UPDATE SKIP LOCKED`: a row another transaction holds right now is left to it (whoever
    holds it either takes it, finishes it, or leaves it to a later kick or the sweep) instead of
    waiting for it. The caller commits.

    `pending` and `running` name the table's two statuses (messages say "queued" and "sending");
    `ready`, when given, is a further condition a pending row must meet (its time has come).
    """
    if not row_ids:
        return set()
    now = utcnow()
    waiting = model.status == pending if ready is None else sa.and_(model.status == pending, ready)
    takeable = sa.or_(waiting, abandoned(model, now, stale_after=stale_after, running=running))
    chosen: sa.ColumnElement[bool] = model.id.in_(list(row_ids))
    if session.get_bind().dialect.name == "postgresql":
        chosen = model.id.in_(
            sa.select(model.id).where(chosen, takeable).with_for_update(skip_locked=True)
        )
    result = session.execute(
        sa.update(model)
        .where(chosen, takeable)
        .values(
            status=running,
            heartbeat_at=now,
            attempts=model.attempts + 1,
            claimed_by=processes.current_process_id(),
        )
        .returning(model.id)
        .execution_options(synchronize_session=False)
    )
    return set(result.scalars())


def abandoned(
    model: type[Any], now: datetime, *, stale_after: timedelta, running: str = "running"
) -> sa.ColumnElement[bool]:
    """A claimed row whose worker is gone: its heartbeat is older than `stale_after`, or the
    process that claimed it stopped or went silent (herald.system.processes), which is known
    within about half a minute."""
    return sa.and_(
        model.status == running,
        sa.or_(
            model.heartbeat_at < now - stale_after,
            processes.abandoned_by_process(model.claimed_by, now),
        ),
    )


# --- The sweep ----------------------------------------------------------------------------------

SweepFunction = Callable[[Session, datetime], int]
_sweeps: dict[str, SweepFunction] = {}
_rekicking_sweeps: set[str] = set()
# When a worker is found dead, the kicks it had taken from the queue but not yet acted on are
# lost with it; rows waiting for a kick are re-kicked as if this much time had passed (longer
# than any sweep's grace for a kick), instead of a minute later by the periodic sweep.
LOST_KICKS_LOOKAHEAD = timedelta(seconds=61)


def register_sweep(name: str, *, rekicks: bool = False) -> Callable[[SweepFunction], SweepFunction]:
    """Register a function that re-sends kicks for rows left pending or stale.

    It receives a session and the current time, enqueues with `enqueue_after_commit`, and returns
    how many kicks it re-sent. It must be cheap when there is nothing to do. A sweep that
    `rekicks` work rows (rather than, say, deleting expired ones) also runs when a dead worker
    is found, with a clock LOST_KICKS_LOOKAHEAD ahead: a kick sent twice is harmless, since
    workers claim rows.
    """

    def decorator(function: SweepFunction) -> SweepFunction:
        _sweeps[name] = function
        if rekicks:
            _rekicking_sweeps.add(name)
        return function

    return decorator


def run_sweeps(*, after_lost_worker: bool = False) -> dict[str, int]:
    """Run every sweep; or, `after_lost_worker`, the re-kicking ones with the clock ahead."""
    import_task_modules()  # the sweeps register as their modules are imported
    counts: dict[str, int] = {}
    for name, function in _sweeps.items():
        if after_lost_worker and name not in _rekicking_sweeps:
            continue
        now = utcnow() + (LOST_KICKS_LOOKAHEAD if after_lost_worker else timedelta(0))
        try:
            with get_database().transaction() as session:
                counts[name] = function(session, now)
            if counts[name]:
                SWEEP_REQUEUES.labels(name).inc(counts[name])
        except Exception:
            # One broken sweep must not starve the others.
            logger.exception("sweep %s failed", name)
    return counts


@huey.periodic_task(crontab(minute="*"), name="herald.sweep")  # type: ignore[untyped-decorator]
def sweep() -> dict[str, int]:
    return run_sweeps()


# --- Periodic tasks, once per period ------------------------------------------------------------


def claim_period(database: Database, task: str, period: datetime) -> bool:
    """True for the first caller naming this task and period: its scheduler enqueues the task.
    An insert into `periodic_runs`' primary key is the lock, on SQLite and PostgreSQL alike, so
    any number of schedulers (one per machine) run each periodic task once per period."""
    try:
        with database.transaction() as session:
            session.add(
                PeriodicRun(task=task, period=period, process_id=processes.current_process_id())
            )
    except IntegrityError:
        return False
    return True


class OncePerPeriodScheduler(Scheduler):  # type: ignore[misc]
    """Huey's scheduler, enqueueing a periodic task only when this process wins its period."""

    def enqueue_periodic_tasks(self, now: datetime | None) -> None:
        # Huey looks once a minute (from when it started, not at the top of the minute); the
        # minute of its UTC clock is the period, so of schedulers looking at different seconds
        # the first in each minute enqueues.
        if now is None:
            now = self.huey._get_timestamp()
        period = now.replace(second=0, microsecond=0, tzinfo=UTC)
        for task in self.huey.read_periodic(now):
            try:
                if not claim_period(get_database(), task.name, period):
                    logger.debug("periodic task %s already ran for %s", task.name, period)
                    continue
                self.huey.enqueue(task)
            except Exception:
                logger.exception("could not enqueue periodic task %s", task.name)


PERIODIC_RUNS_KEPT = timedelta(days=1)


@register_sweep("periodic-runs")
def forget_periodic_runs(session: Session, now: datetime) -> int:
    session.execute(sa.delete(PeriodicRun).where(PeriodicRun.period < now - PERIODIC_RUNS_KEPT))
    return 0


# --- Pumps --------------------------------------------------------------------------------------

# A pump drains a table of pending work (such as profile_changes) continuously: it is called
# again at once while it finds work and after PUMP_IDLE_SECONDS when it found none. Polling the
# table, rather than waiting for a kick, means nothing recorded is ever waiting for a lost kick.
PumpFunction = Callable[[Any], int]
_pumps: dict[str, PumpFunction] = {}
PUMP_IDLE_SECONDS = 1.0
PUMP_ERROR_SECONDS = 5.0


def register_pump(name: str) -> Callable[[PumpFunction], PumpFunction]:
    """Register `function(database) -> rows handled` to run in every worker process."""

    def decorator(function: PumpFunction) -> PumpFunction:
        _pumps[name] = function
        return function

    return decorator


# Set to have an idle pump of this process look again at once (work was just committed for it),
# rather than at its next poll.
_wakes: dict[str, threading.Event] = {}


def wake_pump(name: str) -> None:
    """Wake this process's pump `name` if it is idle (a no-op where pumps do not run)."""
    wake = _wakes.get(name)
    if wake is not None:
        wake.set()


def _pump_loop(name: str, function: PumpFunction, stop: threading.Event) -> None:
    wake = _wakes.setdefault(name, threading.Event())
    while not stop.is_set():
        wake.clear()
        try:
            handled = function(get_database())
        except Exception:
            logger.exception("pump %s failed; retrying in %ss", name, PUMP_ERROR_SECONDS)
            stop.wait(PUMP_ERROR_SECONDS)
            continue
        if handled == 0:
            wake.wait(PUMP_IDLE_SECONDS)


def start_pumps() -> Callable[[], None]:
    """Start every registered pump in a daemon thread; returns a function that stops them (each
    finishes the batch it is in)."""
    import_task_modules()
    stop = threading.Event()
    threads = [
        threading.Thread(target=_pump_loop, args=(name, f, stop), name=f"pump-{name}", daemon=True)
        for name, f in _pumps.items()
    ]
    for thread in threads:
        thread.start()

    def stop_pumps() -> None:
        stop.set()
        for wake in _wakes.values():
            wake.set()
        for thread in threads:
            thread.join(timeout=30)

    return stop_pumps
