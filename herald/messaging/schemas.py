"""Request and response models for the suppression list."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from herald.messaging.suppression import MAX_BULK
from herald.validation import StorableText, Text64

ChannelName = Literal["email", "sms"]
ReasonName = Literal["unsubscribe", "hard_bounce", "complaint", "manual", "import", "stop"]
Address = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=320), StorableText
]


class SuppressionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channel: ChannelName = "email"
    address: Address = Field(
        description="An email address, or a phone number (read with the organization's "
        "default region when it has no country code). Stored normalized."
    )
    reason: ReasonName = "manual"
    source: Text64 | None = Field(
        default=None, description="Who or what added it; `api` or `dashboard` when left out."
    )


class Suppression(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    channel: ChannelName
    address: str
    reason: ReasonName
    source: str
    created_at: datetime


class SuppressionList(BaseModel):
    data: list[Suppression]
    next_cursor: str | None


class SuppressionBulk(BaseModel):
    model_config = ConfigDict(extra="forbid")

    suppressions: list[Any] = Field(
        min_length=1,
        max_length=MAX_BULK,
        description="Up to 10,000 items shaped like `SuppressionCreate`.",
    )


class BulkItemError(BaseModel):
    index: int
    field: str
    reason: str


class SuppressionBulkResult(BaseModel):
    created: int = Field(description="Entries added by this call.")
    existing: int = Field(description="Items already on the list (or repeated in the batch).")
    errors: list[BulkItemError]
