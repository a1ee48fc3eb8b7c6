# -*- coding: utf-8 -*-
# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

import math
import traceback
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from functools import lru_cache
from statistics import NormalDist
from typing import TYPE_CHECKING, Any

from ansible_collections.progressive.delivery.plugins.module_utils._deps import SCIPY

# Pure-logic statistics for the SLO gate (``progressive.delivery.slo_check``).
#
# Nothing here talks to the network or to Ansible; it only turns numbers into verdicts.
#
# * :func:`threshold_verdict` checks one value against absolute bounds and against a baseline value.
# * :func:`mann_whitney_classify` compares a canary sample with a baseline sample the way Kayenta's
#   ``NetflixACAJudge`` / ``MannWhitneyClassifier`` do (spinnaker/kayenta, ``kayenta-judge``).
# * :func:`score` and :func:`overall_verdict` fold the per-indicator verdicts into one gate verdict.
# * :func:`sequential_rate_test` accumulates error counts over a rollout's steps in an anytime-valid sequential
#   test (Lindon & Malek 2022), pure Python.
#
# Only the Mann-Whitney path needs scipy (and numpy, which scipy brings): both are imported lazily, on that path
# only, so that this file imports on a bare Python (ansible-test sanity imports module_utils without third-party
# packages) and slo_check without a Mann-Whitney indicator does not pay about 0.1 s per task for importing them.
# Whether scipy is usable is checked in one place, ``_deps.SCIPY`` (modules call ``_deps.require(SCIPY, ...)``).

PASS = "pass"
FAIL = "fail"
NODATA = "nodata"
INCONCLUSIVE = "inconclusive"

# Kayenta's metric classification labels.
CLASS_PASS = "Pass"
CLASS_HIGH = "High"
CLASS_LOW = "Low"
CLASS_NODATA = "Nodata"

DIRECTIONS = ("increase", "decrease", "either")

#: Tukey fence factor used by Kayenta's NetflixACAJudge (``IQRDetector(factor = 3.0, ...)``).
OUTLIER_IQR_FACTOR = 3.0


class MissingScipyError(ImportError):
    """scipy (needed for the Mann-Whitney U test) cannot be imported.

    ``import_error`` says what is wrong (``_deps.SCIPY.problem()``, or the traceback of the failed import).
    """

    def __init__(self, import_error: str | None = None) -> None:
        super().__init__("the Mann-Whitney U test needs the Python library scipy")
        self.import_error = import_error


# --------------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------------
def _fmt(value: float | None, digits: int = 6) -> str:
    """Format a number for a human-readable reason (``0.052``, ``inf``, ``n/a``)."""
    if value is None:
        return "n/a"
    return f"{value:.{digits}g}"


def _to_float(value: Any) -> float | None:
    """Convert to float; ``None`` and NaN mean "no data" and become ``None``."""
    if value is None:
        return None
    number = float(value)
    return None if math.isnan(number) else number


def _finite(samples: Iterable[Any]) -> list[float]:
    """Keep the finite values of ``samples`` as floats (drops ``None``, NaN and +/-inf), order preserved."""
    values = []
    for sample in samples:
        number = _to_float(sample)
        if number is not None and math.isfinite(number):
            values.append(number)
    return values


def _mean(values: Sequence[float]) -> float:
    return math.fsum(values) / len(values)


def _ratio(numerator: float, denominator: float) -> float:
    """numerator / denominator, with 0/0 = 1 and x/0 = +/-inf (sign of x)."""
    if denominator == 0:
        return 1.0 if numerator == 0 else math.copysign(math.inf, numerator)
    return numerator / denominator


def _median_sorted(values: Sequence[float]) -> float:
    middle = len(values) // 2
    if len(values) % 2:
        return values[middle]
    return (values[middle - 1] + values[middle]) / 2.0


# --------------------------------------------------------------------------------------------------
# 1. Absolute bounds and baseline comparison
# --------------------------------------------------------------------------------------------------
def _bound_failures(value: float, min_: float | None, max_: float | None) -> list[str]:
    failures = []
    if min_ is not None and value < min_:
        failures.append(f"value {_fmt(value)} < min {_fmt(min_)}")
    if max_ is not None and value > max_:
        failures.append(f"value {_fmt(value)} > max {_fmt(max_)}")
    return failures


def _baseline_failures(value: float, baseline: float, max_increase: float | None,
                       max_ratio: float | None) -> list[str]:
    failures = []
    if max_increase is not None and value - baseline > max_increase:
        failures.append(f"value {_fmt(value)} is {_fmt(value - baseline)} above baseline {_fmt(baseline)}"
                        f" > max_increase {_fmt(max_increase)}")
    if max_ratio is not None:
        ratio = _ratio(value, baseline)
        if ratio > max_ratio:
            failures.append(f"value {_fmt(value)} / baseline {_fmt(baseline)} = ratio {_fmt(ratio, 4)}"
                            f" > max_ratio {_fmt(max_ratio)}")
    return failures


def _checks_described(value: float, min_: float | None, max_: float | None, baseline: float | None,
                      max_increase: float | None, max_ratio: float | None) -> str:
    parts = []
    if min_ is not None:
        parts.append(f">= min {_fmt(min_)}")
    if max_ is not None:
        parts.append(f"<= max {_fmt(max_)}")
    if baseline is not None and max_increase is not None:
        parts.append(f"at most {_fmt(max_increase)} above baseline {_fmt(baseline)}")
    if baseline is not None and max_ratio is not None:
        parts.append(f"ratio {_fmt(_ratio(value, baseline), 4)} to baseline <= max_ratio {_fmt(max_ratio)}")
    if not parts:
        return f"value {_fmt(value)} (no bounds configured)"
    return f"value {_fmt(value)} is " + ", ".join(parts)


