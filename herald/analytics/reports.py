"""Reports over the hourly rollups: overview, time series, per-source table, deliverability, events.

Every report reads only the rollup tables (herald.models.analytics), a row per hour and key, so its
cost follows the period's length and the number of sources, never the number of raw events.
Periods are whole local days in the organization's time zone; a series' buckets (hour, day, ISO
week starting Monday, month) are local too.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import Session

from herald.analytics import measures
from herald.analytics.marks import HOUR
from herald.analytics.rollups import UNATTRIBUTED
from herald.models import Campaign, DeliveryHour, EventHour, MessageHour
from herald.models.analytics import NO_SOURCE_ID

Interval = Literal["hour", "day", "week", "month"]
# Every measure a series or a table can show: the counts, revenue and the rates.
MEASURE_NAMES = (*measures.COUNTS, "revenue", *measures.Measures().rates())

# Mailbox providers' published limits (Gmail's and Yahoo's sender requirements, 2024): a spam
# complaint rate kept under 0.1% and never reaching 0.3%; a bounce rate above 2% is commonly
# where mailbox providers start to throttle.
THRESHOLDS = {
    "complaint_rate": {"warning": 0.001, "limit": 0.003},
    "bounce_rate": {"warning": 0.02, "limit": 0.05},
    "unsubscribe_rate": {"warning": 0.005, "limit": 0.01},
}


@dataclass(frozen=True)
class Period:
    """[start, end) in UTC, from whole local days."""

    start: datetime
    end: datetime
    zone: ZoneInfo

    @classmethod
    def of_days(cls, first: date, last: date, zone: ZoneInfo) -> Period:
        start = datetime.combine(first, time(), tzinfo=zone).astimezone(UTC)
        end = datetime.combine(last + timedelta(days=1), time(), tzinfo=zone).astimezone(UTC)
        return cls(start, end, zone)

    def previous(self) -> Period:
        """The period of the same length just before this one."""
        return Period(self.start - (self.end - self.start), self.start, self.zone)


@dataclass(frozen=True)
class Filters:
    source: str | None = None
    channel: str | None = None
    source_id: uuid.UUID | None = None

    def conditions(self) -> list[sa.ColumnElement[bool]]:
        found: list[sa.ColumnElement[bool]] = []
        if self.source is not None:
            found.append(MessageHour.source == self.source)
        if self.channel is not None:
            found.append(MessageHour.channel == self.channel)
        if self.source_id is not None:
            found.append(MessageHour.source_id == self.source_id)
        return found


def _in(model: Any, org_id: uuid.UUID, period: Period) -> list[sa.ColumnElement[bool]]:
    return [model.org_id == org_id, model.hour >= period.start, model.hour < period.end]


def totals(
    session: Session, org_id: uuid.UUID, period: Period, filters: Filters = Filters()
) -> measures.Measures:
    """The messages' measures over the period (revenue: attributed revenue only)."""
    row = session.execute(
        sa.select(*measures.sum_columns(MessageHour)).where(
            *_in(MessageHour, org_id, period),
            MessageHour.source != UNATTRIBUTED,
            *filters.conditions(),
        )
    ).one()
    return measures.Measures.from_row(row)


def unattributed_revenue(session: Session, org_id: uuid.UUID, period: Period) -> float:
    value = session.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(MessageHour.revenue), 0)).where(
            *_in(MessageHour, org_id, period), MessageHour.source == UNATTRIBUTED
        )
    )
    return round(float(value or 0), 2)


# --- Time series ---------------------------------------------------------------------------------


def bucket_of(moment: datetime, interval: Interval, zone: ZoneInfo) -> datetime:
    """The local start of the bucket holding `moment`."""
    local = moment.astimezone(zone)
    if interval == "hour":
        return local.replace(minute=0, second=0, microsecond=0)
    day = datetime.combine(local.date(), time(), tzinfo=zone)
    if interval == "week":
        return datetime.combine(local.date() - timedelta(days=local.weekday()), time(), zone)
    if interval == "month":
        return datetime.combine(local.date().replace(day=1), time(), tzinfo=zone)
    return day


def buckets(period: Period, interval: Interval) -> list[datetime]:
    """Every bucket the period touches, in order."""
    found: list[datetime] = []
    moment = period.start
    while moment < period.end:
        bucket = bucket_of(moment, interval, period.zone)
        if not found or found[-1] != bucket:
            found.append(bucket)
        moment += HOUR
    return found


