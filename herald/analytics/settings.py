"""Each organization's analytics settings: conversion metric, attribution window, currency."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.orm import Session

from herald.messaging.attribution import ATTRIBUTION_WINDOW, DEFAULT_CONVERSION_METRIC
from herald.models import AnalyticsSettings, Organization

DEFAULT_CURRENCY = "USD"


@dataclass(frozen=True)
class Settings:
    conversion_metric: str
    window: timedelta
    currency: str
    timezone: str


def attribution_settings(session: Session, org_id: uuid.UUID) -> Settings:
    """The organization's settings, or the defaults (Placed Order, 5 days, USD)."""
    row = session.get(AnalyticsSettings, org_id)
    organization = session.get(Organization, org_id)
    timezone = organization.timezone if organization is not None else "UTC"
    if row is None:
        return Settings(DEFAULT_CONVERSION_METRIC, ATTRIBUTION_WINDOW, DEFAULT_CURRENCY, timezone)
    return Settings(
        row.conversion_metric,
        timedelta(hours=row.attribution_window_hours),
        row.currency,
        timezone,
    )
