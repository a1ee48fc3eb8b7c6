# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Seed 001's rolling update on the lab's web tier (app `web`: web1-3 and a surge slot behind HAProxy's backend
`web`): maxSurge 1, maxUnavailable 0, a gate after every batch, and its rollback rules (5xx > 1 %, P99 > 1 s, a
crashed instance).

Requests go through the tier's own frontend during every flow; each test asserts how many failed and the real
state afterwards: which image every instance runs (by image id), the surge container, the router weights, the
release record, the QoS guard.
"""
from __future__ import annotations

import json
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import Background, Run, Traffic, image_digest_ref, manifest_digest, module, playbook
from tests.lab import lab as labmod

pytestmark = pytest.mark.lab

# deploy.yml with the rolling strategy; the lab's web tier shares the demo-app repository with app demo, so its
# release gate moves tags of its own (stable-kr-web), not demo's stable-kr
ROLLING = ("-e", "delivery_strategy=rolling", "-e", "release_gate_stable_tag=stable-kr-web",
           "-e", "release_gate_previous_tag=previous-stable-kr-web")
GOOD, BAD, REFUSED = "2026.12.0+11", "2026.12.1+12", "2026.12.2+13"
NEXT = "2026.12.3+14"
BASE_WEIGHTS = {"web1": 100, "web2": 100, "web3": 100, "surge": 0}


def docker(*args: str) -> str:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=True).stdout.strip()


@pytest.fixture(scope="module")
def images(lab) -> dict[str, str]:
    """The lab's image (what the tier runs after lab-up) and a second one with another digest (the release):
    the lab image committed with one more label and pushed to the lab registry."""
    base = labmod.image_tag(lab.ports["registry"])
    release_tag = base.rsplit(":", 1)[0] + ":rolling-e2e"
    container = docker("create", base)
    try:
        docker("commit", "--change", "LABEL progressive.delivery.e2e=rolling", container, release_tag)
    finally:
        docker("rm", container)
    docker("push", release_tag)
    registry, rest = release_tag.split("/", 1)
    repo, ref = rest.rsplit(":", 1)
    release = f"{registry}/{repo}@{manifest_digest(registry, repo, ref)}"
    old = image_digest_ref()
    assert release != old
    return {"old": old, "old_id": docker("image", "inspect", "-f", "{{.Id}}", base),
            "new": release, "new_id": docker("image", "inspect", "-f", "{{.Id}}", release_tag)}


def web_weights(lab_) -> dict[str, int]:
    result = module("progressive.delivery.canary_shift", {
        "router": "haproxy", "haproxy_socket": lab_.haproxy_socket, "backend": "web",
        "stable": list(labmod.WEB_INSTANCES), "canary": "surge", "weights": BASE_WEIGHTS}, check=True)
    return {name: int(weight) for name, weight in result["before"].items()}


def reset_web(lab_) -> None:
    """The tier as lab-up starts it: web1-3 on the lab's image and version, no surge container, weights 100/0."""
    ports = labmod.ports()
    docker("rm", "-f", labmod.container_name(labmod.WEB_SURGE))
    module("progressive.delivery.canary_shift", {
        "router": "haproxy", "haproxy_socket": lab_.haproxy_socket, "backend": "web",
        "haproxy_state_file": f"{lab_.dir}/haproxy/server-state", "stable": list(labmod.WEB_INSTANCES),
        "canary": "surge", "weights": BASE_WEIGHTS})
    for name in labmod.WEB_INSTANCES:
        info = labmod.docker_inspect(labmod.container_name(name))
        labels = (info or {}).get("Config", {}).get("Labels") or {}
        if not (info and info["State"].get("Running") and labels.get("progressive.delivery.lab") == "1"):
            labmod.start_app(name, ports[labmod.pool_key(name)], labmod.WEB_VERSION, pool=name)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # HAProxy's health checks see all three again
        seen = set()
        for _request in range(12):
            try:
                with urllib.request.urlopen(lab_.url("haproxy_web"), timeout=2) as resp:
                    seen.add(json.loads(resp.read())["pool"])
            except (urllib.error.URLError, OSError, ValueError):
                pass
        if seen == set(labmod.WEB_INSTANCES):
            return
        time.sleep(0.5)
    raise AssertionError(f"the web tier did not come back (answered: {seen})")


