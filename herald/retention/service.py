"""Pruning what an organization chose not to keep, while every figure stays as it was.

- Raw events older than `events_months` months. On PostgreSQL the events table is partitioned
  by month (herald.events.partitions) for all organizations together: a month whose every event
  belongs to organizations that prune it is emptied at once with TRUNCATE of its partition (the
  empty partition stays, so a late event dated in that month still has a home); what remains is
  deleted in batches of BATCH rows, each its own short transaction, as on SQLite.
- Message bodies older than `message_bodies_days` days: the `content` of final messages (what
  was personalized and rendered) and the outbox's stored copies. Messages, their events and
  their figures stay.

What keeps the aggregates right:
- Conversion events (of the organization's conversion metric or any of its campaigns') are
  copied to `retained_conversions` before their events go; attribution reads both, so campaign,
  flow and analytics conversions and revenue credit the same orders as before.
- Analytics never recomputes an hour that began before `events_pruned_before`
  (herald.analytics.rollups), so those hours' rollups stay as computed from the whole data.
- Segment memberships are rows, untouched; a condition about events older than what is kept
  sees only what is kept when the segment is next computed (docs/operations.md).
- Campaign and flow message figures come from the messages and their events, which are kept.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from herald.analytics.settings import attribution_settings
from herald.db import Database, utcnow
from herald.email.providers.outbox import OUTBOX_DIR
from herald.messaging import ledger
from herald.models import (
    Campaign,
    Event,
    Message,
    RetainedConversion,
    RetentionSettings,
)

logger = logging.getLogger(__name__)

# Rows one delete transaction takes: short enough that ingestion never waits long behind it.
BATCH = 5000
MAX_EVENTS_MONTHS = 120
MAX_MESSAGE_BODY_DAYS = 3650
# Messages whose bodies may go: nothing more will be sent from them.
FINAL_STATUSES = (
    ledger.SENT,
    ledger.FAILED,
    "delivered",
    "bounced",
    "complained",
    "suppressed",
    "skipped",
)
_PARTITION = re.compile(r"^events_p(\d{4})_(\d{2})$")

# progress(step, done, total): a step's rows (or partitions, or files) done so far.
Progress = Callable[[str, int, int], None]


def months_before(moment: datetime, months: int) -> datetime:
    """The same day and time `months` calendar months earlier (the month's last day when it is
    shorter)."""
    index = moment.year * 12 + moment.month - 1 - months
    year, month = divmod(index, 12)
    month += 1
    following = date(year + month // 12, month % 12 + 1, 1)
    last_day = (following - timedelta(days=1)).day
    return moment.replace(year=year, month=month, day=min(moment.day, last_day))


# --- Settings -----------------------------------------------------------------------------------


def get_settings(session: Session, org_id: uuid.UUID) -> RetentionSettings:
    """The organization's settings (not added to the session when it has none: keep all)."""
    row = session.get(RetentionSettings, org_id)
    return row if row is not None else RetentionSettings(org_id=org_id)


def update_settings(session: Session, org_id: uuid.UUID, changes: dict[str, Any]) -> None:
    """Set the given fields (None: keep for ever)."""
    row = session.get(RetentionSettings, org_id)
    if row is None:
        row = RetentionSettings(org_id=org_id)
        session.add(row)
    for name, value in changes.items():
        setattr(row, name, value)
    session.flush()


# --- Running ------------------------------------------------------------------------------------


@dataclass
class Report:
    org_id: uuid.UUID
    events_deleted: int = 0
    conversions_kept: int = 0
    bodies_cleared: int = 0
    outbox_files_deleted: int = 0
    partitions_emptied: list[str] = field(default_factory=list)


