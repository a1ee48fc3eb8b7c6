# -*- coding: utf-8 -*-
# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The collection's controller-side modules run in the controller process when their host is the controller.

``release_record``, ``deploy_lock`` and ``qos_guard`` (the shared state store: files on one host, or PostgreSQL),
``canary_shift`` (the router's API, socket or configuration) and ``slo_check`` (Prometheus' HTTP API) are what the
release plays run on the controller host (``delivery_controller``). Where that host is the machine
``ansible-playbook`` runs on (``ansible_connection=local``, as in the lab, or a run on the edge host itself), a
module process costs ~0.2-0.4 s per task (Python start-up, AnsiballZ): most of a canary's own machinery time, and
of a rollback's time to move the traffic back. (An inventory that reaches the controller over SSH, as
``inventories/prod-*`` do, runs them as module processes there.) Their action plugins (and the ``analysis``
action's polls) call the module's own ``run()`` in the controller process instead, with the module's own argument
spec, validator and result contract, when all of these hold:

* the task's connection is ``local`` (the host *is* the controller), without ``become``, ``async`` or a task
  ``environment`` (they only apply to a module process);
* the host's ``ansible_python_interpreter`` is this Python (``{{ ansible_playbook_python }}``, as the lab inventory
  sets it, or another interpreter of the same virtualenv): with another interpreter, or none (discovery), the
  module keeps that interpreter's libraries and runs as a module process;
* the host's ``delivery_in_process`` is not false (the way back to a module process);
* with ``state_backend=postgres``, ``psycopg`` imports in the controller's Python.

With ``delegate_to``, the delegated host's variables decide.

