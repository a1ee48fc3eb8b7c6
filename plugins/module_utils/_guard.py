# -*- coding: utf-8 -*-
# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The post-rollback guard behind ``qos_guard``: lock, extend, unlock, enforce and evaluate, in the state store.

A guard record is a dict (``None`` when the guard was never locked). The pure functions (:func:`lock`,
:func:`unlock`, :func:`apply_verdict`, :func:`enforce_message`, ...) take the record and the time and return the
new record and the decision. :class:`QosGuard` applies them under the record's mutex and returns a
:class:`GuardOutcome`; a blocking guard raises :class:`GuardBlocked` (a :class:`ModuleFailure` carrying the same
fields). The SLO evaluation is passed in as a callable, so this file needs neither Prometheus nor the judges.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ansible_collections.progressive.delivery.plugins.module_utils._judge import FAIL, PASS
from ansible_collections.progressive.delivery.plugins.module_utils._result import ModuleFailure
from ansible_collections.progressive.delivery.plugins.module_utils._state_store import (
    StateStore,
    now_text,
)
from ansible_collections.progressive.delivery.plugins.module_utils._time import format_remaining, parse_time

#: Events kept in a guard's history.
HISTORY_LIMIT = 50
UNLOCKED = "unlocked"
LOCKED = "locked"
EXPIRED = "expired"
#: Decisions that change the guard.
CHANGES = ("locked", "extended", "unlocked")
#: How far a failing evaluation extends a guard that has no duration recorded.
DEFAULT_EXTENSION = 300.0

Record = dict[str, Any]


# --------------------------------------------------------------------------------------------------
# Pure logic
# --------------------------------------------------------------------------------------------------
def until_of(record: Record) -> float:
    """End of the window as unix time; unreadable counts as long passed (the guard then still blocks)."""
    try:
        return parse_time(record["until"])
    except (KeyError, TypeError, ValueError):
        return 0.0


def guard_status(record: Record | None, now: float) -> str:
    """``unlocked``, ``locked`` (window running) or ``expired`` (window passed, not cleared: still blocks)."""
    if not record or not record.get("locked"):
        return UNLOCKED
    return LOCKED if until_of(record) > now else EXPIRED


def guard_view(name: str, record: Record | None, now: float) -> dict[str, Any]:
    """The guard as the module returns it: the record without its history, with status and remaining time."""
    record = record or {}
    status = guard_status(record, now)
    remaining = max(0.0, until_of(record) - now) if status == LOCKED else 0.0
    fields = ("reason", "locked_by", "locked_at", "until", "duration", "unlocked_at", "unlocked_by",
              "unlock_reason", "last_evaluation")
    return {"name": name, "status": status, "active": status != UNLOCKED, "remaining": format_remaining(remaining),
            "remaining_seconds": round(remaining, 3), **{key: record.get(key) for key in fields}}


def with_event(record: Record, event: dict[str, Any]) -> Record:
    """``record`` with ``event`` appended to its history, keeping the last :data:`HISTORY_LIMIT`."""
    history = [*record.get("history", []), event][-HISTORY_LIMIT:]
    return {**record, "history": history}


def lock(record: Record | None, owner: str, duration: float, reason: str, now: float) -> tuple[Record | None, str]:
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


def unlock(record: Record | None, owner: str, reason: str, now: float) -> tuple[Record | None, str]:
    """Clear the guard (``unlocked``); ``(None, "none")`` when it is not locked."""
    if guard_status(record, now) == UNLOCKED:
        return None, "none"
    record = {**(record or {}), "locked": False, "unlocked_at": now_text(now), "unlocked_by": owner,
              "unlock_reason": reason}
    return with_event(record, {"event": "unlocked", "at": now_text(now), "by": owner, "reason": reason}), "unlocked"


def apply_verdict(record: Record, owner: str, evaluation: dict[str, Any], extension: float, now: float
                  ) -> tuple[Record, str]:
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


