# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""End-to-end: the collection's playbooks run with ansible-playbook against inventories/lab, on the lab's real
HAProxy, Prometheus, registry and Docker engine, while a client sends requests through the router.

Each test gets a state directory of its own (release record, lock, guard) and a lab whose pools are reset to
the lab's starting state (blue and green running the lab's versions, HAProxy at 128/128).
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.integration.conftest import Lab, lab  # noqa: F401  # pylint: disable=unused-import
from tests.integration.test_schema_migrate import drop_database
from tests.lab import lab as labmod
from tests.lab.traffic import Traffic

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = ROOT / ".venv" / "bin"


@dataclass
class Run:
    rc: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def playbook(name: str, *extra: str, state_dir: Path, env: dict[str, str] | None = None,
             timeout: float = 600, inventory: Path = ROOT / "inventories" / "lab") -> Run:
    environment = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
                       ANSIBLE_FORCE_COLOR="0", **(env or {}))
    started = time.monotonic()
    proc = subprocess.run([str(VENV_BIN / "ansible-playbook"), "-i", str(inventory),
                           str(ROOT / "playbooks" / name), "-e", f"delivery_state_dir={state_dir}", *extra],
                          cwd=ROOT, env=environment, capture_output=True, text=True, timeout=timeout, check=False)
    return Run(proc.returncode, proc.stdout, proc.stderr, time.monotonic() - started)


class Background:
    """An ansible-playbook run in a process group of its own, its output read line by line as it comes."""

    def __init__(self, name: str, *extra: str, state_dir: Path, inventory: Path = ROOT / "inventories" / "lab",
                 env: dict[str, str] | None = None) -> None:
        environment = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
                           ANSIBLE_FORCE_COLOR="0", PYTHONUNBUFFERED="1", **(env or {}))
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            [str(VENV_BIN / "ansible-playbook"), "-i", str(inventory),
             str(ROOT / "playbooks" / name), "-e", f"delivery_state_dir={state_dir}", *extra],
            cwd=ROOT, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            start_new_session=True)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def wait_for(self, text: str, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.output:
                return
            if self.proc.poll() is not None:
                self._reader.join(5)
                if text in self.output:
                    return
                raise AssertionError(f"the run ended (rc {self.proc.returncode}) before {text!r}:\n"
                                     + self.output[-4000:])
            time.sleep(0.1)
        raise AssertionError(f"no {text!r} after {timeout}s:\n" + self.output[-4000:])

    def kill_group(self) -> None:
        """SIGKILL to the run's whole process group (ansible-playbook and its workers), as `kill -9 -PGID`."""
        pgid = os.getpgid(self.proc.pid)
        assert pgid == self.proc.pid  # start_new_session: the run leads a group of its own
        os.killpg(pgid, signal.SIGKILL)
        self.proc.wait(30)
        self._reader.join(10)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # every worker of the group is gone too
            try:
                os.killpg(pgid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.1)
        raise AssertionError(f"processes of group {pgid} survived SIGKILL")

    def wait(self, timeout: float = 600) -> Run:
        self.proc.wait(timeout)
        self._reader.join(10)
        return Run(self.proc.returncode, self.output, "", time.monotonic() - self.started)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(30)


class Breakpoint:
    """Holds a Background run before the ``hit``-th task whose name (as written, untemplated) starts with ``task``
    (callback_plugins/breakpoint.py) until ``go()``: what another run does meanwhile happens exactly between that
    task and the one before it."""

    def __init__(self, directory: Path, task: str, hit: int = 1) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.dir = directory
        self.env = {"ANSIBLE_CALLBACK_PLUGINS": str(Path(__file__).parent / "callback_plugins"),
                    "ANSIBLE_CALLBACKS_ENABLED": "breakpoint", "BREAKPOINT_TASK": task,
                    "BREAKPOINT_DIR": str(directory), "BREAKPOINT_HIT": str(hit)}

    def wait_reached(self, run: Background, timeout: float = 240) -> str:
        deadline = time.monotonic() + timeout
        while not (self.dir / "reached").exists():
            assert run.proc.poll() is None, "the run ended before the breakpoint:\n" + run.output[-4000:]
            assert time.monotonic() < deadline, f"no breakpoint after {timeout}s:\n" + run.output[-4000:]
            time.sleep(0.1)
        return (self.dir / "reached").read_text()

    def go(self) -> None:
        (self.dir / "go").write_text("")


def module(name: str, args: dict[str, Any], *, check: bool = False) -> dict[str, Any]:
    """One module run on localhost through `ansible` (JSON result)."""
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_LOAD_CALLBACK_PLUGINS="1",
               ANSIBLE_STDOUT_CALLBACK="ansible.posix.json")
    cmd = [str(VENV_BIN / "ansible"), "localhost", "-i", "localhost,", "-c", "local", "-e",
           f"ansible_python_interpreter={VENV_BIN / 'python'}", "-m", name, "-a", json.dumps(args)]
    if check:
        cmd.append("--check")
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    data = json.loads(proc.stdout[proc.stdout.index("{"):])
    return data["plays"][0]["tasks"][0]["hosts"]["localhost"]


def record(state_dir: Path) -> dict[str, Any]:
    return module("progressive.delivery.release_record",
                  {"environment": "lab-kr", "app": "demo", "store_dir": str(state_dir)})


def haproxy_weights(lab_: Lab) -> dict[str, int]:
    result = module("progressive.delivery.canary_shift", {
        "router": "haproxy", "haproxy_socket": lab_.haproxy_socket, "backend": "demo",
        "stable": "blue", "canary": "green", "weight": 0}, check=True)
    return {name: int(weight) for name, weight in result["before"].items()}


