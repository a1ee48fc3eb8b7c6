# -*- coding: utf-8 -*-
# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests for the pure logic of plugins/modules/slo_check.py: argument validation, no-data policy, verdict."""
from __future__ import annotations

import math

import pytest
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible_collections.progressive.delivery.plugins.module_utils import _deps, _slo
from ansible_collections.progressive.delivery.plugins.module_utils._prometheus import (
    PrometheusRejected,
    PrometheusUnavailable,
    QueryResult,
    Series,
)
from ansible_collections.progressive.delivery.plugins.module_utils._result import ModuleFailure
from ansible_collections.progressive.delivery.plugins.modules import slo_check

from tests.module_docs import documented_options


def sli(**fields):
    """One indicator as Ansible hands it to the module (defaults filled in by the real validator)."""
    result = ArgumentSpecValidator(_slo.SLI_OPTIONS).validate({"name": "err", "query": "q", **fields})
    assert not result.error_messages, result.error_messages
    return result.validated_parameters


# ---------------------------------------------------------------------------------------------
# documentation <-> argument_spec
# ---------------------------------------------------------------------------------------------
def _doc_options():
    return documented_options(slo_check)


def _same_default(doc, spec):
    if isinstance(spec, float) or isinstance(doc, float):
        return doc is not None and spec is not None and float(doc) == float(spec)
    return doc == spec


@pytest.mark.parametrize(("doc", "spec"), [
    (_doc_options(), slo_check.argument_spec()),
    (_doc_options()["slis"]["suboptions"], _slo.SLI_OPTIONS),
])
def test_documentation_matches_argument_spec(doc, spec):
    assert set(doc) == set(spec)
    for name, entry in spec.items():
        assert doc[name]["type"] == entry["type"], name
        assert bool(doc[name].get("required")) == bool(entry.get("required")), name
        assert doc[name].get("choices") == entry.get("choices"), name
        assert _same_default(doc[name].get("default"), entry.get("default")), name


def test_secrets_are_no_log():
    spec = slo_check.argument_spec()
    assert spec["bearer_token"]["no_log"] is True
    assert spec["password"]["no_log"] is True


# ---------------------------------------------------------------------------------------------
# per-indicator type errors name the indicator
# ---------------------------------------------------------------------------------------------
def test_type_errors_name_the_indicator_and_option():
    errors = _slo.sli_type_errors([{"name": "ok", "query": "q", "max": 1},
                                   {"name": "p95", "query": "q", "max": "abc"}])
    assert len(errors) == 1
    assert errors[0].startswith("slis[1] ('p95'): ")
    assert "'max'" in errors[0] and "float" in errors[0]


def test_unknown_judge_names_the_indicator_and_the_allowed_values():
    errors = _slo.sli_type_errors([{"name": "lat", "query": "q", "judge": "kayenta"}])
    assert errors[0].startswith("slis[0] ('lat'): ")
    assert "threshold, mann_whitney" in errors[0] and "kayenta" in errors[0]


def test_unknown_suboption_and_non_dict_elements():
    errors = _slo.sli_type_errors([{"name": "a", "query": "q", "maximum": 1}, "oops"])
    assert errors[0].startswith("slis[0] ('a'): ") and "maximum" in errors[0]
    assert errors[1].startswith("slis[1]: ") and "dictionary" in errors[1]


# ---------------------------------------------------------------------------------------------
# cross-field validation
# ---------------------------------------------------------------------------------------------
def problems(**fields):
    return _slo.validate_slis([sli(**fields)])


def test_valid_indicators_have_no_problems():
    assert problems(max=0.01) == []
    assert problems(min=0.99, max=1) == []
    assert problems(baseline_query="b", max_ratio=1.5) == []
    assert problems(judge="mann_whitney", baseline_query="b") == []
    assert problems(judge="mann_whitney", baseline_query="b", range="1m", step="5s", max_ratio=1.5, max=0.1) == []


