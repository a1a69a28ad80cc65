"""The one attribution rule: which message, if any, a conversion is credited to.

Last touch: a conversion event (an event of the conversion metric, "Placed Order" unless said
otherwise) is credited to the message whose touch came last before it, when that touch was within
ATTRIBUTION_WINDOW. A touch is a person's human open or any click of any of the organization's
messages, whatever sent it (a campaign, a flow, the transactional API) and on any channel. So an
order is credited once, to one message, and the credits of all sources add up to the attributed
revenue. Campaigns, flows and analytics all call `attributed_conversions`.
"""

from __future__ import annotations

import bisect
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from herald.models import Event, Message, MessageEvent

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
    own = session.execute(
        sa.select(Message.profile_id, MessageEvent.at, Message.id)
        .select_from(MessageEvent)
        .join(Message, Message.id == MessageEvent.message_id)
        .where(
            MessageEvent.org_id == org_id,
            Message.org_id == org_id,
            Message.profile_id.is_not(None),
            credited,
            touched(),
        )
    ).all()
    if not own:
        return []
    first_touch = min(at for _profile, at, _message in own)
    # Each touched person's touches in time order: (when, the credited message or None).
    timeline: dict[uuid.UUID, list[tuple[datetime, uuid.UUID | None]]] = defaultdict(list)
    for person, at, message_id in own:
        assert person is not None
        timeline[person].append((at, message_id))
    people = list(timeline)
    others = session.execute(
        sa.select(Message.profile_id, MessageEvent.at)
        .select_from(MessageEvent)
        .join(Message, Message.id == MessageEvent.message_id)
        .where(
            MessageEvent.org_id == org_id,
            Message.org_id == org_id,
            Message.profile_id.in_(people),
            sa.not_(credited),
            MessageEvent.at >= first_touch,
            touched(),
        )
    )
    for person, at in others:
        assert person is not None
        timeline[person].append((at, None))
    # Sorted by time; at the same instant another message's touch (None) sorts first, so a tie
    # is credited to the matching message.
    for entries in timeline.values():
        entries.sort(key=lambda entry: (entry[0], entry[1] is not None, str(entry[1])))
    times = {
        profile_id: [at for at, _message in entries] for profile_id, entries in timeline.items()
    }
    events = session.execute(
        sa.select(Event.id, Event.profile_id, Event.time, Event.value).where(
            Event.org_id == org_id,
            Event.name == metric,
            Event.time >= first_touch,
            Event.profile_id.in_(people),
        )
    )
    conversions = []
    for event_id, profile_id, time, value in events:
        index = bisect.bisect_right(times[profile_id], time) - 1
        if index < 0:
            continue
        touch_at, credited_id = timeline[profile_id][index]
        if credited_id is not None and time - touch_at <= window:
            conversions.append(
                Conversion(event_id, profile_id, time, float(value or 0), credited_id)
            )
    return conversions
