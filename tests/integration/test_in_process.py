# -*- coding: utf-8 -*-
# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The modules that run in the controller process (``plugins/plugin_utils/_in_process.py``) against the same
modules as module processes: the same tasks, run both ways by real ``ansible-playbook`` processes, give the same
results and leave the same state (records in separate stores; the weights of a real HAProxy and a real nginx,
reloaded through ``run_command``; the verdicts of a real Prometheus); and the right path is taken.
"""
from __future__ import annotations

import json
import re
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.prom_helpers import free_port, run_playbook
from tests.lab.routers import OwnHAProxy, OwnNginx

DIGEST = "sha256:" + "a" * 64
RELEASE = {"id": "r1", "version": "2026.12.1+1", "digest": DIGEST, "image": f"127.0.0.1:5000/demo@{DIGEST}",
           "strategy": "canary"}


def tasks(store: Path) -> list[dict[str, Any]]:
    record = {"environment": "lab-kr", "app": "demo", "store_dir": str(store), "owner": "alice"}
    lock = {"name": "lab-kr/demo", "store_dir": str(store), "ttl": "1m"}
    guard = {"name": "lab-kr/demo", "store_dir": str(store)}
    rr, dl, qg = ("progressive.delivery." + name for name in ("release_record", "deploy_lock", "qos_guard"))
    return [
        {"name": "query an empty store", rr: record},
        {"name": "start in check mode with diff", rr: {**record, "state": "started", "release": RELEASE},
         "check_mode": True, "diff": True},
        {"name": "start", rr: {**record, "state": "started", "release": RELEASE}},
        {"name": "start again (a rerun)", rr: {**record, "state": "started", "release": RELEASE}},
        {"name": "step", rr: {**record, "state": "step", "release_id": "r1",
                              "step": {"index": 1, "of": 1, "weight": 100, "verdict": "pass"}}},
        {"name": "a step of another release", rr: {**record, "state": "step", "release_id": "r9",
                                                   "step": {"index": 1, "of": 1, "weight": 100}}},
        {"name": "a bad state", rr: {**record, "state": "done"}},
        {"name": "an unknown option", rr: {**record, "colour": "blue"}},
        {"name": "finished without an outcome", rr: {**record, "state": "finished", "release_id": "r1"}},
        {"name": "a bad type in a sub-option", rr: {**record, "state": "step", "release_id": "r1",
                                                    "step": {"index": "first"}}},
        {"name": "promoted", rr: {**record, "state": "finished", "release_id": "r1", "outcome": "promoted"}},
        {"name": "lock", dl: {**lock, "owner": "alice"}, "diff": True},
        {"name": "a busy lock", dl: {**lock, "owner": "bob"}},
        {"name": "a bad ttl", dl: {**lock, "owner": "alice", "ttl": "soon"}},
        {"name": "unlock", dl: {**lock, "owner": "alice", "state": "released"}},
        {"name": "guard locked", qg: {**guard, "state": "locked", "duration": "5m", "reason": "test",
                                      "owner": "alice"}},
        {"name": "enforce", qg: {**guard, "state": "enforce"}},
        {"name": "unlock without a reason", qg: {**guard, "state": "unlocked", "reason": " "}},
        {"name": "guard unlocked", qg: {**guard, "state": "unlocked", "reason": "done", "owner": "alice"}},
    ]


#: Values that differ between any two runs (times, random ids, the store's path); the keys that do are left out
#: (how long a lock waited, the time a guard has left, a stored file's checksum).
_VOLATILE = re.compile(r"\d{4}-\d\d-\d\dT[\d:.]+Z|\b[0-9a-f]{32}\b|/store-(in|out)/")


def normalised(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: normalised(item) for key, item in value.items()
                if key not in ("waited", "exception", "_ansible_no_log", "invocation", "remaining",
                               "remaining_seconds", "sha256")}
    if isinstance(value, list):
        return [normalised(item) for item in value]
    if isinstance(value, str):
        return _VOLATILE.sub("*", value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


@pytest.fixture(scope="module")
def both_ways(tmp_path_factory):
    base = tmp_path_factory.mktemp("in-process")
    runs = {}
    for way, switch in (("in", True), ("out", False)):
        store = base / f"store-{way}"
        play = [{"hosts": "localhost", "gather_facts": False, "vars": {"delivery_in_process": switch},
                 "tasks": [{"ignore_errors": True, **task} for task in tasks(store)]}]
        runs[way] = (run_playbook([], play=play), store)
    return runs


def test_both_ways_give_the_same_results(both_ways):
    inside, outside = both_ways["in"][0], both_ways["out"][0]
    assert list(inside.results) == list(outside.results)
    for name in inside.results:
        assert normalised(inside[name]) == normalised(outside[name]), name


def test_the_results_are_the_modules_contract(both_ways):
    run = both_ways["in"][0]
    assert run["query an empty store"]["changed"] is False and run["query an empty store"]["record"] is None
    check = run["start in check mode with diff"]
    assert check["changed"] is True and check["diff"]["after"]["current"]["id"] == "r1"
    assert run["start"]["changed"] is True and "diff" not in run["start"]
    assert run["start again (a rerun)"]["changed"] is False
    assert run["a step of another release"]["failed"] is True
    assert run["a step of another release"]["option"] == "release_id"
    assert run["a bad state"]["option"] == "state" and "query, started, step, finished, pools" in \
        run["a bad state"]["msg"]
    assert run["an unknown option"]["option"] == "colour"
    assert run["an unknown option"]["msg"].startswith(
        "Unsupported parameters for (progressive.delivery.release_record) module: colour")
    assert run["finished without an outcome"]["option"] == "outcome"
    assert run["a bad type in a sub-option"]["failed"] is True and "index" in run["a bad type in a sub-option"]["msg"]
    assert run["promoted"]["stable_pool"] == run["start"]["candidate_pool"]
    assert run["a busy lock"]["failed"] is True and "alice" in run["a busy lock"]["msg"]
    assert run["a bad ttl"]["option"] == "ttl"
    assert run["enforce"]["failed"] is True and "locked by 'alice'" in run["enforce"]["msg"]
    assert run["unlock without a reason"]["option"] == "reason"
    assert run["guard unlocked"]["changed"] is True


def test_both_ways_leave_the_same_records(both_ways):
    inside, outside = both_ways["in"][1], both_ways["out"][1]
    files = sorted(path.relative_to(inside) for path in inside.rglob("*.json"))
    assert files == sorted(path.relative_to(outside) for path in outside.rglob("*.json"))
    assert files, "nothing was written"
    for name in files:
        assert normalised(json.loads((inside / name).read_text())) == \
            normalised(json.loads((outside / name).read_text())), name
    record = json.loads((inside / "release" / "lab-kr%2Fdemo.json").read_text())
    assert record["data"]["history"][-1]["outcome"] == "promoted"


QUERY = {"progressive.delivery.release_record": {"environment": "lab-kr", "app": "demo", "store_dir": "STORE"}}


@pytest.mark.parametrize("play_vars, task_extra, module_process", [
    ({}, {}, False),  # the test's interpreter is this virtualenv's Python
    ({"delivery_in_process": False}, {}, True),
    ({"delivery_in_process": "{{ 1 > 2 }}"}, {}, True),
    ({}, {"environment": {"PGAPPNAME": "x"}}, True),
    ({}, {"async": 30, "poll": 1}, True),
    ({"ansible_python_interpreter": "/usr/bin/python3"}, {}, True),  # another Python keeps its libraries
    ({}, {"delegate_to": "other", "vars": {"ansible_connection": "local"}}, False),
])
def test_which_path_is_taken(tmp_path, play_vars, task_extra, module_process):
    """With -vvv, a module process shows as an EXEC of the host's Python; the controller process shows nothing."""
    task = {"name": "query", **json.loads(json.dumps(QUERY).replace("STORE", str(tmp_path))), **task_extra}
    play = [{"hosts": "localhost", "gather_facts": False, "vars": play_vars, "tasks": [task]}]
    extra_vars = {key: play_vars.pop(key) for key in list(play_vars) if key == "ansible_python_interpreter"}
    args = ("-vvv", *(arg for key, value in extra_vars.items() for arg in ("-e", f"{key}={value}")))
    run = run_playbook([], play=play, args=args, json_output=False)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert ("EXEC /bin/sh -c" in run.stdout) is module_process, run.stdout[-3000:]


