# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""inventories/lab (KR) and inventories/lab-jp (JP) point at the lab's services, and follow the lab's port
overrides."""
from __future__ import annotations

import hashlib
import json
import os

import pytest

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


def rendered(inventory: str, expression: str, env: dict[str, str], *extra: str):
    """The value of a Jinja expression for localhost in inventory, as the play that drives a release sees it."""
    out = ansible("ansible", "localhost", "-i", inventory, "-m", "ansible.builtin.debug", "-a",
                  f"msg={{{{ ({expression}) | to_json }}}}", *extra, env=env)
    assert out.returncode == 0, out.stdout + out.stderr
    return json.loads(json.loads(out.stdout[out.stdout.index("{"):])["msg"])


JP_ENV = {"LAB_APP_BLUE_JP_PORT": "29983", "LAB_APP_GREEN_JP_PORT": "29984", "LAB_NGINX_JP_PORT": "29989",
          "LAB_NGINX_PORT": "29988", "LAB_APP_BLUE_PORT": "29981", "LAB_PROMETHEUS_PORT": "29999",
          "LAB_DIR": "/tmp/elsewhere"}


def test_lab_jp_is_region_jp_behind_nginx_and_follows_the_port_overrides():
    out = ansible("ansible-inventory", "-i", "inventories/lab-jp", "--list")
    assert out.returncode == 0, out.stderr
    groups = json.loads(out.stdout)
    assert groups["routers"]["hosts"] == ["lab-nginx"]  # JP has no HAProxy
    assert groups["databases"]["hosts"] == ["lab-postgres"]
    assert groups["delivery_controller"]["hosts"] == ["localhost"]
    names = ("delivery_region", "delivery_environment_name", "delivery_router", "delivery_router_options",
             "delivery_pools", "delivery_strategy", "delivery_entrypoints", "delivery_state_dir",
             "delivery_prometheus_url", "delivery_initial_stable_pool")
    values = rendered("inventories/lab-jp", "{" + ", ".join(f"'{n}': {n}" for n in names) + "}", JP_ENV)
    suffix = hashlib.sha256(b"/tmp/elsewhere").hexdigest()[:8]
    assert values == {
        "delivery_region": "jp",
        "delivery_environment_name": "lab-jp",
        "delivery_router": "nginx",
        "delivery_router_options": {"nginx": {
            "upstream": "demo_jp", "nginx_upstream_file": "/tmp/elsewhere/nginx/upstreams/demo_jp.conf",
            "nginx_args": "-p /tmp/elsewhere/nginx -c /tmp/elsewhere/nginx/nginx.conf"}},
        "delivery_pools": {
            "blue": {"servers": ["127.0.0.1:29983"], "port": 29983, "url": "http://127.0.0.1:29983",
                     "container": f"lab-blue-jp-{suffix}"},
            "green": {"servers": ["127.0.0.1:29984"], "port": 29984, "url": "http://127.0.0.1:29984",
                      "container": f"lab-green-jp-{suffix}"}},
        "delivery_strategy": "blue_green",
        "delivery_entrypoints": {"nginx": "http://127.0.0.1:29989"},
        "delivery_state_dir": "/tmp/elsewhere/delivery-state",  # the same state store as KR (another environment)
        "delivery_prometheus_url": "http://127.0.0.1:29999",
        "delivery_initial_stable_pool": "blue",
    }
    # KR's inventory is unchanged by JP's ports: its pools and nginx entry point are KR's
    kr = rendered("inventories/lab", "[delivery_pools.blue.port, delivery_entrypoints.nginx, delivery_state_dir]",
                  JP_ENV)
    assert kr == [29981, "http://127.0.0.1:29988", "/tmp/elsewhere/delivery-state"]


def test_lab_jp_container_names_are_the_labs():
    """The inventory's container names are the ones tests/lab/lab.py gives JP's pools (the same LAB_DIR)."""
    pools = rendered("inventories/lab-jp", "delivery_pools", {"LAB_DIR": "/tmp/elsewhere"})
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LAB_DIR", "/tmp/elsewhere")
        assert pools["blue"]["container"] == labmod.container_name("blue-jp")
        assert pools["green"]["container"] == labmod.container_name("green-jp")
        mp.delenv("LAB_APP_BLUE_JP_PORT", raising=False)
        mp.delenv("LAB_APP_GREEN_JP_PORT", raising=False)
        defaults = rendered("inventories/lab-jp", "[delivery_pools.blue.port, delivery_pools.green.port]",
                            {k: v for k, v in os.environ.items() if not k.startswith("LAB_")})
        assert defaults == [labmod.DEFAULT_PORTS["app_blue_jp"], labmod.DEFAULT_PORTS["app_green_jp"]]


@pytest.mark.parametrize(("inventory", "region"), [("inventories/lab", "kr"), ("inventories/lab-jp", "jp")])
def test_the_indicators_select_the_inventorys_region(inventory, region):
    queries = rendered(inventory, "(delivery_slis | map(attribute='total_query', default='') | list) "
                                  "+ (delivery_slis | map(attribute='query', default='') | list)",
                       {}, "-e", "delivery_candidate_pool=green", "-e", "delivery_version=2026.12.1+2")
    selectors = [q for q in queries if q]
    assert len(selectors) >= 2
    for query in selectors:
        assert f'region="{region}"' in query and 'pool="green"' in query and 'version="2026.12.1+2"' in query, query
