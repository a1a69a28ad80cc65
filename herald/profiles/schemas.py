"""Request and response models for profiles, identification and the profile's own data."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from herald.profiles.limits import check_properties
from herald.validation import Email, Identifier, Text64, Text255, TimeZoneName

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


class ProfileList(BaseModel):
    data: list[Profile]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null at the end."
    )


class TimelineEntry(BaseModel):
    kind: str = Field(
        description="`event` (name, properties, value) or `message` (name is the subject; "
        "properties hold status, channel, source and recipient)."
    )
    id: uuid.UUID
    time: datetime
    name: str
    properties: dict[str, Any]
    value: float | None


class Timeline(BaseModel):
    data: list[TimelineEntry]
    next_cursor: str | None
