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
    each pool; the share is spread evenly across a pool's servers.
  - The one operation that canary and blue-green strategies both use. It never leaves a router half-changed
    (validation first; on a failed change the previous state is restored) and never drops requests on purpose;
    when weights move, the side that gains is raised before the side that loses is lowered (make-before-break),
    so there is no moment at which every server has weight 0.
  - With O(verify=true) the state is read back from the data plane after the change and the task fails if it does
    not match.
  - Idempotent. Check mode and diff mode show the weights per server before and after.
author: progressive.delivery maintainers (@progressive-delivery)
extends_documentation_fragment:
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
  router:
    description:
      - The data plane to change.
      - V(haproxy) sets server weights through the runtime API (no reload), see O(haproxy_socket) and O(backend).
      - V(nginx) renders the upstream file and reloads nginx, or sets weights at run time (O(nginx_mode)).
      - V(istio) changes the route's destination weights in an Istio C(VirtualService).
      - V(gateway_api) changes the C(backendRefs) weights of a Gateway API C(HTTPRoute) rule.
    type: str
    required: true
    choices: [haproxy, nginx, istio, gateway_api]
  stable:
    description:
      - The stable pool, which receives 100 - O(weight) percent of requests.
      - For V(haproxy) a server name in O(backend) or a list of them; for V(nginx) a server address as written in
        the upstream (V(127.0.0.1:8081)) or a list of them.
      - For V(istio) a destination, a dictionary with C(host) and optional C(subset) (a string means C(host)).
      - For V(gateway_api) the name of a C(backendRef) (a string) or a dictionary with C(name) and optional
        C(port).
    type: raw
    required: true
  canary:
    description:
      - The canary pool, which receives O(weight) percent of requests. Same form as O(stable).
    type: raw
    required: true
  weight:
    description:
      - Share of requests for the canary pool in percent, 0-100.
      - Routers weigh servers with integers, so with several servers per pool the effective share can differ from
        O(weight) by rounding; RV(effective_weight) reports it.
    type: int
    required: true
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
    backend: app
    stable: blue
    canary: green
    weight: 5

- name: Blue-green switch on nginx (stock nginx, reload)
  progressive.delivery.canary_shift:
    router: nginx
    upstream_file: /etc/nginx/upstreams/app.conf
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
previous_weight:
  description: The canary pool's share in percent before the task, or V(null) if every member had weight 0.
  returned: always
  type: int
  sample: 5
weight:
  description: The requested share for the canary pool (O(weight)).
  returned: always
  type: int
  sample: 25
effective_weight:
  description: The canary pool's share in percent that the per-server weights give (after rounding).
  returned: always
  type: int
  sample: 25
servers:
  description: Effective weight of each member after the task (before it, in check mode), on the router's scale.
  returned: always
  type: dict
  sample: {"blue": 3, "green": 1}
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
  returned: when changed
  type: dict
  sample: {"before": {"blue": 1, "green": 0}, "after": {"blue": 19, "green": 1}}
"""

from typing import Any  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible_collections.progressive.delivery.plugins.module_utils._routers import Router, RouterError  # noqa: E402
from ansible_collections.progressive.delivery.plugins.module_utils._routers.haproxy import HAProxyRouter  # noqa: E402
from ansible_collections.progressive.delivery.plugins.module_utils._routers.kubernetes import (  # noqa: E402
    GatewayApiRouter,
    IstioRouter,
)
from ansible_collections.progressive.delivery.plugins.module_utils._routers.nginx import NginxRouter  # noqa: E402
from ansible_collections.progressive.delivery.plugins.module_utils._weights import (  # noqa: E402
    canary_share,
    same_split,
    server_weights,
)

ROUTERS: dict[str, type[Router]] = {
    cls.name: cls for cls in (HAProxyRouter, NginxRouter, IstioRouter, GatewayApiRouter)
}


def argument_spec() -> dict[str, dict[str, Any]]:
    spec: dict[str, dict[str, Any]] = {
        "router": {"type": "str", "required": True, "choices": list(ROUTERS)},
        "stable": {"type": "raw", "required": True},
        "canary": {"type": "raw", "required": True},
        "weight": {"type": "int", "required": True},
        "verify": {"type": "bool", "default": True},
    }
    for cls in ROUTERS.values():
        for option, option_spec in cls.argument_spec().items():
            spec.setdefault(option, option_spec)
    return spec


def plan(router: Router, params: dict[str, Any]) -> tuple[list[str], list[str], dict[str, int], dict[str, int]]:
    """Validate everything and read the current state; nothing is changed here."""
    if not 0 <= params["weight"] <= 100:
        raise RouterError(f"option weight: must be between 0 and 100, got {params['weight']}")
    stable = router.members(params["stable"], "stable")
    canary = router.members(params["canary"], "canary")
    shared = sorted(set(stable) & set(canary))
    if shared:
        raise RouterError(f"options stable and canary: pools must not share members, both have {', '.join(shared)}")
    try:
        target = server_weights(params["weight"], stable, canary, router.max_weight, router.reduce_weights)
    except ValueError as exc:
        raise RouterError(f"options stable, canary and weight: {exc}") from None
    current = router.get_weights(stable + canary)
    return stable, canary, current, target


def run(module: AnsibleModule) -> dict[str, Any]:
    params = module.params
    router = ROUTERS[params["router"]](params, check_mode=module.check_mode)
    _stable, canary, current, target = plan(router, params)
    changed = not same_split(current, target)
    servers = current
    if changed and not module.check_mode:
        router.set_weights(current, target)
        servers = router.verify(target) if params["verify"] else dict(target)
    result: dict[str, Any] = {
        "changed": changed,
        "router": router.name,
        "previous_weight": canary_share(current, canary),
        "weight": params["weight"],
        "effective_weight": canary_share(target, canary),
        "servers": servers if not module.check_mode else current,
        "target": router.describe(),
    }
    if changed:
        result["diff"] = {"before": dict(current), "after": dict(target)}
    return result


def main() -> None:
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    try:
        result = run(module)
    except RouterError as exc:
        module.fail_json(msg=str(exc), router=module.params["router"])
    module.exit_json(**result)


if __name__ == "__main__":
    main()