@pytest.mark.parametrize(("fields", "expected"), [
    ({}, "needs at least one bound"),
    ({"max_ratio": 2}, "max_ratio compares with a baseline and needs baseline_query"),
    ({"max_increase": 0.1}, "max_increase compares with a baseline and needs baseline_query"),
    ({"max": 1, "range": "2m"}, "range only applies to judge 'mann_whitney'"),
    ({"max": 1, "min": 2}, "min (2.0) must not be greater than max (1.0)"),
    ({"max": 1, "weight": -1}, "weight must be a finite number, 0 or more"),
    ({"baseline_query": "b", "max_ratio": 0}, "max_ratio must be greater than 0"),
    ({"judge": "mann_whitney"}, "judge 'mann_whitney' compares two samples and needs baseline_query"),
    ({"judge": "mann_whitney", "baseline_query": "b", "max_increase": 0.1}, "max_increase is not used by judge"),
    ({"judge": "mann_whitney", "baseline_query": "b", "confidence": 1.0}, "confidence must be between 0 and 1"),
    ({"judge": "mann_whitney", "baseline_query": "b", "range": "two minutes"}, "option range: not a duration"),
    ({"judge": "mann_whitney", "baseline_query": "b", "step": "0s"}, "option step: duration must be greater"),
    ({"judge": "mann_whitney", "baseline_query": "b", "range": "5s", "step": "10s"}, "must not be longer than range"),
    ({"judge": "mann_whitney", "baseline_query": "b", "range": "30s", "step": "5s"}, "gives at most 7 samples"),
    ({"judge": "mann_whitney", "baseline_query": "b", "range": "1d", "step": "1s"}, "at most 11000"),
    ({"judge": "mann_whitney", "baseline_query": "b", "min_samples": 2}, "min_samples must be 3 or more"),
    ({"max": 1, "query": "  "}, "query must not be empty"),
])
def test_problems_name_the_indicator_and_the_option(fields, expected):
    found = problems(**fields)
    assert any(expected in problem for problem in found), found
    assert all(problem.startswith("slis[0] ('err'): ") for problem in found)


def test_unknown_judge_is_caught_without_ansible_choices_too():
    found = _slo.validate_slis([{"name": "x", "query": "q", "judge": "bayes"}])
    assert found == ["slis[0] ('x'): option judge must be one of threshold, mann_whitney, sequential, got 'bayes'"]


def test_duplicate_names_and_empty_list():
    found = _slo.validate_slis([sli(max=1), sli(max=2)])
    assert found == ["slis[1] ('err'): option name 'err' is already used by slis[0]; names must be unique"]
    assert _slo.validate_slis([]) == ["slis must list at least one indicator"]


@pytest.mark.parametrize(("pass_score", "marginal", "expected"), [
    (95, 75, []), (50, 50, []),
    (70, 75, ["option marginal_score (75) must not be greater than pass_score (70)"]),
    (101, 75, ["option pass_score must be between 0 and 100, got 101"]),
])
def test_scores(pass_score, marginal, expected):
    assert _slo.validate_scores(pass_score, marginal) == expected


def test_evaluation_time():
    now = 1795255200.0
    assert _slo.evaluation_time(None, now) == now
    assert _slo.evaluation_time("2026-11-21T09:00:00Z", now) == now - 3600
    assert _slo.evaluation_time(now - 10, now) == now - 10
    with pytest.raises(ValueError, match=r"option at: .* is in the future"):
        _slo.evaluation_time(now + 3600, now)
    with pytest.raises(ValueError, match="option at: not a unix timestamp or RFC 3339"):
        _slo.evaluation_time("last tuesday", now)


# ---------------------------------------------------------------------------------------------
# judging with a fake Prometheus (no network)
# ---------------------------------------------------------------------------------------------
def instant(value):
    return QueryResult("vector", [] if value is None else [Series({}, [(0.0, float(value))])])


def samples(values):
    return QueryResult("matrix", [Series({}, [(float(i), float(v)) for i, v in enumerate(values)])])


class FakeClient:
    def __init__(self, answers):
        self.answers = answers
        self.calls = []

    def _answer(self, query):
        answer = self.answers[query]
        if isinstance(answer, Exception):
            raise answer
        return answer

    def query(self, query, at):
        self.calls.append(("query", query, at))
        return self._answer(query)

    def query_range(self, query, start, end, step):
        self.calls.append(("query_range", query, start, end, step))
        return self._answer(query)


def evaluate(client, *indicators, pass_score=95.0, marginal_score=75.0):
    items = [_slo.Indicator(i, spec) for i, spec in enumerate(indicators)]
    return _slo.run_check(client, items, 1795255200.0, pass_score, marginal_score)


