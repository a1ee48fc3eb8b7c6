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

from tests.e2e.conftest import reset_jp_pools
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


def app_requests(port: int) -> int:
    """The user requests a demo app counted (its own /metrics, every version and code)."""
    text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    return sum(int(float(line.rsplit(" ", 1)[1])) for line in text.splitlines()
               if line.startswith("http_requests_total{") and 'path="/"' in line)


def jp_at_start(lab) -> None:
    """JP as `lab-up` starts it: a JP release on this lab (tests/e2e) may have replaced a pool and switched demo_jp
    to one pool. Then its pools are started again with the lab's versions (recorded as the lab's own, as `up` does)
    and demo_jp is put back at 1:1."""
    statuses = {pool: labmod.pool_status(pool) for pool in ("blue-jp", "green-jp")}
    if all(not ps["replaced"] and ps["version"] == labmod.POOL_VERSION[pool] for pool, ps in statuses.items()) \
            and len(versions_seen(lab.url("nginx_jp"), 20)) == 2:
        return
    reset_jp_pools(lab)
    state = labmod.State.load(labmod.lab_dir())
    for pool in ("blue-jp", "green-jp"):
        key = labmod.pool_key(pool)
        state.containers[key] = {"id": labmod.pool_status(pool, probe=False)["id"], "image": lab.image,
                                 "version": labmod.POOL_VERSION[pool], "port": lab.ports[key]}
    state.save()


def test_nginx_jp_sends_traffic_to_both_jp_pools(lab):
    """JP's listener: upstream demo_jp, the blue-jp and green-jp pools (the lab's versions), nothing of KR's."""
    jp_at_start(lab)
    jp_ports = (lab.ports["app_blue_jp"], lab.ports["app_green_jp"])
    before = [app_requests(port) for port in jp_ports]
    seen = versions_seen(lab.url("nginx_jp"), 200)
    assert set(seen) == {labmod.BLUE_VERSION, labmod.GREEN_VERSION}
    assert abs(seen[labmod.BLUE_VERSION] - seen[labmod.GREEN_VERSION]) <= 10
    after = [app_requests(port) for port in jp_ports]
    assert sum(after) - sum(before) == 200 and all(a > b for a, b in zip(after, before, strict=True))
    upstream = Path(lab.dir, "nginx", "upstreams", "demo_jp.conf").read_text()
    assert "upstream demo_jp {" in upstream
    assert f"127.0.0.1:{jp_ports[0]}" in upstream and f"127.0.0.1:{jp_ports[1]}" in upstream
    for pool, app_pool in (("blue-jp", "blue"), ("green-jp", "green")):
        env = labmod.env_dict(labmod.docker_inspect(labmod.container_name(pool))["Config"]["Env"])
        assert env["APP_POOL"] == app_pool  # the pool's name within JP; the region label tells it from KR's


def test_prometheus_labels_every_demo_target_with_its_region(lab):
    def targets() -> dict[str, set[str]]:
        out: dict[str, set[str]] = {}
        for series in prom_query(lab, 'up{job="demo",region=~"kr|jp"} == 1'):
            out.setdefault(series["metric"]["region"], set()).add(series["metric"]["instance"])
        return out

    expected = {"kr": {f"127.0.0.1:{lab.ports['app_blue']}", f"127.0.0.1:{lab.ports['app_green']}"},
                "jp": {f"127.0.0.1:{lab.ports['app_blue_jp']}", f"127.0.0.1:{lab.ports['app_green_jp']}"}}
    assert wait_for(lambda: targets() == expected), targets()
    counts = {region: prom_query(lab, f'count(up{{job="demo",region="{region}"}} == 1)') for region in expected}
    assert {region: float(result[0]["value"][1]) for region, result in counts.items()} == {"kr": 2.0, "jp": 2.0}
    # an indicator selects JP's green by its labels, not KR's green (both are pool="green")
    query = 'demo_app_info{job="demo",region="jp",pool="green"}'
    assert {r["metric"]["instance"] for r in prom_query(lab, query)} == {f"127.0.0.1:{lab.ports['app_green_jp']}"}


