"""Email in the dashboard: the postal address in Settings → Email, a marketing template with a
save-time error and a live preview, a transactional email seen in the outbox and on its message
page (and from the person's timeline), and the suppression list."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.helpers import api, field, sign_in, unique_email

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("dashboard_build")]

SENT = 15  # s: `herald run` sends queued email in-process within a second or two
POSTAL_ADDRESS = "1 Main Street, Springfield"

# Line 3 opens `{{` and never closes it.
BROKEN_BODY = """<mjml>
  <mj-body>
    <mj-section><mj-column><mj-text>Hello {{ profile.first_name </mj-text></mj-column></mj-section>
    <mj-section><mj-column><mj-text>{{ organization.postal_address }}
      <a href="{{ unsubscribe_url }}">Unsubscribe</a></mj-text></mj-column></mj-section>
  </mj-body>
</mjml>
"""
FIXED_BODY = BROKEN_BODY.replace("first_name </mj-text>", "first_name }}</mj-text>")


def wait_until_sent(client: Any, message_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + SENT
    while True:
        message = client.get(f"/api/messages/{message_id}").json()
        if message["status"] not in ("queued", "sending"):
            return message
        assert time.monotonic() < deadline, message
        time.sleep(0.2)


def test_postal_address_template_preview_outbox_and_message(
    page, herald_server, new_org, screenshot
) -> None:
    org = new_org("Email shop")
    email = unique_email("zelda")
    with api(herald_server.base_url, org.secret_key) as client:
        created = client.post("/api/profiles", json={"email": email, "first_name": "Zelda"})
        assert created.status_code == 201, created.text
        profile_id = created.json()["id"]
    sign_in(page, org.email, org.password)
    nav = page.get_by_role("navigation", name="Areas")

    # Settings → Email: the postal address marketing email needs.
    nav.get_by_role("link", name="Settings").click()
    page.get_by_role("tab", name="Email").click()
    page.wait_for_url("**/settings/email")
    expect(page.get_by_text("Set it before sending marketing email")).to_be_visible()
    expect(page.get_by_role("radio", name="Outbox")).to_be_checked()
    field(page, "Postal address").fill(POSTAL_ADDRESS)
    page.get_by_role("button", name="Save email settings").click()
    expect(page.get_by_text("Email settings saved.")).to_be_visible()
    expect(page.get_by_text("Set it before sending marketing email")).to_have_count(0)
    screenshot(page, "settings-email")
    with api(herald_server.base_url, org.secret_key) as client:
        assert client.get("/api/email/settings").json()["postal_address"] == POSTAL_ADDRESS

    # A marketing template in MJML: a broken `{{` is refused with its line, then fixed.
    nav.get_by_role("link", name="Templates").click()
    page.get_by_role("heading", name="Templates", level=1).wait_for()
    expect(page.get_by_text("No templates yet")).to_be_visible()
    page.get_by_role("main").get_by_role("link", name="New template").click()
    page.get_by_role("heading", name="New template", level=1).wait_for()
    expect(page.get_by_role("radio", name="Marketing")).to_be_checked()
    expect(page.get_by_role("radio", name="MJML")).to_be_checked()
    field(page, "Name").fill("Welcome")
    field(page, "Subject").fill("Hi {{ profile.first_name }}")
    # MJML opens in the visual editor; this test writes the source in the code view.
    page.get_by_role("tab", name="Code").click()
    body = page.get_by_role("textbox", name="Body (MJML)")
    body.fill(BROKEN_BODY)
    # The live preview already says what is wrong, with the position.
    expect(page.get_by_test_id("preview-error")).to_contain_text("Body: Line 3, column")
    page.get_by_role("button", name="Save template").click()
    problem = page.get_by_test_id("template-problem")
    expect(problem).to_have_text(re.compile(r"^Line 3, column \d+: "))
    # The problem is shown under the body, and marked at its line in the code editor.
    expect(page.locator(".mantine-InputWrapper-error", has=problem)).to_be_visible()
    expect(page.get_by_test_id("code-editor").locator(".cm-lintRange-error")).not_to_have_count(0)
    expect(page.get_by_text("The template was not saved")).to_be_visible()
    # Its position is a button that puts the cursor there.
    position = problem.get_by_role("button", name=re.compile(r"^Line 3, column \d+$"))
    where = position.inner_text()
    position.click()
    expect(body).to_be_focused()
    expect(page.get_by_test_id("cursor-position")).to_have_text(where)
    screenshot(page, "template-error")
    page.wait_for_url("**/templates/new")  # nothing was saved

    body.fill(FIXED_BODY)
    expect(page.get_by_test_id("template-problem")).to_have_count(0)
    # Preview as the profile, found by searching.
    page.get_by_text("A profile", exact=True).click()
    picker = page.get_by_role("combobox", name="Profile")
    picker.fill("zelda")
    page.get_by_role("option", name=re.compile(re.escape(email))).click()
    expect(page.get_by_test_id("preview-subject")).to_have_text("Hi Zelda")
    preview = page.frame_locator('iframe[title="Email preview"]')
    expect(preview.get_by_text("Hello Zelda")).to_be_visible()
    expect(preview.get_by_text(POSTAL_ADDRESS)).to_be_visible()
    iframe = page.locator('iframe[title="Email preview"]')
    assert iframe.get_attribute("sandbox") is not None
    assert "allow-scripts" not in (iframe.get_attribute("sandbox") or "")
    page.get_by_text("Mobile (375 px)").click()
    expect(iframe).to_have_attribute("data-width", "mobile")
    assert round(iframe.bounding_box()["width"]) == 375
    screenshot(page, "template-editor")
    page.get_by_role("button", name="Save template").click()
    page.wait_for_url(re.compile(r".*/templates/[0-9a-f-]{36}$"))
    page.get_by_role("heading", name="Welcome", level=1).wait_for()
    expect(page.get_by_text("Template “Welcome” saved.")).to_be_visible()

    # Duplicate, then delete the copy.
    page.get_by_role("button", name="Duplicate").click()
    page.get_by_role("heading", name="Welcome (copy)", level=1).wait_for()
    page.get_by_role("button", name="Delete").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete template").click()
    page.wait_for_url("**/templates")
    templates = page.get_by_role("table", name="Templates")
    expect(templates.get_by_role("link")).to_have_count(1)
    expect(templates.get_by_role("link", name="Welcome")).to_be_visible()
    expect(templates.get_by_text("Marketing")).to_be_visible()
    screenshot(page, "templates")

    # A transactional email through the API, as an application would send a receipt.
    with api(herald_server.base_url, org.secret_key) as client:
        sent = client.post(
            "/api/messages/email",
            json={
                "to": {"email": email},
                "subject": "Your receipt {{ data.order }}",
                "html": "<p>Thanks, {{ profile.first_name }}: "
                "order {{ data.order }} is confirmed.</p>",
                "data": {"order": "A-42"},
            },
        )
        assert sent.status_code == 202, sent.text
        message_id = sent.json()["id"]
        assert wait_until_sent(client, message_id)["status"] == "sent"

    nav.get_by_role("link", name="Outbox").click()
    page.get_by_role("heading", name="Outbox", level=1).wait_for()
    outbox = page.get_by_role("table", name="Outbox")
    row = outbox.get_by_role("row").filter(has_text="Your receipt A-42")
    expect(row).to_contain_text(email)
    expect(row).to_contain_text("Sent")
    expect(row).to_contain_text("Transactional")
    screenshot(page, "outbox")
    row.get_by_role("link", name="Your receipt A-42").click()
    page.wait_for_url(f"**/outbox/{message_id}")
    page.get_by_role("heading", name="Your receipt A-42", level=1).wait_for()
    stored = page.frame_locator('iframe[title="Email as sent"]')
    expect(stored.get_by_text("Thanks, Zelda: order A-42 is confirmed.")).to_be_visible()
    headers = page.get_by_role("table", name="Headers")
    rows = headers.get_by_role("row")
    expect(rows.filter(has_text="Subject")).to_contain_text("Your receipt A-42")
    expect(rows.filter(has_text=re.compile(r"^To"))).to_contain_text(email)
    expect(headers.get_by_text("Message-ID", exact=True)).to_be_visible()
    raw = page.get_by_role("link", name="Download .eml")
    assert raw.get_attribute("href") == f"/api/outbox/{message_id}/raw"
    page.get_by_role("tab", name="Plain text").click()
    expect(page.get_by_text("order A-42 is confirmed")).to_be_visible()
    screenshot(page, "outbox-message")

    page.get_by_role("link", name="Message details").click()
    page.wait_for_url(f"**/messages/{message_id}")
    page.get_by_role("heading", name="Your receipt A-42", level=1).wait_for()
    message = page.get_by_role("region", name="Message")
    expect(message.get_by_test_id("message-status")).to_have_text("Sent")
    expect(message.get_by_text("outbox", exact=True)).to_be_visible()
    events = page.get_by_role("table", name="Message events")
    expect(events.get_by_text("Queued", exact=True)).to_be_visible()
    expect(events.get_by_text("Sent", exact=True)).to_be_visible()
    assert nav.get_by_role("link", name="Outbox").get_attribute("aria-current") == "page"
    screenshot(page, "message")

    # The person's timeline links to the message.
    page.goto(f"/profiles/{profile_id}")
    page.get_by_role("link", name="Your receipt A-42").click()
    page.wait_for_url(f"**/messages/{message_id}")
    expect(page.get_by_test_id("message-status").first).to_have_text("Sent")


def test_add_bulk_add_and_remove_suppressions(page, herald_server, new_org, screenshot) -> None:
    org = new_org("Suppression shop")
    sign_in(page, org.email, org.password)
    page.get_by_role("navigation", name="Areas").get_by_role("link", name="Suppressions").click()
    page.get_by_role("heading", name="Suppressions", level=1).wait_for()
    expect(page.get_by_text("Nobody is suppressed")).to_be_visible()

    address = unique_email("stop")
    page.get_by_role("button", name="Add address").click()
    dialog = page.get_by_role("dialog")
    field(dialog, "Email address").fill(address)
    dialog.get_by_role("button", name="Add to the list").click()
    expect(page.get_by_text(f"{address} is on the suppression list.")).to_be_visible()
    table = page.get_by_role("table", name="Suppressions")
    row = table.get_by_role("row").filter(has_text=address)
    expect(row).to_contain_text("Added by hand")
    expect(row).to_contain_text("dashboard")

    # Many at once: repeated entries count once, a bad one is named.
    first, second = unique_email("bulk"), unique_email("bulk")
    page.get_by_role("button", name="Add many").click()
    dialog = page.get_by_role("dialog")
    field(dialog, "Addresses").fill(f"{first}\n{second}, {first.upper()}\nnot-an-address@")
    expect(dialog.get_by_text("3 addresses (1 repeated, counted once).")).to_be_visible()
    dialog.get_by_role("button", name="Add 3 to the list").click()
    expect(dialog.get_by_text("Added 2; 0 already on the list; 1 refused.")).to_be_visible()
    expect(dialog.get_by_text(re.compile(r"^not-an-address@: "))).to_be_visible()
    dialog.get_by_role("button", name="Close").click()
    expect(table.get_by_role("row")).to_have_count(4)  # the header and three entries

    # Filters and the export link follow each other.
    field(page, "Search").fill(address[:10])
    expect(table.get_by_role("row")).to_have_count(2)
    export = page.get_by_role("link", name="Export CSV")
    assert (export.get_attribute("href") or "") == f"/api/suppressions/export?q={address[:10]}"
    screenshot(page, "suppressions")

    table.get_by_role("button", name=f"Remove {address}").click()
    page.get_by_role("dialog").get_by_role("button", name="Remove").click()
    expect(page.get_by_text(f"{address} removed from the suppression list.")).to_be_visible()
    expect(page.get_by_text("Nothing matches")).to_be_visible()
    with api(herald_server.base_url, org.secret_key) as client:
        listed = client.get("/api/suppressions").json()["data"]
    assert sorted(entry["address"] for entry in listed) == sorted([first, second])