def test_threshold_fail_reports_value_and_bound():
    result = evaluate(FakeClient({"q": instant(0.052)}), sli(max=0.01))
    assert result["verdict"] == "fail"
    entry = result["results"][0]
    assert entry["value"] == 0.052 and entry["bounds"]["max"] == 0.01
    assert entry["reason"] == "value 0.052 > max 0.01"
    assert entry["samples"] == {"query": 1, "baseline_query": None}
    assert "err (fail): value 0.052 > max 0.01" in _slo.failure_message(result["reason"], result["results"])


def test_baseline_comparison_reports_ratio():
    client = FakeClient({"q": instant(0.04), "b": instant(0.01)})
    entry = evaluate(client, sli(baseline_query="b", max_ratio=2))["results"][0]
    assert entry["verdict"] == "fail" and entry["ratio"] == 4.0 and entry["baseline_value"] == 0.01


def test_infinite_values_are_json_safe():
    entry = evaluate(FakeClient({"q": instant(math.inf)}), sli(max=1))["results"][0]
    assert entry["value"] == "+Inf" and entry["verdict"] == "fail"


@pytest.mark.parametrize(("policy", "verdict", "overall"), [
    ("inconclusive", "inconclusive", "inconclusive"),
    ("fail", "fail", "fail"),
    ("pass", "pass", "inconclusive"),  # a lone no-data indicator never passes the check
])
def test_on_no_data_alone(policy, verdict, overall):
    result = evaluate(FakeClient({"q": instant(None)}), sli(max=1, on_no_data=policy))
    entry = result["results"][0]
    assert entry["no_data"] is True and entry["verdict"] == verdict
    assert f"on_no_data={policy}" in entry["reason"]
    assert result["verdict"] == overall
    if overall == "inconclusive":
        assert result["score"] == 0


def test_on_no_data_pass_counts_when_most_indicators_have_data():
    client = FakeClient({"q": instant(None), "lat": instant(0.1), "sat": instant(0.5)})
    result = evaluate(client, sli(max=0.01, on_no_data="pass"), sli(name="lat", query="lat", max=0.25),
                      sli(name="sat", query="sat", max=0.8))
    assert result["verdict"] == "pass" and result["score"] == 100


def test_half_without_data_is_inconclusive():
    client = FakeClient({"q": instant(None), "lat": instant(0.1)})
    result = evaluate(client, sli(max=0.01), sli(name="lat", query="lat", max=0.25))
    assert result["verdict"] == "inconclusive" and result["score"] == 0
    assert "1 of 2 indicators have no data (err)" in result["reason"]


def test_transient_errors_make_the_indicator_inconclusive_never_pass():
    client = FakeClient({"q": PrometheusUnavailable("gave up after 4 attempts in 3.0s: connection refused")})
    result = evaluate(client, sli(max=1, on_no_data="pass"))
    entry = result["results"][0]
    assert entry["verdict"] == "inconclusive" and "connection refused" in entry["error"]
    assert "connection refused" in entry["reason"]
    assert result["verdict"] == "inconclusive"


def test_bad_data_fails_with_indicator_option_and_prometheus_message():
    error = PrometheusRejected("...", 400, "bad_data", "1:9: parse error: unclosed left parenthesis")
    client = FakeClient({"q": instant(0.1), "b(": error})
    with pytest.raises(_slo.IndicatorConfigError) as info:
        evaluate(client, sli(baseline_query="b(", max_ratio=2))
    assert str(info.value) == ("slis[0] ('err'): option baseline_query: Prometheus rejected 'b(' (bad_data):"
                               " 1:9: parse error: unclosed left parenthesis")


def test_several_series_fail_with_the_label_sets():
    two = QueryResult("vector", [Series({"pool": "a"}, [(0, 1.0)]), Series({"pool": "b"}, [(0, 2.0)])])
    with pytest.raises(_slo.IndicatorConfigError, match=r"slis\[0\] \('err'\): option query: .*returned 2"):
        evaluate(FakeClient({"q": two}), sli(max=1))


def test_critical_failure_fails_the_check():
    client = FakeClient({"q": instant(0.5), "a": instant(1), "b": instant(1), "c": instant(1)})
    result = evaluate(client, sli(max=0.1, critical=True), *[sli(name=n, query=n, max=2) for n in "abc"])
    assert result["verdict"] == "fail" and result["score"] == 0


