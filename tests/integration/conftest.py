# -*- coding: utf-8 -*-
# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Integration tests run against the lab's real servers.

The session fixture brings the lab up (idempotent) and, when it was not already running, takes it
down again at the end. Set LAB_KEEP=1 to leave it running for the next run.
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.lab import lab as labmod


@dataclass(frozen=True)
class Lab:
    ports: dict[str, int]
    dir: str
    image: str

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    @property
    def haproxy_socket(self) -> str:
        return f"{self.dir}/haproxy/admin.sock"

    @property
    def postgres_dsn(self) -> str:
        return (f"postgresql://{labmod.PG_USER}:{labmod.PG_PASSWORD}@127.0.0.1:{self.ports['postgres']}/"
                f"{labmod.PG_DB}")


@pytest.fixture(scope="session")
def lab() -> Iterator[Lab]:
    was_up = labmod.is_up()
    where = labmod.up()
    yield Lab(ports=labmod.ports(), dir=str(labmod.lab_dir()), image=where["image"])
    if not was_up and not os.environ.get("LAB_KEEP"):
        labmod.down()