def test_status_lists_the_jp_pools(lab, capsys):
    capsys.readouterr()
    labmod.status()
    out = capsys.readouterr().out
    for pool in ("blue-jp", "green-jp"):
        line = next(line for line in out.splitlines() if line.strip().startswith(labmod.pool_key(pool) + " "))
        assert "running" in line and f"({labmod.container_name(pool)})" in line
        assert f"http://127.0.0.1:{lab.ports[labmod.pool_key(pool)]}" in line
    assert labmod.container_name("blue-jp") == "lab-blue-jp-" + hashlib.sha256(lab.dir.encode()).hexdigest()[:8]


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


def test_remove_containers_takes_exactly_the_names_with_the_prefix(lab):
    """What `lab up` does with lab containers a killed Docker engine left behind when it starts dockerd itself: the
    prefix here is a test's own, so the running lab's lab-* containers stay."""
    prefix = f"stale{uuid.uuid4().hex[:8]}-"
    image = labmod.image_tag(labmod.ports()["registry"])
    names = {"left": f"{prefix}blue", "other": f"x{prefix}green"}
    for name in names.values():
        subprocess.run(["docker", "create", "--name", name, image], check=True, capture_output=True)
    try:
        assert labmod.remove_containers(prefix) == [names["left"]]
        assert labmod.docker_inspect(names["left"]) is None
        assert labmod.docker_inspect(names["other"]) is not None
        assert labmod.remove_containers(prefix) == []
    finally:
        subprocess.run(["docker", "rm", "-f", *names.values()], capture_output=True, check=False)


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
    monkeypatch.setenv("LAB_NGINX_PORT", str(free_port()))
    monkeypatch.setenv("LAB_NGINX_JP_PORT", str(lab.ports["nginx_jp"]))  # JP's listener of the first lab
    with pytest.raises(labmod.LabError, match="LAB_NGINX_JP_PORT"):
        labmod.up()
    monkeypatch.setenv("LAB_NGINX_JP_PORT", str(free_port()))
    monkeypatch.setenv("LAB_APP_GREEN_JP_PORT", str(lab.ports["app_green_jp"]))  # the first lab's green-jp pool
    with pytest.raises(labmod.LabError, match="LAB_APP_GREEN_JP_PORT"):
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
    # the same directory on other ports: HAProxy's and nginx's kept files are made again for the new ports
    for name, port in labmod.ports().items():
        monkeypatch.setenv(f"LAB_{name.upper()}_PORT", str(port + 50))
    try:
        labmod.up()
        moved = labmod.ports()
        for router in ("haproxy", "nginx", "nginx_jp"):
            answer = requests.get(f"http://127.0.0.1:{moved[router]}/", timeout=5)
            assert answer.status_code == 200, (router, answer.status_code)
    finally:
        labmod.down()


# ----------------------------------------------------------------------------------------------
# pools: status by container name, made bad and restored (on a second lab's pools, never the dev lab's)
# ----------------------------------------------------------------------------------------------

@pytest.fixture
def pool_lab(lab, monkeypatch):
    """A second lab (its own LAB_DIR, so its own container names, and free ports) with only its pools running:
    the pool helpers and the pool lines of `status` need nothing else, and the first lab's pools stay untouched."""
    directory = Path(lab.dir) / "second-labs" / uuid.uuid4().hex[:8]
    monkeypatch.setenv("LAB_DIR", str(directory))
    for pool in labmod.POOLS:
        monkeypatch.setenv(f"LAB_{labmod.pool_key(pool).upper()}_PORT", str(free_port()))
    state = labmod.State.load(directory)
    ports = labmod.ports()
    for pool in labmod.POOLS:
        key, version = labmod.pool_key(pool), labmod.POOL_VERSION[pool]
        cid = labmod.start_app(pool, ports[key], version, pool=labmod.POOL_APP_POOL[pool])
        state.containers[key] = {"id": cid, "image": lab.image, "version": version, "port": ports[key]}
    state.save()
    yield ports
    for pool in labmod.POOLS:
        labmod.stop_container(labmod.container_name(pool))


