"""Automation flows: the flow and its published versions, each person's enrolment (the timer is
its row), the history of steps each enrolment took, and the organization's webhook secret."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from herald.db import Base, JSONType, UTCDateTime, new_id, utcnow


class Flow(Base):
    """status: draft -> live <-> paused -> archived.

    `definition` is the draft being edited; what runs is the `FlowVersion` numbered
    `published_version`. `trigger_type` is the draft's, for listing."""

    __tablename__ = "flows"
    __table_args__ = (
        sa.Index("ix_flows_org_id_created_at", "org_id", "created_at"),
        sa.Index("ix_flows_status_trigger_type", "status", "trigger_type"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    org_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("organizations.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(sa.String(255))
    description: Mapped[str | None] = mapped_column(sa.String(255))
    status: Mapped[str] = mapped_column(sa.String(16), default="draft")
    trigger_type: Mapped[str] = mapped_column(sa.String(32))
    definition: Mapped[dict[str, Any]] = mapped_column(JSONType)
    # Where the builder draws the trigger and each step: {"trigger": {"x", "y"}, step id: ...}.
    layout: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    published_version: Mapped[int | None] = mapped_column(sa.Integer)
    # Segment triggers: the last segment_history row looked at (per segment, rows are written
    # under the segment's lock, so their ids become visible in order).
    trigger_cursor: Mapped[int | None] = mapped_column(sa.BigInteger)
    # Date-property triggers: enrolments are made for fire times up to this moment.
    date_scanned_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    live_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    paused_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class FlowVersion(Base):
    """A published definition; never changed once written."""

    __tablename__ = "flow_versions"
    __table_args__ = (sa.UniqueConstraint("flow_id", "version"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    org_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("organizations.id", ondelete="CASCADE"))
    flow_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("flows.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(sa.Integer)
    definition: Mapped[dict[str, Any]] = mapped_column(JSONType)
    published_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class FlowEnrolment(Base):
    """One person's way through one flow, from one trigger.

    status: active (`current_step` runs at `due_at`: a delay counts down, or it runs at once),
    waiting (on a wait step until its event or segment entry, or the timeout at `due_at`), then
    completed, exited (`exit_reason` says why) or failed (`exit_reason` says what went wrong).
    The (status, due_at) index is the timer: nothing looks at an enrolment before it is due.

    `trigger_key` makes a trigger enrol once: the event's id for metric triggers (a retried
    event enrols once), the segment history row, the date's occurrence, the API's unique id.
    """

    __tablename__ = "flow_enrolments"
    __table_args__ = (
        sa.UniqueConstraint("flow_id", "trigger_key"),
        sa.Index("ix_flow_enrolments_status_due_at", "status", "due_at"),
        sa.Index(
            "ix_flow_enrolments_flow_id_profile_id_entered_at",
            "flow_id",
            "profile_id",
            "entered_at",
        ),
        sa.Index(
            "ix_flow_enrolments_flow_id_status_current_step", "flow_id", "status", "current_step"
        ),
        sa.Index("ix_flow_enrolments_org_id_profile_id_status", "org_id", "profile_id", "status"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    org_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("organizations.id", ondelete="CASCADE"))
    flow_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("flows.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(sa.Integer)
    # An id only, no foreign key: the row outlives an erased or merged profile as history.
    profile_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid)
    trigger_key: Mapped[str] = mapped_column(sa.String(300))
    # What enrolled them: {"type": "metric", "event_id", "metric", "time", "properties"}, the
    # segment, the date, or the API payload. Trigger splits and rendering read it.
    trigger: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    status: Mapped[str] = mapped_column(sa.String(16), default="active")
    current_step: Mapped[str | None] = mapped_column(sa.String(64))
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Tries of the current step (webhook retries); reset when the enrolment moves on.
    attempts: Mapped[int] = mapped_column(sa.Integer, default=0)
    entered_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    exit_reason: Mapped[str | None] = mapped_column(sa.String(255))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class FlowStepRun(Base):
    """A step an enrolment finished, with its outcome: the output taken (`next`, `yes`, `no`, a
    branch name) or what it did (`sent`, `skipped`, `draft`, `failed`). A flow is acyclic, so an
    enrolment runs each step at most once: the unique key is the last guard against doing a step
    twice. Per-step results count these rows."""

    __tablename__ = "flow_step_runs"
    __table_args__ = (
        sa.UniqueConstraint("enrolment_id", "step_id"),
        sa.Index("ix_flow_step_runs_flow_id_step_id_outcome", "flow_id", "step_id", "outcome"),
        sa.Index("ix_flow_step_runs_message_id", "message_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    org_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("organizations.id", ondelete="CASCADE"))
    flow_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("flows.id", ondelete="CASCADE"))
    enrolment_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("flow_enrolments.id", ondelete="CASCADE")
    )
    step_id: Mapped[str] = mapped_column(sa.String(64))
    step_type: Mapped[str] = mapped_column(sa.String(32))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    outcome: Mapped[str] = mapped_column(sa.String(64))
    detail: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    # The message a send step put in the ledger (its key: flow:{flow}:{enrolment}:{step}).
    message_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid)


class FlowSettings(Base):
    """An organization's flow settings: the secret that signs webhook steps' requests
    (Fernet-encrypted, herald.security.encrypt), made on first use."""

    __tablename__ = "flow_settings"

    org_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True
    )
    webhook_signing_secret: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
