"""Identity resolution: which profile an identify, a tracked event or an alias is about.

Rules (also in docs/profiles.md):
- A profile is known when it has an email, a phone or an external id; otherwise it is anonymous
  and reachable only through its anonymous ids (a browser's or app's id before sign-in).
- Identifiers that name two different known profiles are a conflict: Herald never merges two
  known people on its own. An alias (Segment's `alias`) says explicitly that two ids are the same
  person and does merge them.
- When an anonymous id meets a known identifier, the anonymous profile merges into the known one:
  its events and anonymous ids move over, custom properties merge with the known profile's values
  winning on conflict, built-in fields fill only where the known profile has none, and the merged
  profile keeps `merged_into_id`, so its old id still resolves. If the anonymous id belonged to a
  different known person (a shared device), it is moved to the new person instead; nothing merges.
- Two requests that create the same new person at once produce one profile: the unique
  constraints decide, and the loser retries and finds the winner's profile.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from herald.db import utcnow
from herald.errors import Conflict, FieldError, InvalidInput, NotFound
from herald.models import AnonymousId, Event, Profile, ProfileChange
from herald.models.profile import DESCRIPTIVE_FIELDS, IDENTIFIERS
from herald.tenancy.scope import get_scoped, scoped

RESOLVE_ATTEMPTS = 4


class ProfileRef(NamedTuple):
    """How a request names a person. Identifiers must already be normalized. A named tuple:
    ingestion makes and hashes one per event."""

    profile_id: uuid.UUID | None = None
    email: str | None = None
    phone: str | None = None
    external_id: str | None = None
    anonymous_id: str | None = None

    def identifiers(self) -> dict[str, str]:
        return {name: value for name in IDENTIFIERS if (value := getattr(self, name)) is not None}

    def given(self) -> dict[str, str | uuid.UUID]:
        """Every way this reference names the person: id, identifiers and anonymous id."""
        names = ("profile_id", *IDENTIFIERS, "anonymous_id")
        return {name: value for name in names if (value := getattr(self, name)) is not None}

    @property
    def is_empty(self) -> bool:
        return not self.given()


@dataclass
class Resolution:
    profile: Profile
    created: bool = False
    merged_ids: list[uuid.UUID] = field(default_factory=list)
    # Whether an existing profile changed (gained identifiers, merged, or later its fields).
    changed: bool = False


# Other domains register what must happen to their rows when two profiles merge
# (memberships, messages, ...). Called with (session, org_id, loser_id, survivor_id).
MergeHook = Callable[[Session, uuid.UUID, uuid.UUID, uuid.UUID], None]
_merge_hooks: list[MergeHook] = []


def on_merge(hook: MergeHook) -> MergeHook:
    _merge_hooks.append(hook)
    return hook


# Called with (session, org_id, profile_ids) just before those profiles are erased, so other
# domains can close their records (segment exits) while the rows still exist.
EraseHook = Callable[[Session, uuid.UUID, list[uuid.UUID]], None]
erase_hooks: list[EraseHook] = []


def on_erase(hook: EraseHook) -> EraseHook:
    erase_hooks.append(hook)
    return hook


def record_change(
    session: Session,
    org_id: uuid.UUID,
    profile_id: uuid.UUID,
    reason: str,
    event_names: Iterable[str] | None = None,
) -> None:
    names = sorted(set(event_names)) if event_names is not None else None
    session.add(
        ProfileChange(org_id=org_id, profile_id=profile_id, reason=reason, event_names=names)
    )


def live_profile(session: Session, org_id: uuid.UUID, profile_id: uuid.UUID) -> Profile:
    """The profile with this id, or the one it was merged into. Another organization's id is 404."""
    profile = get_scoped(session, Profile, org_id, profile_id)
    for _ in range(8):  # merges keep chains one hop long; the bound only guards against a cycle
        if profile.merged_into_id is None:
            return profile
        profile = get_scoped(session, Profile, org_id, profile.merged_into_id)
    raise NotFound("profile not found")


