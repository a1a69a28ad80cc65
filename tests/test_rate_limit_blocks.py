"""The blocks each process reserves of a shared window (herald.ratelimit.blocks): two `Window`s
of the same limit and identity stand for two processes sharing one storage, in memory and on
Redis."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest
from limits import RateLimitItemPerMinute

from herald import ratelimit
from herald.ratelimit import policy
from herald.ratelimit.blocks import BLOCK_SHARE, Outcome, Window
from tests.test_rate_limits import fresh_minute


@pytest.fixture(params=["memory", "redis"])
def storage(request: pytest.FixtureRequest) -> Iterator[None]:
    redis_url = request.getfixturevalue("redis_url") if request.param == "redis" else None
    ratelimit.configure_rate_limits(redis_url, key_prefix=f"herald-test-{uuid.uuid4().hex}")
    yield
    ratelimit.configure_rate_limits(None)


def _take(window: Window) -> Outcome:
    outcome = window.take(time.monotonic())
    return window.reserve_and_take() if outcome is Outcome.EMPTY else outcome


def test_two_processes_never_admit_more_than_the_window(storage: None) -> None:
    item = RateLimitItemPerMinute(1000)
    identity = ("test", uuid.uuid4().hex)
    first, second = Window(item, identity), Window(item, identity)
    fresh_minute()
    admitted = 0
    for turn in range(3000):
        if _take(first if turn % 3 else second) is Outcome.TAKEN:
            admitted += 1
    # Unspent parts of the last blocks are refused to both: at most one block each.
    assert 1000 - 2 * (1000 // BLOCK_SHARE) <= admitted <= 1000
    state = ratelimit.window_state(item, *identity)
    assert state.used == 1000 - max(0, state.remaining)
    # Once refused, a process refuses locally until the window frees a request.
    assert first.take(time.monotonic()) is Outcome.REFUSED
    assert first.quota(time.monotonic()).remaining == 0
    assert 1 <= first.quota(time.monotonic()).retry_after <= 120


def test_blocks_grow_while_spent_in_time_and_count_as_used(storage: None) -> None:
    item = RateLimitItemPerMinute(5000)
    identity = ("test", uuid.uuid4().hex)
    window = Window(item, identity)
    fresh_minute()
    sizes = []
    for _ in range(400):
        before = window.granted
        assert _take(window) is Outcome.TAKEN
        if window.granted != before or window.tokens == window.granted - 1:
            sizes.append(window.granted)
    # 1, 2, 4, ... up to a 50th of the window, reserved one block at a time.
    assert sizes[:4] == [1, 2, 4, 8]
    assert max(sizes) == 5000 // BLOCK_SHARE
    used = ratelimit.window_state(item, *identity).used
    assert 400 <= used <= 400 + 5000 // BLOCK_SHARE
    # What the process sees: the shared room at its last reservation plus its own block.
    assert window.quota(time.monotonic()).remaining == 5000 - 400


def test_a_refused_request_gives_back_what_other_windows_lent(storage: None) -> None:
    wide = Window(RateLimitItemPerMinute(100), ("test", uuid.uuid4().hex))
    narrow = Window(RateLimitItemPerMinute(1), ("test", uuid.uuid4().hex))
    fresh_minute()
    assert policy.take_reserving((wide, narrow)) is None
    assert policy.take_reserving((wide, narrow)) is narrow
    used = ratelimit.window_state(wide.item, *wide.identifiers).used
    # The wide window's request went back to this process's block: spent without reserving.
    assert wide.take(time.monotonic()) is Outcome.TAKEN
    assert ratelimit.window_state(wide.item, *wide.identifiers).used == used
