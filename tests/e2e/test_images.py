"""The image library in the dashboard: upload by picking and by dropping, a refused SVG with
the server's reason, the grid with dimensions and size, Copy URL (the public URL serves the
bytes), delete."""

from __future__ import annotations

import base64
import io
from typing import Any

import httpx
import pytest
from PIL import Image as PillowImage
from playwright.sync_api import expect

from tests.e2e.helpers import sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("dashboard_build")]


def picture(fmt: str, size: tuple[int, int]) -> bytes:
    buffer = io.BytesIO()
    PillowImage.new("RGB", size, (30, 120, 200)).save(buffer, format=fmt)
    return buffer.getvalue()


def drop_file(page: Any, target: Any, name: str, data: bytes, content_type: str) -> None:
    """Drop a file on `target` as a person dragging it from their desktop would."""
    handle = page.evaluate_handle(
        """([name, b64, type]) => {
            const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
            const transfer = new DataTransfer();
            transfer.items.add(new File([bytes], name, { type }));
            return transfer;
        }""",
        [name, base64.b64encode(data).decode(), content_type],
    )
    target.dispatch_event("dragover", {"dataTransfer": handle})
    target.dispatch_event("drop", {"dataTransfer": handle})


def test_upload_see_copy_and_delete_images(page, herald_server, new_org, screenshot, tmp_path):
    org = new_org("Images shop")
    sign_in(page, org.email, org.password)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.get_by_role("navigation", name="Areas").get_by_role("link", name="Templates").click()
    page.get_by_role("heading", name="Templates", level=1).wait_for()
    page.get_by_role("link", name="Images").click()
    page.get_by_role("heading", name="Images", level=1).wait_for()
    expect(page.get_by_text("No images yet")).to_be_visible()

    banner = tmp_path / "Spring banner.png"
    banner.write_bytes(picture("PNG", (120, 40)))
    page.locator('input[type="file"]').set_input_files(str(banner))
    grid = page.get_by_role("list", name="Images")
    card = grid.get_by_role("listitem").filter(has_text="Spring banner.png")
    expect(card).to_be_visible()
    expect(card.get_by_text("120\u00d740")).to_be_visible()
    expect(card.get_by_text("PNG", exact=True)).to_be_visible()

    zone = page.get_by_test_id("image-drop-zone")
    drop_file(page, zone, "logo.webp", picture("WEBP", (64, 64)), "image/webp")
    logo = grid.get_by_role("listitem").filter(has_text="logo.webp")
    expect(logo.get_by_text("64\u00d764")).to_be_visible()
    # Newest first.
    expect(grid.get_by_role("listitem").first).to_contain_text("logo.webp")

    # Refused by its bytes, with the server's reason.
    svg = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
    drop_file(page, zone, "evil.svg", svg, "image/svg+xml")
    refused = page.get_by_role("alert").filter(has_text="evil.svg")
    expect(refused).to_contain_text("SVG is refused")
    expect(grid.get_by_role("listitem")).to_have_count(2)
    # The thumbnail loaded from Herald.
    expect(card.get_by_role("img", name="Spring banner.png")).to_have_js_property("complete", True)
    assert card.get_by_role("img").evaluate("img => img.naturalWidth") == 120
    screenshot(page, "images-library")

    card.get_by_role("button", name="Copy URL the URL of Spring banner.png").click()
    expect(card.get_by_role("button", name="Copied the URL of Spring banner.png")).to_be_visible()
    url = page.evaluate("navigator.clipboard.readText()")
    assert "/images/" in url and url.endswith("/spring-banner.png")
    served = httpx.get(herald_server.base_url + httpx.URL(url).path)
    assert served.status_code == 200 and served.content == banner.read_bytes()
    assert served.headers["cache-control"] == "public, max-age=31536000, immutable"

    card.get_by_role("button", name="Delete Spring banner.png").click()
    dialog = page.get_by_role("dialog", name="Delete this image?")
    dialog.get_by_role("button", name="Delete image").click()
    expect(grid.get_by_role("listitem")).to_have_count(1)
    expect(grid).not_to_contain_text("Spring banner.png")
    assert httpx.get(herald_server.base_url + httpx.URL(url).path).status_code == 404

    page.get_by_label("Search images").fill("nothing like it")
    expect(page.get_by_text("No image matches")).to_be_visible()
