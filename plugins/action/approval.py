# -*- coding: utf-8 -*-
# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Action plugin ``progressive.delivery.approval``: ``state=waiting`` polled on the controller, so that the waiting
run shows what it waits for while it waits (a module can only answer once, at the end).

At every look it runs the module with ``state=status`` on the task's host (where the file store lives, or which
reaches PostgreSQL) and prints a progress line at least every ``progress_interval`` (``plugins/module_utils/
_approval.py`` has the loop and the lines, as ``plugin_utils/_analysis.py`` has the analysis'). Every other state,
and ``state=waiting`` in check mode, goes to the module unchanged. Documentation: ``plugins/modules/approval.py``.
"""
from __future__ import annotations

import time
from typing import Any

from ansible.plugins.action import ActionBase
from ansible.utils.display import Display
from ansible_collections.progressive.delivery.plugins.module_utils._approval import timeout_message, wait
from ansible_collections.progressive.delivery.plugins.module_utils._time import option_duration

display = Display()

MODULE = "progressive.delivery.approval"
DEFAULTS = {"timeout": "1h", "poll_interval": "2s", "progress_interval": "10s"}


class _Failed(Exception):
    def __init__(self, result: dict[str, Any]) -> None:
        super().__init__(result.get("msg"))
        self.result = result


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = True

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        del tmp
        task_vars = task_vars or {}
        args = dict(self._task.args)
        try:
            if args.get("state") != "waiting" or self._task.check_mode:
                result.update(self._module(args, task_vars))
                return result
            result.update(self._wait(args, task_vars))
            return result
        except _Failed as failed:
            result.update(failed.result)
            result["failed"] = True
            return result
        finally:
            self._remove_tmp_path(self._connection._shell.tmpdir)

    def _module(self, args: dict[str, Any], task_vars: dict[str, Any]) -> dict[str, Any]:
        return self._execute_module(module_name=MODULE, module_args=args, task_vars=task_vars)

    def _wait(self, args: dict[str, Any], task_vars: dict[str, Any]) -> dict[str, Any]:
        seconds = {}
        for option, default in DEFAULTS.items():
            try:
                seconds[option] = option_duration(option, args.get(option, default))
            except ValueError as exc:
                raise _Failed({"changed": False, "msg": str(exc), "option": option}) from None
        status_args = {**{key: value for key, value in args.items() if key not in DEFAULTS}, "state": "status"}
        last: dict[str, Any] = {}

        def read() -> dict[str, Any]:
            answer = self._module(status_args, task_vars)
            if answer.get("failed"):
                raise _Failed({key: value for key, value in answer.items() if key != "invocation"})
            last.clear()
            last.update(answer)
            return answer["after"]

        outcome = wait(read, seconds["timeout"], seconds["poll_interval"], seconds["progress_interval"],
                       report=display.display, clock=time.monotonic, sleep=time.sleep)
        shaped = {key: value for key, value in last.items() if key not in ("invocation", "msg")}
        shaped.update(changed=False, waited=round(outcome.waited, 3), progress=outcome.progress)
        if outcome.timed_out:
            raise _Failed({**shaped, "decision": "timed_out",
                           "msg": timeout_message(outcome.view, seconds["timeout"])})
        shaped.update(decision="open", msg=f"approval gate {outcome.view['name']!r} is approved by"
                                           f" {', '.join(outcome.view['approved_by'])}")
        return shaped
