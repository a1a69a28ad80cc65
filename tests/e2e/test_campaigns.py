"""Campaigns in the dashboard: create one to a segment with a template (live audience size and
preview), send it to the outbox, follow it to sent and read its stats and recipients; an A/B
test set up in the editor, a field error from the API at its field, scheduling and the
read-only settings of a campaign that is no longer a draft."""

from __future__ import annotations

import html
import re
import time
import uuid
from datetime import datetime, timedelta
from email import message_from_bytes
from email import policy as email_policy
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from herald.campaigns import fanout
from herald.db import Database
from tests.e2e.helpers import api, field, sign_in, unique_email
from tests.e2e.test_segments import wait_until_ready

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("dashboard_build")]

SENT = 60_000  # ms: the embedded worker snapshots and sends a small campaign within seconds
POSTAL_ADDRESS = "1 Main Street, Springfield"
BODY = """<mjml>
  <mj-body>
    <mj-section><mj-column>
      <mj-text>Hello {{ profile.first_name | default("friend") }}, spring is here.</mj-text>
      <mj-text>{{ organization.postal_address }}
        <a href="{{ unsubscribe_url }}">Unsubscribe</a></mj-text>
    </mj-column></mj-section>
  </mj-body>
</mjml>
"""


def seed(base_url: str, secret_key: str, label: str) -> dict[str, Any]:
    """Email settings with the postal address; four VIPs (one without an address) and one other
    person; the segment "VIPs" (ready, 4 members) and "Everyone else"; a marketing template."""
    vips = [unique_email(f"{label}-vip{i}") for i in range(3)]
    other = unique_email(f"{label}-other")
    with api(base_url, secret_key) as client:
        settings = client.put(
            "/api/email/settings",
            json={
                "provider": "outbox",
                "default_from_name": "Acme",
                "default_from_email": "hello@acme.example",
                "postal_address": POSTAL_ADDRESS,
            },
        )
        assert settings.status_code == 200, settings.text
        people = [
            *(
                {"email": email, "first_name": f"Vip{i}", "properties": {"plan": "vip"}}
                for i, email in enumerate(vips)
            ),
            {"external_id": f"{label}-no-email", "properties": {"plan": "vip"}},
            {"email": other, "first_name": "Other", "properties": {"plan": "free"}},
        ]
        for person in people:
            created = client.post("/api/profiles", json=person)
            assert created.status_code == 201, created.text
        segments = {}
        for name, value in (("VIPs", "vip"), ("Everyone else", "free")):
            made = client.post(
                "/api/segments",
                json={
                    "name": name,
                    "definition": {
                        "conditions": [
                            {
                                "type": "profile",
                                "property": "plan",
                                "operator": "equals",
                                "value": value,
                            }
                        ]
                    },
                },
            )
            assert made.status_code == 201, made.text
            segments[name] = wait_until_ready(client, made.json()["id"])
        assert segments["VIPs"]["member_count"] == 4
        template = client.post(
            "/api/templates",
            json={
                "name": "Spring letter",
                "kind": "marketing",
                "subject": "Spring news",
                "body": BODY,
            },
        )
        assert template.status_code == 201, template.text
    return {"vips": vips, "other": other, "segments": segments, "template": template.json()}


def open_pixel(outbox: Path, address: str) -> None:
    """Open the email sent to `address` as a person's mail client would: fetch its tracking
    pixel with a browser's user agent."""
    for path in outbox.glob("*.eml"):
        message = message_from_bytes(path.read_bytes(), policy=email_policy.default)
        if address not in str(message["To"]):
            continue
        body = message.get_body(preferencelist=("html",))
        assert body is not None
        [url] = re.findall(r'src="(https?://[^"]+/t/o/[^"]+)"', body.get_content())
        response = httpx.get(
            html.unescape(url),
            headers={"User-Agent": "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Firefox/128.0"},
        )
        assert response.status_code == 200, response.text
        return
    raise AssertionError(f"no email to {address} in {outbox}")


def combobox(scope: Any, label: str) -> Any:
    return scope.get_by_role("combobox", name=re.compile(rf"^{re.escape(label)}( \*)?$"))


def option_name(option: str) -> re.Pattern[str]:
    """An option's name; a segment's option ends with its size ("VIPs 4 members")."""
    return re.compile(rf"^{re.escape(option)}( [\d,]+ members?)?$")


