"""Identity resolution: anonymous activity, merges, shared devices, conflicts and races."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from herald.db import Database
from herald.models import Event, Profile, ProfileChange
from herald.profiles.identity import ProfileRef, resolve
from tests.conftest import Backend
from tests.factories import make_org


def identify(client: TestClient, org, **body) -> dict:
    response = client.post("/api/identify", json=body, headers=org.public_headers)
    assert response.status_code == 200, response.text
    return response.json()


def track(client: TestClient, org, profile: dict, event: str = "Viewed Product", **extra) -> dict:
    body = {"event": event, "profile": profile, **extra}
    response = client.post("/api/track", json=body, headers=org.public_headers)
    assert response.status_code == 202, response.text
    return response.json()


def profile(client: TestClient, org, profile_id: str) -> dict:
    response = client.get(f"/api/profiles/{profile_id}", headers=org.secret_headers)
    assert response.status_code == 200, response.text
    return response.json()


def test_anonymous_activity_merges_into_the_known_profile(client: TestClient) -> None:
    org = make_org()
    known = identify(client, org, email="ada@example.com", properties={"plan": "pro"})
    browsing = track(client, org, {"anonymous_id": "browser-1"}, properties={"sku": "A1"})
    anonymous_id = browsing["profile_id"]
    assert anonymous_id != known["profile_id"]
    client.post(
        "/api/identify",
        json={"anonymous_id": "browser-1", "first_name": "Guest"},
        headers=org.public_headers,
    )
    # The anonymous profile gathered properties of its own before the person was known.
    client.patch(
        f"/api/profiles/{anonymous_id}",
        json={"properties": {"plan": "free", "seen_banner": True}},
        headers=org.secret_headers,
    )

    merged = identify(client, org, email="ada@example.com", anonymous_id="browser-1")
    assert merged["profile_id"] == known["profile_id"]
    assert merged["merged_profile_ids"] == [anonymous_id]
    survivor = profile(client, org, known["profile_id"])
    # The known profile's values win; the anonymous one fills gaps.
    assert survivor["properties"] == {"plan": "pro", "seen_banner": True}
    assert survivor["first_name"] == "Guest"
    timeline = client.get(
        f"/api/profiles/{known['profile_id']}/timeline", headers=org.secret_headers
    ).json()["data"]
    assert [e["id"] for e in timeline] == [browsing["event_id"]]
    # The old id still resolves, to the survivor.
    assert profile(client, org, anonymous_id)["id"] == known["profile_id"]
    # Later anonymous activity from that browser lands on the known profile.
    later = track(client, org, {"anonymous_id": "browser-1"})
    assert later["profile_id"] == known["profile_id"]
    listed = client.get("/api/profiles", headers=org.secret_headers).json()["data"]
    assert [p["id"] for p in listed] == [known["profile_id"]]


def test_an_anonymous_visitor_who_signs_up_keeps_their_profile(client: TestClient) -> None:
    org = make_org()
    first = track(client, org, {"anonymous_id": "b-2"})
    result = identify(client, org, anonymous_id="b-2", email="new@example.com")
    assert result["profile_id"] == first["profile_id"]
    assert result["created"] is False and result["merged_profile_ids"] == []
    assert profile(client, org, first["profile_id"])["email"] == "new@example.com"


def test_a_shared_device_moves_to_the_person_who_identified_last(client: TestClient) -> None:
    org = make_org()
    alice = identify(client, org, email="alice@example.com", anonymous_id="family-laptop")
    before = track(client, org, {"anonymous_id": "family-laptop"})
    assert before["profile_id"] == alice["profile_id"]
    bob = identify(client, org, email="bob@example.com", anonymous_id="family-laptop")
    assert bob["profile_id"] != alice["profile_id"]
    assert bob["merged_profile_ids"] == []  # two known people never merge on their own
    after = track(client, org, {"anonymous_id": "family-laptop"})
    assert after["profile_id"] == bob["profile_id"]
    assert profile(client, org, alice["profile_id"])["email"] == "alice@example.com"


def test_identifiers_of_two_known_people_are_a_conflict(client: TestClient) -> None:
    org = make_org()
    identify(client, org, email="one@example.com")
    identify(client, org, phone="+14155550100")
    response = client.post(
        "/api/identify",
        json={"email": "one@example.com", "phone": "+1 415 555 0100"},
        headers=org.public_headers,
    )
    assert response.status_code == 409
    assert response.json()["error"]["fields"][0]["field"] in {"email", "phone"}


def test_identify_adds_new_identifiers_to_the_profile_it_finds(client: TestClient) -> None:
    org = make_org()
    first = identify(client, org, email="grace@example.com")
    again = identify(
        client, org, email="GRACE@example.com", external_id="cust-9", phone="4155550123"
    )
    assert again["profile_id"] == first["profile_id"] and not again["created"]
    stored = profile(client, org, first["profile_id"])
    assert stored["external_id"] == "cust-9"
    assert stored["phone"] == "+14155550123"  # the organization's default region is US


def test_merges_are_handed_to_the_change_feed(client: TestClient, database: Database) -> None:
    org = make_org()
    known = identify(client, org, email="feed@example.com")
    anonymous = track(client, org, {"anonymous_id": "feed-browser"})
    identify(client, org, email="feed@example.com", anonymous_id="feed-browser")
    with database.transaction() as session:
        reasons = {
            (str(c.profile_id), c.reason)
            for c in session.scalars(
                sa.select(ProfileChange).where(ProfileChange.org_id == org.org_id)
            )
        }
    assert (known["profile_id"], "merged") in reasons
    assert (anonymous["profile_id"], "removed") in reasons
    assert (anonymous["profile_id"], "event") in reasons


def test_concurrent_identifies_of_a_new_email_create_one_profile(
    database: Database, backend: Backend
) -> None:
    """Real concurrency: threads with their own connections race to create the same person."""
    org = make_org()
    threads = 8
    barrier = threading.Barrier(threads)
    results: list[str] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            barrier.wait(timeout=10)
            with database.transaction() as session:
                resolution = resolve(session, org.org_id, ProfileRef(email="race@example.com"))
                results.append(str(resolution.profile.id))
        except BaseException as exc:
            errors.append(exc)

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(timeout=30)
    assert errors == []
    assert len(results) == threads and len(set(results)) == 1
    with database.transaction() as session:
        count = session.scalar(
            sa.select(sa.func.count())
            .select_from(Profile)
            .where(Profile.org_id == org.org_id, Profile.email == "race@example.com")
        )
    assert count == 1


def test_concurrent_batches_for_new_people_never_duplicate(
    app, database: Database, backend: Backend
) -> None:
    org = make_org()
    emails = [f"p{i}@example.com" for i in range(30)]
    barrier = threading.Barrier(4)
    statuses: list[int] = []

    def send(offset: int) -> None:
        events = [
            {"event": "Signed Up", "profile": {"email": emails[(i + offset) % 30]}}
            for i in range(30)
        ]
        with TestClient(app) as client:
            barrier.wait(timeout=10)
            response = client.post(
                "/api/track/batch", json={"events": events}, headers=org.public_headers
            )
            statuses.append(response.status_code)

    pool = [threading.Thread(target=send, args=(n * 7,)) for n in range(4)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(timeout=60)
    assert statuses == [200] * 4
    with database.transaction() as session:
        profiles = session.scalar(
            sa.select(sa.func.count()).select_from(Profile).where(Profile.org_id == org.org_id)
        )
        events = session.scalar(
            sa.select(sa.func.count()).select_from(Event).where(Event.org_id == org.org_id)
        )
    assert profiles == 30
    assert events == 120


def test_a_profile_id_from_another_organization_is_not_found(client: TestClient) -> None:
    mine, theirs = make_org(), make_org()
    their_profile = identify(client, theirs, email="secret@example.com")
    response = client.post(
        "/api/track",
        json={"event": "X", "profile": {"id": their_profile["profile_id"]}},
        headers=mine.public_headers,
    )
    assert response.status_code == 404
    response = client.post(
        "/api/track/batch",
        json={"events": [{"event": "X", "profile": {"id": their_profile["profile_id"]}}]},
        headers=mine.public_headers,
    )
    assert response.json()["errors"][0]["field"] == "events[0].profile"


@pytest.mark.parametrize("ref", [{}, {"anonymous_id": ""}])
def test_a_profile_must_be_named(client: TestClient, ref: dict) -> None:
    org = make_org()
    response = client.post(
        "/api/track", json={"event": "X", "profile": ref}, headers=org.public_headers
    )
    assert response.status_code == 422
    assert response.json()["error"]["fields"][0]["field"].startswith("profile")
