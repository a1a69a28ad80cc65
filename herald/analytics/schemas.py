"""Request and response models of the analytics API."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from herald.validation import Identifier


class Figures(BaseModel):
    """A set of messages' measures over a period (herald/analytics/measures.py)."""

    recipients: int
    sent: int
    delivered: int
    bounced: int = Field(description="Messages with a hard bounce.")
    soft_bounced: int
    opens_unique: int = Field(description="Messages whose first human open fell in the period.")
    opens_total: int = Field(description="Human opens.")
    opens_machine: int = Field(description="Opens by mail privacy proxies and prefetchers.")
    clicks_unique: int
    clicks_total: int
    unsubscribes: int
    complaints: int
    conversions: int = Field(description="Conversions credited by the one attribution rule.")
    revenue: float = Field(description="Attributed revenue, in the organization's currency.")
    open_rate: float
    click_rate: float
    click_to_open_rate: float
    bounce_rate: float
    unsubscribe_rate: float
    complaint_rate: float
    conversion_rate: float
    revenue_per_recipient: float


class SourceRow(Figures):
    source: str = Field(description="campaign, flow, transactional, ...")
    source_id: uuid.UUID | None
    channel: str
    name: str


class SourceTable(BaseModel):
    data: list[SourceRow]
    total: int = Field(description="Rows in the whole table, all pages.")
    currency: str


class Warning(BaseModel):
    measure: str
    value: float
    level: str = Field(description="`warning` (approaching) or `limit` (past the threshold).")
    threshold: float


class DeliveryFigures(BaseModel):
    sent: int
    delivered: int
    bounced: int
    soft_bounced: int
    complaints: int
    unsubscribes: int
    bounce_rate: float
    hard_bounce_rate: float
    soft_bounce_rate: float
    complaint_rate: float
    unsubscribe_rate: float
    warnings: list[Warning]


class DeliveryRow(DeliveryFigures):
    provider: str | None = None
    domain: str | None = None


class DeliveryPoint(DeliveryFigures):
    start: datetime


class Deliverability(BaseModel):
    by: str
    data: list[DeliveryRow]
    total: int
    series: list[DeliveryPoint]
    thresholds: dict[str, dict[str, float]]


class Point(BaseModel):
    start: datetime = Field(description="The bucket's start, in the organization's time zone.")
    value: float


class Series(BaseModel):
    measure: str
    interval: str
    points: list[Point]
    previous: list[Point] = Field(description="The previous period of the same length.")
    total: float
    previous_total: float
    currency: str


class Activity(BaseModel):
    name: str
    time: datetime
    value: float | None
    profile_id: uuid.UUID
    email: str | None


class GettingStarted(BaseModel):
    has_events: bool
    has_profiles: bool
    has_campaigns: bool
    has_sent: bool


class Overview(BaseModel):
    currency: str
    conversion_metric: str
    start: datetime
    end: datetime
    attributed_revenue: float
    previous_attributed_revenue: float
    revenue_change: float | None = Field(description="Relative to the previous period.")
    unattributed_revenue: float = Field(
        description="Revenue of the conversion metric that no message earned."
    )
    totals: Figures
    previous_totals: Figures
    best_campaigns: list[SourceRow]
    best_flows: list[SourceRow]
    deliverability: DeliveryFigures
    recent_activity: list[Activity]
    getting_started: GettingStarted


class EventPoint(BaseModel):
    start: datetime
    events: int
    value: float


class EventSeries(BaseModel):
    name: str
    points: list[EventPoint]


class EventReport(BaseModel):
    interval: str
    data: list[EventSeries]
    conversion_metric: str
    currency: str


class LinkRow(BaseModel):
    url: str
    clicks: int
    people: int
    messages: int


class LinkTable(BaseModel):
    data: list[LinkRow]
    total: int


class SizePoint(BaseModel):
    date: date
    members: int
    entered: int
    exited: int


class SegmentReport(BaseModel):
    segment_id: uuid.UUID
    name: str
    members: int
    sizes: list[SizePoint]
    opens_per_member: float
    clicks_per_member: float
    messages_per_member: float
    revenue: float
    revenue_per_member: float
    currency: str


class AnalyticsSettings(BaseModel):
    conversion_metric: str
    attribution_window_hours: int
    currency: str


Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]


class AnalyticsSettingsUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    conversion_metric: Identifier | None = None
    attribution_window_hours: int | None = Field(default=None, ge=1, le=24 * 90)
    currency: Currency | None = None
