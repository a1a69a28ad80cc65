"""Single events stored in groups (service.GroupCommit): one transaction for the events of
concurrent requests, each request answered after the commit with its own outcome."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from concurrent.futures import Future
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from herald.db import Database
from herald.errors import NotFound
from herald.events import grouped, service
from herald.events.batch import EventInput, Outcome
from herald.events.grouped import GroupCommit
from herald.models import Event, EventKey, ProfileChange
from herald.profiles import identity
from herald.profiles.identity import ProfileRef
from tests.factories import make_org


def _pending(org_id: uuid.UUID, item: EventInput) -> Any:
    return grouped._Pending(org_id, item, "api", Future())


def _event(name: str, email: str, unique_id: str | None = None) -> EventInput:
    return EventInput(name=name, profile=ProfileRef(email=email), unique_id=unique_id)


def _changes(database: Database, org_id: uuid.UUID) -> list[tuple[str, str, Any]]:
    with database.transaction() as session:
        rows = session.execute(
            sa.select(ProfileChange.profile_id, ProfileChange.reason, ProfileChange.event_names)
            .where(ProfileChange.org_id == org_id)
            .order_by(ProfileChange.id)
        ).all()
    return [(str(profile_id), reason, names) for profile_id, reason, names in rows]


def test_a_group_answers_each_event_and_keeps_one_change_per_request(database: Database) -> None:
    org, other = make_org(), make_org()
    with database.transaction() as session:
        foreign = service.ingest(session, other.org_id, [_event("X", "x@example.com")])[0]
    assert foreign.profile_id is not None
    group = [
        _pending(org.org_id, _event("Viewed", "a@example.com", "u1")),
        _pending(org.org_id, _event("Viewed", "a@example.com", "u2")),
        _pending(org.org_id, _event("Bought", "b@example.com", "u3")),
        # Another organization's profile id: this request alone is refused.
        _pending(
            org.org_id, EventInput(name="Bad", profile=ProfileRef(profile_id=foreign.profile_id))
        ),
        _pending(org.org_id, EventInput(name="Bad", profile=ProfileRef(), raw_phone="12")),
        _pending(org.org_id, _event("Viewed", "a@example.com", "u1")),  # a retry of the first
        _pending(other.org_id, _event("Other", "a@example.com", "u1")),  # same id, other org
    ]
    GroupCommit().store(group)
    outcomes: list[Outcome] = [p.future.result(timeout=0) for p in group]

    first, second, third, foreign_ref, bad_phone, retry, elsewhere = outcomes
    assert not first.duplicate and not second.duplicate and not third.duplicate
    assert first.profile_id == second.profile_id != third.profile_id
    assert foreign_ref.error is not None and foreign_ref.error_type is NotFound
    assert bad_phone.error is not None and bad_phone.error.field == "profile.phone"
    assert retry.duplicate and retry.event_id == first.event_id
    assert not elsewhere.duplicate and elsewhere.profile_id != first.profile_id

    with database.transaction() as session:
        stored = dict(
            session.execute(sa.select(Event.id, Event.name).where(Event.org_id == org.org_id)).all()
        )
        keys = session.scalar(
            sa.select(sa.func.count()).select_from(EventKey).where(EventKey.org_id == org.org_id)
        )
    assert stored == {first.event_id: "Viewed", second.event_id: "Viewed", third.event_id: "Bought"}
    assert keys == 3
    # As if each request had been stored on its own: two new people announced once each, and
    # one event change per request (two for a@example.com, who sent two requests).
    changes = _changes(database, org.org_id)
    a, b = str(first.profile_id), str(third.profile_id)
    assert sorted(c for c in changes if c[1] == "created") == sorted(
        [(a, "created", None), (b, "created", None)]
    )
    assert sorted(c for c in changes if c[1] == "event") == sorted(
        [(a, "event", ["Viewed"]), (a, "event", ["Viewed"]), (b, "event", ["Bought"])]
    )


def test_a_group_the_database_refuses_is_stored_event_by_event(database: Database) -> None:
    org = make_org()
    missing_org = uuid.uuid4()  # its rows break a foreign key: the group's transaction fails
    group = [
        _pending(org.org_id, _event("A", "a@example.com", "1")),
        _pending(missing_org, _event("A", "a@example.com", "1")),
        _pending(org.org_id, _event("B", "b@example.com", "2")),
    ]
    GroupCommit().store(group)
    good_a, broken, good_b = (p.future for p in group)
    assert good_a.result(timeout=0).event_id is not None
    assert good_b.result(timeout=0).event_id is not None
    assert isinstance(broken.exception(timeout=0), sa.exc.IntegrityError)
    with database.transaction() as session:
        names = session.scalars(
            sa.select(Event.name).where(Event.org_id == org.org_id).order_by(Event.name)
        ).all()
    assert names == ["A", "B"]


def test_the_group_thread_answers_after_the_commit(database: Database) -> None:
    org = make_org()
    committer = GroupCommit()
    futures = [
        committer.submit(org.org_id, _event("E", f"p{i}@example.com", f"id-{i}")) for i in range(20)
    ]
    outcomes = [f.result(timeout=30) for f in futures]
    assert len({o.event_id for o in outcomes}) == 20
    with database.transaction() as session:  # visible to another session: committed
        count = session.scalar(
            sa.select(sa.func.count()).select_from(Event).where(Event.org_id == org.org_id)
        )
    assert count == 20


def test_concurrent_track_requests_share_a_commit_and_get_their_own_answers(
    app: FastAPI, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    org, other = make_org(), make_org()
    other_profile = httpx_track_sync(app, other.public_headers, "X", {"email": "x@example.com"})
    requests = 24
    sizes: list[int] = []
    store_group = grouped._store_group
    release = threading.Event()

    def recording_store_group(group: list[Any]) -> list[Outcome]:
        if not sizes:
            # Hold the first group until the other requests have queued behind it.
            release.wait(timeout=10)
        sizes.append(len(group))
        return store_group(group)

    monkeypatch.setattr(grouped, "_store_group", recording_store_group)
    # One thread, so that the held first group leaves every other request queued behind it.
    monkeypatch.setattr(grouped, "single_events", GroupCommit(threads=1))

    bodies: list[dict[str, Any]] = [
        {"event": f"E{i}", "profile": {"email": f"p{i % 5}@example.com"}, "unique_id": f"u{i}"}
        for i in range(requests - 3)
    ]
    bodies.append({"event": "Again", "profile": {"email": "p0@example.com"}, "unique_id": "u0"})
    bodies.append({"event": "Bad", "profile": {"id": other_profile}})
    bodies.append({"event": "Bad", "profile": {"phone": "12"}})

    async def send_all() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:

            async def send(body: dict[str, Any]) -> httpx.Response:
                return await client.post("/api/track", json=body, headers=org.public_headers)

            tasks = [asyncio.create_task(send(body)) for body in bodies]
            deadline = time.monotonic() + 10
            while grouped.single_events._queue.qsize() < len(bodies) - 1:
                if time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.01)
            release.set()
            return await asyncio.gather(*tasks)

    responses = asyncio.run(send_all())
    assert max(sizes) > 1  # stored together
    answers = [r.json() for r in responses]
    assert [r.status_code for r in responses] == [202] * (len(bodies) - 2) + [404, 422]
    assert answers[-2]["error"]["fields"][0]["field"] == "profile"
    assert answers[-1]["error"]["fields"][0]["field"] == "profile.phone"
    # u0 twice: whichever arrived first is stored, the other is its duplicate.
    first_u0, again_u0 = answers[0], answers[-3]
    assert first_u0["event_id"] == again_u0["event_id"]
    assert sorted([first_u0["duplicate"], again_u0["duplicate"]]) == [False, True]
    with database.transaction() as session:
        stored = dict(
            session.execute(sa.select(Event.id, Event.name).where(Event.org_id == org.org_id)).all()
        )
    assert len(stored) == requests - 3
    kept = [
        (body, answer)
        for body, answer in zip(bodies[:-2], answers[:-2], strict=True)
        if not answer["duplicate"]
    ]
    assert len(kept) == requests - 3
    for body, answer in kept:
        assert stored[uuid.UUID(answer["event_id"])] == body["event"]
    # One event change per stored request, each naming its own event.
    event_changes = [c for c in _changes(database, org.org_id) if c[1] == "event"]
    assert sorted(names[0] for _, _, names in event_changes) == sorted(b["event"] for b, _ in kept)


def httpx_track_sync(
    app: FastAPI, headers: dict[str, str], name: str, profile: dict[str, str]
) -> str:
    async def send() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.post(
                "/api/track", json={"event": name, "profile": profile}, headers=headers
            )

    response = asyncio.run(send())
    assert response.status_code == 202, response.text
    profile_id: str = response.json()["profile_id"]
    return profile_id


def test_a_person_created_by_a_concurrent_batch_is_found_not_resolved_again(
    backend: Any, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    if backend.name != "postgresql":
        pytest.skip("SQLite runs one writer at a time")
    org = make_org()
    resolved: list[Any] = []

    def counting_resolve(*args: Any) -> Any:
        resolved.append(args[2])
        return identity.resolve(*args)

    monkeypatch.setattr("herald.events.people.resolve", counting_resolve)
    first = database.sessionmaker()
    try:
        (created,) = service.ingest(first, org.org_id, [_event("A", "race@example.com")])
        result: list[Outcome] = []

        def second_batch() -> None:
            with database.transaction() as session:
                result.extend(
                    service.ingest(session, org.org_id, [_event("B", "race@example.com")])
                )

        thread = threading.Thread(target=second_batch)
        thread.start()
        time.sleep(0.5)  # the second batch now waits on the first one's new profile
        first.commit()
    finally:
        first.close()
    thread.join(timeout=30)
    assert result and result[0].profile_id == created.profile_id
    assert resolved == []