def choose(page: Any, label: str, option: str) -> None:
    """Pick `option` in the Mantine select or multi-select labelled `label`."""
    combobox(page, label).click()
    page.get_by_role("option", name=option_name(option)).click()
    page.keyboard.press("Escape")


def test_create_a_campaign_send_it_to_the_outbox_and_see_its_stats(
    page, herald_server, new_org, screenshot
) -> None:
    org = new_org("Campaign shop")
    data = seed(herald_server.base_url, org.secret_key, "send")
    sign_in(page, org.email, org.password)
    nav = page.get_by_role("navigation", name="Areas")

    nav.get_by_role("link", name="Campaigns").click()
    page.get_by_role("heading", name="Campaigns", level=1).wait_for()
    expect(page.get_by_text("No campaigns yet")).to_be_visible()
    expect(page.get_by_text("Not built yet")).to_have_count(0)
    assert nav.get_by_role("link", name="Campaigns").get_attribute("aria-current") == "page"
    page.get_by_role("main").get_by_role("link", name="New campaign").click()
    page.get_by_role("heading", name="New campaign", level=1).wait_for()

    field(page, "Name").fill("Spring sale")
    # The audience: the segment's size, and the live count of who would get it and who not.
    expect(page.get_by_test_id("audience-size")).to_contain_text("Choose at least one segment")
    choose(page, "Send to", "VIPs")
    audience = page.get_by_test_id("audience-size")
    expect(audience).to_contain_text("VIPs: 4 members")
    expect(page.get_by_test_id("audience-estimate")).to_have_text("3")
    expect(page.get_by_test_id("audience-total")).to_have_text("4")
    expect(page.get_by_test_id("audience-skipped")).to_have_text(
        "Left out: 1 without an email address."
    )
    # Adding a second segment: an upper bound (the sizes added up) and the exact count.
    choose(page, "Send to", "Everyone else")
    expect(page.get_by_test_id("audience-upper-bound")).to_contain_text("At most 5")
    expect(page.get_by_test_id("audience-estimate")).to_have_text("4")
    expect(page.get_by_test_id("audience-total")).to_have_text("5")
    # Leaving a segment out takes its members away (here, everyone it added).
    choose(page, "Leave out", "Everyone else")
    expect(page.get_by_test_id("audience-estimate")).to_have_text("3")
    # Back to the VIPs alone.
    include = combobox(page, "Send to")
    include.click()
    page.get_by_role("option", name=option_name("Everyone else")).click()  # toggles it off
    page.keyboard.press("Escape")
    exclude = combobox(page, "Leave out")
    exclude.click()
    page.get_by_role("option", name=option_name("Everyone else")).click()
    page.keyboard.press("Escape")
    expect(page.get_by_test_id("audience-estimate")).to_have_text("3")

    # The template, with its live preview, and a subject of the campaign's own.
    expect(page.get_by_test_id("preview-waiting")).to_have_text(
        "Choose a template to see the email."
    )
    choose(page, "Template", "Spring letter")
    field(page, "Subject").fill("Spring sale, {{ profile.first_name | default('friend') }}")
    expect(page.get_by_test_id("preview-subject")).to_have_text("Spring sale, Ada")
    preview = page.frame_locator('iframe[title="Email preview"]')
    expect(preview.get_by_text("Hello Ada, spring is here.")).to_be_visible()
    expect(preview.get_by_text(POSTAL_ADDRESS)).to_be_visible()
    # Sending options keep Herald's defaults: smart sending on, 16 hours.
    expect(page.get_by_role("switch", name=re.compile("^Smart sending"))).to_be_checked()
    expect(field(page, "Recently means within")).to_have_value("16 hours")
    expect(combobox(page, "Conversion event")).to_have_value("Placed Order")
    screenshot(page, "campaign-editor")

    page.get_by_role("button", name="Save draft").click()
    page.wait_for_url(re.compile(r".*/campaigns/[0-9a-f-]{36}$"))
    page.get_by_role("heading", name="Spring sale", level=1).wait_for()
    expect(page.get_by_test_id("campaign-status")).to_have_text("Draft")
    settings = page.get_by_role("region", name="Settings")
    expect(settings.get_by_role("link", name="VIPs")).to_be_visible()
    expect(settings.get_by_role("link", name="Spring letter")).to_be_visible()
    expect(page.get_by_text("Herald takes the audience when sending starts")).to_be_visible()
    campaign_id = page.url.rstrip("/").split("/")[-1]
    # The draft's page: its live audience, and its email for the sample person or a profile.
    draft_audience = page.get_by_role("region", name="Audience")
    expect(draft_audience.get_by_test_id("audience-estimate")).to_have_text("3")
    expect(draft_audience.get_by_test_id("audience-skipped")).to_have_text(
        "Left out: 1 without an email address."
    )
    draft_preview = page.get_by_role("region", name="Message preview")
    expect(draft_preview.get_by_test_id("campaign-preview-subject")).to_have_text(
        "Spring sale, Ada"
    )
    frame = page.frame_locator('iframe[title="Campaign preview"]')
    expect(frame.get_by_text("Hello Ada, spring is here.")).to_be_visible()
    draft_preview.get_by_text("A profile", exact=True).click()
    expect(draft_preview.get_by_test_id("campaign-preview-waiting")).to_be_visible()
    combobox(draft_preview, "Profile").fill(data["vips"][1])
    page.get_by_role("option", name=re.compile(re.escape(data["vips"][1]))).click()
    expect(draft_preview.get_by_test_id("campaign-preview-subject")).to_have_text(
        "Spring sale, Vip1"
    )
    expect(frame.get_by_text("Hello Vip1, spring is here.")).to_be_visible()
    screenshot(page, "campaign-draft")

    # Send now, after confirming: the confirmation says who gets it and who is left out, and why.
    page.get_by_role("button", name="Send now").click()
    dialog = page.get_by_role("dialog", name="Send this campaign now?")
    expect(dialog.get_by_test_id("forecast-eligible")).to_have_text(
        "3 people will get it (of 4 in the chosen segments)."
    )
    expect(dialog.get_by_test_id("forecast-left-out")).to_have_text("1 person left out:")
    expect(dialog.get_by_role("listitem")).to_have_text(["1 without an email address"])
    screenshot(page, "campaign-send-confirmation")
    dialog.get_by_role("button", name="Send now").click()
    expect(dialog).to_have_count(0)
    expect(page.get_by_test_id("campaign-status")).to_have_text("Sent", timeout=SENT)
    progress = page.get_by_test_id("campaign-progress-text")
    expect(progress).to_have_text("4 of 4 recipients done (100%)")
    expect(page.get_by_test_id("count-sent")).to_have_text("3")
    expect(page.get_by_test_id("count-skipped")).to_have_text("1")

    # The stats: four recipients (one skipped for having no address), three sent.
    stats = page.get_by_role("region", name="Stats")
    expect(
        stats.get_by_role("group", exact=True, name="Recipients").get_by_test_id("stat-value")
    ).to_have_text("4")
    expect(
        stats.get_by_role("group", exact=True, name="Sent").get_by_test_id("stat-value")
    ).to_have_text("3")
    expect(
        stats.get_by_role("group", exact=True, name="Open rate").get_by_test_id("stat-value")
    ).to_have_text("0.0%")
    expect(
        stats.get_by_role("group", exact=True, name="Revenue").get_by_test_id("stat-value")
    ).to_have_text("0.00")
    expect(stats.get_by_test_id("stat-card")).to_have_count(10)

    # The recipients, filtered by status: whether each opened, and a link to their message
    # that does not read like an open. The first VIP opens the email (its tracking pixel).
    open_pixel(herald_server.data_dir / "outbox" / org.org_id, data["vips"][0])
    recipients = page.get_by_role("table", name="Recipients")
    expect(recipients.get_by_role("row")).to_have_count(5)  # the header and four
    for email in data["vips"]:
        expect(recipients.get_by_role("row").filter(has_text=email)).to_contain_text("Sent")
    expect(recipients.get_by_role("link", name="Open", exact=True)).to_have_count(0)
    expect(recipients.get_by_role("link", name="View message")).to_have_count(3)
    page.reload()
    opener = recipients.get_by_role("row").filter(has_text=data["vips"][0])
    expect(opener.get_by_test_id("recipient-engagement")).to_have_text("Opened")
    other_row = recipients.get_by_role("row").filter(has_text=data["vips"][1])
    expect(other_row.get_by_test_id("recipient-engagement")).to_have_text("Not opened")
    combobox(page, "Status").click()
    page.get_by_role("option", name="Skipped", exact=True).click()
    expect(recipients.get_by_role("row")).to_have_count(2)
    expect(recipients).to_contain_text("No email address")
    screenshot(page, "campaign-sent")

    # Settings of a sent campaign are read-only, and say why.
    page.get_by_role("button", name="More").click()
    page.get_by_role("menuitem", name="View settings").click()
    page.wait_for_url(f"**/campaigns/{campaign_id}/edit")
    expect(page.get_by_test_id("read-only-note")).to_contain_text("only a draft can be changed")
    expect(field(page, "Name")).to_be_disabled()
    expect(page.get_by_role("button", name="Save changes")).to_have_count(0)

    # The outbox holds the three emails, personalized.
    nav.get_by_role("link", name="Outbox").click()
    page.get_by_role("heading", name="Outbox", level=1).wait_for()
    outbox = page.get_by_role("table", name="Outbox")
    for index, email in enumerate(data["vips"]):
        row = outbox.get_by_role("row").filter(has_text=email)
        expect(row).to_contain_text(f"Spring sale, Vip{index}")
        expect(row).to_contain_text("Marketing")
    expect(outbox.get_by_text(data["other"])).to_have_count(0)
    outbox_files = list((herald_server.data_dir / "outbox" / org.org_id).glob("*.eml"))
    assert len(outbox_files) == 3, outbox_files

    # The list: status, recipients and sent.
    nav.get_by_role("link", name="Campaigns").click()
    row = (
        page.get_by_role("table", name="Campaigns")
        .get_by_role("row")
        .filter(has_text="Spring sale")
    )
    expect(row.get_by_test_id("campaign-status")).to_have_text("Sent")
    expect(row.get_by_role("cell", name="4", exact=True)).to_be_visible()
    expect(row.get_by_role("cell", name="3", exact=True)).to_be_visible()
    screenshot(page, "campaigns")

    # A test to one address: not a recipient, followed on its message page.
    row.get_by_role("link", name="Spring sale").click()
    page.get_by_role("button", name="More").click()
    page.get_by_role("menuitem", name="Send a test").click()
    dialog = page.get_by_role("dialog", name="Send a test")
    tester = unique_email("tester")
    field(dialog, "Email address").fill(tester)
    dialog.get_by_role("button", name="Send test").click()
    expect(dialog.get_by_text(f"Test queued for {tester}.")).to_be_visible()
    dialog.get_by_role("link", name="Follow the message").click()
    page.wait_for_url(re.compile(r".*/messages/[0-9a-f-]{36}$"))
    expect(page.get_by_test_id("message-status").first).to_have_text("Sent", timeout=SENT)
    # A test send, named so, of this campaign (linked).
    source = page.get_by_test_id("message-source")
    expect(source).to_contain_text("Campaign test send")
    expect(source).not_to_contain_text("Transactional")
    source.get_by_role("link", name="Spring sale").click()
    page.wait_for_url(f"**/campaigns/{campaign_id}")
    with api(herald_server.base_url, org.secret_key) as client:
        assert client.get(f"/api/campaigns/{campaign_id}/stats").json()["recipients"] == 4


