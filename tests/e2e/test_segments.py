"""Segments in the dashboard: the builder with its live estimate, the segment page (size once
computed, members, growth chart), the list, a profile's segments, and deleting."""

from __future__ import annotations

import re
import time
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.e2e.helpers import api, field, sign_in, unique_email

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("dashboard_build")]

COMPUTED = 30_000  # ms: `herald run` computes members in-process, within seconds


def seed(base_url: str, public_key: str) -> dict[str, str]:
    """Six people. The segment built below (email is set, and: plan is pro OR placed an order)
    matches `pro`, `buyer` and `pro_buyer`."""
    people = {
        "pro": ({"email": unique_email("pro")}, "pro", []),
        "buyer": ({"email": unique_email("buyer")}, "free", ["Placed Order"]),
        "pro_buyer": ({"email": unique_email("probuyer")}, "pro", ["Placed Order", "Placed Order"]),
        "free": ({"email": unique_email("free")}, "free", ["Viewed Product"]),
        "plain": ({"email": unique_email("plain")}, None, []),
        "no_email": ({"external_id": "no-email-1"}, "pro", ["Placed Order"]),
    }
    emails = {}
    with httpx.Client(
        base_url=base_url, headers={"Authorization": f"Bearer {public_key}"}, timeout=10
    ) as client:
        for key, (ids, plan, events) in people.items():
            properties = {"plan": plan} if plan else {}
            sent = client.post("/api/identify", json={**ids, "properties": properties})
            assert sent.status_code == 200, sent.text
            for event in events:
                tracked = client.post(
                    "/api/track", json={"event": event, "profile": ids, "value": 30}
                )
                assert tracked.status_code == 202, tracked.text
            emails[key] = ids.get("email", "")
    return emails


