# -*- coding: utf-8 -*-
# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests for plugins/module_utils/_judge.py (SLO gate statistics)."""

from __future__ import annotations

import importlib.util
import math
import sys

import numpy as np
import pytest
from ansible_collections.progressive.delivery.plugins.module_utils import _judge
from ansible_collections.progressive.delivery.plugins.module_utils._judge import (
    IndicatorOutcome,
    MannWhitneyResult,
    MissingScipyError,
    hodges_lehmann,
    mann_whitney_classify,
    overall_verdict,
    remove_outliers,
    score,
    threshold_verdict,
)
from scipy import stats
from scipy.optimize import brentq


def rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


# ---------------------------------------------------------------------------------------------
# threshold_verdict
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("value", [None, float("nan"), "NaN"])
def test_threshold_no_data(value):
    verdict, reason = threshold_verdict(value, max_=1)
    assert verdict == "nodata"
    assert "no data" in reason


def test_threshold_max_fails_with_plain_reason():
    assert threshold_verdict(0.052, max_=0.01) == ("fail", "value 0.052 > max 0.01")


def test_threshold_bounds_are_inclusive():
    assert threshold_verdict(0.01, max_=0.01)[0] == "pass"
    assert threshold_verdict(10, min_=10)[0] == "pass"


def test_threshold_min_fails():
    assert threshold_verdict(5, min_=10) == ("fail", "value 5 < min 10")


def test_threshold_pass_reason_lists_checks():
    verdict, reason = threshold_verdict(0.004, min_=0, max_=0.01)
    assert verdict == "pass"
    assert reason == "value 0.004 is >= min 0, <= max 0.01"


def test_threshold_no_bounds_passes():
    assert threshold_verdict(3)[0] == "pass"


def test_threshold_reports_all_failures():
    verdict, reason = threshold_verdict(0.5, max_=0.1, baseline=0.1, max_ratio=2)
    assert verdict == "fail"
    assert "value 0.5 > max 0.1" in reason
    assert "ratio 5 > max_ratio 2" in reason


def test_threshold_max_increase():
    verdict, reason = threshold_verdict(0.05, baseline=0.01, max_increase=0.02)
    assert verdict == "fail"
    assert "max_increase 0.02" in reason
    assert threshold_verdict(0.03, baseline=0.01, max_increase=0.02)[0] == "pass"


def test_threshold_max_ratio():
    assert threshold_verdict(0.03, baseline=0.01, max_ratio=2)[0] == "fail"
    assert threshold_verdict(0.02, baseline=0.01, max_ratio=2)[0] == "pass"


def test_threshold_ratio_with_zero_baseline():
    # 0 / 0 counts as ratio 1, anything above 0 against a zero baseline as an infinite ratio
    assert threshold_verdict(0, baseline=0, max_ratio=1.5)[0] == "pass"
    verdict, reason = threshold_verdict(0.001, baseline=0, max_ratio=1000)
    assert verdict == "fail"
    assert "ratio inf" in reason


@pytest.mark.parametrize("baseline", [None, float("nan")])
def test_threshold_missing_baseline_is_nodata(baseline):
    verdict, reason = threshold_verdict(0.02, max_=1, baseline=baseline, max_ratio=2)
    assert verdict == "nodata"
    assert "baseline" in reason


def test_threshold_absolute_failure_wins_over_missing_baseline():
    assert threshold_verdict(2, max_=1, baseline=None, max_ratio=2)[0] == "fail"


# ---------------------------------------------------------------------------------------------
# hodges_lehmann
# ---------------------------------------------------------------------------------------------
def test_hodges_lehmann_hand_computed():
    # differences x_i - y_j: 1, -1, 2, 0, 3, 1 -> sorted -1 0 1 1 2 3 -> median 1
    assert hodges_lehmann([1, 2, 3], [0, 2]) == 1.0
    # differences 9, 8, 6 -> median 8
    assert hodges_lehmann([10], [1, 2, 4]) == 8.0
    # differences 0.5, -1.5, 2.5, 0.5 -> sorted -1.5 0.5 0.5 2.5 -> median 0.5
    assert hodges_lehmann([1, 3], [0.5, 2.5]) == 0.5