@pytest.fixture
def web(lab, images, tmp_path) -> Iterator[dict[str, Any]]:
    reset_web(lab)
    traffic = Traffic(lab.url("haproxy_web")).start()
    yield {"lab": lab, "state": tmp_path / "state", "traffic": traffic, **images}
    traffic.stop()


def rolling(web, version: str, *extra: str) -> Run:
    return playbook("deploy.yml", *ROLLING, "-e", "delivery_app=web", "-e", f"delivery_image={web['new']}",
                    "-e", f"delivery_version={version}", *extra, state_dir=web["state"])


def web_record(state_dir: Path) -> dict[str, Any]:
    return module("progressive.delivery.release_record",
                  {"environment": "lab-kr", "app": "web", "store_dir": str(state_dir)})


def instances() -> dict[str, dict[str, Any]]:
    """Every instance's container: image id, image reference, version answered, restart count."""
    out = {}
    for name in labmod.WEB_INSTANCES:
        info = labmod.docker_inspect(labmod.container_name(name))
        assert info is not None and info["State"]["Running"], f"{name} is not running"
        out[name] = {"id": info["Id"], "image_id": info["Image"], "image": info["Config"]["Image"],
                     "version": labmod.pool_status(name)["version"]}
    return out


def surge_container() -> dict | None:
    return labmod.docker_inspect(labmod.container_name(labmod.WEB_SURGE))


def guard(web, action: str, *extra: str) -> Run:
    return playbook("guard.yml", "-e", "delivery_app=web", "-e", f"guard_action={action}", *extra,
                    state_dir=web["state"])


def test_rolling_release_replaces_every_instance_with_no_failed_request(web):
    run = rolling(web, GOOD)
    web["traffic"].stop()
    assert run.rc == 0, run.output[-5000:]
    now = instances()
    assert {name: i["image_id"] for name, i in now.items()} == dict.fromkeys(labmod.WEB_INSTANCES, web["new_id"])
    assert {name: i["image"] for name, i in now.items()} == dict.fromkeys(labmod.WEB_INSTANCES, web["new"])
    assert {i["version"] for i in now.values()} == {GOOD}
    assert surge_container() is None
    assert web_weights(web["lab"]) == BASE_WEIGHTS
    rec = web_record(web["state"])
    last = rec["last"]
    assert last["outcome"] == "promoted" and last["strategy"] == "rolling" and last["version"] == GOOD
    assert [step["verdict"] for step in last["steps"]] == ["pass", "pass", "pass"]
    assert [step["weight"] for step in last["steps"]] == [33.3, 66.7, 100.0]
    assert rec["pools"][rec["stable_pool"]]["digest"] == "sha256:" + web["new"].split("@sha256:")[1]
    traffic = web["traffic"]
    assert traffic.failed() == 0, (traffic.answers, traffic.errors)
    # the old and the new version both served while the tier rolled
    assert traffic.by_version().get(GOOD, 0) > 0 and traffic.by_version().get(labmod.WEB_VERSION, 0) > 0


