# -*- coding: utf-8 -*-
# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The analysis of one rollout step, with Argo Rollouts semantics (controller side, no Ansible needed).

The action plugin ``progressive.delivery.analysis`` measures (``slo_check``, health URLs, containers); this file
folds the measurements into one verdict, says how long to wait, writes the progress lines and explains failures:

* every ``interval`` one measurement: ``pass``, ``fail`` or ``inconclusive``;
* more than ``failure_limit`` failed measurements end the analysis as ``fail`` at once (default 0: the first);
* more than ``inconclusive_limit`` inconclusive measurements in a row end it as ``inconclusive``; a measurement
  that is inconclusive only for lack of evidence (indicators without data: no traffic yet, fewer events than
  ``min_events``) is *waiting for evidence*: it never passes and never fails, and does not end the analysis
  early;
* at ``duration`` the last measurement decides: ``pass`` only when it passed (and failures never exceeded the
  limit); while it still lacks evidence, the analysis is extended, one interval at a time, up to
  ``max_duration``, and ends ``inconclusive`` if the evidence never came. Missing data is never a pass.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ansible_collections.progressive.delivery.plugins.module_utils._time import (
    format_remaining,
    option_duration,
)

PASS, FAIL, INCONCLUSIVE = "pass", "fail", "inconclusive"
VERDICTS = (PASS, FAIL, INCONCLUSIVE)
#: Query options of a slo_check indicator, in the order they are shown.
QUERY_KEYS = ("query", "bad_query", "good_query", "total_query", "baseline_query", "baseline_bad_query",
              "baseline_good_query", "baseline_total_query")
BOUND_KEYS = ("min", "max", "max_increase", "max_ratio")
#: Default longest gap between two progress lines, in seconds.
PROGRESS_EVERY = 10.0


def _elapsed(seconds: float) -> str:
    """Elapsed time in whole seconds, rounded down (``0s`` at the first poll)."""
    return format_remaining(math.floor(seconds + 1e-6))


class AnalysisOptionError(ValueError):
    """A bad option value; ``option`` names it."""

    def __init__(self, msg: str, option: str) -> None:
        super().__init__(msg)
        self.msg = msg
        self.option = option


# --------------------------------------------------------------------------------------------------
# Options
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AnalysisConfig:
    duration: float
    interval: float = 5.0
    max_duration: float | None = None
    failure_limit: int = 0
    inconclusive_limit: int = 2
    label: str = ""
    progress_every: float = PROGRESS_EVERY

    @property
    def longest(self) -> float:
        return self.duration if self.max_duration is None else self.max_duration

    @classmethod
    def from_args(cls, args: Mapping[str, Any]) -> AnalysisConfig:
        """Validated timing options of the action (``duration``, ``interval``, ...); :class:`AnalysisOptionError`
        names the option at fault."""
        seconds = {}
        for option in ("duration", "interval", "max_duration", "progress_interval"):
            value = args.get(option)
            if value is None:
                continue
            try:
                seconds[option] = option_duration(option, value, allow_zero=option == "progress_interval")
            except ValueError as exc:
                raise AnalysisOptionError(str(exc), option) from None
        if "duration" not in seconds:
            raise AnalysisOptionError("option duration is required (for example 30s or 10m)", "duration")
        duration = seconds["duration"]
        interval = seconds.get("interval", 5.0)
        max_duration = seconds.get("max_duration", duration)
        if interval > duration:
            raise AnalysisOptionError(f"option interval ({args.get('interval')}) must not be longer than duration"
                                      f" ({args.get('duration')})", "interval")
        if max_duration < duration:
            raise AnalysisOptionError(f"option max_duration ({args.get('max_duration')}) must not be shorter than"
                                      f" duration ({args.get('duration')})", "max_duration")
        for option, default in (("failure_limit", 0), ("inconclusive_limit", 2)):
            value = args.get(option, default)
            if value is None:
                value = default
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise AnalysisOptionError(f"option {option} must be a whole number >= 0, got {value!r}", option)
        return cls(duration=duration, interval=interval, max_duration=max_duration,
                   failure_limit=int(args.get("failure_limit") or 0),
                   inconclusive_limit=int(2 if args.get("inconclusive_limit") is None else args["inconclusive_limit"]),
                   label=str(args.get("label") or ""),
                   progress_every=seconds.get("progress_interval", PROGRESS_EVERY))


