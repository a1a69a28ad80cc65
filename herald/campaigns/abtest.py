"""A/B tests for campaigns: splitting the test pool and deciding the winner.

Pure functions, no database. The formulas, assumptions and limits are in docs/campaigns.md
("A/B tests: the statistics"); the short version:

- Rates (opens, clicks, conversions per recipient) are compared with the pooled two-proportion
  z-test, two-sided.
- Revenue per recipient (placed-order revenue in the attribution window, zero for recipients who
  did not order) is compared with Welch's t-test, two-sided, with Welch-Satterthwaite degrees of
  freedom; Student's t CDF comes from the regularized incomplete beta function.
- The leader (highest observed value) is declared the winner only when it beats *every* other
  variant: its k-1 comparisons are corrected with Holm-Bonferroni and the largest adjusted p-value
  must be at most 1 - confidence. Otherwise the configured fallback applies and the reason says so.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal, TypeVar

MAX_VARIANTS = 7
DEFAULT_POOL_FRACTION = 0.2
DEFAULT_CONFIDENCE = 0.95
# No declaration below this many recipients in any variant, whatever the p-values say.
DEFAULT_MIN_RECIPIENTS = 100
# Normal-approximation rule of thumb: expected successes and failures (under the pooled rate) of
# each compared group must reach this, else the comparison is "too small to test".
MIN_EXPECTED_COUNT = 5.0

Metric = Literal["open_rate", "click_rate", "conversion_rate", "revenue_per_recipient"]
Fallback = Literal["leader", "default"]
PROPORTION_METRICS: tuple[Metric, ...] = ("open_rate", "click_rate", "conversion_rate")
METRICS: tuple[Metric, ...] = (*PROPORTION_METRICS, "revenue_per_recipient")
_METRIC_LABELS: dict[str, str] = {
    "open_rate": "open rate",
    "click_rate": "click rate",
    "conversion_rate": "conversion rate",
    "revenue_per_recipient": "revenue per recipient",
}

# Continued fraction of the incomplete beta function.
_CF_MAX_ITERATIONS = 100_000
_CF_EPSILON = 1e-15
_CF_TINY = 1e-300


@dataclass(frozen=True)
class VariantResult:
    """What one variant's test group did.

    `successes` counts recipients who opened, clicked or converted (whichever the metric is; for
    revenue, the recipients who placed an order). `revenue_values` holds the placed-order revenue
    of each converting recipient; recipients not listed count as zero (a list with the zeros
    included is equivalent).
    """

    variant: str
    recipients: int
    successes: int
    revenue_values: Sequence[float] | None = None

    def __post_init__(self) -> None:
        if self.recipients < 0 or self.successes < 0:
            raise ValueError("recipients and successes cannot be negative")
        if self.successes > self.recipients:
            raise ValueError(f"variant {self.variant}: more successes than recipients")
        if self.revenue_values is not None and len(self.revenue_values) > self.recipients:
            raise ValueError(f"variant {self.variant}: more revenue values than recipients")

    @property
    def rate(self) -> float:
        return self.successes / self.recipients if self.recipients else 0.0

    def revenue_summary(self) -> tuple[float, float, int]:
        """(mean, unbiased sample variance, n) of revenue per recipient, zeros included."""
        n = self.recipients
        values = [float(v) for v in (self.revenue_values or ())]
        if n == 0:
            return 0.0, 0.0, 0
        mean = math.fsum(values) / n
        if n < 2:
            return mean, 0.0, n
        zeros = n - len(values)
        squares = math.fsum((v - mean) ** 2 for v in values) + zeros * mean * mean
        return mean, squares / (n - 1), n


@dataclass(frozen=True)
class Decision:
    """The outcome of a test.

    `p_values` maps every variant but the leader to its Holm-adjusted two-sided p-value against
    the leader (the numbers compared with 1 - confidence); `raw_p_values` are the unadjusted ones.
    """

    winner: str
    declared: bool
    reason: str
    p_values: dict[str, float]
    leader: str
    raw_p_values: dict[str, float] = field(default_factory=dict)
    values: dict[str, float] = field(default_factory=dict)


# --- distributions --------------------------------------------------------------------------


def normal_cdf(x: float) -> float:
    """Standard normal CDF, Φ(x) = erfc(-x/√2)/2 (accurate in both tails)."""
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


def _beta_continued_fraction(a: float, b: float, x: float) -> float:
    """The continued fraction for I_x(a, b), evaluated with the modified Lentz method."""
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c = 1.0
    d = 1.0 - qab * x / qap
    if abs(d) < _CF_TINY:
        d = _CF_TINY
    d = 1.0 / d
    h = d
    for m in range(1, _CF_MAX_ITERATIONS + 1):
        m2 = 2 * m
        # Even step.
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        if abs(d) < _CF_TINY:
            d = _CF_TINY
        c = 1.0 + aa / c
        if abs(c) < _CF_TINY:
            c = _CF_TINY
        d = 1.0 / d
        h *= d * c
        # Odd step.
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        if abs(d) < _CF_TINY:
            d = _CF_TINY
        c = 1.0 + aa / c
        if abs(c) < _CF_TINY:
            c = _CF_TINY
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < _CF_EPSILON:
            return h
    raise ArithmeticError(f"incomplete beta did not converge (a={a}, b={b}, x={x})")


def regularized_incomplete_beta(a: float, b: float, x: float) -> float:
    """I_x(a, b) for a, b > 0 and 0 <= x <= 1."""
    if a <= 0 or b <= 0:
        raise ValueError("a and b must be positive")
    if not 0.0 <= x <= 1.0:
        raise ValueError("x must lie in [0, 1]")
    if x == 0.0 or x == 1.0:
        return x
    log_front = (
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    front = math.exp(log_front)
    # The fraction converges fast for x < (a+1)/(a+b+2); use the symmetry otherwise.
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _beta_continued_fraction(a, b, x) / a
    return 1.0 - front * _beta_continued_fraction(b, a, 1.0 - x) / b


def student_t_cdf(t: float, df: float) -> float:
    """P(T <= t) for Student's t with `df` (> 0, not necessarily whole) degrees of freedom.

    Uses P(|T| > |t|) = I_{df/(df+t²)}(df/2, 1/2).
    """
    if df <= 0:
        raise ValueError("degrees of freedom must be positive")
    if math.isinf(t):
        return 1.0 if t > 0 else 0.0
    if t == 0.0:
        return 0.5
    tail = 0.5 * regularized_incomplete_beta(df / 2.0, 0.5, df / (df + t * t))
    return 1.0 - tail if t > 0 else tail


def student_t_sf(t: float, df: float) -> float:
    """P(T > t), without the cancellation of 1 - cdf in the upper tail."""
    return student_t_cdf(-t, df)


# --- tests ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class TwoSampleTest:
    """A test statistic (z or t), its two-sided p-value and, for t, the degrees of freedom."""

    statistic: float
    p_value: float
    df: float | None = None


def two_proportion_z_test(successes_a: int, n_a: int, successes_b: int, n_b: int) -> TwoSampleTest:
    """Pooled two-proportion z-test of H0: p_a = p_b, two-sided.

    z = (p̂_a - p̂_b) / √(p̂(1-p̂)(1/n_a + 1/n_b)) with p̂ = (x_a + x_b)/(n_a + n_b);
    p = 2(1 - Φ(|z|)). When the pooled rate is 0 or 1 there is no evidence of a difference:
    z = 0, p = 1.
    """
    if n_a <= 0 or n_b <= 0:
        raise ValueError("both groups need recipients")
    rate_a, rate_b = successes_a / n_a, successes_b / n_b
    pooled = (successes_a + successes_b) / (n_a + n_b)
    variance = pooled * (1.0 - pooled) * (1.0 / n_a + 1.0 / n_b)
    if variance <= 0.0:
        return TwoSampleTest(0.0, 1.0)
    z = (rate_a - rate_b) / math.sqrt(variance)
    return TwoSampleTest(z, min(1.0, math.erfc(abs(z) / math.sqrt(2.0))))


def welch_satterthwaite_df(var_a: float, n_a: int, var_b: float, n_b: int) -> float:
    """nu = (s_a²/n_a + s_b²/n_b)² / ((s_a²/n_a)²/(n_a-1) + (s_b²/n_b)²/(n_b-1))."""
    if n_a < 2 or n_b < 2:
        raise ValueError("each group needs at least two observations")
    qa, qb = var_a / n_a, var_b / n_b
    denominator = qa * qa / (n_a - 1) + qb * qb / (n_b - 1)
    if denominator == 0.0:
        return float(n_a + n_b - 2)
    return (qa + qb) ** 2 / denominator


def welch_t_test_from_summary(
    mean_a: float, var_a: float, n_a: int, mean_b: float, var_b: float, n_b: int
) -> TwoSampleTest:
    """Welch's unequal-variance t-test of H0: μ_a = μ_b, two-sided, from summary statistics.

    t = (x̄_a - x̄_b) / √(s_a²/n_a + s_b²/n_b), compared with Student's t at the
    Welch-Satterthwaite degrees of freedom. Both variances zero: p = 1 when the means are equal,
    p = 0 otherwise (the sample-size guards in `decide` keep that case from declaring a winner on
    its own).
    """
    df = welch_satterthwaite_df(var_a, n_a, var_b, n_b)
    standard_error = math.sqrt(var_a / n_a + var_b / n_b)
    difference = mean_a - mean_b
    if standard_error == 0.0:
        return TwoSampleTest(
            0.0 if difference == 0 else math.copysign(math.inf, difference),
            1.0 if difference == 0 else 0.0,
            df,
        )
    t = difference / standard_error
    return TwoSampleTest(t, min(1.0, 2.0 * student_t_sf(abs(t), df)), df)


def welch_t_test(sample_a: Sequence[float], sample_b: Sequence[float]) -> TwoSampleTest:
    """Welch's t-test on two samples (unbiased sample variances)."""
    if len(sample_a) < 2 or len(sample_b) < 2:
        raise ValueError("each sample needs at least two observations")
    mean_a, mean_b = math.fsum(sample_a) / len(sample_a), math.fsum(sample_b) / len(sample_b)
    var_a = math.fsum((v - mean_a) ** 2 for v in sample_a) / (len(sample_a) - 1)
    var_b = math.fsum((v - mean_b) ** 2 for v in sample_b) / (len(sample_b) - 1)
    return welch_t_test_from_summary(mean_a, var_a, len(sample_a), mean_b, var_b, len(sample_b))


