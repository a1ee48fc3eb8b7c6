# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Put the lab's KR pools back as the lab starts them (as tests/e2e/conftest.py's reset_pools does).

    python restore_pools.py            blue and green running the lab's versions: only a pool that is not so (a
                                       release deployed there, a pool made bad, not running) is started again;
                                       prints the pools it started ("none")
    python restore_pools.py --wait URL until the router at URL answers with both lab versions (30 s at most)

The HAProxy weights (128/128) are the playbook's (canary_shift). Run from the project directory."""
from __future__ import annotations

import json
import sys
import time
import urllib.error
import urllib.request

sys.path.insert(0, ".")

from tests.lab import lab  # pylint: disable=wrong-import-position


def wait_for_both_versions(url: str, timeout: float = 30.0) -> int:
    deadline = time.monotonic() + timeout
    seen: set = set()
    while time.monotonic() < deadline:
        try:
            seen = {json.loads(urllib.request.urlopen(url, timeout=2).read())["version"] for _request in range(12)}
        except (urllib.error.URLError, OSError, ValueError, KeyError):
            seen = set()
        if seen == {lab.BLUE_VERSION, lab.GREEN_VERSION}:
            return 0
        time.sleep(0.5)
    print(f"{url} did not answer with both lab versions within {timeout:g}s (last seen: {sorted(seen)})")
    return 1


def main() -> int:
    if sys.argv[1:2] == ["--wait"]:
        return wait_for_both_versions(sys.argv[2])
    ports = lab.ports()
    started = []
    for pool, version in (("blue", lab.BLUE_VERSION), ("green", lab.GREEN_VERSION)):
        status = lab.pool_status(pool)
        if status["running"] and status["version"] == version and not status["version_label"] and not status["bad"]:
            continue
        lab.start_app(pool, ports[lab.pool_key(pool)], version)
        started.append(pool)
    print(" ".join(started) or "none")
    return 0


if __name__ == "__main__":
    sys.exit(main())
