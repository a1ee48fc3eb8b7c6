# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""SLO indicators: validation, evaluation against Prometheus and the folded verdict.

Shared by the modules that judge indicators (``slo_check``, and ``qos_guard``'s ``evaluate``): the
indicator options (:data:`SLI_OPTIONS`), their cross-field validation, the judges and the summary.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible_collections.progressive.delivery.plugins.module_utils._judge import (
    DIRECTIONS,
    FAIL,
    INCONCLUSIVE,
    NODATA,
    PASS,
    IndicatorOutcome,
    mann_whitney_classify,
    overall_verdict,
    threshold_verdict,
)
from ansible_collections.progressive.delivery.plugins.module_utils._prometheus import (
    MAX_POINTS_PER_SERIES,
    MultipleSeriesError,
    PrometheusClient,
    PrometheusError,
    PrometheusRejected,
    PrometheusUnavailable,
    QueryResult,
    format_time,
    instant_value,
    parse_duration,
    parse_time,
    range_step_points,
    single_series,
)

JUDGES = ("threshold", "mann_whitney")
NO_DATA_POLICIES = ("fail", "inconclusive", "pass")
BOUND_OPTIONS = ("min", "max", "max_increase", "max_ratio")
DEFAULT_RANGE = "2m"
DEFAULT_STEP = "5s"
#: How far in the future ``at`` may lie (clock skew between hosts), in seconds.
FUTURE_TOLERANCE = 60.0

SLI_OPTIONS: dict[str, dict[str, Any]] = {
    "name": {"type": "str", "required": True},
    "query": {"type": "str", "required": True},
    "max": {"type": "float"},
    "min": {"type": "float"},
    "baseline_query": {"type": "str"},
    "max_increase": {"type": "float"},
    "max_ratio": {"type": "float"},
    "judge": {"type": "str", "choices": list(JUDGES), "default": "threshold"},
    "range": {"type": "str"},
    "step": {"type": "str"},
    "confidence": {"type": "float", "default": 0.98},
    "direction": {"type": "str", "choices": list(DIRECTIONS), "default": "increase"},
    "min_samples": {"type": "int", "default": 10},
    "critical": {"type": "bool", "default": False},
    "weight": {"type": "float", "default": 1.0},
    "on_no_data": {"type": "str", "choices": list(NO_DATA_POLICIES), "default": "inconclusive"},
}


# --------------------------------------------------------------------------------------------------
# Validation (pure; unit-tested)
# --------------------------------------------------------------------------------------------------
def _label(sli: Mapping[str, Any], index: int) -> str:
    name = sli.get("name") if isinstance(sli, Mapping) else None
    return f"slis[{index}] ({name!r})" if name else f"slis[{index}]"


def sli_type_errors(slis: Any) -> list[str]:
    """Ansible's own type/choice validation of each indicator, with messages that name the indicator.

    Used to replace AnsibleModule's generic "found in 'slis'" message, which does not say which indicator is wrong.
    """
    if not isinstance(slis, list):
        return []
    errors = []
    for index, sli in enumerate(slis):
        if not isinstance(sli, Mapping):
            errors.append(f"{_label(sli, index)}: each indicator must be a dictionary with name and query,"
                          f" got {sli!r}")
            continue
        result = ArgumentSpecValidator(SLI_OPTIONS).validate(dict(sli))
        errors += [f"{_label(sli, index)}: {message}" for message in result.error_messages]
    return errors


def _threshold_problems(sli: Mapping[str, Any]) -> list[str]:
    problems = []
    bounds = [key for key in BOUND_OPTIONS if sli.get(key) is not None]
    if not bounds:
        problems.append("judge 'threshold' needs at least one bound: min, max, or max_increase / max_ratio together"
                        " with baseline_query")
    for key in ("max_increase", "max_ratio"):
        if sli.get(key) is not None and not sli.get("baseline_query"):
            problems.append(f"option {key} compares with a baseline and needs baseline_query")
    for key in ("range", "step"):
        if sli.get(key) is not None:
            problems.append(f"option {key} only applies to judge 'mann_whitney' (this indicator uses 'threshold')")
    return problems


def _sampling_problems(sli: Mapping[str, Any]) -> list[str]:
    try:
        range_s = parse_duration(sli.get("range") or DEFAULT_RANGE)
    except ValueError as exc:
        return [f"option range: {exc}"]
    try:
        step_s = parse_duration(sli.get("step") or DEFAULT_STEP)
    except ValueError as exc:
        return [f"option step: {exc}"]
    points = range_step_points(range_s, step_s)
    if step_s > range_s:
        return [f"option step ({sli.get('step') or DEFAULT_STEP}) must not be longer than range"
                f" ({sli.get('range') or DEFAULT_RANGE})"]
    if points > MAX_POINTS_PER_SERIES:
        return [f"range / step gives {points} samples, Prometheus returns at most {MAX_POINTS_PER_SERIES}:"
                " use a longer step"]
    if points < sli.get("min_samples", 10):
        return [f"range {sli.get('range') or DEFAULT_RANGE} / step {sli.get('step') or DEFAULT_STEP} gives at most"
                f" {points} samples, fewer than min_samples {sli.get('min_samples', 10)}: use a longer range or a"
                " shorter step"]
    return []


def _mann_whitney_problems(sli: Mapping[str, Any]) -> list[str]:
    problems = []
    if not sli.get("baseline_query"):
        problems.append("judge 'mann_whitney' compares two samples and needs baseline_query")
    if sli.get("max_increase") is not None:
        problems.append("option max_increase is not used by judge 'mann_whitney': use max_ratio as the effect-size"
                        " gate, or add a second indicator with judge 'threshold'")
    confidence = sli.get("confidence", 0.98)
    if not 0 < confidence < 1:
        problems.append(f"option confidence must be between 0 and 1 (exclusive), got {confidence}")
    if sli.get("min_samples", 10) < 3:
        problems.append(f"option min_samples must be 3 or more, got {sli.get('min_samples')}")
    return problems + _sampling_problems(sli)


def _common_problems(sli: Mapping[str, Any]) -> list[str]:
    problems = []
    if not str(sli.get("name") or "").strip():
        problems.append("option name must not be empty")
    if not str(sli.get("query") or "").strip():
        problems.append("option query must not be empty")
    weight = sli.get("weight", 1.0)
    if not (math.isfinite(weight) and weight >= 0):
        problems.append(f"option weight must be a finite number, 0 or more, got {weight}")
    if sli.get("max_ratio") is not None and not sli["max_ratio"] > 0:
        problems.append(f"option max_ratio must be greater than 0, got {sli['max_ratio']}")
    if sli.get("min") is not None and sli.get("max") is not None and sli["min"] > sli["max"]:
        problems.append(f"option min ({sli['min']}) must not be greater than max ({sli['max']})")
    return problems


def sli_problems(sli: Mapping[str, Any]) -> list[str]:
    """Cross-field problems of one indicator (after Ansible's type validation), as plain-words strings."""
    judge = sli.get("judge") or "threshold"
    if judge not in JUDGES:
        return [f"option judge must be one of {', '.join(JUDGES)}, got {judge!r}"]
    specific = _threshold_problems(sli) if judge == "threshold" else _mann_whitney_problems(sli)
    return _common_problems(sli) + specific


def validate_slis(slis: list[Mapping[str, Any]]) -> list[str]:
    """All problems of all indicators, each prefixed with ``slis[i] ('name')``; also duplicate names."""
    errors = []
    if not slis:
        errors.append("slis must list at least one indicator")
    seen: dict[str, int] = {}
    for index, sli in enumerate(slis):
        errors += [f"{_label(sli, index)}: {problem}" for problem in sli_problems(sli)]
        name = sli.get("name")
        if name in seen:
            errors.append(f"{_label(sli, index)}: option name {name!r} is already used by slis[{seen[name]}];"
                          " names must be unique")
        seen.setdefault(name, index)
    return errors


def validate_scores(pass_score: float, marginal_score: float) -> list[str]:
    errors = []
    for option, value in (("pass_score", pass_score), ("marginal_score", marginal_score)):
        if not 0 <= value <= 100:
            errors.append(f"option {option} must be between 0 and 100, got {value}")
    if marginal_score > pass_score:
        errors.append(f"option marginal_score ({marginal_score}) must not be greater than pass_score ({pass_score})")
    return errors


def evaluation_time(at: Any, now: float) -> float:
    """Unix time to evaluate at: ``at`` parsed (not in the future), or ``now``. ``ValueError`` names the option."""
    if at is None or (isinstance(at, str) and not at.strip()):
        return now
    try:
        moment = parse_time(at)
    except ValueError as exc:
        raise ValueError(f"option at: {exc}") from None
    if moment > now + FUTURE_TOLERANCE:
        raise ValueError(f"option at: {at!r} ({format_time(moment)}) is in the future; slo_check only looks back")
    return moment


# --------------------------------------------------------------------------------------------------
# Evaluation
# --------------------------------------------------------------------------------------------------
class IndicatorConfigError(Exception):
    """A problem that retrying cannot fix (malformed PromQL, several series, auth): fail the task."""


@dataclass(frozen=True)
class Indicator:
    """One validated indicator: its position in ``slis`` and its options (``indicator.max`` reads ``params["max"]``)."""

    index: int
    params: Mapping[str, Any]

    def __getattr__(self, key: str) -> Any:
        if key in SLI_OPTIONS:
            return self.params.get(key)
        raise AttributeError(key)

    @property
    def label(self) -> str:
        return _label(self.params, self.index)

    @property
    def range_text(self) -> str:
        return self.params.get("range") or DEFAULT_RANGE

    @property
    def step_text(self) -> str:
        return self.params.get("step") or DEFAULT_STEP


@dataclass
class Outcome:
    """What a judge found for one indicator, before ``on_no_data`` is applied."""

    verdict: str
    reason: str
    value: float | None = None
    baseline_value: float | None = None
    ratio: float | None = None
    samples: dict[str, int | None] = field(default_factory=lambda: {"query": None, "baseline_query": None})
    stats: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    error: str | None = None


def _json_number(value: Any) -> Any:
    """JSON-safe number: NaN -> None, +/-inf -> "+Inf"/"-Inf" (Prometheus' notation), else a float."""
    if value is None:
        return None
    number = float(value)
    if math.isnan(number):
        return None
    if math.isinf(number):
        return "+Inf" if number > 0 else "-Inf"
    return number


def _ratio_or_none(value: float | None, baseline: float | None) -> float | None:
    if value is None or baseline is None:
        return None
    if baseline == 0:
        return 1.0 if value == 0 else math.copysign(math.inf, value)
    return value / baseline


def _run_query(indicator: Indicator, option: str, fetch: Any) -> QueryResult:
    """Run one query; permanent errors become :class:`IndicatorConfigError` naming the indicator and the option."""
    query = indicator.params[option]
    try:
        return fetch(query)
    except PrometheusRejected as exc:
        if exc.error_type or exc.error:
            message = f"Prometheus rejected {query!r} ({exc.error_type or 'error'}): {exc.error}"
        else:
            message = f"the request for {query!r} failed: {exc}"
        raise IndicatorConfigError(f"{indicator.label}: option {option}: {message}") from None
    except PrometheusUnavailable:
        raise
    except PrometheusError as exc:
        raise IndicatorConfigError(f"{indicator.label}: option {option}: {exc} (query {query!r})") from None


def _one_series(indicator: Indicator, option: str, result: QueryResult) -> Any:
    try:
        return single_series(result)
    except MultipleSeriesError as exc:
        raise IndicatorConfigError(f"{indicator.label}: option {option}: {exc} (query {indicator.params[option]!r})"
                                   ) from None


def _instant(client: PrometheusClient, indicator: Indicator, option: str, at: float) -> tuple[float | None, int,
                                                                                              list[str]]:
    result = _run_query(indicator, option, lambda query: client.query(query, at))
    _one_series(indicator, option, result)
    value = instant_value(result)
    return value, (0 if value is None else 1), result.warnings


def judge_threshold(client: PrometheusClient, indicator: Indicator, at: float) -> Outcome:
    value, count, warnings = _instant(client, indicator, "query", at)
    baseline, baseline_count = None, None
    if indicator.baseline_query:
        baseline, baseline_count, more = _instant(client, indicator, "baseline_query", at)
        warnings = warnings + more
    verdict, reason = threshold_verdict(value, indicator.min, indicator.max, baseline, indicator.max_increase,
                                        indicator.max_ratio)
    return Outcome(verdict, reason, value, baseline, _ratio_or_none(value, baseline),
                   {"query": count, "baseline_query": baseline_count}, warnings=warnings)


def _range_values(client: PrometheusClient, indicator: Indicator, option: str, at: float) -> tuple[list[float],
                                                                                                   list[str]]:
    range_s, step_s = parse_duration(indicator.range_text), parse_duration(indicator.step_text)
    result = _run_query(indicator, option, lambda query: client.query_range(query, at - range_s, at, step_s))
    series = _one_series(indicator, option, result)
    values = [] if series is None else [value for value in series.values if not math.isnan(value)]
    return values, result.warnings


def _mean(values: list[float]) -> float | None:
    return math.fsum(values) / len(values) if values else None


def _too_few(indicator: Indicator, canary: list[float], baseline: list[float]) -> str | None:
    minimum = indicator.min_samples
    short = [f"{what} has {len(values)}" for what, values in (("query", canary), ("baseline_query", baseline))
             if len(values) < minimum]
    if not short:
        return None
    return f"no data: too few samples over the last {indicator.range_text} ({', '.join(short)}; min_samples {minimum})"


def judge_mann_whitney(client: PrometheusClient, indicator: Indicator, at: float) -> Outcome:
    canary, warnings = _range_values(client, indicator, "query", at)
    baseline, more = _range_values(client, indicator, "baseline_query", at)
    value, baseline_value = _mean(canary), _mean(baseline)
    outcome = Outcome(NODATA, "", value, baseline_value, _ratio_or_none(value, baseline_value),
                      {"query": len(canary), "baseline_query": len(baseline)}, warnings=warnings + more)
    too_few = _too_few(indicator, canary, baseline)
    if too_few:
        outcome.reason = too_few
        return outcome
    result = mann_whitney_classify(canary, baseline, confidence=indicator.confidence, direction=indicator.direction,
                                   effect_size_max_ratio=indicator.max_ratio)
    outcome.verdict, outcome.reason = result.verdict, result.reason
    outcome.stats = {key: getattr(result, key) for key in ("classification", "p_value", "hodges_lehmann", "ci_lower",
                                                           "ci_upper", "removed_outliers")}
    _apply_absolute_bounds(outcome, indicator)
    return outcome


def _apply_absolute_bounds(outcome: Outcome, indicator: Indicator) -> None:
    """With mann_whitney, min/max still bound the canary mean; a violated bound fails the indicator."""
    if outcome.value is None or (indicator.min is None and indicator.max is None):
        return
    verdict, reason = threshold_verdict(outcome.value, indicator.min, indicator.max)
    if verdict == FAIL:
        outcome.verdict = FAIL
        outcome.reason = f"mean of the canary samples: {reason}; test: {outcome.reason}"
    elif outcome.verdict != NODATA:
        outcome.reason = f"{outcome.reason}; mean of the canary samples: {reason}"


def judge(client: PrometheusClient, indicator: Indicator, at: float) -> Outcome:
    """Judge one indicator. Transient failures after all retries give an inconclusive outcome with the error."""
    try:
        if indicator.judge == "mann_whitney":
            return judge_mann_whitney(client, indicator, at)
        return judge_threshold(client, indicator, at)
    except PrometheusUnavailable as exc:
        return Outcome(INCONCLUSIVE, f"Prometheus did not answer: {exc}", error=str(exc))


def _apply_no_data_policy(outcome: Outcome, indicator: Indicator) -> str:
    if outcome.verdict != NODATA:
        return outcome.verdict
    policy = indicator.on_no_data
    outcome.reason = f"{outcome.reason}; counted as {policy} (on_no_data={policy})"
    return {"fail": FAIL, "pass": PASS}.get(policy, INCONCLUSIVE)


def indicator_result(indicator: Indicator, outcome: Outcome) -> dict[str, Any]:
    """The returned ``results[]`` entry."""
    no_data = outcome.verdict == NODATA
    verdict = _apply_no_data_policy(outcome, indicator)
    mann_whitney = indicator.judge == "mann_whitney"
    stats = {key: outcome.stats.get(key) for key in ("classification", "p_value", "hodges_lehmann", "ci_lower",
                                                     "ci_upper", "removed_outliers")}
    for key in ("p_value", "hodges_lehmann", "ci_lower", "ci_upper"):
        stats[key] = _json_number(stats[key])
    return {
        "name": indicator.name, "verdict": verdict, "reason": outcome.reason, "no_data": no_data,
        "error": outcome.error, "judge": indicator.judge, "critical": indicator.critical,
        "weight": indicator.weight, "on_no_data": indicator.on_no_data, "query": indicator.query,
        "baseline_query": indicator.baseline_query, "value": _json_number(outcome.value),
        "baseline_value": _json_number(outcome.baseline_value), "ratio": _json_number(outcome.ratio),
        "bounds": {key: _json_number(indicator.params.get(key)) for key in BOUND_OPTIONS},
        "samples": dict(outcome.samples), **stats,
        "range": indicator.range_text if mann_whitney else None,
        "step": indicator.step_text if mann_whitney else None,
        "warnings": list(outcome.warnings),
    }


def _missing_data(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Indicators that count as "no data" for the half-or-more rule (on_no_data=fail makes it a real failure)."""
    return [result for result in results
            if result["error"] or (result["no_data"] and result["on_no_data"] != "fail")]


def summarize(results: list[dict[str, Any]], pass_score: float, marginal_score: float) -> tuple[str, float, str]:
    """Overall ``(verdict, score, reason)`` as :func:`overall_verdict`; on_no_data=pass cannot hide missing data."""
    outcomes = [IndicatorOutcome(result["name"], result["verdict"], result["weight"], result["critical"])
                for result in results]
    verdict, score, reason = overall_verdict(outcomes, pass_score, marginal_score)
    missing = _missing_data(results)
    if verdict != FAIL and results and 2 * len(missing) >= len(results):
        names = ", ".join(result["name"] for result in missing)
        return INCONCLUSIVE, 0.0, (f"{len(missing)} of {len(results)} indicators have no data ({names});"
                                   " not enough data to judge")
    return verdict, score, reason


def failure_message(verdict_reason: str, results: list[dict[str, Any]]) -> str:
    """The task's failure message: the overall reason, then each failing (else each non-passing) indicator."""
    failing = [result for result in results if result["verdict"] == FAIL] or \
        [result for result in results if result["verdict"] != PASS]
    details = "; ".join(f"{result['name']} ({result['verdict']}): {result['reason']}" for result in failing)
    return f"SLO check failed: {verdict_reason}. " + (f"Indicators: {details}" if details else "")


def run_check(client: PrometheusClient, indicators: list[Indicator], at: float, pass_score: float,
              marginal_score: float) -> dict[str, Any]:
    """Evaluate every indicator at ``at`` and fold the verdicts. Raises :class:`IndicatorConfigError`."""
    results = [indicator_result(indicator, judge(client, indicator, at)) for indicator in indicators]
    verdict, score, reason = summarize(results, pass_score, marginal_score)
    return {"changed": False, "verdict": verdict, "score": round(score, 4), "reason": reason,
            "evaluated_at": format_time(at), "results": results}
