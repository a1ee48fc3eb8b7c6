# -*- coding: utf-8 -*-
# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Ratio indicators (bad/total, good/total), the min_events floor, and msg/reason on every verdict (_slo.py)."""
from __future__ import annotations

import pytest
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible_collections.progressive.delivery.plugins.module_utils import _slo
from ansible_collections.progressive.delivery.plugins.module_utils._prometheus import QueryResult, Series
from ansible_collections.progressive.delivery.plugins.module_utils._result import ModuleFailure
from ansible_collections.progressive.delivery.plugins.modules import slo_check

AT = 1795255200.0


def sli(**fields):
    result = ArgumentSpecValidator(_slo.SLI_OPTIONS).validate({"name": "err", **fields})
    assert not result.error_messages, result.error_messages
    return result.validated_parameters


def ratio(**fields):
    return sli(bad_query="bad", total_query="total", **fields)


def instant(value):
    return QueryResult("vector", [] if value is None else [Series({}, [(AT, float(value))])])


def matrix(points):
    return QueryResult("matrix", [Series({}, [(AT - 10 * i, float(v)) for i, v in points])] if points else [])


class FakeClient:
    def __init__(self, answers):
        self.answers = answers
        self.sent = []

    def query(self, query, at):
        self.sent.append(query)
        return self.answers[query]

    def query_range(self, query, start, end, step):
        self.sent.append(query)
        return self.answers[query]


def evaluate(answers, *indicators):
    items = [_slo.Indicator(index, spec) for index, spec in enumerate(indicators)]
    return _slo.run_check(FakeClient(answers), items, AT, 95.0, 75.0)


# ---------------------------------------------------------------------------------------------
# validation
# ---------------------------------------------------------------------------------------------
def test_valid_ratio_indicators():
    assert _slo.validate_slis([ratio(max=0.01)]) == []
    assert _slo.validate_slis([sli(good_query="g", total_query="t", min=0.99, min_events=100)]) == []
    assert _slo.validate_slis([ratio(baseline_bad_query="bb", baseline_total_query="bt", max_ratio=2)]) == []
    assert _slo.validate_slis([ratio(judge="mann_whitney", baseline_bad_query="bb", baseline_total_query="bt",
                                     min_events=5)]) == []
    assert _slo.validate_slis([ratio(judge="sequential", baseline_bad_query="bb", baseline_total_query="bt",
                                     min_events=50)]) == []


@pytest.mark.parametrize(("fields", "expected"), [
    ({"max": 1}, "needs query, or bad_query or good_query together with total_query"),
    ({"query": "q", "bad_query": "b", "total_query": "t", "max": 1}, "options query and bad_query are mutually"),
    ({"bad_query": "b", "good_query": "g", "total_query": "t", "max": 1}, "bad_query and good_query are mutually"),
    ({"bad_query": "b", "max": 1}, "option bad_query needs total_query"),
    ({"bad_query": " ", "total_query": "t", "max": 1}, "option bad_query must not be empty"),
    ({"bad_query": "b", "total_query": "t", "baseline_query": "x", "max_ratio": 2},
     "option baseline_query is for indicators defined by query"),
    ({"bad_query": "b", "total_query": "t", "baseline_good_query": "x", "baseline_total_query": "y", "max": 1},
     "option baseline_good_query does not match bad_query"),
    ({"bad_query": "b", "total_query": "t", "baseline_bad_query": "x", "max": 1},
     "options baseline_bad_query and baseline_total_query go together"),
    ({"bad_query": "b", "total_query": "t", "max_ratio": 2},
     "max_ratio compares with a baseline and needs baseline_bad_query and baseline_total_query"),
    ({"bad_query": "b", "total_query": "t", "judge": "mann_whitney"},
     "judge 'mann_whitney' compares two samples and needs baseline_bad_query and baseline_total_query"),
    ({"bad_query": "b", "total_query": "t", "judge": "sequential", "max_ratio": 1.2},
     "judge 'sequential' compares cumulative counts of the canary and the baseline and needs baseline_bad_query"),
    ({"query": "q", "max": 1, "min_events": 10}, "option min_events only applies to ratio indicators"),
    ({"bad_query": "b", "total_query": "t", "max": 1, "min_events": -1}, "min_events must be a finite number"),
    ({"query": "q", "max": 1, "total_query": "t"},
     "total_query only applies to judge 'sequential' (this indicator uses 'threshold') and to ratio indicators"),
    ({"query": "q", "max": 1, "baseline_bad_query": "b"}, "option baseline_bad_query only applies to ratio"),
])
def test_ratio_problems_name_the_option(fields, expected):
    found = _slo.validate_slis([sli(**fields)])
    assert any(expected in problem for problem in found), found


