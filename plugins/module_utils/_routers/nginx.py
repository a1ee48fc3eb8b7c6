# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""nginx adapter of canary_shift, in two modes (option ``nginx_mode``).

``reload`` (stock nginx): the module owns an upstream include file. It renders the upstream block (weight 0 is
written as ``down``: nginx rejects ``weight=0``), replaces the file atomically (temp file, fsync, rename) after
keeping a backup, runs ``nginx -T`` (test and dump) and only then sends SIGHUP to the master. If the test fails,
the master cannot be signalled or no new worker appears in time, the previous file is put back byte for byte
(and nginx reloaded again if it had been signalled) and RouterError carries nginx's own message.

``runtime`` (no reload at all): weights live in a ``lua_shared_dict`` that a ``balancer_by_lua_block`` reads on
every request (smooth weighted round robin, per worker); a small admin location on a loopback listener reads
and sets them (JSON), the way ingress-nginx does it. :func:`runtime_snippet` renders the nginx configuration
that users include (see docs/routers/nginx.md); the module only talks to its admin endpoint.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import signal
import subprocess
import time
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ansible_collections.progressive.delivery.plugins.module_utils._files import write_atomic
from ansible_collections.progressive.delivery.plugins.module_utils._routers import Router, RouterError

MODES = ("reload", "runtime")
#: name of the lua_shared_dict of the runtime snippet
RUNTIME_DICT = "progressive_delivery_weights"
_POLL = 0.02
_ADDRESS = re.compile(r"^[0-9A-Za-z.:\[\]_-]+:[0-9]+$")
_NAME = re.compile(r"^[0-9A-Za-z._-]+$")

# The runtime-mode configuration, for the http {} context. @DECLARED@ becomes one Lua line per upstream.
# Weights are stored as one string per upstream ("ADDR=W;ADDR=W") so that one dict:set changes them all at
# once (make-before-break is then trivially true: there is no intermediate state). The declared list is
# re-applied on every start and reload; weights of servers that are still declared are kept across reloads.
RUNTIME_LUA = r"""lua_shared_dict progressive_delivery_weights 1m;

init_by_lua_block {
    local balancer = require "ngx.balancer"
    local dict = ngx.shared.progressive_delivery_weights
    -- upstream name -> its servers ("IP:PORT"); the admin API can change their weights, not the list
    local pd = {declared = {
@DECLARED@
    }}
    local cache = {}

    local function decode(raw)
        local weights = {}
        for addr, weight in string.gmatch(raw or "", "([^;=]+)=(%d+)") do
            weights[addr] = tonumber(weight)
        end
        return weights
    end

    local function encode(name, weights)
        local parts = {}
        for _, addr in ipairs(pd.declared[name]) do
            parts[#parts + 1] = addr .. "=" .. weights[addr]
        end
        return table.concat(parts, ";")
    end

    for name, members in pairs(pd.declared) do
        local kept = decode(dict:get(name))
        local weights = {}
        for _, addr in ipairs(members) do
            weights[addr] = kept[addr] or 1
        end
        dict:set(name, encode(name, weights))
    end

    local function peers(name)
        local raw = dict:get(name)
        local state = cache[name]
        if state and state.raw == raw then
            return state
        end
        local weights = decode(raw)
        state = {raw = raw, peers = {}, live = 0}
        for _, addr in ipairs(pd.declared[name] or {}) do
            local host, port = addr:match("^(.*):(%d+)$")
            local weight = weights[addr] or 0
            state.peers[#state.peers + 1] = {
                addr = addr, host = host, port = tonumber(port), weight = weight, current = 0,
            }
            if weight > 0 then
                state.live = state.live + 1
            end
        end
        cache[name] = state
        return state
    end

    -- smooth weighted round robin (as nginx's own upstream): exact shares, weight 0 never chosen
    local function pick(state, skip)
        local best, total = nil, 0
        for _, peer in ipairs(state.peers) do
            if peer.weight > 0 and not skip[peer.addr] then
                peer.current = peer.current + peer.weight
                total = total + peer.weight
                if best == nil or peer.current > best.current then
                    best = peer
                end
            end
        end
        if best then
            best.current = best.current - total
        end
        return best
    end

    function pd.balance(name)
        local state = peers(name)
        local ctx = ngx.ctx
        local tried = ctx.progressive_delivery_tried
        if tried == nil then
            tried = {}
            ctx.progressive_delivery_tried = tried
            if state.live > 1 then
                balancer.set_more_tries(1)
            end
        end
        local peer = pick(state, tried) or pick(state, {})
        if peer == nil then
            ngx.log(ngx.ERR, "progressive.delivery: every server of upstream ", name, " has weight 0")
            return ngx.exit(502)
        end
        tried[peer.addr] = true
        local ok, err = balancer.set_current_peer(peer.host, peer.port)
        if not ok then
            ngx.log(ngx.ERR, "progressive.delivery: cannot set peer ", peer.addr, ": ", err)
            return ngx.exit(502)
        end
    end

    local function reply(status, body)
        ngx.status = status
        ngx.header["Content-Type"] = "application/json"
        ngx.say(body)
        return ngx.exit(status)
    end

    local function state_json(name)
        local weights = decode(dict:get(name))
        local parts = {}
        for _, addr in ipairs(pd.declared[name]) do
            parts[#parts + 1] = '"' .. addr .. '": ' .. weights[addr]
        end
        return '{"upstream": "' .. name .. '", "servers": {' .. table.concat(parts, ", ") .. '}}'
    end

    -- body: {"servers": {"ADDR": WEIGHT, ...}} (a flat JSON object of integers; no cjson needed)
    local function parse(body)
        local inner = (body or ""):match('^%s*{%s*"servers"%s*:%s*{(.-)}%s*}%s*$')
        if inner == nil then
            return nil, 'body must be {"servers": {"ADDR": WEIGHT, ...}}'
        end
        local weights, pos = {}, 1
        if inner:match("^%s*$") then
            return weights
        end
        while true do
            local _, last, addr, weight = inner:find('^%s*"([^"]+)"%s*:%s*(%d+)%s*', pos)
            if last == nil then
                return nil, "servers must map addresses to non-negative integers"
            end
            weights[addr] = tonumber(weight)
            pos = last + 1
            if pos > #inner then
                return weights
            end
            if inner:sub(pos, pos) ~= "," then
                return nil, "servers must map addresses to non-negative integers"
            end
            pos = pos + 1
        end
    end

    function pd.admin()
        local name = ngx.var.uri:match("^/upstreams/([^/]+)$")
        if name == nil or pd.declared[name] == nil then
            return reply(404, '{"error": "no such upstream"}')
        end
        local method = ngx.req.get_method()
        if method == "GET" then
            return reply(200, state_json(name))
        end
        if method ~= "PUT" then
            return reply(405, '{"error": "use GET or PUT"}')
        end
        ngx.req.read_body()
        local wanted, err = parse(ngx.req.get_body_data())
        if wanted == nil then
            return reply(400, '{"error": "' .. err .. '"}')
        end
        local weights = decode(dict:get(name))
        for addr, weight in pairs(wanted) do
            if weights[addr] == nil then
                local shown = addr:gsub('[^%w%.:%[%]]', '?')
                return reply(400, '{"error": "' .. shown .. ' is not a server of ' .. name .. '"}')
            end
            weights[addr] = weight
        end
        -- one write: every worker sees all weights change at once
        dict:set(name, encode(name, weights))
        return reply(200, state_json(name))
    end

    progressive_delivery = pd
}
"""


