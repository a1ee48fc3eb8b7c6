# -*- coding: utf-8 -*-
# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Approval gates: who counts, quorum, duplicates, refused approvers, revocation, and the waiting loop's time math."""
from __future__ import annotations

import pytest
from ansible_collections.progressive.delivery.plugins.module_utils._approval import (
    ApprovalGate,
    approve,
    check_gate,
    default_approver,
    gate_view,
    identity,
    key_of,
    progress_line,
    revoke,
    tally,
    timeout_message,
    wait,
)
from ansible_collections.progressive.delivery.plugins.module_utils._result import ModuleFailure
from ansible_collections.progressive.delivery.plugins.module_utils._state_store import KINDS, StateStore

GATE = "prod-jp/demo 2026.12.1+3"
ALLOWED = ["alice", "bob", "carol"]
T0 = 1_795_000_000.0


def approved_by(*names: str, allowed: list[str] | None = None) -> dict:
    record = None
    for i, name in enumerate(names):
        new = approve(record, GATE, name, f"ok {i}", allowed or [], T0 + i)[0]
        record = new or record
    return record


def test_approval_is_a_kind_of_the_state_store():
    assert "approval" in KINDS


@pytest.mark.parametrize(("approver", "expected"), [
    ("alice", "alice"), ("alice@laptop", "alice@laptop"), ("deploy@runner (CI job 7)", "deploy@runner"),
    ("bob@ee (AWX job 12, CI job 3)", "bob@ee"), ("carol (on call)", "carol (on call)")])
def test_identity_drops_only_the_job_suffix(approver, expected):
    assert identity(approver) == expected


def test_an_approver_matches_an_allowed_name_or_its_user_part():
    assert key_of("alice@laptop (CI job 4)", ALLOWED) == "alice"
    assert key_of("alice", ["alice@corp"]) is None  # an allowed full name needs the full name
    assert key_of("alice@corp", ["alice@corp", "alice"]) == "alice@corp"
    assert key_of("mallory", ALLOWED) is None
    assert key_of("dave@host", []) == "dave"


def test_approving_records_who_when_and_why_and_appends_to_the_history():
    record, decision = approve(None, GATE, "alice", "CHG-1", ALLOWED, T0)
    assert decision == "approved"
    assert record["approvals"] == [{"by": "alice", "at": "2026-11-18T11:06:40.000Z", "comment": "CHG-1"}]
    assert record["history"] == [{"event": "approved", **record["approvals"][0]}]


def test_approving_twice_is_not_a_change_even_from_another_machine():
    record = approved_by("alice")
    assert approve(record, GATE, "alice", "again", ALLOWED, T0 + 5) == (None, "none")
    assert approve(record, GATE, "alice@other-host (CI job 9)", "again", ALLOWED, T0 + 5) == (None, "none")
    assert approve(record, GATE, "alice@other-host", None, [], T0 + 5) == (None, "none")


def test_an_approver_not_allowed_is_refused_naming_the_option_and_who_may():
    with pytest.raises(ModuleFailure) as refused:
        approve(None, GATE, "mallory", None, ALLOWED, T0)
    assert refused.value.option == "approver"
    assert "mallory" in refused.value.msg and "alice, bob, carol" in refused.value.msg
    assert refused.value.result["allowed"] == ALLOWED


def test_quorum_counts_distinct_allowed_approvers_only():
    record = approved_by("alice", "mallory", "alice@laptop", "bob")
    counted = tally(record, ALLOWED, 2)
    assert counted.approved_by == ["alice", "bob"] and counted.ignored == ["mallory"]
    assert counted.met and counted.missing == 0 and counted.pending == ["carol"]
    assert not tally(record, ALLOWED, 3).met and tally(record, ALLOWED, 3).missing == 1
    assert tally(approved_by("alice", "alice@x"), [], 2).approved_by == ["alice"]  # one person, not two
    assert not tally(None, ALLOWED, 1).met


def test_revoking_withdraws_one_approval_and_keeps_the_history():
    record = approved_by("alice", "bob")
    new, decision = revoke(record, "alice@laptop", "wrong version", T0 + 10)
    assert decision == "revoked" and [entry["by"] for entry in new["approvals"]] == ["bob"]
    assert [event["event"] for event in new["history"]] == ["approved", "approved", "revoked"]
    assert revoke(new, "alice", None, T0 + 11) == (None, "none")
    assert revoke(None, "alice", None, T0) == (None, "none")


