# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Shared by every test directory: each pytest-xdist worker gets a lab of its own."""
from __future__ import annotations

import os

import pytest

from tests.lab import lab as labmod


def pytest_configure(config: pytest.Config) -> None:
    """Point a second (third...) xdist worker at its own lab: LAB_<NAME>_PORT shifted, LAB_DIR suffixed.

    `make test` runs integration and e2e on two workers. The inventories and the lab read these variables, and
    every ansible-playbook a test starts inherits them. The session fixture ``lab`` starts that lab and stops it at
    the end unless LAB_KEEP is set (`make test` sets it, so the integration run's labs serve the e2e run too, and
    stops them all at its end with `lab.py down --worker N`).
    """
    worker = getattr(config, "workerinput", {}).get("workerid", "gw0")
    os.environ.update(labmod.worker_env(int(worker.removeprefix("gw"))))
