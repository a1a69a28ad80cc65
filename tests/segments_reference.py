"""A pure-Python reference evaluator of segment definitions, for the property-based tests.

It implements the documented comparison rules on plain rows, independently of the SQL compiler
(herald/segments/compiler.py), which it deliberately does not import: only the Pydantic models of
the definition language are shared. tests/test_segments_property.py checks that both databases
return exactly the members this evaluator computes.

Rows are plain mappings shaped like the ORM tables, so that the tests can insert the very same
dicts:

- profiles: the `Profile` columns (`id`, `email`, `phone`, ..., `latitude`, `created_at`,
  `properties`, `merged_into_id`);
- events: `profile_id`, `name`, `time`, `value`, `properties`;
- suppressions: `channel`, `address`;
- consents: `profile_id`, `channel`, `granted`.

All rows belong to the organization being evaluated.

The rules, in short:

- Every leaf is two-valued; a group is AND (`all`) or OR (`any`) of its conditions (an empty `all`
  matches everyone, an empty `any` no one), then optionally negated.
- `not_equals`, `not_contains` and `not_in` are "not the positive operator": they match a value
  that is not set.
- A custom property compares by its text form: strings as they are, integers as written, booleans
  as 'true'/'false'; a missing key or JSON null is not set. Text comparisons are case-sensitive.
- `number`: a text form that is a decimal number (-?digits[.digits], nothing else) compares
  numerically; any other never matches. Built-in latitude/longitude are numbers.
- `date` (custom): the first 10 characters when they look like YYYY-MM-DD, compared as that
  calendar day (operands with a time are converted to their UTC day). Relative operators count in
  UTC days from `now`; `anniversary_within N` matches the MM-DD of today..today+N (UTC).
- Built-in created_at/updated_at compare as instants: relative operators use the exact `now`,
  a bare date operand means its UTC midnight, except that `equals` a bare date means that UTC day.
- Events: count / sum (NULL values as 0) / average (NULL values ignored; no values, no match) of
  the metric's events in the window that match every filter; profiles without such events have
  count 0 and sum 0. Windows: in_the_last = [now - N, now], since = [start, now],
  between = [start, end], all_time = every event (future ones included). All bounds inclusive.
- Segment conditions evaluate the other segment's definition; consent as documented in
  `_consent`. Only live profiles (`merged_into_id` unset) are members.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from fractions import Fraction
from typing import Any

from herald.segments.definition import (
    ConsentCondition,
    Definition,
    EventCondition,
    EventFilter,
    Group,
    Predicate,
    ProfileCondition,
    SegmentCondition,
)

Row = Mapping[str, Any]

_DECIMAL = re.compile(r"-?[0-9]+(\.[0-9]+)?")  # used with fullmatch: the whole text
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")  # used with match: a prefix
_POSITIVE = {"not_equals": "equals", "not_contains": "contains", "not_in": "in"}
_RELATIVE = {"in_the_last", "more_than_ago", "in_the_next", "anniversary_within"}
_NUMBER_FIELDS = {"latitude", "longitude"}
_INSTANT_FIELDS = {"created_at", "updated_at"}
_SECONDS = {"minutes": 60, "hours": 3600, "days": 86400, "weeks": 7 * 86400}


def reference_members(
    definition: Definition,
    profiles: Iterable[Row],
    events: Iterable[Row],
    suppressions: Iterable[Row],
    consents: Iterable[Row],
    segments: Mapping[uuid.UUID, Definition],
    now: datetime,
) -> set[uuid.UUID]:
    """The ids of the live profiles that `definition` matches."""
    events_by_profile: dict[uuid.UUID, list[Row]] = {}
    for event in events:
        events_by_profile.setdefault(event["profile_id"], []).append(event)
    suppressed = {(row["channel"], row["address"]) for row in suppressions}
    consent = {(row["profile_id"], row["channel"]): bool(row["granted"]) for row in consents}
    members = set()
    for profile in profiles:
        if profile.get("merged_into_id") is not None:
            continue
        evaluator = _Evaluator(
            profile, events_by_profile.get(profile["id"], []), suppressed, consent, segments, now
        )
        if evaluator.group(definition.match, definition.negate, definition.conditions):
            members.add(profile["id"])
    return members


class _Evaluator:
    """Evaluates conditions for one profile."""

    def __init__(
        self,
        profile: Row,
        events: Sequence[Row],
        suppressed: set[tuple[str, str]],
        consent: Mapping[tuple[uuid.UUID, str], bool],
        segments: Mapping[uuid.UUID, Definition],
        now: datetime,
    ) -> None:
        self.profile = profile
        self.events = events
        self.suppressed = suppressed
        self.consent = consent
        self.segments = segments
        self.now = now

    def group(self, match: str, negate: bool, conditions: Sequence[Any]) -> bool:
        results = [self.condition(c) for c in conditions]
        result = all(results) if match == "all" else any(results)
        return not result if negate else result

    def condition(self, condition: Any) -> bool:
        if isinstance(condition, Group):
            return self.group(condition.match, condition.negate, condition.conditions)
        if isinstance(condition, ProfileCondition):
            if condition.field is not None:
                return _builtin(
                    condition, condition.field, self.profile.get(condition.field), self.now
                )
            assert condition.property is not None
            raw = (self.profile.get("properties") or {}).get(condition.property)
            return _custom(condition, text_form(raw), self.now)
        if isinstance(condition, EventCondition):
            return self._event(condition)
        if isinstance(condition, SegmentCondition):
            other = self.segments[condition.segment_id]
            inside = self.group(other.match, other.negate, other.conditions)
            return inside if condition.operator == "in" else not inside
        if isinstance(condition, ConsentCondition):
            allowed = self._consent(condition.channel)
            return allowed if condition.operator == "can_receive" else not allowed
        raise TypeError(f"unknown condition {condition!r}")

    def _consent(self, channel: str) -> bool:
        """email: an address, not suppressed, consent not withdrawn. sms: a number, not
        suppressed, consent given expressly."""
        address = self.profile.get("email" if channel == "email" else "phone")
        if address is None or (channel, address) in self.suppressed:
            return False
        given = self.consent.get((self.profile["id"], channel))
        if channel == "email":
            return given is not False
        return given is True

    def _event(self, condition: EventCondition) -> bool:
        chosen = [
            event
            for event in self.events
            if event["name"] == condition.metric
            and _in_window(condition, event["time"], self.now)
            and all(_event_filter(f, event, self.now) for f in condition.filters)
        ]
        measured: Fraction | None
        if condition.measure == "count":
            measured = Fraction(len(chosen))
        elif condition.measure == "sum":
            measured = sum(
                (Fraction(e["value"]) for e in chosen if e["value"] is not None), Fraction(0)
            )
        else:
            values = [Fraction(e["value"]) for e in chosen if e["value"] is not None]
            if not values:
                return False
            measured = sum(values, Fraction(0)) / len(values)
        low = Fraction(condition.value)
        if condition.operator == "at_least":
            return measured >= low
        if condition.operator == "at_most":
            return measured <= low
        if condition.operator == "exactly":
            return measured == low
        assert condition.value_to is not None
        return low <= measured <= Fraction(condition.value_to)


def _in_window(condition: EventCondition, moment: datetime, now: datetime) -> bool:
    window = condition.window
    if window.type == "all_time":
        return True
    if window.type == "in_the_last":
        assert window.amount is not None
        return now - _span(window.amount, window.unit) <= moment <= now
    assert window.start is not None
    if window.type == "since":
        return window.start <= moment <= now
    assert window.end is not None
    return window.start <= moment <= window.end


def _event_filter(event_filter: EventFilter, event: Row, now: datetime) -> bool:
    raw = (event.get("properties") or {}).get(event_filter.property)
    return _custom(event_filter, text_form(raw), now)


def _span(amount: int, unit: str) -> timedelta:
    return timedelta(seconds=amount * _SECONDS[unit])


# --- values ----------------------------------------------------------------------------------


def text_form(value: Any) -> str | None:
    """A JSON scalar's text form: what a custom property compares as."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        # Short decimals only (12.5): repr is then what both databases write too.
        return repr(value)
    if isinstance(value, str):
        return value
    raise TypeError(f"not a scalar: {value!r}")


