# -*- coding: utf-8 -*-
# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests for the anytime-valid sequential test in plugins/module_utils/_judge.py.

The simulations use fixed seeds, so they are deterministic; the bounds leave a few standard errors of room.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from ansible_collections.progressive.delivery.plugins.module_utils._judge import (
    SEQUENTIAL_PRIOR_STRENGTH,
    SequentialResult,
    sequential_rate_test,
)
from scipy import integrate, stats

ALPHA = 0.02
#: Allowed excess over alpha for a simulated false rejection rate (about 3 standard errors at 2,000 runs).
MARGIN = 0.01


def simulate_rollout(rng: np.random.Generator, looks: int, requests_per_look: float, base_rate: float,
                     ratio: float, canary_share: float = 0.5) -> np.ndarray:
    """Cumulative (canary_errors, canary_total, baseline_errors, baseline_total) after each look.

    The real request process: Poisson request counts per look, each request failing independently (binomial).
    """
    canary_requests = rng.poisson(requests_per_look * 2 * canary_share, looks)
    baseline_requests = rng.poisson(requests_per_look * 2 * (1 - canary_share), looks)
    canary_errors = rng.binomial(canary_requests, min(1.0, base_rate * ratio))
    baseline_errors = rng.binomial(baseline_requests, base_rate)
    return np.cumsum(np.stack([canary_errors, canary_requests, baseline_errors, baseline_requests], axis=1), axis=0)


def rejects_stateless(rollout: np.ndarray, **kwargs) -> bool:
    """Evaluate only the cumulative counts at every look (no history): fail at any look = rejection."""
    return any(sequential_rate_test(*map(float, look), **kwargs).verdict == "fail" for look in rollout)


def rejection_rate(seed: int, runs: int, looks: int, **simulation) -> float:
    rng = np.random.default_rng(seed)
    max_ratio = simulation.pop("max_ratio", 1.0)
    hits = sum(rejects_stateless(simulate_rollout(rng, looks, **simulation), alpha=ALPHA, max_ratio=max_ratio)
               for _unused in range(runs))
    return hits / runs


# ---------------------------------------------------------------------------------------------
# Type-I error control (the point of the test: many looks, false-fail rate still <= alpha)
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("requests_per_look", "base_rate"), [(600, 0.01), (2000, 0.02)])
def test_type_one_error_with_twenty_looks(requests_per_look, base_rate):
    rate = rejection_rate(11, 2000, 20, requests_per_look=requests_per_look, base_rate=base_rate, ratio=1.0)
    assert rate <= ALPHA + MARGIN


def test_type_one_error_at_the_boundary_of_a_tolerated_ratio():
    """Null r <= max_ratio = 1.5, data exactly at r = 1.5 (the hardest null case)."""
    rate = rejection_rate(12, 2000, 20, requests_per_look=1000, base_rate=0.01, ratio=1.5, max_ratio=1.5)
    assert rate <= ALPHA + MARGIN


def test_better_canary_is_not_failed():
    rate = rejection_rate(13, 500, 20, requests_per_look=1000, base_rate=0.02, ratio=0.5)
    assert rate == 0.0


def test_naive_repeated_fixed_sample_test_inflates_false_fails():
    """Control for the simulation: a one-sided z-test at alpha repeated at 20 looks rejects far more than alpha."""
    rng = np.random.default_rng(14)
    z_crit = stats.norm.ppf(1 - ALPHA)
    hits = 0
    for _unused in range(2000):
        rollout = simulate_rollout(rng, 20, 600, 0.01, 1.0)
        errors = rollout[:, 0] + rollout[:, 2]
        share = rollout[:, 1] / (rollout[:, 1] + rollout[:, 3])
        z = (rollout[:, 0] - errors * share) / np.sqrt(np.maximum(errors * share * (1 - share), 1e-12))
        hits += bool(np.any(z > z_crit))
    assert hits / 2000 > 2 * ALPHA


