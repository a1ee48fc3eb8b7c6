# -*- coding: utf-8 -*-
# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Approval gates behind the ``approval`` module: people let a release go on, in the state store (kind
``approval``).

A gate is a record named after what waits, for example ``prod-jp/demo 2026.12.1+3``::

    {"gate": NAME,
     "approvals": [{"by": "alice", "at": RFC 3339, "comment": "..."}],       # the approvals that stand
     "history": [{"event": "approved" | "revoked", "by", "at", "comment"}]}  # append-only

The pure functions (:func:`approve`, :func:`revoke`, :func:`tally`, :func:`progress_line`, :func:`wait`) take the
record, the allowed approvers, the quorum and the time; :class:`ApprovalGate` applies them under the record's mutex.

Who is who: an approver is any text (``alice``, ``alice@laptop``, ``deploy@runner (CI job 7)``). Its *identity*
drops the ``(AWX job N)`` / ``(CI job N)`` suffix that :func:`._state_store.default_owner` adds; it matches an
allowed approver written the same way, or written as the user part before ``@`` (``alice`` matches
``alice@laptop``). An approver counts once however often and from wherever they approve.
"""
from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ansible_collections.progressive.delivery.plugins.module_utils._result import ModuleFailure
from ansible_collections.progressive.delivery.plugins.module_utils._state_store import (
    default_owner,
    now_text,
)
from ansible_collections.progressive.delivery.plugins.module_utils._time import format_remaining

KIND = "approval"
DEFAULT_QUORUM = 1
#: Longest gap between two progress lines while waiting (seconds).
PROGRESS_INTERVAL = 10.0
APPROVED = "approved"
REVOKED = "revoked"
_JOB_SUFFIX = re.compile(r"\s*\((?:(?:AWX|CI) job [^,)]*(?:,\s*)?)+\)\s*$")

Record = dict[str, Any]


# --------------------------------------------------------------------------------------------------
# Who is who
# --------------------------------------------------------------------------------------------------
def identity(approver: str) -> str:
    """``approver`` without the ``(AWX job N)`` / ``(CI job N)`` suffix, trimmed."""
    return _JOB_SUFFIX.sub("", approver).strip()


def user_part(approver: str) -> str:
    """The identity's part before ``@`` (``alice`` of ``alice@laptop``)."""
    return identity(approver).split("@", 1)[0]


def matching(approver: str, allowed: Sequence[str]) -> str | None:
    """The allowed approver ``approver`` is (same identity, or its user part), else ``None``."""
    who = identity(approver)
    for entry in allowed:
        if identity(entry) == who:
            return entry
    for entry in allowed:
        if identity(entry) == user_part(approver):
            return entry
    return None


def key_of(approver: str, allowed: Sequence[str]) -> str | None:
    """Who an approval counts as: the allowed approver it matches, or (no list) its user part; ``None`` when a list
    is given and the approver is not on it."""
    if allowed:
        return matching(approver, allowed)
    return user_part(approver)


def default_approver(environ: Mapping[str, str] | None = None) -> str:
    """The GitLab user who started the job (``GITLAB_USER_LOGIN``, with ``(CI job N)``), else
    :func:`._state_store.default_owner` (``user@host``, plus the AWX or GitLab job)."""
    import os  # pylint: disable=import-outside-toplevel

    environ = os.environ if environ is None else environ
    login = (environ.get("GITLAB_USER_LOGIN") or "").strip()
    if login:
        job = environ.get("CI_JOB_ID")
        return f"{login} (CI job {job})" if job else login
    return default_owner(environ)


# --------------------------------------------------------------------------------------------------
# Validating a gate's settings
# --------------------------------------------------------------------------------------------------
def check_approver(approver: Any, option: str = "approver") -> str:
    if not isinstance(approver, str) or not identity(approver):
        raise ModuleFailure(f"option {option} must be a non-empty name, got {approver!r}", option=option)
    if any(ord(char) < 32 or ord(char) == 127 for char in approver):
        raise ModuleFailure(f"option {option} must not contain control characters, got {approver!r}", option=option)
    return approver.strip()


