# -*- coding: utf-8 -*-
# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The lab: real servers on 127.0.0.1 for tests and demos.

    python tests/lab/lab.py up|down|status|image|env
    python tests/lab/lab.py pool blue|green|blue-jp|green-jp|web1|web2|web3
                                 --error-rate R | --latency-ms N | --unhealthy | --crash | --restore

State lives under $LAB_DIR (default: <repo>/.lab). Every port has a fixed default that
LAB_<NAME>_PORT overrides (see PORTS). `up` is idempotent, waits until every service answers a
real request and prints what runs where; `down` stops exactly what `up` started, by PID (and the
demo-app containers by the container ids it recorded, and the pools by container name). `status` finds the
pools by container name, so a pool a deployment replaced is still reported truthfully. `pool` makes one pool a
bad release (and restores it); make_pool_bad() / restore_pool() / pool_status() do the same from Python.

Two regions: KR is pools blue and green behind HAProxy (backend `demo`) and nginx (upstream `demo`); JP is pools
blue-jp and green-jp (APP_POOL blue and green: the pool names within the JP environment) behind nginx's second
listener (upstream `demo_jp`). Prometheus labels every demo target with its `region` (kr, jp).

KR also has a rolling tier, app `web` (the `rolling` strategy): instances web1, web2 and web3 (weight 100) and a
surge slot (weight 0, no container until a rolling release starts one there) behind HAProxy's backend `web` on its
own frontend (LAB_HAPROXY_WEB_PORT). Prometheus scrapes them as job `web` (labels app=web, region=kr; the app's
`pool` label is the instance). `pool web1 --crash` etc. work on the instances too.
Standard library only.
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from http.client import HTTPConnection
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
APP_SOURCE = ROOT / "tests" / "lab" / "app" / "demoapp.py"

DEFAULT_PORTS = {
    "haproxy": 18080,
    "haproxy_stats": 18404,
    "nginx": 18088,
    "app_blue": 18081,
    "app_green": 18082,
    "app_blue_jp": 18083,
    "app_green_jp": 18084,
    "nginx_jp": 18089,
    "haproxy_web": 18090,
    "app_web1": 18091,
    "app_web2": 18092,
    "app_web3": 18093,
    "app_web_surge": 18094,
    "prometheus": 19090,
    "pushgateway": 19091,
    "alertmanager": 19093,
    "registry": 15000,
    "registry_auth": 15001,
    "postgres": 15432,
}

REGISTRY_USER = "delivery"
REGISTRY_PASSWORD = "lab-registry-pw"  # lab-only credential, printed by `env` on purpose
PG_USER = "delivery"
PG_PASSWORD = "lab-postgres-pw"
PG_DB = "delivery"

BLUE_VERSION = "2026.11.0+1"
GREEN_VERSION = "2026.11.1+2"

# Debian packages that make the demo-app image (python3.11-minimal and what it links against).
IMAGE_DEBS = (
    "python3.11-minimal", "libpython3.11-minimal", "libpython3.11-stdlib", "libc6", "zlib1g",
    "libexpat1", "libssl3", "libffi8", "libbz2-1.0", "liblzma5", "libuuid1", "libcrypt1",
    "media-types", "libgcc-s1",
)

READY_TIMEOUT = float(os.environ.get("LAB_READY_TIMEOUT", "90"))


class LabError(RuntimeError):
    pass


def lab_dir() -> Path:
    return Path(os.environ.get("LAB_DIR", str(ROOT / ".lab"))).resolve()


def ports() -> dict[str, int]:
    return {name: int(os.environ.get(f"LAB_{name.upper()}_PORT", default)) for name, default in DEFAULT_PORTS.items()}


#: `make test` runs integration and e2e on pytest-xdist workers; worker gwN (N > 0) has a lab of its own, every port
#: shifted by this much per worker and LAB_DIR suffixed, so two tests never share a pool, a router, a registry tag
#: or a state store (tests/conftest.py).
WORKER_PORT_SHIFT = 2000


def worker_env(index: int) -> dict[str, str]:
    """The LAB_* variables of worker ``index``'s lab (nothing for worker 0, the lab of the environment as it is)."""
    if index == 0:
        return {}
    env = {f"LAB_{name.upper()}_PORT": str(port + WORKER_PORT_SHIFT * index) for name, port in ports().items()}
    env["LAB_DIR"] = f"{lab_dir()}-gw{index}"
    return env


# ----------------------------------------------------------------------------------------------
# small helpers
# ----------------------------------------------------------------------------------------------

def log(msg: str) -> None:
    print(f"lab: {msg}", flush=True)


