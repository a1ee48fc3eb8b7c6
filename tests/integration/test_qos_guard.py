# -*- coding: utf-8 -*-
# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""progressive.delivery.qos_guard through real ansible-playbook runs; ``evaluate`` against the lab's Prometheus.

``evaluate`` judges a healthy and a broken demo app (30 % injected 5xx), scraped by the lab Prometheus and
driven by steady traffic, after a 2 s guard window: the healthy guard unlocks, the broken one is extended, a
guard whose indicator has no data stays locked.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from ansible_collections.progressive.delivery.plugins.module_utils._state_store import StateStore

from tests.integration.prom_helpers import DemoApps, Traffic, run_playbook

MODULE = "progressive.delivery.qos_guard"


def guard(task: str, store_dir: str, name: str = "prod-kr/app", **options) -> dict:
    return {"name": task, MODULE: {"name": name, "store_dir": store_dir, **options}}


def error_rate(pool: str, window: str = "5s") -> str:
    return (f'(sum(rate(http_requests_total{{pool="{pool}",path="/",code=~"5.."}}[{window}])) or vector(0))'
            f' / sum(rate(http_requests_total{{pool="{pool}",path="/"}}[{window}]))')


# --------------------------------------------------------------------------------------------------
# lock / enforce / extend / unlock
# --------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def lifecycle(tmp_path_factory):
    store_dir = str(tmp_path_factory.mktemp("guard-store"))
    run = run_playbook([
        {**guard("check_lock", store_dir, state="locked", duration="1h", reason="dry run"), "check_mode": True},
        guard("query_empty", store_dir),
        {**guard("lock", store_dir, state="locked", duration="1h", reason="rollback of 2026.11.1+2",
                 owner="sre-kim"), "diff": True},
        guard("enforce_locked", store_dir, state="enforce"),
        guard("extend", store_dir, state="locked", duration="2h", reason="still flapping", owner="sre-lee"),
        guard("shorter", store_dir, state="locked", duration="1m", reason="shorter window"),
        guard("unlock_no_reason", store_dir, state="unlocked"),
        guard("unlock_blank_reason", store_dir, state="unlocked", reason="   "),
        guard("unlock", store_dir, state="unlocked", reason="INC-42 fixed, approved by on-call", owner="sre-park"),
        guard("enforce_unlocked", store_dir, state="enforce"),
        guard("unlock_again", store_dir, state="unlocked", reason="again"),
        guard("lock_short", store_dir, state="locked", duration="1s", reason="second rollback"),
        {"name": "let the window pass", "ansible.builtin.wait_for": {"timeout": 2}},
        guard("enforce_expired", store_dir, state="enforce"),
        guard("query", store_dir),
        guard("bad_duration", store_dir, state="locked", duration="5 minutes", reason="x"),
        {**guard("relock_diff", store_dir, state="locked", duration="1h", reason="third rollback"), "diff": True},
        guard("bad_slis", store_dir, state="evaluate", prometheus_url="http://127.0.0.1:1",
              slis=[{"name": "errors", "query": "up"}]),
    ])
    return run


def diff_of(result: dict) -> dict:
    return result["diff"][0] if isinstance(result["diff"], list) else result["diff"]


def test_check_mode_changes_nothing(lifecycle):
    check = lifecycle["check_lock"]
    assert check["changed"] is True and check["decision"] == "locked"
    assert check["before"] is None and check["after"]["status"] == "locked" and "diff" not in check
    empty = lifecycle["query_empty"]
    assert empty["changed"] is False and empty["before"] is None and empty["after"] is None
    assert empty["guard"]["status"] == "unlocked" and empty["history"] == []  # deprecated alias, never null


def test_lock_records_who_why_and_until(lifecycle):
    result = lifecycle["lock"]
    assert result["changed"] is True and result["decision"] == "locked"
    view = result["after"]
    assert result["before"] is None and result["guard"] == view  # deprecated alias
    assert view["status"] == "locked" and view["active"] is True and view["locked_by"] == "sre-kim"
    assert view["reason"] == "rollback of 2026.11.1+2" and view["duration"] == 3600
    assert 3590 < view["remaining_seconds"] <= 3600
    assert result["state_file"].endswith("/guard/prod-kr%2Fapp.json")
    diff = diff_of(result)
    assert diff["before"] == {} and diff["after"] == view and diff["after_header"] == result["state_file"]


