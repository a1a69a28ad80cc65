"""The segment definition language: versioned JSON, validated by these Pydantic models.

A definition is a group of conditions joined by `all` (AND) or `any` (OR), optionally negated;
groups nest. The compiler (`compiler.py`) turns a definition into one SQL query, and the rules of
comparison it follows are written down in docs/segments.md. Keep the two in step.
"""

from __future__ import annotations

import math
import re
import uuid
from datetime import date, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    StringConstraints,
    model_validator,
)

from herald.errors import hide_union_tags
from herald.models.profile import DESCRIPTIVE_FIELDS, IDENTIFIERS
from herald.validation import unstorable_reason

DEFINITION_VERSION = 1
MAX_CONDITIONS = 100
MAX_DEPTH = 5
MAX_LIST_VALUES = 1000
MAX_FILTERS = 10

# Built-in profile fields and the type each compares as.
NUMBER_FIELDS = ("latitude", "longitude")
TEXT_FIELDS = tuple(f for f in (*IDENTIFIERS, *DESCRIPTIVE_FIELDS) if f not in NUMBER_FIELDS)
DATETIME_FIELDS = ("created_at", "updated_at")
BUILTIN_FIELDS = TEXT_FIELDS + NUMBER_FIELDS + DATETIME_FIELDS

ValueType = Literal["string", "number", "boolean", "date"]
Operator = Literal[
    "equals",
    "not_equals",
    "contains",
    "not_contains",
    "starts_with",
    "ends_with",
    "is_set",
    "is_not_set",
    "in",
    "not_in",
    "greater_than",
    "less_than",
    "between",
    "in_the_last",
    "more_than_ago",
    "in_the_next",
    "anniversary_within",
]
TimeUnit = Literal["minutes", "hours", "days", "weeks"]

# Which operators each value type allows.
STRING_OPERATORS = frozenset(
    {
        "equals",
        "not_equals",
        "contains",
        "not_contains",
        "starts_with",
        "ends_with",
        "is_set",
        "is_not_set",
        "in",
        "not_in",
    }
)
NUMBER_OPERATORS = frozenset(
    {
        "equals",
        "not_equals",
        "is_set",
        "is_not_set",
        "in",
        "not_in",
        "greater_than",
        "less_than",
        "between",
    }
)
BOOLEAN_OPERATORS = frozenset({"equals", "not_equals", "is_set", "is_not_set"})
RELATIVE_DATE_OPERATORS = frozenset(
    {"in_the_last", "more_than_ago", "in_the_next", "anniversary_within"}
)
DATE_OPERATORS = frozenset(
    {"equals", "not_equals", "is_set", "is_not_set", "greater_than", "less_than", "between"}
    | RELATIVE_DATE_OPERATORS
)
OPERATORS_BY_TYPE: dict[str, frozenset[str]] = {
    "string": STRING_OPERATORS,
    "number": NUMBER_OPERATORS,
    "boolean": BOOLEAN_OPERATORS,
    "date": DATE_OPERATORS,
}
# Operators whose meaning is "not the positive one": they also match a value that is not set.
NEGATIVE_OPERATORS = {"not_equals": "equals", "not_contains": "contains", "not_in": "in"}

# \Z, not $: $ also matches before a final newline in Python (SQLite's REGEXP) but not in
# PostgreSQL, so "12\n" was a number on one database only. Both read \Z as the very end.
NUMERIC_TEXT = re.compile(r"^-?[0-9]+(\.[0-9]+)?\Z")
ISO_DATE_PREFIX = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}")

PropertyName = Annotated[str, StringConstraints(min_length=1, max_length=255)]
# Strict members: in a lax union a JSON true could come back out as 1 (as int), which then
# compares as a number and matches nobody.
Scalar = StrictBool | StrictInt | StrictFloat | StrictStr
UNIT_SECONDS = {"minutes": 60, "hours": 3600, "days": 86400, "weeks": 604800}


