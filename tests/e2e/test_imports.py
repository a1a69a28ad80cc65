"""Imports in the dashboard: a CSV of profiles with a column mapped by hand (and a mapping the
server refuses), its counts and errors CSV, the imported person under Profiles; a JSON Lines file
of events; and what a member sees."""

from __future__ import annotations

import csv
import io
import json
import re
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.helpers import api, find_profile, sign_in, unique_email

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("dashboard_build")]

FINISHED = 30_000  # ms: `herald run` imports in-process, within seconds


def pick(page: Any, scope: Any, label: str, option: str) -> None:
    """Choose `option` in the Mantine select labelled `label` inside `scope`."""
    scope.get_by_label(label, exact=True).click()
    page.get_by_role("option", name=option, exact=True).click()


def import_row(page: Any, filename: str) -> Any:
    return page.get_by_role("table", name="Imports").get_by_role("row").filter(has_text=filename)


def test_import_profiles_and_events_then_find_them(
    page, herald_server, new_org, screenshot, tmp_path
) -> None:
    org = new_org("Imports shop")
    ada, grace = unique_email("ada"), unique_email("grace")
    people = tmp_path / "people.csv"
    people.write_text(
        "E-mail;First Name;Plan;Notes\n"
        f'{ada};Ada;pro;"likes; semicolons"\n'
        "not-an-email;Bad;free;\n"
        f"{grace};Grace;;\n",
        encoding="utf-8",
    )
    sign_in(page, org.email, org.password)
    nav = page.get_by_role("navigation", name="Areas")
    # Reached from the Profiles screen too.
    nav.get_by_role("link", name="Profiles").click()
    page.get_by_role("heading", name="Profiles", level=1).wait_for()
    page.get_by_role("link", name="Import", exact=True).click()
    page.get_by_role("heading", name="Imports", level=1).wait_for()
    nav.get_by_role("link", name="Profiles").click()
    page.get_by_role("heading", name="Profiles", level=1).wait_for()
    nav.get_by_role("link", name="Imports").click()
    page.get_by_role("heading", name="Imports", level=1).wait_for()
    assert nav.get_by_role("link", name="Imports").get_attribute("aria-current") == "page"
    expect(page.get_by_text("No imports yet")).to_be_visible()

    # The header is read in the browser: one row per column, mapped as the server would.
    page.get_by_role("button", name="Import profiles").click()
    dialog = page.get_by_role("dialog", name="Import profiles from CSV")
    dialog.locator('input[type="file"]').set_input_files(str(people))
    columns = dialog.get_by_role("table", name="Columns")
    expect(columns.get_by_role("row")).to_have_count(5)  # the heading and four columns
    expect(columns.get_by_text(ada)).to_be_visible()  # a sample value
    # Common spellings map to their fields by default: "E-mail" is the email.
    email_field = dialog.get_by_label("Field for E-mail", exact=True)
    expect(email_field).to_have_value("Email")
    expect(dialog.get_by_label("Field for First Name", exact=True)).to_have_value("First name")
    pick(page, dialog, "Field for E-mail", "Custom property")
    expect(
        dialog.get_by_text("No column is imported as email, phone or external id")
    ).to_be_visible()
    expect(dialog.get_by_role("button", name="Import profiles")).to_be_disabled()

    pick(page, dialog, "Field for E-mail", "Email")
    pick(page, dialog, "Field for Notes", "Do not import")
    # Two columns for one field: the server refuses, and says so next to the column.
    pick(page, dialog, "Field for Plan", "Email")
    dialog.get_by_role("button", name="Import profiles").click()
    plan_error = dialog.get_by_text(re.compile("^Email would come from 2 columns"))
    expect(plan_error).to_be_visible()
    described_by = dialog.get_by_label("Field for Plan", exact=True).get_attribute(
        "aria-describedby"
    )
    assert plan_error.get_attribute("id") in (described_by or "").split()

    pick(page, dialog, "Field for Plan", "Custom property")
    expect(plan_error).to_have_count(0)
    dialog.get_by_label("Property name for Plan").fill("plan")
    screenshot(page, "imports-profile-mapping")
    dialog.get_by_role("button", name="Import profiles").click()
    expect(dialog).to_be_hidden()

    row = import_row(page, "people.csv")
    expect(row.get_by_text("Done")).to_be_visible(timeout=FINISHED)
    counts = row.get_by_test_id("import-counts")
    for part in ("2 created", "0 updated", "0 unchanged", "1 error"):
        expect(counts.get_by_text(part, exact=True)).to_be_visible()
    expect(row.get_by_text("Profiles from CSV")).to_be_visible()

    # The row errors on screen: row number, field and reason.
    row.get_by_role("button", name="Show the errors of people.csv").click()
    errors_dialog = page.get_by_role("dialog", name="Rows not imported from people.csv")
    table = errors_dialog.get_by_role("table", name="Import errors")
    expect(table.get_by_role("row")).to_have_count(2)
    expect(table.get_by_role("cell", name="3", exact=True)).to_be_visible()
    expect(table.get_by_role("cell", name="E-mail", exact=True)).to_be_visible()
    expect(errors_dialog.get_by_test_id("import-error-summary")).to_have_text("1 problem.")
    screenshot(page, "imports-errors")
    page.keyboard.press("Escape")
    expect(errors_dialog).to_be_hidden()
    with page.expect_download() as download:
        row.get_by_role("link", name="Download the errors of people.csv").click()
    problems = list(csv.reader(io.StringIO(download.value.path().read_text(encoding="utf-8"))))
    assert problems[0] == ["row", "field", "reason"]
    assert [line[:2] for line in problems[1:]] == [["3", "E-mail"]]
    assert "@" in problems[1][2]

    # The person is under Profiles, with the renamed property and without the ignored column.
    nav.get_by_role("link", name="Profiles").click()
    page.get_by_role("searchbox", name="Search profiles").fill(ada)
    expect(
        page.get_by_role("table", name="Profiles").get_by_role("link", name="Ada")
    ).to_be_visible()
    profile = find_profile(herald_server.base_url, org.secret_key, ada)
    assert (profile["first_name"], profile["properties"]) == ("Ada", {"plan": "pro"})

    # Events from JSON Lines: one stored, one duplicate, one without a profile.
    events = tmp_path / "history.jsonl"
    lines = [
        {"event": "Placed Order", "profile": {"email": ada}, "value": 42, "unique_id": "o-1"},
        {"event": "Placed Order", "profile": {"email": ada}, "value": 42, "unique_id": "o-1"},
        {"event": "Viewed Product", "profile": {}},
    ]
    events.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    nav.get_by_role("link", name="Imports").click()
    page.get_by_role("button", name="Import events").click()
    dialog = page.get_by_role("dialog", name="Import events from JSON Lines")
    dialog.locator('input[type="file"]').set_input_files(str(events))
    dialog.get_by_role("button", name="Import events").click()
    expect(dialog).to_be_hidden()
    row = import_row(page, "history.jsonl")
    expect(row.get_by_text("Done")).to_be_visible(timeout=FINISHED)
    counts = row.get_by_test_id("import-counts")
    for part in ("1 stored", "1 duplicate", "1 error"):
        expect(counts.get_by_text(part, exact=True)).to_be_visible()
    expect(page.get_by_role("table", name="Imports").get_by_role("row")).to_have_count(3)
    screenshot(page, "imports")


