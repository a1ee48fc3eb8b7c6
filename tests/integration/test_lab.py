# -*- coding: utf-8 -*-
# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The lab itself: every service is up and does its real job."""
from __future__ import annotations

import collections
import hashlib
import json
import os
import socket
import subprocess
import time
import uuid
from pathlib import Path

import psycopg
import pytest
import requests

from tests.lab import lab as labmod
from tests.lab.lab import free_port

MANIFEST_TYPES = ", ".join([
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
])


def versions_seen(url: str, n: int) -> collections.Counter:
    with requests.Session() as session:
        return collections.Counter(session.get(url, timeout=5).json()["version"] for _request in range(n))


def haproxy_cmd(sock: str, command: str) -> str:
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(sock)
        s.sendall(command.encode() + b"\n")
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks).decode()


def prom_query(lab, query: str) -> list[dict]:
    resp = requests.get(f"{lab.url('prometheus')}/api/v1/query", params={"query": query}, timeout=5)
    resp.raise_for_status()
    return resp.json()["data"]["result"]


def wait_for(check, timeout: float = 30.0, interval: float = 0.5):
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(interval)


def test_haproxy_sends_traffic_to_both_versions(lab):
    seen = versions_seen(lab.url("haproxy"), 200)
    assert set(seen) == {labmod.BLUE_VERSION, labmod.GREEN_VERSION}
    # equal weights + roundrobin: an even split
    assert abs(seen[labmod.BLUE_VERSION] - seen[labmod.GREEN_VERSION]) <= 2


def test_haproxy_runtime_api_and_exporter(lab):
    state = haproxy_cmd(lab.haproxy_socket, "show servers state demo")
    assert " blue " in state and " green " in state
    assert haproxy_cmd(lab.haproxy_socket, "get weight demo/blue").startswith("128 ")
    metrics = requests.get(f"{lab.url('haproxy_stats')}/metrics", timeout=5).text
    assert 'haproxy_backend_active_servers{proxy="demo"} 2' in metrics


def test_nginx_sends_traffic_to_both_versions(lab):
    seen = versions_seen(lab.url("nginx"), 200)
    assert set(seen) == {labmod.BLUE_VERSION, labmod.GREEN_VERSION}
    assert abs(seen[labmod.BLUE_VERSION] - seen[labmod.GREEN_VERSION]) <= 10


def test_prometheus_returns_the_demo_apps_request_rate(lab):
    with requests.Session() as session:
        for _request in range(100):
            session.get(f"{lab.url('app_blue')}/", timeout=5)
    query = f'sum by (version) (rate(http_requests_total{{job="demo",path="/",version="{labmod.BLUE_VERSION}"}}[10s]))'
    result = wait_for(lambda: [r for r in prom_query(lab, query) if float(r["value"][1]) > 0])
    assert result, f"no request rate for {labmod.BLUE_VERSION} in Prometheus"
    assert result[0]["metric"]["version"] == labmod.BLUE_VERSION


def test_pushgateway_metrics_reach_prometheus(lab):
    run_id = uuid.uuid4().hex[:8]
    body = f"lab_test_push_total{{run=\"{run_id}\"}} 42\n"
    resp = requests.put(f"{lab.url('pushgateway')}/metrics/job/lab_test/instance/{run_id}", data=body, timeout=5)
    assert resp.status_code == 200
    result = wait_for(lambda: prom_query(lab, f'lab_test_push_total{{run="{run_id}"}}'))
    assert result and float(result[0]["value"][1]) == 42.0
    requests.delete(f"{lab.url('pushgateway')}/metrics/job/lab_test/instance/{run_id}", timeout=5)


def test_alertmanager_accepts_and_returns_alerts(lab):
    name = f"LabTest{uuid.uuid4().hex[:8]}"
    alert = [{"labels": {"alertname": name, "severity": "info"}, "annotations": {"summary": "lab test"}}]
    resp = requests.post(f"{lab.url('alertmanager')}/api/v2/alerts", json=alert, timeout=5)
    assert resp.status_code == 200
    alerts = requests.get(f"{lab.url('alertmanager')}/api/v2/alerts", params={"filter": f"alertname={name}"},
                          timeout=5).json()
    assert [a["labels"]["alertname"] for a in alerts] == [name]


def test_image_pushed_to_registry_pulls_by_digest(lab):
    registry = f"127.0.0.1:{lab.ports['registry']}"
    resp = requests.get(f"http://{registry}/v2/demo-app/manifests/latest", headers={"Accept": MANIFEST_TYPES},
                        timeout=10)
    assert resp.status_code == 200
    digest = resp.headers["Docker-Content-Digest"]
    assert digest == "sha256:" + hashlib.sha256(resp.content).hexdigest()
    manifest = resp.json()
    config = requests.get(f"http://{registry}/v2/demo-app/blobs/{manifest['config']['digest']}", timeout=10)
    assert "sha256:" + hashlib.sha256(config.content).hexdigest() == manifest["config"]["digest"]
    ref = f"{registry}/demo-app@{digest}"
    pulled = subprocess.run(["docker", "pull", ref], capture_output=True, text=True, check=False)
    assert pulled.returncode == 0, pulled.stderr
    inspect = json.loads(subprocess.run(["docker", "image", "inspect", ref], capture_output=True, text=True,
                                        check=True).stdout)
    assert ref in inspect[0]["RepoDigests"]


