"""The drag-and-drop email editor: a template built by dragging blocks onto the GrapesJS canvas,
with a personalization tag and an image uploaded to the library, saved as MJML, previewed for a
profile at desktop and mobile widths, sent as a test, and sent in a campaign to the Outbox."""

from __future__ import annotations

import re
import struct
import zlib
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.helpers import api, field, sign_in
from tests.e2e.test_campaigns import SENT, seed

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("dashboard_build")]

LOADED = 60_000  # ms: GrapesJS and its MJML compiler are a large chunk on a busy machine


def png(path: Path, width: int = 40, height: int = 20) -> Path:
    """A small solid PNG, written byte by byte (no imaging library needed)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    rows = b"".join(b"\x00" + b"\x33\x66\x99" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )
    return path


def wait_for_editor(page: Any) -> Any:
    """The visual editor once GrapesJS has loaded the MJML (its load event sets data-loaded)."""
    page.locator('[data-testid="visual-editor"][data-loaded="true"]').wait_for(timeout=LOADED)
    return page.frame_locator("iframe.gjs-frame")


def drag_block(page: Any, label: str, frame: Any, at: Any = None) -> None:
    """Drag the block labelled `label` onto the canvas: onto the element `at` of the canvas (the
    middle of its start, so GrapesJS puts the block next to it), else in the empty space at the
    end of the email."""
    page.get_by_test_id("visual-editor").scroll_into_view_if_needed()
    page.get_by_test_id("visual-editor").evaluate("element => element.scrollIntoView()")
    block = page.locator(".gjs-block", has_text=re.compile(rf"^\s*{re.escape(label)}\s*$")).first
    canvas = frame.bounding_box()
    if at is None:
        position = {"x": canvas["width"] / 2, "y": canvas["height"] - 120}
    else:
        box = at.bounding_box()  # in the page, like the frame's
        position = {
            "x": box["x"] - canvas["x"] + min(50, box["width"] / 2),
            "y": box["y"] - canvas["y"] + box["height"] / 2,
        }
    # Steps: GrapesJS places the block from the drag-over events on the way.
    block.drag_to(frame, target_position=position, steps=40)


def test_build_a_template_by_dragging_blocks_and_send_it_in_a_campaign(
    page, herald_server, new_org, screenshot, tmp_path
) -> None:
    org = new_org("Editor shop")
    data = seed(herald_server.base_url, org.secret_key, "editor")
    sign_in(page, org.email, org.password)

    page.goto("/templates/new")
    page.get_by_role("heading", name="New template", level=1).wait_for()
    expect(page.get_by_role("button", name="Start from Blank")).to_have_attribute(
        "aria-pressed", "true"
    )
    field(page, "Name").fill("Dragged letter")
    field(page, "Subject").fill("News for {{ profile.first_name | default('you') }}")
    canvas = wait_for_editor(page)
    expect(page.get_by_role("tab", name="Visual")).to_have_attribute("aria-selected", "true")
    # The blank start carries the footer marketing email needs.
    expect(canvas.get_by_text("Unsubscribe")).to_be_visible()

    # A one-column section, dragged from the blocks onto the canvas.
    frame = page.locator("iframe.gjs-frame")
    drag_block(page, "1 Column", frame)
    expect(canvas.get_by_text("Content 1")).to_be_visible()

    # A personalization tag, inserted into the selected text from the menu.
    canvas.get_by_text("Content 1").click()
    page.get_by_role("button", name="Personalize").click()
    page.get_by_role("menuitem", name="First name").click()
    expect(canvas.get_by_text(re.compile(r"Content 1\s*\{\{ profile\.first_name"))).to_be_visible()

    # An image: dropping the block asks the image library, where a new one is uploaded and chosen.
    drag_block(page, "Image", frame, at=canvas.get_by_text("Content 1"))
    picker = page.get_by_role("dialog", name="Choose an image")
    with page.expect_file_chooser() as chooser:
        picker.get_by_role("button", name="Choose files").click()
    chooser.value.set_files(str(png(tmp_path / "logo.png")))
    expect(picker).to_have_count(0, timeout=20_000)
    expect(canvas.locator('img[src*="/images/"]')).to_have_count(1)
    screenshot(page, "email-editor-visual")

    # The code view shows the same MJML: the tag, the image, the footer.
    page.get_by_role("tab", name="Code").click()
    code = page.get_by_test_id("code-editor")
    expect(code).to_contain_text("{{ profile.first_name | default('there') }}")
    expect(code).to_contain_text("/images/")
    expect(code).to_contain_text("{{ unsubscribe_url }}")
    screenshot(page, "email-editor-code")
    # ... and back: the visual editor loads it again, unchanged.
    page.get_by_role("tab", name="Visual").click()
    canvas = wait_for_editor(page)
    expect(canvas.get_by_text(re.compile(r"Content 1\s*\{\{ profile\.first_name"))).to_be_visible()

    page.get_by_role("button", name="Save template").click()
    page.wait_for_url(re.compile(r".*/templates/[0-9a-f-]{36}$"))
    page.get_by_role("heading", name="Dragged letter", level=1).wait_for()
    template_id = page.url.rstrip("/").split("/")[-1]
    with api(herald_server.base_url, org.secret_key) as client:
        saved = client.get(f"/api/templates/{template_id}").json()
    assert saved["body_format"] == "mjml"
    assert saved["body"].lstrip().startswith("<mjml>")
    assert "{{ profile.first_name | default('there') }}" in saved["body"]
    assert re.search(r'<mj-image[^>]+src="http://[^"]+/images/', saved["body"]), saved["body"]

    # The preview for a profile, at the desktop width, not clipped, then at the mobile width.
    page.get_by_text("A profile", exact=True).click()
    page.get_by_role("combobox", name="Profile").fill("vip0")
    page.get_by_role("option", name=re.compile(re.escape(data["vips"][0]))).click()
    expect(page.get_by_test_id("preview-subject")).to_have_text("News for Vip0")
    preview = page.frame_locator('iframe[title="Email preview"]')
    expect(preview.get_by_text(re.compile(r"Content 1\s*Vip0"))).to_be_visible()
    iframe = page.locator('iframe[title="Email preview"]')
    box = iframe.bounding_box()
    assert box is not None and round(box["width"]) == 600
    panel = page.get_by_role("region", name="Preview").bounding_box()
    assert (
        panel is not None
        and box["x"] >= panel["x"]
        and box["x"] + 600 <= panel["x"] + panel["width"]
    )
    page.get_by_text("Mobile (375 px)").click()
    expect(iframe).to_have_attribute("data-width", "mobile")
    screenshot(page, "email-editor-preview")

    # A test send to any address.
    test_form = page.get_by_role("form", name="Test send")
    field(test_form, "Send a test to").fill("tester@example.com")
    test_form.get_by_role("button", name="Send test").click()
    expect(page.get_by_text("Test email queued")).to_be_visible()

    # A campaign to the VIPs with the template, sent to the Outbox.
    with api(herald_server.base_url, org.secret_key) as client:
        made = client.post(
            "/api/campaigns",
            json={
                "name": "Dragged campaign",
                "template_id": template_id,
                "include_segment_ids": [data["segments"]["VIPs"]["id"]],
            },
        )
        assert made.status_code == 201, made.text
    page.goto(f"/campaigns/{made.json()['id']}")
    page.get_by_role("button", name="Send now").click()
    page.get_by_role("dialog", name="Send this campaign now?").get_by_role(
        "button", name="Send now"
    ).click()
    expect(page.get_by_test_id("campaign-status")).to_have_text("Sent", timeout=SENT)

    page.get_by_role("navigation", name="Areas").get_by_role("link", name="Outbox").click()
    outbox = page.get_by_role("table", name="Outbox")
    row = outbox.get_by_role("row").filter(has_text=data["vips"][0])
    expect(row).to_contain_text("News for Vip0")
    expect(outbox.get_by_role("row").filter(has_text="tester@example.com")).to_have_count(1)
    row.get_by_role("link", name="News for Vip0").click()
    sent = page.frame_locator('iframe[title="Email as sent"]')
    expect(sent.get_by_text(re.compile(r"Content 1\s*Vip0"))).to_be_visible()
    expect(sent.locator('img[src*="/images/"]')).to_have_count(1)
    screenshot(page, "email-editor-outbox")
