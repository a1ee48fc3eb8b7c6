# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""SLO indicators: validation, evaluation against Prometheus and the folded verdict.

Shared by the modules that judge indicators (``slo_check``, and ``qos_guard``'s ``evaluate``): the
indicator options (:data:`SLI_OPTIONS`), their cross-field validation, the judges and the summary.

An indicator is either one PromQL expression (``query``) or a ratio of event counts, as OpenSLO's ``ratioMetric``
and Sloth's ``events`` define SLIs: ``bad_query`` / ``total_query`` or ``good_query`` / ``total_query`` (and the
same for the baseline). A ratio indicator knows what is missing: an empty bad (or good) side with events in the
total is 0 bad (0 % good), an empty or zero total is no data, and fewer than ``min_events`` events is no data.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible_collections.progressive.delivery.plugins.module_utils._deps import SCIPY, require
from ansible_collections.progressive.delivery.plugins.module_utils._judge import (
    DIRECTIONS,
    FAIL,
    INCONCLUSIVE,
    NODATA,
    PASS,
    IndicatorOutcome,
    SequentialResult,
    bound_exceeded_test,
    mann_whitney_classify,
    overall_verdict,
    sequential_rate_test,
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
    instant_value,
    range_step_points,
    single_series,
)
from ansible_collections.progressive.delivery.plugins.module_utils._result import ContractModule, ModuleFailure
from ansible_collections.progressive.delivery.plugins.module_utils._time import (
    format_time,
    parse_duration,
    parse_time,
)

JUDGES = ("threshold", "mann_whitney", "sequential")
NO_DATA_POLICIES = ("fail", "inconclusive", "pass")
BOUND_OPTIONS = ("min", "max", "max_increase", "max_ratio")
DEFAULT_RANGE = "2m"
DEFAULT_STEP = "5s"
#: How far in the future ``at`` may lie (clock skew between hosts), in seconds.
FUTURE_TOLERANCE = 60.0
#: Placeholder in the queries of a sequential indicator, replaced by the window from ``since`` to the evaluation time.
RANGE_PLACEHOLDER = "$__range"
#: The four count queries of a sequential indicator, in the order of a look (see ``_judge.sequential_rate_test``).
SEQUENTIAL_QUERIES = ("query", "total_query", "baseline_query", "baseline_total_query")
#: Options only a sequential indicator takes (``alpha`` and ``final`` have defaults and are ignored elsewhere);
#: ``total_query`` and ``baseline_total_query`` also belong to ratio indicators.
SEQUENTIAL_ONLY = ("total_query", "baseline_total_query", "since", "history", "effect_size_max_ratio")
#: What a ratio indicator counts: its numerator query is ``<kind>_query`` (``bad_query`` or ``good_query``).
RATIO_KINDS = ("bad", "good")
#: The options that define what an indicator measures (exactly one of them).
MEASURE_OPTIONS = ("query", "bad_query", "good_query")
#: Every PromQL option, in the order of ``results[]``.
QUERY_OPTIONS = ("query", "bad_query", "good_query", "total_query", "baseline_query", "baseline_bad_query",
                 "baseline_good_query", "baseline_total_query")
#: How much a cumulative count may shrink between looks, or a bad-event count exceed its total, before it is an
#: error rather than ``increase()`` extrapolation: 1 % of the value or 1 event, whichever is larger.
COUNT_SLACK_RELATIVE = 0.01
COUNT_SLACK_ABSOLUTE = 1.0

SLI_OPTIONS: dict[str, dict[str, Any]] = {
    "name": {"type": "str", "required": True},
    "query": {"type": "str"},
    "bad_query": {"type": "str"},
    "good_query": {"type": "str"},
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
    "total_query": {"type": "str"},
    "baseline_bad_query": {"type": "str"},
    "baseline_good_query": {"type": "str"},
    "baseline_total_query": {"type": "str"},
    "min_events": {"type": "float"},
    "since": {"type": "raw"},
    "alpha": {"type": "float", "default": 0.02},
    "effect_size_max_ratio": {"type": "float"},
    "history": {"type": "list", "elements": "raw"},
    "final": {"type": "bool", "default": False},
    "critical": {"type": "bool", "default": False},
    "weight": {"type": "float", "default": 1.0},
    "on_no_data": {"type": "str", "choices": list(NO_DATA_POLICIES), "default": "inconclusive"},
}
#: the score thresholds of slo_check and qos_guard (documented in doc fragment _slis)
SCORE_OPTIONS: dict[str, dict[str, Any]] = {
    "pass_score": {"type": "float", "default": 95.0, "no_log": False},
    "marginal_score": {"type": "float", "default": 75.0},
}


# --------------------------------------------------------------------------------------------------
# Validation (pure; unit-tested)
# --------------------------------------------------------------------------------------------------
def _label(sli: Mapping[str, Any], index: int) -> str:
    name = sli.get("name") if isinstance(sli, Mapping) else None
    return f"slis[{index}] ({name!r})" if name else f"slis[{index}]"