def test_mann_whitney_uses_range_queries_ending_at_at():
    client = FakeClient({"q": samples([0.2, 0.21, 0.19, 0.2, 0.22, 0.18, 0.2, 0.21, 0.19, 0.2]),
                         "b": samples([0.1, 0.11, 0.09, 0.1, 0.12, 0.08, 0.1, 0.11, 0.09, 0.1])})
    result = evaluate(client, sli(judge="mann_whitney", baseline_query="b", range="45s", step="5s", max_ratio=1.5))
    entry = result["results"][0]
    assert entry["verdict"] == "fail" and entry["classification"] == "High"
    assert entry["p_value"] < 0.02 and entry["ratio"] == pytest.approx(2.0)
    assert entry["samples"] == {"query": 10, "baseline_query": 10}
    assert entry["range"] == "45s" and entry["step"] == "5s"
    assert client.calls[0] == ("query_range", "q", 1795255200.0 - 45, 1795255200.0, 5.0)


def test_mann_whitney_with_too_few_samples_has_no_data():
    client = FakeClient({"q": samples([0.2] * 4 + [math.nan] * 6), "b": samples([0.1] * 10)})
    entry = evaluate(client, sli(judge="mann_whitney", baseline_query="b"))["results"][0]
    assert entry["no_data"] is True and entry["verdict"] == "inconclusive"
    assert "query has 4" in entry["reason"] and "min_samples 10" in entry["reason"]


def test_mann_whitney_absolute_bound_still_applies():
    values = [0.1, 0.11, 0.09, 0.1, 0.12, 0.08, 0.1, 0.11, 0.09, 0.1]
    client = FakeClient({"q": samples(values), "b": samples(values)})
    entry = evaluate(client, sli(judge="mann_whitney", baseline_query="b", max=0.05))["results"][0]
    assert entry["verdict"] == "fail"
    assert "mean of the canary samples: value 0.1 > max 0.05" in entry["reason"]


# ---------------------------------------------------------------------------------------------
# judge: sequential
# ---------------------------------------------------------------------------------------------
SINCE = 1795255200.0 - 600  # the rollout started 10 minutes before the evaluation time of evaluate()
SEQ_QUERIES = {"query": "ce[$__range]", "total_query": "ct[$__range]", "baseline_query": "be[$__range]",
               "baseline_total_query": "bt[$__range]"}


def seq(**fields):
    return sli(**{"judge": "sequential", **SEQ_QUERIES, "since": SINCE, **fields})


def seq_client(ce, ct, be, bt, window="600s"):
    return FakeClient({f"{name}[{window}]": instant(value)
                       for name, value in (("ce", ce), ("ct", ct), ("be", be), ("bt", bt))})


def test_valid_sequential_indicators_have_no_problems():
    assert problems(**{"judge": "sequential", **SEQ_QUERIES, "since": "2026-11-21T10:00:00Z"}) == []
    assert problems(judge="sequential", query="a", total_query="b", baseline_query="c",
                    baseline_total_query="d") == []  # no $__range: the caller wrote the windows
    assert problems(**{"judge": "sequential", **SEQ_QUERIES, "since": SINCE, "alpha": 0.05, "max_ratio": 1.2,
                       "effect_size_max_ratio": 1.5, "history": [[1, 100, 2, 200], ["3", "300", 4, 400.5]],
                       "final": True}) == []


@pytest.mark.parametrize(("fields", "expected"), [
    ({"total_query": None}, "judge 'sequential' compares cumulative counts of the canary and the baseline and"
                            " needs total_query"),
    ({"baseline_query": None}, "needs baseline_query"),
    ({"baseline_total_query": " "}, "needs baseline_total_query"),
    ({"alpha": 0}, "option alpha must be between 0 and 1 (exclusive), got 0"),
    ({"alpha": 1.0}, "option alpha must be between 0 and 1"),
    ({"since": None}, "option query uses $__range and needs since (the start of the rollout)"),
    ({"since": "yesterday"}, "option since: not a unix timestamp or RFC 3339"),
    ({**{key: "x" for key in SEQ_QUERIES}}, "option since is set but no query uses $__range"),
    ({"max": 0.01}, "option max is not used by judge 'sequential'"),
    ({"range": "2m"}, "option range is not used by judge 'sequential'"),
    ({"direction": "either"}, "option direction must be 'increase' with judge 'sequential'"),
    ({"effect_size_max_ratio": 0}, "option effect_size_max_ratio must be a finite number greater than 0"),
    ({"max_ratio": 0}, "option max_ratio must be greater than 0"),
    ({"history": [[1, 2, 3]]}, "option history[0] must be a list of 4 counts"),
    ({"history": [[1, 100, 2, 200], "1,2,3,4"]}, "option history[1] must be a list of 4 counts"),
    ({"history": [[1, "many", 2, 200]]}, "option history[0] must hold numbers"),
    ({"history": [[-1, 100, 2, 200]]}, "option history[0] must hold finite numbers >= 0"),
    ({"history": [[101, 100, 2, 200]]}, "option history[0]: a bad-event count exceeds its total"),
])
def test_sequential_problems_name_the_indicator_and_the_option(fields, expected):
    found = _slo.validate_slis([seq(**fields)])
    assert any(expected in problem for problem in found), found
    assert all(problem.startswith("slis[0] ('err'): ") for problem in found)


