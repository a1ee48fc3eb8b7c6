# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A module's documented options with its doc fragments merged in, the way ansible-doc merges them.

Uses ansible-core's own ``merge_fragment`` (the module's keys of an option win over the fragment's, shallowly),
so a test that compares documentation with an argument_spec sees what users see in ``ansible-doc``.
"""
from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

import yaml
from ansible.utils.plugin_docs import merge_fragment

COLLECTION = "progressive.delivery."


def documented_options(module: ModuleType) -> dict[str, Any]:
    doc = yaml.safe_load(module.DOCUMENTATION)
    options = doc.get("options", {})
    for name in doc.get("extends_documentation_fragment", []):
        if not name.startswith(COLLECTION):
            raise ValueError(f"{module.__name__}: fragment {name} is not one of this collection's")
        fragment_module = importlib.import_module(
            f"ansible_collections.progressive.delivery.plugins.doc_fragments.{name.removeprefix(COLLECTION)}")
        # a fragment may document attributes only (progressive.delivery._in_process)
        merge_fragment(options, yaml.safe_load(fragment_module.ModuleDocFragment.DOCUMENTATION).get("options", {}))
    return options