def _kind(predicate: Predicate) -> str:
    """The declared value type, else the one the operand suggests."""
    if predicate.value_type is not None:
        return predicate.value_type
    if predicate.operator in _RELATIVE:
        return "date"
    sample = predicate.value
    if sample is None and predicate.values:
        sample = predicate.values[0]
    if isinstance(sample, bool):
        return "boolean"
    if isinstance(sample, (int, float)):
        return "number"
    if predicate.operator in ("greater_than", "less_than", "between") and isinstance(sample, str):
        return "date"
    return "string"


def _negative(predicate: Predicate, value: Any, positive: Callable[[str], bool]) -> bool | None:
    """The shared part of every comparison: negative operators and is_set / is_not_set."""
    operator = predicate.operator
    if operator in _POSITIVE:
        return not positive(_POSITIVE[operator])
    if operator == "is_set":
        return value is not None
    if operator == "is_not_set":
        return value is None
    return None


def _custom(predicate: Predicate, text: str | None, now: datetime) -> bool:
    """A custom or event property given as its text form."""

    def positive(operator: str) -> bool:
        if text is None:
            return False
        kind = _kind(predicate)
        if kind == "string":
            return _text(operator, predicate, text)
        if kind == "boolean":
            return text == ("true" if predicate.value else "false")
        if kind == "number":
            if not _DECIMAL.fullmatch(text):
                return False
            return _ordered(operator, predicate, float(text), float)
        if not _DAY.match(text):
            return False
        return _day(operator, predicate, text[:10], now)

    decided = _negative(predicate, text, positive)
    return positive(predicate.operator) if decided is None else decided


