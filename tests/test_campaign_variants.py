"""A/B tests, recipient-local-time sending, send-time optimization and conversion attribution,
through the API and the worker's steps (pump, decision), on both databases."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from fastapi.testclient import TestClient

from herald.campaigns import fanout, lifecycle, sendtime
from herald.db import Database, utcnow
from herald.messaging import ledger
from herald.messaging import service as messages
from herald.models import CampaignRecipient, Message
from tests.conftest import Backend
from tests.factories import OrgFixture, make_org
from tests.test_campaigns import (
    act,
    campaign_messages,
    city_segment,
    create,
    email_settings,
    get,
    identify,
    make_template,
    ready_campaign,
    recipients,
)
from tests.test_segment import basic


def stats(client: TestClient, org: OrgFixture, campaign_id: str) -> dict[str, Any]:
    response = client.get(f"/api/campaigns/{campaign_id}/stats", headers=org.secret_headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


def record(
    database: Database, message_ids: list[uuid.UUID], kind: str, at: datetime | None = None
) -> None:
    with database.transaction() as session:
        for message_id in message_ids:
            message = session.get(Message, message_id)
            assert message is not None
            ledger.record_event(session, message, kind, at=at)


def ab_test(**overrides: Any) -> dict[str, Any]:
    return {
        "variants": [{"subject": "Alpha {{ profile.first_name }}"}, {"subject": "Beta"}],
        "pool_percent": 40,
        "metric": "open_rate",
        "duration_hours": 2,
        **overrides,
    }


def variant_of(database: Database, campaign_id: str) -> dict[uuid.UUID, str | None]:
    """Each message's recipient variant."""
    with database.transaction() as session:
        rows = session.execute(
            sa.select(CampaignRecipient.message_id, CampaignRecipient.variant).where(
                CampaignRecipient.campaign_id == uuid.UUID(campaign_id),
                CampaignRecipient.message_id.is_not(None),
            )
        )
        return {message_id: variant for message_id, variant in rows}


def test_ab_settings_are_checked(client: TestClient, database: Database) -> None:
    org = make_org()
    template = make_template(database, org)
    bad = client.post(
        "/api/campaigns",
        json={"name": "One", "ab_test": {"variants": [{"subject": "Only"}]}},
        headers=org.secret_headers,
    )
    assert bad.status_code == 422
    assert "variants" in bad.text
    no_default = client.post(
        "/api/campaigns",
        json={"name": "Two", "ab_test": ab_test(fallback="default")},
        headers=org.secret_headers,
    )
    assert no_default.status_code == 422
    assert no_default.json()["error"]["fields"][0]["field"] == "ab_test.default_variant"
    other = make_org("Other")
    foreign = make_template(database, other)
    response = client.post(
        "/api/campaigns",
        json={
            "name": "Three",
            "template_id": template,
            "ab_test": ab_test(variants=[{"subject": "x"}, {"template_id": foreign}]),
        },
        headers=org.secret_headers,
    )
    assert response.status_code == 422
    assert response.json()["error"]["fields"][0]["field"] == "ab_test.variants[1].template_id"
    ok = create(client, org, name="Four", template_id=template, ab_test=ab_test())
    assert [v["key"] for v in ok["ab_test"]["variants"]] == ["A", "B"]
    assert ok["ab_result"] is None
    # Both a send-time test and send-time optimization: refused, and nothing changed.
    clash = client.patch(
        f"/api/campaigns/{ok['id']}",
        json={
            "send_time_optimization": True,
            "ab_test": ab_test(variants=[{"send_delay_minutes": 0}, {"send_delay_minutes": 60}]),
        },
        headers=org.secret_headers,
    )
    assert clash.status_code == 422
    assert clash.json()["error"]["fields"][0]["field"] == "send_time_optimization"
    assert get(client, org, ok["id"])["send_time_optimization"] is False


