# -*- coding: utf-8 -*-
# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The analysis action against the lab's real Prometheus (1 s scrape) and demo-app containers.

Each scenario runs a real ``ansible-playbook`` with the default stdout callback, reads its stdout line by line
while it runs (so the progress lines are timestamped as they arrive) and saves the registered result to a file:

* ``healthy``: 20 user requests/s, no errors -> pass after the duration, progress lines spread over the run;
* ``regression``: 20 requests/s, 30 % answered 500 -> fail within a couple of polls, explained;
* ``idle``: no traffic -> inconclusive after the (extended) duration, never pass;
* ``sick``: its /healthz answers 503 -> fail naming the URL;
* ``crashing``: a healthy app whose process dies during the analysis and is restarted by Docker -> fail naming
  the container;
* ``hold``: a passing step holds, observed, for an approval gate in a file state store: opened by an approval
  given from this process while it holds, timed out, or ended by a crash of the app while it holds;
* ``release``: the release record read at every poll: a rollback that finishes the release while it observes ends
  the analysis at the next poll (with and without pipelining); a release that is not current ends it at once.
"""
from __future__ import annotations

import itertools
import json
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from ansible_collections.progressive.delivery.plugins.module_utils._approval import ApprovalGate
from ansible_collections.progressive.delivery.plugins.module_utils._release import ReleaseRecord
from ansible_collections.progressive.delivery.plugins.module_utils._state_store import open_store

from tests.integration.prom_helpers import VENV_BIN, DemoApps, Traffic, ansible_env, prom_query, wait_for
from tests.lab import lab as labmod

pytestmark = pytest.mark.lab

ROOT = Path(__file__).resolve().parents[2]
APPS = {
    "healthy": {"version": "2026.11.2+1"},
    "regression": {"version": "2026.11.2+2", "error_rate": 0.3},
    "idle": {"version": "2026.11.2+3"},
    "sick": {"version": "2026.11.2+4", "healthy": False},
    "crashing": {"version": "2026.11.2+5"},
}


@dataclass
class Run:
    returncode: int
    lines: list[tuple[float, str]]
    result: dict[str, Any]
    started: float
    ended: float

    @property
    def progress(self) -> list[tuple[float, str]]:
        return [(at, line) for at, line in self.lines if line.startswith("analysis")]


def run_live(args: dict[str, Any], tmp_path: Path, on_line: Callable[[str], None] | None = None,
             timeout: float = 120.0) -> Run:
    """Run the analysis task with a real ansible-playbook (default callback), timestamping each stdout line."""
    saved = tmp_path / f"result-{time.monotonic_ns()}.json"
    play = [{"hosts": "localhost", "gather_facts": False, "tasks": [
        {"name": "Analyse", "progressive.delivery.analysis": args, "register": "analysis", "ignore_errors": True},
        {"name": "Save", "ansible.builtin.copy": {"content": "{{ analysis | to_json }}", "dest": str(saved)}},
    ]}]
    playbook = tmp_path / f"play-{time.monotonic_ns()}.yml"
    playbook.write_text(json.dumps(play))
    cmd = [str(VENV_BIN / "ansible-playbook"), "-i", "localhost,", "-c", "local",
           "-e", f"ansible_python_interpreter={VENV_BIN / 'python'}", str(playbook)]
    started = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=ansible_env(ANSIBLE_STDOUT_CALLBACK="default"), text=True, bufsize=1,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    killer = threading.Timer(timeout, proc.kill)
    killer.start()
    lines: list[tuple[float, str]] = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append((time.monotonic(), line.rstrip("\n")))
            if on_line:
                on_line(line)
        proc.wait()
    finally:
        killer.cancel()
    ended = time.monotonic()
    text = "\n".join(line for _at, line in lines)
    assert saved.exists(), f"the playbook did not save the result:\n{text}"
    return Run(proc.returncode, lines, json.loads(saved.read_text()), started, ended)


class Scenario:
    def __init__(self, lab, apps: DemoApps) -> None:
        self.url = lab.url("prometheus")
        self.apps = apps

    def app(self, key: str):
        return self.apps.apps[key]

    def slis(self, key: str) -> list[dict[str, Any]]:
        pool = self.app(key).pool
        return [{"name": "error_ratio", "critical": True, "min_events": 20, "max": 0.01,
                 "bad_query": f'sum(increase(http_requests_total{{pool="{pool}",code=~"5.."}}[10s]))',
                 "total_query": f'sum(increase(http_requests_total{{pool="{pool}"}}[10s]))'}]

    def args(self, key: str, **extra: Any) -> dict[str, Any]:
        return {"prometheus_url": self.url, "slis": self.slis(key), "interval": "1s", "fail_on_verdict": False,
                "label": f"{key} step 1/1", **extra}


@pytest.fixture(scope="module")
def scenario(lab) -> Iterator[Scenario]:
    apps = DemoApps(lab.dir, prefix="analysis")
    traffic = Traffic()
    try:
        started = apps.start(APPS)
        apps.wait_scraped(lab.url("prometheus"))
        for key in ("healthy", "regression", "sick", "crashing"):
            traffic.add(started[key].url, rate=20)
        traffic.start()
        for key in ("healthy", "regression"):
            query = f'sum(increase(http_requests_total{{pool="{started[key].pool}"}}[10s]))'
            wait_for(lambda q=query: (found := prom_query(lab.url("prometheus"), q)) and float(found[0]["value"][1])
                     >= 60, timeout=60, what=f"Prometheus to count 60 requests of {key} in 10 s")
        yield Scenario(lab, apps)
    finally:
        traffic.stop()
        apps.stop()


def test_a_healthy_step_passes_after_its_duration_with_live_progress(scenario, tmp_path):
    run = run_live(scenario.args("healthy", duration="12s", progress_interval="3s",
                                 health_urls=[scenario.app("healthy").url + "healthz"]), tmp_path)
    result = run.result
    assert result["verdict"] == "pass", result["msg"]
    assert not result.get("failed") and result["changed"] is False
    assert result["elapsed"] >= 12 and result["polls"] >= 8 and result["extended"] is False
    assert result["failing"] == [] and result["measurements"][-1]["verdict"] == "pass"
    assert result["last"]["results"][0]["value"] == 0.0
    progress = run.progress
    assert len(progress) >= 4, run.lines
    assert progress[0][1].startswith("analysis [healthy step 1/1] 0s/12s (12s left): error_ratio 0.000 <= 0.01 pass"
                                     ", health ok -> pass"), progress[0]
    # printed while the task ran, not all at its end: the first line arrives 9 s+ before the last one
    times = [at for at, _line in progress]
    assert times[-1] - times[0] >= 9, progress
    assert all(later - earlier <= 10.5 for earlier, later in itertools.pairwise(times)), progress
    task_line = next(at for at, line in run.lines if line.startswith("TASK [Analyse]"))
    assert times[0] - task_line < 5


def test_a_regression_fails_within_a_couple_of_polls_and_is_explained(scenario, tmp_path):
    pool = scenario.app("regression").pool
    run = run_live(scenario.args("regression", duration="30s"), tmp_path)
    result = run.result
    assert result["verdict"] == "fail", result["msg"]
    assert result["elapsed"] <= 4 and result["polls"] <= 3, "caught while the step runs, not at its end"
    assert run.ended - run.started < 25
    (entry,) = result["failing"]
    assert entry["kind"] == "indicator" and entry["name"] == "error_ratio"
    assert f'http_requests_total{{pool="{pool}",code=~"5.."}}' in entry["query"]
    assert entry["queries"]["total_query"] == f'sum(increase(http_requests_total{{pool="{pool}"}}[10s]))'
    assert entry["bound"] == "max 0.01, min_events 20" and 0.15 < entry["value"] < 0.45
    assert entry["events"]["total_query"] >= 20 and "> max 0.01" in entry["reason"]
    assert "Failing: error_ratio: value 0." in result["msg"] and "bound: max 0.01" in result["msg"]
    assert any("error_ratio 0." in line and "> 0.01 fail -> fail" in line for _at, line in run.progress)


def test_no_traffic_is_inconclusive_never_pass_and_extends_the_step(scenario, tmp_path):
    run = run_live(scenario.args("idle", duration="4s", max_duration="7s", fail_on_verdict=True), tmp_path)
    result = run.result
    assert result["verdict"] == "inconclusive" and result["failed"] is True, "inconclusive fails the task by default"
    assert result["extended"] is True and 7 <= result["elapsed"] < 9
    assert all(m["verdict"] == "inconclusive" and m["no_data"] for m in result["measurements"])
    assert "not enough evidence" in result["msg"] and "never a pass" in result["msg"]
    assert "total_query returned nothing" in result["msg"]
    assert any("extended: waiting for evidence" in line for _at, line in run.progress), run.progress
    assert "fatal: [localhost]" in "\n".join(line for _at, line in run.lines)


def test_a_health_url_answering_503_fails_naming_the_url(scenario, tmp_path):
    url = scenario.app("sick").url + "healthz"
    run = run_live(scenario.args("sick", duration="20s", health_urls=[url]), tmp_path)
    result = run.result
    assert result["verdict"] == "fail" and result["polls"] == 1
    assert {"kind": "health_url", "name": url, "value": 503, "bound": "HTTP 200",
            "reason": f"{url} answered HTTP 503, not 200"}.items() <= result["failing"][0].items()
    assert f"{url}: {url} answered HTTP 503" in result["msg"]
    assert f"{url} 503 fail -> fail" in run.progress[-2][1]
    assert run.progress[-1][1] == result["msg"]


def crash_on(app, prefix: str) -> tuple[threading.Event, Callable[[str], None]]:
    """An ``on_line`` that crashes ``app`` once, at the first output line starting with ``prefix``: its process
    exits (as a crash would) and Docker's restart policy starts it again."""
    subprocess.run(["docker", "update", "--restart", "always", app.cid], check=True, capture_output=True)
    crashed = threading.Event()

    def crash(line: str) -> None:
        if line.startswith(prefix) and not crashed.is_set():
            crashed.set()
            subprocess.run(["docker", "exec", app.cid, "/usr/bin/python3", "-c",
                            "import os, signal; os.kill(1, signal.SIGTERM)"], check=False, capture_output=True)

    return crashed, crash


