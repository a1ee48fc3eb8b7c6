# -*- coding: utf-8 -*-
# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The folding of the analysis action (plugins/plugin_utils/_analysis.py), on a fake clock."""
from __future__ import annotations

import itertools
from collections.abc import Iterable
from typing import Any

import pytest
from ansible_collections.progressive.delivery.plugins.plugin_utils._analysis import (
    Analysis,
    AnalysisConfig,
    AnalysisOptionError,
    Check,
    Measurement,
    container_check,
    container_state,
    health_check,
    run_analysis,
    slis_for_poll,
)

ERROR_QUERY = 'sum(increase(http_requests_total{pool="green",code=~"5.."}[1m]))'
TOTAL_QUERY = 'sum(increase(http_requests_total{pool="green"}[1m]))'


def indicator(verdict: str, value: Any = 0.0, *, no_data: bool = False, error: str | None = None,
              name: str = "error_ratio") -> dict[str, Any]:
    reasons = {"pass": f"value {value} is <= max 0.01", "fail": f"value {value} > max 0.01 (30 bad of 100 events)",
               "inconclusive": "no data: total_query counted 12 events, fewer than min_events 100"}
    return {"name": name, "verdict": verdict, "value": None if no_data else value, "no_data": no_data,
            "error": error, "judge": "threshold", "query": None, "bad_query": ERROR_QUERY, "total_query": TOTAL_QUERY,
            "bounds": {"min": None, "max": 0.01, "max_increase": None, "max_ratio": None}, "min_events": 100.0,
            "events": None if no_data else {"bad_query": 30.0, "total_query": 100.0},
            "reason": error or reasons[verdict], "baseline_value": None, "ratio": None}


def slo(*results: dict[str, Any]) -> dict[str, Any]:
    verdicts = {result["verdict"] for result in results}
    verdict = "fail" if "fail" in verdicts else "inconclusive" if "inconclusive" in verdicts else "pass"
    return {"verdict": verdict, "results": list(results), "msg": f"SLO check {verdict}"}


PASSING = slo(indicator("pass"))
FAILING = slo(indicator("fail", 0.3))
NO_DATA = slo(indicator("inconclusive", no_data=True))
PROM_DOWN = slo(indicator("inconclusive", no_data=False, error="connection refused"))


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds > 0
        self.now += seconds


def analyse(script: Iterable[dict[str, Any] | None], *, poll_cost: float = 0.2, checks: Any = None,
            **options: Any) -> tuple[Analysis, list[tuple[float, str]], list[float]]:
    """Run the loop with one scripted slo_check result per poll (the last one repeats)."""
    config = AnalysisConfig.from_args({"duration": "30s", "interval": "5s", **options})
    script = list(script)
    clock = FakeClock()
    lines: list[tuple[float, str]] = []
    polls: list[float] = []

    def measure(elapsed: float) -> Measurement:
        index = len(polls)
        polls.append(elapsed)
        clock.now += poll_cost
        found = checks(index) if checks else []
        return Measurement(elapsed=elapsed, at=f"t{index}", slo=script[min(index, len(script) - 1)], checks=found)

    start = clock.now
    analysis = run_analysis(config, measure, clock, clock.sleep, lambda line: lines.append((clock.now - start, line)))
    return analysis, lines, polls


def test_a_healthy_step_runs_its_duration_and_passes():
    analysis, _lines, polls = analyse([PASSING])
    assert analysis.verdict == "pass"
    assert polls == [0, 5, 10, 15, 20, 25, 30], "one poll per interval, the last exactly at duration"
    result = analysis.result()
    assert result["polls"] == 7 and result["elapsed"] == 30 and result["extended"] is False
    assert result["failing"] == [] and result["changed"] is False
    assert result["measurements"][-1] == {"at": "t6", "elapsed": 30, "verdict": "pass",
                                          "values": {"error_ratio": 0.0}, "no_data": False}
    assert result["msg"].startswith("analysis passed after 30s (7 polls): ran 30s and the last measurement passed")


def test_the_first_failure_ends_the_analysis_with_failure_limit_0():
    analysis, _lines, polls = analyse([PASSING, FAILING, PASSING])
    assert analysis.verdict == "fail" and polls == [0, 5], "ended at the first failed measurement"
    assert "1 failed measurement, more than failure_limit 0" in analysis.message()


def test_failure_limit_1_tolerates_one_failure_but_not_two():
    tolerated, _lines, polls = analyse([PASSING, FAILING, PASSING], failure_limit=1)
    assert tolerated.verdict == "pass" and len(polls) == 7
    assert tolerated.failures == 1 and tolerated.result()["failing"][0]["name"] == "error_ratio"
    assert "1 tolerated failure, failure_limit 1" in tolerated.message()
    twice, _lines, polls = analyse([PASSING, FAILING, PASSING, FAILING, PASSING], failure_limit=1)
    assert twice.verdict == "fail" and polls == [0, 5, 10, 15]


def test_pass_needs_the_last_measurement_to_pass():
    analysis, _lines, polls = analyse([PASSING] * 6 + [FAILING], failure_limit=3)
    assert analysis.verdict == "fail" and len(polls) == 7
    assert "the last measurement failed" in analysis.message()


