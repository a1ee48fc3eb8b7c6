# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Seed 000's hotfix flow with playbooks/release.yml: KR canary 5 -> 25 -> 100, then the same digest to JP by
blue-green, both stable-* tags on one digest; then a 2 %-error release stopped in KR (rolled back to the previous
stable) while JP is never touched. Requests go through HAProxy (KR) and nginx's JP listener the whole time."""
from __future__ import annotations

import re

import pytest

from tests.e2e import test_rolling
from tests.e2e.conftest import ROOT, haproxy_weights, jp_nginx_weights, manifest_digest, module, playbook
from tests.lab import lab as labmod

pytestmark = pytest.mark.lab

images, web = test_rolling.images, test_rolling.web  # the web tier reset, traffic through it (pytest fixtures)
RELEASE_INVENTORY = ROOT / "inventories" / "release"  # release.yml's own: only the controller

V_GOOD, V_BAD, V_STAGED = "2026.12.20+40", "2026.12.21+41", "2026.12.22+42"
SHORT_STEPS = '[{"weight": 50, "observe": "4s"}, {"weight": 100, "observe": "2s"}]'
HOTFIX_STEPS = '[{"weight": 5, "observe": "8s"}, {"weight": 25, "observe": "6s"}, {"weight": 100, "observe": "4s"}]'


def release(env, version: str, *extra: str):
    return playbook("release.yml", "-e", f"delivery_image={env['image']}", "-e", f"delivery_version={version}",
                    "-e", '{"delivery_release_environments": ["lab", "lab-jp"]}',
                    "-e", f'{{"delivery_canary_steps": {HOTFIX_STEPS}}}', *extra, state_dir=env["state"],
                    inventory=RELEASE_INVENTORY)


def records(state) -> dict[str, dict]:
    return {name: module("progressive.delivery.release_record",
                         {"environment": name, "app": "demo", "store_dir": str(state)})
            for name in ("lab-kr", "lab-jp")}


def test_seed_000_hotfix_kr_canary_then_jp_blue_green_then_a_bad_release_stops_in_kr(env, env_jp):
    lab_ = env["lab"]
    registry, repo = env["image"].split("@")[0].split("/", 1)
    digest = env["image"].split("@")[1]

    # 1. the good release: KR by canary 5 -> 25 -> 100, then JP by blue-green, one digest
    run = release(env, V_GOOD)
    assert run.rc == 0, run.output[-6000:]
    assert "to lab -> lab-jp" in run.stdout
    recs = records(env["state"])
    kr, jp = recs["lab-kr"]["last"], recs["lab-jp"]["last"]
    assert (kr["outcome"], kr["version"], kr["strategy"]) == ("promoted", V_GOOD, "canary")
    assert [step["weight"] for step in kr["steps"]] == [5, 25, 100]
    assert (jp["outcome"], jp["version"], jp["strategy"]) == ("promoted", V_GOOD, "blue_green")
    assert kr["digest"] == jp["digest"] == digest
    assert kr["ended_at"] <= jp["started_at"]  # KR's release gate passed before JP started
    assert manifest_digest(registry, repo, "stable-kr") == digest
    assert manifest_digest(registry, repo, "stable-jp") == digest
    kr_weights = haproxy_weights(lab_)
    assert kr_weights[recs["lab-kr"]["stable_pool"]] == sum(kr_weights.values()) > 0
    assert jp_nginx_weights(lab_)[recs["lab-jp"]["stable_pool"]] == 1
    assert env["traffic"].by_version().get(V_GOOD, 0) > 0 and env_jp["traffic"].by_version().get(V_GOOD, 0) > 0
    assert env["traffic"].failed() == 0, env["traffic"].answers
    assert env_jp["traffic"].failed() == 0, env_jp["traffic"].answers
    jp_pool = recs["lab-jp"]["stable_pool"]
    jp_container = labmod.pool_status(f"{jp_pool}-jp")
    assert jp_container["version"] == V_GOOD

    # 2. a hotfix that answers 2 % of its requests with 500: rolled back in KR, JP never touched
    run = release(env, V_BAD, "-e", '{"delivery_app_env": {"APP_ERROR_RATE": "0.02"}}')
    assert run.rc != 0
    assert "ROLLED BACK" in run.output and "lab-kr" in run.output, run.output[-5000:]
    recs_after = records(env["state"])
    kr_bad = recs_after["lab-kr"]["last"]
    assert (kr_bad["outcome"], kr_bad["version"]) == ("rolled_back", V_BAD)
    assert recs_after["lab-kr"]["stable_pool"] == recs["lab-kr"]["stable_pool"]  # the previous stable serves
    assert haproxy_weights(lab_)[recs["lab-kr"]["stable_pool"]] == sum(haproxy_weights(lab_).values())
    assert recs_after["lab-jp"]["record"]["history"] == recs["lab-jp"]["record"]["history"]
    assert recs_after["lab-jp"]["current"] is None
    assert recs_after["lab-jp"]["last"]["version"] == V_GOOD
    assert labmod.pool_status(f"{jp_pool}-jp")["id"] == jp_container["id"]  # the same JP container, untouched
    assert manifest_digest(registry, repo, "stable-kr") == digest  # the tags never moved
    assert manifest_digest(registry, repo, "stable-jp") == digest
    assert "Release to lab-jp" not in run.stdout
    # only the bad release's own 500s failed, in KR; JP answered everything
    assert env["traffic"].failed(except_version=V_BAD) == 0, env["traffic"].answers
    assert env_jp["traffic"].by_version().get(V_BAD, 0) == 0
    assert env_jp["traffic"].failed() == 0, env_jp["traffic"].answers
    guard = playbook("guard.yml", "-e", "guard_action=unlock", "-e", "guard_reason=e2e-cleanup", state_dir=env["state"])
    assert guard.rc == 0, guard.output[-2000:]


