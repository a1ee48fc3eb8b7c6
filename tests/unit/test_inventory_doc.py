# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""docs/inventory.md lists every delivery_* variable that the roles, playbooks and inventories use."""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VARIABLE = re.compile(r"\bdelivery_[a-z0-9_]+\b")
#: Facts the roles set for the roles after them, not variables a user sets.
SET_BY_ROLES = {"delivery_candidate_pool", "delivery_image_digest_ref", "delivery_image_repository_ref",
                "delivery_status",
                # playbooks/release.yml: each environment's host variables and result
                "delivery_release_inventory", "delivery_release_index", "delivery_release_previous",
                "delivery_release_result",
                # the deploy role's set_stats artifacts (the next node of an AWX workflow reads them; docs/awx.md)
                "delivery_released_version", "delivery_released_digest", "delivery_released_environment",
                "delivery_outcome", "delivery_failure", "delivery_failed_environment"}


def used_variables() -> dict[str, str]:
    found: dict[str, str] = {}
    for pattern in ("roles/*/defaults/*.yml", "roles/*/tasks/*.yml", "playbooks/*.yml", "inventories/**/*.yml"):
        for path in ROOT.glob(pattern):
            for name in VARIABLE.findall(path.read_text(encoding="utf-8")):
                found.setdefault(name, str(path.relative_to(ROOT)))
    return found


def test_every_delivery_variable_is_documented():
    documented = set(VARIABLE.findall((ROOT / "docs" / "inventory.md").read_text(encoding="utf-8")))
    missing = {name: where for name, where in used_variables().items()
               if name not in documented and name not in SET_BY_ROLES and not name.startswith("delivery_controller")}
    assert not missing, f"add these to docs/inventory.md: {missing}"


def test_the_check_sees_the_roles():
    assert "delivery_canary_steps" in used_variables()
