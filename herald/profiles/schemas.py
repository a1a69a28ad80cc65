"""Request and response models for profiles, identification and the profile's own data."""

from __future__ import annotations

import ipaddress
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
)

from herald.profiles.limits import check_properties
from herald.validation import Email, Identifier, StorableText, Text64, Text255, TimeZoneName

PersonName = Text255


class Location(BaseModel):
    model_config = ConfigDict(extra="forbid", from_attributes=True)

    address1: Text255 | None = None
    address2: Text255 | None = None
    city: Text255 | None = None
    region: Text255 | None = None
    country: Text255 | None = None
    zip: Text64 | None = None
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)


ConsentMethod = Literal[
    "form", "api", "import", "keyword", "dashboard", "preference_page", "carrier", "sdk"
]
ConsentStatus = Literal["subscribed", "unsubscribed"]
ConsentChannel = Literal["email", "sms"]
LongText = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000), StorableText
]
AgentText = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=400), StorableText
]


class ConsentChange(BaseModel):
    """A person gives or withdraws consent to marketing on a channel, with what shows it."""

    model_config = ConfigDict(extra="forbid")

    status: ConsentStatus
    method: ConsentMethod = Field(default="api", description="How it was given or withdrawn.")
    text: LongText | None = Field(
        default=None, description="The words the person agreed to, as they saw them."
    )
    ip_address: str | None = Field(default=None, description="The person's IP address.")
    user_agent: AgentText | None = None
    page_url: LongText | None = Field(default=None, description="The page of the form.")
    at: AwareDatetime | None = Field(
        default=None,
        description="When it happened (default: now); an older record is kept "
        "in the history without changing the current status.",
    )

    @field_validator("ip_address")
    @classmethod
    def _check_ip(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return str(ipaddress.ip_address(value.strip()))
        except ValueError as exc:
            raise ValueError("must be an IPv4 or IPv6 address") from exc


class ConsentChanges(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: ConsentChange | None = None
    sms: ConsentChange | None = None


class ProfileFields(BaseModel):
    """What a caller may set on a profile. Fields left out are left alone; `null` clears one.

    The phone number is parsed with the organization's default region by the service, because a
    schema does not know the organization.
    """

    model_config = ConfigDict(extra="forbid")

    email: Email | None = None
    phone: Text64 | None = None
    external_id: Identifier | None = None
    first_name: PersonName | None = None
    last_name: PersonName | None = None
    timezone: TimeZoneName | None = None
    location: Location | None = None
    properties: dict[str, Any] | None = Field(
        default=None, description="Custom properties, merged into the stored ones."
    )
    consent: ConsentChanges | None = Field(
        default=None,
        description="Consent given or withdrawn on each channel, recorded in the profile's "
        "consent history (SMS marketing needs `subscribed`).",
    )

    @field_validator("properties")
    @classmethod
    def _check_properties(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        return None if value is None else check_properties(value)


class ProfileCreate(ProfileFields):
    pass


class ProfileUpdate(ProfileFields):
    unset: list[Annotated[str, StringConstraints(min_length=1, max_length=255)]] = Field(
        default_factory=list, description="Custom property names to remove."
    )


class IdentifyRequest(ProfileFields):
    """Create or update the profile these identifiers name; `anonymous_id` ties a browser's
    earlier anonymous activity to it."""

    anonymous_id: Identifier | None = None


class IdentifyResult(BaseModel):
    profile_id: uuid.UUID
    created: bool
    merged_profile_ids: list[uuid.UUID] = Field(
        default_factory=list, description="Profiles merged into this one by this call."
    )


class Profile(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    email: str | None
    phone: str | None
    external_id: str | None
    first_name: str | None
    last_name: str | None
    timezone: str | None
    location: Location
    properties: dict[str, Any]
    anonymous: bool
    created_at: datetime
    updated_at: datetime


class ProfileCount(BaseModel):
    count: int = Field(description="The number of matching profiles (the bound when not exact).")
    exact: bool = Field(description="False when more than `count` profiles match.")


class PropertyValue(BaseModel):
    value: str
    count: int = Field(description="How many of the sampled profiles have it.")


class PropertyValues(BaseModel):
    data: list[PropertyValue] = Field(description="Most common first.")


class ProfileList(BaseModel):
    data: list[Profile]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null at the end."
    )


class MessageEngagement(BaseModel):
    """How often the person opened, clicked, unsubscribed from, bounced or complained about a
    message (opens by mail privacy proxies and prefetchers are not counted)."""

    opened: int
    clicked: int
    unsubscribed: int
    bounced: int
    complained: int


class TimelineEntry(BaseModel):
    kind: str = Field(
        description="`event` (name, properties, value), `message` (name is the subject, or an "
        "SMS's text; properties hold status, channel, source and recipient) or `sms_received` "
        "(name is the text someone sent; properties hold from, to and keyword)."
    )
    id: uuid.UUID
    time: datetime
    name: str
    properties: dict[str, Any]
    value: float | None
    engagement: MessageEngagement | None = Field(
        default=None, description="A message's engagement (null for other kinds)."
    )


class Timeline(BaseModel):
    data: list[TimelineEntry]
    next_cursor: str | None


class ConsentCreate(ConsentChange):
    channel: ConsentChannel


class ConsentRecord(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    channel: ConsentChannel
    status: ConsentStatus
    method: str
    address: str | None
    consent_text: str | None
    ip_address: str | None
    user_agent: str | None
    page_url: str | None
    source: str
    recorded_at: datetime
    created_at: datetime


class ChannelConsent(BaseModel):
    status: Literal["subscribed", "unsubscribed", "none"] = Field(
        description="The latest record's status; `none` when nothing was recorded."
    )
    since: datetime | None
    method: str | None
    can_receive_marketing: bool = Field(
        description="What every send path decides: an address, not suppressed, and consent "
        "(SMS needs `subscribed`; email only must not be `unsubscribed`)."
    )
    suppressed: bool


class ProfileConsent(BaseModel):
    email: ChannelConsent
    sms: ChannelConsent
    history: list[ConsentRecord] = Field(description="Newest first.")
