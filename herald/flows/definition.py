"""A flow's definition: versioned JSON, validated here, the same way segment definitions are.

A flow is a directed acyclic graph. One trigger says who enters and when; `start` names the first
step; every step names, in `outputs`, the step each of its outputs leads to (null ends the path
there). Conditions (the flow's filters, conditional splits, waits) are written in the segment
language (`herald.segments.definition`) and compiled by the one compiler.

    {
      "version": 1,
      "trigger": {"type": "metric", "metric": "Started Checkout", "filters": []},
      "filters": {"conditions": [{"type": "event", "metric": "Placed Order",
                                  "operator": "exactly", "value": 0,
                                  "window": {"type": "since_flow_start"}}]},
      "reentry": {"mode": "once_per_period", "period": {"amount": 30, "unit": "days"}},
      "start": "wait",
      "steps": [
        {"id": "wait", "type": "delay", "delay": {"amount": 4, "unit": "hours"},
         "outputs": {"next": "email"}},
        {"id": "email", "type": "send_email",
         "email": {"template_id": "…", "subject": "You left something behind"},
         "outputs": {"next": null}}
      ]
    }

`validate_graph` refuses what the models alone cannot see: duplicate step ids, outputs that are
missing or name no step, steps that nothing leads to, cycles, and steps that do not fit the
trigger (a trigger split needs a trigger with properties). Every error names the step by its
place in `steps` and the field (`steps[3].delay.amount: …`).
"""

from __future__ import annotations

import re
import uuid
from datetime import time
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from herald.errors import FieldError, InvalidInput, validation_fields
from herald.segments.definition import Definition, EventFilter
from herald.sms.schemas import MAX_BODY as MAX_SMS_BODY
from herald.sms.schemas import MediaUrl as SmsMediaUrl
from herald.validation import StorableText

MAX_STEPS = 200
MAX_FILTERS = 20
MAX_RANDOM_BRANCHES = 7
MIN_RANDOM_BRANCHES = 2
MAX_WEBHOOK_HEADERS = 20
MAX_WEBHOOK_BODY = 20_000
MAX_PROFILE_UPDATES = 50
# The longest a delay or a wait may be: a year.
MAX_DELAY_SECONDS = 366 * 24 * 3600

StepId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
PropertyKey = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255), StorableText
]
DelayUnit = Literal["seconds", "minutes", "hours", "days", "weeks"]
Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
WEEKDAYS: tuple[Weekday, ...] = (
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
)
UNIT_SECONDS = {"seconds": 1, "minutes": 60, "hours": 3600, "days": 86_400, "weeks": 604_800}
_TIME_OF_DAY = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _time_of_day(value: str) -> str:
    if not _TIME_OF_DAY.match(value):
        raise ValueError("a time of day as HH:MM, 24-hour (for example 09:30)")
    return value


TimeOfDay = Annotated[str, Field(description="HH:MM, 24-hour, in the profile's time zone.")]


def parse_time_of_day(value: str) -> time:
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))


class Duration(_Strict):
    amount: int = Field(ge=1)
    unit: DelayUnit = "days"

    @model_validator(mode="after")
    def _bounded(self) -> Duration:
        if self.seconds > MAX_DELAY_SECONDS:
            raise ValueError("at most a year")
        return self

    @property
    def seconds(self) -> int:
        return self.amount * UNIT_SECONDS[self.unit]


# --- Triggers ------------------------------------------------------------------------------------


class MetricTrigger(_Strict):
    """Someone does an event (`Started Checkout`), optionally with properties that match."""

    type: Literal["metric"]
    metric: Annotated[str, StringConstraints(min_length=1, max_length=255), StorableText]
    filters: list[EventFilter] = Field(default_factory=list, max_length=MAX_FILTERS)


class SegmentTrigger(_Strict):
    """Someone enters (or leaves) a segment of the same organization."""

    type: Literal["segment_entered", "segment_exited"]
    segment_id: uuid.UUID


