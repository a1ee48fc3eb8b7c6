# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The release on the lab: deploy.yml (canary, blue_green), rollback.yml, guard.yml, status.yml.

Requests go through HAProxy during every release; the tests assert how many failed.
"""
from __future__ import annotations

import os
import subprocess

import pytest

from tests.e2e.conftest import ROOT, haproxy_weights, manifest_digest, playbook, record
from tests.lab import lab as labmod

pytestmark = pytest.mark.lab

V1, V2, V3 = "2026.12.0+1", "2026.12.1+2", "2026.12.2+3"


def deploy(env, version: str, *extra: str):
    return playbook("deploy.yml", "-e", f"delivery_image={env['image']}", "-e", f"delivery_version={version}",
                    *extra, state_dir=env["state"])


def ok(run) -> None:
    assert run.rc == 0, run.output[-6000:]


def share(weights: dict[str, int], pool: str) -> float:
    return weights[pool] / sum(weights.values())


def test_good_canary_is_promoted_and_tagged_without_a_failed_request(env):
    run = deploy(env, V2)
    assert run.rc == 0, run.output[-4000:]
    for step in ("step 1/4 5%", "step 2/4 25%", "step 3/4 50%", "step 4/4 100%"):
        assert f"analysis [{step}]" in run.stdout, step
    rec = record(env["state"])
    assert rec["stable_pool"] == "green" and rec["current"] is None
    last = rec["last"]
    assert last["outcome"] == "promoted" and last["version"] == V2 and last["strategy"] == "canary"
    assert [step["weight"] for step in last["steps"]] == [5, 25, 50, 100]
    assert all(step["verdict"] == "pass" for step in last["steps"])
    assert rec["pools"]["green"]["version"] == V2 and rec["pools"]["green"]["role"] == "stable"
    assert share(haproxy_weights(env["lab"]), "green") == 1.0
    registry, repo = env["image"].split("@")[0].split("/", 1)
    assert manifest_digest(registry, repo, "stable-kr") == env["image"].split("@")[1]
    assert env["traffic"].by_version().get(V2, 0) > 0
    assert env["traffic"].failed() == 0, env["traffic"].answers
    # a rerun of the promoted release (an AWX retry, a CI job run twice) changes nothing
    container = labmod.docker_inspect(labmod.container_name("blue"))["Id"]
    again = deploy(env, V2)
    assert again.rc == 0, again.output[-4000:]
    assert "is already the stable release (pool green); nothing changed" in again.stdout
    assert "analysis [" not in again.stdout and "Bake" not in again.stdout  # no step, no bake ran
    assert record(env["state"])["record"]["history"] == rec["record"]["history"]
    assert share(haproxy_weights(env["lab"]), "green") == 1.0
    assert labmod.docker_inspect(labmod.container_name("blue"))["Id"] == container  # the other pool untouched


def test_bad_canary_is_rolled_back_at_the_first_step(env):
    ok(deploy(env, V2))
    run = playbook("deploy.yml", "-e", f"delivery_image={env['image']}", "-e", f"delivery_version={V3}",
                   "-e", '{"delivery_app_env": {"APP_ERROR_RATE": "0.3"}}', state_dir=env["state"],
                   env={"ANSIBLE_SHOW_CUSTOM_STATS": "1"})
    assert run.rc != 0
    assert "ROLLED BACK" in run.output and "error_ratio" in run.output
    # the artifacts an AWX workflow's failure branch gets (set_stats, shown as custom stats)
    stats = run.stdout.split("CUSTOM STATS")[-1]
    assert '"delivery_outcome": "rolled_back"' in stats and '"delivery_failed_environment": "lab-kr"' in stats, stats
    assert "analysis [step 2/4" not in run.stdout  # caught at 5 %, never shifted further
    rec = record(env["state"])
    assert rec["stable_pool"] == "green" and rec["current"] is None
    assert rec["last"]["outcome"] == "rolled_back" and rec["last"]["version"] == V3
    assert rec["last"]["steps"][0]["verdict"] == "fail"
    assert share(haproxy_weights(env["lab"]), "green") == 1.0  # every request back on the stable pool
    # Only the bad release's own 500s: the stable pool answered everything else.
    assert env["traffic"].failed(except_version=V3) == 0, env["traffic"].answers
    guard = playbook("guard.yml", "-e", "guard_action=status", state_dir=env["state"])
    assert guard.rc == 0 and "LOCKED" in guard.stdout
    refused = deploy(env, "2026.12.3+4")
    assert refused.rc != 0 and "guard" in refused.output.lower()
    assert record(env["state"])["last"]["version"] == V3  # nothing started


def test_check_mode_prints_the_plan_and_changes_nothing(env):
    before = haproxy_weights(env["lab"])
    run = deploy(env, V2, "--check")
    assert run.rc == 0, run.output[-4000:]
    assert "steps: 5% -> 25% -> 50% -> 100%" in run.stdout and "candidate pool green" in run.stdout
    assert haproxy_weights(env["lab"]) == before
    assert record(env["state"])["last"] is None


def test_rollback_returns_to_the_previous_release(env):
    ok(deploy(env, V1, "-e", "delivery_strategy=blue_green", "-e", "delivery_initial_stable_pool=green"))
    ok(deploy(env, V2))
    assert record(env["state"])["stable_pool"] == "green"
    run = playbook("rollback.yml", "-e", "delivery_rollback_reason=e2e", state_dir=env["state"])
    assert run.rc == 0, run.output[-4000:]
    rec = record(env["state"])
    assert rec["stable_pool"] == "blue" and rec["pools"]["blue"]["version"] == V1
    assert rec["last"]["strategy"] == "rollback" and rec["last"]["outcome"] == "promoted"
    assert share(haproxy_weights(env["lab"]), "blue") == 1.0
    assert env["traffic"].failed() == 0, env["traffic"].answers


def test_status_reports_the_state(env):
    ok(deploy(env, V2))
    run = playbook("status.yml", state_dir=env["state"])
    assert run.rc == 0, run.output[-4000:]
    assert "state: HEALTHY" in run.stdout and "stable pool: green" in run.stdout
    assert V2 in run.stdout and "PROMOTED" in run.stdout


def status_code(env) -> int:
    """scripts/delivery-status: the exit code a script branches on."""
    proc = subprocess.run([str(ROOT / "scripts" / "delivery-status"), str(ROOT / "inventories" / "lab"),
                           "-e", f"delivery_state_dir={env['state']}"], cwd=ROOT, capture_output=True, text=True,
                          check=False, env=dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg")))
    return proc.returncode


def test_sha_rollback_and_status_exit_codes(env):
    """Seed 004: roll back to an explicit SHA (digest); status.yml's codes before and after."""
    ok(deploy(env, V1, "-e", "delivery_strategy=blue_green", "-e", "delivery_initial_stable_pool=green"))
    ok(deploy(env, V2))
    assert status_code(env) == 0  # healthy: green stable at 100 %, no release in progress, guard open
    run = playbook("rollback.yml", "-e", f"delivery_rollback_to={env['image']}",
                   "-e", f"delivery_rollback_version={V1}", "-e", "delivery_rollback_reason=seed-004",
                   state_dir=env["state"])
    ok(run)
    rec = record(env["state"])
    assert rec["last"]["strategy"] == "rollback" and rec["last"]["version"] == V1
    assert rec["last"]["image"] == env["image"] and rec["stable_pool"] == "blue"
    assert share(haproxy_weights(env["lab"]), "blue") == 1.0
    assert status_code(env) == 11  # rolled back: the guard holds
    assert env["traffic"].failed() == 0, env["traffic"].answers