def test_auth_registry_refuses_requests_without_credentials(lab):
    url = f"{lab.url('registry_auth')}/v2/"
    anonymous = requests.get(url, timeout=5)
    assert anonymous.status_code == 401
    assert anonymous.headers["WWW-Authenticate"].startswith("Basic realm=")
    assert requests.get(url, auth=(labmod.REGISTRY_USER, "wrong"), timeout=5).status_code == 401
    assert requests.get(url, auth=(labmod.REGISTRY_USER, labmod.REGISTRY_PASSWORD), timeout=5).status_code == 200


def test_postgres_accepts_a_connection(lab):
    with psycopg.connect(lab.postgres_dsn, connect_timeout=5) as conn:
        assert conn.execute("select 1").fetchone() == (1,)
        assert conn.execute("select current_user").fetchone() == (labmod.PG_USER,)
    wrong = lab.postgres_dsn.replace(labmod.PG_PASSWORD, "wrong")
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(wrong, connect_timeout=5)


def test_demo_app_injected_errors_and_latency_are_real(lab):
    port = free_port()
    cid = labmod.start_app("bad-release", port, "2026.11.9+9", error_rate=0.3, latency_ms=40)
    try:
        codes = collections.Counter()
        durations = []
        with requests.Session() as session:
            for _request in range(400):
                start = time.monotonic()
                codes[session.get(f"http://127.0.0.1:{port}/", timeout=5).status_code] += 1
                durations.append(time.monotonic() - start)
        # 400 draws at p=0.3: mean 120, sd 9.2; +-5 sd
        assert 74 <= codes[500] <= 166, codes
        assert min(durations) >= 0.04
        metrics = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        assert f'http_requests_total{{version="2026.11.9+9",pool="bad-release",path="/",code="500"}} {codes[500]}' \
            in metrics
        assert requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200
    finally:
        labmod.stop_container(cid)


def test_demo_app_unhealthy_flag(lab):
    port = free_port()
    cid = labmod.start_app("sick", port, "2026.11.9+10", healthy=False)
    try:
        assert requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 503
    finally:
        labmod.stop_container(cid)


def test_lab_up_is_idempotent(lab, capsys):
    before = labmod.State.load(labmod.lab_dir())
    labmod.up()
    after = labmod.State.load(labmod.lab_dir())
    assert "nothing to do" in capsys.readouterr().out
    assert {k: v["pid"] for k, v in before.processes.items()} == {k: v["pid"] for k, v in after.processes.items()}
    assert {k: v["id"] for k, v in before.containers.items()} == {k: v["id"] for k, v in after.containers.items()}


def second_lab_env(lab, monkeypatch, offset: int) -> Path:
    # under the first lab's directory, not /tmp: PostgreSQL runs as `postgres` and must reach its data dir
    directory = Path(lab.dir) / "second-labs" / uuid.uuid4().hex[:8]
    monkeypatch.setenv("LAB_DIR", str(directory))
    for name, port in labmod.ports().items():
        monkeypatch.setenv(f"LAB_{name.upper()}_PORT", str(port + offset))
    return directory


def test_port_in_use_by_a_stranger_is_refused(lab, monkeypatch):
    directory = second_lab_env(lab, monkeypatch, 300)
    monkeypatch.setenv("LAB_NGINX_PORT", str(lab.ports["nginx"]))  # taken by the first lab
    with pytest.raises(labmod.LabError, match="LAB_NGINX_PORT"):
        labmod.up()
    assert labmod.State.load(directory).processes == {}


def test_lab_down_leaves_no_process_behind(lab, monkeypatch):
    """A second lab on other ports: up, then down; every PID it had (with children) is gone."""
    second_lab_env(lab, monkeypatch, 200)
    try:
        labmod.up()
    except BaseException:
        labmod.down()
        raise
    state = labmod.State.load(labmod.lab_dir())
    assert set(state.processes) >= {"haproxy", "nginx", "prometheus", "pushgateway", "alertmanager", "registry",
                                    "registry_auth", "postgres"}
    pids = []
    for entry in state.processes.values():
        pids += [entry["pid"], *labmod.descendants(entry["pid"])]
    for entry in state.containers.values():
        pid = subprocess.run(["docker", "inspect", "-f", "{{.State.Pid}}", entry["id"]], capture_output=True,
                             text=True, check=True).stdout.strip()
        pids.append(int(pid))
    assert len(pids) > 10
    labmod.down()
    alive = [pid for pid in pids if labmod.pid_alive(pid)]
    assert alive == [], f"still running after down: {alive}"
    for entry in state.containers.values():
        assert subprocess.run(["docker", "inspect", entry["id"]], capture_output=True, check=False).returncode != 0
    assert labmod.State.load(labmod.lab_dir()).processes == {}
    assert not labmod.is_up()
    # the first lab is untouched
    assert requests.get(lab.url("haproxy"), timeout=5).status_code == 200
    assert os.path.exists(lab.haproxy_socket)
