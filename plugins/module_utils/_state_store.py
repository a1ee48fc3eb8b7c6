# -*- coding: utf-8 -*-
# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The collection's one state store: small JSON records in a directory, shared by ``deploy_lock``, ``qos_guard``,
``release_record`` and ``approval``.

Layout: ``<store_dir>/<kind>/<quoted name>.json``, one namespace (sub-directory) per kind (``lock``, ``guard``,
``release``, ``approval``).
Names are percent-encoded (:func:`safe_filename`), so ``prod-kr/app`` is ``prod-kr%2Fapp.json`` and no name can
leave its directory.

Every file is an envelope ``{"format", "version", "kind", "name", "sha256", "data"}``. The checksum covers the
canonical JSON of ``data``; a file that is not JSON (truncated), has another format or version, belongs to another
name or kind, or fails the checksum raises :class:`CorruptStateError` naming the file. It is never trusted and never
silently replaced.

Writes are atomic: a temporary file in the same directory, ``fsync``, then ``rename`` (replace) or ``link``
(exclusive create: fails when the name exists), then ``fsync`` of the directory. A reader sees the old or the new
file, never half of one.

Read-modify-write cycles run under :meth:`StateStore.mutex`, an exclusive ``flock`` on a per-record mutex file
(``.<quoted name>.mutex``). The kernel releases it when its process dies, so a crash can never leave a record stuck,
and two processes that both saw a stale lock cannot both take it over: the second one waits, reads again and finds
the first one's fresh lock.

Two backends implement the one interface the lock, the guard and the release record use (``read``, ``write``,
``create``, ``remove``, ``mutex(name)`` and ``path(name)``, the address a result reports as ``state_file``):
:class:`StateStore` here (files, the default) and :class:`~._state_pg.PgStateStore` (PostgreSQL, for entry
points on different machines). :func:`open_store` picks one from the modules' ``state_backend`` / ``state_dsn`` /
``store_dir`` options (:data:`STATE_OPTIONS`).
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import getpass
import hashlib
import json
import os
import socket
import time
import urllib.parse
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from ansible_collections.progressive.delivery.plugins.module_utils._backoff import (
    BackoffPolicy,
    RetriesExhausted,
    call_with_retries,
)
from ansible_collections.progressive.delivery.plugins.module_utils._files import (
    fsync_directory,
    unlink_quietly,
    write_temp,
)
from ansible_collections.progressive.delivery.plugins.module_utils._time import format_time

FORMAT = "progressive.delivery/state"
VERSION = 1
KINDS = ("lock", "guard", "release", "approval")
#: Default of the ``store_dir`` option.
DEFAULT_STORE_DIR = "/var/lib/progressive_delivery"
#: Longest file name most filesystems accept is 255 bytes; leave room for ``.json``, the mutex and temp names.
_MAX_QUOTED = 180
#: How long :meth:`StateStore.mutex` waits for another process's read-modify-write (milliseconds in practice).
MUTEX_TIMEOUT = 30.0
#: Choices of the ``state_backend`` option (inventory ``delivery_state_backend``).
BACKENDS = ("file", "postgres")
#: The options every state module adds to its argument spec (``store_dir`` is documented by a doc fragment).
STATE_OPTIONS: dict[str, dict[str, Any]] = {
    "store_dir": {"type": "path", "default": DEFAULT_STORE_DIR},
    "state_backend": {"type": "str", "choices": list(BACKENDS), "default": "file"},
    "state_dsn": {"type": "str", "no_log": True},
}
#: ``required_if`` of the state options.
STATE_REQUIRED_IF = [("state_backend", "postgres", ("state_dsn",))]


class StateStoreError(Exception):
    """The store cannot be used (permissions, unsupported filesystem, ...). ``str(error)`` says what to do.

    ``option`` names the option at fault (``store_dir``) when the directory itself is the problem.
    """

    def __init__(self, message: str, option: str | None = None) -> None:
        super().__init__(message)
        self.option = option


class CorruptStateError(StateStoreError):
    """A state file (or row) that cannot be trusted (truncated, edited, wrong checksum). ``path`` is its address."""

    def __init__(self, path: str, problem: str, what: str = "state file",
                 cause: str = "It may have been truncated (disk full, crash during a copy) or edited by hand") -> None:
        self.path = path
        self.problem = problem
        super().__init__(f"{what} {path} is corrupt and was not trusted: {problem}. {cause}. Inspect it, then remove"
                         " it to reset this record")


