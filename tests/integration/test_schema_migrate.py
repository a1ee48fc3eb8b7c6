# -*- coding: utf-8 -*-
# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""schema_migrate against the lab's PostgreSQL 15, through a real ansible-playbook.

Every test gets a fresh database (created by the lab role ``delivery``, which has CREATEDB, dropped afterwards).
The sample migration sets are in ``tests/migrations/``: ``release1`` and ``release2`` are the same directory at two
releases, ``lint`` has one expand file per lint rule.
"""
from __future__ import annotations

import shutil
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from ansible_collections.progressive.delivery.plugins.module_utils._migrations import RULES, migrate_lock_ids

from tests.integration.prom_helpers import ROOT, run_playbook
from tests.lab import lab as labmod

pytestmark = pytest.mark.lab

MIGRATIONS = ROOT / "tests" / "migrations"
MODULE = "progressive.delivery.schema_migrate"
# golang-migrate v4, database/postgres/postgres.go: ensureVersionTable and SetVersion.
MIGRATE_DDL = "CREATE TABLE IF NOT EXISTS {table} (version bigint not null primary key, dirty boolean not null)"


@dataclass(frozen=True)
class Database:
    name: str
    port: int

    @property
    def dsn(self) -> str:
        return f"postgresql://{labmod.PG_USER}:{labmod.PG_PASSWORD}@127.0.0.1:{self.port}/{self.name}"

    def conn(self) -> psycopg.Connection:
        return psycopg.connect(self.dsn, autocommit=True)

    def query(self, sql: str, params: tuple | None = None) -> list[tuple]:
        with self.conn() as conn, conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall() if cur.description else []

    def execute(self, sql: str, params: tuple | None = None) -> None:
        with self.conn() as conn:
            conn.execute(sql, params)

    def version_rows(self, table: str = "schema_migrations") -> list[tuple]:
        return self.query(f"SELECT version, dirty FROM {table}")

    def columns(self, table: str) -> dict[str, tuple[str, str]]:
        rows = self.query("SELECT column_name, data_type, is_nullable FROM information_schema.columns "
                          "WHERE table_schema = 'public' AND table_name = %s", (table,))
        return {name: (kind, nullable) for name, kind, nullable in rows}

    def snapshot(self) -> list[tuple]:
        """Tables, columns, indexes and constraints of the public schema."""
        return self.query(
            "SELECT 'column', table_name || '.' || column_name || ' ' || data_type || ' ' || is_nullable "
            "FROM information_schema.columns WHERE table_schema = 'public' "
            "UNION ALL SELECT 'index', indexdef FROM pg_indexes WHERE schemaname = 'public' "
            "UNION ALL SELECT 'constraint', conname || ' ' || pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE connamespace = 'public'::regnamespace ORDER BY 1, 2")


@pytest.fixture
def db(lab) -> Iterator[Database]:
    name = f"mig_{uuid.uuid4().hex[:10]}"
    admin = f"postgresql://{labmod.PG_USER}:{labmod.PG_PASSWORD}@127.0.0.1:{lab.ports['postgres']}/{labmod.PG_DB}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    yield Database(name, lab.ports["postgres"])
    drop_database(admin, name)


def drop_database(admin: str, name: str, timeout: float = 60.0) -> None:
    """DROP DATABASE ... WITH (FORCE) as the lab role, which may not terminate an autovacuum worker: retry."""
    deadline = time.monotonic() + timeout
    with psycopg.connect(admin, autocommit=True) as conn:
        while True:
            try:
                conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
                return
            except (psycopg.errors.InsufficientPrivilege, psycopg.errors.ObjectInUse):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)


def migrate_task(name: str, db: Database, path: Path | str, **options: Any) -> dict[str, Any]:
    args = {"login_host": "127.0.0.1", "login_port": db.port, "login_user": labmod.PG_USER,
            "login_password": labmod.PG_PASSWORD, "login_db": db.name, "path": str(path), **options}
    return {"name": name, MODULE: args}


def write_set(directory: Path, files: dict[str, str]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (directory / name).write_text(text)
    return directory


# --------------------------------------------------------------------------------------------------
# lint
# --------------------------------------------------------------------------------------------------
def test_lint_every_rule_with_file_line_and_name(db: Database) -> None:
    lint_dir = MIGRATIONS / "lint"
    run = run_playbook([
        {"name": "lint only", MODULE: {"path": str(lint_dir), "lint_only": True}},
        migrate_task("apply the lint set", db, lint_dir, phase="all"),
    ])
    report = run["lint only"]
    assert not report.get("failed") and report["changed"] is False and report["lint_failed"] is True
    found = {(f["file"], f["rule"], f["line"], f["allowed"]) for f in report["lint"]}
    assert {rule for _file, rule, _line, allowed in found if not allowed} == set(RULES)
    assert ("6_not_null_no_default.up.sql", "not-null-column-without-default", 2, False) in found
    assert ("12_allowed.up.sql", "index-not-concurrently", 3, True) in found
    assert not any(f[0] in ("1_base.up.sql", "13_clean.up.sql", "14_contract.up.sql") for f in found)

    refused = run["apply the lint set"]
    assert refused["failed"] and "lint refused 10 statement(s)" in refused["msg"]
    assert refused["changed"] is False and refused["lint_failed"] is True and refused["applied"] == []
    assert refused["before"] == refused["after"] == {"version": None, "dirty": False}
    assert "2_drop_table.up.sql:1: drop-table" in refused["msg"]
    assert "6_not_null_no_default.up.sql:2: not-null-column-without-default" in refused["msg"]
    assert db.query("SELECT to_regclass('public.schema_migrations'), to_regclass('public.accounts')") == [(None, None)]


def test_allowed_statement_applies(db: Database, tmp_path: Path) -> None:
    lint_dir = MIGRATIONS / "lint"
    path = write_set(tmp_path / "set", {name: (lint_dir / name).read_text()
                                        for name in ("1_base.up.sql", "12_allowed.up.sql", "13_clean.up.sql")})
    run = run_playbook([migrate_task("apply", db, path, phase="all")])
    assert not run["apply"].get("failed"), run["apply"]
    assert [a["version"] for a in run["apply"]["applied"]] == [1, 12, 13]
    assert db.version_rows() == [(13, False)]
    indexes = {row[0] for row in db.query("SELECT indexname FROM pg_indexes WHERE tablename = 'accounts'")}
    assert {"accounts_kind_idx", "accounts_tier_idx"} <= indexes


# --------------------------------------------------------------------------------------------------
# expand -> migrate -> contract across two releases, with a 100,000-row backfill
# --------------------------------------------------------------------------------------------------
def test_two_releases_expand_migrate_contract(db: Database) -> None:
    r1, r2 = MIGRATIONS / "release1", MIGRATIONS / "release2"
    run = run_playbook([migrate_task("r1 expand", db, r1, phase="expand")])
    assert run["r1 expand"]["changed"] and [a["version"] for a in run["r1 expand"]["applied"]] == [1, 2, 3]
    assert run["r1 expand"]["before"] == {"version": None, "dirty": False}
    assert run["r1 expand"]["after"] == {"version": 3, "dirty": False}
    # deprecated keys, still returned
    assert run["r1 expand"]["version_before"] is None and run["r1 expand"]["version"] == 3
    assert run["r1 expand"]["dirty"] is False
    assert [p["version"] for p in run["r1 expand"]["pending"]] == [4]
    # the old version keeps writing only `mail`
    db.execute("INSERT INTO users (mail) SELECT 'user' || g || '@example.com' FROM generate_series(1, 100000) g")

    run = run_playbook([
        migrate_task("r1 migrate", db, r1, phase="migrate", batch_size=1000),
        migrate_task("r1 contract (nothing in release 1)", db, r1, phase="contract"),
        migrate_task("r1 migrate again", db, r1, phase="migrate"),
    ])
    backfill = run["r1 migrate"]["applied"]
    assert [(a["version"], a["phase"], a["rows"], a["batches"]) for a in backfill] == [(4, "migrate", 100000, 101)]
    assert db.query("SELECT count(*) FROM users WHERE email IS DISTINCT FROM mail") == [(0,)]
    assert not run["r1 contract (nothing in release 1)"]["changed"]
    again = run["r1 migrate again"]
    assert not again["changed"] and again["before"] == again["after"] == {"version": 4, "dirty": False}

    run = run_playbook([
        migrate_task("r2 expand blocked by the contract file", db, r2, phase="expand"),
        migrate_task("r2 contract", db, r2, phase="contract"),
        migrate_task("r2 expand", db, r2, phase="expand"),
        migrate_task("r2 all again", db, r2, phase="all"),
    ])
    blocked = run["r2 expand blocked by the contract file"]
    assert not blocked["changed"] and [p["version"] for p in blocked["pending"]] == [5, 6]
    assert [a["version"] for a in run["r2 contract"]["applied"]] == [5]
    assert [a["version"] for a in run["r2 expand"]["applied"]] == [6]
    assert not run["r2 all again"]["changed"] and run["r2 all again"]["pending"] == []
    assert db.columns("users") == {"id": ("bigint", "NO"), "email": ("text", "NO")}
    assert db.version_rows() == [(6, False)]

    run = run_playbook([migrate_task("down two", db, r2, direction="down", steps=2)])
    assert [(a["version"], a["direction"]) for a in run["down two"]["applied"]] == [(6, "down"), (5, "down")]
    assert db.version_rows() == [(4, False)] and "mail" in db.columns("users")


# --------------------------------------------------------------------------------------------------
# golang-migrate interop
# --------------------------------------------------------------------------------------------------
def _table_layout(db: Database, schema: str, table: str) -> tuple:
    columns = db.query("SELECT column_name, data_type, is_nullable, column_default FROM information_schema.columns "
                       "WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position", (schema, table))
    constraints = db.query("SELECT contype, pg_get_constraintdef(c.oid) FROM pg_constraint c "
                           "JOIN pg_class t ON t.oid = c.conrelid JOIN pg_namespace n ON n.oid = t.relnamespace "
                           "WHERE n.nspname = %s AND t.relname = %s", (schema, table))
    return tuple(columns), tuple(constraints)


def test_interop_module_writes_what_migrate_reads(db: Database) -> None:
    run = run_playbook([migrate_task("expand", db, MIGRATIONS / "release1")])
    assert run["expand"]["version"] == 3
    db.execute("CREATE SCHEMA reference")
    db.execute(MIGRATE_DDL.format(table='"reference"."schema_migrations"'))
    assert _table_layout(db, "public", "schema_migrations") == _table_layout(db, "reference", "schema_migrations")
    # migrate's Version(): SELECT version, dirty FROM "public"."schema_migrations" LIMIT 1 -> one clean row
    assert db.version_rows() == [(3, False)]


def _migrate_set_version(db: Database, table: str, version: int, dirty: bool) -> None:
    """What golang-migrate's ensureVersionTable and SetVersion do."""
    db.execute(MIGRATE_DDL.format(table=f'"public"."{table}"'))
    with db.conn() as conn, conn.transaction():
        conn.execute(f'TRUNCATE "public"."{table}"')
        conn.execute(f'INSERT INTO "public"."{table}" (version, dirty) VALUES (%s, %s)', (version, dirty))


