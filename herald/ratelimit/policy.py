"""Who is limited how much: the request classes, their defaults, each organization's own limits,
and the admission of one request (docs/rate-limits.md).

- **ingestion** (`/api/track`, `/api/track/batch`, `/api/identify`, `/v1/*`) and **management**
  (the rest of `/api/*`): per organization and per key (a dashboard session's user stands for
  the key), each with a burst window (per second) and a steady one (per minute).
- **public** (no key: tracking, unsubscribe and preference links, provider webhooks under
  `/webhooks/`): per client address, set by the operator. A request of a keyed class whose
  credentials are missing or wrong is counted here too, so guessing keys is limited.

The auth dependencies admit keyed requests once they know the caller (`admit`,
`admit_async`); `RateLimitMiddleware` admits public ones and writes the RateLimit-* headers
of whatever window of the request's class is closest to running out.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass
from typing import Literal

from limits import RateLimitItem, RateLimitItemPerMinute, RateLimitItemPerSecond
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.types import Scope

from herald import ratelimit
from herald.db import Database, get_database
from herald.errors import RateLimited
from herald.models import OrganizationRateLimits
from herald.ratelimit.blocks import Outcome, Quota, Window
from herald.settings import get_settings

Kind = Literal["ingestion", "management"]
RequestClass = Literal["ingestion", "management", "public"]
Level = Literal["organization", "key"]
Period = Literal["second", "minute"]

KINDS: tuple[Kind, ...] = ("ingestion", "management")
LEVELS: tuple[Level, ...] = ("organization", "key")
PERIODS: tuple[Period, ...] = ("second", "minute")
ITEMS: dict[Period, type[RateLimitItem]] = {
    "second": RateLimitItemPerSecond,
    "minute": RateLimitItemPerMinute,
}

# The built-in defaults, lowered to the operator's ceilings where those are lower. Ingestion
# leaves room for bench/ingest.py's single events (over 2,000 requests/s with one key on two
# cores); management is far above what the dashboard asks for, and stops a runaway script.
DEFAULTS: dict[tuple[Kind, Level, Period], int] = {
    ("ingestion", "organization", "second"): 10_000,
    ("ingestion", "organization", "minute"): 300_000,
    ("ingestion", "key", "second"): 5_000,
    ("ingestion", "key", "minute"): 150_000,
    ("management", "organization", "second"): 200,
    ("management", "organization", "minute"): 6_000,
    ("management", "key", "second"): 100,
    ("management", "key", "minute"): 3_000,
}

INGESTION_PATHS = frozenset({"/api/track", "/api/track/batch", "/api/identify"})
PUBLIC_PREFIXES = ("/t/", "/u/", "/p/", "/s/", "/webhooks/", "/images/")
# How long a process uses an organization's limits before reading them again: a change made
# through another process applies within this time (at once in the process that made it).
LIMITS_CACHE_SECONDS = 5.0
CACHE_SIZE = 10_000
SCOPE_KEY = "herald.rate_limit"


def column(kind: Kind, level: Level, period: Period) -> str:
    """The `OrganizationRateLimits` column, and the API's field path with dots for `_`."""
    return f"{kind}_{level}_per_{period}"


def ceiling(kind: Kind, period: Period) -> int:
    value: int = getattr(get_settings(), f"rate_limit_ceiling_{kind}_per_{period}")
    return value


def default(kind: Kind, level: Level, period: Period) -> int:
    return min(DEFAULTS[kind, level, period], ceiling(kind, period))


def public_limit(period: Period) -> int:
    value: int = getattr(get_settings(), f"rate_limit_public_per_{period}")
    return value


@dataclass(frozen=True)
class OrgLimits:
    """The limits in force for one organization: its own where set, else the defaults."""

    values: dict[tuple[Kind, Level, Period], int]
    custom: frozenset[tuple[Kind, Level, Period]]

    @classmethod
    def from_row(cls, row: OrganizationRateLimits | None) -> OrgLimits:
        values: dict[tuple[Kind, Level, Period], int] = {}
        custom: set[tuple[Kind, Level, Period]] = set()
        for kind in KINDS:
            for level in LEVELS:
                for period in PERIODS:
                    own = getattr(row, column(kind, level, period)) if row is not None else None
                    if own is not None:
                        custom.add((kind, level, period))
                    fallback = default(kind, level, period)
                    # A ceiling lowered after an owner set a limit applies to it as well.
                    values[kind, level, period] = (
                        min(own, ceiling(kind, period)) if own is not None else fallback
                    )
        return cls(values, frozenset(custom))