def _has(sli: Mapping[str, Any], key: str) -> bool:
    return bool(str(sli.get(key) or "").strip())


def ratio_kind(sli: Mapping[str, Any]) -> str | None:
    """``"bad"`` or ``"good"`` for a ratio indicator (``bad_query`` / ``good_query``), ``None`` for ``query``."""
    for kind in RATIO_KINDS:
        if _has(sli, f"{kind}_query"):
            return kind
    return None


def count_options(sli: Mapping[str, Any]) -> tuple[str, str, str, str]:
    """The options of the four counts: canary numerator, canary total, baseline numerator, baseline total."""
    kind = ratio_kind(sli)
    if kind is None:
        return SEQUENTIAL_QUERIES  # type: ignore[return-value]
    return f"{kind}_query", "total_query", f"baseline_{kind}_query", "baseline_total_query"


def _baseline_options(sli: Mapping[str, Any]) -> tuple[str, ...]:
    return ("baseline_query",) if ratio_kind(sli) is None else count_options(sli)[2:]


def _has_baseline(sli: Mapping[str, Any]) -> bool:
    return all(_has(sli, key) for key in _baseline_options(sli))


def _baseline_text(sli: Mapping[str, Any]) -> str:
    return " and ".join(_baseline_options(sli))


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
        for message in result.error_messages:
            unsupported = ". Supported parameters include" in message
            errors.append(f"{_label(sli, index)}: " + ("unsupported parameters: " if unsupported else "") + message)
    return errors


def _threshold_problems(sli: Mapping[str, Any]) -> list[str]:
    problems = []
    bounds = [key for key in BOUND_OPTIONS if sli.get(key) is not None]
    if not bounds:
        problems.append("judge 'threshold' needs at least one bound: min, max, or max_increase / max_ratio together"
                        f" with {_baseline_text(sli)}")
    for key in ("max_increase", "max_ratio"):
        if sli.get(key) is not None and not _has_baseline(sli):
            problems.append(f"option {key} compares with a baseline and needs {_baseline_text(sli)}")
    for key in ("range", "step"):
        if sli.get(key) is not None:
            problems.append(f"option {key} only applies to judge 'mann_whitney' (this indicator uses 'threshold')")
    return problems + _not_sequential_problems(sli, "threshold")


def _not_sequential_problems(sli: Mapping[str, Any], judge: str) -> list[str]:
    ratio = ratio_kind(sli) is not None
    return [f"option {key} only applies to judge 'sequential' (this indicator uses {judge!r})"
            + ("" if key not in ("total_query", "baseline_total_query") else
               " and to ratio indicators (bad_query or good_query with total_query)")
            for key in SEQUENTIAL_ONLY if sli.get(key) not in (None, [])
            and not (ratio and key in ("total_query", "baseline_total_query"))] + \
        ([f"option final only applies to judge 'sequential' (this indicator uses {judge!r})"] if sli.get("final")
         else [])


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
    if not _has_baseline(sli):
        problems.append(f"judge 'mann_whitney' compares two samples and needs {_baseline_text(sli)}")
    if sli.get("max_increase") is not None:
        problems.append("option max_increase is not used by judge 'mann_whitney': use max_ratio as the effect-size"
                        " gate, or add a second indicator with judge 'threshold'")
    confidence = sli.get("confidence", 0.98)
    if not 0 < confidence < 1:
        problems.append(f"option confidence must be between 0 and 1 (exclusive), got {confidence}")
    if sli.get("min_samples", 10) < 3:
        problems.append(f"option min_samples must be 3 or more, got {sli.get('min_samples')}")
    return problems + _sampling_problems(sli) + _not_sequential_problems(sli, "mann_whitney")


def _history_problems(history: Any) -> list[str]:
    """Each look of ``history`` must be 4 counts >= 0 (bad events <= total on each side), as ``looks`` returns."""
    problems = []
    for index, look in enumerate(history or []):
        if not isinstance(look, (list, tuple)) or len(look) != 4:
            problems.append(f"option history[{index}] must be a list of 4 counts ({', '.join(SEQUENTIAL_QUERIES)}"
                            f" at one look, as results[].looks returns them), got {look!r}")
            continue
        try:
            counts = [float(value) for value in look]
        except (TypeError, ValueError):
            problems.append(f"option history[{index}] must hold numbers, got {look!r}")
            continue
        if not all(math.isfinite(count) and count >= 0 for count in counts):
            problems.append(f"option history[{index}] must hold finite numbers >= 0, got {look!r}")
        elif counts[0] > counts[1] or counts[2] > counts[3]:
            problems.append(f"option history[{index}]: a bad-event count exceeds its total, got {look!r}")
    return problems


