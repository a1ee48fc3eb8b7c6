# -*- coding: utf-8 -*-
# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests for plugins/module_utils/_migrations.py: files, statement splitting, lint rules, plans, lock ids."""
from __future__ import annotations

import zlib
from pathlib import Path

import pytest
from ansible_collections.progressive.delivery.plugins.module_utils._migrations import (
    RULES,
    Migration,
    MigrationError,
    advisory_lock_id,
    allow_comments,
    discover,
    executable_statements,
    lint_sql,
    migrate_lock_ids,
    parse_headers,
    parse_target,
    plan,
    split_statements,
    split_table_name,
)

MIGRATIONS = Path(__file__).resolve().parents[4] / "tests" / "migrations"


def rules(sql: str) -> list[tuple[str, int, bool]]:
    return [(f["rule"], f["line"], f["allowed"]) for f in lint_sql(sql, "x.up.sql")]


# --------------------------------------------------------------------------------------------------
# files and headers
# --------------------------------------------------------------------------------------------------
def test_discover_reads_golang_migrate_names_and_headers() -> None:
    migrations = discover(str(MIGRATIONS / "release2"))
    assert [(m.version, m.title, m.phase, m.transactional) for m in migrations] == [
        (1, "create_users", "expand", True), (2, "add_email", "expand", True), (3, "index_email", "expand", False),
        (4, "backfill_email", "migrate", True), (5, "drop_mail", "contract", True),
        (6, "create_orders", "expand", True)]
    assert all(m.down_sql for m in migrations)


