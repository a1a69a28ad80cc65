"""An organization's own rate limits, where its owner set them (docs/rate-limits.md)."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from herald.db import Base, UTCDateTime, utcnow


class OrganizationRateLimits(Base):
    """One row per organization that changed a limit; a null column is the install's default."""

    __tablename__ = "organization_rate_limits"

    org_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True
    )
    ingestion_organization_per_second: Mapped[int | None] = mapped_column(sa.Integer)
    ingestion_organization_per_minute: Mapped[int | None] = mapped_column(sa.Integer)
    ingestion_key_per_second: Mapped[int | None] = mapped_column(sa.Integer)
    ingestion_key_per_minute: Mapped[int | None] = mapped_column(sa.Integer)
    management_organization_per_second: Mapped[int | None] = mapped_column(sa.Integer)
    management_organization_per_minute: Mapped[int | None] = mapped_column(sa.Integer)
    management_key_per_second: Mapped[int | None] = mapped_column(sa.Integer)
    management_key_per_minute: Mapped[int | None] = mapped_column(sa.Integer)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