def check_gate(approvers: Sequence[str] | None, quorum: int) -> list[str]:
    """The allowed approvers as a clean list; :class:`ModuleFailure` naming ``approvers`` or ``quorum``."""
    allowed = [check_approver(entry, "approvers") for entry in (approvers or [])]
    seen: dict[str, str] = {}
    for entry in allowed:
        if identity(entry) in seen:
            raise ModuleFailure(f"option approvers lists {entry!r} twice", option="approvers")
        seen[identity(entry)] = entry
    if isinstance(quorum, bool) or not isinstance(quorum, int) or quorum < 1:
        raise ModuleFailure(f"option quorum must be a whole number of at least 1, got {quorum!r}", option="quorum")
    if allowed and quorum > len(allowed):
        raise ModuleFailure(f"option quorum is {quorum} but only {len(allowed)} approvers may approve"
                            f" ({', '.join(allowed)}): the gate could never open", option="quorum")
    return allowed


# --------------------------------------------------------------------------------------------------
# Pure logic
# --------------------------------------------------------------------------------------------------
def with_event(record: Record, event: dict[str, Any]) -> Record:
    """``record`` with ``event`` appended to its (append-only) history."""
    return {**record, "history": [*record.get("history", []), event]}


def approve(record: Record | None, gate: str, approver: str, comment: str | None, allowed: Sequence[str],
            now: float) -> tuple[Record | None, str]:
    """Record ``approver``'s approval: ``(new record, "approved")``, or ``(None, "none")`` when they already
    approved. :class:`ModuleFailure` (``option=approver``) when ``allowed`` is given and they are not on it."""
    key = key_of(approver, allowed)
    if key is None:
        raise ModuleFailure(f"approver {approver!r} may not approve gate {gate!r}: the allowed approvers are"
                            f" {', '.join(allowed)} (option approvers)", option="approver", allowed=list(allowed))
    record = dict(record or {"gate": gate, "approvals": [], "history": []})
    if any(key_of(entry.get("by", ""), allowed) == key for entry in record.get("approvals", [])):
        return None, "none"
    entry = {"by": approver, "at": now_text(now), "comment": comment or ""}
    record["approvals"] = [*record.get("approvals", []), entry]
    return with_event(record, {"event": APPROVED, **entry}), APPROVED


def revoke(record: Record | None, approver: str, comment: str | None, now: float) -> tuple[Record | None, str]:
    """Withdraw ``approver``'s approval (matched by user part): ``(new, "revoked")`` or ``(None, "none")``."""
    approvals = list((record or {}).get("approvals", []))
    kept = [entry for entry in approvals if user_part(entry.get("by", "")) != user_part(approver)]
    if record is None or len(kept) == len(approvals):
        return None, "none"
    new = {**record, "approvals": kept}
    return with_event(new, {"event": REVOKED, "by": approver, "at": now_text(now), "comment": comment or ""}), REVOKED


@dataclass(frozen=True)
class Tally:
    """What a gate's approvals amount to for ``allowed`` approvers and ``quorum``."""

    approved_by: list[str]  # who counts (allowed approvers, or user parts without a list), in approval order
    ignored: list[str]      # approvals by people not on the list
    pending: list[str]      # allowed approvers who have not approved yet ([] without a list: anyone may)
    quorum: int

    @property
    def met(self) -> bool:
        return len(self.approved_by) >= self.quorum

    @property
    def missing(self) -> int:
        return max(0, self.quorum - len(self.approved_by))


def tally(record: Record | None, allowed: Sequence[str], quorum: int) -> Tally:
    counted: list[str] = []
    ignored: list[str] = []
    for entry in (record or {}).get("approvals", []):
        key = key_of(entry.get("by", ""), allowed)
        if key is None:
            ignored.append(entry.get("by", ""))
        elif key not in counted:
            counted.append(key)
    return Tally(counted, ignored, [entry for entry in allowed if entry not in counted], quorum)


def gate_view(gate: str, record: Record | None, allowed: Sequence[str], quorum: int) -> dict[str, Any]:
    """The gate as the module returns it (``before``/``after``)."""
    counted = tally(record, allowed, quorum)
    return {"name": gate, "approved": counted.met, "quorum": quorum, "approvers": list(allowed),
            "approved_by": counted.approved_by, "pending": counted.pending, "missing": counted.missing,
            "ignored": counted.ignored, "approvals": list((record or {}).get("approvals", []))}


def approvals_text(view: Mapping[str, Any]) -> str:
    approved = ", ".join(view["approved_by"]) or "nobody yet"
    may = ", ".join(view["pending"]) if view["approvers"] else "anyone"
    ignored = f"; not counted (not allowed): {', '.join(view['ignored'])}" if view["ignored"] else ""
    return f"approved by {approved}; may approve: {may}{ignored}"


