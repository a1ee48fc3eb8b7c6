# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A small Kubernetes API server for Istio VirtualServices and Gateway API HTTPRoutes, on 127.0.0.1 over HTTP/1.1.

Speaks the real wire protocol (JSON bodies, metav1.Status errors, resourceVersion preconditions) for the
namespaced custom-object endpoints ``/apis/<group>/<version>/namespaces/<ns>/<plural>[/<name>]`` (GET, LIST,
POST, PUT, PATCH with merge-patch and json-patch, DELETE) plus the discovery documents a client reads first
(``/version``, ``/api``, ``/api/v1``, ``/apis``, ``/apis/<group>``, ``/apis/<group>/<version>``: see discovery.py),
so that kubernetes.core's ``get_api_client()`` (whose discoverer reads ``/version`` and ``/apis`` as soon as it is
built) works against it. Every request is kept in ``requests`` ("GET /version -> 200"). Paths it does not
serve (another group, an unserved version) get the real server's plain-text ``404 page not found``; a configured
bearer token is required on every request, discovery included (401 Status otherwise).

    with FakeKubeApiServer(token="s3cret") as api:
        api.store.objects ...; api.url  -> "http://127.0.0.1:PORT"
"""
from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.fake_k8s import discovery
from tests.fake_k8s.store import JSON_PATCH, MERGE_PATCH, RESOURCES, ApiError, Resource, Store

_OBJECT_PATH = re.compile(r"^/apis/(?P<group>[^/]+)/(?P<version>[^/]+)/namespaces/(?P<namespace>[^/]+)/"
                          r"(?P<plural>[^/]+)(?:/(?P<name>[^/]+))?/?$")
_PATCH_TYPES = (MERGE_PATCH, JSON_PATCH)
_UNKNOWN_PATCH = ("the body of the request was in an unknown format - accepted media types include:"
                  " application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        self.server.requests.append(f"{self.command} {self.path} -> {args[1] if len(args) > 1 else ''}")

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_PATCH(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    # ---- dispatch ---------------------------------------------------------------------------------------------
    def _handle(self) -> None:
        body = self._read_body()
        try:
            self._authenticate()
            code, payload = self._route(body)
        except ApiError as exc:
            code, payload = exc.code, exc.status()
        if payload is None:
            self._send(404, b"404 page not found\n", "text/plain; charset=utf-8")
        else:
            self._send(code, json.dumps(payload).encode(), "application/json")

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _authenticate(self) -> None:
        token = self.server.token
        if token is not None and self.headers.get("Authorization", "") != f"Bearer {token}":
            raise ApiError(401, "Unauthorized", "Unauthorized")

    def _route(self, raw: bytes) -> tuple[int, dict[str, Any] | None]:
        url = urlsplit(self.path)
        match = _OBJECT_PATH.match(url.path)
        if match is None:
            found = discovery.document(self.server.served, url.path) if self.command == "GET" else None
            return (200, found) if found is not None else (404, None)
        res = self.server.resource(match["group"], match["plural"], match["version"])
        if res is None:
            return 404, None
        dry_run = "All" in parse_qs(url.query).get("dryRun", [])
        return self._serve(res, match["version"], match["namespace"], match["name"], raw, dry_run)

    def _serve(self, res: Resource, version: str, namespace: str, name: str | None, raw: bytes, dry_run: bool
               ) -> tuple[int, dict[str, Any] | None]:
        store = self.server.store
        if name is None:
            if self.command == "GET":
                return 200, store.list(res, version, namespace)
            if self.command == "POST":
                return 201, store.create(res, version, namespace, self._json(raw, "application/json"), dry_run)
        elif self.command == "GET":
            return 200, store.get(res, version, namespace, name)
        elif self.command == "PUT":
            return 200, store.replace(res, version, namespace, name, self._json(raw, "application/json"), dry_run)
        elif self.command == "PATCH":
            content_type = self._content_type()
            if content_type not in _PATCH_TYPES:
                raise ApiError(415, "UnsupportedMediaType", _UNKNOWN_PATCH)
            return 200, store.patch(res, version, namespace, name, content_type, self._json(raw, content_type),
                                    dry_run)
        elif self.command == "DELETE":
            return 200, store.delete(res, version, namespace, name)
        raise ApiError(405, "MethodNotAllowed", f"the server does not allow this method on the requested resource"
                       f" ({self.command})")

    def _content_type(self) -> str:
        return (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()

    def _json(self, raw: bytes, expected: str) -> Any:
        if expected == "application/json" and self._content_type() not in ("application/json", ""):
            raise ApiError(415, "UnsupportedMediaType", "the body of the request was in an unknown format -"
                           " accepted media types include: application/json, application/yaml")
        try:
            return json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ApiError(400, "BadRequest", f"couldn't get version/kind; json parse error: {exc}") from None

    def _send(self, code: int, payload: bytes, content_type: str) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, token: str | None, served: dict[str, tuple[str, ...]]) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.token = token
        self.served = served
        self.store = Store()
        self.requests: list[str] = []

    def resource(self, group: str, plural: str, version: str) -> Resource | None:
        for res in RESOURCES:
            if (res.group, res.plural) == (group, plural) and version in self.served.get(group, ()):
                return res
        return None


class FakeKubeApiServer:
    """The fake, served from a background thread; use as a context manager or call start()/stop()."""

    def __init__(self, token: str | None = None, served: dict[str, tuple[str, ...]] | None = None) -> None:
        served = served if served is not None else {res.group: res.versions for res in RESOURCES}
        self._server = _Server(token, served)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def store(self) -> Store:
        return self._server.store

    @property
    def served(self) -> dict[str, tuple[str, ...]]:
        """Group -> versions served (preferred first); change it to stop or start serving a version."""
        return self._server.served

    @property
    def requests(self) -> list[str]:
        return self._server.requests

    def start(self) -> FakeKubeApiServer:
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-k8s", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def __enter__(self) -> FakeKubeApiServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
