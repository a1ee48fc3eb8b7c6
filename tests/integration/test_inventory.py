# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""inventories/lab points at the lab's services, and follows the lab's port overrides."""
from __future__ import annotations

import json

from tests.integration.test_collection import ansible
from tests.lab import lab as labmod


def test_inventory_groups_follow_the_shared_layout():
    out = ansible("ansible-inventory", "-i", "inventories/lab", "--list")
    assert out.returncode == 0, out.stderr
    groups = json.loads(out.stdout)
    assert groups["routers"]["hosts"] == ["lab-haproxy", "lab-nginx"]
    assert groups["databases"]["hosts"] == ["lab-postgres"]
    assert groups["delivery_controller"]["hosts"] == ["localhost"]


def test_port_overrides_reach_the_inventory():
    env = {"LAB_PROMETHEUS_PORT": "29999", "LAB_DIR": "/tmp/elsewhere"}
    out = ansible("ansible", "lab-haproxy", "-i", "inventories/lab", "-m", "ansible.builtin.debug", "-a",
                  "msg='{{ delivery_prometheus_url }} {{ delivery_haproxy_socket }}'", env=env)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "http://127.0.0.1:29999 /tmp/elsewhere/haproxy/admin.sock" in out.stdout


def test_smoke_playbook_reaches_both_versions_through_each_router(lab):
    out = ansible("ansible-playbook", "-i", "inventories/lab", "playbooks/smoke.yml")
    assert out.returncode == 0, out.stdout + out.stderr
    both = f"{labmod.BLUE_VERSION}, {labmod.GREEN_VERSION}"
    assert f"haproxy at {lab.url('haproxy')} served {both}" in out.stdout
    assert f"nginx at {lab.url('nginx')} served {both}" in out.stdout