def test_inconclusive_streak_over_the_limit_ends_inconclusive():
    analysis, lines, polls = analyse([PASSING, PROM_DOWN, PROM_DOWN, PASSING, PROM_DOWN, PROM_DOWN, PROM_DOWN])
    assert analysis.verdict == "inconclusive" and polls == [0, 5, 10, 15, 20, 25, 30]
    assert "3 inconclusive measurements in a row, more than inconclusive_limit 2" in analysis.message()
    assert "connection refused" in analysis.message()
    early, _lines, polls = analyse([PROM_DOWN], inconclusive_limit=0)
    assert early.verdict == "inconclusive" and polls == [0]
    assert any("(2 in a row, limit 2)" in line for _at, line in lines)


def test_an_inconclusive_streak_is_reset_by_a_pass():
    analysis, _lines, _polls = analyse([PROM_DOWN, PROM_DOWN, PASSING, PROM_DOWN, PROM_DOWN, PASSING])
    assert analysis.verdict == "pass"


def test_lack_of_evidence_waits_and_never_passes():
    analysis, lines, polls = analyse([NO_DATA])
    assert analysis.verdict == "inconclusive", "missing data is never a pass"
    assert polls == [0, 5, 10, 15, 20, 25, 30], "waiting for evidence does not end the analysis early"
    assert analysis.extended is False
    assert "not enough evidence after 30s" in analysis.message()
    assert "fewer than min_events 100" in analysis.message()
    assert "(waiting for evidence)" in lines[0][1]
    assert all(measurement["no_data"] for measurement in analysis.result()["measurements"])


def test_the_step_is_extended_up_to_max_duration_while_evidence_is_short():
    # evidence comes at 40 s: extended past 30 s, passes at the first poll with enough events
    analysis, lines, polls = analyse([NO_DATA] * 9 + [PASSING], max_duration="60s")
    assert analysis.verdict == "pass" and analysis.extended is True
    assert polls == [0, 5, 10, 15, 20, 25, 30, 35, 40, 45]
    assert any("extended: waiting for evidence" in line and "of max_duration 1m00s" in line for _at, line in lines)
    # evidence never comes: inconclusive at max_duration, never pass
    never, _lines, polls = analyse([NO_DATA], max_duration="42s")
    assert never.verdict == "inconclusive" and polls[-1] == 42 and polls[-2] == 40
    assert "extended up to max_duration 42s" in never.message()


def test_evidence_that_passes_before_duration_does_not_end_the_step_early():
    analysis, _lines, polls = analyse([NO_DATA, NO_DATA, PASSING], max_duration="60s")
    assert analysis.verdict == "pass" and polls[-1] == 30 and analysis.extended is False


def test_failing_explains_query_bound_and_value():
    analysis, _lines, _polls = analyse([PASSING, FAILING])
    (entry,) = analysis.result()["failing"]
    assert entry["kind"] == "indicator" and entry["name"] == "error_ratio"
    assert entry["query"] == f"({ERROR_QUERY}) / ({TOTAL_QUERY})"
    assert entry["queries"] == {"bad_query": ERROR_QUERY, "total_query": TOTAL_QUERY}
    assert entry["bound"] == "max 0.01, min_events 100" and entry["bounds"] == {"max": 0.01}
    assert entry["value"] == 0.3 and entry["events"] == {"bad_query": 30.0, "total_query": 100.0}
    assert entry["reason"].startswith("value 0.3 > max 0.01") and entry["elapsed"] == 5
    msg = analysis.message()
    assert "Failing: error_ratio: value 0.3 > max 0.01" in msg and ERROR_QUERY in msg and "bound: max 0.01" in msg


def test_a_failed_health_check_fails_the_measurement_and_names_the_url():
    url = "http://127.0.0.1:8080/healthz"

    def checks(index: int) -> list[Check]:
        return [health_check(url, 200 if index < 2 else 503, None)]

    analysis, lines, polls = analyse([PASSING], checks=checks)
    assert analysis.verdict == "fail" and polls == [0, 5, 10]
    (entry,) = analysis.result()["failing"]
    assert entry == {"kind": "health_url", "name": url, "query": f"GET {url}", "bound": "HTTP 200", "value": 503,
                     "reason": f"{url} answered HTTP 503, not 200", "at": "t2", "elapsed": 10}
    assert f"{url} 503 fail" in lines[-2][1]
    assert lines[-1][1] == analysis.message() and lines[-1][1].startswith("analysis failed after 10s (3 polls)")
    assert health_check(url, None, "connection refused").reason == f"{url} did not answer: connection refused"