def test_rollback_of_a_rolling_tier_goes_back_to_the_records_other_revision(web):
    """The tier's first recorded release adopts what the lab's instances run as the stable revision; with no release
    in progress, rollback.yml takes every instance back to it, by the record's other revision (no rollback_to)."""
    assert rolling(web, NEXT).rc == 0
    assert {i["version"] for i in instances().values()} == {NEXT}
    rec = web_record(web["state"])
    adopted = {name: pool for name, pool in rec["pools"].items() if name != rec["stable_pool"]}
    assert [pool["version"] for pool in adopted.values()] == [labmod.WEB_VERSION], rec["pools"]
    assert next(iter(adopted.values()))["image"] == web["old"], rec["pools"]  # the lab's image, by digest
    back = playbook("rollback.yml", "-e", "delivery_strategy=rolling", "-e", "delivery_app=web",
                    "-e", "delivery_rollback_reason=e2e-previous", state_dir=web["state"])
    web["traffic"].stop()
    assert back.rc == 0, back.output[-5000:]
    now = instances()
    assert {i["version"] for i in now.values()} == {labmod.WEB_VERSION}
    assert {name: i["image_id"] for name, i in now.items()} == dict.fromkeys(labmod.WEB_INSTANCES, web["old_id"])
    assert surge_container() is None and web_weights(web["lab"]) == BASE_WEIGHTS
    rec = web_record(web["state"])
    assert rec["last"]["strategy"] == "rollback" and rec["last"]["version"] == labmod.WEB_VERSION
    assert rec["current"] is None
    traffic = web["traffic"]
    assert traffic.failed() == 0, (traffic.answers, traffic.errors)


def test_bad_rolling_release_is_rolled_back_after_the_first_batch(web):
    before = instances()
    run = rolling(web, BAD, "-e", json.dumps({"delivery_app_env": {"APP_ERROR_RATE": "0.3"}}))
    web["traffic"].stop()
    assert run.rc != 0, run.output[-5000:]
    assert "ROLLED BACK " + BAD in run.output and "error_ratio" in run.output
    now = instances()
    assert {name: i["image_id"] for name, i in now.items()} == dict.fromkeys(labmod.WEB_INSTANCES, web["old_id"])
    assert {i["version"] for i in now.values()} == {labmod.WEB_VERSION}
    # only the first batch was replaced, then put back: web2 and web3 were never touched
    assert now["web1"]["id"] != before["web1"]["id"]
    untouched = ("web2", "web3")
    assert {name: now[name]["id"] for name in untouched} == {name: before[name]["id"] for name in untouched}
    env = labmod.env_dict(labmod.docker_inspect(labmod.container_name("web1"))["Config"]["Env"])
    assert env["APP_ERROR_RATE"] == "0.0"  # the previous release's environment, not the bad one's
    assert surge_container() is None
    assert web_weights(web["lab"]) == BASE_WEIGHTS
    rec = web_record(web["state"])
    assert rec["current"] is None
    last = rec["last"]
    assert last["outcome"] == "rolled_back" and last["strategy"] == "rolling" and last["version"] == BAD
    assert [step["verdict"] for step in last["steps"]] == ["fail"]
    assert "error_ratio" in json.dumps(last["steps"][0]["analysis"]["failing"])
    traffic = web["traffic"]
    assert traffic.failed(except_version=BAD) == 0, (traffic.answers, traffic.errors)
    assert traffic.answers.get((BAD, 500), 0) > 0  # the bad release was real
    status = guard(web, "status")
    assert status.rc == 0 and "LOCKED" in status.stdout, status.output[-3000:]
    unlock = guard(web, "unlock", "-e", "guard_reason=e2e-rolling")
    assert unlock.rc == 0, unlock.output[-3000:]
    assert "LOCKED" not in guard(web, "status").stdout


def test_max_unavailable_other_than_0_is_refused_and_changes_nothing(web):
    before = instances()
    run = rolling(web, REFUSED, "-e", "delivery_rolling_max_unavailable=1")
    assert run.rc != 0
    assert "rolling_max_unavailable" in run.output and "must be 0, got 1" in run.output, run.output[-3000:]
    assert instances() == before
    assert surge_container() is None
    assert web_weights(web["lab"]) == BASE_WEIGHTS
    rec = web_record(web["state"])
    assert rec["current"] is None and rec["last"] is None
    assert web["traffic"].failed() == 0


