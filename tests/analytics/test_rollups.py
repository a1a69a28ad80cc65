"""Rollups are exact: the same input replayed twice, or in another order with the pump running in
between (late and out-of-order data), gives the same totals, and those totals equal the measures
computed straight from the raw rows."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from herald.analytics import measures, reports, rollups
from herald.analytics.settings import attribution_settings
from herald.db import Database, utcnow
from herald.messaging import attribution, ledger
from herald.messaging import service as messages
from herald.models import Message
from herald.tenancy import service as tenancy
from tests.factories import OrgFixture, make_org

RAW = messages.RawContent(subject="Hi", html="<p>Hi</p>")
CAMPAIGN = uuid.UUID("0190aaaa-0000-7000-8000-000000000001")
FLOW = uuid.UUID("0190aaaa-0000-7000-8000-000000000002")


@dataclass(frozen=True)
class Send:
    key: str
    email: str
    source: str
    source_id: uuid.UUID | None
    channel_address: str


@dataclass(frozen=True)
class Happening:
    """A message event (kind, at) or an order (kind "order")."""

    name: str
    kind: str
    at: datetime
    key: str = ""
    email: str = ""
    value: float = 0.0
    machine: bool = False


def scenario(now: datetime) -> tuple[list[Send], list[Happening]]:
    base = now.replace(minute=0, second=0, microsecond=0) - timedelta(days=6)
    sends = [
        Send("a-c", "a@gmail.com", "campaign", CAMPAIGN, "a@gmail.com"),
        Send("b-c", "b@outlook.com", "campaign", CAMPAIGN, "b@outlook.com"),
        Send("c-c", "c@gmail.com", "campaign", CAMPAIGN, "c@gmail.com"),
        Send("a-f", "a@gmail.com", "flow", FLOW, "a@gmail.com"),
        Send("d-t", "d@example.com", "transactional", None, "d@example.com"),
    ]
    h = timedelta(hours=1)
    happenings = [
        Happening("sent a-c", "sent", base, key="a-c"),
        Happening("sent b-c", "sent", base, key="b-c"),
        Happening("sent c-c", "sent", base + 10 * h, key="c-c"),
        Happening("sent a-f", "sent", base + 2 * h, key="a-f"),
        Happening("sent d-t", "sent", base + 2 * h, key="d-t"),
        Happening("open a-c", "opened", base + h, key="a-c"),
        Happening("open a-c again", "opened", base + 30 * h, key="a-c"),  # not a new unique
        Happening("proxy open b-c", "opened", base + h, key="b-c", machine=True),
        Happening("click b-c", "clicked", base + 3 * h, key="b-c"),
        Happening("click a-f", "clicked", base + 5 * h, key="a-f"),  # a's last touch: the flow
        Happening("bounce c-c", "bounced", base + 11 * h, key="c-c"),
        Happening("unsub b-c", "unsubscribed", base + 4 * h, key="b-c"),
        Happening("order a", "order", base + 6 * h, email="a@gmail.com", value=30),
        Happening("order b", "order", base + 20 * h, email="b@outlook.com", value=20),
        Happening("order b late", "order", base + 140 * h, email="b@outlook.com", value=99),
        Happening("order e", "order", base + 7 * h, email="e@example.com", value=7),
    ]
    return sends, happenings


def apply_send(database: Database, org: OrgFixture, client: TestClient, send: Send) -> None:
    identified = client.post(
        "/api/identify", json={"email": send.email}, headers=org.public_headers
    )
    assert identified.status_code == 200, identified.text
    with database.transaction() as session:
        messages.queue_email(
            session,
            org.org_id,
            source=send.source,
            source_id=send.source_id,
            idempotency_key=send.key,
            to_address=send.channel_address,
            raw=RAW,
            kick=False,
        )


def apply(database: Database, org: OrgFixture, client: TestClient, happening: Happening) -> None:
    if happening.kind == "order":
        response = client.post(
            "/api/track",
            json={
                "event": "Placed Order",
                "profile": {"email": happening.email},
                "value": happening.value,
                "time": happening.at.isoformat(),
                "unique_id": happening.name,
            },
            headers=org.public_headers,
        )
        assert response.status_code == 202, response.text
        return
    with database.transaction() as session:
        message = session.scalars(
            sa.select(Message).where(
                Message.org_id == org.org_id, Message.idempotency_key == happening.key
            )
        ).one()
        if happening.kind == "sent":
            ledger.set_status(
                session, message, "sent", at=happening.at, provider_event_id=happening.name
            )
        else:
            ledger.record_event(
                session,
                message,
                happening.kind,
                at=happening.at,
                machine=happening.machine,
                provider_event_id=happening.name,
            )


def drain(database: Database) -> None:
    while rollups.process_marks(database):
        pass


def figures(database: Database, org: OrgFixture) -> tuple[dict[str, object], ...]:
    with database.transaction() as session:
        settings = attribution_settings(session, org.org_id)
        span = reports.Period.of_days(
            (utcnow() - timedelta(days=20)).date(), utcnow().date(), reports.ZoneInfo("UTC")
        )
        rows = sorted(
            reports.source_rows(session, org.org_id, span),
            key=lambda r: (r["source"], str(r["source_id"])),
        )
        total = reports.totals(session, org.org_id, span).public()
        unattributed = reports.unattributed_revenue(session, org.org_id, span)
        daily = reports.timeseries(session, org.org_id, "revenue", "day", span)["points"]
        assert settings.conversion_metric == "Placed Order"
    return tuple(rows), total, {"unattributed": unattributed}, {"daily": daily}


def test_replayed_and_reordered_input_gives_the_same_totals_as_the_raw_rows(
    client: TestClient, database: Database
) -> None:
    sends, happenings = scenario(utcnow())
    in_order = make_org("In order")
    for send in sends:
        apply_send(database, in_order, client, send)
    for happening in sorted(happenings, key=lambda h: h.at):
        apply(database, in_order, client, happening)
    drain(database)
    expected = figures(database, in_order)

    # Everything twice (retries), in a shuffled order, the pump running now and then in between.
    shuffled = make_org("Shuffled")
    chance = random.Random(17)
    for send in sends * 2:
        apply_send(database, shuffled, client, send)
    replay = happenings * 2
    chance.shuffle(replay)
    for index, happening in enumerate(replay):
        apply(database, shuffled, client, happening)
        if index % 5 == 0:
            drain(database)
    drain(database)
    assert figures(database, shuffled) == expected

    # A rebuild of the whole range changes nothing either.
    rollups.rebuild(
        database,
        utcnow() - timedelta(days=7),
        utcnow() + timedelta(hours=1),
        org_id=shuffled.org_id,
    )
    assert figures(database, shuffled) == expected

    rows, total, unattributed, _daily = expected
    by_source = {(r["source"], r["source_id"]): r for r in rows}  # type: ignore[index]
    campaign = by_source["campaign", CAMPAIGN]
    flow = by_source["flow", FLOW]
    # a's order went to the flow (last touch); b's first order to the campaign's click; b's late
    # order is past the window and e never got a message: both unattributed.
    assert (campaign["revenue"], campaign["conversions"]) == (20.0, 1)
    assert (flow["revenue"], flow["conversions"]) == (30.0, 1)
    assert unattributed == {"unattributed": 106.0}
    assert campaign["opens_unique"] == 1 and campaign["opens_total"] == 2
    assert campaign["opens_machine"] == 1
    assert (campaign["clicks_unique"], campaign["bounced"], campaign["unsubscribes"]) == (1, 1, 1)
    assert (campaign["sent"], campaign["recipients"]) == (3, 3)
    assert total["revenue"] == 50.0

    # The same numbers straight from the raw rows (the measures module with no rollup).
    with database.transaction() as session:
        raw = measures.message_measures(
            session,
            in_order.org_id,
            measures.keyed_by(in_order.org_id, [Message.source, Message.source_id]),
        )
        credits = attribution.credit_conversions(
            session, in_order.org_id, utcnow() - timedelta(days=30), utcnow() + timedelta(days=1)
        )
    for (source, source_id), measured in raw.items():
        row = by_source[source, source_id]
        for name in measures.COUNTS:
            if name != "conversions":
                assert row[name] == getattr(measured, name), (source, name)
    assert sum(c.value for c in credits if c.message_id is None) == 106.0
    assert sum(c.value for c in credits if c.message_id is not None) == total["revenue"]


def test_a_late_touch_recredits_an_order_already_rolled_up(
    client: TestClient, database: Database
) -> None:
    org = make_org()
    now = utcnow()
    send = Send("late", "late@gmail.com", "campaign", CAMPAIGN, "late@gmail.com")
    apply_send(database, org, client, send)
    apply(
        database,
        org,
        client,
        Happening("order", "order", now - timedelta(days=2), email="late@gmail.com", value=12),
    )
    drain(database)
    assert figures(database, org)[2] == {"unattributed": 12.0}
    # The click happened before the order but is reported only now (a late webhook).
    apply(database, org, client, Happening("click", "clicked", now - timedelta(days=3), key="late"))
    drain(database)
    _rows, total, unattributed, _daily = figures(database, org)
    assert unattributed == {"unattributed": 0.0}
    assert total["revenue"] == 12.0


@pytest.mark.parametrize(
    "zone_name", ["Asia/Kolkata", "Australia/Adelaide", "Asia/Kathmandu", "America/St_Johns"]
)
def test_local_days_of_half_and_quarter_hour_zones_split_at_local_midnight(
    client: TestClient, database: Database, zone_name: str
) -> None:
    """Ten minutes either side of local midnight fall on two local days (the UTC hour holding
    that midnight is split between them), in the pump's rollups and in a rebuild's."""
    org = make_org(f"Zone {zone_name}")
    zone = ZoneInfo(zone_name)
    with database.transaction() as session:
        tenancy.update_organization(session, org.org_id, timezone=zone_name)
    today = utcnow().astimezone(zone).date()
    midnight = datetime.combine(today - timedelta(days=2), time(), tzinfo=zone).astimezone(UTC)
    before, after = midnight - timedelta(minutes=10), midnight + timedelta(minutes=10)
    for key, at in (("late", before), ("early", after)):
        send = Send(key, f"{key}@gmail.com", "campaign", CAMPAIGN, f"{key}@gmail.com")
        apply_send(database, org, client, send)
        apply(database, org, client, Happening(f"sent {key}", "sent", at, key=key))
        apply(database, org, client, Happening(f"click {key}", "clicked", at, key=key))
    apply(
        database,
        org,
        client,
        Happening("order late", "order", before, email="late@gmail.com", value=10),
    )
    apply(
        database,
        org,
        client,
        Happening("order early", "order", after, email="early@gmail.com", value=1),
    )
    first, last = today - timedelta(days=3), today - timedelta(days=2)

    def by_day() -> tuple[object, ...]:
        with database.transaction() as session:
            span = reports.Period.of_days(first, last, zone)
            sent = reports.timeseries(session, org.org_id, "sent", "day", span)["points"]
            revenue = reports.timeseries(session, org.org_id, "revenue", "day", span)["points"]
            hourly = reports.timeseries(session, org.org_id, "sent", "hour", span)["points"]
            events = reports.event_series(session, org.org_id, span, "day")["Placed Order"]
        return (
            [(p["start"].date(), p["value"]) for p in sent],
            [(p["start"].date(), p["value"]) for p in revenue],
            [(p["start"].hour, p["value"]) for p in hourly if p["value"]],
            [(p["start"].date(), p["events"], p["value"]) for p in events],
        )

    expected = (
        [(first, 1.0), (last, 1.0)],
        [(first, 10.0), (last, 1.0)],
        [(23, 1.0), (0, 1.0)],
        [(first, 1, 10.0), (last, 1, 1.0)],
    )
    drain(database)
    assert by_day() == expected
    rollups.rebuild(
        database, midnight - timedelta(days=1), midnight + timedelta(days=1), org.org_id
    )
    assert by_day() == expected