@pytest.mark.parametrize(("seed", "n", "m"), [(0, 17, 23), (1, 40, 40), (2, 1, 9), (3, 120, 75), (4, 8, 1)])
def test_hodges_lehmann_matches_numpy_brute_force(seed, n, m):
    gen = rng(seed)
    x, y = gen.lognormal(0, 1, n), gen.normal(1, 2, m)
    expected = float(np.median(np.subtract.outer(x, y)))
    assert hodges_lehmann(list(x), list(y)) == pytest.approx(expected, rel=1e-12, abs=1e-12)


def test_hodges_lehmann_is_shift_equivariant():
    gen = rng(7)
    x, y = list(gen.normal(0, 1, 30)), list(gen.normal(0, 1, 25))
    assert hodges_lehmann([v + 5 for v in x], y) == pytest.approx(hodges_lehmann(x, y) + 5)


def test_hodges_lehmann_empty_raises():
    with pytest.raises(ValueError):
        hodges_lehmann([], [1.0])


# ---------------------------------------------------------------------------------------------
# remove_outliers
# ---------------------------------------------------------------------------------------------
def test_remove_outliers_removes_injected_value():
    data = list(rng(11).normal(100, 5, 50))
    data.insert(17, 1e6)
    cleaned = remove_outliers(data)
    assert 1e6 not in cleaned
    assert len(cleaned) == 50
    assert cleaned == [v for v in data if v != 1e6]  # order preserved, nothing else dropped


def test_remove_outliers_drops_missing_values():
    assert remove_outliers([1.0, None, float("nan"), 2.0, float("inf"), 3.0]) == [1.0, 2.0, 3.0]
    assert remove_outliers([float("nan"), None]) == []
    assert remove_outliers([]) == []


@pytest.mark.parametrize("seed", range(5))
def test_remove_outliers_matches_iqr_rule_with_factor_3(seed):
    gen = rng(seed)
    data = list(np.concatenate([gen.standard_t(2, 80), [40.0, -35.0]]))
    # commons-math StatUtils.percentile == Hyndman-Fan type 6 == numpy's "weibull" method
    q1, q3 = np.percentile(data, [25, 75], method="weibull")
    lower, upper = q1 - 3 * (q3 - q1), q3 + 3 * (q3 - q1)
    expected = [v for v in data if lower <= v <= upper]
    assert remove_outliers(data) == expected
    assert len(expected) < len(data)


def test_outlier_fences_use_commons_math_percentiles():
    # StatUtils.percentile: position p * (n + 1) / 100, clamped to the minimum / maximum, linear in between;
    # for [1, 2, 3, 4]: Q1 at position 1.25 -> 1.25, Q3 at 3.75 -> 3.75, P1 (0.05) -> 1, P99 (4.95) -> 4
    lower, upper = _judge._outlier_fences([4.0, 1.0, 3.0, 2.0], 0.01, reduce_sensitivity=False)
    assert lower == pytest.approx(1.25 - 0.025) and upper == pytest.approx(3.75 + 0.025)
    assert _judge._outlier_fences([4.0, 1.0, 3.0, 2.0], 0.01, reduce_sensitivity=True) == (1.0, 4.0)


def test_remove_outliers_reduce_sensitivity_keeps_rare_spikes():
    # mostly-zero error series: IQR is 0, the plain rule would throw every error burst away
    series = [0.0] * 27 + [0.5] * 3
    assert remove_outliers(series) == [0.0] * 27
    assert remove_outliers(series, reduce_sensitivity=True) == series


def test_remove_outliers_reduce_sensitivity_fences():
    small = [*rng(12).normal(100, 5, 50), 1e6]
    assert 1e6 in remove_outliers(small, reduce_sensitivity=True)  # p99 of 51 values is the maximum
    large = [*rng(12).normal(100, 5, 300), 1e6]
    assert 1e6 not in remove_outliers(large, reduce_sensitivity=True)


def test_remove_outliers_rejects_bad_factor():
    with pytest.raises(ValueError):
        remove_outliers([1, 2, 3], factor=0)