def runtime_snippet(upstreams: Mapping[str, Sequence[str]], admin_listen: str = "127.0.0.1:8089",
                    upstream_options: Sequence[str] = ("keepalive 16",)) -> str:
    """The nginx configuration of ``nginx_mode: runtime`` (include it in ``http {}``).

    ``upstreams`` maps each upstream name to its servers (``IP:PORT``; ngx.balancer needs an IP address). Each
    server starts with weight 1 until the module sets weights. ``admin_listen`` is the admin listener (keep it
    on loopback: it is unauthenticated); ``nginx_admin_url`` is then ``http://<admin_listen>``.
    """
    declared = []
    blocks = []
    for name, servers in upstreams.items():
        if not _NAME.match(name):
            raise ValueError(f"upstream name {name!r}: use letters, digits, '.', '_' and '-'")
        bad = [server for server in servers if not _ADDRESS.match(server)]
        if bad or not servers:
            raise ValueError(f"upstream {name}: servers must be IP:PORT, got {list(servers)!r}")
        quoted = ", ".join(f'"{server}"' for server in servers)
        declared.append(f'        ["{name}"] = {{{quoted}}},')
        options = "".join(f"    {option.rstrip(';')};\n" for option in upstream_options)
        blocks.append(f"upstream {name} {{\n    server 0.0.0.1;  # placeholder: the balancer_by_lua_block picks"
                      f" the peer\n    balancer_by_lua_block {{ progressive_delivery.balance(\"{name}\") }}\n"
                      f"{options}}}\n")
    admin = (f"server {{\n    listen {admin_listen};\n    access_log off;\n    client_body_buffer_size 64k;\n"
             f"    client_max_body_size 64k;\n    location /upstreams/ {{\n"
             f"        content_by_lua_block {{ progressive_delivery.admin() }}\n    }}\n}}\n")
    header = ("# Generated for progressive.delivery.canary_shift nginx_mode=runtime; include in http {}.\n"
              "# Needs: load_module ndk_http_module.so and ngx_http_lua_module.so (Debian libnginx-mod-http-lua)\n"
              "# and lua-resty-core (ngx.balancer).\n")
    return header + RUNTIME_LUA.replace("@DECLARED@", "\n".join(declared)) + "\n" + "\n".join(blocks) + "\n" + admin


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
# the adapter
# ----------------------------------------------------------------------------------------------
def admin_address(url: str) -> tuple[str, int, str]:
    """``(host, port, path prefix)`` of ``nginx_admin_url``; RouterError unless it is an ``http://`` URL.

    The runtime snippet's admin listener is plain http and unauthenticated, so it belongs on loopback; https,
    credentials, a query or a fragment in the URL are refused rather than half supported.
    """
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port or 80
    except ValueError as exc:
        raise RouterError(f"option nginx_admin_url: not a URL ({exc}): {url!r}") from None
    if parts.scheme != "http" or not parts.hostname or parts.username or parts.password or parts.query or \
            parts.fragment:
        raise RouterError(f"option nginx_admin_url: must be http://HOST[:PORT][/PREFIX] (the runtime snippet's "
                          f"loopback admin listener; https and credentials are not supported), got {url!r}")
    return parts.hostname, port, parts.path.rstrip("/")