class DateTrigger(_Strict):
    """A date of the profile: a built-in date field or a custom property holding a date
    (`birthday`). Yearly on its anniversary, or once on the date itself; `offset_days` before
    (negative) or after, at `time_of_day` in the profile's time zone (else the organization's)."""

    type: Literal["date_property"]
    field: Literal["created_at"] | None = None
    property: PropertyKey | None = None
    recurrence: Literal["yearly", "once"] = "yearly"
    offset_days: int = Field(default=0, ge=-365, le=365)
    time_of_day: TimeOfDay = "09:00"

    _check_time = field_validator("time_of_day")(_time_of_day)

    @model_validator(mode="after")
    def _one_source(self) -> DateTrigger:
        if (self.field is None) == (self.property is None):
            raise ValueError("give exactly one of `field` (built-in) and `property` (custom)")
        return self


class ApiTrigger(_Strict):
    """Entered by `POST /api/flows/{id}/enrol` with a profile and a payload."""

    type: Literal["api"]


Trigger = Annotated[
    MetricTrigger | SegmentTrigger | DateTrigger | ApiTrigger, Field(discriminator="type")
]


class Reentry(_Strict):
    """Whether someone may enter again: every time the trigger fires, once ever, or at most once
    per `period` counted from the start of their last enrolment. Segment and date triggers never
    give one person two active enrolments, whatever the mode."""

    mode: Literal["every_time", "once", "once_per_period"] = "every_time"
    period: Duration | None = None

    @model_validator(mode="after")
    def _period(self) -> Reentry:
        if self.mode == "once_per_period" and self.period is None:
            raise ValueError("once_per_period needs `period`")
        if self.mode != "once_per_period" and self.period is not None:
            raise ValueError("`period` goes with mode once_per_period")
        return self


# --- Steps ---------------------------------------------------------------------------------------


class Position(_Strict):
    """Where the builder draws the step; no effect on what the flow does."""

    x: float = Field(ge=-1e6, le=1e6)
    y: float = Field(ge=-1e6, le=1e6)


class _Step(_Strict):
    id: StepId
    name: Annotated[str, StringConstraints(max_length=200), StorableText] | None = None
    position: Position | None = None
    outputs: dict[str, StepId | None] = Field(
        default_factory=dict,
        description="The step each output leads to (null: the path ends there).",
    )

    def output_names(self) -> tuple[str, ...]:
        return ("next",)


class DelayUntil(_Strict):
    """The next moment on one of `weekdays` at `time_of_day`, in the profile's time zone."""

    weekdays: list[Weekday] = Field(min_length=1, max_length=7)
    time_of_day: TimeOfDay

    _check_time = field_validator("time_of_day")(_time_of_day)


class DelaySettings(_Strict):
    """Wait `amount` `unit`s, or `until` a weekday and time of day."""

    amount: int | None = Field(default=None, ge=1)
    unit: DelayUnit = "days"
    until: DelayUntil | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> DelaySettings:
        if (self.amount is None) == (self.until is None):
            raise ValueError("give `amount` (with `unit`) or `until`, not both")
        if self.amount is not None and self.amount * UNIT_SECONDS[self.unit] > MAX_DELAY_SECONDS:
            raise ValueError("a delay is at most a year")
        return self


class DelayStep(_Step):
    type: Literal["delay"]
    delay: DelaySettings


class WaitEvent(_Strict):
    type: Literal["event"]
    metric: Annotated[str, StringConstraints(min_length=1, max_length=255), StorableText]
    filters: list[EventFilter] = Field(default_factory=list, max_length=MAX_FILTERS)


class WaitSegment(_Strict):
    type: Literal["segment_entered"]
    segment_id: uuid.UUID


class WaitStep(_Step):
    """Wait until the profile does an event (or enters a segment), for at most `timeout`:
    output `yes` when it happened, `no` when the time ran out."""

    type: Literal["wait"]
    wait_for: Annotated[WaitEvent | WaitSegment, Field(discriminator="type")]
    timeout: Duration

    def output_names(self) -> tuple[str, ...]:
        return ("yes", "no")


