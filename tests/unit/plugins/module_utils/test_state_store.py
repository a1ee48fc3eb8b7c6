# -*- coding: utf-8 -*-
# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests for plugins/module_utils/_state_store.py, and a tight multi-process race of the lock (_lock.py)."""
from __future__ import annotations

import json
import multiprocessing
import os
import time
from pathlib import Path

import pytest
from ansible_collections.progressive.delivery.plugins.module_utils._lock import DeployLock, LockBusy, new_record
from ansible_collections.progressive.delivery.plugins.module_utils._state_store import (
    CorruptStateError,
    StateStore,
    StateStoreError,
    decode,
    default_owner,
    encode,
    safe_filename,
)
from ansible_collections.progressive.delivery.plugins.module_utils._time import format_remaining


# ---------------------------------------------------------------------------------------------
# file names
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("name", "expected"), [
    ("prod-kr/app", "prod-kr%2Fapp"),
    ("../../etc/passwd", "%2E.%2F..%2Fetc%2Fpasswd"),
    ("..", "%2E."),
    (".hidden", "%2Ehidden"),
    ("a%2Fb", "a%252Fb"),  # '%' is encoded too, so the mapping stays one-to-one
    ("stg jp/app:v1", "stg%20jp%2Fapp%3Av1"),
    ("서울/app", "%EC%84%9C%EC%9A%B8%2Fapp"),
])
def test_names_map_to_safe_file_names(name, expected):
    quoted = safe_filename(name)
    assert quoted == expected
    assert "/" not in quoted and not quoted.startswith(".")


def test_long_names_stay_short_and_unique():
    first, second = safe_filename("x" * 300 + "a"), safe_filename("x" * 300 + "b")
    assert first != second
    assert len(first) <= 180 and len(first.encode()) + len(".json") < 255


@pytest.mark.parametrize("name", ["", "   ", "a\nb", "a\x00b", None])
def test_bad_names_are_refused(name):
    with pytest.raises(ValueError, match="option name"):
        safe_filename(name)


def test_path_stays_inside_the_kind_directory(tmp_path):
    store = StateStore(str(tmp_path), "lock")
    path = Path(store.path("../../x"))
    assert path.parent == tmp_path / "lock"


# ---------------------------------------------------------------------------------------------
# envelope
# ---------------------------------------------------------------------------------------------
def test_round_trip():
    data = {"owner": "me", "n": 1.5, "list": [1, "two"], "text": "롤백"}
    assert decode(encode("guard", "prod-kr/app", data), "/f", "guard", "prod-kr/app") == data