# ---------------------------------------------------------------------------------------------
# mann_whitney_classify
# ---------------------------------------------------------------------------------------------
def kayenta_confidence_interval(experiment, control, confidence):
    """Literal port of Kayenta's MannWhitney.calculateConfidenceInterval (numeric root finding)."""
    x, y = np.asarray(experiment, float), np.asarray(control, float)
    n, m = len(x), len(y)

    def wilcoxon_diff(mu, quantile):
        ranks = stats.rankdata(np.concatenate([x - mu, y]))
        _values, ties = np.unique(ranks, return_counts=True)
        dz = ranks[:n].sum() - n * (n + 1) / 2 - n * m / 2
        sigma = math.sqrt(n * m / 12 * ((n + m + 1) - (ties ** 3 - ties).sum() / ((n + m) * (n + m - 1))))
        return (dz - np.sign(dz) * 0.5) / sigma - quantile

    mu_min, mu_max = x.min() - y.max(), x.max() - y.min()

    def root(quantile):
        if wilcoxon_diff(mu_min, quantile) <= 0:
            return mu_min
        if wilcoxon_diff(mu_max, quantile) >= 0:
            return mu_max
        return brentq(lambda mu: wilcoxon_diff(mu, quantile), mu_min, mu_max, xtol=1e-12)

    z = stats.norm.ppf((1 - confidence) / 2)
    return root(-z), root(z)


@pytest.mark.parametrize("seed", range(12))
def test_confidence_interval_matches_kayenta_port(seed):
    gen = rng(seed)
    n, m = gen.integers(3, 60, size=2)
    decimals = seed % 3  # rounding creates ties within and across the samples
    experiment = list(np.round(gen.normal(10 + gen.normal(0, 2), 3, n), decimals))
    control = list(np.round(gen.normal(10, 3, m), decimals))
    confidence = (0.9, 0.95, 0.98)[seed % 3]
    result = mann_whitney_classify(experiment, control, confidence=confidence, direction="either", outliers=False)
    if result.ci_lower is None:  # early exits have no interval
        pytest.skip("no interval for this sample")
    lower, upper = kayenta_confidence_interval(experiment, control, confidence)
    assert result.ci_lower == pytest.approx(lower, abs=1e-6)
    assert result.ci_upper == pytest.approx(upper, abs=1e-6)
    assert result.ci_lower <= result.hodges_lehmann <= result.ci_upper


@pytest.mark.parametrize("seed", range(4))
def test_p_value_and_estimate_match_scipy_and_brute_force(seed):
    gen = rng(seed)
    experiment, control = gen.normal(10.5, 2, 40), gen.normal(10, 2, 35)
    result = mann_whitney_classify(experiment, control, outliers=False)
    expected_p = stats.mannwhitneyu(experiment, control, alternative="two-sided").pvalue
    assert result.p_value == pytest.approx(expected_p, rel=1e-12)
    assert result.hodges_lehmann == pytest.approx(float(np.median(np.subtract.outer(experiment, control))))
    assert result.ratio == pytest.approx(experiment.mean() / control.mean())
    assert (result.experiment_count, result.control_count, result.removed_outliers) == (40, 35, 0)


def test_identical_samples_pass():
    sample = list(rng(1).normal(100, 5, 40))
    result = mann_whitney_classify(sample, list(reversed(sample)), direction="either")
    assert (result.verdict, result.classification) == ("pass", "Pass")
    assert result.p_value is None
    assert result.ratio == 1.0
    assert "identical" in result.reason


def test_all_values_equal_pass():
    result = mann_whitney_classify([5.0] * 10, [5.0] * 20, direction="either")
    assert (result.verdict, result.classification) == ("pass", "Pass")
    assert "equal" in result.reason


def test_doubled_canary_fails_high_for_increase_only():
    gen = rng(2)
    control = gen.normal(100, 2, 50)
    experiment = gen.normal(200, 4, 50)
    high = mann_whitney_classify(experiment, control, direction="increase")
    assert (high.verdict, high.classification) == ("fail", "High")
    assert high.ratio == pytest.approx(2, rel=0.05)
    assert high.reason.startswith("canary is higher than baseline: p=")
    assert mann_whitney_classify(experiment, control, direction="either").verdict == "fail"
    allowed = mann_whitney_classify(experiment, control, direction="decrease")
    assert (allowed.verdict, allowed.classification) == ("pass", "Pass")
    assert "canary is higher" in allowed.reason and "direction is 'decrease'" in allowed.reason