def _placeholder_problems(sli: Mapping[str, Any]) -> list[str]:
    users = [key for key in QUERY_OPTIONS if RANGE_PLACEHOLDER in str(sli.get(key) or "")]
    if sli.get("since") in (None, ""):
        return [f"option {key} uses {RANGE_PLACEHOLDER} and needs since (the start of the rollout)"
                for key in users]
    problems = []
    try:
        parse_time(sli["since"])
    except ValueError as exc:
        problems.append(f"option since: {exc}")
    if not users:
        problems.append(f"option since is set but no query uses {RANGE_PLACEHOLDER}: write the queries as"
                        f" sum(increase(...[{RANGE_PLACEHOLDER}])) or leave since out")
    return problems


def _sequential_problems(sli: Mapping[str, Any]) -> list[str]:
    problems = [f"judge 'sequential' compares cumulative counts of the canary and the baseline and needs {key}"
                for key in count_options(sli)[1:] if not _has(sli, key)
                and not (key == "total_query" and ratio_kind(sli))]  # a ratio without total: _measure_problems
    for key in ("min", "max", "max_increase", "range", "step"):
        if sli.get(key) is not None:
            problems.append(f"option {key} is not used by judge 'sequential' (it tests the ratio of the canary's"
                            " to the baseline's bad-event rate: use max_ratio)")
    if sli.get("direction", "increase") != "increase":
        problems.append(f"option direction must be 'increase' with judge 'sequential' (it only detects a higher"
                        f" bad-event rate), got {sli.get('direction')!r}")
    alpha = sli.get("alpha", 0.02)
    if not 0 < alpha < 1:
        problems.append(f"option alpha must be between 0 and 1 (exclusive), got {alpha}")
    gate = sli.get("effect_size_max_ratio")
    if gate is not None and not (math.isfinite(gate) and gate > 0):
        problems.append(f"option effect_size_max_ratio must be a finite number greater than 0, got {gate}")
    if sli.get("max_ratio") is not None and not math.isfinite(sli["max_ratio"]):
        problems.append(f"option max_ratio must be finite, got {sli['max_ratio']}")
    return problems + _placeholder_problems(sli) + _history_problems(sli.get("history"))


def _measure_problems(sli: Mapping[str, Any]) -> list[str]:
    """What the indicator measures: exactly one of query, bad_query, good_query; a ratio has its total."""
    problems = [f"option {key} must not be empty" for key in MEASURE_OPTIONS
                if sli.get(key) is not None and not _has(sli, key)]
    given = [key for key in MEASURE_OPTIONS if _has(sli, key)]
    if len(given) > 1:
        return [*problems, f"options {' and '.join(given)} are mutually exclusive: an indicator is one query, or"
                " a ratio of bad_query (or good_query) to total_query"]
    if not given:
        return problems or ["needs query, or bad_query or good_query together with total_query (a ratio"
                            " indicator)"]
    kind = ratio_kind(sli)
    if kind is None:
        return problems + [f"option {key} only applies to ratio indicators (bad_query or good_query with"
                           " total_query)" for key in ("baseline_bad_query", "baseline_good_query")
                           if sli.get(key) is not None]
    other = "good" if kind == "bad" else "bad"
    if not _has(sli, "total_query"):
        problems.append(f"option {kind}_query needs total_query, the count of all the events that the {kind}"
                        " events are part of")
    if sli.get("baseline_query") is not None:
        problems.append(f"option baseline_query is for indicators defined by query; compare a ratio indicator"
                        f" with baseline_{kind}_query and baseline_total_query")
    if sli.get(f"baseline_{other}_query") is not None:
        problems.append(f"option baseline_{other}_query does not match {kind}_query: use baseline_{kind}_query")
    pair = (f"baseline_{kind}_query", "baseline_total_query")
    if _has(sli, pair[0]) != _has(sli, pair[1]):
        problems.append(f"options {pair[0]} and {pair[1]} go together")
    return problems


def _min_events_problems(sli: Mapping[str, Any]) -> list[str]:
    minimum = sli.get("min_events")
    if minimum is None:
        return []
    if ratio_kind(sli) is None and (sli.get("judge") or "threshold") != "sequential":
        return ["option min_events only applies to ratio indicators (bad_query or good_query with total_query)"
                " and to judge 'sequential'"]
    if not (math.isfinite(minimum) and minimum >= 0):
        return [f"option min_events must be a finite number, 0 or more, got {minimum}"]
    return []