def test_a_file_the_server_refuses_is_explained_on_the_form(page, new_org, tmp_path) -> None:
    org = new_org("Imports refused")
    sign_in(page, org.email, org.password)
    page.goto("/imports")
    page.get_by_role("button", name="Import events").click()
    dialog = page.get_by_role("dialog", name="Import events from JSON Lines")
    not_events = tmp_path / "people.jsonl"
    not_events.write_text("email,name\nada@example.com,Ada\n", encoding="utf-8")
    dialog.locator('input[type="file"]').set_input_files(str(not_events))
    dialog.get_by_role("button", name="Import events").click()
    expect(dialog.get_by_text(re.compile("^Line 1 is not a JSON object"))).to_be_visible()

    page.keyboard.press("Escape")
    page.get_by_role("button", name="Import profiles").click()
    dialog = page.get_by_role("dialog", name="Import profiles from CSV")
    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes("email,name\nrene@example.com,Ren\xe9\n".encode("latin-1"))
    dialog.locator('input[type="file"]').set_input_files(str(latin1))
    expect(dialog.get_by_text("This file is not UTF-8 text.", exact=False)).to_be_visible()


def test_members_see_imports_but_cannot_start_or_stop_them(page, herald_server, new_org) -> None:
    org = new_org("Imports team")
    email = unique_email("member")
    password = "a member's password"
    with api(herald_server.base_url, org.secret_key) as client:
        created = client.post(
            "/api/users", json={"email": email, "password": password, "role": "member"}
        )
        assert created.status_code == 201, created.text
        uploaded = client.post(
            "/api/imports/profiles",
            files={"file": ("team.csv", f"email\n{unique_email('p')}\n".encode(), "text/csv")},
        )
        assert uploaded.status_code == 202, uploaded.text
    sign_in(page, email, password)
    page.goto("/imports")
    row = import_row(page, "team.csv")
    expect(row.get_by_text("Done")).to_be_visible(timeout=FINISHED)
    expect(row.get_by_text("1 created", exact=True)).to_be_visible()
    expect(page.get_by_text("Admins and owners start imports.")).to_be_visible()
    expect(page.get_by_role("button", name="Import profiles")).to_have_count(0)
    expect(page.get_by_role("button", name="Import events")).to_have_count(0)
    expect(page.get_by_role("button", name=re.compile("^Stop"))).to_have_count(0)


