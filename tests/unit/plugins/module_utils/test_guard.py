# -*- coding: utf-8 -*-
# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests for plugins/module_utils/_guard.py (the guard logic behind qos_guard) and the docs of both store
modules."""
from __future__ import annotations

import pytest
from ansible_collections.progressive.delivery.plugins.module_utils import _guard as qos_guard
from ansible_collections.progressive.delivery.plugins.module_utils._guard import GuardBlocked, QosGuard
from ansible_collections.progressive.delivery.plugins.module_utils._result import ModuleFailure
from ansible_collections.progressive.delivery.plugins.module_utils._state_store import DEFAULT_STORE_DIR, StateStore
from ansible_collections.progressive.delivery.plugins.module_utils._time import option_duration
from ansible_collections.progressive.delivery.plugins.modules import deploy_lock
from ansible_collections.progressive.delivery.plugins.modules import qos_guard as qos_guard_module

from tests.module_docs import documented_options

NOW = 1_800_000_000.0


def locked(duration: float = 300.0, now: float = NOW) -> dict:
    record, action = qos_guard.lock(None, "sre", duration, "rollback", now)
    assert action == "locked"
    return record


def test_status_follows_the_window():
    record = locked()
    assert qos_guard.guard_status(None, NOW) == "unlocked"
    assert qos_guard.guard_status(record, NOW + 299) == "locked"
    assert qos_guard.guard_status(record, NOW + 300) == "expired"
    view = qos_guard.guard_view("a", record, NOW + 60)
    assert view["remaining"] == "4m00s" and view["active"] is True


def test_locking_again_extends_but_never_shortens():
    record = locked()
    assert qos_guard.lock(record, "sre", 60.0, "shorter", NOW + 10) == (None, "none")
    extended, action = qos_guard.lock(record, "other", 600.0, "longer", NOW + 10)
    assert action == "extended" and extended["locked_at"] == record["locked_at"]
    assert qos_guard.until_of(extended) == NOW + 610
    relocked, action = qos_guard.lock(record, "sre", 60.0, "again", NOW + 1000)  # expired, never cleared
    assert action == "extended" and qos_guard.guard_status(relocked, NOW + 1000) == "locked"


def test_unlock_and_bounded_history():
    record = locked()
    assert qos_guard.unlock(None, "sre", "why", NOW) == (None, "none")
    for step in range(60):
        record, _action = qos_guard.lock(record, "sre", 300.0 + step, f"r{step}", NOW + 1 + step)
    unlocked, action = qos_guard.unlock(record, "lead", "fixed", NOW + 100)
    assert action == "unlocked" and unlocked["unlock_reason"] == "fixed"
    assert len(unlocked["history"]) == qos_guard.HISTORY_LIMIT
    assert unlocked["history"][-1] == {"event": "unlocked", "at": unlocked["unlocked_at"], "by": "lead",
                                       "reason": "fixed"}


@pytest.mark.parametrize(("verdict", "action", "status"), [
    ("pass", "unlocked", "unlocked"), ("fail", "extended", "locked"), ("inconclusive", "kept", "expired")])
def test_verdicts_after_the_window(verdict, action, status):
    evaluation = {"verdict": verdict, "score": 50.0, "reason": "because"}
    record, done = qos_guard.apply_verdict(locked(), "bot", evaluation, 120.0, NOW + 400)
    assert done == action and qos_guard.guard_status(record, NOW + 400) == status
    assert record["last_evaluation"]["verdict"] == verdict


def test_enforce_blocks_while_locked_and_after_an_uncleared_window():
    record = locked()
    assert "4m00s remaining" in qos_guard.enforce_message("a", record, NOW + 60)
    assert "never evaluated" in qos_guard.enforce_message("a", record, NOW + 400)
    assert qos_guard.enforce_message("a", None, NOW) is None
    unlocked, _action = qos_guard.unlock(record, "sre", "ok", NOW + 1)
    assert qos_guard.enforce_message("a", unlocked, NOW + 2) is None


@pytest.mark.parametrize("module", [qos_guard_module, deploy_lock])
def test_documentation_matches_argument_spec(module):
    doc, spec = documented_options(module), module.argument_spec()
    assert set(doc) == set(spec)
    for name, entry in spec.items():
        assert doc[name]["type"] == entry["type"], name
        assert bool(doc[name].get("required")) == bool(entry.get("required")), name
        assert doc[name].get("choices") == entry.get("choices"), name
    assert doc["store_dir"]["default"] == DEFAULT_STORE_DIR


def test_duration_parsing_names_the_option():
    assert option_duration("duration", "1h30m") == 5400
    assert option_duration("wait", 0, allow_zero=True) == 0
    assert option_duration("wait", "0s", allow_zero=True) == 0
    with pytest.raises(ValueError, match="option ttl"):
        option_duration("ttl", "0")
    with pytest.raises(ValueError, match="option wait: not a duration"):
        option_duration("wait", True, allow_zero=True)


# --------------------------------------------------------------------------------------------------
# QosGuard on a real store
# --------------------------------------------------------------------------------------------------
def guard_in(tmp_path, check_mode: bool = False, owner: str = "sre") -> QosGuard:
    return QosGuard(StateStore(str(tmp_path), "guard"), "prod-kr/app", owner, check_mode)


def test_lock_outcome_has_before_and_after_of_the_same_shape(tmp_path):
    outcome = guard_in(tmp_path).lock(300.0, "rollback")
    fields = outcome.fields()
    assert fields["changed"] is True and fields["decision"] == "locked"
    assert fields["before"] is None
    assert fields["after"]["status"] == "locked" and fields["after"]["locked_by"] == "sre"
    assert [event["event"] for event in fields["history"]] == ["locked"]
    again = guard_in(tmp_path).lock(60.0, "shorter").fields()
    assert again["changed"] is False and again["decision"] == "none"
    assert set(again["before"]) == set(again["after"]) and again["before"] == again["after"]


def test_check_mode_reports_the_change_and_writes_nothing(tmp_path):
    outcome = guard_in(tmp_path, check_mode=True).lock(300.0, "dry run")
    assert outcome.changed is True and outcome.fields()["after"]["status"] == "locked"
    assert StateStore(str(tmp_path), "guard").read("prod-kr/app") is None


def test_enforce_raises_a_module_failure_with_the_guard(tmp_path):
    guard_in(tmp_path).lock(300.0, "rollback of 2026.11.1+2")
    with pytest.raises(GuardBlocked) as blocked:
        guard_in(tmp_path, owner="deployer").enforce()
    failure = blocked.value
    assert isinstance(failure, ModuleFailure) and failure.option is None
    payload = failure.as_result()
    assert "is active" in payload["msg"] and "rollback of 2026.11.1+2" in payload["msg"]
    assert payload["decision"] == "blocked" and payload["changed"] is False
    assert payload["before"] == payload["after"] and payload["after"]["status"] == "locked"
    assert payload["state_file"].endswith("/guard/prod-kr%2Fapp.json")
    guard_in(tmp_path).unlock("fixed")
    assert guard_in(tmp_path).enforce().decision == "allowed"


def expire(tmp_path, until: str = "2020-01-01T00:00:00.000Z") -> None:
    store = StateStore(str(tmp_path), "guard")
    store.write("prod-kr/app", {**store.read("prod-kr/app"), "until": until})


def test_evaluate_waits_for_the_window_without_judging(tmp_path):
    guard_in(tmp_path).lock(300.0, "rollback")

    def judge():
        raise AssertionError("judged before the end of the window")

    outcome = guard_in(tmp_path).evaluate(judge, None)
    assert outcome.decision == "waiting" and outcome.changed is False and outcome.evaluation is None
    assert guard_in(tmp_path).evaluate(judge, None).fields()["verdict"] is None


@pytest.mark.parametrize(("verdict", "decision", "status"), [
    ("pass", "unlocked", "unlocked"), ("fail", "extended", "locked"), ("inconclusive", "kept", "expired")])
def test_evaluate_applies_the_verdict(tmp_path, verdict, decision, status):
    guard_in(tmp_path).lock(300.0, "rollback")
    expire(tmp_path)
    evaluation = {"changed": False, "verdict": verdict, "score": 42.0, "reason": "because", "results": []}
    fields = guard_in(tmp_path, owner="bot").evaluate(lambda: evaluation, 600.0).fields()
    assert fields["decision"] == decision and fields["verdict"] == verdict
    assert fields["changed"] is (decision != "kept")
    assert fields["after"]["status"] == status and fields["before"]["status"] == "expired"
    assert fields["after"]["last_evaluation"]["verdict"] == verdict
    assert "changed" not in fields["evaluation"]
    stored = StateStore(str(tmp_path), "guard").read("prod-kr/app")
    assert stored["locked"] is (verdict != "pass") and stored["last_evaluation"]["decision"] == decision
    assert (stored["until"] > "2021") is (verdict == "fail")  # only a failure extends the window


def test_evaluate_keeps_a_guard_changed_while_prometheus_answered(tmp_path):
    guard_in(tmp_path).lock(300.0, "rollback")
    expire(tmp_path)

    def judge():  # someone locks the guard again while the SLOs are being judged
        guard_in(tmp_path, owner="sre-2").lock(3600.0, "second rollback")
        return {"verdict": "pass", "score": 100.0, "reason": "all pass"}

    outcome = guard_in(tmp_path, owner="bot").evaluate(judge, None)
    assert outcome.decision == "kept" and outcome.changed is False and outcome.after is None
    stored = StateStore(str(tmp_path), "guard").read("prod-kr/app")
    assert stored["reason"] == "second rollback" and stored["locked"] is True
