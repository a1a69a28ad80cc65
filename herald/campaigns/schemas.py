"""Request and response models for campaigns."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from herald.validation import Email, NoNul, Text255

CampaignStatus = Literal["draft", "scheduled", "sending", "sent", "paused", "cancelled"]
Subject = Annotated[str, StringConstraints(max_length=998), NoNul]
SegmentIds = Annotated[list[uuid.UUID], Field(max_length=50)]
SmartSendingHours = Annotated[int, Field(ge=1, le=24 * 7)]


class CampaignCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Text255
    template_id: uuid.UUID | None = None
    subject: Subject | None = Field(default=None, description="Instead of the template's subject.")
    from_name: Text255 | None = Field(default=None, description="Instead of the template's.")
    from_email: Email | None = Field(default=None, description="Instead of the template's.")
    include_segment_ids: SegmentIds = Field(
        default_factory=list, description="Members of any of these segments..."
    )
    exclude_segment_ids: SegmentIds = Field(
        default_factory=list, description="...except members of any of these."
    )
    smart_sending: bool = Field(
        default=True,
        description="Skip people who got marketing email from Herald in the last "
        "`smart_sending_hours` hours.",
    )
    smart_sending_hours: SmartSendingHours = 16


class CampaignUpdate(BaseModel):
    """Fields left out are left alone. Only a draft can be changed."""

    model_config = ConfigDict(extra="forbid")

    name: Text255 | None = None
    template_id: uuid.UUID | None = None
    subject: Subject | None = None
    from_name: Text255 | None = None
    from_email: Email | None = None
    include_segment_ids: SegmentIds | None = None
    exclude_segment_ids: SegmentIds | None = None
    smart_sending: bool | None = None
    smart_sending_hours: SmartSendingHours | None = None


class Campaign(BaseModel):
    id: uuid.UUID
    name: str
    channel: Literal["email"]
    template_id: uuid.UUID | None
    subject: str | None
    from_name: str | None
    from_email: str | None
    include_segment_ids: list[uuid.UUID]
    exclude_segment_ids: list[uuid.UUID]
    smart_sending: bool
    smart_sending_hours: int
    status: CampaignStatus
    scheduled_at: datetime | None
    started_at: datetime | None
    audience_at: datetime | None = Field(description="When the audience snapshot finished.")
    finished_at: datetime | None
    counts: dict[str, int] = Field(description="Recipients by status.")
    created_at: datetime
    updated_at: datetime


class CampaignList(BaseModel):
    data: list[Campaign]


class ScheduleRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    at: AwareDatetime = Field(description="When to start sending (with a time zone).")


class PreviewRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    profile_id: uuid.UUID | None = Field(
        default=None, description="Render for this profile; without one, for nobody."
    )


class CampaignPreview(BaseModel):
    subject: str
    preheader: str | None
    html: str
    text: str


class TestSendRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: Email


class TestSendResult(BaseModel):
    message_id: uuid.UUID = Field(description="A transactional message, at /api/messages/{id}.")


class Recipient(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    profile_id: uuid.UUID
    email: str | None
    variant: str | None
    scheduled_for: datetime | None
    status: str
    skip_reason: str | None
    message_id: uuid.UUID | None


class RecipientList(BaseModel):
    data: list[Recipient]
    next_cursor: str | None


class CampaignStats(BaseModel):
    recipients: int = Field(description="Recipient rows, skipped ones included.")
    skipped: int = Field(description="Skipped at the snapshot or later, or cancelled.")
    sent: int
    delivered: int
    bounced: int
    opens_unique: int = Field(description="Messages opened at least once (machine opens aside).")
    opens_total: int
    clicks_unique: int
    clicks_total: int
    unsubscribes: int
    complaints: int
    counts: dict[str, int] = Field(description="Recipients by status.")
