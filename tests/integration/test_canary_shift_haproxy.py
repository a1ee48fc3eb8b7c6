# -*- coding: utf-8 -*-
# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""progressive.delivery.canary_shift with router=haproxy against a real HAProxy 2.6, through ansible-playbook.

The lab's own HAProxy stays at 128/128 (other tests rely on it): this module starts its own master-worker HAProxy
(runtime socket, master socket, server-state-file) in front of the lab's blue and green demo apps, and stops it by
PID at the end. Backend ``app`` balances round robin; backend ``static`` (static-rr) refuses weights other than
0%/100%, which makes HAProxy itself fail a shift half way (the rollback test).
"""
from __future__ import annotations

import math
import shutil
import socket
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.integration.prom_helpers import free_port, run_playbook
from tests.lab import lab as labmod
from tests.lab.routers import OwnHAProxy

pytestmark = pytest.mark.lab

REQUESTS = 2000
CLIENTS = 4
VERSIONS = {labmod.BLUE_VERSION: "blue", labmod.GREEN_VERSION: "green"}


@pytest.fixture(scope="module")
def haproxy(lab) -> Iterator[OwnHAProxy]:
    own = OwnHAProxy(Path(lab.dir) / f"tests-haproxy-{uuid.uuid4().hex[:8]}", free_port())
    try:
        own.start(lab.ports["app_blue"], lab.ports["app_green"])
        yield own
    finally:
        own.stop()
    shutil.rmtree(own.dir, ignore_errors=True)  # kept (with haproxy.log) when the fixture itself failed


def shift_task(haproxy: OwnHAProxy, weight: Any, name: str = "shift", **extra: Any) -> dict[str, Any]:
    options = {"router": "haproxy", "haproxy_socket": haproxy.socket, "backend": "app",
               "haproxy_state_file": haproxy.state_file, "stable": "blue", "canary": "green", "weight": weight}
    options.update(extra)
    task_options = {key: value for key, value in options.items() if value is not None}
    return {"name": name, "progressive.delivery.canary_shift": task_options}


def shift(haproxy: OwnHAProxy, weight: Any, **extra: Any) -> dict[str, Any]:
    run = run_playbook([shift_task(haproxy, weight, **extra)], args=("--diff",))
    return run["shift"]


def count_versions(port: int, total: int = REQUESTS) -> Counter:
    """Send ``total`` keep-alive requests from CLIENTS sessions; count the pools by the body's version."""
    def client(n: int) -> Counter:
        counts: Counter = Counter()
        with requests.Session() as session:
            for _request in range(n):
                resp = session.get(f"http://127.0.0.1:{port}/", timeout=5)
                counts[VERSIONS.get(resp.json().get("version"), f"HTTP {resp.status_code}")] += 1
        return counts

    with ThreadPoolExecutor(CLIENTS) as pool:
        return sum(pool.map(client, [total // CLIENTS] * CLIENTS), Counter())


# ------------------------------------------------------------------------------------------------ traffic split
@pytest.mark.parametrize("weight", [0, 5, 25, 50, 100])
def test_split_follows_weight(haproxy, weight):
    result = shift(haproxy, weight)
    assert not result.get("failed"), result
    servers = result["servers"]
    assert servers == haproxy.weights()
    assert result["weight"] == weight and result["router"] == "haproxy"
    assert result["target"] == {"backend": "app", "socket": haproxy.socket, "state_file": haproxy.state_file}
    p = servers["green"] / (servers["blue"] + servers["green"])
    assert abs(100 * p - weight) <= 0.5, servers

    counts = count_versions(haproxy.port)
    assert sum(counts.values()) == REQUESTS and set(counts) <= {"blue", "green"}, counts
    observed = counts["green"] / REQUESTS
    if weight in (0, 100):
        assert observed == weight / 100, counts
    else:
        tolerance = 4 * math.sqrt(p * (1 - p) / REQUESTS) + 0.005
        assert abs(observed - p) <= tolerance, (counts, p, tolerance)


# ------------------------------------------------------------------------------------- idempotency, check, diff
def test_idempotent_with_diff(haproxy):
    assert not shift(haproxy, 25).get("failed")
    run = run_playbook([shift_task(haproxy, 50, "first"), shift_task(haproxy, 50, "second")], args=("--diff",))
    first, second = run["first"], run["second"]
    assert first["changed"] is True
    assert first["diff"] == {"before": {"blue": 3, "green": 1}, "after": {"blue": 1, "green": 1}}
    assert first["before"] == {"blue": 3, "green": 1} and first["after"] == {"blue": 1, "green": 1}
    assert second["before"] == second["after"] == {"blue": 1, "green": 1}
    assert first["previous_weight"] == 25 and first["effective_weight"] == 50
    assert second["changed"] is False and second["diff"]["before"] == second["diff"]["after"]
    assert second["servers"] == {"blue": 1, "green": 1} == haproxy.weights()


def test_no_diff_without_diff_mode(haproxy):
    assert not shift(haproxy, 25).get("failed")
    result = run_playbook([shift_task(haproxy, 50)])["shift"]
    assert result["changed"] is True and "diff" not in result, result
    assert result["before"] == {"blue": 3, "green": 1} and result["after"] == {"blue": 1, "green": 1}


def test_check_mode_changes_nothing(haproxy):
    assert not shift(haproxy, 5).get("failed")
    before = haproxy.weights()
    state_before = Path(haproxy.state_file).read_text()
    run = run_playbook([{**shift_task(haproxy, 100), "check_mode": True}], args=("--diff",))
    result = run["shift"]
    assert result["changed"] is True
    assert result["diff"] == {"before": {"blue": 19, "green": 1}, "after": {"blue": 0, "green": 1}}
    assert result["servers"] == result["before"] == before
    assert result["after"] == {"blue": 0, "green": 1}
    assert haproxy.weights() == before == {"blue": 19, "green": 1}
    assert Path(haproxy.state_file).read_text() == state_before


# ------------------------------------------------------------------------------------------------ bad input
def test_bad_input_fails_and_changes_nothing(haproxy, tmp_path):
    assert not shift(haproxy, 25).get("failed")
    before = {backend: haproxy.weights(backend) for backend in ("app", "static")}
    missing = str(tmp_path / "no-such.sock")
    run = run_playbook([
        shift_task(haproxy, 50, "typo", canary="gren"),
        shift_task(haproxy, 50, "typo in list", stable=["blue", "bleu"]),
        shift_task(haproxy, 50, "unknown backend", backend="ap"),
        shift_task(haproxy, 50, "missing socket", haproxy_socket=missing),
        shift_task(haproxy, 50, "no backend option", backend=None),
        shift_task(haproxy, 101, "weight 101"),
        shift_task(haproxy, 50, "shared member", canary=["green", "blue"]),
    ])
    expected = {
        "typo": "option canary: no server 'gren' in backend 'app'; servers in it: blue, green",
        "typo in list": "option stable: no server 'bleu' in backend 'app'; servers in it: blue, green",
        "unknown backend": f"option backend: no backend 'ap' in HAProxy at {haproxy.socket}; backends: app, static",
        "missing socket": f"option haproxy_socket: {missing} does not exist",
        "no backend option": "router is haproxy but all of the following are missing: backend",
        "weight 101": "option weight: must be between 0 and 100, got 101",
        "shared member": "pools must not share members",
    }
    options = {"typo": "canary", "typo in list": "stable", "unknown backend": "backend", "no backend option": "backend",
               "missing socket": "haproxy_socket", "weight 101": "weight", "shared member": "canary"}
    for task, message in expected.items():
        result = run[task]
        assert result["failed"] is True and message in result["msg"], (task, result["msg"])
        assert result.get("changed") is False or "changed" not in result
        if task in options:
            assert result["option"] == options[task], (task, result)
        if task != "no backend option":  # that one fails in Ansible's own validation, before a router exists
            assert result["router"] == "haproxy", (task, result)
    assert {backend: haproxy.weights(backend) for backend in ("app", "static")} == before


def test_refused_half_way_restores_previous_weights(haproxy):
    """static-rr accepts blue 128 -> 0 (first update) but refuses green 128 -> 1: blue must be put back."""
    assert haproxy.weights("static") == {"blue": 128, "green": 128}
    result = shift(haproxy, 100, backend="static")
    assert result["failed"] is True
    assert "option backend: HAProxy refused 'set weight static/green 1': Backend is using a static LB" in result["msg"]
    assert "restored the previous weights (blue=128)" in result["msg"]
    assert haproxy.weights("static") == {"blue": 128, "green": 128}


# ------------------------------------------------------------------------------------------------ persistence
def test_weights_survive_reload(haproxy):
    result = shift(haproxy, 5)
    assert not result.get("failed"), result
    assert haproxy.weights() == {"blue": 19, "green": 1}
    haproxy.reload()
    assert haproxy.weights() == {"blue": 19, "green": 1}
    assert count_versions(haproxy.port, 400)["green"] < 40

    # control: a change that is not persisted (raw socket) is gone after the reload, so the reload is real
    assert haproxy.send("set weight app/blue 77").strip() == ""
    haproxy.reload()
    assert haproxy.weights() == {"blue": 19, "green": 1}


def test_without_state_file_change_is_runtime_only(haproxy):
    result = shift(haproxy, 50, haproxy_state_file=None)
    assert not result.get("failed") and result["target"]["state_file"] is None, result
    assert haproxy.weights() == {"blue": 1, "green": 1}
    haproxy.reload()
    assert haproxy.weights() == {"blue": 19, "green": 1}  # the state file still holds the last persisted shift


# ------------------------------------------------------------------------------------------------ explicit weights
def saved_weights(state_file: str, backend: str) -> dict[str, int]:
    """srv_uweight per server of ``backend`` in a server-state file (read here, not with the adapter's parser)."""
    lines = Path(state_file).read_text().splitlines()
    columns = lines[1][2:].split()
    rows = [dict(zip(columns, line.split(), strict=False)) for line in lines[2:] if line.strip()]
    return {row["srv_name"]: int(row["srv_uweight"]) for row in rows if row["be_name"] == backend}


def test_weights_map_sets_exact_weights_and_is_idempotent(haproxy):
    assert not shift(haproxy, 50).get("failed")  # 1:1, the same split as 128:128
    run = run_playbook([shift_task(haproxy, None, "restore", weights={"blue": 128, "green": 128}),
                        shift_task(haproxy, None, "again", weights={"blue": 128, "green": 128})])
    restore, again = run["restore"], run["again"]
    assert restore["changed"] is True, restore
    assert restore["before"] == {"blue": 1, "green": 1} and restore["after"] == {"blue": 128, "green": 128}
    assert restore["weight"] is None and restore["effective_weight"] == 50 and "diff" not in restore
    assert again["changed"] is False and again["resynced"] is False, again
    assert haproxy.weights() == {"blue": 128, "green": 128}
    assert saved_weights(haproxy.state_file, "app") == {"blue": 128, "green": 128}


def test_weights_map_bad_input(haproxy):
    before = haproxy.weights()
    run = run_playbook([
        shift_task(haproxy, None, "missing member", weights={"blue": 128}),
        shift_task(haproxy, None, "unknown member", weights={"blue": 1, "green": 1, "red": 1}),
        shift_task(haproxy, None, "too heavy", weights={"blue": 257, "green": 1}),
        shift_task(haproxy, None, "all zero", weights={"blue": 0, "green": 0}),
        shift_task(haproxy, 50, "both", weights={"blue": 1, "green": 1}),
        shift_task(haproxy, None, "neither"),
    ])
    expected = {
        "missing member": ("weights", "missing green"),
        "unknown member": ("weights", "not in stable or canary: red"),
        "too heavy": ("weights", "haproxy weights are integers from 0 to 256, got {'blue': 257}"),
        "all zero": ("weights", "every member would have weight 0"),
        "both": ("weight", "parameters are mutually exclusive: weight|weights"),
        "neither": ("weight", "one of the following is required: weight, weights"),
    }
    for task, (option, message) in expected.items():
        result = run[task]
        assert result["failed"] is True and message in result["msg"], (task, result["msg"])
        assert result.get("option") == option, (task, result)
    assert haproxy.weights() == before


def lab_send(lab, command: str) -> str:
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(5)
        sock.connect(lab.haproxy_socket)
        sock.sendall(command.encode() + b"\n")
        sock.shutdown(socket.SHUT_WR)
        return b"".join(iter(lambda: sock.recv(65536), b"")).decode()


def lab_weights(lab) -> dict[str, int]:
    return {server: int(lab_send(lab, f"get weight demo/{server}").split()[0]) for server in ("blue", "green")}


def test_restore_lab_haproxy_starting_weights(lab):
    """The lab's own HAProxy: 128/128 restored with a weight map, in the runtime API and the server-state file."""
    state_file = f"{lab.dir}/haproxy/server-state"
    task = {"router": "haproxy", "haproxy_socket": lab.haproxy_socket, "backend": "demo",
            "haproxy_state_file": state_file, "stable": "blue", "canary": "green"}
    restore_weights = {"blue": 128, "green": 128}
    restore = {"name": "restore", "progressive.delivery.canary_shift": {**task, "weights": restore_weights}}
    try:
        # what a raw runtime API call did before: runtime changed, state file not
        assert lab_send(lab, "set weight demo/green 64").strip() == ""
        run = run_playbook([restore, {**restore, "name": "again"}], args=("--diff",))
        assert run["restore"]["changed"] is True and run["restore"]["before"] == {"blue": 128, "green": 64}
        assert run["restore"]["diff"]["after"] == {"blue": 128, "green": 128}
        assert run["again"]["changed"] is False, run["again"]
        assert lab_weights(lab) == {"blue": 128, "green": 128}
        assert saved_weights(state_file, "demo") == {"blue": 128, "green": 128}

        # runtime right, state file stale (a persisted 128/64, then a raw reset): the task rewrites the file only
        stale = {**restore, "name": "stale", "progressive.delivery.canary_shift": {
            **task, "weights": {"blue": 128, "green": 64}}}
        assert not run_playbook([stale])["stale"].get("failed")
        assert saved_weights(state_file, "demo") == {"blue": 128, "green": 64}
        assert lab_send(lab, "set weight demo/green 128").strip() == ""
        resync = run_playbook([restore])["restore"]
        assert resync["changed"] is True and resync["resynced"] is True, resync
        assert resync["before"] == resync["after"] == {"blue": 128, "green": 128}
        assert saved_weights(state_file, "demo") == {"blue": 128, "green": 128}
        assert lab_weights(lab) == {"blue": 128, "green": 128}
    finally:
        for server in ("blue", "green"):
            lab_send(lab, f"set weight demo/{server} 128")
        run_playbook([restore])
