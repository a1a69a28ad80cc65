"""Request and response models for the organization's email provider list and its health."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from herald.validation import Email, Text255

Kind = Literal["outbox", "smtp", "ses", "sendgrid", "postmark"]
State = Literal["closed", "open", "half_open"]


class ProviderCreate(BaseModel):
    """A provider account for the failover list. `config` holds the kind's settings
    (docs/email.md lists them); secrets in it are write-only."""

    model_config = ConfigDict(extra="forbid")

    kind: Kind
    label: Text255 = Field(max_length=100)
    position: int | None = Field(
        default=None, ge=0, le=1000, description="Lower goes first; left out, the end of the list."
    )
    enabled: bool = True
    per_second: int | None = Field(default=None, ge=1, le=1_000_000)
    per_day: int | None = Field(default=None, ge=1, le=1_000_000_000)
    config: dict[str, Any] = Field(default_factory=dict)


class ProviderUpdate(BaseModel):
    """The whole entry again. A secret left out of `config` keeps its stored value."""

    model_config = ConfigDict(extra="forbid")

    label: Text255 = Field(max_length=100)
    position: int = Field(ge=0, le=1000)
    enabled: bool = True
    per_second: int | None = Field(default=None, ge=1, le=1_000_000)
    per_day: int | None = Field(default=None, ge=1, le=1_000_000_000)
    config: dict[str, Any] = Field(default_factory=dict)


class ProviderHealth(BaseModel):
    state: State = Field(description="closed: in use; open: skipped; half_open: being probed.")
    error_rate: float | None = Field(description="Failed / tried in the last minute.")
    recent_attempts: int
    latency_ms: float | None = Field(description="A moving average of a message's call time.")
    sent: int
    failed: int
    consecutive_failures: int
    last_error: str | None
    last_error_at: datetime | None
    last_success_at: datetime | None
    opened_at: datetime | None


class Provider(BaseModel):
    id: uuid.UUID
    kind: Kind
    label: str
    position: int
    enabled: bool
    per_second: int | None
    per_day: int | None
    config: dict[str, Any] = Field(description="The settings without their secrets.")
    secrets_set: list[str] = Field(description="Secret settings that have a stored value.")
    webhook_path: str | None = Field(description="Where the provider posts its events.")
    health: ProviderHealth
    created_at: datetime


class ProviderList(BaseModel):
    data: list[Provider]


class CheckResult(BaseModel):
    ok: bool
    detail: str


class TestEmailRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    to: Email


class DnsCheckRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    domain: str | None = Field(
        default=None,
        max_length=253,
        description="The sending domain; left out, the default sender's domain.",
    )


class DnsRecord(BaseModel):
    purpose: Literal["spf", "dkim", "dmarc"]
    provider: str | None = Field(
        description="The provider (its label, or Herald for its own DKIM key) the record is for; "
        "null for the domain's SPF and DMARC records."
    )
    name: str
    type: Literal["TXT", "CNAME"]
    status: Literal["ok", "missing", "wrong", "unknown"] = Field(
        description="unknown: DNS did not answer, or the provider's settings lack the selector."
    )
    expected: str = Field(
        description="What to publish (with placeholders where only the provider knows the value)."
    )
    found: list[str] = Field(description="What DNS answers now.")
    detail: str


class DnsCheck(BaseModel):
    domain: str
    records: list[DnsRecord]


class ProviderRates(BaseModel):
    provider: str
    sent: int
    bounced: int
    complained: int
    bounce_rate: float
    complaint_rate: float


class DeliverabilityGuard(BaseModel):
    since: datetime = Field(
        description="Rates count from here: the window's start or the last resume."
    )
    rates: list[ProviderRates]
    warnings: list[str] = Field(description="Complaint rates above 0.1%.")
    paused: bool = Field(description="Marketing email is held until an admin resumes it.")
    pause_reason: str | None
    paused_at: datetime | None
