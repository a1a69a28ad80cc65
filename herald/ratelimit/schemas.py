"""Request and response models of GET, PUT and PATCH /api/rate-limits."""

from __future__ import annotations

import uuid
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from herald.tenancy.schemas import ApiKeyKind

LimitValue = Annotated[int, Field(ge=1, le=1_000_000_000)]


class WindowLimit(BaseModel):
    limit: int = Field(description="Requests allowed in the window now.")
    default: int = Field(description="The install's default, used when none is set.")
    ceiling: int = Field(description="The most an owner may set (the operator's setting).")
    custom: bool = Field(description="Whether this organization set its own value.")
    used: int | None = Field(
        default=None,
        description="Requests counted in the window now, for the organization's windows.",
    )


class WindowPair(BaseModel):
    per_second: WindowLimit
    per_minute: WindowLimit


class ClassLimits(BaseModel):
    organization: WindowPair = Field(description="Every request of the organization together.")
    key: WindowPair = Field(description="Each API key, or each signed-in dashboard user.")


class PublicLimits(BaseModel):
    """Requests without a key, per client address: set by the operator for the install."""

    per_second: int
    per_minute: int


class Usage(BaseModel):
    per_second: int
    per_minute: int


class KeyUsage(BaseModel):
    api_key_id: uuid.UUID
    name: str
    kind: ApiKeyKind
    prefix: str
    ingestion: Usage
    management: Usage


class RateLimits(BaseModel):
    ingestion: ClassLimits = Field(
        description="POST /api/track, /api/track/batch, /api/identify and /v1/*."
    )
    management: ClassLimits = Field(description="The rest of /api/*.")
    public: PublicLimits
    keys: list[KeyUsage] = Field(description="Current usage of each active API key.")


class WindowPairUpdate(BaseModel):
    """A value sets the limit; null goes back to the default."""

    model_config = ConfigDict(extra="forbid")

    per_second: LimitValue | None = None
    per_minute: LimitValue | None = None


class ClassLimitsUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    organization: WindowPairUpdate | None = None
    key: WindowPairUpdate | None = None


class RateLimitsUpdate(BaseModel):
    """PATCH changes the values it names; PUT sets all of them (a value left out is the
    default)."""

    model_config = ConfigDict(extra="forbid")

    ingestion: ClassLimitsUpdate | None = None
    management: ClassLimitsUpdate | None = None
