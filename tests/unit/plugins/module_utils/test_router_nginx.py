# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The nginx adapter without a real nginx: file parsing and rendering, options, rollback with a fake nginx
binary, and the runtime admin client against a small fake admin endpoint."""
from __future__ import annotations

import http.server
import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ansible_collections.progressive.delivery.plugins.module_utils._result import ModuleFailure
from ansible_collections.progressive.delivery.plugins.module_utils._routers import RouterError, registry
from ansible_collections.progressive.delivery.plugins.module_utils._routers.nginx import (
    NginxReloadRouter,
    backup_path,
    compiled_paths,
    has_reloaded,
    nginx_args,
    parse_upstreams,
    pid_file_from_dump,
)
from ansible_collections.progressive.delivery.plugins.module_utils._routers.nginx_runtime import (
    NginxRuntimeRouter,
    admin_address,
)

from tests.lab.routers import NGINX_FILES, render_runtime_config

BLUE, GREEN = "127.0.0.1:8081", "127.0.0.1:8082"
FILE = """\
# other text stays
upstream other { server 10.0.0.1:80; }
upstream demo {
    server 127.0.0.1:8081 weight=3 max_fails=2;  # a comment; with a brace }
    server 127.0.0.1:8082 down;
    keepalive 16;
}
"""


class Runner:
    """AnsibleModule.run_command's signature on subprocess, recording each command."""

    def __init__(self) -> None:
        self.commands: list[list[str]] = []

    def __call__(self, args: list[str], check_rc: bool = False) -> tuple[int, str, str]:
        self.commands.append(list(args))
        proc = subprocess.run(args, capture_output=True, text=True, check=False, timeout=60)
        return proc.returncode, proc.stdout, proc.stderr


def router(tmp_path: Path, runner: Runner | None = None, **params: Any) -> NginxReloadRouter:
    path = tmp_path / "demo.conf"
    if not path.exists():
        path.write_text(FILE)
    base = {"router": "nginx", "upstream": "demo", "nginx_upstream_file": str(path), "stable": BLUE, "canary": GREEN,
            "nginx_binary": "nginx", "nginx_mode": "reload", "nginx_timeout": 10.0}
    return NginxReloadRouter({**base, **params}, runner=runner or Runner())


# -- the upstream file ------------------------------------------------------------------------------
def test_parse_reads_weights_down_params_and_options() -> None:
    upstreams = parse_upstreams(FILE)
    assert list(upstreams) == ["other", "demo"]
    demo = upstreams["demo"]
    assert demo.weights() == {BLUE: 3, GREEN: 0}
    assert demo.servers[0].params == ["max_fails=2"]
    assert demo.options == ["keepalive 16"]
    assert upstreams["other"].weights() == {"10.0.0.1:80": 1}


def test_render_writes_down_for_zero_and_keeps_the_rest(tmp_path: Path) -> None:
    text = router(tmp_path).render(FILE, {BLUE: 0, GREEN: 7})
    assert "server 127.0.0.1:8081 down max_fails=2;" in text
    assert "server 127.0.0.1:8082 weight=7;" in text
    assert "weight=0" not in text and "keepalive 16;" in text
    assert text.startswith("# other text stays\nupstream other { server 10.0.0.1:80; }\n")
    assert parse_upstreams(text)["demo"].weights() == {BLUE: 0, GREEN: 7}


def test_render_replaces_options_when_given(tmp_path: Path) -> None:
    text = router(tmp_path, nginx_upstream_options=["least_conn", "keepalive 32;"]).render(FILE, {BLUE: 1})
    assert parse_upstreams(text)["demo"].options == ["least_conn", "keepalive 32"]


def test_get_weights_and_errors_name_the_option(tmp_path: Path) -> None:
    assert router(tmp_path).get_weights([BLUE, GREEN]) == {BLUE: 3, GREEN: 0}
    with pytest.raises(RouterError, match=r"option canary: server 127.0.0.1:9 is not in upstream demo .*"
                                          r"its servers: 127.0.0.1:8081, 127.0.0.1:8082"):
        router(tmp_path, canary="127.0.0.1:9").get_weights([BLUE, "127.0.0.1:9"])
    with pytest.raises(RouterError, match=r"option upstream: no upstream 'app' .* it has: other, demo"):
        router(tmp_path, upstream="app").get_weights([BLUE])
    with pytest.raises(RouterError, match=r"option nginx_upstream_file: .* does not exist"):
        router(tmp_path, nginx_upstream_file=str(tmp_path / "none.conf")).get_weights([BLUE])


