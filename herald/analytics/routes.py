"""HTTP handlers for analytics (secret key or dashboard). Every table answers CSV with
`format=csv`."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Sequence
from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel

from herald.analytics import reports, schemas, service
from herald.analytics.reports import Filters, Interval
from herald.analytics.settings import attribution_settings
from herald.errors import ErrorResponse, InvalidInput
from herald.pagination import PageLimit
from herald.routing import JsonBodyRoute
from herald.tenancy.auth import ManagementAuth
from herald.tenancy.deps import DbSession

router = APIRouter(prefix="/api/analytics", tags=["analytics"], route_class=JsonBodyRoute)

Measure = Literal[
    "recipients",
    "sent",
    "delivered",
    "bounced",
    "soft_bounced",
    "opens_unique",
    "opens_total",
    "opens_machine",
    "clicks_unique",
    "clicks_total",
    "unsubscribes",
    "complaints",
    "conversions",
    "revenue",
    "open_rate",
    "click_rate",
    "click_to_open_rate",
    "bounce_rate",
    "unsubscribe_rate",
    "complaint_rate",
    "conversion_rate",
    "revenue_per_recipient",
]
SourceSort = Literal["name", "source", "channel", Measure]
From = Annotated[
    date | None, Query(alias="from", description="First local day (default: 29 days before `to`).")
]
To = Annotated[
    date | None, Query(alias="to", description="Last local day, included (default: today).")
]
Source = Annotated[str | None, Query(pattern="^[a-z_]{1,16}$", description="campaign, flow, ...")]
Channel = Annotated[str | None, Query(pattern="^[a-z]{1,8}$", description="email, sms")]
Format = Annotated[Literal["json", "csv"], Query(description="`csv` answers the table as CSV.")]
Offset = Annotated[int, Query(ge=0, le=1_000_000)]
INVALID: dict[int | str, dict[str, Any]] = {422: {"model": ErrorResponse}}
CSV: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/csv": {"schema": {"type": "string"}}}},
    **INVALID,
}


def _csv(rows: Sequence[BaseModel], filename: str, leave_out: Sequence[str] = ()) -> Response:
    """The rows as CSV, one column per field (nested lists, such as warnings, left out)."""
    buffer = io.StringIO()
    fields = [
        name
        for name, info in (type(rows[0]).model_fields.items() if rows else [])
        if name not in leave_out
    ]
    writer = csv.writer(buffer)
    writer.writerow(fields)
    for row in rows:
        writer.writerow([_cell(getattr(row, name)) for name in fields])
    return Response(
        buffer.getvalue(),
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}.csv"'},
    )


def _cell(value: Any) -> Any:
    text = "" if value is None else str(value)
    # A cell starting with a formula character would run in a spreadsheet (CSV injection).
    return (
        f"'{text}" if text[:1] in ("=", "+", "-", "@", "\t", "\r") and not _number(text) else text
    )


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


@router.get("/overview", operation_id="analytics_overview", responses=INVALID)
def overview(
    auth: ManagementAuth, session: DbSession, first: From = None, last: To = None
) -> schemas.Overview:
    """The home page's figures: attributed revenue against the previous period, messages,
    rates, best campaigns and flows, deliverability warnings, recent activity, first steps."""
    settings, span = service.period(session, auth.org_id, first, last)
    return schemas.Overview.model_validate(service.overview(session, auth.org_id, span, settings))


@router.get(
    "/timeseries", response_model=schemas.Series, operation_id="analytics_timeseries", responses=CSV
)
def timeseries(
    auth: ManagementAuth,
    session: DbSession,
    measure: Measure = "revenue",
    interval: Interval = "day",
    first: From = None,
    last: To = None,
    source: Source = None,
    channel: Channel = None,
    source_id: uuid.UUID | None = None,
    format: Format = "json",
) -> Any:
    """One measure per hour, day, week or month (local), with the previous period's."""
    settings, span = service.period(session, auth.org_id, first, last)
    if interval == "hour" and (span.end - span.start).days > 31:
        raise_invalid("interval", "hourly series cover at most 31 days")
    series = reports.timeseries(
        session, auth.org_id, measure, interval, span, Filters(source, channel, source_id)
    )
    result = schemas.Series.model_validate({**series, "currency": settings.currency})
    if format == "csv":
        return _csv(result.points, f"{measure}-by-{interval}")
    return result


def raise_invalid(field: str, reason: str) -> None:
    raise InvalidInput.for_field(field, reason)


@router.get(
    "/sources", response_model=schemas.SourceTable, operation_id="analytics_sources", responses=CSV
)
def sources(
    auth: ManagementAuth,
    session: DbSession,
    first: From = None,
    last: To = None,
    source: Source = None,
    channel: Channel = None,
    sort: SourceSort = "revenue",
    order: Literal["asc", "desc"] = "desc",
    limit: PageLimit = 50,
    offset: Offset = 0,
    format: Format = "json",
) -> Any:
    """Campaigns, flows, SMS and transactional messages with their measures, sorted and paged
    (CSV: every row, sorted)."""
    settings, span = service.period(session, auth.org_id, first, last)
    rows = reports.source_rows(session, auth.org_id, span, Filters(source, channel))
    everything = format == "csv"
    page = reports.sort_rows(
        rows, sort, order == "desc", len(rows) if everything else limit, 0 if everything else offset
    )
    data = [schemas.SourceRow.model_validate(row) for row in page]
    if everything:
        return _csv(data, "sources")
    return schemas.SourceTable(data=data, total=len(rows), currency=settings.currency)


