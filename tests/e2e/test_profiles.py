"""Managing profiles from the dashboard: create (with the API's field errors), edit, export the
list as CSV, download one person's data, erase them; and what a member may do."""

from __future__ import annotations

import csv
import json
import re
import secrets
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.e2e.helpers import api, field, sign_in, unique_email

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("dashboard_build")]


def random_phone() -> str:
    return f"+1415555{secrets.randbelow(10_000):04d}"


def test_create_edit_export_download_and_erase(
    signed_in_page, herald_server, secret_key, screenshot, tmp_path: Path
) -> None:
    page = signed_in_page
    base = herald_server.base_url
    email = unique_email("grace")
    last_name = f"Hopper {secrets.token_hex(3)}"
    # Someone the search leaves out, so that the CSV shows the export follows it.
    with api(base, secret_key) as client:
        other = client.post("/api/profiles", json={"email": unique_email("other")})
        assert other.status_code == 201, other.text

    page.set_viewport_size({"width": 1280, "height": 1100})  # the forms' screenshots, unscrolled
    page.goto("/profiles")
    page.get_by_role("button", name="New profile").click()
    dialog = page.get_by_role("dialog", name="New profile")
    dialog.wait_for()

    # Herald refuses a bad email; its reason is shown under the field.
    field(dialog, "Email").fill("grace.example.com")
    field(dialog, "First name").fill("Grace")
    with page.expect_response(
        lambda r: r.url.endswith("/api/profiles") and r.request.method == "POST"
    ) as refused:
        dialog.get_by_role("button", name="Create profile").click()
    assert refused.value.status == 422
    expect(field(dialog, "Email")).to_have_accessible_description(
        "An email address must have an @-sign."
    )
    screenshot(page, "profile-new-error")

    field(dialog, "Email").fill(email)
    field(dialog, "Phone").fill(random_phone())
    field(dialog, "Last name").fill(last_name)
    field(dialog, "Time zone").fill("America/New_York")
    field(dialog, "City").fill("Arlington")
    field(dialog, "Custom properties").fill('{"plan": "pro", "vip": true}')
    dialog.get_by_role("button", name="Create profile").click()

    # The new person's page opens.
    name = f"Grace {last_name}"
    page.get_by_role("heading", name=name, level=1).wait_for()
    profile_id = page.url.rstrip("/").rsplit("/", 1)[-1]
    identifiers = page.get_by_role("region", name="Identifiers")
    expect(identifiers.get_by_text(email)).to_be_visible()
    expect(identifiers.get_by_text("America/New_York")).to_be_visible()
    expect(page.get_by_role("region", name="Location").get_by_text("Arlington")).to_be_visible()

    # Edit: a new first name, a property added and one removed, the phone cleared. Only the
    # changes are sent.
    page.get_by_role("button", name="Edit", exact=True).click()
    dialog = page.get_by_role("dialog", name="Edit profile")
    dialog.wait_for()
    field(dialog, "First name").fill("Amazing Grace")
    field(dialog, "Phone").fill("")
    dialog.get_by_role("button", name="Remove vip").click()
    expect(dialog.get_by_text("Removed when you save")).to_be_visible()
    dialog.get_by_role("button", name="Add property").click()
    added = dialog.get_by_role("group", name="New property 1")
    field(added, "Name").fill("tier")
    field(added, "Value").fill("gold")  # not JSON: the form says so before sending
    dialog.get_by_role("button", name="Save changes").click()
    expect(field(added, "Value")).to_have_accessible_description(re.compile("^Not valid JSON"))
    field(added, "Value").fill('"gold"')
    screenshot(page, "profile-edit")
    with page.expect_request(
        lambda r: r.method == "PATCH" and r.url.endswith(f"/api/profiles/{profile_id}")
    ) as sent:
        dialog.get_by_role("button", name="Save changes").click()
    assert sent.value.post_data_json == {
        "first_name": "Amazing Grace",
        "phone": None,
        "properties": {"tier": "gold"},
        "unset": ["vip"],
    }
    dialog.wait_for(state="hidden")
    page.get_by_role("heading", name=f"Amazing Grace {last_name}", level=1).wait_for()
    properties = page.get_by_role("region", name="Properties")
    expect(properties.get_by_text("tier", exact=True)).to_be_visible()
    expect(properties.get_by_text("vip", exact=True)).to_have_count(0)
    expect(identifiers.get_by_text(re.compile(r"^\+1415"))).to_have_count(0)
    with api(base, secret_key) as client:
        stored = client.get(f"/api/profiles/{profile_id}").json()
    assert stored["first_name"] == "Amazing Grace"
    assert stored["phone"] is None
    assert stored["properties"] == {"plan": "pro", "tier": "gold"}
    assert stored["timezone"] == "America/New_York"

    # Download data: the person's JSON export, saved as a file.
    with page.expect_download() as downloading:
        page.get_by_role("button", name="Download data").click()
    download = downloading.value
    assert download.suggested_filename == f"profile-{profile_id}.json"
    data = json.loads(Path(download.path()).read_text())
    assert data["profile"]["email"] == email
    assert data["profile"]["properties"] == {"plan": "pro", "tier": "gold"}

    # Export CSV of the list as searched: this person, not the other one.
    page.get_by_role("navigation", name="Areas").get_by_role("link", name="Profiles").click()
    page.get_by_role("searchbox", name="Search profiles").fill(email)
    page.wait_for_url(re.compile(r".*/profiles\?q=.*"))
    expect(page.get_by_role("table", name="Profiles").get_by_role("row")).to_have_count(2)
    with page.expect_download() as downloading:
        page.get_by_role("link", name="Export CSV").click()
    download = downloading.value
    assert download.suggested_filename.endswith(".csv")
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    with saved.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [(row["id"], row["email"], row["first_name"]) for row in rows] == [
        (profile_id, email, "Amazing Grace")
    ]

    # Erase, after a warning that it cannot be undone; the list is shown again.
    page.get_by_role("table", name="Profiles").get_by_role("link").first.click()
    page.get_by_role("heading", name=f"Amazing Grace {last_name}", level=1).wait_for()
    page.get_by_role("button", name="Erase profile").click()
    confirm = page.get_by_role("dialog", name="Erase this profile?")
    expect(confirm).to_contain_text("every event they did")
    expect(confirm).to_contain_text("cannot be undone")
    screenshot(page, "profile-erase")
    confirm.get_by_role("button", name="Erase profile").click()
    page.wait_for_url(re.compile(r".*/profiles$"))
    expect(page.get_by_text(f"Amazing Grace {last_name} was erased")).to_be_visible()
    with api(base, secret_key) as client:
        assert client.get(f"/api/profiles/{profile_id}").status_code == 404


