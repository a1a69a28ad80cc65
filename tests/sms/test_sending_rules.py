"""Quiet hours in the recipient's local time and rate limits: a message waits, never drops."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient

from herald.models import Organization, Profile
from herald.sms.rules import quiet_until, recipient_zone
from tests.factories import OrgFixture, make_org
from tests.fakes.twilio import FakeTwilio
from tests.sms.conftest import configure


def test_quiet_until_in_local_time() -> None:
    la = ZoneInfo("America/Los_Angeles")
    # 22:30 in Los Angeles (06:30 UTC the next day): quiet until 08:00 there.
    late = datetime(2026, 6, 2, 5, 30, tzinfo=UTC)
    assert quiet_until(late, la, 21, 8) == datetime(2026, 6, 2, 15, 0, tzinfo=UTC)
    # 03:00 local: the same morning.
    night = datetime(2026, 6, 2, 10, 0, tzinfo=UTC)
    assert quiet_until(night, la, 21, 8) == datetime(2026, 6, 2, 15, 0, tzinfo=UTC)
    noon = datetime(2026, 6, 2, 19, 0, tzinfo=UTC)
    assert quiet_until(noon, la, 21, 8) is None
    # A window that does not wrap midnight (13:00 to 14:00).
    assert quiet_until(datetime(2026, 6, 2, 13, 30, tzinfo=UTC), ZoneInfo("UTC"), 13, 14) == (
        datetime(2026, 6, 2, 14, 0, tzinfo=UTC)
    )
    # The night a clock goes forward still ends at 08:00 local (PDT from 2026-03-08).
    spring = datetime(2026, 3, 8, 9, 0, tzinfo=UTC)  # 01:00 PST
    assert quiet_until(spring, la, 21, 8) == datetime(2026, 3, 8, 15, 0, tzinfo=UTC)


def test_the_recipients_zone_profile_then_number_then_organization() -> None:
    org = Organization(name="Acme", timezone="Europe/Paris")
    assert recipient_zone(Profile(timezone="Asia/Tokyo"), "+14155550100", org).key == "Asia/Tokyo"
    assert recipient_zone(Profile(), "+14155550100", org).key == "America/Los_Angeles"
    assert recipient_zone(Profile(), "+12125550100", org).key == "America/New_York"
    # A number whose zone is not known from its prefix: the organization's.
    assert recipient_zone(None, "+447700900123", org).key == "Europe/Paris"


def send(client: TestClient, org: OrgFixture, **body: Any) -> dict[str, Any]:
    response = client.post("/api/messages/sms", json=body, headers=org.secret_headers)
    assert response.status_code == 202, response.text
    detail = client.get(f"/api/messages/{response.json()['id']}", headers=org.secret_headers)
    result: dict[str, Any] = detail.json()
    return result


def test_marketing_waits_for_the_morning_and_transactional_does_not(
    client: TestClient, twilio: FakeTwilio
) -> None:
    org = make_org()
    now = datetime.now(UTC)
    # Quiet hours from this hour to the next, in the profile's zone (UTC here).
    configure(
        client,
        org,
        twilio,
        quiet_hours=True,
        quiet_start=now.hour,
        quiet_end=(now.hour + 1) % 24,
    )
    profile_id = client.post(
        "/api/profiles",
        json={
            "phone": "+14155550150",
            "timezone": "UTC",
            "consent": {"sms": {"status": "subscribed"}},
        },
        headers=org.secret_headers,
    ).json()["id"]
    waiting = send(client, org, to={"profile_id": profile_id}, body="Sale!", marketing=True)
    assert waiting["status"] == "queued" and waiting["attempts"] == 0
    next_hour = (now + timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)
    assert datetime.fromisoformat(waiting["send_after"]) == next_hour
    assert waiting["events"][-1]["data"]["waiting"].startswith("quiet hours")
    receipt = send(client, org, to={"profile_id": profile_id}, body="Your receipt")
    assert receipt["status"] == "sent"
    assert [m.body for m in twilio.messages] == ["Your receipt"]


def test_a_per_second_limit_spreads_messages_and_loses_none(
    client: TestClient, twilio: FakeTwilio
) -> None:
    org = make_org()
    configure(client, org, twilio, per_second=3)
    sent = [send(client, org, to={"phone": f"+1415555016{i}"}, body="Hi") for i in range(7)]
    assert all(m["status"] == "sent" for m in sent)
    times = sorted(m.accepted_at for m in twilio.messages)
    assert len(times) == 7
    # No one-second window holds more than 3: the 4th after the 1st is a second later (as the
    # fake sees them: less the spread of the requests' own latency, a new connection each).
    gaps = [later - earlier for earlier, later in zip(times, times[3:], strict=False)]
    assert min(gaps) >= 0.9, gaps


def test_a_daily_limit_holds_messages_until_the_next_day(
    client: TestClient, twilio: FakeTwilio
) -> None:
    org = make_org()
    configure(client, org, twilio, per_day=2)
    outcomes = [send(client, org, to={"phone": f"+1415555017{i}"}, body="Hi") for i in range(3)]
    assert [m["status"] for m in outcomes] == ["sent", "sent", "queued"]
    held = outcomes[2]
    assert held["attempts"] == 0 and "daily SMS limit" in held["events"][-1]["data"]["waiting"]
    assert datetime.fromisoformat(held["send_after"]) > datetime.now(UTC)
    assert len(twilio.messages) == 2
