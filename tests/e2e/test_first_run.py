"""What a new install asks of its owner on first sign-in: the organization's real name in place of
`herald run`'s placeholder, and a warning when message links lead to another address than the one
the dashboard is reached at."""

from __future__ import annotations

import uuid
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from herald.models import Organization
from tests.e2e.helpers import field, sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("dashboard_build")]


def _as_left_by_a_first_start(herald_server, org_id: str) -> None:
    """Gives the organization the unconfirmed placeholder name that `herald run` gives its first
    one (the session's own first organization is confirmed by the fixture)."""
    engine = sa.create_engine(f"sqlite:///{herald_server.data_dir / 'herald.db'}")
    try:
        with engine.begin() as connection:
            connection.execute(
                sa.update(Organization)
                .where(Organization.id == uuid.UUID(org_id))
                .values(name="My organization", name_confirmed=False)
            )
    finally:
        engine.dispose()


def test_the_owner_names_the_organization_on_first_sign_in(page, herald_server, new_org) -> None:
    org = new_org("Placeholder")
    _as_left_by_a_first_start(herald_server, org.org_id)
    sign_in(page, org.email, org.password)
    dialog = page.get_by_role("dialog", name="Name your organization")
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name="Save name").click()
    expect(dialog.get_by_text("Give the organization a name")).to_be_visible()
    field(dialog, "Organization name").fill("Corner Bakery")
    dialog.get_by_role("button", name="Save name").click()
    expect(dialog).to_be_hidden()
    expect(page.get_by_text("Corner Bakery · owner")).to_be_visible()
    page.reload()
    expect(page.get_by_text("Corner Bakery · owner")).to_be_visible()
    expect(page.get_by_role("dialog", name="Name your organization")).to_have_count(0)


def test_links_pointing_elsewhere_are_warned_about(page, herald_server, new_org) -> None:
    org = new_org("Two addresses")
    warning = page.get_by_role("alert").filter(
        has_text="Links in your messages point at another address"
    )
    # At the address HERALD_BASE_URL names, nothing to warn about.
    sign_in(page, org.email, org.password)
    expect(page.get_by_text("Two addresses · owner")).to_be_visible()
    expect(warning).to_have_count(0)

    # The same server reached as localhost: links would lead to 127.0.0.1, which a recipient
    # elsewhere could not open either.
    port = urlsplit(herald_server.base_url).port
    other = f"http://localhost:{port}"
    page.context.unroute("**/*")
    page.context.route(
        "**/*",
        lambda route: (
            route.continue_()
            if urlsplit(route.request.url).hostname in ("127.0.0.1", "localhost")
            else route.abort()
        ),
    )
    page.goto(f"{other}/sign-in")
    field(page, "Email").fill(org.email)
    field(page, "Password").fill(org.password)
    page.get_by_role("button", name="Sign in").click()
    expect(warning).to_be_visible()
    expect(warning).to_contain_text(herald_server.base_url)
    expect(warning).to_contain_text(f"HERALD_BASE_URL={other}")
    warning.get_by_role("button", name="Dismiss until the next visit").click()
    expect(warning).to_have_count(0)
