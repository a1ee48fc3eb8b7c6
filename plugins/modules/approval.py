#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: approval
short_description: Let a release wait for people, and let people approve it from anywhere
version_added: 0.3.0
description:
  - An approval gate is a named record in the shared state store, for example V(prod-jp/demo 2026.12.1+3)
    (environment, app and version), holding who approved it, when, and with which comment.
  - O(state=approved) gives an approval as O(approver). Approving twice is not a change; an approver counts once
    however often and from wherever they approve. When O(approvers) is given, anyone else is refused.
  - O(state=waiting) waits until the gate has O(quorum) approvals of the O(approvers) (of anyone without a list),
    at most O(timeout). It prints a progress line at least every O(progress_interval) naming the gate, the
    quorum, who approved so far, who may still approve and the time left. On timeout it fails and changes nothing.
    Approvals given before the wait started count.
  - O(state=status) reports the gate; O(state=revoked) withdraws the approval of O(approver).
  - Every approval and revocation is appended to the gate's history. See C(docs/approvals.md) in the collection.
author: progressive.delivery maintainers (@progressive-delivery)
extends_documentation_fragment:
  - progressive.delivery._state_store
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details:
      - O(state=approved) and O(state=revoked) report what would be recorded and write nothing.
      - O(state=waiting) looks at the gate once and does not wait.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: full
  action:
    description:
      - Indicates this has a corresponding action plugin so some parts of the options can be executed on the
        controller.
    support: partial
    details:
      - O(state=waiting) is polled by an action plugin on the controller, which runs this module with O(state=status)
        on the task's host at every look and prints the progress lines as it goes.
options:
  name:
    description:
      - The gate, for example V(prod-jp/demo 2026.12.1+3). Any text without control characters.
      - C(playbooks/release.yml) waits for V(<environment>/<app> <version>).
    type: str
    required: true
    aliases: [gate]
  state:
    description:
      - V(approved) records an approval by O(approver). V(revoked) withdraws it.
      - V(waiting) waits for O(quorum) approvals, at most O(timeout).
      - V(status) only reads the gate.
    type: str
    choices: [approved, revoked, waiting, status]
    default: status
  approver:
    description:
      - Who approves (or revokes) with O(state=approved) or O(state=revoked).
      - Defaults to C(GITLAB_USER_LOGIN) with C((CI job N)) in a GitLab job, else to C(user@host) of the host that
        runs the task followed by C((AWX job N)) or C((CI job N)), as for M(progressive.delivery.deploy_lock).
      - An approver matches an entry of O(approvers) written the same way (without the job suffix) or written as
        the user part before C(@) (V(alice) matches V(alice@laptop)).
    type: str
  comment:
    description: Why, in plain words (a ticket, a change request); recorded with the approval or revocation.
    type: str
  approvers:
    description:
      - Who may approve. With O(state=approved), anyone else is refused (C(option=approver)). With
        O(state=waiting) and O(state=status), only their approvals count.
      - Empty means anyone may approve.
    type: list
    elements: str
    default: []
  quorum:
    description:
      - How many different approvers the gate needs, for example V(2) (two of the O(approvers)).
      - At most the number of O(approvers) when they are given.
    type: int
    default: 1
  timeout:
    description:
      - With O(state=waiting), how long to wait, as a duration (V(30s), V(15m), V(4h)) or a number of seconds.
    type: raw
    default: 1h
  poll_interval:
    description: With O(state=waiting), how often to look at the gate, as a duration or a number of seconds.
    type: raw
    default: 2s
  progress_interval:
    description: With O(state=waiting), the longest gap between two progress lines, as a duration or seconds.
    type: raw
    default: 10s
notes:
  - With the default O(state_backend=file) the gate lives on the host that runs the task, in O(store_dir); the
    waiting run and every approver must reach the same host and directory (C(delegate_to) plus C(run_once)).
    With O(state_backend=postgres) it is a row of the C(delivery_state) table (kind C(approval)).
  - Approvals are as trustworthy as the access to the state store; whoever can write there can approve.
seealso:
  - module: progressive.delivery.deploy_lock
  - module: progressive.delivery.release_record