def test_a_container_that_crashes_during_the_analysis_fails_naming_it(scenario, tmp_path):
    app = scenario.app("crashing")
    name = labmod.container_name(app.pool)
    crashed, crash = crash_on(app, "analysis")
    run = run_live(scenario.args("crashing", duration="20s", containers=[name], progress_interval=0), tmp_path,
                   on_line=crash)
    result = run.result
    assert crashed.is_set()
    assert result["verdict"] == "fail", result["msg"]
    assert result["elapsed"] < 15
    entry = next(entry for entry in result["failing"] if entry["kind"] == "container")
    assert entry["name"] == name and "restarted" in entry["reason"], entry
    assert name in result["msg"]
    first = result["measurements"][0]["checks"][name]
    assert first["status"] == "running"


def test_bad_options_fail_naming_the_option(scenario, tmp_path):
    run = run_live({"prometheus_url": scenario.url, "slis": scenario.slis("healthy"), "duration": "soon"}, tmp_path)
    assert run.result["failed"] is True and run.result["option"] == "duration"
    assert "not a duration" in run.result["msg"]
    bad_query = [{"name": "broken", "query": "sum(", "max": 1}]
    run = run_live({"prometheus_url": scenario.url, "slis": bad_query, "duration": "5s", "interval": "1s"}, tmp_path)
    assert run.result["failed"] is True and run.result["option"] == "slis"
    assert run.result["msg"].startswith("slo_check failed at poll 1: ")


