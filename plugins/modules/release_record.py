#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: release_record
short_description: The release record of an environment - which pool is stable, what runs where, every release
version_added: 0.1.0
description:
  - Reads and writes the release record of one environment and app (for example V(lab-kr/demo)) in the shared
    state store. It says which pool is stable and which is the candidate, what runs in each pool (version,
    digest, image, release id, git sha), the release in progress with every step and the evidence that allowed
    it, and the releases that ended, newest last, with their outcome (V(promoted), V(rolled_back), V(aborted)).
  - It is what a rerun of a deployment, a rollback and a status report read. The history is append-only.
  - O(state=started) makes a release current; its candidate pool gets the release. O(state=step) appends a step.
    O(state=finished) ends it. V(promoted) makes the candidate pool stable and the old stable pool V(previous).
    V(rolled_back) and V(aborted) leave the stable pool as it was and mark the candidate pool V(idle).
  - O(state=pools) declares what runs where (adopting an environment that was deployed without this record).
  - Every change is a read-modify-write under an exclusive C(flock) of the record's mutex file. Of two runs that
    start a release at the same time exactly one wins; the other sees the winner's release.
  - See C(docs/release_record.md) in the collection for the record's shape and how a rerun reads it.
author: progressive.delivery maintainers (@progressive-delivery)
extends_documentation_fragment:
  - progressive.delivery._in_process
  - progressive.delivery._state_store
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details:
      - Reads the record and returns the record the task would write; never writes.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: full
