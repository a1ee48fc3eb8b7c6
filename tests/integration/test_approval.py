# -*- coding: utf-8 -*-
# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Approval gates (issue 12, "Approvals") on both backends of the state store: a file store in ``tmp_path`` and a
scratch database of the lab's PostgreSQL (the fixtures of ``test_state_postgres.py``).

Racing approvals from separate processes; a waiting ``ansible-playbook`` released by approvals that
``playbooks/promote.yml -e delivery_approve=...`` gives from other processes; a timeout that fails and changes
nothing; and ``playbooks/release.yml`` stopping before an environment whose gate times out (no lock, no release
record), or going on to that environment's deployment once approved. No real deployment runs: the test
environment's strategy does not exist, so the deploy role stops at its argument check, before anything is locked.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from ansible_collections.progressive.delivery.plugins.module_utils._approval import ApprovalGate

from tests.integration import test_state_postgres as state_tests
from tests.integration.prom_helpers import ROOT, VENV_BIN, ansible_env, wait_for
from tests.integration.test_state_postgres import Backend

#: The two backends (a file store in tmp_path, a scratch PostgreSQL database), as test_state_postgres.py has them.
backend = state_tests.backend
pg_backend = state_tests.pg_backend

pytestmark = pytest.mark.lab

GATE = "appr-kr/demo 2026.12.1+3"
VERSION = "2026.12.1+3"
IMAGE = "127.0.0.1:1/demo@sha256:" + "ab" * 32
ALLOWED = ["alice", "bob", "carol"]