"""

EXAMPLES = r"""
- name: Approve the Japanese production release
  progressive.delivery.approval:
    name: prod-jp/demo 2026.12.1+3
    state: approved
    approver: alice
    comment: CHG-4711 approved by the CAB
    approvers: [alice, bob, carol]
    store_dir: /srv/deploy-state

- name: Wait up to 4 hours for two of three approvers
  progressive.delivery.approval:
    name: prod-jp/demo 2026.12.1+3
    state: waiting
    approvers: [alice, bob, carol]
    quorum: 2
    timeout: 4h
    store_dir: /srv/deploy-state

- name: Who approved
  progressive.delivery.approval:
    name: prod-jp/demo 2026.12.1+3
    store_dir: /srv/deploy-state
  register: gate
"""

RETURN = r"""
before:
  description: The gate before the task. Same shape as RV(after).
  returned: always
  type: dict
  contains: &gate_view
    name:
      description: O(name).
      type: str
      sample: prod-jp/demo 2026.12.1+3
    approved:
      description: Whether the gate has its O(quorum) of approvals.
      type: bool
      sample: false
    quorum:
      description: O(quorum).
      type: int
      sample: 2
    approvers:
      description: O(approvers) (empty when anyone may approve).
      type: list
      elements: str
      sample: [alice, bob, carol]
    approved_by:
      description: The approvers who count, in the order they approved.
      type: list
      elements: str
      sample: [alice]
    pending:
      description: The O(approvers) who have not approved yet.
      type: list
      elements: str
      sample: [bob, carol]
    missing:
      description: How many more approvals the quorum needs.
      type: int
      sample: 1
    ignored:
      description: Approvals that do not count because their approver is not in O(approvers).
      type: list
      elements: str
      sample: []
    approvals:
      description: The approvals that stand (C(by), C(at) in RFC 3339 UTC, C(comment)).
      type: list
      elements: dict
      sample: [{by: alice, at: "2026-12-01T09:00:00.000Z", comment: CHG-4711}]
after:
  description: The gate after the task (in check mode, as it would be). Same shape as RV(before).
  returned: always
  type: dict
  contains: *gate_view
diff:
  description: RV(before) and RV(after), headed by RV(state_file). Only in diff mode.
  returned: when diff mode is on
  type: dict
decision:
  description:
    - V(approved) or V(revoked) when the task recorded that (or would, in check mode); V(none) when there was
      nothing to record or it only read. V(open) when O(state=waiting) found the quorum,
      V(closed) when it looked once in check mode and the quorum is not there, V(timed_out) on timeout.
  returned: always
  type: str
  sample: approved
approved:
  description: RV(after.approved).
  returned: always
  type: bool
  sample: true
history:
  description: Every approval and revocation of the gate, oldest first (C(event), C(by), C(at), C(comment)).
  returned: success
  type: list
  elements: dict
waited:
  description: With O(state=waiting), how many seconds the task waited.
  returned: with O(state=waiting)
  type: float
  sample: 12.5
progress:
  description: With O(state=waiting), the progress lines printed while waiting.
  returned: with O(state=waiting)
  type: list
  elements: str