def test_a_member_may_edit_but_not_erase(page, herald_server, secret_key) -> None:
    email, password = unique_email("member"), secrets.token_urlsafe(12)
    with api(herald_server.base_url, secret_key) as client:
        made = client.post(
            "/api/users", json={"email": email, "password": password, "role": "member"}
        )
        assert made.status_code == 201, made.text
        person = client.post("/api/profiles", json={"email": unique_email("kept")})
        assert person.status_code == 201, person.text
    sign_in(page, email, password)
    page.goto(f"/profiles/{person.json()['id']}")
    expect(page.get_by_role("button", name="Edit", exact=True)).to_be_visible()
    expect(page.get_by_role("button", name="Download data")).to_be_visible()
    expect(page.get_by_role("button", name="Erase profile")).to_have_count(0)
    page.goto("/profiles")
    expect(page.get_by_role("button", name="New profile")).to_be_visible()


def test_an_export_after_the_session_ended_leads_to_sign_in_not_to_a_file(
    signed_in_page, herald_server
) -> None:
    page = signed_in_page
    downloads: list[object] = []
    page.on("download", lambda download: downloads.append(download))
    page.goto("/profiles?q=nobody")
    page.get_by_text("No profile matches").wait_for()
    # The session ends elsewhere (signed out in another tab, or expired).
    page.context.clear_cookies()
    page.get_by_role("link", name="Export CSV").click()
    page.wait_for_url(re.compile(r".*/sign-in\?next=%2Fprofiles%3Fq%3Dnobody$"))
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    assert downloads == []

    # Signed in again, back on the same search, the same link downloads the file.
    field(page, "Email").fill(herald_server.email)
    field(page, "Password").fill(herald_server.password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r".*/profiles\?q=nobody$"))
    with page.expect_download() as downloading:
        page.get_by_role("link", name="Export CSV").click()
    assert downloading.value.suggested_filename.endswith(".csv")


