# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""GitLab CI: the templates under ci/gitlab/ run by gitlab-ci-local (shell executor) against the lab.

A temporary git repository's .gitlab-ci.yml includes the templates (local includes) for one environment, `lab`
(inventories/lab); its jobs run this checkout's playbooks (DELIVERY_PROJECT_DIR) with the test's state directory.
The assertions are on the real state afterwards: HAProxy's weights, the release record, the registry's tags, the
deployment lock. scripts/gitlab-ci-local.sh installs gitlab-ci-local and Node 22 from the npm registry on first use.
"""
from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from ansible_collections.progressive.delivery.plugins.module_utils._approval import ApprovalGate
from ansible_collections.progressive.delivery.plugins.module_utils._state_store import open_store

from tests.e2e.conftest import ROOT, VENV_BIN, Background, haproxy_weights, manifest_digest, module, playbook, record
from tests.lab import lab as labmod

pytestmark = pytest.mark.lab

GITLAB_CI_LOCAL = ROOT / "scripts" / "gitlab-ci-local.sh"
LOCK = "lab-kr/demo"
V2, V3 = "2026.12.1+2", "2026.12.2+3"
BAD = '-e {"delivery_app_env":{"APP_ERROR_RATE":"0.3"}}'  # one word: DELIVERY_EXTRA_ARGS is split on spaces

GITLAB_CI_YML = """\
---
stages: [deploy]
include:
  - local: ci/gitlab/base.yml
  - local: ci/gitlab/environment.yml
    inputs: {environment: lab}
"""


@pytest.fixture(scope="module")
def gitlab_ci_local() -> Path:
    """gitlab-ci-local with Node 22, installed into .build/gitlab-ci-local when it is not there yet."""
    proc = subprocess.run([str(GITLAB_CI_LOCAL), "--install-only"], capture_output=True, text=True, timeout=900,
                          check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return GITLAB_CI_LOCAL


@pytest.fixture
def repo(tmp_path, gitlab_ci_local) -> Path:
    """A git repository whose .gitlab-ci.yml includes this checkout's templates."""
    path = tmp_path / "repo"
    shutil.copytree(ROOT / "ci" / "gitlab", path / "ci" / "gitlab")
    (path / ".gitlab-ci.yml").write_text(GITLAB_CI_YML)
    git = ["git", "-c", "user.name=e2e", "-c", "user.email=e2e@example.invalid", "-c", "init.defaultBranch=main"]
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "ci"]):
        subprocess.run([*git, *args], cwd=path, check=True, capture_output=True)
    return path


class Pipeline:
    """One gitlab-ci-local run: its output, and the result of every job."""

    def __init__(self, proc: subprocess.Popen, repo: Path):
        self.proc = proc
        self.repo = repo
        self.output = ""

    def wait(self, timeout: float = 600) -> Pipeline:
        self.output = self.proc.communicate(timeout=timeout)[0]
        return self

    def results(self) -> dict[str, str]:
        """job -> PASS | FAIL | WARN (the summary gitlab-ci-local prints at the end; jobs are named <job>:<env>, which
        keeps out its own warnings, such as "WARN  Avoid overriding predefined variables")."""
        found = re.findall(r"^\s*(PASS|FAIL|WARN)\s+(\S+:\S+)", self.output, re.M)
        return {job: verdict for verdict, job in found}

    def log(self, job: str) -> str:
        return "\n".join(line for line in self.output.splitlines() if line.startswith(job + " "))

    def job_id(self, job: str) -> str:
        """The CI_JOB_ID a job ran with (the templates print it)."""
        found = re.search(r"GitLab job (\d+)", self.log(job))
        assert found, self.output[-4000:]
        return found.group(1)


