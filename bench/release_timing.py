# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The release on the lab, timed (issue 11): rollback, detection and the canary's overhead.

A client sends about 40 requests/s through the lab's HAProxy and logs every answer (time, version, code). Each
run, from a known state (fresh ``delivery_state_dir``, pools reset to the lab's versions at 128/128):

1. Rollback. deploy.yml (canary) promotes V1 in green, then V2 in blue (green still runs V1); then
   rollback.yml. Measured: its start to the first answer after which the client only sees V1 (at least 20
   answers in a row, to the end), and the playbook's own wall time.
2. Overhead. The canary of step 1 (a good 4-step canary): wall time minus the configured observation (sum of the
   steps' observe, plus the bake), and where the rest goes (each task's time from its TASK banner to the next,
   the banners timestamped as ansible-playbook prints them).
3. Detection. A canary of V2 from the reset state; once step ``--fault-step`` is analysed (``analysis [step 1/4``
   on stdout) the candidate goes bad at T0; measured: T0 to the last answer the client got from the candidate
   (request start). Two faults:
   - ``pool``: ``lab.make_pool_bad(candidate, error_rate=0.5)``, which recreates the candidate's container (the
     analysis' container check sees it replaced, independently of the error rate);
   - ``route``: the candidate's HAProxy server is pointed (runtime API ``set server ... addr``) at a second
     demo-app instance with the same version and pool labels and APP_ERROR_RATE=0.5, already scraped by
     Prometheus: the container and health checks stay green, only the error rate reveals the fault.
Floor: a one-task ``ansible-playbook`` (``ansible.builtin.command: true`` on the lab inventory's localhost),
three times per run, in the same run.

Needs the lab; use a lab of your own when others use the shared one (LAB_DIR and LAB_*_PORT):

    .venv/bin/python bench/release_timing.py [--runs 3] [--faults pool,route] [--fault-step 1] [--verbose]
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / ".build"))
from ansible_collections.progressive.delivery.plugins.module_utils._time import parse_duration  # noqa: E402

from tests.e2e.conftest import image_digest_ref, record, reset_pools  # noqa: E402
from tests.integration.conftest import Lab  # noqa: E402
from tests.lab import lab as labmod  # noqa: E402

VENV_BIN = Path(sys.executable).parent
V1, V2 = "2026.12.0+1", "2026.12.1+2"
RATE = 40.0
IN_A_ROW = 20


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


# ------------------------------------------------------------------------------------------------
# The client: every answer with the time its request started
# ------------------------------------------------------------------------------------------------
@dataclass
class Client:
    url: str
    rate: float = RATE
    workers: int = 4
    log: list[tuple[float, str, int]] = field(default_factory=list)  # (request start, version, code)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _run(self) -> None:
        interval = self.workers / self.rate
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                with urllib.request.urlopen(self.url, timeout=5) as resp:
                    version, code = json.loads(resp.read()).get("version", "?"), resp.status
            except urllib.error.HTTPError as exc:
                try:
                    version, code = json.loads(exc.read()).get("version", "?"), exc.code
                except ValueError:
                    version, code = "?", exc.code
            except (urllib.error.URLError, OSError, ValueError) as exc:
                version, code = f"error:{type(exc).__name__}", 0
            with self._lock:
                self.log.append((started, version, code))
            self._stop.wait(max(0.0, interval - (time.monotonic() - started)))

    def start(self) -> Client:
        self._threads = [threading.Thread(target=self._run, daemon=True) for _worker in range(self.workers)]
        for thread in self._threads:
            thread.start()
            time.sleep(1 / self.rate)  # spread the workers over the interval
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()

    def answers(self, since: float = 0.0) -> list[tuple[float, str, int]]:
        with self._lock:
            return sorted(entry for entry in self.log if entry[0] >= since)

    def failed(self, since: float = 0.0, except_version: str | None = None) -> int:
        return sum(1 for _t, version, code in self.answers(since) if code != 200 and version != except_version)


def all_from(answers: list[tuple[float, str, int]], version: str, at_least: int) -> float | None:
    """Start time of the first answer after which every answer is from ``version`` (``at_least`` of them)."""
    tail = 0
    for index in range(len(answers) - 1, -1, -1):
        if answers[index][1] != version:
            break
        tail += 1
    if tail < at_least:
        return None
    return answers[len(answers) - tail][0]


# ------------------------------------------------------------------------------------------------
# ansible-playbook, with every stdout line timestamped as it arrives
# ------------------------------------------------------------------------------------------------
@dataclass
class Play:
    rc: int
    started: float
    ended: float
    lines: list[tuple[float, str]]

    @property
    def seconds(self) -> float:
        return self.ended - self.started

    @property
    def stdout(self) -> str:
        return "\n".join(line for _t, line in self.lines)

    def tasks(self) -> list[tuple[str, float, float]]:
        """(task name, start, seconds): from each TASK banner to the next banner (or the recap)."""
        banners = [(t, line) for t, line in self.lines if line.startswith(("TASK [", "PLAY RECAP"))]
        out = []
        for (start, line), (end, _next) in itertools.pairwise(banners):
            if line.startswith("TASK ["):
                out.append((line[len("TASK ["):line.rindex("]")], start, end - start))
        return out


def run_playbook(args: list[str], on_line: Callable[[float, str], None] | None = None, inventory: bool = True,
                 env: dict[str, str] | None = None) -> Play:
    environment = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
                       ANSIBLE_FORCE_COLOR="0", PYTHONUNBUFFERED="1", **(env or {}))
    cmd = [str(VENV_BIN / "ansible-playbook")]
    if inventory:
        cmd += ["-i", str(ROOT / "inventories" / "lab")]
    started = time.monotonic()
    proc = subprocess.Popen([*cmd, *args], cwd=ROOT, env=environment, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, bufsize=1)
    lines: list[tuple[float, str]] = []
    assert proc.stdout is not None
    for line in proc.stdout:
        now = time.monotonic()
        lines.append((now, line.rstrip("\n")))
        if on_line is not None:
            on_line(now, line)
    rc = proc.wait()
    return Play(rc, started, time.monotonic(), lines)