def wait_until_ready(client: httpx.Client, segment_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + COMPUTED / 1000
    while True:
        segment = client.get(f"/api/segments/{segment_id}").json()
        if segment["status"] == "ready" and segment["computed_at"]:
            return segment
        assert time.monotonic() < deadline, segment
        time.sleep(0.2)


def pick(page: Any, scope: Any, label: str, option: str) -> None:
    """Choose `option` in the Mantine select labelled `label` inside `scope`."""
    field(scope, label).click()
    page.get_by_role("option", name=option, exact=True).click()


def test_build_a_segment_see_it_computed_listed_and_on_profiles(
    page, herald_server, new_org, screenshot
) -> None:
    org = new_org("Segments shop")
    emails = seed(herald_server.base_url, org.public_key)
    sign_in(page, org.email, org.password)

    page.get_by_role("navigation", name="Areas").get_by_role("link", name="Segments").click()
    page.get_by_role("heading", name="Segments", level=1).wait_for()
    expect(page.get_by_text("No segments yet")).to_be_visible()
    page.get_by_role("main").get_by_role("link", name="New segment").click()
    page.get_by_role("heading", name="New segment", level=1).wait_for()
    expect(page.get_by_text("Add a condition to see how many people match.")).to_be_visible()
    # Only complete definitions are estimated: building never sends one the API refuses.
    estimates: list[int] = []
    page.on(
        "response",
        lambda r: estimates.append(r.status) if r.url.endswith("/api/segments/estimate") else None,
    )
    field(page, "Name").fill("Pro or buyers")

    # At the root: a built-in field, "Email is set", picked straight from the property list,
    # where City and Country are offered as well.
    page.get_by_role("button", name="Add condition", exact=True).click()
    page.get_by_role("menuitem", name="Profile property").click()
    first = page.get_by_role("group", name="Condition 1", exact=True)
    expect(first.get_by_text("Property: missing")).to_have_count(0)  # not red before touched
    field(first, "Property").click()
    expect(page.get_by_role("option", name="City", exact=True)).to_be_visible()
    expect(page.get_by_role("option", name="Country", exact=True)).to_be_visible()
    page.get_by_role("option", name="Email", exact=True).click()
    pick(page, first, "Operator", "is set")
    expect(page.get_by_test_id("segment-estimate")).to_have_text("5")

    # A nested "any" group: plan is pro, or has placed an order.
    page.get_by_role("button", name="Add group", exact=True).click()
    nested = page.get_by_role("group", name="Group 2", exact=True)
    nested.get_by_text("Any", exact=True).click()
    nested.get_by_role("button", name="Add condition to group 2").click()
    page.get_by_role("menuitem", name="Profile property").click()
    plan = nested.get_by_role("group", name="Condition 2.1", exact=True)
    field(plan, "Property").fill("plan")
    page.keyboard.press("Escape")
    expect(field(plan, "Compared as")).to_have_value("Text")
    expect(field(plan, "Operator")).to_have_value("is")
    field(plan, "Value").fill("pro")
    nested.get_by_role("button", name="Add condition to group 2").click()
    page.get_by_role("menuitem", name="Event").click()
    event = nested.get_by_role("group", name="Condition 2.2", exact=True)
    field(event, "Event").fill("Placed Order")
    page.keyboard.press("Escape")
    expect(field(event, "Condition")).to_have_value("has done")
    expect(field(event, "When")).to_have_value("at any time")

    # The live estimate: pro, buyer and pro_buyer (no_email has no email).
    expect(page.get_by_test_id("segment-estimate")).to_have_text("3")
    expect(page.get_by_text("profiles match right now")).to_be_visible()
    assert estimates and 422 not in estimates, estimates
    screenshot(page, "segment-builder")

    page.get_by_role("button", name="Save segment").click()
    page.wait_for_url(re.compile(r".*/segments/[0-9a-f-]{36}$"))
    page.get_by_role("heading", name="Pro or buyers", level=1).wait_for()

    # Computed by the embedded worker within seconds; then the members are listed.
    expect(page.get_by_test_id("member-count")).to_have_text("3", timeout=COMPUTED)
    size = page.get_by_role("region", name="Size")
    expect(size.get_by_text("Ready")).to_be_visible(timeout=COMPUTED)
    members = page.get_by_role("table", name="Members")
    expect(members.get_by_role("row")).to_have_count(4, timeout=COMPUTED)  # header and three
    for key in ("pro", "buyer", "pro_buyer"):
        expect(members.get_by_role("link", name=emails[key])).to_be_visible()
    expect(members.get_by_text(emails["free"])).to_have_count(0)

    # The growth chart: today ends with three members, who all entered today.
    chart = page.get_by_test_id("growth-chart")
    expect(chart).to_be_visible()
    expect(chart.locator("[data-testid=growth-line]")).to_have_count(1)
    expect(chart).to_have_attribute("aria-label", re.compile(r"Members over the last 30 days"))
    expect(chart).to_have_attribute("aria-label", re.compile(r"3 entered and 0 left"))
    growth = page.get_by_role("region", name="Growth")
    growth.get_by_text("90 days", exact=True).click()
    expect(chart).to_have_attribute("aria-label", re.compile(r"last 90 days"))
    export = page.get_by_role("link", name="Export CSV")
    assert (export.get_attribute("href") or "").startswith("/api/profiles/export?segment_id=")
    screenshot(page, "segment")

    # A member's profile lists the segment, as a link back.
    members.get_by_role("link", name=emails["buyer"]).click()
    page.get_by_role("heading", name=emails["buyer"], level=1).wait_for()
    profile_segments = page.get_by_role("region", name="Segments")
    profile_segments.get_by_role("link", name="Pro or buyers").click()
    page.get_by_role("heading", name="Pro or buyers", level=1).wait_for()

    # The list: name, size, status.
    page.get_by_role("navigation", name="Areas").get_by_role("link", name="Segments").click()
    row = (
        page.get_by_role("table", name="Segments")
        .get_by_role("row")
        .filter(has_text="Pro or buyers")
    )
    expect(row.get_by_role("cell", name="3", exact=True)).to_be_visible()
    expect(row.get_by_text("Ready")).to_be_visible()
    screenshot(page, "segments")

    # Editing shows the saved definition as it was built.
    row.get_by_role("link", name="Pro or buyers").click()
    page.get_by_role("link", name="Edit").click()
    page.get_by_role("heading", name="Edit Pro or buyers", level=1).wait_for()
    expect(field(page.get_by_role("group", name="Condition 2.2"), "Event")).to_have_value(
        "Placed Order"
    )
    expect(page.get_by_test_id("segment-estimate")).to_have_text("3")


def test_builder_shows_what_is_missing_and_delete_explains_a_conflict(
    page, herald_server, new_org, screenshot
) -> None:
    org = new_org("Segments conflicts")
    seed(herald_server.base_url, org.public_key)
    with api(herald_server.base_url, org.secret_key) as client:
        base = client.post(
            "/api/segments",
            json={
                "name": "Buyers",
                "definition": {
                    "conditions": [{"type": "event", "metric": "Placed Order", "value": 1}]
                },
            },
        )
        assert base.status_code == 201, base.text
        user = client.post(
            "/api/segments",
            json={
                "name": "Buyers on pro",
                "definition": {
                    "conditions": [
                        {"type": "segment", "segment_id": base.json()["id"]},
                        {
                            "type": "profile",
                            "property": "plan",
                            "operator": "equals",
                            "value": "pro",
                        },
                    ]
                },
            },
        )
        assert user.status_code == 201, user.text
        assert wait_until_ready(client, base.json()["id"])["member_count"] == 3
    sign_in(page, org.email, org.password)

    # An incomplete condition is not estimated; what it lacks shows once it is left.
    estimates: list[int] = []
    page.on(
        "response",
        lambda r: estimates.append(r.status) if r.url.endswith("/api/segments/estimate") else None,
    )
    page.goto("/segments/new")
    page.get_by_role("button", name="Add condition", exact=True).click()
    page.get_by_role("menuitem", name="Profile property").click()
    condition = page.get_by_role("group", name="Condition 1", exact=True)
    expect(page.get_by_test_id("estimate-incomplete")).to_be_visible()
    expect(condition.get_by_text("Property: missing", exact=True)).to_have_count(0)
    field(condition, "Property").click()
    field(page, "Name").click()
    expect(condition.get_by_text("Property: missing", exact=True)).to_be_visible()
    field(page, "Name").fill("Unfinished")
    page.get_by_role("button", name="Save segment").click()
    expect(page.get_by_text("Some conditions need attention")).to_be_visible()
    expect(condition.get_by_text("Value: missing", exact=True)).to_be_visible()
    # A segment condition offers the other segments.
    page.get_by_role("button", name="Add condition", exact=True).click()
    page.get_by_role("menuitem", name="Segment membership").click()
    membership = page.get_by_role("group", name="Condition 2", exact=True)
    pick(page, membership, "Segment", "Buyers")
    page.get_by_role("button", name="Remove condition 1").click()
    expect(page.get_by_test_id("segment-estimate")).to_have_text("3")  # buyer, pro_buyer, no_email
    assert estimates and 422 not in estimates, estimates
    screenshot(page, "segment-builder-membership")

    # Deleting a segment that another one includes is refused, with the reason.
    page.goto(f"/segments/{base.json()['id']}")
    page.get_by_role("heading", name="Buyers", level=1).wait_for()
    page.get_by_role("button", name="Delete").click()
    dialog = page.get_by_role("dialog", name="Delete this segment?")
    dialog.get_by_role("button", name="Delete segment").click()
    expect(dialog.get_by_role("alert")).to_contain_text("Buyers on pro include this segment")
    screenshot(page, "segment-delete-conflict")
    dialog.get_by_role("button", name="Cancel").click()

    # Without the segment that includes it, it goes.
    page.goto(f"/segments/{user.json()['id']}")
    page.get_by_role("heading", name="Buyers on pro", level=1).wait_for()
    page.get_by_role("button", name="Delete").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete segment").click()
    page.wait_for_url("**/segments")
    row = page.get_by_role("table", name="Segments").get_by_role("row")
    expect(row.filter(has_text="Buyers on pro")).to_have_count(0)
    expect(row.filter(has_text="Buyers")).to_have_count(1)