@pytest.mark.parametrize(("fields", "judge"), [
    ({"max": 1, "total_query": "t"}, "threshold"),
    ({"max": 1, "since": SINCE}, "threshold"),
    ({"max": 1, "final": True}, "threshold"),
    ({"max": 1, "history": [[1, 2, 3, 4]]}, "threshold"),
    ({"judge": "mann_whitney", "baseline_query": "b", "baseline_total_query": "t"}, "mann_whitney"),
    ({"judge": "mann_whitney", "baseline_query": "b", "effect_size_max_ratio": 1.5}, "mann_whitney"),
])
def test_sequential_options_are_refused_elsewhere(fields, judge):
    found = problems(**fields)
    assert len(found) == 1 and "only applies to judge 'sequential'" in found[0], found
    assert f"(this indicator uses '{judge}')" in found[0]


def test_sequential_fails_on_a_doubled_error_rate_and_sends_the_window():
    client = seq_client(100, 5000, 50, 5000)
    result = evaluate(client, seq(critical=True))
    entry = result["results"][0]
    assert result["verdict"] == "fail" and entry["verdict"] == "fail" and entry["decision"] == "fail"
    assert entry["query"] == "ce[600s]" and entry["total_query"] == "ct[600s]"
    assert entry["baseline_query"] == "be[600s]" and entry["baseline_total_query"] == "bt[600s]"
    assert entry["range"] == "600s" and entry["step"] is None
    assert [call[1] for call in client.calls] == ["ce[600s]", "ct[600s]", "be[600s]", "bt[600s]"]
    assert all(call[2] == 1795255200.0 for call in client.calls)
    assert entry["value"] == 0.02 and entry["baseline_value"] == 0.01 and entry["ratio"] == 2.0
    assert entry["max_e_value"] >= 50 and entry["p_value"] <= 0.02
    assert entry["looks"] == [[100.0, 5000.0, 50.0, 5000.0]]
    assert entry["reason"].startswith("canary error rate is above max_ratio 1 x baseline")
    assert entry["samples"] == {"query": 1, "baseline_query": 1}


def test_sequential_without_evidence_passes_the_step_and_says_continue():
    entry = evaluate(seq_client(11, 1000, 10, 1000), seq())["results"][0]
    assert entry["verdict"] == "pass" and entry["decision"] == "continue"
    assert entry["reason"].startswith("no evidence of a regression so far (max e-value ")
    assert "< 1/alpha 50)" in entry["reason"] and "a later look can still fail it" in entry["reason"]
    assert entry["e_value"] < 50 and entry["ratio_upper"] is None
    assert entry["classification"] is None and entry["hodges_lehmann"] is None


def test_sequential_final_look_passes_with_an_upper_bound():
    entry = evaluate(seq_client(10, 1000, 10, 1000), seq(final=True))["results"][0]
    assert entry["verdict"] == "pass" and entry["decision"] == "pass"
    assert 1 < entry["ratio_upper"] < 10
    assert "the ratio is at most" in entry["reason"]


def test_sequential_max_ratio_and_effect_size_gate():
    assert evaluate(seq_client(100, 5000, 50, 5000), seq(max_ratio=3))["results"][0]["verdict"] == "pass"
    gated = evaluate(seq_client(100, 5000, 50, 5000), seq(effect_size_max_ratio=2.5))["results"][0]
    assert gated["verdict"] == "pass" and gated["decision"] == "continue"
    assert gated["reason"].startswith("the rollout may continue: canary error rate is above max_ratio")