def threshold_verdict(value: Any, min_: float | None = None, max_: float | None = None,
                      baseline: Any = None, max_increase: float | None = None,
                      max_ratio: float | None = None) -> tuple[str, str]:
    """Judge one value against absolute bounds and against a baseline value.

    Returns ``(verdict, reason)`` with verdict ``"pass"``, ``"fail"`` or ``"nodata"``.

    * ``value`` ``None`` or NaN -> ``"nodata"`` (the caller decides what no data means).
    * ``min_`` / ``max_``: fail when ``value < min_`` / ``value > max_`` (the bounds themselves pass).
    * ``max_increase``: fail when ``value - baseline > max_increase``.
    * ``max_ratio``: fail when ``value / baseline > max_ratio``; with baseline 0 the ratio is 1 when the value
      is 0 as well, otherwise infinite (so a positive value against a zero baseline fails).
    * A failed absolute bound fails even without a baseline. When only the baseline comparison is left and the
      baseline is ``None``/NaN the verdict is ``"nodata"``.

    All failed checks are listed in the reason, e.g. ``"value 0.052 > max 0.01"``.
    """
    number = _to_float(value)
    if number is None:
        return NODATA, "no data: the value is missing or NaN"
    min_f, max_f = _to_float(min_), _to_float(max_)
    max_increase_f, max_ratio_f = _to_float(max_increase), _to_float(max_ratio)
    failures = _bound_failures(number, min_f, max_f)
    needs_baseline = max_increase_f is not None or max_ratio_f is not None
    base = _to_float(baseline)
    if needs_baseline and base is not None:
        failures += _baseline_failures(number, base, max_increase_f, max_ratio_f)
    if failures:
        return FAIL, "; ".join(failures)
    if needs_baseline and base is None:
        return NODATA, f"no baseline data to compare value {_fmt(number)} with"
    return PASS, _checks_described(number, min_f, max_f, base, max_increase_f, max_ratio_f)


# --------------------------------------------------------------------------------------------------
# 2. Hodges-Lehmann estimator
# --------------------------------------------------------------------------------------------------
def _sorted_differences(x: Sequence[float], y: Sequence[float]) -> list[float]:
    """All pairwise differences ``x_i - y_j``, sorted ascending."""
    return sorted(xi - yj for xi in x for yj in y)


def hodges_lehmann(x: Sequence[float], y: Sequence[float]) -> float:
    """Two-sample Hodges-Lehmann estimate of the shift of ``x`` relative to ``y``.

    The median of all ``len(x) * len(y)`` pairwise differences ``x_i - y_j`` (pure Python, O(nm log nm):
    fine for a few hundred samples on each side). Raises ``ValueError`` if either sample is empty.
    """
    if not x or not y:
        raise ValueError("hodges_lehmann needs at least one value in each sample")
    return _median_sorted(_sorted_differences([float(v) for v in x], [float(v) for v in y]))


# --------------------------------------------------------------------------------------------------
# 3. Outlier removal (Kayenta IQRDetector)
# --------------------------------------------------------------------------------------------------
def _outlier_fences(values: Sequence[float], factor: float, reduce_sensitivity: bool) -> tuple[float, float]:
    """Tukey's fences, with the percentiles of Apache commons-math ``StatUtils.percentile`` (Kayenta uses that):
    Hyndman-Fan type 6, which is numpy's ``method="weibull"`` (clamped to the minimum / maximum)."""
    import numpy  # pylint: disable=import-outside-toplevel

    p1, q1, q3, p99 = (float(value) for value in numpy.percentile(values, [1, 25, 75, 99], method="weibull"))
    iqr = q3 - q1
    lower, upper = q1 - factor * iqr, q3 + factor * iqr
    if reduce_sensitivity:
        lower = min(lower, p1)
        upper = max(upper, p99)
    return lower, upper


def remove_outliers(samples: Iterable[Any], factor: float = OUTLIER_IQR_FACTOR,
                    reduce_sensitivity: bool = False) -> list[float]:
    """Drop missing values and outliers from ``samples`` (order preserved).

    ``None``, NaN and +/-inf are dropped first. Then the IQR rule (Tukey's fences) with ``factor`` 3.0, as in
    Kayenta's ``IQRDetector(factor = 3.0)``: values outside ``[Q1 - 3*IQR, Q3 + 3*IQR]`` are outliers, with the
    quartiles computed like commons-math ``StatUtils.percentile``.

    ``reduce_sensitivity=True`` is Kayenta's ``reduceSensitivity``: the fences are widened to at least the 1st and
    99th percentiles, so at most about 1% on each side is ever removed (and nothing from fewer than 100 values).
    This keeps rare but real spikes (e.g. a few error bursts in a mostly-zero series, where IQR = 0) in the data.
    """
    if factor <= 0:
        raise ValueError("factor must be greater than zero")
    values = _finite(samples)
    if not values:
        return []
    lower, upper = _outlier_fences(values, factor, reduce_sensitivity)
    return [value for value in values if lower <= value <= upper]


# --------------------------------------------------------------------------------------------------
# 4. Mann-Whitney classification (Kayenta MannWhitneyClassifier)
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MannWhitneyResult:
    """Outcome of :func:`mann_whitney_classify`.

    ``verdict`` is ``"pass"``/``"fail"``/``"nodata"``; ``classification`` is Kayenta's label
    (``"Pass"``, ``"High"``, ``"Low"``, ``"Nodata"``). A High/Low that the direction or the effect-size gate
    allows is classified ``"Pass"`` (as Kayenta does), the reason still says what was seen.
    ``hodges_lehmann`` is the shift of the canary relative to the baseline, ``ci_lower``/``ci_upper`` the
    confidence interval of that shift, ``ratio`` is mean(canary) / mean(baseline). Counts are after removing
    missing values and outliers; ``removed_outliers`` counts outliers over both samples.
    """

    verdict: str
    classification: str
    reason: str
    p_value: float | None = None
    hodges_lehmann: float | None = None
    ci_lower: float | None = None
    ci_upper: float | None = None
    ratio: float | None = None
    experiment_count: int = 0
    control_count: int = 0
    removed_outliers: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _load_mannwhitneyu() -> Callable[..., Any]:
    """Import ``scipy.stats.mannwhitneyu`` lazily; raise :class:`MissingScipyError` when scipy is missing."""
    problem = SCIPY.problem()
    if problem is not None:
        raise MissingScipyError(problem)
    try:
        from scipy.stats import mannwhitneyu  # pylint: disable=import-outside-toplevel
    except ImportError as exc:
        raise MissingScipyError(traceback.format_exc()) from exc
    return mannwhitneyu


def _validate_classify_args(confidence: float, direction: str, tolerance: float,
                            effect_size_max_ratio: float | None) -> None:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1 (exclusive), got {confidence}")
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {', '.join(DIRECTIONS)}, got {direction!r}")
    if tolerance < 0:
        raise ValueError(f"tolerance must not be negative, got {tolerance}")
    if effect_size_max_ratio is not None and not effect_size_max_ratio > 0:
        raise ValueError(f"effect_size_max_ratio must be greater than zero, got {effect_size_max_ratio}")