def test_interop_module_continues_from_migrate(db: Database) -> None:
    # what `migrate -path release1 -database ... goto 3` leaves behind
    for sql in sorted(MIGRATIONS.joinpath("release1").glob("[123]_*.up.sql")):
        db.execute(sql.read_text())
    _migrate_set_version(db, "schema_migrations", 3, False)
    # migrate marks a failed file dirty (SetVersion(v, true) before Run); a dirty nil version is -1
    _migrate_set_version(db, "dirty_four", 4, True)
    _migrate_set_version(db, "dirty_nil", -1, True)
    run = run_playbook([
        migrate_task("migrate", db, MIGRATIONS / "release1", phase="migrate"),
        migrate_task("refuse dirty 4", db, MIGRATIONS / "release1", phase="all", migration_table="dirty_four"),
        # the deprecated alias of migration_table still works
        migrate_task("refuse dirty nil", db, MIGRATIONS / "release1", phase="all", migrations_table="dirty_nil"),
    ])
    assert run["migrate"]["before"]["version"] == 3 and [a["version"] for a in run["migrate"]["applied"]] == [4]
    assert db.version_rows() == [(4, False)]
    dirty_four, dirty_nil = run["refuse dirty 4"], run["refuse dirty nil"]
    assert dirty_four["failed"] and "dirty at version 4" in dirty_four["msg"]
    assert dirty_four["option"] == "force_version" and dirty_four["before"] == {"version": 4, "dirty": True}
    assert dirty_nil["failed"] and "dirty at version None" in dirty_nil["msg"]
    assert dirty_nil["option"] == "force_version" and dirty_nil["before"] == {"version": None, "dirty": True}
    assert db.version_rows("dirty_four") == [(4, True)] and db.version_rows("dirty_nil") == [(-1, True)]