def holm_adjust(p_values: dict[str, float]) -> dict[str, float]:
    """Holm-Bonferroni adjusted p-values (step-down, monotone, capped at 1).

    With m hypotheses sorted p_(1) <= ... <= p_(m): p̃_(i) = max_{j<=i} min(1, (m-j+1) p_(j)).
    Rejecting those with p̃ <= alpha controls the family-wise error rate at alpha under any
    dependence.
    """
    ordered = sorted(p_values.items(), key=lambda item: (item[1], item[0]))
    m = len(ordered)
    adjusted: dict[str, float] = {}
    running = 0.0
    for index, (name, p) in enumerate(ordered):
        running = max(running, min(1.0, (m - index) * p))
        adjusted[name] = running
    return adjusted


# --- the decision ---------------------------------------------------------------------------


def _format_percent(fraction: float) -> str:
    return f"{round(fraction * 100, 6):g}%"


def _format_value(metric: Metric, value: float) -> str:
    if metric == "revenue_per_recipient":
        return f"{value:.2f}"
    return f"{value * 100:.2f}%"


def _metric_value(result: VariantResult, metric: Metric) -> float:
    if metric == "revenue_per_recipient":
        return result.revenue_summary()[0]
    return result.rate


def _compare(leader: VariantResult, other: VariantResult, metric: Metric) -> float:
    """Two-sided p-value of the leader against another variant."""
    if leader.recipients == 0 or other.recipients == 0:
        return 1.0
    if metric == "revenue_per_recipient":
        mean_a, var_a, n_a = leader.revenue_summary()
        mean_b, var_b, n_b = other.revenue_summary()
        if n_a < 2 or n_b < 2:
            return 1.0
        return welch_t_test_from_summary(mean_a, var_a, n_a, mean_b, var_b, n_b).p_value
    return two_proportion_z_test(
        leader.successes, leader.recipients, other.successes, other.recipients
    ).p_value


