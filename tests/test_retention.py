"""Retention per organization: raw events older than N months and message bodies older than N
days are deleted (in batches, or on PostgreSQL by emptying whole monthly partitions), and every
aggregate stays what it was: analytics rollups, campaign conversions and revenue, segment sizes.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from fastapi.testclient import TestClient

from herald.analytics import rollups
from herald.campaigns import service as campaigns
from herald.campaigns.stats import ALL_RECIPIENTS, campaign_figures
from herald.db import Database, utcnow
from herald.email.providers.outbox import outbox_path
from herald.messaging import ledger
from herald.messaging import service as messages
from herald.models import (
    Campaign,
    EmailTemplate,
    Event,
    EventHour,
    Message,
    MessageHour,
    RetainedConversion,
)
from herald.retention import service as retention
from herald.retention.service import months_before
from tests.conftest import Backend
from tests.factories import OrgFixture, make_org, make_user, sign_in
from tests.test_segments import create_segment, get_segment, member_emails, track

RAW = messages.RawContent(subject="Hi", html="<p>Hi</p>")


def test_months_before_keeps_the_day_or_takes_the_months_last() -> None:
    at = datetime.fromisoformat("2026-03-31T12:00:00+00:00")
    assert months_before(at, 1) == datetime.fromisoformat("2026-02-28T12:00:00+00:00")
    assert months_before(at, 3) == datetime.fromisoformat("2025-12-31T12:00:00+00:00")
    assert months_before(at, 14) == datetime.fromisoformat("2025-01-31T12:00:00+00:00")


def test_settings_through_the_api_with_field_errors(client: TestClient) -> None:
    org = make_org()
    got = client.get("/api/retention", headers=org.secret_headers)
    assert got.status_code == 200, got.text
    assert got.json() == {
        "events_months": None,
        "message_bodies_days": None,
        "events_pruned_before": None,
        "last_run_at": None,
    }
    changed = client.patch("/api/retention", json={"events_months": 13}, headers=org.secret_headers)
    assert changed.status_code == 200, changed.text
    assert changed.json()["events_months"] == 13
    assert changed.json()["message_bodies_days"] is None
    changed = client.patch(
        "/api/retention", json={"message_bodies_days": 30}, headers=org.secret_headers
    )
    assert changed.json()["events_months"] == 13 and changed.json()["message_bodies_days"] == 30
    for body, field in (
        ({"events_months": 0}, "events_months"),
        ({"message_bodies_days": 100_000}, "message_bodies_days"),
        ({"events_months": "soon"}, "events_months"),
        ({"keep": True}, "keep"),
    ):
        refused = client.patch("/api/retention", json=body, headers=org.secret_headers)
        assert refused.status_code == 422, refused.text
        assert [f["field"] for f in refused.json()["error"]["fields"]] == [field], refused.text
    cleared = client.patch(
        "/api/retention", json={"events_months": None}, headers=org.secret_headers
    )
    assert cleared.json()["events_months"] is None
    assert cleared.json()["message_bodies_days"] == 30
    # Another organization's settings are its own.
    other = make_org()
    assert (
        client.get("/api/retention", headers=other.secret_headers).json()["events_months"] is None
    )
    # Members read them; admins and owners change them.
    email, password = make_user(org, "member")
    csrf = sign_in(client, email, password)
    assert client.get("/api/retention").status_code == 200
    refused = client.patch(
        "/api/retention", json={"events_months": 2}, headers={"X-CSRF-Token": csrf}
    )
    assert refused.status_code == 403, refused.text


def _order(client: TestClient, org: OrgFixture, email: str, value: float, at: datetime) -> None:
    track(client, org, email, "Placed Order", value=value, time=at.isoformat())


def _campaign(database: Database, org: OrgFixture) -> uuid.UUID:
    with database.transaction() as session:
        template = EmailTemplate(
            org_id=org.org_id, name="T", subject="S", body="<p>x</p>", compiled_html="<p>x</p>"
        )
        session.add(template)
        session.flush()
        campaign = campaigns.create_campaign(
            session, org.org_id, {"name": "Old news", "template_id": template.id}
        )
        return campaign.id


def _sent_and_clicked(
    database: Database, org: OrgFixture, address: str, campaign_id: uuid.UUID, at: datetime
) -> uuid.UUID:
    with database.transaction() as session:
        message = messages.queue_email(
            session,
            org.org_id,
            source="campaign",
            source_id=campaign_id,
            idempotency_key=f"campaign:{campaign_id}:{address}",
            to_address=address,
            raw=RAW,
            kick=False,
        )
        message.status = ledger.SENT
        message.sent_at = message.created_at = at
        ledger.record_event(session, message, ledger.SENT, at=at)
        ledger.record_event(session, message, "clicked", at=at + timedelta(minutes=5))
        return message.id


def _figures(database: Database, campaign_id: uuid.UUID) -> tuple[int, float]:
    with database.transaction() as session:
        campaign = session.get(Campaign, campaign_id)
        assert campaign is not None
        total = campaign_figures(session, campaign)[ALL_RECIPIENTS]
        return total.conversions, round(total.revenue, 2)


def _rollups(database: Database, org: OrgFixture) -> tuple[list, list]:
    with database.transaction() as session:
        events = session.execute(
            sa.select(EventHour.hour, EventHour.name, EventHour.events, EventHour.value)
            .where(EventHour.org_id == org.org_id)
            .order_by(EventHour.hour, EventHour.name)
        ).all()
        by_source = session.execute(
            sa.select(
                MessageHour.hour,
                MessageHour.source,
                MessageHour.sent,
                MessageHour.conversions,
                MessageHour.revenue,
            )
            .where(MessageHour.org_id == org.org_id)
            .order_by(MessageHour.hour, MessageHour.source)
        ).all()
    return [tuple(r) for r in events], [tuple(r) for r in by_source]


def _rebuild(database: Database, org: OrgFixture, *moments: datetime) -> None:
    """`herald analytics rebuild` of the hours around each moment (months of hours take long)."""
    for moment in moments:
        rollups.rebuild(
            database, moment - timedelta(hours=1), moment + timedelta(hours=3), org.org_id
        )


def _event_count(database: Database, org: OrgFixture) -> int:
    with database.transaction() as session:
        return int(
            session.scalar(
                sa.select(sa.func.count()).select_from(Event).where(Event.org_id == org.org_id)
            )
            or 0
        )


def test_pruning_old_events_keeps_rollups_conversions_and_segments(
    client: TestClient, database: Database, backend: Backend
) -> None:
    org, neighbour = make_org(), make_org()
    now = utcnow()
    old = now - timedelta(days=270)  # about nine months ago
    recent = now - timedelta(days=3)
    campaign_id = _campaign(database, org)
    for i in range(3):
        track(client, org, f"p{i}@example.com", "Viewed Product", time=old.isoformat())
    _sent_and_clicked(database, org, "p0@example.com", campaign_id, old)
    _order(client, org, "p0@example.com", 40, old + timedelta(hours=1))
    _order(client, org, "p1@example.com", 7, old + timedelta(hours=1))  # unattributed
    _sent_and_clicked(database, org, "p2@example.com", campaign_id, recent)
    _order(client, org, "p2@example.com", 15, recent + timedelta(hours=1))
    track(client, org, "p2@example.com", "Viewed Product", time=recent.isoformat())
    track(client, neighbour, "n@example.com", "Viewed Product", time=old.isoformat())
    # On PostgreSQL, a month where only this organization has events: its partition is emptied
    # whole (TRUNCATE) rather than deleted from row by row.
    ancient = months_before(now, 20)
    if backend.name == "postgresql":
        track(client, org, "p0@example.com", "Viewed Product", time=ancient.isoformat())
    recent_viewers = create_segment(
        client,
        org,
        {
            "conditions": [
                {
                    "type": "event",
                    "metric": "Viewed Product",
                    "window": {"type": "in_the_last", "amount": 30, "unit": "days"},
                }
            ]
        },
    )
    everyone = create_segment(
        client, org, {"conditions": [{"type": "event", "metric": "Viewed Product"}]}, name="All"
    )
    _rebuild(database, org, old, recent)
    before = (_figures(database, campaign_id), _rollups(database, org))
    assert before[0] == (2, 55.0)
    assert _event_count(database, org) == 7 + (backend.name == "postgresql")

    with database.transaction() as session:
        retention.update_settings(session, org.org_id, {"events_months": 6})
    (report,) = retention.run(database, backend.data_dir, now=now)
    if backend.name == "postgresql":
        assert f"events_p{ancient:%Y_%m}" in report.partitions_emptied
        report.events_deleted -= 1
    assert report.events_deleted == 5  # three views and two orders, nine months old
    assert report.conversions_kept == 2
    assert _event_count(database, org) == 2
    assert _event_count(database, neighbour) == 1  # another organization keeps its events
    with database.transaction() as session:
        kept = session.scalars(
            sa.select(RetainedConversion.value).where(RetainedConversion.org_id == org.org_id)
        ).all()
    assert sorted(kept) == [7.0, 40.0]

    # The figures are those of before, however they are read or recomputed.
    assert (_figures(database, campaign_id), _rollups(database, org)) == before
    _rebuild(database, org, old, recent)
    assert (_figures(database, campaign_id), _rollups(database, org)) == before
    # Segments: memberships are rows; one about the last 30 days computes the same again, one
    # about all time sees what is kept (documented).
    assert get_segment(client, org, recent_viewers["id"])["member_count"] == 1
    assert get_segment(client, org, everyone["id"])["member_count"] == 3
    recomputed = client.post(
        f"/api/segments/{recent_viewers['id']}/recompute", headers=org.secret_headers
    )
    assert recomputed.status_code == 202, recomputed.text
    assert member_emails(client, org, recent_viewers["id"]) == {"p2@example.com"}
    assert get_segment(client, org, recent_viewers["id"])["member_count"] == 1

    # Running again finds nothing more; the settings say how far pruning went.
    (again,) = retention.run(database, backend.data_dir, now=now)
    assert again.events_deleted == 0 and again.conversions_kept == 0
    settings = client.get("/api/retention", headers=org.secret_headers).json()
    assert settings["events_pruned_before"] is not None and settings["last_run_at"] is not None


def test_message_bodies_and_outbox_files_are_pruned_after_n_days(
    client: TestClient, database: Database, backend: Backend
) -> None:
    org = make_org()
    now = utcnow()
    ids = []
    for name, age in (("old", 40), ("new", 2)):
        with database.transaction() as session:
            message = messages.queue_email(
                session,
                org.org_id,
                source="transactional",
                source_id=None,
                idempotency_key=f"t:{name}",
                to_address=f"{name}@example.com",
                raw=RAW,
                kick=False,
            )
            message.status = ledger.SENT
            message.created_at = message.sent_at = now - timedelta(days=age)
            ids.append((message.id, age))
    for message_id, age in ids:
        path = outbox_path(backend.data_dir, org.org_id, message_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"Subject: hi\r\n\r\nhi")
        moment = time.time() - age * 86400
        os.utime(path, (moment, moment))
    with database.transaction() as session:
        waiting = messages.queue_email(
            session,
            org.org_id,
            source="transactional",
            source_id=None,
            idempotency_key="t:waiting",
            to_address="waiting@example.com",
            raw=RAW,
            kick=False,
        )
        waiting.created_at = now - timedelta(days=40)  # not sent yet: its body stays
        waiting_id = waiting.id
    changed = client.patch(
        "/api/retention", json={"message_bodies_days": 30}, headers=org.secret_headers
    )
    assert changed.status_code == 200, changed.text

    (report,) = retention.run(database, backend.data_dir, now=now)
    assert (report.bodies_cleared, report.outbox_files_deleted, report.events_deleted) == (1, 1, 0)
    (old_id, _), (new_id, _) = ids
    with database.transaction() as session:
        contents = {
            m.id: (m.content, m.status)
            for m in session.scalars(sa.select(Message))
            if m.org_id == org.org_id
        }
    assert contents[old_id] == ({}, ledger.SENT)
    assert contents[new_id][0] and contents[waiting_id][0]
    assert not outbox_path(backend.data_dir, org.org_id, old_id).exists()
    assert outbox_path(backend.data_dir, org.org_id, new_id).exists()


def test_herald_retention_run_shows_progress_and_reports(tmp_path: Path) -> None:
    from tests.test_cli import herald, herald_env

    data_dir = tmp_path / "data"
    data_dir.mkdir()
    env = herald_env(data_dir)
    assert herald(env, "migrate").returncode == 0
    created = herald(
        env,
        "org",
        "create",
        "Keep little",
        "--admin-email",
        "o@example.com",
        "--admin-password",
        "a long enough password",
        "--json",
    )
    assert created.returncode == 0, created.stderr
    org = json.loads(created.stdout)
    nothing = herald(env, "retention", "run")
    assert nothing.returncode == 0, nothing.stderr
    assert "No organization has retention settings" in nothing.stdout
    from herald.db import configure_database

    database = configure_database(f"sqlite:///{data_dir / 'herald.db'}")
    org_id = uuid.UUID(org["org_id"])
    with database.transaction() as session:
        retention.update_settings(session, org_id, {"events_months": 1})
        profile_id = uuid.uuid4()
        from herald.models import Profile

        session.add(Profile(id=profile_id, org_id=org_id, email="x@example.com"))
        session.flush()
        session.add_all(
            Event(
                org_id=org_id,
                profile_id=profile_id,
                name="Viewed",
                time=utcnow() - timedelta(days=60, minutes=i),
            )
            for i in range(7)
        )
    database.engine.dispose()
    done = herald(env, "retention", "run", "--org", org["org_id"], "--json")
    assert done.returncode == 0, done.stderr
    (report,) = json.loads(done.stdout)
    assert report["org_id"] == org["org_id"] and report["events_deleted"] == 7
    assert "Deleting events" in done.stderr