# --------------------------------------------------------------------------------------------------
# One measurement
# --------------------------------------------------------------------------------------------------
@dataclass
class Check:
    """One health URL or container checked at one poll."""

    kind: str  # "health_url" or "container"
    name: str
    ok: bool
    value: Any
    reason: str
    query: str
    bound: str

    def short(self) -> str:
        """``http://127.0.0.1:8080/healthz 503 fail``, ``lab-green restarts 1, running fail`` (no braces)."""
        shown = _text(self.value)
        if isinstance(self.value, Mapping):
            shown = f"restarts {self.value.get('restart_count')}, {self.value.get('status')}" + (
                f", {self.value['health']}" if self.value.get("health") else "")
        return f"{self.name} {shown} {'ok' if self.ok else 'fail'}"


@dataclass
class Measurement:
    """What one poll saw: the slo_check result (``None`` without indicators) and the checks."""

    elapsed: float
    at: str
    slo: Mapping[str, Any] | None
    checks: list[Check] = field(default_factory=list)

    @property
    def indicators(self) -> list[Mapping[str, Any]]:
        return list((self.slo or {}).get("results") or [])

    @property
    def failed_checks(self) -> list[Check]:
        return [check for check in self.checks if not check.ok]

    @property
    def verdict(self) -> str:
        slo_verdict = (self.slo or {}).get("verdict", PASS)
        if self.failed_checks or slo_verdict == FAIL:
            return FAIL
        return INCONCLUSIVE if slo_verdict == INCONCLUSIVE else PASS

    @property
    def waiting_for_evidence(self) -> bool:
        """Inconclusive only because indicators have no data yet (no Prometheus error, nothing failed)."""
        if self.verdict != INCONCLUSIVE:
            return False
        not_passing = [result for result in self.indicators if result.get("verdict") != PASS]
        return bool(not_passing) and all(result.get("no_data") and not result.get("error")
                                         and result.get("verdict") == INCONCLUSIVE for result in not_passing)

    def values(self) -> dict[str, Any]:
        return {result["name"]: result.get("value") for result in self.indicators}

    def as_result(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"at": self.at, "elapsed": round(self.elapsed, 3), "verdict": self.verdict,
                                 "values": self.values(), "no_data": self.waiting_for_evidence}
        if self.checks:
            entry["checks"] = {check.name: check.value for check in self.checks}
        return entry


