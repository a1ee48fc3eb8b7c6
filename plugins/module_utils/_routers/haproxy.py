# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""HAProxy adapter: server weights through the runtime API (no reload), persisted in the server-state file.

Each command goes over its own connection to the runtime API's UNIX socket (HAProxy answers and closes it), so
no session state (prompt mode, timeouts) can leak from one command into the next. HAProxy reports errors as
plain text ("No such server.", "Can't find backend."); they are turned into :class:`RouterError` naming the
option at fault. Persistence: after a change, ``show servers state`` (every backend) is written atomically to
the file named by HAProxy's ``server-state-file`` global (option ``haproxy_state_file``), which a reload reads
back with ``load-server-state-from-file global``. HAProxy 2.6 does not expose that path (not in ``show info``),
hence the option.
"""
from __future__ import annotations

import os
import re
import socket
from collections.abc import Mapping, Sequence
from typing import Any

from ansible_collections.progressive.delivery.plugins.module_utils._files import write_atomic
from ansible_collections.progressive.delivery.plugins.module_utils._routers import (
    Router,
    RouterError,
    ordered_updates,
)

STATE_VERSION = "1"
NO_BACKEND = ("Can't find backend.", "No such backend.")
NO_SERVER = "No such server."
GET_WEIGHT_RE = re.compile(r"^(\d+) \(initial (\d+)\)$")
MAX_ANSWER = 16 * 1024 * 1024


def parse_servers_state(text: str) -> dict[str, dict[str, dict[str, str]]]:
    """Parse ``show servers state [backend]``: backend -> server -> {column: value} (columns from the header).

    Raises ValueError if ``text`` is not a state dump of a format version this code knows.
    """
    lines = text.strip("\n").split("\n")
    if not lines or lines[0].strip() != STATE_VERSION or len(lines) < 2 or not lines[1].startswith("# "):
        raise ValueError(f"not a version {STATE_VERSION} server state dump: {first_line(text)!r}")
    columns = lines[1][2:].split()
    backends: dict[str, dict[str, dict[str, str]]] = {}
    for line in lines[2:]:
        if not line.strip() or line.startswith("#"):
            continue
        values = line.split()
        row = {column: values[index] for index, column in enumerate(columns) if index < len(values)}
        backends.setdefault(row["be_name"], {})[row["srv_name"]] = row
    return backends


def parse_backends(text: str) -> list[str]:
    """Parse ``show backend``: the backend names (the first line is the ``# name`` header)."""
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


def parse_get_weight(text: str) -> tuple[int, int]:
    """Parse ``get weight backend/server`` (HAProxy 2.6: ``"N (initial M)"``) into (current, initial)."""
    match = GET_WEIGHT_RE.match(text.strip())
    if not match:
        raise ValueError(f"unexpected answer to get weight: {first_line(text)!r}")
    return int(match.group(1)), int(match.group(2))


def first_line(text: str) -> str:
    stripped = text.strip()
    return stripped.splitlines()[0] if stripped else ""


class RuntimeApi:
    """HAProxy's runtime API on a UNIX socket, one command per connection."""

    def __init__(self, path: str, timeout: float) -> None:
        self.path = path
        self.timeout = timeout

    def send(self, command: str) -> str:
        """Send one command and return HAProxy's whole answer; RouterError (naming the option) if unreachable."""
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(self.timeout)
                sock.connect(self.path)
                sock.sendall(command.encode() + b"\n")
                sock.shutdown(socket.SHUT_WR)
                return self._read_all(sock)
        except socket.timeout:  # noqa: UP041 (an alias of TimeoutError only from Python 3.10 on)
            raise RouterError(f"option haproxy_timeout: HAProxy at {self.path} did not answer {command!r} within "
                              f"{self.timeout:g}s") from None
        except OSError as exc:
            raise RouterError(self._unreachable(exc)) from None

    @staticmethod
    def _read_all(sock: socket.socket) -> str:
        chunks: list[bytes] = []
        size = 0
        while size <= MAX_ANSWER:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        return b"".join(chunks).decode("utf-8", errors="replace")

    def _unreachable(self, exc: OSError) -> str:
        where = f"option haproxy_socket: {self.path}"
        if isinstance(exc, FileNotFoundError):
            return (f"{where} does not exist; give the path of HAProxy's runtime API socket (global"
                    f" 'stats socket <path> level admin')")
        if isinstance(exc, ConnectionRefusedError):
            return f"{where}: connection refused (is HAProxy running, and is this its runtime API socket?)"
        if isinstance(exc, PermissionError):
            return f"{where}: permission denied (run the task with become, or give the socket a mode that allows it)"
        return f"{where}: cannot talk to HAProxy: {exc.strerror or exc}"


class HAProxyRouter(Router):
    """Weights of servers in one HAProxy backend, on HAProxy's 0-256 scale."""

    name = "haproxy"
    max_weight = 256
    required = ("haproxy_socket", "backend")
    description = "sets server weights through the runtime API (no reload), see O(haproxy_socket) and O(backend)"

    def __init__(self, params: Mapping[str, Any], check_mode: bool = False, runner: Any = None) -> None:
        super().__init__(params, check_mode, runner)
        timeout = params.get("haproxy_timeout") or 5.0
        if timeout <= 0:
            raise RouterError(f"option haproxy_timeout: must be greater than 0, got {timeout:g}")
        self.backend: str = params["backend"]
        self.state_file: str | None = params.get("haproxy_state_file") or None
        self.api = RuntimeApi(params["haproxy_socket"], float(timeout))
        self._servers: dict[str, dict[str, str]] | None = None

    @staticmethod
    def argument_spec() -> dict[str, dict[str, Any]]:
        return {
            "haproxy_socket": {"type": "path"},
            "backend": {"type": "str"},
            "haproxy_state_file": {"type": "path"},
            "haproxy_timeout": {"type": "float", "default": 5.0},
        }

    def describe(self) -> dict[str, Any]:
        return {"backend": self.backend, "socket": self.api.path, "state_file": self.state_file}

    # ---------------------------------------------------------------------------------------- reading
    def servers(self, refresh: bool = False) -> dict[str, dict[str, str]]:
        """The backend's servers (name -> ``show servers state`` row); RouterError naming ``backend``."""
        if self._servers is None or refresh:
            answer = self.api.send(f"show servers state {self.backend}")
            if first_line(answer) in NO_BACKEND:
                raise RouterError(f"option backend: no backend {self.backend!r} in HAProxy at {self.api.path};"
                                  f" backends: {', '.join(self._backends()) or '(none)'}")
            try:
                self._servers = parse_servers_state(answer).get(self.backend, {})
            except ValueError as exc:
                raise RouterError(self._unexpected("show servers state", answer, exc)) from None
        return self._servers

    def _backends(self) -> list[str]:
        return parse_backends(self.api.send("show backend"))

    def members(self, pool: Any, option: str) -> list[str]:
        names = super().members(pool, option)
        self._check_exist(names, option)
        return names

    def _check_exist(self, names: Sequence[str], option: str) -> None:
        servers = self.servers()
        unknown = [name for name in names if name not in servers]
        if unknown:
            raise RouterError(f"option {option}: no server {', '.join(map(repr, unknown))} in backend"
                              f" {self.backend!r}; servers in it: {', '.join(servers) or '(none)'}")

    def get_weights(self, members: Sequence[str]) -> dict[str, int]:
        self.servers(refresh=True)
        self._check_exist(members, "stable/canary")
        return self._weights(members)

    def _weights(self, members: Sequence[str]) -> dict[str, int]:
        servers = self.servers()
        try:
            return {name: int(servers[name]["srv_uweight"]) for name in members}
        except (KeyError, ValueError) as exc:
            raise RouterError(f"option haproxy_socket: cannot read srv_uweight from show servers state ({exc})"
                              ) from None

    def verify(self, target: Mapping[str, int]) -> dict[str, int]:
        """Read back with ``show servers state`` and ``get weight`` (both must agree with ``target``)."""
        self.servers(refresh=True)
        reports = {"show servers state": self._weights(list(target)),
                   "get weight": {server: self._get_weight(server) for server in target}}
        for command, actual in reports.items():
            if actual != dict(target):
                raise RouterError(f"verify: HAProxy backend {self.backend!r} reports weights {actual} ({command}),"
                                  f" expected {dict(target)}")
        return reports["show servers state"]

    def _get_weight(self, server: str) -> int:
        answer = self.api.send(f"get weight {self.backend}/{server}")
        try:
            return parse_get_weight(answer)[0]
        except ValueError as exc:
            raise RouterError(self._unexpected(f"get weight {self.backend}/{server}", answer, exc)) from None

    # ---------------------------------------------------------------------------------------- changing
    def set_weights(self, current: Mapping[str, int], target: Mapping[str, int]) -> None:
        self._check_state_file()
        applied: list[str] = []
        try:
            for server, weight in ordered_updates(current, target):
                self._set_weight(server, weight)
                applied.append(server)
            self._servers = None
            self._persist()
        except RouterError as exc:
            raise RouterError(f"{exc}; {self._restore(applied, current)}") from None

    def _set_weight(self, server: str, weight: int) -> None:
        answer = self.api.send(f"set weight {self.backend}/{server} {weight}")
        text = first_line(answer)
        if not text:
            return
        if text.startswith("Permission denied"):
            raise RouterError(f"option haproxy_socket: {self.api.path} does not allow set weight; the socket"
                              f" needs 'level admin' ({text})")
        option = "stable/canary" if text == NO_SERVER else "backend"
        raise RouterError(f"option {option}: HAProxy refused 'set weight {self.backend}/{server} {weight}': {text}")

    def _restore(self, applied: Sequence[str], current: Mapping[str, int]) -> str:
        """Put back the previous weight of every server already changed (newest first); say how that went."""
        failed = []
        for server in reversed(applied):
            try:
                self._set_weight(server, current[server])
            except RouterError as exc:
                failed.append(f"{server} ({exc})")
        self._servers = None
        if failed:
            return f"could NOT restore the previous weight of {', '.join(failed)}"
        if not applied:
            return "no weight was changed"
        restored = ", ".join(f"{server}={current[server]}" for server in applied)
        return f"restored the previous weights ({restored})"

    # ---------------------------------------------------------------------------------------- persistence
    def persisted(self, current: Mapping[str, int]) -> bool:
        """Whether the server-state file holds ``current`` for these servers (a weight set through the raw
        runtime API, or a shift without O(haproxy_state_file), leaves it stale)."""
        if self.state_file is None:
            return True
        try:
            with open(self.state_file, encoding="utf-8") as handle:
                saved = parse_servers_state(handle.read()).get(self.backend, {})
        except (OSError, ValueError):
            return False
        return all(saved.get(server, {}).get("srv_uweight") == str(weight) for server, weight in current.items())

    def persist(self) -> None:
        self._check_state_file()
        self._persist()

    def _check_state_file(self) -> None:
        """Fail before any change if the state file could not be written afterwards."""
        if self.state_file is None:
            return
        directory = os.path.dirname(self.state_file) or "."
        if not os.path.isdir(directory) or not os.access(directory, os.W_OK | os.X_OK):
            raise RouterError(f"option haproxy_state_file: cannot write {self.state_file} (directory {directory}"
                              f" missing or not writable); no weight was changed")

    def _persist(self) -> None:
        """Dump every backend's server state into the ``server-state-file`` that a reload loads."""
        if self.state_file is None:
            return
        dump = self.api.send("show servers state")
        try:
            parse_servers_state(dump)
        except ValueError as exc:
            raise RouterError(self._unexpected("show servers state", dump, exc)) from None
        try:
            write_atomic(self.state_file, dump.rstrip("\n") + "\n")
        except OSError as exc:
            raise RouterError(f"option haproxy_state_file: cannot write {self.state_file}: {exc}") from None

    def _unexpected(self, command: str, answer: str, exc: Exception) -> str:
        text = first_line(answer)
        if text.startswith("Permission denied"):
            return f"option haproxy_socket: {self.api.path} does not allow {command} ({text})"
        return f"option haproxy_socket: unexpected answer from HAProxy at {self.api.path} to {command}: {exc}"
