# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations


class ModuleDocFragment:
    # the modules with an action plugin that runs them in the controller process (plugin_utils/_in_process.py)
    DOCUMENTATION = r"""
attributes:
  action:
    description: Indicates this has a corresponding action plugin so some parts of the options can be executed on
      the controller.
    support: full
    details:
      - When the task's host is the controller (C(ansible_connection=local), no C(become), no task C(environment)),
        the module's code runs in the controller process, without a module process; the host variable
        C(delivery_in_process=false) turns that off. The results are the same either way.
"""