def enforce_message(name: str, record: Record | None, now: float) -> str | None:
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
# Outcomes and failures
# --------------------------------------------------------------------------------------------------
@dataclass
class GuardOutcome:
    """The record a task found (``before``) and left (``after``; ``None`` when it wrote nothing), and why."""

    name: str
    before: Record | None
    after: Record | None
    decision: str
    now: float
    state_file: str
    evaluation: dict[str, Any] | None = None

    @property
    def changed(self) -> bool:
        return self.decision in CHANGES

    @property
    def current(self) -> Record | None:
        """The record after the task (as it would be, in check mode)."""
        return self.after if self.after is not None else self.before

    def view(self, record: Record | None) -> dict[str, Any] | None:
        """:func:`guard_view` of ``record``, ``None`` when there is no record (the guard was never locked)."""
        return None if record is None else guard_view(self.name, record, self.now)

    def fields(self) -> dict[str, Any]:
        """``changed``, ``before``/``after`` (views of the record) and the module's own keys."""
        return {"changed": self.changed, "before": self.view(self.before), "after": self.view(self.current),
                "history": list((self.current or {}).get("history", [])), "decision": self.decision,
                "evaluation": self.evaluation, "verdict": (self.evaluation or {}).get("verdict"),
                "state_file": self.state_file}


class GuardBlocked(ModuleFailure):
    """``state=enforce`` found the guard active. Carries the outcome's fields as the partial result."""

    def __init__(self, msg: str, outcome: GuardOutcome) -> None:
        super().__init__(msg, None, **outcome.fields())
        self.outcome = outcome


# --------------------------------------------------------------------------------------------------
# The guard in the store
# --------------------------------------------------------------------------------------------------
#: (record or None, now) -> (new record or None, decision); a runtime alias, so no ``X | None`` here
Operation = Callable[[Any, float], tuple[Any, str]]


class QosGuard:
    """One guard in the store; every method returns a :class:`GuardOutcome`."""

    def __init__(self, store: StateStore, name: str, owner: str, check_mode: bool = False) -> None:
        self.store = store
        self.name = name
        self.owner = owner
        self.check_mode = check_mode

    @property
    def state_file(self) -> str:
        return self.store.path(self.name)

    def _outcome(self, before: Record | None, after: Record | None, decision: str, now: float) -> GuardOutcome:
        return GuardOutcome(self.name, before, after, decision, now, self.state_file)

    def _change(self, operation: Operation) -> GuardOutcome:
        """Read, apply ``operation(record, now) -> (new | None, decision)`` and write, under the guard's mutex."""
        with self.store.mutex(self.name):
            now = time.time()
            before = self.store.read(self.name)
            after, decision = operation(before, now)
            if after is not None and not self.check_mode:
                self.store.write(self.name, after)
        return self._outcome(before, after, decision, now)

    def lock(self, duration: float, reason: str) -> GuardOutcome:
        return self._change(lambda record, now: lock(record, self.owner, duration, reason, now))

    def unlock(self, reason: str) -> GuardOutcome:
        return self._change(lambda record, now: unlock(record, self.owner, reason, now))

    def query(self) -> GuardOutcome:
        return self._outcome(self.store.read(self.name), None, "none", time.time())

    def enforce(self) -> GuardOutcome:
        """``allowed``, or :class:`GuardBlocked` with the reason, who locked it and the remaining time."""
        now = time.time()
        record = self.store.read(self.name)
        message = enforce_message(self.name, record, now)
        if message:
            raise GuardBlocked(message, self._outcome(record, None, "blocked", now))
        return self._outcome(record, None, "allowed", now)

    def evaluate(self, judge: Callable[[], dict[str, Any]], extension: float | None) -> GuardOutcome:
        """Once the window has passed, ``judge()`` (an SLO check result) decides: unlock, extend or keep.

        Prometheus is queried without holding the mutex; the verdict is applied only if nobody locked, extended or
        unlocked the guard in the meantime (else ``kept``).
        """
        now = time.time()
        seen = self.store.read(self.name)
        status = guard_status(seen, now)
        if status != EXPIRED or seen is None:
            return self._outcome(seen, None, "waiting" if status == LOCKED else "none", now)
        evaluation = dict(judge())
        evaluation.pop("changed", None)

        def decide(record: Record | None, moment: float) -> tuple[Record | None, str]:
            if record is None or guard_status(record, moment) != EXPIRED or record.get("until") != seen.get("until"):
                return None, "kept"
            extend_by = extension or float(record.get("duration") or 0) or DEFAULT_EXTENSION
            return apply_verdict(record, self.owner, evaluation, extend_by, moment)

        outcome = self._change(decide)
        outcome.evaluation = evaluation
        return outcome