def write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def http(url: str, *, method: str = "GET", headers: dict[str, str] | None = None, data: bytes | None = None,
         timeout: float = 3.0) -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(url, method=method, headers=headers or {}, data=data)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def basic_auth(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    stat = Path(f"/proc/{pid}/stat")
    try:
        return stat.read_text().split(") ", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def pid_start_time(pid: int) -> int | None:
    """Start time of pid in clock ticks since boot: (pid, start time) names one process, even after PID reuse."""
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def descendants(pid: int) -> list[int]:
    """All descendant PIDs of pid (from /proc), used by tests to check nothing is left behind."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().split(") ", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(what: str, check: Callable[[], bool], timeout: float = READY_TIMEOUT, interval: float = 0.25) -> None:
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except (OSError, ValueError, subprocess.SubprocessError) as exc:
            last_error = exc
        time.sleep(interval)
    detail = f" (last error: {last_error})" if last_error else ""
    raise LabError(f"{what} did not become ready within {timeout:.0f}s{detail}")


def run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=True, text=True, capture_output=True, **kwargs)


# ----------------------------------------------------------------------------------------------
# state
# ----------------------------------------------------------------------------------------------

@dataclass
class State:
    path: Path
    processes: dict[str, dict] = field(default_factory=dict)
    containers: dict[str, dict] = field(default_factory=dict)
    # pool -> what the pool's container had before `make_pool_bad` first changed it (for `restore_pool`)
    pools: dict[str, dict] = field(default_factory=dict)

    @classmethod
    def load(cls, directory: Path) -> State:
        path = directory / "state.json"
        if not path.exists():
            return cls(path)
        data = json.loads(path.read_text())
        return cls(path, data.get("processes", {}), data.get("containers", {}), data.get("pools", {}))

    def save(self) -> None:
        write_atomic(self.path, json.dumps({"processes": self.processes, "containers": self.containers,
                                            "pools": self.pools}, indent=2))

    def running_pid(self, name: str) -> int | None:
        entry = self.processes.get(name)
        if entry and pid_alive(entry["pid"]) and pid_start_time(entry["pid"]) == entry.get("start_time"):
            return entry["pid"]
        return None


# ----------------------------------------------------------------------------------------------
# services
# ----------------------------------------------------------------------------------------------

@dataclass
class Service:
    name: str
    address: str
    prepare: Callable[[Path], None]
    command: Callable[[Path], list[str]]
    ready: Callable[[], bool]
    stop_signal: int = signal.SIGTERM
    as_user: str | None = None


def svc_dir(name: str) -> Path:
    d = lab_dir() / name
    d.mkdir(parents=True, exist_ok=True)
    return d


def ports_changed(d: Path, p: dict[str, int], *generated: Path) -> bool:
    """Whether the files a service keeps across starts were made for other ports (LAB_<NAME>_PORT changed since):
    then they are removed, to be generated again. Records the ports in use."""
    record = d / "ports.json"
    current = json.dumps(p, sort_keys=True)
    try:  # a port added to the lab since the record was written (e.g. JP's) is not a change of the others
        before = json.loads(record.read_text()) if record.exists() else None
    except ValueError:
        before = None
    # no record (or an unreadable one) next to generated files: nothing says which ports they were made for
    changed = (any(path.exists() for path in generated) if before is None
               else any(name in p and p[name] != port for name, port in before.items()))
    if changed:
        for path in generated:
            path.unlink(missing_ok=True)
    write_atomic(record, current)
    return changed


def haproxy_service(p: dict[str, int]) -> Service:
    def prepare(d: Path) -> None:
        cfg = d / "haproxy.cfg"
        ports_changed(d, p, cfg, d / "server-state")
        if cfg.exists():  # the config is the lab's initial state; later changes (weights) are kept
            if "backend web\n" not in cfg.read_text():  # made before the rolling tier existed
                write_atomic(cfg, cfg.read_text().rstrip("\n") + "\n" + haproxy_web_section(p))
            return
        write_atomic(cfg, f"""\
# progressive.delivery lab HAProxy (generated by tests/lab/lab.py on first start)
global
    log stderr format short local0 notice
    stats socket {d}/admin.sock mode 600 level admin expose-fd listeners
    stats timeout 30s
    server-state-file {d}/server-state

defaults
    mode http
    log global
    option httplog
    option dontlognull
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    timeout http-keep-alive 30s
    load-server-state-from-file global
    retries 2
    option redispatch

frontend fe_demo
    bind 127.0.0.1:{p["haproxy"]}
    default_backend demo

frontend fe_stats
    bind 127.0.0.1:{p["haproxy_stats"]}
    http-request use-service prometheus-exporter if {{ path /metrics }}
    stats enable
    stats uri /stats
    stats refresh 5s

backend demo
    balance roundrobin
    option httpchk GET /healthz
    http-check expect status 200
    default-server check inter 1s fall 2 rise 1
    server blue 127.0.0.1:{p["app_blue"]} weight 128
    server green 127.0.0.1:{p["app_green"]} weight 128
{haproxy_web_section(p)}""")

    def command(d: Path) -> list[str]:
        return ["haproxy", "-W", "-f", str(d / "haproxy.cfg"), "-S", f"{d}/master.sock,mode,600",
                "-p", str(d / "haproxy.pid")]

    def ready() -> bool:
        code, _headers, body = http(f"http://127.0.0.1:{p['haproxy_stats']}/metrics")
        if code != 200 or b"haproxy_backend_active_servers" not in body:
            return False
        return all(http(f"http://127.0.0.1:{p[name]}/")[0] == 200 for name in ("haproxy", "haproxy_web"))

    return Service("haproxy", f"http://127.0.0.1:{p['haproxy']} (stats/metrics :{p['haproxy_stats']}, "
                              f"runtime API {svc_dir('haproxy')}/admin.sock)", prepare, command, ready)


def haproxy_web_section(p: dict[str, int]) -> str:
    """The rolling tier's frontend and backend: web1-3 at weight 100, the surge slot at 0 (no container yet)."""
    servers = "".join(f"    server {name} 127.0.0.1:{p[pool_key(name)]} weight {WEB_WEIGHT}\n"
                      for name in WEB_INSTANCES)
    return f"""
frontend fe_web
    bind 127.0.0.1:{p["haproxy_web"]}
    default_backend web

backend web
    balance roundrobin
    option httpchk GET /healthz
    http-check expect status 200
    default-server check inter 1s fall 2 rise 1
{servers}    server surge 127.0.0.1:{p[pool_key(WEB_SURGE)]} weight 0
"""


def haproxy_add_web(state: State, p: dict[str, int]) -> bool:
    """A running HAProxy of a lab started before the rolling tier existed: add its frontend and backend to the
    config and reload (SIGUSR2 to the master it recorded; weights persisted in the server-state file are kept).
    True if reloaded."""
    d = svc_dir("haproxy")
    pid = state.running_pid("haproxy")
    cfg = d / "haproxy.cfg"
    if not pid or not cfg.exists() or "backend web\n" in cfg.read_text():
        return False
    haproxy_service(p).prepare(d)
    os.kill(pid, signal.SIGUSR2)
    return True


def nginx_service(p: dict[str, int]) -> Service:
    def prepare(d: Path) -> None:
        for sub in ("logs", "tmp", "conf.d", "upstreams"):
            (d / sub).mkdir(exist_ok=True)
        write_atomic(d / "nginx.conf", f"""\
# progressive.delivery lab nginx (generated by tests/lab/lab.py)
worker_processes 1;
error_log {d}/logs/error.log warn;
pid {d}/nginx.pid;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {d}/tmp/client_body;
    proxy_temp_path {d}/tmp/proxy;
    fastcgi_temp_path {d}/tmp/fastcgi;
    uwsgi_temp_path {d}/tmp/uwsgi;
    scgi_temp_path {d}/tmp/scgi;
    include {d}/upstreams/*.conf;
    include {d}/conf.d/*.conf;
}}
""")
        upstreams = {name: d / "upstreams" / f"{name}.conf" for name in NGINX_UPSTREAMS}
        ports_changed(d, p, *upstreams.values())
        for name, (listen, pools) in NGINX_UPSTREAMS.items():
            if not upstreams[name].exists():  # owned by canary_shift once a rollout has run
                servers = "".join(f"    server 127.0.0.1:{p[pool_key(pool)]} weight=1;\n" for pool in pools)
                write_atomic(upstreams[name], f"upstream {name} {{\n{servers}    keepalive 16;\n}}\n")
            write_atomic(d / "conf.d" / f"{name}.conf", f"""\
server {{
    listen 127.0.0.1:{p[listen]};
    location / {{
        proxy_pass http://{name};
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_next_upstream error timeout;
    }}
    location = /nginx_status {{
        stub_status;
    }}
}}
""")

    def command(d: Path) -> list[str]:
        return ["nginx", "-e", str(d / "logs" / "error.log"), "-p", str(d), "-c", str(d / "nginx.conf"),
                "-g", "daemon off;"]

    def ready() -> bool:
        return all(http(f"http://127.0.0.1:{p[listen]}/")[0] == 200 for listen, _pools in NGINX_UPSTREAMS.values())

    return Service("nginx", f"http://127.0.0.1:{p['nginx']} (JP: http://127.0.0.1:{p['nginx_jp']}; config "
                            f"{svc_dir('nginx')}/nginx.conf)", prepare, command, ready)


def nginx_add_missing(state: State, p: dict[str, int]) -> bool:
    """A running nginx of a lab started before an upstream existed (JP's `demo_jp`): write the missing files and
    reload it (SIGHUP to the master it recorded). Upstream files already there are left alone. True if reloaded."""
    d = svc_dir("nginx")
    pid = state.running_pid("nginx")
    if not pid or all((d / "conf.d" / f"{name}.conf").exists() for name in NGINX_UPSTREAMS):
        return False
    nginx_service(p).prepare(d)
    os.kill(pid, signal.SIGHUP)
    return True


def prometheus_service(p: dict[str, int]) -> Service:
    def prepare(d: Path) -> None:
        (d / "rules").mkdir(exist_ok=True)
        (d / "targets").mkdir(exist_ok=True)
        write_atomic(d / "prometheus.yml", f"""\
# progressive.delivery lab Prometheus (generated by tests/lab/lab.py)
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
alerting:
  alertmanagers:
    - static_configs:
        - targets: ['127.0.0.1:{p["alertmanager"]}']
rule_files:
  - {d}/rules/*.yml
scrape_configs:
  - job_name: prometheus
    static_configs: [{{targets: ['127.0.0.1:{p["prometheus"]}']}}]
  - job_name: demo
    file_sd_configs:
      - files: ['{d}/targets/*.json']
        refresh_interval: 1s
  - job_name: haproxy
    static_configs: [{{targets: ['127.0.0.1:{p["haproxy_stats"]}']}}]
  - job_name: pushgateway
    honor_labels: true
    static_configs: [{{targets: ['127.0.0.1:{p["pushgateway"]}']}}]
  - job_name: alertmanager
    static_configs: [{{targets: ['127.0.0.1:{p["alertmanager"]}']}}]
""")
        write_demo_targets(d, p)
        write_web_targets(d, p)

    def command(d: Path) -> list[str]:
        return ["prometheus", f"--config.file={d}/prometheus.yml", f"--storage.tsdb.path={d}/data",
                f"--web.listen-address=127.0.0.1:{p['prometheus']}", "--web.enable-lifecycle",
                "--web.enable-admin-api", "--storage.tsdb.retention.time=2d", "--log.level=warn"]

    def ready() -> bool:
        # fresh samples only: a restarted Prometheus still holds the previous run's series
        query = urllib.parse.quote('count(timestamp(up{job="demo"} == 1) > time() - 3)')
        code, _headers, body = http(f"http://127.0.0.1:{p['prometheus']}/api/v1/query?query={query}")
        if code != 200:
            return False
        result = json.loads(body)["data"]["result"]
        return bool(result) and float(result[0]["value"][1]) >= len(POOLS)

    return Service("prometheus", f"http://127.0.0.1:{p['prometheus']}", prepare, command, ready)


def demo_targets(p: dict[str, int]) -> list[dict]:
    """The file_sd groups of the lab's pools: one per region, each target labelled app=demo and its region."""
    regions: dict[str, list[str]] = {}
    for pool in POOLS:
        regions.setdefault(POOL_REGION[pool], []).append(f"127.0.0.1:{p[pool_key(pool)]}")
    return [{"targets": targets, "labels": {"app": "demo", "region": region}} for region, targets in regions.items()]


def write_targets(d: Path, name: str, groups: list[dict]) -> bool:
    """Write Prometheus' targets/<name>.json (re-read within a second by a running Prometheus); True if it
    changed (a lab started before the region labels, the JP pools or the rolling tier existed)."""
    path = d / "targets" / f"{name}.json"
    text = json.dumps(groups)
    if path.exists() and path.read_text() == text:
        return False
    write_atomic(path, text)
    return True


def write_demo_targets(d: Path, p: dict[str, int]) -> bool:
    return write_targets(d, "lab-demo", demo_targets(p))


def web_targets(p: dict[str, int]) -> list[dict]:
    """The rolling tier's file_sd group: the instances and the surge slot, labelled job=web (a target's own `job`
    label wins over the scrape job's name, so `job="demo"` stays the blue/green pools), app=web, region=kr."""
    targets = [f"127.0.0.1:{p[pool_key(name)]}" for name in (*WEB_INSTANCES, WEB_SURGE)]
    return [{"targets": targets, "labels": {"job": "web", "app": "web", "region": "kr"}}]


def write_web_targets(d: Path, p: dict[str, int]) -> bool:
    return write_targets(d, "lab-web", web_targets(p))


def pushgateway_service(p: dict[str, int]) -> Service:
    def command(d: Path) -> list[str]:
        return ["prometheus-pushgateway", f"--web.listen-address=127.0.0.1:{p['pushgateway']}",
                f"--persistence.file={d}/metrics.store", "--log.level=warn"]

    def ready() -> bool:
        return http(f"http://127.0.0.1:{p['pushgateway']}/api/v1/status")[0] == 200

    return Service("pushgateway", f"http://127.0.0.1:{p['pushgateway']}", lambda d: None, command, ready)


def alertmanager_service(p: dict[str, int]) -> Service:
    def prepare(d: Path) -> None:
        write_atomic(d / "alertmanager.yml", """\
route:
  receiver: lab
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: lab
""")

    def command(d: Path) -> list[str]:
        return ["prometheus-alertmanager", f"--config.file={d}/alertmanager.yml", f"--storage.path={d}/data",
                f"--web.listen-address=127.0.0.1:{p['alertmanager']}", "--cluster.listen-address=",
                "--log.level=warn"]

    def ready() -> bool:
        return http(f"http://127.0.0.1:{p['alertmanager']}/api/v2/status")[0] == 200

    return Service("alertmanager", f"http://127.0.0.1:{p['alertmanager']}", prepare, command, ready)


def registry_service(name: str, port: int, with_auth: bool) -> Service:
    def prepare(d: Path) -> None:
        auth = ""
        if with_auth:
            htpasswd = d / "htpasswd"
            if not htpasswd.exists():
                line = run(["htpasswd", "-Bbn", REGISTRY_USER, REGISTRY_PASSWORD]).stdout.strip()
                write_atomic(htpasswd, line + "\n")
            auth = f"auth:\n  htpasswd:\n    realm: lab-registry\n    path: {htpasswd}\n"
        write_atomic(d / "config.yml", f"""\
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: {d}/data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:{port}
  secret: lab-{name}-secret
{auth}""")

    def command(d: Path) -> list[str]:
        return ["docker-registry", "serve", str(d / "config.yml")]

    def ready() -> bool:
        code = http(f"http://127.0.0.1:{port}/v2/")[0]
        if not with_auth:
            return code == 200
        return code == 401 and http(f"http://127.0.0.1:{port}/v2/",
                                    headers=basic_auth(REGISTRY_USER, REGISTRY_PASSWORD))[0] == 200

    label = " (htpasswd auth)" if with_auth else ""
    return Service(name, f"http://127.0.0.1:{port}{label}", prepare, command, ready)


PG_BIN = Path("/usr/lib/postgresql/15/bin")


def pg_user() -> str | None:
    return "postgres" if os.geteuid() == 0 else None


def postgres_service(p: dict[str, int]) -> Service:
    def prepare(d: Path) -> None:
        data = d / "data"
        (d / "sock").mkdir(exist_ok=True)
        user = pg_user()
        if user:
            shutil.chown(d, user, user)
            shutil.chown(d / "sock", user, user)
        if (data / "PG_VERSION").exists():
            return
        pwfile = d / "pwfile"
        write_atomic(pwfile, PG_PASSWORD + "\n")
        if user:
            shutil.chown(pwfile, user, user)
        cmd = [str(PG_BIN / "initdb"), "-D", str(data), "-U", "postgres", "--auth-local=trust",
               "--auth-host=scram-sha-256", f"--pwfile={pwfile}", "-E", "UTF8", "--locale=C.UTF-8"]
        subprocess.run(cmd, check=True, capture_output=True, cwd=d, **user_kwargs(user))
        pwfile.unlink()

    def command(d: Path) -> list[str]:
        return [str(PG_BIN / "postgres"), "-D", str(d / "data"), "-k", str(d / "sock"), "-h", "127.0.0.1",
                "-p", str(p["postgres"]), "-c", "fsync=off", "-c", "max_connections=100"]

    def ready() -> bool:
        env = dict(os.environ, PGPASSWORD=PG_PASSWORD, PGCONNECT_TIMEOUT="2")
        out = subprocess.run(["psql", "-h", "127.0.0.1", "-p", str(p["postgres"]), "-U", PG_USER, "-d", PG_DB,
                              "-tAc", "select 1"], capture_output=True, text=True, env=env, check=False)
        return out.returncode == 0 and out.stdout.strip() == "1"

    return Service("postgres", f"postgresql://{PG_USER}@127.0.0.1:{p['postgres']}/{PG_DB}", prepare, command,
                   ready, stop_signal=signal.SIGINT, as_user=pg_user())


def user_kwargs(user: str | None) -> dict:
    return {"user": user, "group": user, "extra_groups": []} if user else {}


def postgres_bootstrap(p: dict[str, int]) -> None:
    """Create the lab role and database (once), over the unix socket as the superuser."""
    sock = svc_dir("postgres") / "sock"

    def ready() -> bool:
        return subprocess.run(["psql", "-h", str(sock), "-p", str(p["postgres"]), "-U", "postgres", "-tAc", "select 1"],
                              capture_output=True, check=False).returncode == 0

    wait_until("postgres (socket)", ready)
    psql = ["psql", "-v", "ON_ERROR_STOP=1", "-h", str(sock), "-p", str(p["postgres"]), "-U", "postgres", "-tAc"]
    exists = run([*psql, f"select 1 from pg_roles where rolname = '{PG_USER}'"]).stdout.strip()
    if not exists:
        run([*psql, f"create role {PG_USER} login createdb password '{PG_PASSWORD}'"])
        run([*psql, f"create database {PG_DB} owner {PG_USER}"])


# ----------------------------------------------------------------------------------------------
# docker engine, demo-app image and containers
# ----------------------------------------------------------------------------------------------

def docker_ok() -> bool:
    return subprocess.run(["docker", "info"], capture_output=True, check=False).returncode == 0


def ensure_docker(state: State) -> str:
    if docker_ok():
        pid = state.running_pid("dockerd")
        return "started by the lab" if pid else "already running (not managed by the lab)"
    if not shutil.which("dockerd"):
        raise LabError("no Docker engine: install docker.io (apt-get install docker.io)")
    d = svc_dir("dockerd")
    log("starting dockerd")
    start_process(state, "dockerd", ["dockerd"], d)
    wait_until("dockerd", docker_ok, timeout=60)
    # No engine ran, so no lab runs: lab containers still in /var/lib/docker are left over from an engine that was
    # killed (restart policy unless-stopped brings them back on this one, holding the lab's ports).
    stale = remove_containers("lab-")
    if stale:
        log(f"dockerd: removed {len(stale)} container(s) left over from an earlier engine: {', '.join(stale)}")
    return "started by the lab"


def remove_containers(prefix: str) -> list[str]:
    """Remove (force) every container whose name starts with ``prefix``; return their names."""
    out = subprocess.run(["docker", "ps", "-a", "--filter", f"name=^/{prefix}", "--format", "{{.Names}}"],
                         capture_output=True, text=True, check=False)
    names = [name for name in out.stdout.split() if name.startswith(prefix)]
    if names:
        subprocess.run(["docker", "rm", "-f", *names], capture_output=True, check=False)
    return names


def image_id_tag() -> str:
    """Local name of the demo-app image; the tag is a hash of what goes into it (cache key)."""
    digest = hashlib.sha256(APP_SOURCE.read_bytes() + " ".join(IMAGE_DEBS).encode()).hexdigest()[:12]
    return f"progressive-delivery/demo-app:{digest}"


def image_tag(registry_port: int) -> str:
    return f"127.0.0.1:{registry_port}/demo-app:{image_id_tag().rsplit(':', 1)[1]}"


def cache_dir() -> Path:
    return Path(os.environ.get("LAB_CACHE_DIR", str(ROOT / ".cache" / "lab")))


def build_rootfs(cache: Path) -> Path:
    debs = cache / "debs"
    root = cache / "rootfs"
    if (root / "usr" / "bin" / "python3").exists():
        return root
    debs.mkdir(parents=True, exist_ok=True)
    if len(list(debs.glob("*.deb"))) < len(IMAGE_DEBS):
        log("downloading Debian packages for the demo-app image")
        run(["apt-get", "download", *IMAGE_DEBS], cwd=debs)
    tmp = cache / "rootfs.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    for deb in sorted(debs.glob("*.deb")):
        run(["dpkg-deb", "-x", str(deb), str(tmp)])
    (tmp / "usr" / "bin" / "python3").symlink_to("python3.11")
    tmp.rename(root)
    return root


def docker_has_image(ref: str) -> bool:
    return subprocess.run(["docker", "image", "inspect", ref], capture_output=True, check=False).returncode == 0


def build_image(force: bool = False) -> str:
    """Build the demo-app image without pulling anything and push it to the lab registry."""
    p = ports()
    local = image_id_tag()
    if force or not docker_has_image(local):
        log(f"building {local}")
        root = build_rootfs(cache_dir())
        (root / "app").mkdir(exist_ok=True)
        shutil.copy2(APP_SOURCE, root / "app" / "demoapp.py")
        tar = subprocess.Popen(["tar", "-C", str(root), "-c", "."], stdout=subprocess.PIPE)
        subprocess.run(["docker", "import", "--change", 'CMD ["/usr/bin/python3", "-u", "/app/demoapp.py"]',
                        "--change", "ENV APP_BIND=127.0.0.1", "-", local], stdin=tar.stdout, check=True,
                       capture_output=True)
        tar.wait()
    tag = image_tag(p["registry"])
    latest = tag.rsplit(":", 1)[0] + ":latest"
    run(["docker", "tag", local, tag])
    run(["docker", "tag", local, latest])
    manifest = f"http://127.0.0.1:{p['registry']}/v2/demo-app/manifests/{tag.rsplit(':', 1)[1]}"
    accept = {"Accept": "application/vnd.docker.distribution.manifest.v2+json"}
    if force or http(manifest, method="HEAD", headers=accept)[0] != 200:
        log(f"pushing {tag}")
        run(["docker", "push", tag])
        run(["docker", "push", latest])
    return tag


def container_running(cid: str) -> bool:
    out = subprocess.run(["docker", "inspect", "-f", "{{.State.Running}}", cid], capture_output=True, text=True,
                         check=False)
    return out.returncode == 0 and out.stdout.strip() == "true"


def container_name(name: str) -> str:
    suffix = hashlib.sha256(str(lab_dir()).encode()).hexdigest()[:8]
    return f"lab-{name}-{suffix}"


def start_app(name: str, port: int, version: str, *, error_rate: float = 0.0, latency_ms: float = 0.0,
              jitter_ms: float = 0.0, healthy: bool = True, pool: str | None = None, image: str | None = None) -> str:
    """Run one demo-app container on 127.0.0.1:port (host network); return its container id."""
    image = image or image_tag(ports()["registry"])
    cname = container_name(name)
    subprocess.run(["docker", "rm", "-f", cname], capture_output=True, check=False)
    env = {"APP_VERSION": version, "APP_PORT": str(port), "APP_POOL": pool or name, "APP_ERROR_RATE": str(error_rate),
           "APP_LATENCY_MS": str(latency_ms), "APP_LATENCY_JITTER_MS": str(jitter_ms),
           "APP_HEALTHY": "1" if healthy else "0"}
    cmd = ["docker", "run", "-d", "--name", cname, "--network", "host", "--label", "progressive.delivery.lab=1"]
    for key, value in env.items():
        cmd += ["-e", f"{key}={value}"]
    cid = run([*cmd, image]).stdout.strip()
    wait_until(f"demo app {name} on :{port}", lambda: http(f"http://127.0.0.1:{port}/healthz")[0] in (200, 503),
               timeout=30)
    return cid


def stop_container(cid: str) -> None:
    subprocess.run(["docker", "rm", "-f", cid], capture_output=True, check=False)


# ----------------------------------------------------------------------------------------------
# pools: looked up by container name (a deployment may replace the container), made bad and restored
# ----------------------------------------------------------------------------------------------

POOLS = ("blue", "green", "blue-jp", "green-jp")
# Each pool's region (Prometheus' `region` label), the name it has within its environment (APP_POOL, the `pool`
# label) and the lab's release in it.
POOL_REGION = {"blue": "kr", "green": "kr", "blue-jp": "jp", "green-jp": "jp",
               "web1": "kr", "web2": "kr", "web3": "kr"}
POOL_APP_POOL = {"blue": "blue", "green": "green", "blue-jp": "blue", "green-jp": "green",
                 "web1": "web1", "web2": "web2", "web3": "web3"}
POOL_VERSION = {"blue": BLUE_VERSION, "green": GREEN_VERSION, "blue-jp": BLUE_VERSION, "green-jp": GREEN_VERSION,
                "web1": BLUE_VERSION, "web2": BLUE_VERSION, "web3": BLUE_VERSION}
# nginx: upstream -> (the port of its listener, its pools). KR's `demo` is the first, JP's `demo_jp` the second.
NGINX_UPSTREAMS = {"demo": ("nginx", ("blue", "green")), "demo_jp": ("nginx_jp", ("blue-jp", "green-jp"))}
# The rolling tier (app `web`, KR): its instances (router members of HAProxy's backend `web`, APP_POOL = the
# instance), the surge slot a rolling release runs its extra instance in (container `lab-web-surge-<hash>`, router
# member `surge`), and the lab's release on them.
WEB_INSTANCES = ("web1", "web2", "web3")
WEB_SURGE = "web-surge"
WEB_VERSION = BLUE_VERSION
WEB_WEIGHT = 100
# The demo app's knobs that make a release bad (tests/lab/app/demoapp.py).
KNOBS = ("APP_ERROR_RATE", "APP_LATENCY_MS", "APP_LATENCY_JITTER_MS", "APP_HEALTHY")


class _UnixHTTPConnection(HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self.socket_path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.socket_path)


def docker_api(method: str, path: str, body: dict | None = None, timeout: float = 60.0) -> tuple[int, object]:
    """One call to the Docker Engine API on its unix socket (the CLI cannot express an exec-form health check)."""
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    if not host.startswith("unix://"):
        raise LabError(f"DOCKER_HOST={host}: the lab talks to the Docker engine on a unix socket only")
    conn = _UnixHTTPConnection(host[len("unix://"):], timeout)
    try:
        data = json.dumps(body).encode() if body is not None else None
        conn.request(method, path, body=data, headers={"Content-Type": "application/json"} if data else {})
        resp = conn.getresponse()
        raw = resp.read()
    finally:
        conn.close()
    try:
        return resp.status, json.loads(raw) if raw else None
    except ValueError:
        return resp.status, raw.decode(errors="replace")


def docker_inspect(ref: str) -> dict | None:
    """`docker inspect` of a container (by name or id), or None when there is none."""
    code, data = docker_api("GET", f"/containers/{urllib.parse.quote(ref)}/json", timeout=10)
    if code == 404:
        return None
    if code != 200 or not isinstance(data, dict):
        raise LabError(f"docker inspect {ref}: HTTP {code} {data}")
    return data


def pool_key(pool: str) -> str:
    """The pool's port name (DEFAULT_PORTS) and state key: app_blue, app_green, app_blue_jp, app_green_jp (and the
    rolling tier's app_web1, app_web2, app_web3, app_web_surge)."""
    if pool not in POOLS + WEB_INSTANCES + (WEB_SURGE,):
        raise LabError(f"pool must be one of {', '.join(POOLS + WEB_INSTANCES)}, got {pool!r}")
    return "app_" + pool.replace("-", "_")


def pool_of_key(key: str) -> str | None:
    """The pool whose port name is key (app_blue_jp -> blue-jp), or None."""
    return next((pool for pool in POOLS + WEB_INSTANCES + (WEB_SURGE,) if pool_key(pool) == key), None)


def env_dict(env: list[str] | None) -> dict[str, str]:
    return dict(item.split("=", 1) if "=" in item else (item, "") for item in env or [])


def pool_status(pool: str, probe: bool = True) -> dict:
    """What runs in a pool, found by its container name (`lab-<pool>-<hash>`), whoever created the container.

    Keys: pool, container (name), port, running, status, id, image, version_label, version (answered on `/`,
    or None), answer (HTTP code or error text), health (Docker health status or None when it has no health
    check), restart_count, replaced (the container is not the one `lab-up` started) and bad (the knobs
    `make_pool_bad` changed, empty when the pool is as it was).
    """
    key = pool_key(pool)
    state = State.load(lab_dir())
    port = ports()[key]
    name = container_name(pool)
    out: dict = {"pool": pool, "container": name, "port": port, "running": False, "status": "missing", "id": None,
                 "image": None, "version_label": None, "version": None, "answer": None, "health": None,
                 "restart_count": 0, "replaced": False, "bad": {}}
    try:
        info = docker_inspect(name)
    except OSError as exc:
        out["status"] = f"docker unreachable ({exc})"
        return out
    if info is None:
        return out
    labels = info["Config"].get("Labels") or {}
    out.update(running=bool(info["State"].get("Running")), status=info["State"].get("Status"), id=info["Id"],
               image=info["Config"].get("Image"), version_label=labels.get("progressive.delivery.version"),
               health=(info["State"].get("Health") or {}).get("Status"), restart_count=info.get("RestartCount", 0))
    entry = state.containers.get(key)
    out["replaced"] = bool(entry) and entry.get("id") != info["Id"]
    record = state.pools.get(pool)
    if record:
        env = env_dict(info["Config"].get("Env"))
        out["bad"] = {k: env.get(k) for k in KNOBS if env.get(k) != record["knobs"].get(k)}
        if record.get("crashed"):
            out["bad"]["crashed"] = True
    if probe and out["running"]:
        try:
            code, _headers, body = http(f"http://127.0.0.1:{port}/", timeout=2)
            out["answer"] = code
            out["version"] = json.loads(body).get("version")
        except (OSError, ValueError) as exc:
            out["answer"] = f"no answer ({exc})"
    return out


def _wait_for_pool(pool: str, cid: str, port: int, healthy: bool, timeout: float = 60.0) -> None:
    def ready() -> bool:
        code = http(f"http://127.0.0.1:{port}/healthz", timeout=2)[0]
        if not healthy:
            return code in (200, 503)
        if code != 200:
            return False
        info = docker_inspect(cid) or {}
        health = (info.get("State", {}).get("Health") or {}).get("Status")
        return health in (None, "healthy")

    wait_until(f"pool {pool} on :{port}" + (" (healthy)" if healthy else ""), ready, timeout=timeout)


def _recreate_pool(pool: str, info: dict, env: dict[str, str]) -> str:
    """Replace the pool's container by one with the same image, labels, user, health check, log and restart
    settings (its whole Config and HostConfig), except the environment."""
    name = container_name(pool)
    config = {k: v for k, v in info["Config"].items() if k not in ("Hostname", "Domainname")}
    config["Env"] = [f"{k}={v}" for k, v in env.items()]
    config["HostConfig"] = info["HostConfig"]
    docker_api("POST", f"/containers/{info['Id']}/stop?t=5", timeout=30)
    code, data = docker_api("DELETE", f"/containers/{info['Id']}?force=1", timeout=30)
    if code not in (204, 404):
        raise LabError(f"pool {pool}: cannot remove {name}: HTTP {code} {data}")
    code, data = docker_api("POST", f"/containers/create?name={urllib.parse.quote(name)}", body=config)
    if code != 201 or not isinstance(data, dict):
        raise LabError(f"pool {pool}: cannot create {name}: HTTP {code} {data}")
    cid = data["Id"]
    code, data = docker_api("POST", f"/containers/{cid}/start")
    if code not in (204, 304):
        raise LabError(f"pool {pool}: cannot start {name}: HTTP {code} {data}")
    return cid


def _record_container(state: State, pool: str, cid: str, info: dict) -> None:
    key = pool_key(pool)
    entry = state.containers.get(key) or {"image": info["Config"].get("Image"), "port": ports()[key]}
    entry["id"] = cid
    state.containers[key] = entry


def make_pool_bad(pool: str, *, error_rate: float | None = None, latency_ms: float | None = None,
                  jitter_ms: float | None = None, healthy: bool | None = None, crash: bool = False) -> dict:
    """Make one pool of this lab a bad release, for real.

    error_rate / latency_ms / jitter_ms / healthy recreate the pool's container with the same image, labels
    and settings and only those knobs changed (APP_ERROR_RATE, APP_LATENCY_MS, APP_LATENCY_JITTER_MS,
    APP_HEALTHY). crash=True kills the app process (SIGKILL from the host, as an OOM kill would): Docker counts
    a restart when the container has a restart policy (the app_docker role's), otherwise the pool stays down.
    The environment before the first change is remembered in the lab state for `restore_pool`.
    Returns pool_status(pool).
    """
    changes = {"APP_ERROR_RATE": error_rate, "APP_LATENCY_MS": latency_ms, "APP_LATENCY_JITTER_MS": jitter_ms,
               "APP_HEALTHY": None if healthy is None else ("1" if healthy else "0")}
    changes = {k: str(v) for k, v in changes.items() if v is not None}
    if not changes and not crash:
        raise LabError("make_pool_bad: give error_rate, latency_ms, jitter_ms, healthy or crash")
    if error_rate is not None and not 0.0 <= error_rate <= 1.0:
        raise LabError(f"error rate must be between 0 and 1, got {error_rate}")
    name = container_name(pool)
    info = docker_inspect(name)
    if info is None:
        raise LabError(f"pool {pool}: no container {name} (is the lab up?)")
    state = State.load(lab_dir())
    env = env_dict(info["Config"].get("Env"))
    record = state.pools.get(pool)
    if record is None or record.get("id") != info["Id"]:
        record = {"knobs": {k: env.get(k) for k in KNOBS}, "env": env, "since": time.time()}
    if changes:
        cid = _recreate_pool(pool, info, {**env, **changes})
        record["id"] = cid
        _record_container(state, pool, cid, info)
        state.pools[pool] = record
        state.save()
        port = int(env.get("APP_PORT", ports()[pool_key(pool)]))
        _wait_for_pool(pool, cid, port, healthy=changes.get("APP_HEALTHY", env.get("APP_HEALTHY", "1")) != "0")
        info = docker_inspect(cid) or info
    if crash:
        record["id"] = info["Id"]
        record["crashed"] = True
        state.pools[pool] = record
        state.save()
        _crash(pool, info)
    return pool_status(pool)


def _crash(pool: str, info: dict) -> None:
    pid = info["State"].get("Pid") or 0
    if not info["State"].get("Running") or pid <= 0:
        raise LabError(f"pool {pool}: container {info['Name'].lstrip('/')} is not running, nothing to crash")
    before = info.get("RestartCount", 0)
    os.kill(pid, signal.SIGKILL)  # the lab runs as root; from the host, SIGKILL reaches a container's PID 1
    policy = (info["HostConfig"].get("RestartPolicy") or {}).get("Name") or "no"

    def seen() -> bool:
        now = docker_inspect(info["Id"]) or {}
        if policy == "no":
            return not now.get("State", {}).get("Running")
        return now.get("RestartCount", 0) > before or now.get("State", {}).get("Pid") != pid

    wait_until(f"pool {pool}: the crash seen by Docker", seen, timeout=30)


def restore_pool(pool: str) -> dict:
    """Undo make_pool_bad: the knobs the pool's container had before the first change, and a running pool.

    If a deployment replaced the container since (another container id), its environment is the deployment's:
    nothing is changed and the record is dropped. Returns pool_status(pool) with `restored` (bool).
    """
    name = container_name(pool)
    state = State.load(lab_dir())
    record = state.pools.get(pool)
    info = docker_inspect(name)
    if info is None:
        raise LabError(f"pool {pool}: no container {name} (is the lab up?)")
    restored = False
    if record and record.get("id") == info["Id"]:
        env = env_dict(info["Config"].get("Env"))
        wanted = {k: v for k, v in env.items() if k not in KNOBS}
        wanted.update({k: v for k, v in record["knobs"].items() if v is not None})
        port = int(wanted.get("APP_PORT", ports()[pool_key(pool)]))
        if wanted != env or not info["State"].get("Running"):
            cid = _recreate_pool(pool, info, wanted)
            _record_container(state, pool, cid, info)
            _wait_for_pool(pool, cid, port, healthy=wanted.get("APP_HEALTHY", "1") != "0")
            restored = True
        else:
            _wait_for_pool(pool, info["Id"], port, healthy=wanted.get("APP_HEALTHY", "1") != "0")
    state.pools.pop(pool, None)
    state.save()
    return {**pool_status(pool), "restored": restored}


# ----------------------------------------------------------------------------------------------
# up / down / status
# ----------------------------------------------------------------------------------------------

def services(p: dict[str, int]) -> list[Service]:
    return [
        registry_service("registry", p["registry"], with_auth=False),
        registry_service("registry_auth", p["registry_auth"], with_auth=True),
        haproxy_service(p),
        nginx_service(p),
        alertmanager_service(p),
        pushgateway_service(p),
        prometheus_service(p),
        postgres_service(p),
    ]


def start_process(state: State, name: str, cmd: list[str], d: Path, user: str | None = None) -> int:
    with open(d / f"{name}.log", "ab") as logfile:
        proc = subprocess.Popen(cmd, stdout=logfile, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=d,
                                start_new_session=True, **user_kwargs(user))
    state.processes[name] = {"pid": proc.pid, "start_time": pid_start_time(proc.pid), "cmd": cmd,
                             "started": time.time()}
    state.save()
    return proc.pid


def check_ports_free(p: dict[str, int], state: State) -> None:
    for name, port in p.items():
        owner = {"haproxy_stats": "haproxy", "haproxy_web": "haproxy", "nginx_jp": "nginx"}.get(name, name)
        if pool_of_key(owner):  # a pool is ours by its container name, whoever (re)created it
            ours = container_running(container_name(pool_of_key(owner)))
        else:
            ours = owner in state.processes and state.running_pid(owner)
        if ours:
            continue
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                raise LabError(f"port {port} ({name}) is in use by something the lab did not start; "
                               f"set LAB_{name.upper()}_PORT to another port")


def up() -> dict[str, str]:
    directory = lab_dir()
    directory.mkdir(parents=True, exist_ok=True)
    state = State.load(directory)
    p = ports()
    check_ports_free(p, state)
    where: dict[str, str] = {}
    where["docker"] = ensure_docker(state)
    svcs = {s.name: s for s in services(p)}
    changed = False

    def ensure(svc: Service) -> None:
        nonlocal changed
        d = svc_dir(svc.name)
        if state.running_pid(svc.name):
            log(f"{svc.name}: already running (pid {state.processes[svc.name]['pid']})")
        else:
            svc.prepare(d)
            pid = start_process(state, svc.name, svc.command(d), d, svc.as_user)
            log(f"{svc.name}: started (pid {pid})")
            changed = True
        where[svc.name] = svc.address

    for name in ("registry", "registry_auth", "postgres"):
        ensure(svcs[name])
    wait_until("registry", svcs["registry"].ready)
    tag = build_image()
    for pool in POOLS + WEB_INSTANCES:
        key, version = pool_key(pool), POOL_VERSION[pool]
        entry = state.containers.get(key)
        info = docker_inspect(container_name(pool))
        running = bool(info) and info["State"].get("Running")
        if running and entry and entry.get("id") != info["Id"]:
            # replaced by a deployment (the app_docker role) or by make_pool_bad: that is the pool now
            entry["id"] = info["Id"]
            state.save()
            log(f"{key}: already running (container {info['Id'][:12]}, replaced since lab-up: "
                f"{info['Config'].get('Image')})")
        elif running and entry and entry.get("image") == tag:
            log(f"{key}: already running (container {entry['id'][:12]})")
        else:
            cid = start_app(pool, p[key], version, pool=POOL_APP_POOL[pool])
            state.containers[key] = {"id": cid, "image": tag, "version": version, "port": p[key]}
            state.save()
            log(f"{key}: started {version} (container {cid[:12]})")
            changed = True
        where[key] = f"http://127.0.0.1:{p[key]} demo-app {version}"
    for name in ("haproxy", "nginx", "alertmanager", "pushgateway", "prometheus"):
        ensure(svcs[name])
    if nginx_add_missing(state, p):
        log("nginx: added the JP listener and upstream demo_jp (reloaded)")
        changed = True
    if haproxy_add_web(state, p):
        log("haproxy: added the rolling tier's frontend and backend `web` (reloaded)")
        changed = True
    if state.running_pid("prometheus") and write_web_targets(svc_dir("prometheus"), p):
        log("prometheus: rolling tier targets written (job web)")
        changed = True
    if state.running_pid("prometheus") and write_demo_targets(svc_dir("prometheus"), p):
        log("prometheus: demo targets written again (JP pools, region labels)")
        changed = True
    postgres_bootstrap(p)
    for svc in svcs.values():
        wait_until(svc.name, svc.ready)
        if not state.running_pid(svc.name):
            raise LabError(f"{svc.name} exited; see {svc_dir(svc.name)}/{svc.name}.log")
    where["image"] = tag
    write_atomic(directory / "lab.env", env_text(p))
    log("ready" if changed else "ready (nothing to do: everything was already running)")
    for name, address in where.items():
        print(f"  {name:14} {address}")
    return where


def stop_pid(pid: int, sig: int, timeout: float = 30.0) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)


def down() -> None:
    directory = lab_dir()
    state = State.load(directory)
    p = ports()
    stop_signals = {s.name: s.stop_signal for s in services(p)}
    for key, entry in list(state.containers.items()):
        stop_container(entry["id"])
        log(f"{key}: removed container {entry['id'][:12]}")
        del state.containers[key]
        state.save()
    # a pool container that replaced the recorded one (a deployment) is the lab's too, and so is a surge container
    # a rolling release left behind
    for pool in POOLS + WEB_INSTANCES + (WEB_SURGE,):
        info = docker_inspect(container_name(pool)) if docker_ok() else None
        if info:
            stop_container(info["Id"])
            log(f"{pool_key(pool)}: removed container {info['Id'][:12]} ({container_name(pool)})")
    state.pools = {}
    state.save()
    order = [n for n in state.processes if n != "dockerd"] + (["dockerd"] if "dockerd" in state.processes else [])
    for name in order:
        pid = state.running_pid(name)
        if pid:
            stop_pid(pid, stop_signals.get(name, signal.SIGTERM))
            log(f"{name}: stopped (pid {pid})")
        del state.processes[name]
        state.save()
    log("down")


def is_up() -> bool:
    """True when every service and demo-app container of this lab runs."""
    state = State.load(lab_dir())
    return all(state.running_pid(s.name) for s in services(ports())) and all(
        container_running(container_name(pool)) for pool in POOLS + WEB_INSTANCES)


def status() -> int:
    state = State.load(lab_dir())
    p = ports()
    missing = 0
    for svc in services(p):
        pid = state.running_pid(svc.name)
        missing += pid is None
        print(f"  {svc.name:14} {'running pid ' + str(pid) if pid else 'stopped':20} {svc.address}")
    for pool in POOLS + WEB_INSTANCES + (WEB_SURGE,):
        ps = pool_status(pool)
        if pool == WEB_SURGE and not ps["id"]:  # the surge slot is empty between rolling releases
            print(f"  {pool_key(pool):14} {'idle (no container)':20} http://127.0.0.1:{ps['port']} ({ps['container']})")
            continue
        missing += pool != WEB_SURGE and not ps["running"]
        print(f"  {pool_key(pool):14} {pool_state_text(ps):20} http://127.0.0.1:{ps['port']} ({ps['container']})")
        if ps["id"]:
            print(f"  {'':14} {pool_detail_text(ps)}")
    dockerd = state.running_pid("dockerd")
    print(f"  {'docker':14} {'running' if docker_ok() else 'stopped':20} "
          f"{'started by the lab, pid ' + str(dockerd) if dockerd else 'not managed by the lab'}")
    return 0 if missing == 0 else 3


def pool_state_text(ps: dict) -> str:
    if not ps["id"]:
        return ps["status"]
    return f"running {ps['id'][:12]}" if ps["running"] else f"{ps['status']} {ps['id'][:12]}"


def pool_detail_text(ps: dict) -> str:
    answered = f"answers {ps['version']} ({ps['answer']})" if ps["version"] else f"answer: {ps['answer'] or 'none'}"
    parts = [f"image {ps['image']}", f"version label {ps['version_label'] or 'none'}", answered,
             f"health {ps['health'] or 'no check'}", f"restarts {ps['restart_count']}"]
    if ps["replaced"]:
        parts.append("replaced since lab-up")
    if ps["bad"]:
        parts.append("made bad: " + ", ".join(f"{k}={v}" for k, v in ps["bad"].items()))
    return "; ".join(parts)


def env_text(p: dict[str, int]) -> str:
    values = {
        "LAB_DIR": str(lab_dir()),
        "LAB_HAPROXY_URL": f"http://127.0.0.1:{p['haproxy']}",
        "LAB_HAPROXY_SOCKET": str(lab_dir() / "haproxy" / "admin.sock"),
        "LAB_NGINX_URL": f"http://127.0.0.1:{p['nginx']}",
        "LAB_NGINX_JP_URL": f"http://127.0.0.1:{p['nginx_jp']}",
        "LAB_HAPROXY_WEB_URL": f"http://127.0.0.1:{p['haproxy_web']}",
        **{f"LAB_{pool_key(name).upper()}_PORT": str(p[pool_key(name)]) for name in (*WEB_INSTANCES, WEB_SURGE)},
        "LAB_HAPROXY_WEB_PORT": str(p["haproxy_web"]),
        "LAB_PROMETHEUS_URL": f"http://127.0.0.1:{p['prometheus']}",
        "LAB_PUSHGATEWAY_URL": f"http://127.0.0.1:{p['pushgateway']}",
        "LAB_ALERTMANAGER_URL": f"http://127.0.0.1:{p['alertmanager']}",
        "LAB_REGISTRY": f"127.0.0.1:{p['registry']}",
        "LAB_IMAGE": image_tag(p["registry"]),
        "LAB_REGISTRY_AUTH": f"127.0.0.1:{p['registry_auth']}",
        "LAB_REGISTRY_USER": REGISTRY_USER,
        "LAB_REGISTRY_PASSWORD": REGISTRY_PASSWORD,
        "LAB_POSTGRES_DSN": f"postgresql://{PG_USER}:{PG_PASSWORD}@127.0.0.1:{p['postgres']}/{PG_DB}",
    }
    return "".join(f"export {k}={v}\n" for k, v in values.items())


def pool_command(args: argparse.Namespace) -> int:
    if args.restore:
        ps = restore_pool(args.pool)
        log(f"pool {args.pool}: {'restored' if ps['restored'] else 'nothing to restore'}")
    else:
        ps = make_pool_bad(args.pool, error_rate=args.error_rate, latency_ms=args.latency_ms,
                           jitter_ms=args.jitter_ms, healthy=False if args.unhealthy else None, crash=args.crash)
        log(f"pool {args.pool}: made bad")
    print(f"  {pool_key(args.pool):14} {pool_state_text(ps):20} http://127.0.0.1:{ps['port']} ({ps['container']})")
    print(f"  {'':14} {pool_detail_text(ps)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["up", "down", "status", "image", "env", "pool"])
    parser.add_argument("pool", nargs="?", choices=POOLS + WEB_INSTANCES,
                        help="pool: which pool (or rolling tier instance) to make bad or restore")
    parser.add_argument("--force", action="store_true", help="image: rebuild and push even if cached")
    parser.add_argument("--worker", type=int, default=0,
                        help="the lab of pytest-xdist worker gwN (ports +2000*N, LAB_DIR-gwN); 0: this lab")
    knobs = parser.add_argument_group("pool (knobs combine; --restore undoes every change)")
    knobs.add_argument("--error-rate", type=float, help="share of / answered with 500 (0-1)")
    knobs.add_argument("--latency-ms", type=float, help="latency added to every / request")
    knobs.add_argument("--jitter-ms", type=float, help="uniform random extra latency 0..N ms")
    knobs.add_argument("--unhealthy", action="store_true", help="/healthz answers 503")
    knobs.add_argument("--crash", action="store_true", help="kill the app process (SIGKILL)")
    knobs.add_argument("--restore", action="store_true", help="put back the pool as it was before the first change")
    args = parser.parse_args(argv)
    if args.command == "pool" and not args.pool:
        parser.error(f"pool: name the pool ({', '.join(POOLS + WEB_INSTANCES)})")
    if args.worker < 0:
        parser.error(f"--worker: a worker number, 0 or more, got {args.worker}")
    os.environ.update(worker_env(args.worker))
    try:
        if args.command == "up":
            up()
        elif args.command == "down":
            down()
        elif args.command == "status":
            return status()
        elif args.command == "image":
            print(build_image(force=args.force))
        elif args.command == "pool":
            return pool_command(args)
        else:
            print(env_text(ports()), end="")
    except (LabError, subprocess.CalledProcessError) as exc:
        detail = getattr(exc, "stderr", None) or ""
        print(f"lab: error: {exc}\n{detail}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
