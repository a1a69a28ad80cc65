"""Request and response models for tracking events and the event catalog."""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from herald.profiles.limits import check_properties
from herald.validation import Email, Identifier, Text64

EARLIEST_EVENT_TIME = datetime(2000, 1, 1, tzinfo=UTC)
LATEST_EVENT_AHEAD = timedelta(days=365)
MAX_BATCH_EVENTS = 1000

EventName = Identifier


def check_event_time(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("needs a time zone, for example 2026-11-24T10:00:00Z")
    try:
        value = value.astimezone(UTC)
    except OverflowError:
        # Only the first and the last day a datetime can hold leave its range when moved to UTC.
        raise ValueError(
            "must not be before 2000-01-01"
            if value.year < EARLIEST_EVENT_TIME.year
            else "must not be more than a year in the future"
        ) from None
    if value < EARLIEST_EVENT_TIME:
        raise ValueError("must not be before 2000-01-01")
    if value > datetime.now(UTC) + LATEST_EVENT_AHEAD:
        raise ValueError("must not be more than a year in the future")
    return value


class ProfileReference(BaseModel):
    """Who did it: a profile id, an identifier, or an anonymous id (or several)."""

    model_config = ConfigDict(extra="forbid")

    id: uuid.UUID | None = None
    email: Email | None = None
    phone: Text64 | None = None
    external_id: Identifier | None = None
    anonymous_id: Identifier | None = None


class TrackEvent(BaseModel):
    model_config = ConfigDict(extra="forbid")

    event: EventName = Field(description="What happened, for example `Placed Order`.")
    profile: ProfileReference
    properties: dict[str, Any] = Field(default_factory=dict)
    value: float | None = Field(default=None, description="Revenue or another amount.")
    time: datetime | None = Field(default=None, description="When; defaults to now.")
    unique_id: Identifier | None = Field(
        default=None, description="Your id for this event: a retry with the same id is stored once."
    )

    @field_validator("properties")
    @classmethod
    def _check_properties(cls, value: dict[str, Any]) -> dict[str, Any]:
        return check_properties(value)

    @field_validator("value")
    @classmethod
    def _check_value(cls, value: float | None) -> float | None:
        if value is not None and (not math.isfinite(value) or abs(value) >= 1e12):
            raise ValueError("must be a finite number below 10^12")
        return value

    @field_validator("time")
    @classmethod
    def _check_time(cls, value: datetime | None) -> datetime | None:
        return check_event_time(value)


class TrackBatch(BaseModel):
    """The body of POST /api/track/batch."""

    model_config = ConfigDict(extra="forbid")

    events: list[TrackEvent] = Field(min_length=1, max_length=MAX_BATCH_EVENTS)


class TrackBatchOutline(BaseModel):
    """A batch with its events not yet validated: when some are bad, each is validated on its
    own and reported by its index, and the others are stored."""

    model_config = ConfigDict(extra="forbid")

    events: list[dict[str, Any]] = Field(min_length=1, max_length=MAX_BATCH_EVENTS)


class TrackResult(BaseModel):
    event_id: uuid.UUID
    profile_id: uuid.UUID
    duplicate: bool = Field(description="True when this unique_id was stored before.")


class BatchItemResult(TrackResult):
    index: int


class BatchItemError(BaseModel):
    index: int
    field: str
    reason: str


class TrackBatchResult(BaseModel):
    accepted: int = Field(description="Events stored by this call.")
    duplicates: int = Field(description="Events already stored by an earlier call.")
    results: list[BatchItemResult]
    errors: list[BatchItemError]


class Metric(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    name: str
    event_count: int
    first_seen_at: datetime
    last_seen_at: datetime


class MetricList(BaseModel):
    data: list[Metric]


class Event(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    profile_id: uuid.UUID
    name: str
    time: datetime
    properties: dict[str, Any]
    value: float | None
    unique_id: str | None
    source: str
    received_at: datetime


class EventList(BaseModel):
    data: list[Event]
    next_cursor: str | None