def test_ab_test_setup_field_errors_schedule_and_unschedule(
    page, herald_server, new_org, screenshot
) -> None:
    org = new_org("Campaign tests")
    data = seed(herald_server.base_url, org.secret_key, "ab")
    with api(herald_server.base_url, org.secret_key) as client:
        taken = client.post("/api/campaigns", json={"name": "Taken name"})
        assert taken.status_code == 201, taken.text
    sign_in(page, org.email, org.password)

    page.goto("/campaigns/new")
    page.get_by_role("heading", name="New campaign", level=1).wait_for()
    field(page, "Name").fill("Taken name")
    choose(page, "Send to", "VIPs")
    choose(page, "Template", data["template"]["name"])

    # An A/B test: three variants, one of them a second template-less copy to start with.
    page.get_by_role("switch", name="Test variants").check()
    field(page, "Subject of variant A").fill("Spring is here")
    field(page, "Subject of variant B").fill("Our spring sale starts today")
    page.get_by_role("button", name="Add variant").click()
    expect(page.get_by_text("3 of 7 variants")).to_be_visible()
    choose(page, "Winning metric", "Click rate")
    field(page, "Test pool").fill("30")
    expect(page.get_by_text("10% of the audience gets each variant")).to_be_visible()
    page.get_by_text("Send a variant I choose").click()
    # Checked in the browser first: variant C changes nothing, and no default is chosen yet.
    page.get_by_role("button", name="Save draft").click()
    expect(page.get_by_text("Choose the variant to send without a clear winner.")).to_be_visible()
    choose(page, "Variant to send", "Variant B")
    page.get_by_role("button", name="Remove variant C").click()
    expect(page.get_by_text("2 of 7 variants")).to_be_visible()
    # The preview follows the variant.
    page.locator("label").filter(has_text=re.compile(r"^Variant B$")).click()
    expect(page.get_by_test_id("preview-subject")).to_have_text("Our spring sale starts today")

    # The API's reason lands under the field it names.
    page.get_by_role("button", name="Save draft").click()
    name = field(page, "Name")
    expect(
        page.locator(".mantine-InputWrapper-error").filter(
            has_text="another campaign has this name"
        )
    ).to_be_visible()
    described_by = (name.get_attribute("aria-describedby") or "").split()
    error_id = (
        page.locator(".mantine-InputWrapper-error")
        .filter(has_text="another campaign has this name")
        .get_attribute("id")
    )
    assert error_id in described_by
    screenshot(page, "campaign-ab-editor")
    name.fill("Spring A/B")
    page.get_by_role("button", name="Save draft").click()
    page.wait_for_url(re.compile(r".*/campaigns/[0-9a-f-]{36}$"))
    page.get_by_role("heading", name="Spring A/B", level=1).wait_for()
    campaign_id = page.url.rstrip("/").split("/")[-1]
    with api(herald_server.base_url, org.secret_key) as client:
        saved = client.get(f"/api/campaigns/{campaign_id}").json()
    assert saved["ab_test"]["variants"] == [
        {
            "key": "A",
            "subject": "Spring is here",
            "template_id": None,
            "from_name": None,
            "sms_body": None,
            "send_delay_minutes": None,
        },
        {
            "key": "B",
            "subject": "Our spring sale starts today",
            "template_id": None,
            "from_name": None,
            "sms_body": None,
            "send_delay_minutes": None,
        },
    ]
    assert saved["ab_test"]["pool_percent"] == 30
    assert saved["ab_test"]["metric"] == "click_rate"
    assert saved["ab_test"]["fallback"] == "default"
    assert saved["ab_test"]["default_variant"] == "B"
    ab = page.get_by_role("region", name="A/B test")
    expect(ab).to_contain_text("30% of the audience is split over 2 variants (15% each)")
    expect(ab.get_by_test_id("variant-B")).to_contain_text("Subject: Our spring sale starts today")

    # Schedule in each recipient's local time, then take it back to a draft.
    page.get_by_role("button", name="Schedule").click()
    dialog = page.get_by_role("dialog", name="Schedule this campaign")
    # Who would get it if it went now, and who not; the audience is taken when it starts.
    expect(dialog.get_by_test_id("forecast-eligible")).to_have_text(
        "3 people would get it if it went now (of 4 in the chosen segments)."
    )
    expect(dialog.get_by_test_id("audience-forecast")).to_contain_text("1 without an email address")
    field(dialog, "Send at").fill("2031-05-04T09:30")
    dialog.get_by_text("In each recipient's local time").click()
    field(dialog, "Grace").fill("30")
    dialog.get_by_role("button", name="Schedule").click()
    expect(dialog).to_have_count(0)
    expect(page.get_by_test_id("campaign-status")).to_have_text("Scheduled")
    expect(page.get_by_text("at 2031-05-04 09:30 in each recipient's time zone")).to_be_visible()
    with api(herald_server.base_url, org.secret_key) as client:
        scheduled = client.get(f"/api/campaigns/{campaign_id}").json()
    assert scheduled["local_send_at"].startswith("2031-05-04T09:30")
    assert scheduled["local_grace_minutes"] == 30
    expect(page.get_by_role("link", name="Edit")).to_have_count(0)
    screenshot(page, "campaign-scheduled")
    page.get_by_role("button", name="Unschedule").click()
    expect(page.get_by_test_id("campaign-status")).to_have_text("Draft")
    expect(page.get_by_role("link", name="Edit")).to_be_visible()

    # Edit the draft: the whole audience in the test pool, then send it. The test runs for hours,
    # so the campaign stays sending with the variants side by side.
    page.get_by_role("link", name="Edit").click()
    page.get_by_role("heading", name="Edit Spring A/B", level=1).wait_for()
    expect(field(page, "Subject of variant B")).to_have_value("Our spring sale starts today")
    field(page, "Test pool").fill("100")
    page.get_by_role("button", name="Save changes").click()
    page.wait_for_url(f"**/campaigns/{campaign_id}")
    expect(ab).to_contain_text("100% of the audience is split over 2 variants (50% each)")
    page.get_by_role("button", name="Send now").click()
    page.get_by_role("dialog").get_by_role("button", name="Send now").click()
    expect(page.get_by_test_id("campaign-status")).to_have_text("Sending")
    expect(page.get_by_test_id("count-sent")).to_have_text("3", timeout=SENT)
    expect(ab.get_by_test_id("ab-pending")).to_contain_text("The winner will be picked")
    with api(herald_server.base_url, org.secret_key) as client:
        stats = client.get(f"/api/campaigns/{campaign_id}/stats").json()
    by_variant = {v["variant"]: v["sent"] for v in stats["variants"]}
    assert sorted(by_variant) == ["A", "B"] and sum(by_variant.values()) == 3, stats["variants"]
    for key, sent in by_variant.items():
        sent_cell = ab.get_by_test_id(f"variant-{key}").get_by_role("cell").nth(3)
        expect(sent_cell).to_have_text(str(sent))
    screenshot(page, "campaign-ab-sending")

    # Pause and resume, then cancel: nobody else gets it.
    page.get_by_role("button", name="Pause").click()
    expect(page.get_by_test_id("campaign-status")).to_have_text("Paused")
    page.get_by_role("button", name="Resume").click()
    expect(page.get_by_test_id("campaign-status")).to_have_text("Sending")
    page.get_by_role("button", name="More").click()
    page.get_by_role("menuitem", name="Cancel campaign").click()
    page.get_by_role("dialog").get_by_role("button", name="Cancel campaign").click()
    expect(page.get_by_test_id("campaign-status")).to_have_text("Cancelled")