def test_advisory_lock_excludes_migrate_and_concurrent_runs(db: Database, tmp_path: Path) -> None:
    cli_lock, library_lock = migrate_lock_ids(db.name, "public", "schema_migrations")
    path = write_set(tmp_path / "slow", {"1_slow.up.sql": "CREATE TABLE slow (id int);\nSELECT pg_sleep(3);\n"})
    with db.conn() as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (cli_lock,))  # a `migrate up` in progress
        run = run_playbook([migrate_task("blocked", db, path, phase="all", lock_wait="1s")])
    assert run["blocked"]["failed"] and run["blocked"]["option"] == "lock_wait"
    assert f"holds the advisory lock {cli_lock}" in run["blocked"]["msg"] and "lock_wait=1s" in run["blocked"]["msg"]
    assert db.query("SELECT to_regclass('public.slow')") == [(None,)]
    assert library_lock != cli_lock

    start = threading.Barrier(2)

    def one_run(name: str) -> dict[str, Any]:
        start.wait()
        return run_playbook([migrate_task(name, db, path, phase="all")])[name]

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(one_run, ["first", "second"]))
    assert not any(r.get("failed") for r in results), results
    assert sorted(len(r["applied"]) for r in results) == [0, 1]  # the second waited, then found nothing to do
    assert db.version_rows() == [(1, False)]