class NginxRouter(Router):
    name = "nginx"
    max_weight = 1000

    @staticmethod
    def argument_spec() -> dict[str, dict[str, Any]]:
        # no `required`: the options are shared with the other routers; __init__ checks what nginx needs
        return {
            "upstream_file": {"type": "path"},
            "upstream": {"type": "str"},
            "nginx_binary": {"type": "str", "default": "nginx"},
            "nginx_args": {"type": "raw"},
            "nginx_mode": {"type": "str", "default": "reload", "choices": list(MODES)},
            "nginx_admin_url": {"type": "str"},
            "nginx_upstream_options": {"type": "list", "elements": "str"},
            "nginx_pid_file": {"type": "path"},
            "nginx_timeout": {"type": "float", "default": 10.0},
        }

    def __init__(self, params: Mapping[str, Any], check_mode: bool = False) -> None:
        super().__init__(params, check_mode)
        self.mode: str = params.get("nginx_mode") or "reload"
        if self.mode not in MODES:
            raise RouterError(f"option nginx_mode: one of {', '.join(MODES)}, got {self.mode!r}")
        self.upstream: str = self._required("upstream")
        self.timeout = float(params.get("nginx_timeout") or 10.0)
        if self.timeout <= 0:
            raise RouterError(f"option nginx_timeout: must be greater than 0, got {self.timeout}")
        if self.mode == "reload":
            self.path: str = self._required("upstream_file")
            self.args = nginx_args(params.get("nginx_args"))
            self.binary: str = params.get("nginx_binary") or "nginx"
        else:
            self.admin_url: str = self._required("nginx_admin_url").rstrip("/")
            self._admin_address = admin_address(self.admin_url)
        self._workers_before: set[int] = set()
        self._master: int | None = None

    def _required(self, option: str) -> str:
        value = self.params.get(option)
        if not value:
            raise RouterError(f"option {option} is required when router=nginx and nginx_mode={self.mode}")
        return str(value)

    def describe(self) -> dict[str, Any]:
        if self.mode == "reload":
            return {"mode": "reload", "upstream": self.upstream, "upstream_file": self.path}
        return {"mode": "runtime", "upstream": self.upstream, "admin_url": self.admin_url}

    def _pool_of(self, member: str) -> str:
        for option in ("stable", "canary"):
            pool = self.params.get(option)
            if member == pool or (isinstance(pool, list) and member in pool):
                return option
        return "stable or canary"

    def _check_members(self, members: Sequence[str], existing: Mapping[str, int], where: str) -> None:
        for member in members:
            if member not in existing:
                raise RouterError(f"option {self._pool_of(member)}: server {member} is not in upstream "
                                  f"{self.upstream} ({where}); its servers: {', '.join(existing) or 'none'}")

    # -- Router interface ---------------------------------------------------------------------------
    def get_weights(self, members: Sequence[str]) -> dict[str, int]:
        if self.mode == "runtime":
            existing, where = self._admin("GET"), f"admin {self.admin_url}"
        else:
            existing, where = self._read_upstream().weights(), self.path
        self._check_members(members, existing, where)
        return {member: existing[member] for member in members}

    def set_weights(self, current: Mapping[str, int], target: Mapping[str, int]) -> None:
        if self.mode == "runtime":
            # one PUT, one dict:set in nginx: every worker moves from current to target at once
            self._admin("PUT", {"servers": dict(target)})
        else:
            self._replace_and_reload(target)

    def verify(self, target: Mapping[str, int]) -> dict[str, int]:
        if self.mode == "runtime":
            seen, where = self._admin("GET"), f"admin {self.admin_url}"
        else:
            self._check_reloaded()
            seen, where = self._read_upstream().weights(), self.path
        read = {member: seen.get(member, -1) for member in target}
        if read != dict(target):
            raise RouterError(f"verify: upstream {self.upstream} ({where}) has weights {read}, expected "
                              f"{dict(target)}")
        return read

    # -- reload mode --------------------------------------------------------------------------------
    def _read_bytes(self) -> bytes:
        try:
            with open(self.path, "rb") as handle:
                return handle.read()
        except FileNotFoundError:
            raise RouterError(f"option upstream_file: {self.path} does not exist (write the upstream once, "
                              f"then include it from nginx.conf)") from None
        except OSError as exc:
            raise RouterError(f"option upstream_file: cannot read {self.path}: {exc}") from None

    def _read_text(self) -> str:
        try:
            return self._read_bytes().decode("utf-8")
        except UnicodeDecodeError as exc:
            raise RouterError(f"option upstream_file: cannot read {self.path}: {exc}") from None

    def _read_upstream(self, text: str | None = None) -> Upstream:
        try:
            upstreams = parse_upstreams(self._read_text() if text is None else text)
        except ValueError as exc:
            raise RouterError(f"option upstream_file: cannot parse {self.path}: {exc}") from None
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
            raise RouterError(f"option upstream_file: cannot replace {self.path}: {exc}") from None
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

    def _run(self, *extra: str) -> subprocess.CompletedProcess[str]:
        cmd = [self.binary, *self.args, *extra]
        try:
            return subprocess.run(cmd, capture_output=True, text=True, timeout=self.timeout * 3, check=False)
        except FileNotFoundError:
            raise RouterError(f"option nginx_binary: {self.binary} not found") from None
        except subprocess.TimeoutExpired:
            raise RouterError(f"{shlex.join(cmd)} did not finish within {self.timeout * 3:.0f}s") from None

    def _test_config(self) -> int:
        """``nginx -T`` (test and dump) with nginx_args; returns the running master's PID."""
        test = self._run("-T")
        if test.returncode != 0:
            raise RouterError(f"nginx -t failed: {test.stderr.strip() or test.stdout.strip()}")
        pid_file = self.params.get("nginx_pid_file") or pid_file_from_dump(
            test.stdout, self.args, compiled_paths(self._run("-V").stderr))
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

    # -- runtime mode -------------------------------------------------------------------------------
    def _admin(self, method: str, body: Mapping[str, Any] | None = None) -> dict[str, int]:
        # Plain http.client: the admin listener is unauthenticated loopback http (see admin_address), and
        # ansible.module_utils.urls would cost 50-75 ms of imports per task for one local request. Imported
        # here: reload mode and the other routers do not pay its ~14 ms.
        import http.client  # pylint: disable=import-outside-toplevel
        host, port, prefix = self._admin_address
        path = f"{prefix}/upstreams/{self.upstream}"
        url = f"{self.admin_url}/upstreams/{self.upstream}"
        data = json.dumps(body).encode() if body is not None else None
        connection = http.client.HTTPConnection(host, port, timeout=self.timeout)
        try:
            connection.request(method, path, body=data, headers={"Content-Type": "application/json"})
            response = connection.getresponse()
            raw = response.read()
        except (OSError, http.client.HTTPException) as exc:
            raise RouterError(f"option nginx_admin_url: cannot {method} {url}: {exc}") from None
        finally:
            connection.close()
        if response.status != 200:
            raise RouterError(self._admin_error(response.status, response.reason, raw))
        try:
            answer = json.loads(raw)
        except ValueError:
            answer = raw[:200]
        servers = answer.get("servers") if isinstance(answer, dict) else None
        if not isinstance(servers, dict):
            raise RouterError(f"option nginx_admin_url: {url} did not answer like the runtime snippet: {answer!r}")
        return {str(addr): int(weight) for addr, weight in servers.items()}

    def _admin_error(self, status: int, reason: str, raw: bytes) -> str:
        try:
            detail = json.loads(raw).get("error", "")
        except (ValueError, AttributeError):
            detail = ""
        if status == 404:
            return (f"option upstream: no upstream {self.upstream!r} behind {self.admin_url} (declare it in the "
                    f"runtime snippet){': ' + detail if detail else ''}")
        return f"option nginx_admin_url: {self.admin_url} answered HTTP {status}: {detail or reason}"
