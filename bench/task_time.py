# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Per-task time of each module, this tree against a baseline git ref, measured in one run.

For each tree (the baseline checked out in a temporary git worktree, and the working tree) one playbook
interleaves, N times: ``deploy_lock`` acquire and release (a temporary store), ``qos_guard`` query,
``canary_shift`` on the lab's HAProxy in check mode (reads the weights, changes nothing), ``slo_check`` with 3
indicators against the lab's Prometheus, and ``ansible.builtin.command: true`` (Ansible's own per-task cost,
the floor). The trees alternate, so both see the same machine. Prints medians and the ratio of each module
task to the floor of its own play.

    make lab-up
    .venv/bin/python bench/task_time.py --baseline a9ff27f --runs 15 --rounds 2
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
TASKS = ("deploy_lock acquire", "deploy_lock release", "qos_guard query", "canary_shift read", "slo_check",
         "command true")


def lab_port(name: str, default: int) -> int:
    return int(os.environ.get(f"LAB_{name.upper()}_PORT", default))


def lab_dir() -> Path:
    return Path(os.environ.get("LAB_DIR", str(ROOT / ".lab"))).resolve()


def play(runs: int, store: str) -> list[dict]:
    prometheus = f"http://127.0.0.1:{lab_port('prometheus', 19090)}"
    slis = [
        {"name": "targets_up", "query": 'sum(up{job="demo"})', "min": 1},
        {"name": "haproxy_up", "query": 'sum(haproxy_backend_active_servers{proxy="demo"})', "min": 1},
        {"name": "scrape_ok", "query": "min(up)", "min": 0},
    ]
    tasks: list[dict] = []
    for i in range(runs):
        tasks += [
            {"name": f"deploy_lock acquire {i}", "progressive.delivery.deploy_lock": {
                "name": "bench/app", "store_dir": store, "owner": "bench"}},
            {"name": f"deploy_lock release {i}", "progressive.delivery.deploy_lock": {
                "name": "bench/app", "state": "released", "store_dir": store, "owner": "bench"}},
            {"name": f"qos_guard query {i}", "progressive.delivery.qos_guard": {"name": "bench/app",
                                                                                "store_dir": store}},
            {"name": f"canary_shift read {i}", "progressive.delivery.canary_shift": {
                "router": "haproxy", "haproxy_socket": str(lab_dir() / "haproxy" / "admin.sock"),
                "backend": "demo", "stable": "blue", "canary": "green", "weight": 50}, "check_mode": True},
            {"name": f"slo_check {i}", "progressive.delivery.slo_check": {
                "prometheus_url": prometheus, "slis": slis, "fail_on_verdict": False}},
            {"name": f"command true {i}", "ansible.builtin.command": "true", "changed_when": False},
        ]
    return [{"hosts": "localhost", "gather_facts": False, "tasks": tasks}]


def seconds(entry: dict) -> float:
    duration = entry["hosts"]["localhost"].get("duration") or entry["task"]["duration"]
    start = datetime.datetime.fromisoformat(duration["start"].replace("Z", "+00:00"))
    end = datetime.datetime.fromisoformat(duration["end"].replace("Z", "+00:00"))
    return (end - start).total_seconds()


def prepare_baseline(ref: str, where: Path) -> Path:
    subprocess.run(["git", "worktree", "add", "--detach", str(where), ref], cwd=ROOT, check=True,
                   capture_output=True)
    link = where / ".build" / "ansible_collections" / "progressive"
    link.mkdir(parents=True, exist_ok=True)
    (link / "delivery").symlink_to("../../..")
    return where


def run_play(tree: Path, runs: int, tmp: Path) -> dict[str, list[float]]:
    store = tmp / f"store-{tree.name}"
    playbook = tmp / f"bench-{tree.name}.yml"
    playbook.write_text(json.dumps(play(runs, str(store))))
    env = dict(os.environ, ANSIBLE_CONFIG=str(tree / "ansible.cfg"), ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
               ANSIBLE_COLLECTIONS_PATH=str(tree / ".build"))
    proc = subprocess.run([str(VENV_BIN / "ansible-playbook"), "-i", "localhost,", "-c", "local", "-e",
                           f"ansible_python_interpreter={VENV_BIN / 'python'}", str(playbook)],
                          cwd=tree, env=env, capture_output=True, text=True, check=False)
    if proc.returncode:
        raise SystemExit(f"{tree}: playbook failed\n{proc.stdout[-3000:]}\n{proc.stderr[-2000:]}")
    entries = json.loads(proc.stdout[proc.stdout.index("{"):])["plays"][0]["tasks"]
    times: dict[str, list[float]] = {task: [] for task in TASKS}
    for entry in entries:
        name = entry["task"]["name"].rsplit(" ", 1)[0]
        times[name].append(seconds(entry))
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", default="a9ff27f", help="git ref to compare with (default: before issue 10)")
    parser.add_argument("--runs", type=int, default=15, help="repetitions of each task per play")
    parser.add_argument("--rounds", type=int, default=2, help="plays per tree, alternating trees")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        baseline = prepare_baseline(args.baseline, tmp / "baseline")
        try:
            trees = {"baseline": baseline, "current": ROOT}
            times: dict[str, dict[str, list[float]]] = {name: {task: [] for task in TASKS} for name in trees}
            for _round in range(args.rounds):
                for name, tree in trees.items():
                    for task, values in run_play(tree, args.runs, tmp).items():
                        times[name][task] += values
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(baseline)], cwd=ROOT, check=False,
                           capture_output=True)
    print(f"baseline {args.baseline} vs working tree; {args.runs} x {args.rounds} tasks each; medians in seconds")
    print(f"{'task':<22}{'baseline':>10}{'current':>10}{'base/floor':>12}{'cur/floor':>11}")
    floors = {name: statistics.median(times[name]["command true"]) for name in times}
    for task in TASKS:
        base, cur = statistics.median(times["baseline"][task]), statistics.median(times["current"][task])
        ratios = f"{base / floors['baseline']:>11.2f}x{cur / floors['current']:>10.2f}x"
        print(f"{task:<22}{base:>10.3f}{cur:>10.3f}{ratios}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