def progress_line(view: Mapping[str, Any], remaining: float) -> str:
    """One line of the waiting run: the gate, the quorum, who approved so far, who may approve, the time left."""
    return (f"waiting for approval gate {view['name']!r}: {len(view['approved_by'])} of {view['quorum']} approvals"
            f" (quorum {view['quorum']}); {approvals_text(view)}; {format_remaining(remaining)} left")


def timeout_message(view: Mapping[str, Any], timeout: float) -> str:
    return (f"approval gate {view['name']!r} timed out after {format_remaining(timeout)}:"
            f" {len(view['approved_by'])} of {view['quorum']} approvals (quorum {view['quorum']});"
            f" {approvals_text(view)}."
            " Nothing was changed. Approve it (playbooks/promote.yml -e delivery_approve=GATE, an AWX approval"
            " node or a GitLab manual job) and run again")


@dataclass
class WaitResult:
    view: dict[str, Any]
    waited: float
    timed_out: bool
    progress: list[str]


def wait(read: Callable[[], dict[str, Any]], timeout: float, poll_interval: float,
         progress_interval: float = PROGRESS_INTERVAL, report: Callable[[str], None] | None = None,
         clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> WaitResult:
    """Poll ``read() -> gate view`` every ``poll_interval`` until it is approved or ``timeout`` seconds passed.

    A progress line goes to ``report`` at the first look that finds the gate closed, then at least every
    ``progress_interval`` seconds. The gate is looked at once more at the deadline, so an approval given just
    before the timeout still counts.
    """
    start = clock()
    deadline = start + timeout
    next_progress = start
    lines: list[str] = []
    while True:
        view = read()
        now = clock()
        if view["approved"]:
            return WaitResult(view, now - start, False, lines)
        if now >= deadline:
            return WaitResult(view, now - start, True, lines)
        if now >= next_progress:
            line = progress_line(view, deadline - now)
            lines.append(line)
            if report:
                report(line)
            next_progress = now + progress_interval
        sleep(max(0.0, min(poll_interval, deadline - now, next_progress - now)))


# --------------------------------------------------------------------------------------------------
# The gate in the store
# --------------------------------------------------------------------------------------------------
@dataclass
class GateOutcome:
    name: str
    before: Record | None
    after: Record | None
    decision: str
    state_file: str
    allowed: list[str]
    quorum: int

    @property
    def changed(self) -> bool:
        return self.decision in (APPROVED, REVOKED)

    @property
    def current(self) -> Record | None:
        return self.after if self.after is not None else self.before

    def fields(self) -> dict[str, Any]:
        before = gate_view(self.name, self.before, self.allowed, self.quorum)
        after = gate_view(self.name, self.current, self.allowed, self.quorum)
        return {"changed": self.changed, "before": before, "after": after, "decision": self.decision,
                "approved": after["approved"], "history": list((self.current or {}).get("history", [])),
                "state_file": self.state_file}


class ApprovalGate:
    """One gate in the store (``open_store("approval", ...)``)."""

    def __init__(self, store: Any, name: str, allowed: Sequence[str], quorum: int, check_mode: bool = False) -> None:
        self.store = store
        self.name = name
        self.allowed = list(allowed)
        self.quorum = quorum
        self.check_mode = check_mode

    @property
    def state_file(self) -> str:
        return self.store.path(self.name)

    def _outcome(self, before: Record | None, after: Record | None, decision: str) -> GateOutcome:
        return GateOutcome(self.name, before, after, decision, self.state_file, self.allowed, self.quorum)

    def _change(self, operation: Callable[[Any, float], tuple[Any, str]]) -> GateOutcome:
        with self.store.mutex(self.name):
            before = self.store.read(self.name)
            after, decision = operation(before, time.time())
            if after is not None and not self.check_mode:
                self.store.write(self.name, after)
        return self._outcome(before, after, decision)

    def approve(self, approver: str, comment: str | None) -> GateOutcome:
        return self._change(lambda record, now: approve(record, self.name, approver, comment, self.allowed, now))

    def revoke(self, approver: str, comment: str | None) -> GateOutcome:
        return self._change(lambda record, now: revoke(record, approver, comment, now))

    def status(self) -> GateOutcome:
        return self._outcome(self.store.read(self.name), None, "none")

    def view(self) -> dict[str, Any]:
        return gate_view(self.name, self.store.read(self.name), self.allowed, self.quorum)
