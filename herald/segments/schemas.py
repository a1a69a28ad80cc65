"""Request and response models for segments."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from herald.profiles.schemas import Profile
from herald.segments.definition import Definition
from herald.validation import Text255


class SegmentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Text255
    description: str | None = Field(default=None, max_length=2000)
    definition: Definition


class SegmentUpdate(BaseModel):
    """Fields left out are left alone. A new definition starts a recompute."""

    model_config = ConfigDict(extra="forbid")

    name: Text255 | None = None
    description: str | None = Field(default=None, max_length=2000)
    definition: Definition | None = None


class Segment(BaseModel):
    id: uuid.UUID
    name: str
    description: str | None
    definition: Definition
    member_count: int = Field(description="Current members, kept up to date as data changes.")
    status: Literal["computing", "ready"] = Field(
        description="`computing` while a full recompute is pending or running."
    )
    recompute_job_id: uuid.UUID | None = Field(
        description="The pending or running recompute, to poll at /api/jobs/{id}."
    )
    computed_at: datetime | None = Field(description="When the last full recompute finished.")
    time_relative: bool = Field(
        description="Membership changes with the clock alone; recomputed every hour."
    )
    metrics: list[str] = Field(description="Event names the definition looks at.")
    created_at: datetime
    updated_at: datetime


class SegmentList(BaseModel):
    data: list[Segment]


class EstimateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    definition: Definition


class Estimate(BaseModel):
    count: int = Field(description="Profiles the definition matches now.")


class GrowthPoint(BaseModel):
    date: date
    members: int = Field(description="Members at the end of the day (UTC).")
    entered: int
    exited: int


class Growth(BaseModel):
    data: list[GrowthPoint]


class MemberList(BaseModel):
    data: list[Profile]
    next_cursor: str | None


class ProfileSegment(BaseModel):
    id: uuid.UUID
    name: str
    entered_at: datetime


class ProfileSegments(BaseModel):
    data: list[ProfileSegment]


class CatalogField(BaseModel):
    name: str
    type: Literal["string", "number", "boolean", "date"]


class Catalog(BaseModel):
    """What the builder offers: built-in fields, custom properties seen on recent profiles (with
    a suggested type), and the organization's event names."""

    fields: list[CatalogField]
    properties: list[CatalogField]
    metrics: list[str]


class EventPropertyCatalog(BaseModel):
    properties: list[CatalogField]