# --------------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------------
class Run:
    """An ansible-playbook in the background; its output is collected line by line while it runs."""

    def __init__(self, cmd: list[str]) -> None:
        env = ansible_env(ANSIBLE_STDOUT_CALLBACK="default", PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True)
        self.lines: list[str] = []
        self.started = time.monotonic()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_for_line(self, text: str, timeout: float = 60.0) -> None:
        wait_for(lambda: any(text in line for line in self.lines) or self.proc.poll() is not None,
                 timeout=timeout, interval=0.1, what=f"{text!r} in the output")
        assert any(text in line for line in self.lines), f"no {text!r} in:\n{self.output}"

    def finish(self, timeout: float = 180.0) -> int:
        try:
            code = self.proc.wait(timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
        self._reader.join(10)
        return code


def inventory(tmp_path: Path, backend: Backend, approval: dict[str, Any] | None, name: str = "appr-kr") -> Path:
    """An environment's inventory (controller = this machine) sharing ``backend``; its strategy does not exist."""
    directory = tmp_path / "inventories" / name
    (directory / "group_vars" / "all").mkdir(parents=True)
    hosts = {"all": {"children": {"delivery_controller": {"hosts": {"localhost": None}}},
                     "vars": {"ansible_connection": "local", "ansible_python_interpreter": str(VENV_BIN / "python")}}}
    (directory / "hosts.yml").write_text(yaml.safe_dump(hosts))
    variables: dict[str, Any] = {
        "delivery_env": "appr", "delivery_region": "kr", "delivery_environment_name": name, "delivery_app": "demo",
        "delivery_strategy": "no-such-strategy-in-this-test", "delivery_state_dir": backend.store_dir,
        "delivery_state_backend": backend.name}
    if backend.dsn:
        variables["delivery_state_dsn"] = backend.dsn
    if approval is not None:
        variables["delivery_approval"] = approval
    (directory / "group_vars" / "all" / "main.yml").write_text(yaml.safe_dump(variables))
    return directory


def promote_approve(env_inventory: Path, approver: str | None, gate: str = GATE, comment: str = "",
                    ) -> subprocess.CompletedProcess:
    extra: dict[str, Any] = {"delivery_approve": gate}
    if approver:
        extra["delivery_approver"] = approver
    if comment:
        extra["delivery_approval_comment"] = comment
    cmd = [str(VENV_BIN / "ansible-playbook"), "-i", str(env_inventory), "-e", json.dumps(extra),
           str(ROOT / "playbooks" / "promote.yml")]
    return subprocess.run(cmd, cwd=ROOT, env=ansible_env(ANSIBLE_STDOUT_CALLBACK="default"), capture_output=True,
                          text=True, timeout=180, check=False)


def waiting_play(tmp_path: Path, backend: Backend, timeout: str, quorum: int = 2) -> Run:
    args = {"name": GATE, "state": "waiting", "approvers": ALLOWED, "quorum": quorum, "timeout": timeout,
            "poll_interval": "0.5s", "progress_interval": "2s"}
    play = [{"hosts": "localhost", "gather_facts": False,
             "module_defaults": {"group/progressive.delivery.state": backend.options},
             "tasks": [{"name": "Wait for the gate", "progressive.delivery.approval": args, "register": "gate"},
                       {"name": "Waited", "ansible.builtin.debug": {
                           "msg": "WAITED {{ gate.waited }} BY {{ gate.after.approved_by | join(',') }}"}}]}]
    playbook = tmp_path / f"wait-{uuid.uuid4().hex[:6]}.yml"
    playbook.write_text(json.dumps(play))
    return Run([str(VENV_BIN / "ansible-playbook"), "-i", "localhost,", "-c", "local",
                "-e", f"ansible_python_interpreter={VENV_BIN / 'python'}", str(playbook)])


def release(tmp_path: Path) -> Run:
    extra = {"delivery_release_environments": ["appr-kr"], "delivery_inventories_dir": str(tmp_path / "inventories"),
             "delivery_image": IMAGE, "delivery_version": VERSION}
    return Run([str(VENV_BIN / "ansible-playbook"), "-i", str(ROOT / "inventories" / "release"),
                "-e", json.dumps(extra), str(ROOT / "playbooks" / "release.yml")])


def records(backend: Backend, kind: str) -> list[str]:
    store = backend.open(kind)
    if backend.name == "file":
        return store.names()
    return [row[0] for row in backend.query("SELECT name FROM delivery_state WHERE kind = %s", (kind,))] \
        if backend.query("SELECT to_regclass('delivery_state') IS NOT NULL")[0][0] else []


# --------------------------------------------------------------------------------------------------
# racing approvals
# --------------------------------------------------------------------------------------------------
APPROVER = r'''
import json, os, sys, time
from ansible_collections.progressive.delivery.plugins.module_utils._approval import ApprovalGate
from ansible_collections.progressive.delivery.plugins.module_utils._state_store import open_store
cfg = json.loads(os.environ["APPROVER"])
store = open_store("approval", cfg["backend"], cfg["store_dir"], cfg["dsn"])
store.read(cfg["gate"])
open(os.path.join(cfg["barrier"], "ready.%d" % os.getpid()), "w").close()
while not os.path.exists(os.path.join(cfg["barrier"], "go")):
    time.sleep(0.002)
outcome = ApprovalGate(store, cfg["gate"], cfg["allowed"], 2).approve(cfg["approver"], "race")
print(json.dumps({"changed": outcome.changed, "cwd": os.getcwd()}))
'''


def test_racing_approvals_from_separate_processes_count_each_approver_once(backend, tmp_path):
    script = tmp_path / "approver.py"
    script.write_text(APPROVER)
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    approvers = ["alice", "bob", "alice@laptop", "bob (CI job 4)", "alice", "bob@ci-runner"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / ".build"), str(ROOT)])}
    procs = []
    for i, approver in enumerate(approvers):
        cwd = tmp_path / f"cwd-{i}"
        cwd.mkdir()
        config = {"backend": backend.name, "store_dir": backend.store_dir, "dsn": backend.dsn, "gate": GATE,
                  "allowed": ALLOWED, "approver": approver, "barrier": str(barrier)}
        procs.append(subprocess.Popen([sys.executable, str(script)], cwd=cwd, text=True, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, env={**env, "APPROVER": json.dumps(config)}))
    try:
        wait_for(lambda: len(list(barrier.glob("ready.*"))) >= len(procs) or any(p.poll() for p in procs),
                 timeout=60, interval=0.02, what="the approvers at the barrier")
        (barrier / "go").touch()
        results = []
        for proc in procs:
            out, err = proc.communicate(timeout=60)
            assert proc.returncode == 0, err
            results.append(json.loads(out))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    assert len({result["cwd"] for result in results}) == len(procs)
    assert sum(result["changed"] for result in results) == 2, results  # one alice and one bob won
    record = backend.open("approval").read(GATE)
    assert sorted(entry["by"].split("@")[0].split(" ")[0] for entry in record["approvals"]) == ["alice", "bob"]
    assert [event["event"] for event in record["history"]] == ["approved", "approved"]
    view = ApprovalGate(backend.open("approval"), GATE, ALLOWED, 2).view()
    assert view["approved"] is True and sorted(view["approved_by"]) == ["alice", "bob"]
    if backend.name == "postgres":
        rows = backend.query("SELECT operation FROM delivery_state_history WHERE kind = 'approval' ORDER BY id")
        assert [row[0] for row in rows] == ["write", "write"]