def test_type_one_error_when_the_traffic_split_changes_and_history_is_passed():
    """Canary weight steps 10% -> 25% -> 50% -> 75%: each increment is tested with its own split."""
    rng = np.random.default_rng(15)
    shares = (0.1, 0.25, 0.5, 0.75)
    hits = 0
    for _unused in range(1000):
        parts = [simulate_rollout(rng, 3, 800, 0.01, 1.0, canary_share=share) for share in shares]
        offsets = np.cumsum([np.zeros(4)] + [part[-1] for part in parts[:-1]], axis=0)
        looks = np.concatenate([part + offset for part, offset in zip(parts, offsets, strict=True)])
        result = sequential_rate_test(*map(float, looks[-1]), alpha=ALPHA, history=looks[:-1].tolist())
        hits += result.verdict == "fail"
    assert hits / 1000 <= ALPHA + MARGIN


# ---------------------------------------------------------------------------------------------
# Power
# ---------------------------------------------------------------------------------------------
def test_power_for_a_doubled_error_rate():
    """About 12 baseline errors per look (10 requests/s, 2-minute steps, 1%): a 2x regression is found in 8 looks."""
    rate = rejection_rate(21, 500, 8, requests_per_look=1200, base_rate=0.01, ratio=2.0)
    assert rate >= 0.95


def test_power_grows_with_looks():
    early = rejection_rate(22, 400, 2, requests_per_look=1200, base_rate=0.01, ratio=2.0)
    late = rejection_rate(22, 400, 6, requests_per_look=1200, base_rate=0.01, ratio=2.0)
    assert early < late


def test_large_regression_fails_at_the_first_look():
    result = sequential_rate_test(60, 1200, 12, 1200)
    assert result.verdict == "fail"
    assert result.p_value < ALPHA
    assert result.ratio == pytest.approx(5.0)
    assert "above max_ratio 1 x baseline" in result.reason
    assert "canary 60/1200 vs baseline 12/1200" in result.reason


# ---------------------------------------------------------------------------------------------
# The statistic itself
# ---------------------------------------------------------------------------------------------
def beta_mixture_e_value(canary_errors: int, baseline_errors: int, prior_strength: float) -> float:
    """Continuous one-sided Beta mixture at equal traffic and max_ratio 1, by numerical integration."""
    half = prior_strength / 2.0
    mass = 1 - stats.beta.cdf(0.5, half, half)

    def integrand(p: float) -> float:
        lr = (p / 0.5) ** canary_errors * ((1 - p) / 0.5) ** baseline_errors
        return lr * stats.beta.pdf(p, half, half) / mass

    return integrate.quad(integrand, 0.5, 1.0, limit=200)[0]


@pytest.mark.parametrize(("canary_errors", "baseline_errors"), [(0, 0), (5, 3), (24, 12), (40, 12), (100, 80)])
def test_matches_the_continuous_beta_mixture(canary_errors, baseline_errors):
    result = sequential_rate_test(canary_errors, 1000, baseline_errors, 1000)
    expected = beta_mixture_e_value(canary_errors, baseline_errors, SEQUENTIAL_PRIOR_STRENGTH)
    assert result.e_value == pytest.approx(expected, rel=0.02)


def test_constant_split_depends_only_on_cumulative_counts():
    history_a = [(5, 400, 2, 400), (11, 800, 6, 800)]
    history_b = [(1, 300, 4, 300)]
    without = sequential_rate_test(20, 1200, 10, 1200)
    assert sequential_rate_test(20, 1200, 10, 1200, history=history_a).e_value == pytest.approx(without.e_value)
    assert sequential_rate_test(20, 1200, 10, 1200, history=history_b).e_value == pytest.approx(without.e_value)


def test_changing_split_uses_each_increment():
    """Same totals, different split per step: the per-increment e-value differs from the pooled one."""
    pooled = sequential_rate_test(30, 2000, 30, 2000)
    stepped = sequential_rate_test(30, 2000, 30, 2000, history=[(2, 200, 27, 1800)])
    assert stepped.e_value != pytest.approx(pooled.e_value)
    assert stepped.e_value > pooled.e_value  # 28 of 31 late errors on the canary with a 1:1 split in step 2


