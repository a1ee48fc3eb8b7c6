# -*- coding: utf-8 -*-
# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filters the release roles use: durations in seconds, and a failing indicator explained in one line.

Documented in duration_seconds.yml, explain_indicator.yml, release_line.yml, pool_line.yml,
release_inventory.yml, shift_args.yml and approval_spec.yml next to this file.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import yaml
from ansible.errors import AnsibleFilterError
from ansible_collections.progressive.delivery.plugins.module_utils._approval import check_gate
from ansible_collections.progressive.delivery.plugins.module_utils._result import ModuleFailure
from ansible_collections.progressive.delivery.plugins.module_utils._time import option_duration


def duration_seconds(value: Any) -> float:
    """Seconds in ``30s``, ``10m``, ``1h30m`` or a number of seconds; ``0``/``0s`` is 0."""
    try:
        return option_duration("duration", value, allow_zero=True)
    except ValueError as exc:
        raise AnsibleFilterError(f"duration_seconds: {exc}") from None


def _number(value: Any) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"{value:.4g}"
    return "no data" if value is None else str(value)


def explain_indicator(entry: Any) -> str:
    """``error_ratio = 0.21 (bound max 0.01): <reason> [bad: sum(...) = 42; total: sum(...) = 200]``."""
    if not isinstance(entry, Mapping):
        raise AnsibleFilterError(f"explain_indicator: expected a mapping (an entry of analysis' failing), got "
                                 f"{type(entry).__name__}")
    name = entry.get("name", "?")
    bound = entry.get("bound")
    if isinstance(bound, Mapping):
        bound = ", ".join(f"{key} {_number(value)}" for key, value in bound.items() if value is not None)
    parts = [f"{name} = {_number(entry.get('value'))}"]
    if bound:
        parts.append(f"(bound {bound})")
    if entry.get("reason"):
        parts.append(f": {entry['reason']}")
    queries = entry.get("query")
    if isinstance(queries, Mapping):
        queries = "; ".join(f"{key}: {text}" for key, text in queries.items() if text)
    if queries:
        parts.append(f"[{queries}]")
    return " ".join(parts).replace(" :", ":")


def _weight(value: Any) -> str:
    return f"{value:g}" if isinstance(value, (int, float)) and not isinstance(value, bool) else str(value)


def release_line(entry: Any) -> str:
    """One line of a release record's history: when, version, strategy, outcome and why."""
    if not isinstance(entry, Mapping):
        raise AnsibleFilterError(f"release_line: expected a release (mapping), got {type(entry).__name__}")
    when = entry.get("ended_at") or entry.get("started_at") or "?"
    steps = entry.get("steps") or []
    weights = "-".join(_weight(step.get("weight")) for step in steps if isinstance(step, Mapping))
    text = (f"{when} {entry.get('version', '?')} {entry.get('strategy', '?')} "
            f"{str(entry.get('outcome', 'in progress')).upper()}")
    if weights:
        text += f" (steps {weights}%)"
    digest = str(entry.get("digest", ""))
    if digest:
        text += f" {digest[:19]}"
    if entry.get("reason"):
        text += f": {str(entry['reason'])[:160]}"
    return text


def pool_line(item: Any) -> str:
    """``pool green: stable 2026.11.3+92 sha256:0123abcd...`` from a ``dict2items`` item of the record's pools."""
    if not isinstance(item, Mapping) or not isinstance(item.get("value"), Mapping):
        raise AnsibleFilterError("pool_line: expected an item of `pools | dict2items`")
    pool = item["value"]
    return (f"recorded pool {item.get('key')}: {pool.get('role', '?')} {pool.get('version', '?')} "
            f"{str(pool.get('digest', ''))[:19]}").rstrip()


def _hosts_of(group: Any) -> dict[str, Any]:
    hosts = group.get("hosts") if isinstance(group, Mapping) else None
    return dict(hosts) if isinstance(hosts, Mapping) else {}


def release_inventory(name: Any, inventories_dir: Any) -> dict[str, Any]:
    """What playbooks/release.yml needs of one environment's inventory (``<inventories_dir>/<name>/hosts.yml``):
    whether it exists, its directory, its controller (the first host of ``delivery_controller``) and the
    connection variables (``ansible_*``) of ``all.vars`` merged with the controller's own."""
    if not isinstance(name, str) or not name or "/" in name or name.startswith("."):
        raise AnsibleFilterError(f"release_inventory: an environment is an inventory directory name such as "
                                 f"prod-kr, got {name!r}")
    path = os.path.realpath(os.path.join(str(inventories_dir), name))
    hosts_file = os.path.join(path, "hosts.yml")
    result: dict[str, Any] = {"name": name, "path": path, "exists": os.path.isfile(hosts_file),
                              "controller": None, "vars": {}}
    if not result["exists"]:
        return result
    try:
        with open(hosts_file, encoding="utf-8") as handle:
            data = yaml.safe_load(handle) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise AnsibleFilterError(f"release_inventory: {hosts_file}: {exc}") from None
    top = data.get("all", {}) if isinstance(data, Mapping) else {}
    children = top.get("children", {}) if isinstance(top, Mapping) else {}
    controllers = _hosts_of(children.get("delivery_controller") if isinstance(children, Mapping) else None)
    if not controllers:
        raise AnsibleFilterError(f"release_inventory: {hosts_file} has no host in group delivery_controller "
                                 f"(the host that drives the release of {name})")
    controller, controller_vars = next(iter(controllers.items()))
    merged = dict(top.get("vars") or {}) if isinstance(top, Mapping) else {}
    merged.update(controller_vars or {})
    result["controller"] = controller
    result["vars"] = {key: value for key, value in merged.items() if key.startswith("ansible_")}
    return result