def test_test_pool_then_fallback_winner_to_the_rest(
    client: TestClient, database: Database, backend: Backend
) -> None:
    org = make_org()
    campaign = ready_campaign(client, database, org, 20, ab_test=ab_test(duration_hours=3))
    cid = campaign["id"]
    preview = act(client, org, cid, "preview", variant="B")
    assert preview.status_code == 200 and preview.json()["subject"] == "Beta"
    assert act(client, org, cid, "preview", variant="C").status_code == 422

    started = act(client, org, cid, "send").json()
    after_snapshot = get(client, org, cid)
    # 40% of 20 in the pool, 4 each; the rest wait for the winner.
    assert after_snapshot["counts"] == {"pending": 8, "waiting": 12}
    decide_at = datetime.fromisoformat(after_snapshot["ab_decide_at"])
    audience_at = datetime.fromisoformat(after_snapshot["audience_at"])
    assert decide_at - audience_at == timedelta(hours=3)
    assert started["status"] == "sending"
    pool = [r for r in recipients(client, org, cid).values() if r["status"] == "pending"]
    assert sorted(r["variant"] for r in pool) == ["A"] * 4 + ["B"] * 4

    fanout.pump(database)
    sent = campaign_messages(database, cid)
    assert len(sent) == 8
    variants = variant_of(database, cid)
    assert {m.subject.split()[0] for m in sent if variants[m.id] == "A"} == {"Alpha"}
    assert {m.subject for m in sent if variants[m.id] == "B"} == {"Beta"}
    assert get(client, org, cid)["status"] == "sending"  # the rest still wait

    # B's group opens more, but 4 a side is far too few to declare anything.
    record(database, [m.id for m in sent if variants[m.id] == "B"][:3], "opened")
    assert fanout.decide_test(database, uuid.UUID(cid), utcnow()) is False  # not due yet
    assert fanout.decide_due_tests(database, decide_at + timedelta(seconds=1)) == 1
    decided = get(client, org, cid)
    result = decided["ab_result"]
    assert result["winner"] == "B" and result["leader"] == "B"
    assert result["significant"] is False
    assert "too few recipients" in result["reason"] and "leading variant B" in result["reason"]
    assert result["values"] == {"A": 0.0, "B": 0.75}
    assert decided["counts"] == {"sent": 8, "pending": 12}
    # Deciding again changes nothing.
    assert fanout.decide_test(database, uuid.UUID(cid), decide_at + timedelta(hours=1)) is False

    fanout.pump(database)
    final = get(client, org, cid)
    assert final["status"] == "sent" and final["counts"] == {"sent": 20}
    everything = campaign_messages(database, cid)
    assert len(everything) == 20 and len({m.profile_id for m in everything}) == 20
    variants = variant_of(database, cid)
    assert sum(1 for v in variants.values() if v == "B") == 16
    figures = stats(client, org, cid)
    assert [(v["variant"], v["recipients"], v["opens_unique"]) for v in figures["variants"]] == [
        ("A", 4, 0),
        ("B", 16, 3),
    ]
    assert figures["opens_unique"] == 3 and figures["recipients"] == 20


def test_a_significant_winner_is_declared(client: TestClient, database: Database) -> None:
    org = make_org()
    test = ab_test(pool_percent=100, metric="click_rate", fallback="default", default_variant="A")
    campaign = ready_campaign(client, database, org, 240, ab_test=test)
    cid = campaign["id"]
    act(client, org, cid, "send")
    fanout.pump(database)
    sent = campaign_messages(database, cid)
    variants = variant_of(database, cid)
    a = [m.id for m in sent if variants[m.id] == "A"]
    b = [m.id for m in sent if variants[m.id] == "B"]
    assert len(a) == len(b) == 120
    record(database, a[:10], "clicked")
    record(database, b[:45], "clicked")
    record(database, b[:45], "clicked")  # a second click by the same person counts once
    decide_at = datetime.fromisoformat(get(client, org, cid)["ab_decide_at"])
    assert fanout.decide_test(database, uuid.UUID(cid), decide_at) is True
    result = get(client, org, cid)["ab_result"]
    assert result["winner"] == "B" and result["significant"] is True
    assert result["values"] == {"A": 10 / 120, "B": 45 / 120}
    assert result["p_values"]["A"] < 0.001
    assert "variant B won" in result["reason"]
    fanout.pump(database)
    assert get(client, org, cid)["status"] == "sent"


