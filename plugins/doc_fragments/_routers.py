# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations


class ModuleDocFragment:
    # The router interface of canary_shift: which router, and the two pools.
    # Keep the choices in step with plugins/module_utils/_routers/registry.py (tests/unit compares them).
    DOCUMENTATION = r"""
options:
  router:
    description:
      - The data plane to change; each router's own options are documented with it below.
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
"""
