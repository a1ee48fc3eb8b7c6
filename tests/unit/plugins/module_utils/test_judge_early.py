# -*- coding: utf-8 -*-
# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A decisive failure below the evidence floor: _judge.bound_exceeded_test and its use by ratio indicators."""
from __future__ import annotations

import math

import pytest
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible_collections.progressive.delivery.plugins.module_utils import _slo
from ansible_collections.progressive.delivery.plugins.module_utils._judge import (
    EARLY_FAIL_ALPHA,
    bound_exceeded_test,
)
from ansible_collections.progressive.delivery.plugins.module_utils._prometheus import QueryResult, Series

AT = 1795255200.0


def binomial(n: int, k: int, p: float) -> float:
    return math.comb(n, k) * p ** k * (1 - p) ** (n - k)


# ---------------------------------------------------------------------------------------------
# the test itself
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("bad", "total"), [(3, 6), (4, 8), (4, 12), (5, 19)])
def test_half_failing_is_decisive_long_before_twenty_events(bad, total):
    result = bound_exceeded_test(bad, total, 0.01)
    assert result.exceeded and result.e_value >= 1 / EARLY_FAIL_ALPHA
    assert f"{bad} bad of {total} events" in result.reason and "(decisive)" in result.reason


@pytest.mark.parametrize(("bad", "total", "words"), [
    (2, 2, "fewer than 3 bad events"),      # two 5xx are never decisive, whatever the share
    (2.9, 4, "fewer than 3 bad events"),    # increase() extrapolation below the minimum
    (3, 19, "(not decisive)"),              # 16 % of 19: suggestive, not decisive at alpha 0.001
    (3, 40, "(not decisive)"),
    (0, 0, "fewer than 3 bad events"),
])
def test_few_or_diluted_bad_events_are_not_decisive(bad, total, words):
    result = bound_exceeded_test(bad, total, 0.01)
    assert not result.exceeded and words in result.reason


def test_bounds_at_the_edges():
    assert bound_exceeded_test(3, 3, 0.0).exceeded           # max 0: three bad events are enough
    assert not bound_exceeded_test(2, 3, 0.0).exceeded
    assert not bound_exceeded_test(10, 10, 1.0).exceeded     # a share cannot exceed 100 %
    with pytest.raises(ValueError, match="alpha"):
        bound_exceeded_test(3, 3, 0.01, alpha=0)


@pytest.mark.parametrize("bound", [0.001, 0.01, 0.05, 0.2])
@pytest.mark.parametrize("n", [3, 5, 10, 20, 50, 100])
def test_false_fail_rate_at_the_bound_is_at_most_alpha(bound, n):
    """Exact over the binomial: events bad with probability exactly the bound (the worst case of the null)
    fail at most alpha of the time, for every number of events."""
    false_fail = sum(binomial(n, k, bound) for k in range(n + 1) if bound_exceeded_test(k, n, bound).exceeded)
    assert false_fail <= EARLY_FAIL_ALPHA


def test_more_bad_events_never_undo_a_decision():
    decided = [bound_exceeded_test(k, 15, 0.01).exceeded for k in range(16)]
    first = decided.index(True)
    assert all(decided[first:]) and not any(decided[:first])


# ---------------------------------------------------------------------------------------------
# ratio indicators (slo_check): fail early, never pass early
# ---------------------------------------------------------------------------------------------
def sli(**fields):
    result = ArgumentSpecValidator(_slo.SLI_OPTIONS).validate({"name": "err", **fields})
    assert not result.error_messages, result.error_messages
    return result.validated_parameters


def instant(value):
    return QueryResult("vector", [] if value is None else [Series({}, [(AT, float(value))])])


class FakeClient:
    def __init__(self, answers):
        self.answers, self.sent = answers, []

    def query(self, query, at):
        self.sent.append(query)
        return self.answers[query]


def evaluate(bad, total, **fields):
    spec = sli(bad_query="bad", total_query="total", critical=True, **fields)
    client = FakeClient({"bad": instant(bad), "total": instant(total), "bb": instant(0), "bt": instant(500)})
    return _slo.run_check(client, [_slo.Indicator(0, spec)], AT, 95.0, 75.0), client


def test_decisive_errors_below_the_floor_fail_with_value_and_counts():
    result, _client = evaluate(4, 8, max=0.01, min_events=20)
    entry = result["results"][0]
    assert result["verdict"] == "fail" and entry["verdict"] == "fail" and entry["no_data"] is False
    assert entry["value"] == 0.5 and entry["events"] == {"bad_query": 4.0, "total_query": 8.0}
    assert entry["reason"].startswith("value 0.5 > max 0.01, decided before the evidence floor (8 events, fewer"
                                      " than min_events 20)")
    assert "4 bad of 8 events" in entry["reason"] and "e-value" in entry["reason"]


@pytest.mark.parametrize(("bad", "total"), [(0, 8), (1, 8), (2, 3), (3, 19), (None, 12)])
def test_below_the_floor_without_decisive_errors_is_still_no_data(bad, total):
    result, _client = evaluate(bad, total, max=0.01, min_events=20)
    entry = result["results"][0]
    assert entry["no_data"] is True and entry["verdict"] == "inconclusive" and entry["value"] is None
    assert f"counted {total} events, fewer than min_events 20" in entry["reason"]
    assert result["verdict"] == "inconclusive"


def test_a_clean_sample_below_the_floor_never_passes():
    result, _client = evaluate(0, 19, max=0.01, min_events=20)
    assert result["verdict"] == "inconclusive" and result["results"][0]["verdict"] != "pass"


def test_good_ratio_with_min_fails_early_on_the_bad_share():
    spec = sli(good_query="good", total_query="total", min=0.99, min_events=20, critical=True)
    client = FakeClient({"good": instant(3), "total": instant(8)})
    result = _slo.run_check(client, [_slo.Indicator(0, spec)], AT, 95.0, 75.0)
    entry = result["results"][0]
    assert result["verdict"] == "fail" and entry["value"] == pytest.approx(3 / 8)
    assert entry["reason"].startswith("value 0.375 < min 0.99, decided before the evidence floor")


def test_no_early_failure_without_a_floor_or_an_absolute_bound():
    # without min_events the ordinary bound decides (4 of 8 > 1 %: a fail, but not an "early" one)
    result, _client = evaluate(4, 8, max=0.01)
    assert result["verdict"] == "fail" and "decided before the evidence floor" not in result["results"][0]["reason"]
    # only a baseline bound: below the floor it stays no data (no absolute bound to exceed)
    result, _client = evaluate(4, 8, max_ratio=2.0, min_events=20, baseline_bad_query="bb",
                               baseline_total_query="bt")
    assert result["results"][0]["no_data"] is True


def test_at_or_above_the_floor_the_threshold_judges_as_before():
    result, _client = evaluate(3, 20, max=0.01, min_events=20)
    entry = result["results"][0]
    assert entry["verdict"] == "fail" and "decided before" not in entry["reason"]
    assert entry["reason"].startswith("value 0.15 > max 0.01 (3 bad of 20 events)")
