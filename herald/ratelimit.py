"""Rate limits through the `limits` library: in memory by default, in Redis when configured, so
that every API process shares the same counters in production."""

from __future__ import annotations

import time

from limits import RateLimitItem, parse
from limits.storage import MemoryStorage, RedisStorage, Storage
from limits.strategies import MovingWindowRateLimiter

from herald.errors import RateLimited

_storage: Storage = MemoryStorage()
# A moving window: a fixed one lets twice the limit through around each window's edge.
_limiter = MovingWindowRateLimiter(_storage)


def configure_rate_limits(redis_url: str | None, *, key_prefix: str = "herald-limits") -> None:
    """Memory by default; Redis shares the counts between API processes. `key_prefix` keeps
    installations (or test runs) that share one Redis apart."""
    global _storage, _limiter
    _storage = RedisStorage(redis_url, key_prefix=key_prefix) if redis_url else MemoryStorage()
    _limiter = MovingWindowRateLimiter(_storage)


def hit(limit: str, *identifiers: str) -> None:
    """Count one request against `limit` (like "10/minute") for these identifiers, or refuse it."""
    item: RateLimitItem = parse(limit)
    if not _limiter.hit(item, *identifiers):
        reset_at, _remaining = _limiter.get_window_stats(item, *identifiers)
        retry_after = max(1, int(reset_at - time.time()))
        raise RateLimited(
            f"too many requests; try again in {retry_after} s",
            headers={"Retry-After": str(retry_after)},
        )