def test_send_time_variants_go_at_their_delay(client: TestClient, database: Database) -> None:
    org = make_org()
    test = ab_test(
        variants=[{"send_delay_minutes": 0}, {"send_delay_minutes": 180}], pool_percent=100
    )
    campaign = ready_campaign(client, database, org, 6, ab_test=test)
    cid = campaign["id"]
    started = act(client, org, cid, "send").json()
    begin = datetime.fromisoformat(started["started_at"])
    rows = list(recipients(client, org, cid).values())
    moments = {(r["variant"], datetime.fromisoformat(r["scheduled_for"])) for r in rows}
    assert moments == {("A", begin), ("B", begin + timedelta(minutes=180))}
    fanout.pump(database)
    # Only A's three went; B's wait for their time.
    assert len(campaign_messages(database, cid)) == 3
    decided_at = datetime.fromisoformat(get(client, org, cid)["ab_decide_at"])
    assert decided_at >= begin + timedelta(hours=2, minutes=180)


def test_local_time_sending_with_grace(client: TestClient, database: Database) -> None:
    org = make_org()
    email_settings(client, org)
    zones = {
        "berlin@example.com": "Europe/Berlin",
        "kiritimati@example.com": "Pacific/Kiritimati",
        "la@example.com": "America/Los_Angeles",
        "nowhere@example.com": None,  # the organization's zone (UTC)
    }
    for email, zone in zones.items():
        fields: dict[str, Any] = {"email": email, "location": {"city": "Berlin"}}
        if zone:
            fields["timezone"] = zone
        identify(client, org, **fields)
    segment = city_segment(client, org, "Berlin")
    campaign = create(
        client,
        org,
        name="Local",
        template_id=make_template(database, org),
        include_segment_ids=[segment],
    )
    now = utcnow()
    # Half an hour ago on Berlin's clocks.
    wall = (now - timedelta(minutes=30)).astimezone(ZoneInfo("Europe/Berlin"))
    local_at = wall.replace(tzinfo=None, second=0, microsecond=0)
    neither = act(client, org, campaign["id"], "schedule")
    assert neither.status_code == 422
    long_ago = act(client, org, campaign["id"], "schedule", local_at="2020-01-01T09:00:00")
    assert long_ago.status_code == 422 and "local_at" in long_ago.text
    scheduled = act(
        client,
        org,
        campaign["id"],
        "schedule",
        local_at=local_at.isoformat(),
        grace_minutes=60,
    ).json()
    assert scheduled["status"] == "scheduled"
    assert scheduled["local_send_at"].startswith(local_at.isoformat()[:16])
    with database.transaction() as session:
        assert lifecycle.start_due_campaigns(session) == 1

    def at(zone: str, days: int = 0) -> datetime:
        return (local_at + timedelta(days=days)).replace(tzinfo=ZoneInfo(zone)).astimezone(UTC)

    rows = recipients(client, org, campaign["id"])
    moments = {
        email: datetime.fromisoformat(r["scheduled_for"]) if r["scheduled_for"] else None
        for email, r in rows.items()
    }
    assert moments["berlin@example.com"] is None  # passed 30 minutes ago: within the grace
    # Passed more than an hour ago in Kiritimati (UTC+14): tomorrow at that time.
    assert moments["kiritimati@example.com"] == at("Pacific/Kiritimati", days=1)
    assert moments["la@example.com"] == at("America/Los_Angeles")
    assert moments["nowhere@example.com"] == at("UTC")
    fanout.pump(database)
    [only] = campaign_messages(database, campaign["id"])
    assert only.to_address == "berlin@example.com"


