# -*- coding: utf-8 -*-
# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The release record behind ``release_record``: one per environment and app, kind ``release`` of the state store.

The record says which pool is stable and which is the candidate, what runs in each pool, the release in progress
(``current``) with every step and its evidence, and the releases that ended (``history``, append-only, newest
last)::

    {environment, app, stable_pool, pools: {blue: {...}, green: {...}}, current: {...} | null, history: [...],
     updated_at}

The transitions (:func:`start`, :func:`add_step`, :func:`finish`, :func:`declare_pools`) are pure: they take a
record and return the new one (the same content when there is nothing to do, which makes every state idempotent),
and raise :class:`ModuleFailure` naming the option at fault. :class:`ReleaseRecord` runs one of them as a
read-modify-write under the record's mutex (:meth:`StateStore.mutex`), so of two racing starts exactly one wins.
Standard library only: no HTTP client is loaded.
"""
from __future__ import annotations

import copy
import math
import re
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from ansible_collections.progressive.delivery.plugins.module_utils._result import ModuleFailure
from ansible_collections.progressive.delivery.plugins.module_utils._state_store import (
    CorruptStateError,
    StateStore,
    StateStoreError,
    now_text,
)

KIND = "release"
DEFAULT_POOL_NAMES = ("blue", "green")
STATES = ("query", "started", "step", "finished", "pools")
OUTCOMES = ("promoted", "rolled_back", "aborted")
STRATEGIES = ("canary", "blue_green", "rolling", "rollback")
#: What a pool runs: the fields a release records on the pool it is deployed to.
POOL_FIELDS = ("version", "digest", "image", "release_id", "git_sha")
#: Roles a pool can have. ``candidate`` only while a release is current.
ROLES = ("stable", "candidate", "previous", "idle")
RELEASE_FIELDS = ("id", "version", "digest", "image", "git_sha", "strategy", "started_by", "plan", "override")
#: What an override of a blackout window or freeze records: why, what it overrode, who.
OVERRIDE_FIELDS = ("reason", "windows", "by")
STEP_FIELDS = ("index", "of", "weight", "verdict", "started_at", "ended_at", "analysis", "note")
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")

Record = dict[str, Any]


# --------------------------------------------------------------------------------------------------
# Shapes
# --------------------------------------------------------------------------------------------------
def record_name(environment: Any, app: Any) -> str:
    """``<environment>/<app>``; a :class:`ModuleFailure` naming the option that is empty or has ``/`` or control
    characters."""
    for option, value in (("environment", environment), ("app", app)):
        if not isinstance(value, str) or not value.strip():
            raise ModuleFailure(f"option {option} must be a non-empty string", option=option)
        if "/" in value or any(ord(char) < 32 or ord(char) == 127 for char in value):
            raise ModuleFailure(f"option {option} must not contain '/' or control characters, got {value!r}",
                                option=option)
    return f"{environment}/{app}"


def empty_pool(role: str = "idle") -> dict[str, Any]:
    return {**dict.fromkeys(POOL_FIELDS), "role": role, "outcome": None}


def empty_record(environment: str, app: str, pool_names: Sequence[str]) -> Record:
    """The record of an environment nothing was recorded for: no stable pool, every pool idle, no history."""
    return {"environment": environment, "app": app, "stable_pool": None,
            "pools": {name: empty_pool() for name in pool_names}, "current": None, "history": [],
            "updated_at": None}


def new_release_id(now: float) -> str:
    """A new, unique release id that sorts by start time, for example ``20261121T100000Z-3f9a1c2b``."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now)) + "-" + uuid.uuid4().hex[:8]