def _prepare(samples: Iterable[Any], outliers: bool) -> tuple[list[float], int]:
    """Finite values of ``samples`` (outliers removed when ``outliers``) and the number of outliers removed."""
    values = _finite(samples)
    if not outliers:
        return values, 0
    kept = remove_outliers(values, OUTLIER_IQR_FACTOR, reduce_sensitivity=True)
    return kept, len(values) - len(kept)


def _tie_term(values: Iterable[float]) -> float:
    return float(sum(t ** 3 - t for t in Counter(values).values()))


def _wilcoxon_z(count_above: int, total: int, sigma: float) -> float:
    """Continuity-corrected normal statistic of W = count_above (R's wilcox.test, correct = TRUE)."""
    dz = count_above - total / 2.0
    correction = 0.5 if dz > 0 else (-0.5 if dz < 0 else 0.0)
    return (dz - correction) / sigma


def _ci_bound(diffs: Sequence[float], sigma: float, quantile: float) -> float:
    """Root of ``z(mu) - quantile`` over the sorted differences (Kayenta ``findRoot``, solved exactly).

    For ``mu`` between ``d_k`` and ``d_k+1`` the Wilcoxon statistic of ``experiment - mu`` vs ``control`` is
    ``W = N - k`` (differences above ``mu``), so ``z(mu) - quantile`` is a decreasing step function of ``k``.
    Its root is the ``d_k`` with the smallest ``k`` where it is ``<= 0``; clamped to ``[d_1, d_N]``.
    """
    total = len(diffs)

    def above(k: int) -> bool:
        return _wilcoxon_z(total - k, total, sigma) - quantile > 0

    if not above(0):
        return diffs[0]
    if above(total):
        return diffs[-1]
    low, high = 1, total
    while low < high:
        middle = (low + high) // 2
        if above(middle):
            low = middle + 1
        else:
            high = middle
    return diffs[low - 1]


def _shift_confidence_interval(experiment: Sequence[float], control: Sequence[float], diffs: Sequence[float],
                               confidence: float) -> tuple[float, float]:
    """Asymptotic confidence interval of the shift, as Kayenta's ``MannWhitney.calculateConfidenceInterval``.

    That code ports R's ``wilcox.test(conf.int = TRUE, exact = FALSE, correct = TRUE)``: the interval is where
    the continuity-corrected, tie-corrected normal statistic of ``experiment - mu`` vs ``control`` lies within
    ``+/- z(1 - alpha/2)``. Ties inside each sample enter sigma; ties across the samples only happen at single
    points ``mu = d_k``, which do not move the roots.
    """
    n, m = len(experiment), len(control)
    ties = _tie_term(experiment) + _tie_term(control)
    sigma = math.sqrt(n * m / 12.0 * ((n + m + 1) - ties / ((n + m) * (n + m - 1))))
    z = NormalDist().inv_cdf(1 - (1 - confidence) / 2)
    return _ci_bound(diffs, sigma, z), _ci_bound(diffs, sigma, -z)


def _effect_allows(label: str, ratio: float, effect_size_max_ratio: float | None) -> bool:
    """True when the effect-size gate lets a High/Low pass (the change is too small to matter)."""
    if effect_size_max_ratio is None:
        return False
    if label == CLASS_HIGH:
        return not ratio > effect_size_max_ratio
    return not ratio < 1.0 / effect_size_max_ratio


def _effect_text(label: str, ratio: float, effect_size_max_ratio: float | None) -> str:
    if effect_size_max_ratio is None:
        return f"ratio {_fmt(ratio, 4)}"
    if label == CLASS_HIGH:
        relation = "<=" if _effect_allows(label, ratio, effect_size_max_ratio) else ">"
        return f"ratio {_fmt(ratio, 4)} {relation} max_ratio {_fmt(effect_size_max_ratio)}"
    relation = ">=" if _effect_allows(label, ratio, effect_size_max_ratio) else "<"
    return f"ratio {_fmt(ratio, 4)} {relation} 1/max_ratio {_fmt(1.0 / effect_size_max_ratio, 4)}"


def _judge_detection(label: str, evidence: str, ratio: float, direction: str,
                     effect_size_max_ratio: float | None) -> tuple[str, str, str]:
    """Apply the direction and the effect-size gate to a High/Low detection: (verdict, classification, reason)."""
    word = "higher" if label == CLASS_HIGH else "lower"
    seen = f"canary is {word} than baseline: {evidence}, {_effect_text(label, ratio, effect_size_max_ratio)}"
    failing_direction = "increase" if label == CLASS_HIGH else "decrease"
    if direction not in (failing_direction, "either"):
        return PASS, CLASS_PASS, f"{seen}; allowed because direction is {direction!r}"
    if _effect_allows(label, ratio, effect_size_max_ratio):
        return PASS, CLASS_PASS, f"{seen}; allowed because the effect size is within max_ratio"
    return FAIL, label, seen


def _detect_shift(lower: float, upper: float, estimate: float, tolerance: float) -> str | None:
    """Kayenta's ``calculateBounds`` rule: High/Low when the interval clears ``+/- tolerance * |estimate|``."""
    band = tolerance * abs(estimate)
    if lower > band:
        return CLASS_HIGH
    if upper < -band:
        return CLASS_LOW
    return None


def _classify_constant(experiment_value: float, control_value: float, ratio: float, direction: str,
                       effect_size_max_ratio: float | None) -> tuple[str, str, str]:
    """Both samples constant but different: no rank test possible, compare the two values directly."""
    label = CLASS_HIGH if experiment_value > control_value else CLASS_LOW
    evidence = (f"both samples are constant, canary {_fmt(experiment_value)} vs baseline {_fmt(control_value)},"
                f" shift {_fmt(experiment_value - control_value)}")
    return _judge_detection(label, evidence, ratio, direction, effect_size_max_ratio)