options:
  environment:
    description:
      - The environment, for example V(lab-kr) or V(prod-kr). No V(/) and no control characters.
    type: str
    required: true
  app:
    description:
      - The application, for example V(demo). The record is named C(<environment>/<app>).
    type: str
    required: true
  state:
    description:
      - V(query) only reads the record.
      - V(started) makes O(release) the current release (needs O(release)).
      - V(step) appends O(step) to the current release (needs O(release_id) and O(step)).
      - V(finished) ends the current release with O(outcome) (needs O(outcome), and O(release_id) unless
        O(force=true)).
      - V(pools) declares what runs in each pool and which one is stable (needs O(pools) and O(stable_pool)).
    type: str
    choices: [query, started, step, finished, pools]
    default: query
  release:
    description:
      - With O(state=started), the release to start.
      - Starting the release that is already current (same O(release.id) and O(release.digest)) is not a change,
        so a rerun after a crash continues it.
      - Starting while another release is current fails, naming that release, unless O(takeover=true).
      - An O(release.id) that already finished fails; a new release needs a new id.
    type: dict
    suboptions:
      id:
        description:
          - The release id. Defaults to a new id (start time and random hex, for example
            V(20261121T100000Z-3f9a1c2b)), returned as C(release.id). Pass it to O(state=step) and
            O(state=finished), and again to O(state=started) on a rerun.
        type: str
      version:
        description: The release version, for example V(2026.11.3+92).
        type: str
        required: true
      digest:
        description: The image digest, V(sha256:) and 64 lowercase hex digits.
        type: str
        required: true
      image:
        description: The image pinned by that digest, C(repository@sha256:...). A tag is refused.
        type: str
        required: true
      git_sha:
        description: The git commit of the release.
        type: str
      strategy:
        description: How the release moves traffic (V(rollback) for the release playbooks/rollback.yml puts back).
        type: str
        choices: [canary, blue_green, rolling, rollback]
      started_by:
        description: Who started it. Defaults to O(owner).
        type: str
      plan:
        description: The plan (steps, weights, gates, the traffic each step needs), recorded as given.
        type: dict
      override:
        description:
          - The release was let through a blackout window or freeze by an override (the preflight role's
            C(preflight_release_override)); recorded as C(current.override). V(null) or left out when there was none.
        type: dict
        suboptions:
          reason:
            description: Why the deploy went ahead. Required and not empty; an override without a reason is refused.
            type: str
            required: true
          windows:
            description: The windows and freezes overridden (names, or the entries of the
              P(progressive.delivery.deploy_window#filter) filter's C(active) list).
            type: list
            elements: raw
          by:
            description: Who overrode. Defaults to O(release.started_by).
            type: str
  candidate_pool:
    description:
      - With O(state=started), the pool the release goes to. Defaults to the first pool of O(pool_names) that is
        not the stable pool. It cannot be the stable pool.
    type: str
  pool_names:
    description:
      - The pools of the environment (at least two).
    type: list
    elements: str
    default: [blue, green]
  takeover:
    description:
      - With O(state=started), start even when another release is current. That release is recorded as
        V(aborted) with the reason C(taken over by <started_by>), and a warning names it.
    type: bool
    default: false
  release_id:
    description:
      - With O(state=step) and O(state=finished), the id of the current release. A mismatch fails naming this
        option. A deployment whose release was rolled back or taken over by another run notices here.
    type: str
  step:
    description:
      - With O(state=step), the step to append to the current release's steps. A step that is already recorded
        with the same fields is not a change.
    type: dict
    suboptions:
      index:
        description: The step's number (from 1; V(0) for a preview before traffic).
        type: int
      of:
        description: How many steps the release has.
        type: int
      weight:
        description: The candidate's traffic share in percent (0-100).
        type: float
      verdict:
        description: The step's verdict, for example V(pass), V(fail) or V(inconclusive).
        type: str
      started_at:
        description: When the step started (RFC 3339).
        type: str
      ended_at:
        description: When the step ended (RFC 3339).
        type: str
      analysis:
        description: The evidence (for example the analysis result with its measurements and failing indicators).
        type: raw
      note:
        description: Free text.
        type: str
  outcome:
    description:
      - With O(state=finished), how the release ended.
      - Finishing a release that already finished with the same outcome is not a change; with another outcome it
        fails.
    type: str
    choices: [promoted, rolled_back, aborted]
  reason:
    description:
      - With O(state=finished), why (recorded in the history entry).
      - With O(state=pools) and O(force=true), why the current release was aborted.
    type: str
  force:
    description:
      - With O(state=finished), finish whatever release is current without O(release_id) (nothing to do when none
        is). An O(release_id) that is given must still match.
      - With O(state=pools), declare the pools even while a release is current; that release is recorded as
        V(aborted).
    type: bool
    default: false
  pools:
    description:
      - With O(state=pools), what runs in each pool, a dictionary from pool name to a dictionary with the fields
        C(version), C(digest), C(image), C(release_id), C(git_sha), and C(role) (V(previous) or V(idle) for a pool
        that is not stable; the stable pool gets V(stable)). See the first example.
      - Replaces what the record says about every pool of O(pool_names); a pool left out is recorded as empty and
        V(idle).
    type: dict
  stable_pool:
    description:
      - With O(state=pools), the pool that serves the stable release. One of the O(pools).
    type: str
  owner:
    description:
      - Who runs the task, recorded as the default O(release.started_by), as C(ended_by) of a finished release
        and in the reason of a takeover.
      - Defaults to C(user@host) of the host that runs the task, followed by C((AWX job N)) or C((CI job N)) as
        M(progressive.delivery.deploy_lock) does.
    type: str
notes:
  - The record lives on the host that runs the task, in O(store_dir). Point every tool at the same host and
    directory (C(delegate_to) plus C(run_once)).
  - With O(state_backend=postgres) the record is a row of the C(delivery_state) table in the database at
    O(state_dsn), and O(store_dir) is ignored; C(delegate_to) is then not needed. Read-modify-writes run in a
    transaction holding a PostgreSQL advisory lock instead of the C(flock). Losing the connection (a restart of
    PostgreSQL) fails the task with the server's host and port; what was written before stays, and a step that
    did not commit changed nothing.
seealso:
  - module: progressive.delivery.deploy_lock
  - module: progressive.delivery.canary_shift
"""

EXAMPLES = r"""
- name: Declare what runs where (first use in an existing environment)
  progressive.delivery.release_record:
    environment: lab-kr
    app: demo
    state: pools
    stable_pool: blue
    pools:
      blue:
        version: 2026.11.2+80
        digest: sha256:0f3c4b1a9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a
        image: registry.example.com/demo@sha256:0f3c4b1a9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a
    store_dir: /srv/deploy-state

- name: Start a release (a rerun passes the same id and continues it)
  progressive.delivery.release_record:
    environment: lab-kr
    app: demo
    state: started
    release:
      id: "{{ delivery_release_id | default(omit) }}"
      version: 2026.11.3+92
      digest: sha256:9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b
      image: registry.example.com/demo@sha256:9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b
      git_sha: 4f2a9c1
      strategy: canary
      plan:
        steps: [5, 25, 50, 100]
    store_dir: /srv/deploy-state
  register: started

- name: Shift traffic to the candidate pool the record chose
  progressive.delivery.canary_shift:
    router: haproxy
    haproxy_socket: /run/haproxy/admin.sock
    backend: app
    stable: "{{ started.stable_pool }}"
    canary: "{{ started.candidate_pool }}"
    weight: 5

- name: Record the step and its evidence (fails if the release is no longer current)
  progressive.delivery.release_record:
    environment: lab-kr
    app: demo
    state: step
    release_id: "{{ started.release.id }}"
    step:
      index: 1
      of: 4
      weight: 5
      verdict: pass
    store_dir: /srv/deploy-state

- name: Promote it (the candidate pool becomes stable)
  progressive.delivery.release_record:
    environment: lab-kr
    app: demo
    state: finished
    release_id: "{{ started.release.id }}"
    outcome: promoted
    store_dir: /srv/deploy-state

- name: Roll back whatever release is current (operator action)
  progressive.delivery.release_record:
    environment: lab-kr
    app: demo
    state: finished
    outcome: rolled_back
    reason: error rate 4.2% > 1% at step 2/4
    force: true
    store_dir: /srv/deploy-state

- name: Read the record from the PostgreSQL state store
  progressive.delivery.release_record:
    environment: prod-kr
    app: demo
    state: query
    state_backend: postgres
    state_dsn: "{{ delivery_state_dsn }}"
  register: record
"""

RETURN = r"""
before:
  description:
    - The record before the task, V(null) when there was none. Same shape as RV(after).
    - Also returned when the task fails (the record as found, unchanged).
  returned: always
  type: dict
  contains: &record
    environment:
      description: O(environment).
      type: str
      sample: lab-kr
    app:
      description: O(app).
      type: str
      sample: demo
    stable_pool:
      description: The pool that serves the stable release, V(null) before the first promotion or declaration.
      type: str
      sample: blue
    pools:
      description:
        - Per pool, what runs there (C(version), C(digest), C(image), C(release_id), C(git_sha)), its C(role)
          (V(stable), V(candidate), V(previous), V(idle)) and C(outcome) (the outcome of the release left idle
          there, else V(null)).
      type: dict
      sample:
        blue: {version: 2026.11.2+80, digest: "sha256:0f3c...", image: "reg/demo@sha256:0f3c...",
               release_id: 20261120T090000Z-1a2b3c4d, git_sha: 77aa01c, role: stable, outcome: null}
        green: {version: 2026.11.3+92, digest: "sha256:9a8b...", image: "reg/demo@sha256:9a8b...",
                release_id: 20261121T100000Z-3f9a1c2b, git_sha: 4f2a9c1, role: candidate, outcome: null}
    current:
      description:
        - The release in progress, V(null) when none is. C(id), C(version), C(digest), C(image), C(git_sha),
          C(strategy), C(started_by), C(plan), C(override) (V(null), or C(reason), C(windows) and C(by) of an override
          of a blackout window or freeze), C(started_at), C(candidate_pool), C(stable_pool), C(baseline) (what
          ran in the stable pool at the start), C(took_over) (the id of the release it took over), C(steps) (each
          step as given, plus C(recorded_at)), and C(ended_at), C(ended_by), C(outcome), C(reason) (V(null) until
          it ends).
      type: dict
    history:
      description: The releases that ended, oldest first, in the shape of C(current) with C(ended_at),
        C(ended_by), C(outcome) and C(reason) set. Append-only.
      type: list
      elements: dict
    updated_at:
      description: When the record last changed (RFC 3339, UTC).
      type: str
      sample: "2026-11-21T10:20:00.000Z"
after:
  description:
    - The record after the task (in check mode, the record the task would have written); V(null) when there is
      none.
    - When the task fails, the record left in the store (unchanged).
  returned: always
  type: dict
  contains: *record
diff:
  description: RV(before) and RV(after) (V({}) for none), headed by RV(state_file). Only in diff mode.
  returned: when diff mode is on
  type: dict
record:
  description: The same value as RV(after).
  returned: success
  type: dict
release:
  description:
    - The release the task touched (O(state=started), O(state=step), O(state=finished)), or the current release
      (O(state=query)); V(null) when there is none. The shape of RV(after.current).
  returned: success
  type: dict
stable_pool:
  description: The stable pool after the task.
  returned: success
  type: str
  sample: blue
candidate_pool:
  description: The current release's candidate pool, V(null) when no release is current.
  returned: success
  type: str
  sample: green
pools:
  description: RV(after.pools); V({}) when there is no record.
  returned: success
  type: dict
current:
  description: RV(after.current).
  returned: success
  type: dict
last:
  description: The newest entry of RV(after.history), V(null) when there is none.
  returned: success
  type: dict
state_file:
  description:
    - The record's file in the state store.
    - With O(state_backend=postgres), the row's address
      C(postgresql://HOST:PORT/DBNAME/delivery_state/release/NAME) (no user, no password).
  returned: always
  type: str
  sample: /srv/deploy-state/release/lab-kr%2Fdemo.json
msg:
  description: On failure, what went wrong.
  returned: failure
  type: str
option:
  description:
    - On failure, the option at fault, when there is one (for example V(release) when another release is current,
      V(release_id) when it is not the current release, V(outcome) when the release already finished otherwise).
  returned: failure, when an option is at fault
  type: str
  sample: release_id
"""

from typing import Any  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible_collections.progressive.delivery.plugins.module_utils._release import (  # noqa: E402
    DEFAULT_POOL_NAMES,
    OUTCOMES,
    STATES,
    STRATEGIES,
    ReleaseOutcome,
    ReleaseRecord,
    views,
)
from ansible_collections.progressive.delivery.plugins.module_utils._result import (  # noqa: E402
    ContractModule,
    run_module,
    state_result,
)
from ansible_collections.progressive.delivery.plugins.module_utils._state_store import (  # noqa: E402
    STATE_OPTIONS,
    STATE_REQUIRED_IF,
    default_owner,
    open_store,
)


def argument_spec() -> dict[str, dict[str, Any]]:
    return {
        "environment": {"type": "str", "required": True},
        "app": {"type": "str", "required": True},
        **STATE_OPTIONS,
        "state": {"type": "str", "choices": list(STATES), "default": "query"},
        "release": {"type": "dict", "options": {
            "id": {"type": "str"},
            "version": {"type": "str", "required": True},
            "digest": {"type": "str", "required": True},
            "image": {"type": "str", "required": True},
            "git_sha": {"type": "str"},
            "strategy": {"type": "str", "choices": list(STRATEGIES)},
            "started_by": {"type": "str"},
            "plan": {"type": "dict"},
            "override": {"type": "dict", "options": {
                "reason": {"type": "str", "required": True},
                "windows": {"type": "list", "elements": "raw"},
                "by": {"type": "str"},
            }},
        }},
        "candidate_pool": {"type": "str"},
        "pool_names": {"type": "list", "elements": "str", "default": list(DEFAULT_POOL_NAMES)},
        "takeover": {"type": "bool", "default": False},
        "release_id": {"type": "str"},
        "step": {"type": "dict", "options": {
            "index": {"type": "int"},
            "of": {"type": "int"},
            "weight": {"type": "float"},
            "verdict": {"type": "str"},
            "started_at": {"type": "str"},
            "ended_at": {"type": "str"},
            "analysis": {"type": "raw"},
            "note": {"type": "str"},
        }},
        "outcome": {"type": "str", "choices": list(OUTCOMES)},
        "reason": {"type": "str"},
        "force": {"type": "bool", "default": False},
        "pools": {"type": "dict"},
        "stable_pool": {"type": "str"},
        "owner": {"type": "str"},
    }


REQUIRED_IF = [
    ("state", "started", ["release"]),
    ("state", "step", ["release_id", "step"]),
    ("state", "finished", ["outcome"]),
    ("state", "pools", ["pools", "stable_pool"]),
    *STATE_REQUIRED_IF,
]


def shape(module: AnsibleModule, outcome: ReleaseOutcome) -> dict[str, Any]:
    result = state_result(module, outcome.changed, outcome.before, outcome.after, header=outcome.state_file,
                          record=outcome.after, release=outcome.release, state_file=outcome.state_file)
    return {**result, **views(outcome.after)}


def act(record: ReleaseRecord, params: dict[str, Any]) -> ReleaseOutcome:
    state = params["state"]
    if state == "started":
        return record.start(params["release"], params["candidate_pool"], params["takeover"])
    if state == "step":
        return record.step(params["release_id"], params["step"])
    if state == "finished":
        return record.finish(params["release_id"], params["outcome"], params["reason"], params["force"])
    if state == "pools":
        return record.declare(params["pools"], params["stable_pool"], params["reason"], params["force"])
    return record.query()


def run(module: AnsibleModule) -> dict[str, Any]:
    params = module.params
    store = open_store("release", params["state_backend"], params["store_dir"], params["state_dsn"])
    record = ReleaseRecord(store, params["environment"], params["app"], params["owner"] or default_owner(),
                           params["pool_names"], module.check_mode, module.warn)
    return shape(module, act(record, params))


#: How main() builds the module; the action plugin builds the same one in the controller process
#: (plugins/plugin_utils/_in_process.py).
MODULE_CLASS = ContractModule
MODULE_KWARGS = {"required_if": REQUIRED_IF, "supports_check_mode": True}


def main() -> None:
    module = MODULE_CLASS(argument_spec=argument_spec(), **MODULE_KWARGS)
    run_module(module, lambda: run(module))


if __name__ == "__main__":
    main()