def _common_problems(sli: Mapping[str, Any]) -> list[str]:
    problems = []
    if not str(sli.get("name") or "").strip():
        problems.append("option name must not be empty")
    problems += _measure_problems(sli) + _min_events_problems(sli)
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
    specific = {"threshold": _threshold_problems, "mann_whitney": _mann_whitney_problems,
                "sequential": _sequential_problems}[judge](sli)
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

    option = "slis"


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

    @property
    def kind(self) -> str | None:
        """``"bad"``/``"good"`` for a ratio indicator, ``None`` for one defined by ``query``."""
        return ratio_kind(self.params)

    @property
    def counts(self) -> tuple[str, str, str, str]:
        """Options of canary numerator, canary total, baseline numerator, baseline total (see count_options)."""
        return count_options(self.params)

    @property
    def has_baseline(self) -> bool:
        return _has_baseline(self.params)


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
    #: The queries as sent when they differ from the options (``$__range`` replaced), by option name.
    sent: dict[str, str] = field(default_factory=dict)
    #: The window that replaced ``$__range`` (sequential judge with ``since``).
    window: str | None = None
    #: Ratio indicators and the sequential judge: the counts used, by option name (V(null) when not evaluated).
    events: dict[str, float | None] | None = None


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


def _run_query(indicator: Indicator, option: str, fetch: Any, query: str | None = None) -> QueryResult:
    """Run one query (``query``, else the option's); permanent errors become :class:`IndicatorConfigError` naming
    the indicator and the option."""
    query = indicator.params[option] if query is None else query
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


def _one_series(indicator: Indicator, option: str, result: QueryResult, query: str | None = None) -> Any:
    try:
        return single_series(result)
    except MultipleSeriesError as exc:
        sent = indicator.params[option] if query is None else query
        raise IndicatorConfigError(f"{indicator.label}: option {option}: {exc} (query {sent!r})") from None


def _instant(client: PrometheusClient, indicator: Indicator, option: str, at: float,
             query: str | None = None) -> tuple[float | None, int, list[str]]:
    result = _run_query(indicator, option, lambda sent: client.query(sent, at), query)
    _one_series(indicator, option, result, query)
    value = instant_value(result)
    return value, (0 if value is None else 1), result.warnings


@dataclass
class RatioSide:
    """One side (canary or baseline) of a ratio indicator: numerator / total, or why there is no data."""

    value: float | None
    missing: str | None
    events: dict[str, float | None]
    warnings: list[str] = field(default_factory=list)


def _events_floor(indicator: Indicator, total_option: str, total: float | None) -> str | None:
    """Why ``total`` is not enough evidence (no data), or ``None``."""
    if total is None:
        return f"no data: {total_option} returned nothing or NaN (no events)"
    if total <= 0:
        return f"no data: {total_option} is {total:g} (no events)"
    minimum = indicator.min_events
    if minimum is not None and total < minimum:
        return f"no data: {total_option} counted {total:g} events, fewer than min_events {minimum:g}"
    return None


def _part_of_total(indicator: Indicator, option: str, part: float | None, total_option: str, total: float) -> float:
    """The numerator, 0 when its query returned nothing (the series does not exist until the first event).

    Within :func:`_slack` a numerator above its total (``increase()`` extrapolation) is clamped; beyond that the
    two queries do not count the same events, which is a configuration error.
    """
    if part is None:
        return 0.0
    if part > total + _slack(total):
        raise IndicatorConfigError(
            f"{indicator.label}: option {option} counts {part:g}, more than {total_option} ({total:g}):"
            f" {option} must count the {option.split('_')[-2]} events among those counted by {total_option}")
    return min(max(part, 0.0), total)


def ratio_side(indicator: Indicator, part_option: str, total_option: str, part: float | None,
               total: float | None) -> RatioSide:
    """Pure: the ratio of one side from the two counts, with the rules of a ratio indicator."""
    events: dict[str, float | None] = {part_option: part, total_option: total}
    missing = _events_floor(indicator, total_option, total)
    if missing is not None:
        return RatioSide(None, missing, events)
    if total is None:  # for mypy: _events_floor checked it
        raise AssertionError("no total after the events floor")
    part = _part_of_total(indicator, part_option, part, total_option, total)
    events[part_option] = part
    return RatioSide(part / total, None, events)


def _ratio_instant(client: PrometheusClient, indicator: Indicator, at: float, baseline: bool) -> RatioSide:
    part_option, total_option = indicator.counts[2:] if baseline else indicator.counts[:2]
    total, _count, warnings = _instant(client, indicator, total_option, at)
    part, _count, more = _instant(client, indicator, part_option, at)
    side = ratio_side(indicator, part_option, total_option, part, total)
    side.warnings = warnings + more
    return side


def _events_text(indicator: Indicator, events: Mapping[str, float | None], baseline: bool = False) -> str:
    part_option, total_option = indicator.counts[2:] if baseline else indicator.counts[:2]
    part, total = events.get(part_option), events.get(total_option)
    if part is None or total is None:
        return ""
    return f"{part:g} {indicator.kind} of {total:g} events"