def _builtin(predicate: Predicate, field: str, value: Any, now: datetime) -> bool:
    def positive(operator: str) -> bool:
        if value is None:
            return False
        if field in _NUMBER_FIELDS:
            return _ordered(operator, predicate, float(value), float)
        if field in _INSTANT_FIELDS:
            return _instant(operator, predicate, value, now)
        return _text(operator, predicate, value)

    decided = _negative(predicate, value, positive)
    return positive(predicate.operator) if decided is None else decided


def _text(operator: str, predicate: Predicate, text: str) -> bool:
    operand = predicate.value
    if operator == "equals":
        return text == operand
    if operator == "in":
        return text in [str(v) for v in predicate.values or []]
    assert isinstance(operand, str)
    if operator == "contains":
        return operand in text
    if operator == "starts_with":
        return text.startswith(operand)
    if operator == "ends_with":
        return text.endswith(operand)
    raise AssertionError(f"{operator} on text")


def _ordered(
    operator: str, predicate: Predicate, value: Any, convert: Callable[[Any], Any]
) -> bool:
    if operator == "in":
        return any(value == convert(v) for v in predicate.values or [])
    low = convert(predicate.value)
    if operator == "equals":
        return bool(value == low)
    if operator == "greater_than":
        return bool(value > low)
    if operator == "less_than":
        return bool(value < low)
    if operator == "between":
        return bool(low <= value <= convert(predicate.value_to))
    raise AssertionError(f"{operator} on an ordered value")


def _operand(value: Any) -> date | datetime:
    text = str(value)
    if len(text) == 10:
        return date.fromisoformat(text)
    return datetime.fromisoformat(text)


def _operand_day(value: Any) -> str:
    parsed = _operand(value)
    if isinstance(parsed, datetime):
        return parsed.astimezone(UTC).date().isoformat()
    return parsed.isoformat()


def _operand_instant(value: Any) -> datetime:
    parsed = _operand(value)
    if isinstance(parsed, datetime):
        return parsed
    return datetime.combine(parsed, time(), tzinfo=UTC)


def _anniversaries(now: datetime, days: int) -> set[str]:
    today = now.astimezone(UTC).date()
    return {(today + timedelta(days=n)).strftime("%m-%d") for n in range(days + 1)}


def _day(operator: str, predicate: Predicate, day: str, now: datetime) -> bool:
    """A 'YYYY-MM-DD' day (as written, maybe not a real date) compared by calendar day."""
    today = now.astimezone(UTC).date().isoformat()
    if operator in _RELATIVE:
        assert predicate.amount is not None
        if operator == "anniversary_within":
            return day[5:10] in _anniversaries(now, predicate.amount)
        span = _span(predicate.amount, predicate.unit)
        back = (now - span).astimezone(UTC).date().isoformat()
        ahead = (now + span).astimezone(UTC).date().isoformat()
        if operator == "in_the_last":
            return back <= day <= today
        if operator == "more_than_ago":
            return day < back
        return today <= day <= ahead
    return _ordered(operator, predicate, day, _operand_day)


def _instant(operator: str, predicate: Predicate, moment: datetime, now: datetime) -> bool:
    """A built-in timestamp, compared as an instant."""
    if operator in _RELATIVE:
        assert predicate.amount is not None
        if operator == "anniversary_within":
            return moment.astimezone(UTC).strftime("%m-%d") in _anniversaries(now, predicate.amount)
        span = _span(predicate.amount, predicate.unit)
        if operator == "in_the_last":
            return now - span <= moment <= now
        if operator == "more_than_ago":
            return moment < now - span
        return now <= moment <= now + span
    if operator == "equals" and not isinstance(_operand(predicate.value), datetime):
        start = _operand_instant(predicate.value)
        return start <= moment < start + timedelta(days=1)
    return _ordered(operator, predicate, moment, _operand_instant)