# --------------------------------------------------------------------------------------------------
# failures, dirty state and force_version
# --------------------------------------------------------------------------------------------------
def test_failing_migration_marks_dirty_and_later_runs_refuse(db: Database, tmp_path: Path) -> None:
    path = write_set(tmp_path / "set", {
        "1_ok.up.sql": "CREATE TABLE t (id int);\n",
        "2_broken.up.sql": "-- phase: expand\nALTER TABLE t ADD COLUMN a int;\nALTER TABLE t ADD COLUMN a int;\n",
        "3_later.up.sql": "ALTER TABLE t ADD COLUMN c int;\n",
    })
    run = run_playbook([
        migrate_task("fail", db, path, phase="all"),
        migrate_task("refuse", db, path, phase="all"),
        migrate_task("force", db, path, force_version=1),
    ])
    failed = run["fail"]
    assert failed["failed"] and failed["changed"] is True and failed["failed_version"] == 2
    assert failed["before"] == {"version": None, "dirty": False} and failed["after"] == {"version": 2, "dirty": True}
    assert failed["dirty"] is True and failed["version"] == 2  # deprecated keys
    assert "option" not in failed  # the SQL is at fault, not an option
    assert "2_broken.up.sql line 3" in failed["msg"] and 'column "a" of relation "t" already exists' in failed["msg"]
    assert [a["version"] for a in failed["applied"]] == [1]
    assert run["refuse"]["failed"] and "dirty at version 2" in run["refuse"]["msg"]
    forced = run["force"]
    assert forced["changed"] and forced["before"] == {"version": 2, "dirty": True}
    assert forced["after"] == {"version": 1, "dirty": False} and [p["version"] for p in forced["pending"]] == [2, 3]
    assert db.version_rows() == [(1, False)]
    assert "a" not in db.columns("t")  # the file ran in one transaction: nothing of it stayed

    (path / "2_broken.up.sql").write_text("ALTER TABLE t ADD COLUMN a int;\n")
    run = run_playbook([migrate_task("after the fix", db, path, phase="all")])
    assert [a["version"] for a in run["after the fix"]["applied"]] == [2, 3]
    assert db.version_rows() == [(3, False)]