Otherwise the module runs as usual (``_execute_module``). Both paths give the same result (the integration test
``tests/integration/test_in_process.py`` runs the same tasks both ways): ``changed``, ``before``/``after``,
``diff`` in diff mode, ``warnings``, ``deprecations`` (an option's old name), ``invocation`` with ``no_log``
values masked, and on failure ``msg`` and ``option`` (argument validation included). A router adapter's commands
(nginx's ``-t`` and reload) run as ``run_command`` runs them: a command list with ``~`` and ``$VAR`` expanded, no
shell, output decoded with undecodable bytes kept.
"""
from __future__ import annotations

import datetime
import os
import subprocess
import sys
import traceback
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

from ansible.errors import AnsibleError
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.common.parameters import remove_values
from ansible.module_utils.common.text.converters import to_text
from ansible.module_utils.errors import UnsupportedError
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action import ActionBase
from ansible_collections.progressive.delivery.plugins.module_utils._result import ModuleFailure

#: The host variable that sends these modules back to a module process when false (docs/inventory.md).
SWITCH = "delivery_in_process"


def plain(value: Any) -> Any:
    """``value`` with Ansible's tagged str/int/float (and list/dict subclasses) turned into the plain types a module
    process would have got from its JSON arguments (dates and times as ISO 8601 strings, as 2.19 sends them)."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, str):
        return str(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, Mapping):
        return {plain(key): plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [plain(item) for item in value]
    return value


class _Exit(BaseException):
    """What a module process would have printed before it exited: the result of ``fail_json`` (or ``exit_json``).
    Not an ``Exception``, as ``SystemExit`` is not, so no ``except Exception`` in module code swallows it."""

    def __init__(self, result: dict[str, Any]) -> None:
        super().__init__(result.get("msg"))
        self.result = result


def _local_module_class(module_class: type) -> type:
    """``module_class`` (``ContractModule`` or a subclass) as the module's ``run()`` sees it, built without
    ``AnsibleModule.__init__`` (which reads the arguments from stdin and exits the process)."""

    class Local(module_class):  # type: ignore[misc, valid-type]
        def __init__(self, params: dict[str, Any], check_mode: bool, diff: bool,  # pylint: disable=super-init-not-called
                     argument_spec: dict[str, Any]) -> None:
            self.params = params
            self.check_mode = check_mode
            self._diff = diff
            self.argument_spec = argument_spec
            self.validation_result = None
            self._validated = False
            self.no_log_values: set[str] = set()
            self.warnings: list[str] = []
            self.deprecations: list[dict[str, Any]] = []

        def warn(self, warning: str) -> None:
            self.warnings.append(str(warning))

        def run_command(self, args: list[str], check_rc: bool = False, **_ignored: Any) -> tuple[int, str, str]:
            """What the routers use of ``AnsibleModule.run_command``: a command list (``~`` and ``$VAR`` expanded),
            no shell, the output decoded as ``run_command`` does (undecodable bytes kept, not an error)."""
            command = [os.path.expanduser(os.path.expandvars(str(arg))) for arg in args if arg is not None]
            done = subprocess.run(command, capture_output=True, check=False)
            out = to_text(done.stdout, errors="surrogate_or_strict")
            err = to_text(done.stderr, errors="surrogate_or_strict")
            if check_rc and done.returncode != 0:
                self.fail_json(msg=err.strip() or out.strip(), rc=done.returncode, cmd=" ".join(command),
                               stdout=out, stderr=err)
            return done.returncode, out, err

        def deprecate(self, msg: str, version: str | None = None, date: str | None = None,  # type: ignore[override]
                      collection_name: str | None = None, **_ignored: Any) -> None:
            self.deprecations.append({"msg": msg, "version": version, "date": date,
                                      "collection_name": collection_name})

        def fail_json(self, msg: str, **kwargs: Any) -> Any:  # type: ignore[override]
            if "option" not in kwargs and not self._validated:
                msg, option = self.validation_failure(msg)
                if option:
                    kwargs["option"] = option
            raise _Exit({**kwargs, "msg": msg, "failed": True})

        def exit_json(self, **kwargs: Any) -> Any:  # type: ignore[override]
            raise _Exit(kwargs)

    Local.__name__ = f"InProcess{module_class.__name__}"
    return Local


def run_in_process(module: ModuleType, name: str, args: Mapping[str, Any], check_mode: bool,
                   diff: bool) -> dict[str, Any]:
    """Run ``module`` (a collection module that exposes ``argument_spec()``, ``MODULE_CLASS``, ``MODULE_KWARGS``
    and ``run(module)``) on ``args`` in this process, with the result a module process would give."""
    argument_spec = module.argument_spec()
    kwargs = dict(module.MODULE_KWARGS)
    kwargs.pop("supports_check_mode", None)
    local = _local_module_class(module.MODULE_CLASS)(plain(dict(args)), check_mode, diff, argument_spec)
    try:
        answer = _validated_run(module, name, local, ArgumentSpecValidator(argument_spec, **kwargs))
    except _Exit as exit_:
        answer = exit_.result
    except Exception as exc:  # pylint: disable=broad-except
        answer = {"failed": True, "msg": f"{name} failed in the controller process: {type(exc).__name__}: {exc}",
                  "exception": traceback.format_exc()}
    answer.setdefault("changed", False)
    answer["invocation"] = {"module_args": local.params}
    if local.warnings:
        answer["warnings"] = list(local.warnings)
    if local.deprecations:
        answer["deprecations"] = list(local.deprecations)
    return remove_values(answer, local.no_log_values)


def _validated_run(module: ModuleType, name: str, local: Any, validator: ArgumentSpecValidator) -> dict[str, Any]:
    """Validate ``local.params`` as ``AnsibleModule.__init__`` does, then ``module.run(local)``; a failure raises
    :class:`_Exit` (through ``local.fail_json``)."""
    result = validator.validate(local.params)
    local.validation_result = result
    local.no_log_values.update(result._no_log_values)  # pylint: disable=protected-access
    for both in result._warnings:  # pylint: disable=protected-access
        local.warn(f"Both option {both['option']} and its alias {both['alias']} are set.")
    local.deprecations.extend({key: item.get(key) for key in ("msg", "version", "date", "collection_name")}
                              for item in result._deprecations)  # pylint: disable=protected-access
    if result.errors.errors:
        msg = result.errors.msg
        if isinstance(result.errors.errors[0], UnsupportedError):
            msg = f"Unsupported parameters for ({name}) module: {msg}"
        local.fail_json(msg=msg)
    local.params.update(result.validated_parameters)
    local._validated = True  # pylint: disable=protected-access
    try:
        return dict(module.run(local))
    except ModuleFailure as failure:
        return local.fail_json(**failure.as_result())


def _host_vars(action: ActionBase, task_vars: Mapping[str, Any]) -> Mapping[str, Any]:
    """The variables of the host the module would run on: the delegated host's with ``delegate_to``."""
    if action._task.delegate_to:  # pylint: disable=protected-access
        return (task_vars.get("ansible_delegated_vars") or {}).get(action._task.delegate_to) or {}  # pylint: disable=protected-access
    return task_vars


def _templated(action: ActionBase, value: Any) -> Any:
    if isinstance(value, str) and ("{{" in value or "{%" in value):
        return action._templar.template(value)  # pylint: disable=protected-access
    return value


def is_this_python(interpreter: Any) -> bool:
    """Whether ``interpreter`` (a host's ``ansible_python_interpreter``) is the Python this controller runs: the same
    executable, or one in the same virtualenv (``.venv/bin/python`` and ``.venv/bin/python3``)."""
    if not isinstance(interpreter, str) or not interpreter.strip() or " " in interpreter.strip():
        return False
    path = Path(interpreter.strip())
    if not path.is_absolute():
        return False
    if os.path.abspath(path) == os.path.abspath(sys.executable):
        return True
    try:
        return path.exists() and path.parent.parent.resolve() == Path(sys.prefix).resolve() \
            and path.parent.name == "bin"
    except OSError:
        return False


def wants_in_process(action: ActionBase, args: Mapping[str, Any], task_vars: Mapping[str, Any]) -> bool:
    """Whether this task's module runs in the controller process (see the docstring of this file)."""
    if getattr(action._connection, "transport", None) != "local":  # pylint: disable=protected-access
        return False
    if action._play_context.become or action._task.async_val:  # pylint: disable=protected-access
        return False
    if any(action._task.environment or []):  # pylint: disable=protected-access
        return False
    host_vars = _host_vars(action, task_vars)
    switch = _templated(action, host_vars.get(SWITCH, True))
    try:
        if not boolean(switch, strict=True):
            return False
    except TypeError as exc:
        raise AnsibleError(f"{SWITCH} must be a boolean, got {switch!r}") from exc
    if not is_this_python(_templated(action, host_vars.get("ansible_python_interpreter"))):
        return False
    if args.get("state_backend") == "postgres":
        try:
            import psycopg  # noqa: F401  pylint: disable=import-outside-toplevel,unused-import
        except ImportError:
            return False
    return True


def execute(action: ActionBase, module: ModuleType, name: str, args: Mapping[str, Any],
            task_vars: dict[str, Any]) -> dict[str, Any]:
    """The module ``name`` on ``args``: in this process when :func:`wants_in_process`, else as a
    module process on the task's host."""
    if wants_in_process(action, args, task_vars):
        return run_in_process(module, name, args, bool(action._task.check_mode),  # pylint: disable=protected-access
                              bool(action._task.diff))  # pylint: disable=protected-access
    wrap_async = bool(action._task.async_val) and not action._connection.has_native_async  # pylint: disable=protected-access
    return action._execute_module(module_name=name, module_args=dict(args),  # pylint: disable=protected-access
                                  task_vars=task_vars, wrap_async=wrap_async)


def in_process_action(module: ModuleType, name: str) -> type[ActionBase]:
    """The action plugin class of the module ``name`` (its Python module ``module``)."""

    class ActionModule(ActionBase):
        TRANSFERS_FILES = False
        _requires_connection = True
        _supports_async = True  # as the normal action: an async task runs the module process, wrapped

        def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
            result = super().run(tmp, task_vars)
            del tmp
            wrapped = bool(self._task.async_val) and not self._connection.has_native_async
            try:
                result.update(execute(self, module, name, self._task.args, task_vars or {}))
            finally:
                if not wrapped:
                    self._remove_tmp_path(self._connection._shell.tmpdir)  # pylint: disable=protected-access
            return result

    ActionModule.__doc__ = f"Action plugin of {name}: in the controller process when the host is the controller."
    return ActionModule
