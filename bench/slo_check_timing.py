# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Per-task cost of `slo_check` with 5 indicators against the lab's Prometheus, next to
`ansible.builtin.command: true` (Ansible's own per-task cost) in the same play.

Interleaves the two tasks N times and reads each task's start/end from the json callback.
Needs the lab (`make lab-up`).

    .venv/bin/python bench/slo_check_timing.py [--runs 20]
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
import threading
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent


def slis() -> list[dict]:
    errors = 'sum(rate(http_requests_total{job="demo",path="/",code=~"5.."}[15s]))'
    total = 'sum(rate(http_requests_total{job="demo",path="/"}[15s]))'
    return [
        {"name": "error_rate", "query": f"{errors} / {total}",
         "max": 0.01, "on_no_data": "pass"},
        {"name": "p95", "max": 0.5,
         "query": 'histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket[15s])))'},
        {"name": "p99", "max": 1.0,
         "query": 'histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket[15s])))'},
        {"name": "targets_up", "query": 'sum(up{job="demo"})', "min": 2},
        {"name": "haproxy_backend_up", "query": 'sum(haproxy_backend_active_servers{proxy="demo"})', "min": 1},
    ]


def seconds(entry: dict) -> float:
    duration = entry["hosts"]["localhost"].get("duration") or entry["task"]["duration"]
    start = datetime.datetime.fromisoformat(duration["start"].replace("Z", "+00:00"))
    end = datetime.datetime.fromisoformat(duration["end"].replace("Z", "+00:00"))
    return (end - start).total_seconds()


def background_traffic(url: str, stop: threading.Event) -> None:
    """About 20 requests/s through the lab's HAProxy, so the indicators have data."""
    while not stop.wait(0.05):
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                resp.read()
        except OSError:
            pass


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--prometheus", default=f"http://127.0.0.1:{os.environ.get('LAB_PROMETHEUS_PORT', '19090')}")
    args = parser.parse_args()
    tasks = []
    for i in range(args.runs):
        tasks.append({"name": f"slo {i}", "progressive.delivery.slo_check": {
            "prometheus_url": args.prometheus, "slis": slis(), "fail_on_verdict": False}})
        tasks.append({"name": f"command {i}", "ansible.builtin.command": "true", "changed_when": False})
    play = [{"hosts": "localhost", "gather_facts": False, "tasks": tasks}]
    stop = threading.Event()
    haproxy = f"http://127.0.0.1:{os.environ.get('LAB_HAPROXY_PORT', '18080')}/"
    threading.Thread(target=background_traffic, args=(haproxy, stop), daemon=True).start()
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_STDOUT_CALLBACK="ansible.posix.json")
    with tempfile.TemporaryDirectory() as tmp:
        playbook = Path(tmp) / "bench.yml"
        playbook.write_text(json.dumps(play))
        proc = subprocess.run([str(VENV_BIN / "ansible-playbook"), "-i", "localhost,", "-c", "local", "-e",
                               f"ansible_python_interpreter={VENV_BIN / 'python'}", str(playbook)],
                              cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    stop.set()
    if proc.returncode:
        print(proc.stdout[-3000:], proc.stderr[-3000:], file=sys.stderr)
        return 1
    entries = json.loads(proc.stdout[proc.stdout.index("{"):])["plays"][0]["tasks"]
    slo = [seconds(e) for e in entries if e["task"]["name"].startswith("slo ")]
    cmd = [seconds(e) for e in entries if e["task"]["name"].startswith("command ")]
    verdicts = {e["hosts"]["localhost"].get("verdict") for e in entries if e["task"]["name"].startswith("slo ")}
    slo_median, cmd_median = statistics.median(slo), statistics.median(cmd)
    print(f"slo_check, 5 indicators: median {slo_median:.3f} s over {len(slo)} tasks (verdicts: {sorted(verdicts)})")
    print(f"command: true:           median {cmd_median:.3f} s over {len(cmd)} tasks")
    print(f"ratio slo_check / command: {slo_median / cmd_median:.2f}x (target <= 1.5x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