@pytest.mark.parametrize(("approvers", "quorum", "option"), [
    (["alice", "bob"], 3, "quorum"), (ALLOWED, 0, "quorum"), ([], -1, "quorum"), (["alice", "alice"], 1, "approvers"),
    (["alice", ""], 1, "approvers"), (["bad\nname"], 1, "approvers")])
def test_a_gate_that_could_never_open_is_refused(approvers, quorum, option):
    with pytest.raises(ModuleFailure) as refused:
        check_gate(approvers, quorum)
    assert refused.value.option == option and option in refused.value.msg


def test_a_valid_gate():
    assert check_gate(ALLOWED, 2) == ALLOWED
    assert check_gate([], 5) == []


def test_the_progress_line_names_gate_quorum_approvers_pending_and_time_left():
    view = gate_view(GATE, approved_by("alice", "mallory"), ALLOWED, 2)
    line = progress_line(view, 125.2)
    assert f"'{GATE}'" in line and "1 of 2 approvals (quorum 2)" in line
    assert "approved by alice" in line and "may approve: bob, carol" in line and "2m06s left" in line
    assert "not counted (not allowed): mallory" in line
    assert "may approve: anyone" in progress_line(gate_view(GATE, None, [], 1), 5)
    message = timeout_message(view, 300)
    assert "timed out after 5m00s" in message and "Nothing was changed" in message and "bob, carol" in message


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.sleeps.append(seconds)
        self.now += seconds


def test_wait_returns_as_soon_as_the_quorum_is_there():
    clock = FakeClock()
    views = iter([gate_view(GATE, None, ALLOWED, 1)] * 3 + [gate_view(GATE, approved_by("bob"), ALLOWED, 1)])
    lines: list[str] = []
    result = wait(lambda: next(views), timeout=60, poll_interval=2, progress_interval=10, report=lines.append,
                  clock=clock, sleep=clock.sleep)
    assert not result.timed_out and result.waited == 6 and result.view["approved_by"] == ["bob"]
    assert len(lines) == 1 and "1m00s left" in lines[0] and result.progress == lines


def test_wait_times_out_at_the_deadline_with_a_progress_line_at_least_every_interval():
    clock = FakeClock()
    lines: list[str] = []
    result = wait(lambda: gate_view(GATE, None, ALLOWED, 2), timeout=25, poll_interval=4, progress_interval=10,
                  report=lines.append, clock=clock, sleep=clock.sleep)
    assert result.timed_out and result.waited == 25
    assert [line.rsplit("; ", 1)[1] for line in lines] == ["25s left", "15s left", "5s left"]
    assert sum(clock.sleeps) == 25 and max(clock.sleeps) <= 4


def test_wait_looks_once_more_at_the_deadline():
    clock = FakeClock()
    looks = []

    def read():
        looks.append(clock.now)
        return gate_view(GATE, approved_by("alice") if clock.now >= 103 else None, ALLOWED, 1)

    result = wait(read, timeout=3, poll_interval=5, progress_interval=10, clock=clock, sleep=clock.sleep)
    assert looks == [100, 103] and not result.timed_out


def test_the_default_approver_is_the_gitlab_user_or_the_owner():
    assert default_approver({"GITLAB_USER_LOGIN": "alice", "CI_JOB_ID": "7"}) == "alice (CI job 7)"
    assert default_approver({"JOB_ID": "5", "AWX_HOST": "awx"}).endswith("(AWX job 5)")


def test_the_gate_in_a_file_store_check_mode_writes_nothing(tmp_path):
    store = StateStore(str(tmp_path), "approval")
    dry = ApprovalGate(store, GATE, ALLOWED, 2, check_mode=True).approve("alice", "dry")
    assert dry.changed and dry.fields()["after"]["approved_by"] == ["alice"] and store.read(GATE) is None
    gate = ApprovalGate(store, GATE, ALLOWED, 2)
    assert gate.approve("alice", "CHG-1").changed and not gate.approve("alice", "again").changed
    assert gate.approve("bob", None).fields()["approved"] is True
    assert store.read(GATE)["gate"] == GATE and len(store.read(GATE)["history"]) == 2
    assert (tmp_path / "approval").is_dir()
