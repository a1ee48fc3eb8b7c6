# -*- coding: utf-8 -*-
# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""progressive.delivery.canary_shift with router=nginx against real nginx processes of our own.

The lab's nginx is left alone (other tests expect its upstream at 1/1): each mode gets its own nginx (2 workers)
under ``<lab dir>/tests-nginx-<uuid>/``, proxying to the lab's two demo apps (blue 2026.11.0+1, green
2026.11.1+2), started with subprocess and stopped by PID. Every shift goes through a real ansible-playbook.

Split checks: 2,000 keep-alive requests per weight. nginx (and the runtime snippet's Lua balancer) use smooth
weighted round robin, which is nearly exact per worker; the tolerance is still a binomial one (4.5 standard
deviations plus 2 requests for the workers' phases), so the checks hold for any fair weighted choice.
"""
from __future__ import annotations

import collections
import json
import math
import shutil
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from ansible_collections.progressive.delivery.plugins.module_utils._routers.nginx import (
    backup_path,
)

from tests.integration.prom_helpers import free_port, run_playbook
from tests.lab.routers import OwnNginx

pytestmark = pytest.mark.lab

MODULE = "progressive.delivery.canary_shift"
BLUE_VERSION, GREEN_VERSION = "2026.11.0+1", "2026.11.1+2"
REQUESTS = 2000
THREADS = 4
WEIGHTS = [0, 5, 25, 50, 100]


@pytest.fixture(scope="module")
def nginx_root(lab) -> Iterator[Path]:
    root = Path(lab.dir) / f"tests-nginx-{uuid.uuid4().hex[:8]}"
    root.mkdir(parents=True)
    yield root
    shutil.rmtree(root, ignore_errors=True)


def _own_nginx(lab, root: Path, mode: str) -> Iterator[OwnNginx]:
    server = OwnNginx(root, mode, f"127.0.0.1:{lab.ports['app_blue']}", f"127.0.0.1:{lab.ports['app_green']}")
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def reload_nginx(lab, nginx_root) -> Iterator[OwnNginx]:
    yield from _own_nginx(lab, nginx_root, "reload")


@pytest.fixture(scope="module")
def runtime_nginx(lab, nginx_root) -> Iterator[OwnNginx]:
    yield from _own_nginx(lab, nginx_root, "runtime")


# --------------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------------
def shift(server: OwnNginx, weight: int, *, task: dict[str, Any] | None = None, args: tuple[str, ...] = (),
          **options: Any) -> dict[str, Any]:
    module_args = {**server.options(), "stable": server.blue, "canary": server.green, "weight": weight, **options}
    run = run_playbook([{"name": "shift", MODULE: module_args, **(task or {})}], args=args)
    return run["shift"]


def count_versions(url: str, total: int = REQUESTS, threads: int = THREADS) -> collections.Counter:
    counts: collections.Counter = collections.Counter()
    lock = threading.Lock()

    def worker(n: int) -> None:
        local: collections.Counter = collections.Counter()
        with requests.Session() as session:
            for _request in range(n):
                response = session.get(url, timeout=5)
                local[response.json()["version"] if response.status_code == 200 else response.status_code] += 1
        with lock:
            counts.update(local)

    pool = [threading.Thread(target=worker, args=(total // threads,)) for _thread in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return counts


def assert_split(counts: collections.Counter, canary_share: float) -> None:
    total = sum(counts.values())
    assert set(counts) <= {BLUE_VERSION, GREEN_VERSION}, counts  # no errors at all
    canary = counts[GREEN_VERSION]
    if canary_share in (0.0, 1.0):
        assert canary == round(canary_share * total), counts
        return
    tolerance = 4.5 * math.sqrt(total * canary_share * (1 - canary_share)) + 2
    assert abs(canary - canary_share * total) <= tolerance, (counts, canary_share)


def share_of(result: dict[str, Any], canary: str) -> float:
    servers = result["servers"]
    return servers[canary] / sum(servers.values())


def assert_ok(result: dict[str, Any]) -> None:
    assert not result.get("failed"), result.get("msg", result)


# --------------------------------------------------------------------------------------------------
# reload mode
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("weight", WEIGHTS)
def test_reload_split(reload_nginx: OwnNginx, weight: int) -> None:
    before = reload_nginx.workers()
    result = shift(reload_nginx, weight)
    assert_ok(result)
    assert result["changed"] is True  # from 1/1 (50 %) at start, and every step differs from the last
    assert result["effective_weight"] == weight
    assert result["target"]["upstream_file"] == str(reload_nginx.upstream_file)
    after = reload_nginx.workers()
    assert after and not after & before, "nginx did not reload (same workers)"
    text = reload_nginx.upstream_file.read_text()
    if weight in (0, 100):
        down = reload_nginx.green if weight == 0 else reload_nginx.blue
        assert f"server {down} down;" in text and "weight=0" not in text
    assert "keepalive 16;" in text  # the block's other directives are kept
    assert_split(count_versions(reload_nginx.url), share_of(result, reload_nginx.green))


def test_reload_idempotent(reload_nginx: OwnNginx) -> None:
    assert_ok(shift(reload_nginx, 25))
    content, mtime = reload_nginx.upstream_file.read_bytes(), reload_nginx.upstream_file.stat().st_mtime_ns
    workers = reload_nginx.workers()
    again = shift(reload_nginx, 25)
    assert_ok(again)
    assert again["changed"] is False and again["previous_weight"] == 25 and "diff" not in again
    assert reload_nginx.upstream_file.read_bytes() == content
    assert reload_nginx.upstream_file.stat().st_mtime_ns == mtime
    assert reload_nginx.workers() == workers


def test_reload_check_mode_and_diff(reload_nginx: OwnNginx) -> None:
    first = shift(reload_nginx, 25)
    assert_ok(first)
    content, workers = reload_nginx.upstream_file.read_bytes(), reload_nginx.workers()
    result = shift(reload_nginx, 50, task={"check_mode": True, "diff": True})
    assert_ok(result)
    assert result["changed"] is True
    blue, green = reload_nginx.blue, reload_nginx.green
    assert result["diff"] == {"before": {blue: 3, green: 1}, "after": {blue: 1, green: 1}}
    assert result["servers"] == {blue: 3, green: 1}  # check mode: the state as it is
    assert reload_nginx.upstream_file.read_bytes() == content
    assert reload_nginx.workers() == workers


@pytest.mark.parametrize("breakage", ["bad_upstream_option", "broken_include"])
def test_reload_failure_restores_file(reload_nginx: OwnNginx, breakage: str) -> None:
    assert_ok(shift(reload_nginx, 25))
    content, workers = reload_nginx.upstream_file.read_bytes(), reload_nginx.workers()
    if breakage == "bad_upstream_option":
        result = shift(reload_nginx, 75, nginx_upstream_options=["keepalive 16", "no_such_directive 1"])
        nginx_says = 'unknown directive "no_such_directive"'
    else:
        result = shift(reload_nginx, 75, nginx_args=reload_nginx.args(reload_nginx.dir / "broken.conf"))
        nginx_says = f'open() "{reload_nginx.dir}/missing.conf" failed'
    assert result.get("failed") is True
    assert nginx_says in result["msg"] and "restored" in result["msg"], result["msg"]
    assert reload_nginx.upstream_file.read_bytes() == content  # byte for byte
    assert Path(backup_path(str(reload_nginx.upstream_file))).read_bytes() == content
    assert reload_nginx.workers() == workers  # never signalled
    assert_split(count_versions(reload_nginx.url), 0.25)  # the old config still serves


def test_reload_bad_input(reload_nginx: OwnNginx) -> None:
    assert_ok(shift(reload_nginx, 25))
    content = reload_nginx.upstream_file.read_bytes()
    base = {**reload_nginx.options(), "stable": reload_nginx.blue, "canary": reload_nginx.green, "weight": 50}
    without_file = {key: value for key, value in base.items() if key != "nginx_upstream_file"}
    tasks = [
        {"name": "unknown upstream", MODULE: {**base, "upstream": "nope"}},
        {"name": "not a member", MODULE: {**base, "canary": "127.0.0.1:9"}},
        {"name": "no nginx_upstream_file", MODULE: without_file},
        {"name": "missing file", MODULE: {**base, "nginx_upstream_file": str(reload_nginx.dir / "none.conf")}},
    ]
    run = run_playbook(tasks)
    assert "option upstream: no upstream 'nope'" in run["unknown upstream"]["msg"]
    assert "it has: demo" in run["unknown upstream"]["msg"]
    member = run["not a member"]["msg"]
    assert "option canary: server 127.0.0.1:9 is not in upstream demo" in member
    assert reload_nginx.blue in member and reload_nginx.green in member
    assert run["no nginx_upstream_file"]["msg"] == \
        "router is nginx and nginx_mode is reload but all of the following are missing: nginx_upstream_file"
    missing = run["no nginx_upstream_file"]
    assert missing["option"] == "nginx_upstream_file" and missing["router"] == "nginx"
    assert run["not a member"]["option"] == "canary" and run["missing file"]["option"] == "nginx_upstream_file"
    assert "option nginx_upstream_file:" in run["missing file"]["msg"]
    assert "does not exist" in run["missing file"]["msg"]
    assert all(result.get("failed") for result in run.results.values())
    assert reload_nginx.upstream_file.read_bytes() == content


def test_reload_deprecated_alias_upstream_file(reload_nginx: OwnNginx) -> None:
    """The old option name still shifts, with a deprecation warning naming the new one."""
    options = reload_nginx.options()
    path = options.pop("nginx_upstream_file")
    module_args = {**options, "upstream_file": path, "stable": reload_nginx.blue, "canary": reload_nginx.green}
    run = run_playbook([{"name": "to 5", MODULE: {**module_args, "weight": 5}},
                        {"name": "to 50", MODULE: {**module_args, "weight": 50}}])
    for name in ("to 5", "to 50"):
        assert_ok(run[name])
        assert run[name]["changed"] is True
        assert any("upstream_file" in str(item.get("msg")) and "2.0.0" in str(item.get("version"))
                   for item in run[name].get("deprecations", [])), run[name].get("deprecations")
    assert "weight=1;" in reload_nginx.upstream_file.read_text()


# --------------------------------------------------------------------------------------------------
# runtime mode
# --------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def runtime_workers(runtime_nginx: OwnNginx) -> set[int]:
    return runtime_nginx.workers()


@pytest.mark.parametrize("weight", WEIGHTS)
def test_runtime_split_without_reload(runtime_nginx: OwnNginx, runtime_workers: set[int], weight: int) -> None:
    result = shift(runtime_nginx, weight)
    assert_ok(result)
    assert result["changed"] is True and result["effective_weight"] == weight
    assert result["target"] == {"mode": "runtime", "upstream": "demo",
                                "admin_url": f"http://127.0.0.1:{runtime_nginx.admin_port}"}
    assert runtime_nginx.workers() == runtime_workers, "runtime mode must never reload nginx"
    assert_split(count_versions(runtime_nginx.url), share_of(result, runtime_nginx.green))


def test_runtime_idempotent_check_mode_and_diff(runtime_nginx: OwnNginx, runtime_workers: set[int]) -> None:
    assert_ok(shift(runtime_nginx, 5))
    admin = f"http://127.0.0.1:{runtime_nginx.admin_port}/upstreams/demo"
    state = requests.get(admin, timeout=5).json()
    again = shift(runtime_nginx, 5)
    assert_ok(again)
    assert again["changed"] is False and again["previous_weight"] == 5
    assert again["before"] == again["after"] == {runtime_nginx.blue: 19, runtime_nginx.green: 1}
    checked = shift(runtime_nginx, 100, task={"check_mode": True, "diff": True})
    assert_ok(checked)
    assert checked["changed"] is True
    assert checked["diff"]["after"] == {runtime_nginx.blue: 0, runtime_nginx.green: 1}
    assert requests.get(admin, timeout=5).json() == state  # nothing set in check mode
    assert runtime_nginx.workers() == runtime_workers


def test_runtime_bad_input(runtime_nginx: OwnNginx) -> None:
    base = {**runtime_nginx.options(), "stable": runtime_nginx.blue, "canary": runtime_nginx.green, "weight": 50}
    without_url = {key: value for key, value in base.items() if key != "nginx_admin_url"}
    tasks = [
        {"name": "unknown upstream", MODULE: {**base, "upstream": "nope"}},
        {"name": "not a member", MODULE: {**base, "stable": "127.0.0.1:9"}},
        {"name": "no admin url", MODULE: without_url},
        {"name": "admin down", MODULE: {**base, "nginx_admin_url": f"http://127.0.0.1:{free_port()}"}},
    ]
    run = run_playbook(tasks)
    assert "option upstream: no upstream 'nope'" in run["unknown upstream"]["msg"]
    assert "option stable: server 127.0.0.1:9 is not in upstream demo" in run["not a member"]["msg"]
    assert run["no admin url"]["msg"] == \
        "router is nginx and nginx_mode is runtime but all of the following are missing: nginx_admin_url"
    assert run["no admin url"]["option"] == "nginx_admin_url" and run["admin down"]["option"] == "nginx_admin_url"
    assert "option nginx_admin_url: cannot GET" in run["admin down"]["msg"]
    assert all(result.get("failed") for result in run.results.values())


def test_runtime_admin_rejects_unknown_servers(runtime_nginx: OwnNginx) -> None:
    admin = f"http://127.0.0.1:{runtime_nginx.admin_port}/upstreams/demo"
    before = requests.get(admin, timeout=5).json()
    bad = requests.put(admin, data=json.dumps({"servers": {runtime_nginx.blue: 1, "10.9.9.9:1": 1}}), timeout=5)
    assert bad.status_code == 400 and "not a server of demo" in bad.json()["error"]
    assert requests.put(admin, data="{not json", timeout=5).status_code == 400
    assert requests.get(admin, timeout=5).json() == before  # a rejected PUT changes nothing, not even partly


def test_runtime_flips_under_keepalive_load_lose_nothing(runtime_nginx: OwnNginx, runtime_workers: set[int]) -> None:
    """0 <-> 100 flips while 8 keep-alive clients send requests: every request answered, by both versions."""
    stop = threading.Event()
    counts: collections.Counter = collections.Counter()
    lock = threading.Lock()

    def client() -> None:
        local: collections.Counter = collections.Counter()
        with requests.Session() as session:
            while not stop.is_set():
                try:
                    response = session.get(runtime_nginx.url, timeout=5)
                    local[response.json()["version"] if response.status_code == 200 else response.status_code] += 1
                except requests.RequestException as exc:
                    local[type(exc).__name__] += 1
        with lock:
            counts.update(local)

    clients = [threading.Thread(target=client) for _client in range(8)]
    for thread in clients:
        thread.start()
    base = {**runtime_nginx.options(), "stable": runtime_nginx.blue, "canary": runtime_nginx.green}
    run = run_playbook([{"name": f"flip {i}", MODULE: {**base, "weight": 100 * (i % 2)}} for i in range(1, 9)])
    stop.set()
    for thread in clients:
        thread.join()
    assert all(not result.get("failed") and result["changed"] for result in run.results.values())
    assert set(counts) == {BLUE_VERSION, GREEN_VERSION}, counts  # no error of any kind
    assert runtime_nginx.workers() == runtime_workers


def test_runtime_weights_map(runtime_nginx: OwnNginx, runtime_workers: set[int]) -> None:
    blue, green = runtime_nginx.blue, runtime_nginx.green
    assert_ok(shift(runtime_nginx, 50))  # 1:1
    base = {**runtime_nginx.options(), "stable": blue, "canary": green}
    run = run_playbook([{"name": "exact", MODULE: {**base, "weights": {blue: 3, green: 3}}},
                        {"name": "too heavy", MODULE: {**base, "weights": {blue: 1001, green: 1}}}])
    assert run["exact"]["changed"] is True and run["exact"]["after"] == {blue: 3, green: 3}, run["exact"]
    admin = f"http://127.0.0.1:{runtime_nginx.admin_port}/upstreams/demo"
    assert requests.get(admin, timeout=5).json()["servers"] == {blue: 3, green: 3}
    assert run["too heavy"]["option"] == "weights" and "from 0 to 1000" in run["too heavy"]["msg"]
    assert runtime_nginx.workers() == runtime_workers
