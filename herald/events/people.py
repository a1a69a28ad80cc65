"""Profile resolution for a batch of events: every reference found in bulk (by key kind), and the
people that do not exist yet created in bulk, committed on their own on PostgreSQL so that
concurrent batches find them."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import defaultdict
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Session

from herald.db import new_ids
from herald.errors import FieldError, HeraldError
from herald.events.batch import Executor, _Call, _pg_rows
from herald.events.pgtext import array_literal, uuid_array_literal
from herald.events.storing import SMALL_BATCH, _record_changes
from herald.models import AnonymousId, Profile
from herald.profiles.identity import ProfileRef, resolve

logger = logging.getLogger(__name__)


def _resolve_profiles(call: _Call, live: list[int]) -> None:
    """Set each outcome's profile_id. Common shapes are resolved with a few bulk queries;
    anything that may create, merge or conflict goes through identity.resolve one by one."""
    session = call.session
    org_id = call.org_id
    items = call.items
    outcomes = call.outcomes
    postgres = call.postgres
    by_ref: dict[ProfileRef, list[int]] = defaultdict(list)
    for index in live:
        by_ref[items[index].profile].append(index)
    found = _bulk_lookup(session, org_id, list(by_ref), postgres)
    missing = [ref for ref in by_ref if ref not in found]
    if missing:
        # Committed on their own for a large batch only (see _bulk_create): a small one
        # commits soon anyway, and the extra transaction would cost it more round trips.
        separately = postgres and len(live) > SMALL_BATCH
        found.update(_bulk_create(session, org_id, missing, call.now, postgres, separately))
        # People a concurrent batch created first (their INSERT waited for it and did nothing):
        # committed by now, so a second lookup finds them.
        raced = [
            ref
            for ref in missing
            if ref not in found and (key := _single_key(ref)) is not None and key[0] in _CREATED
        ]
        if raced:
            found.update(_bulk_lookup(session, org_id, raced, postgres))
    profile_texts = call.profile_texts
    if len(found) == len(by_ref):
        for ref, indexes in by_ref.items():
            found_id = found[ref]
            text = str(found_id) if postgres else ""
            for index in indexes:
                outcomes[index].profile_id = found_id
                profile_texts[index] = text
        return
    # A consistent order: two batches creating the same new people lock them in the same order,
    # so one waits for the other instead of deadlocking.
    for ref, indexes in sorted(by_ref.items(), key=lambda item: _ref_order(item[0])):
        profile_id = found.get(ref)
        if profile_id is None:
            try:
                profile_id = resolve(session, org_id, ref).profile.id
            except HeraldError as exc:
                for index in indexes:
                    outcomes[index].error = _profile_error(exc)
                    outcomes[index].error_type = type(exc)
                continue
        text = str(profile_id) if postgres else ""
        for index in indexes:
            outcomes[index].profile_id = profile_id
            profile_texts[index] = text


def _ref_order(ref: ProfileRef) -> tuple[str, ...]:
    return (
        str(ref.profile_id or ""),
        ref.email or "",
        ref.phone or "",
        ref.external_id or "",
        ref.anonymous_id or "",
    )


def _profile_error(exc: HeraldError) -> FieldError:
    if not exc.fields:
        return FieldError("profile", exc.message)
    first = exc.fields[0]
    name = first.field if first.field.startswith("profile") else f"profile.{first.field}"
    return FieldError(name, first.reason)


_SINGLE_KINDS = ("profile_id", "email", "phone", "external_id", "anonymous_id")
_PROFILE_KEY_COLUMNS = (
    ("profile_id", "id", "uuid[]"),
    ("email", "email", "varchar[]"),
    ("phone", "phone", "varchar[]"),
    ("external_id", "external_id", "varchar[]"),
)
# Two ways to find people by one kind of key. `= ANY(list)` lets the planner read all of the
# organization's profiles once instead of probing the index per key, which it does for a
# thousand keys while it costs a probe as a disk read: with 51,000 people that read took 13 ms a
# batch, against 3 ms for the probes, and it grows with the table. The LATERAL form (as
# _KNOWN_KEYS_PG) is always a probe per key, through whichever index the planner picks; before
# profiles has statistics it may pick (org_id, created_at) and read every profile per key (half
# a second for 900 keys and 5,000 people). So: probes for many keys once statistics exist.
_LOOKUP_PG = {
    kind: (
        f"SELECT {column}, id FROM profiles WHERE org_id = %(org_id)s "  # noqa: S608 (fixed names)
        f"AND {column} = ANY(%(keys)s::{array}) AND merged_into_id IS NULL"
    )
    for kind, column, array in _PROFILE_KEY_COLUMNS
}
_PROBE_PG = {
    kind: (
        f"SELECT k.key, p.id FROM unnest(%(keys)s::{array}) AS k(key) "  # noqa: S608 (fixed names)
        f"CROSS JOIN LATERAL (SELECT id FROM profiles WHERE org_id = %(org_id)s "
        f"AND {column} = k.key AND merged_into_id IS NULL LIMIT 1) p"
    )
    for kind, column, array in _PROFILE_KEY_COLUMNS
}
# Keys of one kind above which a batch's people are probed (when statistics exist).
PROBE_KEYS = 64
_LOOKUP_ANONYMOUS_PG = (
    "SELECT a.anonymous_id, p.id FROM profile_anonymous_ids a "
    "JOIN profiles p ON p.id = a.profile_id "
    "WHERE a.org_id = %(org_id)s AND a.anonymous_id = ANY(%(keys)s::varchar[]) "
    "AND p.merged_into_id IS NULL"
)


def _single_key(ref: ProfileRef) -> tuple[str, Any] | None:
    """(kind, value) when the reference names the person by exactly one key."""
    found: tuple[str, Any] | None = None
    for kind, value in (
        ("profile_id", ref.profile_id),
        ("email", ref.email),
        ("phone", ref.phone),
        ("external_id", ref.external_id),
        ("anonymous_id", ref.anonymous_id),
    ):
        if value is not None:
            if found is not None:
                return None
            found = (kind, value)
    return found


def _bulk_lookup(
    session: Session, org_id: uuid.UUID, refs: list[ProfileRef], postgres: bool
) -> dict[ProfileRef, uuid.UUID]:
    """Profiles for references that name exactly one existing, unmerged profile by one key."""
    simple: dict[str, dict[Any, list[ProfileRef]]] = defaultdict(lambda: defaultdict(list))
    for ref in refs:
        key = _single_key(ref)
        if key is not None:
            simple[key[0]][key[1]].append(ref)
    result: dict[ProfileRef, uuid.UUID] = {}
    for kind in _SINGLE_KINDS:
        wanted = simple.get(kind)
        if not wanted:
            continue
        rows: Any
        if postgres:
            if kind == "anonymous_id":
                statement = _LOOKUP_ANONYMOUS_PG
            elif len(wanted) > PROBE_KEYS and first_statistics.known(session.get_bind()):
                statement = _PROBE_PG[kind]
            else:
                statement = _LOOKUP_PG[kind]
            keys = uuid_array_literal(wanted) if kind == "profile_id" else array_literal(wanted)
            rows = _pg_rows(session, statement, {"org_id": org_id, "keys": keys})
        elif kind == "anonymous_id":
            rows = session.execute(
                sa.select(AnonymousId.anonymous_id, Profile.id)
                .join(Profile, Profile.id == AnonymousId.profile_id)
                .where(
                    AnonymousId.org_id == org_id,
                    AnonymousId.anonymous_id.in_(list(wanted)),
                    Profile.merged_into_id.is_(None),
                )
            )
        else:
            column = Profile.id if kind == "profile_id" else getattr(Profile, kind)
            rows = session.execute(
                sa.select(column, Profile.id).where(
                    Profile.org_id == org_id,
                    column.in_(list(wanted)),
                    Profile.merged_into_id.is_(None),
                )
            )
        for key, profile_id in rows:
            for ref in wanted.get(key, ()):
                result[ref] = profile_id
    return result


# The kinds of single-key reference that ingestion creates people for in bulk.
_CREATED = ("email", "phone", "external_id")
_CREATE_PG = {
    kind: (
        f"INSERT INTO profiles (id, org_id, {kind}, properties, created_at, updated_at) "  # noqa: S608
        f"SELECT p.id, %(org_id)s, p.key, '{{}}'::jsonb, %(now)s, %(now)s "
        f"FROM unnest(%(ids)s::uuid[], %(keys)s::varchar[]) AS p(id, key) "
        f"ON CONFLICT DO NOTHING RETURNING {kind}, id"
    )
    for kind in _CREATED
}


def _bulk_create(
    session: Session,
    org_id: uuid.UUID,
    refs: list[ProfileRef],
    now: datetime,
    postgres: bool,
    separately: bool = False,
) -> dict[ProfileRef, uuid.UUID]:
    """Create, in one statement per identifier kind, the new people named by a single email,
    phone or external id (a batch's first events from new customers). A person created by a
    concurrent request meanwhile is simply looked up; every other shape goes through resolve.

    With `separately` (PostgreSQL), the new people are committed at once, in a short
    transaction of their own, before the batch's events: a concurrent batch naming the same new
    people then waits for that step rather than for this whole batch to commit (with two batches
    in flight, the first tenth of a run from an empty database spent a fifth of its time so). If
    the batch fails
    after, the people stay, as an identify would have made them; sent again, it finds them."""
    wanted_by_kind: dict[str, dict[str, ProfileRef]] = defaultdict(dict)
    for ref in refs:
        key = _single_key(ref)
        if key is not None and key[0] in _CREATED:
            wanted_by_kind[key[0]][key[1]] = ref
    if not wanted_by_kind:
        return {}
    new: dict[str, dict[str, uuid.UUID]] | None = None
    if separately:
        new = _create_committed(session, org_id, wanted_by_kind, now)
    if new is None:
        new = _create_people(session, org_id, wanted_by_kind, now, postgres)
    if postgres:
        first_statistics.created(session.get_bind(), sum(len(ids) for ids in new.values()))
    return {
        ref: new[kind][value]
        for kind, wanted in wanted_by_kind.items()
        for value, ref in wanted.items()
        if value in new[kind]
    }


# How long the committed creation of new people waits for a row lock before it gives up and
# creates them in the batch's own transaction instead. A concurrent batch's creation step holds
# its locks for milliseconds; only a lock held by the caller's own open transaction (a Segment
# batch that changed the same person earlier in the batch) lasts, and must not be waited for.
CREATE_LOCK_TIMEOUT = "1s"
_LOCK_NOT_AVAILABLE = "55P03"


def _create_committed(
    session: Session,
    org_id: uuid.UUID,
    wanted_by_kind: dict[str, dict[str, ProfileRef]],
    now: datetime,
) -> dict[str, dict[str, uuid.UUID]] | None:
    """_create_people in a transaction of its own, committed on return; None when that is not
    possible (the session is bound to a connection) or a lock could not be had."""
    bind = session.get_bind()
    if not isinstance(bind, sa.Engine):
        return None
    with bind.connect() as connection:
        try:
            with connection.begin():
                _pg_rows(connection, f"SET LOCAL lock_timeout = '{CREATE_LOCK_TIMEOUT}'")
                return _create_people(connection, org_id, wanted_by_kind, now, postgres=True)
        except sa.exc.OperationalError as exc:
            if getattr(exc.orig, "sqlstate", None) != _LOCK_NOT_AVAILABLE:
                raise
            logger.info("creating people in the batch's transaction: %s", exc.orig)
            return None


_NEVER_ANALYZED = (
    "SELECT last_analyze IS NULL AND last_autoanalyze IS NULL "
    "FROM pg_stat_user_tables WHERE relid = 'profiles'::regclass"
)


class FirstStatistics:
    """Asks PostgreSQL for statistics on `profiles` once it has grown from empty, if autovacuum
    has not gathered any yet (it does so within a minute or so of the growth).

    Without statistics, the planner costs a look-up of people by email, phone or external id the
    same through the identifier's unique index and through (org_id, created_at), and took the
    latter: every look-up then read all of the organization's people (with 11,000 of them, a
    group of single events spent as much database time finding its people as storing its
    events). With any statistics it knows that one organization holds most people and that an
    identifier names one, and probes the unique index from then on, whatever the table's growth.
    This is PostgreSQL's advice after a bulk load; here the bulk load is ingestion's first
    minutes on a new install, or a large import."""

    # How often `known` asks again while there are no statistics (and at once after _analyze).
    RECHECK_SECONDS = 10.0

    def __init__(self, after: int = 1000) -> None:
        self.after = after
        self._created = 0
        self._done = False
        self._known = False
        self._checked_at = -self.RECHECK_SECONDS
        self._lock = threading.Lock()

    def known(self, bind: sa.Engine | sa.Connection) -> bool:
        """Whether profiles has been analyzed: asked at most every RECHECK_SECONDS, and not
        again once it has (statistics are never dropped)."""
        if self._known:
            return True
        now = time.monotonic()
        if now - self._checked_at < self.RECHECK_SECONDS:
            return False
        self._checked_at = now
        engine = bind if isinstance(bind, sa.Engine) else bind.engine
        try:
            with engine.connect() as connection:
                self._known = not connection.exec_driver_sql(_NEVER_ANALYZED).scalar()
        except sa.exc.DBAPIError as exc:
            logger.warning("could not tell whether profiles has statistics: %s", exc)
        return self._known

    def created(self, bind: sa.Engine | sa.Connection, count: int) -> None:
        """Note `count` new people; past `after` in this process, check once (in a thread of
        its own, so that no request waits for it)."""
        if self._done or not count:
            return
        with self._lock:
            self._created += count
            if self._done or self._created < self.after:
                return
            self._done = True
        engine = bind if isinstance(bind, sa.Engine) else bind.engine
        threading.Thread(target=self._analyze_then_recheck, args=(engine,), daemon=True).start()

    def _analyze_then_recheck(self, engine: sa.Engine) -> None:
        self._analyze(engine)
        self._checked_at = -self.RECHECK_SECONDS  # `known` asks again at its next call

    @staticmethod
    def _analyze(engine: sa.Engine) -> None:
        try:
            with engine.connect() as connection:
                never = connection.exec_driver_sql(_NEVER_ANALYZED).scalar()
                if never:
                    connection.exec_driver_sql("ANALYZE profiles")
                connection.commit()
        except sa.exc.DBAPIError as exc:  # not the owner, or the database went away: no harm
            logger.warning("could not analyze profiles: %s", exc)


first_statistics = FirstStatistics()


def _create_people(
    executor: Executor,
    org_id: uuid.UUID,
    wanted_by_kind: dict[str, dict[str, ProfileRef]],
    now: datetime,
    postgres: bool,
) -> dict[str, dict[str, uuid.UUID]]:
    """Insert the people not there yet, by kind of identifier; their ids by identifier value,
    and one `created` change record each."""
    new: dict[str, dict[str, uuid.UUID]] = {}
    for kind in _CREATED:
        wanted = wanted_by_kind.get(kind)
        if not wanted:
            continue
        values = sorted(wanted)  # a fixed lock order, as in _resolve_profiles
        if postgres:
            new[kind] = dict(
                _pg_rows(
                    executor,
                    _CREATE_PG[kind],
                    {
                        "org_id": org_id,
                        "now": now,
                        "ids": uuid_array_literal(new_ids(len(values))),
                        "keys": array_literal(values),
                    },
                )
            )
        else:
            column = getattr(Profile, kind)
            rows = [
                {
                    "id": profile_id,
                    "org_id": org_id,
                    kind: value,
                    "properties": {},
                    "created_at": now,
                    "updated_at": now,
                }
                for value, profile_id in zip(values, new_ids(len(values)), strict=True)
            ]
            new[kind] = dict(
                executor.execute(
                    sqlite.insert(Profile).on_conflict_do_nothing().returning(column, Profile.id),
                    rows,
                ).all()
            )
    _record_changes(
        executor,
        [(org_id, pid, "created", None, now) for ids in new.values() for pid in ids.values()],
        postgres,
    )
    return new
