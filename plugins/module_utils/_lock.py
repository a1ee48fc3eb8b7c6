# -*- coding: utf-8 -*-
# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The deployment lock behind ``deploy_lock``: acquire (wait, refresh, take over) and release, in the state store.

Every read-modify-write runs under the record's mutex (``store.mutex``: a ``flock`` in the file store, a transaction
holding an advisory lock in the PostgreSQL store, :mod:`._state_pg`), so of any number of racing runs exactly one
wins. The logic here is the same for both backends; it only uses the store's ``read``, ``write``, ``create``,
``remove``, ``mutex`` and ``path``.

:class:`DeployLock` returns a :class:`LockOutcome`; a failure raises :class:`LockFailure` (a :class:`ModuleFailure`
carrying the same fields as the outcome, ``before`` and ``after`` included), and the module turns it into
``fail_json`` once. Standard library only: no HTTP client is loaded.
"""
from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from ansible_collections.progressive.delivery.plugins.module_utils._backoff import (
    BackoffPolicy,
    RetriesExhausted,
    call_with_retries,
)
from ansible_collections.progressive.delivery.plugins.module_utils._result import ModuleFailure
from ansible_collections.progressive.delivery.plugins.module_utils._state_store import (
    CorruptStateError,
    StateStore,
    StateStoreError,
    now_text,
)
from ansible_collections.progressive.delivery.plugins.module_utils._time import format_remaining, parse_time

#: Polling of a busy lock: first look after up to 0.25 s, then doubling, at most 2 s apart.
WAIT_BASE_DELAY = 0.25
WAIT_MAX_DELAY = 2.0

Record = dict[str, Any]


# --------------------------------------------------------------------------------------------------
# Pure logic
# --------------------------------------------------------------------------------------------------
def expires_at(record: Record) -> float:
    """Unix time the lock expires; a record whose expiry cannot be read counts as expired long ago."""
    try:
        return parse_time(record["expires_at"])
    except (KeyError, ValueError, TypeError):
        return 0.0


def new_record(name: str, owner: str, ttl: float, now: float, host: str) -> Record:
    return {"name": name, "id": uuid.uuid4().hex, "owner": owner, "acquired_at": now_text(now),
            "refreshed_at": now_text(now), "expires_at": now_text(now + ttl), "ttl": ttl, "host": host}


def refreshed_record(record: Record, ttl: float, now: float) -> Record:
    return {**record, "refreshed_at": now_text(now), "expires_at": now_text(now + ttl), "ttl": ttl}


def busy_message(name: str, record: Record, now: float) -> str:
    remaining = format_remaining(expires_at(record) - now)
    return (f"deploy lock {name!r} is held by {record.get('owner')!r} since {record.get('acquired_at')}"
            f" (expires at {record.get('expires_at')}, in {remaining})")


# --------------------------------------------------------------------------------------------------
# Outcomes and failures
# --------------------------------------------------------------------------------------------------
@dataclass
class LockOutcome:
    """What a task found (``before``) and left (``after``, as it would be in check mode), and how."""

    changed: bool
    before: Record | None
    after: Record | None
    state_file: str
    taken_over: bool = False
    refreshed: bool = False
    waited: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class LockFailure(ModuleFailure):
    """A failure of the lock (not an option error): carries the outcome fields as the partial result."""

    def __init__(self, msg: str, outcome: LockOutcome, option: str | None = None) -> None:
        super().__init__(msg, option, **outcome.as_dict())
        self.outcome = outcome


class LockBusy(LockFailure):
    """Another owner holds a lock that has not expired. ``record`` is that lock."""

    def __init__(self, msg: str, outcome: LockOutcome) -> None:
        super().__init__(msg, outcome)
        self.record: Record = outcome.before or {}


# --------------------------------------------------------------------------------------------------
# The lock
# --------------------------------------------------------------------------------------------------
class DeployLock:
    """Acquire and release one lock. ``warn`` receives the warnings (takeovers, forced releases)."""

    def __init__(self, store: StateStore, name: str, owner: str, ttl: float, check_mode: bool = False,
                 warn: Callable[[str], None] | None = None) -> None:
        self.store = store
        self.name = name
        self.owner = owner
        self.ttl = ttl
        self.check_mode = check_mode
        self.warn = warn or (lambda _text: None)

    @property
    def state_file(self) -> str:
        return self.store.path(self.name)

    def _outcome(self, changed: bool, before: Record | None, after: Record | None, **extra: Any) -> LockOutcome:
        return LockOutcome(changed, before, after, self.state_file, **extra)

    def _busy(self, record: Record, now: float, hint: str = "") -> LockBusy:
        return LockBusy(busy_message(self.name, record, now) + hint, self._outcome(False, record, record))

    def try_acquire(self, force: bool) -> LockOutcome:
        """One attempt under the record's mutex; raises :class:`LockBusy`."""
        host = socket.gethostname()
        with self.store.mutex(self.name):
            now = time.time()
            current = self.store.read(self.name)
            if current is None:
                record = new_record(self.name, self.owner, self.ttl, now, host)
                if not self.check_mode and not self.store.create(self.name, record):
                    raise self._busy(self.store.read(self.name) or {}, now)  # only if the mutex did not exclude
                return self._outcome(True, None, record)
            if current.get("owner") == self.owner:
                record = refreshed_record(current, self.ttl, now)
                if not self.check_mode:
                    self.store.write(self.name, record)
                return self._outcome(False, current, record, refreshed=True)
            expired = expires_at(current) <= now
            if not expired and not force:
                raise self._busy(current, now)
            record = new_record(self.name, self.owner, self.ttl, now, host)
            if not self.check_mode:
                self.store.write(self.name, record)
            why = (f"stale since {current.get('expires_at')} ({format_remaining(now - expires_at(current))} ago)"
                   if expired else f"valid until {current.get('expires_at')}, taken with force=true")
            self.warn(f"deploy lock {self.name!r}: took over the lock of {current.get('owner')!r}"
                      f" (acquired at {current.get('acquired_at')}, {why})")
            return self._outcome(True, current, record, taken_over=True)

    def acquire(self, wait: float, force: bool) -> LockOutcome:
        """Take the lock, polling a busy one for up to ``wait`` seconds (never in check mode)."""
        start = time.monotonic()
        if wait <= 0 or self.check_mode:
            try:
                outcome = self.try_acquire(force)
            except LockBusy as busy:
                hint = " (check mode does not wait)" if self.check_mode and wait > 0 else "; set wait to wait for it"
                raise self._busy(busy.record, time.time(), hint) from None
        else:
            policy = BackoffPolicy(retries=1000000, base_delay=WAIT_BASE_DELAY, max_delay=WAIT_MAX_DELAY,
                                   deadline=wait)
            try:
                outcome = call_with_retries(lambda: self.try_acquire(force), policy,
                                            lambda exc: isinstance(exc, LockBusy))
            except RetriesExhausted as exhausted:
                last: LockBusy = exhausted.last_error  # type: ignore[assignment]
                waited = round(time.monotonic() - start, 3)
                failure = self._busy(last.record, time.time(), f"; gave up after waiting {waited:g}s"
                                                               f" (wait={wait:g}s)")
                failure.result["waited"] = failure.outcome.waited = waited
                raise failure from None
        outcome.waited = round(time.monotonic() - start, 3)
        return outcome

    def release(self, force: bool) -> LockOutcome:
        """Give the lock back; another owner's lock only with ``force`` (a corrupt file too)."""
        with self.store.mutex(self.name):
            try:
                current = self.store.read(self.name)
            except CorruptStateError as exc:
                if not force:
                    raise StateStoreError(f"{exc} (or release with force=true)") from None
                if not self.check_mode:
                    self.store.remove(self.name)
                self.warn(f"deploy lock {self.name!r}: removed the corrupt lock file {exc.path} ({exc.problem})")
                return self._outcome(True, None, None)
            if current is None:
                return self._outcome(False, None, None)
            other = current.get("owner") != self.owner
            if other and not force:
                raise LockFailure(
                    f"deploy lock {self.name!r} is held by {current.get('owner')!r}, not by {self.owner!r}"
                    f" (acquired at {current.get('acquired_at')}, expires at {current.get('expires_at')});"
                    " only its owner can release it, or use force=true",
                    self._outcome(False, current, current), option="owner")
            if not self.check_mode:
                self.store.remove(self.name)
            if other:
                self.warn(f"deploy lock {self.name!r}: force-released the lock of {current.get('owner')!r}"
                          f" (acquired at {current.get('acquired_at')})")
            return self._outcome(True, current, None, taken_over=other)