# Rows enough that the import is still running when Stop is pressed: `herald run` imports about
# 4,000 new people a second on SQLite (a minute for these), committing each batch of 500 and
# then checking for a stop.
STOP_ROWS = 300_000


def test_an_admin_stops_a_running_import_and_keeps_what_it_imported(
    page, herald_server, new_org
) -> None:
    org = new_org("Imports stop")
    rows = "".join(f"stop-{number}@example.com\n" for number in range(STOP_ROWS))
    with api(herald_server.base_url, org.secret_key) as client:
        uploaded = client.post(
            "/api/imports/profiles",
            files={"file": ("everyone.csv", ("email\n" + rows).encode(), "text/csv")},
            timeout=60,
        )
        assert uploaded.status_code == 202, uploaded.text
        import_id = uploaded.json()["id"]
    sign_in(page, org.email, org.password)
    page.goto("/imports")
    row = import_row(page, "everyone.csv")
    expect(row.get_by_text("Importing")).to_be_visible(timeout=FINISHED)
    row.get_by_role("button", name="Stop importing everyone.csv").click()
    dialog = page.get_by_role("dialog", name="Stop this import?")
    dialog.get_by_role("button", name="Stop import").click()
    expect(row.get_by_text("Stopped", exact=True)).to_be_visible(timeout=FINISHED)
    expect(row.get_by_text(re.compile(r"^Stopped after "))).to_be_visible()
    expect(row.get_by_role("button", name=re.compile("^Stop"))).to_have_count(0)

    # What the screen says is what the server kept: some of the people, not all of them.
    with api(herald_server.base_url, org.secret_key) as client:
        stopped = client.get(f"/api/imports/{import_id}").json()
    created = stopped["counts"]["created"]
    assert stopped["status"] == "cancelled"
    assert 0 < created < STOP_ROWS
    expect(row.get_by_text(f"{created:,} created", exact=True)).to_be_visible()