def _classify_ranked(experiment: list[float], control: list[float], confidence: float, tolerance: float,
                     mannwhitneyu: Callable[..., Any]) -> tuple[dict[str, float], str | None, str]:
    """Run the test; return the statistics, the detected label (or None) and the evidence text."""
    p_value = float(mannwhitneyu(experiment, control, alternative="two-sided").pvalue)
    diffs = _sorted_differences(experiment, control)
    estimate = _median_sorted(diffs)
    lower, upper = _shift_confidence_interval(experiment, control, diffs, confidence)
    stats = {"p_value": p_value, "hodges_lehmann": estimate, "ci_lower": lower, "ci_upper": upper}
    alpha = 1 - confidence
    band = tolerance * abs(estimate)
    interval = f"{confidence:.0%} CI [{_fmt(lower)}, {_fmt(upper)}]"
    if p_value >= alpha:
        return stats, None, (f"no significant difference between canary and baseline: p={_fmt(p_value, 3)}"
                             f" >= {_fmt(alpha, 3)}, Hodges-Lehmann shift {_fmt(estimate)}")
    label = _detect_shift(lower, upper, estimate, tolerance)
    evidence = (f"p={_fmt(p_value, 3)} < {_fmt(alpha, 3)}, Hodges-Lehmann shift {_fmt(estimate)}"
                f" ({interval}, tolerance band +/-{_fmt(band)})")
    if label is None:
        evidence = f"difference is significant but not clear of the tolerance band: {evidence}"
    return stats, label, evidence


def mann_whitney_classify(experiment: Iterable[Any], control: Iterable[Any], confidence: float = 0.98,
                          direction: str = "increase", tolerance: float = 0.25,
                          effect_size_max_ratio: float | None = None, outliers: bool = True) -> MannWhitneyResult:
    """Classify a canary (``experiment``) sample against a baseline (``control``) sample like Kayenta.

    Follows ``MannWhitneyClassifier.scala`` as used by ``NetflixACAJudge.scala`` (spinnaker/kayenta, kayenta-judge):

    1. Drop ``None``/NaN/inf; with ``outliers`` also drop outliers with Kayenta's
       ``IQRDetector(factor = 3.0, reduceSensitivity = true)`` (see :func:`remove_outliers`).
    2. Either sample empty -> ``nodata`` (classification ``Nodata``).
    3. Same values in both samples (as sorted multisets), or every value equal -> ``pass``.
    4. Both samples constant but different (Kayenta adds tiny noise and tests; here the two values are compared
       directly) -> High if canary > baseline, else Low, then step 7.
    5. Mann-Whitney U test, two-sided: ``p = scipy.stats.mannwhitneyu(experiment, control).pvalue``.
       ``p >= 1 - confidence`` -> pass (no significant difference). [Kayenta only looks at the interval below;
       this p-value gate agrees with it except at the edge, where it can only turn High/Low into Pass.]
    6. ``estimate`` = Hodges-Lehmann shift HL(experiment, control), ``[lower, upper]`` = its ``confidence``
       interval (asymptotic Wilcoxon inversion, as Kayenta's ``MannWhitney.calculateConfidenceInterval``).
       Kayenta's ``calculateBounds``: ``band = tolerance * |estimate|``;
       **High** if ``lower > band``, **Low** if ``upper < -band``, else Pass.
    7. ``direction``: "increase" fails only on High, "decrease" only on Low, "either" on both. Effect size
       (Kayenta ``effectSize.allowedIncrease``/``allowedDecrease`` on the mean ratio): with
       ``effect_size_max_ratio`` a High only fails if ``ratio > effect_size_max_ratio`` and a Low only if
       ``ratio < 1 / effect_size_max_ratio``, where ``ratio = mean(experiment) / mean(control)`` (0/0 = 1,
       x/0 = inf; Kayenta uses 1.0 for any zero control mean).

    Limit (Kayenta's too): when most values are equal, e.g. a canary error rate that is 0 in 2/3 of the
    samples against an all-zero baseline, the Hodges-Lehmann shift is 0 and the result is Pass even though
    p is tiny. Judge such indicators with :func:`threshold_verdict` as well.

    Raises :class:`MissingScipyError` when scipy cannot be imported (checked first, whatever the data).
    """
    _validate_classify_args(confidence, direction, tolerance, effect_size_max_ratio)
    mannwhitneyu = _load_mannwhitneyu()
    exp, exp_removed = _prepare(experiment, outliers)
    ctl, ctl_removed = _prepare(control, outliers)
    counts = {"experiment_count": len(exp), "control_count": len(ctl),
              "removed_outliers": exp_removed + ctl_removed}
    if not exp or not ctl:
        missing = "canary" if not exp else "baseline"
        return MannWhitneyResult(NODATA, CLASS_NODATA, f"no data for the {missing} after removing missing values"
                                 + (" and outliers" if outliers else ""), **counts)
    ratio = _ratio(_mean(exp), _mean(ctl))
    identical = sorted(exp) == sorted(ctl)
    if identical or len(set(exp) | set(ctl)) == 1:
        reason = "canary and baseline data are identical" if identical else \
            f"all canary and baseline values are equal ({_fmt(exp[0])})"
        return MannWhitneyResult(PASS, CLASS_PASS, reason, hodges_lehmann=0.0, ratio=ratio, **counts)
    if len(set(exp)) == 1 and len(set(ctl)) == 1:
        verdict, label, reason = _classify_constant(exp[0], ctl[0], ratio, direction, effect_size_max_ratio)
        return MannWhitneyResult(verdict, label, reason, hodges_lehmann=exp[0] - ctl[0], ratio=ratio, **counts)
    stats, detected, evidence = _classify_ranked(exp, ctl, confidence, tolerance, mannwhitneyu)
    if detected is None:
        return MannWhitneyResult(PASS, CLASS_PASS, evidence, ratio=ratio, **stats, **counts)
    verdict, label, reason = _judge_detection(detected, evidence, ratio, direction, effect_size_max_ratio)
    return MannWhitneyResult(verdict, label, reason, ratio=ratio, **stats, **counts)


# --------------------------------------------------------------------------------------------------
# 5. Scoring
# --------------------------------------------------------------------------------------------------
_OUTCOME_VERDICTS = (PASS, FAIL, INCONCLUSIVE, NODATA)


@dataclass(frozen=True)
class IndicatorOutcome:
    """Verdict of one indicator, as fed to :func:`score` / :func:`overall_verdict`.

    ``verdict`` is ``"pass"``, ``"fail"`` or ``"inconclusive"`` (``"nodata"`` is accepted and counts like
    ``"inconclusive"``). ``weight`` >= 0; a ``critical`` indicator that fails fails the whole gate.
    """

    name: str
    verdict: str
    weight: float = 1.0
    critical: bool = False

    def __post_init__(self) -> None:
        if self.verdict not in _OUTCOME_VERDICTS:
            raise ValueError(f"indicator {self.name!r}: verdict must be one of {', '.join(_OUTCOME_VERDICTS)},"
                             f" got {self.verdict!r}")
        if not (math.isfinite(self.weight) and self.weight >= 0):
            raise ValueError(f"indicator {self.name!r}: weight must be a finite number >= 0, got {self.weight!r}")

    @property
    def has_data(self) -> bool:
        return self.verdict in (PASS, FAIL)


