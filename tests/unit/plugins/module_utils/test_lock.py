# -*- coding: utf-8 -*-
# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests for plugins/module_utils/_lock.py (the lock behind deploy_lock), on a real state store."""
from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from ansible_collections.progressive.delivery.plugins.module_utils._lock import (
    DeployLock,
    LockBusy,
    LockFailure,
    new_record,
)
from ansible_collections.progressive.delivery.plugins.module_utils._result import ModuleFailure
from ansible_collections.progressive.delivery.plugins.module_utils._state_store import StateStore, StateStoreError

NAME = "prod-kr/app"


def lock_in(tmp_path: Path, owner: str = "alice", ttl: float = 3600.0, check_mode: bool = False,
            warnings: list[str] | None = None) -> DeployLock:
    sink = warnings if warnings is not None else []
    return DeployLock(StateStore(str(tmp_path), "lock"), NAME, owner, ttl, check_mode, sink.append)


def stored(tmp_path: Path) -> dict | None:
    return StateStore(str(tmp_path), "lock").read(NAME)


def test_acquire_refresh_and_release(tmp_path):
    first = lock_in(tmp_path).acquire(0, False)
    assert first.changed is True and first.before is None and first.after["owner"] == "alice"
    assert first.after == stored(tmp_path) and first.state_file.endswith("/lock/prod-kr%2Fapp.json")
    again = lock_in(tmp_path, ttl=7200.0).acquire(0, False)
    assert again.changed is False and again.refreshed is True and again.before == first.after
    assert again.after["id"] == first.after["id"] and again.after["expires_at"] > first.after["expires_at"]
    released = lock_in(tmp_path).release(False)
    assert released.changed is True and released.before == again.after and released.after is None
    assert stored(tmp_path) is None
    assert lock_in(tmp_path).release(False).changed is False


def test_check_mode_writes_nothing(tmp_path):
    outcome = lock_in(tmp_path, check_mode=True).acquire(10, False)
    assert outcome.changed is True and outcome.after["owner"] == "alice" and outcome.waited < 1
    assert stored(tmp_path) is None


def test_a_busy_lock_raises_a_module_failure_with_before_and_after(tmp_path):
    held = lock_in(tmp_path).acquire(0, False).after
    with pytest.raises(LockBusy) as busy:
        lock_in(tmp_path, owner="bob").acquire(0, False)
    failure = busy.value
    assert isinstance(failure, ModuleFailure) and failure.option is None
    payload = failure.as_result()
    assert "is held by 'alice'" in payload["msg"] and "set wait to wait for it" in payload["msg"]
    assert payload["before"] == payload["after"] == held and payload["changed"] is False
    assert payload["taken_over"] is False and payload["state_file"].endswith("prod-kr%2Fapp.json")


def test_waiting_gives_up_after_wait_and_says_so(tmp_path):
    lock_in(tmp_path).acquire(0, False)
    start = time.monotonic()
    with pytest.raises(LockBusy) as busy:
        lock_in(tmp_path, owner="bob").acquire(0.6, False)
    elapsed = time.monotonic() - start
    assert elapsed < 5  # gives up when the next look would start after wait (jitter: possibly a bit before)
    assert "gave up after waiting" in busy.value.msg and 0 < busy.value.result["waited"] <= elapsed + 0.001


def test_a_waiting_run_gets_the_lock_once_it_is_released(tmp_path):
    lock_in(tmp_path).acquire(0, False)
    releaser = threading.Timer(0.5, lambda: lock_in(tmp_path).release(False))
    releaser.start()
    try:
        outcome = lock_in(tmp_path, owner="bob").acquire(20, False)
    finally:
        releaser.join()
    assert outcome.changed is True and outcome.before is None and outcome.after["owner"] == "bob"
    assert 0.4 < outcome.waited < 10


def test_a_stale_lock_is_taken_over_with_a_warning(tmp_path):
    StateStore(str(tmp_path), "lock").write(NAME, new_record(NAME, "dead-job", 60.0, time.time() - 120, "gone"))
    warnings: list[str] = []
    outcome = lock_in(tmp_path, owner="bob", warnings=warnings).acquire(0, False)
    assert outcome.taken_over is True and outcome.before["owner"] == "dead-job" and outcome.after["owner"] == "bob"
    assert "took over the lock of 'dead-job'" in warnings[0] and "stale since" in warnings[0]


def test_releasing_another_owners_lock_fails_naming_the_owner_option_unless_forced(tmp_path):
    held = lock_in(tmp_path).acquire(0, False).after
    with pytest.raises(LockFailure) as failure:
        lock_in(tmp_path, owner="bob").release(False)
    assert failure.value.option == "owner" and "not by 'bob'" in failure.value.msg
    assert failure.value.result["before"] == failure.value.result["after"] == held
    assert stored(tmp_path) == held
    warnings: list[str] = []
    forced = lock_in(tmp_path, owner="bob", warnings=warnings).release(True)
    assert forced.changed is True and forced.taken_over is True and forced.after is None
    assert "force-released the lock of 'alice'" in warnings[0] and stored(tmp_path) is None


def test_a_corrupt_lock_file_fails_and_force_release_removes_it(tmp_path):
    lock_in(tmp_path).acquire(0, False)
    path = Path(StateStore(str(tmp_path), "lock").path(NAME))
    path.write_text(path.read_text()[:40])
    with pytest.raises(StateStoreError, match=r"corrupt.*or release with force=true"):
        lock_in(tmp_path).release(False)
    warnings: list[str] = []
    assert lock_in(tmp_path, warnings=warnings).release(True).changed is True
    assert not path.exists() and "removed the corrupt lock file" in warnings[0]


def test_an_unusable_store_dir_names_the_option(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(StateStoreError) as error:
        DeployLock(StateStore(str(blocker), "lock"), NAME, "alice", 60.0).acquire(0, False)
    assert error.value.option == "store_dir"


def test_the_lock_and_the_store_do_not_load_the_http_client():
    code = (
        "import json, sys\n"
        "from ansible_collections.progressive.delivery.plugins.module_utils import _lock, _state_store\n"
        "from ansible_collections.progressive.delivery.plugins.modules import deploy_lock\n"
        "print(json.dumps(sorted(name for name in sys.modules if name.startswith('ansible.module_utils.urls')"
        " or name.endswith('_prometheus') or name in ('http.client', 'urllib.request'))))\n")
    root = Path(__file__).resolve().parents[4]
    done = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True,
                          env={"PYTHONPATH": f"{root / '.build'}:{root}", "PATH": "/usr/bin:/bin"})
    assert json.loads(done.stdout) == []
