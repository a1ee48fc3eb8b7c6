# -*- coding: utf-8 -*-
# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests for plugins/module_utils/_migrator.py: options, the run's state machine, failures with the option at
fault and the partial outcome. The runner is a fake that keeps the version table in memory (the real one is
covered by tests/integration/test_schema_migrate.py)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest
from ansible_collections.progressive.delivery.plugins.module_utils._migrations import (
    Migration,
    MigrationError,
    MigrationFailed,
    Settings,
    Step,
)
from ansible_collections.progressive.delivery.plugins.module_utils._migrator import (
    MigrationRunFailed,
    Migrator,
    RunOptions,
    load_migrations,
    migrate,
    option_problems,
    settings_from_params,
    validate_options,
)
from ansible_collections.progressive.delivery.plugins.module_utils._result import ModuleFailure

PARAMS: dict[str, Any] = {
    "batch_size": 1000, "steps": None, "batch_pause": 0, "max_batches": 0, "lock_retries": 3, "connect_timeout": 10,
    "force_version": None, "lock_timeout": "5s", "lock_wait": "60s", "statement_timeout": "0",
    "migration_table": "schema_migrations",
}


# --------------------------------------------------------------------------------------------------
# a runner that keeps the version table in memory
# --------------------------------------------------------------------------------------------------
class FakeRunner:
    def __init__(self, version: int | None = None, dirty: bool = False, *, fail_version: int | None = None,
                 fail_error: Exception | None = None, lock_error: Exception | None = None,
                 version_error: Exception | None = None) -> None:
        self.settings = Settings(migration_table="ops.versions")
        self.state = (version, dirty)
        self.fail_version = fail_version
        self.fail_error = fail_error or psycopg.errors.DuplicateColumn('column "a" already exists')
        self.lock_error = lock_error
        self.version_error = version_error
        self.writes: list[tuple[int | None, bool]] = []
        self.ran: list[int] = []
        self.dry_ran: list[int] = []
        self.locked = self.closed = False

    def lock(self) -> None:
        if self.lock_error:
            raise self.lock_error
        self.locked = True

    def version(self) -> tuple[int | None, bool]:
        if self.version_error:
            raise self.version_error
        return self.state

    def ensure_table(self) -> None:
        pass

    def set_version(self, version: int | None, dirty: bool) -> None:
        self.state = (version, dirty)
        self.writes.append(self.state)

    def apply(self, step: Step) -> dict[str, Any]:
        self.set_version(step.target_version, True)
        if step.migration.version == self.fail_version:
            raise MigrationFailed(step, self.fail_error, 2)
        self.ran.append(step.migration.version)
        self.set_version(step.target_version, False)
        return {"version": step.migration.version, "direction": step.direction}

    def dry_run(self, steps: list[Step]) -> list[dict[str, Any]]:
        for step in steps:
            if step.migration.version == self.fail_version:
                raise MigrationFailed(step, self.fail_error, 2)
            self.dry_ran.append(step.migration.version)
        return [{"version": step.migration.version, "checked": True} for step in steps]

    def close(self) -> None:
        self.closed = True


def migrations(*phases: str, sql: dict[int, str] | None = None) -> list[Migration]:
    sql = sql or {}
    return [Migration(i, f"m{i}", phase=phase, up_sql=sql.get(i, "SELECT 1;"), down_sql="SELECT 1;")
            for i, phase in enumerate(phases, start=1)]


def run(runner: FakeRunner, files: list[Migration], **options: Any) -> Any:
    return Migrator(files, runner, RunOptions(**options)).run()


def failure(runner: FakeRunner, files: list[Migration], **options: Any) -> MigrationRunFailed:
    with pytest.raises(MigrationRunFailed) as error:
        run(runner, files, **options)
    return error.value


# --------------------------------------------------------------------------------------------------
# options
# --------------------------------------------------------------------------------------------------
def test_valid_defaults_pass() -> None:
    assert option_problems(PARAMS) == []
    validate_options(PARAMS)


@pytest.mark.parametrize(("changes", "option", "text"), [
    ({"batch_size": 0}, "batch_size", "option batch_size must be 1 or more, got 0"),
    ({"steps": 0}, "steps", "option steps must be 1 or more"),
    ({"batch_pause": -0.5}, "batch_pause", "option batch_pause must be 0 or more"),
    ({"connect_timeout": 0}, "connect_timeout", "option connect_timeout must be 1 or more"),
    ({"force_version": -2}, "force_version", "must be -1 (no version) or a version"),
    ({"lock_timeout": "5 seconds"}, "lock_timeout", "PostgreSQL duration"),
    ({"lock_wait": "abc"}, "lock_wait", "option lock_wait must be a PostgreSQL duration"),
    ({"migration_table": "a.b.c"}, "migration_table", "option migration_table must be 'table' or 'schema.table'"),
])
def test_bad_options_name_the_option(changes: dict[str, Any], option: str, text: str) -> None:
    with pytest.raises(ModuleFailure) as error:
        validate_options({**PARAMS, **changes})
    assert error.value.option == option and text in error.value.msg
    assert error.value.as_result()["option"] == option