@pytest.mark.parametrize("params,message", [
    ({"nginx_upstream_file": None},
     "router is nginx and nginx_mode is reload but all of the following are missing: nginx_upstream_file"),
    ({"upstream": ""}, "router is nginx and nginx_mode is reload but all of the following are missing: upstream"),
    ({"nginx_mode": "runtime"}, "router is nginx and nginx_mode is runtime but all of the following are missing:"
                                " nginx_admin_url"),
    ({"nginx_mode": "lua"}, "value of nginx_mode must be one of: reload, runtime, got: lua"),
])
def test_registry_selects_the_mode_and_checks_what_it_needs(tmp_path: Path, params: dict[str, Any],
                                                            message: str) -> None:
    base = {"router": "nginx", "upstream": "demo", "nginx_upstream_file": str(tmp_path / "x.conf"),
            "nginx_mode": "reload"}
    assert registry.select(base) is NginxReloadRouter
    assert registry.select({**base, "nginx_mode": "runtime", "nginx_admin_url": "http://127.0.0.1:1"}) \
        is NginxRuntimeRouter
    with pytest.raises(ModuleFailure, match=message) as failure:
        registry.select({**base, **params})
    assert failure.value.option == (message.rsplit(" ", 1)[-1] if "missing" in message else "nginx_mode")


@pytest.mark.parametrize("params,message", [
    ({"nginx_timeout": 0}, None),  # 0 falls back to the default
    ({"nginx_timeout": -1}, "option nginx_timeout: must be greater than 0"),
    ({"nginx_args": {"p": 1}}, "option nginx_args: a string"),
])
def test_options_are_checked(tmp_path: Path, params: dict[str, Any], message: str | None) -> None:
    if message is None:
        router(tmp_path, **params)
        return
    with pytest.raises(RouterError, match=message):
        router(tmp_path, **params)


@pytest.mark.parametrize(("workers", "before", "reloaded"), [
    ({3, 4}, {1, 2}, True),  # a whole new generation, old ones gone or shutting down
    ({1, 2, 3, 4}, {1, 2}, True),  # a whole new generation while nginx's 100 ms pause keeps the old ones
    ({1, 2, 3}, {1, 2}, False),  # one new worker: a respawned crash, not a reload
    ({1, 2}, {1, 2}, False),
    (set(), {1, 2}, False),  # master without workers
    ({3}, {1, 2}, True),  # worker_processes shrank: every old one stopped accepting
    ({3}, set(), True),
])
def test_has_reloaded(workers: set[int], before: set[int], reloaded: bool) -> None:
    assert has_reloaded(workers, before) is reloaded


def test_nginx_args_and_pid_file_lookup() -> None:
    assert nginx_args("-p '/srv/my nginx' -c /srv/n.conf") == ["-p", "/srv/my nginx", "-c", "/srv/n.conf"]
    assert nginx_args(["-p", "/x"]) == ["-p", "/x"] and nginx_args(None) == []
    compiled = compiled_paths("configure arguments: --prefix=/usr/share/nginx --pid-path=/run/nginx.pid")
    assert compiled == {"prefix": "/usr/share/nginx", "pid-path": "/run/nginx.pid"}
    assert pid_file_from_dump("# pid /nope;\npid /abs/n.pid;\n", [], compiled) == "/abs/n.pid"
    assert pid_file_from_dump("pid logs/n.pid;", ["-p", "/srv"], compiled) == "/srv/logs/n.pid"
    assert pid_file_from_dump("events {}", [], compiled) == "/run/nginx.pid"


# -- rollback with a fake nginx ---------------------------------------------------------------------
def fake_nginx(tmp_path: Path, test_ok: bool, pid_file: Path) -> str:
    script = tmp_path / "fake-nginx"
    failing = 'echo "nginx: [emerg] unknown directive \\"bogus\\" in /x/demo.conf:3" >&2; exit 1'
    script.write_text(f"#!/bin/sh\ncase \"$*\" in\n  *-T*) {'true' if test_ok else failing};"
                      f" echo 'pid {pid_file};' ;;\n  *-V*) echo 'configure arguments: --prefix=/p' >&2 ;;\nesac\n")
    script.chmod(0o755)
    return str(script)


@pytest.fixture
def hup_ignoring_process() -> Iterator[subprocess.Popen]:
    code = "import signal, time; signal.signal(signal.SIGHUP, signal.SIG_IGN); print(1, flush=True); time.sleep(60)"
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdout.readline()
    yield proc
    proc.send_signal(signal.SIGKILL)
    proc.wait()