def _as_outcome(item: IndicatorOutcome | tuple[str, float], index: int) -> IndicatorOutcome:
    if isinstance(item, IndicatorOutcome):
        return item
    verdict, weight = item
    return IndicatorOutcome(name=f"#{index}", verdict=verdict, weight=float(weight))


def _as_outcomes(results: Iterable[IndicatorOutcome | tuple[str, float]]) -> list[IndicatorOutcome]:
    return [_as_outcome(item, index) for index, item in enumerate(results)]


def score(results: Iterable[IndicatorOutcome | tuple[str, float]]) -> float:
    """Weighted score in percent: ``100 * sum(weight of passing) / sum(weight of all indicators)``.

    ``results`` are :class:`IndicatorOutcome` objects or ``(verdict, weight)`` pairs. Only ``"pass"`` earns
    its weight; ``"fail"``, ``"inconclusive"`` and ``"nodata"`` all count in the denominator as not passing
    (unlike Kayenta, which leaves Nodata metrics out of the group score: here missing data can never raise a
    score). No indicators, or a total weight of 0, gives 0.0.
    """
    outcomes = _as_outcomes(results)
    total = math.fsum(outcome.weight for outcome in outcomes)
    if total <= 0:
        return 0.0
    passed = math.fsum(outcome.weight for outcome in outcomes if outcome.verdict == PASS)
    return 100.0 * passed / total


def _names(outcomes: Iterable[IndicatorOutcome]) -> str:
    return ", ".join(outcome.name for outcome in outcomes)


def overall_verdict(results: Iterable[IndicatorOutcome | tuple[str, float]], pass_score: float = 95,
                    marginal_score: float = 75) -> tuple[str, float, str]:
    """Fold indicator outcomes into ``(verdict, score, reason)``, verdict ``"pass"``/``"fail"``/``"inconclusive"``.

    In this order:

    1. no indicators, or total weight 0 -> inconclusive, score 0;
    2. any critical indicator with verdict ``"fail"`` -> fail, score 0 (Kayenta zeroes the score on a critical
       failure; a critical indicator without data is not a failure here, it counts as no data and holds the
       verdict at inconclusive);
    3. half or more of the indicators (by count) without data (``"inconclusive"``/``"nodata"``) -> inconclusive,
       score 0: a gate must never pass on missing data; nor does it pass while a critical indicator has no data;
    4. score >= ``pass_score`` -> pass; score < ``marginal_score`` even if every indicator without data had
       passed -> fail; some indicators without data -> inconclusive (missing data holds a rollout, it neither
       passes nor fails it); otherwise inconclusive (marginal), like Kayenta's ThresholdScoreClassifier.
    """
    if marginal_score > pass_score:
        raise ValueError(f"marginal_score ({marginal_score}) must not be greater than pass_score ({pass_score})")
    outcomes = _as_outcomes(results)
    if not outcomes or math.fsum(outcome.weight for outcome in outcomes) <= 0:
        return INCONCLUSIVE, 0.0, "no indicators with a weight above 0 to judge"
    critical = [outcome for outcome in outcomes if outcome.critical and outcome.verdict == FAIL]
    if critical:
        return FAIL, 0.0, f"critical indicator failed: {_names(critical)}"
    nodata = [outcome for outcome in outcomes if not outcome.has_data]
    if 2 * len(nodata) >= len(outcomes):
        return INCONCLUSIVE, 0.0, (f"{len(nodata)} of {len(outcomes)} indicators have no data"
                                   f" ({_names(nodata)}); not enough data to judge")
    value = score(outcomes)
    # what the score would be if every indicator without data had passed: missing data may hold a rollout
    # (inconclusive) but never fails it on its own, and never passes it
    best = score([outcome if outcome.has_data else IndicatorOutcome(outcome.name, PASS, outcome.weight)
                  for outcome in outcomes])
    failed = [outcome for outcome in outcomes if outcome.verdict != PASS]
    detail = f"; not passing: {_names(failed)}" if failed else ""
    critical_missing = [outcome for outcome in outcomes if outcome.critical and not outcome.has_data]
    if value >= pass_score and not critical_missing:
        return PASS, value, f"score {_fmt(value, 4)} >= pass_score {_fmt(pass_score)}{detail}"
    if best < marginal_score:
        return FAIL, value, f"score {_fmt(value, 4)} < marginal_score {_fmt(marginal_score)}{detail}"
    if nodata:
        return INCONCLUSIVE, value, (f"score {_fmt(value, 4)} with {_names(nodata)} missing; it could be up to"
                                     f" {_fmt(best, 4)} with their data, not enough evidence to pass or fail"
                                     f"{detail}")
    return INCONCLUSIVE, value, (f"marginal: score {_fmt(value, 4)} is between marginal_score"
                                 f" {_fmt(marginal_score)} and pass_score {_fmt(pass_score)}{detail}")


# --------------------------------------------------------------------------------------------------
# 6. Anytime-valid sequential test of an error-rate ratio (counts accumulated over a rollout)
# --------------------------------------------------------------------------------------------------
# Method: Lindon & Malek, "Anytime-Valid Inference for Multinomial Count Data" (NeurIPS 2022, arXiv:2011.03567),
# as used for canaries at Netflix (Lindon, Sanden & Shirikian, "Rapid Regression Detection in Software Deployments
# through Sequential Testing", KDD 2022, arXiv:2205.14762). Errors of the canary and of the baseline are two Poisson
# processes; given that an error happened, it is a canary error with probability
# ``p = r*u / (r*u + v)``, where ``u``/``v`` are the canary/baseline requests and ``r`` the ratio of their error
# rates. The unknown baseline error rate cancels out (it may drift over time), leaving a one-parameter test on ``r``.

CONTINUE = "continue"

#: Default concentration of the mixing prior of :func:`sequential_rate_test` (Beta(5, 5) on the canary share).
SEQUENTIAL_PRIOR_STRENGTH = 10.0
#: Number of points of the (normalised, hence always valid) discrete mixing distribution.
_MIXTURE_POINTS = 64
#: Search range of :attr:`SequentialResult.ratio_upper`; beyond it the bound is reported as infinite.
_RATIO_BOUND_LIMIT = 1e6

