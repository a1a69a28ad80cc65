"""Request and response models of retention settings."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from herald.retention.service import MAX_EVENTS_MONTHS, MAX_MESSAGE_BODY_DAYS


class RetentionSettings(BaseModel):
    """How long the organization keeps raw events and message bodies; null keeps them for ever."""

    events_months: int | None = Field(
        description="Raw events older than this many months are deleted (their conversions, "
        "rollups and segment memberships stay)."
    )
    message_bodies_days: int | None = Field(
        description="Message content and the outbox's stored copies older than this many days "
        "are deleted (messages and their figures stay)."
    )
    events_pruned_before: datetime | None = Field(
        description="Events before this time have been pruned; analytics keeps its figures for "
        "the hours before it."
    )
    last_run_at: datetime | None


class RetentionSettingsUpdate(BaseModel):
    """Fields left out stay as they are; null keeps that data for ever."""

    model_config = ConfigDict(extra="forbid")

    events_months: int | None = Field(default=None, ge=1, le=MAX_EVENTS_MONTHS)
    message_bodies_days: int | None = Field(default=None, ge=1, le=MAX_MESSAGE_BODY_DAYS)
