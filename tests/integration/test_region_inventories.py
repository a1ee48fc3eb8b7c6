# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The region inventories (stg-kr, stg-jp, prod-kr, prod-jp) have the lab's groups and variables, the seeds' values
in production, durations that parse, and no secrets. No lab needed: nothing here connects to a host."""
from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from ansible_collections.progressive.delivery.plugins.module_utils._time import parse_duration

from tests.integration.test_collection import ROOT, ansible

REGIONS = ("stg-kr", "stg-jp", "prod-kr", "prod-jp")
PROD = ("prod-kr", "prod-jp")
VAULT_REF = re.compile(r"^\{\{\s*vault_[a-z0-9_]+\s*\}\}$")
SECRET_KEY = re.compile(r"pass(word)?|secret|token|api_?key", re.IGNORECASE)


@cache
def inventory(name: str) -> dict[str, Any]:
    out = ansible("ansible-inventory", "-i", f"inventories/{name}", "--list")
    assert out.returncode == 0, out.stderr
    assert "[WARNING]" not in out.stderr, out.stderr
    return json.loads(out.stdout)


def controller_vars(name: str) -> dict[str, Any]:
    data = inventory(name)
    (host,) = data["delivery_controller"]["hosts"]
    return data["_meta"]["hostvars"][host]


def delivery_keys(variables: dict[str, Any]) -> set[str]:
    """The group_vars/all variables (delivery_router_type is a router host's own; the edge host is a router)."""
    return {key for key in variables
            if key.startswith("delivery_") and not key.startswith("delivery_lab_") and key != "delivery_router_type"}


@pytest.mark.parametrize("name", REGIONS)
def test_groups_are_the_labs(name):
    data = inventory(name)
    lab = inventory("lab")
    groups = {"delivery_controller", "routers", "databases"}
    assert groups <= set(data["all"]["children"]) and groups <= set(lab["all"]["children"])
    assert len(data["delivery_controller"]["hosts"]) == 1  # one host drives the release and holds the state store
    assert data["databases"]["hosts"]
    for host in data["routers"]["hosts"]:
        assert data["_meta"]["hostvars"][host]["delivery_router_type"] in ("haproxy", "nginx")
    for group in groups:
        for host in data[group]["hosts"]:
            assert host.endswith((".example.com", ".example.internal")), host
            address = data["_meta"]["hostvars"][host].get("ansible_host")
            if address is not None:  # documentation addresses only (RFC 5737)
                assert address.startswith(("192.0.2.", "198.51.100.", "203.0.113.")), (host, address)


@pytest.mark.parametrize("name", REGIONS)
def test_the_same_delivery_variables_as_the_lab(name):
    expected = delivery_keys(controller_vars("lab"))
    assert "delivery_slis" in expected and "delivery_canary_steps" in expected  # the lab is read, not empty
    assert delivery_keys(controller_vars(name)) == expected
    assert not [key for key in controller_vars(name) if key.startswith("delivery_lab_")]


@pytest.mark.parametrize("name", REGIONS)
def test_environment_identity_and_files(name):
    env, region = name.split("-")
    variables = controller_vars(name)
    assert (variables["delivery_env"], variables["delivery_region"]) == (env, region)
    assert variables["delivery_environment_name"] == "{{ delivery_env }}-{{ delivery_region }}"
    files = {p.name for p in (ROOT / "inventories" / name / "group_vars" / "all").glob("*.yml")}
    assert files == {p.name for p in (ROOT / "inventories" / "lab" / "group_vars" / "all").glob("*.yml")}
    assert set(variables["delivery_pools"]) == {"blue", "green"}
    assert variables["delivery_initial_stable_pool"] in variables["delivery_pools"]
    assert variables["delivery_router"] in variables["delivery_router_options"]


@pytest.mark.parametrize("name", REGIONS)
def test_the_labs_indicators_with_production_selectors(name):
    lab_names = [sli["name"] for sli in controller_vars("lab")["delivery_slis"]]
    slis = {sli["name"]: sli for sli in controller_vars(name)["delivery_slis"]}
    assert lab_names == list(slis)[:len(lab_names)]
    assert slis["error_ratio"]["critical"] is True and "min_events" in slis["error_ratio"]
    rendered = render(name, "delivery_slis", "-e", "delivery_candidate_pool=green", "-e",
                      "delivery_version=2026.11.3+92")
    env, region = name.split("-")
    window = controller_vars(name)["delivery_sli_window"]
    for sli in rendered:
        for key in ("query", "bad_query", "total_query"):
            if key in sli:
                query = re.sub(r",\s+", ",", sli[key])  # a folded YAML line is a space, which PromQL ignores
                assert (f'env="{env}",region="{region}",pool="green",version="2026.11.3+92"' in query), query
                assert 'job="shop"' in query and f"[{window}]" in query and "{{" not in query, query


def render(name: str, expression: str, *extra: str) -> Any:
    """A variable of the inventory as a play on its controller sees it (debug runs on the controller: no
    connection)."""
    host = inventory(name)["delivery_controller"]["hosts"][0]
    out = ansible("ansible", host, "-i", f"inventories/{name}", "-m", "ansible.builtin.debug", "-a",
                  json.dumps({"msg": "{{ " + expression + " }}"}), *extra)
    assert out.returncode == 0, out.stdout + out.stderr
    return json.loads(out.stdout[out.stdout.index("{"):])["msg"]


@pytest.mark.parametrize("name", REGIONS)
def test_durations_parse(name):
    variables = controller_vars(name)
    durations = [variables[key] for key in ("delivery_analysis_interval", "delivery_analysis_max_extension",
                                            "delivery_sli_window", "delivery_qos_guard_duration",
                                            "delivery_bake_time", "delivery_blue_green_preview")]
    durations += [step["observe"] for step in variables["delivery_canary_steps"]]
    assert all(parse_duration(value) > 0 for value in durations), durations
    # The roles' own filter reads them the same way.
    seconds = render(name, "delivery_canary_steps | map(attribute='observe') "
                           "| map('progressive.delivery.duration_seconds') | list")
    assert seconds == [parse_duration(step["observe"]) for step in variables["delivery_canary_steps"]]
    weights = [step["weight"] for step in variables["delivery_canary_steps"]]
    assert weights == sorted(weights) and weights[-1] == 100


@pytest.mark.parametrize("name", PROD)
def test_production_uses_the_seed_values(name):
    variables = controller_vars(name)
    assert [step["weight"] for step in variables["delivery_canary_steps"]] == [5, 25, 50, 100]
    assert {step["observe"] for step in variables["delivery_canary_steps"]} == {"10m"}
    slo = variables["delivery_slo"]
    assert slo["error_rate_max"] == 0.01
    assert (slo["latency_p95_max_seconds"], slo["latency_p99_max_seconds"]) == (0.5, 1.0)
    assert parse_duration(variables["delivery_bake_time"]) == 15 * 60
    assert variables["delivery_sli_window"] == "5m" and variables["delivery_qos_guard_duration"] == "5m"
    # A 1 % bound needs more than a coin toss: at least 5 expected errors at the bound per window.
    assert slo["min_requests"] * slo["error_rate_max"] >= 5
    assert variables["delivery_failure_limit"] == 0 and variables["delivery_inconclusive_limit"] == 2


def test_strategies_follow_seed_000():
    assert controller_vars("prod-jp")["delivery_strategy"] == "blue_green"
    assert controller_vars("prod-kr")["delivery_strategy"] == "canary"
    assert {controller_vars(name)["delivery_strategy"] for name in ("stg-kr", "stg-jp")} == {"canary"}


def test_staging_is_shorter_but_real():
    for name in ("stg-kr", "stg-jp"):
        stg, prod = controller_vars(name), controller_vars("prod-" + name.split("-")[1])
        stg_time = sum(parse_duration(step["observe"]) for step in stg["delivery_canary_steps"])
        prod_time = sum(parse_duration(step["observe"]) for step in prod["delivery_canary_steps"])
        assert 60 <= stg_time < prod_time
        assert stg["delivery_slo"]["error_rate_max"] == prod["delivery_slo"]["error_rate_max"]
        assert stg["delivery_slo"]["min_requests"] * stg["delivery_slo"]["error_rate_max"] >= 1


def secret_values(node: Any, path: str = "") -> list[tuple[str, Any]]:
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            where = f"{path}.{key}"
            if SECRET_KEY.search(str(key)) and not isinstance(value, (dict, list)):
                found.append((where, value))
            found += secret_values(value, where)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += secret_values(value, f"{path}[{index}]")
    return found


@pytest.mark.parametrize("name", REGIONS)
def test_no_literal_password(name):
    secrets: list[tuple[str, Any]] = []
    for path in sorted((ROOT / "inventories" / name).rglob("*")):
        if path.is_file():
            text = path.read_text(encoding="utf-8")
            assert not text.startswith("$ANSIBLE_VAULT"), f"{path}: keep vaulted files out of the repository"
            secrets += secret_values(yaml.safe_load(text), str(path.relative_to(ROOT)))
    assert secrets, "the inventory names its registry and database credentials"
    literal = [(where, value) for where, value in secrets if not VAULT_REF.match(str(value))]
    assert not literal, literal
    variables = controller_vars(name)
    assert VAULT_REF.match(variables["delivery_database"]["password"])
    assert all(VAULT_REF.match(auth["password"]) for auth in variables["delivery_registry_auth"].values())


def test_the_secret_check_can_fail():
    literal = secret_values(yaml.safe_load("a:\n  password: hunter2\n  user: x\n"))
    assert literal == [(".a.password", "hunter2")] and not VAULT_REF.match("hunter2")


@pytest.mark.parametrize("name", ["prod-kr", "prod-jp"])
def test_deploy_playbook_syntax_with_the_inventory(name):
    for book in ("deploy.yml", "promote.yml", "migrate.yml"):
        out = ansible("ansible-playbook", f"playbooks/{book}", "-i", f"inventories/{name}", "--syntax-check")
        assert out.returncode == 0, out.stdout + out.stderr


def test_region_inventories_are_region_specific():
    hosts = [set(inventory(name)["_meta"]["hostvars"]) for name in REGIONS]
    for index, these in enumerate(hosts):  # no host in two environments
        assert not these & set().union(*(hosts[:index] + hosts[index + 1:]))
    assert Path(ROOT / "inventories" / "lab").is_dir()
