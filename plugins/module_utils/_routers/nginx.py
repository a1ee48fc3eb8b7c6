# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""nginx adapters of canary_shift: :class:`NginxRouter` (what both modes share) and :class:`NginxReloadRouter`
(``nginx_mode: reload``, stock nginx); ``nginx_runtime.py`` has the ``nginx_mode: runtime`` adapter.

``reload``: the module owns an upstream include file. It renders the upstream block (weight 0 is written as
``down``: nginx rejects ``weight=0``), replaces the file atomically (temp file, fsync, rename) after keeping a
backup, runs ``nginx -T`` (test and dump, through the module's ``run_command``) and only then sends SIGHUP to the
master. If the test fails, the master cannot be signalled or no new worker appears in time, the previous file is
put back byte for byte (and nginx reloaded again if it had been signalled) and RouterError carries nginx's own
message.
"""
from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import signal
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ansible_collections.progressive.delivery.plugins.module_utils._files import write_atomic
from ansible_collections.progressive.delivery.plugins.module_utils._routers import Router, RouterError

MODES = ("reload", "runtime")
_POLL = 0.02
#: AnsibleModule.run_command's signature: (args, check_rc=False, ...) -> (rc, stdout, stderr)
Runner = Callable[..., tuple[int, str, str]]


# ----------------------------------------------------------------------------------------------
# the upstream file (reload mode)
# ----------------------------------------------------------------------------------------------
@dataclass
class UpstreamServer:
    address: str
    weight: int
    params: list[str] = field(default_factory=list)  # everything but weight= and down (max_fails=, ...)


@dataclass
class Upstream:
    name: str
    servers: list[UpstreamServer]
    options: list[str]  # the other directives of the block (keepalive 16, ...)
    start: int  # span of the block in the file's text
    end: int

    def weights(self) -> dict[str, int]:
        return {server.address: server.weight for server in self.servers}


def _blank_comments(text: str) -> str:
    """Comments replaced by spaces: offsets stay valid for the original text."""
    return re.sub(r"#[^\n]*", lambda match: " " * len(match.group()), text)


def parse_upstreams(text: str) -> dict[str, Upstream]:
    """Every ``upstream NAME { ... }`` block of an include file, by name."""
    code = _blank_comments(text)
    found: dict[str, Upstream] = {}
    for match in re.finditer(r"(?<![\w$-])upstream\s+([^\s{]+)\s*\{", code):
        end = code.find("}", match.end())
        if end < 0:
            raise ValueError(f"upstream {match.group(1)}: no closing brace")
        servers, options = _parse_statements(code[match.end():end])
        found[match.group(1)] = Upstream(match.group(1), servers, options, match.start(), end + 1)
    return found


def _parse_statements(body: str) -> tuple[list[UpstreamServer], list[str]]:
    servers: list[UpstreamServer] = []
    options: list[str] = []
    for statement in body.split(";"):
        words = statement.split()
        if not words:
            continue
        if words[0] != "server" or len(words) < 2:
            options.append(" ".join(words))
            continue
        weight, params = 1, []
        for word in words[2:]:
            if word == "down":
                weight = 0
            elif word.startswith("weight="):
                weight = int(word.split("=", 1)[1]) if weight else 0
            else:
                params.append(word)
        servers.append(UpstreamServer(words[1], weight, params))
    return servers, options


def render_upstream(name: str, servers: Sequence[UpstreamServer], options: Sequence[str]) -> str:
    """One upstream block; weight 0 is written as ``down`` (nginx rejects weight=0)."""
    lines = [f"upstream {name} {{", "    # managed by progressive.delivery.canary_shift: weights change on every shift"]
    for server in servers:
        state = "down" if server.weight == 0 else f"weight={server.weight}"
        lines.append("    " + " ".join(["server", server.address, state, *server.params]) + ";")
    lines.extend(f"    {option.strip().rstrip(';')};" for option in options)
    return "\n".join(lines) + "\n}"


def backup_path(path: str) -> str:
    """Where the previous content is kept (hidden: never matched by an ``include dir/*.conf`` glob)."""
    return os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.bak")


# ----------------------------------------------------------------------------------------------
# nginx processes
# ----------------------------------------------------------------------------------------------
def _proc_children() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="utf-8") as handle:
                ppid = int(handle.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    return children


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return handle.read().replace(b"\0", b" ").decode("utf-8", "replace").strip()
    except OSError:
        return ""


def active_workers(master: int) -> set[int]:
    """Worker PIDs of an nginx master that serve new connections (not the ones shutting down after a reload)."""
    return {pid for pid in _proc_children().get(master, [])
            if _cmdline(pid).startswith("nginx: worker process") and "shutting down" not in _cmdline(pid)}


def has_reloaded(workers: set[int], before: set[int]) -> bool:
    """Whether an nginx master with active ``workers`` has reloaded since it had ``before``.

    On SIGHUP the master parses the new configuration, starts a new generation of workers (within ~10 ms here)
    and only 100 ms later (a fixed ``ngx_msleep(100)`` in nginx) tells the old ones to shut down. A full new
    generation (at least as many new workers as before) means the new configuration is live, without waiting
    for that pause; one new worker is not enough (a crashed worker is respawned with a new PID). Otherwise, as
    when ``worker_processes`` shrank, every old worker must have stopped accepting.
    """
    if not workers:
        return False
    return len(workers - before) >= max(len(before), 1) or not workers & before


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def nginx_args(value: Any) -> list[str]:
    """``nginx_args`` as a list: a string is split like a shell would, a list is taken as it is."""
    if value is None:
        return []
    if isinstance(value, str):
        return shlex.split(value)
    if isinstance(value, list) and all(isinstance(arg, (str, int, float)) for arg in value):
        return [str(arg) for arg in value]
    raise RouterError(f"option nginx_args: a string (-p PREFIX -c CONF) or a list of arguments, got {value!r}")


def pid_file_from_dump(dump: str, args: Sequence[str], compiled: Mapping[str, str]) -> str:
    """The master's pid file: the ``pid`` directive of ``nginx -T`` output, else the compiled-in default."""
    match = re.search(r"^\s*pid\s+\"?([^;\"\s]+)\"?\s*;", _blank_comments(dump), re.MULTILINE)
    path = match.group(1) if match else compiled.get("pid-path", "/run/nginx.pid")
    if os.path.isabs(path):
        return path
    prefix = compiled.get("prefix", "/usr/share/nginx")
    if "-p" in args[:-1]:
        prefix = args[list(args).index("-p") + 1]
    return os.path.join(prefix, path)


def compiled_paths(version_output: str) -> dict[str, str]:
    """``--prefix=`` and ``--pid-path=`` etc. from ``nginx -V``."""
    return dict(re.findall(r"--([a-z-]+)=(\S+)", version_output))


# ----------------------------------------------------------------------------------------------
# the adapters
# ----------------------------------------------------------------------------------------------
class NginxRouter(Router):
    """What both nginx modes share: the ``upstream`` option, the member checks, the read-back."""

    name = "nginx"
    max_weight = 1000

    @staticmethod
    def argument_spec() -> dict[str, dict[str, Any]]:
        # every nginx option, in both adapters: the registry merges identical declarations
        return {
            "upstream": {"type": "str"},
            "nginx_mode": {"type": "str", "default": "reload", "choices": list(MODES)},
            "nginx_timeout": {"type": "float", "default": 10.0},
            "nginx_upstream_file": {"type": "path", "aliases": ["upstream_file"], "deprecated_aliases": [
                {"name": "upstream_file", "version": "2.0.0", "collection_name": "progressive.delivery"}]},
            "nginx_binary": {"type": "str", "default": "nginx"},
            "nginx_args": {"type": "raw"},
            "nginx_upstream_options": {"type": "list", "elements": "str"},
            "nginx_pid_file": {"type": "path"},
            "nginx_admin_url": {"type": "str"},
        }

    def __init__(self, params: Mapping[str, Any], check_mode: bool = False, runner: Any = None) -> None:
        super().__init__(params, check_mode, runner)
        self.upstream: str = params["upstream"]
        self.timeout = float(params.get("nginx_timeout") or 10.0)
        if self.timeout <= 0:
            raise RouterError(f"option nginx_timeout: must be greater than 0, got {self.timeout}")

    @property
    def mode(self) -> str:
        return self.variant[1] if self.variant else "?"

    def _pool_of(self, member: str) -> str:
        for option in ("stable", "canary"):
            pool = self.params.get(option)
            if member == pool or (isinstance(pool, list) and member in pool):
                return option
        weights = self.params.get("weights")
        return "weights" if isinstance(weights, dict) and member in weights else "stable or canary"

    def _check_members(self, members: Sequence[str], existing: Mapping[str, int], where: str) -> None:
        for member in members:
            if member not in existing:
                raise RouterError(f"option {self._pool_of(member)}: server {member} is not in upstream "
                                  f"{self.upstream} ({where}); its servers: {', '.join(existing) or 'none'}")

    def _read(self) -> tuple[dict[str, int], str]:
        """Every server's weight as nginx has it, and where that was read (for messages)."""
        raise NotImplementedError

    def get_weights(self, members: Sequence[str]) -> dict[str, int]:
        existing, where = self._read()
        self._check_members(members, existing, where)
        return {member: existing[member] for member in members}

    def verify(self, target: Mapping[str, int]) -> dict[str, int]:
        seen, where = self._read()
        read = {member: seen.get(member, -1) for member in target}
        if read != dict(target):
            raise RouterError(f"verify: upstream {self.upstream} ({where}) has weights {read}, expected "
                              f"{dict(target)}")
        return read


class NginxReloadRouter(NginxRouter):
    """``nginx_mode: reload``: the upstream include file, ``nginx -T``, SIGHUP."""

    variant = ("nginx_mode", "reload")
    required = ("upstream", "nginx_upstream_file")
    description = ("with O(nginx_mode=reload) (the default) renders O(upstream) in O(nginx_upstream_file) and reloads"
                   " nginx")

    def __init__(self, params: Mapping[str, Any], check_mode: bool = False, runner: Runner | None = None) -> None:
        super().__init__(params, check_mode, runner)
        self.path: str = params["nginx_upstream_file"]
        self.args = nginx_args(params.get("nginx_args"))
        self.binary: str = params.get("nginx_binary") or "nginx"
        self._workers_before: set[int] = set()
        self._master: int | None = None

    def describe(self) -> dict[str, Any]:
        return {"mode": "reload", "upstream": self.upstream, "upstream_file": self.path}

    def _read(self) -> tuple[dict[str, int], str]:
        return self._read_upstream().weights(), self.path

    def set_weights(self, current: Mapping[str, int], target: Mapping[str, int]) -> None:
        self._replace_and_reload(target)

    def verify(self, target: Mapping[str, int]) -> dict[str, int]:
        self._check_reloaded()
        return super().verify(target)

    # -- the file and the reload --------------------------------------------------------------------------------
    def _read_bytes(self) -> bytes:
        try:
            with open(self.path, "rb") as handle:
                return handle.read()
        except FileNotFoundError:
            raise RouterError(f"option nginx_upstream_file: {self.path} does not exist (write the upstream once, "
                              f"then include it from nginx.conf)") from None
        except OSError as exc:
            raise RouterError(f"option nginx_upstream_file: cannot read {self.path}: {exc}") from None

    def _read_text(self) -> str:
        try:
            return self._read_bytes().decode("utf-8")
        except UnicodeDecodeError as exc:
            raise RouterError(f"option nginx_upstream_file: cannot read {self.path}: {exc}") from None

    def _read_upstream(self, text: str | None = None) -> Upstream:
        try:
            upstreams = parse_upstreams(self._read_text() if text is None else text)
        except ValueError as exc:
            raise RouterError(f"option nginx_upstream_file: cannot parse {self.path}: {exc}") from None
        if self.upstream not in upstreams:
            raise RouterError(f"option upstream: no upstream {self.upstream!r} in {self.path}; it has: "
                              f"{', '.join(upstreams) or 'no upstream block'}")
        return upstreams[self.upstream]

    def render(self, text: str, target: Mapping[str, int]) -> str:
        """``text`` with the upstream block re-rendered at ``target`` weights (other blocks untouched)."""
        block = self._read_upstream(text)
        servers = [UpstreamServer(server.address, target.get(server.address, server.weight), server.params)
                   for server in block.servers]
        options = self.params.get("nginx_upstream_options")
        rendered = render_upstream(self.upstream, servers, block.options if options is None else options)
        return text[:block.start] + rendered + text[block.end:]

    def _replace_and_reload(self, target: Mapping[str, int]) -> None:
        previous = self._read_bytes()  # bytes, not text: the restore must be byte for byte (CRLF included)
        new = self.render(previous.decode("utf-8", "surrogateescape"), target).encode("utf-8", "surrogateescape")
        try:
            stat = os.stat(self.path)
            write_atomic(backup_path(self.path), previous, stat)
            write_atomic(self.path, new, stat)
        except OSError as exc:  # the rename is the last step: the file is either old or new, never half
            raise RouterError(f"option nginx_upstream_file: cannot replace {self.path}: {exc}") from None
        signalled = False
        try:
            master = self._test_config()
            self._workers_before = active_workers(master)
            self._signal(master)
            signalled = True
            self._wait_new_workers(master)
        except RouterError as exc:
            write_atomic(self.path, previous, stat)
            if signalled:
                self._signal_quietly()
            raise RouterError(f"{exc}; {self.path} was restored to its previous content") from None

    def _run(self, *extra: str) -> tuple[int, str, str]:
        """Run nginx through the module's ``run_command`` (the runner given to the adapter)."""
        cmd = [self.binary, *self.args, *extra]
        if shutil.which(self.binary) is None:
            raise RouterError(f"option nginx_binary: {self.binary} not found")
        if self.runner is None:
            raise RouterError("internal error: the nginx reload adapter needs a command runner (module.run_command)")
        rc, out, err = self.runner(cmd, check_rc=False)
        return rc, out or "", err or ""

    def _test_config(self) -> int:
        """``nginx -T`` (test and dump) with nginx_args; returns the running master's PID."""
        rc, out, err = self._run("-T")
        if rc != 0:
            raise RouterError(f"nginx -t failed: {err.strip() or out.strip()}")
        pid_file = self.params.get("nginx_pid_file") or pid_file_from_dump(
            out, self.args, compiled_paths(self._run("-V")[2]))
        try:
            with open(pid_file, encoding="utf-8") as handle:
                master = int(handle.read().strip())
        except (OSError, ValueError) as exc:
            raise RouterError(f"cannot read the nginx master PID from {pid_file} (option nginx_pid_file): "
                              f"{exc}") from None
        if not pid_alive(master):
            raise RouterError(f"nginx master PID {master} from {pid_file} is not running (option "
                              f"nginx_pid_file)")
        self._master = master
        return master

    def _signal(self, master: int) -> None:
        try:
            os.kill(master, signal.SIGHUP)
        except OSError as exc:
            raise RouterError(f"cannot reload nginx (SIGHUP to master PID {master}): {exc}") from None

    def _signal_quietly(self) -> None:
        if self._master is not None:
            with contextlib.suppress(OSError):
                os.kill(self._master, signal.SIGHUP)

    def _wait_new_workers(self, master: int) -> None:
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if has_reloaded(active_workers(master), self._workers_before):
                return
            if not pid_alive(master):
                raise RouterError(f"nginx master PID {master} exited during the reload")
            time.sleep(_POLL)
        raise RouterError(f"nginx did not reload within {self.timeout:g}s (option nginx_timeout): master PID "
                          f"{master} still has the old workers {sorted(self._workers_before)}; see its error log")

    def _check_reloaded(self) -> None:
        master = self._master
        if master is None or not pid_alive(master):
            raise RouterError("verify: the nginx master is not running after the reload")
        workers = active_workers(master)
        if not has_reloaded(workers, self._workers_before):
            raise RouterError(f"verify: nginx master PID {master} has not reloaded (workers {sorted(workers)}, "
                              f"before {sorted(self._workers_before)})")