def test_release_refuses_an_unknown_environment_and_changes_nothing(env):
    run = playbook("release.yml", "-e", f"delivery_image={env['image']}", "-e", f"delivery_version={V_GOOD}",
                   "-e", '{"delivery_release_environments": ["lab", "prod-mars"]}', state_dir=env["state"],
                   inventory=RELEASE_INVENTORY)
    assert run.rc != 0
    assert "delivery_release_environments" in run.output and "missing: prod-mars" in run.output
    assert records(env["state"])["lab-kr"]["last"] is None


def test_release_check_mode_prints_both_plans_and_changes_nothing(env):
    before = haproxy_weights(env["lab"])
    # the environments as `make release ENVS=lab,lab-jp` gives them
    run = playbook("release.yml", "--check", "-e", f"delivery_image={env['image']}",
                   "-e", f"delivery_version={V_GOOD}", "-e", "delivery_release_environments=lab,lab-jp",
                   state_dir=env["state"], inventory=RELEASE_INVENTORY)
    assert run.rc == 0, run.output[-4000:]
    assert "to lab -> lab-jp" in run.stdout
    assert "canary release" in run.stdout and "blue_green release" in run.stdout
    assert haproxy_weights(env["lab"]) == before
    assert all(rec["last"] is None and rec["current"] is None for rec in records(env["state"]).values())


def test_staging_by_rolling_then_production_takes_only_what_passed_staging(env, web):
    """release.yml from staging to production (seed 001's tags, seed 000's order): lab-stg (the web tier, by a
    rolling update) ends with smoke tests and the `staging` tag, never stable-kr; lab (KR) requires that digest."""
    registry, repo = env["image"].split("@")[0].split("/", 1)
    digest = env["image"].split("@")[1]
    run = playbook("release.yml", "-e", f"delivery_image={env['image']}", "-e", f"delivery_version={V_STAGED}",
                   "-e", "delivery_release_environments=lab-stg,lab", "-e", "delivery_require_staging=true",
                   "-e", f'{{"delivery_canary_steps": {SHORT_STEPS}}}', state_dir=env["state"],
                   inventory=RELEASE_INVENTORY)
    assert run.rc == 0, run.output[-6000:]
    assert "to lab-stg -> lab" in run.stdout
    stg = module("progressive.delivery.release_record",
                 {"environment": "lab-stg-kr", "app": "web", "store_dir": str(env["state"])})["last"]
    assert (stg["outcome"], stg["version"], stg["strategy"]) == ("promoted", V_STAGED, "rolling")
    assert "Every smoke request was answered by the release" in run.stdout
    assert manifest_digest(registry, repo, "staging") == digest
    kr = records(env["state"])["lab-kr"]["last"]
    assert (kr["outcome"], kr["version"], kr["strategy"]) == ("promoted", V_STAGED, "canary")
    assert stg["ended_at"] <= kr["started_at"]
    assert manifest_digest(registry, repo, "stable-kr") == digest  # moved by production only
    staging_part = run.stdout.split("TASK [Release to lab]")[0]
    assert re.search(r"Tag the release as stable-kr\] \**\nskipping", staging_part)  # staging never moves it
    assert web["traffic"].by_version().get(V_STAGED, 0) > 0 and env["traffic"].by_version().get(V_STAGED, 0) > 0
    assert web["traffic"].failed() == 0, web["traffic"].answers
    assert env["traffic"].failed() == 0, env["traffic"].answers
