# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The deploy_window filter (plugins/filter/deploy_window.py) and its documentation."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from ansible.errors import AnsibleFilterError
from ansible_collections.progressive.delivery.plugins.filter.deploy_window import FilterModule, deploy_window

ROOT = Path(__file__).resolve().parents[4]
NIGHT = [{"name": "night", "start": "22:00", "end": "08:00", "timezone": "Asia/Seoul"}]
FREEZE = [{"name": "year-end", "start": "2026-12-24T00:00+09:00", "end": "2027-01-02T00:00+09:00"}]


def test_the_filter_is_registered_and_documented():
    assert FilterModule().filters() == {"deploy_window": deploy_window}
    doc = yaml.safe_load((ROOT / "plugins" / "filter" / "deploy_window.yml").read_text(encoding="utf-8"))
    assert doc["DOCUMENTATION"]["name"] == "deploy_window"
    assert set(doc["DOCUMENTATION"]["options"]) == {"_input", "freezes", "now", "override_reason", "override",
                                                    "windows_variable", "freezes_variable"}
    assert set(doc["RETURN"]["_value"]["contains"]) == set(deploy_window([], now="2026-11-21T00:00Z"))


def test_refused_inside_a_window_allowed_outside():
    assert deploy_window(NIGHT, now="2026-11-21T23:30+09:00")["allowed"] is False
    assert deploy_window(NIGHT, now="2026-11-21T12:00+09:00")["allowed"] is True
    assert deploy_window(None, FREEZE, now="2026-12-25T12:00+09:00")["allowed"] is False


def test_an_override_needs_a_reason():
    with pytest.raises(AnsibleFilterError, match="deploy_window: delivery_window_override=true alone is refused"):
        deploy_window(NIGHT, now="2026-11-21T23:30+09:00", override=True)
    decision = deploy_window(NIGHT, now="2026-11-21T23:30+09:00", override=True, override_reason="INC-1")
    assert decision["allowed"] is True and decision["override"]["reason"] == "INC-1"


def test_bad_input_fails_the_task_naming_the_variable():
    with pytest.raises(AnsibleFilterError, match=r"deploy_window: delivery_blackout_windows\[0\]\.timezone"):
        deploy_window([{"start": "22:00", "end": "08:00"}])
    with pytest.raises(AnsibleFilterError, match=r"deploy_window: my_freezes\[0\]\.end"):
        deploy_window([], [{"name": "x", "start": "2026-12-24T00:00Z"}], freezes_variable="my_freezes")
    with pytest.raises(AnsibleFilterError, match="deploy_window: now must be"):
        deploy_window([], now="tonight")
