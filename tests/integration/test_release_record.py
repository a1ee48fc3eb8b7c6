# -*- coding: utf-8 -*-
# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""progressive.delivery.release_record through real ``ansible-playbook`` and ``ansible`` processes, on a
temporary state store (no lab server needed).

The race starts several ``ansible localhost -m progressive.delivery.release_record`` processes whose Python
interpreter is a wrapper that holds the module at a barrier file until all of them are ready, so the modules start
within milliseconds of each other.
"""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from ansible_collections.progressive.delivery.plugins.module_utils._state_store import StateStore

from tests.integration.prom_helpers import ROOT, VENV_BIN, ansible_env, run_playbook, wait_for

MODULE = "progressive.delivery.release_record"
RACERS = 5


def digest(char: str) -> str:
    return "sha256:" + char * 64


def release(rid: str, char: str, version: str, **extra) -> dict:
    return {"id": rid, "version": version, "digest": digest(char), "image": f"127.0.0.1:5000/demo@{digest(char)}",
            "git_sha": f"{char * 7}", "strategy": "canary", **extra}


def stored(store_dir: str | Path) -> dict | None:
    return StateStore(str(store_dir), "release").read("lab-kr/demo")


def diff_of(result: dict) -> dict:
    diff = result["diff"]
    return diff[0] if isinstance(diff, list) else diff


# --------------------------------------------------------------------------------------------------
# one playbook: a promoted release, then a rolled-back one
# --------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def releases(tmp_path_factory):
    store_dir = str(tmp_path_factory.mktemp("release-store"))

    def record(task: str, **options) -> dict:
        return {"name": task, MODULE: {"environment": "lab-kr", "app": "demo", "store_dir": store_dir,
                                       "owner": "ci-runner", **options}}

    r1 = release("r1", "b", "2026.11.3+92", plan={"steps": [5, 50]})
    r2 = release("r2", "c", "2026.11.4+97")
    run = run_playbook([
        record("query_empty"),
        record("adopt", state="pools", stable_pool="blue",
               pools={"blue": {"version": "2026.11.2+80", "digest": digest("a"),
                               "image": f"127.0.0.1:5000/demo@{digest('a')}", "release_id": "r0"}}),
        {**record("start_check", state="started", release=r1), "check_mode": True, "diff": True},
        {**record("start", state="started", release=r1), "diff": True},
        record("start_again", state="started", release=r1),
        record("step1", state="step", release_id="r1",
               step={"index": 1, "of": 2, "weight": 5, "verdict": "pass",
                     "analysis": {"verdict": "pass", "values": {"error_rate": 0.002}}}),
        record("step2", state="step", release_id="r1", step={"index": 2, "of": 2, "weight": 50, "verdict": "pass"}),
        record("step2_again", state="step", release_id="r1",
               step={"index": 2, "of": 2, "weight": 50, "verdict": "pass"}),
        {**record("promote", state="finished", release_id="r1", outcome="promoted", reason="2/2 steps passed"),
         "diff": True},
        record("promote_again", state="finished", release_id="r1", outcome="promoted"),
        record("start_r2", state="started", release=r2),
        record("start_r3_busy", state="started", release=release("r3", "d", "2026.11.5+99")),
        record("step_wrong_id", state="step", release_id="r1", step={"index": 1}),
        {**record("rollback_check", state="finished", release_id="r2", outcome="rolled_back"), "check_mode": True},
        record("rollback", state="finished", release_id="r2", outcome="rolled_back", reason="error rate 4% > 1%"),
        record("step_after_rollback", state="step", release_id="r2", step={"index": 2, "of": 2, "weight": 50}),
        record("promote_after_rollback", state="finished", release_id="r2", outcome="promoted"),
        record("bad_release", state="started", release={**release("r4", "e", "v"), "image": "demo:latest"}),
        record("missing_step", state="step", release_id="r2"),
        record("query"),
    ])
    return run, store_dir


def test_an_empty_store_queries_as_no_record(releases):
    result = releases[0]["query_empty"]
    assert result["changed"] is False and result["before"] is None and result["after"] is None
    assert result["stable_pool"] is None and result["current"] is None and result["last"] is None
    assert result["state_file"].endswith("/release/lab-kr%2Fdemo.json")


def test_a_release_starts_on_the_pool_that_is_not_stable(releases):
    run = releases[0]
    assert run["adopt"]["changed"] is True and run["adopt"]["stable_pool"] == "blue"
    started = run["start"]
    assert started["changed"] is True and started["candidate_pool"] == "green" and started["stable_pool"] == "blue"
    assert started["release"]["id"] == "r1" and started["release"]["started_by"] == "ci-runner"
    assert started["release"]["plan"] == {"steps": [5, 50]} and started["release"]["baseline"]["release_id"] == "r0"
    assert started["pools"]["green"]["digest"] == digest("b") and started["pools"]["green"]["role"] == "candidate"
    assert started["record"] == started["after"]
    again = run["start_again"]
    assert again["changed"] is False and again["after"] == started["after"]  # a rerun continues the release


def test_check_mode_changes_nothing_and_diff_only_in_diff_mode(releases):
    run = releases[0]
    dry = run["start_check"]
    assert dry["changed"] is True and dry["after"]["current"]["id"] == "r1"
    assert diff_of(dry)["after"] == dry["after"] and diff_of(dry)["before"] == dry["before"]
    assert run["start"]["before"] == dry["before"]  # the check-mode run wrote nothing
    assert run["start"]["before"]["current"] is None
    diff = diff_of(run["start"])
    assert diff["before"] == run["start"]["before"] and diff["after"] == run["start"]["after"]
    assert diff["before_header"] == run["start"]["state_file"]
    assert run["rollback_check"]["changed"] is True and run["rollback"]["before"] == run["rollback_check"]["before"]
    for task in ("adopt", "start_again", "step1", "step2", "promote_again", "start_r2", "rollback", "query"):
        assert "diff" not in run[task], task
    assert "diff" in run["promote"]


def test_two_steps_then_promoted_flips_the_stable_pool(releases):
    run = releases[0]
    assert run["step1"]["changed"] is True and run["step2"]["changed"] is True
    assert run["step2_again"]["changed"] is False
    steps = run["step2"]["release"]["steps"]
    assert [(s["index"], s["weight"], s["verdict"]) for s in steps] == [(1, 5.0, "pass"), (2, 50.0, "pass")]
    assert steps[0]["analysis"]["values"]["error_rate"] == 0.002
    promoted = run["promote"]
    assert promoted["changed"] is True and promoted["stable_pool"] == "green" and promoted["current"] is None
    assert promoted["pools"]["green"]["role"] == "stable" and promoted["pools"]["green"]["version"] == "2026.11.3+92"
    assert promoted["pools"]["blue"]["role"] == "previous" and promoted["pools"]["blue"]["digest"] == digest("a")
    assert promoted["last"]["outcome"] == "promoted" and promoted["last"]["reason"] == "2/2 steps passed"
    assert promoted["last"]["ended_by"] == "ci-runner" and len(promoted["last"]["steps"]) == 2
    assert promoted["release"] == promoted["last"]
    assert run["promote_again"]["changed"] is False


def test_a_second_release_rolled_back_leaves_the_stable_pool(releases):
    run = releases[0]
    assert run["start_r2"]["candidate_pool"] == "blue"  # the pool that is not stable now
    busy = run["start_r3_busy"]
    assert busy["failed"] is True and busy["option"] == "release" and "release 'r2'" in busy["msg"]
    assert busy["before"] == busy["after"] == run["start_r2"]["after"]
    wrong = run["step_wrong_id"]
    assert wrong["failed"] is True and wrong["option"] == "release_id"
    assert "already finished: promoted" in wrong["msg"]
    rolled = run["rollback"]
    assert rolled["changed"] is True and rolled["stable_pool"] == "green" and rolled["current"] is None
    assert rolled["pools"]["green"] == run["promote"]["pools"]["green"]  # stable unchanged
    assert rolled["pools"]["blue"]["role"] == "idle" and rolled["pools"]["blue"]["outcome"] == "rolled_back"
    assert rolled["last"]["id"] == "r2" and rolled["last"]["reason"] == "error rate 4% > 1%"
    late = run["step_after_rollback"]
    assert late["failed"] is True and late["option"] == "release_id" and "rolled_back" in late["msg"]
    other = run["promote_after_rollback"]
    assert other["failed"] is True and other["option"] == "outcome"


def test_bad_options_name_the_option(releases):
    run = releases[0]
    assert run["bad_release"]["failed"] is True and run["bad_release"]["option"] == "release"
    assert "pinned by the release's digest" in run["bad_release"]["msg"]
    missing = run["missing_step"]
    assert missing["failed"] is True and missing["option"] == "step" and "step" in missing["msg"]


def test_the_history_is_the_story_and_the_store_agrees(releases):
    run, store_dir = releases
    query = run["query"]
    assert [(entry["id"], entry["outcome"]) for entry in query["after"]["history"]] == [
        ("r1", "promoted"), ("r2", "rolled_back")]
    assert query["after"]["history"][0] == run["promote"]["last"]  # never rewritten
    assert query["after"] == stored(store_dir) and query["release"] is None


# --------------------------------------------------------------------------------------------------
# an override of a blackout window or freeze is recorded with the release
# --------------------------------------------------------------------------------------------------
def test_an_override_is_recorded_and_one_without_a_reason_is_refused(tmp_path):
    store_dir = str(tmp_path / "store")

    def record(task: str, **options) -> dict:
        return {"name": task, MODULE: {"environment": "lab-kr", "app": "demo", "store_dir": store_dir,
                                       "owner": "ci-runner", **options}}

    window = {"kind": "freeze", "name": "year-end", "end_utc": "2027-01-01T15:00:00Z"}
    run = run_playbook([
        record("empty_reason", state="started",
               release=release("o1", "b", "2026.11.3+92", override={"reason": " ", "windows": [window]})),
        record("no_reason", state="started", release=release("o1", "b", "2026.11.3+92", override={"by": "eve"})),
        record("start", state="started",
               release=release("o1", "b", "2026.11.3+92", override={"reason": "hotfix INC-7", "windows": [window]})),
        record("finish", state="finished", release_id="o1", outcome="promoted"),
        record("plain", state="started", release=release("o2", "c", "2026.11.4+93")),
    ])
    for task in ("empty_reason", "no_reason"):
        failed = run[task]
        assert failed["failed"] is True and "reason" in failed["msg"], failed
    assert run["empty_reason"]["option"] == "release" and run["empty_reason"]["after"] is None
    assert run["no_reason"]["option"]  # Ansible's own check of the required suboption names it
    started = run["start"]
    assert started["changed"] is True
    assert started["release"]["override"] == {"reason": "hotfix INC-7", "windows": [window], "by": "ci-runner"}
    assert run["plain"]["release"]["override"] is None
    history = stored(store_dir)["history"]
    assert [entry["id"] for entry in history] == ["o1"] and history[0]["override"]["reason"] == "hotfix INC-7"


# --------------------------------------------------------------------------------------------------
# a race between processes
# --------------------------------------------------------------------------------------------------
class Barrier:
    """An interpreter wrapper that reports ready and waits for the go file before it runs the module."""

    def __init__(self, workdir: Path) -> None:
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.go = self.dir / "go"
        self.interpreter = self.dir / "python"
        self.interpreter.write_text(
            "#!/bin/sh\n"
            f"touch '{self.dir}/ready.'$$\n"
            f"while [ ! -e '{self.go}' ]; do sleep 0.005; done\n"
            f"exec '{VENV_BIN / 'python'}' \"$@\"\n")
        self.interpreter.chmod(0o755)

    def release(self, expected: int, timeout: float = 120.0) -> None:
        wait_for(lambda: len(list(self.dir.glob("ready.*"))) >= expected, timeout=timeout, interval=0.05,
                 what=f"{expected} modules at the barrier")
        self.go.touch()


def adhoc(args: dict, interpreter: Path) -> subprocess.Popen:
    cmd = [str(VENV_BIN / "ansible"), "localhost", "-i", "localhost,", "-c", "local", "-m", MODULE,
           "-a", json.dumps(args), "-e", f"ansible_python_interpreter={interpreter}",
           # the barrier interpreter holds module processes: the module must not run in the controller process
           "-e", "delivery_in_process=false"]
    env = ansible_env(ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", ANSIBLE_LOAD_CALLBACK_PLUGINS="1")
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def outcome(proc: subprocess.Popen, timeout: float = 180.0) -> tuple[int, dict]:
    stdout, stderr = proc.communicate(timeout=timeout)
    try:
        document = json.loads(stdout[stdout.index("{"):])
        return proc.returncode, document["plays"][0]["tasks"][0]["hosts"]["localhost"]
    except (ValueError, KeyError, IndexError) as exc:
        raise AssertionError(f"cannot parse the output of ansible ({exc}):\n{stdout}\n{stderr}") from exc


def test_of_racing_starts_from_separate_processes_exactly_one_wins(tmp_path):
    store_dir = tmp_path / "store"
    barrier = Barrier(tmp_path / "barrier")
    procs = [adhoc({"environment": "lab-kr", "app": "demo", "store_dir": str(store_dir), "state": "started",
                    "owner": f"racer-{i}", "release": release(f"race-{i}", "f", "2026.11.6+100")},
                   barrier.interpreter) for i in range(RACERS)]
    try:
        barrier.release(RACERS)
        results = [outcome(proc) for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    winners = [result for rc, result in results if rc == 0]
    assert len(winners) == 1, [(rc, result.get("msg")) for rc, result in results]
    winner = winners[0]
    assert winner["changed"] is True and winner["before"] is None
    record = stored(store_dir)
    assert record["current"]["id"] == winner["release"]["id"] and record["history"] == []
    for rc, result in results:
        if result is not winner:
            assert rc != 0 and result["failed"] is True and result["option"] == "release"
            assert f"release {winner['release']['id']!r}" in result["msg"] and "takeover=true" in result["msg"]
            assert result["after"]["current"]["id"] == winner["release"]["id"]
