# -*- coding: utf-8 -*-
# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Expand -> migrate -> contract migrations in golang-migrate's file layout and version table.

Three parts, driven by :mod:`._migrator` (one run of the ``schema_migrate`` module):

* files: :func:`discover` reads ``{version}_{title}.up.sql`` / ``.down.sql`` (golang-migrate's naming) and the
  ``-- phase:`` / ``-- transaction:`` headers; :func:`split_statements` splits SQL into statements with lines.
* lint: :func:`lint_migration` refuses expand-phase statements that are not backward compatible.
* runner: :func:`plan` (pure) picks the files of a phase; :class:`Runner` applies them on a psycopg connection.

The version table is golang-migrate's own (``database/postgres/postgres.go``): ``CREATE TABLE IF NOT EXISTS
schema_migrations (version bigint not null primary key, dirty boolean not null)``, one row, written as TRUNCATE +
INSERT in one transaction, ``dirty = true`` committed before a file runs and ``false`` after it. Runs exclude each
other, and ``migrate`` CLI runs, with the advisory lock ids golang-migrate computes (:func:`advisory_lock_id`).
"""
from __future__ import annotations

import os
import re
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ansible_collections.progressive.delivery.plugins.module_utils._backoff import (
    BackoffPolicy,
    RetriesExhausted,
    call_with_retries,
)


class _Unavailable(Exception):
    """Stands in for psycopg's exception classes when psycopg is missing (never raised then)."""


try:
    import psycopg
    from psycopg import sql as pgsql
    from psycopg.errors import LockNotAvailable
except ImportError:  # _deps.require(PSYCOPG) reports it before anything connects
    psycopg = pgsql = None
    LockNotAvailable = _Unavailable  # type: ignore[misc,assignment]

#: What the runner raises for database errors.
DatabaseError: type[Exception] = psycopg.Error if psycopg is not None else _Unavailable

PHASES = ("expand", "migrate", "contract")
RUN_PHASES = (*PHASES, "all")
#: golang-migrate's ``database.NilVersion``: the row written for "no version" when dirty.
NIL_VERSION = -1
#: golang-migrate's ``advisoryLockIdSalt`` (database/util.go).
ADVISORY_LOCK_SALT = 1486364155
#: The placeholder a migrate-phase statement may use for the batch size.
BATCH_SIZE_PLACEHOLDER = ":batch_size"

_FILE_RE = re.compile(r"^([0-9]+)_(.*)\.(down|up)\.sql$")
_HEADER_RE = re.compile(r"^--\s*(phase|transaction)\s*:\s*(\S*)\s*$", re.IGNORECASE)
_ALLOW_RE = re.compile(r"^--\s*allow\s*:\s*(.+?)\s*$", re.IGNORECASE)


class MigrationError(Exception):
    """A migration set, option or database state that cannot be used, in plain words; ``option`` names the
    module option at fault, when one is."""

    def __init__(self, msg: str, option: str | None = None) -> None:
        super().__init__(msg)
        self.option = option


# --------------------------------------------------------------------------------------------------
# files
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Statement:
    """One SQL statement: its text, the line it starts on (1-based) and its text with strings and comments
    blanked out (same length and newlines, for matching keywords)."""

    text: str
    line: int
    code: str
    text_line: int = 0

    def line_of(self, offset: int) -> int:
        """The file line of character ``offset`` of :attr:`code`."""
        return self.line + self.code.count("\n", 0, offset)


@dataclass
class Migration:
    version: int
    title: str
    up_path: str | None = None
    down_path: str | None = None
    up_sql: str = ""
    down_sql: str | None = None
    phase: str = "expand"
    transactional: bool = True

    @property
    def up_file(self) -> str:
        return os.path.basename(self.up_path or f"{self.version}_{self.title}.up.sql")

    def summary(self) -> dict[str, Any]:
        return {"version": self.version, "title": self.title, "phase": self.phase, "file": self.up_file,
                "transaction": self.transactional}


def parse_headers(sql: str, filename: str) -> tuple[str, bool]:
    """``(phase, transactional)`` from the ``-- phase:`` and ``-- transaction:`` comments before the first
    statement."""
    phase, transactional = "expand", True
    for raw in sql.splitlines():
        line = raw.strip()
        if not line:
            continue
        if not line.startswith("--"):
            break
        match = _HEADER_RE.match(line)
        if not match:
            continue
        key, value = match.group(1).lower(), match.group(2).lower()
        if key == "phase":
            if value not in PHASES:
                raise MigrationError(f"{filename}: '-- phase: {value}' is not one of {', '.join(PHASES)}", "path")
            phase = value
        elif value not in ("none", "required"):
            raise MigrationError(f"{filename}: '-- transaction: {value}' is not one of none, required", "path")
        else:
            transactional = value != "none"
    return phase, transactional


def _read(path: str) -> str:
    with open(path, encoding="utf-8") as handle:
        return handle.read()


def discover(path: str) -> list[Migration]:
    """The migrations in directory ``path``, by version. Files that do not match golang-migrate's naming are
    ignored, as ``migrate`` ignores them; two files for the same version and direction are an error."""
    if not os.path.isdir(path):
        raise MigrationError(f"path {path} is not a directory", "path")
    found: dict[int, Migration] = {}
    for name in sorted(os.listdir(path)):
        match = _FILE_RE.match(name)
        if not match:
            continue
        version, title, direction = int(match.group(1)), match.group(2), match.group(3)
        migration = found.setdefault(version, Migration(version, title))
        full = os.path.join(path, name)
        if direction == "up":
            if migration.up_path:
                raise MigrationError(f"two up files for version {version}: {migration.up_file} and {name}", "path")
            migration.up_path, migration.up_sql, migration.title = full, _read(full), title
            migration.phase, migration.transactional = parse_headers(migration.up_sql, name)
        else:
            if migration.down_path:
                raise MigrationError(f"two down files for version {version}: "
                                     f"{os.path.basename(migration.down_path)} and {name}", "path")
            migration.down_path, migration.down_sql = full, _read(full)
    missing_up = [m.version for m in found.values() if not m.up_path]
    if missing_up:
        raise MigrationError(f"no .up.sql file for version(s) {', '.join(map(str, sorted(missing_up)))} in {path}",
                             "path")
    return [found[v] for v in sorted(found)]


def _skip_quoted(sql: str, i: int, quote: str, backslash: bool) -> int:
    """Index just after the quoted literal/identifier starting at ``sql[i]``."""
    i += 1
    while i < len(sql):
        char = sql[i]
        if backslash and char == "\\":
            i += 2
            continue
        if char == quote:
            if i + 1 < len(sql) and sql[i + 1] == quote:
                i += 2
                continue
            return i + 1
        i += 1
    return i


_DOLLAR_RE = re.compile(r"\$([A-Za-z_][A-Za-z_0-9]*)?\$")


def _blank(text: str) -> str:
    return re.sub(r"[^\n]", " ", text)


def _scan(sql: str) -> Iterator[tuple[str, int, int]]:
    """Yield ``(kind, start, end)`` spans: kind is ``code``, ``comment``, ``string`` or ``semicolon``."""
    i, n = 0, len(sql)
    while i < n:
        char, nxt = sql[i], sql[i + 1:i + 2]
        if char == "-" and nxt == "-":
            end = sql.find("\n", i)
            end = n if end < 0 else end
            yield "comment", i, end
            i = end
        elif char == "/" and nxt == "*":
            depth, j = 1, i + 2
            while j < n and depth:
                if sql.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif sql.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            yield "comment", i, j
            i = j
        elif char in "'\"":
            backslash = char == "'" and i > 0 and sql[i - 1] in "eE" and (i < 2 or not sql[i - 2].isalnum())
            end = _skip_quoted(sql, i, char, backslash)
            yield ("string" if char == "'" else "code"), i, end
            i = end
        elif char == "$" and (match := _DOLLAR_RE.match(sql, i)) and (i == 0 or not sql[i - 1].isalnum()):
            close = sql.find(match.group(0), match.end())
            end = n if close < 0 else close + len(match.group(0))
            yield "string", i, end
            i = end
        elif char == ";":
            yield "semicolon", i, i + 1
            i += 1
        else:
            j = i + 1
            while j < n and sql[j] not in "-/'\"$;":
                j += 1
            yield "code", i, j
            i = j


def split_statements(sql: str) -> list[Statement]:
    """Split ``sql`` at top-level semicolons (not inside strings, dollar quotes, quoted names or comments)."""
    statements: list[Statement] = []
    text_parts: list[str] = []
    code_parts: list[str] = []
    start: int | None = None

    def flush() -> None:
        nonlocal start
        code = "".join(code_parts)
        if start is not None and code.strip():
            text = "".join(text_parts).strip()
            lead = len(code) - len(code.lstrip())
            first = sql.count("\n", 0, start) + 1
            raw = "".join(text_parts)
            text_line = first + raw.count("\n", 0, len(raw) - len(raw.lstrip()))
            statements.append(Statement(text, first + code.count("\n", 0, lead), code[lead:].rstrip(), text_line))
        text_parts.clear()
        code_parts.clear()
        start = None

    for kind, begin, end in _scan(sql):
        piece = sql[begin:end]
        if kind == "semicolon":
            flush()
            continue
        if start is None:
            start = begin
        text_parts.append(piece)
        code_parts.append(piece if kind == "code" else _blank(piece))
    flush()
    return statements


def allow_comments(sql: str) -> dict[int, set[str]]:
    """Line number -> rules named by a ``-- allow: rule[, rule]`` comment on that line."""
    allowed: dict[int, set[str]] = {}
    for number, raw in enumerate(sql.splitlines(), start=1):
        match = _ALLOW_RE.match(raw.strip())
        if match:
            allowed[number] = {rule.strip().lower() for rule in re.split(r"[,\s]+", match.group(1)) if rule.strip()}
    return allowed


# --------------------------------------------------------------------------------------------------
# lint
# --------------------------------------------------------------------------------------------------
RULES: dict[str, str] = {
    "drop-table": "DROP TABLE breaks the running version that still reads the table; drop it in a contract file",
    "drop-column": "DROP COLUMN breaks the running version that still reads the column; drop it in a contract file",
    "rename-table": "renaming a table breaks the running version; create the new table (and sync it) instead",
    "rename-column": "renaming a column breaks the running version; add a new column, backfill, drop the old one "
                     "in a contract file",
    "not-null-column-without-default": "ADD COLUMN ... NOT NULL without DEFAULT fails on existing rows and breaks "
                                       "inserts of the running version; add it nullable or with a DEFAULT",
    "alter-column-type": "ALTER COLUMN ... TYPE rewrites the table under an ACCESS EXCLUSIVE lock and can break the "
                         "running version; add a new column and backfill",
    "set-not-null": "SET NOT NULL scans the table under an ACCESS EXCLUSIVE lock and breaks inserts of the running "
                    "version; add a CHECK (col IS NOT NULL) NOT VALID, validate it, and set NOT NULL in a contract "
                    "file",
    "index-not-concurrently": "CREATE INDEX without CONCURRENTLY blocks writes to an existing table while it builds; "
                              "use CREATE INDEX CONCURRENTLY in a '-- transaction: none' file",
    "foreign-key-without-not-valid": "adding a FOREIGN KEY without NOT VALID scans the table while blocking writes; "
                                     "add it NOT VALID and VALIDATE CONSTRAINT separately",
    "check-without-not-valid": "adding a CHECK constraint without NOT VALID scans the table under an ACCESS "
                               "EXCLUSIVE lock; add it NOT VALID and VALIDATE CONSTRAINT separately",
}

_NAME = r'(?:"(?:[^"]|"")+"|[A-Za-z_][A-Za-z_0-9$]*)'
_QNAME = rf"{_NAME}(?:\s*\.\s*{_NAME})?"
_CREATE_TABLE_RE = re.compile(
    rf"^CREATE\s+(?:(?:GLOBAL|LOCAL)\s+)?(?:(?:TEMP|TEMPORARY|UNLOGGED)\s+)?TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?"
    rf"({_QNAME})", re.IGNORECASE)
_DROP_TABLE_RE = re.compile(r"^DROP\s+TABLE\b", re.IGNORECASE)
_ALTER_TABLE_RE = re.compile(rf"^ALTER\s+TABLE\s+(?:IF\s+EXISTS\s+)?(?:ONLY\s+)?({_QNAME})\s*\*?\s*", re.IGNORECASE)
_CREATE_INDEX_RE = re.compile(
    rf"^CREATE\s+(?:UNIQUE\s+)?INDEX\s+(CONCURRENTLY\s+)?(?:IF\s+NOT\s+EXISTS\s+)?(?:{_QNAME}\s+)?ON\s+"
    rf"(?:ONLY\s+)?({_QNAME})", re.IGNORECASE)
_ADD_COLUMN_RE = re.compile(r"^ADD\s+(?!(?:CONSTRAINT|PRIMARY|UNIQUE|FOREIGN|CHECK|EXCLUDE)\b)", re.IGNORECASE)
_NOT_VALID_RE = re.compile(r"\bNOT\s+VALID\b", re.IGNORECASE)


def normalize_name(name: str) -> str:
    """Unqualified, unquoted table name (folded to lower case unless quoted), for comparing names."""
    last = re.findall(_NAME, name)[-1]
    return last[1:-1].replace('""', '"') if last.startswith('"') else last.lower()


def _split_actions(code: str, offset: int) -> list[tuple[str, int]]:
    """Top-level comma-separated actions of an ALTER TABLE, each with its offset in the statement."""
    actions, depth, begin = [], 0, offset
    for i in range(offset, len(code)):
        char = code[i]
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "," and depth == 0:
            actions.append((code[begin:i], begin))
            begin = i + 1
    actions.append((code[begin:], begin))
    stripped = []
    for text, start in actions:
        lead = len(text) - len(text.lstrip())
        stripped.append((text.strip(), start + lead))
    return stripped


def _action_rules(action: str) -> list[str]:
    checks: list[tuple[str, bool]] = [
        ("rename-table", bool(re.match(r"^RENAME\s+TO\b", action, re.IGNORECASE))),
        ("rename-column", bool(re.match(r"^RENAME\s+(?!TO\b|CONSTRAINT\b)", action, re.IGNORECASE))),
        ("drop-column", bool(re.match(r"^DROP\s+(?!CONSTRAINT\b)", action, re.IGNORECASE))),
        ("alter-column-type", bool(re.match(rf"^ALTER\s+(?:COLUMN\s+)?{_NAME}\s+(?:SET\s+DATA\s+)?TYPE\b", action,
                                            re.IGNORECASE))),
        ("set-not-null", bool(re.match(rf"^ALTER\s+(?:COLUMN\s+)?{_NAME}\s+SET\s+NOT\s+NULL\b", action,
                                       re.IGNORECASE))),
    ]
    is_add = action.upper().startswith("ADD")
    is_add_column = bool(_ADD_COLUMN_RE.match(action))
    not_valid = bool(_NOT_VALID_RE.search(action))
    checks += [
        ("not-null-column-without-default",
         is_add_column and bool(re.search(r"\bNOT\s+NULL\b", action, re.IGNORECASE))
         and not re.search(r"\bDEFAULT\b", action, re.IGNORECASE)),
        ("foreign-key-without-not-valid",
         is_add and bool(re.search(r"\b(?:FOREIGN\s+KEY|REFERENCES)\b", action, re.IGNORECASE)) and not not_valid),
        ("check-without-not-valid",
         is_add and not is_add_column and not not_valid
         and bool(re.match(rf"^ADD\s+(?:CONSTRAINT\s+{_NAME}\s+)?CHECK\b", action, re.IGNORECASE))),
    ]
    return [rule for rule, hit in checks if hit]


def lint_statement(statement: Statement, new_tables: set[str]) -> list[tuple[str, int]]:
    """``(rule, line)`` for every rule ``statement`` breaks; tables in ``new_tables`` (created in the same file,
    so empty and unused) are exempt."""
    code = statement.code
    if _DROP_TABLE_RE.match(code):
        names = [normalize_name(n) for n in re.findall(_QNAME, code[_DROP_TABLE_RE.match(code).end():])
                 if n.upper() not in ("IF", "EXISTS", "CASCADE", "RESTRICT")]
        return [] if names and set(names) <= new_tables else [("drop-table", statement.line)]
    match = _CREATE_INDEX_RE.match(code)
    if match:
        if match.group(1) or normalize_name(match.group(2)) in new_tables:
            return []
        return [("index-not-concurrently", statement.line)]
    match = _ALTER_TABLE_RE.match(code)
    if not match or normalize_name(match.group(1)) in new_tables:
        return []
    return [(rule, statement.line_of(offset))
            for action, offset in _split_actions(code, match.end()) for rule in _action_rules(action)]


def lint_sql(sql: str, filename: str) -> list[dict[str, Any]]:
    """Findings for one expand-phase file: ``file``, ``line``, ``rule``, ``message``, ``statement`` and
    ``allowed`` (a ``-- allow: <rule>`` comment on the line before the statement or the offending line)."""
    allowed_at = allow_comments(sql)
    new_tables: set[str] = set()
    findings = []
    for statement in split_statements(sql):
        created = _CREATE_TABLE_RE.match(statement.code)
        if created:
            new_tables.add(normalize_name(created.group(1)))
            continue
        for rule, line in lint_statement(statement, new_tables):
            allowed = rule in allowed_at.get(statement.line - 1, set()) | allowed_at.get(line - 1, set())
            findings.append({"file": filename, "line": line, "rule": rule, "message": RULES[rule],
                             "statement": _shorten(statement.text), "allowed": allowed})
    return findings


def lint_migration(migration: Migration) -> list[dict[str, Any]]:
    """Lint findings of ``migration``; only expand-phase files must be backward compatible."""
    if migration.phase != "expand":
        return []
    return lint_sql(migration.up_sql, migration.up_file)


def _shorten(text: str, limit: int = 160) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[:limit - 3] + "..."


def format_findings(findings: list[dict[str, Any]]) -> str:
    return "; ".join(f"{f['file']}:{f['line']}: {f['rule']}: {f['message']}" for f in findings)


# --------------------------------------------------------------------------------------------------
# plan
# --------------------------------------------------------------------------------------------------
@dataclass
class Step:
    """One file to run: ``sql`` of ``migration`` in ``direction``; ``target_version`` is what golang-migrate
    writes to the version table for it (the file's version going up, the previous one going down)."""

    migration: Migration
    direction: str
    target_version: int | None

    @property
    def sql(self) -> str:
        return self.migration.up_sql if self.direction == "up" else (self.migration.down_sql or "")


def _index_of(migrations: list[Migration], version: int | None) -> int:
    """Index of the applied migration ``version`` (-1 for none)."""
    if version is None:
        return -1
    for index, migration in enumerate(migrations):
        if migration.version == version:
            return index
    raise MigrationError(f"the database is at version {version}, which has no file in the migrations path "
                         f"(known versions: {', '.join(str(m.version) for m in migrations) or 'none'})", "path")


def parse_target(target: str | int | None, migrations: list[Migration]) -> int | None:
    """``None`` for ``latest``, else the version, which must have a file."""
    if target is None or str(target).strip().lower() in ("", "latest"):
        return None
    try:
        version = int(str(target).strip())
    except ValueError:
        raise MigrationError(f"option target must be 'latest' or a version number, got {target!r}",
                             "target") from None
    if version not in {m.version for m in migrations}:
        raise MigrationError(f"option target {version} has no file in the migrations path", "target")
    return version


def pending(migrations: list[Migration], current: int | None) -> list[Migration]:
    return migrations[_index_of(migrations, current) + 1:]


def plan(migrations: list[Migration], current: int | None, phase: str, target: int | None = None,
         direction: str = "up", steps: int | None = None) -> list[Step]:
    """The files a run applies, in order.

    Up: pending files up to ``target``; ``expand``, ``migrate`` and ``contract`` take the leading pending files of
    that phase and stop before the first of another phase (so ``expand`` stops before the first pending contract
    file, and before a backfill that must wait for the new version to ship); ``all`` takes every pending file.
    Down: ``steps`` applied files (default 1), or down to ``target``, newest first.
    """
    if direction == "down":
        return _plan_down(migrations, current, target, steps)
    steps_up = []
    for migration in pending(migrations, current):
        if target is not None and migration.version > target:
            break
        if phase != "all" and migration.phase != phase:
            break
        steps_up.append(Step(migration, "up", migration.version))
        if steps is not None and len(steps_up) >= steps:
            break
    return steps_up


def _plan_down(migrations: list[Migration], current: int | None, target: int | None,
               steps: int | None) -> list[Step]:
    index = _index_of(migrations, current)
    if target is not None and steps is not None:
        raise MigrationError("options target and steps are mutually exclusive with direction=down", "steps")
    down = []
    while index >= 0:
        migration = migrations[index]
        if target is not None and migration.version <= target:
            break
        if target is None and len(down) >= (1 if steps is None else steps):
            break
        if migration.down_sql is None:
            raise MigrationError(f"version {migration.version} ({migration.title}) has no .down.sql file", "path")
        previous = migrations[index - 1].version if index > 0 else None
        down.append(Step(migration, "down", previous))
        index -= 1
    return down


# --------------------------------------------------------------------------------------------------
# database
# --------------------------------------------------------------------------------------------------
def advisory_lock_id(database_name: str, *additional_names: str) -> int:
    """golang-migrate's ``database.GenerateAdvisoryLockId``: CRC-32 (IEEE) of the names joined by NUL bytes,
    times the salt, as an unsigned 32-bit number."""
    data = b"\x00".join(name.encode("utf-8") for name in (database_name, *additional_names))
    return (zlib.crc32(data) * ADVISORY_LOCK_SALT) & 0xFFFFFFFF


def migrate_lock_ids(database_name: str, schema: str, table: str) -> list[int]:
    """The advisory lock ids a golang-migrate (v4) run on this table takes: the ``migrate`` CLI opens the database
    from a URL and names it by the URL path (``/<db>``); the library's ``WithInstance`` uses
    ``current_database()``. Taking both excludes either kind of run."""
    ids = [advisory_lock_id("/" + database_name, schema, table), advisory_lock_id(database_name, schema, table)]
    return list(dict.fromkeys(ids))


def split_table_name(name: str) -> tuple[str | None, str]:
    """``schema.table`` or ``table`` (no quoting, as in golang-migrate's ``x-migrations-table``)."""
    if not re.fullmatch(r"[^.\s]+(\.[^.\s]+)?", name or ""):
        raise MigrationError(f"option migration_table must be 'table' or 'schema.table', got {name!r}",
                             "migration_table")
    schema, table = name.rpartition(".")[::2]
    return schema or None, table


@dataclass
class Settings:
    """How a run connects and behaves. ``conninfo``/``connect_kwargs`` go to ``psycopg.connect``."""

    conninfo: str = ""
    connect_kwargs: dict[str, Any] = field(default_factory=dict)
    migration_table: str = "schema_migrations"
    lock_timeout: str = "5s"
    statement_timeout: str = "0"
    lock_wait: str = "60s"
    lock_retries: int = 3
    batch_size: int = 1000
    batch_pause: float = 0.0
    max_batches: int = 0
    application_name: str = "progressive.delivery.schema_migrate"


class MigrationFailed(Exception):
    """A file failed; the version table is left dirty at ``version`` (golang-migrate's behaviour)."""

    def __init__(self, step: Step, error: Exception, line: int | None) -> None:
        self.step, self.error, self.line = step, error, line
        where = f"{step.migration.up_file if step.direction == 'up' else step.migration.down_path}"
        at_line = f" line {line}" if line else ""
        super().__init__(f"migration {step.migration.version} ({step.migration.title}, {step.direction}) failed "
                         f"in {os.path.basename(where)}{at_line}: {str(error).strip()}")


def executable_statements(sql: str) -> list[Statement]:
    """The statements to send one by one. A file with a SQL-standard function body (``BEGIN ATOMIC``), whose inner
    semicolons a splitter cannot tell apart, is sent whole, as golang-migrate sends every file."""
    statements = split_statements(sql)
    if any(re.search(r"\bBEGIN\s+ATOMIC\b", s.code, re.IGNORECASE) for s in statements):
        return [Statement(sql, statements[0].line, sql, text_line=1)]
    return statements


def error_line(statement: Statement, error: Exception) -> int:
    """The file line where PostgreSQL reported ``error`` in ``statement``: from the error's character position,
    else the statement's first line of code (DDL errors such as a missing table carry no position)."""
    diag = getattr(error, "diag", None)
    try:
        pos = int(getattr(diag, "statement_position", None))
    except (TypeError, ValueError):
        return statement.line
    return statement.text_line + statement.text.count("\n", 0, max(pos - 1, 0))


def failure_line(error: Exception) -> int | None:
    """The line noted on ``error`` by the runner."""
    for note in getattr(error, "__notes__", []):
        match = re.fullmatch(r"line (\d+)", note)
        if match:
            return int(match.group(1))
    return None


class Runner:
    """Applies steps on one autocommit psycopg connection that holds the advisory locks."""

    def __init__(self, conn: Any, settings: Settings, *, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.conn = conn
        self.settings = settings
        self.sleep = sleep
        self.clock = clock
        schema, self.table = split_table_name(settings.migration_table)
        self.schema = schema or self._scalar("SELECT current_schema()")
        self.database = self._scalar("SELECT current_database()")
        self.locked: list[int] = []

    @classmethod
    def connect(cls, settings: Settings) -> Runner:
        conn = psycopg.connect(settings.conninfo, autocommit=True, application_name=settings.application_name,
                               **settings.connect_kwargs)
        try:
            runner = cls(conn, settings)
            runner.set_timeouts(settings.lock_timeout)
        except BaseException:
            conn.close()
            raise
        return runner

    def close(self) -> None:
        try:
            self.unlock()
        finally:
            self.conn.close()

    # -- session ---------------------------------------------------------------------------------
    def _scalar(self, query: Any, params: tuple | None = None) -> Any:
        with self.conn.cursor() as cur:
            cur.execute(query, params)
            row = cur.fetchone()
        return None if row is None else row[0]

    def set_timeouts(self, lock_timeout: str) -> None:
        with self.conn.cursor() as cur:
            cur.execute("SELECT set_config('lock_timeout', %s, false), set_config('statement_timeout', %s, false)",
                        (lock_timeout, self.settings.statement_timeout))

    def lock(self) -> None:
        """Take golang-migrate's advisory locks, waiting at most ``lock_wait`` for another run."""
        self.set_timeouts(self.settings.lock_wait)
        try:
            for lock_id in migrate_lock_ids(self.database, self.schema, self.table):
                try:
                    self._scalar("SELECT pg_advisory_lock(%s)", (lock_id,))
                except LockNotAvailable:
                    raise MigrationError(
                        f"another migration run (this module or the migrate CLI) holds the advisory lock {lock_id} "
                        f"on {self.database}.{self.schema}.{self.table}; gave up after lock_wait="
                        f"{self.settings.lock_wait}", "lock_wait") from None
                self.locked.append(lock_id)
        finally:
            self.set_timeouts(self.settings.lock_timeout)

    def unlock(self) -> None:
        while self.locked:
            self._scalar("SELECT pg_advisory_unlock(%s)", (self.locked.pop(),))

    # -- version table ---------------------------------------------------------------------------
    @property
    def table_ident(self) -> Any:
        return pgsql.Identifier(self.schema, self.table)

    def table_exists(self) -> bool:
        return bool(self._scalar("SELECT count(1) FROM information_schema.tables WHERE table_schema = %s "
                                 "AND table_name = %s", (self.schema, self.table)))

    def ensure_table(self) -> None:
        if not self.table_exists():
            self.conn.execute(pgsql.SQL("CREATE TABLE IF NOT EXISTS {} (version bigint not null primary key, "
                                        "dirty boolean not null)").format(self.table_ident))

    def version(self) -> tuple[int | None, bool]:
        """``(version, dirty)``; ``(None, False)`` for an empty or missing table. A dirty row without a version
        (golang-migrate's -1) is ``(None, True)``."""
        if not self.table_exists():
            return None, False
        with self.conn.cursor() as cur:
            cur.execute(pgsql.SQL("SELECT version, dirty FROM {} LIMIT 1").format(self.table_ident))
            row = cur.fetchone()
        if row is None:
            return None, False
        version, dirty = int(row[0]), bool(row[1])
        return (None if version == NIL_VERSION else version), dirty

    def set_version(self, version: int | None, dirty: bool) -> None:
        """golang-migrate's ``SetVersion``: TRUNCATE + INSERT in one transaction (no row for a clean nil)."""
        with self.conn.transaction():
            self.conn.execute(pgsql.SQL("TRUNCATE {}").format(self.table_ident))
            if version is not None or dirty:
                self.conn.execute(pgsql.SQL("INSERT INTO {} (version, dirty) VALUES (%s, %s)").format(
                    self.table_ident), (NIL_VERSION if version is None else version, dirty))

    # -- running files ---------------------------------------------------------------------------
    def _with_lock_retries(self, func: Callable[[], Any]) -> Any:
        policy = BackoffPolicy(retries=self.settings.lock_retries, base_delay=1.0, max_delay=10.0)
        try:
            return call_with_retries(func, policy, lambda exc: isinstance(exc, LockNotAvailable), sleep=self.sleep)
        except RetriesExhausted as exc:
            raise exc.last_error from exc

    def _execute_file(self, sql: str) -> None:
        """Run ``sql`` statement by statement (so a failure names its line) on the current transaction."""
        for statement in executable_statements(sql):
            try:
                self.conn.execute(statement.text)
            except DatabaseError as exc:
                exc.add_note(f"line {error_line(statement, exc)}")  # read back by failure_line()
                raise

    def _run_transaction(self, sql: str) -> None:
        def attempt() -> None:
            with self.conn.transaction():
                self._execute_file(sql)
        self._with_lock_retries(attempt)

    def _run_autocommit(self, sql: str) -> None:
        for statement in executable_statements(sql):
            try:
                self._with_lock_retries(lambda text=statement.text: self.conn.execute(text))
            except DatabaseError as exc:
                exc.add_note(f"line {error_line(statement, exc)}")
                raise

    def _batch(self, text: str) -> int:
        def attempt() -> int:
            with self.conn.transaction(), self.conn.cursor() as cur:
                cur.execute(text)
                return cur.rowcount
        return self._with_lock_retries(attempt)

    def backfill(self, sql: str) -> dict[str, int]:
        """Re-run each statement, one transaction per batch, until it touches 0 rows."""
        batches = rows = 0
        for statement in split_statements(sql):
            text = statement.text.replace(BATCH_SIZE_PLACEHOLDER, str(self.settings.batch_size))
            statement_batches = 0
            while True:
                if statement_batches and self.settings.batch_pause > 0:
                    self.sleep(self.settings.batch_pause)
                touched = self._batch(text)
                batches, statement_batches = batches + 1, statement_batches + 1
                rows += max(touched, 0)
                if touched <= 0:
                    break
                if self.settings.max_batches and statement_batches >= self.settings.max_batches:
                    raise MigrationError(f"statement at line {statement.line} still touched rows after "
                                         f"max_batches={self.settings.max_batches} batches", "max_batches")
        return {"batches": batches, "rows": rows}

    def apply(self, step: Step) -> dict[str, Any]:
        """Run one step as golang-migrate does: dirty first, the file, then clean."""
        migration = step.migration
        started = self.clock()
        self.set_version(step.target_version, True)
        stats: dict[str, int] = {}
        try:
            if step.direction == "up" and migration.phase == "migrate":
                stats = self.backfill(step.sql)
            elif migration.transactional:
                self._run_transaction(step.sql)
            else:
                self._run_autocommit(step.sql)
        except (DatabaseError, MigrationError) as exc:
            raise MigrationFailed(step, exc, failure_line(exc)) from exc
        self.set_version(step.target_version, False)
        return {"version": migration.version, "title": migration.title, "phase": migration.phase,
                "direction": step.direction, "seconds": round(self.clock() - started, 3), **stats}

    def dry_run(self, steps: list[Step]) -> list[dict[str, Any]]:
        """Check mode: every step inside one transaction (a savepoint each) that is rolled back at the end.

        Later files see what earlier ones did, nothing stays behind. A backfill runs its first batch only; when that
        touched rows, the files after it (which may need the whole backfill) are reported as not checked.
        ``transaction: none`` files are reported as not checkable and skipped.
        """
        results: list[dict[str, Any]] = []
        unfinished_backfill: int | None = None
        with self.conn.transaction(force_rollback=True):
            for step in steps:
                result = {"version": step.migration.version, "title": step.migration.title,
                          "phase": step.migration.phase, "direction": step.direction}
                if unfinished_backfill is not None:
                    results.append({**result, "checked": False,
                                    "reason": f"runs after the backfill of version {unfinished_backfill}, of "
                                              f"which a dry run only runs the first batch"})
                    continue
                if not step.migration.transactional:
                    results.append({**result, "checked": False,
                                    "reason": "'-- transaction: none' file: cannot run inside a transaction"})
                    continue
                started = self.clock()
                try:
                    rows = self._dry_run_step(step)
                except DatabaseError as exc:
                    raise MigrationFailed(step, exc, failure_line(exc)) from exc  # rolls back the whole run
                results.append({**result, "checked": True, "seconds": round(self.clock() - started, 3),
                                **({"rows_first_batch": rows} if rows is not None else {})})
                if rows:
                    unfinished_backfill = step.migration.version
        return results

    def _dry_run_step(self, step: Step) -> int | None:
        with self.conn.transaction():
            if step.direction == "up" and step.migration.phase == "migrate":
                rows = 0
                with self.conn.cursor() as cur:
                    for statement in split_statements(step.sql):
                        cur.execute(statement.text.replace(BATCH_SIZE_PLACEHOLDER, str(self.settings.batch_size)))
                        rows += max(cur.rowcount, 0)
                return rows
            self._execute_file(step.sql)
        return None


# --------------------------------------------------------------------------------------------------
# connection options (documented in the _postgres doc fragment)
# --------------------------------------------------------------------------------------------------
def postgres_argument_spec() -> dict[str, dict[str, Any]]:
    """A fresh copy of the PostgreSQL connection options (merge into a module's own argument_spec)."""
    return {
        "login_host": {"type": "str", "default": "localhost"},
        "login_port": {"type": "int", "default": 5432},
        "login_user": {"type": "str"},
        "login_password": {"type": "str", "no_log": True},
        "login_db": {"type": "str"},
        "dsn": {"type": "str", "no_log": True},
        "connect_timeout": {"type": "int", "default": 10},
    }


def connection_settings(params: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """``(conninfo, keyword arguments)`` for ``psycopg.connect`` from the connection options."""
    kwargs: dict[str, Any] = {"connect_timeout": params["connect_timeout"]}
    if params.get("dsn"):
        return params["dsn"], kwargs
    names = {"login_host": "host", "login_port": "port", "login_user": "user", "login_password": "password",
             "login_db": "dbname"}
    kwargs.update({libpq: params[option] for option, libpq in names.items() if params.get(option) is not None})
    return "", kwargs


def dsn_secrets(dsn: str | None) -> list[str]:
    """The password inside ``dsn`` (to hide it from any message), if psycopg can parse it."""
    if not dsn or psycopg is None:
        return []
    try:
        password = psycopg.conninfo.conninfo_to_dict(dsn).get("password")
    except psycopg.Error:
        return []
    return [str(password)] if password else []