# --------------------------------------------------------------------------------------------------
# Pure helpers
# --------------------------------------------------------------------------------------------------
def validate_name(name: Any) -> str:
    """``name`` as a str; ``ValueError`` for an empty name or one with control characters."""
    if not isinstance(name, str) or not name.strip():
        raise ValueError("option name must be a non-empty string")
    if any(ord(char) < 32 or ord(char) == 127 for char in name):
        raise ValueError(f"option name must not contain control characters, got {name!r}")
    return name


def safe_filename(name: str) -> str:
    """A file name (without extension) for ``name``: percent-encoded, so ``/``, ``..`` or ``%`` cannot escape.

    Every byte outside ``A-Z a-z 0-9 - _ . ~`` is encoded, and a leading ``.`` too (no hidden files, no ``..``).
    Very long names keep a readable prefix and end in a SHA-256 of the whole name, so they stay unique.
    """
    quoted = urllib.parse.quote(validate_name(name), safe="")
    if quoted.startswith("."):
        quoted = "%2E" + quoted[1:]
    if len(quoted) > _MAX_QUOTED:
        digest = hashlib.sha256(name.encode("utf-8")).hexdigest()
        quoted = quoted[:_MAX_QUOTED - 65].rstrip("%0123456789ABCDEF") + "~" + digest
    return quoted


def checksum(data: Mapping[str, Any]) -> str:
    """SHA-256 of the canonical JSON of ``data`` (sorted keys, no spaces)."""
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()


def encode(kind: str, name: str, data: Mapping[str, Any]) -> str:
    """The file content for one record."""
    envelope = {"format": FORMAT, "version": VERSION, "kind": kind, "name": name, "sha256": checksum(data),
                "data": dict(data)}
    return json.dumps(envelope, indent=2, sort_keys=True, allow_nan=False) + "\n"


def decode(text: str, path: str, kind: str, name: str) -> dict[str, Any]:
    """The ``data`` of a file's content; :class:`CorruptStateError` naming ``path`` when it cannot be trusted."""
    try:
        envelope = json.loads(text)
    except ValueError as exc:
        size = len(text)
        raise CorruptStateError(path, f"not valid JSON ({exc}; {size} characters, possibly truncated)") from None
    if not isinstance(envelope, dict) or envelope.get("format") != FORMAT:
        raise CorruptStateError(path, f"not a {FORMAT} file (no or another 'format' field)")
    if envelope.get("version") != VERSION:
        raise CorruptStateError(path, f"format version {envelope.get('version')!r} is not {VERSION}; it was"
                                      " written by another version of the progressive.delivery collection")
    if envelope.get("kind") != kind or envelope.get("name") != name:
        raise CorruptStateError(path, f"it holds the {envelope.get('kind')!r} record {envelope.get('name')!r},"
                                      f" expected the {kind!r} record {name!r}")
    data = envelope.get("data")
    if not isinstance(data, dict):
        raise CorruptStateError(path, "its 'data' field is not an object")
    try:
        actual = checksum(data)
    except ValueError as exc:
        raise CorruptStateError(path, f"its data cannot be checksummed: {exc}") from None
    if actual != envelope.get("sha256"):
        raise CorruptStateError(path, f"checksum mismatch (file says {envelope.get('sha256')!r}, data gives"
                                      f" {actual!r})")
    return data


def default_owner(environ: Mapping[str, str] | None = None, user: str | None = None, host: str | None = None) -> str:
    """``user@host``, plus the AWX job (``JOB_ID`` with ``AWX_HOST``, as AWX sets them) or ``CI_JOB_ID`` (GitLab)."""
    environ = os.environ if environ is None else environ
    if user is None:
        try:
            user = getpass.getuser()
        except (KeyError, OSError):
            user = str(os.getuid())
    owner = f"{user}@{host or socket.gethostname()}"
    jobs = []
    if environ.get("JOB_ID") and (environ.get("AWX_HOST") or environ.get("TOWER_HOST")):
        jobs.append(f"AWX job {environ['JOB_ID']}")
    if environ.get("CI_JOB_ID"):
        jobs.append(f"CI job {environ['CI_JOB_ID']}")
    return owner + (f" ({', '.join(jobs)})" if jobs else "")