def test_a_decided_ab_test_shows_its_winner(page, herald_server, new_org, screenshot) -> None:
    org = new_org("Decided shop")
    data = seed(herald_server.base_url, org.secret_key, "decided")
    with api(herald_server.base_url, org.secret_key) as client:
        made = client.post(
            "/api/campaigns",
            json={
                "name": "Decided A/B",
                "template_id": data["template"]["id"],
                "include_segment_ids": [data["segments"]["VIPs"]["id"]],
                "ab_test": {
                    "variants": [{"subject": "Plain"}, {"subject": "Fancy"}],
                    "pool_percent": 100,
                    "fallback": "default",
                    "default_variant": "B",
                },
            },
        )
        assert made.status_code == 201, made.text
        campaign_id = made.json()["id"]
        assert client.post(f"/api/campaigns/{campaign_id}/send").status_code == 202
        deadline = time.monotonic() + SENT / 1000
        while client.get(f"/api/campaigns/{campaign_id}").json()["counts"] != {
            "sent": 3,
            "skipped": 1,
        }:
            assert time.monotonic() < deadline, "the test pool was not sent"
            time.sleep(0.3)
        decide_at = client.get(f"/api/campaigns/{campaign_id}").json()["ab_decide_at"]
    # The test lasts hours: decide it now, as the worker's task will when its time comes.
    database = Database(f"sqlite:///{herald_server.data_dir / 'herald.db'}")
    try:
        moment = datetime.fromisoformat(decide_at) + timedelta(seconds=1)
        assert fanout.decide_test(database, uuid.UUID(campaign_id), moment)
    finally:
        database.engine.dispose()

    sign_in(page, org.email, org.password)
    page.goto(f"/campaigns/{campaign_id}")
    result = page.get_by_test_id("ab-result")
    expect(result).to_contain_text("Variant B was sent without a clear winner")
    expect(result).to_contain_text("sending the default variant B as configured")
    expect(page.get_by_test_id("campaign-status")).to_have_text("Sent", timeout=SENT)
    screenshot(page, "campaign-ab-decided")
