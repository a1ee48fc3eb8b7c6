# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The release roles' helper filters (plugins/filter/delivery.py)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.progressive.delivery.plugins.filter.delivery import (
    FilterModule,
    approval_spec,
    duration_seconds,
    explain_indicator,
    pool_line,
    release_inventory,
    release_line,
    shift_args,
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
    assert set(FilterModule().filters()) == {"duration_seconds", "explain_indicator", "release_line", "pool_line",
                                             "release_inventory", "shift_args", "approval_spec"}


POOLS = {"blue": {"servers": ["blue"], "port": 1}, "green": {"servers": ["green", "green2"]}}


def test_shift_args_spreads_the_pools_and_only_canary_shift_router_options():
    options = {"haproxy_socket": "/s", "backend": "demo", "haproxy_state_file": None, "stats_url": "http://x"}
    assert shift_args(options, "haproxy", POOLS, "green", "blue", "25") == {
        "router": "haproxy", "stable": ["green", "green2"], "canary": ["blue"], "weight": 25,
        "haproxy_socket": "/s", "backend": "demo", "haproxy_state_file": None}
    gateway = {"name": "r", "namespace": "ns", "route_name": "web", "kubeconfig": "/k", "context": "c"}
    assert shift_args(gateway, "gateway", POOLS, "blue", "green", 0) == {
        "router": "gateway", "stable": ["blue"], "canary": ["green", "green2"], "weight": 0, **gateway}
    assert shift_args(None, "nginx", POOLS, "blue", "green", 100)["weight"] == 100


@pytest.mark.parametrize(("args", "words"), [
    (([], "haproxy", POOLS, "blue", "green", 0), "router options must be a mapping"),
    (({}, "haproxy", [], "blue", "green", 0), "pools must map pool names"),
    (({}, "haproxy", POOLS, "red", "green", 0), "stable pool 'red' is not one of the pools (blue, green)"),
    (({}, "haproxy", POOLS, "blue", "blue2", 0), "canary pool 'blue2'"),
    (({}, "haproxy", POOLS, "blue", "green", "half"), "weight must be a whole percentage"),
])
def test_shift_args_errors_name_what_is_wrong(args, words):
    with pytest.raises(AnsibleFilterError, match=re.escape(words)):
        shift_args(*args)


def _inventory(tmp_path, name, text):
    (tmp_path / name).mkdir()
    (tmp_path / name / "hosts.yml").write_text(text)


def test_release_inventory_reads_the_controller_and_its_connection(tmp_path):
    _inventory(tmp_path, "prod-kr", """
all:
  children:
    delivery_controller:
      hosts:
        edge-kr-1:
          ansible_host: 192.0.2.11
          delivery_router_type: haproxy
    routers:
      hosts:
        edge-kr-1: {}
  vars:
    ansible_user: deploy
    ansible_python_interpreter: /usr/bin/python3
    delivery_note: not a connection variable
""")
    got = release_inventory("prod-kr", str(tmp_path))
    assert got["exists"] is True and got["controller"] == "edge-kr-1"
    assert got["path"] == str((tmp_path / "prod-kr").resolve())
    assert got["vars"] == {"ansible_host": "192.0.2.11", "ansible_user": "deploy",
                           "ansible_python_interpreter": "/usr/bin/python3"}


def test_release_inventory_of_a_missing_environment_says_so(tmp_path):
    got = release_inventory("prod-mars", str(tmp_path))
    assert got["exists"] is False and got["controller"] is None


@pytest.mark.parametrize("name", ["", "../etc", ".hidden", None, "a/b"])
def test_release_inventory_refuses_a_name_that_is_not_a_directory_name(tmp_path, name):
    with pytest.raises(AnsibleFilterError, match="inventory directory name"):
        release_inventory(name, str(tmp_path))


def test_release_inventory_without_a_controller_is_refused(tmp_path):
    _inventory(tmp_path, "stg-kr", "all:\n  children:\n    routers:\n      hosts:\n        edge: {}\n")
    with pytest.raises(AnsibleFilterError, match="no host in group delivery_controller"):
        release_inventory("stg-kr", str(tmp_path))


def test_release_inventory_reads_the_repositorys_own_inventories():
    inventories = Path(__file__).resolve().parents[4] / "inventories"
    lab = release_inventory("lab", str(inventories))
    assert lab["controller"] == "localhost" and lab["vars"]["ansible_connection"] == "local"
    assert release_inventory("prod-jp", str(inventories))["vars"].get("ansible_host")


@pytest.mark.parametrize("value", [None, False, {}])
def test_approval_spec_none(value):
    assert approval_spec(value) == {}


def test_approval_spec_defaults_and_a_mapping():
    assert approval_spec(True) == {"approvers": [], "quorum": 1, "timeout": "1h"}
    assert approval_spec({"approvers": ["alice", "bob"], "quorum": 2, "timeout": "4h"}) == \
        {"approvers": ["alice", "bob"], "quorum": 2, "timeout": "4h"}
    assert approval_spec({"timeout": "30s"}) == {"approvers": [], "quorum": 1, "timeout": "30s"}


@pytest.mark.parametrize(("value", "words"), [
    ("yes please", "true, or a mapping with keys approvers, quorum, timeout"),
    ({"approver": "alice"}, "unknown key(s) approver; allowed: approvers, quorum, timeout"),
    ({"approvers": "alice"}, "canary_steps[].approval.approvers: a list of names"),
    ({"approvers": ["alice", " "]}, "canary_steps[].approval.approvers: option approvers must be a non-empty name"),
    ({"approvers": ["alice", "alice "]}, "canary_steps[].approval.approvers: option approvers lists 'alice' twice"),
    ({"approvers": ["alice"], "quorum": 2}, "canary_steps[].approval.quorum: option quorum is 2 but only 1"
                                            " approvers may approve (alice): the gate could never open"),
    ({"quorum": 0}, "canary_steps[].approval.quorum: option quorum must be a whole number of at least 1, got 0"),
    ({"quorum": "two"}, "canary_steps[].approval.quorum: option quorum must be a whole number of at least 1"),
    ({"timeout": "soon"}, "canary_steps[].approval.timeout:"),
])
def test_approval_spec_errors_name_the_key(value, words):
    with pytest.raises(AnsibleFilterError) as failure:
        approval_spec(value)
    assert words in str(failure.value)


def test_shift_args_for_a_rolling_tier_takes_server_lists_and_a_weight_map():
    options = {"haproxy_socket": "/run/haproxy.sock", "backend": "web", "unrelated": 1}
    weights = {"web1": 100, "web2": 0, "surge": 100}
    assert shift_args(options, "haproxy", None, ["web1", "web2"], ["surge"], weights) == {
        "router": "haproxy", "stable": ["web1", "web2"], "canary": ["surge"], "weights": weights,
        "haproxy_socket": "/run/haproxy.sock", "backend": "web"}
    with pytest.raises(AnsibleFilterError, match="without pools, stable must be a list of server names"):
        shift_args(options, "haproxy", None, "web1", ["surge"], weights)
    with pytest.raises(AnsibleFilterError, match="a whole percentage or a weight map"):
        shift_args(options, "haproxy", None, ["web1"], ["surge"], "most")
