"""Signing in and out of the dashboard, and the shell's navigation."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.helpers import field, sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("dashboard_build")]

BUILT_AREAS = [
    "Profiles",
    "Imports",
    "Events",
    "Segments",
    "Suppressions",
    "Campaigns",
    "Flows",
    "Templates",
    "Outbox",
    "Analytics",
]


def test_wrong_password_is_shown_next_to_the_password(page, herald_server, screenshot) -> None:
    page.goto("/sign-in")
    page.get_by_role("button", name="Sign in").click()
    # The form checks before asking the server.
    expect(page.get_by_text("Enter your email address")).to_be_visible()
    field(page, "Email").fill(herald_server.email)
    field(page, "Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    error = page.get_by_text("Wrong email or password.")
    error.wait_for()
    # Mantine links an input's error through aria-describedby: the error belongs to Password.
    password = field(page, "Password")
    described_by = password.get_attribute("aria-describedby") or ""
    assert error.get_attribute("id") in described_by.split()
    screenshot(page, "sign-in-error")


def test_sign_in_returns_to_the_page_asked_for_then_sign_out(page, herald_server) -> None:
    page.goto("/events")
    page.wait_for_url("**/sign-in?next=%2Fevents")
    field(page, "Email").fill(herald_server.email)
    field(page, "Password").fill(herald_server.password)
    field(page, "Password").press("Enter")  # the keyboard submits the form
    page.wait_for_url("**/events")
    page.get_by_role("heading", name="Events", level=1).wait_for()

    page.get_by_role("button", name="Account menu").click()
    page.get_by_role("menuitem", name="Sign out").click()
    page.wait_for_url("**/sign-in")
    assert "herald_session" not in {c["name"] for c in page.context.cookies()}
    page.goto("/profiles")
    page.wait_for_url("**/sign-in?next=*")


def test_navigation_reaches_every_area(page, herald_server, screenshot) -> None:
    sign_in(page, herald_server.email, herald_server.password)
    nav = page.get_by_role("navigation", name="Areas")
    # ("Send your first event" leaves the navigation once the organization has events, which
    # other tests of this server may have sent.)
    for name in [*BUILT_AREAS, "Overview", "Settings"]:
        expect(nav.get_by_role("link", name=name)).to_be_visible()
    for area in BUILT_AREAS:
        nav.get_by_role("link", name=area).click()
        page.get_by_role("heading", name=area, level=1).wait_for()
        expect(page.get_by_text("Not built yet")).to_have_count(0)
        assert nav.get_by_role("link", name=area).get_attribute("aria-current") == "page"
    # Every area is built: no screen says "Not built yet" any more.
    page.goto("/no/such/page")
    page.get_by_role("heading", name="Page not found").wait_for()
    screenshot(page, "not-found")


def test_keyboard_reaches_the_navigation(page, herald_server) -> None:
    sign_in(page, herald_server.email, herald_server.password)
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    expect(skip).to_be_focused()
    expect(skip).to_be_visible()  # out of sight until focused
    reached = set()
    for _ in range(30):
        page.keyboard.press("Tab")
        reached.add(page.evaluate("document.activeElement && document.activeElement.textContent"))
    assert "Events" in reached
    assert "Settings" in reached