class ConditionalSplit(_Step):
    """Output `yes` when the profile matches `condition` now, else `no`. Event conditions may
    count from when the profile entered this flow (window `since_flow_start`)."""

    type: Literal["conditional_split"]
    condition: Definition

    def output_names(self) -> tuple[str, ...]:
        return ("yes", "no")


class TriggerSplit(_Step):
    """Output `yes` when the trigger event's properties (or the API call's payload) match every
    filter, else `no`."""

    type: Literal["trigger_split"]
    filters: list[EventFilter] = Field(min_length=1, max_length=MAX_FILTERS)

    def output_names(self) -> tuple[str, ...]:
        return ("yes", "no")


class RandomBranch(_Strict):
    name: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,32}$")]
    weight: int = Field(ge=1, le=1000)


class RandomSplit(_Step):
    """One of 2 to 7 branches, chosen by weight, the same every time for an enrolment. Each
    branch's name is an output."""

    type: Literal["random_split"]
    branches: list[RandomBranch] = Field(
        min_length=MIN_RANDOM_BRANCHES, max_length=MAX_RANDOM_BRANCHES
    )

    @field_validator("branches")
    @classmethod
    def _distinct(cls, branches: list[RandomBranch]) -> list[RandomBranch]:
        names = [b.name for b in branches]
        if len(set(names)) != len(names):
            raise ValueError("branch names must differ")
        return branches

    def output_names(self) -> tuple[str, ...]:
        return tuple(b.name for b in self.branches)


class FlowEmailSettings(_Strict):
    template_id: uuid.UUID
    subject: Annotated[str, StringConstraints(max_length=998), StorableText] | None = None
    from_name: Annotated[str, StringConstraints(max_length=255), StorableText] | None = None
    from_email: Annotated[str, StringConstraints(max_length=320), StorableText] | None = None
    smart_sending: bool = Field(
        default=True,
        description="Skip (and go on) when the profile got marketing email in the last "
        "`smart_sending_hours`.",
    )
    smart_sending_hours: int = Field(default=16, ge=1, le=24 * 7)
    status: Literal["live", "draft"] = Field(
        default="live",
        description="`draft` sends nothing and records what would have been sent.",
    )


class SendEmail(_Step):
    type: Literal["send_email"]
    email: FlowEmailSettings


SmsDraftBody = Annotated[str, StringConstraints(max_length=MAX_SMS_BODY), StorableText]


class FlowSmsSettings(_Strict):
    """The text: `body` written here (personalization in the same sandbox as SMS campaigns,
    with `profile`, `event` and `organization`), or a saved SMS template (`template_id`)."""

    body: SmsDraftBody | None = Field(
        default=None, description="Empty while being written: publishing asks for the text."
    )
    template_id: uuid.UUID | None = None
    media_urls: list[SmsMediaUrl] = Field(default_factory=list, max_length=10)
    smart_sending: bool = Field(
        default=True,
        description="Skip (and go on) when the profile got marketing SMS in the last "
        "`smart_sending_hours`.",
    )
    smart_sending_hours: int = Field(default=24, ge=1, le=24 * 7)
    status: Literal["live", "draft"] = Field(
        default="live",
        description="`draft` sends nothing and records what would have been sent.",
    )

    @field_validator("body")
    @classmethod
    def _personalization(cls, value: str | None) -> str | None:
        if value is not None:
            from herald.sms.templates import text_problem

            problem = text_problem(value)
            if problem is not None:
                raise ValueError(problem)
        return value

    @model_validator(mode="after")
    def _one_text(self) -> FlowSmsSettings:
        if (self.body is None) == (self.template_id is None):
            raise ValueError("give `body` (the text) or `template_id` (a saved SMS template)")
        return self


class SendSms(_Step):
    """Send an SMS through the same path as SMS campaigns: the message ledger, the SMS consent
    rule, quiet hours, rate limits and STOP."""

    type: Literal["send_sms"]
    sms: FlowSmsSettings


JsonScalar = str | int | float | bool | None