# --------------------------------------------------------------------------------------------------
# waiting in ansible-playbook, approving from other processes
# --------------------------------------------------------------------------------------------------
def test_a_waiting_playbook_is_released_by_approvals_from_other_processes(backend, tmp_path):
    env_inventory = inventory(tmp_path, backend, {"approvers": ALLOWED, "quorum": 2, "timeout": "2m"})
    waiting = waiting_play(tmp_path, backend, timeout="90s")
    try:
        waiting.wait_for_line(f"waiting for approval gate '{GATE}': 0 of 2 approvals (quorum 2)")
        first = promote_approve(env_inventory, "alice", comment="CHG-4711")
        assert first.returncode == 0, first.stdout + first.stderr
        assert "alice approved approval gate" in first.stdout and "nothing was promoted" in first.stdout
        assert "image_promote" not in first.stdout and "Point the tag" not in first.stdout
        waiting.wait_for_line("1 of 2 approvals (quorum 2); approved by alice; may approve: bob, carol")
        assert waiting.proc.poll() is None, waiting.output  # one of two is not the quorum
        refused = promote_approve(env_inventory, "mallory")
        assert refused.returncode != 0
        assert "approver 'mallory' may not approve gate" in refused.stdout and "alice, bob, carol" in refused.stdout
        approved_at = time.monotonic()
        second = promote_approve(env_inventory, "bob")
        assert second.returncode == 0, second.stdout + second.stderr
        assert waiting.finish(120) == 0, waiting.output
    finally:
        if waiting.proc.poll() is None:
            waiting.proc.kill()
    assert time.monotonic() - approved_at < 30
    assert "WAITED" in waiting.output and "BY alice,bob" in waiting.output
    record = backend.open("approval").read(GATE)
    assert [(entry["by"], entry["comment"]) for entry in record["approvals"]] == [("alice", "CHG-4711"), ("bob", "")]


def test_a_wait_that_times_out_fails_clearly_and_changes_nothing(backend, tmp_path):
    env_inventory = inventory(tmp_path, backend, {"approvers": ALLOWED, "quorum": 2})
    assert promote_approve(env_inventory, "carol").returncode == 0
    before = backend.open("approval").read(GATE)
    waiting = waiting_play(tmp_path, backend, timeout="3s")
    assert waiting.finish(120) != 0
    assert f"approval gate '{GATE}' timed out after 3s: 1 of 2 approvals (quorum 2); approved by carol;" \
           " may approve: alice, bob" in waiting.output
    assert "WAITED" not in waiting.output
    assert backend.open("approval").read(GATE) == before
    assert records(backend, "lock") == [] and records(backend, "release") == []


# --------------------------------------------------------------------------------------------------
# release.yml
# --------------------------------------------------------------------------------------------------
def test_release_stops_before_an_environment_whose_approval_times_out(backend, tmp_path):
    inventory(tmp_path, backend, {"approvers": ["alice"], "quorum": 1, "timeout": "3s"})
    run = release(tmp_path)
    code = run.finish(180)
    assert code != 0, run.output
    assert "TASK [Wait for the approval of appr-kr]" in run.output
    assert f"approval gate '{GATE}' timed out after 3s: 0 of 1 approvals" in run.output
    assert f"waiting for approval gate '{GATE}'" in run.output
    assert "Release to appr-kr" not in run.output and "Strategy must be one" not in run.output
    assert records(backend, "lock") == [] and records(backend, "release") == []
    assert backend.open("approval").read(GATE) is None


def test_release_goes_on_to_the_environment_once_approved(backend, tmp_path):
    env_inventory = inventory(tmp_path, backend, {"approvers": ["alice", "bob"], "quorum": 1, "timeout": "2m"})
    run = release(tmp_path)
    try:
        run.wait_for_line(f"waiting for approval gate '{GATE}': 0 of 1 approvals", timeout=120)
        approved = promote_approve(env_inventory, None)  # the default approver: user@host, not on the list
        assert approved.returncode != 0 and "may not approve gate" in approved.stdout
        assert promote_approve(env_inventory, "bob").returncode == 0
        code = run.finish(180)
    finally:
        if run.proc.poll() is None:
            run.proc.kill()
    assert code != 0, run.output
    # past the gate, the deploy role ran and stopped at its argument check (this test's strategy does not exist)
    assert "TASK [Release to appr-kr]" in run.output
    assert "value of deploy_strategy must be one of: canary, blue_green, rolling" in run.output
    assert records(backend, "lock") == [] and records(backend, "release") == []


def test_an_approval_in_check_mode_records_nothing(backend, tmp_path):
    env_inventory = inventory(tmp_path, backend, {"approvers": ALLOWED})
    extra = {"delivery_approve": GATE, "delivery_approver": "alice"}
    cmd = [str(VENV_BIN / "ansible-playbook"), "--check", "-i", str(env_inventory), "-e", json.dumps(extra),
           str(ROOT / "playbooks" / "promote.yml")]
    proc = subprocess.run(cmd, cwd=ROOT, env=ansible_env(ANSIBLE_STDOUT_CALLBACK="default"), capture_output=True,
                          text=True, timeout=180, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "alice approved approval gate" in proc.stdout and "check mode: nothing written" in proc.stdout
    assert backend.open("approval").read(GATE) is None