def test_failed_config_test_restores_the_file(tmp_path: Path) -> None:
    nginx = fake_nginx(tmp_path, test_ok=False, pid_file=tmp_path / "nginx.pid")
    rtr = router(tmp_path, nginx_binary=nginx)
    with pytest.raises(RouterError, match=r'nginx -t failed: nginx: \[emerg\] unknown directive "bogus".*restored'):
        rtr.set_weights({BLUE: 3, GREEN: 0}, {BLUE: 1, GREEN: 1})
    assert (tmp_path / "demo.conf").read_text() == FILE
    assert Path(backup_path(str(tmp_path / "demo.conf"))).read_text() == FILE
    assert sorted(p.name for p in tmp_path.iterdir()) == [".demo.conf.bak", "demo.conf", "fake-nginx"]


def test_master_not_running_restores_the_file(tmp_path: Path) -> None:
    pid_file = tmp_path / "nginx.pid"
    pid_file.write_text("999999999\n")
    rtr = router(tmp_path, nginx_binary=fake_nginx(tmp_path, test_ok=True, pid_file=pid_file))
    with pytest.raises(RouterError, match=r"master PID 999999999 .* is not running .*restored"):
        rtr.set_weights({BLUE: 3, GREEN: 0}, {BLUE: 1, GREEN: 1})
    assert (tmp_path / "demo.conf").read_text() == FILE


def test_no_new_workers_in_time_restores_and_reloads_again(tmp_path: Path,
                                                           hup_ignoring_process: subprocess.Popen) -> None:
    pid_file = tmp_path / "nginx.pid"
    pid_file.write_text(f"{hup_ignoring_process.pid}\n")
    rtr = router(tmp_path, nginx_binary=fake_nginx(tmp_path, test_ok=True, pid_file=pid_file), nginx_timeout=0.3)
    started = time.monotonic()
    with pytest.raises(RouterError, match=r"nginx did not reload within 0.3s \(option nginx_timeout\).*restored"):
        rtr.set_weights({BLUE: 3, GREEN: 0}, {BLUE: 1, GREEN: 1})
    assert time.monotonic() - started < 3
    assert (tmp_path / "demo.conf").read_text() == FILE
    assert hup_ignoring_process.poll() is None


# -- runtime mode -----------------------------------------------------------------------------------
class FakeAdmin(http.server.BaseHTTPRequestHandler):
    weights: dict[str, dict[str, int]] = {}
    puts: list[dict[str, Any]] = []
    prefix = ""
    raw_answer: tuple[int, bytes] | None = None

    def _reply(self, code: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _name(self) -> str | None:
        name = self.path.removeprefix(self.prefix).removeprefix("/upstreams/")
        return name if name in self.weights else None

    def do_GET(self) -> None:
        if self.raw_answer is not None:
            self.send_response(self.raw_answer[0])
            self.send_header("Content-Length", str(len(self.raw_answer[1])))
            self.end_headers()
            self.wfile.write(self.raw_answer[1])
            return None
        name = self._name()
        if name is None:
            return self._reply(404, {"error": "no such upstream"})
        return self._reply(200, {"upstream": name, "servers": self.weights[name]})

    def do_PUT(self) -> None:
        name = self._name()
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.puts.append(body)
        if name is None:
            return self._reply(404, {"error": "no such upstream"})
        self.weights[name].update(body["servers"])
        return self._reply(200, {"upstream": name, "servers": self.weights[name]})

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def admin() -> Iterator[str]:
    FakeAdmin.weights = {"demo": {BLUE: 1, GREEN: 1}}
    FakeAdmin.puts = []
    FakeAdmin.prefix = ""
    FakeAdmin.raw_answer = None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FakeAdmin)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def runtime_router(url: str, **params: Any) -> NginxRuntimeRouter:
    return NginxRuntimeRouter({"upstream": "demo", "nginx_mode": "runtime", "nginx_admin_url": url, "stable": BLUE,
                               "canary": GREEN, "nginx_timeout": 5.0, **params})


def test_runtime_sets_all_weights_in_one_call(admin: str) -> None:
    rtr = runtime_router(admin)
    assert rtr.get_weights([BLUE, GREEN]) == {BLUE: 1, GREEN: 1}
    rtr.set_weights({BLUE: 1, GREEN: 1}, {BLUE: 19, GREEN: 1})
    assert FakeAdmin.puts == [{"servers": {BLUE: 19, GREEN: 1}}]
    assert rtr.verify({BLUE: 19, GREEN: 1}) == {BLUE: 19, GREEN: 1}
    assert rtr.describe() == {"mode": "runtime", "upstream": "demo", "admin_url": admin.rstrip("/")}