def json_safe(value: Any) -> Any:
    """``value`` with non-finite floats (NaN, infinity: no JSON for them) written as text, e.g. ``"nan"``."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, Mapping):
        return {str(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(item) for item in value]
    return value


def find_release(record: Record, release_id: str | None) -> dict[str, Any] | None:
    """The current release or the history entry with ``release_id`` (the newest one), else ``None``."""
    if not release_id:
        return None
    current = record.get("current")
    if current and current.get("id") == release_id:
        return current
    return next((entry for entry in reversed(record.get("history") or []) if entry.get("id") == release_id), None)


def views(record: Record | None) -> dict[str, Any]:
    """The keys every result has next to the record: ``stable_pool``, ``candidate_pool``, ``pools``, ``current``,
    ``last`` (newest history entry)."""
    record = record or {}
    current = record.get("current")
    history = record.get("history") or []
    return {"stable_pool": record.get("stable_pool"),
            "candidate_pool": current.get("candidate_pool") if current else None,
            "pools": record.get("pools") or {}, "current": current, "last": history[-1] if history else None}


def describe(release: Mapping[str, Any]) -> str:
    """``release ID (version V, digest D)``, for messages."""
    return f"release {release.get('id')!r} (version {release.get('version')}, digest {release.get('digest')})"


# --------------------------------------------------------------------------------------------------
# Validation of the options
# --------------------------------------------------------------------------------------------------
def validate_pool_names(pool_names: Any) -> list[str]:
    names = list(pool_names or [])
    if len(names) < 2 or len(set(names)) != len(names) or not all(isinstance(n, str) and n for n in names):
        raise ModuleFailure(f"option pool_names must list at least two distinct pool names, got {names!r}",
                            option="pool_names")
    return names


def validate_release(release: Mapping[str, Any] | None, owner: str, now: float) -> dict[str, Any]:
    """The ``release`` option, complete (``id`` and ``started_by`` filled in); a :class:`ModuleFailure` naming
    ``release`` when a field is missing or wrong."""
    if not isinstance(release, Mapping):
        raise ModuleFailure("option release is required with state=started (version, digest, image)",
                            option="release")
    unknown = sorted(set(release) - set(RELEASE_FIELDS))
    if unknown:
        raise ModuleFailure(f"option release: unknown field(s) {', '.join(unknown)}; known:"
                            f" {', '.join(RELEASE_FIELDS)}", option="release")
    fields = {key: release.get(key) for key in RELEASE_FIELDS}
    for key in ("version", "digest", "image"):
        if not isinstance(fields[key], str) or not fields[key].strip():
            raise ModuleFailure(f"option release: {key} is required (a non-empty string)", option="release")
    if not _DIGEST.match(fields["digest"]):
        raise ModuleFailure(f"option release: digest must be sha256:<64 lowercase hex digits>, got"
                            f" {fields['digest']!r}", option="release")
    repository, _at, image_digest = fields["image"].partition("@")
    if not repository or image_digest != fields["digest"]:
        raise ModuleFailure(f"option release: image must be pinned by the release's digest (repo@{fields['digest']}),"
                            f" got {fields['image']!r}", option="release")
    if fields["strategy"] is not None and fields["strategy"] not in STRATEGIES:
        raise ModuleFailure(f"option release: strategy must be one of {', '.join(STRATEGIES)}, got"
                            f" {fields['strategy']!r}", option="release")
    if fields["plan"] is not None and not isinstance(fields["plan"], Mapping):
        raise ModuleFailure("option release: plan must be a dictionary", option="release")
    fields["id"] = fields["id"] or new_release_id(now)
    fields["started_by"] = fields["started_by"] or owner
    fields["plan"] = json_safe(fields["plan"] or {})
    fields["override"] = validate_override(fields["override"], fields["started_by"])
    return fields


def validate_override(override: Any, started_by: str) -> dict[str, Any] | None:
    """``release.override`` (a deploy let through a blackout window or freeze) complete with ``by``, or ``None``.

    The reason must be non-empty: an override without one is refused, never recorded."""
    if override is None:
        return None
    if not isinstance(override, Mapping):
        raise ModuleFailure("option release: override must be a dictionary {reason, windows, by}", option="release")
    unknown = sorted(str(key) for key in set(override) - set(OVERRIDE_FIELDS))
    if unknown:
        raise ModuleFailure(f"option release: override has unknown field(s) {', '.join(unknown)}; known:"
                            f" {', '.join(OVERRIDE_FIELDS)}", option="release")
    reason = override.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        raise ModuleFailure("option release: override.reason is required (a non-empty string: why the deploy went"
                            " ahead inside a blackout window or freeze)", option="release")
    windows = override.get("windows") or []
    if not isinstance(windows, (list, tuple)) or not all(isinstance(item, (Mapping, str)) for item in windows):
        raise ModuleFailure("option release: override.windows must be a list (the windows and freezes overridden,"
                            " names or dictionaries)", option="release")
    by = override.get("by")
    if by is not None and not isinstance(by, str):
        raise ModuleFailure(f"option release: override.by must be a string, got {by!r}", option="release")
    return json_safe({"reason": reason.strip(), "windows": list(windows), "by": (by or "").strip() or started_by})


def validate_step(step: Mapping[str, Any] | None) -> dict[str, Any]:
    """The ``step`` option with every field (missing ones ``None``); :class:`ModuleFailure` naming ``step``."""
    if not isinstance(step, Mapping):
        raise ModuleFailure("option step is required with state=step", option="step")
    unknown = sorted(set(step) - set(STEP_FIELDS))
    if unknown:
        raise ModuleFailure(f"option step: unknown field(s) {', '.join(unknown)}; known: {', '.join(STEP_FIELDS)}",
                            option="step")
    fields = {key: step.get(key) for key in STEP_FIELDS}
    for key, low in (("index", 0), ("of", 1)):
        value = fields[key]
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < low):
            raise ModuleFailure(f"option step: {key} must be an integer >= {low}, got {value!r}", option="step")
    weight = fields["weight"]
    if weight is not None and (isinstance(weight, bool) or not isinstance(weight, (int, float))
                               or not 0 <= weight <= 100):
        raise ModuleFailure(f"option step: weight must be a percentage between 0 and 100, got {weight!r}",
                            option="step")
    if fields["index"] is not None and fields["of"] is not None and fields["index"] > fields["of"]:
        raise ModuleFailure(f"option step: index {fields['index']} is past of={fields['of']}", option="step")
    return json_safe(fields)


def validate_pools(pools: Mapping[str, Any] | None, stable_pool: str | None, pool_names: Sequence[str]
                   ) -> dict[str, dict[str, Any]]:
    """The ``pools`` option as the record's pools (every pool in ``pool_names``, roles filled in)."""
    if not isinstance(pools, Mapping) or not pools:
        raise ModuleFailure("option pools must map pool names to what runs there", option="pools")
    unknown = sorted(set(pools) - set(pool_names))
    if unknown:
        raise ModuleFailure(f"option pools: {', '.join(unknown)} not in pool_names ({', '.join(pool_names)});"
                            " set pool_names to the environment's pools", option="pools")
    if stable_pool not in pools:
        raise ModuleFailure(f"option stable_pool must be one of the declared pools ({', '.join(pools)}), got"
                            f" {stable_pool!r}", option="stable_pool")
    declared = {}
    for name in pool_names:
        entry = pools.get(name)
        if entry is None:
            declared[name] = empty_pool()
            continue
        if not isinstance(entry, Mapping):
            raise ModuleFailure(f"option pools: {name} must be a dictionary", option="pools")
        bad = sorted(set(entry) - {*POOL_FIELDS, "role"})
        if bad:
            raise ModuleFailure(f"option pools: {name} has unknown field(s) {', '.join(bad)}; known:"
                                f" {', '.join(POOL_FIELDS)}, role", option="pools")
        digest = entry.get("digest")
        if digest is not None and not (isinstance(digest, str) and _DIGEST.match(digest)):
            raise ModuleFailure(f"option pools: {name}.digest must be sha256:<64 lowercase hex digits>, got"
                                f" {digest!r}", option="pools")
        role = entry.get("role")
        allowed = ("stable",) if name == stable_pool else ("previous", "idle")
        if role is not None and role not in allowed:
            raise ModuleFailure(f"option pools: {name}.role must be {' or '.join(allowed)}"
                                f" ({'the' if name == stable_pool else 'not the'} stable_pool), got {role!r}",
                                option="pools")
        declared[name] = {**empty_pool(role or allowed[-1]), **{key: entry.get(key) for key in POOL_FIELDS}}
    return declared


