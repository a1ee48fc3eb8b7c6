# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Every role's molecule scenario (`molecule test -s <name>`), run on this pytest-xdist worker's lab.

`make test` runs the scenarios here, among the e2e flows, so the two workers share them out instead of running
them one after the other on the first lab; `make molecule` still runs them all on the lab of the environment. A
scenario's create finds the worker's lab running and leaves it running (no `lab-started` marker).
"""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.integration.conftest import lab  # noqa: F401  # pylint: disable=unused-import

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = sorted(path.parent.name for path in (ROOT / "molecule").glob("*/molecule.yml"))


def test_every_role_has_a_scenario():
    roles = sorted(path.name for path in (ROOT / "roles").iterdir() if (path / "tasks").is_dir())
    assert [role for role in roles if role not in SCENARIOS] == []


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_molecule_scenario(lab, scenario):  # noqa: F811 (pytest fixture by name)
    environment = dict(os.environ, PATH=f"{ROOT / '.venv' / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
                       ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0",
                       NO_COLOR="1")
    run = subprocess.run([str(ROOT / ".venv" / "bin" / "molecule"), "test", "-s", scenario], cwd=ROOT,
                         env=environment, capture_output=True, text=True, timeout=1200, check=False)
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-8000:]
    assert "verify: Executed: Successful" in output, output[-4000:]
