"""The one attribution rule: which message, if any, a conversion is credited to.

Last touch: a conversion event (an event of the conversion metric, "Placed Order" unless said
otherwise) is credited to the message whose touch came last before it, when that touch was within
ATTRIBUTION_WINDOW. A touch is a person's human open or any click of any of the organization's
messages, whatever sent it (a campaign, a flow, the transactional API) and on any channel. So an
order is credited once, to one message, and the credits of all sources add up to the attributed
revenue. Campaigns and flows call `attributed_conversions`; analytics' rollups call
`credit_conversions`, which applies the same rule to every conversion of a period and says which
revenue no message earned.
"""

from __future__ import annotations

import bisect
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from herald.models import Event, Message, MessageEvent, RetainedConversion

ATTRIBUTION_WINDOW = timedelta(days=5)
DEFAULT_CONVERSION_METRIC = "Placed Order"


@dataclass(frozen=True)
class Conversion:
    """A conversion event and the message it is credited to."""

    event_id: uuid.UUID
    profile_id: uuid.UUID
    time: datetime
    value: float
    message_id: uuid.UUID


def touched() -> sa.ColumnElement[bool]:
    """A message event that counts as a touch: a human open or any click."""
    return sa.or_(
        MessageEvent.kind == "clicked",
        sa.and_(MessageEvent.kind == "opened", MessageEvent.machine.is_(False)),
    )


def attributed_conversions(
    session: Session,
    org_id: uuid.UUID,
    credited: sa.ColumnElement[bool],
    *,
    metric: str = DEFAULT_CONVERSION_METRIC,
    window: timedelta = ATTRIBUTION_WINDOW,
) -> list[Conversion]:
    """The conversions credited to the messages that match `credited` (a condition on Message:
    one campaign's, one flow's, ...), each with the message it is credited to."""
    first_touch = session.scalar(
        sa.select(sa.func.min(MessageEvent.at))
        .select_from(MessageEvent)
        .join(Message, Message.id == MessageEvent.message_id)
        .where(
            MessageEvent.org_id == org_id,
            Message.org_id == org_id,
            Message.profile_id.is_not(None),
            credited,
            touched(),
        )
    )
    if first_touch is None:
        return []
    people = sa.select(Message.profile_id).where(Message.org_id == org_id, credited).distinct()
    conversions = _credit(
        session,
        org_id,
        first_touch,
        None,
        metric=metric,
        profiles=people,
        window=window,
        credited=credited,
    )
    return [
        Conversion(c.event_id, c.profile_id, c.time, c.value, c.message_id)
        for c in conversions
        if c.message_id is not None and c.matched
    ]


@dataclass(frozen=True)
class Credit:
    """A conversion event and the message it is credited to, or None when no touch earned it."""

    event_id: uuid.UUID
    profile_id: uuid.UUID
    time: datetime
    value: float
    message_id: uuid.UUID | None
    # The message matches the `credited` condition given to _credit (always True without one).
    matched: bool = True


def credit_conversions(
    session: Session,
    org_id: uuid.UUID,
    start: datetime,
    end: datetime,
    *,
    metric: str = DEFAULT_CONVERSION_METRIC,
    window: timedelta = ATTRIBUTION_WINDOW,
) -> list[Credit]:
    """Every conversion event in [start, end), each with the message credited by the rule above,
    or None (unattributed revenue). Analytics' rollups call this for one hour at a time."""
    return _credit(session, org_id, start, end, metric=metric, window=window)


def _credit(
    session: Session,
    org_id: uuid.UUID,
    start: datetime,
    end: datetime | None,
    *,
    metric: str,
    window: timedelta,
    profiles: sa.Select[uuid.UUID | None] | None = None,
    credited: sa.ColumnElement[bool] | None = None,
) -> list[Credit]:
    """The rule itself: each conversion event (of `metric`, in [start, end), of `profiles` when
    given) goes to the person's last touch at or before it, when that touch is within `window`.
    At the same instant the message with the greater id wins, whichever source asks, so no order
    is credited twice. Conversion events that retention pruned from the events table count from
    where it kept them (herald.retention), so figures are the same after pruning as before."""
    events: list[tuple[uuid.UUID, uuid.UUID, datetime, float | None]] = []
    for table in (Event, RetainedConversion):
        where = [table.org_id == org_id, table.name == metric, table.time >= start]
        if end is not None:
            where.append(table.time < end)
        if profiles is not None:
            where.append(table.profile_id.in_(profiles))
        events.extend(
            (row[0], row[1], row[2], row[3])
            for row in session.execute(
                sa.select(table.id, table.profile_id, table.time, table.value).where(*where)
            )
        )
    if not events:
        return []
    people = list({profile_id for _id, profile_id, _time, _value in events})
    earliest = min(time for _id, _profile, time, _value in events) - window
    latest = max(time for _id, _profile, time, _value in events)
    matches: sa.ColumnElement[bool] = sa.true() if credited is None else credited
    # Each person's touches in time order: (when, message id, whether it matches `credited`).
    timeline: dict[uuid.UUID, list[tuple[datetime, uuid.UUID, bool]]] = defaultdict(list)
    for chunk_start in range(0, len(people), _CHUNK):
        touches = session.execute(
            sa.select(Message.profile_id, MessageEvent.at, Message.id, matches)
            .select_from(MessageEvent)
            .join(Message, Message.id == MessageEvent.message_id)
            .where(
                MessageEvent.org_id == org_id,
                Message.org_id == org_id,
                Message.profile_id.in_(people[chunk_start : chunk_start + _CHUNK]),
                MessageEvent.at >= earliest,
                MessageEvent.at <= latest,
                touched(),
            )
        )
        for person, at, message_id, matched in touches:
            assert person is not None
            timeline[person].append((at, message_id, bool(matched)))
    for entries in timeline.values():
        entries.sort(key=lambda entry: (entry[0], str(entry[1])))
    times = {person: [at for at, _m, _matched in entries] for person, entries in timeline.items()}
    credits = []
    for event_id, profile_id, time, value in events:
        entries = timeline.get(profile_id, [])
        index = bisect.bisect_right(times.get(profile_id, []), time) - 1
        credit: tuple[uuid.UUID | None, bool] = (None, False)
        if index >= 0 and time - entries[index][0] <= window:
            credit = (entries[index][1], entries[index][2])
        credits.append(Credit(event_id, profile_id, time, float(value or 0), *credit))
    return credits


# People per query: well under SQLite's limit on bound parameters.
_CHUNK = 5000
