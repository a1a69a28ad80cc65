"""Hourly rollups, recomputed whole from the raw rows for each hour marked (analytics.marks).

Recomputing an hour from the ledger and the events table, rather than adding each new row to a
counter, is what makes the rollups exact under retries, late data and any order of arrival: an
hour's rows are a function of the raw rows alone, so replaying the input twice or in another
order gives the same totals. A hour is read through the indexes on (org, time), so its cost is
that hour's rows, not the table's.

An hour here is a LOCAL hour of the organization's time zone: its rollup rows start where the
local hour starts (at :30 past the UTC hour for Asia/Kolkata or Australia/Adelaide, at :15 for
Asia/Kathmandu), so a local day is always a whole number of rollup hours and a daily series never
splits an hour across two days. Marks name UTC hours; the pump recomputes every local hour that
overlaps one. After changing an organization's time zone, `herald analytics rebuild` the range
(the rebuild first deletes every rollup row in it, whatever its alignment).

The pump takes a marked hour, deletes its marks and recomputes it in one transaction: the marks
of a write that commits meanwhile are not seen by the delete and stay for the next round, and a
failed recompute rolls the delete back.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import Session

from herald.analytics import measures
from herald.analytics.marks import HOUR, floor_hour
from herald.analytics.settings import attribution_settings
from herald.db import Database
from herald.messaging import attribution
from herald.models import (
    AnalyticsDirtyHour,
    DeliveryHour,
    Event,
    EventHour,
    Message,
    MessageHour,
    Organization,
    RetentionSettings,
)
from herald.models.analytics import NO_SOURCE_ID

UNATTRIBUTED = "unattributed"
_ALWAYS = datetime.min.replace(tzinfo=UTC)
# Hours a pump round takes.
BATCH = 20


def events_kept_since(session: Session, org_id: uuid.UUID) -> datetime:
    """Since when the organization's raw events are whole (the beginning of time unless
    retention pruned some)."""
    pruned_before = session.scalar(
        sa.select(RetentionSettings.events_pruned_before).where(RetentionSettings.org_id == org_id)
    )
    return pruned_before or _ALWAYS


def _domain(session: Session) -> sa.ColumnElement[str]:
    """The recipient's domain for email (gmail.com, ...), "" for other channels."""
    if session.get_bind().dialect.name == "postgresql":
        domain = sa.func.split_part(Message.to_address, "@", 2)
    else:
        domain = sa.func.substr(Message.to_address, sa.func.instr(Message.to_address, "@") + 1)
    return sa.case((Message.channel == "email", sa.func.lower(domain)), else_="").label("domain")


def local_hour(moment: datetime, zone: ZoneInfo) -> datetime:
    """The start (in UTC) of the local hour holding `moment`."""
    local = moment.astimezone(zone)
    return local.replace(minute=0, second=0, microsecond=0).astimezone(UTC)