def resolve(session: Session, org_id: uuid.UUID, ref: ProfileRef) -> Resolution:
    """Find or create the profile `ref` names, merging and re-pointing ids as the rules say."""
    if ref.is_empty:
        raise InvalidInput(
            "name the profile by id, email, phone, external_id or anonymous_id",
            [FieldError("profile", "needs at least one identifier")],
        )
    for attempt in range(RESOLVE_ATTEMPTS):
        try:
            with session.begin_nested():
                return _resolve_once(session, org_id, ref)
        except IntegrityError:
            # Someone created or claimed one of these identifiers a moment ago; look again.
            if attempt == RESOLVE_ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


def _resolve_once(session: Session, org_id: uuid.UUID, ref: ProfileRef) -> Resolution:
    if ref.profile_id is not None:
        resolution = Resolution(live_profile(session, org_id, ref.profile_id))
        resolution.changed = claim_identifiers(
            session, org_id, resolution.profile, ref.identifiers()
        )
        if ref.anonymous_id is not None:
            _attach_anonymous_id(session, org_id, resolution, ref.anonymous_id)
        return resolution

    identifiers = ref.identifiers()
    target: Profile | None = None
    if identifiers:
        target = _find_known(session, org_id, identifiers)
    anonymous_profile = (
        _profile_of_anonymous_id(session, org_id, ref.anonymous_id) if ref.anonymous_id else None
    )

    if target is None:
        if anonymous_profile is not None and anonymous_profile.is_anonymous:
            # The anonymous visitor has just told us who they are.
            target = anonymous_profile
            resolution = Resolution(
                target, changed=_set_identifiers(session, org_id, target, identifiers)
            )
        elif anonymous_profile is not None and not identifiers:
            return Resolution(anonymous_profile)
        else:
            target = _create(session, org_id, identifiers)
            resolution = Resolution(target, created=True)
    else:
        resolution = Resolution(
            target, changed=_set_identifiers(session, org_id, target, identifiers)
        )

    if ref.anonymous_id is not None:
        _attach_anonymous_id(session, org_id, resolution, ref.anonymous_id, anonymous_profile)
    return resolution


def _find_known(session: Session, org_id: uuid.UUID, identifiers: dict[str, str]) -> Profile | None:
    conditions = [getattr(Profile, name) == value for name, value in identifiers.items()]
    matches = list(session.scalars(scoped(Profile, org_id).where(sa.or_(*conditions))))
    if len(matches) > 1:
        fields = [
            FieldError(name, f"belongs to another profile ({profile.id})")
            for profile in matches[1:]
            for name, value in identifiers.items()
            if getattr(profile, name) == value
        ]
        raise Conflict(
            "these identifiers belong to different profiles; merge them with an alias first",
            fields,
        )
    return matches[0] if matches else None


def claim_identifiers(
    session: Session, org_id: uuid.UUID, profile: Profile, identifiers: dict[str, str]
) -> bool:
    """Give `profile` these identifiers, refusing any that another profile holds."""
    for name, value in identifiers.items():
        if getattr(profile, name) == value:
            continue
        holder = session.scalar(
            scoped(Profile, org_id).where(getattr(Profile, name) == value, Profile.id != profile.id)
        )
        if holder is not None:
            raise Conflict(
                f"{name} belongs to another profile",
                [FieldError(name, f"belongs to another profile ({holder.id})")],
            )
    return _set_identifiers(session, org_id, profile, identifiers)


def _set_identifiers(
    session: Session, org_id: uuid.UUID, profile: Profile, identifiers: dict[str, str]
) -> bool:
    """Give the profile these identifiers; record the change for the workers if there was one."""
    changed = False
    for name, value in identifiers.items():
        if getattr(profile, name) != value:
            setattr(profile, name, value)
            changed = True
    if changed:
        profile.updated_at = utcnow()
        session.flush()  # let a unique constraint speak now, inside the caller's savepoint
        record_change(session, org_id, profile.id, "updated")
    return changed


def _create(session: Session, org_id: uuid.UUID, identifiers: dict[str, str]) -> Profile:
    profile = Profile(org_id=org_id, properties={}, **identifiers)
    session.add(profile)
    session.flush()
    record_change(session, org_id, profile.id, "created")
    return profile


def _profile_of_anonymous_id(
    session: Session, org_id: uuid.UUID, anonymous_id: str
) -> Profile | None:
    mapping = session.get(AnonymousId, (org_id, anonymous_id))
    return None if mapping is None else live_profile(session, org_id, mapping.profile_id)