def test_discover_ignores_other_files_and_refuses_duplicates(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("x")
    (tmp_path / "1_a.up.sql").write_text("SELECT 1;")
    (tmp_path / "01_b.up.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationError, match="two up files for version 1"):
        discover(str(tmp_path))
    (tmp_path / "01_b.up.sql").unlink()
    (tmp_path / "2_only_down.down.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationError, match=r"no \.up\.sql file for version\(s\) 2"):
        discover(str(tmp_path))
    with pytest.raises(MigrationError, match="is not a directory") as error:
        discover(str(tmp_path / "missing"))
    assert error.value.option == "path"


@pytest.mark.parametrize(("sql", "expected"), [
    ("SELECT 1;", ("expand", True)),
    ("-- phase: contract\n-- transaction: none\nDROP INDEX CONCURRENTLY i;", ("contract", False)),
    ("--phase:MIGRATE\nUPDATE t SET a = 1;", ("migrate", True)),
    ("SELECT 1;\n-- phase: contract\n", ("expand", True)),  # only the header before the first statement counts
])
def test_parse_headers(sql: str, expected: tuple[str, bool]) -> None:
    assert parse_headers(sql, "f.up.sql") == expected


def test_parse_headers_names_the_allowed_values() -> None:
    with pytest.raises(MigrationError, match=r"f\.up\.sql: '-- phase: shrink' is not one of expand, migrate, contract"):
        parse_headers("-- phase: shrink\n", "f.up.sql")
    with pytest.raises(MigrationError, match="is not one of none, required"):
        parse_headers("-- transaction: maybe\n", "f.up.sql")


# --------------------------------------------------------------------------------------------------
# statements
# --------------------------------------------------------------------------------------------------
def test_split_statements_respects_strings_comments_and_dollar_quotes() -> None:
    sql = ("-- head; not a statement\nSELECT 'a;b', \"x;y\";\n/* c; /* nested; */ */\nSELECT $$;$$, $f$ ; $f$;\n"
           "SELECT E'it\\'s;';\n\n")
    statements = split_statements(sql)
    assert [s.line for s in statements] == [2, 4, 5]
    assert statements[0].text.endswith("SELECT 'a;b', \"x;y\"")
    assert "a;b" not in statements[0].code and "SELECT" in statements[0].code


def test_begin_atomic_bodies_are_sent_whole() -> None:
    sql = "CREATE FUNCTION f() RETURNS int LANGUAGE sql\nBEGIN ATOMIC\n SELECT 1;\n SELECT 2;\nEND;\n"
    assert [s.text for s in executable_statements(sql)] == [sql]


def test_allow_comments() -> None:
    assert allow_comments("-- allow: drop-table, rename-column\nx\n  --allow:set-not-null") == {
        1: {"drop-table", "rename-column"}, 3: {"set-not-null"}}


# --------------------------------------------------------------------------------------------------
# lint
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("sql", "rule"), [
    ("DROP TABLE users;", "drop-table"),
    ("DROP TABLE IF EXISTS a, b CASCADE;", "drop-table"),
    ("ALTER TABLE users DROP COLUMN mail;", "drop-column"),
    ("ALTER TABLE users DROP mail;", "drop-column"),
    ("ALTER TABLE users RENAME TO people;", "rename-table"),
    ("ALTER TABLE users RENAME COLUMN mail TO email;", "rename-column"),
    ("ALTER TABLE users RENAME mail TO email;", "rename-column"),
    ("ALTER TABLE users ADD COLUMN region text NOT NULL;", "not-null-column-without-default"),
    ("ALTER TABLE users ADD region text NOT NULL CHECK (region <> '');", "not-null-column-without-default"),
    ("ALTER TABLE users ALTER COLUMN name TYPE varchar(10);", "alter-column-type"),
    ("ALTER TABLE users ALTER name SET DATA TYPE bigint USING name::bigint;", "alter-column-type"),
    ("ALTER TABLE users ALTER COLUMN name SET NOT NULL;", "set-not-null"),
    ("CREATE INDEX users_name ON users (name);", "index-not-concurrently"),
    ("CREATE UNIQUE INDEX IF NOT EXISTS u ON public.users (name);", "index-not-concurrently"),
    ("CREATE INDEX ON users (name);", "index-not-concurrently"),
    ("ALTER TABLE o ADD CONSTRAINT fk FOREIGN KEY (u) REFERENCES users (id);", "foreign-key-without-not-valid"),
    ("ALTER TABLE o ADD COLUMN u bigint REFERENCES users (id);", "foreign-key-without-not-valid"),
    ("ALTER TABLE o ADD CONSTRAINT c CHECK (total >= 0);", "check-without-not-valid"),
    ("ALTER TABLE o ADD CHECK (total >= 0);", "check-without-not-valid"),
])
def test_each_rule(sql: str, rule: str) -> None:
    assert rules(sql) == [(rule, 1, False)]


@pytest.mark.parametrize("sql", [
    "ALTER TABLE users ADD COLUMN email text;",
    "ALTER TABLE users ADD COLUMN tier text NOT NULL DEFAULT 'free';",
    "ALTER TABLE users ALTER COLUMN email DROP NOT NULL;",
    "ALTER TABLE users ALTER COLUMN email SET DEFAULT 'x';",
    "ALTER TABLE users DROP CONSTRAINT users_check;",
    "ALTER TABLE users RENAME CONSTRAINT a TO b;",
    "ALTER TABLE o ADD CONSTRAINT fk FOREIGN KEY (u) REFERENCES users (id) NOT VALID;",
    "ALTER TABLE o ADD CONSTRAINT c CHECK (total >= 0) NOT VALID;",
    "ALTER TABLE o VALIDATE CONSTRAINT c;",
    "CREATE INDEX CONCURRENTLY i ON users (name);",
    "COMMENT ON TABLE users IS 'DROP TABLE users; ALTER TABLE users DROP COLUMN x';",
    "DROP INDEX CONCURRENTLY IF EXISTS i;",
    "UPDATE users SET email = mail WHERE email IS NULL;",
])
def test_backward_compatible_statements_pass(sql: str) -> None:
    assert rules(sql) == []


def test_tables_created_in_the_same_file_are_exempt() -> None:
    sql = ("CREATE TABLE IF NOT EXISTS \"Orders\" (id int, u int);\nCREATE INDEX o_u ON \"Orders\" (u);\n"
           "ALTER TABLE \"Orders\" ADD CONSTRAINT fk FOREIGN KEY (u) REFERENCES users (id);\n"
           "CREATE INDEX o2 ON orders (u);\n")
    assert rules(sql) == [("index-not-concurrently", 4, False)]  # "Orders" is not orders


def test_several_actions_report_their_own_lines() -> None:
    sql = "ALTER TABLE users\n  ADD COLUMN a int,\n  ALTER COLUMN b SET NOT NULL,\n  DROP COLUMN c;\n"
    assert rules(sql) == [("set-not-null", 3, False), ("drop-column", 4, False)]


def test_allow_on_the_line_before_the_statement_or_the_finding() -> None:
    sql = ("-- allow: drop-column\nALTER TABLE users DROP COLUMN a;\nALTER TABLE users\n"
           "  -- allow: set-not-null\n  ALTER COLUMN b SET NOT NULL;\n-- allow: drop-table\n"
           "ALTER TABLE users DROP COLUMN c;\n")
    assert rules(sql) == [("drop-column", 2, True), ("set-not-null", 5, True), ("drop-column", 7, False)]


def test_lint_set_covers_every_rule() -> None:
    seen = set()
    for migration in discover(str(MIGRATIONS / "lint")):
        seen |= {f["rule"] for f in lint_sql(migration.up_sql, migration.up_file) if not f["allowed"]}
    assert seen == set(RULES)


# --------------------------------------------------------------------------------------------------
# plans
# --------------------------------------------------------------------------------------------------
def _set(*phases: str) -> list[Migration]:
    return [Migration(i + 1, f"m{i + 1}", phase=phase, down_sql="SELECT 1;") for i, phase in enumerate(phases)]


def versions(steps) -> list[int]:
    return [step.migration.version for step in steps]


def test_phases_take_the_leading_files_of_their_kind() -> None:
    migrations = _set("expand", "expand", "migrate", "contract", "expand", "migrate")
    assert versions(plan(migrations, None, "expand")) == [1, 2]
    assert versions(plan(migrations, None, "migrate")) == []
    assert versions(plan(migrations, 2, "migrate")) == [3]
    assert versions(plan(migrations, 2, "expand")) == []
    assert versions(plan(migrations, 3, "expand")) == []  # stops before the pending contract file
    assert versions(plan(migrations, 3, "contract")) == [4]
    assert versions(plan(migrations, 4, "expand")) == [5]
    assert versions(plan(migrations, None, "all")) == [1, 2, 3, 4, 5, 6]
    assert versions(plan(migrations, None, "all", target=4)) == [1, 2, 3, 4]
    assert versions(plan(migrations, None, "all", steps=2)) == [1, 2]


def test_down_writes_the_previous_version() -> None:
    migrations = _set("expand", "expand", "contract")
    steps = plan(migrations, 3, "expand", direction="down")
    assert [(s.migration.version, s.target_version) for s in steps] == [(3, 2)]
    steps = plan(migrations, 3, "expand", direction="down", target=1)
    assert [(s.migration.version, s.target_version) for s in steps] == [(3, 2), (2, 1)]
    steps = plan(migrations, 3, "expand", direction="down", steps=5)
    assert [(s.migration.version, s.target_version) for s in steps] == [(3, 2), (2, 1), (1, None)]


def test_plan_errors_are_plain_and_name_the_option() -> None:
    migrations = _set("expand")
    with pytest.raises(MigrationError, match="version 7, which has no file") as error:
        plan(migrations, 7, "expand")
    assert error.value.option == "path"
    with pytest.raises(MigrationError, match="option target must be 'latest' or a version number") as error:
        parse_target("newest", migrations)
    assert error.value.option == "target"
    with pytest.raises(MigrationError, match="option target 9 has no file") as error:
        parse_target("9", migrations)
    assert error.value.option == "target"
    with pytest.raises(MigrationError, match="mutually exclusive") as error:
        plan(migrations, 1, "expand", direction="down", target=1, steps=1)
    assert error.value.option == "steps"
    migrations[0].down_sql = None
    with pytest.raises(MigrationError, match=r"version 1 \(m1\) has no \.down\.sql file") as error:
        plan(migrations, 1, "expand", direction="down")
    assert error.value.option == "path"
    assert parse_target("latest", migrations) is None


# --------------------------------------------------------------------------------------------------
# golang-migrate's lock ids and table names
# --------------------------------------------------------------------------------------------------
def test_advisory_lock_id_is_golang_migrates() -> None:
    # database.GenerateAdvisoryLockId: crc32.ChecksumIEEE(names joined by NUL) * 1486364155, as uint32
    expected = (zlib.crc32(b"app\x00public\x00schema_migrations") * 1486364155) % 2 ** 32
    assert advisory_lock_id("app", "public", "schema_migrations") == expected
    assert advisory_lock_id("app") == (zlib.crc32(b"app") * 1486364155) % 2 ** 32
    cli, library = migrate_lock_ids("app", "public", "schema_migrations")
    assert cli == advisory_lock_id("/app", "public", "schema_migrations") and library == expected
    assert 0 <= cli < 2 ** 32


def test_split_table_name() -> None:
    assert split_table_name("schema_migrations") == (None, "schema_migrations")
    assert split_table_name("ops.versions") == ("ops", "versions")
    with pytest.raises(MigrationError, match="option migration_table") as error:
        split_table_name("a.b.c")
    assert error.value.option == "migration_table"
