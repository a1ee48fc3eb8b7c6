#!/usr/bin/python
# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: canary_shift
short_description: Move traffic between a stable and a canary pool on HAProxy, nginx, Istio or Gateway API
version_added: 0.1.0
description:
  - Sets the share of requests that the canary pool receives (O(weight), 0-100), whatever the number of servers in
    each pool; the share is spread evenly across a pool's servers. Or sets an explicit weight per member
    (O(weights)), for example to put back a router's starting weights.
  - The one operation that canary and blue-green strategies both use. It never leaves a router half-changed
    (validation first; on a failed change the previous state is restored) and never drops requests on purpose;
    when weights move, the side that gains is raised before the side that loses is lowered (make-before-break),
    so there is no moment at which every server has weight 0.
  - With O(verify=true) the state is read back from the data plane after the change and the task fails if it does
    not match.
  - Routers are adapters listed in the collection's router registry; each documents its own options (the
    fragments below) and declares which of them it needs.
  - Idempotent. Check mode and diff mode show the weights per member before and after.
author: progressive.delivery maintainers (@progressive-delivery)
extends_documentation_fragment:
  - progressive.delivery._in_process
  - progressive.delivery._routers
  - progressive.delivery._haproxy
  - progressive.delivery._nginx
  - progressive.delivery._kubernetes
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: full
options:
  weight:
    description:
      - Share of requests for the canary pool in percent, 0-100.
      - Routers weigh servers with integers, so with several servers per pool the effective share can differ from
        O(weight) by rounding; RV(effective_weight) reports it.
      - The task changes nothing when the router already sends each member that share, whatever the scale of its
        weights (HAProxy 2:2 is the same split as 1:1).
      - Exactly one of O(weight) and O(weights) is required.
    type: int
  weights:
    description:
      - "The weight of every member of O(stable) and O(canary), on the router's own scale (HAProxy 0-256, nginx
        0-1000, Istio and Gateway API percentages that add up to 100), for example V({blue: 128, green: 128})."
      - Unlike O(weight), the weights are compared exactly, so this restores a router's starting weights (HAProxy
        C(128/128)) rather than an equivalent split. The keys must be exactly the members of O(stable) and
        O(canary), and at least one weight must be above 0.
      - Exactly one of O(weight) and O(weights) is required.
    type: dict
    version_added: 0.2.0
  verify:
    description:
      - After the change, read the weights back from the data plane's control interface and fail if they do not
        match (HAProxy C(show servers state); nginx the reloaded configuration or the runtime admin endpoint;
        Kubernetes the object as stored).
    type: bool
    default: true
notes:
  - Pools must not share members.
seealso:
  - module: progressive.delivery.slo_check
    description: The SLO gate to run between two shifts.
"""

EXAMPLES = r"""
- name: Send 5% of requests to green on HAProxy
  progressive.delivery.canary_shift:
    router: haproxy
    haproxy_socket: /run/haproxy/admin.sock
    haproxy_state_file: /var/lib/haproxy/server-state
    backend: app
    stable: blue
    canary: green
    weight: 5

- name: Put back HAProxy's starting weights (runtime API and server-state file)
  progressive.delivery.canary_shift:
    router: haproxy
    haproxy_socket: /run/haproxy/admin.sock
    haproxy_state_file: /var/lib/haproxy/server-state
    backend: app
    stable: blue
    canary: green
    weights: {blue: 128, green: 128}

- name: Blue-green switch on nginx (stock nginx, reload)
  progressive.delivery.canary_shift:
    router: nginx
    nginx_upstream_file: /etc/nginx/upstreams/app.conf
    upstream: app
    stable: [10.0.0.11:8080, 10.0.0.12:8080]
    canary: [10.0.0.21:8080, 10.0.0.22:8080]
    weight: 100

- name: Shift an Istio VirtualService route to the canary subset
  progressive.delivery.canary_shift:
    router: istio
    name: reviews
    namespace: shop
    route_name: primary
    stable: {host: reviews.shop.svc.cluster.local, subset: v1}
    canary: {host: reviews.shop.svc.cluster.local, subset: v2}
    weight: 25
"""

RETURN = r"""
before:
  description: Weight of each member before the task, on the router's scale.
  returned: always
  type: dict
  sample: {"blue": 3, "green": 1}
after:
  description: Weight of each member after the task (what it would be, in check mode), on the router's scale.
  returned: always
  type: dict
  sample: {"blue": 1, "green": 1}
previous_weight:
  description:
    - The canary pool's share in percent before the task, or V(null) if every member had weight 0.
    - "Deprecated: use before/after; will be removed in 2.0.0."
  returned: always
  type: int
  sample: 5
weight:
  description: The requested share for the canary pool (O(weight)); V(null) when O(weights) was given.
  returned: always
  type: int
  sample: 25
effective_weight:
  description: The canary pool's share in percent that the per-server weights give (after rounding).
  returned: always
  type: int
  sample: 25