# --------------------------------------------------------------------------------------------------
# Transitions (pure: record in, new record out)
# --------------------------------------------------------------------------------------------------
def default_candidate(record: Record, pool_names: Sequence[str]) -> str:
    """The first pool of ``pool_names`` that is not the stable pool."""
    return next(name for name in pool_names if name != record.get("stable_pool"))


def _finished_message(entry: Mapping[str, Any]) -> str:
    reason = f" ({entry.get('reason')})" if entry.get("reason") else ""
    return f"{describe(entry)} already finished: {entry.get('outcome')} at {entry.get('ended_at')}{reason}"


def start(record: Record, release: Mapping[str, Any], now: str, pool_names: Sequence[str],
          candidate_pool: str | None = None, takeover: bool = False) -> Record:
    """``record`` with ``release`` (validated, see :func:`validate_release`) as the current release.

    The same release (same id and digest) already current is no change: a rerun after a crash continues it.
    Another current release fails naming ``release`` unless ``takeover``, which finishes it as ``aborted``.
    """
    current = record.get("current")
    if current and current.get("id") == release["id"]:
        if current.get("digest") != release["digest"]:
            raise ModuleFailure(f"{describe(current)} is current; release id {release['id']!r} cannot start again"
                                f" with digest {release['digest']}", option="release")
        if candidate_pool and candidate_pool != current.get("candidate_pool"):
            raise ModuleFailure(f"{describe(current)} is current on candidate pool {current.get('candidate_pool')!r},"
                                f" not {candidate_pool!r}", option="candidate_pool")
        return copy.deepcopy(record)
    finished = find_release(record, release["id"])
    if finished is not None:
        raise ModuleFailure(_finished_message(finished) + "; start a new release (another id)", option="release")
    if current:
        if not takeover:
            step = (current.get("steps") or [{}])[-1]
            at = f", last step {step.get('index')}/{step.get('of')}" if current.get("steps") else ""
            raise ModuleFailure(f"{describe(current)} is current in {record.get('environment')}/{record.get('app')}"
                                f" since {current.get('started_at')}, started by {current.get('started_by')!r}"
                                f"{at}; finish it (state=finished) or start with takeover=true", option="release")
        record = finish(record, current["id"], "aborted", f"taken over by {release['started_by']}", now,
                        ended_by=release["started_by"])
    record = copy.deepcopy(record)
    candidate = candidate_pool or default_candidate(record, pool_names)
    if candidate not in pool_names:
        raise ModuleFailure(f"option candidate_pool must be one of pool_names ({', '.join(pool_names)}), got"
                            f" {candidate!r}", option="candidate_pool")
    stable = record.get("stable_pool")
    if candidate == stable:
        raise ModuleFailure(f"option candidate_pool: {candidate!r} is the stable pool; the candidate must be"
                            " another pool", option="candidate_pool")
    baseline = {key: (record["pools"].get(stable) or {}).get(key) for key in POOL_FIELDS} if stable else None
    record["current"] = {
        **{key: copy.deepcopy(release[key]) for key in RELEASE_FIELDS},
        "started_at": now, "candidate_pool": candidate, "stable_pool": stable, "baseline": baseline,
        "took_over": current["id"] if current else None, "steps": [],
        "ended_at": None, "ended_by": None, "outcome": None, "reason": None,
    }
    record["pools"][candidate] = {**{key: release.get(key) for key in POOL_FIELDS}, "release_id": release["id"],
                                  "role": "candidate", "outcome": None}
    return record