def test_the_delegated_hosts_switch_decides(tmp_path):
    task = {"name": "query", **json.loads(json.dumps(QUERY).replace("STORE", str(tmp_path))), "delegate_to": "other"}
    play = [{"hosts": "localhost", "gather_facts": False, "tasks": [task]}]
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(json.dumps({"all": {"hosts": {
        "localhost": {"ansible_connection": "local"},
        "other": {"ansible_connection": "local", "delivery_in_process": False}}}}))
    run = run_playbook([], play=play, args=("-vvv", "-i", str(inventory)), json_output=False)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert "EXEC /bin/sh -c" in run.stdout, run.stdout[-3000:]


def test_a_bad_switch_is_named(tmp_path):
    task = {"name": "query", "progressive.delivery.release_record": {
        "environment": "lab-kr", "app": "demo", "store_dir": str(tmp_path)}}
    run = run_playbook([task], play=[{"hosts": "localhost", "gather_facts": False,
                                      "vars": {"delivery_in_process": "maybe"},
                                      "tasks": [{"ignore_errors": True, **task}]}])
    assert run["query"]["failed"] is True and "delivery_in_process must be a boolean" in run["query"]["msg"]


# --------------------------------------------------------------------------------------------------
# canary_shift on real routers, slo_check on the lab's Prometheus
# --------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def routers(lab) -> Iterator[tuple[OwnHAProxy, OwnNginx]]:
    root = Path(lab.dir) / f"tests-in-process-{uuid.uuid4().hex[:8]}"
    haproxy = OwnHAProxy(root / "haproxy", free_port())
    nginx = OwnNginx(root / "nginx", "reload", f"127.0.0.1:{lab.ports['app_blue']}",
                     f"127.0.0.1:{lab.ports['app_green']}")
    try:
        haproxy.start(lab.ports["app_blue"], lab.ports["app_green"])
        nginx.start()
        yield haproxy, nginx
    finally:
        nginx.stop()
        haproxy.stop()
    shutil.rmtree(root, ignore_errors=True)