def replace_like_app_docker(pool: str, port: int, version: str, image: str) -> str:
    """What the app_docker role does to a pool: a new container of the same name, with a restart policy,
    a health check and release labels (through the Engine API: the health check is exec-form)."""
    name = labmod.container_name(pool)
    labmod.stop_container(name)
    health = ["CMD", "python3", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen("
              f"'http://127.0.0.1:{port}/healthz', timeout=2).status == 200 else 1)"]
    body = {"Image": image, "User": "65534:65534",
            "Env": [f"APP_VERSION={version}", f"APP_POOL={pool}", f"APP_PORT={port}", "APP_LATENCY_MS=0"],
            "Labels": {"progressive.delivery.pool": pool, "progressive.delivery.version": version},
            "Healthcheck": {"Test": health, "Interval": 1_000_000_000, "Timeout": 2_000_000_000, "Retries": 2},
            "HostConfig": {"NetworkMode": "host", "RestartPolicy": {"Name": "unless-stopped"}}}
    code, data = labmod.docker_api("POST", f"/containers/create?name={name}", body=body)
    assert code == 201, data
    code, data = labmod.docker_api("POST", f"/containers/{data['Id']}/start")
    assert code == 204, data
    assert wait_for(lambda: labmod.pool_status(pool)["health"] == "healthy"), labmod.pool_status(pool)
    return labmod.docker_inspect(name)["Id"]


def error_share(port: int, n: int) -> tuple[collections.Counter, list[float]]:
    codes, durations = collections.Counter(), []
    with requests.Session() as session:
        for _request in range(n):
            start = time.monotonic()
            codes[session.get(f"http://127.0.0.1:{port}/", timeout=5).status_code] += 1
            durations.append(time.monotonic() - start)
    return codes, durations


def test_status_follows_a_pool_replaced_by_a_deployment(pool_lab, capsys):
    recorded = labmod.State.load(labmod.lab_dir()).containers["app_blue"]["id"]
    image = labmod.docker_inspect(recorded)["Image"]  # the same image by id, as a deployment by digest would run
    new_id = replace_like_app_docker("blue", pool_lab["app_blue"], "2026.11.7+3", image)
    assert new_id != recorded
    assert labmod.docker_inspect(recorded) is None  # the recorded container is gone: status must not say stopped
    status = labmod.pool_status("blue")
    assert status["running"] and status["id"] == new_id and status["replaced"]
    assert (status["version_label"], status["version"], status["answer"]) == ("2026.11.7+3", "2026.11.7+3", 200)
    assert status["health"] == "healthy" and status["restart_count"] == 0
    capsys.readouterr()
    labmod.status()
    out = capsys.readouterr().out
    blue = out[out.index("app_blue"):out.index("app_green")]
    assert f"running {new_id[:12]}" in blue and "stopped" not in blue
    assert "version label 2026.11.7+3; answers 2026.11.7+3 (200); health healthy; restarts 0" in blue
    assert "replaced since lab-up" in blue
    # a pool that is really gone is reported so, and makes status fail
    labmod.stop_container(labmod.container_name("green"))
    assert labmod.pool_status("green")["status"] == "missing"
    assert labmod.status() == 3
    assert "app_green      missing" in capsys.readouterr().out


def test_bad_pool_answers_errors_at_the_given_rate_and_restore_gives_the_env_back(pool_lab):
    port = pool_lab["app_green"]
    before = labmod.docker_inspect(labmod.container_name("green"))
    status = labmod.make_pool_bad("green", error_rate=0.2)
    after = labmod.docker_inspect(labmod.container_name("green"))
    assert after["Id"] != before["Id"] and status["id"] == after["Id"]
    assert after["Config"]["Image"] == before["Config"]["Image"]
    assert after["Config"]["Labels"] == before["Config"]["Labels"]
    changed = {k: v for k, v in labmod.env_dict(after["Config"]["Env"]).items()
               if labmod.env_dict(before["Config"]["Env"]).get(k) != v}
    assert changed == {"APP_ERROR_RATE": "0.2"}
    assert status["bad"] == {"APP_ERROR_RATE": "0.2"}
    codes, _durations = error_share(port, 400)
    # 400 draws at p=0.2: mean 80, sd 8; +-5 sd
    assert 40 <= codes[500] <= 120 and codes[500] + codes[200] == 400, codes
    # a second knob keeps the first; the remembered env stays the one before the first change
    labmod.make_pool_bad("green", latency_ms=300)
    env = labmod.env_dict(labmod.docker_inspect(labmod.container_name("green"))["Config"]["Env"])
    assert (env["APP_ERROR_RATE"], env["APP_LATENCY_MS"]) == ("0.2", "300")
    _codes, durations = error_share(port, 5)
    assert min(durations) >= 0.3
    restored = labmod.restore_pool("green")
    assert restored["restored"] and restored["bad"] == {}
    final = labmod.docker_inspect(labmod.container_name("green"))
    assert sorted(final["Config"]["Env"]) == sorted(before["Config"]["Env"])
    assert final["Config"]["Labels"] == before["Config"]["Labels"]
    assert labmod.State.load(labmod.lab_dir()).pools == {}
    assert labmod.State.load(labmod.lab_dir()).containers["app_green"]["id"] == final["Id"]
    codes, _durations = error_share(port, 100)
    assert codes == {200: 100}
    # nothing left to restore: a no-op
    assert labmod.restore_pool("green")["restored"] is False


def test_bad_pool_keeps_what_a_deployment_set(pool_lab):
    """make_pool_bad on a container the app_docker role made keeps its user, health check and restart policy."""
    port = pool_lab["app_blue"]
    image = labmod.docker_inspect(labmod.container_name("blue"))["Image"]
    replace_like_app_docker("blue", port, "2026.11.7+3", image)
    before = labmod.docker_inspect(labmod.container_name("blue"))
    labmod.make_pool_bad("blue", healthy=False)
    after = labmod.docker_inspect(labmod.container_name("blue"))
    for key in ("User", "Healthcheck", "Labels", "Image"):
        assert after["Config"][key] == before["Config"][key], key
    assert after["HostConfig"]["RestartPolicy"]["Name"] == "unless-stopped"
    assert requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 503
    assert wait_for(lambda: labmod.pool_status("blue")["health"] == "unhealthy", timeout=20)
    labmod.restore_pool("blue")
    assert labmod.pool_status("blue")["health"] == "healthy"


def test_crash_grows_the_restart_count_and_restore_brings_a_dead_pool_back(pool_lab, capsys):
    port = pool_lab["app_blue"]
    image = labmod.docker_inspect(labmod.container_name("blue"))["Image"]
    replace_like_app_docker("blue", port, "2026.11.7+3", image)
    status = labmod.make_pool_bad("blue", crash=True)
    assert status["bad"] == {"crashed": True}
    assert wait_for(lambda: labmod.pool_status("blue")["restart_count"] == 1)
    assert wait_for(lambda: labmod.pool_status("blue")["answer"] == 200)
    # green was started by the lab itself, without a restart policy: a crash leaves it down, and status says so
    labmod.make_pool_bad("green", crash=True)
    green = labmod.pool_status("green")
    assert not green["running"] and green["status"] == "exited"
    capsys.readouterr()
    assert labmod.main(["status"]) == 3
    assert "app_green      exited" in capsys.readouterr().out
    assert labmod.main(["pool", "green", "--restore"]) == 0
    assert "pool green: restored" in capsys.readouterr().out
    green = labmod.pool_status("green")
    assert green["running"] and green["answer"] == 200 and green["version"] == labmod.GREEN_VERSION


def test_pool_command_line_refuses_nonsense(pool_lab, capsys):
    assert labmod.main(["pool", "blue", "--error-rate", "1.5"]) == 1
    assert "error rate must be between 0 and 1" in capsys.readouterr().err
    assert labmod.main(["pool", "blue"]) == 1
    assert "give error_rate" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        labmod.main(["pool", "purple", "--crash"])


def test_pool_helper_works_on_a_jp_pool_and_leaves_kr_alone(pool_lab, capsys):
    port = pool_lab["app_green_jp"]
    kr_green = labmod.docker_inspect(labmod.container_name("green"))["Id"]
    before = labmod.docker_inspect(labmod.container_name("green-jp"))
    assert before["Name"] == "/" + labmod.container_name("green-jp") and before["Name"].startswith("/lab-green-jp-")
    capsys.readouterr()
    assert labmod.main(["pool", "green-jp", "--error-rate", "1"]) == 0
    out = capsys.readouterr().out
    assert "pool green-jp: made bad" in out and "app_green_jp" in out and "made bad: APP_ERROR_RATE=1.0" in out
    codes, _durations = error_share(port, 20)
    assert codes == {500: 20}
    after = labmod.docker_inspect(labmod.container_name("green-jp"))
    assert after["Id"] != before["Id"]
    assert labmod.env_dict(after["Config"]["Env"])["APP_POOL"] == "green"  # still JP's green
    assert labmod.pool_status("green-jp")["bad"] == {"APP_ERROR_RATE": "1.0"}
    # KR's green (the same pool name within KR) is another container, untouched
    assert labmod.docker_inspect(labmod.container_name("green"))["Id"] == kr_green
    assert labmod.pool_status("green")["bad"] == {}
    assert error_share(pool_lab["app_green"], 20)[0] == {200: 20}
    labmod.make_pool_bad("green-jp", crash=True)
    assert labmod.pool_status("green-jp")["status"] == "exited"
    assert labmod.main(["pool", "green-jp", "--restore"]) == 0
    assert "pool green-jp: restored" in capsys.readouterr().out
    final = labmod.pool_status("green-jp")
    assert final["running"] and final["version"] == labmod.GREEN_VERSION and final["bad"] == {}
    assert sorted(labmod.docker_inspect(final["id"])["Config"]["Env"]) == sorted(before["Config"]["Env"])
    assert labmod.State.load(labmod.lab_dir()).containers["app_green_jp"]["id"] == final["id"]
    assert error_share(port, 20)[0] == {200: 20}


# ----------------------------------------------------------------------------------------------
# the rolling tier (app web): web1-3 and an empty surge slot behind HAProxy's backend `web`
# ----------------------------------------------------------------------------------------------

def test_haproxy_web_sends_traffic_to_the_three_instances(lab):
    from tests.e2e.test_rolling import reset_web  # the tier as lab-up starts it (an e2e release may have run)

    reset_web(lab)
    with requests.Session() as session:
        pools = collections.Counter(session.get(lab.url("haproxy_web"), timeout=5).json()["pool"]
                                    for _request in range(30))
    assert set(pools) == {"web1", "web2", "web3"}, pools
    state = haproxy_cmd(lab.haproxy_socket, "show servers state web")
    columns = state.splitlines()[1].lstrip("# ").split()
    rows = [dict(zip(columns, line.split(), strict=True)) for line in state.splitlines()[2:] if line.strip()]
    weights = {row["srv_name"]: int(row["srv_uweight"]) for row in rows}
    assert weights == {"web1": 100, "web2": 100, "web3": 100, "surge": 0}
    assert labmod.docker_inspect(labmod.container_name(labmod.WEB_SURGE)) is None


def test_prometheus_scrapes_the_web_tier_as_job_web(lab):
    instances = {f"127.0.0.1:{lab.ports[labmod.pool_key(name)]}" for name in labmod.WEB_INSTANCES}

    def up() -> set[str]:
        return {s["metric"]["instance"] for s in prom_query(lab, 'up{job="web",app="web",region="kr"} == 1')}

    assert wait_for(lambda: up() == instances), up()
    query = 'demo_app_info{job="web",pool="web2"}'
    assert {r["metric"]["instance"] for r in prom_query(lab, query)} == {f"127.0.0.1:{lab.ports['app_web2']}"}
    # the surge slot is scraped too (it answers only while a rolling release runs something there)
    surge = f"127.0.0.1:{lab.ports['app_web_surge']}"
    assert surge in {s["metric"]["instance"] for s in prom_query(lab, 'up{job="web"}')}


def test_status_and_env_report_the_web_tier(lab, capsys):
    capsys.readouterr()
    labmod.status()
    out = capsys.readouterr().out
    for name in labmod.WEB_INSTANCES:
        line = next(line for line in out.splitlines() if line.strip().startswith(labmod.pool_key(name) + " "))
        assert "running" in line and f"({labmod.container_name(name)})" in line
    surge = next(line for line in out.splitlines() if line.strip().startswith("app_web_surge "))
    assert "idle (no container)" in surge and f"http://127.0.0.1:{lab.ports['app_web_surge']}" in surge
    env = labmod.env_text(labmod.ports())
    assert f"export LAB_HAPROXY_WEB_URL=http://127.0.0.1:{lab.ports['haproxy_web']}\n" in env
    for name in ("app_web1", "app_web2", "app_web3", "app_web_surge", "haproxy_web"):
        assert f"export LAB_{name.upper()}_PORT={lab.ports[name]}\n" in env
