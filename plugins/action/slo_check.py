# -*- coding: utf-8 -*-
# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Action plugin ``progressive.delivery.slo_check``: the module runs in the controller process when its host is the
controller (``plugins/plugin_utils/_in_process.py`` says when), else as a module process. Documentation:
``plugins/modules/slo_check.py``.
"""
from __future__ import annotations

from ansible_collections.progressive.delivery.plugins.modules import slo_check
from ansible_collections.progressive.delivery.plugins.plugin_utils._in_process import in_process_action

ActionModule = in_process_action(slo_check, "progressive.delivery.slo_check")
