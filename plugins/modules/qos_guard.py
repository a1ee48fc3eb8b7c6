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
  - A guard whose window has passed but that was neither evaluated nor unlocked still blocks (RV(guard.status=expired)).
    After a rollback, only evidence (passing SLOs) or a person (with a reason) may clear the way. Time alone
    proves nothing.
  - Every lock, extension and unlock is recorded in a bounded history (the last 50 events), returned by every
    call, for example O(state=query).
  - See C(docs/qos_guard.md) in the collection for the design and the recipes.
author: progressive.delivery maintainers (@progressive-delivery)
extends_documentation_fragment:
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
"""

RETURN = r"""
guard:
  description: The guard after the task (in check mode, as it would be).
  returned: always
  type: dict
  contains:
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
      description: Whether O(state=enforce) blocks (RV(guard.status) is V(locked) or V(expired)).
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
      the evaluation was inconclusive, or the guard changed during the evaluation. V(blocked) means O(state=enforce)
      failed. V(allowed) means O(state=enforce) passed.
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
  description: The guard's file in the state store.
  returned: always
  type: str
  sample: /srv/deploy-state/guard/prod-kr%2Fapp.json
"""

import time  # noqa: E402
from typing import Any  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible_collections.progressive.delivery.plugins.module_utils._judge import (  # noqa: E402
    FAIL,
    PASS,
)
from ansible_collections.progressive.delivery.plugins.module_utils._prometheus import (  # noqa: E402
    PROMETHEUS_MUTUALLY_EXCLUSIVE,
    PROMETHEUS_REQUIRED_TOGETHER,
    PrometheusClient,
    PrometheusConfig,
    option_duration,
    parse_time,
    prometheus_argument_spec,
)
from ansible_collections.progressive.delivery.plugins.module_utils._slo import (  # noqa: E402
    SCORE_OPTIONS,
    SLI_OPTIONS,
    Indicator,
    IndicatorConfigError,
    SliModule,
    indicators_from_params,
    run_check,
)
from ansible_collections.progressive.delivery.plugins.module_utils._state_store import (  # noqa: E402
    DEFAULT_STORE_DIR,
    StateStore,
    StateStoreError,
    default_owner,
    format_remaining,
    now_text,
    validate_name,
)

#: Events kept in a guard's history.
HISTORY_LIMIT = 50
UNLOCKED = "unlocked"
LOCKED = "locked"
EXPIRED = "expired"


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
        store_dir={"type": "path", "default": DEFAULT_STORE_DIR},
    )
    return spec


REQUIRED_IF = [
    ("state", "locked", ("duration", "reason")),
    ("state", "unlocked", ("reason",)),
    ("state", "evaluate", ("prometheus_url", "slis")),
]


# --------------------------------------------------------------------------------------------------
# Pure logic (unit-tested): a guard record is a dict, ``None`` when the guard was never locked
# --------------------------------------------------------------------------------------------------
def until_of(record: dict[str, Any]) -> float:
    """End of the window as unix time; unreadable counts as long passed (the guard then still blocks)."""
    try:
        return parse_time(record["until"])
    except (KeyError, TypeError, ValueError):
        return 0.0


def guard_status(record: dict[str, Any] | None, now: float) -> str:
    """V(unlocked), V(locked) (window running) or V(expired) (window passed, not cleared: still blocks)."""
    if not record or not record.get("locked"):
        return UNLOCKED
    return LOCKED if until_of(record) > now else EXPIRED


def guard_view(name: str, record: dict[str, Any] | None, now: float) -> dict[str, Any]:
    """The returned ``guard``: the record without its history, with status and remaining time."""
    record = record or {}
    status = guard_status(record, now)
    remaining = max(0.0, until_of(record) - now) if status == LOCKED else 0.0
    fields = ("reason", "locked_by", "locked_at", "until", "duration", "unlocked_at", "unlocked_by",
              "unlock_reason", "last_evaluation")
    return {"name": name, "status": status, "active": status != UNLOCKED, "remaining": format_remaining(remaining),
            "remaining_seconds": round(remaining, 3), **{key: record.get(key) for key in fields}}


def with_event(record: dict[str, Any], event: dict[str, Any]) -> dict[str, Any]:
    """``record`` with ``event`` appended to its history, keeping the last :data:`HISTORY_LIMIT`."""
    history = [*record.get("history", []), event][-HISTORY_LIMIT:]
    return {**record, "history": history}


def lock(record: dict[str, Any] | None, owner: str, duration: float, reason: str, now: float
         ) -> tuple[dict[str, Any] | None, str]:
    """Lock (``locked``) or extend (``extended``); ``(None, "none")`` when the window already reaches that far."""
    record = dict(record or {})
    status = guard_status(record, now)
    until = now + duration
    if status == LOCKED and until <= until_of(record):
        return None, "none"
    action = "extended" if status != UNLOCKED else "locked"
    record.update(locked=True, reason=reason, locked_by=owner, until=now_text(until), duration=duration)
    if action == "locked":
        record["locked_at"] = now_text(now)
    event = {"event": action, "at": now_text(now), "by": owner, "reason": reason, "until": now_text(until)}
    return with_event(record, event), action


def unlock(record: dict[str, Any] | None, owner: str, reason: str, now: float
           ) -> tuple[dict[str, Any] | None, str]:
    """Clear the guard (``unlocked``); ``(None, "none")`` when it is not locked."""
    if guard_status(record, now) == UNLOCKED:
        return None, "none"
    record = {**(record or {}), "locked": False, "unlocked_at": now_text(now), "unlocked_by": owner,
              "unlock_reason": reason}
    return with_event(record, {"event": "unlocked", "at": now_text(now), "by": owner, "reason": reason}), "unlocked"


def apply_verdict(record: dict[str, Any], owner: str, evaluation: dict[str, Any], extension: float, now: float
                  ) -> tuple[dict[str, Any], str]:
    """After the window: unlock on pass, extend by ``extension`` on fail, keep (noting the evaluation) otherwise."""
    verdict, score = evaluation["verdict"], evaluation["score"]
    why = f"SLOs {'passed' if verdict == PASS else 'failed' if verdict == FAIL else 'inconclusive'}" \
          f" (score {score}): {evaluation['reason']}"
    if verdict == PASS:
        new, action = unlock(record, owner, why, now)
    elif verdict == FAIL:
        new, action = lock(record, owner, extension, why, now)
    else:
        new, action = dict(record), "kept"
    new = dict(new or record)
    new["last_evaluation"] = {"at": now_text(now), "verdict": verdict, "score": score,
                              "reason": evaluation["reason"], "decision": action}
    return new, action


def enforce_message(name: str, record: dict[str, Any] | None, now: float) -> str | None:
    """Why a deployment must not start now, or ``None`` when the guard allows it."""
    status = guard_status(record, now)
    if status == UNLOCKED or record is None:
        return None
    who = f"locked by {record.get('locked_by')!r} at {record.get('locked_at')}: {record.get('reason')}"
    if status == LOCKED:
        return (f"qos_guard {name!r} is active, {format_remaining(until_of(record) - now)} remaining"
                f" (until {record.get('until')}); {who}")
    last = record.get("last_evaluation")
    evaluated = f"; last evaluation at {last.get('at')}: {last.get('verdict')}, {last.get('reason')}" \
        if isinstance(last, dict) and last else "; it was never evaluated"
    return (f"qos_guard {name!r} is still active: its window ended at {record.get('until')}"
            f" ({format_remaining(now - until_of(record))} ago) but it was not cleared{evaluated}."
            f" Clear it with state=evaluate (the SLOs must pass) or state=unlocked with a reason; {who}")


# --------------------------------------------------------------------------------------------------
# Module
# --------------------------------------------------------------------------------------------------
class QosGuard:
    """One guard in the store; each method returns the module's result."""

    def __init__(self, module: AnsibleModule, store: StateStore, name: str, owner: str) -> None:
        self.module = module
        self.store = store
        self.name = name
        self.owner = owner

    def result(self, before: dict[str, Any] | None, after: dict[str, Any] | None, action: str, now: float,
               **extra: Any) -> dict[str, Any]:
        changed = action in ("locked", "extended", "unlocked")
        current = after if after is not None else before
        result = {"changed": changed, "guard": guard_view(self.name, current, now),
                  "history": list((current or {}).get("history", [])), "decision": action, "evaluation": None,
                  "verdict": None, "state_file": self.store.path(self.name), **extra}
        if self.module._diff:  # pylint: disable=protected-access
            result["diff"] = {"before": guard_view(self.name, before, now) if before else {},
                              "after": guard_view(self.name, current, now) if current else {},
                              "before_header": result["state_file"], "after_header": result["state_file"]}
        return result

    def _change(self, operation: Any) -> dict[str, Any]:
        """Read, apply ``operation(record, now) -> (new | None, action)`` and write, under the guard's mutex."""
        with self.store.mutex(self.name):
            now = time.time()
            before = self.store.read(self.name)
            after, action = operation(before, now)
            if after is not None and not self.module.check_mode:
                self.store.write(self.name, after)
        return self.result(before, after, action, now)

    def lock(self, duration: float, reason: str) -> dict[str, Any]:
        return self._change(lambda record, now: lock(record, self.owner, duration, reason, now))

    def unlock(self, reason: str) -> dict[str, Any]:
        return self._change(lambda record, now: unlock(record, self.owner, reason, now))

    def query(self) -> dict[str, Any]:
        now = time.time()
        record = self.store.read(self.name)
        return self.result(record, None, "none", now)

    def enforce(self) -> dict[str, Any]:
        now = time.time()
        record = self.store.read(self.name)
        message = enforce_message(self.name, record, now)
        if message:
            self.module.fail_json(msg=message, **self.result(record, None, "blocked", now))
        return self.result(record, None, "allowed", now, msg=f"qos_guard {self.name!r} is not active")

    def evaluate(self, client_factory: Any, indicators: list[Indicator], extension: float | None,
                 pass_score: float, marginal_score: float) -> dict[str, Any]:
        now = time.time()
        seen = self.store.read(self.name)
        status = guard_status(seen, now)
        if status != EXPIRED:
            return self.result(seen, None, "waiting" if status == LOCKED else "none", now)
        evaluation = run_check(client_factory(), indicators, time.time(), pass_score, marginal_score)
        evaluation.pop("changed", None)

        def decide(record: dict[str, Any] | None, moment: float) -> tuple[dict[str, Any] | None, str]:
            if record is None or guard_status(record, moment) != EXPIRED or record.get("until") != seen.get("until"):
                return None, "kept"  # locked, extended or unlocked by someone else while Prometheus answered
            return apply_verdict(record, self.owner, evaluation, extension or float(record.get("duration") or 0)
                                 or 300.0, moment)

        result = self._change(decide)
        result.update(evaluation=evaluation, verdict=evaluation["verdict"])
        return result


