# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The result contract helper (_result.py), the dependency check (_deps.py) and the time helpers (_time.py)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from ansible_collections.progressive.delivery.plugins.module_utils import _deps
from ansible_collections.progressive.delivery.plugins.module_utils._result import (
    ModuleFailure,
    run_module,
    state_result,
)
from ansible_collections.progressive.delivery.plugins.module_utils._time import (
    format_remaining,
    format_time,
    option_duration,
    parse_time,
)


class Exited(Exception):
    def __init__(self, kind: str, payload: dict) -> None:
        super().__init__(kind)
        self.kind = kind
        self.payload = payload


class FakeModule:
    """Records exit_json / fail_json the way AnsibleModule ends a module (it never returns)."""

    def __init__(self, diff: bool = False) -> None:
        self._diff = diff

    def exit_json(self, **payload):
        raise Exited("exit", payload)

    def fail_json(self, **payload):
        raise Exited("fail", payload)


def test_state_result_has_diff_only_in_diff_mode():
    plain = state_result(FakeModule(diff=False), True, {"w": 1}, {"w": 2}, extra=3)
    assert plain == {"changed": True, "before": {"w": 1}, "after": {"w": 2}, "extra": 3}
    with_diff = state_result(FakeModule(diff=True), True, None, {"w": 2}, header="/srv/x.json")
    assert with_diff["diff"] == {"before": {}, "after": {"w": 2}, "before_header": "/srv/x.json",
                                 "after_header": "/srv/x.json"}
    assert with_diff["before"] is None  # the result keeps the real value; only the diff shows nothing as {}


def test_run_module_exits_with_the_result():
    with pytest.raises(Exited) as exited:
        run_module(FakeModule(), lambda: {"changed": False})
    assert (exited.value.kind, exited.value.payload) == ("exit", {"changed": False})


def test_run_module_fails_once_with_msg_option_and_partial_result():
    def boom():
        raise ModuleFailure("option ttl: must be greater than zero", option="ttl", lock=None)

    with pytest.raises(Exited) as exited:
        run_module(FakeModule(), boom)
    assert exited.value.kind == "fail"
    assert exited.value.payload == {"msg": "option ttl: must be greater than zero", "option": "ttl", "lock": None}


def raise_bad_name():
    raise ValueError("bad name")


def test_run_module_translates_known_errors_and_lets_others_through():
    def translate(exc):
        return ModuleFailure(str(exc), option="name") if isinstance(exc, ValueError) else None

    with pytest.raises(Exited) as exited:
        run_module(FakeModule(), raise_bad_name, translate)
    assert exited.value.payload == {"msg": "bad name", "option": "name"}
    with pytest.raises(KeyError):  # a bug is a traceback, not a tidy failure that hides it
        run_module(FakeModule(), lambda: {}["missing"], translate)


def test_require_names_the_package_and_minimum_version():
    missing = _deps.Dependency("no_such_module_pd", "no-such-dist", "2.5")
    with pytest.raises(ModuleFailure) as failure:
        _deps.require(missing, reason="for judge mann_whitney", option="slis")
    result = failure.value.as_result()
    assert "no-such-dist >= 2.5" in result["msg"] and "for judge mann_whitney" in result["msg"]
    assert result["option"] == "slis"
    assert "no_such_module_pd" in result["exception"]


def test_require_refuses_an_old_version():
    pytest_dist = _deps.Dependency("pytest", "pytest", "999.0")
    assert "is installed, pytest >= 999.0 is required" in pytest_dist.problem()
    assert _deps.Dependency("pytest", "pytest", "1.0").available


@pytest.mark.parametrize(("text", "expected"), [("1.11.4", (1, 11, 4)), ("3.2.1rc1", (3, 2, 1)), ("29", (29,))])
def test_version_tuple(text, expected):
    assert _deps._version_tuple(text) == expected  # pylint: disable=protected-access


def test_time_helpers():
    assert option_duration("ttl", "1h30m") == 5400.0
    assert option_duration("wait", "0s", allow_zero=True) == 0.0
    with pytest.raises(ValueError, match="option ttl"):
        option_duration("ttl", "soon")
    assert format_time(parse_time("2026-11-21T19:00:00+09:00")) == "2026-11-21T10:00:00.000Z"
    assert format_remaining(3723.2) == "1h02m04s"


@pytest.mark.parametrize("module", [
    "ansible_collections.progressive.delivery.plugins.module_utils._time",
    "ansible_collections.progressive.delivery.plugins.module_utils._state_store",
])
def test_time_and_state_store_do_not_load_the_http_client(module):
    """deploy_lock and the state store make no HTTP call: they must not pay for ansible.module_utils.urls."""
    code = f"import sys, {module}; print('ansible.module_utils.urls' in sys.modules)"
    root = Path(__file__).resolve().parents[4]
    env = {**os.environ, "PYTHONPATH": f"{root / '.build'}"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize(("args", "option"), [
    ({"name": "x", "phase": "sideways"}, "phase"),
    ({"phase": "expand"}, "name"),
    ({"name": "x", "count": "many"}, "count"),
    ({"name": "x", "colour": "red"}, "colour"),
    ({"name": "x", "items": [{"kind": "bogus"}]}, "items"),
    ({"name": "x", "count": 1, "size": 2}, "count"),
    ({"name": "x", "phase": "expand"}, "size"),
])
def test_contract_module_names_the_option_of_ansibles_own_validation_errors(args, option, monkeypatch):
    from ansible.module_utils.testing import patch_module_args
    from ansible_collections.progressive.delivery.plugins.module_utils._result import ContractModule

    def fail_json(self, **payload):
        raise Exited("fail", payload)

    monkeypatch.setattr("ansible.module_utils.basic.AnsibleModule.fail_json", fail_json)
    spec = {"name": {"type": "str", "required": True},
            "phase": {"type": "str", "choices": ["expand", "contract"]},
            "count": {"type": "int"}, "size": {"type": "int"},
            "items": {"type": "list", "elements": "dict", "options": {"kind": {"choices": ["a", "b"]}}}}
    with patch_module_args(args), pytest.raises(Exited) as exited:
        ContractModule(argument_spec=spec, mutually_exclusive=[("count", "size")],
                       required_if=[("phase", "expand", ("size",))])
    assert exited.value.payload["option"] == option, exited.value.payload
    assert exited.value.payload["msg"]


def test_contract_module_leaves_later_failures_alone(monkeypatch):
    """After validation, a failure's message may mention an option by chance: it is not "the option at fault"."""
    from ansible.module_utils.testing import patch_module_args
    from ansible_collections.progressive.delivery.plugins.module_utils._result import ContractModule

    def fail_json(self, **payload):
        raise Exited("fail", payload)

    monkeypatch.setattr("ansible.module_utils.basic.AnsibleModule.fail_json", fail_json)
    with patch_module_args({"name": "x"}):
        module = ContractModule(argument_spec={"name": {"type": "str"}, "wait": {"type": "int"}})
    with pytest.raises(Exited) as exited:
        module.fail_json(msg="the lock of x is busy; set wait to wait for it")
    assert "option" not in exited.value.payload
