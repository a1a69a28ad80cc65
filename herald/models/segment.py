"""Segments, their current members and the history of who entered and left when."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from herald.db import Base, JSONType, UTCDateTime, new_id, utcnow


class Segment(Base):
    __tablename__ = "segments"
    __table_args__ = (sa.UniqueConstraint("org_id", "name"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    org_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("organizations.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(sa.String(255))
    description: Mapped[str | None] = mapped_column(sa.Text)
    definition: Mapped[dict[str, Any]] = mapped_column(JSONType)
    # Derived from the definition (other segments' included) when it is saved, so the change
    # processor can tell cheaply which segments a change can affect.
    metrics: Mapped[list[str]] = mapped_column(JSONType, default=list)
    referenced_segments: Mapped[list[str]] = mapped_column(JSONType, default=list)
    uses_profile_data: Mapped[bool] = mapped_column(default=True)
    time_relative: Mapped[bool] = mapped_column(default=False)
    member_count: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    # When a full computation last finished; NULL until the first one has.
    computed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class SegmentMember(Base):
    __tablename__ = "segment_members"
    __table_args__ = (sa.Index("ix_segment_members_profile_id", "profile_id"),)

    segment_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("segments.id", ondelete="CASCADE"), primary_key=True
    )
    profile_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("profiles.id", ondelete="CASCADE"), primary_key=True
    )
    org_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("organizations.id", ondelete="CASCADE"))
    entered_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SegmentHistory(Base):
    """One entry or exit. Keeps only ids, so erasing a person leaves no personal data here."""

    __tablename__ = "segment_history"
    __table_args__ = (
        sa.Index("ix_segment_history_segment_id_at", "segment_id", "at"),
        sa.Index("ix_segment_history_org_id_profile_id", "org_id", "profile_id"),
    )

    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True
    )
    org_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("organizations.id", ondelete="CASCADE"))
    segment_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("segments.id", ondelete="CASCADE"))
    profile_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid)
    entered: Mapped[bool]
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
