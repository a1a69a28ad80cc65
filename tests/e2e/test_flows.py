"""Flows in the dashboard: an abandoned-cart flow built on the canvas by dragging steps from the
palette and connecting them, a validation error shown on the step it names, publishing, then two
people who start a checkout through the API: one gets the email (in the Outbox, and in the counts
on the canvas), the other places an order first and leaves at the flow's filter; the enrolment
explorer and the profile page show their paths."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.helpers import api, field, find_profile, sign_in, unique_email

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("dashboard_build")]

SECONDS = 60_000  # ms: the embedded worker runs due steps within a second or two
DELAY_SECONDS = 4
BODY = """<mjml>
  <mj-body>
    <mj-section><mj-column>
      <mj-text>Your cart misses you, {{ profile.first_name | default("friend") }}.</mj-text>
      <mj-text>{{ organization.postal_address }}
        <a href="{{ unsubscribe_url }}">Unsubscribe</a></mj-text>
    </mj-column></mj-section>
  </mj-body>
</mjml>
"""


def seed(base_url: str, secret_key: str) -> None:
    """The outbox with a postal address, and the reminder template."""
    with api(base_url, secret_key) as client:
        settings = client.put(
            "/api/email/settings",
            json={
                "provider": "outbox",
                "default_from_name": "Acme",
                "default_from_email": "hello@acme.example",
                "postal_address": "1 Main Street, Springfield",
            },
        )
        assert settings.status_code == 200, settings.text
        template = client.post(
            "/api/templates",
            json={
                "name": "Cart reminder",
                "kind": "marketing",
                "subject": "Your cart is waiting",
                "body": BODY,
            },
        )
        assert template.status_code == 201, template.text


def choose(scope: Any, page: Any, label: str, option: str) -> None:
    """Pick `option` in the Mantine select labelled `label` inside `scope`."""
    scope.get_by_role("combobox", name=re.compile(rf"^{re.escape(label)}( \*)?$")).click()
    page.get_by_role("option", name=option, exact=True).click()


def drop_step(page: Any, step_type: str, x: int, y: int) -> None:
    """Drag a step from the palette onto the canvas at (x, y) from its top left corner."""
    page.get_by_test_id(f"palette-{step_type}").drag_to(
        page.locator(".react-flow__pane"), target_position={"x": x, "y": y}
    )


def connect(page: Any, source: str, output: str, target: str) -> None:
    """Drag from a step's output handle to another step's input handle."""
    handle = page.locator(f'[data-testid="flow-node-{source}"] [data-handleid="{output}"]')
    into = page.locator(f'[data-testid="flow-node-{target}"] [data-handleid="in"]')
    handle.drag_to(into)


def track(base_url: str, public_key: str, event: str, email: str, **properties: Any) -> None:
    with api(base_url, public_key) as client:
        response = client.post(
            "/api/track",
            json={"event": event, "profile": {"email": email}, "properties": properties},
        )
    assert response.status_code in (200, 202), response.text


def wait_for(check: Any, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.3)


def test_build_an_abandoned_cart_flow_on_the_canvas_and_run_it(
    page, herald_server, new_org, screenshot
) -> None:
    org = new_org("Flow shop")
    seed(herald_server.base_url, org.secret_key)
    page.set_viewport_size({"width": 1600, "height": 1000})
    sign_in(page, org.email, org.password)
    nav = page.get_by_role("navigation", name="Areas")

    nav.get_by_role("link", name="Flows").click()
    page.get_by_role("heading", name="Flows", level=1).wait_for()
    expect(page.get_by_text("No flows yet")).to_be_visible()
    expect(page.get_by_text("Not built yet")).to_have_count(0)
    page.get_by_role("main").get_by_role("button", name="New flow").click()
    dialog = page.get_by_role("dialog", name="New flow")
    # The flow templates are offered next to a blank flow.
    expect(dialog.get_by_role("button", name="Abandoned cart")).to_be_visible()
    field(dialog, "Name").fill("Cart rescue")
    dialog.get_by_role("button", name="Blank flow").click()
    dialog.get_by_role("button", name="Create and open the builder").click()
    page.wait_for_url(re.compile(r".*/flows/[0-9a-f-]{36}$"))
    page.get_by_role("heading", name="Cart rescue", level=1).wait_for()
    expect(page.get_by_test_id("flow-status")).to_have_text("Draft")
    flow_id = page.url.rstrip("/").split("/")[-1]

    # The trigger: someone starts a checkout.
    page.get_by_test_id("flow-node-trigger").click()
    trigger = page.get_by_role("region", name="Trigger settings")
    choose(trigger, page, "Who enters", "Someone does an event")
    field(trigger, "Event").fill("Started Checkout")
    expect(page.get_by_test_id("flow-node-trigger")).to_contain_text("Started Checkout")

    # A delay dragged under the trigger becomes the first step; a few seconds, for the test.
    drop_step(page, "delay", 400, 260)
    delay = page.get_by_test_id("flow-node-delay-1")
    expect(delay).to_be_visible()
    panel = page.get_by_role("region", name="Step settings")
    field(panel, "Wait").fill(str(DELAY_SECONDS))
    choose(panel, page, "Unit", "seconds")
    expect(delay).to_contain_text(f"Wait {DELAY_SECONDS} seconds")

    # The email, dragged below and connected from the delay's output.
    drop_step(page, "send_email", 400, 450)
    email = page.get_by_test_id("flow-node-send-email-1")
    expect(email).to_contain_text("Choose a template")
    connect(page, "delay-1", "next", "send-email-1")
    expect(page.locator('.react-flow__edge[data-id="delay-1:next"]')).to_have_count(1)

    # Publishing without a template: the API's error is shown on the email step.
    page.get_by_role("button", name="Publish").click()
    expect(email.get_by_test_id("step-problems")).to_have_text("1 to fix")
    email.click()
    expect(panel.get_by_test_id("panel-problems")).to_contain_text("Template")
    choose(panel, page, "Template", "Cart reminder")
    expect(email).to_contain_text("Cart reminder")

    # The flow's filter: nobody who placed an order since entering gets the reminder.
    page.locator(".react-flow__pane").click(position={"x": 40, "y": 600})
    settings = page.get_by_role("region", name="Flow settings")
    settings.get_by_role("switch", name=re.compile("^Flow filters")).check()
    settings.get_by_role("button", name="Add condition").click()
    page.get_by_role("menuitem", name="Event").click()
    condition = settings.get_by_role("group", name="Condition 1")
    field(condition, "Event").fill("Placed Order")
    choose(condition, page, "Condition", "has not done")
    choose(condition, page, "When", "since starting this flow")

    # Undo takes the last change back (a step dropped by mistake), redo brings it again.
    drop_step(page, "exit", 700, 450)
    stray = page.get_by_test_id("flow-node-exit-1")
    expect(stray).to_be_visible()
    page.get_by_role("button", name="Undo").click()
    expect(stray).to_have_count(0)
    page.get_by_role("button", name="Redo").click()
    expect(stray).to_be_visible()
    page.get_by_role("button", name="Undo").click()
    expect(stray).to_have_count(0)
    page.get_by_role("button", name="Auto-layout").click()
    screenshot(page, "flow-builder")

    page.get_by_role("button", name="Publish").click()
    expect(page.get_by_test_id("flow-status")).to_have_text("Live")
    expect(page.get_by_test_id("unsaved")).to_have_count(0)
    with api(herald_server.base_url, org.secret_key) as client:
        stored = client.get(f"/api/flows/{flow_id}").json()
    published = stored["published"]
    assert published["trigger"]["metric"] == "Started Checkout"
    assert published["start"] == "delay-1"
    assert [s["type"] for s in published["steps"]] == ["delay", "send_email"]
    assert published["steps"][0]["outputs"] == {"next": "send-email-1"}
    assert published["filters"]["conditions"][0]["window"]["type"] == "since_flow_start"
    # Where the builder drew each node is saved with the flow.
    assert {"trigger", "delay-1", "send-email-1"} <= set(stored["layout"])

    # Two people start a checkout; the second places an order during the delay.
    keeps, buys = unique_email("keeps"), unique_email("buys")
    track(herald_server.base_url, org.public_key, "Started Checkout", keeps, value=42)
    track(herald_server.base_url, org.public_key, "Started Checkout", buys, value=17)

    def enrolments() -> list[dict[str, Any]]:
        with api(herald_server.base_url, org.secret_key) as client:
            return client.get(f"/api/flows/{flow_id}/enrolments").json()["data"]

    wait_for(lambda: len(enrolments()) == 2)
    track(herald_server.base_url, org.public_key, "Placed Order", buys, value=17)

    # The canvas counts follow (refetched every few seconds): two entered, one email sent.
    expect(page.get_by_test_id("flow-node-trigger").get_by_test_id("count-entered")).to_have_text(
        "2 entered", timeout=SECONDS
    )
    expect(email.get_by_test_id("count-sent")).to_have_text("1 sent", timeout=SECONDS)
    expect(delay.get_by_test_id("count-here")).to_have_text("0 here now")
    screenshot(page, "flow-live-counts")

    # Test with a profile: the path the person would take now, the email rendered for them.
    page.get_by_role("button", name="Test", exact=True).click()
    trial = page.get_by_role("dialog", name="Test with a profile")
    trial.get_by_role("combobox", name="Profile").fill(keeps)
    page.get_by_role("option", name=re.compile(re.escape(keeps))).click()
    trial.get_by_role("button", name="Test", exact=True).click()
    path = trial.get_by_label("Trial path")
    expect(path).to_contain_text("Subject: Your cart is waiting")
    page.keyboard.press("Escape")

    # The enrolment explorer: who left at the filter, and why.
    page.get_by_role("link", name="Enrolments").click()
    page.get_by_role("heading", name="Enrolments in Cart rescue", level=1).wait_for()
    table = page.get_by_role("table", name="Enrolments")
    left = table.get_by_role("row").filter(has_text=buys)
    expect(left).to_contain_text("Exited")
    expect(left).to_contain_text("no longer matches the flow's filters")
    expect(table.get_by_role("row").filter(has_text=keeps)).to_contain_text("Completed")
    left.get_by_role("button", name="Path").click()
    drawer = page.get_by_role("dialog", name="Enrolment")
    expect(drawer.get_by_test_id("exit-reason")).to_have_text(
        "no longer matches the flow's filters"
    )
    page.keyboard.press("Escape")

    # The Outbox holds the one reminder, to the person who did not buy.
    nav.get_by_role("link", name="Outbox").click()
    outbox = page.get_by_role("table", name="Outbox")
    expect(outbox.get_by_role("row").filter(has_text=keeps)).to_contain_text("Your cart is waiting")
    expect(outbox.get_by_role("row").filter(has_text=buys)).to_have_count(0)

    # The profile page shows the flow and the path taken.
    profile = find_profile(herald_server.base_url, org.secret_key, keeps)
    page.goto(f"/profiles/{profile['id']}")
    flows = page.get_by_role("region", name="Flows")
    entry = flows.get_by_test_id("profile-flow")
    expect(entry).to_contain_text("Cart rescue")
    expect(entry).to_contain_text("Completed")
    entry.get_by_role("button").first.click()
    expect(entry.get_by_text("sent", exact=True)).to_be_visible()
    screenshot(page, "profile-flows")

    # Pause holds it, Resume runs it again, Archive (after confirming) ends it: read-only.
    page.goto(f"/flows/{flow_id}")
    page.get_by_role("button", name="Pause").click()
    expect(page.get_by_test_id("flow-status")).to_have_text("Paused")
    page.get_by_role("button", name="Resume").click()
    expect(page.get_by_test_id("flow-status")).to_have_text("Live")
    page.get_by_role("button", name="Archive").click()
    page.get_by_role("dialog", name="Archive this flow?").get_by_role(
        "button", name="Archive"
    ).click()
    expect(page.get_by_test_id("flow-status")).to_have_text("Archived")
    expect(page.get_by_test_id("palette-delay")).to_be_disabled()
    expect(page.get_by_role("button", name="Save")).to_have_count(0)