# --- Per-process state --------------------------------------------------------------------------


class _State:
    """The windows, meters and organization limits this process holds, dropped whenever the
    rate limits are configured again (a new storage, or a test's new settings)."""

    def __init__(self) -> None:
        self.generation = ratelimit.generation
        self.enabled = get_settings().rate_limits
        self.windows: dict[str, Window] = {}
        # (class, organization or address, key or user) -> (trusted until, its windows)
        self.meters: dict[tuple[str, object, object], tuple[float, tuple[Window, ...]]] = {}
        # organization -> (trusted until, the database it came from, its limits)
        self.org_limits: dict[uuid.UUID, tuple[float, Database, OrgLimits]] = {}
        self.lock = threading.Lock()


_state = _State()


def _current() -> _State:
    global _state
    state = _state
    if state.generation != ratelimit.generation:
        state = _state = _State()
    return state


def forget_org_limits() -> None:
    """Read every organization's limits again (after a change in this process commits)."""
    state = _current()
    with state.lock:
        state.org_limits.clear()
        state.meters.clear()


def enabled() -> bool:
    return _current().enabled


def load_org_limits(org_id: uuid.UUID, session: Session | None = None) -> OrgLimits:
    """The organization's limits, from this process's cache or the database: through `session`
    when the caller has one (on SQLite a second transaction would wait for the first)."""
    state = _current()
    database = get_database()
    cached = state.org_limits.get(org_id)
    if cached is not None and cached[0] > time.monotonic() and cached[1] is database:
        return cached[2]
    if session is not None:
        limits = OrgLimits.from_row(session.get(OrganizationRateLimits, org_id))
    else:
        with database.transaction() as own:
            limits = OrgLimits.from_row(own.get(OrganizationRateLimits, org_id))
    with state.lock:
        if len(state.org_limits) >= CACHE_SIZE:
            state.org_limits.clear()
        state.org_limits[org_id] = (time.monotonic() + LIMITS_CACHE_SECONDS, database, limits)
    return limits


def _window(state: _State, amount: int, period: Period, identifiers: tuple[str, ...]) -> Window:
    item = ITEMS[period](amount)
    key = item.key_for(*identifiers)
    window = state.windows.get(key)
    if window is None:
        with state.lock:
            if len(state.windows) >= CACHE_SIZE:
                state.windows.clear()  # what was reserved is dropped: the strict side
            window = state.windows.setdefault(key, Window(item, identifiers))
    return window


def _cached_meter(
    state: _State, meter_key: tuple[str, object, object]
) -> tuple[Window, ...] | None:
    cached = state.meters.get(meter_key)
    if cached is not None and cached[0] > time.monotonic():
        return cached[1]
    return None


def _keyed_meter(
    state: _State, kind: Kind, org_id: uuid.UUID, actor: uuid.UUID, limits: OrgLimits
) -> tuple[Window, ...]:
    windows = tuple(
        _window(
            state,
            limits.values[kind, level, period],
            period,
            (kind, str(org_id)) if level == "organization" else (kind, str(org_id), str(actor)),
        )
        for level in LEVELS
        for period in PERIODS
    )
    with state.lock:
        if len(state.meters) >= CACHE_SIZE:
            state.meters.clear()
        state.meters[kind, org_id, actor] = (time.monotonic() + LIMITS_CACHE_SECONDS, windows)
    return windows


def _public_meter(state: _State, address: str) -> tuple[Window, ...]:
    meter_key = ("public", address, "")
    windows = _cached_meter(state, meter_key)
    if windows is None:
        windows = tuple(
            _window(state, public_limit(period), period, ("public", address)) for period in PERIODS
        )
        with state.lock:
            if len(state.meters) >= CACHE_SIZE:
                state.meters.clear()
            state.meters[meter_key] = (time.monotonic() + LIMITS_CACHE_SECONDS, windows)
    return windows


# --- Admission ----------------------------------------------------------------------------------


class Record:
    """What the middleware learns of a request's admission, to write its headers."""

    __slots__ = ("quota", "request_class")

    def __init__(self, request_class: RequestClass) -> None:
        self.request_class = request_class
        self.quota: Quota | None = None


def request_class(path: str) -> RequestClass | None:
    if path in INGESTION_PATHS or path.startswith("/v1/"):
        return "ingestion"
    if path.startswith("/api/"):
        return "management"
    if path.startswith(PUBLIC_PREFIXES):
        return "public"
    return None


