"""Request and response models for campaigns."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    NaiveDatetime,
    StringConstraints,
    model_validator,
)

from herald.campaigns.abtest import DEFAULT_CONFIDENCE, MAX_VARIANTS, Fallback, Metric
from herald.templates.schemas import TemplatePreviewFor
from herald.validation import Email, StorableText, Text255

CampaignStatus = Literal["draft", "scheduled", "sending", "sent", "paused", "cancelled"]
Subject = Annotated[str, StringConstraints(max_length=998), StorableText]
SegmentIds = Annotated[list[uuid.UUID], Field(max_length=50)]
SmartSendingHours = Annotated[int, Field(ge=1, le=24 * 7)]
MetricName = Annotated[str, StringConstraints(min_length=1, max_length=255), StorableText]
# Variant keys, in the order the variants are given.
VariantKey = Literal["A", "B", "C", "D", "E", "F", "G"]
VARIANT_KEYS: tuple[VariantKey, ...] = ("A", "B", "C", "D", "E", "F", "G")
Channel = Literal["email", "sms"]
SmsText = Annotated[str, StringConstraints(min_length=1, max_length=1600), StorableText]
MediaUrls = Annotated[
    list[Annotated[str, StringConstraints(pattern=r"^https?://", max_length=2000)]],
    Field(max_length=10),
]


class Variant(BaseModel):
    """What one variant changes; fields left out are the campaign's."""

    model_config = ConfigDict(extra="forbid")

    key: VariantKey | None = Field(
        default=None, description="Set by Herald from the variant's position: A, B, C, ..."
    )
    subject: Subject | None = None
    template_id: uuid.UUID | None = None
    from_name: Text255 | None = None
    sms_body: SmsText | None = Field(default=None, description="An SMS campaign's text.")
    send_delay_minutes: int | None = Field(
        default=None,
        ge=0,
        le=24 * 60,
        description="A send-time variant: its test group goes this long after the campaign starts.",
    )


class ABTest(BaseModel):
    """An A/B test: a test pool split evenly over the variants; after `duration_hours` the
    worker picks the winner on `metric` and sends it to the rest."""

    model_config = ConfigDict(extra="forbid")

    variants: Annotated[list[Variant], Field(min_length=2, max_length=MAX_VARIANTS)]
    pool_percent: int = Field(
        default=20, ge=1, le=100, description="Share of the audience in the test pool."
    )
    metric: Metric = "open_rate"
    duration_hours: int = Field(default=4, ge=1, le=24 * 7)
    confidence: float = Field(default=DEFAULT_CONFIDENCE, ge=0.8, le=0.999)
    fallback: Fallback = Field(
        default="leader",
        description="Without a significant winner: send the leading variant, or `default_variant`.",
    )
    default_variant: VariantKey | None = None

    @model_validator(mode="after")
    def _keys(self) -> ABTest:
        for key, variant in zip(VARIANT_KEYS, self.variants, strict=False):
            variant.key = key
        return self


class ABResult(BaseModel):
    decided_at: datetime
    winner: str
    significant: bool = Field(description="False when the fallback chose the winner.")
    reason: str
    leader: str
    values: dict[str, float] = Field(description="Each variant's value of the metric.")
    p_values: dict[str, float] = Field(description="Holm-adjusted, leader against each variant.")


class CampaignCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Text255
    channel: Channel = Field(
        default="email", description="`sms` sends `sms_body` (and `media_urls`) by Twilio."
    )
    template_id: uuid.UUID | None = None
    sms_body: SmsText | None = Field(
        default=None,
        description="An SMS campaign's text, personalized as templates are "
        "({{ profile.first_name }}); links are shortened and tracked.",
    )
    media_urls: MediaUrls = Field(default_factory=list, description="Images for MMS.")
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
        description="Skip people who got marketing on the campaign's channel from Herald in the "
        "last `smart_sending_hours` hours.",
    )
    smart_sending_hours: SmartSendingHours | None = Field(
        default=None, description="16 for email, 24 for SMS when left out."
    )
    ab_test: ABTest | None = None
    send_time_optimization: bool = Field(
        default=False,
        description="Send each recipient at their most engaged hour within 24 hours of the start.",
    )
    conversion_metric: MetricName = Field(
        default="Placed Order",
        description="The event counted as a conversion (its `value` as revenue) in the stats.",
    )


class CampaignUpdate(BaseModel):
    """Fields left out are left alone. Only a draft can be changed."""

    model_config = ConfigDict(extra="forbid")

    name: Text255 | None = None
    channel: Channel | None = None
    template_id: uuid.UUID | None = None
    sms_body: SmsText | None = None
    media_urls: MediaUrls | None = None
    subject: Subject | None = None
    from_name: Text255 | None = None
    from_email: Email | None = None
    include_segment_ids: SegmentIds | None = None
    exclude_segment_ids: SegmentIds | None = None
    smart_sending: bool | None = None
    smart_sending_hours: SmartSendingHours | None = None
    ab_test: ABTest | None = Field(default=None, description="null removes the A/B test.")
    send_time_optimization: bool | None = None
    conversion_metric: MetricName | None = None


