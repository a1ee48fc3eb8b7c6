# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A test's breakpoint in a playbook run: before the $BREAKPOINT_HIT-th (default 1st) task whose name starts with
$BREAKPOINT_TASK is sent to a worker, touch $BREAKPOINT_DIR/reached and wait until $BREAKPOINT_DIR/go exists.
The name is the task's as written (``{{ }}`` not yet templated when the callback runs).

The strategy calls v2_playbook_on_task_start in the controller process before it queues the task, so the task has
not run while this waits: a test can put another run exactly between two tasks (a race made deterministic).
Enabled with ANSIBLE_CALLBACK_PLUGINS=<this directory> and ANSIBLE_CALLBACKS_ENABLED=breakpoint.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = r"""
name: breakpoint
type: aggregate
short_description: Hold a playbook run before a named task until a test lets it go
description:
  - Test helper of progressive.delivery's end-to-end suite; not shipped with the collection.
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "breakpoint"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self) -> None:
        super().__init__()
        self._task = os.environ.get("BREAKPOINT_TASK", "")
        self._dir = Path(os.environ.get("BREAKPOINT_DIR", "."))
        self._hits = int(os.environ.get("BREAKPOINT_HIT", "1"))
        self._done = not self._task

    def v2_playbook_on_task_start(self, task, is_conditional):  # pylint: disable=unused-argument
        if self._done or not (task.name or "").startswith(self._task):
            return
        self._hits -= 1
        if self._hits > 0:
            return
        self._done = True
        (self._dir / "reached").write_text(task.name)
        deadline = time.monotonic() + float(os.environ.get("BREAKPOINT_TIMEOUT", "600"))
        while not (self._dir / "go").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