#: The router options that canary_shift takes from delivery_router_options[router] (the registered routers' options).
SHIFT_ROUTER_OPTIONS = ("haproxy_socket", "backend", "haproxy_state_file", "upstream", "nginx_mode",
                        "nginx_upstream_file", "nginx_args", "nginx_admin_url", "name", "namespace", "route_name",
                        "kubeconfig", "context")


def _servers(role: str, value: Any) -> list[str]:
    if isinstance(value, str) or not isinstance(value, (list, tuple)) or \
            not all(isinstance(name, str) and name for name in value):
        raise AnsibleFilterError(f"shift_args: without pools, {role} must be a list of server names, got {value!r}")
    return list(value)


def shift_args(router_options: Any, router: Any, pools: Any, stable: Any, canary: Any, weight: Any) -> dict[str, Any]:
    """The arguments of one ``canary_shift``: ``weight`` percent on pool ``canary``'s servers, the rest on pool
    ``stable``'s, through ``router`` with its options (only those canary_shift takes, as given).

    With ``pools`` ``None``, ``stable`` and ``canary`` are lists of server names (a rolling tier's instances and
    surge slot); a mapping ``weight`` is an explicit per-server weight map (canary_shift's ``weights``)."""
    if router_options is None:
        router_options = {}
    if not isinstance(router_options, Mapping):
        raise AnsibleFilterError("shift_args: the router options must be a mapping, got"
                                 f" {type(router_options).__name__}")
    members = {}
    if pools is None:
        members = {"stable": _servers("stable", stable), "canary": _servers("canary", canary)}
    elif not isinstance(pools, Mapping):
        raise AnsibleFilterError(f"shift_args: pools must map pool names to {{servers: [...]}}, got"
                                 f" {type(pools).__name__}")
    else:
        for role, pool in (("stable", stable), ("canary", canary)):
            entry = pools.get(pool)
            if not isinstance(entry, Mapping) or "servers" not in entry:
                raise AnsibleFilterError(f"shift_args: {role} pool {pool!r} is not one of the pools"
                                         f" ({', '.join(map(str, pools))}) with servers")
            members[role] = entry["servers"]
    args: dict[str, Any] = {"router": router, "stable": members["stable"], "canary": members["canary"]}
    if isinstance(weight, Mapping):
        args["weights"] = dict(weight)
    else:
        try:
            args["weight"] = int(weight)
        except (TypeError, ValueError):
            raise AnsibleFilterError(f"shift_args: weight must be a whole percentage or a weight map, got"
                                     f" {weight!r}") from None
    args.update({key: router_options[key] for key in SHIFT_ROUTER_OPTIONS if key in router_options})
    return args


APPROVAL_KEYS = ("approvers", "quorum", "timeout")


def approval_spec(value: Any) -> dict[str, Any]:
    """A canary step's ``approval`` as the gate options: ``{}`` for none (missing, ``null``, ``false``, ``{}``),
    the defaults for ``true``, a checked mapping otherwise. Bad input names ``canary_steps[].approval``."""
    where = "canary_steps[].approval"
    if value is None or value is False or (isinstance(value, Mapping) and not value):
        return {}
    if value is True:
        return {"approvers": [], "quorum": 1, "timeout": "1h"}
    if not isinstance(value, Mapping):
        raise AnsibleFilterError(f"{where}: true, or a mapping with keys {', '.join(APPROVAL_KEYS)}, got {value!r}")
    unknown = sorted(set(value) - set(APPROVAL_KEYS))
    if unknown:
        raise AnsibleFilterError(f"{where}: unknown key(s) {', '.join(map(str, unknown))}; allowed:"
                                 f" {', '.join(APPROVAL_KEYS)}")
    approvers = value.get("approvers") or []
    if isinstance(approvers, str) or not isinstance(approvers, (list, tuple)):
        raise AnsibleFilterError(f"{where}.approvers: a list of names, got {approvers!r}")
    quorum = value.get("quorum", 1)
    if isinstance(quorum, str) and quorum.strip().isdigit():
        quorum = int(quorum)
    try:
        # the approval module's own check of a gate: names, duplicates, a quorum the approvers can reach
        allowed = check_gate(list(approvers), quorum)
    except ModuleFailure as failure:
        raise AnsibleFilterError(f"{where}.{failure.option}: {failure.msg}") from None
    timeout = value.get("timeout", "1h")
    try:
        option_duration("timeout", timeout)
    except ValueError as exc:
        raise AnsibleFilterError(f"{where}.timeout: {exc}") from None
    return {"approvers": allowed, "quorum": quorum, "timeout": timeout}


class FilterModule:
    """progressive.delivery helper filters."""

    def filters(self) -> dict[str, Any]:
        return {"duration_seconds": duration_seconds, "explain_indicator": explain_indicator,
                "release_line": release_line, "pool_line": pool_line, "release_inventory": release_inventory,
                "shift_args": shift_args, "approval_spec": approval_spec}
