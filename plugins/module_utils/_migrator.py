# -*- coding: utf-8 -*-
# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""One run of the ``schema_migrate`` module, on top of :mod:`._migrations` (files, lint, plan, runner).

* :func:`validate_options` and :func:`load_migrations` check the options and read the files; they raise
  :class:`~._result.ModuleFailure` naming the option at fault.
* :func:`migrate` connects, takes golang-migrate's advisory locks, and runs a :class:`Migrator`: force a version, or
  plan, lint, then apply (or dry-run in check mode) the files of a phase. It returns an :class:`Outcome` (the
  version table before and after, what ran, what is pending, the lint findings).
* Every failure of a run raises :class:`MigrationRunFailed`, which carries the message, the option at fault (when
  one is) and the :class:`Outcome` so far (files already applied, the dirty version), so the module can report a
  partial result and fail once, in ``main()``.
"""
from __future__ import annotations

import contextlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ansible_collections.progressive.delivery.plugins.module_utils._migrations import (
    DatabaseError,
    Migration,
    MigrationError,
    MigrationFailed,
    Runner,
    Settings,
    Step,
    connection_settings,
    discover,
    lint_migration,
    parse_target,
    pending,
    plan,
    split_table_name,
)
from ansible_collections.progressive.delivery.plugins.module_utils._result import ModuleFailure

#: Options with a lower bound: (option, minimum).
MINIMUMS = (("batch_size", 1), ("steps", 1), ("batch_pause", 0), ("max_batches", 0), ("lock_retries", 0),
            ("connect_timeout", 1))
#: PostgreSQL time settings (lock_timeout, statement_timeout): a number (milliseconds) or a number with a unit.
_PG_DURATION_RE = re.compile(r"^\s*[0-9]+(?:\.[0-9]+)?\s*(?:us|ms|s|min|h|d)?\s*$")
DURATION_OPTIONS = ("lock_timeout", "lock_wait", "statement_timeout")


# --------------------------------------------------------------------------------------------------
# options and files
# --------------------------------------------------------------------------------------------------
def option_problems(params: dict[str, Any]) -> list[tuple[str, str]]:
    """``(option, message)`` for every option value the run cannot use."""
    problems = []
    for option, minimum in MINIMUMS:
        value = params.get(option)
        if value is not None and value < minimum:
            problems.append((option, f"option {option} must be {minimum} or more, got {value}"))
    force = params.get("force_version")
    if force is not None and force < -1:
        problems.append(("force_version", f"option force_version must be -1 (no version) or a version, got {force}"))
    for option in DURATION_OPTIONS:
        value = params.get(option)
        if value is not None and not _PG_DURATION_RE.match(str(value)):
            problems.append((option, f"option {option} must be a PostgreSQL duration such as 5s, 500ms, 2min or 0, "
                                     f"got {value!r}"))
    try:
        split_table_name(params.get("migration_table", "schema_migrations"))
    except MigrationError as exc:
        problems.append((exc.option or "migration_table", str(exc)))
    return problems


def validate_options(params: dict[str, Any]) -> None:
    """Raise :class:`ModuleFailure` naming every bad option (``option`` is the first one)."""
    problems = option_problems(params)
    if problems:
        raise ModuleFailure("; ".join(message for _option, message in problems), option=problems[0][0])


def load_migrations(path: str) -> list[Migration]:
    try:
        return discover(path)
    except MigrationError as exc:
        raise ModuleFailure(f"option path: {exc}", option="path") from exc


def lint_all(migrations: list[Migration]) -> list[dict[str, Any]]:
    """Findings of every expand-phase file of ``migrations``."""
    return [finding for migration in migrations for finding in lint_migration(migration)]


def violations(findings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [finding for finding in findings if not finding["allowed"]]


def settings_from_params(params: dict[str, Any]) -> Settings:
    conninfo, kwargs = connection_settings(params)
    return Settings(conninfo=conninfo, connect_kwargs=kwargs, migration_table=params["migration_table"],
                    lock_timeout=params["lock_timeout"], statement_timeout=params["statement_timeout"],
                    lock_wait=params["lock_wait"], lock_retries=params["lock_retries"],
                    batch_size=params["batch_size"], batch_pause=params["batch_pause"],
                    max_batches=params["max_batches"])


@dataclass(frozen=True)
class RunOptions:
    """What one run does (the module options that are not about connecting or batching)."""

    phase: str = "expand"
    target: str | None = "latest"
    direction: str = "up"
    steps: int | None = None
    lint: bool = True
    force_version: int | None = None
    check_mode: bool = False

    @classmethod
    def from_params(cls, params: dict[str, Any], check_mode: bool) -> RunOptions:
        return cls(phase=params["phase"], target=params["target"], direction=params["direction"],
                   steps=params["steps"], lint=params["lint"], force_version=params["force_version"],
                   check_mode=check_mode)


# --------------------------------------------------------------------------------------------------
# outcome and failure
# --------------------------------------------------------------------------------------------------
def table_state(version: int | None, dirty: bool) -> dict[str, Any]:
    """The version table as ``before``/``after`` show it."""
    return {"version": version, "dirty": dirty}


@dataclass
class Outcome:
    """What a run found and did. ``before``/``after`` are ``None`` until the version table was read."""

    table: str
    phase: str | None = None
    direction: str | None = None
    changed: bool = False
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    applied: list[dict[str, Any]] = field(default_factory=list)
    pending: list[dict[str, Any]] = field(default_factory=list)
    checked: list[dict[str, Any]] | None = None
    lint: list[dict[str, Any]] = field(default_factory=list)
    failed_version: int | None = None

    @property
    def lint_failed(self) -> bool:
        return bool(violations(self.lint))


class MigrationRunFailed(Exception):
    """A run failed: ``msg``, the ``option`` at fault (or ``None``) and the :class:`Outcome` so far."""

    def __init__(self, msg: str, option: str | None, outcome: Outcome) -> None:
        super().__init__(msg)
        self.msg = msg
        self.option = option
        self.outcome = outcome


def _summaries(migrations: list[Migration]) -> list[dict[str, Any]]:
    return [migration.summary() for migration in migrations]


# --------------------------------------------------------------------------------------------------
# the run
# --------------------------------------------------------------------------------------------------
class Migrator:
    """One run against a connected :class:`Runner`: takes the advisory locks, then forces or migrates."""

    def __init__(self, migrations: list[Migration], runner: Runner, options: RunOptions,
                 outcome: Outcome | None = None) -> None:
        self.migrations = migrations
        self.runner = runner
        self.options = options
        self.outcome = outcome or Outcome(table=runner.settings.migration_table)

    def run(self) -> Outcome:
        """The :class:`Outcome`; any failure raises :class:`MigrationRunFailed` with the outcome so far."""
        try:
            self.runner.lock()
            return self._run()
        except MigrationRunFailed:
            raise
        except MigrationFailed as exc:
            prefix = "dry run: " if self.options.check_mode else ""
            raise MigrationRunFailed(prefix + str(exc), getattr(exc.error, "option", None), self.outcome) from exc
        except MigrationError as exc:
            raise MigrationRunFailed(str(exc), exc.option, self.outcome) from exc
        except DatabaseError as exc:
            raise MigrationRunFailed(f"PostgreSQL: {exc}".strip(), None, self.outcome) from exc

    def _run(self) -> Outcome:
        version, dirty = self.runner.version()
        self.outcome.before = self.outcome.after = table_state(version, dirty)
        if self.options.force_version is not None:
            return self._force(version, dirty)
        self.outcome.phase, self.outcome.direction = self.options.phase, self.options.direction
        if dirty:
            raise MigrationRunFailed(
                f"the database is dirty at version {version}: a migration failed there. Repair the database by hand, "
                f"then run with force_version set to the version it is really at (the version before the failed "
                f"file if the failed file had no effect)", "force_version", self.outcome)
        target = parse_target(self.options.target, self.migrations)
        steps = plan(self.migrations, version, self.options.phase, target, self.options.direction,
                     self.options.steps)
        waiting = pending(self.migrations, version)
        self.outcome.pending = _summaries(waiting)
        self.outcome.lint = lint_all(waiting) if self.options.lint else []
        self._refuse_lint(steps)
        if self.options.check_mode:
            self.outcome.checked = self.runner.dry_run(steps)
            self.outcome.changed = bool(steps)
            self.outcome.after = table_state(steps[-1].target_version if steps else version, False)
        else:
            self._apply(steps)
            self.outcome.pending = _summaries(pending(self.migrations, self.outcome.after["version"]))
        return self.outcome

    def _force(self, version: int | None, dirty: bool) -> Outcome:
        forced = None if self.options.force_version == -1 else self.options.force_version
        try:
            still_pending = pending(self.migrations, forced)  # before writing: refuse a version without a file
        except MigrationError as exc:
            raise MigrationRunFailed(f"option force_version: {exc}", "force_version", self.outcome) from exc
        self.outcome.changed = (version, dirty) != (forced, False)
        if self.outcome.changed and not self.options.check_mode:
            self.runner.ensure_table()
            self.runner.set_version(forced, False)
        self.outcome.after = table_state(forced, False)
        self.outcome.pending = _summaries(still_pending)
        return self.outcome

    def _refuse_lint(self, steps: list[Step]) -> None:
        planned = {step.migration.up_file for step in steps if step.direction == "up"}
        blocking = [finding for finding in violations(self.outcome.lint) if finding["file"] in planned]
        if blocking:
            raise MigrationRunFailed(
                f"lint refused {len(blocking)} statement(s) of expand-phase files that would break the running "
                f"version: " + "; ".join(f"{f['file']}:{f['line']}: {f['rule']}" for f in blocking)
                + ". Move them to a contract file, or put '-- allow: <rule>' on the line before the statement.",
                None, self.outcome)

    def _apply(self, steps: list[Step]) -> None:
        if steps:
            self.runner.ensure_table()
        for step in steps:
            self.outcome.changed = True  # the runner marks the table dirty before the file runs
            try:
                self.outcome.applied.append(self.runner.apply(step))
            except MigrationFailed:
                self.outcome.after = table_state(step.target_version, True)
                self.outcome.failed_version = step.migration.version
                raise
            self.outcome.after = table_state(step.target_version, False)


def migrate(settings: Settings, migrations: list[Migration], options: RunOptions,
            connect: Callable[[Settings], Runner] = Runner.connect) -> Outcome:
    """Connect, run a :class:`Migrator`, close. Raises :class:`MigrationRunFailed`."""
    outcome = Outcome(table=settings.migration_table)
    try:
        runner = connect(settings)
    except MigrationError as exc:
        raise MigrationRunFailed(str(exc), exc.option, outcome) from exc
    except DatabaseError as exc:
        raise MigrationRunFailed(f"cannot connect to PostgreSQL: {exc}".strip(), None, outcome) from exc
    try:
        return Migrator(migrations, runner, options, outcome).run()
    finally:
        # a broken session cannot unlock, but closing it releases its advisory locks anyway
        with contextlib.suppress(DatabaseError):
            runner.close()