# --------------------------------------------------------------------------------------------------
# check mode
# --------------------------------------------------------------------------------------------------
def test_dry_run_changes_nothing(db: Database, tmp_path: Path) -> None:
    r2 = MIGRATIONS / "release2"
    run = run_playbook([migrate_task("dry run on an empty database", db, r2, phase="all")], args=("--check",))
    dry = run["dry run on an empty database"]
    assert dry["changed"] and not dry.get("failed"), dry
    assert [(c["version"], c["checked"]) for c in dry["checked"]] == [
        (1, True), (2, True), (3, False), (4, True), (5, True), (6, True)]
    assert dry["after"] == {"version": 6, "dirty": False} and dry["applied"] == [] and "diff" not in dry
    assert db.query("SELECT to_regclass('public.schema_migrations'), to_regclass('public.users')") == [(None, None)]

    run_playbook([migrate_task("expand", db, r2)])
    db.execute("INSERT INTO users (mail) SELECT 'u' || g FROM generate_series(1, 50) g")
    before = (db.snapshot(), db.version_rows(), db.query("SELECT count(*) FROM users WHERE email IS NULL"))
    broken = write_set(tmp_path / "broken", {
        **{p.name: p.read_text() for p in r2.glob("[123]_*.sql")},
        "4_typo.up.sql": "ALTER TABLE users ADD COLUMN nickname text;\nALTER TABLE userz ADD COLUMN x int;\n"})
    run = run_playbook([
        migrate_task("dry run of the rest", db, r2, phase="all", batch_size=10),
        migrate_task("dry run that fails", db, broken, phase="all"),
    ], args=("--check",))
    rest = run["dry run of the rest"]
    assert [(c["version"], c["checked"], c.get("rows_first_batch")) for c in rest["checked"]] == [
        (4, True, 10), (5, False, None), (6, False, None)]
    failing = run["dry run that fails"]
    assert failing["failed"] and "4_typo.up.sql line 2" in failing["msg"] and "userz" in failing["msg"]
    assert failing["changed"] is False and failing["before"] == failing["after"] == {"version": 3, "dirty": False}
    assert (db.snapshot(), db.version_rows(),
            db.query("SELECT count(*) FROM users WHERE email IS NULL")) == before


# --------------------------------------------------------------------------------------------------
# secrets
# --------------------------------------------------------------------------------------------------
def test_secrets_stay_out_of_verbose_output(db: Database) -> None:
    secret_dsn = db.dsn
    run = run_playbook([
        {"name": "dsn", MODULE: {"dsn": secret_dsn, "path": str(MIGRATIONS / "release1")}},
        migrate_task("login_password", db, MIGRATIONS / "release1"),
        {"name": "bad dsn", MODULE: {"dsn": secret_dsn.replace(labmod.PG_USER + ":", "nobody:"),
                                     "path": str(MIGRATIONS / "release1")}},
    ], args=("-vvv",), json_output=False)
    output = run.stdout + run.stderr
    assert "changed: [localhost]" in output and "cannot connect to PostgreSQL" in output
    assert labmod.PG_PASSWORD not in output


def test_missing_path_names_the_option(tmp_path: Path) -> None:
    run = run_playbook([{"name": "missing", MODULE: {"path": str(tmp_path / "nope"), "lint_only": True}}])
    assert run["missing"]["failed"] and run["missing"]["msg"].startswith("option path:")
    assert run["missing"]["option"] == "path"
    shutil.rmtree(tmp_path, ignore_errors=True)


