"""Compile a segment definition into one SQL query over profiles, the same on SQLite and
PostgreSQL.

Every event condition becomes a LEFT JOIN to one grouped subquery over the events of its metric
and window (count, sum and average per profile), so a full computation is a handful of hash joins
rather than a correlated lookup per profile; when only some profiles are evaluated, their ids are
pushed into each subquery so the (org, profile, name, time) index does the work. Every leaf is
two-valued (never SQL NULL), so negation means exactly "does not match".

The comparison rules written in docs/segments.md are implemented here and mirrored by the
reference evaluator in tests/segments_reference.py.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from herald.db import json_text, month_day, text_contains
from herald.errors import InvalidInput
from herald.messaging.consent import may_receive_clause
from herald.models import Event, Profile
from herald.segments.definition import (
    ISO_DATE_PREFIX,
    NEGATIVE_OPERATORS,
    NUMERIC_TEXT,
    ConsentCondition,
    Definition,
    EventCondition,
    EventWindow,
    Group,
    Predicate,
    ProfileCondition,
    SegmentCondition,
    builtin_type,
    duration,
    parse_date_operand,
)

Bool = ColumnElement[bool]
# Looks up another segment's definition in the same organization (None when there is none).
SegmentLoader = Callable[[uuid.UUID], Definition | None]


def members_query(
    definition: Definition,
    org_id: uuid.UUID,
    now: datetime,
    load_segment: SegmentLoader,
    profile_ids: Sequence[uuid.UUID] | sa.BindParameter[Any] | None = None,
    flow_start: datetime | None = None,
) -> sa.Select[Any]:
    """SELECT the ids of the organization's live profiles the definition matches, optionally
    only among `profile_ids` (a list, or an expanding bind parameter to fill in later).
    `flow_start` anchors the window `since_flow_start` (a flow's enrolments give it)."""
    compiler = _Compiler(org_id, now, load_segment, profile_ids, flow_start=flow_start)
    predicate = compiler.group(definition.root)
    source: sa.FromClause = Profile.__table__
    for subquery, onclause in compiler.joins:
        source = source.outerjoin(subquery, onclause)
    query = (
        sa.select(Profile.id)
        .select_from(source)
        .where(Profile.org_id == org_id, Profile.merged_into_id.is_(None), predicate)
    )
    if profile_ids is not None:
        query = query.where(Profile.id.in_(profile_ids))
    return query


def check_references(
    definition: Definition, own_id: uuid.UUID | None, load_segment: SegmentLoader
) -> None:
    """Refuse a definition that names a missing segment or would include itself."""
    _Compiler(uuid.UUID(int=0), datetime.now(UTC), load_segment, None, own_id).group(
        definition.root
    )


def definite(expression: Bool) -> Bool:
    """SQL's unknown (NULL) as false, so that NOT flips every profile's answer."""
    return sa.func.coalesce(expression, sa.false())


@dataclass
class _Compiler:
    org_id: uuid.UUID
    now: datetime
    load_segment: SegmentLoader
    profile_ids: Sequence[uuid.UUID] | sa.BindParameter[Any] | None
    own_id: uuid.UUID | None = None
    flow_start: datetime | None = None
    joins: list[tuple[sa.Subquery, Bool]] = field(default_factory=list)
    visiting: list[uuid.UUID] = field(default_factory=list)

    def group(self, group: Group) -> Bool:
        parts = [self.condition(condition) for condition in group.conditions]
        if not parts:
            combined: Bool = sa.true() if group.match == "all" else sa.false()
        elif group.match == "all":
            combined = sa.and_(*parts)
        else:
            combined = sa.or_(*parts)
        return sa.not_(combined) if group.negate else combined

    def condition(self, condition: Any) -> Bool:
        if isinstance(condition, Group):
            return self.group(condition)
        if isinstance(condition, ProfileCondition):
            return self.profile(condition)
        if isinstance(condition, EventCondition):
            return self.event(condition)
        if isinstance(condition, SegmentCondition):
            return self.segment(condition)
        if isinstance(condition, ConsentCondition):
            return self.consent(condition)
        raise TypeError(f"unknown condition {condition!r}")

    # --- profile fields and properties ---------------------------------------------------------

    def profile(self, condition: ProfileCondition) -> Bool:
        return profile_predicate(condition, self.now)

    # --- events --------------------------------------------------------------------------------

    def event(self, condition: EventCondition) -> Bool:
        name = f"event_{len(self.joins) + 1}"
        where: list[Bool] = [Event.org_id == self.org_id, Event.name == condition.metric]
        where.extend(window_bounds(condition.window, self.now, self.flow_start))
        for event_filter in condition.filters:
            where.append(
                compare_json(
                    event_filter, json_text(Event.properties, event_filter.property), self.now
                )
            )
        if self.profile_ids is not None:
            where.append(Event.profile_id.in_(self.profile_ids))
        subquery = (
            sa.select(
                Event.profile_id.label("profile_id"),
                sa.func.count().label("n"),
                sa.func.sum(sa.func.coalesce(Event.value, 0)).label("total"),
                sa.func.avg(Event.value).label("mean"),
            )
            .where(*where)
            .group_by(Event.profile_id)
            .subquery(name)
        )
        self.joins.append((subquery, subquery.c.profile_id == Profile.id))
        measured: ColumnElement[Any]
        if condition.measure == "count":
            measured = sa.func.coalesce(subquery.c.n, 0)
        elif condition.measure == "sum":
            measured = sa.func.coalesce(subquery.c.total, 0)
        else:  # an average over no events (or none with a value) matches nothing
            measured = subquery.c.mean
        low, high = condition.value, condition.value_to
        if condition.operator == "at_least":
            test = measured >= low
        elif condition.operator == "at_most":
            test = measured <= low
        elif condition.operator == "exactly":
            test = measured == low
        else:
            test = measured.between(low, high)
        return definite(test)

    # --- other segments and consent ------------------------------------------------------------

    def segment(self, condition: SegmentCondition) -> Bool:
        target = condition.segment_id
        if target == self.own_id or target in self.visiting:
            raise InvalidInput.for_field(
                "definition", f"segment {target} would include itself (a cycle)"
            )
        definition = self.load_segment(target)
        if definition is None:
            raise InvalidInput.for_field("definition", f"segment {target} does not exist")
        self.visiting.append(target)
        try:
            included = self.group(definition.root)
        finally:
            self.visiting.pop()
        return included if condition.operator == "in" else sa.not_(included)

    def consent(self, condition: ConsentCondition) -> Bool:
        can_receive = may_receive_clause(condition.channel)
        return can_receive if condition.operator == "can_receive" else sa.not_(can_receive)


def profile_predicate(condition: ProfileCondition, now: datetime) -> Bool:
    """A profile condition on its own, over the profiles table (the profile list filters by it)."""
    if condition.field is not None:
        column = getattr(Profile, condition.field)
        return compare_column(condition, column, builtin_type(condition.field), now)
    assert condition.property is not None
    return compare_json(condition, json_text(Profile.properties, condition.property), now)


def window_bounds(
    window: EventWindow, now: datetime, flow_start: datetime | None = None
) -> list[Bool]:
    if window.type == "in_the_last":
        assert window.amount is not None
        return [Event.time >= now - duration(window.amount, window.unit), Event.time <= now]
    if window.type == "since":
        return [Event.time >= window.start, Event.time <= now]
    if window.type == "between":
        return [Event.time >= window.start, Event.time <= window.end]
    if window.type == "since_flow_start":
        if flow_start is not None:
            return [Event.time >= flow_start, Event.time <= now]
        # Only flows have such a moment; segments refuse the window when it is saved.
        raise InvalidInput.for_field("window", "since_flow_start needs a flow")
    return []


# --- comparisons ---------------------------------------------------------------------------------


def compare_json(predicate: Predicate, text: ColumnElement[str], now: datetime) -> Bool:
    """A custom or event property, given as its text form (`json_text`)."""
    operator = predicate.operator
    if operator in NEGATIVE_OPERATORS:
        positive = predicate.model_copy(update={"operator": NEGATIVE_OPERATORS[operator]})
        return sa.not_(compare_json(positive, text, now))
    if operator == "is_set":
        return text.is_not(None)
    if operator == "is_not_set":
        return text.is_(None)
    kind = predicate.comparison_type(None)
    if kind == "string":
        return definite(_compare_text(predicate, text))
    if kind == "boolean":
        return definite(text == ("true" if predicate.value else "false"))
    if kind == "number":
        number = sa.case((text.regexp_match(NUMERIC_TEXT.pattern), sa.cast(text, sa.Float)))
        return definite(_compare_ordered(predicate, number, float))
    day = sa.case((text.regexp_match(ISO_DATE_PREFIX.pattern), sa.func.substr(text, 1, 10)))
    return definite(_compare_day(predicate, day, now))


def compare_column(
    predicate: Predicate, column: ColumnElement[Any], kind: str | None, now: datetime
) -> Bool:
    """A built-in profile column of the given type."""
    operator = predicate.operator
    if operator in NEGATIVE_OPERATORS:
        positive = predicate.model_copy(update={"operator": NEGATIVE_OPERATORS[operator]})
        return sa.not_(compare_column(positive, column, kind, now))
    if operator == "is_set":
        return column.is_not(None)
    if operator == "is_not_set":
        return column.is_(None)
    if kind == "string":
        return definite(_compare_text(predicate, column))
    if kind == "number":
        return definite(_compare_ordered(predicate, column, float))
    return definite(_compare_instant(predicate, column, now))


def _compare_text(predicate: Predicate, text: ColumnElement[str]) -> Bool:
    operator, value = predicate.operator, predicate.value
    if operator == "equals":
        return text == value
    if operator == "in":
        return text.in_([str(v) for v in predicate.values or []])
    assert isinstance(value, str)
    if operator == "contains":
        return text_contains(text, sa.literal(value, sa.String))
    if operator == "starts_with":
        return sa.func.substr(text, 1, len(value)) == value
    if operator == "ends_with":
        length = sa.func.length(text)
        return sa.and_(length >= len(value), sa.func.substr(text, length - len(value) + 1) == value)
    raise InvalidInput.for_field("operator", f"{operator} does not apply to text")


def _compare_ordered(
    predicate: Predicate, value: ColumnElement[Any], convert: Callable[[Any], Any]
) -> Bool:
    operator = predicate.operator
    if operator == "in":
        return value.in_([convert(v) for v in predicate.values or []])
    low = convert(predicate.value)
    if operator == "equals":
        return cast(Bool, value == low)
    if operator == "greater_than":
        return cast(Bool, value > low)
    if operator == "less_than":
        return cast(Bool, value < low)
    if operator == "between":
        return value.between(low, convert(predicate.value_to))
    raise InvalidInput.for_field("operator", f"{operator} does not apply to this value")


def _utc_day(value: Any) -> str:
    """An operand as the UTC calendar day it falls on, 'YYYY-MM-DD'."""
    parsed = parse_date_operand(value)
    if isinstance(parsed, datetime):
        return parsed.astimezone(UTC).date().isoformat()
    return parsed.isoformat()


def _instant(value: Any) -> datetime:
    """An operand as an instant: a bare date means its midnight in UTC."""
    parsed = parse_date_operand(value)
    if isinstance(parsed, datetime):
        return parsed.astimezone(UTC)
    return datetime.combine(parsed, time(), tzinfo=UTC)


def anniversary_days(now: datetime, within_days: int) -> list[str]:
    """'MM-DD' of today (UTC) and the following `within_days` days."""
    today = now.astimezone(UTC).date()
    return sorted({(today + timedelta(days=n)).strftime("%m-%d") for n in range(within_days + 1)})


def _compare_day(predicate: Predicate, day: ColumnElement[str], now: datetime) -> Bool:
    """A custom date property, compared by calendar day as written ('YYYY-MM-DD...')."""
    operator = predicate.operator
    today = now.astimezone(UTC).date()
    if operator in ("in_the_last", "more_than_ago", "in_the_next"):
        assert predicate.amount is not None
        span = duration(predicate.amount, predicate.unit)
        if operator == "in_the_last":
            return day.between((now - span).date().isoformat(), today.isoformat())
        if operator == "more_than_ago":
            return day < (now - span).date().isoformat()
        return day.between(today.isoformat(), (now + span).date().isoformat())
    if operator == "anniversary_within":
        assert predicate.amount is not None
        return sa.func.substr(day, 6, 5).in_(anniversary_days(now, predicate.amount))
    return _compare_ordered(predicate, day, _utc_day)


def _compare_instant(predicate: Predicate, column: ColumnElement[Any], now: datetime) -> Bool:
    """A built-in timestamp column."""
    operator = predicate.operator
    if operator in ("in_the_last", "more_than_ago", "in_the_next"):
        assert predicate.amount is not None
        span = duration(predicate.amount, predicate.unit)
        if operator == "in_the_last":
            return column.between(now - span, now)
        if operator == "more_than_ago":
            return column < now - span
        return column.between(now, now + span)
    if operator == "anniversary_within":
        assert predicate.amount is not None
        return month_day(column).in_(anniversary_days(now, predicate.amount))
    if operator == "equals":
        start = _instant(predicate.value)
        if isinstance(parse_date_operand(str(predicate.value)), date) and not isinstance(
            parse_date_operand(str(predicate.value)), datetime
        ):
            return sa.and_(column >= start, column < start + timedelta(days=1))
        return column == start
    return _compare_ordered(predicate, column, _instant)
