# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The lab's second region (seed 000: KR -> JP): deploy.yml with inventories/lab-jp, a blue-green switch on nginx
(reload mode, upstream demo_jp) while requests go through nginx's JP listener; KR is left alone.
"""
from __future__ import annotations

import json
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from tests.e2e.conftest import (
    JP_INVENTORY,
    haproxy_weights,
    image_digest_ref,
    jp_nginx_weights,
    manifest_digest,
    module,
    playbook,
)
from tests.lab import lab as labmod

pytestmark = pytest.mark.lab

V2 = "2026.12.9+29"  # a version no KR test deploys: KR must never see it (Prometheus keeps all series)


def jp_record(state_dir: Path) -> dict:
    return module("progressive.delivery.release_record",
                  {"environment": "lab-jp", "app": "demo", "store_dir": str(state_dir)})


def prom_sum(lab_, selector: str) -> float:
    query = urllib.parse.urlencode({"query": f"sum({selector}) or vector(0)"})
    with urllib.request.urlopen(f"{lab_.url('prometheus')}/api/v1/query?{query}", timeout=5) as resp:
        return float(json.loads(resp.read())["data"]["result"][0]["value"][1])


def kr_snapshot(lab_) -> dict:
    """What KR is: its pool containers (by id, with what they answer), HAProxy's weights and nginx's demo upstream."""
    pools = {pool: labmod.pool_status(pool) for pool in ("blue", "green")}
    return {"pools": {pool: (ps["id"], ps["running"], ps["version"]) for pool, ps in pools.items()},
            "haproxy": haproxy_weights(lab_),
            "nginx": Path(lab_.dir, "nginx", "upstreams", "demo.conf").read_text()}


def test_blue_green_release_to_jp_switches_nginx_without_a_failed_request_and_leaves_kr_alone(env_jp):
    lab_ = env_jp["lab"]
    assert image_digest_ref() == env_jp["image"]
    kr_before = kr_snapshot(lab_)
    assert all(running for _id, running, _version in kr_before["pools"].values())
    assert jp_nginx_weights(lab_) == {"blue": 1, "green": 1}
    run = playbook("deploy.yml", "-e", f"delivery_image={env_jp['image']}", "-e", f"delivery_version={V2}",
                   state_dir=env_jp["state"], inventory=JP_INVENTORY)
    assert run.rc == 0, run.output[-4000:]
    assert "blue_green release" in run.stdout and "in lab-jp" in run.stdout
    assert "candidate pool green" in run.stdout
    # promoted: the record of lab-jp, green the stable pool with the release
    rec = jp_record(env_jp["state"])
    assert rec["stable_pool"] == "green" and rec["current"] is None
    last = rec["last"]
    assert (last["outcome"], last["version"], last["strategy"]) == ("promoted", V2, "blue_green")
    assert [step["weight"] for step in last["steps"]] == [100]
    assert all(step["verdict"] == "pass" for step in last["steps"])
    assert rec["pools"]["green"]["version"] == V2
    # the JP pool runs the release (a new container of the JP name), nginx sends every request to it
    green = labmod.pool_status("green-jp")
    assert green["running"] and green["version"] == V2 and green["version_label"] == V2
    assert jp_nginx_weights(lab_) == {"blue": 0, "green": 1}
    registry, repo = env_jp["image"].split("@")[0].split("/", 1)
    assert manifest_digest(registry, repo, "stable-jp") == env_jp["image"].split("@")[1]
    # the JP requests: the old release, then the new one, and none failed (nginx reload mode)
    env_jp["traffic"].stop()
    seen = env_jp["traffic"].by_version()
    assert seen.get(V2, 0) > 0 and seen.get(labmod.BLUE_VERSION, 0) > 0, seen
    assert env_jp["traffic"].failed() == 0, env_jp["traffic"].answers
    # the analysis selected JP's green by its region label: the release's requests are in Prometheus as jp only
    assert prom_sum(lab_, f'http_requests_total{{job="demo",region="jp",pool="green",version="{V2}"}}') > 0
    assert prom_sum(lab_, f'http_requests_total{{job="demo",region="kr",version="{V2}"}}') == 0
    # KR is untouched: the same containers answering the same versions, HAProxy's and nginx's demo weights
    assert kr_snapshot(lab_) == kr_before
    assert jp_record(env_jp["state"])["last"]["version"] == V2
    kr = module("progressive.delivery.release_record",
                {"environment": "lab-kr", "app": "demo", "store_dir": str(env_jp["state"])})
    assert kr["last"] is None  # the same state directory, another environment's record