# --------------------------------------------------------------------------------------------------
# the result contract: diff only in diff mode, failures name the option
# --------------------------------------------------------------------------------------------------
def test_diff_only_in_diff_mode(db: Database) -> None:
    r1 = MIGRATIONS / "release1"
    run = run_playbook([
        {**migrate_task("check with diff", db, r1, phase="expand"), "check_mode": True, "diff": True},
        {**migrate_task("check without diff", db, r1, phase="expand"), "check_mode": True},
        {**migrate_task("apply with diff", db, r1, phase="expand"), "diff": True},
        migrate_task("again without diff", db, r1, phase="expand"),
        {**migrate_task("again with diff", db, r1, phase="expand"), "diff": True},
        {**migrate_task("force with diff", db, r1, force_version=1), "check_mode": True, "diff": True},
    ])
    nothing, three = {"version": None, "dirty": False}, {"version": 3, "dirty": False}
    header = "version table schema_migrations"
    check = run["check with diff"]
    assert check["changed"] and check["diff"] == {"before": nothing, "after": three, "before_header": header,
                                                  "after_header": header}
    assert "diff" not in run["check without diff"] and run["check without diff"]["after"] == three
    applied = run["apply with diff"]
    assert applied["changed"] and applied["diff"]["before"] == nothing and applied["diff"]["after"] == three
    assert (applied["before"], applied["after"]) == (nothing, three)
    assert "diff" not in run["again without diff"] and not run["again without diff"]["changed"]
    again = run["again with diff"]
    assert not again["changed"] and again["diff"]["before"] == again["diff"]["after"] == three
    forced = run["force with diff"]
    assert forced["changed"] and forced["diff"]["after"] == {"version": 1, "dirty": False}
    assert db.version_rows() == [(3, False)]  # check mode wrote nothing


def test_failures_name_the_option(db: Database, tmp_path: Path) -> None:
    r1 = MIGRATIONS / "release1"
    runaway = write_set(tmp_path / "runaway", {
        "1_t.up.sql": "CREATE TABLE t (id int);\nINSERT INTO t SELECT generate_series(1, 10);\n",
        "2_forever.up.sql": "-- phase: migrate\nUPDATE t SET id = id;\n"})
    run = run_playbook([
        migrate_task("unknown target", db, r1, target="99"),
        migrate_task("bad table name", db, r1, migration_table="a.b.c"),
        migrate_task("bad lock_timeout", db, r1, lock_timeout="5 seconds"),
        migrate_task("bad batch_size", db, r1, batch_size=0),
        migrate_task("force to a version without a file", db, r1, force_version=41),
        migrate_task("backfill that never ends", db, runaway, phase="all", max_batches=3),
        migrate_task("wrong password", db, r1, login_password="wrong"),
    ])
    expected = {"unknown target": ("target", "option target 99 has no file"),
                "bad table name": ("migration_table", "option migration_table must be"),
                "bad lock_timeout": ("lock_timeout", "option lock_timeout must be a PostgreSQL duration"),
                "bad batch_size": ("batch_size", "option batch_size must be 1 or more"),
                "force to a version without a file": ("force_version", "version 41, which has no file"),
                "backfill that never ends": ("max_batches", "max_batches=3")}
    for name, (option, text) in expected.items():
        result = run[name]
        assert result["failed"] and result["option"] == option and text in result["msg"], (name, result)
    runaway_result = run["backfill that never ends"]
    assert runaway_result["after"] == {"version": 2, "dirty": True} and runaway_result["failed_version"] == 2
    assert [a["version"] for a in runaway_result["applied"]] == [1]
    assert run["wrong password"]["failed"] and "cannot connect to PostgreSQL" in run["wrong password"]["msg"]
    assert "option" not in run["wrong password"] and "before" not in run["wrong password"]
    assert db.version_rows() == [(2, True)]  # only the runaway backfill wrote anything
