# -*- coding: utf-8 -*-
# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests for plugins/module_utils/_release.py: the pure transitions of the release record, and
:class:`ReleaseRecord` (read-modify-write under the mutex) on a real state store."""
from __future__ import annotations

import copy
import json
import threading
import time
from pathlib import Path

import pytest
from ansible_collections.progressive.delivery.plugins.module_utils._release import (
    ReleaseRecord,
    add_step,
    declare_pools,
    empty_record,
    finish,
    history_kept,
    record_name,
    start,
    validate_pools,
    validate_release,
    validate_step,
    views,
)
from ansible_collections.progressive.delivery.plugins.module_utils._result import ModuleFailure
from ansible_collections.progressive.delivery.plugins.module_utils._state_store import StateStore

POOLS = ("blue", "green")
NOW = "2026-11-21T10:00:00.000Z"
LATER = "2026-11-21T10:05:00.000Z"
T0 = 1795255200.0  # 2026-11-21T10:00:00Z


def digest(char: str) -> str:
    return "sha256:" + char * 64


def release(rid: str, char: str = "b", version: str = "2026.11.3+92", **extra) -> dict:
    fields = {"id": rid, "version": version, "digest": digest(char), "image": f"reg/demo@{digest(char)}",
              "git_sha": "4f2a9c1", "strategy": "canary", "started_by": "alice", "plan": {"steps": [5, 50, 100]},
              **extra}
    return validate_release(fields, "owner@host", T0)


def adopted() -> dict:
    """lab-kr/demo with blue stable on version 1 (digest aaa...)."""
    pools = validate_pools({"blue": {"version": "2026.11.2+80", "digest": digest("a"),
                                     "image": f"reg/demo@{digest('a')}", "release_id": "r0", "git_sha": "77aa01c"}},
                           "blue", POOLS)
    return declare_pools(empty_record("lab-kr", "demo", POOLS), pools, "blue", NOW, "ops")


def step(index: int, weight: float, verdict: str = "pass", **extra) -> dict:
    return validate_step({"index": index, "of": 3, "weight": weight, "verdict": verdict, **extra})


def failure(call, *args, **kwargs) -> ModuleFailure:
    with pytest.raises(ModuleFailure) as raised:
        call(*args, **kwargs)
    return raised.value


# --------------------------------------------------------------------------------------------------
# pure transitions
# --------------------------------------------------------------------------------------------------
def test_start_makes_the_release_current_on_the_pool_that_is_not_stable():
    record = adopted()
    frozen = copy.deepcopy(record)
    after = start(record, release("r1"), NOW, POOLS)
    assert record == frozen, "a transition must not change its input"
    current = after["current"]
    assert current["id"] == "r1" and current["candidate_pool"] == "green" and current["stable_pool"] == "blue"
    assert current["baseline"]["digest"] == digest("a") and current["steps"] == [] and current["outcome"] is None
    assert current["started_at"] == NOW and current["started_by"] == "alice" and current["took_over"] is None
    assert after["pools"]["green"] == {"version": "2026.11.3+92", "digest": digest("b"),
                                       "image": f"reg/demo@{digest('b')}", "release_id": "r1",
                                       "git_sha": "4f2a9c1", "role": "candidate", "outcome": None}
    assert after["pools"]["blue"] == record["pools"]["blue"] and after["stable_pool"] == "blue"
    assert views(after)["candidate_pool"] == "green" and views(after)["last"] is None


def test_the_first_release_of_an_empty_record_goes_to_the_first_pool():
    after = start(empty_record("lab-kr", "demo", POOLS), release("r1"), NOW, POOLS)
    assert after["current"]["candidate_pool"] == "blue" and after["current"]["baseline"] is None
    promoted = finish(after, "r1", "promoted", None, LATER)
    assert promoted["stable_pool"] == "blue" and promoted["pools"]["blue"]["role"] == "stable"
    assert promoted["pools"]["green"]["role"] == "idle"


def test_steps_are_appended_with_their_evidence_and_a_repeated_step_is_no_change():
    record = start(adopted(), release("r1"), NOW, POOLS)
    analysis = {"verdict": "pass", "measurements": [{"values": {"errors": 0.001}}], "odd": float("nan")}
    one = add_step(record, "r1", step(1, 5, analysis=analysis), NOW)
    two = add_step(one, "r1", step(2, 50), LATER)
    steps = two["current"]["steps"]
    assert [(s["index"], s["weight"], s["verdict"]) for s in steps] == [(1, 5, "pass"), (2, 50, "pass")]
    assert steps[0]["analysis"]["measurements"][0]["values"]["errors"] == 0.001
    assert steps[0]["analysis"]["odd"] == "nan"  # NaN has no JSON: kept as text
    assert steps[1]["recorded_at"] == LATER
    assert add_step(two, "r1", step(2, 50), "2026-11-21T11:00:00.000Z") == two  # a rerun of the same step
    retried = add_step(two, "r1", step(2, 50, verdict="inconclusive"), LATER)
    assert len(retried["current"]["steps"]) == 3  # another attempt of step 2 is recorded too


def test_promote_flips_the_stable_pool_and_keeps_the_old_one_as_previous():
    record = add_step(start(adopted(), release("r1"), NOW, POOLS), "r1", step(1, 5), NOW)
    after = finish(record, "r1", "promoted", "all steps passed", LATER, ended_by="bob")
    assert after["stable_pool"] == "green" and after["current"] is None
    assert after["pools"]["green"] == {"version": "2026.11.3+92", "digest": digest("b"),
                                       "image": f"reg/demo@{digest('b')}", "release_id": "r1",
                                       "git_sha": "4f2a9c1", "role": "stable", "outcome": None}
    assert after["pools"]["blue"] == {**record["pools"]["blue"], "role": "previous"}
    entry = after["history"][-1]
    assert entry["id"] == "r1" and entry["outcome"] == "promoted" and entry["reason"] == "all steps passed"
    assert entry["ended_at"] == LATER and entry["ended_by"] == "bob" and len(entry["steps"]) == 1
    assert views(after)["last"] == entry and views(after)["candidate_pool"] is None
    # the next release goes to the old stable pool
    assert start(after, release("r2", "c"), LATER, POOLS)["current"]["candidate_pool"] == "blue"


@pytest.mark.parametrize("outcome", ["rolled_back", "aborted"])
def test_rollback_and_abort_keep_the_stable_pool(outcome):
    record = start(adopted(), release("r1"), NOW, POOLS)
    after = finish(record, "r1", outcome, "error rate 4% > 1%", LATER)
    assert after["stable_pool"] == "blue" and after["pools"]["blue"] == record["pools"]["blue"]
    assert after["pools"]["blue"]["role"] == "stable"
    assert after["pools"]["green"]["role"] == "idle" and after["pools"]["green"]["outcome"] == outcome
    assert after["pools"]["green"]["digest"] == digest("b")  # what was deployed there stays known
    assert after["history"][-1]["outcome"] == outcome and after["current"] is None


def test_history_is_append_only_across_releases():
    record = adopted()
    seen: list = []
    for number, (char, outcome) in enumerate([("b", "promoted"), ("c", "rolled_back"), ("d", "promoted")]):
        record = finish(start(record, release(f"r{number}", char), NOW, POOLS), f"r{number}", outcome, None, LATER)
        assert record["history"][:len(seen)] == seen
        seen = copy.deepcopy(record["history"])
    assert [(e["id"], e["outcome"]) for e in record["history"]] == [
        ("r0", "promoted"), ("r1", "rolled_back"), ("r2", "promoted")]
    assert record["stable_pool"] == "blue"  # green (r0) -> rolled back r1 on blue -> r2 promoted on blue
    assert history_kept({"history": seen[:2]}, record)
    assert not history_kept(record, {**record, "history": record["history"][1:]})


def test_rerunning_start_with_the_same_id_and_digest_is_no_change():
    record = add_step(start(adopted(), release("r1"), NOW, POOLS), "r1", step(1, 5), NOW)
    again = start(record, release("r1", version="2026.11.3+92"), LATER, POOLS)
    assert again == record
    mismatch = failure(start, record, release("r1", "c"), LATER, POOLS)
    assert mismatch.option == "release" and "cannot start again with digest" in mismatch.msg


def test_starting_while_another_release_is_current_fails_naming_it():
    record = add_step(start(adopted(), release("r1"), NOW, POOLS), "r1", step(1, 5), NOW)
    busy = failure(start, record, release("r2", "c", started_by="bob"), LATER, POOLS)
    assert busy.option == "release"
    assert "release 'r1' (version 2026.11.3+92" in busy.msg and "started by 'alice'" in busy.msg
    assert "last step 1/3" in busy.msg and "takeover=true" in busy.msg


def test_takeover_records_the_old_release_as_aborted():
    record = start(adopted(), release("r1"), NOW, POOLS)
    after = start(record, release("r2", "c", started_by="bob"), LATER, POOLS, takeover=True)
    old = after["history"][-1]
    assert old["id"] == "r1" and old["outcome"] == "aborted" and old["reason"] == "taken over by bob"
    assert old["ended_by"] == "bob" and old["ended_at"] == LATER
    assert after["current"]["id"] == "r2" and after["current"]["took_over"] == "r1"
    assert after["current"]["candidate_pool"] == "green" and after["pools"]["green"]["release_id"] == "r2"
    assert after["stable_pool"] == "blue"
    assert start(after, release("r2", "c"), LATER, POOLS, takeover=True) == after  # rerun: no second takeover


def test_a_mismatched_release_id_fails_naming_release_id():
    record = start(adopted(), release("r1"), NOW, POOLS)
    wrong = failure(add_step, record, "r9", step(1, 5), LATER)
    assert wrong.option == "release_id" and "'r9' is not the current release; release 'r1'" in wrong.msg
    assert failure(finish, record, "r9", "promoted", None, LATER).option == "release_id"
    # a deploy whose release was rolled back meanwhile learns how it ended
    rolled = finish(record, "r1", "rolled_back", "rollback.yml by carol", LATER)
    gone = failure(add_step, rolled, "r1", step(2, 50), LATER)
    assert gone.option == "release_id"
    assert "already finished: rolled_back at" in gone.msg and "rollback.yml by carol" in gone.msg
    assert "no release is current" in gone.msg
    assert failure(add_step, adopted(), "r1", step(1, 5), LATER).option == "release_id"


def test_finishing_again_with_the_same_outcome_is_no_change_and_another_outcome_fails():
    done = finish(start(adopted(), release("r1"), NOW, POOLS), "r1", "rolled_back", None, LATER)
    assert finish(done, "r1", "rolled_back", "again", "2026-11-21T12:00:00.000Z") == done
    other = failure(finish, done, "r1", "promoted", None, LATER)
    assert other.option == "outcome" and "already finished: rolled_back" in other.msg
    again = failure(start, done, release("r1"), LATER, POOLS)
    assert again.option == "release" and "start a new release" in again.msg


def test_finish_needs_release_id_unless_forced():
    record = start(adopted(), release("r1"), NOW, POOLS)
    assert failure(finish, record, None, "rolled_back", None, LATER).option == "release_id"
    forced = finish(record, None, "rolled_back", "operator", LATER, force=True)
    assert forced["history"][-1]["id"] == "r1" and forced["current"] is None
    assert finish(forced, None, "rolled_back", None, LATER, force=True) == forced  # nothing current: no change


def test_declaring_pools_fails_while_a_release_is_current_unless_forced():
    record = start(adopted(), release("r1"), NOW, POOLS)
    pools = validate_pools({"green": {"version": "v", "digest": digest("e")}, "blue": {"role": "previous"}},
                           "green", POOLS)
    assert failure(declare_pools, record, pools, "green", LATER, "ops").option == "pools"
    after = declare_pools(record, pools, "green", LATER, "ops", force=True)
    assert after["stable_pool"] == "green" and after["pools"]["green"]["role"] == "stable"
    assert after["pools"]["blue"]["role"] == "previous" and after["pools"]["blue"]["digest"] is None
    assert after["history"][-1]["outcome"] == "aborted" and "pools declared by ops" in after["history"][-1]["reason"]
    assert declare_pools(after, pools, "green", LATER, "ops") == after


@pytest.mark.parametrize(("pools", "stable", "option", "text"), [
    ({"red": {}}, "red", "pools", "not in pool_names"),
    ({"blue": {}}, "green", "stable_pool", "must be one of the declared pools"),
    ({"blue": {"digest": "sha256:abc"}}, "blue", "pools", "blue.digest"),
    ({"blue": {"role": "previous"}}, "blue", "pools", "blue.role must be stable"),
    ({"blue": {}, "green": {"role": "stable"}}, "blue", "pools", "green.role must be previous or idle"),
    ({"blue": {"colour": 1}}, "blue", "pools", "unknown field(s) colour"),
])
def test_bad_pools_name_the_option(pools, stable, option, text):
    bad = failure(validate_pools, pools, stable, POOLS)
    assert bad.option == option and text in bad.msg


@pytest.mark.parametrize(("fields", "text"), [
    ({"digest": "sha256:xyz"}, "digest must be sha256:"),
    ({"image": "reg/demo:latest"}, "image must be pinned by the release's digest"),
    ({"image": f"reg/demo@{digest('c')}"}, "image must be pinned by the release's digest"),
    ({"version": ""}, "version is required"),
    ({"strategy": "big_bang"}, "strategy must be one of canary, blue_green, rolling"),
    ({"colour": "red"}, "unknown field(s) colour"),
])
def test_bad_releases_name_the_option(fields, text):
    base = {"version": "2026.11.3+92", "digest": digest("b"), "image": f"reg/demo@{digest('b')}"}
    bad = failure(validate_release, {**base, **fields}, "owner", T0)
    assert bad.option == "release" and text in bad.msg


def test_release_defaults_and_step_validation():
    fields = validate_release({"version": "v", "digest": digest("b"), "image": f"r@{digest('b')}"}, "me@h", T0)
    assert fields["started_by"] == "me@h" and fields["plan"] == {}
    assert fields["id"].startswith("20261121T100000Z-") and len(fields["id"]) == 25
    assert fields["id"] != validate_release({**fields, "id": None}, "me@h", T0)["id"]
    for bad in ({"weight": 120}, {"index": -1}, {"index": 4, "of": 3}, {"of": 0}, {"shape": 1}):
        assert failure(validate_step, bad).option == "step", bad
    assert validate_step({"weight": 25})["index"] is None


OVERRIDE_WINDOW = {"kind": "freeze", "name": "year-end", "end_utc": "2027-01-01T15:00:00Z"}


def test_an_override_is_recorded_with_its_reason_window_and_who():
    base = {"version": "v", "digest": digest("b"), "image": f"r@{digest('b')}", "started_by": "alice"}
    fields = validate_release({**base, "override": {"reason": " hotfix INC-1 ", "windows": [OVERRIDE_WINDOW],
                                                    "by": None}}, "me@h", T0)
    assert fields["override"] == {"reason": "hotfix INC-1", "windows": [OVERRIDE_WINDOW], "by": "alice"}
    by_name = validate_release({**base, "override": {"reason": "r", "windows": ["night"], "by": "bob"}}, "me@h", T0)
    assert by_name["override"] == {"reason": "r", "windows": ["night"], "by": "bob"}
    assert validate_release(base, "me@h", T0)["override"] is None
    record = start(adopted(), fields, NOW, POOLS)
    assert record["current"]["override"]["reason"] == "hotfix INC-1"
    assert finish(record, fields["id"], "promoted", None, LATER)["history"][-1]["override"] == fields["override"]


@pytest.mark.parametrize(("override", "text"), [
    ({"reason": ""}, "override.reason is required"),
    ({"reason": "   ", "windows": ["night"]}, "override.reason is required"),
    ({"windows": ["night"]}, "override.reason is required"),
    ("because", "override must be a dictionary"),
    ({"reason": "r", "windows": "night"}, "override.windows must be a list"),
    ({"reason": "r", "windows": [3]}, "override.windows must be a list"),
    ({"reason": "r", "by": 3}, "override.by must be a string"),
    ({"reason": "r", "who": "me"}, "override has unknown field(s) who"),
])
def test_an_override_without_a_reason_is_refused(override, text):
    base = {"version": "v", "digest": digest("b"), "image": f"r@{digest('b')}"}
    bad = failure(validate_release, {**base, "override": override}, "owner", T0)
    assert bad.option == "release" and text in bad.msg


@pytest.mark.parametrize(("environment", "app", "option"), [
    ("", "demo", "environment"), ("lab/kr", "demo", "environment"), ("lab-kr", "de\tmo", "app")])
def test_bad_names_name_the_option(environment, app, option):
    assert failure(record_name, environment, app).option == option
    assert record_name("lab-kr", "demo") == "lab-kr/demo"


# --------------------------------------------------------------------------------------------------
# ReleaseRecord: read-modify-write in the store
# --------------------------------------------------------------------------------------------------
def recorder(tmp_path: Path, owner: str = "alice", check_mode: bool = False, warnings: list | None = None,
             clock=lambda: T0) -> ReleaseRecord:
    sink = warnings if warnings is not None else []
    return ReleaseRecord(StateStore(str(tmp_path), "release"), "lab-kr", "demo", owner, POOLS, check_mode,
                         sink.append, clock)


def stored(tmp_path: Path) -> dict | None:
    return StateStore(str(tmp_path), "release").read("lab-kr/demo")


def raw_release(rid: str | None = "r1", char: str = "b") -> dict:
    return {"id": rid, "version": "2026.11.3+92", "digest": digest(char), "image": f"reg/demo@{digest(char)}"}


def test_the_record_is_written_and_read_back(tmp_path):
    assert recorder(tmp_path).query().after is None
    started = recorder(tmp_path).start(raw_release())
    assert started.changed is True and started.before is None and started.after == stored(tmp_path)
    assert started.release == started.after["current"] and started.after["updated_at"] == "2026-11-21T10:00:00.000Z"
    assert started.state_file.endswith("/release/lab-kr%2Fdemo.json")
    assert recorder(tmp_path).start(raw_release()).changed is False  # a rerun after a crash continues
    stepped = recorder(tmp_path).step("r1", {"index": 1, "of": 2, "weight": 50})
    assert stepped.changed is True and stepped.release["steps"][0]["weight"] == 50
    done = recorder(tmp_path, owner="bob").finish("r1", "promoted", "passed")
    assert done.changed is True and done.release["outcome"] == "promoted" and done.release["ended_by"] == "bob"
    assert stored(tmp_path)["stable_pool"] == "blue" and stored(tmp_path)["current"] is None
    again = recorder(tmp_path).finish("r1", "promoted")
    assert again.changed is False and again.after == again.before == stored(tmp_path)
    query = recorder(tmp_path).query()
    assert query.after == stored(tmp_path) and query.release is None


def test_check_mode_writes_nothing(tmp_path):
    dry = recorder(tmp_path, check_mode=True).start(raw_release())
    assert dry.changed is True and dry.after["current"]["id"] == "r1" and stored(tmp_path) is None
    recorder(tmp_path).start(raw_release())
    before = stored(tmp_path)
    for call in (lambda r: r.step("r1", {"index": 1}), lambda r: r.finish("r1", "promoted"),
                 lambda r: r.declare({"blue": {}}, "blue", force=True),
                 lambda r: r.start(raw_release("r2"), None, True)):
        outcome = call(recorder(tmp_path, check_mode=True))
        assert outcome.changed is True and outcome.after != before
        assert stored(tmp_path) == before


def test_a_failure_carries_the_record_it_found(tmp_path):
    recorder(tmp_path).start(raw_release())
    with pytest.raises(ModuleFailure) as busy:
        recorder(tmp_path, owner="bob").start(raw_release("r2", "c"))
    payload = busy.value.as_result()
    assert payload["option"] == "release" and payload["changed"] is False
    assert payload["before"] == payload["after"] == stored(tmp_path)
    assert payload["state_file"].endswith("lab-kr%2Fdemo.json")


def test_takeover_warns_naming_the_old_release(tmp_path):
    recorder(tmp_path).start(raw_release())
    warnings: list[str] = []
    taken = recorder(tmp_path, owner="bob", warnings=warnings).start(raw_release("r2", "c"), takeover=True)
    assert taken.changed is True and taken.release["id"] == "r2" and taken.release["started_by"] == "bob"
    assert stored(tmp_path)["history"][-1]["reason"] == "taken over by bob"
    assert len(warnings) == 1 and "took over release 'r1'" in warnings[0] and "aborted" in warnings[0]


def test_a_corrupt_file_fails_naming_it_and_is_not_replaced(tmp_path):
    recorder(tmp_path).start(raw_release())
    path = Path(StateStore(str(tmp_path), "release").path("lab-kr/demo"))
    text = path.read_text()
    document = json.loads(text)
    document["data"]["stable_pool"] = "green"  # edited by hand: the checksum no longer matches
    path.write_text(json.dumps(document))
    for call in (lambda r: r.query(), lambda r: r.step("r1", {"index": 1}), lambda r: r.finish("r1", "promoted")):
        with pytest.raises(ModuleFailure) as corrupt:
            call(recorder(tmp_path))
        assert f"state file {path} is corrupt" in corrupt.value.msg and "checksum mismatch" in corrupt.value.msg
        assert corrupt.value.option is None
    path.write_text(text[:40])
    with pytest.raises(ModuleFailure) as truncated:
        recorder(tmp_path).start(raw_release())
    assert "truncated" in truncated.value.msg and path.read_text() == text[:40]


def test_a_store_dir_that_cannot_be_created_names_store_dir(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    record = ReleaseRecord(StateStore(str(blocker / "store"), "release"), "lab-kr", "demo", "alice")
    with pytest.raises(ModuleFailure) as failed:
        record.start(raw_release())
    assert failed.value.option == "store_dir"


def test_bad_pool_names_fail_naming_pool_names(tmp_path):
    with pytest.raises(ModuleFailure) as failed:
        ReleaseRecord(StateStore(str(tmp_path), "release"), "lab-kr", "demo", "alice", ["blue"])
    assert failed.value.option == "pool_names"


def test_of_many_racing_starts_exactly_one_wins(tmp_path):
    barrier = threading.Barrier(8)
    results: dict[int, object] = {}

    def racer(number: int) -> None:
        barrier.wait()
        try:
            results[number] = recorder(tmp_path, owner=f"racer-{number}", clock=time.time).start(
                raw_release(None, "b"))
        except ModuleFailure as exc:
            results[number] = exc

    threads = [threading.Thread(target=racer, args=(number,)) for number in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [result for result in results.values() if not isinstance(result, ModuleFailure)]
    assert len(winners) == 1
    current = stored(tmp_path)["current"]
    assert current["id"] == winners[0].release["id"] and stored(tmp_path)["history"] == []
    for result in results.values():
        if isinstance(result, ModuleFailure):
            assert result.option == "release" and current["id"] in result.msg
