# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The playbooks as AWX / Automation Controller runs them: through ansible-runner's Python API, with a private data
dir laid out as AWX lays it out (docs/awx.md):

    env/extravars   the survey's answers (an optional question left empty is "") and the awx_* / tower_* variables
                    AWX adds to every job
    env/envvars     JOB_ID, AWX_HOST, ... as AWX sets them; the collection path (the EE's collections)
    inventory/      the environment's inventory (a copy of inventories/lab or inventories/lab-jp)
    project/        the project checkout (this repository): playbooks/deploy.yml, ansible.cfg

The tests check the job events (the stats event's custom stats are AWX's artifacts), rc and status, and the real
state afterwards: HAProxy's and nginx's weights, the release record, the lock's owner naming the AWX job. Across
entry points: a lock or a QoS guard taken from the CLI refuses the AWX job with the holder's name, on the file
store and on PostgreSQL.
"""
from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ansible_runner
import pytest

from tests.e2e.conftest import (
    JP_INVENTORY,
    ROOT,
    VENV_BIN,
    haproxy_weights,
    jp_nginx_weights,
    module,
    playbook,
    record,
)
from tests.lab import lab as labmod

pytestmark = pytest.mark.lab

LAB_INVENTORY = ROOT / "inventories" / "lab"
AWX_HOST = "https://awx.example.internal"
# versions no other e2e test deploys (Prometheus keeps every series; the indicators select by version)
V_KR, V_GUARD = "2026.12.40+70", "2026.12.41+71"
SHORT_STEPS = [{"weight": 50, "observe": "4s"}, {"weight": 100, "observe": "2s"}]
CLI_OWNER = "alice@laptop"


# --------------------------------------------------------------------------------------------------
# an AWX job through ansible-runner
# --------------------------------------------------------------------------------------------------
@dataclass
class Job:
    rc: int
    status: str
    events: list[dict[str, Any]]
    stdout: str
    artifacts: dict[str, Any] = field(default_factory=dict)

    def results(self, kind: str) -> list[dict[str, Any]]:
        """event_data of the runner_on_<kind> events (ok, failed, skipped)."""
        return [event["event_data"] for event in self.events if event.get("event") == f"runner_on_{kind}"]

    def task_result(self, task: str, kind: str = "ok") -> dict[str, Any]:
        found = [data["res"] for data in self.results(kind) if data.get("task", "").startswith(task)]
        assert found, f"no runner_on_{kind} event of task {task!r}:\n{self.stdout[-4000:]}"
        return found[-1]

    @property
    def stats(self) -> dict[str, Any]:
        (stats,) = [event["event_data"] for event in self.events if event.get("event") == "playbook_on_stats"]
        return stats


def awx_vars(job_id: int, workflow_id: int | None = None, user: str = "alice") -> dict[str, Any]:
    """The variables AWX adds to every job's extra vars (awx_* and their tower_* twins)."""
    variables: dict[str, Any] = {
        "awx_job_id": job_id, "awx_job_launch_type": "workflow" if workflow_id else "manual",
        "awx_user_id": 7, "awx_user_name": user, "awx_user_email": f"{user}@example.com",
        "awx_job_template_id": 11, "awx_job_template_name": "delivery deploy", "awx_inventory_id": 3,
        "awx_inventory_name": "delivery lab", "awx_project_revision": "0123abc", "awx_project_scm_branch": "main",
        "awx_execution_node": "awx-ee-1", "awx_host": AWX_HOST,
    }
    if workflow_id:
        variables |= {"awx_workflow_job_id": workflow_id, "awx_workflow_job_name": "delivery release",
                      "awx_workflow_job_launch_type": "manual"}
    variables |= {"tower_" + key.removeprefix("awx_"): value for key, value in list(variables.items())}
    return variables


def run_job(tmp_path: Path, playbook_name: str, extravars: dict[str, Any], *, job_id: int,
            inventory: Path = LAB_INVENTORY, cmdline: str | None = None) -> Job:
    """One AWX job: a private data dir as AWX writes it, run by ansible_runner.run()."""
    private = tmp_path / f"awx-job-{job_id}"
    (private / "env").mkdir(parents=True)
    (private / "env" / "extravars").write_text(json.dumps(extravars))
    (private / "env" / "envvars").write_text(json.dumps({
        "JOB_ID": str(job_id), "AWX_HOST": AWX_HOST, "INVENTORY_ID": "3", "PROJECT_REVISION": "0123abc",
        "MAX_EVENT_RES": "700000", "ANSIBLE_RETRY_FILES_ENABLED": "False",
        # the EE's ansible and collections; here the checkout's virtualenv and its
        # .build/ansible_collections/progressive/delivery symlink
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "ANSIBLE_COLLECTIONS_PATH": str(ROOT / ".build"),
        # the copied inventory finds the lab by LAB_DIR (without it: <inventory>/../../.lab, inside this data dir)
        "LAB_DIR": str(labmod.lab_dir()),
    }))
    shutil.copytree(inventory, private / "inventory")
    (private / "project").symlink_to(ROOT, target_is_directory=True)
    runner = ansible_runner.run(private_data_dir=str(private), playbook=playbook_name, ident=str(job_id),
                                cmdline=cmdline, quiet=True, timeout=900)
    events = list(runner.events)
    stdout = runner.stdout.read()
    job = Job(runner.rc, runner.status, events, stdout)
    job.artifacts = job.stats.get("artifact_data") or {}
    return job


def deploy_vars(env: dict[str, Any], **answers: Any) -> dict[str, Any]:
    """The deploy survey's answers: Strategy left empty (""), plus the test's own state dir and short steps."""
    return {"delivery_strategy_choice": "", "delivery_window_override_reason": "", **answers,
            "delivery_state_dir": str(env["state"]), "delivery_canary_steps": SHORT_STEPS}


def lab_tag() -> str:
    return labmod.image_tag(labmod.ports()["registry"])


def jp_record(state_dir: Path) -> dict[str, Any]:
    return module("progressive.delivery.release_record",
                  {"environment": "lab-jp", "app": "demo", "store_dir": str(state_dir)})


# --------------------------------------------------------------------------------------------------
# the workflow: KR by a tag, then the JP node with the KR node's artifacts only
# --------------------------------------------------------------------------------------------------
def test_workflow_kr_deploy_then_jp_node_deploys_the_released_digest(env, env_jp, tmp_path):
    lab_ = env["lab"]
    digest_ref = env["image"]

    # KR: the survey gives a tag; Strategy left empty is the inventory's canary
    kr_vars = {**awx_vars(4711, workflow_id=4710), **deploy_vars(env, delivery_image=lab_tag(), delivery_version=V_KR)}
    kr = run_job(tmp_path, "playbooks/deploy.yml", kr_vars, job_id=4711)
    assert (kr.rc, kr.status) == (0, "successful"), kr.stdout[-6000:]
    assert kr.stats["failures"] == {} and kr.stats["ok"].get("localhost", 0) > 0
    assert kr.artifacts == {"delivery_released_version": V_KR, "delivery_released_digest": digest_ref,
                            "delivery_released_environment": "lab-kr", "delivery_outcome": "released"}
    owner = "alice (AWX job 4711, workflow 4710)"
    assert kr.task_result("Take the deployment lock")["after"]["owner"] == owner
    assert kr.task_result("Release the deployment lock")["changed"] is True
    rec = record(env["state"])
    last = rec["last"]
    assert (last["outcome"], last["version"], last["strategy"], last["started_by"]) == (
        "promoted", V_KR, "canary", owner)
    assert last["image"] == digest_ref and rec["current"] is None
    weights = haproxy_weights(lab_)
    assert weights[rec["stable_pool"]] == sum(weights.values()) > 0
    assert env["traffic"].failed() == 0, env["traffic"].answers

    # JP: AWX passes the KR node's artifacts as extra vars; no delivery_image, no delivery_version; Strategy empty
    # is lab-jp's own blue_green
    jp = run_job(tmp_path, "playbooks/deploy.yml",
                 {**awx_vars(4713, workflow_id=4710), **kr.artifacts,
                  "delivery_strategy_choice": "", "delivery_state_dir": str(env_jp["state"])},
                 job_id=4713, inventory=JP_INVENTORY)
    assert (jp.rc, jp.status) == (0, "successful"), jp.stdout[-6000:]
    assert jp.artifacts["delivery_released_digest"] == digest_ref
    assert jp.artifacts["delivery_released_version"] == V_KR
    assert jp.artifacts["delivery_released_environment"] == "lab-jp"
    jp_rec = jp_record(env_jp["state"])
    jp_last = jp_rec["last"]
    assert (jp_last["outcome"], jp_last["version"], jp_last["strategy"], jp_last["started_by"]) == (
        "promoted", V_KR, "blue_green", "alice (AWX job 4713, workflow 4710)")
    assert jp_last["image"] == digest_ref
    assert jp_nginx_weights(lab_)[jp_rec["stable_pool"]] == 1
    assert env_jp["traffic"].failed() == 0, env_jp["traffic"].answers


def test_jp_node_refuses_a_digest_other_than_the_released_one(env, tmp_path):
    other = env["image"].split("@")[0] + "@sha256:" + "0" * 64
    job = run_job(tmp_path, "playbooks/deploy.yml",
                  {**awx_vars(4720), **deploy_vars(env, delivery_image=other, delivery_version=V_KR,
                                                   delivery_released_digest=env["image"])}, job_id=4720)
    assert (job.rc, job.status) != (0, "successful")
    msg = job.task_result("The digest a previous node released", "failed")["msg"]
    assert "delivery_released_digest" in msg and other in msg
    assert record(env["state"])["last"] is None


# --------------------------------------------------------------------------------------------------
# across entry points: the CLI's lock and guard refuse the AWX job
# --------------------------------------------------------------------------------------------------
def test_cli_lock_refuses_the_awx_deploy_with_the_holders_name(env, backend, tmp_path):
    store = {**backend, "store_dir": str(env["state"])}
    held = module("progressive.delivery.deploy_lock",
                  {"name": "lab-kr/demo", "owner": CLI_OWNER, "ttl": "1h", **store})
    assert held["changed"] is True and held["after"]["owner"] == CLI_OWNER, held
    before = haproxy_weights(env["lab"])

    backend_vars = {"delivery_state_backend": backend["state_backend"]}
    if "state_dsn" in backend:
        backend_vars["delivery_state_dsn"] = backend["state_dsn"]
    job = run_job(tmp_path, "playbooks/deploy.yml",
                  {**awx_vars(4730), **backend_vars,
                   **deploy_vars(env, delivery_image=env["image"], delivery_version=V_KR)}, job_id=4730)
    assert job.rc != 0 and job.status == "failed"
    refusal = job.task_result("Take the deployment lock", "failed")
    assert CLI_OWNER in refusal["msg"], refusal
    assert CLI_OWNER in job.stdout
    assert job.stats["failures"] == {"localhost": 1}
    assert job.artifacts == {}  # no delivery_outcome: released for the next node
    # nothing changed: the CLI still holds the lock, no release started, the traffic where it was
    still = module("progressive.delivery.deploy_lock",
                   {"name": "lab-kr/demo", "owner": CLI_OWNER, "ttl": "1h", **store}, check=True)
    assert still["before"]["owner"] == CLI_OWNER
    assert module("progressive.delivery.release_record",
                  {"environment": "lab-kr", "app": "demo", **store})["last"] is None
    assert not [data for data in job.results("ok") if data.get("task", "").startswith("Roll out")]
    assert haproxy_weights(env["lab"]) == before
    if backend["state_backend"] == "postgres":
        assert not env["state"].exists(), "the postgres backend wrote into the file store"


def test_cli_guard_blocks_the_awx_deploy_until_released_then_awx_rollback(env, tmp_path):
    lab_ = env["lab"]
    # what runs where before the first release (so that a rollback has a previous release to go back to)
    declared = module("progressive.delivery.release_record", {
        "environment": "lab-kr", "app": "demo", "state": "pools", "stable_pool": "blue",
        "pools": {"blue": {"version": labmod.BLUE_VERSION, "digest": env["image"].split("@")[1],
                           "image": env["image"]}},
        "store_dir": str(env["state"])})
    assert declared["changed"] is True, declared
    locked = playbook("guard.yml", "-e", "guard_action=lock", "-e", "guard_duration=30m",
                      "-e", "guard_reason='CLI hold by alice'", state_dir=env["state"])
    assert locked.rc == 0, locked.output[-3000:]
    before = haproxy_weights(lab_)
    answers = deploy_vars(env, delivery_image=env["image"], delivery_version=V_GUARD)

    refused = run_job(tmp_path, "playbooks/deploy.yml", {**awx_vars(4740), **answers}, job_id=4740)
    assert refused.rc != 0 and refused.status == "failed"
    guard_msg = refused.task_result("The QoS guard must not hold deploys", "failed")["msg"]
    assert "CLI hold by alice" in guard_msg, guard_msg
    assert haproxy_weights(lab_) == before and record(env["state"])["last"] is None

    # released through AWX's guard template (Duration left empty)
    unlock = run_job(tmp_path, "playbooks/guard.yml",
                     {**awx_vars(4741), "guard_action": "unlock", "guard_duration": "",
                      "guard_reason": "checked by on-call", "delivery_state_dir": str(env["state"])}, job_id=4741)
    assert (unlock.rc, unlock.status) == (0, "successful"), unlock.stdout[-3000:]
    assert unlock.task_result("QoS guard action unlock")["changed"] is True

    deployed = run_job(tmp_path, "playbooks/deploy.yml", {**awx_vars(4742), **answers}, job_id=4742)
    assert (deployed.rc, deployed.status) == (0, "successful"), deployed.stdout[-6000:]
    assert deployed.artifacts["delivery_outcome"] == "released"
    rec = record(env["state"])
    assert rec["last"]["version"] == V_GUARD and rec["last"]["started_by"] == "alice (AWX job 4742)"
    new_stable = rec["stable_pool"]

    # AWX's rollback template, Target and Target version left empty: the recorded previous release
    rollback = run_job(tmp_path, "playbooks/rollback.yml",
                       {**awx_vars(4743, user="bob"), "delivery_rollback_to": "", "delivery_rollback_version": "",
                        "delivery_rollback_reason": "AWX rollback test", "delivery_state_dir": str(env["state"])},
                       job_id=4743)
    assert (rollback.rc, rollback.status) == (0, "successful"), rollback.stdout[-6000:]
    rec = record(env["state"])
    assert rec["stable_pool"] == "blue" != new_stable, rec
    assert rec["pools"]["blue"]["version"] == labmod.BLUE_VERSION
    assert "AWX job 4743" in json.dumps(rec["last"]), rec["last"]
    weights = haproxy_weights(lab_)
    assert weights[new_stable] == 0 and weights["blue"] > 0
    assert env["traffic"].failed() == 0, env["traffic"].answers