def early_failure(indicator: Indicator, side: RatioSide) -> tuple[float, str] | None:
    """Pure: ``(share, reason)`` when a ratio side below its ``min_events`` floor already shows decisively that
    the absolute bound is exceeded (``_judge.bound_exceeded_test``), else ``None``. Only ``max`` (bad ratio) or
    ``min`` (good ratio) bounds; below the floor an indicator can fail this way but never pass."""
    part_option, total_option = indicator.counts[:2]
    total = side.events.get(total_option)
    if indicator.min_events is None or total is None or not 0 < total < indicator.min_events:
        return None
    bound = indicator.max if indicator.kind == "bad" else (None if indicator.min is None else 1.0 - indicator.min)
    if bound is None:
        return None
    part = side.events.get(part_option)
    part = 0.0 if part is None or math.isnan(part) else min(max(part, 0.0), total)
    bad = part if indicator.kind == "bad" else total - part
    test = bound_exceeded_test(bad, total, bound)
    if not test.exceeded:
        return None
    share = part / total
    bound_text = f"max {indicator.max:g}" if indicator.kind == "bad" else f"min {indicator.min:g}"
    return share, (f"value {share:.6g} {'>' if indicator.kind == 'bad' else '<'} {bound_text}, decided before the"
                   f" evidence floor ({total:g} events, fewer than min_events {indicator.min_events:g}): {test.reason}")


def judge_threshold_ratio(client: PrometheusClient, indicator: Indicator, at: float) -> Outcome:
    canary = _ratio_instant(client, indicator, at, baseline=False)
    early = early_failure(indicator, canary) if canary.missing else None
    if early is not None:
        share, reason = early
        return Outcome(FAIL, reason, share, None, None, {"query": 1, "baseline_query": None},
                       warnings=canary.warnings, events=dict(canary.events))
    base = _ratio_instant(client, indicator, at, baseline=True) if indicator.has_baseline else None
    baseline = base.value if base else None
    verdict, reason = threshold_verdict(canary.value, indicator.min, indicator.max, baseline, indicator.max_increase,
                                        indicator.max_ratio)
    events = {**canary.events, **(base.events if base else {})}
    if canary.missing:
        reason = canary.missing
    elif verdict == NODATA and base and base.missing:
        reason = f"{reason}: baseline {base.missing}"
    else:
        details = [_events_text(indicator, events)] + ([_events_text(indicator, events, True)] if base else [])
        reason = f"{reason} ({' vs baseline '.join(part for part in details if part)})"
    return Outcome(verdict, reason, canary.value, baseline, _ratio_or_none(canary.value, baseline),
                   {"query": int(canary.value is not None),
                    "baseline_query": None if base is None else int(baseline is not None)},
                   warnings=canary.warnings + (base.warnings if base else []), events=events)


def judge_threshold(client: PrometheusClient, indicator: Indicator, at: float) -> Outcome:
    if indicator.kind:
        return judge_threshold_ratio(client, indicator, at)
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


def _range_points(client: PrometheusClient, indicator: Indicator, option: str, at: float
                  ) -> tuple[dict[float, float], list[str]]:
    range_s, step_s = parse_duration(indicator.range_text), parse_duration(indicator.step_text)
    result = _run_query(indicator, option, lambda query: client.query_range(query, at - range_s, at, step_s))
    series = _one_series(indicator, option, result)
    points = {} if series is None else {round(stamp, 3): value for stamp, value in series.points}
    return points, result.warnings


def ratio_samples(indicator: Indicator, parts: Mapping[float, float], totals: Mapping[float, float]
                  ) -> tuple[list[float], int]:
    """Pure: one ratio per step with events in the total (a missing numerator point is 0), in time order, and the
    number of steps dropped for fewer than ``min_events`` events."""
    values, dropped = [], 0
    for stamp in sorted(totals):
        total = totals[stamp]
        if math.isnan(total) or total <= 0:
            continue
        if indicator.min_events is not None and total < indicator.min_events:
            dropped += 1
            continue
        part = parts.get(stamp, 0.0)
        part = 0.0 if math.isnan(part) else min(max(part, 0.0), total)
        values.append(part / total)
    return values, dropped


def _ratio_range_values(client: PrometheusClient, indicator: Indicator, at: float, baseline: bool
                        ) -> tuple[list[float], int, list[str]]:
    part_option, total_option = indicator.counts[2:] if baseline else indicator.counts[:2]
    totals, warnings = _range_points(client, indicator, total_option, at)
    parts, more = _range_points(client, indicator, part_option, at)
    values, dropped = ratio_samples(indicator, parts, totals)
    return values, dropped, warnings + more


def _mean(values: list[float]) -> float | None:
    return math.fsum(values) / len(values) if values else None


def _too_few(indicator: Indicator, canary: list[float], baseline: list[float], dropped: int = 0) -> str | None:
    minimum = indicator.min_samples
    names = ("query", "baseline_query") if indicator.kind is None else (indicator.counts[0], indicator.counts[2])
    short = [f"{what} has {len(values)}" for what, values in zip(names, (canary, baseline))  # noqa: B905
             if len(values) < minimum]
    if not short:
        return None
    floor = (f"; {dropped} samples with fewer than min_events {indicator.min_events:g} events left out"
             if dropped else "")
    return (f"no data: too few samples over the last {indicator.range_text} ({', '.join(short)}; min_samples"
            f" {minimum}{floor})")


