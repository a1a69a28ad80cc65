"""The message measures, defined once: what counts as sent, an open, a unique click, ...

Every figure about messages that Herald shows (a campaign's page, a flow's results, the analytics
rollups and reports) is computed here, for any set of ledger messages grouped by any key:

- recipients: messages recorded (`messages` rows created) in the period; sent, delivered: messages
  whose `sent_at` / `delivered_at` falls in the period.
- opens_total, clicks_total: human open and click events in the period (opens from mail privacy
  proxies and prefetchers are `opens_machine`; machine clicks are not counted).
- opens_unique, clicks_unique, bounced (hard), soft_bounced, unsubscribes, complaints: messages
  whose FIRST such event falls in the period. Over all time that is "messages opened at least
  once"; and the unique counts of consecutive periods add up to the unique count of both, which is
  what lets hourly rollups answer any range exactly.
- conversions, revenue: conversion events credited to the messages by the one attribution rule
  (herald.messaging.attribution), counted in the period of the conversion.

Rates divide by `reached` (sent less hard bounces), as mailbox-provider reports do, since many
providers (the outbox, SMTP) never report delivery.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, fields
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, aliased

from herald.models import Message, MessageEvent

# Event kinds counted as "first time this message had one" (unique) and the measure each feeds.
UNIQUE_KINDS = {
    "opened": "opens_unique",
    "clicked": "clicks_unique",
    "bounced": "bounced",
    "soft_bounce": "soft_bounced",
    "unsubscribed": "unsubscribes",
    "complained": "complaints",
}
COUNTS = (
    "recipients",
    "sent",
    "delivered",
    "bounced",
    "soft_bounced",
    "opens_unique",
    "opens_total",
    "opens_machine",
    "clicks_unique",
    "clicks_total",
    "unsubscribes",
    "complaints",
    "conversions",
)


@dataclass
class Measures:
    """Counts for a set of messages over a period, and the rates derived from them."""

    recipients: int = 0
    sent: int = 0
    delivered: int = 0
    bounced: int = 0
    soft_bounced: int = 0
    opens_unique: int = 0
    opens_total: int = 0
    opens_machine: int = 0
    clicks_unique: int = 0
    clicks_total: int = 0
    unsubscribes: int = 0
    complaints: int = 0
    conversions: int = 0
    revenue: float = 0.0

    def add(self, other: Measures) -> None:
        for name in (*COUNTS, "revenue"):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    @property
    def reached(self) -> int:
        return max(self.sent - self.bounced, 0)

    def rates(self) -> dict[str, float]:
        def ratio(part: float, whole: float) -> float:
            return round(part / whole, 6) if whole else 0.0

        return {
            "open_rate": ratio(self.opens_unique, self.reached),
            "click_rate": ratio(self.clicks_unique, self.reached),
            "click_to_open_rate": ratio(self.clicks_unique, self.opens_unique),
            "bounce_rate": ratio(self.bounced + self.soft_bounced, self.sent),
            "unsubscribe_rate": ratio(self.unsubscribes, self.reached),
            "complaint_rate": ratio(self.complaints, self.reached),
            "conversion_rate": ratio(self.conversions, self.reached),
            "revenue_per_recipient": ratio(self.revenue, self.recipients),
        }

    def public(self) -> dict[str, Any]:
        """Counts, revenue rounded to cents, and rates, as the API shows them."""
        figures: dict[str, Any] = asdict(self)
        figures["revenue"] = round(self.revenue, 2)
        return {**figures, **self.rates()}

    @classmethod
    def from_row(cls, row: Any) -> Measures:
        """From a row with a column per measure (a rollup row, or sums of one)."""
        mapping = row._mapping if hasattr(row, "_mapping") else row
        figures = cls()
        for f in fields(cls):
            value = mapping[f.name] or 0
            setattr(figures, f.name, float(value) if f.name == "revenue" else int(value))
        return figures


Key = tuple[Any, ...]


def message_measures(
    session: Session,
    org_id: uuid.UUID,
    keyed: Any,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
) -> dict[Key, Measures]:
    """Measures (without conversions: see `add_conversions`) of the messages that `keyed`
    selects, per key. `keyed` selects a message id first (labelled `message_id`), then the key's
    columns: e.g. `select(Message.id.label("message_id"), Message.channel, Message.source)`
    scoped to the organization, or a campaign's recipients with their A/B variant. `start` and
    `end` bound the period (either may be None: unbounded)."""
    scope = keyed.subquery("scope")
    key_columns = [c for c in scope.c if c.name != "message_id"]
    result: dict[Key, Measures] = defaultdict(Measures)

    def within(column: Any) -> list[sa.ColumnElement[bool]]:
        bounds: list[sa.ColumnElement[bool]] = []
        if start is not None:
            bounds.append(column >= start)
        if end is not None:
            bounds.append(column < end)
        return bounds

    # One query per timestamp, each bounded by its own range (an index on (org_id, column)).
    for name, column in (
        ("recipients", Message.created_at),
        ("sent", Message.sent_at),
        ("delivered", Message.delivered_at),
    ):
        rows = session.execute(
            sa.select(*key_columns, sa.func.count())
            .select_from(scope)
            .join(Message, Message.id == scope.c.message_id)
            .where(Message.org_id == org_id, column.is_not(None), *within(column))
            .group_by(*key_columns)
        )
        for *key, count in rows:
            setattr(result[tuple(key)], name, int(count))

    events = session.execute(
        sa.select(*key_columns, MessageEvent.kind, MessageEvent.machine, sa.func.count())
        .select_from(scope)
        .join(MessageEvent, MessageEvent.message_id == scope.c.message_id)
        .where(
            MessageEvent.org_id == org_id,
            MessageEvent.kind.in_(("opened", "clicked")),
            *within(MessageEvent.at),
        )
        .group_by(*key_columns, MessageEvent.kind, MessageEvent.machine)
    )
    for *key, kind, machine, count in events:
        figures = result[tuple(key)]
        if kind == "clicked":
            figures.clicks_total += 0 if machine else int(count)
        elif machine:
            figures.opens_machine += int(count)
        else:
            figures.opens_total += int(count)

    earlier = aliased(MessageEvent)
    first_in_period: list[sa.ColumnElement[bool]] = []
    if start is not None:
        first_in_period.append(
            ~sa.exists().where(
                earlier.message_id == MessageEvent.message_id,
                earlier.kind == MessageEvent.kind,
                earlier.machine.is_(False),
                earlier.at < start,
            )
        )
    uniques = session.execute(
        sa.select(
            *key_columns,
            MessageEvent.kind,
            sa.func.count(sa.distinct(MessageEvent.message_id)),
        )
        .select_from(scope)
        .join(MessageEvent, MessageEvent.message_id == scope.c.message_id)
        .where(
            MessageEvent.org_id == org_id,
            MessageEvent.kind.in_(tuple(UNIQUE_KINDS)),
            MessageEvent.machine.is_(False),
            *within(MessageEvent.at),
            *first_in_period,
        )
        .group_by(*key_columns, MessageEvent.kind)
    )
    for *key, kind, count in uniques:
        setattr(result[tuple(key)], UNIQUE_KINDS[kind], int(count))
    return dict(result)


def per_message(
    session: Session, org_id: uuid.UUID, message_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, Measures]:
    """Each message's own measures over all time (a message without any has none): what a
    list of messages (a campaign's recipients, a profile's timeline) shows beside each one."""
    if not message_ids:
        return {}
    keyed = sa.select(Message.id.label("message_id"), Message.id).where(
        Message.org_id == org_id, Message.id.in_(list(message_ids))
    )
    return {key[0]: figures for key, figures in message_measures(session, org_id, keyed).items()}


def add_conversions(
    result: dict[Key, Measures],
    conversions: Iterable[tuple[Key, float]],
) -> None:
    """Add credited conversions, each given as (its message's key, its value)."""
    for key, value in conversions:
        figures = result.setdefault(key, Measures())
        figures.conversions += 1
        figures.revenue += value


def total(measures: Iterable[Measures]) -> Measures:
    summed = Measures()
    for figures in measures:
        summed.add(figures)
    return summed


def sum_columns(model: Any) -> list[sa.Label[Any]]:
    """`sum(column) AS name` for every measure: how reports add up rollup rows."""
    return [
        sa.func.coalesce(sa.func.sum(getattr(model, name)), 0).label(name)
        for name in (*COUNTS, "revenue")
    ]


def keyed_by(
    org_id: uuid.UUID,
    columns: Sequence[Any],
    where: sa.ColumnElement[bool] | None = None,
) -> Any:
    """The organization's messages (matching `where`) keyed by some of their own columns."""
    query = sa.select(Message.id.label("message_id"), *columns).where(Message.org_id == org_id)
    return query if where is None else query.where(where)