@pytest.mark.parametrize("value", ["0", "500", "500ms", "5s", "2min", "1h", "1.5s", "10 s"])
def test_postgres_durations_pass(value: str) -> None:
    assert option_problems({**PARAMS, "lock_timeout": value, "statement_timeout": value}) == []


def test_every_bad_option_is_reported_the_first_is_the_option() -> None:
    with pytest.raises(ModuleFailure) as error:
        validate_options({**PARAMS, "batch_size": 0, "max_batches": -1})
    assert error.value.option == "batch_size"
    assert "batch_size" in error.value.msg and "max_batches" in error.value.msg


def test_load_migrations_names_path(tmp_path: Path) -> None:
    with pytest.raises(ModuleFailure) as error:
        load_migrations(str(tmp_path / "missing"))
    assert error.value.option == "path" and error.value.msg.startswith("option path: ")
    (tmp_path / "1_a.up.sql").write_text("-- phase: later\nSELECT 1;\n")
    with pytest.raises(ModuleFailure) as error:
        load_migrations(str(tmp_path))
    assert error.value.option == "path" and "'-- phase: later' is not one of" in error.value.msg


def test_settings_from_params_use_the_table_option() -> None:
    params = {**PARAMS, "migration_table": "ops.versions", "dsn": "postgresql://u@h/db", "login_host": "x",
              "batch_size": 50}
    settings = settings_from_params(params)
    assert settings.migration_table == "ops.versions" and settings.batch_size == 50
    assert settings.conninfo == "postgresql://u@h/db" and settings.connect_kwargs == {"connect_timeout": 10}


# --------------------------------------------------------------------------------------------------
# runs
# --------------------------------------------------------------------------------------------------
def test_expand_applies_the_leading_expand_files() -> None:
    runner = FakeRunner()
    outcome = run(runner, migrations("expand", "expand", "migrate"), phase="expand")
    assert outcome.changed and runner.ran == [1, 2] and runner.locked
    assert (outcome.before, outcome.after) == ({"version": None, "dirty": False}, {"version": 2, "dirty": False})
    assert [p["version"] for p in outcome.pending] == [3]
    assert [a["version"] for a in outcome.applied] == [1, 2]
    assert (outcome.phase, outcome.direction, outcome.table) == ("expand", "up", "ops.versions")
    assert runner.state == (2, False)


def test_nothing_to_do_is_unchanged_with_the_same_before_and_after() -> None:
    runner = FakeRunner(version=2)
    outcome = run(runner, migrations("expand", "expand", "contract"), phase="expand")
    assert not outcome.changed and outcome.before == outcome.after == {"version": 2, "dirty": False}
    assert runner.writes == [] and [p["version"] for p in outcome.pending] == [3]


def test_down_writes_the_previous_version() -> None:
    runner = FakeRunner(version=3)
    outcome = run(runner, migrations("expand", "expand", "expand"), direction="down", steps=2)
    assert [a["direction"] for a in outcome.applied] == ["down", "down"]
    assert outcome.after == {"version": 1, "dirty": False} and runner.state == (1, False)


def test_check_mode_dry_runs_and_writes_nothing() -> None:
    runner = FakeRunner(version=1)
    outcome = run(runner, migrations("expand", "expand", "expand"), phase="all", check_mode=True)
    assert outcome.changed and runner.dry_ran == [2, 3] and runner.ran == [] and runner.writes == []
    assert outcome.before == {"version": 1, "dirty": False} and outcome.after == {"version": 3, "dirty": False}
    assert outcome.applied == [] and [c["version"] for c in outcome.checked] == [2, 3]
    assert [p["version"] for p in outcome.pending] == [2, 3]  # still pending: nothing ran


def test_a_failing_file_leaves_the_partial_outcome_dirty() -> None:
    runner = FakeRunner(fail_version=2)
    error = failure(runner, migrations("expand", "expand", "expand"), phase="all")
    assert "migration 2 (m2, up) failed in 2_m2.up.sql line 2" in error.msg and error.option is None
    outcome = error.outcome
    assert outcome.changed and [a["version"] for a in outcome.applied] == [1]
    assert outcome.before == {"version": None, "dirty": False}
    assert outcome.after == {"version": 2, "dirty": True} and outcome.failed_version == 2
    assert runner.state == (2, True) and runner.ran == [1]


def test_a_backfill_over_max_batches_names_the_option() -> None:
    runner = FakeRunner(fail_version=1, fail_error=MigrationError("still touched rows", "max_batches"))
    error = failure(runner, migrations("migrate"), phase="migrate")
    assert error.option == "max_batches" and error.outcome.after == {"version": 1, "dirty": True}


def test_dirty_table_is_refused_and_names_force_version() -> None:
    runner = FakeRunner(version=2, dirty=True)
    error = failure(runner, migrations("expand", "expand", "expand"), phase="all")
    assert "dirty at version 2" in error.msg and error.option == "force_version"
    assert error.outcome.before == error.outcome.after == {"version": 2, "dirty": True}
    assert not error.outcome.changed and runner.writes == [] and runner.ran == []