def judge_mann_whitney(client: PrometheusClient, indicator: Indicator, at: float) -> Outcome:
    dropped = 0
    if indicator.kind:
        canary, dropped_canary, warnings = _ratio_range_values(client, indicator, at, baseline=False)
        baseline, dropped_baseline, more = _ratio_range_values(client, indicator, at, baseline=True)
        dropped = dropped_canary + dropped_baseline
    else:
        canary, warnings = _range_values(client, indicator, "query", at)
        baseline, more = _range_values(client, indicator, "baseline_query", at)
    value, baseline_value = _mean(canary), _mean(baseline)
    outcome = Outcome(NODATA, "", value, baseline_value, _ratio_or_none(value, baseline_value),
                      {"query": len(canary), "baseline_query": len(baseline)}, warnings=warnings + more)
    too_few = _too_few(indicator, canary, baseline, dropped)
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


def sequential_window(indicator: Indicator, at: float) -> str | None:
    """The window that replaces ``$__range``: whole seconds from ``since`` to ``at`` (None without ``since``)."""
    if indicator.since in (None, ""):
        return None
    since = parse_time(indicator.since)  # validated before
    if since >= at:
        raise IndicatorConfigError(f"{indicator.label}: option since: {format_time(since)} is not before the"
                                   f" evaluation time {format_time(at)}")
    return f"{max(1, math.ceil(at - since))}s"


def _slack(value: float) -> float:
    return max(COUNT_SLACK_ABSOLUTE, COUNT_SLACK_RELATIVE * abs(value))


def _consistent_look(indicator: Indicator, counts: list[float], previous: list[float] | None,
                     options: tuple[str, ...] = SEQUENTIAL_QUERIES) -> list[float]:
    """The look's counts made consistent with the previous look and with each other.

    ``increase()`` extrapolates to the window's ends, so a count that did not move can come back slightly smaller
    at a later look, and a bad-event count slightly above its total: within :func:`_slack` these are clamped
    (cumulative counts never shrink, bad events never exceed the total). Larger gaps are configuration errors.
    """
    look: list[float] = []
    for side in (0, 2):
        bad, total = counts[side], counts[side + 1]
        bad_option, total_option = options[side], options[side + 1]
        if previous is not None:
            for option, value, before in ((bad_option, bad, previous[side]),
                                          (total_option, total, previous[side + 1])):
                if value < before - _slack(before):
                    raise IndicatorConfigError(
                        f"{indicator.label}: option {option}: the count fell from {before:g} at the previous look"
                        f" (history) to {value:g}; counts must be cumulative since the rollout started (is history"
                        " from another rollout, or did since change?)")
            total = max(total, previous[side + 1])
            bad = previous[side] if total == previous[side + 1] else max(bad, previous[side])
        if bad > total + _slack(total):
            raise IndicatorConfigError(
                f"{indicator.label}: option {bad_option} counts {bad:g} events, more than {total_option} ({total:g}):"
                f" {bad_option} must count the bad events among those counted by {total_option}")
        look += [min(bad, total), total]
    return look


def _sequential_reason(result: SequentialResult, alpha: float) -> str:
    if result.verdict != "continue":
        return result.reason
    threshold = 1.0 / alpha
    if result.max_e_value >= threshold:  # rejected, but allowed by effect_size_max_ratio
        return f"the rollout may continue: {result.reason}"
    details = result.reason.split(": ", 1)[-1]
    return (f"no evidence of a regression so far (max e-value {result.max_e_value:.4g} < 1/alpha {threshold:g});"
            f" the rollout may continue and a later look can still fail it: {details}")


def _ratio_counts(indicator: Indicator, counts: list[float | None]) -> tuple[list[float] | None, str | None]:
    """Bad-event counts of a ratio indicator's sequential look (a missing numerator is 0; good -> total - good),
    or the reason there is no data (a side without events, or fewer than ``min_events``)."""
    look: list[float] = []
    for side in (0, 2):
        part_option, total_option = indicator.counts[side], indicator.counts[side + 1]
        total = counts[side + 1]
        missing = _events_floor(indicator, total_option, total)
        if missing is not None:
            return None, missing
        if total is None:
            raise AssertionError("no total after the events floor")
        part = _part_of_total(indicator, part_option, counts[side], total_option, total)
        look += [total - part if indicator.kind == "good" else part, total]
    return look, None