def test_container_restart_replacement_and_health():
    first = container_state({"Id": "a" * 64, "RestartCount": 0, "State": {
        "Running": True, "Status": "running", "StartedAt": "T1", "ExitCode": 0, "Health": {"Status": "healthy"}}})
    assert container_check("c", None, first).ok
    assert container_check("c", first, dict(first)).ok
    restarted = {**first, "restart_count": 1, "started_at": "T2"}
    check = container_check("c", first, restarted)
    assert not check.ok and "container c restarted: restart count 0 -> 1" in check.reason
    manual = container_check("c", first, {**first, "started_at": "T2"})
    assert not manual.ok and "restarted: started at T1, now T2" in manual.reason
    replaced = container_check("c", first, {**first, "id": "b" * 64})
    assert not replaced.ok and "was replaced" in replaced.reason
    unhealthy = container_check("c", first, {**first, "health": "unhealthy"})
    assert not unhealthy.ok and unhealthy.reason == "container c is unhealthy"
    stopped = container_check("c", first, {**first, "running": False, "status": "exited", "exit_code": 137})
    assert not stopped.ok and "not running (status exited, exit code 137)" in stopped.reason
    missing = container_check("c", first, None)
    assert not missing.ok and missing.reason == "container c does not exist"
    assert "{" not in check.short(), "progress lines carry no braces"


def test_progress_lines_at_least_every_progress_interval_and_at_every_change():
    _analysis, lines, _polls = analyse([PASSING], duration="60s", interval="1s")
    times = [at for at, _line in lines]
    assert all(later - earlier <= 10.5 for earlier, later in itertools.pairwise(times))
    assert len(lines) < 15, "a passing step does not print a line per poll"
    assert lines[0][1] == "analysis 0s/1m00s (1m00s left): error_ratio 0.000 <= 0.01 pass -> pass"
    _analysis, lines, _polls = analyse([PASSING, PASSING, NO_DATA, PASSING], interval="1s", duration="20s")
    texts = [line for _at, line in lines]
    assert any("error_ratio no data inconclusive -> inconclusive (waiting for evidence)" in text for text in texts)


def test_slow_polls_get_heartbeat_lines_while_waiting():
    _analysis, lines, polls = analyse([PASSING], duration="60s", interval="30s", label="step 2/4 25%")
    assert polls == [0, 30, 60]
    times = [at for at, _line in lines]
    assert all(later - earlier <= 10.5 for earlier, later in itertools.pairwise(times))
    assert any(line.startswith("analysis [step 2/4 25%] 10s/1m00s (50s left): next poll in 20s; last: error_ratio")
               for _at, line in lines)


def test_progress_interval_0_prints_every_poll():
    _analysis, lines, polls = analyse([PASSING], progress_interval=0)
    assert len(lines) == len(polls) + 1 == 8, "a line per poll, then the verdict"


@pytest.mark.parametrize(("options", "option", "text"), [
    ({"duration": "soon"}, "duration", "not a duration"),
    ({"interval": "40s"}, "interval", "must not be longer than duration"),
    ({"max_duration": "10s"}, "max_duration", "must not be shorter than duration"),
    ({"failure_limit": -1}, "failure_limit", "whole number >= 0"),
    ({"inconclusive_limit": -2}, "inconclusive_limit", "whole number >= 0"),
    ({"progress_interval": "x"}, "progress_interval", "not a duration"),
])
def test_bad_timing_options_name_the_option(options, option, text):
    with pytest.raises(AnalysisOptionError) as raised:
        AnalysisConfig.from_args({"duration": "30s", **options})
    assert raised.value.option == option and text in raised.value.msg


def test_max_duration_defaults_to_duration():
    config = AnalysisConfig.from_args({"duration": "2m"})
    assert (config.duration, config.max_duration, config.interval, config.failure_limit,
            config.inconclusive_limit) == (120, 120, 5, 0, 2)


def test_sequential_indicators_get_since_and_carry_their_looks():
    slis = [{"name": "errors", "judge": "sequential", "bad_query": "b[$__range]"},
            {"name": "own", "judge": "sequential", "since": "2026-01-01T00:00:00Z"},
            {"name": "latency", "query": "q", "max": 1}]
    first = slis_for_poll(slis, "2026-11-21T10:00:00Z", None)
    assert first[0]["since"] == "2026-11-21T10:00:00Z" and "history" not in first[0]
    assert first[1]["since"] == "2026-01-01T00:00:00Z", "an indicator's own since wins"
    assert "since" not in first[2], "since only applies to sequential indicators"
    previous = {"results": [{"name": "errors", "looks": [[1, 100, 2, 900]]}, {"name": "own", "looks": None}]}
    second = slis_for_poll(slis, "2026-11-21T10:00:00Z", previous)
    assert second[0]["history"] == [[1, 100, 2, 900]] and "history" not in second[1]
    assert "history" not in slis[0], "the task's own slis are not modified"


def test_sequential_and_ratio_indicator_text():
    from ansible_collections.progressive.delivery.plugins.plugin_utils._analysis import indicator_text
    assert indicator_text({"name": "errors", "verdict": "pass", "value": 0.01, "judge": "sequential", "ratio": 1.2,
                           "max_e_value": 0.5, "bounds": {}}) == "errors ratio 1.200 (e 0.500) pass"
    assert indicator_text({"name": "p95", "verdict": "fail", "value": "+Inf", "judge": "threshold",
                           "bounds": {"max": 0.5}}) == "p95 +Inf > 0.5 fail"
    assert indicator_text(indicator("fail", 0.3)) == "error_ratio 0.300 > 0.01 fail"