def deploy(state: Path, image: str, version: str, *extra: str, on_line=None) -> Play:
    return run_playbook([str(ROOT / "playbooks" / "deploy.yml"), "-e", f"delivery_state_dir={state}",
                         "-e", f"delivery_image={image}", "-e", f"delivery_version={version}", *extra],
                        on_line=on_line)


class Spoiled(Exception):
    """A run that failed before or outside what it measures (e.g. a good canary rolled back): retried."""


def why(play: Play) -> str:
    fatal = [line for _t, line in play.lines if line.startswith("fatal:")]
    return (fatal[0] if fatal else play.stdout[-400:])[:400]


def must(play: Play, what: str) -> Play:
    if play.rc:
        raise Spoiled(f"{what} failed (rc {play.rc}): {why(play)}")
    return play


def floor(workdir: Path, times: int = 3) -> list[float]:
    book = workdir / "one-task.yml"
    book.write_text(json.dumps([{"hosts": "delivery_controller", "gather_facts": False, "tasks": [
        {"name": "one task", "ansible.builtin.command": "true", "changed_when": False}]}]))
    return [must(run_playbook([str(book)]), "one-task playbook").seconds for _time in range(times)]


# ------------------------------------------------------------------------------------------------
# Scenarios
# ------------------------------------------------------------------------------------------------
def release_config() -> tuple[list[dict[str, Any]], float]:
    release = yaml.safe_load((ROOT / "inventories" / "lab" / "group_vars" / "all" / "release.yml").read_text())
    return release["delivery_canary_steps"], parse_duration(release["delivery_bake_time"])