def test_query_is_no_longer_required_by_the_argument_spec_but_by_validation():
    assert "required" not in _slo.SLI_OPTIONS["query"]
    assert _slo.validate_slis([sli(max=1)])  # neither query nor a ratio


# ---------------------------------------------------------------------------------------------
# threshold judge
# ---------------------------------------------------------------------------------------------
def test_empty_bad_side_with_traffic_is_zero_and_passes():
    result = evaluate({"bad": instant(None), "total": instant(412)}, ratio(max=0.01, min_events=100))
    entry = result["results"][0]
    assert entry["verdict"] == "pass" and entry["value"] == 0.0 and entry["no_data"] is False
    assert entry["events"] == {"bad_query": 0.0, "total_query": 412.0}
    assert entry["bad_query"] == "bad" and entry["total_query"] == "total" and entry["query"] is None
    assert "(0 bad of 412 events)" in entry["reason"]
    assert result["verdict"] == "pass"


@pytest.mark.parametrize(("total", "words"), [
    (None, "total_query returned nothing or NaN (no events)"),
    (0, "total_query is 0 (no events)"),
    (float("nan"), "total_query returned nothing or NaN"),
    (40, "total_query counted 40 events, fewer than min_events 100"),
])
def test_no_events_or_too_few_is_no_data_never_pass(total, words):
    result = evaluate({"bad": instant(None), "total": instant(total)}, ratio(max=0.01, min_events=100))
    entry = result["results"][0]
    assert entry["no_data"] is True and entry["verdict"] == "inconclusive" and entry["value"] is None
    assert words in entry["reason"]
    assert result["verdict"] == "inconclusive"
    assert words in result["msg"] and "[bounds: max 0.01, min_events 100]" in result["msg"]


def test_min_events_floor_still_fails_closed_with_on_no_data_fail():
    result = evaluate({"bad": instant(0), "total": instant(3)}, ratio(max=0.01, min_events=10, on_no_data="fail"))
    assert result["verdict"] == "fail" and result["results"][0]["no_data"] is True


def test_bad_events_fail_the_bound_with_counts():
    entry = evaluate({"bad": instant(21), "total": instant(404)}, ratio(max=0.01))["results"][0]
    assert entry["verdict"] == "fail" and entry["value"] == pytest.approx(21 / 404)
    assert entry["reason"].startswith("value 0.0519") and "> max 0.01 (21 bad of 404 events)" in entry["reason"]


def test_empty_good_side_with_traffic_is_zero_percent_good():
    spec = sli(good_query="good", total_query="total", min=0.99)
    entry = evaluate({"good": instant(None), "total": instant(200)}, spec)["results"][0]
    assert entry["verdict"] == "fail" and entry["value"] == 0.0
    assert entry["events"] == {"good_query": 0.0, "total_query": 200.0}


def test_extrapolation_slack_is_clamped_but_a_larger_excess_is_a_config_error():
    entry = evaluate({"bad": instant(100.5), "total": instant(100)}, ratio(max=2))["results"][0]
    assert entry["value"] == 1.0
    with pytest.raises(_slo.IndicatorConfigError, match=r"option bad_query counts 150, more than total_query"):
        evaluate({"bad": instant(150), "total": instant(100)}, ratio(max=2))