def duration(amount: int, unit: str) -> timedelta:
    return timedelta(seconds=amount * UNIT_SECONDS[unit])


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Predicate(_Strict):
    """A comparison of one value: a built-in field, a custom property or an event property."""

    operator: Operator
    value: Scalar | None = Field(
        default=None, description="The operand of equals, contains, greater_than, between, ..."
    )
    value_to: Scalar | None = Field(default=None, description="The upper end of `between`.")
    values: list[Scalar] | None = Field(
        default=None, max_length=MAX_LIST_VALUES, description="The list of `in` / `not_in`."
    )
    amount: int | None = Field(
        default=None,
        ge=0,
        le=36500,
        description="N of in_the_last / more_than_ago / in_the_next / anniversary_within.",
    )
    unit: TimeUnit = "days"
    value_type: ValueType | None = Field(
        default=None,
        description=(
            "How a custom property compares. `number` declares it numeric: strings holding a "
            "decimal number then compare as numbers. Inferred from the operand when left out."
        ),
    )

    def comparison_type(self, builtin_type: ValueType | None) -> ValueType:
        """The type this predicate compares as: a built-in field's own, else the declared or
        inferred one."""
        if builtin_type is not None:
            return builtin_type
        if self.value_type is not None:
            return self.value_type
        return _infer_type(self)

    def check(self, builtin_type: ValueType | None) -> None:
        """Raise ValueError when the operator does not fit the type or an operand is missing."""
        kind = self.comparison_type(builtin_type)
        if self.operator not in OPERATORS_BY_TYPE[kind]:
            raise ValueError(f"operator {self.operator!r} does not apply to {kind} values")
        op = self.operator
        if op in ("is_set", "is_not_set"):
            return
        if op in ("in", "not_in"):
            if not self.values:
                raise ValueError(f"{op} needs a non-empty `values` list")
            for item in self.values:
                _operand(item, kind, "values")
            return
        if op in RELATIVE_DATE_OPERATORS:
            if self.amount is None:
                raise ValueError(f"{op} needs `amount`")
            if op == "anniversary_within" and self.amount > 365:
                raise ValueError("anniversary_within takes at most 365 days")
            return
        if self.value is None:
            raise ValueError(f"{op} needs `value`")
        _operand(self.value, kind, "value")
        if op == "between":
            if self.value_to is None:
                raise ValueError("between needs `value_to`")
            _operand(self.value_to, kind, "value_to")


def _infer_type(predicate: Predicate) -> ValueType:
    if predicate.operator in RELATIVE_DATE_OPERATORS:
        return "date"
    sample: Scalar | None = predicate.value
    if sample is None and predicate.values:
        sample = predicate.values[0]
    if isinstance(sample, bool):
        return "boolean"
    if isinstance(sample, (int, float)):
        return "number"
    if predicate.operator in ("greater_than", "less_than", "between"):
        return "date" if isinstance(sample, str) else "number"
    return "string"


def _operand(value: Any, kind: str, name: str) -> None:
    if kind == "number":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"`{name}` must be a number")
        if not math.isfinite(value):
            raise ValueError(f"`{name}` must be a finite number")
    elif kind == "boolean":
        if not isinstance(value, bool):
            raise ValueError(f"`{name}` must be true or false")
    elif kind == "date":
        if not isinstance(value, str):
            raise ValueError(f"`{name}` must be an ISO 8601 date or date-time")
        parse_date_operand(value)
    elif not isinstance(value, str):
        raise ValueError(f"`{name}` must be text")
    elif (reason := unstorable_reason(value)) is not None:
        raise ValueError(f"`{name}` {reason}")


def parse_date_operand(value: str) -> datetime | date:
    """A date (`2026-11-24`) or a date-time with its offset (`2026-11-24T10:00:00Z`)."""
    try:
        if len(value) == 10:
            return date.fromisoformat(value)
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise ValueError(f"{value!r} is not an ISO 8601 date or date-time") from exc
    if parsed.tzinfo is None:
        raise ValueError(f"{value!r} needs a time zone offset, for example Z")
    return parsed


class ProfileCondition(Predicate):
    """A built-in profile field (`field`) or a custom property (`property`)."""

    type: Literal["profile"]
    field: str | None = Field(default=None, description="A built-in field, for example `city`.")
    property: PropertyName | None = Field(
        default=None, description="A custom property, for example `plan`."
    )

    @model_validator(mode="after")
    def _valid(self) -> ProfileCondition:
        if (self.field is None) == (self.property is None):
            raise ValueError("give exactly one of `field` (built-in) and `property` (custom)")
        if self.field is not None and self.field not in BUILTIN_FIELDS:
            raise ValueError(f"unknown field {self.field!r}; built-in fields: {BUILTIN_FIELDS}")
        if self.field is not None and self.value_type is not None:
            raise ValueError("`value_type` applies to custom properties only")
        self.check(builtin_type(self.field))
        return self


def builtin_type(field: str | None) -> ValueType | None:
    if field is None:
        return None
    if field in NUMBER_FIELDS:
        return "number"
    if field in DATETIME_FIELDS:
        return "date"
    return "string"


class EventFilter(Predicate):
    """A condition on a property of the event itself (`category equals shoes`)."""

    property: PropertyName

    @model_validator(mode="after")
    def _valid(self) -> EventFilter:
        self.check(None)
        return self


class EventWindow(_Strict):
    """Which events count: all of them, the last N units, between two instants, or since one.
    `since_flow_start` (events since the profile entered the flow) exists only in a flow's
    conditions, where there is such a moment; a segment refuses it."""

    type: Literal["all_time", "in_the_last", "between", "since", "since_flow_start"] = "all_time"
    amount: int | None = Field(default=None, ge=1, le=36500)
    unit: TimeUnit = "days"
    start: AwareDatetime | None = None
    end: AwareDatetime | None = None

    @model_validator(mode="after")
    def _valid(self) -> EventWindow:
        if self.type == "in_the_last" and self.amount is None:
            raise ValueError("an in_the_last window needs `amount`")
        if self.type in ("between", "since") and self.start is None:
            raise ValueError(f"a {self.type} window needs `start`")
        if self.type == "between":
            if self.end is None:
                raise ValueError("a between window needs `end`")
            if self.end < self.start:  # type: ignore[operator]
                raise ValueError("the window's `end` is before its `start`")
        return self