def _series_measures(
    session: Session, org_id: uuid.UUID, period: Period, interval: Interval, filters: Filters
) -> dict[datetime, measures.Measures]:
    rows = session.execute(
        sa.select(MessageHour.hour, *measures.sum_columns(MessageHour))
        .where(
            *_in(MessageHour, org_id, period),
            MessageHour.source != UNATTRIBUTED,
            *filters.conditions(),
        )
        .group_by(MessageHour.hour)
    )
    by_bucket: dict[datetime, measures.Measures] = {
        b: measures.Measures() for b in buckets(period, interval)
    }
    for row in rows:
        bucket = bucket_of(row.hour, interval, period.zone)
        by_bucket.setdefault(bucket, measures.Measures()).add(measures.Measures.from_row(row))
    return by_bucket


def value_of(figures: measures.Measures, measure: str) -> float:
    if measure in measures.Measures().rates():
        return figures.rates()[measure]
    value = getattr(figures, measure)
    return round(float(value), 2) if measure == "revenue" else float(value)


def timeseries(
    session: Session,
    org_id: uuid.UUID,
    measure: str,
    interval: Interval,
    period: Period,
    filters: Filters = Filters(),
) -> dict[str, Any]:
    """The measure per bucket over the period, and over the previous period of the same length
    (its buckets matched to this period's by position)."""
    current = _series_measures(session, org_id, period, interval, filters)
    earlier = _series_measures(session, org_id, period.previous(), interval, filters)
    return {
        "measure": measure,
        "interval": interval,
        "points": [
            {"start": bucket, "value": value_of(figures, measure)}
            for bucket, figures in sorted(current.items())
        ],
        "previous": [
            {"start": bucket, "value": value_of(figures, measure)}
            for bucket, figures in sorted(earlier.items())
        ],
        "total": value_of(measures.total(current.values()), measure),
        "previous_total": value_of(measures.total(earlier.values()), measure),
    }


# --- Per-source table ----------------------------------------------------------------------------


def source_names(
    session: Session, org_id: uuid.UUID, keys: Sequence[tuple[str, uuid.UUID]]
) -> dict[tuple[str, uuid.UUID], str]:
    """Campaign and flow names for their source ids."""
    names: dict[tuple[str, uuid.UUID], str] = {}
    campaign_ids = [i for source, i in keys if source == "campaign"]
    if campaign_ids:
        for campaign_id, name in session.execute(
            sa.select(Campaign.id, Campaign.name).where(
                Campaign.org_id == org_id, Campaign.id.in_(campaign_ids)
            )
        ):
            names["campaign", campaign_id] = name
    flow_ids = [i for source, i in keys if source == "flow"]
    if flow_ids:
        from herald.models import Flow

        for flow_id, name in session.execute(
            sa.select(Flow.id, Flow.name).where(Flow.org_id == org_id, Flow.id.in_(flow_ids))
        ):
            names["flow", flow_id] = name
    return names


def source_rows(
    session: Session, org_id: uuid.UUID, period: Period, filters: Filters = Filters()
) -> list[dict[str, Any]]:
    """One row per (source, source id, channel) with its measures, unsorted."""
    rows = session.execute(
        sa.select(
            MessageHour.source,
            MessageHour.source_id,
            MessageHour.channel,
            *measures.sum_columns(MessageHour),
        )
        .where(
            *_in(MessageHour, org_id, period),
            MessageHour.source != UNATTRIBUTED,
            *filters.conditions(),
        )
        .group_by(MessageHour.source, MessageHour.source_id, MessageHour.channel)
    ).all()
    names = source_names(session, org_id, [(r.source, r.source_id) for r in rows])
    return [
        {
            "source": row.source,
            "source_id": None if row.source_id == NO_SOURCE_ID else row.source_id,
            "channel": row.channel,
            "name": names.get((row.source, row.source_id))
            or ("Transactional" if row.source == "transactional" else row.source),
            **measures.Measures.from_row(row).public(),
        }
        for row in rows
    ]


def sort_rows(
    rows: list[dict[str, Any]], sort: str, descending: bool, limit: int, offset: int
) -> list[dict[str, Any]]:
    """Sorted by one column (ties by name and id, so pages never overlap), then one page."""
    ordered = sorted(
        rows,
        key=lambda row: (
            row[sort] if row[sort] is not None else "",
            row.get("name") or "",
            str(row.get("source_id") or row.get("domain") or row.get("provider")),
        ),
        reverse=descending,
    )
    return ordered[offset : offset + limit]


# --- Deliverability ------------------------------------------------------------------------------

