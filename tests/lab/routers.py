# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Routers of our own for tests and benchmarks: an HAProxy or nginx in front of the lab's demo apps.

The lab's own HAProxy and nginx keep their initial weights (tests rely on them); a test or a bench that shifts
traffic starts one of these in a directory of its own, on free ports, and stops it by PID.
"""
from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
import requests
from ansible_collections.progressive.delivery.plugins.module_utils._routers.nginx import active_workers

from tests.lab.lab import free_port, wait_until

WORKER_PROCESSES = 2
#: the nginx_mode=runtime files the collection ships (template and Lua module)
NGINX_FILES = Path(__file__).resolve().parents[2] / "files" / "nginx"
_ADDRESS = re.compile(r"^[0-9A-Za-z.:\[\]_-]+:[0-9]+$")
_NAME = re.compile(r"^[0-9A-Za-z._-]+$")


def render_runtime_config(upstreams: Mapping[str, Sequence[str]], admin_listen: str = "127.0.0.1:8089",
                          upstream_options: Sequence[str] = ("keepalive 16",), lua_dir: Path = NGINX_FILES) -> str:
    """files/nginx/runtime.conf.j2 rendered the way ansible.builtin.template would (trim_blocks), for an nginx of
    our own. ``upstreams`` maps each upstream to its servers (``IP:PORT``: ngx.balancer needs an address);
    names and addresses are checked first, since they end up inside Lua strings."""
    for name, servers in upstreams.items():
        if not _NAME.match(name):
            raise ValueError(f"upstream name {name!r}: use letters, digits, '.', '_' and '-'")
        if not servers or not all(_ADDRESS.match(server) for server in servers):
            raise ValueError(f"upstream {name}: servers must be IP:PORT, got {list(servers)!r}")
    env = jinja2.Environment(trim_blocks=True, undefined=jinja2.StrictUndefined, autoescape=False)
    template = env.from_string((NGINX_FILES / "runtime.conf.j2").read_text())
    return template.render(upstreams=dict(upstreams), admin_listen=admin_listen,
                           upstream_options=list(upstream_options), lua_dir=str(lua_dir))


LUA_MODULES = ("/usr/lib/nginx/modules/ndk_http_module.so", "/usr/lib/nginx/modules/ngx_http_lua_module.so")


@dataclass
class OwnHAProxy:
    dir: Path
    port: int
    proc: subprocess.Popen | None = None

    @property
    def socket(self) -> str:
        return str(self.dir / "admin.sock")

    @property
    def master_socket(self) -> str:
        return str(self.dir / "master.sock")

    @property
    def state_file(self) -> str:
        return str(self.dir / "server-state")

    def config(self, blue: int, green: int) -> str:
        servers = (f"    server blue 127.0.0.1:{blue} weight 128\n"
                   f"    server green 127.0.0.1:{green} weight 128\n")
        return (f"global\n    stats socket {self.socket} mode 600 level admin\n"
                f"    server-state-file {self.state_file}\n\n"
                "defaults\n    mode http\n    timeout connect 2s\n    timeout client 30s\n    timeout server 30s\n"
                "    timeout http-keep-alive 30s\n    load-server-state-from-file global\n\n"
                f"frontend fe\n    bind 127.0.0.1:{self.port}\n    default_backend app\n\n"
                f"backend app\n    balance roundrobin\n{servers}\n"
                f"backend static\n    balance static-rr\n{servers}")

    def start(self, blue: int, green: int) -> None:
        self.dir.mkdir(parents=True)
        cfg = self.dir / "haproxy.cfg"
        cfg.write_text(self.config(blue, green))
        log = open(self.dir / "haproxy.log", "wb")  # noqa: SIM115 (kept open for the child)
        self.proc = subprocess.Popen(["haproxy", "-W", "-f", str(cfg), "-S", f"{self.master_socket},mode,600"],
                                     stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        wait_until(f"own HAProxy on :{self.port}", self._serving, timeout=20)

    def _serving(self) -> bool:
        try:
            return requests.get(f"http://127.0.0.1:{self.port}/", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()  # the master stops its workers
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def send(self, command: str, path: str | None = None) -> str:
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(5)
            sock.connect(path or self.socket)
            sock.sendall(command.encode() + b"\n")
            sock.shutdown(socket.SHUT_WR)
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks).decode()

    def weights(self, backend: str = "app") -> dict[str, int]:
        """Current weights read with `get weight` (independent of the adapter's own parsing)."""
        return {server: int(self.send(f"get weight {backend}/{server}").split()[0]) for server in ("blue", "green")}

    def worker_pid(self) -> int | None:
        try:
            info = self.send("show info")
        except OSError:
            return None
        return next((int(line.split(":")[1]) for line in info.splitlines() if line.startswith("Pid:")), None)

    def reload(self) -> None:
        """Master CLI `reload`; returns once a new worker answers on the runtime socket."""
        old = self.worker_pid()
        self.send("reload", self.master_socket)
        wait_until("a new HAProxy worker", lambda: (pid := self.worker_pid()) is not None and pid != old, timeout=20)


class OwnNginx:
    """One nginx of our own (reload or runtime mode), in its own prefix with every path set."""

    def __init__(self, root: Path, mode: str, blue: str, green: str) -> None:
        self.dir = root / f"nginx-{mode}"
        self.mode = mode
        self.blue, self.green = blue, green
        self.port = free_port()
        self.admin_port = free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def conf(self) -> Path:
        return self.dir / "nginx.conf"

    @property
    def upstream_file(self) -> Path:
        return self.dir / "upstreams" / "demo.conf"

    @property
    def error_log(self) -> Path:
        return self.dir / "logs" / "error.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def args(self, conf: Path | None = None) -> str:
        return f"-e {self.error_log} -p {self.dir} -c {conf or self.conf}"

    def options(self) -> dict[str, Any]:
        common = {"router": "nginx", "upstream": "demo", "nginx_mode": self.mode}
        if self.mode == "runtime":
            return {**common, "nginx_admin_url": f"http://127.0.0.1:{self.admin_port}"}
        return {**common, "nginx_upstream_file": str(self.upstream_file), "nginx_args": self.args()}

    def main_conf(self, includes: str) -> str:
        d = self.dir
        modules = "".join(f"load_module {path};\n" for path in LUA_MODULES) if self.mode == "runtime" else ""
        temp = "".join(f"    {kind}_temp_path {d}/tmp/{kind};\n"
                       for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        return (f"{modules}worker_processes {WORKER_PROCESSES};\nerror_log {self.error_log} warn;\npid {d}/nginx.pid;\n"
                f"events {{ worker_connections 1024; }}\nhttp {{\n    access_log off;\n{temp}{includes}"
                f"    server {{\n        listen 127.0.0.1:{self.port};\n        location / {{\n"
                f"            proxy_pass http://demo;\n            proxy_http_version 1.1;\n"
                f"            proxy_set_header Connection \"\";\n        }}\n    }}\n}}\n")

    def write_config(self) -> None:
        for sub in ("logs", "tmp", "upstreams"):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
        if self.mode == "runtime":
            snippet = render_runtime_config({"demo": [self.blue, self.green]}, f"127.0.0.1:{self.admin_port}")
            (self.dir / "runtime.conf").write_text(snippet)
            self.conf.write_text(self.main_conf(f"    include {self.dir}/runtime.conf;\n"))
            return
        self.upstream_file.write_text(f"upstream demo {{\n    server {self.blue} weight=1;\n"
                                      f"    server {self.green} weight=1;\n    keepalive 16;\n}}\n")
        self.conf.write_text(self.main_conf(f"    include {self.dir}/upstreams/*.conf;\n"))
        # the same instance, but a config that `nginx -t` rejects (for the failure path)
        broken = self.main_conf(f"    include {self.dir}/upstreams/*.conf;\n    include {self.dir}/missing.conf;\n")
        (self.dir / "broken.conf").write_text(broken)

    def start(self) -> None:
        self.write_config()
        cmd = ["nginx", *self.args().split(), "-g", "daemon off;"]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, start_new_session=True)
        wait_until(f"own nginx ({self.mode}) on :{self.port}", self._answers, timeout=20)

    def _answers(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(f"nginx exited: {self.error_log.read_text()}")
        try:
            return requests.get(self.url, timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def workers(self) -> set[int]:
        """The accepting workers, once there are exactly ``WORKER_PROCESSES`` of them.

        canary_shift returns as soon as a reload's new generation runs; nginx tells the old workers to stop
        100 ms later, so right after a shift both generations may still accept.
        """
        assert self.proc is not None
        master = self.proc.pid
        wait_until("one generation of nginx workers", lambda: len(active_workers(master)) == WORKER_PROCESSES,
                   timeout=10)
        return active_workers(master)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.kill(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
