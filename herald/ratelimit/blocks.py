"""Blocks of a shared window's capacity, reserved through the `limits` library and spent here.

A keyed request is counted in four windows (its organization's and its key's, per second and per
minute). Asking Redis for each of them on every request would cost far more than the request
itself on the ingestion path, so each process reserves a block of a window at a time
(`hit(..., cost=n)`) and spends it locally:

- A block is at most 1/`BLOCK_SHARE` of the window's amount and is spent within
  1/`BLOCK_LIFETIME_SHARE` of its period; what is left then is dropped, not returned.
- The first block of a window is one request. A block spent before its lifetime ends doubles
  the next one (up to the maximum); a block that outlived its lifetime makes the next one as
  large as what was spent of it, so a trickle reserves one request at a time.
- When the shared window has no room, the process refuses locally until the window frees a
  request (computed from the stored counts), without asking again.

The error bound: reserved requests count as spent from the moment they are reserved, so a
block's unspent part is refused to everyone (the strict side: at most one block per process and
window, 2% of the amount each). A block spent in the first tenth of the next period moves at
most one block per process into that period.
"""

from __future__ import annotations

import enum
import math
import threading
import time
from dataclasses import dataclass

from limits import RateLimitItem

from herald import ratelimit

BLOCK_SHARE = 50
BLOCK_LIFETIME_SHARE = 10


class Outcome(enum.Enum):
    TAKEN = enum.auto()
    REFUSED = enum.auto()
    # This process holds no usable block: one must be reserved (a round trip when remote).
    EMPTY = enum.auto()


@dataclass(frozen=True, slots=True)
class Quota:
    """What the RateLimit-* headers say of one window."""

    limit: int
    remaining: int
    reset: int
    retry_after: int


class Window:
    """One shared window (an amount per period for one identity) and this process's block of it."""

    __slots__ = (
        "_reserve_lock",
        "_take_lock",
        "amount",
        "block",
        "ends_at",
        "granted",
        "identifiers",
        "item",
        "lifetime",
        "max_block",
        "period",
        "refused_until",
        "retry_after",
        "shared_remaining",
        "tokens",
        "valid_until",
    )

    def __init__(self, item: RateLimitItem, identifiers: tuple[str, ...]) -> None:
        self.item = item
        self.identifiers = identifiers
        self.amount = item.amount
        self.period = item.get_expiry()
        self.max_block = max(1, self.amount // BLOCK_SHARE)
        self.lifetime = self.period / BLOCK_LIFETIME_SHARE
        self.tokens = 0
        self.granted = 0
        self.block = 1
        self.valid_until = 0.0
        self.shared_remaining = self.amount
        self.ends_at = 0.0
        self.refused_until = 0.0
        self.retry_after = 1
        # Taking is a few instructions and may happen on the event loop; reserving holds its
        # own lock across the storage call, so the event loop never waits for Redis.
        self._take_lock = threading.Lock()
        self._reserve_lock = threading.Lock()

    def take(self, now: float) -> Outcome:
        with self._take_lock:
            if now < self.refused_until:
                return Outcome.REFUSED
            if self.tokens > 0 and now < self.valid_until:
                self.tokens -= 1
                return Outcome.TAKEN
            return Outcome.EMPTY

    def give_back(self, now: float) -> None:
        """Return a request taken for a request that another window refused."""
        with self._take_lock:
            if now < self.valid_until:
                self.tokens += 1

    def reserve_and_take(self) -> Outcome:
        """Reserve a new block from the shared window and take one request of it. Calls the
        storage: on the event loop only when the storage is in this process's memory."""
        with self._reserve_lock:
            now = time.monotonic()
            outcome = self.take(now)
            if outcome is not Outcome.EMPTY:
                return outcome  # another thread reserved while this one waited
            self._size_next_block()
            for _attempt in range(2):
                state = ratelimit.window_state(self.item, *self.identifiers)
                free = state.remaining
                if free <= 0:
                    self._refuse(now, state.seconds_until_free(), state.current_ends_in)
                    return Outcome.REFUSED
                size = min(self.block, free)
                if ratelimit.reserve(self.item, self.identifiers, size):
                    with self._take_lock:
                        self.tokens = size - 1
                        self.granted = size
                        self.valid_until = now + self.lifetime
                        self.shared_remaining = free - size
                        self.ends_at = now + state.current_ends_in
                    return Outcome.TAKEN
            # Other processes took the room between the look and the reservation.
            self._refuse(now, self.lifetime, self.lifetime)
            return Outcome.REFUSED

    def _size_next_block(self) -> None:
        if not self.granted:
            return
        if self.tokens <= 0:
            self.block = min(self.max_block, self.block * 2)
        else:
            self.block = max(1, self.granted - self.tokens)

    def _refuse(self, now: float, wait: float, ends_in: float) -> None:
        with self._take_lock:
            self.tokens = 0
            self.granted = 0
            self.shared_remaining = 0
            self.refused_until = now + wait
            self.retry_after = max(1, math.ceil(wait))
            self.ends_at = now + ends_in

    def remaining(self, now: float) -> int:
        return self.shared_remaining + (self.tokens if now < self.valid_until else 0)

    def quota(self, now: float) -> Quota:
        """The window as this process sees it: the storage's room at the last reservation plus
        what is left of this process's block."""
        reset = math.ceil(self.ends_at - now) if self.ends_at > now else self.period
        return Quota(self.amount, self.remaining(now), reset, self.retry_after)