def run(
    database: Database,
    data_dir: Path,
    *,
    now: datetime | None = None,
    org_id: uuid.UUID | None = None,
    progress: Progress | None = None,
) -> list[Report]:
    """Prune every organization with retention settings (or only `org_id`); what was done."""
    now = now or utcnow()
    with database.transaction() as session:
        query = sa.select(RetentionSettings).where(
            sa.or_(
                RetentionSettings.events_months.is_not(None),
                RetentionSettings.message_bodies_days.is_not(None),
            )
        )
        if org_id is not None:
            query = query.where(RetentionSettings.org_id == org_id)
        settings = [
            (row.org_id, row.events_months, row.message_bodies_days)
            for row in session.scalars(query)
        ]
    reports = {org: Report(org) for org, _months, _days in settings}
    event_cutoffs = {
        org: months_before(now, months) for org, months, _days in settings if months is not None
    }
    if event_cutoffs:
        _prune_events(database, event_cutoffs, reports, progress)
    for org, _months, days in settings:
        if days is not None:
            _prune_bodies(database, data_dir, org, now - timedelta(days=days), reports[org])
    with database.transaction() as session:
        for org, report in reports.items():
            row = session.get(RetentionSettings, org)
            if row is None:
                continue
            row.last_run_at = now
            logger.info(
                "retention for organization %s: %d events deleted (%d conversions kept, "
                "partitions emptied: %s), %d message bodies and %d outbox files deleted",
                org,
                report.events_deleted,
                report.conversions_kept,
                ", ".join(report.partitions_emptied) or "none",
                report.bodies_cleared,
                report.outbox_files_deleted,
            )
    return list(reports.values())


def _conversion_metrics(session: Session, org_id: uuid.UUID) -> list[str]:
    names = {attribution_settings(session, org_id).conversion_metric}
    names.update(
        session.scalars(
            sa.select(Campaign.conversion_metric).where(Campaign.org_id == org_id).distinct()
        )
    )
    return sorted(names)


def _mark_pruned(session: Session, org_id: uuid.UUID, cutoff: datetime) -> None:
    """Before any event goes: from here on analytics leaves the hours before `cutoff` alone."""
    row = session.get(RetentionSettings, org_id)
    assert row is not None
    if row.events_pruned_before is None or row.events_pruned_before < cutoff:
        row.events_pruned_before = cutoff


def _keep_conversions(
    session: Session, org_id: uuid.UUID, where: sa.ColumnElement[bool], source: sa.FromClause
) -> int:
    """Copy the organization's conversion events matching `where` (from `source`: the events
    table or one partition of it) into retained_conversions."""
    names = _conversion_metrics(session, org_id)
    columns = source.c
    picked = sa.select(
        columns.id, columns.org_id, columns.profile_id, columns.name, columns.time, columns.value
    ).where(columns.org_id == org_id, columns.name.in_(names), where)
    kept = session.scalars(
        sa.insert(RetainedConversion)
        .from_select(["id", "org_id", "profile_id", "name", "time", "value"], picked)
        .returning(RetainedConversion.id)
    )
    return len(kept.all())


def _prune_events(
    database: Database,
    cutoffs: dict[uuid.UUID, datetime],
    reports: dict[uuid.UUID, Report],
    progress: Progress | None,
) -> None:
    with database.transaction() as session:
        for org, cutoff in cutoffs.items():
            _mark_pruned(session, org, cutoff)
    if database.engine.dialect.name == "postgresql":
        _empty_partitions(database, cutoffs, reports, progress)
    for org, cutoff in cutoffs.items():
        _delete_in_batches(database, org, cutoff, reports[org], progress)


def _partitions(session: Session) -> list[tuple[str, datetime, datetime]]:
    """The monthly partitions of events (name, start, end), oldest first."""
    names = session.scalars(
        sa.text(
            "SELECT child.relname FROM pg_inherits "
            "JOIN pg_class parent ON parent.oid = pg_inherits.inhparent "
            "JOIN pg_class child ON child.oid = pg_inherits.inhrelid "
            "WHERE parent.relname = 'events'"
        )
    )
    found = []
    for name in names:
        match = _PARTITION.match(name)
        if match is None:
            continue  # events_archive: history before the monthly partitions, deleted by rows
        year, month = int(match[1]), int(match[2])
        start = datetime(year, month, 1, tzinfo=UTC)
        end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
        found.append((name, start, end))
    return sorted(found, key=lambda partition: partition[1])