def test_e_value_decreases_with_max_ratio():
    values = [sequential_rate_test(30, 1000, 10, 1000, max_ratio=m).e_value for m in (0.5, 1.0, 1.5, 2.0, 3.0)]
    assert values == sorted(values, reverse=True)


def test_running_maximum_keeps_a_failure_and_p_value_never_increases():
    history = [(30, 1000, 8, 1000)]
    first = sequential_rate_test(*history[0])
    later = sequential_rate_test(35, 3000, 30, 3000, history=history)  # later errors look healthy
    assert first.verdict == "fail"
    assert later.e_value < first.e_value
    assert later.max_e_value == pytest.approx(first.e_value)
    assert later.verdict == "fail"
    assert later.p_value == pytest.approx(first.p_value)


def test_looks_are_returned_for_the_next_call():
    first = sequential_rate_test(3, 1000, 2, 1000)
    second = sequential_rate_test(7, 2000, 5, 2000, history=first.looks)
    assert second.looks == ((3.0, 1000.0, 2.0, 1000.0), (7.0, 2000.0, 5.0, 2000.0))
    assert isinstance(second, SequentialResult)
    assert second.as_dict()["verdict"] == "continue"


def test_effect_size_gate_only_removes_failures():
    assert sequential_rate_test(30, 1000, 10, 1000, effect_size_max_ratio=2.5).verdict == "fail"
    allowed = sequential_rate_test(30, 1000, 10, 1000, effect_size_max_ratio=4)
    assert allowed.verdict == "continue"
    assert "allowed by the effect size: ratio 3 <= effect_size_max_ratio 4" in allowed.reason
    assert allowed.p_value < ALPHA  # the statistics are unchanged
    assert sequential_rate_test(30, 1000, 10, 1000, effect_size_max_ratio=4, final=True).verdict == "pass"
    assert sequential_rate_test(12, 1200, 12, 1200, effect_size_max_ratio=0.5).verdict == "continue"


# ---------------------------------------------------------------------------------------------
# Pass at the end of the rollout
# ---------------------------------------------------------------------------------------------
def test_pass_only_on_the_final_look():
    assert sequential_rate_test(12, 1200, 12, 1200).verdict == "continue"
    result = sequential_rate_test(12, 1200, 12, 1200, final=True)
    assert result.verdict == "pass"
    assert 1.0 < result.ratio_upper < 10.0
    assert "no regression detected" in result.reason
    assert "98% anytime-valid bound" in result.reason


def test_final_look_still_fails_a_regression():
    result = sequential_rate_test(60, 1200, 12, 1200, final=True)
    assert result.verdict == "fail"
    assert result.ratio_upper is None


def test_upper_bound_shrinks_with_more_errors():
    small = sequential_rate_test(12, 1200, 12, 1200, final=True).ratio_upper
    large = sequential_rate_test(480, 48000, 480, 48000, final=True).ratio_upper
    assert 1.0 < large < small


def test_upper_bound_covers_the_true_ratio():
    rng = np.random.default_rng(31)
    misses = 0
    for _unused in range(300):
        rollout = simulate_rollout(rng, 4, 1200, 0.01, 1.0)
        result = sequential_rate_test(*map(float, rollout[-1]), history=rollout[:-1].tolist(), final=True)
        misses += result.verdict == "pass" and result.ratio_upper < 1.0
    assert misses / 300 <= ALPHA + MARGIN


# ---------------------------------------------------------------------------------------------
# Edge cases
# ---------------------------------------------------------------------------------------------
def test_no_requests_is_nodata():
    assert sequential_rate_test(0, 0, 0, 1000).verdict == "nodata"
    result = sequential_rate_test(0, 1000, 0, 0)
    assert result.verdict == "nodata"
    assert "no baseline requests" in result.reason


