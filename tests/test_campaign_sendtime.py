"""Send-time optimization: the model on synthetic data with known best hours, time zones, DST,
and the engagement loader on both databases."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session

from herald.campaigns.sendtime import (
    HOURS_PER_WEEK,
    EngagementHistogram,
    best_send_time,
    engagement_counts,
    estimate_alpha,
    hour_of_week,
    org_prior,
    posterior_mean,
    resolve_timezone,
    window_candidates,
)
from herald.db import Database
from herald.models import Message, MessageEvent, Organization, Profile
from tests.factories import make_org

MONDAY = datetime(2030, 1, 7, tzinfo=UTC)  # a Monday, 00:00 UTC
HISTORY_MONDAY = datetime(2025, 1, 6, tzinfo=UTC)  # history is drawn from the weeks after this


def _org_weights() -> list[float]:
    """The synthetic organization: people engage mostly on weekday mornings at 9 and 10 and
    evenings at 19 and 20 (local)."""
    weights = []
    for bin_ in range(HOURS_PER_WEEK):
        day, hour = divmod(bin_, 24)
        weight = 1.0
        if day < 5 and hour in (9, 10):
            weight += 12.0 if hour == 9 else 8.0
        if day < 5 and hour in (19, 20):
            weight += 4.0
        weights.append(weight)
    total = sum(weights)
    return [w / total for w in weights]


ORG = _org_weights()


def _draw(rng: random.Random, distribution: list[float], n: int) -> list[int]:
    counts = [0] * HOURS_PER_WEEK
    for bin_ in rng.choices(range(HOURS_PER_WEEK), weights=distribution, k=n):
        counts[bin_] += 1
    return counts


def _events(rng: random.Random, counts: list[int], tz: str) -> list[tuple[datetime, str]]:
    """Timestamps (UTC) that fall in the given local bins, in random weeks of 2025."""
    zone = ZoneInfo(tz)
    events = []
    for bin_, n in enumerate(counts):
        for _ in range(n):
            week = rng.randrange(40)
            local = (
                HISTORY_MONDAY.replace(tzinfo=None) + timedelta(weeks=week, hours=bin_)
            ).replace(minute=rng.randrange(60), tzinfo=zone)
            events.append((local.astimezone(UTC), tz))
    return events


def _window_containing(bin_: int, rng: random.Random) -> datetime:
    """A 24-hour window (UTC) that contains the hour-of-week `bin_` somewhere in it."""
    return MONDAY + timedelta(hours=bin_ - rng.randrange(24))


def test_recovers_known_best_hours_and_falls_back_to_the_org_pattern() -> None:
    rng = random.Random(168)
    truths: dict[int, int] = {}
    histograms: dict[int, list[int]] = {}
    # 120 profiles with a personal best hour: 60% of their engagement there, the rest like
    # everyone else; 40 events of history each.
    for profile in range(120):
        best = rng.randrange(HOURS_PER_WEEK)
        truth = [0.4 * p for p in ORG]
        truth[best] += 0.6
        truths[profile] = best
        histograms[profile] = _draw(rng, truth, 40)
    # 300 profiles that simply follow the organization's pattern, with a little history.
    for profile in range(120, 420):
        histograms[profile] = _draw(rng, ORG, rng.randrange(0, 4))
    prior = org_prior(histograms.values())

    hits = 0
    for profile, best in truths.items():
        start = _window_containing(best, rng)
        chosen = best_send_time(histograms[profile], prior, start, "UTC")
        assert start <= chosen < start + timedelta(hours=24)
        hits += hour_of_week(chosen, "UTC") == best
    assert hits >= 0.95 * len(truths)

    # No history: the organization's best hour in the window (Tuesday 9:00).
    tuesday = MONDAY + timedelta(days=1)
    chosen = best_send_time([0] * HOURS_PER_WEEK, prior, tuesday, "UTC")
    assert chosen == tuesday + timedelta(hours=9)
    assert max(range(24), key=lambda h: prior[24 + h]) == 9


def test_smoothing_beats_raw_history_for_sparse_profiles() -> None:
    """For people who follow the organization's pattern and have 1-3 events, the posterior picks
    hours they are more likely to engage at than their own raw argmax does."""
    rng = random.Random(7)
    population = [_draw(rng, ORG, 30) for _ in range(200)]
    prior = org_prior(population)
    model_score = raw_score = 0.0
    for _ in range(400):
        counts = _draw(rng, ORG, rng.randrange(1, 4))
        start = MONDAY + timedelta(hours=rng.randrange(HOURS_PER_WEEK))
        chosen = best_send_time(counts, prior, start, "UTC")
        window = window_candidates(start, "UTC")
        raw = max(window, key=lambda moment: counts[hour_of_week(moment, "UTC")])
        model_score += ORG[hour_of_week(chosen, "UTC")]
        raw_score += ORG[hour_of_week(raw, "UTC")]
    assert model_score > 1.2 * raw_score


def test_posterior_mean_shrinks_toward_the_prior() -> None:
    prior = [1 / HOURS_PER_WEEK] * HOURS_PER_WEEK
    counts = [0] * HOURS_PER_WEEK
    assert posterior_mean(counts, prior, 10.0) == pytest.approx(prior)
    counts[5] = 10
    mean = posterior_mean(counts, prior, 10.0)
    # (alpha * pi + n) / (alpha + N) = (10/168 + 10) / 20.
    assert mean[5] == pytest.approx((10 / 168 + 10) / 20)
    assert mean[6] == pytest.approx((10 / 168) / 20)
    assert sum(mean) == pytest.approx(1.0)
    # A stronger prior pulls harder.
    assert posterior_mean(counts, prior, 100.0)[5] < mean[5]


def test_org_prior_is_smoothed_and_normalized() -> None:
    assert org_prior([]) == pytest.approx([1 / HOURS_PER_WEEK] * HOURS_PER_WEEK)
    counts = [0] * HOURS_PER_WEEK
    counts[3] = 32
    prior = org_prior([counts, EngagementHistogram(list(counts))])
    assert sum(prior) == pytest.approx(1.0)
    assert prior[3] == pytest.approx((64 + 1) / (64 + 168))
    assert prior[4] == pytest.approx(1 / (64 + 168))
    with pytest.raises(ValueError):
        org_prior([[1, 2, 3]])


def test_estimate_alpha_recovers_the_dispersion() -> None:
    rng = random.Random(3)
    for true_alpha in (5.0, 50.0):
        histograms = []
        for _ in range(400):
            gammas = [rng.gammavariate(true_alpha * p, 1.0) for p in ORG]
            total = sum(gammas)
            histograms.append(_draw(rng, [g / total for g in gammas], 20))
        estimate = estimate_alpha(histograms, ORG)
        assert true_alpha / 1.6 <= estimate <= true_alpha * 1.6
    assert estimate_alpha([[0] * HOURS_PER_WEEK], ORG) == 10.0


def test_histogram_bins_in_local_time() -> None:
    # 2030-01-09 is a Wednesday; 11:00 UTC is 20:00 in Tokyo (UTC+9, no DST).
    histogram = EngagementHistogram.from_events(
        [(datetime(2030, 1, 9, 11, 5, tzinfo=UTC), "Asia/Tokyo")] * 3
        + [(datetime(2030, 1, 9, 11, 5, tzinfo=UTC), "UTC")]
    )
    assert histogram.counts[2 * 24 + 20] == 3
    assert histogram.counts[2 * 24 + 11] == 1
    assert histogram.total == 4
    with pytest.raises(ValueError):
        histogram.add(datetime(2030, 1, 9, 11), "UTC")  # noqa: DTZ001 (naive on purpose)


def test_tokyo_profile_gets_the_utc_instant_of_its_local_best_hour() -> None:
    rng = random.Random(9)
    counts = EngagementHistogram.from_events(
        _events(rng, [20 if b == 2 * 24 + 20 else 0 for b in range(HOURS_PER_WEEK)], "Asia/Tokyo")
    ).counts
    assert counts[2 * 24 + 20] == 20  # Wednesday 20:00 local
    prior = org_prior([])
    start = datetime(2030, 1, 9, tzinfo=UTC)  # Wednesday 00:00 UTC = Wednesday 09:00 in Tokyo
    chosen = best_send_time(counts, prior, start, "Asia/Tokyo")
    assert chosen == datetime(2030, 1, 9, 11, tzinfo=UTC)
    assert chosen.astimezone(ZoneInfo("Asia/Tokyo")).hour == 20
    # The same counts read as UTC would have chosen another instant.
    assert best_send_time(counts, prior, start, "UTC") == datetime(2030, 1, 9, 20, tzinfo=UTC)


def test_window_starting_off_the_hour_and_in_half_hour_zones() -> None:
    start = datetime(2030, 1, 7, 9, 17, tzinfo=UTC)
    candidates = window_candidates(start, "UTC")
    assert candidates[0] == start
    assert candidates[1] == datetime(2030, 1, 7, 10, tzinfo=UTC)
    assert len(candidates) == 25 and candidates[-1] < start + timedelta(hours=24)
    # India is UTC+5:30: local hours start at half past, UTC.
    india = window_candidates(datetime(2030, 1, 7, tzinfo=UTC), "Asia/Kolkata")
    assert all(moment.minute == 30 for moment in india[1:])
    assert all(moment.astimezone(ZoneInfo("Asia/Kolkata")).minute == 0 for moment in india[1:])


def test_dst_changes_in_berlin() -> None:
    prior = org_prior([])
    berlin = ZoneInfo("Europe/Berlin")
    sunday_2am = 6 * 24 + 2
    counts = [0] * HOURS_PER_WEEK
    counts[sunday_2am] = 5
    counts[6 * 24 + 4] = 3

    # Spring forward, 2026-03-29: 02:00 local does not exist (01:00 UTC jumps from 02:00 to 03:00).
    spring = datetime(2026, 3, 28, 12, tzinfo=UTC)
    candidates = window_candidates(spring, berlin)
    assert len(candidates) == 24
    assert sunday_2am not in {hour_of_week(m, berlin) for m in candidates}
    chosen = best_send_time(counts, prior, spring, "Europe/Berlin")
    assert spring <= chosen < spring + timedelta(hours=24)
    assert chosen.astimezone(berlin).hour == 4  # the next best hour that exists

    # Fall back, 2026-10-25: 02:00 local happens twice; the first (CEST, 00:00 UTC) is chosen.
    autumn = datetime(2026, 10, 24, 12, tzinfo=UTC)
    chosen = best_send_time(counts, prior, autumn, "Europe/Berlin")
    assert chosen == datetime(2026, 10, 25, 0, tzinfo=UTC)
    assert [hour_of_week(m, berlin) for m in window_candidates(autumn, berlin)].count(
        sunday_2am
    ) == 2


def test_unknown_time_zones_fall_back() -> None:
    assert resolve_timezone("Not/AZone", "Europe/Paris") == ZoneInfo("Europe/Paris")
    assert resolve_timezone(None, "") == ZoneInfo("UTC")
    start = datetime(2030, 1, 7, tzinfo=UTC)
    assert best_send_time([0] * HOURS_PER_WEEK, org_prior([]), start, "Not/AZone") == start


ZONES = [
    "UTC",
    "Asia/Tokyo",
    "Europe/Berlin",
    "America/New_York",
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "Australia/Lord_Howe",
    "Pacific/Chatham",
    "America/St_Johns",
]


@settings(max_examples=200, deadline=None)
@given(
    start=st.datetimes(
        min_value=datetime(2024, 1, 1),  # noqa: DTZ001
        max_value=datetime(2035, 12, 31),  # noqa: DTZ001
        timezones=st.just(UTC),
    ),
    zone=st.sampled_from(ZONES),
    events=st.dictionaries(st.integers(0, HOURS_PER_WEEK - 1), st.integers(1, 50), max_size=20),
    alpha=st.floats(min_value=0.5, max_value=500),
)
def test_the_chosen_instant_is_always_in_the_window(
    start: datetime, zone: str, events: dict[int, int], alpha: float
) -> None:
    counts = [events.get(b, 0) for b in range(HOURS_PER_WEEK)]
    chosen = best_send_time(counts, ORG, start, zone, alpha)
    assert chosen.utcoffset() == timedelta(0)
    assert start <= chosen < start + timedelta(hours=24)
    candidates = window_candidates(start, zone)
    assert chosen in candidates
    assert candidates == sorted(set(candidates))
    # Every candidate after the start begins a local hour.
    assert all(m.astimezone(ZoneInfo(zone)).minute == 0 for m in candidates[1:])


# --- the loader, on both databases ------------------------------------------------------------


def _message(session: Session, org_id: uuid.UUID, profile_id: uuid.UUID) -> Message:
    message = Message(
        org_id=org_id,
        profile_id=profile_id,
        source="campaign",
        idempotency_key=f"test:{uuid.uuid4()}",
        to_address="someone@example.com",
        marketing=True,
        status="delivered",
    )
    session.add(message)
    session.flush()
    return message


def _event(
    session: Session, message: Message, kind: str, at: datetime, machine: bool = False
) -> None:
    session.add(
        MessageEvent(
            org_id=message.org_id, message_id=message.id, kind=kind, at=at, machine=machine
        )
    )


def test_engagement_counts_reads_human_engagement(database: Database) -> None:
    org = make_org()
    other = make_org("Other")
    wednesday_11_utc = datetime(2026, 1, 7, 11, 5, tzinfo=UTC)  # 20:05 in Tokyo
    monday_15_utc = datetime(2026, 1, 5, 15, 10, tzinfo=UTC)  # 10:10 in New York (EST)
    with database.transaction() as session:
        organization = session.get(Organization, org.org_id)
        assert organization is not None
        organization.timezone = "America/New_York"
        tokyo = Profile(org_id=org.org_id, email="tokyo@example.com", timezone="Asia/Tokyo")
        local = Profile(org_id=org.org_id, email="local@example.com")
        broken = Profile(org_id=org.org_id, email="broken@example.com", timezone="Not/AZone")
        quiet = Profile(org_id=org.org_id, email="quiet@example.com")
        stranger = Profile(org_id=other.org_id, email="stranger@example.com")
        session.add_all([tokyo, local, broken, quiet, stranger])
        session.flush()

        first = _message(session, org.org_id, tokyo.id)
        _event(session, first, "opened", wednesday_11_utc)
        _event(session, first, "clicked", wednesday_11_utc + timedelta(minutes=20))  # same bin
        _event(session, first, "opened", datetime(2026, 1, 8, 3, tzinfo=UTC), machine=True)
        _event(session, first, "delivered", datetime(2026, 1, 8, 4, tzinfo=UTC))
        second = _message(session, org.org_id, tokyo.id)
        _event(session, second, "clicked", wednesday_11_utc + timedelta(days=7))

        repeated = _message(session, org.org_id, local.id)
        for minute in range(0, 50, 10):  # five opens of one email in one hour count once
            _event(session, repeated, "opened", monday_15_utc + timedelta(minutes=minute))
        _event(session, repeated, "opened", monday_15_utc + timedelta(hours=2))

        odd = _message(session, org.org_id, broken.id)
        _event(session, odd, "clicked", monday_15_utc)
        _event(session, _message(session, org.org_id, quiet.id), "delivered", monday_15_utc)

        foreign = _message(session, other.org_id, stranger.id)
        _event(session, foreign, "opened", monday_15_utc)
        ids = (tokyo.id, local.id, broken.id, quiet.id, stranger.id)

    tokyo_id, local_id, broken_id, quiet_id, stranger_id = ids
    with database.transaction() as session:
        counts = engagement_counts(session, org.org_id, [tokyo_id, local_id, quiet_id, stranger_id])
        assert set(counts) == {tokyo_id, local_id}
        assert counts[tokyo_id][2 * 24 + 20] == 2
        assert sum(counts[tokyo_id]) == 2
        assert counts[local_id][10] == 1 and counts[local_id][12] == 1
        assert sum(counts[local_id]) == 2

        everyone = engagement_counts(session, org.org_id, None)
        assert set(everyone) == {tokyo_id, local_id, broken_id}
        assert everyone[broken_id][10] == 1  # an unknown zone falls back to the organization's

        recent = engagement_counts(
            session, org.org_id, None, since=datetime(2026, 1, 10, tzinfo=UTC)
        )
        assert recent == {tokyo_id: [1 if b == 2 * 24 + 20 else 0 for b in range(HOURS_PER_WEEK)]}
        assert engagement_counts(session, org.org_id, []) == {}
        assert set(engagement_counts(session, other.org_id, None)) == {stranger_id}

        # And the loader feeds the model.
        prior = org_prior(everyone.values())
        start = datetime(2030, 1, 9, tzinfo=UTC)  # Wednesday
        chosen = best_send_time(everyone[tokyo_id], prior, start, "Asia/Tokyo")
        assert chosen == datetime(2030, 1, 9, 11, tzinfo=UTC)
