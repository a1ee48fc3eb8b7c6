# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Requests lost while canary_shift walks 0 -> 5 -> 25 -> 50 -> 100 -> 0 under keep-alive load.

For each router and mode, wrk drives keep-alive load through a router of our own (tests/lab/routers.py) in
front of the lab's two demo apps, while one ansible-playbook walks the weights `--rounds` times, with an
`ansible.builtin.command: true` task after every shift (Ansible's own per-task cost, same play). Reports
total and failed requests (non-2xx, connect/read/write errors, timeouts) and the shift task's time.

Also runs HAProxy with make-before-break disabled (the adapter's private bench switch, not an option) to show
what the ordering buys. Needs the lab (`make lab-up`) and wrk.

    .venv/bin/python bench/shift_under_load.py [--rounds 20] [--connections 32] [--modes haproxy,...] [--walk 0,100]

``--connections 0`` runs without load (task time only); ``--walk 0,100 --rounds 100`` makes 200 flips.
"""
from __future__ import annotations

import argparse
import contextlib
import datetime
import io
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / ".build"))
from ansible.module_utils.testing import patch_module_args  # noqa: E402
from ansible_collections.progressive.delivery.plugins.module_utils._routers import haproxy as haproxy_adapter  # noqa: E402
from ansible_collections.progressive.delivery.plugins.module_utils._weights import make_before_break  # noqa: E402
from ansible_collections.progressive.delivery.plugins.modules import canary_shift  # noqa: E402

from tests.lab import lab as labmod  # noqa: E402
from tests.lab.routers import OwnHAProxy, OwnNginx  # noqa: E402

VENV_BIN = Path(sys.executable).parent
WALK = (0, 5, 25, 50, 100, 0)
MODES = ("haproxy", "nginx-reload", "nginx-runtime", "haproxy-break-before-make")


@dataclass
class Outcome:
    mode: str
    requests: int
    failed: int
    detail: str
    shift_median: float
    shift_p95: float
    command_median: float


def start_router(mode: str, workdir: Path) -> tuple[Any, str, dict[str, Any]]:
    """The router for ``mode``, its URL, and the canary_shift options that drive it."""
    p = labmod.ports()
    blue, green = f"127.0.0.1:{p['app_blue']}", f"127.0.0.1:{p['app_green']}"
    if mode.startswith("haproxy"):
        router = OwnHAProxy(workdir / "haproxy", labmod.free_port())
        router.start(p["app_blue"], p["app_green"])
        options = {"router": "haproxy", "haproxy_socket": router.socket, "backend": "app", "stable": "blue",
                   "canary": "green", "haproxy_state_file": router.state_file}
        return router, f"http://127.0.0.1:{router.port}/", options
    router = OwnNginx(workdir, mode.split("-", 1)[1], blue, green)
    router.start()
    return router, router.url, {**router.options(), "stable": blue, "canary": green}


def playbook(options: dict[str, Any], rounds: int, walk: tuple[int, ...] = WALK) -> list[dict[str, Any]]:
    tasks = []
    for round_no in range(rounds):
        for step, weight in enumerate(walk):
            tasks.append({"name": f"shift {round_no}.{step}",
                          "progressive.delivery.canary_shift": {**options, "weight": weight}})
            tasks.append({"name": f"command {round_no}.{step}", "ansible.builtin.command": "true",
                          "changed_when": False})
    return [{"hosts": "localhost", "gather_facts": False, "tasks": tasks}]


def task_seconds(entry: dict[str, Any]) -> float:
    duration = entry["hosts"]["localhost"].get("duration") or entry["task"]["duration"]
    start, end = (datetime.datetime.fromisoformat(duration[k].replace("Z", "+00:00")) for k in ("start", "end"))
    return (end - start).total_seconds()


def parse_wrk(output: str) -> tuple[int, int, str]:
    total = int(re.search(r"(\d+) requests in", output).group(1))
    non2xx = int(m.group(1)) if (m := re.search(r"Non-2xx or 3xx responses: (\d+)", output)) else 0
    errors = {k: 0 for k in ("connect", "read", "write", "timeout")}
    if m := re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output):
        errors = dict(zip(errors, map(int, m.groups()), strict=True))
    detail = f"non-2xx {non2xx}, " + ", ".join(f"{k} {v}" for k, v in errors.items())
    return total, non2xx + sum(errors.values()), detail


def break_before_make(before: dict[str, int], after: dict[str, int]) -> list[tuple[str, int]]:
    """The wrong order on purpose: every server that loses first, then every server that gains."""
    steps = make_before_break(before, after)
    gains = [step for step in steps if step[1] > before.get(step[0], 0)]
    return [step for step in steps if step not in gains] + gains


def walk_in_process(options: dict[str, Any], rounds: int, walk: tuple[int, ...]) -> list[float]:
    """canary_shift's main() in this process for every step, with the HAProxy adapter's order replaced."""
    seconds = []
    original = haproxy_adapter.ordered_updates
    haproxy_adapter.ordered_updates = break_before_make
    try:
        for _round in range(rounds):
            for weight in walk:
                start = time.monotonic()
                out = io.StringIO()
                with patch_module_args({**options, "weight": weight}), contextlib.redirect_stdout(out), \
                        contextlib.suppress(SystemExit):
                    canary_shift.main()
                seconds.append(time.monotonic() - start)
                result = json.loads(out.getvalue())
                if result.get("failed"):
                    raise SystemExit(f"break-before-make walk failed: {result['msg']}")
    finally:
        haproxy_adapter.ordered_updates = original
    return seconds


def run_mode(mode: str, rounds: int, connections: int, walk: tuple[int, ...] = WALK) -> Outcome:
    workdir = Path(labmod.lab_dir()) / f"bench-shift-{uuid.uuid4().hex[:8]}"
    workdir.mkdir(parents=True)
    router, url, options = start_router(mode, workdir)
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_STDOUT_CALLBACK="ansible.posix.json")
    in_process = mode.endswith("break-before-make")
    proc = None
    shifts: list[float] = []
    wrk = None
    if connections:
        wrk = subprocess.Popen(["wrk", "-t2", f"-c{connections}", "-d3600s", url], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    try:
        if in_process:
            shifts = sorted(walk_in_process(options, rounds, walk))
        else:
            proc = run_playbook_walk(options, rounds, walk, env)
    finally:
        wrk_out = "0 requests in"
        if wrk is not None:
            wrk.send_signal(signal.SIGINT)  # wrk prints its summary on SIGINT
            wrk_out, _err = wrk.communicate(timeout=30)
        router.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    commands = [float("nan")]
    if proc is not None:
        if proc.returncode:
            raise SystemExit(f"{mode}: ansible-playbook failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-2000:]}")
        entries = json.loads(proc.stdout[proc.stdout.index("{"):])["plays"][0]["tasks"]
        shifts = sorted(task_seconds(e) for e in entries if e["task"]["name"].startswith("shift "))
        commands = [task_seconds(e) for e in entries if e["task"]["name"].startswith("command ")]
    total, failed, detail = parse_wrk(wrk_out)
    return Outcome(mode, total, failed, detail, statistics.median(shifts),
                   shifts[min(len(shifts) - 1, int(0.95 * len(shifts)))], statistics.median(commands))


def run_playbook_walk(options: dict[str, Any], rounds: int, walk: tuple[int, ...],
                      env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "walk.yml"
        path.write_text(json.dumps(playbook(options, rounds, walk)))
        return subprocess.run([str(VENV_BIN / "ansible-playbook"), "-i", "localhost,", "-c", "local", "-e",
                               f"ansible_python_interpreter={VENV_BIN / 'python'}", str(path)],
                              cwd=ROOT, env=env, capture_output=True, text=True, check=False)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--connections", type=int, default=32, help="wrk connections; 0: no load (task time only)")
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--walk", default=",".join(map(str, WALK)),
                        help="weights of one round, e.g. 0,100 for flips (default %(default)s)")
    args = parser.parse_args()
    # SIGTERM (timeout, Ctrl-C in CI) runs the finally blocks: wrk and our router are stopped by PID
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    labmod.up()
    walk = tuple(int(weight) for weight in args.walk.split(","))
    load = f"wrk -t2 -c{args.connections} keep-alive" if args.connections else "no load"
    print(f"walk {' -> '.join(map(str, walk))} x {args.rounds} rounds, {load}")
    print("| mode | requests | failed | failed share | detail | shift median | shift p95 | command: true median"
          " | shift / command |")
    print("|---|---:|---:|---:|---|---:|---:|---:|---:|")
    for mode in args.modes.split(","):
        o = run_mode(mode, args.rounds, args.connections, walk)
        print(f"| {o.mode} | {o.requests} | {o.failed} | {100 * o.failed / max(o.requests, 1):.3f}% | {o.detail} |"
              f" {o.shift_median:.3f} s | {o.shift_p95:.3f} s | {o.command_median:.3f} s |"
              f" {o.shift_median / o.command_median:.2f}x |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