def _not_current(record: Record, release_id: str | None, option: str = "release_id") -> ModuleFailure:
    current = record.get("current")
    entry = find_release(record, release_id)
    if entry is not None:
        msg = _finished_message(entry) + " and is no longer current"
    elif current:
        msg = f"release {release_id!r} is not the current release; {describe(current)} is"
    else:
        msg = f"release {release_id!r} is not in the record of {record.get('environment')}/{record.get('app')}"
    if current is None:
        msg += " (no release is current)"
    return ModuleFailure(msg, option=option)


def _without(mapping: Mapping[str, Any], key: str) -> dict[str, Any]:
    return {name: value for name, value in mapping.items() if name != key}


def add_step(record: Record, release_id: str, step: Mapping[str, Any], now: str) -> Record:
    """``record`` with ``step`` appended to the current release's steps. ``release_id`` must be the current
    release (a deploy whose release was rolled back or taken over notices here). A step already recorded (the same
    fields) is no change."""
    current = record.get("current")
    if not current or current.get("id") != release_id:
        raise _not_current(record, release_id)
    record = copy.deepcopy(record)
    steps = record["current"].setdefault("steps", [])
    if any(_without(existing, "recorded_at") == dict(step) for existing in steps):
        return record
    steps.append({**copy.deepcopy(dict(step)), "recorded_at": now})
    return record


