"""The worker-kill test for an SMS campaign: a real `herald worker` sends through Twilio (the
fake, on loopback) and is killed with SIGKILL mid-campaign; a new one finishes it. Every
recipient gets exactly one message and Twilio accepts each exactly once.

Twilio has no idempotency key, so the message a dead worker handed over without recording is
caught by Twilio's status callback (sent, with the message's id in its URL), which arrives
within seconds, long before the sweep's five minutes: the callback records the message as sent
and the sweep then has nothing of it to resend. The test delivers the callbacks Twilio would
have sent by then, ages the dead worker's heartbeats and runs the sweep, as in
tests/test_campaign_kill.py.
"""

from __future__ import annotations

import uuid
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from herald.app import create_app
from herald.campaigns import lifecycle, service
from herald.db import Database
from herald.messaging import ledger
from herald.models import (
    CampaignRecipient,
    Consent,
    Message,
    MessageEvent,
    Profile,
    Segment,
    SegmentMember,
)
from herald.settings import get_settings
from herald.sms import schemas as sms_schemas
from herald.sms.configuration import update as update_sms_settings
from herald.worker import configure_queue
from tests.conftest import Backend
from tests.factories import make_org
from tests.fakes.twilio import FakeTwilio, running_fake_twilio
from tests.test_campaign_kill import (
    WORKER_QUEUE,
    _progress,
    finish_after_kill,
    kill_worker_when,
)

AUDIENCE = 1000


def _setup(database: Database, fake: FakeTwilio) -> uuid.UUID:
    org = make_org()
    with database.transaction() as session:
        update_sms_settings(
            session,
            org.org_id,
            sms_schemas.SmsSettingsUpdate(
                account_sid=fake.account_sid,
                auth_token=fake.auth_token,
                sender_numbers=sorted(fake.numbers),
                quiet_hours=False,
            ),
        )
        segment = Segment(org_id=org.org_id, name="All", definition={"conditions": []})
        session.add(segment)
        profiles = [
            Profile(org_id=org.org_id, phone=f"+1415556{i:04d}", first_name=f"R{i}")
            for i in range(AUDIENCE)
        ]
        session.add_all(profiles)
        session.flush()
        session.add_all(
            SegmentMember(segment_id=segment.id, profile_id=p.id, org_id=org.org_id)
            for p in profiles
        )
        session.add_all(
            Consent(profile_id=p.id, channel="sms", org_id=org.org_id, granted=True, source="form")
            for p in profiles
        )
        campaign = service.create_campaign(
            session,
            org.org_id,
            {
                "name": "Big SMS",
                "channel": "sms",
                "sms_body": "Hi {{ profile.first_name }}, tea is on sale",
                "include_segment_ids": [segment.id],
            },
        )
        lifecycle.send_now(session, org.org_id, campaign.id)
    return campaign.id


def test_a_killed_worker_sends_no_sms_twice_and_loses_none(
    backend: Backend, database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    configure_queue(redis_url=backend.redis_url, data_dir=backend.data_dir, name=WORKER_QUEUE)
    log = tmp_path / "worker.log"
    with running_fake_twilio() as fake:
        monkeypatch.setenv("HERALD_TWILIO_API_URL", fake.url)
        monkeypatch.setenv("HERALD_OUTBOUND_ALLOW", "127.0.0.0/8")
        get_settings.cache_clear()
        campaign_id = _setup(database, fake)
        app = TestClient(create_app(get_settings()))
        configure_queue(redis_url=backend.redis_url, data_dir=backend.data_dir, name=WORKER_QUEUE)

        def deliver_sent_reports() -> None:
            # Twilio's "sent" reports for what it accepted (the "delivered" ones add nothing).
            for callback in fake.take_callbacks():
                if callback.params["MessageStatus"] != "sent":
                    continue
                parts = urlsplit(callback.url)
                response = app.post(
                    f"{parts.path}?{parts.query}",
                    data=callback.params,
                    headers={"X-Twilio-Signature": callback.signature},
                )
                assert response.status_code == 204, response.text

        kill_worker_when(backend, log, lambda: len(fake.messages) >= 30)
        status, still_open, _sent = _progress(database, campaign_id)
        accepted_at_kill = len(fake.messages)
        assert status == "sending" and still_open > 0
        assert accepted_at_kill < AUDIENCE

        deliver_sent_reports()
        finish_after_kill(
            backend,
            database,
            log,
            lambda: _progress(database, campaign_id)[0] == "sent",
            lambda: _progress(database, campaign_id),
        )
        deliver_sent_reports()

    with database.transaction() as session:
        recipients = list(
            session.scalars(
                sa.select(CampaignRecipient).where(CampaignRecipient.campaign_id == campaign_id)
            )
        )
        messages = list(session.scalars(sa.select(Message).where(Message.source_id == campaign_id)))
        sent_events = Counter(
            session.scalars(
                sa.select(MessageEvent.message_id).where(
                    MessageEvent.message_id.in_([m.id for m in messages]),
                    MessageEvent.kind == ledger.SENT,
                )
            )
        )
    assert len(recipients) == AUDIENCE and {r.status for r in recipients} == {ledger.SENT}
    assert len(messages) == AUDIENCE and {m.status for m in messages} == {ledger.SENT}
    assert set(sent_events.values()) == {1} and len(sent_events) == AUDIENCE
    # Twilio accepted each person's message exactly once, and its sid is the one recorded.
    per_number = Counter(m.to for m in fake.messages)
    assert len(per_number) == AUDIENCE and set(per_number.values()) == {1}
    assert {m.provider_message_id for m in messages} == {m.sid for m in fake.messages}
    assert 0 < accepted_at_kill < AUDIENCE
