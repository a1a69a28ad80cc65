"""A/B test statistics against known values, and the decision and split built on them.

Sources of the constants:
- Standard normal table: Phi(1.96) = 0.9750, Phi(2.67) = 0.99621, Phi(2.68) = 0.99632; the exact
  quantile Phi^-1(0.975) = 1.959963984540054.
- Student's t table (any statistics textbook, e.g. the NIST/SEMATECH e-Handbook 1.3.6.7.2):
  t_{0.025, 10} = 2.228, t_{0.025, 20} = 2.086, t_{0.05, 10} = 1.812, t_{0.005, 10} = 3.169,
  t_{0.025, 1} = 12.706.
- Closed forms: df = 1 is the Cauchy distribution, F(t) = 1/2 + atan(t)/pi; df = 2 has
  F(t) = 1/2 + t / (2 sqrt(2 + t^2)).
- R, `t.test(c(11,9,10,11,10,12,9,11,12,9), c(11,13,10,13,12,9,11,12,12,11))` (Welch is R's
  default): t = -1.8325, df = 17.9, p-value = 0.08356.
- Summary-statistics example (n = 20, mean 100, s = 15 vs n = 20, mean 95, s = 20):
  t = 5 / sqrt(31.25) = 0.894, Welch-Satterthwaite df = 31.25^2 / ((11.25^2 + 20^2) / 19) = 35.24.
- 200/1000 vs 250/1000: pooled p = 0.225, z = -0.05 / sqrt(0.225 * 0.775 * 0.002) = -2.6774; by
  interpolation in the normal table, two-sided p = 2 * (1 - 0.996291) = 0.00742. z^2 equals the
  Pearson chi-square statistic of the 2x2 table (without continuity correction).
"""

from __future__ import annotations

import math
import random
import uuid
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from herald.campaigns.abtest import (
    MAX_VARIANTS,
    VariantResult,
    decide,
    holm_adjust,
    normal_cdf,
    pool_size,
    regularized_incomplete_beta,
    split_test_pool,
    student_t_cdf,
    student_t_sf,
    two_proportion_z_test,
    welch_satterthwaite_df,
    welch_t_test,
    welch_t_test_from_summary,
)

# --- distributions ----------------------------------------------------------------------------


def test_normal_cdf_known_values() -> None:
    assert normal_cdf(0.0) == 0.5
    assert normal_cdf(1.959963984540054) == pytest.approx(0.975, abs=1e-12)
    assert normal_cdf(-1.959963984540054) == pytest.approx(0.025, abs=1e-12)
    assert normal_cdf(1.96) == pytest.approx(0.9750, abs=5e-5)
    assert normal_cdf(2.67) == pytest.approx(0.99621, abs=5e-6)
    assert normal_cdf(2.68) == pytest.approx(0.99632, abs=5e-6)
    # The lower tail keeps its precision far out (no 1 - x cancellation).
    assert normal_cdf(-10.0) == pytest.approx(7.619853024160527e-24, rel=1e-9)


@pytest.mark.parametrize(
    ("t", "df", "upper_tail"),
    [
        (2.228, 10, 0.025),
        (2.086, 20, 0.025),
        (1.812, 10, 0.05),
        (3.169, 10, 0.005),
        (12.706, 1, 0.025),
    ],
)
def test_t_distribution_matches_the_table(t: float, df: float, upper_tail: float) -> None:
    # Tables print three decimals of t, so the tail matches to about 1e-4 relative to its size.
    assert student_t_sf(t, df) == pytest.approx(upper_tail, rel=2e-3)
    assert student_t_cdf(-t, df) == pytest.approx(upper_tail, rel=2e-3)
    assert student_t_cdf(t, df) + student_t_cdf(-t, df) == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("t", [-30.0, -3.0, -0.7, 0.0, 0.25, 1.0, 4.5, 100.0])
def test_t_distribution_matches_closed_forms(t: float) -> None:
    assert student_t_cdf(t, 1) == pytest.approx(0.5 + math.atan(t) / math.pi, abs=1e-12)
    assert student_t_cdf(t, 2) == pytest.approx(0.5 + t / (2 * math.sqrt(2 + t * t)), abs=1e-12)


def test_t_distribution_tends_to_the_normal() -> None:
    for t in (0.5, 1.0, 1.96, 3.0):
        assert student_t_cdf(t, 2_000_000) == pytest.approx(normal_cdf(t), abs=1e-6)


