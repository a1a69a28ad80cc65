"""Request and response models of the flows API (`/api/flows`)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from herald.events.schemas import ProfileReference
from herald.flows.definition import FlowDefinition, Position, parse_definition
from herald.validation import Identifier, Name, Text255

FlowStatus = Literal["draft", "live", "paused", "archived"]
# active: a step is due at `due_at` (a delay counts down, or the next step runs at once);
# waiting: on a wait step until its event or segment entry, or its timeout at `due_at`;
# completed: reached the end of a path; exited: left early (filters no longer matched, an exit
# step, removed, the flow archived, its step removed by an edit); failed: a step could not be
# done (the reason says why), so the enrolment stopped where it was.
EnrolmentStatus = Literal["active", "waiting", "completed", "exited", "failed"]
TriggerType = Literal["metric", "segment_entered", "segment_exited", "date_property", "api"]


def _definition(raw: Any) -> Any:
    """Parsed by `parse_definition`, whose errors name the step and field the way the caller
    wrote them (`definition.steps[3].delay.amount`, without Pydantic's union tags). It raises
    InvalidInput, which Pydantic lets through to the API's error handler."""
    if raw is None or isinstance(raw, FlowDefinition):
        return raw
    return parse_definition(raw, "definition")


class FlowCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    description: Text255 | None = None
    definition: FlowDefinition

    _parse_definition = field_validator("definition", mode="before")(_definition)


class FlowFromTemplate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    template: str = Field(description="A key from GET /api/flow-templates.")
    name: Name | None = Field(default=None, description="Defaults to the template's name.")


class FlowUpdate(BaseModel):
    """Edits the draft; a live flow keeps running its published version until `publish`."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    description: Text255 | None = None
    definition: FlowDefinition | None = None
    layout: dict[str, Position] | None = Field(
        default=None, description="Where the builder draws the trigger (`trigger`) and steps."
    )

    _parse_definition = field_validator("definition", mode="before")(_definition)


class FlowResultsSummary(BaseModel):
    """A flow's figures over a period (the list shows the last 30 days)."""

    entered: int
    completed: int
    sent: int
    opened: int
    clicked: int
    conversions: int
    revenue: float


class FlowSummary(BaseModel):
    id: uuid.UUID
    name: str
    description: str | None
    status: FlowStatus
    trigger_type: TriggerType
    trigger_label: str = Field(description="For example `Started Checkout` or a segment's name.")
    version: int | None = Field(description="The published version; null before the first.")
    has_unpublished_changes: bool
    live_at: datetime | None
    created_at: datetime
    updated_at: datetime
    results_30d: FlowResultsSummary


class FlowList(BaseModel):
    data: list[FlowSummary]


class Flow(FlowSummary):
    draft: FlowDefinition
    published: FlowDefinition | None
    layout: dict[str, Position]
    paused_at: datetime | None
    archived_at: datetime | None


class FlowTemplate(BaseModel):
    key: str
    name: str
    description: str
    definition: FlowDefinition = Field(
        description="Email steps (and a segment trigger) name the nil UUID: the draft made "
        "from the template asks for them, and publishing refuses them until chosen."
    )


class FlowTemplateList(BaseModel):
    data: list[FlowTemplate]


# --- Trying a flow -------------------------------------------------------------------------------


class FlowTestRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    profile_id: uuid.UUID
    payload: dict[str, Any] = Field(
        default_factory=dict,
        description="The trigger event's properties (or the API payload) to test with.",
    )


class RenderedMessage(BaseModel):
    subject: str
    html: str
    text: str | None


class FlowTestStep(BaseModel):
    step_id: str
    type: str
    outcome: str = Field(
        description="The output taken (`next`, `yes`, `no`, a branch), or what the step "
        "would do (`would_wait`, `would_send`, `would_skip`, ...)."
    )
    detail: str
    rendered: RenderedMessage | None = None
    sms_body: str | None = Field(
        default=None, description="An SMS step's text as this profile would get it."
    )
    webhook_body: str | None = None


class FlowTestResult(BaseModel):
    enters: bool = Field(description="Whether the profile matches the flow's filters now.")
    reason: str | None = None
    path: list[FlowTestStep]


# --- Enrolments ----------------------------------------------------------------------------------


class EnrolRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    profile: ProfileReference
    payload: dict[str, Any] = Field(default_factory=dict)
    unique_id: Identifier | None = Field(
        default=None, description="Your id for this enrolment: a retry with it enrols once."
    )


class EnrolResult(BaseModel):
    enrolment_id: uuid.UUID | None = Field(description="Null when the re-entry rule refused it.")
    profile_id: uuid.UUID
    created: bool
    reason: str | None = Field(description="Why no new enrolment was made, when none was.")


class StepRun(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    step_id: str
    step_type: str
    at: datetime
    outcome: str
    detail: dict[str, Any]
    message_id: uuid.UUID | None


class Enrolment(BaseModel):
    id: uuid.UUID
    flow_id: uuid.UUID
    flow_name: str
    profile_id: uuid.UUID
    profile_email: str | None
    version: int
    status: EnrolmentStatus
    current_step_id: str | None
    due_at: datetime | None
    entered_at: datetime
    finished_at: datetime | None
    exit_reason: str | None
    trigger: dict[str, Any] = Field(
        description="What enrolled them: the event (id, name, time, properties), the segment, "
        "the date, or the API payload."
    )


class EnrolmentList(BaseModel):
    data: list[Enrolment]
    next_cursor: str | None


class EnrolmentDetail(Enrolment):
    history: list[StepRun]


class ProfileFlows(BaseModel):
    data: list[EnrolmentDetail]


# --- Results -------------------------------------------------------------------------------------


class MessageFigures(BaseModel):
    sent: int = 0
    delivered: int = 0
    bounced: int = 0
    opened: int = 0
    clicked: int = 0
    unsubscribed: int = 0


class StepResults(BaseModel):
    step_id: str
    type: str
    name: str | None
    active: int = Field(description="Enrolments due at this step now (a delay counting down).")
    waiting: int = Field(description="Enrolments on this wait step now.")
    outcomes: dict[str, int] = Field(
        description="How often each output (or outcome: sent, skipped, draft) was taken."
    )
    messages: MessageFigures
    conversions: int
    revenue: float


class FlowResults(BaseModel):
    since: datetime
    entered: int
    active: int
    waiting: int
    completed: int
    exited: dict[str, int] = Field(description="Enrolments that left early, by reason.")
    failed: int
    messages: MessageFigures
    conversions: int
    revenue: float
    steps: list[StepResults]


class WebhookSettings(BaseModel):
    signing_secret: str = Field(
        description="Signs every webhook step's request (the Herald-Signature header)."
    )