def test_diff_only_in_diff_mode(lifecycle):
    for task in ("extend", "shorter", "unlock", "query", "enforce_unlocked"):
        assert "diff" not in lifecycle[task], task
    relock = lifecycle["relock_diff"]
    assert relock["decision"] == "extended" and relock["before"]["status"] == "expired"
    assert relock["after"]["status"] == "locked" and relock["after"]["reason"] == "third rollback"
    assert diff_of(relock)["before"] == relock["before"] and diff_of(relock)["after"] == relock["after"]


def test_enforce_fails_with_reason_remaining_time_and_owner(lifecycle):
    result = lifecycle["enforce_locked"]
    assert result["failed"] is True and result["decision"] == "blocked" and result["changed"] is False
    assert result["before"] == result["after"] and result["after"]["locked_by"] == "sre-kim"
    assert "option" not in result  # an active guard is no option's fault
    message = result["msg"]
    assert "qos_guard 'prod-kr/app' is active" in message
    assert "rollback of 2026.11.1+2" in message and "'sre-kim'" in message
    assert re.search(r"(59m\d\ds|1h00m00s) remaining \(until 20", message), message


def test_locking_again_extends_and_never_shortens(lifecycle):
    extend, shorter = lifecycle["extend"], lifecycle["shorter"]
    assert extend["changed"] is True and extend["decision"] == "extended"
    assert extend["before"]["until"] == lifecycle["lock"]["after"]["until"]
    assert extend["after"]["until"] > lifecycle["lock"]["after"]["until"]
    assert extend["after"]["locked_at"] == lifecycle["lock"]["after"]["locked_at"]
    assert extend["after"]["locked_by"] == "sre-lee" and extend["after"]["reason"] == "still flapping"
    assert shorter["changed"] is False and shorter["decision"] == "none"
    assert shorter["after"]["until"] == extend["after"]["until"] and shorter["before"] == shorter["after"]


def test_unlock_needs_a_reason_and_is_recorded(lifecycle):
    assert lifecycle["unlock_no_reason"]["failed"] is True
    assert "reason" in lifecycle["unlock_no_reason"]["msg"]
    blank = lifecycle["unlock_blank_reason"]
    assert blank["failed"] is True and blank["option"] == "reason" and "must not be empty" in blank["msg"]
    unlock = lifecycle["unlock"]
    assert unlock["changed"] is True and unlock["after"]["status"] == "unlocked"
    assert unlock["before"]["status"] == "locked"
    assert unlock["after"]["unlocked_by"] == "sre-park"
    assert unlock["after"]["unlock_reason"] == "INC-42 fixed, approved by on-call"
    assert not lifecycle["enforce_unlocked"].get("failed") and lifecycle["enforce_unlocked"]["decision"] == "allowed"
    assert lifecycle["unlock_again"]["changed"] is False


def test_an_expired_but_uncleared_guard_still_blocks(lifecycle):
    result = lifecycle["enforce_expired"]
    assert result["failed"] is True and result["after"]["status"] == "expired"
    assert "window ended" in result["msg"] and "never evaluated" in result["msg"]
    assert "state=evaluate" in result["msg"] and "second rollback" in result["msg"]


def test_query_returns_the_history(lifecycle):
    history = lifecycle["query"]["history"]
    assert [event["event"] for event in history] == ["locked", "extended", "unlocked", "locked"]
    assert history[2]["by"] == "sre-park" and history[2]["reason"].startswith("INC-42")
    assert lifecycle["query"]["changed"] is False


def test_bad_duration_names_the_option(lifecycle):
    result = lifecycle["bad_duration"]
    assert result["failed"] is True and result["msg"].startswith("option duration: not a duration")
    assert result["option"] == "duration"
    bad_slis = lifecycle["bad_slis"]  # checked before the guard is read or Prometheus is asked
    assert bad_slis["failed"] is True and bad_slis["option"] == "slis" and "errors" in bad_slis["msg"]


