"""Imports end to end: CSV profiles and JSON Lines events as jobs, their per-row errors, restarts
after a crash (DESIGN invariant 3) and tenancy."""

from __future__ import annotations

import csv
import io
import json
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from herald.db import Database, utcnow
from herald.events import service as events_service
from herald.imports import event_import, files, profile_import, service
from herald.imports import tasks as import_tasks
from herald.imports.headers import HEADER_SPELLINGS
from herald.jobs.service import create_job, execute_job
from herald.models import Event, EventKey, Job, JobError, JobFile, Profile
from herald.profiles import service as profiles_service
from tests.factories import OrgFixture, make_org, make_user, sign_in
from tests.tenancy import Endpoint, assert_isolated, assert_management_only

# The test process is the worker: it knows the import handlers as a worker does.
assert import_tasks.import_profiles is not None

# --- Helpers -------------------------------------------------------------------------------------


def csv_text(*rows: list[str], delimiter: str = ",") -> str:
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue()


def upload_profiles(
    client: TestClient,
    org: OrgFixture,
    content: str | bytes,
    mapping: dict[str, str] | str | None = None,
    headers: dict[str, str] | None = None,
) -> Any:
    data = {}
    if mapping is not None:
        data["mapping"] = mapping if isinstance(mapping, str) else json.dumps(mapping)
    body = content.encode() if isinstance(content, str) else content
    return client.post(
        "/api/imports/profiles",
        files={"file": ("people.csv", body, "text/csv")},
        data=data,
        headers=org.secret_headers if headers is None else headers,
    )


def upload_events(
    client: TestClient,
    org: OrgFixture,
    lines: list[Any],
    headers: dict[str, str] | None = None,
) -> Any:
    text = "".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines)
    return client.post(
        "/api/imports/events",
        files={"file": ("events.jsonl", text.encode(), "application/x-ndjson")},
        headers=org.secret_headers if headers is None else headers,
    )


def accepted_job(client: TestClient, org: OrgFixture, response: Any) -> dict[str, Any]:
    """The job an upload started, read back once it ran (the test queue runs it inline)."""
    assert response.status_code == 202, response.text
    job_id = response.json()["id"]
    assert response.headers["location"] == f"/api/jobs/{job_id}"
    job = client.get(f"/api/jobs/{job_id}", headers=org.secret_headers)
    assert job.status_code == 200, job.text
    body: dict[str, Any] = job.json()
    return body


