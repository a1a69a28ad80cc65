"""SMS tests run Herald's Twilio provider against the fake Twilio on loopback."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from herald.outbound import allow_networks
from herald.settings import get_settings
from tests.factories import OrgFixture
from tests.fakes.twilio import Callback, FakeTwilio, running_fake_twilio


@contextlib.contextmanager
def fake_twilio_for(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeTwilio]:
    """The fake Twilio on loopback, with Herald's Twilio provider pointed at it (tests of other
    packages that send SMS use this too)."""
    with running_fake_twilio() as fake, allow_networks("127.0.0.0/8"):
        monkeypatch.setenv("HERALD_TWILIO_API_URL", fake.url)
        get_settings.cache_clear()
        yield fake
    get_settings.cache_clear()


@pytest.fixture
def twilio(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeTwilio]:
    with fake_twilio_for(monkeypatch) as fake:
        yield fake


def configure(
    client: TestClient, org: OrgFixture, fake: FakeTwilio, **settings: Any
) -> dict[str, Any]:
    body = {
        "account_sid": fake.account_sid,
        "auth_token": fake.auth_token,
        "sender_numbers": sorted(fake.numbers),
        "brand_name": "Acme Tea",
        "quiet_hours": False,
        **settings,
    }
    response = client.put("/api/sms/settings", json=body, headers=org.secret_headers)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def post_webhook(client: TestClient, callback: Callback, signature: str | None = None) -> Any:
    """Deliver a webhook the fake signed, as Twilio would post it."""
    parts = urlsplit(callback.url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    return client.post(
        path,
        data=callback.params,
        headers={"X-Twilio-Signature": callback.signature if signature is None else signature},
    )


def deliver(client: TestClient, fake: FakeTwilio) -> None:
    def post(callback: Callback) -> None:
        response = post_webhook(client, callback)
        assert response.status_code == 204, response.text

    fake.deliver_callbacks(post)
