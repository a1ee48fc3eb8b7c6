# -*- coding: utf-8 -*-
# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Helpers for integration tests of modules that query Prometheus (slo_check, qos_guard).

* :func:`run_playbook` runs tasks through a real ``ansible-playbook`` and returns each task's result.
* :class:`Traffic` sends a steady request rate to demo apps from background threads.
* :class:`DemoApps` starts demo-app containers and makes the lab Prometheus scrape them (file_sd).
* :class:`PrometheusProcess` runs a throw-away Prometheus of our own (to stop it mid-test).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from tests.lab import lab as labmod
from tests.lab.lab import free_port

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = ROOT / ".venv" / "bin"


def wait_for(check: Callable[[], Any], timeout: float = 30.0, interval: float = 0.25, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def prom_query(url: str, query: str) -> list[dict]:
    resp = requests.get(f"{url}/api/v1/query", params={"query": query}, timeout=5)
    resp.raise_for_status()
    return resp.json()["data"]["result"]


# --------------------------------------------------------------------------------------------------
# ansible-playbook
# --------------------------------------------------------------------------------------------------
def ansible_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "PATH": f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",
        "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
        "ANSIBLE_RETRY_FILES_ENABLED": "0",
        "ANSIBLE_DEPRECATION_WARNINGS": "0",
    })
    env.update(extra)
    return env


@dataclass
class PlaybookRun:
    returncode: int
    stdout: str
    stderr: str
    duration: float
    results: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __getitem__(self, task_name: str) -> dict[str, Any]:
        return self.results[task_name]


def _task_results(stdout: str) -> dict[str, dict[str, Any]]:
    document = json.loads(stdout[stdout.index("{"):])
    results = {}
    for play in document["plays"]:
        for task in play["tasks"]:
            results[task["task"]["name"]] = task["hosts"]["localhost"]
    return results


def run_playbook(tasks: list[dict[str, Any]], *, args: tuple[str, ...] = (), json_output: bool = True,
                 ignore_errors: bool = True, timeout: float = 180.0, play: list[dict[str, Any]] | None = None
                 ) -> PlaybookRun:
    """Run ``tasks`` (or a whole ``play``) on localhost with a real ansible-playbook; with ``json_output`` parse
    each task's result.

    Every task gets ``ignore_errors`` (unless given) so one failing check does not hide the next one.
    """
    tasks = [{"ignore_errors": ignore_errors, **task} for task in tasks]
    play = play or [{"hosts": "localhost", "gather_facts": False, "tasks": tasks}]
    with tempfile.TemporaryDirectory(prefix="slo-play-") as tmp:
        playbook = Path(tmp) / "play.yml"
        playbook.write_text(json.dumps(play, indent=1))
        extra = {"ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json"} if json_output else \
            {"ANSIBLE_STDOUT_CALLBACK": "default"}
        cmd = [str(VENV_BIN / "ansible-playbook"), "-i", "localhost,", "-c", "local",
               "-e", f"ansible_python_interpreter={VENV_BIN / 'python'}", *args, str(playbook)]
        start = time.monotonic()
        proc = subprocess.run(cmd, cwd=ROOT, env=ansible_env(**extra), capture_output=True, text=True,
                              timeout=timeout, check=False)
    run = PlaybookRun(proc.returncode, proc.stdout, proc.stderr, time.monotonic() - start)
    if json_output:
        try:
            run.results = _task_results(proc.stdout)
        except (ValueError, KeyError) as exc:
            raise AssertionError(f"cannot parse ansible-playbook output ({exc}):\n{proc.stdout}\n{proc.stderr}"
                                 ) from exc
    return run