def test_incomplete_beta_known_values() -> None:
    # I_x(1, 1) = x; I_x(a, 1) = x^a; I_x(1, b) = 1 - (1 - x)^b; I_0.5(a, a) = 0.5.
    assert regularized_incomplete_beta(1, 1, 0.3) == pytest.approx(0.3, abs=1e-14)
    assert regularized_incomplete_beta(3.5, 1, 0.6) == pytest.approx(0.6**3.5, abs=1e-14)
    assert regularized_incomplete_beta(1, 4, 0.2) == pytest.approx(1 - 0.8**4, abs=1e-14)
    assert regularized_incomplete_beta(7.25, 7.25, 0.5) == pytest.approx(0.5, abs=1e-13)
    assert regularized_incomplete_beta(2, 3, 0.0) == 0.0
    assert regularized_incomplete_beta(2, 3, 1.0) == 1.0
    with pytest.raises(ValueError):
        regularized_incomplete_beta(0, 1, 0.5)


# --- tests ------------------------------------------------------------------------------------


def test_two_proportion_z_test_known_value() -> None:
    result = two_proportion_z_test(200, 1000, 250, 1000)
    assert result.statistic == pytest.approx(-0.05 / math.sqrt(0.225 * 0.775 * 0.002), rel=1e-12)
    assert result.statistic == pytest.approx(-2.6774, abs=1e-4)
    assert result.p_value == pytest.approx(0.00742, abs=2e-5)
    # Symmetric in the groups.
    assert two_proportion_z_test(250, 1000, 200, 1000).p_value == result.p_value


def test_z_squared_is_the_pearson_chi_square() -> None:
    table = [[200, 800], [250, 750]]
    rows = [sum(r) for r in table]
    cols = [table[0][j] + table[1][j] for j in range(2)]
    total = sum(rows)
    chi2 = sum(
        (table[i][j] - rows[i] * cols[j] / total) ** 2 / (rows[i] * cols[j] / total)
        for i in range(2)
        for j in range(2)
    )
    assert two_proportion_z_test(200, 1000, 250, 1000).statistic ** 2 == pytest.approx(chi2)


def test_z_test_without_variation_is_not_evidence() -> None:
    assert two_proportion_z_test(0, 100, 0, 50).p_value == 1.0
    assert two_proportion_z_test(100, 100, 50, 50).p_value == 1.0
    assert two_proportion_z_test(10, 100, 10, 100).p_value == pytest.approx(1.0)


def test_welch_matches_r() -> None:
    result = welch_t_test(
        [11, 9, 10, 11, 10, 12, 9, 11, 12, 9], [11, 13, 10, 13, 12, 9, 11, 12, 12, 11]
    )
    assert result.statistic == pytest.approx(-1.8325, abs=5e-5)
    assert result.df == pytest.approx(17.9, abs=0.05)
    assert result.p_value == pytest.approx(0.08356, abs=5e-6)


def test_welch_satterthwaite_degrees_of_freedom() -> None:
    assert welch_satterthwaite_df(225, 20, 400, 20) == pytest.approx(
        31.25**2 / ((11.25**2 + 20**2) / 19), rel=1e-12
    )
    assert welch_satterthwaite_df(225, 20, 400, 20) == pytest.approx(35.24, abs=0.01)
    # Equal variances and sizes give the pooled test's n_a + n_b - 2.
    assert welch_satterthwaite_df(4.0, 30, 4.0, 30) == pytest.approx(58.0)
    # Always between min(n) - 1 and n_a + n_b - 2.
    assert 9 <= welch_satterthwaite_df(1.0, 10, 100.0, 1000) <= 1008
    result = welch_t_test_from_summary(100, 225, 20, 95, 400, 20)
    assert result.statistic == pytest.approx(5 / math.sqrt(31.25), rel=1e-12)


def test_holm_adjustment() -> None:
    adjusted = holm_adjust({"B": 0.01, "C": 0.04, "D": 0.03})
    # Sorted 0.01, 0.03, 0.04 -> 3 * 0.01, max(0.03, 2 * 0.03), max(0.06, 1 * 0.04).
    assert adjusted == pytest.approx({"B": 0.03, "D": 0.06, "C": 0.06})
    assert holm_adjust({"B": 0.5, "C": 0.9}) == {"B": 1.0, "C": 1.0}
    assert holm_adjust({"B": 0.02}) == {"B": 0.02}


# --- decide -----------------------------------------------------------------------------------