if TYPE_CHECKING:  # runtime subscripting of ``tuple`` needs Python 3.9; module_utils must import on 3.8
    #: Cumulative counts at one look: (canary_errors, canary_total, baseline_errors, baseline_total).
    Look = tuple[float, float, float, float]
_LOOK_FIELDS = ("canary_errors", "canary_total", "baseline_errors", "baseline_total")


@dataclass(frozen=True)
class SequentialResult:
    """Outcome of :func:`sequential_rate_test`.

    ``verdict``: ``"fail"`` (the canary's error rate is above ``max_ratio`` x the baseline's, at level ``alpha``,
    whenever and however often the test was looked at), ``"continue"`` (no evidence yet, keep rolling out),
    ``"pass"`` (only with ``final=True``: the rollout ended without evidence of a regression) or ``"nodata"``
    (no canary or no baseline requests yet).

    ``e_value`` is the mixture likelihood ratio at this look, ``max_e_value`` its running maximum over all looks in
    ``looks``, ``p_value = min(1, 1 / max_e_value)`` the anytime-valid p-value (non-increasing over looks).
    ``ratio`` is the observed ratio of error rates (canary / baseline, cumulative); ``ratio_upper`` (only with
    ``final=True`` and no failure) an anytime-valid ``1 - alpha`` upper confidence bound of the true ratio, which
    says how large a regression a "pass" can still hide (``inf`` when there were too few errors to bound it).
    ``looks`` holds the cumulative counts of every look so far: pass it as ``history`` to the next look.
    """

    verdict: str
    reason: str
    e_value: float = 1.0
    max_e_value: float = 1.0
    p_value: float = 1.0
    ratio: float | None = None
    ratio_upper: float | None = None
    looks: tuple[Look, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _logsumexp(values: Sequence[float]) -> float:
    top = max(values)
    if top == -math.inf:
        return top
    return top + math.log(math.fsum(math.exp(value - top) for value in values))


def _exp(log_value: float) -> float:
    """``exp`` that saturates at ``inf`` instead of raising OverflowError."""
    return math.inf if log_value > 700 else math.exp(log_value)


@lru_cache(maxsize=16)
def _mixture(prior_strength: float) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Support and log-weights of the mixing distribution over the excess ratio ``k = r / max_ratio > 1``.

    ``k`` enters through the canary's share of the errors at equal traffic, ``s = k / (1 + k)``; ``s`` gets a
    Beta(a, a) prior with ``a = prior_strength / 2`` truncated to the alternative ``s > 1/2`` (Lindon & Malek's
    conjugate Beta/Dirichlet mixture, restricted to the one-sided alternative), discretised at the midpoints of
    ``_MIXTURE_POINTS`` equal cells of ``(1/2, 1)``. The weights are normalised to sum to 1, so the mixture is a
    valid e-process whatever the discretisation error.
    """
    half = prior_strength / 2.0
    shares = [0.5 + (index + 0.5) / (2.0 * _MIXTURE_POINTS) for index in range(_MIXTURE_POINTS)]
    log_density = [(half - 1.0) * math.log(share * (1.0 - share)) for share in shares]
    norm = _logsumexp(log_density)
    return (tuple(math.log(share / (1.0 - share)) for share in shares),
            tuple(value - norm for value in log_density))


def _validate_sequential_args(alpha: float, max_ratio: float, prior_strength: float,
                              effect_size_max_ratio: float | None) -> None:
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be between 0 and 1 (exclusive), got {alpha}")
    if not (math.isfinite(max_ratio) and max_ratio > 0):
        raise ValueError(f"max_ratio must be a finite number greater than zero, got {max_ratio}")
    if not (math.isfinite(prior_strength) and prior_strength > 0):
        raise ValueError(f"prior_strength must be a finite number greater than zero, got {prior_strength}")
    gate = effect_size_max_ratio
    if gate is not None and not (math.isfinite(gate) and gate > 0):
        raise ValueError(f"effect_size_max_ratio must be a finite number greater than zero, got {gate}")


def _as_look(values: Sequence[Any], where: str) -> Look:
    """Validate one look's cumulative counts; ``where`` prefixes error messages (e.g. ``"history[2]: "``)."""
    if len(values) != 4:
        raise ValueError(f"{where}expected 4 counts ({', '.join(_LOOK_FIELDS)}), got {len(values)}")
    numbers = []
    for field, value in zip(_LOOK_FIELDS, values):  # noqa: B905 (lengths checked above; strict needs 3.10)
        number = _to_float(value)
        if number is None or not math.isfinite(number) or number < 0:
            raise ValueError(f"{where}{field} must be a finite number >= 0, got {value!r}")
        numbers.append(number)
    for side in (0, 2):
        if numbers[side] > numbers[side + 1]:
            raise ValueError(f"{where}{_LOOK_FIELDS[side]} ({_fmt(numbers[side])}) must not exceed"
                             f" {_LOOK_FIELDS[side + 1]} ({_fmt(numbers[side + 1])})")
    return numbers[0], numbers[1], numbers[2], numbers[3]


def _increments(looks: Sequence[Look]) -> list[Look]:
    """Counts between consecutive looks; cumulative counts must never decrease (no counter resets)."""
    batches, previous = [], (0.0, 0.0, 0.0, 0.0)
    for index, look in enumerate(looks):
        batch = (look[0] - previous[0], look[1] - previous[1], look[2] - previous[2], look[3] - previous[3])
        where = "history" if index < len(looks) - 1 else "current look"
        for field, delta in zip(_LOOK_FIELDS, batch):  # noqa: B905 (both have 4 items)
            if delta < 0:
                raise ValueError(f"{field} decreased at look {index + 1} ({where}): counts must be cumulative"
                                 " since the rollout started")
        for side in (0, 2):
            if batch[side] > 0 and batch[side + 1] == 0:
                raise ValueError(f"{_LOOK_FIELDS[side]} increased at look {index + 1} ({where}) without any"
                                 f" increase of {_LOOK_FIELDS[side + 1]}")
        batches.append(batch)
        previous = look
    return batches


def _batch_log_lr(batch: Look, max_ratio: float, log_ratios: Sequence[float]) -> list[float]:
    """Log likelihood ratio of one batch for every excess ratio ``k = exp(log_ratio)`` of the mixture.

    With ``x``/``y`` canary/baseline errors and ``u``/``v`` requests in the batch, ``x | x + y ~ Binomial(x + y, p)``
    and ``p(r) = r*u / (r*u + v)``; against the null boundary ``r = max_ratio`` the ratio simplifies to
    ``log LR(k) = x*log(k) + (x + y) * log((max_ratio*u + v) / (max_ratio*k*u + v))`` (0 if a side had no requests).
    """
    x, u, y, v = batch
    if x + y == 0 or u == 0 or v == 0:
        return [0.0] * len(log_ratios)
    base = max_ratio * u + v
    return [x * log_k + (x + y) * math.log(base / (max_ratio * math.exp(log_k) * u + v)) for log_k in log_ratios]


def _log_e_values(batches: Sequence[Look], max_ratio: float, prior_strength: float) -> list[float]:
    """Log mixture e-value after each batch: ``log sum_j w_j prod_batches LR_batch(k_j)``."""
    log_ratios, log_weights = _mixture(prior_strength)
    totals = list(log_weights)
    out = []
    for batch in batches:
        terms = _batch_log_lr(batch, max_ratio, log_ratios)
        totals = [totals[index] + terms[index] for index in range(len(totals))]
        out.append(_logsumexp(totals))
    return out


def _ratio_upper(batches: Sequence[Look], alpha: float, prior_strength: float) -> float:
    """Anytime-valid upper confidence bound of the error-rate ratio (canary / baseline).

    Inverts the mirrored test (roles swapped, so it rejects ``r >= bound``): the bound is the smallest ratio whose
    mirrored e-value reaches ``1 / alpha``. Bisection on the log scale; ``inf`` if not bounded below 1e6.
    """
    mirrored = [(y, v, x, u) for x, u, y, v in batches]
    threshold = -math.log(alpha)

    def rejects(log_bound: float) -> bool:
        return _log_e_values(mirrored, math.exp(-log_bound), prior_strength)[-1] >= threshold

    low, high = -math.log(_RATIO_BOUND_LIMIT), math.log(_RATIO_BOUND_LIMIT)
    if not rejects(high):
        return math.inf
    if rejects(low):
        return math.exp(low)
    while high - low > 1e-4:
        middle = (low + high) / 2.0
        low, high = (low, middle) if rejects(middle) else (middle, high)
    return math.exp(high)


def _counts_text(look: Look) -> str:
    ce, ct, be, bt = look
    return f"canary {_fmt(ce)}/{_fmt(ct)} vs baseline {_fmt(be)}/{_fmt(bt)} errors/requests"


def _sequential_outcome(significant: bool, ratio: float, max_ratio: float, effect_size_max_ratio: float | None,
                        final: bool) -> tuple[str, str]:
    """(verdict, summary) from the rejection, the effect-size gate and whether this is the last look."""
    above = f"canary error rate is above max_ratio {_fmt(max_ratio)} x baseline"
    if significant and (effect_size_max_ratio is None or ratio > effect_size_max_ratio):
        return FAIL, above
    if significant:
        allowed = (f"{above}, but allowed by the effect size: ratio {_fmt(ratio, 4)} <= effect_size_max_ratio"
                   f" {_fmt(effect_size_max_ratio)}")
        return (PASS, f"{allowed}; rollout ended") if final else (CONTINUE, allowed)
    if final:
        return PASS, "no regression detected over the rollout"
    return CONTINUE, "no evidence of a regression yet"


def sequential_rate_test(canary_errors: float, canary_total: float, baseline_errors: float, baseline_total: float,
                         alpha: float = 0.02, max_ratio: float = 1.0,
                         prior_strength: float = SEQUENTIAL_PRIOR_STRENGTH,
                         history: Iterable[Sequence[float]] = (), final: bool = False,
                         effect_size_max_ratio: float | None = None) -> SequentialResult:
    """Anytime-valid sequential test that the canary's error rate is at most ``max_ratio`` x the baseline's.

    Counts are **cumulative since the rollout started** (e.g. ``increase(errors[<since start>])``), for the canary
    and the baseline. Null hypothesis ``r <= max_ratio`` with ``r`` = canary error rate / baseline error rate.
    Method (Lindon & Malek 2022, see the section comment): conditional on the number of errors, the canary's
    share is binomial with ``p = r*u / (r*u + v)``; the e-value is the likelihood ratio against ``r = max_ratio``,
    mixed over alternatives ``r > max_ratio`` with a Beta prior of concentration ``prior_strength`` on the canary
    share (see :func:`_mixture`; larger = tuned to smaller regressions). The test **fails** once the running
    maximum of the e-value reaches ``1 / alpha``; ``p_value = min(1, 1 / max e-value)``. With
    ``effect_size_max_ratio`` (like :func:`mann_whitney_classify`'s gate) a rejection only fails while the observed
    cumulative ratio is also above it; this can only remove failures, so the guarantee below still holds.

    Validity: for each fixed ``r > max_ratio`` the likelihood ratio is a non-negative supermartingale under every
    ``r' <= max_ratio`` (the binomial is an exponential family in ``log r``), so is their mixture, and Ville's
    inequality gives ``P(e-value ever >= 1/alpha) <= alpha``: the false-fail rate stays below ``alpha`` however
    many looks are taken, at any (even data-dependent) times. While the canary/baseline traffic split is constant,
    the e-value depends on the cumulative counts only, so ``history`` is not needed for validity (only for the
    running maximum, i.e. a non-increasing p-value). When the split changes between looks (canary weight steps),
    pass the earlier looks as ``history``: each increment is then tested with its own split. Exact for Poisson
    error counts; with binomial errors (per-request failures) it is conservative at ``max_ratio = 1`` and a close
    approximation otherwise while error rates are small. Float counts (Prometheus ``increase()`` extrapolates) are
    accepted; the likelihood is evaluated at those values.

    Pass: the test can only reject. "No regression" is concluded when the rollout ends without a rejection: call
    the last look with ``final=True`` to get ``"pass"`` and ``ratio_upper``, the anytime-valid upper confidence
    bound of ``r`` (how large a regression the data cannot exclude). Before that, no rejection is ``"continue"``.

    Raises ``ValueError`` naming the argument for bad ``alpha``/``max_ratio``/``prior_strength``/
    ``effect_size_max_ratio``, negative or non-finite counts, errors above requests, or cumulative counts that
    decrease between looks.
    """
    _validate_sequential_args(alpha, max_ratio, prior_strength, effect_size_max_ratio)
    looks = tuple(_as_look(tuple(look), f"history[{index}]: ") for index, look in enumerate(history))
    looks += (_as_look((canary_errors, canary_total, baseline_errors, baseline_total), ""),)
    batches = _increments(looks)
    current = looks[-1]
    if current[1] == 0 or current[3] == 0:
        side = "canary" if current[1] == 0 else "baseline"
        return SequentialResult(NODATA, f"no {side} requests since the rollout started", looks=looks)
    log_e = _log_e_values(batches, max_ratio, prior_strength)
    e_value, max_e = _exp(log_e[-1]), _exp(max(log_e))
    p_value = min(1.0, 1.0 / max_e)
    ratio = _ratio(current[0] / current[1], current[2] / current[3])
    verdict, summary = _sequential_outcome(max_e >= 1.0 / alpha, ratio, max_ratio, effect_size_max_ratio, final)
    looks_text = "1 look" if len(looks) == 1 else f"{len(looks)} looks"
    reason = (f"{summary}: {_counts_text(current)},"
              f" ratio {_fmt(ratio, 4)}; e-value {_fmt(e_value, 4)} (max {_fmt(max_e, 4)} over {looks_text}),"
              f" anytime-valid p={_fmt(p_value, 3)} {'<=' if max_e >= 1.0 / alpha else '>'} alpha {_fmt(alpha)}")
    upper = None
    if verdict == PASS:
        upper = _ratio_upper(batches, alpha, prior_strength)
        reason += (f"; the ratio is at most {_fmt(upper, 4)} ({1 - alpha:.0%} anytime-valid bound)"
                   if math.isfinite(upper) else "; too few errors to bound the ratio from above")
    return SequentialResult(verdict, reason, e_value=e_value, max_e_value=max_e, p_value=p_value, ratio=ratio,
                            ratio_upper=upper, looks=looks)


# --------------------------------------------------------------------------------------------------
# 7. Decisive failure below the evidence floor (ratio indicators with an absolute bound)
# --------------------------------------------------------------------------------------------------
# A ratio indicator with ``min_events`` has no data below the floor: it never passes on few events. A large
# regression, though, is evident long before the floor (at 5 % of 40 req/s, 20 events take 10 s; half of them
# failing is clear after 6). :func:`bound_exceeded_test` lets such an indicator *fail* early, never pass: the
# bad-event share ``x`` of ``n`` events is tested against the bound ``p0`` with a mixture likelihood ratio
# (an e-value), and fails only when it reaches ``1 / alpha`` with at least ``min_bad`` bad events.

#: Level of the early failure: stricter than the sequential judge's default 0.02 because a step polls the same
#: sliding window several times (each poll is an e-value test at its own fixed sample; see bound_exceeded_test).
EARLY_FAIL_ALPHA = 0.001
#: The fewest bad events that can fail an indicator below its floor (one or two 5xx are never decisive).
EARLY_FAIL_MIN_BAD = 3.0
#: Mixture of bad-event shares above the bound: points equally spaced in log-odds up to this share.
_EARLY_TOP_SHARE = 0.999


@dataclass(frozen=True)
class BoundTest:
    """Outcome of :func:`bound_exceeded_test`: ``exceeded`` (decisive), the e-value and a reason."""

    exceeded: bool
    e_value: float
    reason: str


def _logit(share: float) -> float:
    return math.log(share / (1.0 - share))


@lru_cache(maxsize=32)
def _bound_mixture(bound: float) -> tuple[float, ...]:
    """Bad-event shares above ``bound``: the midpoints of ``_MIXTURE_POINTS`` equal log-odds cells between
    ``bound`` and ``_EARLY_TOP_SHARE`` (equal weights, normalised: a valid e-value whatever the grid)."""
    low, high = _logit(bound), _logit(max(_EARLY_TOP_SHARE, bound + (1.0 - bound) / 2.0))
    width = (high - low) / _MIXTURE_POINTS
    return tuple(1.0 / (1.0 + math.exp(-(low + (index + 0.5) * width))) for index in range(_MIXTURE_POINTS))


def bound_exceeded_test(bad: float, total: float, bound: float, alpha: float = EARLY_FAIL_ALPHA,
                        min_bad: float = EARLY_FAIL_MIN_BAD) -> BoundTest:
    """Is the bad-event share of ``total`` events decisively above ``bound``, from however few events?

    Null hypothesis: each event is bad with probability ``p <= bound``. The e-value is the likelihood ratio of the
    ``bad`` of ``total`` events, ``(p/bound)^bad * ((1-p)/(1-bound))^(total-bad)``, averaged over shares ``p``
    between ``bound`` and 0.999 (equal weights on a log-odds grid). For every ``p' <= bound`` its expectation is at
    most 1 (Markov: ``P(e-value >= 1/alpha) <= alpha``), and it stays so when the events are looked at one by one
    (Ville's inequality), so one look at a fixed sample of events falsely fails with probability at most
    ``alpha``. A rate window (``increase(...[20s])``) polled several times is several overlapping samples: the
    false-fail rate is then at most ``alpha`` per poll, which is why ``alpha`` defaults to 0.001 and at least
    ``min_bad`` bad events are required. A bound of 0 fails on ``min_bad`` bad events; a bound of 1 or more never
    fails. Float counts (``increase()`` extrapolates) are accepted. This test can only fail: too few events is
    still no data, never a pass.
    """
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be between 0 and 1 (exclusive), got {alpha}")
    bad, total = max(0.0, float(bad)), max(0.0, float(total))
    bad = min(bad, total)
    head = f"{_fmt(bad, 4)} bad of {_fmt(total, 4)} events"
    if bound >= 1 or total <= 0 or bad < min_bad:
        why = "the bound cannot be exceeded" if bound >= 1 else f"fewer than {_fmt(min_bad)} bad events"
        return BoundTest(False, 1.0, f"{head}: not decisive ({why})")
    if bound <= 0:
        return BoundTest(True, math.inf, f"{head} with a bound of 0: decisive ({_fmt(min_bad)} or more bad events)")
    good = total - bad
    terms = [bad * math.log(share / bound) + good * math.log((1.0 - share) / (1.0 - bound))
             for share in _bound_mixture(bound)]
    e_value = _exp(_logsumexp(terms) - math.log(len(terms)))
    threshold = 1.0 / alpha
    exceeded = e_value >= threshold
    return BoundTest(exceeded, e_value,
                     f"{head}, share {_fmt(bad / total, 3)} against a bound of {_fmt(bound)}: e-value"
                     f" {_fmt(e_value, 3)} {'>=' if exceeded else '<'} 1/alpha {_fmt(threshold)}"
                     + (" (decisive)" if exceeded else " (not decisive)"))