def router_tasks(haproxy: OwnHAProxy, nginx: OwnNginx, prometheus: str) -> list[dict[str, Any]]:
    cs = "progressive.delivery.canary_shift"
    ha = {"router": "haproxy", "haproxy_socket": haproxy.socket, "backend": "app", "stable": "blue",
          "canary": "green"}
    ng = {**nginx.options(), "stable": nginx.blue, "canary": nginx.green}
    slo = {"prometheus_url": prometheus, "fail_on_verdict": False, "slis": [
        {"name": "up", "query": "max(up)", "min": 1},
        {"name": "nothing", "query": "sum(no_such_metric_in_the_lab)", "max": 1}]}
    return [
        # each run starts from the same weights (these two are not compared: the first run found the lab's)
        {"name": "start: haproxy 128/128", cs: {**ha, "weights": {"blue": 128, "green": 128}}},
        {"name": "start: nginx 1/1", cs: {**ng, "weights": {nginx.blue: 1, nginx.green: 1}}},
        {"name": "haproxy 25 in check mode", cs: {**ha, "weight": 25}, "check_mode": True, "diff": True},
        {"name": "haproxy 25", cs: {**ha, "weight": 25}},
        {"name": "haproxy 25 again", cs: {**ha, "weight": 25}},
        {"name": "haproxy 101", cs: {**ha, "weight": 101}},
        {"name": "haproxy, an unknown server", cs: {**ha, "canary": "purple", "weight": 5}},
        {"name": "haproxy back to 0", cs: {**ha, "weight": 0}},
        {"name": "nginx 25", cs: {**ng, "weight": 25}, "diff": True},
        {"name": "nginx 25 again", cs: {**ng, "weight": 25}},
        {"name": "nginx 25 by the old option name", cs: {
            **{key: value for key, value in ng.items() if key != "nginx_upstream_file"},
            "upstream_file": ng["nginx_upstream_file"], "weight": 25}},
        {"name": "nginx, a configuration nginx -t refuses",
         cs: {**ng, "weight": 5, "nginx_args": nginx.args(nginx.dir / "broken.conf")}},
        {"name": "nginx back to 0", cs: {**ng, "weight": 0}},
        {"name": "nginx, a binary that is not there", cs: {**ng, "nginx_binary": "/nonexistent/nginx", "weight": 5}},
        {"name": "slo_check", "progressive.delivery.slo_check": slo},
        {"name": "slo_check, a bad indicator", "progressive.delivery.slo_check": {
            **slo, "slis": [{"name": "x", "query": "up", "judge": "guess"}]}},
    ]