def finish(record: Record, release_id: str | None, outcome: str, reason: str | None, now: str,
           ended_by: str | None = None, force: bool = False) -> Record:
    """``record`` with the current release ended (``outcome``) and appended to ``history``; ``current`` null.

    ``promoted``: the candidate pool becomes stable, the old stable pool ``previous``. ``rolled_back``/``aborted``:
    stable unchanged, the candidate pool ``idle`` (keeping what was deployed there, with the outcome). Finishing a
    release that already finished with the same outcome is no change; ``force`` finishes whatever is current
    without ``release_id`` (and is no change when nothing is).
    """
    if outcome not in OUTCOMES:
        raise ModuleFailure(f"option outcome must be one of {', '.join(OUTCOMES)}, got {outcome!r}", option="outcome")
    current = record.get("current")
    if not release_id and not force:
        raise ModuleFailure("option release_id is required with state=finished (or force=true to finish whatever"
                            " release is current)", option="release_id")
    if release_id and (not current or current.get("id") != release_id):
        entry = find_release(record, release_id)
        if entry is not None:
            if entry.get("outcome") == outcome:
                return copy.deepcopy(record)
            raise ModuleFailure(_finished_message(entry) + f"; it cannot also be {outcome}", option="outcome")
        raise _not_current(record, release_id)
    if not current:
        return copy.deepcopy(record)
    record = copy.deepcopy(record)
    current = record["current"]
    candidate, stable = current.get("candidate_pool"), record.get("stable_pool")
    deployed = {key: current.get(key) for key in POOL_FIELDS if key != "release_id"}
    if outcome == "promoted":
        if stable and stable != candidate and stable in record["pools"]:
            record["pools"][stable] = {**record["pools"][stable], "role": "previous", "outcome": None}
        record["pools"][candidate] = {**deployed, "release_id": current["id"], "role": "stable", "outcome": None}
        record["stable_pool"] = candidate
    else:
        record["pools"][candidate] = {**deployed, "release_id": current["id"], "role": "idle", "outcome": outcome}
    record["history"].append({**current, "ended_at": now, "ended_by": ended_by, "outcome": outcome,
                              "reason": reason})
    record["current"] = None
    return record


def declare_pools(record: Record, pools: Mapping[str, dict[str, Any]], stable_pool: str, now: str,
                  owner: str, reason: str | None = None, force: bool = False) -> Record:
    """``record`` with ``pools`` (validated, see :func:`validate_pools`) and ``stable_pool`` as declared. A current
    release fails naming ``pools``; with ``force`` it is finished as ``aborted`` first."""
    current = record.get("current")
    if current:
        if not force:
            raise ModuleFailure(f"{describe(current)} is current (since {current.get('started_at')}, started by"
                                f" {current.get('started_by')!r}); finish it before declaring the pools, or use"
                                " force=true to abort it", option="pools")
        record = finish(record, current["id"], "aborted", reason or f"pools declared by {owner} with force=true",
                        now, ended_by=owner)
    record = copy.deepcopy(record)
    record["pools"] = copy.deepcopy(dict(pools))
    record["stable_pool"] = stable_pool
    return record


def history_kept(before: Record, after: Record) -> bool:
    """Whether ``after`` keeps every history entry of ``before`` as it was (append-only)."""
    old = before.get("history") or []
    return (after.get("history") or [])[:len(old)] == old