def test_lint_refuses_before_anything_runs() -> None:
    files = migrations("expand", "expand", sql={2: "SELECT 1;\nALTER TABLE users DROP COLUMN mail;\n"})
    runner = FakeRunner(version=None)
    error = failure(runner, files, phase="all")
    assert "lint refused 1 statement(s)" in error.msg and "2_m2.up.sql:2: drop-column" in error.msg
    assert error.option is None and error.outcome.lint_failed and not error.outcome.changed
    assert runner.ran == [] and runner.writes == []
    assert error.outcome.after == {"version": None, "dirty": False}


def test_lint_off_or_unplanned_findings_do_not_refuse() -> None:
    files = migrations("expand", "expand", sql={2: "ALTER TABLE users DROP COLUMN mail;\n"})
    outcome = run(FakeRunner(), files, phase="all", lint=False)
    assert [a["version"] for a in outcome.applied] == [1, 2] and outcome.lint == []
    outcome = run(FakeRunner(), files, phase="all", target="1")  # file 2 is pending but not planned
    assert [a["version"] for a in outcome.applied] == [1] and outcome.lint_failed


def test_bad_target_names_the_option() -> None:
    error = failure(FakeRunner(), migrations("expand"), target="9")
    assert error.option == "target" and error.outcome.before == {"version": None, "dirty": False}


def test_a_database_at_an_unknown_version_names_path() -> None:
    error = failure(FakeRunner(version=7), migrations("expand"))
    assert error.option == "path" and "version 7, which has no file" in error.msg


def test_dry_run_failure_changes_nothing() -> None:
    runner = FakeRunner(version=1, fail_version=3)
    error = failure(runner, migrations("expand", "expand", "expand"), phase="all", check_mode=True)
    assert error.msg.startswith("dry run: migration 3") and not error.outcome.changed
    assert error.outcome.after == error.outcome.before == {"version": 1, "dirty": False}
    assert runner.writes == []


def test_lock_timeout_names_lock_wait_and_has_no_state() -> None:
    runner = FakeRunner(lock_error=MigrationError("another migration run holds the advisory lock 1", "lock_wait"))
    error = failure(runner, migrations("expand"))
    assert error.option == "lock_wait" and error.outcome.before is None and not error.outcome.changed


def test_database_errors_are_prefixed() -> None:
    error = failure(FakeRunner(version_error=psycopg.OperationalError("server closed the connection")),
                    migrations("expand"))
    assert error.msg == "PostgreSQL: server closed the connection" and error.option is None


# --------------------------------------------------------------------------------------------------
# force_version
# --------------------------------------------------------------------------------------------------
def test_force_writes_a_clean_version() -> None:
    runner = FakeRunner(version=2, dirty=True)
    outcome = run(runner, migrations("expand", "expand", "expand"), force_version=1)
    assert outcome.changed and runner.writes == [(1, False)] and runner.ran == []
    assert outcome.before == {"version": 2, "dirty": True} and outcome.after == {"version": 1, "dirty": False}
    assert [p["version"] for p in outcome.pending] == [2, 3] and outcome.phase is None


def test_force_minus_one_empties_and_same_state_is_unchanged() -> None:
    runner = FakeRunner(version=1, dirty=True)
    assert run(runner, migrations("expand"), force_version=-1).after == {"version": None, "dirty": False}
    assert runner.state == (None, False)
    again = run(runner, migrations("expand"), force_version=-1)
    assert not again.changed and runner.writes == [(None, False)]


def test_force_in_check_mode_writes_nothing() -> None:
    runner = FakeRunner(version=2, dirty=True)
    outcome = run(runner, migrations("expand", "expand"), force_version=1, check_mode=True)
    assert outcome.changed and outcome.after == {"version": 1, "dirty": False} and runner.writes == []


def test_force_to_a_version_without_a_file_is_refused_before_writing() -> None:
    runner = FakeRunner(version=2, dirty=True)
    error = failure(runner, migrations("expand", "expand"), force_version=41)
    assert error.option == "force_version" and "version 41, which has no file" in error.msg
    assert runner.writes == [] and not error.outcome.changed


# --------------------------------------------------------------------------------------------------
# connect and close
# --------------------------------------------------------------------------------------------------
def test_migrate_closes_the_runner_on_success_and_failure() -> None:
    runner = FakeRunner()
    outcome = migrate(Settings(), migrations("expand"), RunOptions(), connect=lambda settings: runner)
    assert outcome.after == {"version": 1, "dirty": False} and runner.closed
    failing = FakeRunner(version=1, dirty=True)
    with pytest.raises(MigrationRunFailed):
        migrate(Settings(), migrations("expand"), RunOptions(), connect=lambda settings: failing)
    assert failing.closed


def test_migrate_reports_connection_errors() -> None:
    def refuse(settings: Settings) -> FakeRunner:
        raise psycopg.OperationalError("connection refused")

    with pytest.raises(MigrationRunFailed) as error:
        migrate(Settings(migration_table="t"), migrations("expand"), RunOptions(), connect=refuse)
    assert error.value.msg == "cannot connect to PostgreSQL: connection refused"
    assert error.value.outcome.before is None and error.value.outcome.table == "t"
