"""Analytics reports that combine several parts: the home overview, link clicks, segments; and
the organization's analytics settings."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import Session

from herald.analytics import marks, measures, reports
from herald.analytics.reports import Filters, Period
from herald.analytics.settings import Settings, attribution_settings
from herald.campaigns.service import get_campaign
from herald.db import utcnow
from herald.errors import InvalidInput
from herald.models import (
    AnalyticsSettings,
    Campaign,
    Event,
    EventHour,
    Message,
    MessageEvent,
    MessageHour,
    Profile,
    SegmentMember,
)
from herald.segments.service import get_segment, growth

# Longest period a report covers: a year and a bit, so a year compares with the one before.
MAX_DAYS = 400


def period(
    session: Session, org_id: uuid.UUID, first: date | None, last: date | None
) -> tuple[Settings, Period]:
    """The organization's settings and the period from `first` to `last` (local days, both
    included; default the last 30 days up to today)."""
    settings = attribution_settings(session, org_id)
    zone = ZoneInfo(settings.timezone)
    today = utcnow().astimezone(zone).date()
    last = last or today
    first = first or last - timedelta(days=29)
    if first > last:
        raise InvalidInput.for_field("from", "must not be after `to`")
    if (last - first).days >= MAX_DAYS:
        raise InvalidInput.for_field("from", f"a period is at most {MAX_DAYS} days")
    return settings, Period.of_days(first, last, zone)


def _change(current: float, previous: float) -> float | None:
    """Relative change from the previous period; None when there was nothing to compare to."""
    return round((current - previous) / previous, 6) if previous else None


def overview(
    session: Session, org_id: uuid.UUID, span: Period, settings: Settings
) -> dict[str, Any]:
    """The home page: attributed revenue and its trend, messages, rates, the best campaigns and
    flows, deliverability health, recent activity, and what a new organization should do first."""
    now = reports.totals(session, org_id, span)
    before = reports.totals(session, org_id, span.previous())
    rows = reports.source_rows(session, org_id, span)
    best = {
        source: reports.sort_rows(
            [r for r in rows if r["source"] == source], "revenue", True, limit=5, offset=0
        )
        for source in ("campaign", "flow")
    }
    counts = {
        "sent": now.sent,
        "delivered": now.delivered,
        "bounced": now.bounced,
        "soft_bounced": now.soft_bounced,
        "complaints": now.complaints,
        "unsubscribes": now.unsubscribes,
    }
    delivery = {**counts, **reports.delivery_rates(counts)}
    return {
        "currency": settings.currency,
        "conversion_metric": settings.conversion_metric,
        "start": span.start,
        "end": span.end,
        "attributed_revenue": round(now.revenue, 2),
        "previous_attributed_revenue": round(before.revenue, 2),
        "revenue_change": _change(now.revenue, before.revenue),
        "unattributed_revenue": reports.unattributed_revenue(session, org_id, span),
        "totals": now.public(),
        "previous_totals": before.public(),
        "best_campaigns": best["campaign"],
        "best_flows": best["flow"],
        "deliverability": delivery,
        "recent_activity": recent_activity(session, org_id),
        "getting_started": getting_started(session, org_id),
    }


def recent_activity(session: Session, org_id: uuid.UUID, limit: int = 10) -> list[dict[str, Any]]:
    """The latest events people did (newest first), through the (org_id, time) index."""
    rows = session.execute(
        sa.select(Event.name, Event.time, Event.value, Event.profile_id, Profile.email)
        .join(Profile, Profile.id == Event.profile_id)
        .where(Event.org_id == org_id, Event.time <= utcnow())
        .order_by(Event.time.desc())
        .limit(limit)
    )
    return [
        {"name": name, "time": at, "value": value, "profile_id": profile_id, "email": email}
        for name, at, value, profile_id, email in rows
    ]


def getting_started(session: Session, org_id: uuid.UUID) -> dict[str, bool]:
    """Which first steps the organization has taken (each an indexed existence check)."""

    def exists(query: sa.Select[Any]) -> bool:
        return session.scalar(query.limit(1)) is not None

    return {
        "has_events": exists(sa.select(EventHour.hour).where(EventHour.org_id == org_id))
        or exists(sa.select(Event.id).where(Event.org_id == org_id)),
        "has_profiles": exists(sa.select(Profile.id).where(Profile.org_id == org_id)),
        "has_campaigns": exists(sa.select(Campaign.id).where(Campaign.org_id == org_id)),
        "has_sent": exists(sa.select(MessageHour.hour).where(MessageHour.org_id == org_id))
        or exists(sa.select(Message.id).where(Message.org_id == org_id)),
    }


def link_clicks(
    session: Session, org_id: uuid.UUID, campaign_id: uuid.UUID
) -> list[dict[str, Any]]:
    """Each link of the campaign that was clicked: human clicks, and how many people and
    messages clicked it (a campaign of another organization is not found)."""
    campaign = get_campaign(session, org_id, campaign_id)
    return link_counts(session, org_id, campaign.id)


def link_counts(
    session: Session, org_id: uuid.UUID, campaign_id: uuid.UUID
) -> list[dict[str, Any]]:
    """The link table of `link_clicks`. A bounded, indexed query rather than a rollup (a link
    is not a rollup key, and "people" is a distinct count that hours cannot add up): it reads one
    campaign's messages through the (source_id) index and their click events through
    (message_id, at), so its cost is that campaign's clicks, never the table's; bench/analytics.py
    times it on the largest campaign."""
    url = MessageEvent.data["url"].as_string()
    rows = session.execute(
        sa.select(
            url.label("url"),
            sa.func.count().label("clicks"),
            sa.func.count(sa.distinct(Message.profile_id)).label("people"),
            sa.func.count(sa.distinct(Message.id)).label("messages"),
        )
        .select_from(Message)
        .join(MessageEvent, MessageEvent.message_id == Message.id)
        .where(
            Message.org_id == org_id,
            Message.source == "campaign",
            Message.source_id == campaign_id,
            MessageEvent.org_id == org_id,
            MessageEvent.kind == "clicked",
            MessageEvent.machine.is_(False),
        )
        .group_by(url)
        .order_by(sa.func.count().desc(), url)
    )
    return [
        {
            "url": row.url or "",
            "clicks": int(row.clicks),
            "people": int(row.people),
            "messages": int(row.messages),
        }
        for row in rows
    ]


def segment_report(
    session: Session, org_id: uuid.UUID, segment_id: uuid.UUID, span: Period, settings: Settings
) -> dict[str, Any]:
    """The segment's size per day over the period, and its current members' engagement and
    revenue over the period, per member."""
    segment = get_segment(session, org_id, segment_id)
    days = max((span.end - span.start).days, 1)
    today = (span.end - timedelta(seconds=1)).date()
    sizes = growth(session, org_id, segment.id, min(days, 730), today=today)
    members = sa.select(SegmentMember.profile_id).where(SegmentMember.segment_id == segment.id)
    count = int(
        session.scalar(sa.select(sa.func.count()).where(SegmentMember.segment_id == segment.id))
        or 0
    )
    by_member = measures.message_measures(
        session,
        org_id,
        measures.keyed_by(org_id, [], Message.profile_id.in_(members)),
        start=span.start,
        end=span.end,
    )
    figures = measures.total(by_member.values())
    revenue = session.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(Event.value), 0)).where(
            Event.org_id == org_id,
            Event.name == settings.conversion_metric,
            Event.time >= span.start,
            Event.time < span.end,
            Event.profile_id.in_(members),
        )
    )

    def per_member(value: float) -> float:
        return round(value / count, 6) if count else 0.0

    return {
        "segment_id": segment.id,
        "name": segment.name,
        "members": count,
        "sizes": [
            {"date": day, "members": size, "entered": entered, "exited": exited}
            for day, size, entered, exited in sizes
        ],
        "opens_per_member": per_member(figures.opens_unique),
        "clicks_per_member": per_member(figures.clicks_unique),
        "messages_per_member": per_member(figures.sent),
        "revenue": round(float(revenue or 0), 2),
        "revenue_per_member": round(per_member(float(revenue or 0)), 2),
        "currency": settings.currency,
    }


def update_settings(
    session: Session,
    org_id: uuid.UUID,
    *,
    conversion_metric: str | None = None,
    attribution_window_hours: int | None = None,
    currency: str | None = None,
) -> Settings:
    """Change the settings. A new metric or window changes who earned past conversions: every
    hour holding an event of the old or new metric is marked for recomputation."""
    before = attribution_settings(session, org_id)
    row = session.get(AnalyticsSettings, org_id)
    if row is None:
        row = AnalyticsSettings(
            org_id=org_id,
            conversion_metric=before.conversion_metric,
            attribution_window_hours=int(before.window.total_seconds() // 3600),
            currency=before.currency,
        )
        session.add(row)
    if conversion_metric is not None:
        row.conversion_metric = conversion_metric
    if attribution_window_hours is not None:
        row.attribution_window_hours = attribution_window_hours
    if currency is not None:
        row.currency = currency
    session.flush()
    after = attribution_settings(session, org_id)
    if (after.conversion_metric, after.window) != (before.conversion_metric, before.window):
        hours: list[datetime] = list(
            session.scalars(
                sa.select(EventHour.hour)
                .where(
                    EventHour.org_id == org_id,
                    EventHour.name.in_({before.conversion_metric, after.conversion_metric}),
                )
                .distinct()
            )
        )
        marks.mark_hours(session, org_id, hours)
    return after


__all__ = ["Filters", "Period", "link_clicks", "overview", "period", "segment_report"]