@pytest.mark.parametrize(("mangle", "problem"), [
    (lambda text: text[: len(text) // 2], "not valid JSON"),
    (lambda text: "", "not valid JSON"),
    (lambda text: text.replace('"owner": "me"', '"owner": "you"'), "checksum mismatch"),
    (lambda text: text.replace('"version": 1', '"version": 2'), "format version 2"),
    (lambda text: text.replace('"kind": "lock"', '"kind": "guard"'), "expected the 'lock' record"),
    (lambda text: text.replace('"name": "a"', '"name": "b"'), "expected the 'lock' record 'a'"),
    (lambda text: json.dumps({"owner": "me"}), "not a progressive.delivery/state file"),
])
def test_untrustworthy_files_are_reported_with_their_path(mangle, problem):
    text = mangle(encode("lock", "a", {"owner": "me"}))
    with pytest.raises(CorruptStateError, match=problem) as info:
        decode(text, "/state/lock/a.json", "lock", "a")
    assert "/state/lock/a.json" in str(info.value)


def test_store_reads_writes_and_detects_truncation(tmp_path):
    store = StateStore(str(tmp_path), "guard")
    assert store.read("prod-kr/app") is None
    store.write("prod-kr/app", {"locked": True})
    assert store.read("prod-kr/app") == {"locked": True}
    path = Path(store.path("prod-kr/app"))
    assert oct(path.stat().st_mode & 0o777) == "0o644"
    assert [p.name for p in (tmp_path / "guard").iterdir() if p.name.endswith(".tmp")] == []
    path.write_text(path.read_text()[:40])
    with pytest.raises(CorruptStateError, match="truncated"):
        store.read("prod-kr/app")


def test_kinds_are_separate_namespaces(tmp_path):
    locks, guards = StateStore(str(tmp_path), "lock"), StateStore(str(tmp_path), "guard")
    locks.write("x", {"owner": "a"})
    assert guards.read("x") is None
    with pytest.raises(ValueError, match="kind"):
        StateStore(str(tmp_path), "other")


def test_create_is_exclusive_and_remove_reports(tmp_path):
    store = StateStore(str(tmp_path), "lock")
    assert store.create("x", {"owner": "a"}) is True
    assert store.create("x", {"owner": "b"}) is False
    assert store.read("x") == {"owner": "a"}
    assert store.remove("x") is True
    assert store.remove("x") is False


def test_unwritable_directory_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(StateStoreError, match="store_dir"):
        StateStore(str(blocker), "lock").write("x", {})


def test_mutex_times_out_while_another_descriptor_holds_it(tmp_path):
    store = StateStore(str(tmp_path), "lock")
    with store.mutex("x"), pytest.raises(StateStoreError, match="timed out"), store.mutex("x", timeout=0.2):
        pass  # flock locks belong to open file descriptions: a second open in this process conflicts
    with store.mutex("x"):  # released again
        pass


# ---------------------------------------------------------------------------------------------
# small helpers
# ---------------------------------------------------------------------------------------------
def test_default_owner_names_user_host_and_jobs():
    assert default_owner({}, "alice", "laptop") == "alice@laptop"
    assert default_owner({"CI_JOB_ID": "4711"}, "runner", "ci") == "runner@ci (CI job 4711)"
    awx = {"JOB_ID": "42", "AWX_HOST": "https://awx.example.com"}
    assert default_owner(awx, "awx", "ee") == "awx@ee (AWX job 42)"
    assert default_owner({"JOB_ID": "42"}, "u", "h") == "u@h"  # JOB_ID alone is too generic


@pytest.mark.parametrize(("seconds", "text"), [(0, "0s"), (-5, "0s"), (0.2, "1s"), (65, "1m05s"),
                                               (3723, "1h02m03s")])
def test_format_remaining(seconds, text):
    assert format_remaining(seconds) == text


def test_errors_name_store_dir_only_when_the_directory_is_at_fault(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(StateStoreError, match="option store_dir") as error:
        StateStore(str(blocker), "lock").write("a", {"x": 1})
    assert error.value.option == "store_dir"
    store = StateStore(str(tmp_path / "ok"), "lock")
    store.write("a", {"x": 1})
    Path(store.path("a")).write_text("{")
    with pytest.raises(CorruptStateError) as corrupt:
        store.read("a")
    assert corrupt.value.option is None


# ---------------------------------------------------------------------------------------------
# the lock's logic racing in real processes (the integration test races real `ansible` processes)
# ---------------------------------------------------------------------------------------------
def _race(directory: str, name: str, owner: str, barrier, results) -> None:
    warnings: list[str] = []
    lock = DeployLock(StateStore(directory, "lock"), name, owner, 60.0, warn=warnings.append)
    barrier.wait()
    try:
        outcome = lock.try_acquire(force=False)
        results.put((owner, "won", outcome.taken_over, warnings))
    except LockBusy as exc:
        results.put((owner, "busy", exc.record.get("owner"), []))


def _run_round(directory: str, name: str, racers: int) -> list[tuple]:
    context = multiprocessing.get_context("fork")
    barrier, results = context.Barrier(racers), context.Queue()
    procs = [context.Process(target=_race, args=(directory, name, f"racer-{i}", barrier, results))
             for i in range(racers)]
    for proc in procs:
        proc.start()
    outcomes = [results.get(timeout=30) for _proc in procs]
    for proc in procs:
        proc.join(timeout=10)
    return outcomes


@pytest.mark.parametrize("round_", range(5))
def test_exactly_one_of_many_racing_processes_wins(tmp_path, round_):
    outcomes = _run_round(str(tmp_path), f"race-{round_}", 20)
    winners = [outcome for outcome in outcomes if outcome[1] == "won"]
    assert len(winners) == 1, outcomes
    assert {outcome[2] for outcome in outcomes if outcome[1] == "busy"} == {winners[0][0]}


def test_only_one_racer_takes_over_a_stale_lock(tmp_path):
    store = StateStore(str(tmp_path), "lock")
    past = time.time() - 120
    store.write("stale", new_record("stale", "dead-job", 60.0, past, "gone"))
    outcomes = _run_round(str(tmp_path), "stale", 12)
    winners = [outcome for outcome in outcomes if outcome[1] == "won"]
    assert len(winners) == 1, outcomes
    owner, _verdict, taken_over, warnings = winners[0]
    assert taken_over is True and "dead-job" in warnings[0]
    assert store.read("stale")["owner"] == owner
    assert not [p for p in os.listdir(tmp_path / "lock") if p.endswith(".tmp")]


# ---------------------------------------------------------------------------------------------
# listing (moving to another backend)
# ---------------------------------------------------------------------------------------------
def test_names_lists_every_record_from_its_envelope(tmp_path):
    store = StateStore(str(tmp_path), "lock")
    assert store.names() == []
    long_name = "prod-kr/" + "y" * 300
    for name in ("prod-kr/app", long_name, "../x"):
        with store.mutex(name):
            store.write(name, {"owner": name})
    assert store.names() == sorted(["prod-kr/app", long_name, "../x"])  # no mutex or temp files
    assert StateStore(str(tmp_path), "guard").names() == []


def test_names_refuses_a_file_whose_envelope_names_another_record(tmp_path):
    store = StateStore(str(tmp_path), "lock")
    store.write("a", {"owner": "me"})
    Path(store.path("b")).write_text(Path(store.path("a")).read_text())
    with pytest.raises(CorruptStateError, match="does not match the file name"):
        store.names()
