# -*- coding: utf-8 -*-
# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The lab's demo app: a release whose health is real.

Standard library only (it runs in a 40 MB image of Debian's python3.11-minimal).

Environment:
  APP_VERSION       version it reports (default 0.0.0+0)
  APP_BIND          address to bind (default 127.0.0.1)
  APP_PORT          port (default 8080)
  APP_ERROR_RATE    share of `/` requests answered with 500 (0.0-1.0, default 0)
  APP_LATENCY_MS    latency added to every `/` request in milliseconds (default 0)
  APP_LATENCY_JITTER_MS  uniform random extra latency 0..N ms (default 0)
  APP_HEALTHY       "0" makes /healthz answer 503 (default 1)
  APP_POOL          label reported in /metrics and the X-App-Pool header (default empty)

Endpoints: `/` (version), `/healthz`, `/metrics` (Prometheus text format).

Health checks are not user requests: `/healthz` is counted in `http_health_checks_total`, not in
`http_requests_total`, so a router's health checks alone never make an error ratio look healthy.
"""
from __future__ import annotations

import json
import os
import random
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Settings:
    def __init__(self, env: dict[str, str]) -> None:
        self.version = env.get("APP_VERSION", "0.0.0+0")
        self.pool = env.get("APP_POOL", "")
        self.bind = env.get("APP_BIND", "127.0.0.1")
        self.port = int(env.get("APP_PORT", "8080"))
        self.error_rate = float(env.get("APP_ERROR_RATE", "0"))
        self.latency = float(env.get("APP_LATENCY_MS", "0")) / 1000.0
        self.jitter = float(env.get("APP_LATENCY_JITTER_MS", "0")) / 1000.0
        self.healthy = env.get("APP_HEALTHY", "1") != "0"
        if not 0.0 <= self.error_rate <= 1.0:
            raise ValueError(f"APP_ERROR_RATE must be between 0 and 1, got {self.error_rate}")


class Metrics:
    """User-request counter by path and code, health-check counter by code, latency histogram of `/`."""

    def __init__(self, version: str, pool: str) -> None:
        self.version = version
        self.pool = pool
        self.lock = threading.Lock()
        self.requests: dict[tuple[str, str], int] = {}
        self.health_checks: dict[str, int] = {}
        self.bucket_counts = [0] * len(BUCKETS)
        self.count = 0
        self.total = 0.0
        self.started = time.time()

    def observe(self, path: str, code: int, seconds: float) -> None:
        with self.lock:
            key = (path, str(code))
            self.requests[key] = self.requests.get(key, 0) + 1
            if path != "/":
                return
            self.count += 1
            self.total += seconds
            for i, bound in enumerate(BUCKETS):
                if seconds <= bound:
                    self.bucket_counts[i] += 1

    def observe_health_check(self, code: int) -> None:
        with self.lock:
            self.health_checks[str(code)] = self.health_checks.get(str(code), 0) + 1

    def render(self) -> str:
        labels = f'version="{self.version}",pool="{self.pool}"'
        out = [
            "# HELP http_requests_total User requests served (health checks excluded), by path and status code.",
            "# TYPE http_requests_total counter",
        ]
        with self.lock:
            for (path, code), n in sorted(self.requests.items()):
                out.append(f'http_requests_total{{{labels},path="{path}",code="{code}"}} {n}')
            out += [
                "# HELP http_health_checks_total Health checks (/healthz) answered, by status code.",
                "# TYPE http_health_checks_total counter",
            ]
            for code, n in sorted(self.health_checks.items()):
                out.append(f'http_health_checks_total{{{labels},code="{code}"}} {n}')
            out += [
                "# HELP http_request_duration_seconds Latency of `/` requests.",
                "# TYPE http_request_duration_seconds histogram",
            ]
            for bound, n in zip(BUCKETS, self.bucket_counts, strict=False):
                out.append(f'http_request_duration_seconds_bucket{{{labels},le="{bound}"}} {n}')
            out.append(f'http_request_duration_seconds_bucket{{{labels},le="+Inf"}} {self.count}')
            out.append(f"http_request_duration_seconds_sum{{{labels}}} {self.total}")
            out.append(f"http_request_duration_seconds_count{{{labels}}} {self.count}")
        out += [
            "# HELP demo_app_info The running release.",
            "# TYPE demo_app_info gauge",
            f"demo_app_info{{{labels}}} 1",
            "# HELP process_start_time_seconds Start time of the process since unix epoch in seconds.",
            "# TYPE process_start_time_seconds gauge",
            f"process_start_time_seconds {self.started}",
        ]
        return "\n".join(out) + "\n"


def make_handler(settings: Settings, metrics: Metrics) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True
        server_version = "demo-app"

        def log_message(self, format: str, *args: object) -> None:
            return

        def send_body(self, code: int, body: str, content_type: str = "text/plain; charset=utf-8") -> None:
            data = body.encode()
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("X-App-Version", settings.version)
            self.send_header("X-App-Pool", settings.pool)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        def do_HEAD(self) -> None:
            self.do_GET()

        def do_GET(self) -> None:
            start = time.monotonic()
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self.send_body(200, metrics.render(), "text/plain; version=0.0.4; charset=utf-8")
                return
            if path == "/healthz":
                code = 200 if settings.healthy else 503
                self.send_body(code, "ok\n" if settings.healthy else "unhealthy\n")
                metrics.observe_health_check(code)
                return
            if path != "/":
                self.send_body(404, "not found\n")
                metrics.observe("other", 404, time.monotonic() - start)
                return
            delay = settings.latency + (random.uniform(0, settings.jitter) if settings.jitter else 0.0)
            if delay:
                time.sleep(delay)
            code = 500 if random.random() < settings.error_rate else 200
            body = json.dumps({"version": settings.version, "pool": settings.pool, "code": code}) + "\n"
            self.send_body(code, body, "application/json")
            metrics.observe(path, code, time.monotonic() - start)

    return Handler


def main() -> int:
    settings = Settings(dict(os.environ))
    metrics = Metrics(settings.version, settings.pool)
    ThreadingHTTPServer.daemon_threads = True
    ThreadingHTTPServer.allow_reuse_address = True
    # socketserver's default listen backlog is 5: under a proxy that opens upstream connections beyond its
    # keep-alive pool, SYNs overflow it and are retried after 1 s (then 3 s): latency spikes and client
    # timeouts that are the demo app's, not the router's. Real servers use 128-2048 (gunicorn: 2048).
    ThreadingHTTPServer.request_queue_size = 1024
    server = ThreadingHTTPServer((settings.bind, settings.port), make_handler(settings, metrics))
    # PID 1 in a container has no default SIGTERM action: exit explicitly.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"demo-app {settings.version} listening on {settings.bind}:{settings.port}", flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