def test_halved_canary_fails_low_for_decrease_and_either():
    gen = rng(3)
    control = gen.normal(100, 2, 50)
    experiment = gen.normal(50, 1, 50)
    for direction in ("decrease", "either"):
        result = mann_whitney_classify(experiment, control, direction=direction)
        assert (result.verdict, result.classification) == ("fail", "Low"), direction
        assert result.reason.startswith("canary is lower than baseline")
    assert mann_whitney_classify(experiment, control, direction="increase").verdict == "pass"


@pytest.mark.parametrize("seed", range(10))
def test_noise_only_passes(seed):
    gen = rng(100 + seed)
    result = mann_whitney_classify(gen.normal(100, 5, 60), gen.normal(100, 5, 60), direction="either")
    assert (result.verdict, result.classification) == ("pass", "Pass")


def test_significant_but_inside_tolerance_band_passes():
    # Kayenta rule: p < alpha is not enough, the interval must clear tolerance * |Hodges-Lehmann shift|
    gen = rng(3)
    experiment, control = gen.normal(10.8, 1, 30), gen.normal(10, 1, 30)
    result = mann_whitney_classify(experiment, control, direction="either")
    assert result.p_value < 0.02
    band = 0.25 * abs(result.hodges_lehmann)
    assert 0 < result.ci_lower <= band
    assert (result.verdict, result.classification) == ("pass", "Pass")
    assert "not clear of the tolerance band" in result.reason
    # a smaller tolerance makes the same data fail
    assert mann_whitney_classify(experiment, control, direction="either", tolerance=0.1).verdict == "fail"


def test_sparse_errors_against_zero_baseline_pass_like_kayenta():
    # Documents a limit of the Kayenta rule: with most canary values 0 the Hodges-Lehmann shift is 0,
    # so a rare-but-real error burst is not High. Pair such indicators with threshold_verdict.
    result = mann_whitney_classify([0.0] * 20 + [0.5] * 10, [0.0] * 30, direction="either")
    assert result.p_value < 0.02
    assert result.hodges_lehmann == 0.0
    assert result.verdict == "pass"
    assert result.ratio == math.inf


def test_one_constant_side_is_tested_normally():
    result = mann_whitney_classify(rng(5).normal(5, 1, 30), [0.0] * 30)
    assert (result.verdict, result.classification) == ("fail", "High")
    assert result.p_value is not None


def test_both_constant_but_different():
    high = mann_whitney_classify([5.0] * 10, [3.0] * 10)
    assert (high.verdict, high.classification, high.hodges_lehmann) == ("fail", "High", 2.0)
    assert "both samples are constant" in high.reason
    assert mann_whitney_classify([5.0] * 10, [3.0] * 10, direction="decrease").verdict == "pass"
    low = mann_whitney_classify([1.0] * 10, [3.0] * 10, direction="decrease")
    assert (low.verdict, low.classification) == ("fail", "Low")
    small = mann_whitney_classify([1.01] * 10, [1.0] * 10, effect_size_max_ratio=1.05)
    assert small.verdict == "pass"


def test_outlier_removal_in_classification():
    experiment = [*rng(3).normal(100, 5, 299), 1e6]
    control = rng(4).normal(100, 5, 300)
    cleaned = mann_whitney_classify(experiment, control)
    assert cleaned.removed_outliers == 1
    assert cleaned.experiment_count == 299
    assert cleaned.ratio == pytest.approx(1, abs=0.02)
    assert cleaned.verdict == "pass"
    kept = mann_whitney_classify(experiment, control, outliers=False)
    assert (kept.removed_outliers, kept.experiment_count) == (0, 300)
    assert kept.ratio > 10


def test_effect_size_gate_increase():
    gen = rng(6)
    control, experiment = gen.normal(100, 1, 200), gen.normal(103, 1, 200)
    assert mann_whitney_classify(experiment, control).classification == "High"
    gated = mann_whitney_classify(experiment, control, effect_size_max_ratio=1.1)
    assert (gated.verdict, gated.classification) == ("pass", "Pass")
    assert "<= max_ratio 1.1" in gated.reason
    strict = mann_whitney_classify(experiment, control, effect_size_max_ratio=1.01)
    assert (strict.verdict, strict.classification) == ("fail", "High")
    assert "> max_ratio 1.01" in strict.reason