def test_send_time_optimization_picks_each_recipients_hour(
    client: TestClient, database: Database
) -> None:
    org = make_org()
    campaign = ready_campaign(client, database, org, 3, send_time_optimization=True)
    profile_ids = {
        r["email"]: uuid.UUID(r["id"])
        for r in segment_members(client, org, campaign["include_segment_ids"][0])
    }
    engaged = profile_ids["p0@example.com"]
    # p0 opened at the same hour of the week, five hours from now, for six weeks.
    target = (utcnow() + timedelta(hours=5)).replace(minute=0, second=0, microsecond=0)
    with database.transaction() as session:
        for week in range(1, 7):
            message = messages.queue_email(
                session,
                org.org_id,
                source="transactional",
                idempotency_key=f"history-{week}",
                to_profile_id=engaged,
                template_id=uuid.UUID(campaign["template_id"]),
                kick=False,
            )
            ledger.record_event(
                session, message, "opened", at=target - timedelta(weeks=week, minutes=-10)
            )
    started = act(client, org, campaign["id"], "send").json()
    begin = datetime.fromisoformat(started["started_at"])
    rows = recipients(client, org, campaign["id"])
    moments = {email: datetime.fromisoformat(r["scheduled_for"]) for email, r in rows.items()}
    assert moments["p0@example.com"] == target
    for moment in moments.values():
        assert begin <= moment < begin + sendtime.WINDOW
    # With no history of their own, the others follow the organization's pattern: p0's hour.
    assert moments["p1@example.com"] == target
    fanout.pump(database)
    assert campaign_messages(database, campaign["id"]) == []  # nobody's hour has come


def segment_members(client: TestClient, org: OrgFixture, segment_id: str) -> list[dict[str, Any]]:
    response = client.get(f"/api/segments/{segment_id}/members", headers=org.secret_headers)
    assert response.status_code == 200, response.text
    return list(response.json()["data"])


def test_conversions_are_attributed_last_touch_within_five_days(
    client: TestClient, database: Database
) -> None:
    org = make_org()
    campaign = ready_campaign(client, database, org, 3)
    cid = campaign["id"]
    act(client, org, cid, "send")
    fanout.pump(database)
    by_address = {m.to_address: m for m in campaign_messages(database, cid)}
    touch = utcnow() - timedelta(days=20)
    for address in by_address:
        record(database, [by_address[address].id], "opened", at=touch)

    def order(email: str, value: float, after: timedelta) -> None:
        response = client.post(
            "/api/track",
            json={
                "event": "Placed Order",
                "profile": {"email": email},
                "value": value,
                "time": (touch + after).isoformat(),
            },
            headers=org.public_headers,
        )
        assert response.status_code == 202, response.text

    order("p0@example.com", 50, timedelta(days=1))
    order("p0@example.com", 25.5, timedelta(days=2))
    order("p0@example.com", 99, -timedelta(hours=1))  # before the touch
    # p1 clicked another email after this campaign's: that one gets the order.
    with database.transaction() as session:
        other = messages.queue_email(
            session,
            org.org_id,
            source="transactional",
            idempotency_key="other",
            to_profile_id=by_address["p1@example.com"].profile_id,
            template_id=uuid.UUID(campaign["template_id"]),
            kick=False,
        )
        ledger.record_event(session, other, "clicked", at=touch + timedelta(hours=1))
    order("p1@example.com", 70, timedelta(hours=2))
    order("p2@example.com", 40, timedelta(days=6))  # outside the five days
    figures = stats(client, org, cid)
    assert (figures["conversions"], figures["converters"], figures["revenue"]) == (2, 1, 75.5)
    # A sent campaign keeps its metric.
    refused = client.patch(
        f"/api/campaigns/{cid}",
        json={"conversion_metric": "Started Checkout"},
        headers=org.secret_headers,
    )
    assert refused.status_code == 409
    assert stats(client, org, cid)["conversion_metric"] == "Placed Order"