def image_digest_ref() -> str:
    tag = labmod.image_tag(labmod.ports()["registry"])
    registry, rest = tag.split("/", 1)
    repo, ref = rest.rsplit(":", 1)
    return f"{registry}/{repo}@{manifest_digest(registry, repo, ref)}"


def manifest_digest(registry: str, repo: str, ref: str) -> str | None:
    request = urllib.request.Request(f"http://{registry}/v2/{repo}/manifests/{ref}", method="HEAD", headers={
        "Accept": "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.headers["Docker-Content-Digest"]
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        raise


def reset_pools(lab_: Lab) -> None:
    """The lab's starting state: blue and green with the lab's versions, HAProxy at 128/128 (state file too)."""
    ports = labmod.ports()
    labmod.start_app("blue", ports["app_blue"], labmod.BLUE_VERSION)
    labmod.start_app("green", ports["app_green"], labmod.GREEN_VERSION)
    module("progressive.delivery.canary_shift", {
        "router": "haproxy", "haproxy_socket": lab_.haproxy_socket, "backend": "demo",
        "haproxy_state_file": f"{lab_.dir}/haproxy/server-state", "stable": "blue", "canary": "green",
        "weights": {"blue": 128, "green": 128}})
    wait_for_both_versions(lab_.url("haproxy"), "the lab's pools did not come back to 128/128")


def wait_for_both_versions(url: str, failure: str, timeout: float = 30) -> None:
    """Until the router at ``url`` answers with both lab versions (its health checks see both pools again)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            seen = {json.loads(urllib.request.urlopen(url, timeout=2).read())["version"] for _request in range(12)}
        except (urllib.error.URLError, OSError, ValueError):
            seen = set()
        if seen == {labmod.BLUE_VERSION, labmod.GREEN_VERSION}:
            return
        time.sleep(0.5)
    raise AssertionError(failure)


@pytest.fixture
def env(lab, tmp_path) -> Iterator[dict[str, Any]]:  # noqa: F811 (pytest fixture by name)
    reset_pools(lab)
    traffic = Traffic(lab.url("haproxy")).start()
    yield {"lab": lab, "state": tmp_path / "state", "image": image_digest_ref(), "traffic": traffic}
    traffic.stop()


# ----------------------------------------------------------------------------------------------
# JP (inventories/lab-jp): pools blue-jp and green-jp behind nginx's second listener, upstream demo_jp
# ----------------------------------------------------------------------------------------------

JP_INVENTORY = ROOT / "inventories" / "lab-jp"


def jp_nginx_options(lab_: Lab) -> dict[str, str]:
    """canary_shift's options for JP's router (what inventories/lab-jp passes)."""
    return {"router": "nginx", "upstream": "demo_jp", "nginx_upstream_file": f"{lab_.dir}/nginx/upstreams/demo_jp.conf",
            "nginx_args": f"-p {lab_.dir}/nginx -c {lab_.dir}/nginx/nginx.conf"}


def jp_servers() -> dict[str, str]:
    """JP's pools as inventories/lab-jp names them (blue, green) -> their nginx member (address)."""
    ports = labmod.ports()
    return {"blue": f"127.0.0.1:{ports['app_blue_jp']}", "green": f"127.0.0.1:{ports['app_green_jp']}"}


def jp_nginx_weights(lab_: Lab) -> dict[str, int]:
    servers = jp_servers()
    result = module("progressive.delivery.canary_shift", {
        **jp_nginx_options(lab_), "stable": [servers["blue"]], "canary": [servers["green"]], "weight": 0}, check=True)
    by_address = {address: pool for pool, address in servers.items()}
    return {by_address[address]: int(weight) for address, weight in result["before"].items()}


def reset_jp_pools(lab_: Lab) -> None:
    """JP's starting state: blue-jp and green-jp with the lab's versions, demo_jp at 1:1."""
    ports = labmod.ports()
    labmod.start_app("blue-jp", ports["app_blue_jp"], labmod.BLUE_VERSION, pool="blue")
    labmod.start_app("green-jp", ports["app_green_jp"], labmod.GREEN_VERSION, pool="green")
    servers = jp_servers()
    module("progressive.delivery.canary_shift", {
        **jp_nginx_options(lab_), "stable": [servers["blue"]], "canary": [servers["green"]],
        "weights": {servers["blue"]: 1, servers["green"]: 1}})
    wait_for_both_versions(lab_.url("nginx_jp"), "JP's pools did not come back to 1:1 behind nginx_jp")


@pytest.fixture
def env_jp(lab, tmp_path) -> Iterator[dict[str, Any]]:  # noqa: F811 (pytest fixture by name)
    """Like `env`, for JP: its pools reset, requests through nginx_jp."""
    reset_jp_pools(lab)
    traffic = Traffic(lab.url("nginx_jp")).start()
    yield {"lab": lab, "state": tmp_path / "state", "image": image_digest_ref(), "traffic": traffic}
    traffic.stop()


# ----------------------------------------------------------------------------------------------
# the state store's two backends, for the tests across entry points
# ----------------------------------------------------------------------------------------------
@pytest.fixture(params=["file", "postgres"])
def backend(request, lab) -> Iterator[dict[str, str]]:  # noqa: F811 (pytest fixture by name)
    """The state store's options: the test's own file store, or a scratch database of the lab's PostgreSQL."""
    if request.param == "file":
        yield {"state_backend": "file"}
        return
    name = f"e2e_{uuid.uuid4().hex[:10]}"
    admin = f"postgresql://{labmod.PG_USER}:{labmod.PG_PASSWORD}@127.0.0.1:{lab.ports['postgres']}/{labmod.PG_DB}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    try:
        yield {"state_backend": "postgres", "state_dsn": admin.rsplit("/", 1)[0] + "/" + name}
    finally:
        drop_database(admin, name)