def error_rows(client: TestClient, org: OrgFixture, job_id: str) -> list[list[str]]:
    response = client.get(f"/api/imports/{job_id}/errors", headers=org.secret_headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    return list(csv.reader(io.StringIO(response.text)))


def all_profiles(database: Database, org_id: uuid.UUID) -> list[Profile]:
    with database.transaction() as session:
        return list(session.scalars(sa.select(Profile).where(Profile.org_id == org_id)))


def profiles_by_email(database: Database, org_id: uuid.UUID) -> dict[str, Profile]:
    return {p.email: p for p in all_profiles(database, org_id) if p.email}


def count(database: Database, model: Any, *where: Any) -> int:
    with database.transaction() as session:
        return int(session.scalar(sa.select(sa.func.count()).select_from(model).where(*where)) or 0)


def identify(client: TestClient, org: OrgFixture, **body: Any) -> str:
    response = client.post("/api/identify", json=body, headers=org.public_headers)
    assert response.status_code == 200, response.text
    profile_id: str = response.json()["profile_id"]
    return profile_id


def retry_now(database: Database, job_id: str) -> str:
    """What the sweep does for a job that raised, once its retry delay is over."""
    with database.transaction() as session:
        session.execute(
            sa.update(Job)
            .where(Job.id == uuid.UUID(job_id))
            .values(run_after=utcnow() - timedelta(seconds=1))
        )
    return execute_job(database, uuid.UUID(job_id))


# --- Profiles ------------------------------------------------------------------------------------


def test_csv_import_creates_and_updates_profiles_by_identifier(
    client: TestClient, database: Database
) -> None:
    org = make_org()
    by_email = identify(client, org, email="ann@example.com", first_name="Ann", last_name="Old")
    by_external = identify(client, org, external_id="u-2", first_name="Bob")
    by_phone = identify(client, org, phone="+14155550100", first_name="Cy")
    same = identify(client, org, email="dee@example.com", first_name="Dee")

    content = csv_text(
        ["email", "phone", "external_id", "first_name", "last_name", "plan", "age", "vip", "code"],
        ["ANN@example.com", "", "", "Annie", "", "gold", "42", "true", "01234"],
        ["bob@example.com", "", "u-2", "", "Builder", "", "", "", ""],
        ["", "+1 415 555 0100", "", "", "Cee", "", "", "", ""],
        ["dee@example.com", "", "", "Dee", "", "", "", "", ""],
        ["", "", "u-5", "Eve", "", "silver", "-3.5", "FALSE", ""],
        ["", "", "", "", "", "", "", "", ""],
    )
    job = accepted_job(client, org, upload_profiles(client, org, content))
    assert job["kind"] == "import.profiles"
    assert job["status"] == "succeeded", job["error"]
    assert job["result"] == {"rows": 5, "created": 1, "updated": 3, "unchanged": 1, "errors": 0}
    assert (job["progress_done"], job["progress_total"]) == (5, 5)

    assert len(all_profiles(database, org.org_id)) == 5
    people = profiles_by_email(database, org.org_id)
    ann = people["ann@example.com"]
    assert str(ann.id) == by_email
    assert (ann.first_name, ann.last_name) == ("Annie", "Old")  # a blank cell changes nothing
    assert ann.properties == {"plan": "gold", "age": 42, "vip": True, "code": "01234"}
    bob = people["bob@example.com"]
    assert str(bob.id) == by_external
    assert (bob.external_id, bob.first_name, bob.last_name) == ("u-2", "Bob", "Builder")
    cy = next(p for p in all_profiles(database, org.org_id) if p.phone == "+14155550100")
    assert (str(cy.id), cy.last_name) == (by_phone, "Cee")
    assert str(people["dee@example.com"].id) == same
    eve = next(p for p in all_profiles(database, org.org_id) if p.external_id == "u-5")
    assert eve.properties == {"plan": "silver", "age": -3.5, "vip": False}
    assert error_rows(client, org, job["id"]) == [["row", "field", "reason"]]


def test_mapping_names_columns_and_the_rest_map_by_name(
    client: TestClient, database: Database
) -> None:
    org = make_org()
    content = "\ufeff" + csv_text(
        ["E-mail", "First Name", "Town", "Lat", "Plan", "Junk", "Score", "id", "properties"],
        ["zoe@example.com", "Zoë", "東京", "35.68", "pro", "x", "7", "abc", '{"tier": 2}'],
        delimiter=";",
    )
    mapping = {
        "E-mail": "email",
        "Town": "city",
        "Lat": "latitude",
        "Plan": "properties.plan",
        "Junk": "ignore",
    }
    job = accepted_job(client, org, upload_profiles(client, org, content, mapping))
    assert job["status"] == "succeeded", job["error"]
    assert job["result"]["created"] == 1
    zoe = profiles_by_email(database, org.org_id)["zoe@example.com"]
    assert (zoe.first_name, zoe.city, zoe.latitude) == ("Zoë", "東京", 35.68)
    # Unmapped columns: a field of the same name, else a custom property; the export's own
    # columns (id, properties) round-trip.
    assert zoe.properties == {"plan": "pro", "Score": 7, "tier": 2}


def test_an_export_imports_back(client: TestClient, database: Database) -> None:
    source, target = make_org("Source"), make_org("Target")
    identify(
        client,
        source,
        email="ada@example.com",
        phone="+14155550100",
        external_id="c-1",
        first_name="=Ada",
        last_name="-Lovelace",
        timezone="Europe/London",
        location={"city": "@London", "country": "GB", "latitude": 51.5, "longitude": -0.12},
        properties={"plan": "pro", "seats": 3, "tags": ["a", "b"], "meta": {"vip": True}},
    )
    identify(client, source, external_id="c-2", properties={"note": "+not a formula"})
    exported = client.get("/api/profiles/export", headers=source.secret_headers)
    assert exported.status_code == 200
    assert "'+14155550100" in exported.text and "'=Ada" in exported.text

    job = accepted_job(client, target, upload_profiles(client, target, exported.content))
    assert job["result"] == {"rows": 2, "created": 2, "updated": 0, "unchanged": 0, "errors": 0}

    def described(org: OrgFixture) -> list[dict[str, Any]]:
        listed = client.get("/api/profiles", headers=org.secret_headers).json()["data"]
        drop = ("id", "created_at", "updated_at")
        return sorted(
            ({k: v for k, v in p.items() if k not in drop} for p in listed),
            key=lambda p: p["external_id"],
        )

    assert described(target) == described(source)


@pytest.mark.parametrize(
    ("content", "mapping", "field", "reason"),
    [
        ("email,name\na@example.com,A\n", {"name": "nickname"}, "mapping.name", "unknown field"),
        ("email,name\na@example.com,A\n", {"Name ": "first_name"}, "mapping.Name", "no such"),
        ("name,plan\nA,gold\n", None, "file", "no column maps to email"),
        ("name,plan\nA,gold\n", {"plan": "properties.plan"}, "mapping", "no column maps"),
        ("email,Email\na@example.com,b@example.com\n", None, "mapping.Email", "2 columns"),
        ("email,mail\na@example.com,b@example.com\n", {"mail": "email"}, "mapping.mail", "ignore"),
        ("email\na@example.com\n", '["email"]', "mapping", "JSON object"),
        ("email\na@example.com\n", "{not json", "mapping", "JSON object"),
        ("", None, "file", "empty"),
        (b"email,name\na@example.com,Andr\xe9\n", None, "file", "UTF-8"),
        ("\n\nemail\n", None, "file", "name the columns"),
    ],
)
def test_a_bad_file_or_mapping_is_refused_and_nothing_is_stored(
    client: TestClient,
    database: Database,
    content: str | bytes,
    mapping: Any,
    field: str,
    reason: str,
) -> None:
    org = make_org()
    response = upload_profiles(client, org, content, mapping)
    assert response.status_code == 422, response.text
    fields = response.json()["error"]["fields"]
    assert any(f["field"] == field and reason in f["reason"] for f in fields), fields
    assert count(database, Job) == 0
    assert count(database, JobFile) == 0
    assert count(database, Profile) == 0


def test_rows_with_problems_are_skipped_and_reported_as_csv(
    client: TestClient, database: Database
) -> None:
    org = make_org()
    identify(client, org, email="taken@example.com")
    identify(client, org, external_id="other")
    content = csv_text(
        ["=Mail", "external_id", "phone", "timezone", "latitude", "note"],
        ["ok@example.com", "", "", "Europe/Berlin", "", "fine"],  # row 2
        ["not-an-email", "", "", "", "", ""],  # row 3
        ["", "", "12", "", "", ""],  # row 4
        ["", "", "", "", "", "nobody"],  # row 5
        ["tz@example.com", "", "", "Mars/Olympus", "95", ""],  # row 6
        ["taken@example.com", "other", "", "", "", ""],  # row 7
        ["extra@example.com", "", "", "", "", "", "surplus"],  # row 8
        ["fine@example.com", "", "", "", "", "=cmd"],  # row 9
        ["nul@example.com", "", "", "", "", "a\x00b"],  # row 10: PostgreSQL cannot store NUL
    )
    response = upload_profiles(client, org, content, {"=Mail": "email"})
    job = accepted_job(client, org, response)
    assert job["status"] == "succeeded", job["error"]
    assert job["result"] == {"rows": 9, "created": 2, "updated": 0, "unchanged": 0, "errors": 7}

    people = profiles_by_email(database, org.org_id)
    assert people["ok@example.com"].timezone == "Europe/Berlin"
    assert people["fine@example.com"].properties == {"note": "=cmd"}
    assert "tz@example.com" not in people and "extra@example.com" not in people

    header, *rows = error_rows(client, org, job["id"])
    assert header == ["row", "field", "reason"]
    by_row: dict[int, list[tuple[str, str]]] = {}
    for row, field, reason in rows:
        by_row.setdefault(int(row), []).append((field, reason))
    assert sorted(by_row) == [3, 4, 5, 6, 7, 8, 10]
    # The column name "=Mail" would be a formula in a spreadsheet: it is neutralized.
    assert [f for f, _ in by_row[3]] == ["'=Mail"]
    assert by_row[4][0][0] == "phone"
    assert by_row[5] == [("row", "has no email, phone or external_id")]
    assert sorted(f for f, _ in by_row[6]) == ["latitude", "timezone"]
    assert by_row[7][0][0] in ("'=Mail", "external_id")
    assert "another profile" in by_row[7][0][1]
    assert by_row[8] == [("row", "has 7 cells; the header has 6")]
    assert by_row[10] == [("note", "must not contain NUL characters")]
    assert count(database, JobError) == len(rows)


def test_common_header_spellings_map_to_their_fields(
    client: TestClient, database: Database
) -> None:
    org = make_org()
    content = csv_text(
        [
            "E-mail Address",
            "Phone Number",
            "First Name",
            "Last name",
            "Postal code",
            "COUNTRY",
            "Town",
            "City",
        ],
        ["sp@example.com", "+14155550199", "Sam", "Poe", "10115", "DE", "Mitte", "Berlin"],
    )
    job = accepted_job(client, org, upload_profiles(client, org, content))
    assert job["status"] == "succeeded", job["error"]
    person = profiles_by_email(database, org.org_id)["sp@example.com"]
    assert (person.phone, person.first_name, person.last_name) == ("+14155550199", "Sam", "Poe")
    assert (person.zip, person.country, person.city) == ("10115", "DE", "Berlin")
    # "Town" would also mean city, but the column named City feeds it: Town stays a property.
    assert person.properties == {"Town": "Mitte"}
    # An explicit mapping still wins over a spelling.
    assert service.resolve_mapping(["E-mail", "Zip"], {"Zip": "ignore"}) == ["email", "ignore"]


def test_the_import_form_knows_the_same_spellings() -> None:
    """web/src/features/imports/csvHeader.ts mirrors herald/imports/headers.py."""
    source = (Path(__file__).parents[1] / "web/src/features/imports/csvHeader.ts").read_text()
    table = source[source.index("HEADER_SPELLINGS") : source.index("export function headerKey")]
    for field, spellings in HEADER_SPELLINGS.items():
        line = next(line for line in table.splitlines() if line.strip().startswith(f"{field}:"))
        assert [
            s.strip().strip('"') for s in line.split("[", 1)[1].rstrip("],").split(",")
        ] == list(spellings), field


def test_row_errors_are_listed_as_json_for_the_screen(client: TestClient) -> None:
    org = make_org()
    rows = [["email"], *([f"bad-{i}"] for i in range(5)), ["ok@example.com"]]
    job = accepted_job(client, org, upload_profiles(client, org, csv_text(*rows)))
    listed = client.get(
        f"/api/imports/{job['id']}/error-rows", params={"limit": 3}, headers=org.secret_headers
    )
    assert listed.status_code == 200, listed.text
    body = listed.json()
    assert body["stored"] == 5
    assert [(r["item"], r["field"]) for r in body["data"]] == [
        (2, "email"),
        (3, "email"),
        (4, "email"),
    ]
    bad = client.get(
        f"/api/imports/{job['id']}/error-rows", params={"limit": 0}, headers=org.secret_headers
    )
    assert bad.status_code == 422 and bad.json()["error"]["fields"][0]["field"] == "limit"


def test_a_big_file_is_stored_in_chunks_and_read_back_as_a_stream(
    client: TestClient, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(service, "CHUNK_SIZE", 50)
    monkeypatch.setattr(profile_import, "PROFILE_BATCH", 3)
    org = make_org()
    rows = [
        [f"p{i}@example.com", "Zoë 東京 " * (i % 3 + 1), f"line one\nline two {i}"]
        for i in range(10)
    ]
    content = csv_text(["email", "first_name", "note"], *rows)
    job = accepted_job(client, org, upload_profiles(client, org, content))
    assert job["status"] == "succeeded", job["error"]
    assert job["result"]["created"] == 10
    assert (job["progress_done"], job["progress_total"]) == (10, 10)
    with database.transaction() as session:
        chunks = list(
            session.scalars(
                sa.select(JobFile.data)
                .where(JobFile.job_id == uuid.UUID(job["id"]))
                .order_by(JobFile.seq)
            )
        )
    assert len(chunks) > 10 and all(len(c) <= 50 for c in chunks)
    assert b"".join(chunks) == content.encode()
    people = profiles_by_email(database, org.org_id)
    assert people["p4@example.com"].first_name == "Zoë 東京 Zoë 東京"
    assert people["p4@example.com"].properties == {"note": "line one\nline two 4"}
    # The checkpoint is the last row read (the header is row 1), with the running counts.
    with database.transaction() as session:
        stored = session.get(Job, uuid.UUID(job["id"]))
        assert stored is not None and stored.checkpoint is not None
        assert stored.checkpoint["row"] == 11
        assert stored.checkpoint["counts"] == job["result"]


def test_a_profile_import_that_crashes_resumes_without_duplicates(
    client: TestClient, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(profile_import, "PROFILE_BATCH", 2)
    real_apply_fields = profiles_service.apply_fields
    crashed: list[str] = []

    def apply_fields_once_crashing(profile: Profile, *args: Any) -> bool:
        if profile.email == "p5@example.com" and not crashed:
            crashed.append(profile.email)
            raise RuntimeError("the worker died")
        return real_apply_fields(profile, *args)

    monkeypatch.setattr(profiles_service, "apply_fields", apply_fields_once_crashing)
    org = make_org()
    rows = [[f"p{i}@example.com", f"P{i}"] for i in range(1, 8)]
    rows[1][0] = "bad-email"  # row 3: an error in a committed batch
    content = csv_text(["email", "first_name"], *rows)
    job = accepted_job(client, org, upload_profiles(client, org, content))

    # Batches of rows 2-3 and 4-5 committed; the batch with p5 rolled back.
    assert job["status"] == "pending"
    assert "the worker died" in job["error"]
    assert (job["progress_done"], job["progress_total"]) == (4, 7)
    assert count(database, Profile, Profile.org_id == org.org_id) == 3
    assert count(database, JobError) == 1

    assert retry_now(database, job["id"]) == "succeeded"
    job = client.get(f"/api/jobs/{job['id']}", headers=org.secret_headers).json()
    assert job["attempts"] == 2
    assert job["result"] == {"rows": 7, "created": 6, "updated": 0, "unchanged": 0, "errors": 1}
    assert (job["progress_done"], job["progress_total"]) == (7, 7)
    people = profiles_by_email(database, org.org_id)
    assert sorted(people) == [f"p{i}@example.com" for i in (1, 3, 4, 5, 6, 7)]
    assert [r[0] for r in error_rows(client, org, job["id"])[1:]] == ["3"]


def test_a_file_that_is_not_valid_csv_fails_before_anything_is_imported(
    client: TestClient, database: Database
) -> None:
    org = make_org()
    content = csv_text(["email", "note"], ["a@example.com", "ok"], ["b@example.com", "x" * 140_000])
    job = accepted_job(client, org, upload_profiles(client, org, content))
    assert job["status"] == "failed"
    assert "row 3 is not valid CSV" in job["error"]
    assert count(database, Profile, Profile.org_id == org.org_id) == 0


def test_a_cancelled_import_stops_at_the_next_batch(
    client: TestClient, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(service, "CHUNK_SIZE", 40)
    monkeypatch.setattr(profile_import, "PROFILE_BATCH", 2)
    org = make_org()
    readers: list[int] = []
    real_next_chunk = files.StoredFile._next_chunk

    def next_chunk(self: files.StoredFile) -> bool:
        loaded = real_next_chunk(self)
        # Mark each reader itself: id() can be reused once the counting reader is freed.
        if not getattr(self, "seen_by_test", False):
            self.seen_by_test = True  # type: ignore[attr-defined]
            readers.append(len(readers))
        # The first reader counts the rows; cancel while the second imports them.
        if len(readers) == 2 and self._seq == 3:
            with database.transaction() as session:
                session.execute(
                    sa.update(Job).where(Job.id == self._job_id).values(status="cancelled")
                )
        return loaded

    monkeypatch.setattr(files.StoredFile, "_next_chunk", next_chunk)
    content = csv_text(["email"], *([f"p{i}@example.com"] for i in range(20)))
    job = accepted_job(client, org, upload_profiles(client, org, content))
    assert job["status"] == "cancelled"
    assert job["progress_total"] == 20
    imported = count(database, Profile, Profile.org_id == org.org_id)
    assert 0 < imported < 20
    assert job["progress_done"] == imported


# --- Events --------------------------------------------------------------------------------------


def event(name: str = "Viewed", **extra: Any) -> dict[str, Any]:
    return {"event": name, "profile": {"email": "reader@example.com"}, **extra}


def test_jsonl_import_stores_events_and_reports_bad_lines(
    client: TestClient, database: Database
) -> None:
    org = make_org()
    tracked = client.post(
        "/api/track", json=event(unique_id="already-sent"), headers=org.public_headers
    )
    assert tracked.status_code == 202
    lines: list[Any] = [
        event("Placed Order", value=12.5, time="2024-05-01T10:00:00Z", unique_id="o-1"),
        event("Placed Order", unique_id="o-1"),  # line 2: the same event again
        event(unique_id="already-sent"),  # line 3: stored by /api/track before
        "",  # line 4: blank
        "{not json",  # line 5
        "[1, 2]",  # line 6
        {"profile": {"email": "x@example.com"}},  # line 7: no event name
        event(profile={"phone": "12"}),  # line 8: not a phone number
        event("Opened Email", properties={"subject": "Hi"}),  # line 9: no unique_id
        '{"event": "Viewed", "profile": {"email": "a@example.com"}, "value": NaN}',  # line 10
        event(properties={"note": "a\x00b"}),  # line 11: PostgreSQL cannot store NUL
    ]
    job = accepted_job(client, org, upload_events(client, org, lines))
    assert job["kind"] == "import.events"
    assert job["status"] == "succeeded", job["error"]
    assert job["result"] == {"rows": 10, "stored": 2, "duplicates": 2, "errors": 6}
    assert (job["progress_done"], job["progress_total"]) == (10, 10)

    with database.transaction() as session:
        stored = {
            e.name: e
            for e in session.scalars(
                sa.select(Event).where(Event.org_id == org.org_id, Event.source == "import")
            )
        }
    assert set(stored) == {"Placed Order", "Opened Email"}
    assert stored["Placed Order"].value == 12.5
    assert stored["Placed Order"].time.isoformat() == "2024-05-01T10:00:00+00:00"
    assert stored["Opened Email"].unique_id == f"import:{job['id']}:9"
    assert count(database, Event, Event.org_id == org.org_id) == 3

    header, *rows = error_rows(client, org, job["id"])
    assert header == ["line", "field", "reason"]
    assert [(int(r[0]), r[1]) for r in rows] == [
        (5, "line"),
        (6, "line"),
        (7, "event"),
        (8, "profile.phone"),
        (10, "value"),
        (11, "properties.note"),
    ]


def test_an_event_import_run_again_stores_nothing_twice(
    client: TestClient, database: Database
) -> None:
    """A worker that takes over a stalled job redoes batches that may have committed: events
    without a unique_id get one derived from the job and line, so each is stored once."""
    org = make_org()
    lines = [event(f"E{i}") for i in range(5)]
    job = accepted_job(client, org, upload_events(client, org, lines))
    assert job["result"]["stored"] == 5
    with database.transaction() as session:
        session.execute(
            sa.update(Job)
            .where(Job.id == uuid.UUID(job["id"]))
            .values(status="pending", checkpoint=None, progress_done=0, progress_total=None)
        )
    assert execute_job(database, uuid.UUID(job["id"])) == "succeeded"
    again = client.get(f"/api/jobs/{job['id']}", headers=org.secret_headers).json()
    assert again["result"] == {"rows": 5, "stored": 0, "duplicates": 5, "errors": 0}
    assert count(database, Event, Event.org_id == org.org_id) == 5


def test_an_event_import_that_crashes_resumes_without_duplicates(
    client: TestClient, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(event_import, "EVENT_BATCH", 3)
    real_ingest = events_service.ingest
    crashed: list[bool] = []

    def ingest_once_crashing(session: Any, org_id: uuid.UUID, items: Any, **kwargs: Any) -> Any:
        outcomes = real_ingest(session, org_id, items, **kwargs)
        if any(item.name == "E7" for item in items) and not crashed:
            crashed.append(True)
            raise RuntimeError("the database connection dropped")
        return outcomes

    monkeypatch.setattr(event_import, "ingest", ingest_once_crashing)
    org = make_org()
    lines = [event(f"E{i}") for i in range(1, 11)]
    job = accepted_job(client, org, upload_events(client, org, lines))
    assert job["status"] == "pending"
    assert (job["progress_done"], job["progress_total"]) == (6, 10)
    assert count(database, Event, Event.org_id == org.org_id) == 6

    assert retry_now(database, job["id"]) == "succeeded"
    job = client.get(f"/api/jobs/{job['id']}", headers=org.secret_headers).json()
    assert job["result"] == {"rows": 10, "stored": 10, "duplicates": 0, "errors": 0}
    with database.transaction() as session:
        names = list(
            session.scalars(
                sa.select(Event.name).where(Event.org_id == org.org_id).order_by(Event.name)
            )
        )
    assert sorted(names) == sorted(f"E{i}" for i in range(1, 11))
    assert count(database, EventKey, EventKey.org_id == org.org_id) == 10


def test_a_file_that_is_not_json_lines_is_refused(client: TestClient, database: Database) -> None:
    org = make_org()
    response = client.post(
        "/api/imports/events",
        files={"file": ("people.csv", b"email,name\na@example.com,A\n", "text/csv")},
        headers=org.secret_headers,
    )
    assert response.status_code == 422
    assert response.json()["error"]["fields"][0]["field"] == "file"
    assert count(database, Job) == 0


# --- Access --------------------------------------------------------------------------------------


def test_imports_belong_to_their_organization(client: TestClient, database: Database) -> None:
    org, other = make_org("Owner"), make_org("Other")
    job = accepted_job(
        client, org, upload_profiles(client, org, csv_text(["email"], ["not-an-email"]))
    )
    for url in (
        f"/api/imports/{job['id']}/errors",
        f"/api/imports/{job['id']}/error-rows",
        f"/api/jobs/{job['id']}",
    ):
        response = client.get(url, headers=other.secret_headers)
        assert response.status_code == 404, response.text
        assert response.json()["error"]["code"] == "not_found"
        assert client.get(url, headers=org.public_headers).status_code == 403
        assert client.get(url).status_code == 401
    assert len(error_rows(client, org, job["id"])) == 2

    # A job that is not an import has no errors CSV.
    with database.transaction() as session:
        other_job = create_job(session, org.org_id, "tests.imports.none", kick=False)
    response = client.get(f"/api/imports/{other_job.id}/errors", headers=org.secret_headers)
    assert response.status_code == 404


def test_uploads_need_a_secret_key_or_an_admin(client: TestClient, database: Database) -> None:
    org = make_org()
    content = csv_text(["email"], ["a@example.com"])
    assert upload_profiles(client, org, content, headers=org.public_headers).status_code == 403
    assert upload_events(client, org, [event()], headers=org.public_headers).status_code == 403
    assert upload_profiles(client, org, content, headers={}).status_code == 401

    email, password = make_user(org, role="member")
    csrf = sign_in(client, email, password)
    member = upload_profiles(client, org, content, headers={"X-CSRF-Token": csrf})
    assert member.status_code == 403
    assert count(database, Job) == 0

    email, password = make_user(org, role="admin")
    csrf = sign_in(client, email, password)
    admin = upload_profiles(client, org, content, headers={"X-CSRF-Token": csrf})
    assert admin.status_code == 202, admin.text
    assert count(database, Profile, Profile.email == "a@example.com") == 1


# --- The list of imports -------------------------------------------------------------------------


def waiting_import(database: Database, org: OrgFixture, filename: str, created: timedelta) -> str:
    """A profile import that no worker has picked up yet, created `created` ago."""
    with database.transaction() as session:
        job = service.start_profile_import(
            session,
            org.org_id,
            io.BytesIO(b"email\nw@example.com\n"),
            filename=filename,
            kick=False,
        )
        job.created_at = utcnow() - created
    return str(job.id)


def list_imports(client: TestClient, org: OrgFixture, **params: Any) -> dict[str, Any]:
    response = client.get("/api/imports", params=params, headers=org.secret_headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_imports_are_listed_newest_first_with_their_file_and_counts(
    client: TestClient, database: Database
) -> None:
    org = make_org()
    waiting = waiting_import(database, org, "later.csv", timedelta(hours=1))
    people = accepted_job(
        client,
        org,
        upload_profiles(client, org, csv_text(["email"], ["a@example.com"], ["not-an-email"])),
    )
    events = accepted_job(
        client, org, upload_events(client, org, [event(unique_id="e-1"), event(unique_id="e-1")])
    )
    # Other jobs of the organization (a segment recompute, say) are not imports.
    with database.transaction() as session:
        create_job(session, org.org_id, "tests.not-an-import", kick=False)

    listed = list_imports(client, org)
    assert listed["next_cursor"] is None
    assert [item["id"] for item in listed["data"]] == [events["id"], people["id"], waiting]
    newest, profiles, pending = listed["data"]
    assert newest["type"] == "events"
    assert newest["filename"] == "events.jsonl"
    assert newest["status"] == "succeeded"
    assert (newest["progress_done"], newest["progress_total"]) == (2, 2)
    assert newest["result"] == {"rows": 2, "stored": 1, "duplicates": 1, "errors": 0}
    assert newest["counts"] == newest["result"]
    assert newest["started_at"] and newest["finished_at"] and newest["created_at"]

    assert profiles["type"] == "profiles"
    assert profiles["filename"] == "people.csv"
    expected = {"rows": 2, "created": 1, "updated": 0, "unchanged": 0, "errors": 1}
    assert profiles["result"] == expected
    assert profiles["error"] is None

    assert pending["status"] == "pending"
    assert pending["filename"] == "later.csv"
    assert (pending["progress_done"], pending["progress_total"]) == (0, None)
    assert pending["result"] is None and pending["counts"] is None
    assert pending["started_at"] is None and pending["finished_at"] is None

    # One import reads the same as in the list.
    one = client.get(f"/api/imports/{people['id']}", headers=org.secret_headers)
    assert one.status_code == 200, one.text
    assert one.json() == profiles


def test_the_list_pages_with_a_cursor_and_filters_by_kind(
    client: TestClient, database: Database
) -> None:
    org = make_org()
    # Four imports an hour apart, and a fifth created at the same moment as the oldest (their ids
    # break the tie).
    ids = [waiting_import(database, org, f"f{i}.csv", timedelta(hours=i)) for i in range(4)]
    twin = waiting_import(database, org, "f3-twin.csv", timedelta(hours=3))
    with database.transaction() as session:
        rows = session.execute(sa.select(Job.id, Job.created_at).where(Job.org_id == org.org_id))
        times = {job_id: created for job_id, created in rows}
        session.execute(
            sa.update(Job)
            .where(Job.id == uuid.UUID(twin))
            .values(created_at=times[uuid.UUID(ids[3])])
        )
    expected = ids[:3] + sorted([ids[3], twin], reverse=True)

    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        page = list_imports(client, org, limit=2, **({"cursor": cursor} if cursor else {}))
        seen += [item["id"] for item in page["data"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert (seen, pages) == (expected, 3)

    event_job = accepted_job(client, org, upload_events(client, org, [event()]))
    assert [i["id"] for i in list_imports(client, org, kind="events")["data"]] == [event_job["id"]]
    profiles = list_imports(client, org, kind="profiles")["data"]
    assert [i["id"] for i in profiles] == expected
    assert len(list_imports(client, org)["data"]) == 6

    for params, field in (({"kind": "segments"}, "kind"), ({"cursor": "nonsense"}, "cursor")):
        response = client.get("/api/imports", params=params, headers=org.secret_headers)
        assert response.status_code == 422, response.text
        assert response.json()["error"]["fields"][0]["field"] == field


def test_a_cancelled_import_shows_what_it_imported(client: TestClient, database: Database) -> None:
    org = make_org()
    job_id = waiting_import(database, org, "half.csv", timedelta(0))
    with database.transaction() as session:
        # As a worker leaves it after one batch: the counts sit in the checkpoint.
        counts = {"rows": 500, "created": 480, "updated": 15, "unchanged": 0, "errors": 5}
        session.execute(
            sa.update(Job)
            .where(Job.id == uuid.UUID(job_id))
            .values(status="running", progress_done=500, checkpoint={"row": 501, "counts": counts})
        )
    running = client.get(f"/api/imports/{job_id}", headers=org.secret_headers).json()
    assert (running["status"], running["result"], running["counts"]) == ("running", None, counts)

    cancelled = client.post(f"/api/jobs/{job_id}/cancel", headers=org.secret_headers)
    assert cancelled.status_code == 200, cancelled.text
    after = client.get(f"/api/imports/{job_id}", headers=org.secret_headers).json()
    assert (after["status"], after["result"], after["counts"]) == ("cancelled", None, counts)
    assert after["finished_at"] is not None


def test_imports_are_listed_only_to_their_organization(
    client: TestClient, database: Database
) -> None:
    org, other = make_org("Owner"), make_org("Other")
    job = accepted_job(client, org, upload_events(client, org, [event()]))
    assert list_imports(client, other) == {"data": [], "next_cursor": None}

    endpoints = [
        Endpoint("GET", "/api/imports/{id}"),
        Endpoint("GET", "/api/imports/{id}/errors"),
        Endpoint("POST", "/api/jobs/{id}/cancel"),
    ]
    assert_isolated(client, org, other, job["id"], endpoints, Endpoint("GET", "/api/imports/{id}"))
    assert_management_only(
        client, org, job["id"], [Endpoint("GET", "/api/imports"), *endpoints[:2]]
    )
    # A job of the organization that is not an import is not found as one.
    with database.transaction() as session:
        not_an_import = create_job(session, org.org_id, "tests.not-an-import", kick=False)
    response = client.get(f"/api/imports/{not_an_import.id}", headers=org.secret_headers)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_members_see_imports(client: TestClient, database: Database) -> None:
    org = make_org()
    job = accepted_job(client, org, upload_events(client, org, [event()]))
    email, password = make_user(org, role="member")
    sign_in(client, email, password)
    listed = client.get("/api/imports")
    assert listed.status_code == 200, listed.text
    assert [item["id"] for item in listed.json()["data"]] == [job["id"]]
    assert client.get(f"/api/imports/{job['id']}").json()["type"] == "events"
