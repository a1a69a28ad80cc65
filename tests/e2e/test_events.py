"""The Events screen, and the first-run guidance an empty organization gets."""

from __future__ import annotations

import re
import secrets
import subprocess

import httpx
import pytest
from playwright.sync_api import expect

from tests.e2e.helpers import sign_in, unique_email

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("dashboard_build")]


def test_event_names_counts_stream_filter_and_refresh(
    page, herald_server, new_org, screenshot
) -> None:
    org = new_org("Events shop")
    email = unique_email("buyer")
    with httpx.Client(
        base_url=herald_server.base_url,
        headers={"Authorization": f"Bearer {org.public_key}"},
        timeout=10,
    ) as client:
        for n in range(3):
            sent = client.post(
                "/api/track",
                json={"event": "Placed Order", "profile": {"email": email}, "value": 20 + n},
            )
            assert sent.status_code == 202, sent.text
        sent = client.post(
            "/api/track",
            json={
                "event": "Viewed Product",
                "profile": {"email": email},
                "properties": {"sku": "T-1"},
            },
        )
        assert sent.status_code == 202, sent.text

        sign_in(page, org.email, org.password)
        page.get_by_role("navigation", name="Areas").get_by_role("link", name="Events").click()
        names = page.get_by_role("table", name="Event names")
        placed = names.get_by_role("row").filter(has_text="Placed Order")
        placed.wait_for()
        expect(placed.get_by_role("cell", name="3", exact=True)).to_be_visible()
        expect(placed.get_by_text("just now")).to_be_visible()
        stream = page.get_by_role("table", name="Recent events")
        expect(stream.get_by_role("row")).to_have_count(5)  # the header and four events
        expect(stream.get_by_text("sku: T-1")).to_be_visible()
        screenshot(page, "events")

        # A name filters the stream (and lands in the address).
        names.get_by_role("button", name="Viewed Product").click()
        page.wait_for_url(re.compile(r".*/events\?name=Viewed\+Product"))
        expect(stream.get_by_role("row")).to_have_count(2)
        screenshot(page, "events-filtered")

        # New events appear on Refresh.
        sent = client.post(
            "/api/track", json={"event": "Viewed Product", "profile": {"email": email}}
        )
        assert sent.status_code == 202, sent.text
        page.get_by_role("button", name="Refresh").click()
        expect(stream.get_by_role("row")).to_have_count(3)
        names.get_by_role("row").filter(has_text="Viewed Product").get_by_role(
            "cell", name="2", exact=True
        ).wait_for()

    # Each event links to its person.
    stream.get_by_role("link", name="View profile").first.click()
    page.get_by_role("heading", name=email, level=1).wait_for()


def test_an_empty_organization_is_shown_how_to_send_a_first_event(
    page, herald_server, new_org, screenshot
) -> None:
    org = new_org("Brand new shop")
    sign_in(page, org.email, org.password)
    # Profiles, empty, points the way too.
    expect(page.get_by_text("No profiles yet")).to_be_visible()
    expect(
        page.get_by_role("main").get_by_role("link", name="Send your first event")
    ).to_be_visible()
    screenshot(page, "profiles-empty")
    page.goto("/events")
    panel = page.get_by_role("region", name="Send your first event")
    panel.wait_for()
    expect(panel.get_by_text("cannot show an existing key again")).to_be_visible()
    # Until there is a key, the snippets hold a placeholder.
    assert "pk_YOUR_PUBLIC_KEY" in panel.get_by_label("curl snippet", exact=True).inner_text()
    screenshot(page, "events-empty")

    panel.get_by_role("button", name="Create a public key for these snippets").click()
    key = panel.get_by_test_id("new-public-key").inner_text().strip()
    assert key.startswith("pk_")
    expect(panel.get_by_text("Herald shows it only now")).to_be_visible()
    curl = panel.get_by_label("curl snippet", exact=True).inner_text()
    assert key in curl and herald_server.base_url + "/api/track" in curl
    panel.get_by_role("tab", name="Python").click()
    assert key in panel.get_by_label("Python snippet", exact=True).inner_text()
    panel.get_by_role("tab", name="JavaScript (website)").click()
    javascript = panel.get_by_label("JavaScript (website) snippet", exact=True).inner_text()
    assert f'data-key="{key}"' in javascript and f"{herald_server.base_url}/sdk.js" in javascript
    screenshot(page, "events-first-event-key")

    # The curl snippet, run as it is, sends the first event.
    panel.get_by_role("tab", name="curl").click()
    ran = subprocess.run(
        ["sh", "-c", panel.get_by_label("curl snippet", exact=True).inner_text()],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert ran.returncode == 0 and '"duplicate":false' in ran.stdout, ran.stdout + ran.stderr
    panel.get_by_role("button", name="I sent an event: check again").click()
    page.get_by_role("table", name="Event names").get_by_text("Viewed Product").wait_for()

    # The key made here is an ordinary key: listed (never shown) in Settings.
    page.goto("/settings/api-keys")
    row = page.get_by_role("row").filter(has_text="Website (from Send your first event)")
    expect(row.get_by_text(key[:10])).to_be_visible()


def test_get_started_page_is_linked_from_the_shell(page, herald_server, screenshot) -> None:
    sign_in(page, herald_server.email, herald_server.password)
    nav = page.get_by_role("navigation", name="Areas")
    nav.get_by_role("link", name="Send your first event").click()
    page.get_by_role("heading", name="Send your first event", level=1).wait_for()
    expect(
        page.get_by_role("button", name="Create a public key for these snippets")
    ).to_be_visible()
    screenshot(page, "get-started")


def test_a_failing_api_shows_an_error_with_a_retry(page, herald_server, screenshot) -> None:
    sign_in(page, herald_server.email, herald_server.password)
    failing = {"on": True}

    def fail_while_on(route) -> None:
        if failing["on"]:  # retries included: the dashboard retries a 5xx twice
            route.fulfill(
                status=503,
                json={
                    "error": {
                        "code": "unavailable",
                        "message": "the database is not answering",
                        "fields": [],
                    }
                },
            )
        else:
            route.continue_()

    page.route("**/api/metrics", fail_while_on)
    page.goto("/events")
    alert = page.get_by_role("alert")
    alert.get_by_text("The database is not answering.").wait_for(timeout=15_000)
    screenshot(page, "events-error")
    failing["on"] = False
    alert.get_by_role("button", name="Try again").click()
    expect(page.get_by_text("The database is not answering.")).to_be_hidden()
    # The events (or, for an organization without any, the first-event guide) are back.
    page.locator("table[aria-label='Event names'], #first-event-title").first.wait_for()


def test_event_names_are_text_not_html(page, herald_server, new_org) -> None:
    org = new_org("Markup shop")
    name = f"<img src=x onerror=alert(1)> {secrets.token_hex(3)}"
    sent = httpx.post(
        f"{herald_server.base_url}/api/track",
        params={"api_key": org.public_key},
        json={"event": name, "profile": {"anonymous_id": "a-1"}},
        timeout=10,
    )
    assert sent.status_code == 202, sent.text
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    sign_in(page, org.email, org.password)
    page.goto("/events")
    page.get_by_role("table", name="Event names").get_by_text(name).wait_for()
    assert page.locator("img[src=x]").count() == 0
    assert dialogs == []