class FlowProfileUpdate(_Strict):
    set: dict[PropertyKey, Any] = Field(default_factory=dict, max_length=MAX_PROFILE_UPDATES)
    unset: list[PropertyKey] = Field(default_factory=list, max_length=MAX_PROFILE_UPDATES)
    increment: dict[PropertyKey, float] = Field(
        default_factory=dict, max_length=MAX_PROFILE_UPDATES
    )

    @model_validator(mode="after")
    def _something(self) -> FlowProfileUpdate:
        if not (self.set or self.unset or self.increment):
            raise ValueError("set, unset or increment at least one property")
        named = [*self.set, *self.unset, *self.increment]
        if len(set(named)) != len(named):
            raise ValueError("each property may be changed once per step")
        return self


class UpdateProfile(_Step):
    """Set, unset or increment custom properties of the profile."""

    type: Literal["update_profile"]
    update: FlowProfileUpdate


HeaderName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,128}$")]
HeaderValue = Annotated[str, StringConstraints(max_length=1000), StorableText]


class FlowWebhookSettings(_Strict):
    """POST `body` (a JSON template, rendered with `profile`, `event` and `flow` in the same
    sandbox as email; the default sends all three) to `url`, signed (docs/flows.md)."""

    url: Annotated[str, StringConstraints(min_length=1, max_length=2000), StorableText]
    headers: dict[HeaderName, HeaderValue] = Field(
        default_factory=dict, max_length=MAX_WEBHOOK_HEADERS
    )
    body: Annotated[str, StringConstraints(max_length=MAX_WEBHOOK_BODY), StorableText] | None = None

    @field_validator("url")
    @classmethod
    def _http(cls, value: str) -> str:
        if not value.lower().startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value


class Webhook(_Step):
    type: Literal["webhook"]
    webhook: FlowWebhookSettings


class Exit(_Step):
    """The enrolment ends here."""

    type: Literal["exit"]

    def output_names(self) -> tuple[str, ...]:
        return ()


# Each channel's step is here, with its output names (a new one adds its handler in steps).
Step = Annotated[
    DelayStep
    | WaitStep
    | ConditionalSplit
    | TriggerSplit
    | RandomSplit
    | SendEmail
    | SendSms
    | UpdateProfile
    | Webhook
    | Exit,
    Field(discriminator="type"),
]
STEP_TYPES = (
    "delay",
    "wait",
    "conditional_split",
    "trigger_split",
    "random_split",
    "send_email",
    "send_sms",
    "update_profile",
    "webhook",
    "exit",
)


class FlowDefinition(_Strict):
    version: Literal[1] = 1
    trigger: Trigger
    filters: Definition | None = Field(
        default=None,
        description="Profile conditions checked at entry and before every step; a profile "
        "that stops matching leaves the flow.",
    )
    reentry: Reentry = Field(default_factory=Reentry)
    start: StepId | None = Field(description="The first step (null: a flow with no steps yet).")
    steps: list[Step] = Field(default_factory=list, max_length=MAX_STEPS)

    def step(self, step_id: str) -> Any:
        for step in self.steps:
            if step.id == step_id:
                return step
        raise KeyError(step_id)


# Triggers whose enrolments carry properties a trigger split can test.
_TRIGGERS_WITH_PROPERTIES = ("metric", "api")


def validate_graph(definition: FlowDefinition) -> list[FieldError]:
    """What is wrong with the graph: each problem names the step (`steps[2].outputs.yes`)."""
    problems: list[FieldError] = []
    index: dict[str, int] = {}
    for position, step in enumerate(definition.steps):
        if step.id in index:
            problems.append(FieldError(f"steps[{position}].id", f"{step.id!r} is used twice"))
        else:
            index[step.id] = position
    if definition.start is None:
        if definition.steps:
            problems.append(FieldError("start", "name the first step"))
    elif definition.start not in index:
        problems.append(FieldError("start", f"no step has the id {definition.start!r}"))
    for position, step in enumerate(definition.steps):
        expected = step.output_names()
        for name in expected:
            if name not in step.outputs:
                problems.append(
                    FieldError(
                        f"steps[{position}].outputs.{name}",
                        "missing: name the next step, or null to end the path here",
                    )
                )
            elif step.outputs[name] is not None and step.outputs[name] not in index:
                problems.append(
                    FieldError(
                        f"steps[{position}].outputs.{name}",
                        f"no step has the id {step.outputs[name]!r}",
                    )
                )
        for name in step.outputs:
            if name not in expected:
                known = ", ".join(expected) or "none"
                problems.append(
                    FieldError(
                        f"steps[{position}].outputs.{name}",
                        f"a {step.type} step has no such output (its outputs: {known})",
                    )
                )
        if step.type == "trigger_split" and definition.trigger.type not in (
            _TRIGGERS_WITH_PROPERTIES
        ):
            problems.append(
                FieldError(
                    f"steps[{position}].type",
                    "a trigger split needs a metric or API trigger (others carry no properties)",
                )
            )
    if problems:
        return problems
    problems.extend(_cycles_and_unreachable(definition, index))
    return problems