state_file:
  description:
    - The gate's file in the state store, or with O(state_backend=postgres) the row's address
      C(postgresql://HOST:PORT/DBNAME/delivery_state/approval/NAME) (no user, no password).
  returned: always
  type: str
  sample: /srv/deploy-state/approval/prod-jp%2Fdemo%202026.12.1%2B3.json
msg:
  description: What happened, or on failure what went wrong (a timeout names who approved and who may approve).
  returned: always
  type: str
option:
  description: On failure, the option at fault when there is one (for example V(approver), V(quorum), V(timeout)).
  returned: failure, when an option is at fault
  type: str
  sample: approver
"""

from typing import Any  # noqa: E402

from ansible_collections.progressive.delivery.plugins.module_utils._approval import (  # noqa: E402
    ApprovalGate,
    GateOutcome,
    check_approver,
    check_gate,
    default_approver,
    timeout_message,
    wait,
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
    open_store,
    validate_name,
)
from ansible_collections.progressive.delivery.plugins.module_utils._time import option_duration  # noqa: E402


def argument_spec() -> dict[str, dict[str, Any]]:
    return {
        "name": {"type": "str", "required": True, "aliases": ["gate"]},
        "state": {"type": "str", "choices": ["approved", "revoked", "waiting", "status"], "default": "status"},
        "approver": {"type": "str"},
        "comment": {"type": "str"},
        "approvers": {"type": "list", "elements": "str", "default": []},
        "quorum": {"type": "int", "default": 1},
        "timeout": {"type": "raw", "default": "1h"},
        "poll_interval": {"type": "raw", "default": "2s"},
        "progress_interval": {"type": "raw", "default": "10s"},
        **STATE_OPTIONS,
    }


def _option(option: str, parse: Any, *args: Any) -> Any:
    try:
        return parse(*args)
    except ValueError as exc:
        raise ModuleFailure(str(exc), option=option) from None


def shape(module: ContractModule, outcome: GateOutcome, **extra: Any) -> dict[str, Any]:
    fields = outcome.fields()
    changed, before, after = fields.pop("changed"), fields.pop("before"), fields.pop("after")
    fields.update(extra)
    return state_result(module, changed, before, after, header=outcome.state_file, **fields)


def _waiting(module: ContractModule, gate: ApprovalGate, timeout: float, poll: float, progress: float
             ) -> dict[str, Any]:
    outcome = gate.status()
    if outcome.fields()["approved"]:
        return shape(module, outcome, decision="open", waited=0.0, progress=[],
                     msg=f"approval gate {gate.name!r} is approved")
    if module.check_mode:
        return shape(module, outcome, decision="closed", waited=0.0, progress=[],
                     msg=f"check mode: would wait up to {timeout:g}s for approval gate {gate.name!r}")
    waited = wait(gate.view, timeout, poll, progress)
    outcome = gate.status()
    if waited.timed_out:
        result = shape(module, outcome, decision="timed_out", waited=round(waited.waited, 3),
                       progress=waited.progress)
        result.pop("changed")
        raise ModuleFailure(timeout_message(waited.view, timeout), **result)
    return shape(module, outcome, decision="open", waited=round(waited.waited, 3), progress=waited.progress,
                 msg=f"approval gate {gate.name!r} is approved by {', '.join(waited.view['approved_by'])}")


def run(module: ContractModule) -> dict[str, Any]:
    params, state = module.params, module.params["state"]
    name = _option("name", validate_name, params["name"])
    allowed = check_gate(params["approvers"], params["quorum"])
    timeout = _option("timeout", option_duration, "timeout", params["timeout"])
    poll = _option("poll_interval", option_duration, "poll_interval", params["poll_interval"])
    progress = _option("progress_interval", option_duration, "progress_interval", params["progress_interval"])
    approver = check_approver(params["approver"] or default_approver()) if state in ("approved", "revoked") else ""
    store = open_store("approval", params["state_backend"], params["store_dir"], params["state_dsn"])
    gate = ApprovalGate(store, name, allowed, params["quorum"], module.check_mode)
    try:
        if state == "approved":
            outcome = gate.approve(approver, params["comment"])
        elif state == "revoked":
            outcome = gate.revoke(approver, params["comment"])
        elif state == "waiting":
            return _waiting(module, gate, timeout, poll, progress)
        else:
            outcome = gate.status()
    except StateStoreError as exc:
        raise ModuleFailure(str(exc), option=exc.option, state_file=gate.state_file) from None
    return shape(module, outcome, msg=_message(state, approver, outcome, module.check_mode))


def _message(state: str, approver: str, outcome: GateOutcome, check_mode: bool) -> str:
    gate = f"approval gate {outcome.name!r}"
    would = " (check mode: nothing written)" if check_mode and outcome.changed else ""
    if state == "approved":
        return (f"{approver} approved {gate}" if outcome.changed else f"{approver} had already approved {gate}") + would
    if state == "revoked":
        return (f"{approver} withdrew their approval of {gate}" if outcome.changed
                else f"{approver} had no approval of {gate} to withdraw") + would
    view = outcome.fields()["after"]
    return f"{gate}: {len(view['approved_by'])} of {view['quorum']} approvals"


def main() -> None:
    module = ContractModule(argument_spec=argument_spec(), supports_check_mode=True, required_if=STATE_REQUIRED_IF)
    run_module(module, lambda: run(module))


if __name__ == "__main__":
    main()