def test_ratio_against_a_baseline():
    spec = ratio(baseline_bad_query="bb", baseline_total_query="bt", max_ratio=1.5)
    answers = {"bad": instant(20), "total": instant(1000), "bb": instant(None), "bt": instant(1000)}
    entry = evaluate(answers, spec)["results"][0]
    assert entry["verdict"] == "fail" and entry["baseline_value"] == 0.0 and entry["ratio"] == "+Inf"
    answers.update({"bb": instant(18)})
    entry = evaluate(answers, spec)["results"][0]
    assert entry["verdict"] == "pass" and entry["ratio"] == pytest.approx(20 / 18)
    answers.update({"bt": instant(None)})
    entry = evaluate(answers, spec)["results"][0]
    assert entry["no_data"] is True and "baseline no data: baseline_total_query" in entry["reason"]


# ---------------------------------------------------------------------------------------------
# mann_whitney: one ratio per step
# ---------------------------------------------------------------------------------------------
def test_ratio_samples_align_by_time_and_apply_the_floor():
    indicator = _slo.Indicator(0, ratio(judge="mann_whitney", baseline_bad_query="bb", baseline_total_query="bt",
                                        min_events=10))
    totals = {1.0: 100.0, 2.0: 0.0, 3.0: 5.0, 4.0: 50.0, 5.0: float("nan")}
    parts = {1.0: 10.0, 4.0: float("nan")}
    values, dropped = _slo.ratio_samples(indicator, parts, totals)
    assert values == [0.1, 0.0] and dropped == 1


def test_mann_whitney_ratio_too_few_samples_says_why():
    spec = ratio(judge="mann_whitney", baseline_bad_query="bb", baseline_total_query="bt", min_events=10,
                 range="50s", step="10s", min_samples=3)
    few = matrix([(i, 4) for i in range(6)])  # 4 events per sample: all below min_events
    entry = evaluate({"bad": matrix([]), "total": few, "bb": matrix([]), "bt": few}, spec)["results"][0]
    assert entry["no_data"] is True and "bad_query has 0" in entry["reason"]
    assert "12 samples with fewer than min_events 10 events left out" in entry["reason"]


def test_mann_whitney_ratio_detects_a_doubled_error_ratio():
    spec = ratio(judge="mann_whitney", baseline_bad_query="bb", baseline_total_query="bt", range="2m",
                 step="10s", max_ratio=1.5)
    totals = matrix([(i, 1000) for i in range(13)])
    canary = matrix([(i, 100 + (i % 3)) for i in range(13)])
    baseline = matrix([(i, 50 + (i % 4)) for i in range(13)])
    entry = evaluate({"bad": canary, "total": totals, "bb": baseline, "bt": totals}, spec)["results"][0]
    assert entry["verdict"] == "fail" and entry["classification"] == "High"
    assert entry["samples"] == {"query": 13, "baseline_query": 13}


# ---------------------------------------------------------------------------------------------
# sequential: the counts directly
# ---------------------------------------------------------------------------------------------
def seq(**fields):
    return ratio(judge="sequential", baseline_bad_query="bb", baseline_total_query="bt", **fields)


def test_sequential_ratio_reads_missing_bad_series_as_zero():
    answers = {"bad": instant(None), "total": instant(2000), "bb": instant(None), "bt": instant(2000)}
    entry = evaluate(answers, seq())["results"][0]
    assert entry["verdict"] == "pass" and entry["decision"] == "continue"
    assert entry["looks"] == [[0.0, 2000.0, 0.0, 2000.0]]
    assert entry["events"] == {"bad_query": 0.0, "total_query": 2000.0, "baseline_bad_query": 0.0,
                               "baseline_total_query": 2000.0}