def _evaluation_setup(module: AnsibleModule) -> tuple[Any, list[Indicator]]:
    params = module.params
    indicators = indicators_from_params(module)
    try:
        config = PrometheusConfig.from_params(params)
    except ValueError as exc:
        module.fail_json(msg=f"option {exc}")
    return (lambda: PrometheusClient(config)), indicators


def main() -> None:
    module = SliModule(argument_spec=argument_spec(), supports_check_mode=True, required_if=REQUIRED_IF,
                       mutually_exclusive=PROMETHEUS_MUTUALLY_EXCLUSIVE,
                       required_together=PROMETHEUS_REQUIRED_TOGETHER)
    module.arguments_checked = True
    params, state = module.params, module.params["state"]
    try:
        name = validate_name(params["name"])
        duration = None if params["duration"] is None else option_duration("duration", params["duration"])
        store = StateStore(params["store_dir"], "guard")
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    for option in ("reason",):
        if state in ("locked", "unlocked") and not (params[option] or "").strip():
            module.fail_json(msg=f"option {option} must not be empty with state={state}")
    guard = QosGuard(module, store, name, params["owner"] or default_owner())
    try:
        if state == "locked":
            result = guard.lock(duration, params["reason"])
        elif state == "unlocked":
            result = guard.unlock(params["reason"])
        elif state == "enforce":
            result = guard.enforce()
        elif state == "evaluate":
            client_factory, indicators = _evaluation_setup(module)
            result = guard.evaluate(client_factory, indicators, duration, params["pass_score"],
                                    params["marginal_score"])
        else:
            result = guard.query()
    except (StateStoreError, IndicatorConfigError) as exc:
        module.fail_json(msg=str(exc), state_file=store.path(name))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