def test_runtime_errors(admin: str) -> None:
    with pytest.raises(RouterError, match="option upstream: no upstream 'nope' behind"):
        runtime_router(admin, upstream="nope").get_weights([BLUE])
    with pytest.raises(RouterError, match=r"option stable: server 10\.0\.0\.9:1 is not in upstream demo"):
        runtime_router(admin, stable="10.0.0.9:1").get_weights(["10.0.0.9:1", GREEN])
    with pytest.raises(RouterError, match=r"verify: upstream demo .* has weights"):
        runtime_router(admin).verify({BLUE: 5, GREEN: 1})


def test_runtime_unreachable_admin_names_the_option() -> None:
    with pytest.raises(RouterError, match=r"option nginx_admin_url: cannot GET http://127\.0\.0\.1:9/upstreams/demo"):
        runtime_router("http://127.0.0.1:9").get_weights([BLUE])


@pytest.mark.parametrize("url", ["https://127.0.0.1:8089", "127.0.0.1:8089", "http://user:pw@127.0.0.1:8089",
                                 "http://127.0.0.1:8089/?x=1", "http://127.0.0.1:notaport", "http://"])
def test_runtime_admin_url_must_be_plain_http(url: str) -> None:
    with pytest.raises(RouterError, match=r"option nginx_admin_url: (must be http://|not a URL)"):
        runtime_router(url)


def test_runtime_admin_url_path_prefix(admin: str) -> None:
    FakeAdmin.prefix = "/lb"
    assert admin_address(admin + "lb/") == ("127.0.0.1", int(admin.rsplit(":", 1)[1].rstrip("/")), "/lb")
    assert runtime_router(admin + "lb").get_weights([BLUE, GREEN]) == {BLUE: 1, GREEN: 1}


@pytest.mark.parametrize(("answer", "message"), [
    ((500, b'{"error": "dict full"}'), r"option nginx_admin_url: http://\S+ answered HTTP 500: dict full"),
    ((502, b"<html>bad gateway</html>"), r"answered HTTP 502: Bad Gateway"),
    ((200, b"<html>hello</html>"), r"did not answer like the runtime snippet: b'<html>hello</html>'"),
    ((200, b'{"servers": []}'), r"did not answer like the runtime snippet"),
])
def test_runtime_admin_answers_that_are_not_the_snippet(admin: str, answer: tuple[int, bytes], message: str) -> None:
    FakeAdmin.raw_answer = answer
    with pytest.raises(RouterError, match=message):
        runtime_router(admin).get_weights([BLUE, GREEN])


def test_runtime_config_template_declares_upstreams_and_admin() -> None:
    text = render_runtime_config({"demo": [BLUE, GREEN], "api": ["10.0.0.1:80"]}, "127.0.0.1:9901", ["keepalive 8"])
    assert '["demo"] = {"127.0.0.1:8081", "127.0.0.1:8082"},' in text
    assert 'balancer_by_lua_block { progressive_delivery.balance("api") }' in text
    assert "listen 127.0.0.1:9901;" in text and "    keepalive 8;\n" in text
    assert f'lua_package_path "{NGINX_FILES}/?.lua;;";' in text
    assert text.count("{") == text.count("}")
    lua = (NGINX_FILES / "progressive_delivery.lua").read_text()
    assert "function M.new(declared)" in lua and "function pd.admin()" in lua and lua.rstrip().endswith("return M")
    with pytest.raises(ValueError, match="servers must be IP:PORT"):
        render_runtime_config({"demo": ['1.2.3.4:80"; os.exit()']})
    with pytest.raises(ValueError, match="upstream name"):
        render_runtime_config({"de mo": [BLUE]})


def test_nginx_commands_go_through_the_runner(tmp_path: Path) -> None:
    runner = Runner()
    nginx = fake_nginx(tmp_path, test_ok=False, pid_file=tmp_path / "nginx.pid")
    with pytest.raises(RouterError, match="nginx -t failed"):
        adapter = router(tmp_path, runner, nginx_binary=nginx, nginx_args="-p /srv")
        adapter.set_weights({BLUE: 3, GREEN: 0}, {BLUE: 1, GREEN: 1})
    assert runner.commands == [[nginx, "-p", "/srv", "-T"]]
    with pytest.raises(RouterError, match=r"option nginx_binary: /no/such/nginx not found"):
        router(tmp_path, nginx_binary="/no/such/nginx").set_weights({BLUE: 3, GREEN: 0}, {BLUE: 1, GREEN: 1})
    assert (tmp_path / "demo.conf").read_text() == FILE