def now_text(now: float) -> str:
    """RFC 3339 (UTC, milliseconds) of a unix time; the format every time in a record uses."""
    return format_time(now)


# --------------------------------------------------------------------------------------------------
# The store
# --------------------------------------------------------------------------------------------------
class StateStore:
    """Records of one ``kind`` under ``directory`` (created on first write, mode 0755): the file backend."""

    backend = "file"

    def __init__(self, directory: str, kind: str) -> None:
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
        if not directory:
            raise ValueError("option store_dir must not be empty")
        self.root = os.path.abspath(os.path.expanduser(directory))
        self.kind = kind
        self.directory = os.path.join(self.root, kind)

    def path(self, name: str) -> str:
        """The file of record ``name``."""
        return os.path.join(self.directory, safe_filename(name) + ".json")

    def _mutex_path(self, name: str) -> str:
        return os.path.join(self.directory, "." + safe_filename(name) + ".mutex")

    def _ensure_directory(self) -> None:
        try:
            os.makedirs(self.directory, mode=0o755, exist_ok=True)
        except OSError as exc:
            raise StateStoreError(f"cannot create the state directory {self.directory} (option store_dir):"
                                  f" {exc.strerror or exc}", option="store_dir") from None

    # reading ---------------------------------------------------------------------------------------
    def read(self, name: str) -> dict[str, Any] | None:
        """The record's data, ``None`` when there is none. :class:`CorruptStateError` when it cannot be trusted."""
        path = self.path(name)
        try:
            with open(path, encoding="utf-8") as handle:
                text = handle.read()
        except FileNotFoundError:
            return None
        except UnicodeDecodeError:
            raise CorruptStateError(path, "not UTF-8 text") from None
        except OSError as exc:
            raise StateStoreError(f"cannot read state file {path}: {exc.strerror or exc}") from None
        return decode(text, path, self.kind, name)

    def names(self) -> list[str]:
        """The names of every record of this kind (from each file's envelope, so hashed long names too), sorted.
        A file that cannot be read or trusted raises, as :meth:`read` does."""
        try:
            files = sorted(entry for entry in os.listdir(self.directory)
                           if entry.endswith(".json") and not entry.startswith("."))
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise StateStoreError(f"cannot list {self.directory}: {exc.strerror or exc}", option="store_dir") from None
        found = []
        for entry in files:
            path = os.path.join(self.directory, entry)
            try:
                with open(path, encoding="utf-8") as handle:
                    envelope = json.loads(handle.read())
            except (OSError, ValueError) as exc:
                raise CorruptStateError(path, f"cannot be read as JSON ({exc})") from None
            name = envelope.get("name") if isinstance(envelope, dict) else None
            if not isinstance(name, str) or self.path(name) != path:
                raise CorruptStateError(path, "its 'name' field does not match the file name")
            found.append(name)
        return sorted(found)

    # writing ---------------------------------------------------------------------------------------
    def _write_temp(self, name: str, data: Mapping[str, Any]) -> str:
        self._ensure_directory()
        return write_temp(self.directory, "." + safe_filename(name) + ".", encode(self.kind, name, data))

    def _sync_directory(self) -> None:
        fsync_directory(self.directory)

    def write(self, name: str, data: Mapping[str, Any]) -> None:
        """Create or replace the record atomically (temp file, fsync, rename, fsync of the directory)."""
        try:
            tmp = self._write_temp(name, data)
            try:
                os.replace(tmp, self.path(name))
            except BaseException:
                unlink_quietly(tmp)
                raise
            self._sync_directory()
        except OSError as exc:
            raise StateStoreError(f"cannot write state file {self.path(name)}: {exc.strerror or exc}") from None

    def create(self, name: str, data: Mapping[str, Any]) -> bool:
        """Create the record only if there is none (``link``, atomic and exclusive). ``False`` when it exists."""
        try:
            tmp = self._write_temp(name, data)
            try:
                os.link(tmp, self.path(name))
            except FileExistsError:
                return False
            finally:
                unlink_quietly(tmp)
            self._sync_directory()
        except OSError as exc:
            raise StateStoreError(f"cannot create state file {self.path(name)}: {exc.strerror or exc}") from None
        return True

    def remove(self, name: str) -> bool:
        """Delete the record; ``False`` when there was none."""
        try:
            os.unlink(self.path(name))
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise StateStoreError(f"cannot remove state file {self.path(name)}: {exc.strerror or exc}") from None
        self._sync_directory()
        return True

    # mutual exclusion ------------------------------------------------------------------------------
    @contextlib.contextmanager
    def mutex(self, name: str, timeout: float = MUTEX_TIMEOUT,
              sleep: Callable[[float], None] = time.sleep) -> Iterator[None]:
        """Hold an exclusive ``flock`` on the record's mutex file; waits (with backoff) up to ``timeout`` seconds."""
        self._ensure_directory()
        path = self._mutex_path(name)
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise StateStoreError(f"cannot open {path} (option store_dir): {exc.strerror or exc}",
                                  option="store_dir") from None
        try:
            self._flock(fd, path, timeout, sleep)
            yield
        finally:
            os.close(fd)  # releases the flock

    @staticmethod
    def _flock(fd: int, path: str, timeout: float, sleep: Callable[[float], None]) -> None:
        def attempt() -> None:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)

        def busy(exc: Exception) -> bool:
            return isinstance(exc, OSError) and exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES)

        policy = BackoffPolicy(retries=100000, base_delay=0.01, max_delay=0.2, deadline=timeout)
        try:
            call_with_retries(attempt, policy, busy, sleep=sleep)
        except RetriesExhausted:
            raise StateStoreError(f"timed out after {timeout:g}s waiting for the mutex {path}: another process"
                                  " keeps it locked") from None
        except OSError as exc:
            raise StateStoreError(f"cannot lock {path}: {exc.strerror or exc} (the filesystem of store_dir must"
                                  " support flock)", option="store_dir") from None