def _take_locally(windows: tuple[Window, ...], now: float) -> Outcome | Window:
    """Take one request from every window's block, or none: TAKEN, EMPTY when some window
    needs a reservation first, or the window that refuses."""
    for index, window in enumerate(windows):
        outcome = window.take(now)
        if outcome is not Outcome.TAKEN:
            for taken in windows[:index]:
                taken.give_back(now)
            return window if outcome is Outcome.REFUSED else Outcome.EMPTY
    return Outcome.TAKEN


def take_reserving(windows: tuple[Window, ...]) -> Window | None:
    """Take one request from every window, reserving blocks where needed (storage calls);
    the window that refuses, if one does."""
    taken: list[Window] = []
    for window in windows:
        outcome = window.take(time.monotonic())
        if outcome is Outcome.EMPTY:
            outcome = window.reserve_and_take()
        if outcome is Outcome.REFUSED:
            now = time.monotonic()
            for other in taken:
                other.give_back(now)
            return window
        taken.append(window)
    return None


def _tightest(windows: tuple[Window, ...], now: float) -> Quota:
    """The quota of the window closest to running out (the smaller limit on a tie)."""
    tightest = windows[0]
    least = tightest.remaining(now)
    for window in windows[1:]:
        left = window.remaining(now)
        if left < least or (left == least and window.amount < tightest.amount):
            tightest, least = window, left
    return tightest.quota(now)


def _settle(scope: Scope, windows: tuple[Window, ...], refused: Window | None) -> None:
    now = time.monotonic()
    record = scope.get(SCOPE_KEY)
    if refused is not None:
        quota = refused.quota(now)
        if record is not None:
            record.quota = Quota(quota.limit, 0, quota.reset, quota.retry_after)
        raise RateLimited(
            f"too many requests; try again in {quota.retry_after} s",
            headers={"Retry-After": str(quota.retry_after)},
        )
    if record is not None:
        record.quota = _tightest(windows, now)


def admit(
    scope: Scope,
    kind: Kind,
    org_id: uuid.UUID,
    actor: uuid.UUID,
    session: Session | None = None,
) -> None:
    """Count a request of `actor` (a key or a user) of `org_id`, or raise RateLimited. For
    callers in the thread pool: it may call the storage and the database (through `session`,
    the request's, when given)."""
    state = _current()
    if not state.enabled:
        return
    windows = _cached_meter(state, (kind, org_id, actor))
    if windows is None:
        limits = load_org_limits(org_id, session)
        windows = _keyed_meter(state, kind, org_id, actor, limits)
    _settle(scope, windows, take_reserving(windows))


async def admit_async(scope: Scope, kind: Kind, org_id: uuid.UUID, actor: uuid.UUID) -> None:
    """`admit` on the event loop: from this process's blocks when it can, otherwise storage
    and database calls go to the thread pool (or run here when the storage is in memory)."""
    state = _current()
    if not state.enabled:
        return
    windows = _cached_meter(state, (kind, org_id, actor))
    if windows is not None:
        outcome = _take_locally(windows, time.monotonic())
        if outcome is Outcome.TAKEN:
            _settle(scope, windows, None)
            return
        if isinstance(outcome, Window):
            _settle(scope, windows, outcome)
        if not ratelimit.backend().remote:
            _settle(scope, windows, take_reserving(windows))
            return
    await run_in_threadpool(admit, scope, kind, org_id, actor)


def _client_address(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def _admit_address(scope: Scope) -> None:
    windows = _public_meter(_current(), _client_address(scope))
    _settle(scope, windows, take_reserving(windows))


async def admit_address(scope: Scope) -> None:
    """Count a request without a key (or with a wrong one) against its client address."""
    state = _current()
    if not state.enabled:
        return
    windows = _public_meter(state, _client_address(scope))
    outcome = _take_locally(windows, time.monotonic())
    if outcome is Outcome.TAKEN:
        _settle(scope, windows, None)
    elif isinstance(outcome, Window):
        _settle(scope, windows, outcome)
    elif ratelimit.backend().remote:
        await run_in_threadpool(_admit_address, scope)
    else:
        _admit_address(scope)


def usage(
    limits: OrgLimits, kind: Kind, org_id: uuid.UUID, actor: uuid.UUID | None, period: Period
) -> int:
    """Requests counted in the shared window now (reserved blocks count as spent)."""
    if actor is None:
        amount = limits.values[kind, "organization", period]
        identifiers: tuple[str, ...] = (kind, str(org_id))
    else:
        amount = limits.values[kind, "key", period]
        identifiers = (kind, str(org_id), str(actor))
    return ratelimit.window_state(ITEMS[period](amount), *identifiers).used
