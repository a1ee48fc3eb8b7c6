# -*- coding: utf-8 -*-
# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: release_version
short_description: Whether a value is a release version YYYY.MM.minor+build
version_added: 0.1.0
author: progressive.delivery contributors
description:
  - True when the value is a string that follows the rule C(YYYY.MM.minor+build), for example V(2026.11.3+92), with the
    same strict reading as the P(progressive.delivery.release_version#filter) filter. False otherwise, never an error,
    also for values that are not strings.
  - The filter says what is wrong with a value; the test only says whether it is right.
options:
  _input:
    description: The value to check.
    type: raw
    required: true
seealso:
  - plugin: progressive.delivery.release_version
    plugin_type: filter
"""

EXAMPLES = r"""
- name: Check the requested version before anything else
  ansible.builtin.assert:
    that: delivery_version is progressive.delivery.release_version
    fail_msg: "delivery_version must look like 2026.11.3+92 (YYYY.MM.minor+build), got {{ delivery_version }}"

- name: Keep only the release tags of a repository
  ansible.builtin.set_fact:
    release_tags: "{{ repo_tags | select('progressive.delivery.release_version') | list }}"
  vars:
    repo_tags: [latest, 2026.11.3+92, 2026.11.4+113, stable-kr]
  # => ['2026.11.3+92', '2026.11.4+113']
"""

RETURN = r"""
_value:
  description: Whether the value is a release version.
  type: boolean
"""

from typing import Any  # noqa: E402

from ansible_collections.progressive.delivery.plugins.filter.release_version import (  # noqa: E402
    InvalidReleaseVersion,
    parse_release_version,
)


def is_release_version(value: Any) -> bool:
    try:
        parse_release_version(value)
    except InvalidReleaseVersion:
        return False
    return True


class TestModule:
    """Release version test."""

    def tests(self) -> dict[str, Any]:
        return {"release_version": is_release_version}