def test_sequential_history_is_carried_and_returned():
    first = evaluate(seq_client(5, 500, 5, 4500), seq())["results"][0]
    second = evaluate(seq_client(15, 2500, 14, 7500), seq(history=first["looks"]))["results"][0]
    assert second["looks"] == [[5.0, 500.0, 5.0, 4500.0], [15.0, 2500.0, 14.0, 7500.0]]
    assert second["max_e_value"] >= max(first["e_value"], second["e_value"])
    assert "over 2 looks" in second["reason"]


def test_sequential_clamps_increase_extrapolation_but_refuses_shrinking_counts():
    history = [[10.0, 1000.0, 10.0, 1000.0]]
    entry = evaluate(seq_client(9.6, 1000.5, 10.2, 999.4), seq(history=history))["results"][0]
    assert entry["looks"][-1] == [10.0, 1000.5, 10.0, 1000.0]  # errors with no new requests: unchanged
    with pytest.raises(_slo.IndicatorConfigError,
                       match=r"slis\[0\] \('err'\): option total_query: the count fell from 1000 at the previous"):
        evaluate(seq_client(10, 500, 10, 1000), seq(history=history))
    with pytest.raises(_slo.IndicatorConfigError, match="option baseline_query counts 50 events, more than"):
        evaluate(seq_client(1, 100, 50, 40), seq())
    clamped = evaluate(seq_client(1, 100, 40.3, 40), seq())["results"][0]
    assert clamped["looks"][-1] == [1.0, 100.0, 40.0, 40.0]


def test_sequential_no_data_keeps_the_history():
    history = [[1.0, 100.0, 1.0, 100.0]]
    client = seq_client(None, 200, 2, 200)
    result = evaluate(client, seq(history=history, on_no_data="fail"))
    entry = result["results"][0]
    assert entry["no_data"] is True and entry["verdict"] == "fail" and entry["decision"] == "nodata"
    assert "no data: query returned nothing or NaN" in entry["reason"] and entry["looks"] == history
    idle = evaluate(seq_client(0, 0, 0, 100), seq())["results"][0]
    assert idle["no_data"] is True and idle["verdict"] == "inconclusive"
    assert "no canary requests since the rollout started" in idle["reason"]


def test_sequential_transient_error_is_inconclusive_and_keeps_the_history():
    client = seq_client(1, 2, 3, 4)
    client.answers["ce[600s]"] = PrometheusUnavailable("gave up after 4 attempts in 3.0s: connection refused")
    entry = evaluate(client, seq(history=[[0, 1, 0, 1]]))["results"][0]
    assert entry["verdict"] == "inconclusive" and entry["looks"] == [[0, 1, 0, 1]]


def test_sequential_since_must_be_before_the_evaluation_time():
    with pytest.raises(_slo.IndicatorConfigError, match=r"option since: .* is not before the evaluation time"):
        evaluate(seq_client(1, 2, 3, 4), seq(since=1795255200.0 + 30))


def test_other_judges_return_null_sequential_fields():
    entry = evaluate(FakeClient({"q": instant(0.1)}), sli(max=1))["results"][0]
    for key in ("e_value", "max_e_value", "ratio_upper", "decision", "looks", "total_query", "baseline_total_query"):
        assert entry[key] is None, key


# ---------------------------------------------------------------------------------------------
# scipy is only required for mann_whitney
# ---------------------------------------------------------------------------------------------
class _NoScipy(_deps.Dependency):
    def problem(self):
        return "No module named 'scipy'"


def test_missing_scipy_fails_only_for_mann_whitney(monkeypatch):
    monkeypatch.setattr(_slo, "SCIPY", _NoScipy("scipy", "scipy", "1.11"))
    threshold = _slo.Indicator(0, sli(max=1))
    _slo.require_scipy([threshold])  # nothing needs scipy: no failure

    mw = _slo.Indicator(1, sli(name="cmp", judge="mann_whitney", baseline_query="b"))
    with pytest.raises(ModuleFailure) as info:
        _slo.require_scipy([threshold, mw])
    failure = info.value.as_result()
    assert "scipy >= 1.11" in failure["msg"] and "mann_whitney (cmp)" in failure["msg"]
    assert failure["exception"] == "No module named 'scipy'" and failure["option"] == "slis"
