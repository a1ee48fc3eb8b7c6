# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

import itertools
import re

import pytest
from ansible_collections.progressive.delivery.plugins.module_utils._weights import (
    canary_share,
    explicit_weights,
    make_before_break,
    same_split,
    server_weights,
)


@pytest.mark.parametrize("weight", [0, 1, 5, 25, 33, 50, 75, 99, 100])
@pytest.mark.parametrize("n_stable,n_canary", [(1, 1), (2, 1), (1, 3), (3, 2), (4, 4)])
def test_share_is_within_half_a_point_on_haproxy_scale(weight, n_stable, n_canary):
    max_weight = 256
    stable = [f"s{i}" for i in range(n_stable)]
    canary = [f"c{i}" for i in range(n_canary)]
    weights = server_weights(weight, stable, canary, max_weight)
    assert all(0 <= w <= max_weight for w in weights.values())
    total = sum(weights.values())
    share = 100 * sum(weights[c] for c in canary) / total
    assert abs(share - weight) <= 0.5, (weights, share)
    # spread evenly inside each pool
    assert len({weights[s] for s in stable}) == 1 and len({weights[c] for c in canary}) == 1
    if weight > 0:
        assert all(weights[c] > 0 for c in canary)
    if weight < 100:
        assert all(weights[s] > 0 for s in stable)


@pytest.mark.parametrize("weight", range(101))
def test_one_destination_per_pool_is_exact_on_a_percent_scale(weight):
    weights = server_weights(weight, ["stable"], ["canary"], 100)
    assert 100 * weights["canary"] / sum(weights.values()) == pytest.approx(weight)


def test_simple_split_uses_the_percentages():
    assert server_weights(5, ["blue"], ["green"], 256) == {"blue": 19, "green": 1}
    assert server_weights(25, ["blue"], ["green"], 256) == {"blue": 3, "green": 1}
    assert server_weights(0, ["blue"], ["green"], 256) == {"blue": 1, "green": 0}
    assert server_weights(100, ["blue"], ["green"], 256) == {"blue": 0, "green": 1}


@pytest.mark.parametrize("weight", [-1, 101])
def test_weight_out_of_range(weight):
    with pytest.raises(ValueError, match="between 0 and 100"):
        server_weights(weight, ["a"], ["b"], 256)


def test_empty_pools():
    with pytest.raises(ValueError, match="both pools are empty"):
        server_weights(50, [], [], 256)
    with pytest.raises(ValueError, match="canary pool is empty"):
        server_weights(5, ["a"], [], 256)
    assert server_weights(0, ["a"], [], 256) == {"a": 1}


def test_canary_share():
    assert canary_share({"blue": 95, "green": 5}, ["green"]) == 5
    assert canary_share({"blue": 0, "green": 0}, ["green"]) is None


@pytest.mark.parametrize("before,after", [
    ({"blue": 1, "green": 0}, {"blue": 0, "green": 1}),
    ({"blue": 0, "green": 1}, {"blue": 1, "green": 0}),
    ({"a": 3, "b": 3, "c": 0}, {"a": 0, "b": 1, "c": 2}),
    ({"a": 19, "b": 1}, {"a": 3, "b": 1}),
])
def test_make_before_break_never_reaches_all_zero(before, after):
    state = dict(before)
    floor = min(sum(before.values()), sum(after.values()))
    for server, weight in make_before_break(before, after):
        state[server] = weight
        assert sum(state.values()) >= floor > 0
    assert state == after


def test_make_before_break_skips_unchanged_and_orders_gains_first():
    steps = make_before_break({"a": 1, "b": 0, "c": 5}, {"a": 0, "b": 1, "c": 5})
    assert steps == [("b", 1), ("a", 0)]


def test_break_before_make_would_hit_zero():
    # the property the ordering protects: the naive order (losses first) passes through all-zero
    before, after = {"blue": 1, "green": 0}, {"blue": 0, "green": 1}
    naive = list(itertools.chain(((s, w) for s, w in after.items() if w < before[s]),
                                 ((s, w) for s, w in after.items() if w > before[s])))
    state = dict(before)
    state[naive[0][0]] = naive[0][1]
    assert sum(state.values()) == 0


@pytest.mark.parametrize("current,target,same", [
    ({"a": 128, "b": 128}, {"a": 1, "b": 1}, True),
    ({"a": 1, "b": 0}, {"a": 100, "b": 0}, True),
    ({"a": 30, "b": 10}, {"a": 75, "b": 25}, True),
    ({"a": 3, "b": 1}, {"a": 19, "b": 1}, False),
    ({"a": 0, "b": 0}, {"a": 1, "b": 0}, False),
    ({"a": 0, "b": 0}, {"a": 0, "b": 0}, True),
    ({"a": 1}, {"a": 1, "b": 0}, False),
])
def test_same_split_compares_shares_not_units(current, target, same):
    assert same_split(current, target) is same


def test_explicit_weights_in_member_order_with_digit_strings() -> None:
    assert explicit_weights({"green": "128", "blue": 128}, ["blue", "green"]) == {"blue": 128, "green": 128}
    assert list(explicit_weights({"green": 1, "blue": 0}, ["blue", "green"])) == ["blue", "green"]


@pytest.mark.parametrize(("weights", "message"), [
    ({"blue": 1}, "missing green"),
    ({"blue": 1, "green": 1, "red": 1}, "not in stable or canary: red"),
    ({"blue": -1, "green": 1}, "the weight of blue must be a non-negative integer, got -1"),
    ({"blue": True, "green": 1}, "the weight of blue must be a non-negative integer, got True"),
    ({"blue": 1.5, "green": 1}, "got 1.5"),
    ({"blue": 0, "green": 0}, "every member would have weight 0"),
])
def test_explicit_weights_refused(weights: dict, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        explicit_weights(weights, ["blue", "green"])