def _attach_anonymous_id(
    session: Session,
    org_id: uuid.UUID,
    resolution: Resolution,
    anonymous_id: str,
    current: Profile | None = None,
) -> None:
    target = resolution.profile
    current = current or _profile_of_anonymous_id(session, org_id, anonymous_id)
    if current is None:
        session.add(AnonymousId(org_id=org_id, anonymous_id=anonymous_id, profile_id=target.id))
        session.flush()
        return
    if current.id == target.id:
        return
    if current.is_anonymous:
        merge(session, org_id, loser=current, survivor=target)
        resolution.merged_ids.append(current.id)
        resolution.changed = True
    else:
        # A shared device: the id now means the person who identified last.
        session.execute(
            sa.update(AnonymousId)
            .where(AnonymousId.org_id == org_id, AnonymousId.anonymous_id == anonymous_id)
            .values(profile_id=target.id)
        )


def merge(session: Session, org_id: uuid.UUID, *, loser: Profile, survivor: Profile) -> None:
    """Fold `loser` into `survivor`. The survivor's values win; the loser becomes a pointer."""
    if loser.id == survivor.id:
        return
    session.execute(
        sa.update(Event)
        .where(Event.org_id == org_id, Event.profile_id == loser.id)
        .values(profile_id=survivor.id)
    )
    session.execute(
        sa.update(AnonymousId)
        .where(AnonymousId.org_id == org_id, AnonymousId.profile_id == loser.id)
        .values(profile_id=survivor.id)
    )
    # Keep pointer chains one hop long.
    session.execute(
        sa.update(Profile)
        .where(Profile.org_id == org_id, Profile.merged_into_id == loser.id)
        .values(merged_into_id=survivor.id)
    )
    survivor.properties = {**(loser.properties or {}), **(survivor.properties or {})}
    for name in DESCRIPTIVE_FIELDS:
        if getattr(survivor, name) is None and getattr(loser, name) is not None:
            setattr(survivor, name, getattr(loser, name))
    taken = {name: getattr(loser, name) for name in IDENTIFIERS if getattr(loser, name)}
    for name in (*IDENTIFIERS, *DESCRIPTIVE_FIELDS):
        setattr(loser, name, None)
    loser.properties = {}
    loser.merged_into_id = survivor.id
    session.flush()
    # An explicit alias of two known profiles: the survivor takes identifiers it lacks.
    for name, value in taken.items():
        if getattr(survivor, name) is None:
            setattr(survivor, name, value)
    survivor.updated_at = utcnow()
    session.flush()
    for hook in _merge_hooks:
        hook(session, org_id, loser.id, survivor.id)
    record_change(session, org_id, survivor.id, "merged")
    record_change(session, org_id, loser.id, "removed")


def alias(session: Session, org_id: uuid.UUID, previous_id: str, user_id: str) -> Resolution:
    """Segment's alias: `previous_id` (an anonymous id or an older user id) is `user_id`."""
    for attempt in range(RESOLVE_ATTEMPTS):
        try:
            with session.begin_nested():
                return _alias_once(session, org_id, previous_id, user_id)
        except IntegrityError:
            if attempt == RESOLVE_ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


def _alias_once(session: Session, org_id: uuid.UUID, previous_id: str, user_id: str) -> Resolution:
    previous = _profile_of_anonymous_id(session, org_id, previous_id) or session.scalar(
        scoped(Profile, org_id).where(Profile.external_id == previous_id)
    )
    user = session.scalar(scoped(Profile, org_id).where(Profile.external_id == user_id))
    if previous is None:
        resolution = resolve(session, org_id, ProfileRef(external_id=user_id))
        _attach_anonymous_id(session, org_id, resolution, previous_id)
        return resolution
    if user is None:
        if previous.external_id is None:
            _set_identifiers(session, org_id, previous, {"external_id": user_id})
            return Resolution(previous)
        user = _create(session, org_id, {"external_id": user_id})
        merge(session, org_id, loser=previous, survivor=user)
        return Resolution(user, created=True, merged_ids=[previous.id])
    if previous.id == user.id:
        return Resolution(user)
    merge(session, org_id, loser=previous, survivor=user)
    return Resolution(user, merged_ids=[previous.id])