@pytest.fixture(scope="module")
def routers_both_ways(lab, routers):
    haproxy, nginx = routers
    runs = {}
    for way, switch in (("in", True), ("out", False)):
        play = [{"hosts": "localhost", "gather_facts": False, "vars": {"delivery_in_process": switch},
                 "tasks": [{"ignore_errors": True, **task}
                           for task in router_tasks(haproxy, nginx, lab.url("prometheus"))]}]
        runs[way] = run_playbook([], play=play)
    return runs


def router_normalised(result: dict[str, Any]) -> Any:
    """A result without what differs between two runs: times, durations, Prometheus' sample times and values of
    the moment, the nginx configuration backup's name."""
    drop = {"elapsed", "duration", "at", "time", "timestamp", "evaluated_at", "value", "values", "backup_file",
            "backup", "workers_before", "workers_after", "master_pid", "reload"}

    def walk(value: Any) -> Any:
        if isinstance(value, dict):
            return {key: walk(item) for key, item in value.items() if key not in drop}
        if isinstance(value, list):
            return [walk(item) for item in value]
        if isinstance(value, str):
            return re.sub(r"\d+(\.\d+)?", "N", value)
        return value

    return walk(normalised(result))


def test_routers_and_slo_check_both_ways_give_the_same_results(routers_both_ways):
    inside, outside = routers_both_ways["in"], routers_both_ways["out"]
    assert list(inside.results) == list(outside.results)
    for name in inside.results:
        if not name.startswith("start: "):
            assert router_normalised(inside[name]) == router_normalised(outside[name]), name


def test_routers_and_slo_check_in_the_controller_process_keep_the_contract(routers_both_ways, routers):
    run = routers_both_ways["in"]
    assert run["haproxy 25 in check mode"]["changed"] is True and "diff" in run["haproxy 25 in check mode"]
    assert run["haproxy 25"]["changed"] is True and run["haproxy 25 again"]["changed"] is False
    assert run["haproxy 101"]["option"] == "weight"
    assert run["haproxy, an unknown server"]["failed"] is True
    assert run["nginx 25"]["changed"] is True and run["nginx 25 again"]["changed"] is False
    old_name = run["nginx 25 by the old option name"]
    assert any("upstream_file" in item["msg"] for item in old_name["deprecations"]), old_name
    refused = run["nginx, a configuration nginx -t refuses"]
    assert refused["failed"] is True and "nginx -t failed" in refused["msg"] and "was restored" in refused["msg"]
    assert run["nginx, a binary that is not there"]["failed"] is True
    assert "/nonexistent/nginx not found" in run["nginx, a binary that is not there"]["msg"]
    assert run["slo_check"]["verdict"] == "inconclusive"
    assert {result["name"]: result["verdict"] for result in run["slo_check"]["results"]}["up"] == "pass"
    assert run["slo_check, a bad indicator"]["option"] == "slis"
    # both runs ended at 0: the routers' real state
    haproxy, nginx = routers
    assert haproxy.weights()["green"] == 0 and haproxy.weights()["blue"] > 0
    assert f"server {nginx.green} down;" in nginx.upstream_file.read_text()