def start(repo: Path, state_dir: Path, *jobs: str, extra_args: str = "", **variables: str) -> Pipeline:
    """gitlab-ci-local in shell-executor mode: the whole pipeline, or only ``jobs``."""
    variables = {"DELIVERY_PROJECT_DIR": str(ROOT), "DELIVERY_ANSIBLE_BIN": str(VENV_BIN),
                 "DELIVERY_EXTRA_ARGS": f"-e delivery_state_dir={state_dir} {extra_args}".strip(),
                 "ANSIBLE_FORCE_COLOR": "false", "ANSIBLE_NOCOLOR": "true", **variables}
    cmd = [str(GITLAB_CI_LOCAL), "--shell-executor-no-image", "--no-color",
           "--max-job-name-padding", "0", *jobs]
    for name, value in variables.items():
        cmd += ["--variable", f"{name}={value}"]
    proc = subprocess.Popen(cmd, cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg")))
    return Pipeline(proc, repo)


def run(repo: Path, state_dir: Path, *jobs: str, **kwargs: Any) -> Pipeline:
    return start(repo, state_dir, *jobs, **kwargs).wait()


def release(env, version: str) -> dict[str, str]:
    return {"DELIVERY_IMAGE": env["image"], "DELIVERY_VERSION": version}


def share(weights: dict[str, int], pool: str) -> float:
    return weights[pool] / sum(weights.values())


def lock_holder(state_dir: Path) -> str | None:
    """Who holds the deployment lock (a probe in check mode), or None."""
    probe = module("progressive.delivery.deploy_lock", {"name": LOCK, "owner": "probe", "store_dir": str(state_dir)},
                   check=True)
    return (probe.get("after") or {}).get("owner") if probe.get("failed") else None


def stable_tag(env) -> str | None:
    registry, repo = env["image"].split("@")[0].split("/", 1)
    return manifest_digest(registry, repo, "stable-kr")


def test_deploy_freeze_refuses_the_deploy_and_changes_nothing(env, repo):
    before = haproxy_weights(env["lab"])
    pipeline = run(repo, env["state"], CI_DEPLOY_FREEZE="1", **release(env, V2))
    assert pipeline.results() == {"deploy:lab": "FAIL", "auto-rollback:lab": "PASS"}, pipeline.output[-4000:]
    deploy = pipeline.log("deploy:lab")
    assert "deploys are frozen" in deploy and "DELIVERY_OVERRIDE_REASON" in deploy
    assert "Nothing was locked or changed" in deploy
    assert "no release in progress" in pipeline.log("auto-rollback:lab")
    assert haproxy_weights(env["lab"]) == before
    rec = record(env["state"])
    assert rec["last"] is None and rec["current"] is None
    assert lock_holder(env["state"]) is None


def test_deploy_job_promotes_then_manual_rollback_job_goes_back(env, repo):
    """A deploy job inside a freeze, overridden with a reason; then the manual rollback job (on_stop)."""
    pipeline = run(repo, env["state"], CI_DEPLOY_FREEZE="1", DELIVERY_OVERRIDE_REASON="hotfix INC-1234",
                   **release(env, V2))
    assert pipeline.results() == {"deploy:lab": "PASS"}, pipeline.output[-6000:]  # no auto-rollback
    job = pipeline.job_id("deploy:lab")
    rec = record(env["state"])
    last = rec["last"]
    assert rec["current"] is None and rec["stable_pool"] == "green"
    assert last["outcome"] == "promoted" and last["version"] == V2 and last["image"] == env["image"]
    assert last["started_by"].endswith(f", CI job {job})"), last["started_by"]
    assert last["override"]["reason"] == "hotfix INC-1234"
    assert [window["name"] for window in last["override"]["windows"]] == ["gitlab-deploy-freeze"]
    assert share(haproxy_weights(env["lab"]), "green") == 1.0
    assert stable_tag(env) == env["image"].split("@")[1]
    assert lock_holder(env["state"]) is None

    rollback = run(repo, env["state"], "rollback:lab", DELIVERY_ROLLBACK_TO=env["image"],
                   DELIVERY_ROLLBACK_VERSION=labmod.BLUE_VERSION, DELIVERY_ROLLBACK_REASON="e2e: back to blue")
    assert rollback.results() == {"rollback:lab": "PASS"}, rollback.output[-6000:]
    rec = record(env["state"])
    assert rec["stable_pool"] == "blue" and rec["last"]["strategy"] == "rollback"
    assert rec["last"]["version"] == labmod.BLUE_VERSION and rec["last"]["outcome"] == "promoted"
    assert re.search(r"\(CI job \d+\)$", rec["last"]["started_by"]), rec["last"]["started_by"]
    assert rec["last"]["started_by"] != last["started_by"]  # the rollback job's own id
    assert share(haproxy_weights(env["lab"]), "blue") == 1.0
    guard = module("progressive.delivery.qos_guard", {"name": LOCK, "store_dir": str(env["state"])})
    assert guard["after"]["active"] and guard["after"]["reason"] == "e2e: back to blue"
    # the guard the GitLab job locked holds a deploy from a laptop off too
    refused = playbook("deploy.yml", "-e", f"delivery_image={env['image']}", "-e", f"delivery_version={V3}",
                       state_dir=env["state"])
    assert refused.rc != 0 and "e2e: back to blue" in refused.output, refused.output[-3000:]
    assert "TASK [progressive.delivery.canary" not in refused.output  # refused in preflight
    assert record(env["state"])["last"]["version"] == labmod.BLUE_VERSION
    assert env["traffic"].failed() == 0, env["traffic"].answers


def test_bad_release_fails_the_deploy_job_and_auto_rollback_leaves_the_stable_pool(env, repo):
    """The deploy rolled itself back: the auto-rollback job must not roll back further (to the bad release)."""
    pipeline = run(repo, env["state"], extra_args=BAD, **release(env, V3))
    assert pipeline.results() == {"deploy:lab": "FAIL", "auto-rollback:lab": "PASS"}, pipeline.output[-6000:]
    assert "ROLLED BACK" in pipeline.log("deploy:lab")
    assert "no release in progress" in pipeline.log("auto-rollback:lab")
    rec = record(env["state"])
    assert rec["current"] is None and rec["last"]["outcome"] == "rolled_back" and rec["last"]["version"] == V3
    assert rec["last"]["started_by"].endswith(f", CI job {pipeline.job_id('deploy:lab')})")
    assert [entry["strategy"] for entry in rec["record"]["history"]] == ["canary"]  # no rollback.yml release
    assert share(haproxy_weights(env["lab"]), "blue") == 1.0
    assert env["traffic"].failed(except_version=V3) == 0, env["traffic"].answers


def descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def cmdline(pid: int) -> str:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_text().replace("\0", " ")
    except OSError:
        return ""


def test_auto_rollback_job_rolls_back_a_deploy_job_that_died(env, repo):
    pipeline = start(repo, env["state"], **release(env, V2))
    deadline = time.monotonic() + 240
    while True:  # until the release is in progress with requests on the candidate (step 1, 5 %)
        assert time.monotonic() < deadline and pipeline.proc.poll() is None, "the deploy never reached step 1"
        if record(env["state"])["current"] and haproxy_weights(env["lab"]).get("green", 0) > 0:
            break
        time.sleep(1)
    playbooks = [pid for pid in descendants(pipeline.proc.pid) if "playbooks/deploy.yml" in cmdline(pid)
                 and "ansible-playbook" in cmdline(pid)]
    assert playbooks, "no ansible-playbook process under gitlab-ci-local"
    victims = [pid for top in playbooks for pid in [top, *descendants(top)]]
    for pid in victims:  # the job's ansible-playbook and its workers, as a lost runner or a job timeout would
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    pipeline.wait()
    assert pipeline.results() == {"deploy:lab": "FAIL", "auto-rollback:lab": "PASS"}, pipeline.output[-6000:]
    deploy_job = pipeline.job_id("deploy:lab")
    assert "is still in progress: rolling it back" in pipeline.log("auto-rollback:lab")
    rec = record(env["state"])
    assert rec["current"] is None and rec["last"]["outcome"] == "rolled_back" and rec["last"]["version"] == V2
    assert rec["last"]["started_by"].endswith(f", CI job {deploy_job})")
    assert f"deploy job {deploy_job} failed halfway" in rec["last"]["reason"]
    assert share(haproxy_weights(env["lab"]), "blue") == 1.0
    assert lock_holder(env["state"]) is None  # the dead job's lock was given back
    guard = module("progressive.delivery.qos_guard", {"name": LOCK, "store_dir": str(env["state"])})
    assert guard["after"]["active"]


def test_a_lock_held_by_a_cli_deploy_refuses_the_gitlab_deploy(env, repo, backend):
    """Across entry points, on both backends of the state store: the deployment lock taken from a laptop stops the
    GitLab job, which names its holder."""
    store = {**backend, "store_dir": str(env["state"])}
    taken = module("progressive.delivery.deploy_lock", {"name": LOCK, "owner": "alice@laptop", "ttl": "1h", **store})
    assert taken.get("changed") and not taken.get("failed"), taken
    before = haproxy_weights(env["lab"])
    extra = f"-e delivery_state_backend={backend['state_backend']}"
    if "state_dsn" in backend:
        extra += f" -e delivery_state_dsn={backend['state_dsn']}"
    pipeline = run(repo, env["state"], extra_args=extra, **release(env, V2))
    assert pipeline.results() == {"deploy:lab": "FAIL", "auto-rollback:lab": "PASS"}, pipeline.output[-6000:]
    assert "alice@laptop" in pipeline.log("deploy:lab")
    assert "no release in progress" in pipeline.log("auto-rollback:lab")
    probe = module("progressive.delivery.deploy_lock", {"name": LOCK, "owner": "probe", **store}, check=True)
    assert probe.get("failed") and probe["after"]["owner"] == "alice@laptop", probe  # still held, by alice
    assert haproxy_weights(env["lab"]) == before
    rec = module("progressive.delivery.release_record", {"environment": "lab-kr", "app": "demo", **store})
    assert rec["last"] is None and rec["current"] is None


def test_the_example_gitlab_ci_yml_has_every_environments_jobs(tmp_path, gitlab_ci_local):
    """ci/gitlab/example.gitlab-ci.yml as a project's .gitlab-ci.yml: valid (gitlab-ci-local checks GitLab's schema),
    production deploys only from the default branch, and each deploy job with its auto-rollback job."""
    path = tmp_path / "repo"
    shutil.copytree(ROOT / "ci" / "gitlab", path / "ci" / "gitlab")
    shutil.copy(ROOT / "ci" / "gitlab" / "example.gitlab-ci.yml", path / ".gitlab-ci.yml")
    git = ["git", "-c", "user.name=e2e", "-c", "user.email=e2e@example.invalid", "-c", "init.defaultBranch=main"]
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "ci"]):
        subprocess.run([*git, *args], cwd=path, check=True, capture_output=True)

    def jobs(*variables: str) -> dict[str, list[str]]:
        cmd = [str(GITLAB_CI_LOCAL), "--list-csv", "--no-color", "--ignore-predefined-vars", "CI_COMMIT_BRANCH"]
        for variable in variables:
            cmd += ["--variable", variable]
        proc = subprocess.run(cmd, cwd=path, capture_output=True, text=True, check=False, timeout=120)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        rows = [line.split(";") for line in proc.stdout.splitlines() if line.count(";") >= 3]
        return {row[0]: row for row in rows[1:]}

    envs = ("stg-kr", "stg-jp", "prod-kr", "prod-jp")
    without_release = jobs()
    assert set(without_release) == {f"{job}:{env}" for env in envs for job in ("rollback", "status", "approve")}
    on_main = jobs("DELIVERY_IMAGE=reg/app@sha256:0", "DELIVERY_VERSION=2026.12.1+2")
    assert {f"{job}:{env}" for env in envs for job in ("deploy", "auto-rollback")} <= set(on_main)
    on_branch = jobs("DELIVERY_IMAGE=reg/app@sha256:0", "DELIVERY_VERSION=2026.12.1+2", "CI_COMMIT_BRANCH=feature")
    assert "deploy:stg-kr" in on_branch and "auto-rollback:stg-kr" in on_branch
    assert "deploy:prod-kr" not in on_branch and "auto-rollback:prod-kr" not in on_branch


