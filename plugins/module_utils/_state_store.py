# -*- coding: utf-8 -*-
# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The collection's one state store: small JSON records in a directory, shared by ``deploy_lock``, ``qos_guard`` and
``release_record``.

Layout: ``<store_dir>/<kind>/<quoted name>.json``, one namespace (sub-directory) per kind (``lock``, ``guard``,
``release``).
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
KINDS = ("lock", "guard", "release")
#: Default of the ``store_dir`` option.
DEFAULT_STORE_DIR = "/var/lib/progressive_delivery"
#: Longest file name most filesystems accept is 255 bytes; leave room for ``.json``, the mutex and temp names.
_MAX_QUOTED = 180
#: How long :meth:`StateStore.mutex` waits for another process's read-modify-write (milliseconds in practice).
MUTEX_TIMEOUT = 30.0


class StateStoreError(Exception):
    """The store cannot be used (permissions, unsupported filesystem, ...). ``str(error)`` says what to do.

    ``option`` names the option at fault (``store_dir``) when the directory itself is the problem.
    """

    def __init__(self, message: str, option: str | None = None) -> None:
        super().__init__(message)
        self.option = option


class CorruptStateError(StateStoreError):
    """A state file that cannot be trusted (truncated, edited, wrong checksum). ``path`` is the file."""

    def __init__(self, path: str, problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(f"state file {path} is corrupt and was not trusted: {problem}. It may have been truncated"
                         " (disk full, crash during a copy) or edited by hand. Inspect it, then remove it to reset"
                         " this record")


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
    """Records of one ``kind`` under ``directory`` (created on first write, mode 0755)."""

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