def hold_args(scenario, key: str, store: Path, **hold: Any) -> dict[str, Any]:
    return scenario.args(key, duration="3s", progress_interval="2s", store_dir=str(store),
                         containers=[labmod.container_name(scenario.app(key).pool)],
                         hold={"gate": f"lab/analysis {key} at 50%", "poll_interval": "2s", **hold})


def test_a_passing_step_holds_observed_until_its_approval_gate_opens(scenario, tmp_path):
    store = tmp_path / "state"
    gate = "lab/analysis healthy at 50%"
    approved = threading.Event()

    def approve_while_it_holds(line: str) -> None:
        if "holding" in line and line.startswith("analysis") and not approved.is_set():
            approved.set()
            outcome = ApprovalGate(open_store("approval", "file", str(store), None), gate, ["alice", "bob"], 1) \
                .approve("alice@laptop", "looks good at 25 %")
            assert outcome.decision == "approved"

    run = run_live(hold_args(scenario, "healthy", store, approvers=["alice", "bob"], timeout="60s"), tmp_path,
                   on_line=approve_while_it_holds)
    result = run.result
    assert approved.is_set(), run.lines
    assert result["verdict"] == "pass" and not result.get("failed"), result["msg"]
    hold = result["hold"]
    assert hold["gate"] == gate and hold["decision"] == "open" and hold["approved_by"] == ["alice"]
    assert hold["polls"] >= 1 and hold["slices"] >= 1 and hold["waited"] >= 1
    text = "\n".join(line for _at, line in run.lines)
    assert f"waiting for approval gate {gate!r}: 0 of 1 approvals" in text and "may approve: alice, bob" in text
    assert "analysis [healthy step 1/1, holding]" in text and f"approval gate {gate!r} is approved by alice" in text


def test_a_hold_without_approval_times_out_and_fails(scenario, tmp_path):
    args = hold_args(scenario, "healthy", tmp_path / "state", timeout="5s", quorum=1)
    args["fail_on_verdict"] = True  # (the canary role sets false and branches on hold.decision)
    run = run_live(args, tmp_path)
    result = run.result
    assert result["hold"]["decision"] == "timed_out" and result["hold"]["approved_by"] == []
    assert result["verdict"] == "pass"  # what was observed passed; the step was not approved
    assert result["failed"] is True
    assert "approval gate 'lab/analysis healthy at 50%' timed out after 5s" in result["msg"], result["msg"]
    assert result["hold"]["polls"] >= 2, "observed while it waited"


