"""Stored answers to API writes sent with an Idempotency-Key header (DESIGN invariant 4)."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from herald.db import Base, UTCDateTime, new_id, utcnow


class IdempotencyRecord(Base):
    __tablename__ = "idempotency_records"
    __table_args__ = (sa.UniqueConstraint("scope_hash", "key"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    # Hash of the credential that sent the request: keys are scoped to their sender, not global.
    scope_hash: Mapped[str] = mapped_column(sa.String(64))
    key: Mapped[str] = mapped_column(sa.String(255))
    # Method, path, query and body: reusing a key for a different request is an error.
    request_hash: Mapped[str] = mapped_column(sa.String(64))
    completed: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    response_status: Mapped[int | None] = mapped_column(sa.Integer)
    response_content_type: Mapped[str | None] = mapped_column(sa.String(200))
    response_body: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