def killed_mid_rolling(web) -> dict[str, dict[str, Any]]:
    """deploy.yml (rolling, GOOD) started, SIGKILLed (its whole process group) once batch 2 replaces web2:
    web1 is on the release, web2 in the middle of its replacement. Returns the instances before the kill."""
    before = instances()
    run = Background("deploy.yml", *ROLLING, "-e", "delivery_app=web", "-e", f"delivery_image={web['new']}",
                     "-e", f"delivery_version={GOOD}", state_dir=web["state"])
    try:
        run.wait_for("Replace | run in the surge slot web2", timeout=240)
        run.kill_group()
    finally:
        run.stop()
    assert run.proc.returncode == -signal.SIGKILL
    rec = web_record(web["state"])
    assert rec["current"]["version"] == GOOD and [step["index"] for step in rec["current"]["steps"]] == [1]
    return before


def test_kill_9_mid_rolling_then_rollback_puts_every_instance_back(web):
    killed_mid_rolling(web)
    run = playbook("rollback.yml", "-e", "delivery_strategy=rolling", "-e", "delivery_app=web",
                   "-e", f"delivery_rollback_to={web['old']}", "-e", f"delivery_rollback_version={labmod.WEB_VERSION}",
                   "-e", "delivery_rollback_reason=e2e kill -9 mid-rolling", state_dir=web["state"])
    web["traffic"].stop()
    assert run.rc == 0, run.output[-5000:]
    assert "rollback of web in lab-kr to " + labmod.WEB_VERSION in run.stdout
    now = instances()
    assert {name: i["image_id"] for name, i in now.items()} == dict.fromkeys(labmod.WEB_INSTANCES, web["old_id"])
    assert {i["version"] for i in now.values()} == {labmod.WEB_VERSION}
    assert surge_container() is None
    assert web_weights(web["lab"]) == BASE_WEIGHTS
    rec = web_record(web["state"])
    assert rec["current"] is None
    history = rec["record"]["history"]
    # the killed release taken over (aborted), then the rollback, finished
    assert [(entry["version"], entry["outcome"]) for entry in history] == [
        (GOOD, "aborted"), (labmod.WEB_VERSION, "promoted")], history
    assert history[-1]["strategy"] == "rollback"
    assert rec["pools"][rec["stable_pool"]]["digest"] == "sha256:" + web["old"].split("@sha256:")[1]
    status = guard(web, "status")
    assert status.rc == 0 and "LOCKED" in status.stdout, status.output[-3000:]
    screen = tier_status(web)
    assert "state: ROLLED_BACK" in screen, screen
    assert all(f"instance {name} answers version {labmod.WEB_VERSION}" in screen for name in labmod.WEB_INSTANCES)
    traffic = web["traffic"]
    assert traffic.failed() == 0, (traffic.answers, traffic.errors)


def tier_status(web) -> str:
    run = playbook("status.yml", "-e", "delivery_strategy=rolling", "-e", "delivery_app=web", state_dir=web["state"])
    assert run.rc == 0, run.output[-3000:]
    return run.stdout


def test_kill_9_mid_rolling_then_rerun_continues(web):
    killed_mid_rolling(web)
    web1 = instances()["web1"]
    assert web1["image_id"] == web["new_id"]  # replaced before the kill
    run = rolling(web, GOOD)
    web["traffic"].stop()
    assert run.rc == 0, run.output[-5000:]
    assert "resuming rolling release" in run.stdout
    now = instances()
    assert now["web1"]["id"] == web1["id"], "web1 was replaced again"
    assert {name: i["image_id"] for name, i in now.items()} == dict.fromkeys(labmod.WEB_INSTANCES, web["new_id"])
    assert {i["version"] for i in now.values()} == {GOOD}
    assert surge_container() is None
    assert web_weights(web["lab"]) == BASE_WEIGHTS
    rec = web_record(web["state"])
    assert rec["current"] is None and rec["last"]["outcome"] == "promoted" and rec["last"]["version"] == GOOD
    screen = tier_status(web)
    assert "state: HEALTHY" in screen and '"surge": 0' in screen.replace("\\", ""), screen
    traffic = web["traffic"]
    assert traffic.failed() == 0, (traffic.answers, traffic.errors)
