"""SMS in the dashboard: configure Twilio (the fake) in Settings → SMS and check the connection,
write an SMS campaign to a segment in the editor (segment counter, phone preview), send it, see
the delivered count once Twilio's reports arrive; an inbound STOP then leaves the person out of
the next campaign's audience."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import expect

from tests.e2e.helpers import api, field, sign_in
from tests.e2e.test_campaigns import choose
from tests.e2e.test_segments import wait_until_ready
from tests.fakes.twilio import FakeTwilio

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("dashboard_build")]

SENT = 60_000
TEXTERS = {"type": "profile", "property": "texts", "operator": "equals", "value": True}


def post_webhook(base_url: str, url: str, params: dict[str, str], signature: str) -> Any:
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    return httpx.post(
        base_url + path, data=params, headers={"X-Twilio-Signature": signature}, timeout=10
    )


def test_an_sms_campaign_from_the_dashboard(
    page: Any, herald_server: Any, new_org: Any, fake_twilio: FakeTwilio, screenshot: Any
) -> None:
    org = new_org("Tea by text")
    phones = ["+14155550301", "+14155550302"]
    with api(herald_server.base_url, org.secret_key) as client:
        for index, phone in enumerate(phones):
            made = client.post(
                "/api/profiles",
                json={
                    "phone": phone,
                    "first_name": f"Texter{index}",
                    "properties": {"texts": True},
                    "consent": {"sms": {"status": "subscribed", "text": "Text me"}},
                },
            )
            assert made.status_code == 201, made.text
        segment = client.post(
            "/api/segments",
            json={
                "name": "Texters",
                "definition": {
                    "conditions": [
                        {
                            "type": "profile",
                            "property": "texts",
                            "operator": "equals",
                            "value": True,
                        }
                    ]
                },
            },
        )
        assert segment.status_code == 201, segment.text
        wait_until_ready(client, segment.json()["id"])

    sign_in(page, org.email, org.password)
    page.goto("/settings/sms")
    form = page.get_by_role("form", name="SMS settings")
    field(form, "Account SID").fill(fake_twilio.account_sid)
    field(form, "Auth token").fill(fake_twilio.auth_token)
    field(form, "Sender numbers").fill("\n".join(sorted(fake_twilio.numbers)))
    field(form, "Brand name").fill("Tea by text")
    form.get_by_label("Quiet hours", exact=True).uncheck()
    form.get_by_role("button", name="Save").click()
    expect(page.get_by_text("SMS settings saved.")).to_be_visible()
    form.get_by_role("button", name="Check connection").click()
    expect(form.get_by_role("status")).to_contain_text("Connected: Fake Twilio account")
    screenshot(page, "sms-settings")

    page.goto("/campaigns/new")
    page.get_by_role("heading", name="New campaign", level=1).wait_for()
    field(page, "Name").fill("Tea by text")
    page.get_by_role("radiogroup", name="Channel").get_by_text("SMS").click()
    choose(page, "Send to", "Texters")
    expect(page.get_by_test_id("audience-estimate")).to_have_text("2")
    field(page, "Text").fill("Hi {{ profile.first_name }}, green tea is 20% off today")
    expect(page.get_by_test_id("sms-segments")).to_contain_text("1 segment (GSM-7")
    expect(page.get_by_role("figure", name="Phone preview")).to_contain_text("green tea")
    screenshot(page, "sms-campaign-editor")
    page.get_by_role("button", name="Save draft").click()
    page.wait_for_url(re.compile(r".*/campaigns/[0-9a-f-]{36}$"))

    page.get_by_role("button", name="Send now").click()
    page.get_by_role("dialog", name="Send this campaign now?").get_by_role(
        "button", name="Send now"
    ).click()
    expect(page.get_by_test_id("campaign-status")).to_have_text("Sent", timeout=SENT)
    sent_to = {m.to: m.body for m in fake_twilio.messages if m.to in phones}
    assert set(sent_to) == set(phones)
    assert sent_to[phones[0]].startswith("Hi Texter0, green tea is 20% off today")

    # Twilio's delivery reports arrive; the stats count them.
    for callback in fake_twilio.take_callbacks():
        if callback.params["To"] in phones:
            answer = post_webhook(
                herald_server.base_url, callback.url, callback.params, callback.signature
            )
            assert answer.status_code == 204, answer.text
    page.reload()
    stats = page.get_by_role("region", name="Stats")
    expect(
        stats.get_by_role("group", exact=True, name="Delivered").get_by_test_id("stat-value")
    ).to_have_text("2")
    screenshot(page, "sms-campaign-sent")

    # The second person texts STOP: the next campaign's audience leaves them out.
    inbound = fake_twilio.inbound(
        f"{herald_server.base_url}/webhooks/twilio/{org.org_id}/inbound", phones[1], "STOP"
    )
    answer = post_webhook(herald_server.base_url, inbound.url, inbound.params, inbound.signature)
    assert answer.status_code == 200 and "unsubscribed" in answer.text
    with api(herald_server.base_url, org.secret_key) as client:
        audience = client.post(
            "/api/campaigns/audience",
            json={
                "include_segment_ids": [segment.json()["id"]],
                "channel": "sms",
                "smart_sending": False,
            },
        )
    assert audience.json()["eligible"] == 1, audience.text
    assert audience.json()["skipped"] == {"suppressed": 1}
