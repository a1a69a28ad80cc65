"""`upsert_profiles` (what imports use) gives what `upsert_profile` one item after another gives,
while creating people whom nobody else names together."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import sqlalchemy as sa

from herald.db import Database
from herald.errors import HeraldError
from herald.models import Profile, ProfileChange
from herald.profiles import service
from herald.profiles.identity import ProfileRef, Resolution
from herald.profiles.schemas import ProfileFields
from tests.factories import make_org


def _item(email: str | None = None, external_id: str | None = None, **fields: Any) -> Any:
    request = ProfileFields.model_validate(
        {k: v for k, v in {"email": email, "external_id": external_id, **fields}.items() if v}
    )
    return request, ProfileRef(email=request.email, external_id=request.external_id)


def _items() -> list[Any]:
    return [
        _item("new1@example.com", first_name="New", properties={"plan": "pro"}),
        _item("known@example.com", first_name="Known again"),  # an update
        _item("twice@example.com", first_name="First"),  # created, then updated below
        _item("new2@example.com", external_id="n2", last_name="Two"),
        _item("twice@example.com", first_name="Second"),
        _item("a@example.com", external_id="b-id"),  # names two people: a conflict
        _item("same@example.com", first_name="Same"),  # exists and is unchanged
        _item(external_id="new3", timezone="Europe/Berlin"),
    ]


def _seed(database: Database, org_id: uuid.UUID) -> None:
    with database.transaction() as session:
        session.add_all(
            [
                Profile(org_id=org_id, email="known@example.com", properties={}),
                Profile(org_id=org_id, email="a@example.com", properties={}),
                Profile(org_id=org_id, external_id="b-id", properties={}),
                Profile(org_id=org_id, email="same@example.com", first_name="Same", properties={}),
            ]
        )


def _outcome(outcome: Resolution | HeraldError) -> tuple[Any, ...]:
    if isinstance(outcome, HeraldError):
        return ("error", outcome.code, tuple(f.field for f in outcome.fields))
    return ("ok", outcome.profile.email, outcome.created, outcome.changed)


def _state(database: Database, org_id: uuid.UUID) -> list[tuple[Any, ...]]:
    with database.transaction() as session:
        profiles = session.scalars(sa.select(Profile).where(Profile.org_id == org_id))
        people = sorted(
            (
                p.email or "",
                p.external_id or "",
                p.first_name,
                p.last_name,
                p.timezone,
                p.properties,
            )
            for p in profiles
        )
        changes = sorted(
            session.execute(
                sa.select(Profile.email, Profile.external_id, ProfileChange.reason)
                .join(Profile, Profile.id == ProfileChange.profile_id)
                .where(ProfileChange.org_id == org_id)
            ).all(),
            key=str,
        )
    return [*people, *changes]


def test_together_gives_what_one_after_another_gives(database: Database) -> None:
    together, one_by_one = make_org(), make_org()
    for org in (together, one_by_one):
        _seed(database, org.org_id)

    with database.transaction() as session:
        outcomes = service.upsert_profiles(session, together.org_id, _items())
        got = [_outcome(o) for o in outcomes]
    expected = []
    for request, ref in _items():
        with database.transaction() as session:
            try:
                expected.append(
                    _outcome(service.upsert_profile(session, one_by_one.org_id, request, ref))
                )
            except HeraldError as exc:
                expected.append(_outcome(exc))

    assert got == expected
    assert [o[0] for o in got].count("error") == 1
    assert sum(1 for o in got if o[0] == "ok" and o[2]) == 4  # new1, twice, new2, new3
    assert _state(database, together.org_id) == _state(database, one_by_one.org_id)


def test_someone_creating_one_of_the_people_meanwhile_sends_all_one_by_one(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    org = make_org()
    real_plainly_new = service._plainly_new

    def plainly_new_then_taken(session: Any, org_id: uuid.UUID, items: Any) -> list[int]:
        fresh = real_plainly_new(session, org_id, items)
        # Another request creates new2 between the look-up and the insert.
        session.execute(
            sa.insert(Profile).values(
                id=uuid.uuid4(), org_id=org_id, email="new2@example.com", properties={}
            )
        )
        return fresh

    monkeypatch.setattr(service, "_plainly_new", plainly_new_then_taken)
    items = [_item("new1@example.com"), _item("new2@example.com", first_name="Two")]
    with database.transaction() as session:
        outcomes = service.upsert_profiles(session, org.org_id, items)
        got = [_outcome(o) for o in outcomes]
    assert got == [
        ("ok", "new1@example.com", True, False),
        ("ok", "new2@example.com", False, True),
    ]
    with database.transaction() as session:
        count = session.scalar(
            sa.select(sa.func.count()).select_from(Profile).where(Profile.org_id == org.org_id)
        )
        named = session.scalar(
            sa.select(Profile.first_name).where(
                Profile.org_id == org.org_id, Profile.email == "new2@example.com"
            )
        )
    assert (count, named) == (2, "Two")
