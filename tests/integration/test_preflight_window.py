# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The preflight role against inventories/lab: deploy windows and freezes, the override and its record, and the
image resolved by image_promote state=resolved.

Each run is a real ``ansible-playbook -i inventories/lab`` of the preflight role (its image is the lab registry's
demo image, resolved by tag) followed by the canary role's own "Record the release as started" task, read from
roles/canary/tasks/main.yml, and the lock release of playbooks/deploy.yml. The state store is a temporary
directory (``-e delivery_state_dir``), so the lab's own record and lock are never touched, and the windows and
freezes are set around the current time with ``-e``.
"""
from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from ansible_collections.progressive.delivery.plugins.module_utils._state_store import StateStore

from tests.integration.test_collection import ROOT, ansible

pytestmark = pytest.mark.lab

UTC = datetime.timezone.utc  # noqa: UP017
VERSION = "2026.11.3+92"
REASON = "hotfix INC-4242, approved by the on-call lead"


def canary_record_task() -> dict[str, Any]:
    """The canary role's task that starts the release in the record, as the role has it."""
    tasks = yaml.safe_load((ROOT / "roles" / "canary" / "tasks" / "main.yml").read_text(encoding="utf-8"))
    (task,) = [task for task in tasks if task.get("name") == "Record the release as started"]
    return task


def playbook(tmp_path: Path) -> Path:
    record = canary_record_task()
    record["vars"] = {
        "canary_environment": "{{ delivery_environment_name }}", "canary_app": "{{ delivery_app }}",
        "canary_state_dir": "{{ delivery_state_dir }}", "delivery_candidate_pool": "green",
        "_canary_id": "{{ delivery_version }}@window-test", "canary_version": "{{ delivery_version }}",
        "canary_image": "{{ delivery_image_digest_ref }}", "canary_git_sha": "4f2a9c1", "canary_strategy": "canary",
        "canary_steps": [{"weight": 100, "observe": "1s"}], "_canary_stable": "blue", "canary_slis": []}
    play = [{"name": "Preflight, then the release starts in the record", "hosts": "delivery_controller",
             "gather_facts": False, "tasks": [
                 {"name": "Preflight", "ansible.builtin.include_role": {"name": "progressive.delivery.preflight"}},
                 record,
                 {"name": "Release the deployment lock", "progressive.delivery.deploy_lock": {
                     "name": "{{ delivery_environment_name }}/{{ delivery_app }}", "state": "released",
                     "owner": "{{ preflight_lock_result.after.owner }}", "store_dir": "{{ delivery_state_dir }}"}},
             ]}]
    path = tmp_path / "preflight.yml"
    path.write_text(json.dumps(play, indent=1), encoding="utf-8")
    return path


def around_now(minutes: int = 60) -> tuple[datetime.datetime, datetime.datetime]:
    now = datetime.datetime.now(UTC).replace(microsecond=0)
    return now - datetime.timedelta(minutes=minutes), now + datetime.timedelta(minutes=minutes)


def freeze_now() -> list[dict[str, str]]:
    start, end = around_now()
    seoul = datetime.timezone(datetime.timedelta(hours=9))
    return [{"name": "change-freeze", "start": start.astimezone(seoul).isoformat(),
             "end": end.astimezone(seoul).isoformat(), "reason": "integration test freeze"}]


def window_now() -> list[dict[str, str]]:
    start, end = around_now()
    return [{"name": "test-night", "start": f"{start:%H:%M}", "end": f"{end:%H:%M}", "timezone": "UTC"}]


def run(tmp_path: Path, image: str, *args: str, **extra: Any):
    store = tmp_path / "store"
    variables = {"delivery_image": image, "delivery_version": VERSION, "delivery_state_dir": str(store),
                 "delivery_blackout_windows": [], "delivery_freezes": [], **extra}
    out = ansible("ansible-playbook", "-i", "inventories/lab", str(playbook(tmp_path)), "-e", json.dumps(variables),
                  *args)
    return out, store


def nothing_written(store: Path) -> bool:
    return not store.exists() or not any(store.rglob("*.json"))


def test_a_deploy_inside_a_freeze_is_refused_and_nothing_is_locked_or_recorded(lab, tmp_path):
    out, store = run(tmp_path, lab.image, delivery_freezes=freeze_now())
    text = out.stdout + out.stderr
    assert out.returncode != 0, text
    assert "deploy refused: freeze 'change-freeze'" in text and "(integration test freeze)" in text, text
    end = datetime.datetime.fromisoformat(freeze_now()[0]["end"])
    assert f"= {end.astimezone(UTC):%Y-%m-%d %H:%M} UTC" in text  # when it ends, in UTC too
    assert f"until {end:%Y-%m-%d %H:%M} +09:00" in text             # and in the freeze's own offset
    assert "delivery_window_override_reason" in text and "Nothing was locked or changed" in text
    assert nothing_written(store)
    assert "Take the deployment lock" not in out.stdout


def test_check_mode_says_the_deploy_would_be_refused(lab, tmp_path):
    out, store = run(tmp_path, lab.image, "--check", delivery_blackout_windows=window_now())
    text = out.stdout + out.stderr
    assert out.returncode != 0 and "deploy refused: blackout window 'test-night'" in text, text
    assert nothing_written(store)


def test_the_override_flag_alone_is_refused(lab, tmp_path):
    out, store = run(tmp_path, lab.image, delivery_freezes=freeze_now(), delivery_window_override=True)
    text = out.stdout + out.stderr
    assert out.returncode != 0 and "delivery_window_override=true needs delivery_window_override_reason" in text, text
    assert "Nothing was locked or changed" in text
    assert nothing_written(store)


def test_an_override_with_a_reason_goes_ahead_and_lands_in_the_record(lab, tmp_path):
    out, store = run(tmp_path, lab.image, delivery_freezes=freeze_now(), delivery_blackout_windows=window_now(),
                     delivery_window_override_reason=REASON)
    text = out.stdout + out.stderr
    assert out.returncode == 0, text
    assert f"overridden: {REASON}" in out.stdout
    record = StateStore(str(store), "release").read("lab-kr/demo")
    release = record["current"]
    override = release["override"]
    assert override["reason"] == REASON
    assert sorted(item["name"] for item in override["windows"]) == ["change-freeze", "test-night"]
    assert {item["kind"] for item in override["windows"]} == {"freeze", "window"}
    assert override["by"] == release["started_by"] and "@" in override["by"]  # who: user@host (and the CI job)
    assert release["image"].startswith(lab.image.rsplit(":", 1)[0] + "@sha256:")  # the tag was resolved
    assert StateStore(str(store), "lock").read("lab-kr/demo") is None  # the lock was taken and released


def test_no_window_no_override_recorded(lab, tmp_path):
    out, store = run(tmp_path, lab.image, delivery_window_override_reason=REASON)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "is not needed" in out.stdout
    assert StateStore(str(store), "release").read("lab-kr/demo")["current"]["override"] is None


def test_a_tag_that_does_not_resolve_is_refused_before_the_lock(lab, tmp_path):
    missing = lab.image.rsplit(":", 1)[0] + ":no-such-tag"
    out, store = run(tmp_path, missing)
    text = out.stdout + out.stderr
    assert out.returncode != 0, text
    assert f"delivery_image {missing} does not resolve to a digest" in text and "was not found" in text, text
    assert nothing_written(store)


def test_the_canary_role_passes_the_override_to_the_record():
    release = canary_record_task()["progressive.delivery.release_record"]["release"]
    assert release["override"] == "{{ preflight_release_override | default(none) }}"
