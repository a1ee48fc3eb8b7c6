# -*- coding: utf-8 -*-
# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The ``deploy_window`` filter: may a deploy go ahead now, given blackout windows, freezes and an override?

Documented in deploy_window.yml next to this file; the logic is plugins/module_utils/_window.py.
"""
from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleFilterError
from ansible_collections.progressive.delivery.plugins.module_utils._window import (
    Calendar,
    WindowError,
    decide,
    override_of,
    parse_freezes,
    parse_now,
    parse_windows,
)


def deploy_window(windows: Any, freezes: Any = None, now: Any = None, override_reason: Any = None,
                  override: Any = False, windows_variable: str = "delivery_blackout_windows",
                  freezes_variable: str = "delivery_freezes") -> dict[str, Any]:
    """The decision of :func:`_window.decide` for ``now`` (default: the current time)."""
    try:
        calendar = Calendar(tuple(parse_windows(windows, windows_variable)),
                            tuple(parse_freezes(freezes, freezes_variable)))
        reason = override_of(override_reason, override)
        return decide(calendar, parse_now(now), reason)
    except WindowError as exc:
        raise AnsibleFilterError(f"deploy_window: {exc}") from None


class FilterModule:
    """Deploy windows."""

    def filters(self) -> dict[str, Any]:
        return {"deploy_window": deploy_window}