def test_sequential_good_ratio_tests_total_minus_good():
    spec = sli(good_query="g", total_query="t", baseline_good_query="bg", baseline_total_query="bt",
               judge="sequential")
    answers = {"g": instant(800), "t": instant(1000), "bg": instant(990), "bt": instant(1000)}
    entry = evaluate(answers, spec)["results"][0]
    assert entry["looks"] == [[200.0, 1000.0, 10.0, 1000.0]] and entry["verdict"] == "fail"
    assert entry["events"]["good_query"] == 800.0


def test_sequential_min_events_floor_on_either_side():
    answers = {"bad": instant(0), "total": instant(5000), "bb": instant(0), "bt": instant(30)}
    entry = evaluate(answers, seq(min_events=100))["results"][0]
    assert entry["no_data"] is True and "baseline_total_query counted 30 events, fewer than min_events 100" in \
        entry["reason"]
    assert entry["decision"] == "nodata" and entry["looks"] == []


def test_sequential_plain_queries_take_min_events_too():
    spec = sli(query="q", total_query="t", baseline_query="b", baseline_total_query="bt", judge="sequential",
               min_events=100)
    assert _slo.validate_slis([spec]) == []
    answers = {"q": instant(0), "t": instant(50), "b": instant(0), "bt": instant(500)}
    entry = evaluate(answers, spec)["results"][0]
    assert entry["no_data"] is True and "total_query counted 50 events" in entry["reason"]


# ---------------------------------------------------------------------------------------------
# msg and reason on every verdict
# ---------------------------------------------------------------------------------------------
def test_every_verdict_has_a_msg_naming_indicators_values_and_bounds():
    passing = evaluate({"bad": instant(1), "total": instant(500)}, ratio(max=0.01))
    assert passing["verdict"] == "pass"
    assert passing["msg"].startswith("SLO check passed: score 100 >= pass_score 95. Indicators: err (pass):")
    assert "value 0.002 is <= max 0.01" in passing["reason"]

    idle = evaluate({"bad": instant(None), "total": instant(None)}, ratio(max=0.01))
    assert idle["verdict"] == "inconclusive"
    assert idle["msg"].startswith("SLO check inconclusive: 1 of 1 indicators have no data (err)")
    assert "err (inconclusive): no data: total_query returned nothing" in idle["reason"]
    assert "[bounds: max 0.01]" in idle["reason"]

    failing = evaluate({"bad": instant(50), "total": instant(500), "lat": instant(0.2)},
                       ratio(max=0.01, critical=True), sli(name="lat", query="lat", max=1))
    assert failing["verdict"] == "fail"
    assert failing["msg"].startswith("SLO check failed: critical indicator failed: err. Indicators: err (fail)")
    assert "lat" not in failing["msg"] and "lat (pass)" in failing["reason"]


# ---------------------------------------------------------------------------------------------
# the module: one result contract
# ---------------------------------------------------------------------------------------------
class FakeModule:
    def __init__(self, **params):
        self.params = {"slis": [], "pass_score": 95.0, "marginal_score": 75.0, "at": None,
                       "fail_on_verdict": True, "prometheus_url": "http://127.0.0.1:9", "bearer_token": None,
                       "username": None, "password": None, "headers": None, "validate_certs": True,
                       "timeout": 1.0, "retries": 0, "retry_delay": 0.0, **params}


@pytest.mark.parametrize(("params", "option", "words"), [
    ({"slis": [{"name": "x", "query": None, "max": 1}]}, "slis", "needs query, or bad_query"),
    ({"slis": [sli(query="q", max=1)], "pass_score": 50.0}, "marginal_score", "must not be greater than"),
    ({"slis": [sli(query="q", max=1)], "at": "yesterday"}, "at", "option at: not a unix timestamp"),
    ({"slis": [sli(query="q", max=1)], "prometheus_url": "ftp://x"}, "prometheus_url", "http:// or https://"),
])
def test_check_failures_carry_msg_and_option(params, option, words):
    with pytest.raises(ModuleFailure) as info:
        slo_check.check(FakeModule(**params))
    result = info.value.as_result()
    assert result["option"] == option and words in result["msg"]
