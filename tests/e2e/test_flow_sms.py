"""SMS in flows and on the profile page, in the dashboard: a saved SMS template written in
Settings → SMS templates (segment counter, phone preview), a flow built with an SMS step (its
panel's text with the segment counter, then the saved template), published, entered through the
API, the text sent through the fake Twilio and counted on the canvas; the person texts STOP and
the profile's SMS conversation shows both ways."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.helpers import api, field, find_profile, sign_in, unique_email
from tests.e2e.test_flows import SECONDS, choose, connect, drop_step
from tests.e2e.test_sms import post_webhook
from tests.fakes.twilio import FakeTwilio

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("dashboard_build")]

PHONE = "+14155550391"


def wait_for(check: Any, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while not (found := check()):
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.3)
    return found


def test_an_sms_step_in_a_flow_and_the_profiles_conversation(
    page: Any, herald_server: Any, new_org: Any, fake_twilio: FakeTwilio, screenshot: Any
) -> None:
    org = new_org("Tea texts")
    email = unique_email("texter")
    with api(herald_server.base_url, org.secret_key) as client:
        settings = client.put(
            "/api/sms/settings",
            json={
                "account_sid": fake_twilio.account_sid,
                "auth_token": fake_twilio.auth_token,
                "sender_numbers": sorted(fake_twilio.numbers),
                "brand_name": "Tea texts",
                "quiet_hours": False,
            },
        )
        assert settings.status_code == 200, settings.text
        made = client.post(
            "/api/profiles",
            json={
                "email": email,
                "first_name": "Ada",
                "phone": PHONE,
                "consent": {"sms": {"status": "subscribed", "text": "Text me deals"}},
            },
        )
        assert made.status_code == 201, made.text
        flow = client.post(
            "/api/flows",
            json={
                "name": "Welcome by text",
                "definition": {"trigger": {"type": "api"}, "start": None, "steps": []},
            },
        )
        assert flow.status_code == 201, flow.text
        flow_id = flow.json()["id"]

    page.set_viewport_size({"width": 1600, "height": 1000})
    sign_in(page, org.email, org.password)

    # Settings → SMS templates: write one, with the counter and the phone preview.
    page.goto("/settings/sms-templates")
    page.get_by_role("button", name="New SMS template").click()
    editor = page.get_by_role("dialog", name="New SMS template")
    field(editor, "Name").fill("Welcome text")
    field(editor, "Text").fill("Welcome {{ profile.first_name }}! Reply STOP to opt out.")
    expect(editor.get_by_test_id("sms-segments")).to_contain_text("1 segment (GSM-7")
    expect(editor.get_by_role("figure", name="Phone preview")).to_contain_text("Welcome")
    screenshot(page, "sms-template-editor")
    editor.get_by_role("button", name="Save template").click()
    templates = page.get_by_role("table", name="Saved SMS templates")
    expect(templates.get_by_role("row").filter(has_text="Welcome text")).to_be_visible()

    # The builder: an SMS step dropped from the palette under the trigger.
    page.goto(f"/flows/{flow_id}")
    page.get_by_role("heading", name="Welcome by text", level=1).wait_for()
    drop_step(page, "send_sms", 400, 260)
    node = page.get_by_test_id("flow-node-send-sms-1")
    expect(node).to_contain_text("Write the text")
    panel = page.get_by_role("region", name="Step settings")
    field(panel, "Text").fill("Hi {{ profile.first_name }}, green tea is 20% off today")
    expect(panel.get_by_test_id("sms-segments")).to_contain_text("1 segment (GSM-7")
    expect(node).to_contain_text("green tea is 20% off")
    # An emoji makes it UCS-2, and the counter says so.
    field(panel, "Text").fill("Hi {{ profile.first_name }} 🍵 green tea is 20% off today")
    expect(panel.get_by_test_id("sms-segments")).to_contain_text("UCS-2")
    # The saved template instead.
    panel.get_by_role("radiogroup", name="SMS text").get_by_text("Saved SMS template").click()
    choose(panel, page, "SMS template", "Welcome text")
    expect(panel.get_by_test_id("sms-template-text")).to_contain_text("Welcome {{ profile")
    expect(node).to_contain_text("Welcome text")
    screenshot(page, "flow-sms-step")
    page.get_by_role("button", name="Publish").click()
    expect(page.get_by_test_id("flow-status")).to_have_text("Live")
    with api(herald_server.base_url, org.secret_key) as client:
        published = client.get(f"/api/flows/{flow_id}").json()["published"]
        (step,) = published["steps"]
        assert step["type"] == "send_sms" and step["sms"]["body"] is None
        entered = client.post(f"/api/flows/{flow_id}/enrol", json={"profile": {"email": email}})
        assert entered.status_code == 201, entered.text

    texts = wait_for(lambda: [m for m in fake_twilio.messages if m.to == PHONE], SECONDS / 1000)
    assert texts[0].body == "Welcome Ada! Reply STOP to opt out."
    expect(node.get_by_test_id("count-sent")).to_have_text("1 sent", timeout=SECONDS)

    # Twilio reports the delivery; then Ada texts STOP.
    for callback in fake_twilio.take_callbacks():
        if callback.params["To"] == PHONE:
            answer = post_webhook(
                herald_server.base_url, callback.url, callback.params, callback.signature
            )
            assert answer.status_code == 204, answer.text
    inbound = fake_twilio.inbound(
        f"{herald_server.base_url}/webhooks/twilio/{org.org_id}/inbound", PHONE, "Stop"
    )
    answer = post_webhook(herald_server.base_url, inbound.url, inbound.params, inbound.signature)
    assert answer.status_code == 200, answer.text

    profile = find_profile(herald_server.base_url, org.secret_key, email)
    page.goto(f"/profiles/{profile['id']}")
    conversation = page.get_by_role("region", name="SMS conversation")
    sent = conversation.get_by_test_id("sms-outbound")
    expect(sent).to_contain_text("Welcome Ada! Reply STOP to opt out.")
    expect(sent).to_contain_text("delivered")
    received = conversation.get_by_test_id("sms-inbound")
    expect(received).to_contain_text("Stop")
    expect(received).to_contain_text("STOP")
    # Oldest first, as a phone shows it: the text, then the reply.
    items = conversation.get_by_role("listitem")
    expect(items.first).to_contain_text("Welcome Ada!")
    expect(items.last).to_contain_text("Stop")
    screenshot(page, "profile-sms-conversation")


def test_the_back_button_asks_before_unsaved_flow_changes_are_lost(
    page: Any, herald_server: Any, new_org: Any
) -> None:
    org = new_org("Back button shop")
    with api(herald_server.base_url, org.secret_key) as client:
        flow = client.post(
            "/api/flows",
            json={
                "name": "Unsaved",
                "definition": {"trigger": {"type": "api"}, "start": None, "steps": []},
            },
        )
        assert flow.status_code == 201, flow.text
    page.set_viewport_size({"width": 1600, "height": 1000})
    sign_in(page, org.email, org.password)
    page.get_by_role("navigation", name="Areas").get_by_role("link", name="Flows").click()
    page.get_by_role("table", name="Flows").get_by_role("link", name="Unsaved").click()
    page.get_by_role("heading", name="Unsaved", level=1).wait_for()
    drop_step(page, "delay", 400, 260)
    expect(page.get_by_test_id("unsaved")).to_be_visible()

    questions: list[str] = []

    def answer(accept: bool) -> Any:
        def handle(dialog: Any) -> None:
            questions.append(dialog.message)
            dialog.accept() if accept else dialog.dismiss()

        return handle

    def asked(count: int) -> None:
        # Playwright's events are dispatched while it is called: wait through it, not asleep.
        for _ in range(100):
            if len(questions) >= count:
                return
            page.wait_for_timeout(100)
        raise AssertionError("the browser asked nothing")

    # Back, and stay: the builder and its change are still there.
    page.once("dialog", answer(False))
    page.go_back()
    asked(1)
    assert "not saved" in questions[0]
    expect(page.get_by_role("heading", name="Unsaved", level=1)).to_be_visible()
    expect(page.get_by_test_id("flow-node-delay-1")).to_be_visible()
    expect(page.get_by_test_id("unsaved")).to_be_visible()

    # Back again, and leave: the flow list.
    page.once("dialog", answer(True))
    page.go_back()
    asked(2)
    page.get_by_role("heading", name="Flows", level=1).wait_for()
    assert re.search(r"/flows/?$", page.url)


def test_each_step_panel_edits_its_step(page: Any, herald_server: Any, new_org: Any) -> None:
    """The panels of the delay (until a weekday and time), conditional split, A/B (random)
    split, update profile and webhook steps: what is typed shows on the canvas and is saved."""
    org = new_org("Panels shop")
    with api(herald_server.base_url, org.secret_key) as client:
        flow = client.post(
            "/api/flows",
            json={
                "name": "Every panel",
                "definition": {"trigger": {"type": "api"}, "start": None, "steps": []},
            },
        )
        assert flow.status_code == 201, flow.text
        flow_id = flow.json()["id"]
    page.set_viewport_size({"width": 1800, "height": 1100})
    sign_in(page, org.email, org.password)
    page.goto(f"/flows/{flow_id}")
    page.get_by_role("heading", name="Every panel", level=1).wait_for()
    panel = page.get_by_role("region", name="Step settings")

    # Delay: until Monday to Thursday at 10:30 in the person's time zone.
    drop_step(page, "delay", 400, 200)
    delay = page.get_by_test_id("flow-node-delay-1")
    panel.get_by_role("radiogroup", name="Kind of delay").get_by_text(
        "Until a day and time"
    ).click()
    panel.get_by_text("fri", exact=True).click()  # the chip (its checkbox is hidden)
    field(panel, "At (their time zone)").fill("10:30")
    expect(delay).to_contain_text("Until Mon, Tue, Wed, Thu at 10:30")

    # Conditional split: yes for people who placed an order.
    drop_step(page, "conditional_split", 400, 380)
    split = page.get_by_test_id("flow-node-conditional-split-1")
    expect(split).to_contain_text("No conditions yet")
    panel.get_by_role("button", name="Add condition").click()
    page.get_by_role("menuitem", name="Event").click()
    field(panel.get_by_role("group", name="Condition 1"), "Event").fill("Placed Order")
    expect(split).to_contain_text("1 condition")
    connect(page, "delay-1", "next", "conditional-split-1")

    # A/B split: a third branch, and branch a weighted 20.
    drop_step(page, "random_split", 150, 560)
    ab = page.get_by_test_id("flow-node-random-split-1")
    panel.get_by_role("button", name="Add branch").click()
    panel.get_by_label("Weight").first.fill("20")
    expect(ab).to_contain_text("a 20 · b 50 · c 50")
    expect(ab.locator('[data-handleid="c"]')).to_have_count(1)
    connect(page, "conditional-split-1", "yes", "random-split-1")

    # Update profile: set vip to true and increment visits by 1.
    drop_step(page, "update_profile", 650, 560)
    update = page.get_by_test_id("flow-node-update-profile-1")
    panel.get_by_role("button", name="Add change").click()
    field(panel, "Property").fill("vip")
    field(panel, "To").fill("true")
    panel.get_by_role("button", name="Add change").click()
    panel.get_by_role("combobox", name="Change").nth(1).click()
    page.get_by_role("option", name="Increment", exact=True).click()
    panel.get_by_label("Property").nth(1).fill("visits")
    field(panel, "By").fill("1")
    expect(update).to_contain_text("Changes vip, visits")
    connect(page, "conditional-split-1", "no", "update-profile-1")

    # Webhook: a URL and a header.
    drop_step(page, "webhook", 380, 700)  # clear of the minimap (bottom right)
    hook = page.get_by_test_id("flow-node-webhook-1")
    field(panel, "URL").fill("https://hooks.example.com/herald")
    panel.get_by_role("button", name="Add header").click()
    field(panel, "Value").fill("shop-1")
    expect(hook).to_contain_text("https://hooks.example.com/herald")
    connect(page, "update-profile-1", "next", "webhook-1")

    page.get_by_role("button", name="Save").click()
    expect(page.get_by_test_id("unsaved")).to_have_count(0)
    with api(herald_server.base_url, org.secret_key) as client:
        draft = client.get(f"/api/flows/{flow_id}").json()["draft"]
    steps = {s["id"]: s for s in draft["steps"]}
    assert draft["start"] == "delay-1"
    assert steps["delay-1"]["delay"]["until"] == {
        "weekdays": ["monday", "tuesday", "wednesday", "thursday"],
        "time_of_day": "10:30",
    }
    assert steps["conditional-split-1"]["condition"]["conditions"][0]["metric"] == "Placed Order"
    assert steps["conditional-split-1"]["outputs"] == {
        "yes": "random-split-1",
        "no": "update-profile-1",
    }
    assert steps["random-split-1"]["branches"] == [
        {"name": "a", "weight": 20},
        {"name": "b", "weight": 50},
        {"name": "c", "weight": 50},
    ]
    assert steps["update-profile-1"]["update"]["set"] == {"vip": True}
    assert steps["update-profile-1"]["update"]["increment"] == {"visits": 1}
    assert steps["webhook-1"]["webhook"]["url"] == "https://hooks.example.com/herald"
    assert steps["webhook-1"]["webhook"]["headers"] == {"X-Header-1": "shop-1"}