def _sequential_counts(indicator: Indicator, counts: list[float | None]) -> tuple[list[float] | None, str | None]:
    if indicator.kind:
        return _ratio_counts(indicator, counts)
    missing = [option for option, value in zip(SEQUENTIAL_QUERIES, counts) if value is None]  # noqa: B905
    if missing:
        return None, f"no data: {', '.join(missing)} returned nothing or NaN"
    minimum = indicator.min_events
    for total_option, total in (("total_query", counts[1]), ("baseline_total_query", counts[3])):
        if minimum is not None and total is not None and total < minimum:
            return None, f"no data: {total_option} counted {total:g} events, fewer than min_events {minimum:g}"
    return [float(count) for count in counts if count is not None], None


def judge_sequential(client: PrometheusClient, indicator: Indicator, at: float) -> Outcome:
    window = sequential_window(indicator, at)
    options = indicator.counts
    sent = {option: indicator.params[option] if window is None else
            indicator.params[option].replace(RANGE_PLACEHOLDER, window) for option in options}
    counts: list[float | None] = []
    warnings: list[str] = []
    for option in options:
        value, _count, more = _instant(client, indicator, option, at, sent[option])
        counts.append(value)
        warnings += more
    history = [[float(count) for count in look] for look in indicator.history or []]
    outcome = Outcome(NODATA, "", samples={"query": int(counts[0] is not None),
                                           "baseline_query": int(counts[2] is not None)},
                      warnings=warnings, sent=sent, window=window, stats={"looks": history, "decision": NODATA},
                      events=dict(zip(options, counts)))  # noqa: B905
    checked, missing = _sequential_counts(indicator, counts)
    if checked is None:
        outcome.reason = missing or "no data"
        return outcome
    shown = checked if indicator.kind != "good" else \
        [checked[1] - checked[0], checked[1], checked[3] - checked[2], checked[3]]  # good events, as queried
    outcome.events = dict(zip(options, shown))  # noqa: B905
    look = _consistent_look(indicator, checked, history[-1] if history else None,
                            ("bad events of " + options[0], options[1], "bad events of " + options[2], options[3])
                            if indicator.kind == "good" else options)
    max_ratio = 1.0 if indicator.max_ratio is None else indicator.max_ratio
    try:
        result = sequential_rate_test(*look, alpha=indicator.alpha, max_ratio=max_ratio, history=history,
                                      final=bool(indicator.final),
                                      effect_size_max_ratio=indicator.effect_size_max_ratio)
    except ValueError as exc:
        raise IndicatorConfigError(f"{indicator.label}: option history: {exc}") from None
    outcome.verdict = {"continue": PASS}.get(result.verdict, result.verdict)
    outcome.reason = _sequential_reason(result, indicator.alpha)
    outcome.value = look[0] / look[1] if look[1] else None
    outcome.baseline_value = look[2] / look[3] if look[3] else None
    outcome.ratio = result.ratio
    outcome.stats = {"p_value": result.p_value, "e_value": result.e_value, "max_e_value": result.max_e_value,
                     "ratio_upper": result.ratio_upper, "decision": result.verdict,
                     "looks": [list(item) for item in result.looks]}
    return outcome


def judge(client: PrometheusClient, indicator: Indicator, at: float) -> Outcome:
    """Judge one indicator. Transient failures after all retries give an inconclusive outcome with the error."""
    try:
        if indicator.judge == "mann_whitney":
            return judge_mann_whitney(client, indicator, at)
        if indicator.judge == "sequential":
            return judge_sequential(client, indicator, at)
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
    mann_whitney, sequential = indicator.judge == "mann_whitney", indicator.judge == "sequential"
    stats = {key: outcome.stats.get(key) for key in STAT_FIELDS}
    for key in NUMBER_STAT_FIELDS:
        stats[key] = _json_number(stats[key])
    if sequential and stats["looks"] is None:  # a Prometheus error: keep the history for the next look
        stats["looks"] = [list(look) for look in indicator.history or []]
    queries = {option: outcome.sent.get(option, indicator.params.get(option)) for option in QUERY_OPTIONS}
    return {
        "name": indicator.name, "verdict": verdict, "reason": outcome.reason, "no_data": no_data,
        "error": outcome.error, "judge": indicator.judge, "critical": indicator.critical,
        "weight": indicator.weight, "on_no_data": indicator.on_no_data, **queries,
        "value": _json_number(outcome.value),
        "baseline_value": _json_number(outcome.baseline_value), "ratio": _json_number(outcome.ratio),
        "bounds": {key: _json_number(indicator.params.get(key)) for key in BOUND_OPTIONS},
        "samples": dict(outcome.samples), **stats,
        "events": (None if outcome.events is None
                   else {key: _json_number(value) for key, value in outcome.events.items()}),
        "min_events": _json_number(indicator.min_events),
        "range": indicator.range_text if mann_whitney else outcome.window,
        "step": indicator.step_text if mann_whitney else None,
        "warnings": list(outcome.warnings),
    }


#: Judge statistics returned in every ``results[]`` entry (V(null) when the judge does not compute them).
STAT_FIELDS = ("classification", "p_value", "hodges_lehmann", "ci_lower", "ci_upper", "removed_outliers",
               "e_value", "max_e_value", "ratio_upper", "decision", "looks")