def _too_small(leader: VariantResult, other: VariantResult) -> bool:
    """Whether the normal approximation is out of reach for this pair: fewer than
    MIN_EXPECTED_COUNT expected successes or failures in either group under the pooled rate
    (for revenue, successes are the converting recipients)."""
    total = leader.recipients + other.recipients
    if total == 0:
        return True
    pooled = (leader.successes + other.successes) / total
    return any(
        n * pooled < MIN_EXPECTED_COUNT or n * (1.0 - pooled) < MIN_EXPECTED_COUNT
        for n in (leader.recipients, other.recipients)
    )


def decide(
    results: Sequence[VariantResult],
    metric: Metric,
    confidence: float = DEFAULT_CONFIDENCE,
    fallback: Fallback = "leader",
    default_variant: str | None = None,
    *,
    min_recipients: int = DEFAULT_MIN_RECIPIENTS,
) -> Decision:
    """Pick the variant to send to the rest of the audience.

    The leader is the variant with the highest observed metric (ties: the earlier in `results`).
    It is declared the winner only when, against every other variant, the Holm-adjusted two-sided
    p-value is at most 1 - confidence, the leader's value is strictly higher, every variant has at
    least `min_recipients` recipients and each comparison has enough expected successes and
    failures for the normal approximation. Otherwise the fallback applies: "leader" sends the
    leader anyway, "default" sends `default_variant`; the reason says which and why.
    """
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; expected one of {', '.join(METRICS)}")
    if not 0.0 < confidence < 1.0:
        raise ValueError("confidence must lie strictly between 0 and 1")
    if not 2 <= len(results) <= MAX_VARIANTS:
        raise ValueError(f"an A/B test has between 2 and {MAX_VARIANTS} variants")
    names = [r.variant for r in results]
    if len(set(names)) != len(names):
        raise ValueError("variant names must be unique")
    if fallback not in ("leader", "default"):
        raise ValueError("fallback must be 'leader' or 'default'")
    if fallback == "default" and default_variant not in names:
        raise ValueError("the default variant must be one of the variants")

    values = {r.variant: _metric_value(r, metric) for r in results}
    leader = max(results, key=lambda r: values[r.variant])  # max keeps the first of equals
    others = [r for r in results if r.variant != leader.variant]
    raw = {r.variant: _compare(leader, r, metric) for r in others}
    adjusted = holm_adjust(raw)
    alpha = 1.0 - confidence
    label = _METRIC_LABELS[metric]
    level = _format_percent(confidence)

    problems: list[str] = []
    small = [r for r in results if r.recipients < min_recipients]
    if small:
        listed = ", ".join(f"{r.variant} has {r.recipients}" for r in small)
        problems.append(f"too few recipients to test ({listed}; at least {min_recipients} needed)")
    sparse = [r.variant for r in others if _too_small(leader, r)]
    if sparse and not small:
        problems.append(
            f"too few {'conversions' if metric == 'revenue_per_recipient' else 'events'} "
            f"to compare {leader.variant} with {', '.join(sparse)}"
        )
    tied = [r.variant for r in others if values[r.variant] >= values[leader.variant]]
    if tied:
        problems.append(f"{leader.variant} is tied with {', '.join(tied)}")
    worst = max(adjusted.values())
    significant = worst <= alpha

    if significant and not problems:
        reason = (
            f"variant {leader.variant} won: its {label} "
            f"({_format_value(metric, values[leader.variant])}) beat every other variant at "
            f"{level} confidence (largest Holm-adjusted p-value {worst:.4g})"
        )
        return Decision(leader.variant, True, reason, adjusted, leader.variant, raw, values)

    if not problems:
        problems.append(f"largest Holm-adjusted p-value {worst:.4g} > {alpha:.4g}")
    if fallback == "leader":
        winner = leader.variant
        action = f"sending the leading variant {winner} as configured"
    else:
        assert default_variant is not None
        winner = default_variant
        action = f"sending the default variant {winner} as configured"
    reason = f"no variant reached {level} confidence ({'; '.join(problems)}); {action}"
    return Decision(winner, False, reason, adjusted, leader.variant, raw, values)