def test_effect_size_gate_decrease():
    gen = rng(7)
    control, experiment = gen.normal(100, 1, 200), gen.normal(97, 1, 200)
    assert mann_whitney_classify(experiment, control, direction="decrease").verdict == "fail"
    assert mann_whitney_classify(experiment, control, direction="decrease", effect_size_max_ratio=1.1).verdict == "pass"
    strict = mann_whitney_classify(experiment, control, direction="decrease", effect_size_max_ratio=1.01)
    assert (strict.verdict, strict.classification) == ("fail", "Low")
    assert "< 1/max_ratio" in strict.reason


@pytest.mark.parametrize(
    ("experiment", "control", "missing"),
    [([], [1.0, 2.0], "canary"), ([float("nan")] * 5, [1.0, 2.0], "canary"), ([1.0, 2.0], [None, None], "baseline")],
)
def test_no_data(experiment, control, missing):
    result = mann_whitney_classify(experiment, control)
    assert (result.verdict, result.classification) == ("nodata", "Nodata")
    assert missing in result.reason
    assert result.p_value is None and result.ratio is None


def test_nan_values_are_dropped_before_testing():
    gen = rng(8)
    experiment = [*gen.normal(10, 1, 20), float("nan"), None]
    result = mann_whitney_classify(experiment, gen.normal(10, 1, 20))
    assert result.experiment_count == 20


@pytest.mark.parametrize(
    "kwargs",
    [{"confidence": 1.0}, {"confidence": 0}, {"direction": "up"}, {"tolerance": -0.1}, {"effect_size_max_ratio": 0}],
)
def test_invalid_arguments(kwargs):
    with pytest.raises(ValueError):
        mann_whitney_classify([1.0, 2.0], [1.0, 3.0], **kwargs)


def test_result_as_dict():
    result = mann_whitney_classify([5.0] * 3, [5.0] * 3)
    assert isinstance(result, MannWhitneyResult)
    assert result.as_dict()["verdict"] == "pass"
    assert set(result.as_dict()) >= {"p_value", "hodges_lehmann", "ratio", "experiment_count", "removed_outliers"}


class _MissingDependency:
    def problem(self):
        return "No module named 'scipy'"


def test_missing_scipy_raises(monkeypatch):
    monkeypatch.setattr(_judge, "SCIPY", _MissingDependency())  # the one check, _deps.SCIPY
    with pytest.raises(MissingScipyError) as info:
        mann_whitney_classify([1.0, 2.0], [1.0, 3.0])
    assert info.value.import_error == "No module named 'scipy'"


def test_broken_scipy_stats_raises(monkeypatch):
    monkeypatch.setitem(sys.modules, "scipy.stats", None)
    with pytest.raises(MissingScipyError):
        mann_whitney_classify([1.0, 2.0], [1.0, 3.0])


def test_module_imports_without_scipy(monkeypatch):
    monkeypatch.setitem(sys.modules, "scipy", None)
    monkeypatch.setitem(sys.modules, "scipy.stats", None)
    spec = importlib.util.spec_from_file_location("_judge_without_scipy", _judge.__file__)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # dataclasses look the module up while it loads
    spec.loader.exec_module(module)
    assert module.SCIPY.problem() == "No module named 'scipy'"
    assert module.threshold_verdict(2, max_=1)[0] == "fail"
    assert module.hodges_lehmann([2, 3], [1]) == 1.5
    with pytest.raises(module.MissingScipyError):
        module.mann_whitney_classify([1.0, 2.0], [1.0, 3.0])


# ---------------------------------------------------------------------------------------------
# score / overall_verdict
# ---------------------------------------------------------------------------------------------
def outcomes(*specs):
    return [IndicatorOutcome(f"i{index}", *spec) for index, spec in enumerate(specs)]


def test_score_is_weighted():
    assert score([("pass", 3), ("fail", 1)]) == 75.0
    assert score(outcomes(("pass", 1.0), ("fail", 2.0), ("pass", 1.0))) == 50.0


def test_score_counts_missing_data_as_not_passing():
    assert score([("pass", 1), ("inconclusive", 1)]) == 50.0
    assert score([("pass", 1), ("nodata", 3)]) == 25.0


def test_score_empty_is_zero():
    assert score([]) == 0.0
    assert score([("pass", 0)]) == 0.0


def test_overall_all_pass():
    verdict, value, reason = overall_verdict(outcomes(("pass",), ("pass",)))
    assert (verdict, value) == ("pass", 100.0)
    assert "pass_score 95" in reason