def test_a_truncated_state_file_is_a_clear_error(tmp_path):
    store = StateStore(str(tmp_path), "guard")
    store.write("prod-kr/app", {"locked": True, "until": "2026-01-01T00:00:00.000Z"})
    path = Path(store.path("prod-kr/app"))
    path.write_text(path.read_text()[:60])
    run = run_playbook([guard("query", str(tmp_path)), guard("enforce", str(tmp_path), state="enforce"),
                        guard("lock", str(tmp_path), state="locked", duration="5m", reason="x")])
    for task in ("query", "enforce", "lock"):
        assert run[task]["failed"] is True and run[task]["state_file"] == str(path) and "option" not in run[task]
        assert f"state file {path} is corrupt" in run[task]["msg"] and "not valid JSON" in run[task]["msg"]
    assert path.read_text().startswith("{") and len(path.read_text()) == 60  # not replaced


# --------------------------------------------------------------------------------------------------
# evaluate against real Prometheus
# --------------------------------------------------------------------------------------------------
@pytest.mark.lab
def test_evaluate_unlocks_healthy_extends_broken_and_keeps_no_data(lab, tmp_path):
    store_dir, url = str(tmp_path), lab.url("prometheus")
    apps, traffic = DemoApps(lab.dir, prefix="qos"), Traffic()
    try:
        started = apps.start({"healthy": {"version": "2026.11.0+1"},
                              "broken": {"version": "2026.11.1+2", "error_rate": 0.3}})
        apps.wait_scraped(url)
        for app in started.values():
            traffic.add(app.url, rate=20)
        traffic.start()

        def evaluate(task: str, key: str, **options) -> dict:
            pool = started[key].pool if key in started else f"{apps.token}-{key}"
            slis = [{"name": "error_rate", "query": error_rate(pool), "max": 0.01, "critical": True}]
            return guard(task, store_dir, name=f"prod-kr/{key}", state="evaluate", prometheus_url=url, slis=slis,
                         **options)

        locks = [guard(f"lock_{key}", store_dir, name=f"prod-kr/{key}", state="locked", duration="2s",
                       reason=f"rollback of {key}") for key in ("healthy", "broken", "missing")]
        locks.append(guard("lock_later", store_dir, name="prod-kr/later", state="locked", duration="1h",
                           reason="window still running"))
        early = run_playbook([*locks, evaluate("early", "later")])
        assert early["early"]["decision"] == "waiting" and early["early"]["evaluation"] is None
        assert early["early"]["changed"] is False and early["early"]["after"]["remaining_seconds"] > 3500
        assert early["early"]["before"] == early["early"]["after"]

        traffic.wait_until_elapsed(8)  # 5 s rate windows full of data; the 2 s windows have passed
        run = run_playbook([
            evaluate("healthy", "healthy"),
            {**evaluate("broken_check", "broken", duration="1h"), "check_mode": True},
            evaluate("broken", "broken", duration="1h"),
            evaluate("missing", "missing"),
            guard("enforce_healthy", store_dir, name="prod-kr/healthy", state="enforce"),
            guard("enforce_broken", store_dir, name="prod-kr/broken", state="enforce"),
            guard("enforce_missing", store_dir, name="prod-kr/missing", state="enforce"),
        ])
    finally:
        traffic.stop()
        apps.stop()

    healthy = run["healthy"]
    assert healthy["verdict"] == "pass" and healthy["decision"] == "unlocked" and healthy["changed"] is True
    assert healthy["before"]["status"] == "expired" and healthy["after"]["status"] == "unlocked"
    assert healthy["after"]["unlock_reason"].startswith("SLOs passed") and "diff" not in healthy
    assert healthy["evaluation"]["results"][0]["value"] == 0.0
    assert not run["enforce_healthy"].get("failed")

    broken = run["broken"]
    assert broken["verdict"] == "fail" and broken["decision"] == "extended" and broken["changed"] is True
    assert 3590 < broken["after"]["remaining_seconds"] <= 3600
    assert broken["after"]["reason"].startswith("SLOs failed")
    assert 0.15 < broken["evaluation"]["results"][0]["value"] < 0.45
    assert broken["history"][-1]["event"] == "extended"
    assert run["broken_check"]["decision"] == "extended"  # check mode: same judgement, nothing written
    assert run["enforce_broken"]["failed"] is True and "SLOs failed" in run["enforce_broken"]["msg"]

    missing = run["missing"]
    assert missing["verdict"] == "inconclusive" and missing["decision"] == "kept" and missing["changed"] is False
    assert missing["after"]["status"] == "expired" and missing["after"]["last_evaluation"]["verdict"] == "inconclusive"
    assert run["enforce_missing"]["failed"] is True and "inconclusive" in run["enforce_missing"]["msg"]
