"""Customer profiles and the anonymous ids that point at them."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from herald.db import Base, JSONType, UTCDateTime, new_id, utcnow

# Built-in fields a person can set, besides the identifiers; everything else is a custom property.
LOCATION_FIELDS = (
    "address1",
    "address2",
    "city",
    "region",
    "country",
    "zip",
    "latitude",
    "longitude",
)
# The identifiers a person can be found by, each unique in an organization when set.
IDENTIFIERS = ("email", "phone", "external_id")
# Built-in fields that describe the person without identifying them.
DESCRIPTIVE_FIELDS = ("first_name", "last_name", "timezone", *LOCATION_FIELDS)


class Profile(Base):
    __tablename__ = "profiles"
    __table_args__ = (
        # Each identifier is unique in an organization when set (NULLs never collide).
        sa.UniqueConstraint("org_id", "email"),
        sa.UniqueConstraint("org_id", "phone"),
        sa.UniqueConstraint("org_id", "external_id"),
        sa.Index("ix_profiles_org_id_created_at", "org_id", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    org_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("organizations.id", ondelete="CASCADE"))
    external_id: Mapped[str | None] = mapped_column(sa.String(255))
    email: Mapped[str | None] = mapped_column(sa.String(320))
    phone: Mapped[str | None] = mapped_column(sa.String(32))
    first_name: Mapped[str | None] = mapped_column(sa.String(255))
    last_name: Mapped[str | None] = mapped_column(sa.String(255))
    timezone: Mapped[str | None] = mapped_column(sa.String(64))
    address1: Mapped[str | None] = mapped_column(sa.String(255))
    address2: Mapped[str | None] = mapped_column(sa.String(255))
    city: Mapped[str | None] = mapped_column(sa.String(255))
    region: Mapped[str | None] = mapped_column(sa.String(255))
    country: Mapped[str | None] = mapped_column(sa.String(255))
    zip: Mapped[str | None] = mapped_column(sa.String(64))
    latitude: Mapped[float | None] = mapped_column(sa.Float)
    longitude: Mapped[float | None] = mapped_column(sa.Float)
    properties: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    # Set when this profile was merged into another; its id keeps resolving to the survivor.
    merged_into_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("profiles.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    @property
    def is_anonymous(self) -> bool:
        return self.email is None and self.phone is None and self.external_id is None


class AnonymousId(Base):
    """A browser's or device's id before the person is known (Segment's anonymousId)."""

    __tablename__ = "profile_anonymous_ids"

    org_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True
    )
    anonymous_id: Mapped[str] = mapped_column(sa.String(255), primary_key=True)
    profile_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("profiles.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ProfileChange(Base):
    """The hand-off from ingestion to segment and flow processing.

    Ingestion appends a row per changed profile and never runs that logic inline. Consumers take
    rows by deleting them (in batches, SKIP LOCKED on PostgreSQL) rather than by advancing a cursor
    over ids, so a transaction that commits late with a lower id is never skipped.
    """

    __tablename__ = "profile_changes"
    __table_args__ = (sa.Index("ix_profile_changes_org_id_id", "org_id", "id"),)

    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True
    )
    # No foreign key to organizations (see the note in herald/models/event.py).
    org_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid)
    profile_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid)
    # "created", "updated", "event", "merged", "deleted"
    reason: Mapped[str] = mapped_column(sa.String(16))
    # Event names of an "event" change, so consumers can skip segments that cannot be affected.
    event_names: Mapped[list[str] | None] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
