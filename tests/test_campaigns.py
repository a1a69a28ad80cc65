"""Campaigns through the API and the worker's steps: the audience snapshot and its skip reasons,
fan-out into the ledger, pause / resume / cancel, completion only when every recipient is final,
the pump's idempotency, illegal transitions, preview and test sends, stats, tenancy."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from fastapi.testclient import TestClient

from herald.campaigns import fanout, lifecycle
from herald.db import Database, utcnow
from herald.email.providers.outbox import outbox_path
from herald.messaging import ledger
from herald.messaging import service as messages
from herald.models import (
    Campaign,
    CampaignRecipient,
    EmailTemplate,
    Message,
    MessageEvent,
    Suppression,
)
from tests.conftest import Backend
from tests.factories import OrgFixture, make_org
from tests.queueing import drain, use_real_queue
from tests.tenancy import Endpoint, assert_isolated, assert_management_only


def identify(client: TestClient, org: OrgFixture, **body: Any) -> str:
    response = client.post("/api/identify", json=body, headers=org.public_headers)
    assert response.status_code == 200, response.text
    return str(response.json()["profile_id"])


def city_segment(client: TestClient, org: OrgFixture, city: str) -> str:
    definition = {
        "conditions": [{"type": "profile", "field": "city", "operator": "equals", "value": city}]
    }
    response = client.post(
        "/api/segments", json={"name": city, "definition": definition}, headers=org.secret_headers
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def email_settings(client: TestClient, org: OrgFixture) -> None:
    body = {
        "default_from_email": "shop@acme.example",
        "default_from_name": "Acme",
        "postal_address": "1 Harbour Street, Portsmouth",
    }
    response = client.put("/api/email/settings", json=body, headers=org.secret_headers)
    assert response.status_code == 200, response.text


def make_template(database: Database, org: OrgFixture) -> str:
    with database.transaction() as session:
        template = EmailTemplate(
            org_id=org.org_id,
            name="News",
            kind="marketing",
            subject="News for {{ profile.first_name | default('you') }}",
            body_format="html",
            body="<p>Hi {{ profile.first_name }}</p>",
            compiled_html="<html><body><p>Hi {{ profile.first_name }}</p>"
            '<a href="{{ unsubscribe_url }}">Unsubscribe</a></body></html>',
        )
        session.add(template)
    return str(template.id)


def create(client: TestClient, org: OrgFixture, **fields: Any) -> dict[str, Any]:
    response = client.post("/api/campaigns", json=fields, headers=org.secret_headers)
    assert response.status_code == 201, response.text
    return dict(response.json())


def act(client: TestClient, org: OrgFixture, campaign_id: str, action: str, **body: Any) -> Any:
    return client.post(
        f"/api/campaigns/{campaign_id}/{action}", json=body or None, headers=org.secret_headers
    )


def get(client: TestClient, org: OrgFixture, campaign_id: str) -> dict[str, Any]:
    response = client.get(f"/api/campaigns/{campaign_id}", headers=org.secret_headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


def recipients(client: TestClient, org: OrgFixture, campaign_id: str) -> dict[str, dict]:
    response = client.get(
        f"/api/campaigns/{campaign_id}/recipients",
        params={"limit": 500},
        headers=org.secret_headers,
    )
    assert response.status_code == 200, response.text
    return {r["email"] or r["profile_id"]: r for r in response.json()["data"]}


def campaign_messages(database: Database, campaign_id: str) -> list[Message]:
    with database.transaction() as session:
        return list(
            session.scalars(
                sa.select(Message).where(
                    Message.source == "campaign", Message.source_id == uuid.UUID(campaign_id)
                )
            )
        )


def sent_events(database: Database, message_ids: list[uuid.UUID]) -> dict[uuid.UUID, int]:
    with database.transaction() as session:
        rows = session.execute(
            sa.select(MessageEvent.message_id, sa.func.count())
            .where(MessageEvent.message_id.in_(message_ids), MessageEvent.kind == ledger.SENT)
            .group_by(MessageEvent.message_id)
        )
        return {message_id: count for message_id, count in rows}


def berliners(client: TestClient, org: OrgFixture, count: int) -> list[str]:
    return [
        identify(
            client,
            org,
            email=f"p{i}@example.com",
            first_name=f"P{i}",
            location={"city": "Berlin"},
        )
        for i in range(count)
    ]


def ready_campaign(
    client: TestClient, database: Database, org: OrgFixture, size: int, **fields: Any
) -> dict[str, Any]:
    email_settings(client, org)
    berliners(client, org, size)
    segment = city_segment(client, org, "Berlin")
    return create(
        client,
        org,
        name=fields.pop("name", "Spring"),
        template_id=make_template(database, org),
        include_segment_ids=[segment],
        **fields,
    )


def test_snapshot_skips_with_reasons_and_sends_to_the_rest(
    client: TestClient, database: Database, backend: Backend
) -> None:
    org = make_org()
    email_settings(client, org)
    identify(client, org, email="ok@example.com", first_name="Ok", location={"city": "Berlin"})
    identify(client, org, email="unsub@example.com", location={"city": "Berlin"})
    no_email = identify(client, org, external_id="x-1", location={"city": "Berlin"})
    recent = identify(client, org, email="recent@example.com", location={"city": "Berlin"})
    identify(client, org, email="vip@example.com", location={"city": "Berlin"})
    identify(client, org, email="paris@example.com", location={"city": "Paris"})
    berlin = city_segment(client, org, "Berlin")
    vip_definition = {
        "conditions": [
            {"type": "profile", "field": "email", "operator": "equals", "value": "vip@example.com"}
        ]
    }
    response = client.post(
        "/api/segments",
        json={"name": "VIP", "definition": vip_definition},
        headers=org.secret_headers,
    )
    vip = response.json()["id"]
    template_id = make_template(database, org)
    with database.transaction() as session:
        session.add(
            Suppression(
                org_id=org.org_id,
                channel="email",
                address="unsub@example.com",
                reason="unsubscribe",
                source="test",
            )
        )
        messages.queue_email(
            session,
            org.org_id,
            source="flow",
            idempotency_key="earlier",
            to_profile_id=uuid.UUID(recent),
            template_id=uuid.UUID(template_id),
            marketing=True,
            kick=False,
        )
    campaign = create(
        client,
        org,
        name="Spring",
        template_id=template_id,
        subject="Spring for {{ profile.first_name }}",
        from_name="Spring Team",
        from_email="Spring@Acme.example",
        include_segment_ids=[berlin],
        exclude_segment_ids=[vip],
    )
    assert campaign["status"] == "draft" and campaign["smart_sending"] is True
    # Counted beforehand by the snapshot's own rules, with who is left out and why: the VIP is
    # in the excluded segment, Paris is in no chosen segment.
    body = {
        key: campaign[key]
        for key in (
            "include_segment_ids",
            "exclude_segment_ids",
            "channel",
            "smart_sending",
            "smart_sending_hours",
        )
    }
    audience = client.post("/api/campaigns/audience", json=body, headers=org.secret_headers)
    assert audience.status_code == 200, audience.text
    assert audience.json() == {
        "total": 4,
        "excluded": 1,
        "eligible": 1,
        "skipped": {"suppressed": 1, "no_email": 1, "smart_sending": 1},
    }
    # A test send is not marketing to anyone: it changes no one's smart sending.
    assert act(client, org, campaign["id"], "test-send", email="ok@example.com").status_code == 202
    again = client.post("/api/campaigns/audience", json=body, headers=org.secret_headers)
    assert again.json() == audience.json()
    started = act(client, org, campaign["id"], "send")
    assert started.status_code == 202, started.text
    assert started.json()["status"] == "sending"

    # The snapshot job ran (inline in tests) when the request committed.
    rows = recipients(client, org, campaign["id"])
    assert {k: (r["status"], r["skip_reason"]) for k, r in rows.items()} == {
        "ok@example.com": ("pending", None),
        "unsub@example.com": ("skipped", "suppressed"),
        no_email: ("skipped", "no_email"),
        "recent@example.com": ("skipped", "smart_sending"),
    }
    assert get(client, org, campaign["id"])["audience_at"] is not None

    fanout.pump(database)
    done = get(client, org, campaign["id"])
    assert done["status"] == "sent" and done["finished_at"] is not None
    assert done["counts"] == {"sent": 1, "skipped": 3}
    [message] = campaign_messages(database, campaign["id"])
    # The campaign's subject and sender, not the template's or the organization's.
    assert message.subject == "Spring for Ok" and message.marketing
    assert message.from_address == "Spring Team <spring@acme.example>"
    assert message.idempotency_key == f"campaign:{campaign['id']}:{message.profile_id}"
    assert outbox_path(backend.data_dir, org.org_id, message.id).exists()
    stats = client.get(f"/api/campaigns/{campaign['id']}/stats", headers=org.secret_headers)
    assert stats.json()["recipients"] == 4 and stats.json()["sent"] == 1

    # A copy without smart sending includes the recently emailed profile.
    copy = act(client, org, campaign["id"], "duplicate").json()
    assert copy["status"] == "draft" and copy["name"] == "Spring (copy)"
    response = client.patch(
        f"/api/campaigns/{copy['id']}", json={"smart_sending": False}, headers=org.secret_headers
    )
    assert response.status_code == 200, response.text
    assert act(client, org, copy["id"], "send").status_code == 202
    statuses = {k: r["status"] for k, r in recipients(client, org, copy["id"]).items()}
    assert statuses["recent@example.com"] == "pending"
    assert statuses["ok@example.com"] == "pending"


def test_pause_holds_messages_and_resume_sends_each_once(
    client: TestClient, database: Database, backend: Backend
) -> None:
    org = make_org()
    campaign = ready_campaign(client, database, org, 5)
    use_real_queue(backend)
    assert act(client, org, campaign["id"], "send").status_code == 202
    drain()  # the snapshot
    assert fanout.fan_out(database, uuid.UUID(campaign["id"]), limit=2) == 2
    assert act(client, org, campaign["id"], "pause").json()["status"] == "paused"
    drain()  # the two send kicks arrive while paused: held back
    held = campaign_messages(database, campaign["id"])
    assert len(held) == 2
    assert {(m.status, m.attempts) for m in held} == {(ledger.QUEUED, 0)}
    assert not any(outbox_path(backend.data_dir, org.org_id, m.id).exists() for m in held)
    assert fanout.pump(database) == 0  # no new messages while paused
    assert get(client, org, campaign["id"])["counts"] == {"queued": 2, "pending": 3}

    assert act(client, org, campaign["id"], "resume").json()["status"] == "sending"
    drain()
    fanout.pump(database)
    drain()
    fanout.pump(database)
    final = get(client, org, campaign["id"])
    assert final["status"] == "sent" and final["counts"] == {"sent": 5}
    sent = campaign_messages(database, campaign["id"])
    assert len(sent) == 5 and {m.status for m in sent} == {ledger.SENT}
    assert set(sent_events(database, [m.id for m in sent]).values()) == {1}


def test_cancel_ends_unsent_recipients(
    client: TestClient, database: Database, backend: Backend
) -> None:
    org = make_org()
    campaign = ready_campaign(client, database, org, 5)
    use_real_queue(backend)
    act(client, org, campaign["id"], "send")
    drain()
    fanout.fan_out(database, uuid.UUID(campaign["id"]), limit=2)
    cancelled = act(client, org, campaign["id"], "cancel").json()
    assert cancelled["status"] == "cancelled"
    assert cancelled["counts"] == {"cancelled": 5}
    drain()
    fanout.pump(database)
    assert {m.status for m in campaign_messages(database, campaign["id"])} == {ledger.SKIPPED}
    assert get(client, org, campaign["id"])["status"] == "cancelled"
    again = act(client, org, campaign["id"], "resume")
    assert again.status_code == 409
    assert "cancelled" in again.json()["error"]["message"]


def test_sent_only_when_every_recipient_is_final_and_the_pump_is_idempotent(
    client: TestClient, database: Database, backend: Backend
) -> None:
    org = make_org()
    campaign = ready_campaign(client, database, org, 3)
    campaign_id = uuid.UUID(campaign["id"])
    use_real_queue(backend)
    act(client, org, campaign["id"], "send")
    drain()
    assert fanout.fan_out(database, campaign_id) == 3
    # Messages exist but none is final: not complete.
    assert fanout.finish_if_done(database, campaign_id) is False
    assert get(client, org, campaign["id"])["status"] == "sending"

    # A recipient set back to pending (as if its batch had been lost) gets the same message.
    first = {m.profile_id: m.id for m in campaign_messages(database, campaign["id"])}
    with database.transaction() as session:
        session.execute(
            sa.update(CampaignRecipient)
            .where(CampaignRecipient.campaign_id == campaign_id)
            .values(status="pending")
        )
    assert fanout.fan_out(database, campaign_id) == 3
    assert {m.profile_id: m.id for m in campaign_messages(database, campaign["id"])} == first

    drain()  # duplicate kicks: each message is claimed and sent once
    sent = campaign_messages(database, campaign["id"])
    assert set(sent_events(database, [m.id for m in sent]).values()) == {1}
    assert fanout.finish_if_done(database, campaign_id) is True
    assert get(client, org, campaign["id"])["counts"] == {"sent": 3}


def test_illegal_transitions_and_edits_are_refused(client: TestClient, database: Database) -> None:
    org = make_org()
    campaign = ready_campaign(client, database, org, 1)
    cid = campaign["id"]
    for action in ("pause", "resume", "unschedule"):
        response = act(client, org, cid, action)
        assert response.status_code == 409, (action, response.text)
        assert response.json()["error"]["message"] == f"cannot {action} a campaign that is draft"
    bare = create(client, org, name="Bare")
    refused = act(client, org, bare["id"], "send")
    assert refused.status_code == 422
    assert {f["field"] for f in refused.json()["error"]["fields"]} == {
        "template_id",
        "include_segment_ids",
    }
    duplicate_name = client.post(
        "/api/campaigns", json={"name": "Spring"}, headers=org.secret_headers
    )
    assert duplicate_name.status_code == 422

    assert act(client, org, cid, "send").status_code == 202
    fanout.pump(database)
    assert get(client, org, cid)["status"] == "sent"
    edit = client.patch(f"/api/campaigns/{cid}", json={"name": "x"}, headers=org.secret_headers)
    assert edit.status_code == 409
    assert "only a draft can be changed" in edit.json()["error"]["message"]
    for action, body in (
        ("send", {}),
        ("schedule", {"at": "2030-01-01T00:00:00Z"}),
        ("cancel", {}),
        ("pause", {}),
    ):
        response = act(client, org, cid, action, **body)
        assert response.status_code == 409, (action, response.text)


def test_a_scheduled_campaign_starts_when_its_time_comes(
    client: TestClient, database: Database
) -> None:
    org = make_org()
    campaign = ready_campaign(client, database, org, 2)
    at = utcnow() + timedelta(hours=1)
    response = act(client, org, campaign["id"], "schedule", at=at.isoformat())
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "scheduled"
    naive = act(client, org, campaign["id"], "schedule", at="2030-01-01T00:00:00")
    assert naive.status_code in (409, 422)
    with database.transaction() as session:
        assert lifecycle.start_due_campaigns(session, utcnow()) == 0
    with database.transaction() as session:
        assert lifecycle.start_due_campaigns(session, at + timedelta(seconds=1)) == 1
    assert get(client, org, campaign["id"])["status"] == "sending"
    fanout.pump(database)
    assert get(client, org, campaign["id"])["status"] == "sent"


def test_preview_test_send_recipients_pages_and_stats(
    client: TestClient, database: Database, backend: Backend
) -> None:
    org = make_org()
    campaign = ready_campaign(client, database, org, 3, subject="Hello {{ profile.first_name }}")
    cid = campaign["id"]
    profile_id = identify(client, org, email="p1@example.com")
    preview = act(client, org, cid, "preview", profile_id=profile_id)
    assert preview.status_code == 200, preview.text
    assert preview.json()["subject"] == "Hello P1"
    assert "Hi P1" in preview.json()["html"]

    test = act(client, org, cid, "test-send", email="Tester@Example.com")
    assert test.status_code == 202, test.text
    with database.transaction() as session:
        message = session.get(Message, uuid.UUID(test.json()["message_id"]))
        assert message is not None
        assert message.source == "campaign_test" and message.to_address == "tester@example.com"
        assert message.source_id == uuid.UUID(cid)
        assert message.status == ledger.SENT
    # Its page names it a test send of this campaign.
    detail = client.get(f"/api/messages/{test.json()['message_id']}", headers=org.secret_headers)
    assert detail.json()["source"] == "campaign_test"
    assert detail.json()["source_name"] == campaign["name"]
    listed = client.get(
        "/api/messages", params={"source": "campaign_test"}, headers=org.secret_headers
    )
    assert [m["id"] for m in listed.json()["data"]] == [test.json()["message_id"]]
    # A preview for sample data, as a template's preview takes it.
    sampled = act(client, org, cid, "preview", sample={"profile": {"first_name": "Ada"}})
    assert sampled.status_code == 200, sampled.text
    assert sampled.json()["subject"] == "Hello Ada"

    act(client, org, cid, "send")
    fanout.pump(database)
    first = client.get(
        f"/api/campaigns/{cid}/recipients", params={"limit": 2}, headers=org.secret_headers
    ).json()
    assert len(first["data"]) == 2 and first["next_cursor"]
    rest = client.get(
        f"/api/campaigns/{cid}/recipients",
        params={"limit": 2, "cursor": first["next_cursor"]},
        headers=org.secret_headers,
    ).json()
    assert len(rest["data"]) == 1 and rest["next_cursor"] is None
    filtered = client.get(
        f"/api/campaigns/{cid}/recipients", params={"status": "pending"}, headers=org.secret_headers
    ).json()
    assert filtered["data"] == []

    sent = campaign_messages(database, cid)
    assert len(sent) == 3  # the test send is not one of them
    with database.transaction() as session:
        one, two = (session.get(Message, sent[0].id), session.get(Message, sent[1].id))
        assert one is not None and two is not None
        for message, kind, machine in (
            (one, "opened", True),
            (one, "opened", False),
            (one, "opened", False),
            (two, "opened", False),
            (one, "clicked", False),
            (one, "clicked", False),
            (two, "unsubscribed", False),
        ):
            ledger.record_event(session, message, kind, machine=machine)
        ledger.set_status(session, two, ledger.DELIVERED)
        ledger.set_status(session, one, ledger.BOUNCED)
    stats = client.get(f"/api/campaigns/{cid}/stats", headers=org.secret_headers).json()
    assert stats == {
        "recipients": 3,
        "skipped": 0,
        "sent": 3,
        "delivered": 1,
        "bounced": 1,
        "opens_unique": 2,
        "opens_total": 3,
        "clicks_unique": 1,
        "clicks_total": 2,
        "unsubscribes": 1,
        "complaints": 0,
        "conversions": 0,
        "converters": 0,
        "revenue": 0.0,
        "conversion_metric": "Placed Order",
        "counts": {"sent": 3},
        "variants": [],
    }
    # Each recipient's row says whether they opened (machine opens aside), clicked or
    # unsubscribed: the stats' own measures, per message.
    engagement = {
        row["message_id"]: (row["opened"], row["clicked"], row["unsubscribed"])
        for row in recipients(client, org, cid).values()
    }
    assert engagement == {
        str(one.id): (True, True, False),
        str(two.id): (True, False, True),
        str(sent[2].id): (False, False, False),
    }


def test_campaigns_are_isolated_between_organizations(
    client: TestClient, database: Database
) -> None:
    owner, intruder = make_org(), make_org("Other")
    campaign = ready_campaign(client, database, owner, 1)
    profile_id = identify(client, owner, email="p0@example.com")
    endpoints = [
        Endpoint("GET", "/api/campaigns/{id}"),
        Endpoint("PATCH", "/api/campaigns/{id}", {"name": "Mine now"}),
        Endpoint("DELETE", "/api/campaigns/{id}"),
        Endpoint("POST", "/api/campaigns/{id}/schedule", {"at": "2030-01-01T00:00:00Z"}),
        Endpoint("POST", "/api/campaigns/{id}/unschedule"),
        Endpoint("POST", "/api/campaigns/{id}/send"),
        Endpoint("POST", "/api/campaigns/{id}/pause"),
        Endpoint("POST", "/api/campaigns/{id}/resume"),
        Endpoint("POST", "/api/campaigns/{id}/cancel"),
        Endpoint("POST", "/api/campaigns/{id}/duplicate"),
        Endpoint("POST", "/api/campaigns/{id}/preview", {"profile_id": profile_id}),
        Endpoint("POST", "/api/campaigns/{id}/test-send", {"email": "x@example.com"}),
        Endpoint("GET", "/api/campaigns/{id}/recipients"),
        Endpoint("GET", "/api/campaigns/{id}/stats"),
    ]
    read_back = Endpoint("GET", "/api/campaigns/{id}")
    assert_isolated(client, owner, intruder, campaign["id"], endpoints, read_back)
    assert_management_only(client, owner, campaign["id"], endpoints)
    assert client.get("/api/campaigns", headers=intruder.secret_headers).json() == {"data": []}
    # Another organization's segments and templates are unknown ones.
    theirs = create(client, owner, name="Theirs")
    response = client.patch(
        f"/api/campaigns/{theirs['id']}",
        json={"template_id": make_template(database, intruder)},
        headers=owner.secret_headers,
    )
    assert response.status_code == 422
    with database.transaction() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(Campaign)) == 2


def test_a_message_in_flight_when_cancelled_still_counts(
    client: TestClient, database: Database, backend: Backend
) -> None:
    org = make_org()
    campaign = ready_campaign(client, database, org, 2)
    campaign_id = uuid.UUID(campaign["id"])
    use_real_queue(backend)
    act(client, org, campaign["id"], "send")
    drain()
    fanout.fan_out(database, campaign_id)
    # A worker has claimed one message and is handing it to the provider.
    with database.transaction() as session:
        in_flight = session.scalars(
            sa.select(Message).where(Message.source_id == campaign_id).limit(1)
        ).one()
        in_flight.status, in_flight.heartbeat_at = ledger.SENDING, utcnow()
    cancelled = act(client, org, campaign["id"], "cancel").json()
    assert cancelled["counts"] == {"cancelled": 1, "queued": 1}
    with database.transaction() as session:
        message = session.get(Message, in_flight.id)
        assert message is not None
        ledger.set_status(session, message, ledger.SENT)
    fanout.pump(database)
    final = get(client, org, campaign["id"])
    assert final["status"] == "cancelled" and final["counts"] == {"cancelled": 1, "sent": 1}