def local_hours(zone: ZoneInfo, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """The local hours, as UTC [start, end) pairs, that overlap [start, end)."""
    found: list[tuple[datetime, datetime]] = []
    hour = local_hour(start, zone)
    while hour < end:
        following = local_hour(hour + HOUR, zone)
        if following <= hour:  # a 30-minute daylight-saving shift (Lord Howe Island)
            following = hour + HOUR
        found.append((hour, following))
        hour = following
    return found


def org_zone(session: Session, org_id: uuid.UUID) -> ZoneInfo:
    return ZoneInfo(attribution_settings(session, org_id).timezone)


ROLLUP_MODELS = (MessageHour, DeliveryHour, EventHour)


def recompute_hour(
    session: Session, org_id: uuid.UUID, hour: datetime, end: datetime | None = None
) -> None:
    """Replace the organization's rollup rows of the local hour [hour, end) (end: an hour
    later) with figures from the raw rows; except for an hour that began before retention
    pruned the organization's events, whose raw rows are no longer whole: its rollups stay as
    they were computed (herald.retention)."""
    if hour < events_kept_since(session, org_id):
        return
    start, end = hour, end or hour + HOUR
    for model in ROLLUP_MODELS:
        session.execute(
            sa.delete(model).where(model.org_id == org_id, model.hour >= start, model.hour < end)
        )

    by_source = measures.message_measures(
        session,
        org_id,
        measures.keyed_by(org_id, [Message.channel, Message.source, Message.source_id]),
        start=start,
        end=end,
    )
    settings = attribution_settings(session, org_id)
    credits = attribution.credit_conversions(
        session, org_id, start, end, metric=settings.conversion_metric, window=settings.window
    )
    credited_ids = list({c.message_id for c in credits if c.message_id is not None})
    keys: dict[uuid.UUID, measures.Key] = {}
    if credited_ids:
        keys = {
            message_id: (channel, source, source_id)
            for message_id, channel, source, source_id in session.execute(
                sa.select(Message.id, Message.channel, Message.source, Message.source_id).where(
                    Message.org_id == org_id, Message.id.in_(credited_ids)
                )
            )
        }
    unattributed: measures.Key = ("", UNATTRIBUTED, None)
    measures.add_conversions(
        by_source,
        (
            (keys[c.message_id] if c.message_id is not None else unattributed, c.value)
            for c in credits
        ),
    )
    session.add_all(
        MessageHour(
            org_id=org_id,
            hour=hour,
            channel=channel,
            source=source,
            source_id=source_id or NO_SOURCE_ID,
            **_counts(figures),
        )
        for (channel, source, source_id), figures in _merged_by_source(by_source).items()
        if _counts(figures) != _counts(measures.Measures())
    )

    by_delivery = measures.message_measures(
        session,
        org_id,
        measures.keyed_by(
            org_id,
            [
                Message.channel,
                sa.func.coalesce(Message.provider, "").label("provider"),
                _domain(session),
            ],
        ),
        start=start,
        end=end,
    )
    session.add_all(
        DeliveryHour(
            org_id=org_id,
            hour=hour,
            channel=channel,
            provider=provider,
            domain=(domain or "")[:255],
            sent=figures.sent,
            delivered=figures.delivered,
            bounced=figures.bounced,
            soft_bounced=figures.soft_bounced,
            complaints=figures.complaints,
            unsubscribes=figures.unsubscribes,
        )
        for (channel, provider, domain), figures in _merged_by_delivery(by_delivery).items()
        if figures.sent
        or figures.delivered
        or figures.bounced
        or figures.soft_bounced
        or figures.complaints
        or figures.unsubscribes
    )

    events = session.execute(
        sa.select(Event.name, sa.func.count(), sa.func.sum(Event.value))
        .where(Event.org_id == org_id, Event.time >= start, Event.time < end)
        .group_by(Event.name)
    )
    session.add_all(
        EventHour(org_id=org_id, hour=hour, name=name, events=int(count), value=float(value or 0))
        for name, count, value in events
    )
    session.flush()


def _counts(figures: measures.Measures) -> dict[str, float]:
    return {name: getattr(figures, name) for name in (*measures.COUNTS, "revenue")}


def _merged_by_source(
    by_source: dict[measures.Key, measures.Measures],
) -> dict[measures.Key, measures.Measures]:
    # A source without an id (transactional email) and the nil id are one primary key.
    merged: dict[measures.Key, measures.Measures] = {}
    for (channel, source, source_id), figures in by_source.items():
        merged.setdefault((channel, source, source_id or NO_SOURCE_ID), measures.Measures()).add(
            figures
        )
    return merged


def _merged_by_delivery(
    by_delivery: dict[measures.Key, measures.Measures],
) -> dict[measures.Key, measures.Measures]:
    # Domains are cut to the column's length, which may join two keys.
    merged: dict[measures.Key, measures.Measures] = {}
    for (channel, provider, domain), figures in by_delivery.items():
        key = (channel, provider, str(domain or "")[:255])
        merged.setdefault(key, measures.Measures()).add(figures)
    return merged


def process_marks(database: Database, limit: int = BATCH) -> int:
    """Recompute up to `limit` marked hours; the number recomputed (the rollups pump)."""
    with database.transaction() as session:
        marked = session.execute(
            sa.select(AnalyticsDirtyHour.org_id, AnalyticsDirtyHour.hour)
            .group_by(AnalyticsDirtyHour.org_id, AnalyticsDirtyHour.hour)
            .order_by(sa.func.min(AnalyticsDirtyHour.marked_at))
            .limit(limit)
        ).all()
    done = 0
    for org_id, hour in marked:
        with database.transaction() as session:
            taken = session.execute(
                sa.delete(AnalyticsDirtyHour).where(
                    AnalyticsDirtyHour.org_id == org_id, AnalyticsDirtyHour.hour == hour
                )
            )
            if taken.rowcount:  # type: ignore[attr-defined]
                zone = org_zone(session, org_id)
                for start, end in local_hours(zone, hour, hour + HOUR):
                    recompute_hour(session, org_id, start, end)
                done += 1
    return done


def rebuild(
    database: Database,
    start: datetime,
    end: datetime,
    org_id: uuid.UUID | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Recompute every hour in [start, end) for one organization or all; the hours done.
    `progress(done, total)` is called after each hour."""
    with database.transaction() as session:
        orgs = [org_id] if org_id is not None else list(session.scalars(sa.select(Organization.id)))
        zones = {org: org_zone(session, org) for org in orgs}
    start = floor_hour(start)
    plans = {org: local_hours(zones[org], start, end) for org in orgs}
    total = sum(len(hours) for hours in plans.values())
    done = 0
    for org, hours in plans.items():
        if not hours:
            continue
        with database.transaction() as session:
            # Rows of another alignment (the time zone changed) go too, except before the
            # retention horizon (those hours are not recomputed).
            low = max(hours[0][0], events_kept_since(session, org))
            high = hours[-1][1]
            for model in ROLLUP_MODELS:
                session.execute(
                    sa.delete(model).where(
                        model.org_id == org, model.hour >= low, model.hour < high
                    )
                )
        for hour, following in hours:
            with database.transaction() as session:
                recompute_hour(session, org, hour, following)
            done += 1
            if progress is not None:
                progress(done, total)
    return done