# --------------------------------------------------------------------------------------------------
# Text
# --------------------------------------------------------------------------------------------------
def _number(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if not math.isfinite(value):
        return "+Inf" if value > 0 else ("-Inf" if value < 0 else "NaN")
    if value != 0 and abs(value) < 0.001:
        return f"{value:.2e}"
    return f"{value:.0f}" if abs(value) >= 1000 else f"{value:.3f}"


def _text(value: Any) -> str:
    return _number(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else str(value)


def _bound(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _lower(value: Any, bound: Any) -> bool:
    try:
        return float(value) < float(bound)
    except (TypeError, ValueError):
        return False


def _higher(value: Any, bound: Any) -> bool:
    try:
        return float(value) > float(bound)
    except (TypeError, ValueError):
        return False


def indicator_text(result: Mapping[str, Any]) -> str:
    """``error_ratio 0.000 <= 0.01 pass``: the value against its bound, or what the judge says."""
    name, verdict, value = result.get("name"), result.get("verdict"), result.get("value")
    bounds = result.get("bounds") or {}
    if result.get("error"):
        return f"{name} error ({result['error']}) {verdict}"
    if result.get("no_data") or value is None:
        return f"{name} no data {verdict}"
    judge = result.get("judge")
    if judge == "sequential":
        shown = f"ratio {_text(result.get('ratio'))}"
        if result.get("max_e_value") is not None:
            shown += f" (e {_text(result.get('max_e_value'))})"
        return f"{name} {shown} {verdict}"
    if judge == "mann_whitney":
        return f"{name} {_text(value)} vs {_text(result.get('baseline_value'))} ({result.get('classification')})" \
               f" {verdict}"
    parts = []
    if bounds.get("max") is not None:
        parts.append(f"{'>' if _higher(value, bounds['max']) else '<='} {_bound(bounds['max'])}")
    if bounds.get("min") is not None:
        parts.append(f"{'<' if _lower(value, bounds['min']) else '>='} {_bound(bounds['min'])}")
    shown = f"{name} {_text(value)}" + (f" {' '.join(parts)}" if parts else "")
    if bounds.get("max_ratio") is not None and result.get("ratio") is not None:
        ratio = result["ratio"]
        shown += f", ratio {_text(ratio)} {'>' if _higher(ratio, bounds['max_ratio']) else '<='}" \
                 f" {_bound(bounds['max_ratio'])}"
    return f"{shown} {verdict}"


def query_text(result: Mapping[str, Any]) -> str:
    """The PromQL of an indicator as one readable string: ``bad / total`` for ratios, ``... vs baseline ...``."""
    def side(prefix: str) -> str | None:
        numerator = result.get(f"{prefix}bad_query") or result.get(f"{prefix}good_query")
        total = result.get(f"{prefix}total_query")
        if numerator and total:
            return f"({numerator}) / ({total})"
        single = result.get(f"{prefix}query")
        if single and total:
            return f"({single}) / ({total})"
        return single or numerator or total
    main, baseline = side(""), side("baseline_")
    return f"{main} vs baseline {baseline}" if baseline else str(main or "")


def bound_text(result: Mapping[str, Any]) -> str:
    bounds = [f"{key} {_bound(value)}" for key, value in (result.get("bounds") or {}).items() if value is not None]
    if result.get("min_events") is not None:
        bounds.append(f"min_events {_bound(result['min_events'])}")
    return ", ".join(bounds)


def indicator_failure(result: Mapping[str, Any], measurement: Measurement) -> dict[str, Any]:
    """A ``failing`` entry for a failed indicator: name, queries, bounds, measured values and the reason."""
    return {
        "kind": "indicator", "name": result.get("name"), "query": query_text(result),
        "queries": {key: result[key] for key in QUERY_KEYS if result.get(key)},
        "bound": bound_text(result),
        "bounds": {key: value for key, value in (result.get("bounds") or {}).items() if value is not None},
        "value": result.get("value"), "baseline_value": result.get("baseline_value"), "ratio": result.get("ratio"),
        "events": result.get("events"), "reason": result.get("reason"),
        "at": measurement.at, "elapsed": round(measurement.elapsed, 3),
    }


def check_failure(check: Check, measurement: Measurement) -> dict[str, Any]:
    return {"kind": check.kind, "name": check.name, "query": check.query, "bound": check.bound, "value": check.value,
            "reason": check.reason, "at": measurement.at, "elapsed": round(measurement.elapsed, 3)}


def failures_of(measurement: Measurement) -> list[dict[str, Any]]:
    return [indicator_failure(result, measurement) for result in measurement.indicators
            if result.get("verdict") == FAIL] + \
        [check_failure(check, measurement) for check in measurement.failed_checks]


def failing_text(entry: Mapping[str, Any]) -> str:
    """``error_ratio: value 0.3 > max 0.01 (query: ...; bound: max 0.01; value 0.3)``."""
    details = [f"query: {entry['query']}"] if entry.get("query") else []
    if entry.get("bound"):
        details.append(f"bound: {entry['bound']}")
    details.append(f"value: {_text(entry.get('value'))}")
    return f"{entry['name']}: {entry.get('reason')} ({'; '.join(details)})"


# --------------------------------------------------------------------------------------------------
# Folding
# --------------------------------------------------------------------------------------------------
@dataclass
class Analysis:
    """The state of one analysis: feed it measurements with :meth:`record`; it says when it is decided."""

    config: AnalysisConfig
    measurements: list[Measurement] = field(default_factory=list)
    failures: int = 0
    inconclusive_streak: int = 0
    extended: bool = False
    verdict: str | None = None
    why: str = ""
    failing: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)

    @property
    def done(self) -> bool:
        return self.verdict is not None

    @property
    def last(self) -> Measurement | None:
        return self.measurements[-1] if self.measurements else None

    def record(self, measurement: Measurement) -> str | None:
        """Fold one measurement in; return the final verdict once the analysis is decided, else ``None``."""
        self.measurements.append(measurement)
        verdict = measurement.verdict
        for entry in failures_of(measurement):
            self.failing[(entry["kind"], str(entry["name"]))] = entry
        if verdict == FAIL:
            self.failures += 1
        if verdict == INCONCLUSIVE and not measurement.waiting_for_evidence:
            self.inconclusive_streak += 1
        elif verdict != INCONCLUSIVE:
            self.inconclusive_streak = 0
        config = self.config
        if self.failures > config.failure_limit:
            return self._decide(FAIL, f"{self.failures} failed measurement{'s' if self.failures > 1 else ''},"
                                      f" more than failure_limit {config.failure_limit}")
        if self.inconclusive_streak > config.inconclusive_limit:
            return self._decide(INCONCLUSIVE, f"{self.inconclusive_streak} inconclusive measurements in a row,"
                                              f" more than inconclusive_limit {config.inconclusive_limit}")
        if measurement.elapsed < config.duration:
            return None
        if verdict == PASS:
            return self._decide(PASS, f"ran {_elapsed(measurement.elapsed)} and the last measurement passed"
                                + (f" ({self.failures} tolerated failure{'s' if self.failures > 1 else ''},"
                                   f" failure_limit {config.failure_limit})" if self.failures else ""))
        if verdict == FAIL:
            return self._decide(FAIL, "the last measurement failed (a pass needs the last measurement to pass)")
        if measurement.waiting_for_evidence and measurement.elapsed < config.longest:
            self.extended = True
            return None
        if measurement.waiting_for_evidence:
            return self._decide(INCONCLUSIVE, "not enough evidence after"
                                f" {_elapsed(measurement.elapsed)}" + (
                                    f" (extended up to max_duration {format_remaining(config.longest)})"
                                    if self.extended else "") + "; missing data is never a pass")
        return self._decide(INCONCLUSIVE, "the last measurement was inconclusive")

    def _decide(self, verdict: str, why: str) -> str:
        self.verdict, self.why = verdict, why
        return verdict

    def next_poll_in(self, elapsed: float) -> float:
        """Seconds from ``elapsed`` to the next poll: every interval, and exactly at duration (and max_duration)."""
        config = self.config
        slot = math.floor(self.last.elapsed / config.interval + 1e-9) + 1 if self.last else 0
        target = slot * config.interval
        end = config.duration if self.last is None or self.last.elapsed < config.duration else config.longest
        target = min(target, end)
        return max(0.0, target - elapsed)

    # ---- text ----
    def _prefix(self) -> str:
        return f"analysis [{self.config.label}]" if self.config.label else "analysis"

    def clock_text(self, elapsed: float) -> str:
        config = self.config
        if elapsed < config.duration or config.longest == config.duration:
            left = max(0.0, config.duration - elapsed)
            return f"{_elapsed(elapsed)}/{format_remaining(config.duration)} ({format_remaining(left)} left)"
        left = max(0.0, config.longest - elapsed)
        return (f"{_elapsed(elapsed)}/{format_remaining(config.duration)} (extended: waiting for evidence,"
                f" {format_remaining(left)} left of max_duration {format_remaining(config.longest)})")

    def observations(self, measurement: Measurement) -> str:
        parts = [indicator_text(result) for result in measurement.indicators]
        health = [check for check in measurement.checks if check.kind == "health_url"]
        containers = [check for check in measurement.checks if check.kind == "container"]
        for kind, checks in (("health", health), ("containers", containers)):
            if not checks:
                continue
            failed = [check for check in checks if not check.ok]
            parts.extend(check.short() for check in failed) if failed else parts.append(f"{kind} ok")
        return ", ".join(parts) or "nothing measured"

    def progress_line(self, measurement: Measurement) -> str:
        """``analysis [step 2/4 25%] 12s/30s (18s left): error_ratio 0.000 <= 0.01 pass -> pass``."""
        verdict = measurement.verdict
        tail = verdict
        if verdict == FAIL and self.config.failure_limit:
            tail += f" ({self.failures} of {self.config.failure_limit} tolerated)"
        elif verdict == INCONCLUSIVE and measurement.waiting_for_evidence:
            tail += " (waiting for evidence)"
        elif verdict == INCONCLUSIVE:
            tail += f" ({self.inconclusive_streak} in a row, limit {self.config.inconclusive_limit})"
        return f"{self._prefix()} {self.clock_text(measurement.elapsed)}: {self.observations(measurement)} -> {tail}"

    def waiting_line(self, elapsed: float, next_in: float) -> str:
        last = self.last
        seen = f"; last: {self.observations(last)} -> {last.verdict}" if last else ""
        return f"{self._prefix()} {self.clock_text(elapsed)}: next poll in {format_remaining(next_in)}{seen}"

    def message(self) -> str:
        elapsed = self.last.elapsed if self.last else 0.0
        polls = len(self.measurements)
        head = {PASS: "passed", FAIL: "failed", INCONCLUSIVE: "inconclusive"}[self.verdict or INCONCLUSIVE]
        text = f"{self._prefix()} {head} after {_elapsed(elapsed)} ({polls} poll{'s' if polls != 1 else ''}):" \
               f" {self.why}."
        if self.verdict == FAIL and self.failing:
            return f"{text} Failing: " + "; ".join(failing_text(entry) for entry in self.failing.values())
        if self.verdict == INCONCLUSIVE and self.last is not None:
            reasons = [f"{result.get('name')}: {result.get('reason')}" for result in self.last.indicators
                       if result.get("verdict") != PASS]
            if reasons:
                return f"{text} Not passing: " + "; ".join(reasons)
        return f"{text} Last: {self.observations(self.last)}" if self.last else text

    def result(self) -> dict[str, Any]:
        last = self.last
        return {
            "changed": False, "verdict": self.verdict, "msg": self.message(),
            "measurements": [measurement.as_result() for measurement in self.measurements],
            "failing": list(self.failing.values()),
            "last": dict(last.slo) if last is not None and last.slo is not None else None,
            "elapsed": round(last.elapsed, 3) if last else 0.0,
            "polls": len(self.measurements), "extended": self.extended, "failures": self.failures,
        }


# --------------------------------------------------------------------------------------------------
# The loop (the action plugin passes the real clock, sleep, measure and display)
# --------------------------------------------------------------------------------------------------
def run_analysis(config: AnalysisConfig, measure: Callable[[float], Measurement], clock: Callable[[], float],
                 sleep: Callable[[float], None], emit: Callable[[str], None]) -> Analysis:
    """Poll ``measure(elapsed)`` until the analysis is decided; ``emit`` a progress line at least every
    ``config.progress_every`` seconds (at every poll when that is 0), at every poll that does not pass or whose
    verdict changed, and at the end."""
    analysis = Analysis(config)
    start = clock()
    last_line_at: float | None = None
    previous: str | None = None

    def say(line: str) -> None:
        nonlocal last_line_at
        emit(line)
        last_line_at = clock() - start

    while True:
        measurement = measure(clock() - start)
        decided = analysis.record(measurement)
        due = last_line_at is None or (clock() - start) - last_line_at >= config.progress_every - 0.5
        if decided or due or measurement.verdict != PASS or measurement.verdict != previous:
            say(analysis.progress_line(measurement))
        previous = measurement.verdict
        if decided:
            say(analysis.message())
            return analysis
        while True:
            elapsed = clock() - start
            wait = analysis.next_poll_in(elapsed)
            if wait <= 0:
                break
            until_line = config.progress_every - (elapsed - (last_line_at or 0.0)) if config.progress_every else wait
            if 0 < until_line < wait:
                sleep(until_line)
                say(analysis.waiting_line(clock() - start, analysis.next_poll_in(clock() - start)))
            else:
                sleep(wait)


# --------------------------------------------------------------------------------------------------
# slo_check arguments between polls
# --------------------------------------------------------------------------------------------------
def slis_for_poll(slis: list[Mapping[str, Any]], since: Any, previous: Mapping[str, Any] | None
                  ) -> list[dict[str, Any]]:
    """The ``slis`` for the next slo_check call: ``since`` filled in for sequential indicators that do not set
    their own, and each sequential indicator's ``history`` carried over from the previous poll's ``looks``."""
    results = {result.get("name"): result for result in (previous or {}).get("results") or []}
    prepared = []
    for sli in slis:
        sli = dict(sli)
        if sli.get("judge") == "sequential":
            if since not in (None, "") and sli.get("since") in (None, ""):
                sli["since"] = since
            looks = (results.get(sli.get("name")) or {}).get("looks")
            if looks:
                sli["history"] = looks
        prepared.append(sli)
    return prepared


# --------------------------------------------------------------------------------------------------
# Container checks (docker_container_info's ``container``: the docker inspect document)
# --------------------------------------------------------------------------------------------------
def container_state(info: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not info:
        return None
    state = info.get("State") or {}
    return {"id": info.get("Id"), "restart_count": info.get("RestartCount", 0), "started_at": state.get("StartedAt"),
            "running": bool(state.get("Running")), "status": state.get("Status"),
            "exit_code": state.get("ExitCode"), "health": (state.get("Health") or {}).get("Status")}


CONTAINER_BOUND = "restart count and start time unchanged since the analysis started, running, health not unhealthy"


def container_check(name: str, first: Mapping[str, Any] | None, now: Mapping[str, Any] | None) -> Check:
    """Compare the container's state now with its state at the first poll (``first`` is ``None`` at the first)."""
    query = f"docker_container_info name={name}"
    if now is None:
        return Check("container", name, False, "missing", f"container {name} does not exist", query, CONTAINER_BOUND)
    value = {key: now[key] for key in ("restart_count", "health", "status", "started_at")}
    problems = []
    if first is not None and first["id"] != now["id"]:
        problems.append(f"container {name} was replaced (id {str(first['id'])[:12]} -> {str(now['id'])[:12]})")
    elif first is not None:
        if now["restart_count"] > first["restart_count"]:
            problems.append(f"container {name} restarted: restart count {first['restart_count']} ->"
                            f" {now['restart_count']}")
        elif now["started_at"] != first["started_at"]:
            problems.append(f"container {name} restarted: started at {first['started_at']}, now {now['started_at']}")
    if not now["running"]:
        problems.append(f"container {name} is not running (status {now['status']}, exit code {now['exit_code']})")
    if now["health"] == "unhealthy":
        problems.append(f"container {name} is unhealthy")
    if problems:
        return Check("container", name, False, value, "; ".join(problems), query, CONTAINER_BOUND)
    return Check("container", name, True, value, f"container {name} running, restart count {now['restart_count']}"
                 + (f", health {now['health']}" if now["health"] else ""), query, CONTAINER_BOUND)


def health_check(url: str, status: int | None, error: str | None) -> Check:
    query = f"GET {url}"
    if status == 200:
        return Check("health_url", url, True, 200, f"{url} answered HTTP 200", query, "HTTP 200")
    if status is not None:
        return Check("health_url", url, False, status, f"{url} answered HTTP {status}, not 200", query, "HTTP 200")
    return Check("health_url", url, False, error or "no answer", f"{url} did not answer: {error}", query, "HTTP 200")
