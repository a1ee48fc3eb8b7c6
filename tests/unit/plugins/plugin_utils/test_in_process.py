# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""plugin_utils/_in_process.py without Ansible running: the arguments a module gets, which interpreter counts as
this Python, and the module contract of a run in this process (the integration test runs real playbooks)."""
from __future__ import annotations

import datetime
import sys
from pathlib import Path

import pytest
from ansible_collections.progressive.delivery.plugins.modules import deploy_lock, release_record
from ansible_collections.progressive.delivery.plugins.plugin_utils._in_process import (
    is_this_python,
    plain,
    run_in_process,
)


class Tagged(str):
    """Stands for Ansible's tagged strings (a str subclass)."""


def test_plain_gives_what_a_module_process_gets_from_json():
    value = {Tagged("when"): datetime.date(2026, 12, 24), "at": datetime.datetime(2026, 12, 4, 3, 0),
             "names": (Tagged("a"), "b"), "n": True, "none": None, "x": 1.5}
    out = plain(value)
    assert out == {"when": "2026-12-24", "at": "2026-12-04T03:00:00", "names": ["a", "b"], "n": True, "none": None,
                   "x": 1.5}
    assert not isinstance(next(iter(out)), Tagged) and not isinstance(out["names"][0], Tagged)


def test_this_python_is_the_executable_or_its_virtualenv():
    assert is_this_python(sys.executable)
    siblings = [path for path in (Path(sys.prefix) / "bin").glob("python*") if path.exists()]
    assert siblings and all(is_this_python(str(path)) for path in siblings)
    for other in (None, "", "python3", "/usr/bin/env python3", "{{ ansible_playbook_python }}",
                  "/nonexistent/bin/python"):
        assert not is_this_python(other), other
    if Path(sys.prefix).resolve() != Path("/usr"):
        assert not is_this_python("/usr/bin/python3")


def test_a_run_in_this_process_keeps_the_contract(tmp_path):
    args = {"environment": "lab-kr", "app": "demo", "store_dir": str(tmp_path)}
    assert run_in_process(release_record, "r", args, False, False)["record"] is None
    bad = run_in_process(release_record, "r", {**args, "state": "done"}, False, False)
    assert bad["failed"] is True and bad["option"] == "state" and bad["changed"] is False
    unknown = run_in_process(release_record, "progressive.delivery.release_record", {**args, "x": 1}, False, False)
    assert unknown["msg"].startswith("Unsupported parameters for (progressive.delivery.release_record) module: x")
    lock = {"name": "lab-kr/demo", "store_dir": str(tmp_path), "ttl": "1m", "owner": "alice"}
    checked = run_in_process(deploy_lock, "l", lock, True, True)
    assert checked["changed"] is True and "diff" in checked and not Path(checked["state_file"]).exists()
    assert run_in_process(deploy_lock, "l", lock, False, False)["changed"] is True
    busy = run_in_process(deploy_lock, "l", {**lock, "owner": "bob"}, False, False)
    assert busy["failed"] is True and "alice" in busy["msg"]


def test_no_log_values_are_masked_everywhere_in_the_result(tmp_path):
    secret = "postgresql://u:s3cr3t-pw@127.0.0.1:1/none"
    result = run_in_process(release_record, "r", {"environment": "e", "app": "a", "state_backend": "postgres",
                                                  "state_dsn": secret, "store_dir": str(tmp_path)}, False, False)
    assert result["failed"] is True
    assert result["invocation"]["module_args"]["state_dsn"] == "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"
    assert secret not in repr(result)


@pytest.mark.parametrize("value", [object()])
def test_plain_leaves_what_it_does_not_know(value):
    assert plain(value) is value
