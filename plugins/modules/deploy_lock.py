#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: deploy_lock
short_description: One deployment per scope at a time, whichever tool starts it
version_added: 0.1.0
description:
  - Acquires or releases a named deployment lock (for example V(prod-kr/app)) in the shared state store, so a
    laptop, an AWX job and a GitLab job cannot deploy the same scope at the same time.
  - Acquisition is atomic. Each acquisition reads and writes the lock under an exclusive C(flock) of the lock's
    mutex file, and a new lock file appears with an exclusive C(link). Of any number of racing runs exactly one
    wins; the others see the winner's lock.
  - A lock past its O(ttl) is stale and is taken over, with a warning naming the old owner. When several runs see
    the same stale lock at once, only one takes it over; the others find its fresh lock.
  - Releasing a lock someone else holds fails unless O(force=true).
  - See C(docs/deploy_lock.md) in the collection for the design and the recipes.
author: progressive.delivery maintainers (@progressive-delivery)
extends_documentation_fragment:
  - progressive.delivery._state_store
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details:
      - Reads the lock and reports what would happen (a busy lock fails as it would in normal mode, without
        waiting); never writes.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: full
options:
  name:
    description:
      - The scope of the lock, for example V(prod-kr/app) (environment and application). Any text without control
        characters.
    type: str
    required: true
  state:
    description:
      - V(acquired) takes the lock, waiting up to O(wait) seconds while someone else holds it.
      - V(released) gives it back. Releasing a lock that is not held does nothing.
    type: str
    choices: [acquired, released]
    default: acquired
  owner:
    description:
      - Who holds the lock, recorded in it and compared on release.
      - Defaults to C(user@host) of the host that runs the task, followed by C((AWX job N)) when the environment
        has C(JOB_ID) and C(AWX_HOST) (as AWX sets them for its jobs) and by C((CI job N)) when it has
        C(CI_JOB_ID) (GitLab CI).
      - Two runs with the same owner share the lock (re-acquiring is not a conflict). Give each run its own owner
        when one user may start two runs on one host at once, for example V({{ lookup('env', 'USER') }}
        {{ ansible_date_time.iso8601_micro }}) stored in a fact at the start of the play.
    type: str
  ttl:
    description:
      - How long the lock stays valid after it was acquired or last re-acquired by its owner, as a duration
        (V(30s), V(5m), V(1h), V(1h30m)) or a number of seconds.
      - A lock past its TTL is stale, and the next O(state=acquired) takes it over with a warning naming the old
        owner. Choose it longer than a deployment, or re-acquire at each step to push the expiry forward.
    type: raw
    default: 1h
  wait:
    description:
      - How long O(state=acquired) waits for a busy lock, as a duration or a number of seconds. V(0) fails at once.
      - Polls with exponential backoff and jitter (at most 2 s between looks), so a lock released by another run
        is taken within about 2 seconds. Gives up when the next look would start after O(wait) seconds.
    type: raw
    default: 0
  force:
    description:
      - With O(state=released), release the lock even when another owner holds it (a warning names that owner),
        and remove a corrupt lock file instead of failing.
      - With O(state=acquired), take the lock from its current owner even when it has not expired (a warning names
        the owner). Use it only when the other run is known to be dead.
    type: bool
    default: false
notes:
  - The lock lives on the host that runs the task, in O(store_dir). Point every tool at the same host and
    directory (C(delegate_to) plus C(run_once)).
  - Re-acquiring a lock by its own owner is not a change (C(changed=false)). It refreshes the lock's expiry to
    O(ttl) from now (RV(refreshed=true)), a heartbeat for long deployments.
seealso:
  - module: progressive.delivery.qos_guard
"""

EXAMPLES = r"""
- name: Take the deployment lock of prod-kr/app (wait up to 10 minutes for another run)
  progressive.delivery.deploy_lock:
    name: prod-kr/app
    ttl: 2h
    wait: 10m
    store_dir: /srv/deploy-state
  delegate_to: deploy-host.example.com
  run_once: true

- name: Deploy, then always give the lock back
  block:
    - name: Roll out
      ansible.builtin.include_role:
        name: progressive.delivery.canary
  always:
    - name: Release the deployment lock
      progressive.delivery.deploy_lock:
        name: prod-kr/app
        state: released
        store_dir: /srv/deploy-state
      delegate_to: deploy-host.example.com
      run_once: true

- name: Clear the lock of a job that died (operator action)
  progressive.delivery.deploy_lock:
    name: prod-kr/app
    state: released
    force: true
    store_dir: /srv/deploy-state