def _empty_partitions(
    database: Database,
    cutoffs: dict[uuid.UUID, datetime],
    reports: dict[uuid.UUID, Report],
    progress: Progress | None,
) -> None:
    """TRUNCATE each month whose events all belong to organizations pruning the whole month."""
    latest = max(cutoffs.values())
    with database.transaction() as session:
        candidates = [p for p in _partitions(session) if p[2] <= latest]
    for done, (name, _start, end) in enumerate(candidates, 1):
        with database.transaction() as session:
            partition = sa.table(
                name,
                sa.column("id"),
                sa.column("org_id"),
                sa.column("profile_id"),
                sa.column("name"),
                sa.column("time"),
                sa.column("value"),
            )
            # Writers of this month wait until the commit: nothing lands between look and empty.
            session.execute(sa.text(f'LOCK TABLE "{name}" IN SHARE ROW EXCLUSIVE MODE'))
            present = list(session.scalars(sa.select(partition.c.org_id).distinct()))
            if not present or any(org not in cutoffs or cutoffs[org] < end for org in present):
                continue  # empty already, or holds events someone keeps: deleted by rows
            counts: dict[uuid.UUID, int] = dict(
                session.execute(
                    sa.select(partition.c.org_id, sa.func.count()).group_by(partition.c.org_id)
                ).all()
            )
            for org in present:
                reports[org].conversions_kept += _keep_conversions(
                    session, org, sa.true(), partition
                )
                reports[org].events_deleted += int(counts[org])
                reports[org].partitions_emptied.append(name)
            session.execute(sa.text(f'TRUNCATE TABLE "{name}"'))
        logger.info("retention emptied event partition %s", name)
        if progress is not None:
            progress("partitions", done, len(candidates))


def _delete_in_batches(
    database: Database,
    org_id: uuid.UUID,
    cutoff: datetime,
    report: Report,
    progress: Progress | None,
) -> None:
    older = sa.and_(Event.org_id == org_id, Event.time < cutoff)
    with database.transaction() as session:
        total = int(session.scalar(sa.select(sa.func.count()).where(older)) or 0)
    done = 0
    while True:
        started = time.monotonic()
        with database.transaction() as session:
            batch = [
                (event_id, moment)
                for event_id, moment in session.execute(
                    sa.select(Event.id, Event.time).where(older).limit(BATCH)
                )
            ]
            if not batch:
                break
            ids = [event_id for event_id, _moment in batch]
            report.conversions_kept += _keep_conversions(
                session, org_id, Event.id.in_(ids), Event.__table__
            )
            session.execute(
                sa.delete(Event)
                .where(Event.org_id == org_id, Event.id.in_(ids), Event.time < cutoff)
                .execution_options(synchronize_session=False)
            )
        done += len(batch)
        report.events_deleted += len(batch)
        logger.info(
            "retention: %d of %d events of organization %s deleted (%.0f ms a batch)",
            done,
            total,
            org_id,
            (time.monotonic() - started) * 1000,
        )
        if progress is not None:
            progress("events", done, max(total, done))


def _prune_bodies(
    database: Database, data_dir: Path, org_id: uuid.UUID, cutoff: datetime, report: Report
) -> None:
    """Clear the content of final messages created before `cutoff`, and delete the outbox's
    stored copies older than it."""
    old = sa.and_(
        Message.org_id == org_id,
        Message.created_at < cutoff,
        Message.status.in_(FINAL_STATUSES),
        Message.content != sa.literal({}, Message.content.type),
    )
    while True:
        with database.transaction() as session:
            ids = list(session.scalars(sa.select(Message.id).where(old).limit(BATCH)))
            if not ids:
                break
            session.execute(
                sa.update(Message)
                .where(Message.id.in_(ids))
                .values(content={})
                .execution_options(synchronize_session=False)
            )
        report.bodies_cleared += len(ids)
    folder = data_dir / OUTBOX_DIR / str(org_id)
    if folder.is_dir():
        limit = cutoff.timestamp()
        for path in folder.glob("*.eml"):
            try:
                if path.stat().st_mtime < limit:
                    path.unlink()
                    report.outbox_files_deleted += 1
            except FileNotFoundError:
                continue