def test_a_crash_while_holding_ends_the_hold_with_the_failure(scenario, tmp_path):
    crashed, crash_while_it_holds = crash_on(scenario.app("crashing"), "waiting for approval gate")
    args = hold_args(scenario, "crashing", tmp_path / "state", timeout="60s")
    args["fail_on_verdict"] = True
    run = run_live(args, tmp_path, on_line=crash_while_it_holds)
    result = run.result
    assert crashed.is_set()
    assert result["failed"] is True and result["verdict"] == "fail", result["msg"]
    assert result["hold"]["decision"] == "failed" and result["hold"]["waited"] < 30
    assert result["msg"].startswith("while holding for approval gate 'lab/analysis crashing at 50%'"), result["msg"]
    assert "restarted" in result["msg"]


def test_a_bad_hold_fails_naming_the_option(scenario, tmp_path):
    args = hold_args(scenario, "healthy", tmp_path / "state", timeout="later")
    run = run_live(args, tmp_path)
    assert run.result["failed"] is True and run.result["option"] == "hold"
    assert "hold.timeout" in run.result["msg"]


def started_release(store: Path, release_id: str) -> ReleaseRecord:
    """A release record (file store) of lab/analysis whose current release is ``release_id``."""
    record = ReleaseRecord(open_store("release", "file", str(store), None), "lab", "analysis", "e2e@test")
    digest = "sha256:" + "a" * 64
    record.start({"id": release_id, "version": "2026.11.2+1", "digest": digest,
                  "image": f"127.0.0.1/demo@{digest}", "strategy": "canary"})
    return record


@pytest.mark.parametrize("pipelining", ["True", "False"])
def test_a_rollback_of_the_release_stops_the_analysis_at_its_next_poll(scenario, tmp_path, monkeypatch, pipelining):
    """Every poll reads the release record (option release): a rollback that finishes the release while the step
    observes ends the analysis at the next poll, verdict taken_over, rather than at the end of the step. With
    pipelining a poll's module calls run in threads, without it one after the other: both see it."""
    monkeypatch.setenv("ANSIBLE_PIPELINING", pipelining)
    store = tmp_path / "state"
    record = started_release(store, "r1")
    rolled_back = threading.Event()

    def roll_back(line: str) -> None:
        if line.startswith("analysis") and not rolled_back.is_set():
            rolled_back.set()
            record.finish("r1", "rolled_back", "operator: e2e")

    app = scenario.app("healthy")
    args = scenario.args("healthy", duration="30s", progress_interval="1s", store_dir=str(store),
                         containers=[labmod.container_name(app.pool)], health_urls=[app.url + "healthz"],
                         release={"environment": "lab", "app": "analysis", "id": "r1"})
    run = run_live(args, tmp_path, on_line=roll_back)
    result = run.result
    assert rolled_back.is_set(), run.lines
    assert result["verdict"] == "taken_over" and not result.get("failed"), result["msg"]
    assert result["taken_over"]["current"] is None
    assert result["taken_over"]["last"]["id"] == "r1" and result["taken_over"]["last"]["outcome"] == "rolled_back"
    assert result["taken_over"]["finished"] is True
    assert "already finished: rolled_back (operator: e2e)" in result["msg"], result["msg"]
    assert result["polls"] <= 3, result  # the next poll or the one after (interval 1 s), not after 30 s
    assert run.ended - run.started < 20


def test_an_analysis_of_a_release_that_is_not_current_fails_at_its_first_poll(scenario, tmp_path):
    store = tmp_path / "state"
    started_release(store, "r2")
    args = scenario.args("healthy", duration="10s", store_dir=str(store), fail_on_verdict=True,
                         release={"environment": "lab", "app": "analysis", "id": "r1"})
    result = run_live(args, tmp_path).result
    assert result["failed"] is True and result["verdict"] == "taken_over", result
    assert result["taken_over"]["current"]["id"] == "r2" and result["polls"] == 0
    assert result["taken_over"]["finished"] is False and "the current release is r2" in result["msg"]
    assert "the current release is r2" in result["msg"], result["msg"]


def test_a_bad_release_option_fails_naming_it(scenario, tmp_path):
    result = run_live(scenario.args("healthy", duration="2s", release={"environment": "lab", "app": "analysis"}),
                      tmp_path).result
    assert result["failed"] is True and result["option"] == "release", result
    assert "id" in result["msg"]
