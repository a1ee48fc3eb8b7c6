# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The release roles' helper filters (plugins/filter/delivery.py)."""
from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.progressive.delivery.plugins.filter.delivery import (
    FilterModule,
    duration_seconds,
    explain_indicator,
    pool_line,
    release_line,
)


@pytest.mark.parametrize(("value", "seconds"), [("0s", 0.0), (0, 0.0), ("10m", 600.0), ("1h30m", 5400.0), (3, 3.0)])
def test_duration_seconds(value, seconds):
    assert duration_seconds(value) == seconds


@pytest.mark.parametrize("value", ["soon", "-5s", True, ""])
def test_duration_seconds_refuses_what_is_not_a_duration(value):
    with pytest.raises(AnsibleFilterError, match="duration_seconds"):
        duration_seconds(value)


def test_explain_indicator_names_value_bound_reason_and_queries():
    line = explain_indicator({"name": "error_ratio", "value": 0.144299, "bound": {"max": 0.01, "min": None},
                              "reason": "value 0.144 > max 0.01", "query": {"bad_query": "sum(bad)",
                                                                            "total_query": "sum(all)"}})
    assert line == ("error_ratio = 0.1443 (bound max 0.01): value 0.144 > max 0.01 "
                    "[bad_query: sum(bad); total_query: sum(all)]")
    assert explain_indicator({"name": "p95", "value": None}) == "p95 = no data"
    with pytest.raises(AnsibleFilterError, match="expected a mapping"):
        explain_indicator("error_ratio")


def test_release_line():
    entry = {"ended_at": "2026-12-03T08:41:32Z", "version": "2026.12.1+2", "strategy": "canary",
             "outcome": "promoted", "steps": [{"weight": 5.0}, {"weight": 25}, {"weight": 100}],
             "digest": "sha256:f87262861b82080211bda7d2", "reason": "every step passed"}
    assert release_line(entry) == ("2026-12-03T08:41:32Z 2026.12.1+2 canary PROMOTED (steps 5-25-100%) "
                                   "sha256:f87262861b82: every step passed")
    assert "IN PROGRESS" in release_line({"started_at": "t", "version": "v", "strategy": "canary"})


def test_pool_line():
    item = {"key": "green", "value": {"role": "stable", "version": "2026.12.1+2", "digest": "sha256:f87262861b8208"}}
    assert pool_line(item) == "recorded pool green: stable 2026.12.1+2 sha256:f87262861b82"
    with pytest.raises(AnsibleFilterError):
        pool_line({"key": "green"})


def test_filter_module_lists_them():
    assert set(FilterModule().filters()) == {"duration_seconds", "explain_indicator", "release_line", "pool_line"}