def categorise(name: str) -> str:
    lowered = name.lower()
    if "analysis" in lowered or "preview" in lowered:
        return "analysis (slo_check polls, observe time)"
    if "app_docker" in lowered:
        return "app_docker (pull, container start, health wait)"
    if "shift" in lowered:
        return "canary_shift"
    if "release_gate" in lowered:
        return "release_gate (bake, tag)"
    if "record" in lowered or "still current" in lowered:
        return "release_record"
    if "preflight" in lowered or "lock" in lowered:
        return "preflight (version, digest, guard, lock)"
    return "other (set_fact, assert, include, debug)"


def analysis_elapsed(play: Play) -> list[float]:
    """Each step's analysis time, from its `... passed after 9s` line."""
    out = []
    for _t, line in play.lines:
        if m := re.search(r"analysis \[step \d+/\d+ \d+%\] passed after ([\dhms.]+)", line):
            out.append(parse_duration(m.group(1)))
    return out


def rollback_and_overhead(lab: Lab, workdir: Path, image: str, client: Client) -> dict[str, Any]:
    reset_pools(lab)
    state = Path(tempfile.mkdtemp(prefix="state-", dir=workdir))
    # V1 by canary into green (blue_green's 0 % preview has too few smoke requests for its evidence floor, see
    # docs/benchmarks.md), then the measured canary of V2 into blue, then the rollback to green.
    must(deploy(state, image, V1), "canary deploy of V1")
    since = time.monotonic()
    canary = must(deploy(state, image, V2), "canary deploy of V2")
    canary_failed = client.failed(since)
    rec = record(state)
    if rec["stable_pool"] != "blue" or rec["pools"]["green"]["version"] != V1:
        raise SystemExit(f"unexpected record before the rollback: {rec}")
    time.sleep(1.0)
    since = time.monotonic()
    rollback = must(run_playbook([str(ROOT / "playbooks" / "rollback.yml"), "-e", f"delivery_state_dir={state}",
                                  "-e", "delivery_rollback_reason=bench"]), "rollback")
    deadline = time.monotonic() + 10
    seen = None
    while time.monotonic() < deadline:
        time.sleep(0.5)
        answers = client.answers(rollback.started)
        if (seen := all_from(answers, V1, IN_A_ROW)) is not None and time.monotonic() - seen > IN_A_ROW / RATE:
            break
    return {"rollback_seen": None if seen is None else seen - rollback.started, "rollback_wall": rollback.seconds,
            "rollback_failed": client.failed(since), "rollback_tasks": rollback.tasks(),
            "canary_wall": canary.seconds, "canary_tasks": canary.tasks(), "canary_failed": canary_failed,
            "canary_analysis": analysis_elapsed(canary)}


def haproxy_command(lab: Lab, command: str) -> str:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(lab.haproxy_socket)
        sock.sendall(command.encode() + b"\n")
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks).decode()


class RouteFault:
    """A bad instance of the candidate's release (same version and pool labels), scraped before the fault; the
    fault points the candidate's HAProxy server at it."""

    def __init__(self, lab: Lab, pool: str) -> None:
        self.lab, self.pool = lab, pool
        self.port = labmod.free_port()
        self.target = labmod.lab_dir() / "prometheus" / "targets" / "bench-release-bad.json"
        self.cid = labmod.start_app("benchbad", self.port, V2, error_rate=0.5, pool=pool)
        labels = {"app": "demo", "region": "kr"}  # as the lab's own KR pools
        self.target.write_text(json.dumps([{"targets": [f"127.0.0.1:{self.port}"], "labels": labels}]))
        labmod.wait_until("Prometheus scrapes the bad instance", self._scraped, timeout=30)

    def _scraped(self) -> bool:
        query = urllib.parse.quote(f'up{{job="demo",instance="127.0.0.1:{self.port}"}}')
        status, _h, body = labmod.http(f"{self.lab.url('prometheus')}/api/v1/query?query={query}")
        return status == 200 and any(r["value"][1] == "1" for r in json.loads(body)["data"]["result"])

    def on(self) -> None:
        out = haproxy_command(self.lab, f"set server demo/{self.pool} addr 127.0.0.1 port {self.port}")
        if "changed" not in out and "no need to change" not in out:
            raise SystemExit(f"HAProxy refused the address change: {out}")

    def close(self) -> None:
        port = labmod.ports()[labmod.pool_key(self.pool)]
        haproxy_command(self.lab, f"set server demo/{self.pool} addr 127.0.0.1 port {port}")
        self.target.unlink(missing_ok=True)
        labmod.stop_container(self.cid)


