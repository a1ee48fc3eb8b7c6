# -*- coding: utf-8 -*-
# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The one place that checks optional Python dependencies (as community.crypto's ``_cryptography_dep.py``).

A dependency is looked up without importing it (``importlib.util.find_spec``), so a module pays for scipy or the
kubernetes client only on the code path that uses them. :func:`require` raises a
:class:`~._result.ModuleFailure` with Ansible's ``missing_required_lib`` message, naming the minimum version.
"""
from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass

from ansible.module_utils.basic import missing_required_lib
from ansible_collections.progressive.delivery.plugins.module_utils._result import ModuleFailure


@dataclass(frozen=True)
class Dependency:
    module: str
    distribution: str
    minimum: str

    @property
    def requirement(self) -> str:
        return f"{self.distribution} >= {self.minimum}"

    def installed_version(self) -> str | None:
        if importlib.util.find_spec(self.module) is None:
            return None
        try:
            from importlib.metadata import PackageNotFoundError, version  # pylint: disable=import-outside-toplevel
        except ImportError:  # pragma: no cover (Python < 3.8)
            return "unknown"
        try:
            return version(self.distribution)
        except PackageNotFoundError:
            return "unknown"

    def problem(self) -> str | None:
        """``None`` when a recent enough version is importable, else what is wrong."""
        found = self.installed_version()
        if found is None:
            return f"No module named {self.module!r}"
        if found != "unknown" and _version_tuple(found) < _version_tuple(self.minimum):
            return f"{self.distribution} {found} is installed, {self.requirement} is required"
        return None

    @property
    def available(self) -> bool:
        return self.problem() is None


def _version_tuple(text: str) -> tuple[int, ...]:
    """Leading numeric release parts: ``1.11.4`` -> (1, 11, 4), ``3.2.1rc1`` -> (3, 2, 1)."""
    parts: list[int] = []
    for piece in text.split("."):
        digits = re.match(r"\d*", piece).group()
        if not digits:
            break
        parts.append(int(digits))
        if digits != piece:
            break
    return tuple(parts)


SCIPY = Dependency("scipy", "scipy", "1.11")
PSYCOPG = Dependency("psycopg", "psycopg", "3.1")
KUBERNETES = Dependency("kubernetes", "kubernetes", "29.0")


def require(dependency: Dependency, reason: str | None = None, option: str | None = None) -> None:
    """Raise :class:`ModuleFailure` (``missing_required_lib``) unless ``dependency`` is usable."""
    problem = dependency.problem()
    if problem is not None:
        raise ModuleFailure(missing_required_lib(dependency.requirement, reason=reason), option=option,
                            exception=problem)