NUMBER_STAT_FIELDS = ("p_value", "hodges_lehmann", "ci_lower", "ci_upper", "e_value", "max_e_value", "ratio_upper")


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


def _bounds_text(result: Mapping[str, Any]) -> str:
    bounds = [f"{key} {value:g}" if isinstance(value, float) else f"{key} {value}"
              for key, value in result["bounds"].items() if value is not None]
    if result.get("min_events") is not None:
        bounds.append(f"min_events {result['min_events']:g}")
    return ", ".join(bounds)


def indicator_summary(result: Mapping[str, Any]) -> str:
    """``name (verdict): reason``; an indicator without a value also names its bounds (the reason cannot)."""
    text = f"{result['name']} ({result['verdict']}): {result['reason']}"
    bounds = _bounds_text(result)
    if result["value"] is None and bounds:
        text += f" [bounds: {bounds}]"
    return text


def failure_message(verdict_reason: str, results: list[dict[str, Any]]) -> str:
    """The task's failure message: the overall reason, then each failing (else each non-passing) indicator."""
    failing = [result for result in results if result["verdict"] == FAIL] or \
        [result for result in results if result["verdict"] != PASS]
    details = "; ".join(indicator_summary(result) for result in failing)
    return f"SLO check failed: {verdict_reason}. " + (f"Indicators: {details}" if details else "")


def verdict_message(verdict: str, verdict_reason: str, results: list[dict[str, Any]]) -> str:
    """``msg`` for every verdict: why, then the indicators that decided it (all of them unless it failed)."""
    if verdict == FAIL:
        return failure_message(verdict_reason, results)
    word = {PASS: "passed"}.get(verdict, verdict)
    details = "; ".join(indicator_summary(result) for result in results)
    return f"SLO check {word}: {verdict_reason}. " + (f"Indicators: {details}" if details else "")


def run_check(client: PrometheusClient, indicators: list[Indicator], at: float, pass_score: float,
              marginal_score: float) -> dict[str, Any]:
    """Evaluate every indicator at ``at`` and fold the verdicts. Raises :class:`IndicatorConfigError`.

    ``reason`` is the fold's reason followed by every indicator with its value (or why it has none) and bounds;
    ``msg`` says the same for every verdict (Ansible's ``until`` loops and failures show ``msg``).
    """
    results = [indicator_result(indicator, judge(client, indicator, at)) for indicator in indicators]
    verdict, score, fold_reason = summarize(results, pass_score, marginal_score)
    details = "; ".join(indicator_summary(result) for result in results)
    return {"changed": False, "verdict": verdict, "score": round(score, 4),
            "reason": f"{fold_reason}. Indicators: {details}" if details else fold_reason,
            "msg": verdict_message(verdict, fold_reason, results),
            "evaluated_at": format_time(at), "results": results}


# --------------------------------------------------------------------------------------------------
# What every module that judges indicators does with its options (slo_check, qos_guard)
# --------------------------------------------------------------------------------------------------
class SliModule(ContractModule):
    """ContractModule whose argument errors inside ``slis`` say which indicator is wrong (``option`` ``slis``).

    AnsibleModule validates ``slis`` against :data:`SLI_OPTIONS` itself, but its messages end in "found in 'slis'"
    without saying which element. When construction fails on ``slis`` we validate each element again, with the same
    Ansible validator, and report the messages prefixed with ``slis[i] ('name')``.
    """

    def validation_failure(self, msg: str) -> tuple[str, str | None]:
        if "slis" in str(msg):
            detailed = sli_type_errors(self.params.get("slis"))
            if detailed:
                return "; ".join(detailed), "slis"
        return super().validation_failure(msg)


def load_indicators(params: Mapping[str, Any]) -> list[Indicator]:
    """The validated indicators of ``params`` (``slis``, ``pass_score``, ``marginal_score``).

    Raises :class:`ModuleFailure` with every problem (``option`` ``slis``, or the score option at fault), and
    ``missing_required_lib`` when a mann_whitney indicator needs scipy and it is not usable.
    """
    sli_problems_found = validate_slis(params["slis"])
    score_problems = validate_scores(params["pass_score"], params["marginal_score"])
    if sli_problems_found or score_problems:
        option = "slis" if sli_problems_found else score_problems[0].split()[1]
        raise ModuleFailure("; ".join(sli_problems_found + score_problems), option=option)
    indicators = [Indicator(index, sli) for index, sli in enumerate(params["slis"])]
    require_scipy(indicators)
    return indicators


def require_scipy(indicators: list[Indicator]) -> None:
    """``_deps.require(SCIPY)``, only when a mann_whitney indicator needs it."""
    users = [indicator.name for indicator in indicators if indicator.judge == "mann_whitney"]
    if users:
        require(SCIPY, reason=f"for judge mann_whitney ({', '.join(users)})", option="slis")