def test_clear_winner_between_two_is_declared() -> None:
    decision = decide([VariantResult("A", 1000, 200), VariantResult("B", 1000, 250)], "click_rate")
    assert decision.declared
    assert decision.winner == decision.leader == "B"
    assert decision.p_values["A"] == pytest.approx(0.00742, abs=2e-5)
    assert "B won" in decision.reason and "95% confidence" in decision.reason
    # At 99.5% confidence the same data is not enough.
    strict = decide(
        [VariantResult("A", 1000, 200), VariantResult("B", 1000, 250)],
        "click_rate",
        confidence=0.995,
    )
    assert not strict.declared and strict.winner == "B"
    assert strict.reason.startswith("no variant reached 99.5% confidence")


def test_leader_fallback_says_so() -> None:
    decision = decide([VariantResult("A", 1000, 200), VariantResult("B", 1000, 215)], "open_rate")
    assert not decision.declared
    assert decision.winner == decision.leader == "B"
    assert decision.reason.startswith("no variant reached 95% confidence")
    assert decision.reason.endswith("sending the leading variant B as configured")


def test_default_fallback_says_so() -> None:
    decision = decide(
        [VariantResult("A", 1000, 200), VariantResult("B", 1000, 215)],
        "open_rate",
        fallback="default",
        default_variant="A",
    )
    assert not decision.declared
    assert decision.leader == "B" and decision.winner == "A"
    assert decision.reason.endswith("sending the default variant A as configured")
    # A declared winner overrides the default.
    declared = decide(
        [VariantResult("A", 1000, 200), VariantResult("B", 1000, 250)],
        "open_rate",
        fallback="default",
        default_variant="A",
    )
    assert declared.declared and declared.winner == "B"
    with pytest.raises(ValueError):
        decide(
            [VariantResult("A", 10, 1), VariantResult("B", 10, 2)], "open_rate", fallback="default"
        )


def test_multiple_variants_need_the_correction() -> None:
    # B beats C clearly and A at a raw p of about 0.03. Holm sorts the p-values: C's (tiny) is
    # compared with alpha / 2, A's with alpha itself, so B is declared.
    results = [
        VariantResult("A", 2000, 400),
        VariantResult("B", 2000, 455),
        VariantResult("C", 2000, 300),
    ]
    decision = decide(results, "click_rate")
    raw_a = two_proportion_z_test(455, 2000, 400, 2000).p_value
    raw_c = two_proportion_z_test(455, 2000, 300, 2000).p_value
    assert decision.raw_p_values == pytest.approx({"A": raw_a, "C": raw_c})
    assert decision.p_values == pytest.approx({"C": 2 * raw_c, "A": max(2 * raw_c, raw_a)})
    assert 0.025 < raw_a < 0.05
    assert decision.declared  # Holm: the runner-up faces alpha itself

    # Bonferroni-like pressure: two runners-up both at raw p ~0.03 - the smaller is compared with
    # alpha / 2 and fails, so no declaration although each raw p is below 0.05.
    close = [
        VariantResult("A", 2000, 400),
        VariantResult("B", 2000, 455),
        VariantResult("C", 2000, 400),
    ]
    undecided = decide(close, "click_rate")
    assert all(p < 0.05 for p in undecided.raw_p_values.values())
    assert not undecided.declared and undecided.winner == "B"
    assert "largest Holm-adjusted p-value" in undecided.reason


def test_seven_variants_and_no_more() -> None:
    results = [VariantResult(chr(65 + i), 3000, 300) for i in range(MAX_VARIANTS - 1)]
    results.append(VariantResult("G", 3000, 420))
    decision = decide(results, "click_rate")
    assert decision.declared and decision.winner == "G"
    assert set(decision.p_values) == {"A", "B", "C", "D", "E", "F"}
    with pytest.raises(ValueError):
        decide([*results, VariantResult("H", 3000, 300)], "click_rate")
    with pytest.raises(ValueError):
        decide(results[:1], "click_rate")


def test_tiny_samples_never_declare() -> None:
    # 0/5 vs 5/5 gives z = 3.16 - "significant" - but five recipients prove nothing here.
    decision = decide([VariantResult("A", 5, 0), VariantResult("B", 5, 5)], "click_rate")
    assert not decision.declared
    assert decision.winner == "B"
    assert "too few recipients" in decision.reason
    assert "sending the leading variant B as configured" in decision.reason
    # Enough recipients but too few events for the normal approximation.
    rare = decide([VariantResult("A", 400, 0), VariantResult("B", 400, 7)], "conversion_rate")
    assert not rare.declared and "too few events" in rare.reason


def test_ties_do_not_declare() -> None:
    decision = decide([VariantResult("A", 1000, 200), VariantResult("B", 1000, 200)], "open_rate")
    assert not decision.declared
    assert decision.leader == "A"  # the first of equals
    assert "tied" in decision.reason


