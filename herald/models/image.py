"""The image library (images that templates show, served publicly) and saved template blocks."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from herald.db import Base, UTCDateTime, new_id, utcnow


class Image(Base):
    """An uploaded image. Its bytes live in the database, as an import's file does, so every API
    process on every machine can serve it; `data` is deferred, so lists never load it."""

    __tablename__ = "images"
    __table_args__ = (sa.Index("ix_images_org_id_created_at", "org_id", "created_at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    org_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("organizations.id", ondelete="CASCADE"))
    # The unguessable part of the public URL (`/images/<public_id>/<filename>`).
    public_id: Mapped[str] = mapped_column(sa.String(64), unique=True)
    name: Mapped[str] = mapped_column(sa.String(255))
    # The URL's last part: a safe version of the name with the extension of the detected type.
    filename: Mapped[str] = mapped_column(sa.String(120))
    content_type: Mapped[str] = mapped_column(sa.String(32))
    width: Mapped[int] = mapped_column(sa.Integer)
    height: Mapped[int] = mapped_column(sa.Integer)
    size_bytes: Mapped[int] = mapped_column(sa.Integer)
    # Hex SHA-256 of the bytes: the ETag.
    sha256: Mapped[str] = mapped_column(sa.String(64))
    data: Mapped[bytes] = mapped_column(sa.LargeBinary, deferred=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TemplateBlock(Base):
    """A saved MJML section (one mj-section or mj-wrapper) to reuse across templates."""

    __tablename__ = "template_blocks"
    __table_args__ = (sa.Index("ix_template_blocks_org_id_created_at", "org_id", "created_at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    org_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("organizations.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(sa.String(255))
    mjml: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