"""

RETURN = r"""
lock:
  description:
    - The lock record after the task; V(null) when the lock is not held (after O(state=released)).
    - In check mode, the record the task would have written.
  returned: always
  type: dict
  contains:
    name:
      description: O(name).
      type: str
      sample: prod-kr/app
    owner:
      description: Who holds the lock.
      type: str
      sample: deployer@laptop (CI job 4711)
    acquired_at:
      description: When the owner acquired the lock (RFC 3339, UTC).
      type: str
      sample: "2026-11-21T10:00:00.000Z"
    refreshed_at:
      description: When the owner last acquired or re-acquired it (RFC 3339, UTC).
      type: str
      sample: "2026-11-21T10:20:00.000Z"
    expires_at:
      description: When the lock becomes stale (RFC 3339, UTC).
      type: str
      sample: "2026-11-21T11:20:00.000Z"
    ttl:
      description: The O(ttl) in seconds.
      type: float
      sample: 3600.0
    id:
      description: A unique id of this acquisition (a takeover or a new acquisition gets a new one).
      type: str
      sample: 5f0c9e6d0d8a4f5e9a5f7b1e2c3d4e5f
    host:
      description: The host name of the machine that ran the acquiring task.
      type: str
      sample: laptop
previous:
  description:
    - The record that was in the store before the task (V(null) when there was none). After a takeover or a forced
      release, the owner it was taken from.
  returned: always
  type: dict
  sample: {owner: deployer@laptop, expires_at: "2026-11-21T11:00:00.000Z"}
taken_over:
  description: Whether the task took over another owner's lock (stale, or with O(force=true)).
  returned: always
  type: bool
  sample: false
refreshed:
  description: Whether the task re-acquired its own lock and pushed its expiry forward.
  returned: always
  type: bool
  sample: false
waited:
  description: Seconds spent waiting for a busy lock.
  returned: always
  type: float
  sample: 0.0
state_file:
  description: The lock's file in the state store.
  returned: always
  type: str
  sample: /srv/deploy-state/lock/prod-kr%2Fapp.json