class EventCondition(_Strict):
    """How often someone did an event, or how much its `value` added up to, in a window."""

    type: Literal["event"]
    metric: Annotated[str, StringConstraints(min_length=1, max_length=255)]
    measure: Literal["count", "sum", "average"] = "count"
    operator: Literal["at_least", "at_most", "exactly", "between"] = "at_least"
    value: float = Field(default=1, ge=0)
    value_to: float | None = Field(default=None, ge=0)
    window: EventWindow = Field(default_factory=EventWindow)
    filters: list[EventFilter] = Field(default_factory=list, max_length=MAX_FILTERS)

    @model_validator(mode="after")
    def _valid(self) -> EventCondition:
        if self.operator == "between":
            if self.value_to is None:
                raise ValueError("between needs `value_to`")
            if self.value_to < self.value:
                raise ValueError("`value_to` is below `value`")
        if self.measure == "count" and (
            self.value != int(self.value)
            or (self.value_to is not None and self.value_to != int(self.value_to))
        ):
            raise ValueError("a count compares with whole numbers")
        return self


class SegmentCondition(_Strict):
    """Membership of another segment of the same organization."""

    type: Literal["segment"]
    segment_id: uuid.UUID
    operator: Literal["in", "not_in"] = "in"


class ConsentCondition(_Strict):
    """Whether Herald may send marketing on a channel: an address or number that is set, not
    suppressed and, for SMS, with consent given."""

    type: Literal["consent"]
    channel: Literal["email", "sms"]
    operator: Literal["can_receive", "cannot_receive"] = "can_receive"


Condition = Annotated[
    "Group | ProfileCondition | EventCondition | SegmentCondition | ConsentCondition",
    Field(discriminator="type"),
]


class Group(_Strict):
    type: Literal["group"] = "group"
    match: Literal["all", "any"] = "all"
    negate: bool = Field(default=False, description="Match profiles the group does NOT match.")
    conditions: list[Condition] = Field(default_factory=list, max_length=MAX_CONDITIONS)


class Definition(_Strict):
    """The root group, with the language version."""

    version: Literal[1] = 1
    match: Literal["all", "any"] = "all"
    negate: bool = False
    conditions: list[Condition] = Field(min_length=1, max_length=MAX_CONDITIONS)

    @model_validator(mode="after")
    def _within_limits(self) -> Definition:
        count = _count(self.conditions, depth=1)
        if count > MAX_CONDITIONS:
            raise ValueError(f"a definition holds at most {MAX_CONDITIONS} conditions ({count})")
        return self

    @property
    def root(self) -> Group:
        return Group(match=self.match, negate=self.negate, conditions=self.conditions)


def _count(conditions: list[Any], depth: int) -> int:
    if depth > MAX_DEPTH:
        raise ValueError(f"groups nest at most {MAX_DEPTH} levels deep")
    total = 0
    for condition in conditions:
        if isinstance(condition, Group):
            total += _count(condition.conditions, depth + 1)
        else:
            total += 1
    return total


Group.model_rebuild()
hide_union_tags("group", "profile", "event", "segment", "consent")
Definition.model_rebuild()


def walk(group: Group) -> list[Any]:
    """Every leaf condition under a group, depth first."""
    leaves: list[Any] = []
    for condition in group.conditions:
        if isinstance(condition, Group):
            leaves.extend(walk(condition))
        else:
            leaves.append(condition)
    return leaves


def referenced_segments(definition: Definition) -> set[uuid.UUID]:
    return {c.segment_id for c in walk(definition.root) if isinstance(c, SegmentCondition)}


def is_time_relative(definition: Definition) -> bool:
    """Whether membership can change by the clock alone, without any new data."""
    for leaf in walk(definition.root):
        if isinstance(leaf, ProfileCondition) and leaf.operator in RELATIVE_DATE_OPERATORS:
            return True
        if isinstance(leaf, EventCondition):
            if leaf.window.type == "in_the_last":
                return True
            if any(f.operator in RELATIVE_DATE_OPERATORS for f in leaf.filters):
                return True
    return False


def counts_from_flow_start(definition: Definition) -> bool:
    """Whether an event condition counts from when the profile entered a flow."""
    return any(
        isinstance(c, EventCondition) and c.window.type == "since_flow_start"
        for c in walk(definition.root)
    )


def metric_names(definition: Definition) -> set[str]:
    return {c.metric for c in walk(definition.root) if isinstance(c, EventCondition)}


def uses_profile_data(definition: Definition) -> bool:
    """Whether a profile's own fields or consent matter (not only its events)."""
    return any(isinstance(c, (ProfileCondition, ConsentCondition)) for c in walk(definition.root))
