"""Request and response models for SMS: settings, sending, inbound messages, the segment
counter."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from herald.validation import StorableText

ACCOUNT_SID = re.compile(r"^AC[0-9a-fA-F]{32}$")
SERVICE_SID = re.compile(r"^MG[0-9a-fA-F]{32}$")
E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
MAX_BODY = 1600  # Twilio's limit on a message body

Reply = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=480), StorableText
]
Body = Annotated[str, StringConstraints(min_length=1, max_length=MAX_BODY), StorableText]
MediaUrl = Annotated[str, StringConstraints(pattern=r"^https?://", max_length=2000)]


class SmsSettingsUpdate(BaseModel):
    """Replaces the settings; a left-out `auth_token` keeps the stored one."""

    model_config = ConfigDict(extra="forbid")

    account_sid: str | None = Field(default=None, description="AC followed by 32 hex digits.")
    auth_token: Annotated[str, StringConstraints(min_length=8, max_length=128)] | None = None
    sender_numbers: list[str] = Field(
        default_factory=list, max_length=50, description="E.164 numbers to send from."
    )
    messaging_service_sid: str | None = Field(
        default=None, description="MG followed by 32 hex digits; used instead of a number."
    )
    brand_name: Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)] | None = (
        None
    )
    stop_reply: Reply | None = None
    start_reply: Reply | None = None
    help_reply: Reply | None = None
    quiet_hours: bool = True
    quiet_start: int = Field(default=21, ge=0, le=23)
    quiet_end: int = Field(default=8, ge=0, le=23)
    per_second: int | None = Field(default=None, ge=1, le=10_000)
    per_day: int | None = Field(default=None, ge=1, le=100_000_000)
    per_number_per_second: int | None = Field(default=None, ge=1, le=10_000)
    require_opt_out: bool = True

    @field_validator("account_sid")
    @classmethod
    def _account(cls, value: str | None) -> str | None:
        if value is not None and not ACCOUNT_SID.match(value):
            raise ValueError("must be AC followed by 32 hexadecimal digits")
        return value

    @field_validator("messaging_service_sid")
    @classmethod
    def _service(cls, value: str | None) -> str | None:
        if value is not None and not SERVICE_SID.match(value):
            raise ValueError("must be MG followed by 32 hexadecimal digits")
        return value

    @field_validator("sender_numbers")
    @classmethod
    def _numbers(cls, value: list[str]) -> list[str]:
        for number in value:
            if not E164.match(number):
                raise ValueError(f"{number[:40]!r} is not an E.164 number (+14155550100)")
        return list(dict.fromkeys(value))


class SmsSettings(BaseModel):
    configured: bool = Field(description="Credentials and a sender are set.")
    account_sid: str | None
    auth_token_set: bool
    sender_numbers: list[str]
    messaging_service_sid: str | None
    brand_name: str | None
    stop_reply: str = Field(description="In force (the default when none was set).")
    start_reply: str
    help_reply: str
    custom_replies: list[Literal["stop", "start", "help"]]
    quiet_hours: bool
    quiet_start: int
    quiet_end: int
    per_second: int | None
    per_day: int | None
    per_number_per_second: int | None
    require_opt_out: bool
    inbound_webhook_url: str = Field(description='Set as the numbers\' "A message comes in".')
    status_callback_url: str
    updated_at: datetime | None


class ConnectionCheck(BaseModel):
    ok: bool
    account_name: str | None = None
    account_status: str | None = None
    error: str | None = None


class SmsRecipient(BaseModel):
    model_config = ConfigDict(extra="forbid")

    profile_id: uuid.UUID | None = None
    phone: Annotated[str, StringConstraints(max_length=64)] | None = None

    @model_validator(mode="after")
    def _one(self) -> SmsRecipient:
        if (self.profile_id is None) == (self.phone is None):
            raise ValueError("give exactly one of profile_id and phone")
        return self


class SendSmsRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    to: SmsRecipient
    body: Body = Field(description="Personalization as in email: {{ profile.first_name }}.")
    media_urls: list[MediaUrl] = Field(default_factory=list, max_length=10)
    data: dict[str, Any] | None = None
    marketing: bool = Field(
        default=False,
        description="Marketing SMS needs the person's SMS consent, waits out quiet hours and "
        "carries the opt-out sentence.",
    )
    send_at: AwareDatetime | None = None


class SegmentCount(BaseModel):
    model_config = ConfigDict(extra="forbid")

    body: Annotated[str, StringConstraints(max_length=MAX_BODY * 2)]


class SegmentCountResult(BaseModel):
    encoding: Literal["GSM-7", "UCS-2"]
    characters: int = Field(description="Counted as the network counts them (GSM-7 escapes: 2).")
    segments: int
    per_segment: int = Field(description="Characters a segment holds in this message.")
    remaining: int = Field(description="Characters left in the last segment.")
    non_gsm: list[str] = Field(description="The characters that force UCS-2.")


class InboundMessage(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    profile_id: uuid.UUID | None
    from_number: str
    to_number: str
    body: str
    keyword: str | None
    media_urls: list[str]
    reply: str | None
    received_at: datetime


class Conversation(BaseModel):
    """A profile's SMS both ways, newest first."""

    data: list[ConversationEntry]


class ConversationEntry(BaseModel):
    direction: Literal["inbound", "outbound"]
    id: uuid.UUID
    time: datetime
    body: str
    status: str | None
    keyword: str | None


Conversation.model_rebuild()


# --- Saved templates ----------------------------------------------------------------------------

TemplateName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255), StorableText
]


class SmsTemplateCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: TemplateName
    body: Body = Field(
        description="The text, with personalization in the template sandbox "
        "(`{{ profile.first_name | default('there') }}`)."
    )
    media_urls: list[MediaUrl] = Field(default_factory=list, max_length=10)


class SmsTemplateUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: TemplateName | None = None
    body: Body | None = None
    media_urls: list[MediaUrl] | None = Field(default=None, max_length=10)


class SmsTemplate(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    body: str
    media_urls: list[str]
    created_at: datetime
    updated_at: datetime


class SmsTemplateList(BaseModel):
    data: list[SmsTemplate]