servers:
  description: Weight of each member as read back after the task (before it, in check mode), on the router's scale.
  returned: always
  type: dict
  sample: {"blue": 3, "green": 1}
resynced:
  description:
    - V(true) when the weights were already right at run time but the copy that survives a reload (HAProxy's
      server-state file, O(haproxy_state_file)) was not, and the task rewrote it (in check mode, would have).
  returned: always
  type: bool
  sample: false
router:
  description: The router type (O(router)).
  returned: always
  type: str
  sample: haproxy
target:
  description: Where the change happens (backend, upstream file, object name), router-specific.
  returned: always
  type: dict
  sample: {"backend": "app", "socket": "/run/haproxy/admin.sock"}
diff:
  description: Weights per member before and after.
  returned: when diff mode is on
  type: dict
  sample: {"before": {"blue": 1, "green": 0}, "after": {"blue": 19, "green": 1}}
"""

from collections.abc import Mapping  # noqa: E402
from typing import Any  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible_collections.progressive.delivery.plugins.module_utils._result import (  # noqa: E402
    ContractModule,
    ModuleFailure,
    run_module,
    state_result,
)
from ansible_collections.progressive.delivery.plugins.module_utils._routers import (  # noqa: E402
    Router,
    registry,
)
from ansible_collections.progressive.delivery.plugins.module_utils._weights import (  # noqa: E402
    canary_share,
    explicit_weights,
    same_split,
    server_weights,
)

BASE_OPTIONS: dict[str, dict[str, Any]] = {
    "router": {"type": "str", "required": True},
    "stable": {"type": "raw", "required": True},
    "canary": {"type": "raw", "required": True},
    "weight": {"type": "int"},
    "weights": {"type": "dict"},
    "verify": {"type": "bool", "default": True},
}


def argument_spec() -> dict[str, dict[str, Any]]:
    """canary_shift's options plus every registered router's (a conflict raises registry.SpecConflict)."""
    return registry.argument_spec(BASE_OPTIONS)


def module_checks() -> dict[str, Any]:
    return {
        "required_if": registry.required_if(),
        "mutually_exclusive": [["weight", "weights"], *registry.mutually_exclusive()],
        "required_one_of": [["weight", "weights"]],
    }


def plan(router: Router, params: Mapping[str, Any]) -> tuple[list[str], list[str], dict[str, int], dict[str, int]]:
    """Validate everything and read the current state; nothing is changed here."""
    weight = params.get("weight")
    if weight is not None and not 0 <= weight <= 100:
        raise ModuleFailure(f"option weight: must be between 0 and 100, got {weight}", option="weight")
    stable = router.members(params["stable"], "stable")
    canary = router.members(params["canary"], "canary")
    shared = sorted(set(stable) & set(canary))
    if shared:
        raise ModuleFailure(f"options stable and canary: pools must not share members, both have {', '.join(shared)}",
                            option="canary")
    if params.get("weights") is not None:
        try:
            target = explicit_weights(params["weights"], stable + canary)
        except ValueError as exc:
            raise ModuleFailure(f"option weights: {exc}", option="weights") from None
        router.check_weights(target)
    else:
        try:
            target = server_weights(weight, stable, canary, router.max_weight, router.reduce_weights)
        except ValueError as exc:
            raise ModuleFailure(f"options stable, canary and weight: {exc}", option="weight") from None
    current = router.get_weights(stable + canary)
    return stable, canary, current, target


def run(module: AnsibleModule) -> dict[str, Any]:
    params = module.params
    try:
        return shift(module, registry.select(params)(params, check_mode=module.check_mode,
                                                     runner=module.run_command))
    except ModuleFailure as failure:
        failure.result.setdefault("router", params["router"])
        raise


def shift(module: AnsibleModule, router: Router) -> dict[str, Any]:
    params = module.params
    _stable, canary, current, target = plan(router, params)
    exact = params.get("weights") is not None
    changed = current != target if exact else not same_split(current, target)
    resync = not changed and not router.persisted(current)
    servers, after = dict(current), dict(current) if not changed else dict(target)
    if not module.check_mode:
        if changed:
            router.set_weights(current, target)
            servers = router.verify(target) if params["verify"] else dict(target)
        elif resync:
            router.persist()
    return state_result(
        module, changed or resync, dict(current), after, router=router.name,
        previous_weight=canary_share(current, canary), weight=params.get("weight"),
        effective_weight=canary_share(after, canary), servers=servers, resynced=resync, target=router.describe())


#: How main() builds the module; the action plugin builds the same one in the controller process
#: (plugins/plugin_utils/_in_process.py).
MODULE_CLASS = ContractModule
MODULE_KWARGS = {"supports_check_mode": True, **module_checks()}


def main() -> None:
    module = MODULE_CLASS(argument_spec=argument_spec(), **MODULE_KWARGS)
    run_module(module, lambda: run(module))


if __name__ == "__main__":
    main()
