# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""HAProxy adapter without HAProxy: parsing of runtime API answers, and the adapter's command sequence against a
fake runtime API on a real UNIX socket (answers copied from HAProxy 2.6.12). Real HAProxy is in
tests/integration/test_canary_shift_haproxy.py."""
from __future__ import annotations

import os
import socket
import socketserver
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from ansible_collections.progressive.delivery.plugins.module_utils._result import ModuleFailure
from ansible_collections.progressive.delivery.plugins.module_utils._routers import RouterError, registry
from ansible_collections.progressive.delivery.plugins.module_utils._routers import haproxy as haproxy_module
from ansible_collections.progressive.delivery.plugins.module_utils._routers.haproxy import (
    HAProxyRouter,
    parse_backends,
    parse_get_weight,
    parse_servers_state,
)
from ansible_collections.progressive.delivery.plugins.module_utils._weights import server_weights

HEADER = ("# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight"
          " srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state"
          " srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port"
          " srv_check_addr srv_agent_addr srv_agent_port")
REAL_DUMP = (f"1\n{HEADER}\n"
             "3 app 1 blue 127.0.0.1 2 0 5 128 17 1 0 2 0 0 0 0 - 18081 - 0 0 - - 0\n"
             "3 app 2 green 127.0.0.1 2 0 128 128 17 1 0 2 0 0 0 0 - 18082 - 0 0 - - 0\n"
             "4 other 1 x 127.0.0.1 2 0 1 1 17 1 0 2 0 0 0 0 - 18081 - 0 0 - - 0\n\n")


# ------------------------------------------------------------------------------------------------ parsing
def test_parse_servers_state_real_dump():
    state = parse_servers_state(REAL_DUMP)
    assert list(state) == ["app", "other"]
    assert {name: row["srv_uweight"] for name, row in state["app"].items()} == {"blue": "5", "green": "128"}
    assert state["app"]["blue"]["srv_iweight"] == "128"
    assert state["other"]["x"]["srv_port"] == "18081"


def test_parse_servers_state_empty_backend():
    assert parse_servers_state(f"1\n{HEADER}\n\n") == {}


@pytest.mark.parametrize("text", ["Can't find backend.\n\n", "", "2\n# be_id be_name\n", "1\nno header\n"])
def test_parse_servers_state_rejects_other_answers(text):
    with pytest.raises(ValueError):
        parse_servers_state(text)


def test_parse_backends():
    assert parse_backends("# name\napp\nother\n\n") == ["app", "other"]


def test_parse_get_weight():
    assert parse_get_weight("5 (initial 128)\n\n") == (5, 128)
    with pytest.raises(ValueError, match="No such server"):
        parse_get_weight("No such server.\n\n")


# ------------------------------------------------------------------------------------------------ fake runtime API
class FakeHAProxy:
    """Just enough of the 2.6 runtime API text protocol; records every command and every weight state."""

    def __init__(self, backends: dict[str, dict[str, int]]) -> None:
        self.backends = backends
        self.commands: list[str] = []
        self.history: list[dict[str, int]] = []
        self.refuse: set[str] = set()  # "backend/server" whose next set weight fails

    def answer(self, command: str) -> str:
        self.commands.append(command)
        words = command.split()
        if words[:3] == ["show", "servers", "state"]:
            return self._state(words[3] if len(words) > 3 else None)
        if words[:2] == ["show", "backend"]:
            return "# name\n" + "".join(f"{name}\n" for name in self.backends) + "\n"
        if words[0] in ("get", "set") and words[1] == "weight":
            return self._weight(words)
        return "Unknown command.\n\n"

    def _state(self, backend: str | None) -> str:
        if backend is not None and backend not in self.backends:
            return "Can't find backend.\n\n"
        lines = [f"1\n{HEADER}\n"]
        for be_id, (name, servers) in enumerate(self.backends.items(), start=3):
            if backend in (None, name):
                for srv_id, (server, weight) in enumerate(servers.items(), start=1):
                    lines.append(f"{be_id} {name} {srv_id} {server} 127.0.0.1 2 0 {weight} 128 1 1 0 2 0 0 0 0 - 1"
                                 " - 0 0 - - 0\n")
        return "".join(lines) + "\n"

    def _weight(self, words: list[str]) -> str:
        backend, _slash, server = words[2].partition("/")
        if backend not in self.backends:
            return "No such backend.\n\n"
        if server not in self.backends[backend]:
            return "No such server.\n\n"
        if words[0] == "get":
            return f"{self.backends[backend][server]} (initial 128)\n\n"
        if words[2] in self.refuse:
            return "Backend is using a static LB algorithm and only accepts weights '0%' and '100%'.\n\n"
        self.backends[backend][server] = int(words[3])
        self.history.append(dict(self.backends[backend]))
        return "\n"


@pytest.fixture
def fake(tmp_path: Path) -> Iterator[tuple[FakeHAProxy, str]]:
    haproxy = FakeHAProxy({"app": {"blue": 128, "green": 128}, "other": {"x": 1}})

    class Handler(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            command = self.rfile.readline().decode().strip()
            self.wfile.write(haproxy.answer(command).encode())

    path = str(tmp_path / "admin.sock")
    server = socketserver.ThreadingUnixStreamServer(path, Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    yield haproxy, path
    server.shutdown()
    server.server_close()


def router(path: str, **params) -> HAProxyRouter:
    return HAProxyRouter({"haproxy_socket": path, "backend": "app", "haproxy_timeout": 2.0, **params})


def shift(haproxy_router: HAProxyRouter, weight: int) -> dict[str, int]:
    """What the module does: validate members, read, set in make-before-break order, verify."""
    stable = haproxy_router.members("blue", "stable")
    canary = haproxy_router.members(["green"], "canary")
    current = haproxy_router.get_weights(stable + canary)
    target = server_weights(weight, stable, canary, HAProxyRouter.max_weight)
    haproxy_router.set_weights(current, target)
    return haproxy_router.verify(target)


def set_commands(haproxy: FakeHAProxy) -> list[str]:
    return [command for command in haproxy.commands if command.startswith("set weight")]


# ------------------------------------------------------------------------------------------------ options
@pytest.mark.parametrize("missing", ["haproxy_socket", "backend"])
def test_required_options(missing):
    params = {"router": "haproxy", "haproxy_socket": "/run/haproxy/admin.sock", "backend": "app"}
    assert registry.select(params) is HAProxyRouter
    params[missing] = None
    with pytest.raises(ModuleFailure, match=f"router is haproxy but all of the following are missing: {missing}$") \
            as failure:
        registry.select(params)
    assert failure.value.option == missing
    assert ("router", "haproxy", ["haproxy_socket", "backend"]) in registry.required_if()


def test_timeout_must_be_positive():
    with pytest.raises(RouterError, match="option haproxy_timeout"):
        router("/x.sock", haproxy_timeout=0.0 - 1)


def test_missing_socket_names_option_and_path(tmp_path):
    path = str(tmp_path / "nope.sock")
    with pytest.raises(RouterError, match=f"option haproxy_socket: {path} does not exist"):
        router(path).members("blue", "stable")


def test_refused_socket(tmp_path):
    path = str(tmp_path / "dead.sock")
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(path)  # bound but not listening: what a crashed HAProxy leaves behind
        with pytest.raises(RouterError, match=r"option haproxy_socket: .*dead.sock: connection refused"):
            router(path).members("blue", "stable")


def test_silent_haproxy_times_out(tmp_path):
    path = str(tmp_path / "silent.sock")
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(path)
        sock.listen()
        with pytest.raises(RouterError, match=r"option haproxy_timeout: .* within 0.2s"):
            router(path, haproxy_timeout=0.2).members("blue", "stable")


# ------------------------------------------------------------------------------------------------ validation
def test_unknown_server_names_option_and_lists_servers(fake):
    haproxy, path = fake
    with pytest.raises(RouterError) as err:
        router(path).members(["green", "gren"], "canary")
    assert str(err.value) == "option canary: no server 'gren' in backend 'app'; servers in it: blue, green"
    assert set_commands(haproxy) == []


def test_unknown_backend_lists_backends(fake):
    _haproxy, path = fake
    with pytest.raises(RouterError, match=r"option backend: no backend 'ap' in .*; backends: app, other"):
        router(path, backend="ap").members("blue", "stable")


def test_describe(fake):
    _haproxy, path = fake
    assert router(path).describe() == {"backend": "app", "socket": path, "state_file": None}


# ------------------------------------------------------------------------------------------------ order
@pytest.mark.parametrize("start,weight", [((128, 128), 5), ((1, 0), 100), ((0, 1), 0), ((19, 1), 50)])
def test_make_before_break_order(fake, start, weight):
    haproxy, path = fake
    haproxy.backends["app"] = {"blue": start[0], "green": start[1]}
    result = shift(router(path), weight)
    assert result == server_weights(weight, ["blue"], ["green"], 256)
    assert all(sum(state.values()) > 0 for state in haproxy.history), haproxy.history


def test_gain_is_sent_before_loss(fake):
    haproxy, path = fake
    haproxy.backends["app"] = {"blue": 1, "green": 0}
    shift(router(path), 100)
    assert set_commands(haproxy) == ["set weight app/green 1", "set weight app/blue 0"]


def test_ordered_updates_is_looked_up_at_call_time(fake, monkeypatch):
    """bench/shift_under_load.py replaces it to show what make-before-break buys; no switch in the product."""
    haproxy, path = fake
    haproxy.backends["app"] = {"blue": 1, "green": 0}
    monkeypatch.setattr(haproxy_module, "ordered_updates", lambda before, after: sorted(
        after.items(), key=lambda step: step[1] > before.get(step[0], 0)))
    shift(router(path), 100)
    assert set_commands(haproxy) == ["set weight app/blue 0", "set weight app/green 1"]
    assert {"blue": 0, "green": 0} in haproxy.history


def test_command_sequence(fake):
    haproxy, path = fake
    shift(router(path), 5)
    assert haproxy.commands == [
        "show servers state app",  # members() of stable and canary (cached)
        "show servers state app",  # get_weights(): fresh
        "set weight app/blue 19",
        "set weight app/green 1",
        "show servers state app",  # verify()
        "get weight app/blue",
        "get weight app/green",
    ]


# ------------------------------------------------------------------------------------------------ failure
def test_failure_half_way_restores_previous_weights(fake):
    haproxy, path = fake
    haproxy.refuse.add("app/green")
    with pytest.raises(RouterError) as err:
        shift(router(path), 100)  # blue 128 -> 0 succeeds, green 128 -> 1 fails
    message = str(err.value)
    assert "option backend: HAProxy refused 'set weight app/green 1': Backend is using a static LB" in message
    assert "restored the previous weights (blue=128)" in message
    assert set_commands(haproxy) == ["set weight app/blue 0", "set weight app/green 1", "set weight app/blue 128"]
    assert haproxy.backends["app"] == {"blue": 128, "green": 128}


def test_failure_on_first_update_changes_nothing(fake):
    haproxy, path = fake
    haproxy.refuse.add("app/blue")
    with pytest.raises(RouterError, match="no weight was changed"):
        shift(router(path), 5)
    assert haproxy.backends["app"] == {"blue": 128, "green": 128}


def test_verify_mismatch(fake):
    haproxy, path = fake
    with pytest.raises(RouterError, match=r"verify: .*reports weights \{'blue': 128, 'green': 128\}"):
        router(path).verify({"blue": 19, "green": 1})
    assert set_commands(haproxy) == []


# ------------------------------------------------------------------------------------------------ persistence
def test_state_file_gets_full_dump(fake, tmp_path):
    _haproxy, path = fake
    state_file = tmp_path / "server-state"
    state_file.write_text("old\n")
    state_file.chmod(0o640)
    shift(router(path, haproxy_state_file=str(state_file)), 5)
    saved = parse_servers_state(state_file.read_text())
    assert {name: row["srv_uweight"] for name, row in saved["app"].items()} == {"blue": "19", "green": "1"}
    assert "other" in saved  # every backend, as HAProxy's own dump for a reload
    assert state_file.stat().st_mode & 0o777 == 0o640
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".server-state")] == []


def test_unwritable_state_file_fails_before_any_change(fake, tmp_path):
    haproxy, path = fake
    missing_dir = tmp_path / "missing" / "server-state"
    with pytest.raises(RouterError, match=r"option haproxy_state_file: cannot write .*no weight was changed"):
        shift(router(path, haproxy_state_file=str(missing_dir)), 5)
    assert set_commands(haproxy) == []


def test_state_file_write_error_restores(fake, tmp_path, monkeypatch):
    haproxy, path = fake

    def broken(_path: str, _text: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(haproxy_module, "write_atomic", broken)
    with pytest.raises(RouterError, match="No space left on device; restored the previous weights"):
        shift(router(path, haproxy_state_file=str(tmp_path / "server-state")), 5)
    assert haproxy.backends["app"] == {"blue": 128, "green": 128}
    assert not os.path.exists(tmp_path / "server-state")


def test_persisted_compares_the_state_file_with_the_runtime_weights(fake, tmp_path):
    haproxy, path = fake
    state_file = tmp_path / "server-state"
    haproxy.backends["app"] = {"blue": 128, "green": 128}
    adapter = router(path, haproxy_state_file=str(state_file))
    current = adapter.get_weights(["blue", "green"])
    assert adapter.persisted(current) is False  # no file yet
    adapter.persist()
    assert adapter.persisted(current) is True
    haproxy.backends["app"]["green"] = 64  # a raw `set weight`: the runtime moved, the file did not
    assert adapter.persisted(adapter.get_weights(["blue", "green"])) is False
    assert router(path).persisted({"blue": 1, "green": 1}) is True  # nothing persisted without the option