# --- the split ------------------------------------------------------------------------------

ProfileId = TypeVar("ProfileId", bound=Hashable)


def _rank_key(seed: object, profile_id: object) -> bytes:
    return hashlib.sha256(f"{seed}\x00{profile_id}".encode()).digest()


def pool_size(audience: int, pool_fraction: float) -> int:
    """Recipients in the test pool: pool_fraction of the audience, rounded half up."""
    return min(audience, math.floor(audience * pool_fraction + 0.5))


def split_test_pool(
    profile_ids: Iterable[ProfileId],
    variants: Sequence[str],
    pool_fraction: float = DEFAULT_POOL_FRACTION,
    *,
    seed: object,
) -> dict[ProfileId, str | None]:
    """Assign each profile a variant (the test pool) or None (gets the winner later).

    Profiles are ordered by SHA-256 of (seed, profile id); the first round(pool_fraction * N)
    form the test pool and are dealt out to the variants in turn, so variant sizes differ by at
    most one. The same seed (say, the campaign id) and audience always give the same split; the
    order in which the ids arrive does not matter. Duplicate ids count once.
    """
    if not 1 <= len(variants) <= MAX_VARIANTS:
        raise ValueError(f"an A/B test has between 1 and {MAX_VARIANTS} variants")
    if len(set(variants)) != len(variants):
        raise ValueError("variant names must be unique")
    if not 0.0 < pool_fraction <= 1.0:
        raise ValueError("the test pool fraction must lie in (0, 1]")
    unique = list(dict.fromkeys(profile_ids))
    ranked = sorted(unique, key=lambda pid: (_rank_key(seed, pid), str(pid)))
    pool = pool_size(len(ranked), pool_fraction)
    assignment: dict[ProfileId, str | None] = {}
    for index, profile_id in enumerate(ranked):
        assignment[profile_id] = variants[index % len(variants)] if index < pool else None
    return assignment