# --------------------------------------------------------------------------------------------------
# Read-modify-write in the store
# --------------------------------------------------------------------------------------------------
@dataclass
class ReleaseOutcome:
    """What a task found (``before``) and left (``after``, as it would in check mode), and the release touched."""

    changed: bool
    before: Record | None
    after: Record | None
    state_file: str
    release: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class ReleaseRecord:
    """One environment's release record. Each method is one read-modify-write under the record's mutex."""

    def __init__(self, store: StateStore, environment: str, app: str, owner: str,
                 pool_names: Sequence[str] = DEFAULT_POOL_NAMES, check_mode: bool = False,
                 warn: Callable[[str], None] | None = None, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.environment = environment
        self.app = app
        self.name = record_name(environment, app)
        self.owner = owner
        self.pool_names = validate_pool_names(pool_names)
        self.check_mode = check_mode
        self.warn = warn or (lambda _text: None)
        self.clock = clock

    @property
    def state_file(self) -> str:
        return self.store.path(self.name)

    def _read(self) -> Record | None:
        try:
            return self.store.read(self.name)
        except CorruptStateError as exc:
            raise ModuleFailure(str(exc), state_file=exc.path) from None

    def _apply(self, transition: Callable[[Record, float], Record],
               touched: Callable[[Record], dict[str, Any] | None]) -> ReleaseOutcome:
        try:
            with self.store.mutex(self.name):
                now = self.clock()
                before = self._read()
                base = before if before is not None else empty_record(self.environment, self.app, self.pool_names)
                try:
                    after = transition(base, now)
                except ModuleFailure as failure:
                    failure.result.update(changed=False, before=before, after=before, state_file=self.state_file)
                    raise
                if after == base:
                    return ReleaseOutcome(False, before, before, self.state_file, touched(base))
                if not history_kept(base, after):  # a bug, never the user's fault: refuse to rewrite the past
                    raise ModuleFailure(f"release record {self.name!r}: refusing to rewrite its history",
                                        changed=False, before=before, after=before, state_file=self.state_file)
                after = {**after, "updated_at": now_text(now)}
                if not self.check_mode:
                    self.store.write(self.name, after)
                return ReleaseOutcome(True, before, after, self.state_file, touched(after))
        except StateStoreError as exc:
            raise ModuleFailure(str(exc), option=exc.option, state_file=self.state_file) from None

    def query(self) -> ReleaseOutcome:
        """The record as it is (no mutex: a write replaces the file atomically, so a read sees a whole record)."""
        try:
            record = self._read()
        except StateStoreError as exc:
            raise ModuleFailure(str(exc), option=exc.option, state_file=self.state_file) from None
        return ReleaseOutcome(False, record, record, self.state_file, (record or {}).get("current"))

    def start(self, release: Mapping[str, Any], candidate_pool: str | None = None,
              takeover: bool = False) -> ReleaseOutcome:
        taken: list[dict[str, Any]] = []

        def transition(record: Record, now: float) -> Record:
            fields = validate_release(release, self.owner, now)
            after = start(record, fields, now_text(now), self.pool_names, candidate_pool, takeover)
            current = record.get("current")
            if current and current.get("id") != fields["id"]:
                taken.append(current)
            return after

        outcome = self._apply(transition, lambda record: record.get("current"))
        for old in taken:
            self.warn(f"release record {self.name!r}: took over {describe(old)}, started by"
                      f" {old.get('started_by')!r} at {old.get('started_at')}; it is recorded as aborted")
        return outcome

    def step(self, release_id: str, step: Mapping[str, Any]) -> ReleaseOutcome:
        fields = validate_step(step)
        return self._apply(lambda record, now: add_step(record, release_id, fields, now_text(now)),
                           lambda record: find_release(record, release_id))

    def finish(self, release_id: str | None, outcome: str, reason: str | None = None,
               force: bool = False) -> ReleaseOutcome:
        ended: list[str] = []

        def transition(record: Record, now: float) -> Record:
            current = record.get("current")
            if current and not release_id:
                ended.append(current["id"])
            return finish(record, release_id, outcome, reason, now_text(now), self.owner, force)

        return self._apply(transition, lambda record: find_release(record, release_id or next(iter(ended), None)))

    def declare(self, pools: Mapping[str, Any], stable_pool: str, reason: str | None = None,
                force: bool = False) -> ReleaseOutcome:
        declared = validate_pools(pools, stable_pool, self.pool_names)
        aborted: list[dict[str, Any]] = []

        def transition(record: Record, now: float) -> Record:
            if record.get("current") and force:
                aborted.append(record["current"])
            return declare_pools(record, declared, stable_pool, now_text(now), self.owner, reason, force)

        outcome = self._apply(transition, lambda record: None)
        for old in aborted:
            self.warn(f"release record {self.name!r}: aborted {describe(old)} (force=true) to declare the pools")
        return outcome
