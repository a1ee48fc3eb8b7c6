# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""nginx adapter of canary_shift for ``nginx_mode: runtime``: no reload at all.

Weights live in a ``lua_shared_dict`` that a ``balancer_by_lua_block`` reads on every request (smooth weighted
round robin, per worker); a small admin location on a loopback listener reads and sets them (JSON), the way
ingress-nginx does it. The Lua code and the nginx configuration that includes it are files of the collection
(``files/nginx/progressive_delivery.lua`` and ``files/nginx/runtime.conf.j2``, see docs/routers/nginx.md); this
adapter only talks to the admin endpoint.
"""
from __future__ import annotations

import json
import urllib.parse
from collections.abc import Mapping
from typing import Any

from ansible_collections.progressive.delivery.plugins.module_utils._routers import RouterError
from ansible_collections.progressive.delivery.plugins.module_utils._routers.nginx import NginxRouter

#: name of the lua_shared_dict of files/nginx/runtime.conf.j2
RUNTIME_DICT = "progressive_delivery_weights"


def admin_address(url: str) -> tuple[str, int, str]:
    """``(host, port, path prefix)`` of ``nginx_admin_url``; RouterError unless it is an ``http://`` URL.

    The runtime snippet's admin listener is plain http and unauthenticated, so it belongs on loopback; https,
    credentials, a query or a fragment in the URL are refused rather than half supported.
    """
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port or 80
    except ValueError as exc:
        raise RouterError(f"option nginx_admin_url: not a URL ({exc}): {url!r}") from None
    if parts.scheme != "http" or not parts.hostname or parts.username or parts.password or parts.query or \
            parts.fragment:
        raise RouterError(f"option nginx_admin_url: must be http://HOST[:PORT][/PREFIX] (the runtime configuration's "
                          f"loopback admin listener; https and credentials are not supported), got {url!r}")
    return parts.hostname, port, parts.path.rstrip("/")


class NginxRuntimeRouter(NginxRouter):
    """``nginx_mode: runtime``: one GET and one PUT on the admin endpoint of files/nginx/runtime.conf.j2."""

    variant = ("nginx_mode", "runtime")
    required = ("upstream", "nginx_admin_url")
    description = "with O(nginx_mode=runtime) sets weights without a reload through O(nginx_admin_url)"

    def __init__(self, params: Mapping[str, Any], check_mode: bool = False, runner: Any = None) -> None:
        super().__init__(params, check_mode, runner)
        self.admin_url: str = str(params["nginx_admin_url"]).rstrip("/")
        self._admin_address = admin_address(self.admin_url)

    def describe(self) -> dict[str, Any]:
        return {"mode": "runtime", "upstream": self.upstream, "admin_url": self.admin_url}

    def _read(self) -> tuple[dict[str, int], str]:
        return self._admin("GET"), f"admin {self.admin_url}"

    def set_weights(self, current: Mapping[str, int], target: Mapping[str, int]) -> None:
        # one PUT, one dict:set in nginx: every worker moves from current to target at once
        self._admin("PUT", {"servers": dict(target)})

    def _admin(self, method: str, body: Mapping[str, Any] | None = None) -> dict[str, int]:
        # Plain http.client: the admin listener is unauthenticated loopback http (see admin_address), and
        # ansible.module_utils.urls would cost 50-75 ms of imports per task for one local request. Imported
        # here: reload mode and the other routers do not pay its ~14 ms.
        import http.client  # pylint: disable=import-outside-toplevel
        host, port, prefix = self._admin_address
        path = f"{prefix}/upstreams/{self.upstream}"
        url = f"{self.admin_url}/upstreams/{self.upstream}"
        data = json.dumps(body).encode() if body is not None else None
        connection = http.client.HTTPConnection(host, port, timeout=self.timeout)
        try:
            connection.request(method, path, body=data, headers={"Content-Type": "application/json"})
            response = connection.getresponse()
            raw = response.read()
        except (OSError, http.client.HTTPException) as exc:
            raise RouterError(f"option nginx_admin_url: cannot {method} {url}: {exc}") from None
        finally:
            connection.close()
        if response.status != 200:
            raise RouterError(self._admin_error(response.status, response.reason, raw))
        try:
            answer = json.loads(raw)
        except ValueError:
            answer = raw[:200]
        servers = answer.get("servers") if isinstance(answer, dict) else None
        if not isinstance(servers, dict):
            raise RouterError(f"option nginx_admin_url: {url} did not answer like the runtime snippet: {answer!r}")
        return {str(addr): int(weight) for addr, weight in servers.items()}

    def _admin_error(self, status: int, reason: str, raw: bytes) -> str:
        try:
            detail = json.loads(raw).get("error", "")
        except (ValueError, AttributeError):
            detail = ""
        if status == 404:
            return (f"option upstream: no upstream {self.upstream!r} behind {self.admin_url} (declare it in the "
                    f"runtime configuration){': ' + detail if detail else ''}")
        return f"option nginx_admin_url: {self.admin_url} answered HTTP {status}: {detail or reason}"