def test_revenue_uses_welch_on_revenue_per_recipient() -> None:
    rng = random.Random(7)
    a = [round(rng.uniform(20, 80), 2) for _ in range(60)]
    b = [round(rng.uniform(40, 120), 2) for _ in range(75)]
    results = [
        VariantResult("A", 1000, len(a), a),
        VariantResult("B", 1000, len(b), b),
    ]
    decision = decide(results, "revenue_per_recipient")
    expected = welch_t_test(a + [0.0] * 940, b + [0.0] * 925)
    assert decision.raw_p_values["A"] == pytest.approx(expected.p_value, rel=1e-9)
    assert decision.values["B"] == pytest.approx(sum(b) / 1000)
    assert decision.declared and decision.winner == "B"
    # A list that includes the zeros is the same thing.
    padded = VariantResult("A", 1000, len(a), a + [0.0] * 940)
    assert padded.revenue_summary() == pytest.approx(results[0].revenue_summary())


def test_revenue_with_few_orders_is_not_declared() -> None:
    results = [VariantResult("A", 500, 1, [20.0]), VariantResult("B", 500, 3, [900.0, 700, 800])]
    decision = decide(results, "revenue_per_recipient")
    assert not decision.declared and decision.winner == "B"
    assert "too few conversions" in decision.reason


def test_null_simulation_keeps_false_declarations_near_alpha() -> None:
    # Two variants tied at the top (the worst case for naming a wrong winner), five far below.
    rng = random.Random(20240601)
    trials, n = 300, 400
    rates = [0.2, 0.2, 0.1, 0.1, 0.1, 0.1, 0.1]
    declared = 0
    for _ in range(trials):
        results = [
            VariantResult(chr(65 + i), n, sum(rng.random() < r for _ in range(n)))
            for i, r in enumerate(rates)
        ]
        declared += decide(results, "click_rate").declared
    # Expected about 5%; 300 trials put 0.11 more than four standard errors above it.
    assert declared / trials < 0.11


def test_invalid_arguments() -> None:
    with pytest.raises(ValueError):
        VariantResult("A", 10, 11)
    with pytest.raises(ValueError):
        VariantResult("A", 1, 1, [1.0, 2.0])
    pair = [VariantResult("A", 10, 1), VariantResult("B", 10, 2)]
    with pytest.raises(ValueError):
        decide(pair, "bounce_rate")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        decide(pair, "open_rate", confidence=1.0)
    with pytest.raises(ValueError):
        decide([VariantResult("A", 10, 1), VariantResult("A", 10, 2)], "open_rate")


# --- split ------------------------------------------------------------------------------------


def test_split_is_even_and_the_rest_waits_for_the_winner() -> None:
    ids = [uuid.uuid4() for _ in range(1003)]
    split = split_test_pool(ids, ["A", "B", "C"], 0.2, seed="campaign-1")
    assert set(split) == set(ids)
    sizes = Counter(v for v in split.values() if v is not None)
    assert sum(sizes.values()) == pool_size(1003, 0.2) == 201
    assert set(sizes) == {"A", "B", "C"}
    assert max(sizes.values()) - min(sizes.values()) <= 1
    assert list(split.values()).count(None) == 1003 - 201


def test_split_is_deterministic_and_seeded() -> None:
    ids = [uuid.uuid4() for _ in range(500)]
    first = split_test_pool(ids, ["A", "B"], seed=42)
    again = split_test_pool(list(reversed(ids)), ["A", "B"], seed=42)
    assert first == again
    other = split_test_pool(ids, ["A", "B"], seed=43)
    assert other != first


@given(
    n=st.integers(min_value=0, max_value=400),
    k=st.integers(min_value=1, max_value=MAX_VARIANTS),
    fraction=st.floats(min_value=0.01, max_value=1.0),
    seed=st.integers(),
)
def test_split_sizes_differ_by_at_most_one(n: int, k: int, fraction: float, seed: int) -> None:
    variants = [f"v{i}" for i in range(k)]
    split = split_test_pool(range(n), variants, fraction, seed=seed)
    counts = [sum(1 for v in split.values() if v == name) for name in variants]
    assert sum(counts) == pool_size(n, fraction)
    assert max(counts) - min(counts) <= 1


def test_split_refuses_bad_arguments() -> None:
    with pytest.raises(ValueError):
        split_test_pool([1, 2], [f"v{i}" for i in range(8)], seed=1)
    with pytest.raises(ValueError):
        split_test_pool([1, 2], ["A", "A"], seed=1)
    with pytest.raises(ValueError):
        split_test_pool([1, 2], ["A", "B"], 0.0, seed=1)
