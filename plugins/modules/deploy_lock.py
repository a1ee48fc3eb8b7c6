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
  - progressive.delivery._in_process
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
  - With O(state_backend=postgres) the lock is a row of the C(delivery_state) table in the database at
    O(state_dsn), and O(store_dir) is ignored; C(delegate_to) is then not needed. Read-modify-writes run in a
    transaction holding a PostgreSQL advisory lock instead of the C(flock). Losing the connection (a restart of
    PostgreSQL) fails the task with the server's host and port; what was written before stays, and a step that
    did not commit changed nothing.
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
    - name: Shift all traffic to the green pool
      progressive.delivery.canary_shift:
        router: haproxy
        haproxy_socket: /run/haproxy/admin.sock
        backend: app
        stable: blue
        canary: green
        weight: 100
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

- name: Take the lock in PostgreSQL, shared by every entry point (no delegate_to needed)
  progressive.delivery.deploy_lock:
    name: prod-kr/app
    ttl: 2h
    wait: 10m
    state_backend: postgres
    state_dsn: "{{ delivery_state_dsn }}"
"""

RETURN = r"""
before:
  description:
    - The lock record in the store before the task, V(null) when there was none. After a takeover or a forced
      release, the lock that was taken or removed. Same shape as RV(after).
    - Also returned when the task fails (for example the lock another owner holds).
  returned: always
  type: dict
  contains: &lock_record
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
after:
  description:
    - The lock record after the task (in check mode, the record the task would have written); V(null) when the lock
      is not held (after O(state=released)).
    - When the task fails, the record left in the store (unchanged).
  returned: always
  type: dict
  contains: *lock_record
diff:
  description: RV(before) and RV(after) (V({}) for none), headed by RV(state_file). Only in diff mode.
  returned: when diff mode is on
  type: dict
lock:
  description:
    - Deprecated, use RV(after); will be removed in 2.0.0. The same value as RV(after).
  returned: always
  type: dict
previous:
  description:
    - Deprecated, use RV(before); will be removed in 2.0.0. The same value as RV(before).
  returned: always
  type: dict
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
  description:
    - The lock's file in the state store.
    - With O(state_backend=postgres), the row's address
      C(postgresql://HOST:PORT/DBNAME/delivery_state/lock/NAME) (no user, no password).
  returned: always
  type: str
  sample: /srv/deploy-state/lock/prod-kr%2Fapp.json
msg:
  description: On failure, what went wrong.
  returned: failure
  type: str
option:
  description:
    - On failure, the option at fault, when there is one (for example V(ttl), V(name), V(owner) when releasing
      someone else's lock, V(store_dir), V(state_dsn)).
  returned: failure, when an option is at fault
  type: str
  sample: ttl
"""

from typing import Any  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible_collections.progressive.delivery.plugins.module_utils._lock import (  # noqa: E402
    DeployLock,
    LockFailure,
    LockOutcome,
)
from ansible_collections.progressive.delivery.plugins.module_utils._result import (  # noqa: E402
    ContractModule,
    ModuleFailure,
    run_module,
    state_result,
)
from ansible_collections.progressive.delivery.plugins.module_utils._state_store import (  # noqa: E402
    STATE_OPTIONS,
    STATE_REQUIRED_IF,
    StateStoreError,
    default_owner,
    open_store,
    validate_name,
)
from ansible_collections.progressive.delivery.plugins.module_utils._time import option_duration  # noqa: E402


def argument_spec() -> dict[str, dict[str, Any]]:
    return {
        "name": {"type": "str", "required": True},
        "state": {"type": "str", "choices": ["acquired", "released"], "default": "acquired"},
        "owner": {"type": "str"},
        "ttl": {"type": "raw", "default": "1h"},
        "wait": {"type": "raw", "default": 0},
        "force": {"type": "bool", "default": False},
        **STATE_OPTIONS,
    }


def _option(option: str, parse: Any, *args: Any) -> Any:
    """``parse(*args)``; its ``ValueError`` becomes a :class:`ModuleFailure` naming ``option``."""
    try:
        return parse(*args)
    except ValueError as exc:
        raise ModuleFailure(str(exc), option=option) from None


def deprecated_aliases(result: dict[str, Any]) -> dict[str, Any]:
    """The keys of 0.x (``lock``, ``previous``), kept until 2.0.0."""
    return {"lock": result.get("after"), "previous": result.get("before")}


def shape(module: AnsibleModule, outcome: LockOutcome) -> dict[str, Any]:
    fields = outcome.as_dict()
    changed, before, after = fields.pop("changed"), fields.pop("before"), fields.pop("after")
    result = state_result(module, changed, before, after, header=outcome.state_file, **fields)
    return {**result, **deprecated_aliases(result)}


def run(module: AnsibleModule) -> dict[str, Any]:
    params = module.params
    name = _option("name", validate_name, params["name"])
    ttl = _option("ttl", option_duration, "ttl", params["ttl"])
    wait = _option("wait", option_duration, "wait", params["wait"], True)
    store = open_store("lock", params["state_backend"], params["store_dir"], params["state_dsn"])
    lock = DeployLock(store, name, params["owner"] or default_owner(), ttl, module.check_mode, module.warn)
    try:
        if params["state"] == "acquired":
            outcome = lock.acquire(wait, params["force"])
        else:
            outcome = lock.release(params["force"])
    except LockFailure as failure:
        failure.result.update(deprecated_aliases(failure.result))
        raise
    except StateStoreError as exc:
        raise ModuleFailure(str(exc), option=exc.option, state_file=lock.state_file) from None
    return shape(module, outcome)


#: How main() builds the module; the action plugin builds the same one in the controller process
#: (plugins/plugin_utils/_in_process.py).
MODULE_CLASS = ContractModule
MODULE_KWARGS = {"required_if": STATE_REQUIRED_IF, "supports_check_mode": True}


def main() -> None:
    module = MODULE_CLASS(argument_spec=argument_spec(), **MODULE_KWARGS)
    run_module(module, lambda: run(module))


if __name__ == "__main__":
    main()
