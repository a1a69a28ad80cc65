"""Hostile text never runs in the dashboard: a `<script>`, an event handler or a `javascript:`
address in a profile's name and properties, a segment's and a campaign's names, a template's
HTML and links, and an event's properties are shown as text (or inside the sandboxed email
frame, where scripts cannot run), on every screen that shows them."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import expect

from tests.e2e.helpers import sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("dashboard_build")]

MARK = "window.__herald_xss"
NAME = f'<img src=x onerror="{MARK}=1">Mallory'
SCRIPT = f"<script>{MARK}=2</script>"
LINK = f"javascript:{MARK}=3"


def _never_ran(page) -> None:
    assert page.evaluate(f"typeof {MARK}") == "undefined"


def test_script_in_names_urls_and_templates_never_runs(
    page, herald_server, new_org, screenshot
) -> None:
    org = new_org(SCRIPT)
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    with httpx.Client(
        base_url=herald_server.base_url,
        headers={"Authorization": f"Bearer {org.secret_key}"},
        trust_env=False,
    ) as api:
        profile = api.post(
            "/api/profiles",
            json={
                "email": "mallory@example.com",
                "first_name": NAME,
                "properties": {SCRIPT: LINK, "site": LINK},
            },
        )
        assert profile.status_code == 201, profile.text
        event = api.post(
            "/api/track",
            headers={"Authorization": f"Bearer {org.public_key}"},
            json={
                "event": SCRIPT,
                "profile": {"email": "mallory@example.com"},
                "properties": {"url": LINK},
            },
        )
        assert event.status_code == 202, event.text
        definition = {"conditions": [{"type": "profile", "field": "email", "operator": "is_set"}]}
        segment = api.post("/api/segments", json={"name": SCRIPT, "definition": definition})
        assert segment.status_code == 201, segment.text
        body = (
            f"<p>Hi {{{{ profile.first_name }}}}</p>{SCRIPT}<a href='{LINK}'>x</a>"
            "<img src=x onerror='parent.__herald_xss=4'>"
        )
        template = api.post(
            "/api/templates",
            json={
                "name": SCRIPT,
                "subject": SCRIPT,
                "body": body,
                "body_format": "html",
                "kind": "transactional",
            },
        )
        assert template.status_code == 201, template.text
        campaign = api.post(
            "/api/campaigns",
            json={
                "name": NAME,
                "template_id": template.json()["id"],
                "include_segment_ids": [segment.json()["id"]],
            },
        )
        assert campaign.status_code == 201, campaign.text

    sign_in(page, org.email, org.password)
    _never_ran(page)
    page.goto(f"/profiles/{profile.json()['id']}")
    page.get_by_role("region", name="Properties").get_by_text(SCRIPT, exact=True).wait_for()
    expect(page.get_by_role("heading", level=1)).to_contain_text("<img")
    page.get_by_role("region", name="Timeline").get_by_text(SCRIPT).first.wait_for()
    _never_ran(page)
    screenshot(page, "hostile-profile")

    page.goto("/segments")
    page.get_by_text(SCRIPT).first.wait_for()
    _never_ran(page)
    page.goto(f"/templates/{template.json()['id']}")
    preview = page.frame_locator("iframe").first
    preview.get_by_text("Hi Ada").wait_for()
    # The email's own javascript: link, clicked in the preview: the sandbox runs no script.
    preview.get_by_role("link", name="x").click()
    page.wait_for_timeout(300)
    _never_ran(page)
    screenshot(page, "hostile-template")
    page.goto("/campaigns")
    page.get_by_text("Mallory").first.wait_for()
    page.goto(f"/campaigns/{campaign.json()['id']}")
    page.get_by_text("Mallory").first.wait_for()
    _never_ran(page)
    assert dialogs == []