def detection(lab: Lab, workdir: Path, image: str, client: Client, fault: str, step: int) -> dict[str, Any]:
    reset_pools(lab)
    state = Path(tempfile.mkdtemp(prefix="state-", dir=workdir))
    candidate = "green"  # the reset lab's stable pool is blue (delivery_initial_stable_pool)
    route = RouteFault(lab, candidate) if fault == "route" else None
    marks: dict[str, float] = {}
    trigger = threading.Event()

    def inject() -> None:
        trigger.wait()
        if "step_seen" not in marks:  # the playbook ended before the step: no fault
            return
        marks["t0"] = time.monotonic()
        if route is not None:
            route.on()
        else:
            labmod.make_pool_bad(candidate, error_rate=0.5)
        marks["injected"] = time.monotonic()

    def on_line(now: float, line: str) -> None:
        if not trigger.is_set() and f"analysis [step {step}/" in line:
            marks["step_seen"] = now
            trigger.set()

    injector = threading.Thread(target=inject, daemon=True)
    injector.start()
    try:
        play = deploy(state, image, V2, on_line=on_line)
    finally:
        trigger.set()
        injector.join()
        if route is not None:
            route.close()
    if play.rc == 0 or "t0" not in marks:
        applied = "applied" if "t0" in marks else "not applied"
        raise Spoiled(f"detection ({fault}): rc {play.rc}, fault {applied}: {why(play)}")
    if any("analysis [" in line and re.search(r"(failed|inconclusive) after", line)
           for t, line in play.lines if t < marks["t0"]):
        raise Spoiled(f"detection ({fault}): an analysis failed before the fault: {why(play)}")
    t0 = marks["t0"]
    answers = client.answers(t0 - 1)
    candidate_after = [t for t, version, _code in answers if version == V2 and t >= t0]
    first_500 = next((t for t, version, code in answers if version == V2 and code == 500 and t >= t0), None)
    last_candidate = max(candidate_after) if candidate_after else t0
    after_t0 = [(t, line) for t, line in play.lines if t >= t0]
    verdict = re.compile(r"analysis \[step \d+/\d+ \d+%\] (failed|inconclusive) after")
    decided = next((t for t, line in after_t0 if verdict.search(line)), None)
    shift = next((i for i, (t, line) in enumerate(after_t0) if line.startswith("TASK [") and "Shift 0 %" in line), None)
    shift_start = after_t0[shift][0] if shift is not None else None
    shift_end = next((t for t, line in after_t0[shift + 1:] if line.startswith("TASK [")), None) \
        if shift is not None else None
    rec = record(state)
    return {"fault": fault, "seconds": last_candidate - t0, "injected": marks["injected"] - t0,
            "first_500": None if first_500 is None else first_500 - t0,
            "decided": None if decided is None else decided - t0,
            "shift_start": None if shift_start is None else shift_start - t0,
            "shift_end": None if shift_end is None else shift_end - t0,
            "analysis_lines": [(round(t - t0, 2), line.strip()) for t, line in after_t0 if "analysis [" in line],
            "outcome": rec["last"]["outcome"], "reason": rec["last"].get("reason", ""),
            "stable_failed": client.failed(t0, except_version=V2)}


