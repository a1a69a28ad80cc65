"""Rate limits through the `limits` library: in memory by default, in Redis when configured, so
that every API process shares the same counters in production (docs/rate-limits.md).

The request classes' limits are sliding window counters: two counters per window and identity,
so that Redis does the same small amount of work at any request rate (a moving window keeps an
entry per request). They go through `herald.ratelimit.policy`, which spends blocks of a window
reserved ahead (`herald.ratelimit.blocks`) so that most requests never reach Redis. `hit` counts
one request exactly against a moving window, for the few places with low limits (sign-in).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from limits import RateLimitItem, parse
from limits.storage import MemoryStorage, RedisStorage, Storage
from limits.strategies import MovingWindowRateLimiter, SlidingWindowCounterRateLimiter

from herald.errors import RateLimited


@dataclass
class _Backend:
    storage: Storage
    limiter: SlidingWindowCounterRateLimiter
    # Sign-in: a few requests a minute, where an exact count matters more than its cost (the
    # sliding window counter lets a burst at a minute's end count only in part in the next).
    exact: MovingWindowRateLimiter
    # Whether a call leaves the process: then it never runs on the event loop.
    remote: bool


def _backend(redis_url: str | None, key_prefix: str) -> _Backend:
    storage: Storage = (
        RedisStorage(redis_url, key_prefix=key_prefix) if redis_url else MemoryStorage()
    )
    return _Backend(
        storage,
        SlidingWindowCounterRateLimiter(storage),
        MovingWindowRateLimiter(storage),
        remote=bool(redis_url),
    )


_current = _backend(None, "")
# Bumped on every configuration, so that what was reserved from the previous storage is dropped.
generation = 0


def configure_rate_limits(redis_url: str | None, *, key_prefix: str = "herald-limits") -> None:
    """Memory by default; Redis shares the counts between API processes. `key_prefix` keeps
    installations (or test runs) that share one Redis apart."""
    global _current, generation
    _current = _backend(redis_url, key_prefix)
    generation += 1


def backend() -> _Backend:
    return _current


@dataclass(frozen=True)
class WindowState:
    """A sliding window counter as stored: the previous and current fixed windows' counts, and
    how far each is from the end of the current fixed window."""

    amount: int
    period: int
    previous: int
    previous_weight_seconds: float
    current: int
    current_ends_in: float

    @property
    def used(self) -> int:
        return math.floor(self.previous * self.previous_weight_seconds / self.period) + self.current

    @property
    def remaining(self) -> int:
        return max(0, self.amount - self.used)

    def seconds_until_free(self) -> float:
        """How long until one more request fits, if nothing else is counted meanwhile."""
        target = self.amount - 1
        if self.used <= target:
            return 0.0
        if self.current <= target and self.previous:
            # The previous window's weight falls linearly until the current window ends.
            needed = self.previous_weight_seconds - (target - self.current) * self.period / (
                self.previous
            )
            if needed <= self.current_ends_in:
                return max(0.0, needed)
        # Then the current window becomes the previous one and falls the same way.
        if self.current <= target:
            return self.current_ends_in
        return self.current_ends_in + self.period * (1 - target / self.current)


def window_state(item: RateLimitItem, *identifiers: str) -> WindowState:
    """What the shared storage holds for this limit and identity (one round trip)."""
    period = item.get_expiry()
    previous, weight, current, current_ttl = _current.storage.get_sliding_window(  # type: ignore[attr-defined]
        item.key_for(*identifiers), period
    )
    # The current counter lives twice the period: its time to live is the window's end + period.
    ends_in = current_ttl - period if current_ttl > period else float(period)
    return WindowState(item.amount, period, int(previous), float(weight), int(current), ends_in)


def reserve(item: RateLimitItem, identifiers: tuple[str, ...], cost: int) -> bool:
    """Count `cost` requests at once against the shared window, if they all fit."""
    return _current.limiter.hit(item, *identifiers, cost=cost)


def hit(limit: str, *identifiers: str) -> None:
    """Count one request against `limit` (like "10/minute") for these identifiers, exactly
    (a moving window: for low rates such as sign-in attempts), or refuse it."""
    item: RateLimitItem = parse(limit)
    if not _current.exact.hit(item, *identifiers):
        reset_at, _remaining = _current.exact.get_window_stats(item, *identifiers)
        retry_after = max(1, math.ceil(reset_at - time.time()))
        raise RateLimited(
            f"too many requests; try again in {retry_after} s",
            headers={"Retry-After": str(retry_after)},
        )