def _cycles_and_unreachable(definition: FlowDefinition, index: dict[str, int]) -> list[FieldError]:
    successors = {
        step.id: [target for target in step.outputs.values() if target is not None]
        for step in definition.steps
    }
    problems: list[FieldError] = []
    # Depth-first from the start, iteratively: grey steps are on the current path.
    state: dict[str, str] = {}
    reported: set[str] = set()
    if definition.start is not None:
        stack: list[tuple[str, int]] = [(definition.start, 0)]
        state[definition.start] = "grey"
        while stack:
            step_id, next_child = stack[-1]
            children = successors[step_id]
            if next_child == len(children):
                state[step_id] = "black"
                stack.pop()
                continue
            stack[-1] = (step_id, next_child + 1)
            child = children[next_child]
            if state.get(child) == "grey":
                if step_id not in reported:
                    reported.add(step_id)
                    problems.append(
                        FieldError(
                            f"steps[{index[step_id]}].outputs",
                            f"leads back to {child!r}: a flow cannot loop",
                        )
                    )
            elif child not in state:
                state[child] = "grey"
                stack.append((child, 0))
    for step in definition.steps:
        if step.id not in state:
            problems.append(
                FieldError(
                    f"steps[{index[step.id]}]",
                    f"{step.id!r} is unreachable: no step or trigger leads to it",
                )
            )
    return problems


def parse_definition(raw: Any, field: str = "definition") -> FlowDefinition:
    """A flow definition from JSON, or InvalidInput naming every problem under `field`."""
    try:
        definition = FlowDefinition.model_validate(raw)
    except ValidationError as exc:
        errors = [{**e, "loc": _without_tags(raw, e["loc"])} for e in exc.errors()]
        raise InvalidInput.for_fields(
            [
                FieldError(f"{field}.{f.field}" if f.field != "body" else field, f.reason)
                for f in validation_fields(errors)
            ]
        ) from None
    problems = validate_graph(definition)
    if problems:
        raise InvalidInput.for_fields(
            [FieldError(f"{field}.{p.field}", p.reason) for p in problems]
        )
    return definition


def _without_tags(raw: Any, loc: tuple[Any, ...]) -> tuple[Any, ...]:
    """An error's location without the union tags Pydantic puts in it: walking the input, the
    first part under an object that equals the object's `type` is the tag and is left out
    (("trigger", "metric", "filters") -> ("trigger", "filters"))."""
    kept: list[Any] = []
    current = raw
    tag_skipped = False
    for part in loc:
        # The tag comes first after the union's own place, even when the member also has a
        # field of that name (a delay step's `delay`).
        if not tag_skipped and isinstance(current, dict) and current.get("type") == part:
            tag_skipped = True
            continue
        tag_skipped = False
        kept.append(part)
        if isinstance(current, dict):
            current = current.get(part)
        elif isinstance(current, list) and isinstance(part, int) and 0 <= part < len(current):
            current = current[part]
        else:
            current = None
    return tuple(kept)


def stored(raw: dict[str, Any]) -> FlowDefinition:
    """A definition read back from the database (it was valid when saved)."""
    return FlowDefinition.model_validate(raw)


def dump(definition: FlowDefinition) -> dict[str, Any]:
    return definition.model_dump(mode="json", exclude_none=False)