def test_list_counts_filters_and_searches_values_and_the_page_shows_status(
    page, herald_server, new_org, screenshot
) -> None:
    org = new_org("Profile filters")
    berlin, paris, vip = unique_email("berlin"), unique_email("paris"), unique_email("vip")
    with api(herald_server.base_url, org.secret_key) as client:
        for body in (
            {"email": berlin, "first_name": "Bea", "location": {"city": "Berlin", "country": "DE"}},
            {"email": paris, "first_name": "Pia", "location": {"city": "Paris", "country": "FR"}},
            {"email": vip, "first_name": "Vic", "properties": {"tier": "gold", "note": "Berlin"}},
        ):
            created = client.post("/api/profiles", json=body)
            assert created.status_code == 201, created.text
        person = created.json()
        unsubscribed = client.post(
            f"/api/profiles/{person['id']}/consent",
            json={"channel": "email", "status": "unsubscribed"},
        )
        assert unsubscribed.status_code == 201, unsubscribed.text
        sent = client.post(
            "/api/messages/email",
            json={"to": {"profile_id": person["id"]}, "subject": "Receipt", "html": "<p>Hi</p>"},
        )
        assert sent.status_code == 202, sent.text
    sign_in(page, org.email, org.password)
    page.goto("/profiles")
    count = page.get_by_test_id("profile-count")
    expect(count).to_have_text("3 profiles")
    table = page.get_by_role("table", name="Profiles")

    # Search finds a city and a custom property's value.
    page.get_by_role("searchbox", name="Search profiles").fill("Berlin")
    expect(count).to_have_text("2 profiles match")
    expect(table.get_by_role("link", name="Bea")).to_be_visible()
    expect(table.get_by_role("link", name="Vic")).to_be_visible()
    expect(table.get_by_role("link", name="Pia")).to_have_count(0)
    page.get_by_role("searchbox", name="Search profiles").fill("")
    expect(count).to_have_text("3 profiles")

    # A filter by a built-in field, then by a custom property.
    page.get_by_role("combobox", name="Where").click()
    page.get_by_role("option", name="Country", exact=True).click()
    page.get_by_label("Value", exact=True).fill("FR")
    expect(count).to_have_text("1 profile matches")
    expect(table.get_by_role("link", name="Pia")).to_be_visible()
    assert "field=country" in page.url and "value=FR" in page.url
    page.get_by_role("combobox", name="Where").click()
    page.get_by_role("option", name="tier", exact=True).click()
    page.get_by_role("combobox", name="Operator").click()
    page.get_by_role("option", name="is set", exact=True).click()
    expect(count).to_have_text("1 profile matches")
    expect(table.get_by_role("link", name="Vic")).to_be_visible()
    screenshot(page, "profiles-filtered")

    # The page: the channel status at the top, and how each message went.
    table.get_by_role("link", name="Vic").click()
    page.get_by_role("heading", name="Vic", level=1).wait_for()
    status = page.get_by_role("list", name="Channel status")
    expect(status.get_by_text("Email unsubscribed")).to_be_visible()
    expect(status.get_by_text("No phone")).to_be_visible()
    timeline = page.get_by_role("region", name="Timeline")
    expect(timeline.get_by_role("link", name="Receipt")).to_be_visible()
    expect(timeline.get_by_label("Engagement").get_by_text("Not opened")).to_be_visible()
    screenshot(page, "profile-status")