# --------------------------------------------------------------------------------------------------
# Choosing a backend
# --------------------------------------------------------------------------------------------------
def open_store(kind: str, backend: str | None = "file", store_dir: str | None = DEFAULT_STORE_DIR,
               dsn: str | None = None) -> Any:
    """The store of ``kind`` for the modules' options: a :class:`StateStore` in ``store_dir`` (``file``) or a
    :class:`~._state_pg.PgStateStore` at ``dsn`` (``postgres``; ``store_dir`` is then ignored).

    Raises :class:`~._result.ModuleFailure` naming the option at fault (``store_dir``, ``state_dsn``, or
    ``state_backend`` with ``missing_required_lib`` when psycopg is not installed). Nothing is connected or created
    here: the PostgreSQL store connects on first use.
    """
    # Imported here: the file backend pays for neither the result contract nor psycopg.
    from ansible_collections.progressive.delivery.plugins.module_utils._result import (  # pylint: disable=import-outside-toplevel
        ModuleFailure,
    )

    backend = backend or "file"
    if backend == "file":
        try:
            return StateStore(store_dir or "", kind)
        except ValueError as exc:
            raise ModuleFailure(str(exc), option="store_dir") from None
    if backend != "postgres":
        raise ModuleFailure(f"option state_backend must be one of {', '.join(BACKENDS)}, got {backend!r}",
                            option="state_backend")
    if not dsn or not dsn.strip():
        raise ModuleFailure("option state_dsn is required with state_backend=postgres: a libpq connection string"
                            " (postgresql://user:password@host:port/dbname or host=... dbname=...)",
                            option="state_dsn")
    from ansible_collections.progressive.delivery.plugins.module_utils._deps import (  # pylint: disable=import-outside-toplevel
        PSYCOPG,
        require,
    )
    from ansible_collections.progressive.delivery.plugins.module_utils._state_pg import (  # pylint: disable=import-outside-toplevel
        PgStateStore,
    )

    require(PSYCOPG, reason="state_backend=postgres", option="state_backend")
    try:
        return PgStateStore(dsn, kind)
    except StateStoreError as exc:
        raise ModuleFailure(str(exc), option=exc.option or "state_dsn") from None