DELIVERY_COUNTS = ("sent", "delivered", "bounced", "soft_bounced", "complaints", "unsubscribes")


def delivery_rates(counts: dict[str, int]) -> dict[str, Any]:
    sent = counts["sent"]
    reached = max(sent - counts["bounced"], 0)

    def ratio(part: int, whole: int) -> float:
        return round(part / whole, 6) if whole else 0.0

    rates = {
        "bounce_rate": ratio(counts["bounced"] + counts["soft_bounced"], sent),
        "hard_bounce_rate": ratio(counts["bounced"], sent),
        "soft_bounce_rate": ratio(counts["soft_bounced"], sent),
        "complaint_rate": ratio(counts["complaints"], reached),
        "unsubscribe_rate": ratio(counts["unsubscribes"], reached),
    }
    warnings = [
        {"measure": name, "value": rates[name], "level": level, "threshold": limits[level]}
        for name, limits in THRESHOLDS.items()
        for level in ("limit", "warning")
        if sent
        and rates[name] >= limits[level]
        and not (level == "warning" and rates[name] >= limits["limit"])
    ]
    return {**rates, "warnings": warnings}


def deliverability(
    session: Session,
    org_id: uuid.UUID,
    period: Period,
    by: Literal["provider", "domain"],
    channel: str | None = None,
) -> list[dict[str, Any]]:
    """Rows by sending provider or by recipient domain, with rates and threshold warnings."""
    column = DeliveryHour.provider if by == "provider" else DeliveryHour.domain
    conditions = _in(DeliveryHour, org_id, period)
    if channel is not None:
        conditions.append(DeliveryHour.channel == channel)
    rows = session.execute(
        sa.select(
            column.label(by),
            *[
                sa.func.coalesce(sa.func.sum(getattr(DeliveryHour, c)), 0).label(c)
                for c in DELIVERY_COUNTS
            ],
        )
        .where(*conditions)
        .group_by(column)
    ).all()
    result = []
    for row in rows:
        counts = {c: int(getattr(row, c)) for c in DELIVERY_COUNTS}
        result.append({by: getattr(row, by) or "", **counts, **delivery_rates(counts)})
    return result


def deliverability_series(
    session: Session, org_id: uuid.UUID, period: Period, interval: Interval
) -> list[dict[str, Any]]:
    """Overall rates per bucket."""
    rows = session.execute(
        sa.select(
            DeliveryHour.hour,
            *[sa.func.sum(getattr(DeliveryHour, c)).label(c) for c in DELIVERY_COUNTS],
        )
        .where(*_in(DeliveryHour, org_id, period))
        .group_by(DeliveryHour.hour)
    )
    by_bucket: dict[datetime, dict[str, int]] = {
        b: dict.fromkeys(DELIVERY_COUNTS, 0) for b in buckets(period, interval)
    }
    for row in rows:
        counts = by_bucket.setdefault(
            bucket_of(row.hour, interval, period.zone), dict.fromkeys(DELIVERY_COUNTS, 0)
        )
        for c in DELIVERY_COUNTS:
            counts[c] += int(getattr(row, c) or 0)
    return [
        {"start": bucket, **counts, **delivery_rates(counts)}
        for bucket, counts in sorted(by_bucket.items())
    ]


# --- Events --------------------------------------------------------------------------------------


def event_series(
    session: Session,
    org_id: uuid.UUID,
    period: Period,
    interval: Interval,
    names: Sequence[str] | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """Per event name: count and summed value per bucket."""
    conditions = _in(EventHour, org_id, period)
    if names:
        conditions.append(EventHour.name.in_(list(names)))
    rows = session.execute(
        sa.select(
            EventHour.name,
            EventHour.hour,
            sa.func.sum(EventHour.events),
            sa.func.sum(EventHour.value),
        )
        .where(*conditions)
        .group_by(EventHour.name, EventHour.hour)
    )
    empty = buckets(period, interval)
    series: dict[str, dict[datetime, list[float]]] = defaultdict(
        lambda: {bucket: [0, 0.0] for bucket in empty}
    )
    for name, hour, count, value in rows:
        point = series[name].setdefault(bucket_of(hour, interval, period.zone), [0, 0.0])
        point[0] += int(count or 0)
        point[1] += float(value or 0)
    return {
        name: [
            {"start": bucket, "events": int(count), "value": round(value, 2)}
            for bucket, (count, value) in sorted(points.items())
        ]
        for name, points in sorted(series.items())
    }
