"""Settings: the organization, the team and one's own password, with the API's rules and field
errors shown where they belong."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.sync_api import expect

from tests.e2e.helpers import field, sign_in, unique_email

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("dashboard_build")]


def error_of(page, label: str):
    """The error text linked to an input (Mantine points aria-describedby at it)."""
    page.locator("[id$='-error']").first.wait_for()
    described_by = input_of(page, label).get_attribute("aria-describedby") or ""
    ids = [i for i in described_by.split() if i.endswith("-error")]
    assert ids, f"{label} has no error"
    return page.locator(f"[id='{ids[0]}']")


def input_of(page, label: str):
    if label == "Time zone":  # an autocomplete: its list of options shares the label
        return page.get_by_role("combobox", name=re.compile(r"^Time zone"))
    return field(page, label)


def test_rename_the_organization_and_see_field_errors(page, new_org, screenshot) -> None:
    org = new_org("Tea shop")
    sign_in(page, org.email, org.password)
    page.get_by_role("navigation", name="Areas").get_by_role("link", name="Settings").click()
    page.wait_for_url("**/settings/organization")
    name = field(page, "Name")
    expect(name).to_have_value("Tea shop")
    screenshot(page, "settings-organization")

    # The API's reasons appear under the inputs they are about.
    input_of(page, "Time zone").fill("Mars/Olympus_Mons")
    field(page, "Default region").fill("ZZ")
    page.get_by_role("button", name="Save").click()
    expect(error_of(page, "Time zone")).to_contain_text("IANA time zone")
    expect(error_of(page, "Default region")).to_contain_text("two-letter region code")
    screenshot(page, "settings-organization-errors")

    name.fill("Tea & Biscuits")
    input_of(page, "Time zone").fill("Europe/Berlin")
    field(page, "Default region").fill("de")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Organization saved.")).to_be_visible()
    expect(page.get_by_role("button", name=re.compile("Account menu"))).to_contain_text(
        "Tea & Biscuits"
    )
    page.reload()
    expect(field(page, "Name")).to_have_value("Tea & Biscuits")
    expect(field(page, "Default region")).to_have_value("DE")
    expect(input_of(page, "Time zone")).to_have_value("Europe/Berlin")


def test_add_change_and_remove_team_members(page, new_org, screenshot) -> None:
    org = new_org("Team shop")
    sign_in(page, org.email, org.password)
    page.goto("/settings/team")
    form = page.get_by_role("region", name="Add a team member")
    email = unique_email("grace")

    # Checked in the browser first...
    field(form, "Email").fill(email)
    field(form, "Name").fill("Grace Hopper")
    field(form, "First password").fill("short")
    form.get_by_role("button", name="Add member").click()
    expect(error_of(page, "First password")).to_have_text("Too short: use at least 10 characters")
    # ...then by the API.
    field(form, "First password").fill("a long first password")
    form.get_by_role("button", name="Add member").click()
    expect(page.get_by_text(f"{email} can now sign in.")).to_be_visible()
    team = page.get_by_role("table", name="Team members")
    row = team.get_by_role("row").filter(has_text=email)
    expect(row.get_by_text("Grace Hopper")).to_be_visible()

    # The same email again: the API's conflict is shown under the email.
    field(form, "Email").fill(email)
    field(form, "First password").fill("a long first password")
    form.get_by_role("button", name="Add member").click()
    expect(error_of(page, "Email")).to_have_text("Already registered.")
    screenshot(page, "settings-team")

    # Change her role.
    row.get_by_role("combobox", name=f"Role of {email}").click()
    page.get_by_role("option", name="Admin", exact=True).click()
    expect(page.get_by_text(f"{email} is now an admin.")).to_be_visible()
    with httpx.Client(
        base_url=page.context.request.get("/healthz").url.rsplit("/", 1)[0],
        headers={"Authorization": f"Bearer {org.secret_key}"},
        timeout=10,
    ) as client:
        users = {u["email"]: u for u in client.get("/api/users").json()["data"]}
    assert users[email]["role"] == "admin"

    # The API's rules surface: the last owner cannot step down.
    me = team.get_by_role("row").filter(has_text=org.email)
    me.get_by_role("combobox", name=f"Role of {org.email}").click()
    page.get_by_role("option", name="Member", exact=True).click()
    alert = page.get_by_role("alert").filter(has_text="The role was not changed")
    expect(alert).to_contain_text("at least one owner")
    expect(me.get_by_role("combobox", name=f"Role of {org.email}")).to_have_value("Owner")
    screenshot(page, "settings-team-rule")

    # Remove her, after confirming.
    row.get_by_role("button", name=f"Remove {email}").click()
    dialog = page.get_by_role("dialog", name="Remove this team member?")
    expect(dialog.get_by_text(email)).to_be_visible()
    dialog.get_by_role("button", name="Remove").click()
    expect(team.get_by_role("row").filter(has_text=email)).to_have_count(0)


def test_change_password(page, browser, herald_server, new_org, screenshot) -> None:
    org = new_org("Password shop")
    # Another browser signed in as the same person: the change signs it out.
    other = browser.new_context(base_url=herald_server.base_url)
    try:
        signed_in = other.request.post(
            "/api/auth/login", data={"email": org.email, "password": org.password}
        )
        assert signed_in.status == 200
        sign_in(page, org.email, org.password)
        page.get_by_role("button", name=re.compile("Account menu")).click()
        page.get_by_role("menuitem", name="Change password").click()
        page.wait_for_url("**/settings/account")

        field(page, "Current password").fill("not my password")
        field(page, "New password").fill("a brand new password")
        field(page, "New password again").fill("a different new password")
        page.get_by_role("button", name="Change password").click()
        expect(error_of(page, "New password again")).to_have_text("The two new passwords differ")

        field(page, "New password again").fill("a brand new password")
        page.get_by_role("button", name="Change password").click()
        expect(error_of(page, "Current password")).to_have_text("Does not match.")
        expect(page.get_by_role("button", name="Change password")).to_be_enabled()
        screenshot(page, "settings-password-error")

        field(page, "Current password").fill(org.password)
        page.get_by_role("button", name="Change password").click()
        expect(page.get_by_text("Password changed.")).to_be_visible()
        expect(field(page, "Current password")).to_have_value("")
        screenshot(page, "settings-account")
        assert other.request.get("/api/me").status == 401
    finally:
        other.close()

    # Still signed in here; next time, the new password it is.
    page.get_by_role("button", name=re.compile("Account menu")).click()
    page.get_by_role("menuitem", name="Sign out").click()
    page.wait_for_url("**/sign-in")
    field(page, "Email").fill(org.email)
    field(page, "Password").fill(org.password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text("Wrong email or password.")).to_be_visible()
    sign_in(page, org.email, "a brand new password")


def test_members_read_settings_but_cannot_change_them(page, herald_server, new_org) -> None:
    org = new_org("Member shop")
    email = unique_email("member")
    created = httpx.post(
        f"{herald_server.base_url}/api/users",
        headers={"Authorization": f"Bearer {org.secret_key}"},
        json={"email": email, "password": "member password 1", "role": "member"},
        timeout=10,
    )
    assert created.status_code == 201, created.text
    sign_in(page, email, "member password 1")
    page.goto("/settings/organization")
    expect(field(page, "Name")).to_be_disabled()
    expect(page.get_by_role("button", name="Save")).to_have_count(0)
    page.goto("/settings/api-keys")
    expect(page.get_by_text("Only admins and owners create and revoke API keys.")).to_be_visible()
    expect(page.get_by_role("table", name="API keys")).to_be_visible()
    expect(page.get_by_role("button", name=re.compile("^Revoke"))).to_have_count(0)
    page.goto("/settings/team")
    expect(page.get_by_role("region", name="Add a team member")).to_have_count(0)
    expect(page.get_by_role("table", name="Team members").get_by_text(email)).to_be_visible()
    page.goto("/get-started")
    expect(page.get_by_text("Only admins create keys")).to_be_visible()


def test_an_owner_sets_a_rate_limit_within_the_ceiling(
    page, herald_server, new_org, screenshot
) -> None:
    org = new_org("Busy shop")
    sign_in(page, org.email, org.password)
    page.goto("/settings")
    page.get_by_role("tab", name="Rate limits").click()
    page.wait_for_url("**/settings/rate-limits")
    label = "Management API and dashboard: Each API key or dashboard user, per minute (steady)"
    limit = field(page, label)
    expect(limit).to_have_value("")
    expect(limit).to_have_attribute("placeholder", "3,000 (default)")
    screenshot(page, "settings-rate-limits")

    # Above the install's ceiling: the API's reason under the input, nothing saved.
    limit.fill("999999")
    page.get_by_role("button", name="Save").click()
    expect(error_of(page, label)).to_contain_text("ceiling")
    limit.fill("500")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Rate limits saved.")).to_be_visible()
    page.reload()
    expect(field(page, label)).to_have_value("500")
    response = httpx.get(
        herald_server.base_url + "/api/rate-limits",
        headers={"Authorization": f"Bearer {org.secret_key}"},
    )
    assert response.json()["management"]["key"]["per_minute"]["limit"] == 500
    # Every answer of the management API says how much is left.
    assert int(response.headers["ratelimit-remaining"]) >= 0
    expect(page.get_by_role("table", name="Usage by API key")).to_contain_text("sk_")