def test_no_errors_at_all_is_neutral():
    result = sequential_rate_test(0, 1000, 0, 1000)
    assert result.verdict == "continue"
    assert result.e_value == 1.0
    assert result.p_value == 1.0
    assert result.ratio == 1.0
    final = sequential_rate_test(0, 1000, 0, 1000, final=True)
    assert final.verdict == "pass"
    assert math.isinf(final.ratio_upper)
    assert "too few errors" in final.reason


def test_zero_baseline_errors():
    result = sequential_rate_test(20, 1000, 0, 1000)
    assert result.verdict == "fail"
    assert math.isinf(result.ratio)
    assert sequential_rate_test(2, 1000, 0, 1000).verdict == "continue"  # 2 errors are not evidence


def test_zero_canary_errors_is_never_a_failure():
    result = sequential_rate_test(0, 1000, 50, 1000, final=True)
    assert result.verdict == "pass"
    assert result.e_value < 1.0
    assert result.ratio == 0.0
    assert result.ratio_upper < 0.2


def test_float_counts_are_accepted():
    """Prometheus increase() extrapolates to non-integer counts."""
    result = sequential_rate_test(11.7, 1203.4, 6.2, 1198.9)
    assert result.verdict == "continue"
    assert 1.0 < result.e_value < 50.0


def test_huge_counts_do_not_overflow():
    result = sequential_rate_test(2e6, 1e8, 1e6, 1e8)
    assert result.verdict == "fail"
    assert result.p_value == 0.0 or result.p_value < 1e-300


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"alpha": 0}, "alpha must be between 0 and 1"),
    ({"alpha": 1}, "alpha must be between 0 and 1"),
    ({"max_ratio": 0}, "max_ratio must be a finite number greater than zero"),
    ({"max_ratio": float("inf")}, "max_ratio must be a finite number greater than zero"),
    ({"max_ratio": float("nan")}, "max_ratio must be a finite number greater than zero"),
    ({"prior_strength": -1}, "prior_strength must be a finite number greater than zero"),
    ({"effect_size_max_ratio": 0}, "effect_size_max_ratio must be a finite number greater than zero, got 0"),
])
def test_bad_parameters_raise(kwargs, message):
    with pytest.raises(ValueError, match=message):
        sequential_rate_test(1, 10, 1, 10, **kwargs)


@pytest.mark.parametrize(("counts", "message"), [
    ((-1, 10, 1, 10), "canary_errors must be a finite number >= 0, got -1"),
    ((1, float("nan"), 1, 10), "canary_total must be a finite number >= 0"),
    ((1, 10, None, 10), "baseline_errors must be a finite number >= 0, got None"),
    ((1, 10, 1, float("inf")), "baseline_total must be a finite number >= 0"),
    ((11, 10, 1, 10), r"canary_errors \(11\) must not exceed canary_total \(10\)"),
    ((1, 10, 5, 4), r"baseline_errors \(5\) must not exceed baseline_total \(4\)"),
])
def test_bad_counts_raise_naming_the_argument(counts, message):
    with pytest.raises(ValueError, match=message):
        sequential_rate_test(*counts)


def test_history_errors_name_the_look():
    with pytest.raises(ValueError, match=r"history\[1\]: canary_errors must be a finite number >= 0"):
        sequential_rate_test(5, 100, 5, 100, history=[(1, 10, 1, 10), (-2, 20, 1, 20)])
    with pytest.raises(ValueError, match=r"history\[0\]: expected 4 counts"):
        sequential_rate_test(5, 100, 5, 100, history=[(1, 10, 1)])


def test_decreasing_counts_raise():
    with pytest.raises(ValueError, match=r"canary_total decreased at look 2 \(current look\): counts must be"):
        sequential_rate_test(5, 100, 5, 200, history=[(1, 150, 1, 150)])


def test_errors_without_requests_raise():
    with pytest.raises(ValueError, match=r"baseline_errors increased at look 2 \(current look\) without any"
                                         r" increase of baseline_total"):
        sequential_rate_test(5, 200, 5, 100, history=[(1, 100, 1, 100)])