class Campaign(BaseModel):
    id: uuid.UUID
    name: str
    channel: Channel
    template_id: uuid.UUID | None
    sms_body: str | None
    media_urls: list[str]
    subject: str | None
    from_name: str | None
    from_email: str | None
    include_segment_ids: list[uuid.UUID]
    exclude_segment_ids: list[uuid.UUID]
    smart_sending: bool
    smart_sending_hours: int
    ab_test: ABTest | None
    ab_result: ABResult | None = Field(description="The winner, once the test has been decided.")
    ab_decide_at: datetime | None = Field(description="When the test will be decided.")
    send_time_optimization: bool
    conversion_metric: str
    status: CampaignStatus
    scheduled_at: datetime | None = Field(
        description="When sending starts (with local time: when the first time zone's turn comes)."
    )
    local_send_at: datetime | None = Field(
        description="Local-time sending: this wall-clock time in each recipient's time zone."
    )
    local_grace_minutes: int | None
    started_at: datetime | None
    audience_at: datetime | None = Field(description="When the audience snapshot finished.")
    finished_at: datetime | None
    counts: dict[str, int] = Field(description="Recipients by status.")
    created_at: datetime
    updated_at: datetime


class CampaignList(BaseModel):
    data: list[Campaign]


class AudienceRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    include_segment_ids: SegmentIds
    exclude_segment_ids: SegmentIds = Field(default_factory=list)
    channel: Channel = "email"
    smart_sending: bool = True
    smart_sending_hours: SmartSendingHours | None = None


class Audience(BaseModel):
    total: int = Field(description="Profiles in any included segment and in no excluded one.")
    excluded: int = Field(
        description="Profiles in an included segment left out for being in an excluded one."
    )
    eligible: int = Field(description="Those the campaign would be sent to right now.")
    skipped: dict[str, int] = Field(
        description="The others by the reason the snapshot would record (no_email or no_phone, "
        "suppressed, no_consent, smart_sending)."
    )


class ScheduleRequest(BaseModel):
    """Either `at` (one moment for everyone) or `local_at` (a wall-clock time in each
    recipient's time zone)."""

    model_config = ConfigDict(extra="forbid")

    at: AwareDatetime | None = Field(
        default=None, description="When to start sending (with a time zone)."
    )
    local_at: NaiveDatetime | None = Field(
        default=None,
        description="Send at this date and time in each recipient's time zone (no offset).",
    )
    grace_minutes: int = Field(
        default=60,
        ge=0,
        le=24 * 60,
        description="Local time: recipients whose time passed less than this long ago get it at "
        "once; for those further past, it goes at that time the next day.",
    )

    @model_validator(mode="after")
    def _one_of(self) -> ScheduleRequest:
        if (self.at is None) == (self.local_at is None):
            raise ValueError("at: give either at or local_at")
        return self


class PreviewRequest(TemplatePreviewFor):
    """For a profile (`profile_id`), for made-up data (`sample`, as a template's preview takes
    it), or for nobody (neither)."""

    variant: VariantKey | None = Field(default=None, description="An A/B variant's version.")


class CampaignPreview(BaseModel):
    subject: str
    preheader: str | None
    html: str
    text: str


class TestSendRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: Email
    variant: VariantKey | None = Field(default=None, description="An A/B variant's version.")


class TestSendResult(BaseModel):
    message_id: uuid.UUID = Field(
        description="The test message (source `campaign_test`), at /api/messages/{id}."
    )


class Recipient(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    profile_id: uuid.UUID
    email: str | None
    variant: str | None
    scheduled_for: datetime | None
    status: str
    skip_reason: str | None
    message_id: uuid.UUID | None
    opened: bool = Field(
        default=False, description="The person opened the message (machine opens aside)."
    )
    clicked: bool = Field(default=False, description="The person clicked a link in it.")
    unsubscribed: bool = Field(default=False, description="The person unsubscribed from it.")


class RecipientList(BaseModel):
    data: list[Recipient]
    next_cursor: str | None


class Figures(BaseModel):
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
    conversions: int = Field(
        description="Conversion events attributed to the campaign (last touch, 5 days)."
    )
    converters: int = Field(description="Recipients with at least one attributed conversion.")
    revenue: float = Field(description="Sum of the attributed conversions' `value`.")


class VariantFigures(Figures):
    variant: str


class CampaignStats(Figures):
    counts: dict[str, int] = Field(description="Recipients by status.")
    conversion_metric: str
    variants: list[VariantFigures] = Field(
        description="The same figures for each A/B variant's recipients (test pool and, after "
        "the decision, the winner's share)."
    )