# ------------------------------------------------------------------------------------------------
# Report
# ------------------------------------------------------------------------------------------------
def med(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def fmt(values: list[float | None]) -> str:
    return ", ".join("-" if v is None else f"{v:.2f}" for v in values)


def attempt(spoiled: list[str], scenario: Callable[[], dict[str, Any]], tries: int = 3) -> dict[str, Any]:
    for _attempt in range(tries - 1):
        try:
            return scenario()
        except Spoiled as exc:
            spoiled.append(f"[load {loadavg()}] {exc}")
            print(f"spoiled, retrying: {exc}", flush=True)
    return scenario()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--faults", default="pool,route")
    parser.add_argument("--fault-step", type=int, default=1)
    parser.add_argument("--detection-only", action="store_true", help="skip the rollback and overhead runs")
    parser.add_argument("--verbose", action="store_true", help="print each detection's analysis lines after T0")
    args = parser.parse_args()
    faults = [f for f in args.faults.split(",") if f]
    load_start = loadavg()
    started = time.monotonic()
    labmod.up()
    lab = Lab(ports=labmod.ports(), dir=str(labmod.lab_dir()), image=labmod.image_tag(labmod.ports()["registry"]))
    image = image_digest_ref()
    steps, bake = release_config()
    observe = sum(parse_duration(step["observe"]) for step in steps) + bake
    client = Client(lab.url("haproxy")).start()
    floors: list[list[float]] = []
    main_runs: list[dict[str, Any]] = []
    detections: dict[str, list[dict[str, Any]]] = {fault: [] for fault in faults}
    spoiled: list[str] = []
    try:
        with tempfile.TemporaryDirectory(prefix="release-timing-") as tmp:
            workdir = Path(tmp)
            for run in range(args.runs):
                floors.append(floor(workdir))
                if not args.detection_only:
                    main_runs.append(attempt(spoiled, lambda: rollback_and_overhead(lab, workdir, image, client)))
                for fault in faults:
                    detections[fault].append(attempt(spoiled, lambda fault=fault: detection(
                        lab, workdir, image, client, fault, args.fault_step)))
                print(f"run {run + 1}/{args.runs} done ({time.monotonic() - started:.0f} s, load {loadavg()})",
                      flush=True)
            reset_pools(lab)
    finally:
        client.stop()
    load_end = loadavg()
    print(f"\nspoiled attempts, retried ({len(spoiled)}):")
    for reason in spoiled:
        print(f"  {reason}")

    floor_run = [med(f) for f in floors]
    fl = med(floor_run)
    print(f"\nload average (1/5/15 min): start {load_start}, end {load_end}; {args.runs} runs in "
          f"{time.monotonic() - started:.0f} s; client {RATE:.0f} req/s through HAProxy")
    print(f"floor, one-task ansible-playbook: median {fl:.2f} s (per run: {fmt(floor_run)};"
          f" all: {fmt([x for f in floors for x in f])})")

    if main_runs:
        release_report(main_runs, floor_run, fl, steps, observe, bake, args.runs)
    detection_report(detections, args.fault_step, args.verbose)
    return 0


def release_report(main_runs: list[dict[str, Any]], floor_run: list[float], fl: float, steps: list[dict[str, Any]],
                   observe: float, bake: float, runs: int) -> None:
    seen = [r["rollback_seen"] for r in main_runs]
    wall = [r["rollback_wall"] for r in main_runs]
    print("\n## Rollback (rollback.yml start -> every answer from the previous version)")
    print("| measurement | median | runs | floor | ratio (median of per-run ratios) | target <= 3x |")
    print("|---|---:|---|---:|---:|---|")
    for name, values in (("client sees 100 % on the previous version", seen), ("rollback.yml wall time", wall)):
        ratios = [v / f for v, f in zip(values, floor_run, strict=True) if v is not None]
        print(f"| {name} | {med([v for v in values if v is not None]):.2f} s | {fmt(values)} | {fl:.2f} s |"
              f" {med(ratios):.2f}x | {'met' if med(ratios) <= 3 else 'not met'} |")
    print(f"failed requests during the rollbacks: {[r['rollback_failed'] for r in main_runs]}")
    tasks = [t for r in main_runs for t in r["rollback_tasks"]]
    per_task: dict[str, list[float]] = {}
    for name, _start, sec in tasks:
        per_task.setdefault(name, []).append(sec)
    print("rollback.yml tasks (median s): " + "; ".join(
        f"{name} {med(v):.2f}" for name, v in sorted(per_task.items(), key=lambda kv: -med(kv[1]))))

    walls = [r["canary_wall"] for r in main_runs]
    over = [w - observe for w in walls]
    ratios = [o / f for o, f in zip(over, floor_run, strict=True)]
    extension = [sum(r["canary_analysis"]) - sum(parse_duration(s["observe"]) for s in steps) for r in main_runs]
    print(f"\n## Overhead (good 4-step canary; configured observation {observe:.0f} s = steps"
          f" {'+'.join(str(s['observe']) for s in steps)} + bake {bake:.0f}s)")
    print("| measurement | median | runs | floor | ratio | target <= 15x |")
    print("|---|---:|---|---:|---:|---|")
    print(f"| canary wall time | {med(walls):.2f} s | {fmt(walls)} | | | |")
    print(f"| wall - observation | {med(over):.2f} s | {fmt(over)} | {fl:.2f} s | {med(ratios):.2f}x |"
          f" {'met' if med(ratios) <= 15 else 'not met'} |")
    print(f"analysis steps' own time beyond observe (extension waiting for evidence, poll rounding): {fmt(extension)}"
          f" s; steps' analysis times: {[r['canary_analysis'] for r in main_runs]}")
    print(f"failed requests during the good canaries: {[r['canary_failed'] for r in main_runs]}")
    by_cat: dict[str, list[float]] = {}
    by_task: dict[str, list[float]] = {}
    for r in main_runs:
        cats: dict[str, float] = {}
        for name, _start, sec in r["canary_tasks"]:
            cats[categorise(name)] = cats.get(categorise(name), 0.0) + sec
            by_task.setdefault(name, []).append(sec)
        for cat, sec in cats.items():
            by_cat.setdefault(cat, []).append(sec)
    print("canary time by kind of task (median of runs, s; banner to banner):")
    for cat, values in sorted(by_cat.items(), key=lambda kv: -med(kv[1])):
        print(f"  {cat}: {med(values):.2f} ({fmt(values)})")
    print("most expensive tasks (median per occurrence x occurrences per run):")
    ranked = sorted(by_task.items(), key=lambda kv: -sum(kv[1]))
    for name, values in ranked[:15]:
        print(f"  {sum(values) / runs:6.2f} s  {name} ({len(values) // runs} x {med(values):.2f})")


def detection_report(detections: dict[str, list[dict[str, Any]]], fault_step: int, verbose: bool) -> None:
    print(f"\n## Detection (fault at step {fault_step} -> last answer from the candidate)")
    print("| fault | median | max | runs | fault applied | first 500 seen | analysis decided | shift 0 % task"
          " start -> end | target < 8 s |")
    print("|---|---:|---:|---|---|---|---|---|---|")
    for fault, runs in detections.items():
        secs = [r["seconds"] for r in runs]
        print(f"| {fault} | {med(secs):.2f} s | {max(secs):.2f} s | {fmt(secs)} | {fmt([r['injected'] for r in runs])}"
              f" | {fmt([r['first_500'] for r in runs])} | {fmt([r['decided'] for r in runs])} |"
              f" {'; '.join(fmt([r['shift_start'], r['shift_end']]) for r in runs)} |"
              f" {'met' if max(secs) < 8 else 'not met'} (median {'met' if med(secs) < 8 else 'not met'}) |")
        for r in runs:
            print(f"  {fault}: outcome {r['outcome']}; stable failed {r['stable_failed']}; reason: {r['reason'][:300]}")
            lines = r["analysis_lines"] if verbose else r["analysis_lines"][-3:]
            for offset, line in lines:
                print(f"    T0{offset:+.2f}s {line[:260]}")


if __name__ == "__main__":
    sys.exit(main())
