"""Marking hours whose rollups must be recomputed: the writers' side of the rollups.

The ledger (a message event, which includes a message's creation and each status change) and
event ingestion call `mark_hours` in the transaction that writes the rows, so a mark exists
exactly when the rows do: a rolled-back write leaves no mark, and a committed one is never
missed. The rollups pump (herald.analytics.rollups) recomputes each marked hour whole.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from herald.db import utcnow
from herald.models import AnalyticsDirtyHour, AnalyticsSettings

HOUR = timedelta(hours=1)
# Each writing transaction marks with a random shard out of this many, so that two transactions
# practically never insert the same key: a writer never waits on another's uncommitted mark (which
# would add a lock between transactions that touch nothing else in common).
SHARDS = 2**15
# Without a settings row: the default attribution window (herald.messaging.attribution).
DEFAULT_WINDOW_HOURS = 120


def floor_hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def mark_hours(
    executor: Session | sa.Connection, org_id: uuid.UUID, moments: Iterable[datetime]
) -> None:
    """Mark the hours holding these moments as needing their rollups recomputed."""
    hours = {floor_hour(moment) for moment in moments}
    if not hours:
        return
    now = utcnow()
    shard = random.randrange(SHARDS)  # noqa: S311 (spreading writes, not security)
    rows = [
        {"org_id": org_id, "hour": hour, "shard": shard, "marked_at": now} for hour in sorted(hours)
    ]
    dialect = (
        executor.get_bind().dialect.name
        if isinstance(executor, Session)
        else (executor.dialect.name)
    )
    insert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(AnalyticsDirtyHour)
    executor.execute(insert.on_conflict_do_nothing(), rows)


def mark_touches(session: Session, org_id: uuid.UUID, moments: Iterable[datetime]) -> None:
    """A touch (a human open or a click) changes who is credited for the conversions that follow
    it within the attribution window: mark those hours too, up to now (a touch recorded as it
    happens marks only its own hour)."""
    settings = session.get(AnalyticsSettings, org_id)
    window = timedelta(
        hours=DEFAULT_WINDOW_HOURS if settings is None else settings.attribution_window_hours
    )
    now = utcnow()
    hours: set[datetime] = set()
    for moment in moments:
        hour = floor_hour(moment)
        last = floor_hour(min(moment + window, now))
        hours.add(hour)
        while hour < last:
            hour += HOUR
            hours.add(hour)
    mark_hours(session, org_id, hours)