def test_gitlab_rollback_during_a_cli_deploy_takes_the_traffic_and_the_cli_deploy_stops(env, repo):
    """Issue 12, across entry points: a deploy started from a laptop, a rollback job from GitLab in its middle."""
    cli = Background("deploy.yml", "-e", f"delivery_image={env['image']}", "-e", f"delivery_version={V2}",
                     "-e", "delivery_lock_owner=alice@laptop", state_dir=env["state"])
    try:
        cli.wait_for("analysis [step 2/4", timeout=240)
        assert 0 < share(haproxy_weights(env["lab"]), "green") < 1  # the CLI deploy is shifting traffic
        pipeline = run(repo, env["state"], "rollback:lab", DELIVERY_ROLLBACK_REASON="e2e GitLab during CLI")
        assert pipeline.results() == {"rollback:lab": "PASS"}, pipeline.output[-4000:]
        # The traffic is back. A CLI shift that raced the rollback (test_flows.py makes that race deterministic) is
        # undone by the CLI run itself within a task or two, so the share is polled, not read once.
        deadline = time.monotonic() + 30
        while share(haproxy_weights(env["lab"]), "blue") != 1.0:
            assert time.monotonic() < deadline and cli.proc.poll() is None, haproxy_weights(env["lab"])
            time.sleep(0.5)
        finished = cli.wait(timeout=300)
    finally:
        cli.stop()
    assert finished.rc != 0, finished.output[-4000:]
    assert "already finished: rolled_back" in finished.output and "no longer current" in finished.output, \
        finished.output[-4000:]
    assert share(haproxy_weights(env["lab"]), "blue") == 1.0  # the CLI run left the rollback's traffic alone
    rec = record(env["state"])
    assert rec["current"] is None and rec["last"]["outcome"] == "rolled_back" and rec["last"]["version"] == V2
    assert rec["last"]["reason"] == "e2e GitLab during CLI"
    assert lock_holder(env["state"]) is None  # the CLI run released its lock on the way out
    assert env["traffic"].failed() == 0, env["traffic"].answers