# --------------------------------------------------------------------------------------------------
# traffic
# --------------------------------------------------------------------------------------------------
class Traffic:
    """Steady request rates to several URLs, each from its own threads, until :meth:`stop`."""

    def __init__(self) -> None:
        self._targets: list[tuple[str, float, int]] = []
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self.sent: dict[str, int] = {}
        self.codes: dict[str, dict[int, int]] = {}
        self.started_at: float | None = None

    def add(self, url: str, rate: float, threads: int = 1) -> None:
        """Send ``rate`` requests per second to ``url`` in total, spread over ``threads`` threads."""
        self._targets.append((url, rate, threads))

    def start(self) -> None:
        self.started_at = time.monotonic()
        for url, rate, threads in self._targets:
            for _thread in range(threads):
                thread = threading.Thread(target=self._send, args=(url, rate / threads), daemon=True)
                thread.start()
                self._threads.append(thread)

    def _send(self, url: str, rate: float) -> None:
        interval = 1.0 / rate
        next_at = time.monotonic()
        with requests.Session() as session:
            while not self._stop.is_set():
                try:
                    code = session.get(url, timeout=5).status_code
                except requests.RequestException:
                    code = 0
                self._count(url, code)
                next_at += interval
                delay = next_at - time.monotonic()
                if delay > 0:
                    self._stop.wait(delay)
                else:
                    next_at = time.monotonic()  # fell behind: do not burst to catch up

    def _count(self, url: str, code: int) -> None:
        with self._lock:
            self.sent[url] = self.sent.get(url, 0) + 1
            per_code = self.codes.setdefault(url, {})
            per_code[code] = per_code.get(code, 0) + 1

    def elapsed(self) -> float:
        return 0.0 if self.started_at is None else time.monotonic() - self.started_at

    def wait_until_elapsed(self, seconds: float) -> None:
        """Block until the traffic has been running for ``seconds``."""
        remaining = seconds - self.elapsed()
        if remaining > 0:
            time.sleep(remaining)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=10)


# --------------------------------------------------------------------------------------------------
# demo apps scraped by the lab Prometheus
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class App:
    key: str
    pool: str
    port: int
    version: str
    cid: str

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"


class DemoApps:
    """Demo-app containers with unique pool labels, scraped by the lab Prometheus through one file_sd file."""

    def __init__(self, lab_dir: str, prefix: str = "slo") -> None:
        self.token = f"{prefix}-{uuid.uuid4().hex[:6]}"
        self.targets_file = Path(lab_dir) / "prometheus" / "targets" / f"{self.token}.json"
        self.apps: dict[str, App] = {}

    def start(self, specs: dict[str, dict[str, Any]]) -> dict[str, App]:
        """Start one container per ``specs`` entry (key -> start_app keyword arguments plus ``version``)."""
        def start_one(key: str, spec: dict[str, Any]) -> App:
            port, pool = free_port(), f"{self.token}-{key}"
            spec = dict(spec)
            version = spec.pop("version")
            cid = labmod.start_app(pool, port, version, pool=pool, **spec)
            return App(key, pool, port, version, cid)

        with ThreadPoolExecutor(max_workers=len(specs)) as pool:
            futures = {key: pool.submit(start_one, key, spec) for key, spec in specs.items()}
            for key, future in futures.items():
                self.apps[key] = future.result()
        self.write_targets()
        return self.apps

    def write_targets(self, path: Path | None = None) -> None:
        targets = [f"127.0.0.1:{app.port}" for app in self.apps.values()]
        labmod.write_atomic(path or self.targets_file,
                            json.dumps([{"targets": targets, "labels": {"app": self.token}}]))

    def wait_scraped(self, prometheus_url: str, timeout: float = 30.0) -> None:
        query = f'count(timestamp(up{{app="{self.token}"}} == 1) > time() - 3)'
        expected = len(self.apps)
        wait_for(lambda: (r := prom_query(prometheus_url, query)) and float(r[0]["value"][1]) >= expected,
                 timeout=timeout, what=f"Prometheus to scrape {expected} demo apps")

    def stop(self) -> None:
        self.targets_file.unlink(missing_ok=True)
        for app in self.apps.values():
            labmod.stop_container(app.cid)


# --------------------------------------------------------------------------------------------------
# a Prometheus of our own
# --------------------------------------------------------------------------------------------------
class PrometheusProcess:
    """A Prometheus we start and stop ourselves (by PID), scraping the given file_sd targets file every second."""

    def __init__(self, workdir: Path, targets_file: Path) -> None:
        self.workdir = workdir
        self.targets_file = targets_file
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        config = self.workdir / "prometheus.yml"
        config.write_text(json.dumps({
            "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
            "scrape_configs": [{"job_name": "demo", "file_sd_configs": [
                {"files": [str(self.targets_file)], "refresh_interval": "1s"}]}],
        }))
        binary = shutil.which("prometheus") or "prometheus"
        log = open(self.workdir / "prometheus.log", "wb")  # noqa: SIM115 (kept open for the child)
        self.proc = subprocess.Popen(
            [binary, f"--config.file={config}", f"--storage.tsdb.path={self.workdir / 'data'}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()

    def wait_has_data(self, query: str, timeout: float = 30.0) -> None:
        def ready() -> bool:
            try:
                return bool(prom_query(self.url, query))
            except requests.RequestException:
                return False
        wait_for(ready, timeout=timeout, what=f"own Prometheus on :{self.port} to have data for {query}")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
