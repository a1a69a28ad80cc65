"""Starter templates: created from the dashboard's starter picker (previewed with sample data,
opened in the editor), and each rendered in Chromium at 600 px and 375 px: nothing wider than
the screen, columns side by side on a desktop and stacked on a phone."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.helpers import api, sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("dashboard_build")]


def test_create_a_template_from_a_starter(page, herald_server, new_org, screenshot) -> None:
    org = new_org("Starter shop")
    sign_in(page, org.email, org.password)
    page.get_by_role("navigation", name="Areas").get_by_role("link", name="Templates").click()
    page.get_by_role("heading", name="Templates", level=1).wait_for()
    page.get_by_role("button", name="Start from a starter").click()
    dialog = page.get_by_role("dialog", name="Start from a starter")
    dialog.get_by_role("radio", name=re.compile("^Abandoned cart")).check()
    frame = dialog.frame_locator('iframe[title="Abandoned cart preview"]')
    expect(frame.get_by_text("Linen shirt")).to_be_visible()
    dialog.get_by_text("Mobile (375 px)").click()
    expect(dialog.locator("iframe[data-width=mobile]")).to_be_visible()
    screenshot(page, "template-starters")
    dialog.get_by_label("Template name").fill("Cart reminder")
    dialog.get_by_role("button", name="Create template").click()
    page.wait_for_url(re.compile(r".*/templates/[0-9a-f-]{36}$"))
    with api(herald_server.base_url, org.secret_key) as client:
        templates = client.get("/api/templates").json()["data"]
    assert [t["name"] for t in templates] == ["Cart reminder"]


SAMPLE = {
    "profile": {"first_name": "Ada"},
    "event": {
        "items": [
            {"name": "Blue shoes with a rather long product name", "quantity": 2, "price": 59}
        ],
        "value": 118,
        "checkout_url": "https://shop.example/cart",
    },
    "data": {
        "order_id": "A-1",
        "items": [{"name": "Socks", "quantity": 1, "price": 5}],
        "total": 5,
    },
}


@pytest.mark.parametrize("width", [600, 375])
def test_starters_fit_desktop_and_phone_widths(page, herald_server, new_org, width) -> None:
    org = new_org("Starters shop")
    with api(herald_server.base_url, org.secret_key) as client:
        starters = client.get("/api/templates/starters").json()["data"]
        rendered = {}
        for starter in starters:
            preview = client.post(
                "/api/templates/preview",
                json={"subject": "x", "body": starter["mjml"], "sample": SAMPLE},
            )
            assert preview.status_code == 200, preview.text
            rendered[starter["key"]] = preview.json()["html"]
    page.set_viewport_size({"width": width, "height": 900})
    for key, html in rendered.items():
        page.set_content(html)
        overflow = page.evaluate("document.scrollingElement.scrollWidth")
        assert overflow <= width, f"{key} is {overflow} px wide at {width} px"
        # Side-by-side columns at 600 px; one above the other on a phone.
        columns = page.locator("div[class*='mj-column-per-']").evaluate_all(
            "(nodes) => nodes.map((n) => n.getBoundingClientRect().toJSON())"
        )
        tops = {round(c["top"]) for c in columns}
        if width == 375:
            assert len(tops) == len(columns), f"{key}: columns share a row at 375 px"
            assert all(c["width"] >= width - 40 for c in columns), key
        elif key in ("newsletter", "product_announcement", "welcome", "order_confirmation"):
            assert len(tops) < len(columns), f"{key}: no columns side by side at 600 px"
