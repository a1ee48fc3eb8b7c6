# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Put the lab's KR pools back as the lab starts them (as tests/e2e/conftest.py's reset_pools does).

    python restore_pools.py            blue and green running the lab's versions: only a pool that is not so (a
                                       release deployed there, a pool made bad, not running) is started again;
                                       prints the pools it started ("none")
    python restore_pools.py --wait URL until the router at URL answers with both lab versions (30 s at most)
    python restore_pools.py --web      the web tier as the lab starts it (web1-3 on the lab's image, no surge
                                       container); prints the instances it started ("none")

The HAProxy weights (128/128) are the playbook's (canary_shift). Run from the project directory."""
from __future__ import annotations

import json
import subprocess
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


def restore_web() -> int:
    """The web tier as the lab starts it: web1-3 on the lab's image and version, no surge container."""
    ports = lab.ports()
    subprocess.run(["docker", "rm", "-f", lab.container_name(lab.WEB_SURGE)], capture_output=True, check=False)
    started = []
    for name in lab.WEB_INSTANCES:
        info = lab.docker_inspect(lab.container_name(name))
        labels = (info or {}).get("Config", {}).get("Labels") or {}
        if info and info["State"].get("Running") and labels.get("progressive.delivery.lab") == "1":
            continue
        lab.start_app(name, ports[lab.pool_key(name)], lab.WEB_VERSION, pool=name)
        started.append(name)
    print(" ".join(started) or "none")
    return 0


def main() -> int:
    if sys.argv[1:2] == ["--wait"]:
        return wait_for_both_versions(sys.argv[2])
    if sys.argv[1:2] == ["--web"]:
        return restore_web()
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