def test_overall_critical_fail_wins():
    results = outcomes(("pass", 10.0), ("pass", 10.0), ("fail", 0.1, True))
    assert score(results) > 95
    verdict, value, reason = overall_verdict(results)
    assert (verdict, value) == ("fail", 0.0)
    assert "critical" in reason and "i2" in reason


def test_overall_critical_without_data_is_neither_failure_nor_pass():
    verdict, value, reason = overall_verdict(outcomes(("pass", 20.0), ("pass", 20.0), ("inconclusive", 1.0, True)))
    assert verdict == "inconclusive"
    assert value == pytest.approx(4000 / 41)
    assert "i2 missing" in reason


def test_overall_one_missing_of_three_holds_instead_of_failing():
    # score 66.7 < marginal 75, but only because of missing data: with it the score could be 100
    verdict, value, reason = overall_verdict(outcomes(("pass",), ("pass",), ("nodata",)))
    assert verdict == "inconclusive"
    assert value == pytest.approx(200 / 3)
    assert "could be up to 100" in reason


def test_overall_failures_with_data_fail_even_when_something_is_missing():
    # two of five fail with data: even if the missing one passed, 60 < 75
    verdict, _value, _reason = overall_verdict(outcomes(("pass",), ("pass",), ("fail",), ("fail",), ("nodata",)))
    assert verdict == "fail"


def test_overall_missing_data_never_lifts_a_marginal_score_to_pass():
    # 18 of 20 pass (90: marginal), one fails, one missing: best case 95 would pass, but missing data never does
    verdict, value, _reason = overall_verdict(outcomes(*[("pass",)] * 18, ("fail",), ("nodata",)))
    assert (verdict, value) == ("inconclusive", 90.0)


@pytest.mark.parametrize("missing", ["inconclusive", "nodata"])
def test_overall_half_without_data_is_inconclusive(missing):
    verdict, value, reason = overall_verdict(outcomes(("pass",), ("pass",), (missing,), (missing,)))
    assert (verdict, value) == ("inconclusive", 0.0)
    assert "2 of 4 indicators have no data" in reason


def test_overall_half_rule_counts_indicators_not_weights():
    # one heavy passing indicator does not make up for the missing ones
    verdict, value, _reason = overall_verdict(outcomes(("pass", 100.0), ("inconclusive", 1.0)))
    assert (verdict, value) == ("inconclusive", 0.0)


def test_overall_marginal_band():
    # 3 of 4 with data; score 80 -> between marginal 75 and pass 95
    verdict, value, reason = overall_verdict(outcomes(("pass", 4.0), ("fail", 1.0)))
    assert (verdict, value) == ("inconclusive", 80.0)
    assert reason.startswith("marginal")
    assert overall_verdict(outcomes(("pass", 7.0), ("fail", 3.0)))[0] == "fail"  # 70
    assert overall_verdict(outcomes(("pass", 24.0), ("fail", 1.0)))[0] == "pass"  # 96


def test_overall_thresholds_are_inclusive():
    assert overall_verdict(outcomes(("pass", 19.0), ("fail", 1.0)))[:2] == ("pass", 95.0)
    assert overall_verdict(outcomes(("pass", 3.0), ("fail", 1.0)))[:2] == ("inconclusive", 75.0)
    assert overall_verdict(outcomes(("pass", 3.0), ("fail", 1.0)), pass_score=70, marginal_score=50)[0] == "pass"


def test_overall_fail_reason_names_failing_indicators():
    verdict, _value, reason = overall_verdict(outcomes(("pass",), ("fail",), ("fail",)))
    assert verdict == "fail"
    assert "i1, i2" in reason


def test_overall_no_indicators():
    assert overall_verdict([])[:2] == ("inconclusive", 0.0)
    assert overall_verdict(outcomes(("pass", 0.0)))[:2] == ("inconclusive", 0.0)


def test_invalid_outcomes():
    with pytest.raises(ValueError):
        IndicatorOutcome("x", "maybe")
    with pytest.raises(ValueError):
        IndicatorOutcome("x", "pass", weight=-1)
    with pytest.raises(ValueError):
        overall_verdict(outcomes(("pass",)), pass_score=50, marginal_score=60)
