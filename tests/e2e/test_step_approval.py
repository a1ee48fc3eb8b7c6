# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Issue 12, "Approvals ... before a step": a canary started from the CLI whose step to 50 % needs an approval holds
at 25 %, observed, until an approver approves from another entry point (the AWX job template `delivery approve`,
run as AWX runs it, by ansible-runner); an approval by someone not on the step's list does not count; without the
approval in time the release goes back to the stable pool and leaves the QoS guard open (no QoS incident)."""
from __future__ import annotations

import json
import time

import pytest

from tests.e2e.conftest import Background, haproxy_weights, playbook, record
from tests.e2e.test_awx_runner import awx_vars, run_job

pytestmark = pytest.mark.lab

V2 = "2026.12.1+2"
GATE = f"lab-kr/demo {V2} at 50%"


def steps(approval: dict) -> str:
    return json.dumps({"delivery_canary_steps": [
        {"weight": 5, "observe": "8s"}, {"weight": 25, "observe": "4s"},
        {"weight": 50, "observe": "4s", "approval": approval}, {"weight": 100, "observe": "4s"}]})


def share(weights: dict[str, int], pool: str) -> float:
    return weights[pool] / sum(weights.values())


def test_a_canary_holds_observed_at_25_percent_until_its_next_step_is_approved(env, tmp_path):
    run = Background("deploy.yml", "-e", f"delivery_image={env['image']}", "-e", f"delivery_version={V2}",
                     "-e", steps({"approvers": ["alice", "bob"], "timeout": "5m"}), state_dir=env["state"])
    try:
        run.wait_for(f"waiting for approval gate {GATE!r}: 0 of 1 approvals", timeout=240)
        assert "approvals: before 50%" in run.output  # the plan said so
        assert share(haproxy_weights(env["lab"]), "green") == 0.25
        deadline = time.monotonic() + 30
        while sum("analysis [step 2/4 25%, holding]" in line for line in run.lines) < 3:  # observed while it holds
            assert time.monotonic() < deadline and run.proc.poll() is None, run.output[-3000:]
            time.sleep(0.5)
        assert share(haproxy_weights(env["lab"]), "green") == 0.25  # still holding at 25 %
        refused = playbook("promote.yml", "-e", json.dumps({"delivery_approve": GATE, "delivery_approver": "mallory"}),
                           state_dir=env["state"])
        assert refused.rc == 0, refused.output[-3000:]  # recorded (the inventory names no approvers) ...
        time.sleep(3)
        assert run.proc.poll() is None and share(haproxy_weights(env["lab"]), "green") == 0.25  # ... not counted
        approve = run_job(tmp_path, "playbooks/promote.yml",
                          {**awx_vars(4800, user="alice"), "delivery_approve": GATE,
                           "delivery_approval_comment": "e2e, from AWX", "delivery_state_dir": str(env["state"])},
                          job_id=4800)
        assert approve.rc == 0 and approve.status == "successful", approve.stdout[-3000:]
        finished = run.wait(timeout=240)
    finally:
        run.stop()
    assert finished.rc == 0, finished.output[-4000:]
    assert f"approval gate {GATE!r} is approved by alice" in finished.output
    rec = record(env["state"])
    assert rec["last"]["version"] == V2 and rec["last"]["outcome"] == "promoted"
    assert [step["weight"] for step in rec["last"]["steps"]] == [5, 25, 50, 100]
    assert share(haproxy_weights(env["lab"]), "green") == 1.0
    assert env["traffic"].failed() == 0, env["traffic"].answers


def test_a_step_not_approved_in_time_goes_back_to_stable_and_leaves_the_guard_open(env):
    run = playbook("deploy.yml", "-e", f"delivery_image={env['image']}", "-e", f"delivery_version={V2}",
                   "-e", steps({"timeout": "6s"}), state_dir=env["state"])
    assert run.rc != 0, run.output[-4000:]
    assert f"approval gate {GATE!r} timed out after 6s" in run.output, run.output[-4000:]
    assert "not approved in time; the QoS guard stays open" in run.output, run.output[-4000:]
    assert share(haproxy_weights(env["lab"]), "blue") == 1.0
    rec = record(env["state"])
    assert rec["current"] is None and rec["last"]["outcome"] == "rolled_back"
    assert "timed out" in rec["last"]["reason"]
    assert [step["weight"] for step in rec["last"]["steps"]] == [5, 25]  # both observed steps passed
    status = playbook("guard.yml", "-e", "guard_action=status", state_dir=env["state"])
    assert status.rc == 0 and "LOCKED" not in status.stdout, status.output[-3000:]
    assert env["traffic"].failed() == 0, env["traffic"].answers
