#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: qos_guard
short_description: Guard an environment after a rollback until it has been stable for a while
version_added: 0.1.0
description:
  - A guard is a named lock on an environment (for example V(prod-kr/app)) that blocks new deployments. It is
    typically locked right after a rollback, for a window (O(duration)) in which the environment must prove it is
    stable. This is the C(qos_guard.sh lock / unlock / status) of the old scripts, made safe to share between a
    laptop, AWX and GitLab jobs.
  - O(state=locked) starts the window, or extends it when the guard is already locked (the window then ends
    O(duration) from now, never earlier than before).
  - O(state=enforce) is the check at the start of a deployment. It fails with the reason, who locked the guard and
    the remaining time while the guard is active.
  - O(state=evaluate) clears the guard on evidence. Once the window has passed it judges O(slis) in Prometheus the
    way M(progressive.delivery.slo_check) does. It unlocks the guard when they pass, extends it by O(duration) when
    they fail, and keeps it locked when the verdict is inconclusive. Before the end of the window it changes
    nothing, queries nothing, and reports the remaining time.
  - O(state=unlocked) clears the guard by hand; O(reason) is required and recorded.
  - A guard whose window has passed but that was neither evaluated nor unlocked still blocks (RV(after.status=expired)).
    After a rollback, only evidence (passing SLOs) or a person (with a reason) may clear the way. Time alone
    proves nothing.
  - Every lock, extension and unlock is recorded in a bounded history (the last 50 events), returned by every
    call, for example O(state=query).
  - See C(docs/qos_guard.md) in the collection for the design and the recipes.
author: progressive.delivery maintainers (@progressive-delivery)
extends_documentation_fragment:
  - progressive.delivery._in_process
  - progressive.delivery._prometheus
  - progressive.delivery._slis
  - progressive.delivery._state_store
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details:
      - O(state=evaluate) queries Prometheus and judges in check mode too, and reports what it would do.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: full