def test_audience_size_counts_what_the_snapshot_would(
    client: TestClient, database: Database
) -> None:
    org = make_org()
    email_settings(client, org)
    for i in range(4):
        identify(client, org, email=f"p{i}@example.com", location={"city": "Berlin"})
    identify(client, org, external_id="no-address", location={"city": "Berlin"})
    identify(client, org, email="vip@example.com", location={"city": "Paris"})
    berlin, paris = city_segment(client, org, "Berlin"), city_segment(client, org, "Paris")
    with database.transaction() as session:
        messages.queue_email(
            session,
            org.org_id,
            source="flow",
            idempotency_key="recently",
            to_address="p0@example.com",
            template_id=uuid.UUID(make_template(database, org)),
            marketing=True,
            kick=False,
        )

    def size(**body: Any) -> Any:
        return client.post("/api/campaigns/audience", json=body, headers=org.secret_headers)

    both = size(include_segment_ids=[berlin, paris]).json()
    assert both == {
        "total": 6,
        "excluded": 0,
        "eligible": 4,
        "skipped": {"no_email": 1, "smart_sending": 1},
    }
    only_berlin = size(
        include_segment_ids=[berlin], exclude_segment_ids=[paris], smart_sending=False
    )
    assert only_berlin.json() == {
        "total": 5,
        "excluded": 0,
        "eligible": 4,
        "skipped": {"no_email": 1},
    }
    assert size(include_segment_ids=[]).status_code == 422
    other = make_org("Other")
    foreign = size(include_segment_ids=[city_segment(client, other, "Berlin")])
    assert foreign.status_code == 422
    assert foreign.json()["error"]["fields"][0]["field"] == "include_segment_ids"
    anonymous = client.post("/api/campaigns/audience", json={"include_segment_ids": [berlin]})
    assert anonymous.status_code == 401


def test_recipients_merged_after_the_snapshot_get_one_email(
    client: TestClient, database: Database
) -> None:
    org = make_org()
    email_settings(client, org)
    old = identify(
        client, org, external_id="old-id", email="old@example.com", location={"city": "Berlin"}
    )
    new = identify(
        client, org, external_id="new-id", email="new@example.com", location={"city": "Berlin"}
    )
    identify(client, org, email="third@example.com", location={"city": "Berlin"})
    segment = city_segment(client, org, "Berlin")
    campaign = create(
        client,
        org,
        name="Merged",
        template_id=make_template(database, org),
        include_segment_ids=[segment],
    )
    act(client, org, campaign["id"], "send")
    assert get(client, org, campaign["id"])["counts"] == {"pending": 3}
    # The same person, it turns out: the old profile merges into the new one.
    aliased = client.post(
        "/v1/alias",
        json={"previousId": "old-id", "userId": "new-id"},
        headers=basic(org.public_key),
    )
    assert aliased.status_code == 200, aliased.text
    assert aliased.json()["merged_profile_ids"] == [old]
    fanout.pump(database)
    sent = campaign_messages(database, campaign["id"])
    assert sorted(m.to_address for m in sent) == ["new@example.com", "third@example.com"]
    assert {str(m.profile_id) for m in sent} >= {new}
    rows = {r["profile_id"]: r for r in recipients(client, org, campaign["id"]).values()}
    assert (rows[old]["status"], rows[old]["skip_reason"]) == ("skipped", "merged")
    final = get(client, org, campaign["id"])
    assert final["status"] == "sent" and final["counts"] == {"sent": 2, "skipped": 1}
    assert stats(client, org, campaign["id"])["sent"] == 2
