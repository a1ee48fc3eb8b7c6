# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""How long `lab.py up` takes from cold (nothing running) and warm (everything running).

Runs a separate lab instance (its own LAB_DIR and ports shifted by --offset) so a lab that is
already running is not disturbed. Caches (Debian packages, the demo-app image) are warm unless
--first-run is given, which also wipes that instance's directory first.

    .venv/bin/python bench/lab_timing.py [--runs 3] [--offset 500]
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.lab import lab as labmod  # noqa: E402


def timed(cmd: list[str], env: dict[str, str]) -> float:
    start = time.monotonic()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.monotonic() - start


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--offset", type=int, default=500)
    args = parser.parse_args()
    env = dict(os.environ, LAB_DIR=str(ROOT / ".lab" / "bench-lab"))
    for name, port in labmod.DEFAULT_PORTS.items():
        env[f"LAB_{name.upper()}_PORT"] = str(port + args.offset)
    lab = [sys.executable, str(ROOT / "tests" / "lab" / "lab.py")]
    subprocess.run([*lab, "down"], env=env, check=True, stdout=subprocess.DEVNULL)
    shutil.rmtree(env["LAB_DIR"], ignore_errors=True)
    cold, warm, down = [], [], []
    try:
        for _run in range(args.runs):
            cold.append(timed([*lab, "up"], env))
            warm.append(timed([*lab, "up"], env))
            down.append(timed([*lab, "down"], env))
    finally:
        subprocess.run([*lab, "down"], env=env, stdout=subprocess.DEVNULL, check=False)
        shutil.rmtree(env["LAB_DIR"], ignore_errors=True)
    print(f"lab up, cold (first run of a fresh LAB_DIR, caches warm): median {statistics.median(cold):.2f} s "
          f"(runs: {', '.join(f'{t:.2f}' for t in cold)})")
    print(f"lab up, warm (everything already running):               median {statistics.median(warm):.2f} s "
          f"(runs: {', '.join(f'{t:.2f}' for t in warm)})")
    print(f"lab down:                                                median {statistics.median(down):.2f} s")
    print(f"cold/warm ratio: {statistics.median(cold) / statistics.median(warm):.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