options:
  name:
    description:
      - The guarded scope, for example V(prod-kr/app). Any text without control characters.
    type: str
    required: true
  state:
    description:
      - V(locked) locks the guard for O(duration) (needs O(reason)), or extends it.
      - V(unlocked) clears the guard by hand (needs O(reason)).
      - V(query) only reports the guard and its history.
      - V(enforce) fails while the guard is active (locked, or its window passed without being cleared).
      - V(evaluate) judges O(slis) once the window has passed (needs O(prometheus_url) and O(slis)).
    type: str
    choices: [locked, unlocked, query, enforce, evaluate]
    default: query
  duration:
    description:
      - Length of the window as a duration (V(30s), V(5m), V(1h), V(1h30m)) or a number of seconds. Note that a
        plain number is seconds, while C(qos_guard.sh lock 5) meant minutes.
      - Required with O(state=locked).
      - With O(state=evaluate), how far a failing evaluation extends the guard; defaults to the duration the guard
        was last locked with.
    type: raw
  reason:
    description:
      - Why the guard is locked or unlocked, in plain words, for example the rollback it follows or the ticket that
        allows unlocking. Recorded in the history and shown by O(state=enforce).
      - Required with O(state=locked) and O(state=unlocked).
    type: str
  owner:
    description:
      - Who locks, unlocks or evaluates, recorded with each event.
      - Defaults to C(user@host) of the host that runs the task, followed by C((AWX job N)) or C((CI job N)), as
        for M(progressive.delivery.deploy_lock).
    type: str
  prometheus_url:
    description:
      - Base URL of the Prometheus server (or of a Prometheus-compatible API such as Thanos Querier or Mimir),
        for example V(http://127.0.0.1:9090) or V(https://monitoring.example.com/prometheus).
      - The module appends C(/api/v1/query) and C(/api/v1/query_range) to it.
      - Required with O(state=evaluate).
    type: str
    required: false
  slis:
    description:
      - The indicators that must pass before O(state=evaluate) unlocks the guard, exactly as in
        M(progressive.delivery.slo_check). Each needs a O(slis[].name), a O(slis[].query) and something to judge
        it by.
      - Required with O(state=evaluate). Let the queries look at the guard window only, for example a C(rate()) over
        no more than O(duration).
      - The suboptions are shared with M(progressive.delivery.slo_check); where they name C(results[]), that is
        C(results) inside RV(evaluation) here.
notes:
  - The guard lives on the host that runs the task, in O(store_dir). Point every tool at the same host and
    directory (C(delegate_to) plus C(run_once)).
  - All changes to a guard are made under an exclusive C(flock) of its mutex file. O(state=evaluate) queries
    Prometheus without holding it, and applies its verdict only if nobody changed the guard in the meantime.
  - With O(state_backend=postgres) the guard is a row of the C(delivery_state) table in the database at
    O(state_dsn), and O(store_dir) is ignored; C(delegate_to) is then not needed. Read-modify-writes run in a
    transaction holding a PostgreSQL advisory lock instead of the C(flock). Losing the connection (a restart of
    PostgreSQL) fails the task with the server's host and port; what was written before stays, and a step that
    did not commit changed nothing.
seealso:
  - module: progressive.delivery.slo_check
  - module: progressive.delivery.deploy_lock
"""

EXAMPLES = r"""
- name: After a rollback, guard prod-kr/app for 5 minutes
  progressive.delivery.qos_guard:
    name: prod-kr/app
    state: locked
    duration: 5m
    reason: "rollback of 2026.11.1+2: 5xx rate 4 %"
    store_dir: /srv/deploy-state

- name: Refuse to deploy while the guard is active
  progressive.delivery.qos_guard:
    name: prod-kr/app
    state: enforce
    store_dir: /srv/deploy-state

- name: Unlock the guard once the window has passed and the SLOs hold (extend it by 5m if they do not)
  progressive.delivery.qos_guard:
    name: prod-kr/app
    state: evaluate
    duration: 5m
    store_dir: /srv/deploy-state
    prometheus_url: http://prometheus.example.com:9090
    slis:
      - name: error_rate
        query: >-
          (sum(rate(http_requests_total{app="app",code=~"5.."}[5m])) or vector(0))
          / sum(rate(http_requests_total{app="app"}[5m]))
        max: 0.01
        critical: true
        on_no_data: fail
  register: guard

- name: Unlock by hand
  progressive.delivery.qos_guard:
    name: prod-kr/app
    state: unlocked
    reason: "INC-1234: fixed by the database failover, approved by the on-call SRE"
    store_dir: /srv/deploy-state

- name: Set the backend once for a play (every module of the group progressive.delivery.state)
  module_defaults:
    group/progressive.delivery.state:
      state_backend: "{{ delivery_state_backend | default('file') }}"
      state_dsn: "{{ delivery_state_dsn | default(omit) }}"
  block:
    - name: Refuse to deploy while the guard is active
      progressive.delivery.qos_guard:
        name: prod-kr/app
        state: enforce
"""

RETURN = r"""
before:
  description:
    - The guard before the task, V(null) when it was never locked. Same shape as RV(after).
  returned: always
  type: dict
  contains: &guard_view
    name:
      description: O(name).
      type: str
      sample: prod-kr/app
    status:
      description:
        - V(locked) while the window runs, V(expired) when it has passed but the guard was neither evaluated to a
          pass nor unlocked (still blocking), V(unlocked) when it was cleared or never locked.
      type: str
      sample: locked
    active:
      description: Whether O(state=enforce) blocks (RV(after.status) is V(locked) or V(expired)).
      type: bool
      sample: true
    reason:
      description: The reason of the latest lock or extension.
      type: str
      sample: "rollback of 2026.11.1+2: 5xx rate 4 %"
    locked_by:
      description: Who locked or last extended the guard.
      type: str
      sample: deployer@laptop (CI job 4711)
    locked_at:
      description: When the guard was locked (RFC 3339, UTC); extensions keep it.
      type: str
      sample: "2026-11-21T10:00:00.000Z"
    until:
      description: When the window ends (RFC 3339, UTC).
      type: str
      sample: "2026-11-21T10:05:00.000Z"
    remaining:
      description: Time left in the window, for example V(4m05s); V(0s) once it has passed.
      type: str
      sample: 4m05s
    remaining_seconds:
      description: The same in seconds.
      type: float
      sample: 245.0
    duration:
      description: The window length of the latest lock or extension, in seconds.
      type: float
      sample: 300.0
    unlocked_at:
      description: When the guard was last unlocked (RFC 3339, UTC), else V(null).
      type: str
    unlocked_by:
      description: Who (or which evaluation) last unlocked it, else V(null).
      type: str
    unlock_reason:
      description: Why it was last unlocked, else V(null).
      type: str
    last_evaluation:
      description:
        - The latest O(state=evaluate) after the window (C(at), C(verdict), C(score), C(reason), C(decision)),
          else V(null).
      type: dict
after:
  description:
    - The guard after the task (in check mode, as it would be); V(null) when it was never locked.
    - Also returned when O(state=enforce) fails (the guard that blocks).
  returned: always
  type: dict
  contains: *guard_view
diff:
  description: RV(before) and RV(after) (V({}) for none), headed by RV(state_file). Only in diff mode.
  returned: when diff mode is on
  type: dict
guard:
  description:
    - Deprecated, use RV(after); will be removed in 2.0.0. The guard after the task, like RV(after), but a guard that
      was never locked is returned with C(status=unlocked) instead of V(null).
  returned: always
  type: dict
history:
  description: Lock, extension and unlock events, oldest first, at most the last 50.
  returned: always
  type: list
  elements: dict
  sample:
    - {event: locked, at: "2026-11-21T10:00:00.000Z", by: deployer@laptop, reason: rollback,
       until: "2026-11-21T10:05:00.000Z"}
    - {event: unlocked, at: "2026-11-21T10:05:30.000Z", by: deployer@laptop,
       reason: "SLOs passed (score 100.0): all indicators pass"}
decision:
  description:
    - What the task did or, in check mode, would do. V(locked), V(extended), V(unlocked) change the guard. V(none) means
      there was nothing to do. V(waiting) means O(state=evaluate) came before the end of the window. V(kept) means
      the evaluation was inconclusive (the guard stays locked; only RV(after.last_evaluation) is recorded), or the
      guard changed during the evaluation. V(blocked) means O(state=enforce) failed. V(allowed) means
      O(state=enforce) passed.
  returned: always
  type: str
  sample: unlocked
evaluation:
  description:
    - With O(state=evaluate) after the window, the SLO check as M(progressive.delivery.slo_check) returns it
      (C(verdict), C(score), C(reason), C(evaluated_at), C(results)); else V(null).
  returned: always
  type: dict
verdict:
  description: C(evaluation.verdict) (V(pass), V(fail), V(inconclusive)), or V(null) when nothing was evaluated.
  returned: always
  type: str
  sample: pass
state_file:
  description:
    - The guard's file in the state store.
    - With O(state_backend=postgres), the row's address
      C(postgresql://HOST:PORT/DBNAME/delivery_state/guard/NAME) (no user, no password).
  returned: always
  type: str
  sample: /srv/deploy-state/guard/prod-kr%2Fapp.json
msg:
  description: Why O(state=enforce) blocks, or on any failure what went wrong.
  returned: failure, and with O(state=enforce) when the guard allows the deployment
  type: str
option:
  description:
    - On failure, the option at fault, when there is one (for example V(duration), V(reason), V(slis),
      V(store_dir), V(state_dsn)). A blocking O(state=enforce) names none.
  returned: failure, when an option is at fault
  type: str
  sample: duration
"""

import time  # noqa: E402
from typing import Any  # noqa: E402

from ansible_collections.progressive.delivery.plugins.module_utils._guard import (  # noqa: E402
    GuardBlocked,
    GuardOutcome,
    QosGuard,
    guard_view,
)
from ansible_collections.progressive.delivery.plugins.module_utils._prometheus import (  # noqa: E402
    PROMETHEUS_MUTUALLY_EXCLUSIVE,
    PROMETHEUS_REQUIRED_TOGETHER,
    PrometheusClient,
    PrometheusConfig,
    prometheus_argument_spec,
)
from ansible_collections.progressive.delivery.plugins.module_utils._result import (  # noqa: E402
    ModuleFailure,
    run_module,
    state_result,
)
from ansible_collections.progressive.delivery.plugins.module_utils._slo import (  # noqa: E402
    SCORE_OPTIONS,
    SLI_OPTIONS,
    IndicatorConfigError,
    SliModule,
    load_indicators,
    run_check,
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
    spec = prometheus_argument_spec()
    spec["prometheus_url"]["required"] = False
    spec.update(
        name={"type": "str", "required": True},
        state={"type": "str", "choices": ["locked", "unlocked", "query", "enforce", "evaluate"], "default": "query"},
        duration={"type": "raw"},
        reason={"type": "str"},
        owner={"type": "str"},
        slis={"type": "list", "elements": "dict", "options": SLI_OPTIONS},
        **SCORE_OPTIONS,
        **STATE_OPTIONS,
    )
    return spec


REQUIRED_IF = [
    ("state", "locked", ("duration", "reason")),
    ("state", "unlocked", ("reason",)),
    ("state", "evaluate", ("prometheus_url", "slis")),
    *STATE_REQUIRED_IF,
]


def _option(option: str, parse: Any, *args: Any) -> Any:
    """``parse(*args)``; its ``ValueError`` becomes a :class:`ModuleFailure` naming ``option``."""
    try:
        return parse(*args)
    except ValueError as exc:
        raise ModuleFailure(str(exc), option=option) from None


def _judge(module: SliModule) -> Any:
    """``judge() -> evaluation``: the SLO check of ``slis`` against Prometheus, as slo_check runs it."""
    params = module.params
    indicators = load_indicators(params)
    try:
        config = PrometheusConfig.from_params(params)
    except ValueError as exc:
        option = str(exc).split(" ", 1)[0]
        raise ModuleFailure(f"option {exc}", option=option if option in params else None) from None
    return lambda: run_check(PrometheusClient(config), indicators, time.time(), params["pass_score"],
                             params["marginal_score"])


def shape(module: SliModule, outcome: GuardOutcome) -> dict[str, Any]:
    fields = outcome.fields()
    changed, before, after = fields.pop("changed"), fields.pop("before"), fields.pop("after")
    result = state_result(module, changed, before, after, header=outcome.state_file, **fields)
    if outcome.decision == "allowed":
        result["msg"] = f"qos_guard {outcome.name!r} is not active"
    return {**result, **deprecated_aliases(outcome)}


def deprecated_aliases(outcome: GuardOutcome) -> dict[str, Any]:
    """The key of 0.x (``guard``, never null), kept until 2.0.0."""
    return {"guard": guard_view(outcome.name, outcome.current, outcome.now)}


def run(module: SliModule) -> dict[str, Any]:
    params, state = module.params, module.params["state"]
    name = _option("name", validate_name, params["name"])
    duration = None if params["duration"] is None else \
        _option("duration", option_duration, "duration", params["duration"])
    store = open_store("guard", params["state_backend"], params["store_dir"], params["state_dsn"])
    if state in ("locked", "unlocked") and not (params["reason"] or "").strip():
        raise ModuleFailure(f"option reason must not be empty with state={state}", option="reason")
    guard = QosGuard(store, name, params["owner"] or default_owner(), module.check_mode)
    try:
        if state == "locked":
            outcome = guard.lock(duration, params["reason"])
        elif state == "unlocked":
            outcome = guard.unlock(params["reason"])
        elif state == "enforce":
            outcome = guard.enforce()
        elif state == "evaluate":
            outcome = guard.evaluate(_judge(module), duration)
        else:
            outcome = guard.query()
    except GuardBlocked as failure:
        failure.result.update(deprecated_aliases(failure.outcome))
        raise
    except StateStoreError as exc:
        raise ModuleFailure(str(exc), option=exc.option, state_file=guard.state_file) from None
    except IndicatorConfigError as exc:
        raise ModuleFailure(str(exc), option=getattr(exc, "option", "slis"), state_file=guard.state_file) from None
    return shape(module, outcome)


#: How main() builds the module; the action plugin builds the same one in the controller process
#: (plugins/plugin_utils/_in_process.py).
MODULE_CLASS = SliModule
MODULE_KWARGS = {"required_if": REQUIRED_IF, "mutually_exclusive": PROMETHEUS_MUTUALLY_EXCLUSIVE,
                 "required_together": PROMETHEUS_REQUIRED_TOGETHER, "supports_check_mode": True}


def main() -> None:
    module = MODULE_CLASS(argument_spec=argument_spec(), **MODULE_KWARGS)
    run_module(module, lambda: run(module))


if __name__ == "__main__":
    main()