"""

import socket  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from typing import Any  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible_collections.progressive.delivery.plugins.module_utils._backoff import (  # noqa: E402
    BackoffPolicy,
    RetriesExhausted,
    call_with_retries,
)
from ansible_collections.progressive.delivery.plugins.module_utils._prometheus import (  # noqa: E402
    option_duration,
    parse_time,
)
from ansible_collections.progressive.delivery.plugins.module_utils._state_store import (  # noqa: E402
    DEFAULT_STORE_DIR,
    CorruptStateError,
    StateStore,
    StateStoreError,
    default_owner,
    format_remaining,
    now_text,
    validate_name,
)

#: Polling of a busy lock: first look after up to 0.25 s, then doubling, at most 2 s apart.
WAIT_BASE_DELAY = 0.25
WAIT_MAX_DELAY = 2.0


def argument_spec() -> dict[str, dict[str, Any]]:
    return {
        "name": {"type": "str", "required": True},
        "state": {"type": "str", "choices": ["acquired", "released"], "default": "acquired"},
        "owner": {"type": "str"},
        "ttl": {"type": "raw", "default": "1h"},
        "wait": {"type": "raw", "default": 0},
        "force": {"type": "bool", "default": False},
        "store_dir": {"type": "path", "default": DEFAULT_STORE_DIR},
    }


class LockBusy(Exception):
    """Another owner holds a lock that has not expired."""

    def __init__(self, name: str, record: dict[str, Any], now: float) -> None:
        self.record = record
        remaining = format_remaining(expires_at(record) - now)
        super().__init__(f"deploy lock {name!r} is held by {record.get('owner')!r} since {record.get('acquired_at')}"
                         f" (expires at {record.get('expires_at')}, in {remaining})")


# --------------------------------------------------------------------------------------------------
# Pure logic
# --------------------------------------------------------------------------------------------------
def expires_at(record: dict[str, Any]) -> float:
    """Unix time the lock expires; a record whose expiry cannot be read counts as expired long ago."""
    try:
        return parse_time(record["expires_at"])
    except (KeyError, ValueError, TypeError):
        return 0.0


def new_record(name: str, owner: str, ttl: float, now: float, host: str) -> dict[str, Any]:
    return {"name": name, "id": uuid.uuid4().hex, "owner": owner, "acquired_at": now_text(now),
            "refreshed_at": now_text(now), "expires_at": now_text(now + ttl), "ttl": ttl, "host": host}


def refreshed_record(record: dict[str, Any], ttl: float, now: float) -> dict[str, Any]:
    return {**record, "refreshed_at": now_text(now), "expires_at": now_text(now + ttl), "ttl": ttl}


# --------------------------------------------------------------------------------------------------
# Module
# --------------------------------------------------------------------------------------------------
class DeployLock:
    """Acquire and release one lock; warnings go straight to the module."""

    def __init__(self, module: AnsibleModule, store: StateStore, name: str, owner: str, ttl: float) -> None:
        self.module = module
        self.store = store
        self.name = name
        self.owner = owner
        self.ttl = ttl
        self.check_mode = module.check_mode

    def _result(self, changed: bool, before: dict[str, Any] | None, after: dict[str, Any] | None,
                **extra: Any) -> dict[str, Any]:
        result = {"changed": changed, "lock": after, "previous": before, "taken_over": False, "refreshed": False,
                  "waited": 0.0, "state_file": self.store.path(self.name), **extra}
        if self.module._diff:  # pylint: disable=protected-access
            result["diff"] = {"before": before or {}, "after": after or {},
                              "before_header": result["state_file"], "after_header": result["state_file"]}
        return result

    def try_acquire(self, force: bool) -> dict[str, Any]:
        """One attempt under the record's mutex; raises :class:`LockBusy`."""
        host = socket.gethostname()
        with self.store.mutex(self.name):
            now = time.time()
            current = self.store.read(self.name)
            if current is None:
                record = new_record(self.name, self.owner, self.ttl, now, host)
                if not self.check_mode and not self.store.create(self.name, record):
                    raise LockBusy(self.name, self.store.read(self.name) or {}, now)  # only without flock support
                return self._result(True, None, record)
            if current.get("owner") == self.owner:
                record = refreshed_record(current, self.ttl, now)
                if not self.check_mode:
                    self.store.write(self.name, record)
                return self._result(False, current, record, refreshed=True)
            expired = expires_at(current) <= now
            if not expired and not force:
                raise LockBusy(self.name, current, now)
            record = new_record(self.name, self.owner, self.ttl, now, host)
            if not self.check_mode:
                self.store.write(self.name, record)
            why = (f"stale since {current.get('expires_at')} ({format_remaining(now - expires_at(current))} ago)"
                   if expired else f"valid until {current.get('expires_at')}, taken with force=true")
            self.module.warn(f"deploy lock {self.name!r}: took over the lock of {current.get('owner')!r}"
                             f" (acquired at {current.get('acquired_at')}, {why})")
            return self._result(True, current, record, taken_over=True)

    def acquire(self, wait: float, force: bool) -> dict[str, Any]:
        start = time.monotonic()
        if wait <= 0 or self.check_mode:
            result = self.try_acquire(force)
        else:
            policy = BackoffPolicy(retries=1000000, base_delay=WAIT_BASE_DELAY, max_delay=WAIT_MAX_DELAY,
                                   deadline=wait)
            try:
                result = call_with_retries(lambda: self.try_acquire(force), policy,
                                           lambda exc: isinstance(exc, LockBusy))
            except RetriesExhausted as exhausted:
                busy: LockBusy = exhausted.last_error  # type: ignore[assignment]
                raise LockBusy(self.name, busy.record, time.time()) from None
        result["waited"] = round(time.monotonic() - start, 3)
        return result

    def release(self, force: bool) -> dict[str, Any]:
        with self.store.mutex(self.name):
            try:
                current = self.store.read(self.name)
            except CorruptStateError as exc:
                if not force:
                    raise StateStoreError(f"{exc} (or release with force=true)") from None
                if not self.check_mode:
                    self.store.remove(self.name)
                self.module.warn(f"deploy lock {self.name!r}: removed the corrupt lock file {exc.path}"
                                 f" ({exc.problem})")
                return self._result(True, None, None)
            if current is None:
                return self._result(False, None, None)
            other = current.get("owner") != self.owner
            if other and not force:
                self.module.fail_json(
                    msg=f"deploy lock {self.name!r} is held by {current.get('owner')!r}, not by {self.owner!r}"
                        f" (acquired at {current.get('acquired_at')}, expires at {current.get('expires_at')});"
                        " only its owner can release it, or use force=true",
                    **self._result(False, current, current))
            if not self.check_mode:
                self.store.remove(self.name)
            if other:
                self.module.warn(f"deploy lock {self.name!r}: force-released the lock of"
                                 f" {current.get('owner')!r} (acquired at {current.get('acquired_at')})")
            return self._result(True, current, None, taken_over=other)


def main() -> None:
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    params = module.params
    try:
        name = validate_name(params["name"])
        ttl = option_duration("ttl", params["ttl"])
        wait = option_duration("wait", params["wait"], allow_zero=True)
        store = StateStore(params["store_dir"], "lock")
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    owner = params["owner"] or default_owner()
    lock = DeployLock(module, store, name, owner, ttl)
    start = time.monotonic()
    try:
        acquire = params["state"] == "acquired"
        result = lock.acquire(wait, params["force"]) if acquire else lock.release(params["force"])
    except LockBusy as exc:
        waited = round(time.monotonic() - start, 3)
        hint = f"; gave up after waiting {waited:g}s (wait={params['wait']})" if wait and not module.check_mode \
            else "; set wait to wait for it"
        module.fail_json(msg=f"{exc}{hint}", lock=None, previous=exc.record, taken_over=False, refreshed=False,
                         waited=waited, state_file=store.path(name))
    except StateStoreError as exc:
        module.fail_json(msg=str(exc), state_file=store.path(name))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
