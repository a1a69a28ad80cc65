"""Send-time optimization: the hour of the week at which each profile most engages.

The model (docs/campaigns.md, "Send-time optimization: the model"):

- Engagement is binned by hour of the week in the profile's local time zone (its own, else the
  organization's): 168 bins, bin = weekday * 24 + hour with Monday 00:00-00:59 = 0.
  Engagement = human opens (machine opens excluded) and clicks, at most one per message and bin.
- The organization's pattern is the posterior mean of a flat Dirichlet(floor, ..., floor) updated
  with everyone's counts: pi_h = (c_h + floor) / (C + 168 * floor).
- A profile's engagement hours are a draw from a categorical distribution theta with the prior
  theta ~ Dirichlet(alpha * pi); after its counts n_h (N in all) the posterior is
  Dirichlet(alpha * pi + n), whose mean is (alpha * pi_h + n_h) / (alpha + N). With no history the
  mean is the organization's pattern; every event moves it by 1/(alpha + N).
- The send time is the hour, among the 24 local hours from the campaign's send time, with the
  highest posterior mean (earliest on ties). Only this module's `engagement_counts` reads the
  database.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa
from sqlalchemy.orm import Session

from herald.models import Message, MessageEvent, Organization, Profile

HOURS_PER_WEEK = 168
# Prior strength: the organization's pattern counts as this many events of the profile's own.
DEFAULT_ALPHA = 10.0
# Pseudo-events per hour-of-week bin added to the organization's counts (Laplace smoothing).
DEFAULT_FLOOR = 1.0
WINDOW = timedelta(hours=24)
# How far back engagement is read: old habits fade (a season is long enough to learn from).
HISTORY = timedelta(days=180)
_QUARTER = timedelta(minutes=15)
# Profile ids per query in engagement_counts (stays far below SQLite's parameter limit).
_ID_CHUNK = 5000


def resolve_timezone(*names: str | None) -> ZoneInfo:
    """The first of `names` that is a valid IANA time zone, else UTC."""
    for name in names:
        if not name:
            continue
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            continue
    return ZoneInfo("UTC")


def _zone(tz: str | tzinfo) -> tzinfo:
    return resolve_timezone(tz) if isinstance(tz, str) else tz


def _require_aware(moment: datetime) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("timestamps must be timezone-aware")


def hour_of_week(moment: datetime, tz: str | tzinfo) -> int:
    """The local hour-of-week bin (0 = Monday 00:00-00:59) of an aware instant in `tz`."""
    _require_aware(moment)
    local = moment.astimezone(_zone(tz))
    return local.weekday() * 24 + local.hour


@dataclass
class EngagementHistogram:
    """Counts of engagement per local hour-of-week bin."""

    counts: list[int] = field(default_factory=lambda: [0] * HOURS_PER_WEEK)

    def __post_init__(self) -> None:
        if len(self.counts) != HOURS_PER_WEEK:
            raise ValueError(f"a histogram has {HOURS_PER_WEEK} bins")

    def add(self, moment: datetime, tz: str | tzinfo, weight: int = 1) -> int:
        """Count an engagement at `moment` (aware) for someone living in `tz`; returns its bin."""
        bin_ = hour_of_week(moment, tz)
        self.counts[bin_] += weight
        return bin_

    @classmethod
    def from_events(cls, events: Iterable[tuple[datetime, str | tzinfo]]) -> EngagementHistogram:
        histogram = cls()
        for moment, tz in events:
            histogram.add(moment, tz)
        return histogram

    @property
    def total(self) -> int:
        return sum(self.counts)


def _check_bins(values: Sequence[float], what: str) -> None:
    if len(values) != HOURS_PER_WEEK:
        raise ValueError(f"{what} must have {HOURS_PER_WEEK} bins, not {len(values)}")
    if any(v < 0 for v in values):
        raise ValueError(f"{what} cannot be negative")


def org_prior(
    histograms: Iterable[Sequence[float] | EngagementHistogram], floor: float = DEFAULT_FLOOR
) -> list[float]:
    """The organization's engagement pattern: summed counts plus `floor` per bin, normalized.

    With no engagement at all it is uniform. Pass every profile's counts (or the audience's).
    """
    if floor <= 0:
        raise ValueError("the floor must be positive, so that every hour stays possible")
    totals = [0.0] * HOURS_PER_WEEK
    for histogram in histograms:
        counts = histogram.counts if isinstance(histogram, EngagementHistogram) else histogram
        _check_bins(counts, "counts")
        for index, value in enumerate(counts):
            totals[index] += value
    grand = sum(totals) + HOURS_PER_WEEK * floor
    return [(value + floor) / grand for value in totals]


def posterior_mean(
    profile_counts: Sequence[float], prior: Sequence[float], alpha: float = DEFAULT_ALPHA
) -> list[float]:
    """Mean of Dirichlet(alpha * prior + counts): (alpha * pi_h + n_h) / (alpha + N)."""
    if alpha <= 0:
        raise ValueError("alpha must be positive")
    _check_bins(profile_counts, "profile counts")
    _check_bins(prior, "the prior")
    prior_total = sum(prior)
    if prior_total <= 0:
        raise ValueError("the prior must have positive mass")
    weights = [alpha * p / prior_total + n for p, n in zip(prior, profile_counts, strict=True)]
    total = sum(weights)
    return [w / total for w in weights]


def estimate_alpha(
    histograms: Iterable[Sequence[float]],
    prior: Sequence[float],
    grid: Sequence[float] | None = None,
) -> float:
    """Empirical-Bayes prior strength: the alpha on `grid` (default 1 to 1000, log-spaced) that
    maximizes the Dirichlet-multinomial marginal likelihood of the profiles' counts,

        sum over profiles of lgamma(alpha) - lgamma(alpha + N) +
            sum over bins of lgamma(alpha pi_h + n_h) - lgamma(alpha pi_h).

    Small values mean people differ a lot from the organization's pattern (trust their own
    history sooner); large values mean they follow it. Profiles without history carry no
    information and are skipped; with no informative profile it returns DEFAULT_ALPHA.
    """
    _check_bins(prior, "the prior")
    candidates = list(grid) if grid is not None else [10 ** (i / 20) for i in range(61)]
    if any(a <= 0 for a in candidates):
        raise ValueError("alpha must be positive")
    total_prior = sum(prior)
    pi = [p / total_prior for p in prior]
    profiles = []
    for counts in histograms:
        _check_bins(counts, "counts")
        nonzero = [(h, n) for h, n in enumerate(counts) if n > 0]
        if sum(n for _h, n in nonzero) >= 2:  # one event says nothing about dispersion
            profiles.append((sum(n for _h, n in nonzero), nonzero))
    if not profiles:
        return DEFAULT_ALPHA
    best_alpha, best_score = DEFAULT_ALPHA, -math.inf
    for alpha in candidates:
        score = 0.0
        for total, nonzero in profiles:
            score += math.lgamma(alpha) - math.lgamma(alpha + total)
            for h, n in nonzero:
                a = alpha * pi[h]
                score += math.lgamma(a + n) - math.lgamma(a)
        if score > best_score:
            best_alpha, best_score = alpha, score
    return best_alpha


def window_candidates(window_start_utc: datetime, tz: str | tzinfo) -> list[datetime]:
    """The instants a recipient may be sent at: the window's start, then every start of a local
    hour before window_start + 24h (aware, UTC). 24 or 25 instants; across a DST change a local
    hour may be skipped or appear twice (the second time it is a different instant)."""
    _require_aware(window_start_utc)
    return [moment for moment, _bin in _candidates(window_start_utc.astimezone(UTC), _zone(tz))]


@lru_cache(maxsize=4096)
def _candidates(start: datetime, zone: tzinfo) -> tuple[tuple[datetime, int], ...]:
    # Every UTC offset in use is a multiple of 15 minutes, so local hours start on UTC quarters.
    end = start + WINDOW
    found = [(start, hour_of_week(start, zone))]
    moment = start.replace(minute=start.minute - start.minute % 15, second=0, microsecond=0)
    while moment < end:
        if moment > start:
            local = moment.astimezone(zone)
            if local.minute == 0:
                found.append((moment, local.weekday() * 24 + local.hour))
        moment += _QUARTER
    return tuple(found)


def best_send_time(
    profile_counts: Sequence[float],
    org_prior: Sequence[float],
    window_start_utc: datetime,
    tz: str | tzinfo,
    alpha: float = DEFAULT_ALPHA,
) -> datetime:
    """The UTC instant in [window_start_utc, window_start_utc + 24h) at which to send.

    It starts the local hour (or is the window's start) whose hour-of-week bin has the highest
    posterior mean; ties go to the earliest instant. `tz` is the profile's time zone, else the
    organization's (an unknown name means UTC).
    """
    zone = _zone(tz)
    _require_aware(window_start_utc)
    mean = posterior_mean(profile_counts, org_prior, alpha)
    best: datetime | None = None
    best_score = -1.0
    for candidate, bin_ in _candidates(window_start_utc.astimezone(UTC), zone):
        score = mean[bin_]
        if score > best_score:
            best, best_score = candidate, score
    assert best is not None
    return best


def engagement_counts(
    session: Session,
    org_id: uuid.UUID,
    profile_ids: Collection[uuid.UUID] | None,
    since: datetime | None = None,
) -> dict[uuid.UUID, list[int]]:
    """Hour-of-week engagement counts per profile, from the message ledger.

    Reads "opened" events that are not machine opens and "clicked" events of the organization's
    messages, each binned in the profile's time zone (else the organization's, else UTC); a
    message counts at most once per bin, so a person re-opening one email does not outweigh
    everything else. `profile_ids=None` reads every profile (for the organization's pattern);
    `since` limits the history. Profiles without engagement are absent from the result.
    """
    organization = session.get(Organization, org_id)
    org_timezone = organization.timezone if organization is not None else None
    engaged = sa.or_(
        MessageEvent.kind == "clicked",
        sa.and_(MessageEvent.kind == "opened", MessageEvent.machine.is_(False)),
    )
    query = (
        sa.select(Message.profile_id, Message.id, MessageEvent.at, Profile.timezone)
        .select_from(MessageEvent)
        .join(Message, Message.id == MessageEvent.message_id)
        .join(Profile, Profile.id == Message.profile_id)
        .where(
            MessageEvent.org_id == org_id,
            Message.org_id == org_id,
            Profile.org_id == org_id,
            MessageEvent.kind.in_(("opened", "clicked")),
            engaged,
        )
    )
    if since is not None:
        query = query.where(MessageEvent.at >= since)

    if profile_ids is None:
        queries = [query]
    else:
        ids = list(dict.fromkeys(profile_ids))
        queries = [
            query.where(Message.profile_id.in_(ids[i : i + _ID_CHUNK]))
            for i in range(0, len(ids), _ID_CHUNK)
        ]

    zones: dict[str | None, ZoneInfo] = {}
    seen: set[tuple[uuid.UUID, int]] = set()
    result: dict[uuid.UUID, list[int]] = {}
    for chunk in queries:
        for profile_id, message_id, at, profile_timezone in session.execute(chunk):
            if profile_id is None:
                continue
            zone = zones.get(profile_timezone)
            if zone is None:
                zone = zones[profile_timezone] = resolve_timezone(profile_timezone, org_timezone)
            bin_ = hour_of_week(at, zone)
            if (message_id, bin_) in seen:
                continue
            seen.add((message_id, bin_))
            result.setdefault(profile_id, [0] * HOURS_PER_WEEK)[bin_] += 1
    return result


def organization_pattern(session: Session, org_id: uuid.UUID, now: datetime) -> list[float]:
    """The organization's engagement pattern over the last HISTORY (the prior of every
    profile's estimate)."""
    return org_prior(engagement_counts(session, org_id, None, since=now - HISTORY).values())
