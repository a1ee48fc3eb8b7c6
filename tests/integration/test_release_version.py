# -*- coding: utf-8 -*-
# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The release version filters and test as a playbook and ansible-doc see them (no lab needed)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def ansible(tool: str, *args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    env = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"}
    return subprocess.run([str(BIN / tool), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300,
                          check=False)


PLAY = """\
- name: Release versions
  hosts: localhost
  connection: local
  gather_facts: false
  tasks:
"""


def run_play(tmp_path: Path, tasks: str, *extra: str) -> subprocess.CompletedProcess:
    playbook = tmp_path / "play.yml"
    playbook.write_text(PLAY + textwrap.indent(textwrap.dedent(tasks), "    "))
    return ansible("ansible-playbook", "-i", "localhost,", str(playbook), *extra)


PREFLIGHT = """\
- name: The version follows the rule
  ansible.builtin.assert:
    that: delivery_version is progressive.delivery.release_version
    fail_msg: "bad version {{ delivery_version }}"
- name: A release older than the current stable needs delivery_allow_downgrade
  ansible.builtin.assert:
    that: >-
      delivery_allow_downgrade | bool
      or delivery_version | progressive.delivery.release_version_compare(current_stable) >= 0
    fail_msg: "{{ delivery_version }} is older than the current stable {{ current_stable }}"
- name: Preflight passed
  ansible.builtin.debug:
    msg: "preflight ok for {{ delivery_version }}"
"""


def test_filters_and_test_in_a_playbook(tmp_path):
    out = run_play(tmp_path, """\
        - name: Parse, compare, bump, select
          ansible.builtin.assert:
            that:
              - >-
                parsed == {'year': 2026, 'month': 11, 'minor': 3, 'build': 92, 'text': '2026.11.3+92'}
              - "'2026.11.3+100' | progressive.delivery.release_version_compare('2026.11.3+92') == 1"
              - "'2026.11.3+92' | progressive.delivery.release_version_compare('2026.11.3+100') == -1"
              - "'2026.11.3+92' | progressive.delivery.release_version_compare('2026.11.3+92') == 0"
              - "'2026.11.3+92' | progressive.delivery.release_version_bump == '2026.11.4+93'"
              - "'2026.12.7+92' | progressive.delivery.release_version_bump(part='month') == '2027.01.0+93'"
              - "'2026.11.3+92' | progressive.delivery.release_version_bump(build=ci_build) == '2026.11.4+113'"
              - "'2026.11.3+92' | progressive.delivery.release_version_bump(today='2027-02-14') == '2027.02.0+93'"
              - >-
                '2000.01.0+1' | progressive.delivery.release_version_bump(today=now(utc=true))
                == now(utc=true).strftime('%Y.%m') ~ '.0+2'
              - repo_tags | select('progressive.delivery.release_version') | list == ['2026.11.3+92', '2026.11.4+113']
              - "'2026.11.3' is not progressive.delivery.release_version"
          vars:
            parsed: "{{ '2026.11.3+92' | progressive.delivery.release_version }}"
            ci_build: "113"
            repo_tags: [latest, 2026.11.3+92, 2026.11.4+113, 2026.1.3+5, stable-kr]
        """)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "failed=0" in out.stdout


@pytest.mark.parametrize(("version", "allow", "passes"), [
    ("2026.11.4+113", "false", True),  # newer
    ("2026.11.3+92", "false", True),  # the same (a rerun)
    ("2026.11.3+9", "false", False),  # older by build number, compared numerically
    ("2026.10.9+500", "false", False),  # older by month
    ("2026.10.9+500", "true", True),  # a downgrade that is allowed
])
def test_preflight_downgrade_rule(tmp_path, version, allow, passes):
    out = run_play(tmp_path, PREFLIGHT, "-e", f"delivery_version={version}", "-e", "current_stable=2026.11.3+92",
                   "-e", f"delivery_allow_downgrade={allow}")
    if passes:
        assert out.returncode == 0, out.stdout + out.stderr
        assert f"preflight ok for {version}" in out.stdout
    else:
        assert out.returncode == 2, out.stdout + out.stderr
        assert f"{version} is older than the current stable 2026.11.3+92" in out.stdout
        assert "preflight ok" not in out.stdout


def test_a_malformed_version_fails_the_task_with_the_rule_in_the_message(tmp_path):
    out = run_play(tmp_path, """\
        - name: Parse
          ansible.builtin.debug:
            msg: "{{ delivery_version | progressive.delivery.release_version_compare('2026.11.3+92') }}"
        """, "-e", "delivery_version=2026.11.03+92")
    assert out.returncode == 2, out.stdout + out.stderr
    assert ("release_version_compare: '2026.11.03+92' does not follow the version rule YYYY.MM.minor+build "
            "(e.g. 2026.11.3+92): minor must not have leading zeros") in out.stdout + out.stderr


def test_the_test_plugin_rejects_a_malformed_version_in_preflight(tmp_path):
    out = run_play(tmp_path, PREFLIGHT, "-e", "delivery_version=2026.11.3", "-e", "current_stable=2026.11.3+92",
                   "-e", "delivery_allow_downgrade=false")
    assert out.returncode == 2, out.stdout + out.stderr
    assert "bad version 2026.11.3" in out.stdout


@pytest.mark.parametrize(("plugin_type", "name", "option"), [
    ("filter", "release_version", None),
    ("filter", "release_version_compare", "other"),
    ("filter", "release_version_bump", "today"),
    ("test", "release_version", None),
])
def test_ansible_doc_shows_each_plugin_its_own_documentation(plugin_type, name, option):
    fqcn = f"progressive.delivery.{name}"
    out = ansible("ansible-doc", "-t", plugin_type, fqcn, "--json")
    assert out.returncode == 0, out.stderr
    assert "WARNING" not in out.stderr, out.stderr
    doc = json.loads(out.stdout)[fqcn]
    assert doc["doc"]["name"] == name
    assert doc["doc"]["plugin_name"] == fqcn
    assert doc["examples"] and doc["return"]["_value"]
    if option:
        assert option in doc["doc"]["options"]
    text = ansible("ansible-doc", "-t", plugin_type, fqcn)
    assert text.returncode == 0, text.stderr
    assert fqcn in text.stdout


def test_ansible_doc_lists_the_filters_and_the_test():
    filters = ansible("ansible-doc", "-t", "filter", "-l", "progressive.delivery", "--json")
    assert filters.returncode == 0, filters.stderr
    assert {f"progressive.delivery.{n}" for n in ("release_version", "release_version_compare",
                                                  "release_version_bump")} <= set(json.loads(filters.stdout))
    tests = ansible("ansible-doc", "-t", "test", "-l", "progressive.delivery", "--json")
    assert tests.returncode == 0, tests.stderr
    assert "progressive.delivery.release_version" in json.loads(tests.stdout)
