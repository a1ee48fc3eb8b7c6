# -*- coding: utf-8 -*-
# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""progressive.delivery.deploy_lock through real ``ansible`` and ``ansible-playbook`` processes.

The races start 20 ``ansible localhost -m progressive.delivery.deploy_lock`` processes. Each one's Python
interpreter is a small wrapper that holds the module at a barrier file until all of them are ready. The modules
then start within milliseconds of each other, not spread over the seconds that starting Ansible takes.
"""
from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest
from ansible_collections.progressive.delivery.plugins.module_utils._lock import new_record
from ansible_collections.progressive.delivery.plugins.module_utils._state_store import StateStore

from tests.integration.prom_helpers import ROOT, VENV_BIN, ansible_env, run_playbook, wait_for

MODULE = "progressive.delivery.deploy_lock"
RACERS = 20


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

    def ready(self) -> int:
        return len(list(self.dir.glob("ready.*")))

    def release(self, expected: int, timeout: float = 90.0) -> None:
        wait_for(lambda: self.ready() >= expected, timeout=timeout, interval=0.05,
                 what=f"{expected} modules at the barrier")
        self.go.touch()


def adhoc(args: str, interpreter: Path | str = VENV_BIN / "python") -> subprocess.Popen:
    cmd = [str(VENV_BIN / "ansible"), "localhost", "-i", "localhost,", "-c", "local", "-m", MODULE, "-a", args,
           "-e", f"ansible_python_interpreter={interpreter}"]
    if str(interpreter) != str(VENV_BIN / "python"):
        # a barrier interpreter holds module processes: the module must not run in the controller process
        cmd += ["-e", "delivery_in_process=false"]
    env = ansible_env(ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", ANSIBLE_LOAD_CALLBACK_PLUGINS="1")
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def outcome(proc: subprocess.Popen, timeout: float = 180.0) -> tuple[int, dict, str]:
    """(return code, the module result, stderr) of an ad-hoc run with the json callback."""
    stdout, stderr = proc.communicate(timeout=timeout)
    try:
        document = json.loads(stdout[stdout.index("{"):])
        result = document["plays"][0]["tasks"][0]["hosts"]["localhost"]
    except (ValueError, KeyError, IndexError) as exc:
        raise AssertionError(f"cannot parse the output of ansible ({exc}):\n{stdout}\n{stderr}") from exc
    return proc.returncode, result, stderr


def race(tmp_path: Path, name: str, store_dir: Path, racers: int = RACERS, **options: str) -> list[tuple]:
    barrier = Barrier(tmp_path / f"barrier-{name}")
    extra = " ".join(f"{key}={value}" for key, value in options.items())
    procs = [adhoc(f"name={name} owner=racer-{i} store_dir={store_dir} {extra}", barrier.interpreter)
             for i in range(racers)]
    try:
        barrier.release(racers)
        return [(f"racer-{i}", *outcome(proc)) for i, proc in enumerate(procs)]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()


def winners_of(results: list[tuple]) -> list[tuple]:
    return [entry for entry in results if entry[1] == 0]


# --------------------------------------------------------------------------------------------------
# races
# --------------------------------------------------------------------------------------------------
def test_exactly_one_of_20_racing_ansible_processes_wins_each_round(tmp_path):
    store_dir = tmp_path / "store"
    for round_ in range(2):
        results = race(tmp_path, f"prod-kr/race-{round_}", store_dir)
        winners = winners_of(results)
        assert len(winners) == 1, [(entry[0], entry[1], entry[2].get("msg")) for entry in results]
        owner, result = winners[0][0], winners[0][2]
        assert result["changed"] is True and result["after"]["owner"] == owner and result["before"] is None
        assert result["lock"] == result["after"]  # deprecated alias
        for loser, rc, answer, _stderr in results:
            if loser != owner:
                assert rc != 0 and answer["failed"] is True
                assert f"is held by '{owner}'" in answer["msg"], answer["msg"]
                assert answer["before"] == answer["after"] == result["after"] and "option" not in answer
        record = StateStore(str(store_dir), "lock").read(f"prod-kr/race-{round_}")
        assert record["owner"] == owner


def test_only_one_of_several_racing_takers_takes_over_a_stale_lock(tmp_path):
    store_dir = tmp_path / "store"
    store = StateStore(str(store_dir), "lock")
    store.write("prod-kr/stale", new_record("prod-kr/stale", "dead-job-17", 60.0, time.time() - 600, "old-host"))
    results = race(tmp_path, "prod-kr/stale", store_dir, racers=6)
    winners = winners_of(results)
    assert len(winners) == 1, [(entry[0], entry[1], entry[2].get("msg")) for entry in results]
    owner, result, stderr = winners[0][0], winners[0][2], winners[0][3]
    assert result["taken_over"] is True and result["before"]["owner"] == "dead-job-17"
    assert result["previous"] == result["before"]  # deprecated alias
    assert any("took over the lock of 'dead-job-17'" in warning for warning in result["warnings"]), stderr
    assert store.read("prod-kr/stale")["owner"] == owner
    assert all(f"is held by '{owner}'" in answer["msg"] for name, _rc, answer, _stderr in results if name != owner)


def test_a_waiting_run_gets_the_lock_when_the_holder_releases_it(tmp_path):
    store_dir = tmp_path / "store"
    held = outcome(adhoc(f"name=prod-kr/app owner=first store_dir={store_dir}"))
    assert held[0] == 0, held
    barrier = Barrier(tmp_path / "barrier-wait")
    waiter = adhoc(f"name=prod-kr/app owner=second wait=60 store_dir={store_dir}", barrier.interpreter)
    barrier.release(1)
    time.sleep(1.5)  # the waiter is polling the busy lock now
    released = outcome(adhoc(f"name=prod-kr/app owner=first state=released store_dir={store_dir}"))
    assert released[0] == 0 and released[1]["changed"] is True, released
    rc, result, _stderr = outcome(waiter)
    assert rc == 0, result
    assert result["after"]["owner"] == "second" and result["waited"] >= 1.5
    assert result["before"] is None  # it found the lock free, not taken over


# --------------------------------------------------------------------------------------------------
# one playbook: the contract step by step
# --------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def contract_run(tmp_path_factory):
    store_dir = str(tmp_path_factory.mktemp("lock-store"))

    def lock(task: str, **options) -> dict:
        return {"name": task, MODULE: {"name": "stg-jp/app", "store_dir": store_dir, **options}}

    run = run_playbook([
        {**lock("check_mode", owner="alice"), "check_mode": True, "diff": True},
        {**lock("acquire", owner="alice", ttl="1h"), "diff": True},
        lock("again", owner="alice", ttl="2h"),
        lock("busy", owner="bob"),
        lock("release_other", owner="bob", state="released"),
        lock("force_release", owner="bob", state="released", force=True),
        lock("release_none", owner="bob", state="released"),
        lock("short", owner="carol", ttl="1s"),
        {"name": "let it expire", "ansible.builtin.wait_for": {"timeout": 2}},
        lock("takeover", owner="dave"),
        lock("bad_ttl", owner="dave", ttl="soon"),
        {"name": "bad_name", MODULE: {"name": "a\tb", "store_dir": store_dir}},
        {**lock("release_diff", owner="dave", state="released"), "diff": True},
    ])
    return run, store_dir


def diff_of(result: dict) -> dict:
    diff = result["diff"]
    return diff[0] if isinstance(diff, list) else diff


def test_check_mode_writes_nothing_and_diff_shows_the_record(contract_run):
    run = contract_run[0]
    result = run["check_mode"]
    assert result["changed"] is True and result["after"]["owner"] == "alice" and result["before"] is None
    assert diff_of(result)["after"] == result["after"]
    assert run["acquire"]["before"] is None  # check mode did not write
    diff = diff_of(run["acquire"])
    assert diff["before"] == {} and diff["after"] == run["acquire"]["after"]
    assert diff["before_header"] == run["acquire"]["state_file"]


def test_diff_only_in_diff_mode(contract_run):
    run = contract_run[0]
    for task in ("again", "force_release", "release_none", "takeover"):
        assert "diff" not in run[task], task
    released = run["release_diff"]
    assert released["changed"] is True and released["after"] is None
    assert diff_of(released) == {"before": released["before"], "after": {},
                                 "before_header": released["state_file"], "after_header": released["state_file"]}


def test_acquire_returns_the_record(contract_run):
    result = contract_run[0]["acquire"]
    assert result["changed"] is True
    lock = result["after"]
    assert lock == result["lock"] and result["previous"] is None  # deprecated aliases
    assert lock["owner"] == "alice" and lock["ttl"] == 3600
    assert lock["acquired_at"].endswith("Z") and lock["expires_at"] > lock["acquired_at"]
    assert result["state_file"].endswith("/lock/stg-jp%2Fapp.json")


def test_reacquiring_by_the_owner_is_not_a_change_but_refreshes_the_ttl(contract_run):
    first, again = contract_run[0]["acquire"]["after"], contract_run[0]["again"]
    assert again["changed"] is False and again["refreshed"] is True and again["before"] == first
    assert again["after"]["id"] == first["id"] and again["after"]["acquired_at"] == first["acquired_at"]
    assert again["after"]["expires_at"] > first["expires_at"] and again["after"]["ttl"] == 7200


def test_a_busy_lock_fails_naming_its_owner(contract_run):
    result = contract_run[0]["busy"]
    assert result["failed"] is True
    assert "held by 'alice'" in result["msg"] and "expires at" in result["msg"]
    assert result["before"]["owner"] == result["after"]["owner"] == "alice" and result["changed"] is False
    assert "option" not in result  # a busy lock is no option's fault


def test_releasing_someone_elses_lock_fails_unless_forced(contract_run):
    run = contract_run[0]
    assert run["release_other"]["failed"] is True
    assert "held by 'alice', not by 'bob'" in run["release_other"]["msg"] and "force" in run["release_other"]["msg"]
    assert run["release_other"]["option"] == "owner" and run["release_other"]["after"]["owner"] == "alice"
    forced = run["force_release"]
    assert forced["changed"] is True and forced["after"] is None and forced["before"]["owner"] == "alice"
    assert forced["lock"] is None and forced["previous"] == forced["before"]  # deprecated aliases
    assert any("force-released the lock of 'alice'" in warning for warning in forced["warnings"])
    assert run["release_none"]["changed"] is False


def test_a_stale_lock_is_taken_over_with_a_warning_naming_the_old_owner(contract_run):
    result = contract_run[0]["takeover"]
    assert result["changed"] is True and result["taken_over"] is True
    assert result["after"]["owner"] == "dave" and result["before"]["owner"] == "carol"
    assert any("took over the lock of 'carol'" in warning and "stale since" in warning
               for warning in result["warnings"])


def test_bad_options_fail_naming_the_option(contract_run):
    result = contract_run[0]["bad_ttl"]
    assert result["failed"] is True and result["msg"].startswith("option ttl: not a duration: 'soon'")
    assert result["option"] == "ttl"
    bad_name = contract_run[0]["bad_name"]
    assert bad_name["failed"] is True and bad_name["option"] == "name" and "control characters" in bad_name["msg"]


def test_a_truncated_lock_file_is_a_clear_error_and_force_release_removes_it(tmp_path):
    store = StateStore(str(tmp_path), "lock")
    store.write("prod-kr/app", new_record("prod-kr/app", "alice", 60.0, time.time(), "h"))
    path = Path(store.path("prod-kr/app"))
    path.write_text(path.read_text()[:50])
    task = {MODULE: {"name": "prod-kr/app", "owner": "bob", "store_dir": str(tmp_path)}}
    run = run_playbook([{"name": "acquire", **task},
                        {"name": "force", MODULE: {**task[MODULE], "state": "released", "force": True}},
                        {"name": "after", **task}])
    assert run["acquire"]["failed"] is True
    assert f"state file {path} is corrupt" in run["acquire"]["msg"] and "truncated" in run["acquire"]["msg"]
    assert run["force"]["changed"] is True
    assert any("removed the corrupt lock file" in warning for warning in run["force"]["warnings"])
    assert "option" not in run["acquire"] and run["acquire"]["state_file"] == str(path)
    assert run["after"]["changed"] is True and run["after"]["after"]["owner"] == "bob"