@router.get(
    "/deliverability",
    response_model=schemas.Deliverability,
    operation_id="analytics_deliverability",
    responses=CSV,
)
def deliverability(
    auth: ManagementAuth,
    session: DbSession,
    by: Literal["provider", "domain"] = "domain",
    first: From = None,
    last: To = None,
    channel: Channel = None,
    interval: Literal["day", "week", "month"] = "day",
    limit: PageLimit = 50,
    offset: Offset = 0,
    format: Format = "json",
) -> Any:
    """Bounce, complaint and unsubscribe rates by provider or recipient domain (most sent
    first), their series over the period, and the mailbox providers' thresholds."""
    _settings, span = service.period(session, auth.org_id, first, last)
    rows = reports.deliverability(session, auth.org_id, span, by, channel)
    everything = format == "csv"
    page = reports.sort_rows(
        rows, "sent", True, len(rows) if everything else limit, 0 if everything else offset
    )
    data = [schemas.DeliveryRow.model_validate(row) for row in page]
    if everything:
        return _csv(data, f"deliverability-by-{by}", leave_out=("warnings",))
    series = reports.deliverability_series(session, auth.org_id, span, interval)
    return schemas.Deliverability(
        by=by,
        data=data,
        total=len(rows),
        series=[schemas.DeliveryPoint.model_validate(point) for point in series],
        thresholds=reports.THRESHOLDS,
    )


@router.get(
    "/events", response_model=schemas.EventReport, operation_id="analytics_events", responses=CSV
)
def events(
    auth: ManagementAuth,
    session: DbSession,
    first: From = None,
    last: To = None,
    interval: Interval = "day",
    name: Annotated[list[str] | None, Query(max_length=20)] = None,
    format: Format = "json",
) -> Any:
    """Event counts (and summed values) per metric over time; the conversion metric's value
    per bucket is its revenue."""
    settings, span = service.period(session, auth.org_id, first, last)
    if interval == "hour" and (span.end - span.start).days > 31:
        raise_invalid("interval", "hourly series cover at most 31 days")
    if name and any(not 1 <= len(n) <= 255 for n in name):
        raise_invalid("name", "an event name has 1 to 255 characters")
    series = reports.event_series(session, auth.org_id, span, interval, name)
    if format == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(["name", "start", "events", "value"])
        for metric, points in series.items():
            for point in points:
                writer.writerow([_cell(metric), point["start"], point["events"], point["value"]])
        return Response(
            buffer.getvalue(),
            media_type="text/csv",
            headers={"Content-Disposition": 'attachment; filename="events.csv"'},
        )
    return schemas.EventReport(
        interval=interval,
        data=[
            schemas.EventSeries(name=metric, points=[schemas.EventPoint(**p) for p in points])
            for metric, points in series.items()
        ],
        conversion_metric=settings.conversion_metric,
        currency=settings.currency,
    )


@router.get(
    "/campaigns/{campaign_id}/links",
    response_model=schemas.LinkTable,
    operation_id="analytics_campaign_links",
    responses={**CSV, 404: {"model": ErrorResponse}},
)
def campaign_links(
    campaign_id: uuid.UUID, auth: ManagementAuth, session: DbSession, format: Format = "json"
) -> Any:
    """The campaign's clicked links: human clicks, people and messages per link."""
    rows = [
        schemas.LinkRow.model_validate(row)
        for row in service.link_clicks(session, auth.org_id, campaign_id)
    ]
    if format == "csv":
        return _csv(rows, "links")
    return schemas.LinkTable(data=rows, total=len(rows))


@router.get(
    "/segments/{segment_id}",
    response_model=schemas.SegmentReport,
    operation_id="analytics_segment",
    responses={**INVALID, 404: {"model": ErrorResponse}},
)
def segment(
    segment_id: uuid.UUID,
    auth: ManagementAuth,
    session: DbSession,
    first: From = None,
    last: To = None,
    format: Format = "json",
) -> Any:
    """The segment's size per day, and its members' engagement and revenue per member."""
    settings, span = service.period(session, auth.org_id, first, last)
    report = schemas.SegmentReport.model_validate(
        service.segment_report(session, auth.org_id, segment_id, span, settings)
    )
    if format == "csv":
        return _csv(report.sizes, "segment-sizes")
    return report


@router.get("/settings", operation_id="get_analytics_settings")
def get_settings(auth: ManagementAuth, session: DbSession) -> schemas.AnalyticsSettings:
    return _settings_out(session, auth.org_id)


@router.patch("/settings", operation_id="update_analytics_settings", responses=INVALID)
def update_settings(
    body: schemas.AnalyticsSettingsUpdate, auth: ManagementAuth, session: DbSession
) -> schemas.AnalyticsSettings:
    """Conversion metric, attribution window (hours) and currency (admins and owners). A new
    metric or window re-credits past conversions (their hours are recomputed in the background)."""
    auth.require_role("admin")
    service.update_settings(
        session,
        auth.org_id,
        conversion_metric=body.conversion_metric,
        attribution_window_hours=body.attribution_window_hours,
        currency=body.currency,
    )
    return _settings_out(session, auth.org_id)


def _settings_out(session: Any, org_id: uuid.UUID) -> schemas.AnalyticsSettings:
    settings = attribution_settings(session, org_id)
    return schemas.AnalyticsSettings(
        conversion_metric=settings.conversion_metric,
        attribution_window_hours=int(settings.window.total_seconds() // 3600),
        currency=settings.currency,
    )