def test_approve_job_records_the_gitlab_user_as_approver(repo, tmp_path):
    """The manual approve job: a named gate (a canary step's), the environment's own gate by default, and a clear
    failure without either. The state store is the only thing it touches."""
    state = tmp_path / "state"

    def gate(name: str) -> dict[str, Any]:
        return ApprovalGate(open_store("approval", "file", str(state), None), name, [], 1).view()

    step_gate = f"lab-kr/demo {V2} at 50%"
    pipeline = run(repo, state, "approve:lab", DELIVERY_APPROVE=step_gate, GITLAB_USER_LOGIN="carol",
                   DELIVERY_APPROVAL_COMMENT="CHG-1")
    assert pipeline.results() == {"approve:lab": "PASS"}, pipeline.output[-4000:]
    view = gate(step_gate)
    assert view["approved"] and view["approved_by"] == ["carol"], view
    (approval,) = view["approvals"]
    assert approval["by"].startswith("carol") and "CI job" in approval["by"] and approval["comment"] == "CHG-1"

    pipeline = run(repo, state, "approve:lab", DELIVERY_VERSION=V3, GITLAB_USER_LOGIN="dave")
    assert pipeline.results() == {"approve:lab": "PASS"}, pipeline.output[-4000:]
    assert gate(f"lab-kr/demo {V3}")["approved_by"] == ["dave"]

    pipeline = run(repo, state, "approve:lab")
    assert pipeline.results() == {"approve:lab": "WARN"}, pipeline.output[-4000:]  # allow_failure: a manual job
    assert "set DELIVERY_APPROVE to the gate" in pipeline.output
