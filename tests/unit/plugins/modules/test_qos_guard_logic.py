# -*- coding: utf-8 -*-
# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests for the pure guard logic of plugins/modules/qos_guard.py and the docs of both store modules."""
from __future__ import annotations

import pytest
from ansible_collections.progressive.delivery.plugins.module_utils._prometheus import option_duration
from ansible_collections.progressive.delivery.plugins.module_utils._state_store import DEFAULT_STORE_DIR
from ansible_collections.progressive.delivery.plugins.modules import deploy_lock, qos_guard

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


@pytest.mark.parametrize("module", [qos_guard, deploy_lock])
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
