# -*- coding: utf-8 -*-
# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The PostgreSQL backend of the state store (``state_backend=postgres``): the same interface and semantics as the
file store (:class:`._state_store.StateStore`), for entry points (a laptop, AWX, GitLab runners) on different
machines.

Tables (created on first write, ``CREATE TABLE IF NOT EXISTS`` under a transaction-level advisory lock, so racing
first runs do not collide)::

    delivery_state          (kind, name) primary key; format, version, data jsonb, checksum, updated_at, updated_by
    delivery_state_history  id bigserial; kind, name, operation (create | write | remove), data, checksum, at, by

A record is a row of ``delivery_state``; the row's ``data`` is the record the file store keeps in ``data`` of its
envelope, with the same ``format``/``version`` and the SHA-256 of its canonical JSON (:func:`._state_store.checksum`).
A row that fails those checks raises :class:`CorruptStateError` naming the row; a table of that name without these
columns is refused. Every write, create and remove also appends a row to ``delivery_state_history`` in the same
statement (append-only; the records themselves keep the shape they have in files, guard, release and approval
histories included).

:meth:`PgStateStore.mutex` is a transaction holding ``pg_advisory_xact_lock`` of the record's key (waiting at most
``timeout`` through ``lock_timeout``): the reads and writes inside it are one transaction, committed when the block
ends and rolled back when it raises. PostgreSQL releases the lock when the transaction ends, when the client dies
(its connection closes) and when the server restarts, so a crash can never leave a record stuck, and of any number
of racing runs exactly one finds the record as it was. The deployment lock itself is the row, so it survives a
restart; a run that loses its connection inside the mutex fails with an error naming the server's host and port
(never the password), and its transaction, never committed, changed nothing.

psycopg (3.1 or later) is imported only when a store is opened: the file backend never loads it.
"""
from __future__ import annotations

import contextlib
import time
import urllib.parse
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from ansible_collections.progressive.delivery.plugins.module_utils._state_store import (
    FORMAT,
    KINDS,
    MUTEX_TIMEOUT,
    VERSION,
    CorruptStateError,
    StateStoreError,
    checksum,
    safe_filename,
    validate_name,
)

TABLE = "delivery_state"
HISTORY_TABLE = "delivery_state_history"
#: Columns a ``delivery_state`` table must have to be trusted as ours.
COLUMNS = ("kind", "name", "format", "version", "data", "checksum", "updated_at", "updated_by")
HISTORY_COLUMNS = ("id", "kind", "name", "operation", "data", "checksum", "at", "by")
#: Key of the advisory lock that serialises the creation of the tables ("pdst" + 1).
SCHEMA_LOCK_KEY = 0x70647374_00000001
CONNECT_TIMEOUT = 10
APPLICATION_NAME = "progressive.delivery state store"
MASK = "********"

DDL = (
    f"CREATE TABLE IF NOT EXISTS {TABLE} ("
    " kind text NOT NULL, name text NOT NULL, format text NOT NULL, version integer NOT NULL,"
    " data jsonb NOT NULL, checksum text NOT NULL, updated_at timestamptz NOT NULL DEFAULT now(),"
    " updated_by text NOT NULL DEFAULT current_user, PRIMARY KEY (kind, name))",
    f"CREATE TABLE IF NOT EXISTS {HISTORY_TABLE} ("
    " id bigserial PRIMARY KEY, kind text NOT NULL, name text NOT NULL, operation text NOT NULL,"
    " data jsonb, checksum text, at timestamptz NOT NULL DEFAULT clock_timestamp(),"
    " by text NOT NULL DEFAULT current_user)",
    f"CREATE INDEX IF NOT EXISTS {HISTORY_TABLE}_record ON {HISTORY_TABLE} (kind, name, id)",
    f"COMMENT ON TABLE {TABLE} IS 'progressive.delivery state store ({FORMAT} v{VERSION}): one row per record'",
)

_SAVE = (f"WITH saved AS (INSERT INTO {TABLE} AS s (kind, name, format, version, data, checksum)"
         " VALUES (%(kind)s, %(name)s, %(format)s, %(version)s, %(data)s, %(checksum)s) {conflict}"
         " RETURNING kind, name, data, checksum)"
         f" INSERT INTO {HISTORY_TABLE} (kind, name, operation, data, checksum)"
         " SELECT kind, name, %(operation)s, data, checksum FROM saved RETURNING id")
_WRITE = _SAVE.format(conflict="ON CONFLICT (kind, name) DO UPDATE SET format = EXCLUDED.format,"
                               " version = EXCLUDED.version, data = EXCLUDED.data, checksum = EXCLUDED.checksum,"
                               " updated_at = now(), updated_by = current_user")
#: Insert only where no row exists: on a conflict nothing is returned, so nothing goes to the history either.
_CREATE = _SAVE.format(conflict="ON CONFLICT (kind, name) DO NOTHING")
_REMOVE = (f"WITH gone AS (DELETE FROM {TABLE} WHERE kind = %(kind)s AND name = %(name)s RETURNING kind, name)"
           f" INSERT INTO {HISTORY_TABLE} (kind, name, operation) SELECT kind, name, 'remove' FROM gone"
           " RETURNING id")
_READ = f"SELECT format, version, data, checksum FROM {TABLE} WHERE kind = %s AND name = %s"


def as_stored(value: Any) -> Any:
    """``value`` as it comes back from a ``jsonb`` column: PostgreSQL's numeric prints no exponent and no negative
    zero, so a float Python writes as ``1e+16`` reads back as an int and ``-0.0`` as ``0.0``. The checksum is taken
    over this form, so a record reads back with the checksum it was written with."""
    if isinstance(value, float):
        if value == 0:
            return 0.0
        return int(value) if "e+" in repr(value) else value
    if isinstance(value, dict):
        return {key: as_stored(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [as_stored(item) for item in value]
    return value


def _psycopg() -> Any:
    import psycopg  # pylint: disable=import-outside-toplevel

    return psycopg


# --------------------------------------------------------------------------------------------------
# The DSN: where it points, and how to keep its password out of every message
# --------------------------------------------------------------------------------------------------
def parse_dsn(dsn: str) -> dict[str, str]:
    """libpq's reading of ``dsn`` (URI or ``key=value``). Its own error could quote the password: not shown."""
    try:
        from psycopg.conninfo import conninfo_to_dict  # pylint: disable=import-outside-toplevel

        return {key: str(value) for key, value in conninfo_to_dict(dsn).items() if value is not None}
    except Exception:  # pylint: disable=broad-except
        raise StateStoreError("option state_dsn is not a valid libpq connection string (a postgresql:// URI or"
                              " key=value pairs); its value is not shown, as it may hold a password",
                              option="state_dsn") from None


def location(params: Mapping[str, str], environ: Mapping[str, str] | None = None) -> str:
    """``postgresql://host:port/dbname`` of parsed DSN ``params`` (libpq's defaults from ``PG*`` variables), with
    neither user nor password."""
    import os  # pylint: disable=import-outside-toplevel

    environ = os.environ if environ is None else environ
    host = params.get("host") or params.get("hostaddr") or environ.get("PGHOST") or "localhost"
    port = params.get("port") or environ.get("PGPORT") or "5432"
    dbname = params.get("dbname") or environ.get("PGDATABASE") or params.get("user") or environ.get("PGUSER") or ""
    hosts = [part if ":" not in part or part.startswith("[") else f"[{part}]" for part in host.split(",")]
    ports = port.split(",")
    where = ",".join(f"{h}:{ports[min(i, len(ports) - 1)]}" for i, h in enumerate(hosts))
    return f"postgresql://{where}/{urllib.parse.quote(dbname, safe='')}"


def redactor(dsn: str, params: Mapping[str, str]) -> Callable[[str], str]:
    """A function that masks the DSN and its password (as given and percent-encoded) in a text."""
    secrets = {dsn}
    password = params.get("password")
    if password:
        secrets |= {password, urllib.parse.quote(password, safe=""), urllib.parse.quote(password)}
    ordered = sorted((secret for secret in secrets if secret), key=len, reverse=True)

    def redact(text: str) -> str:
        for secret in ordered:
            text = text.replace(secret, MASK)
        return text

    return redact


# --------------------------------------------------------------------------------------------------
# The store
# --------------------------------------------------------------------------------------------------
class PgStateStore:
    """Records of one ``kind`` in the ``delivery_state`` table of the database at ``dsn``."""

    backend = "postgres"

    def __init__(self, dsn: str, kind: str, connect_timeout: int = CONNECT_TIMEOUT) -> None:
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
        self.kind = kind
        self._dsn = dsn
        self._params = parse_dsn(dsn)
        self._redact = redactor(dsn, self._params)
        self.location = location(self._params)
        self.connect_timeout = connect_timeout
        self._conn: Any = None
        self._in_transaction = False
        self._tables = False

    def __repr__(self) -> str:  # never the DSN
        return f"PgStateStore({self.location!r}, {self.kind!r})"

    def path(self, name: str) -> str:
        """The record's address (reported as ``state_file``): ``postgresql://host:port/db/delivery_state/kind/name``."""
        return f"{self.location}/{TABLE}/{self.kind}/{safe_filename(name)}"

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None

    # connection and errors -------------------------------------------------------------------------
    def _message(self, exc: BaseException) -> str:
        text = " ".join(str(exc).split()) or type(exc).__name__
        return self._redact(text)

    def _connect(self) -> Any:
        if self._conn is not None and not self._conn.closed and not self._conn.broken:
            return self._conn
        self.close()
        psycopg = _psycopg()
        extra: dict[str, Any] = {"autocommit": True}
        if "connect_timeout" not in self._params:
            extra["connect_timeout"] = self.connect_timeout
        if "application_name" not in self._params:
            extra["application_name"] = APPLICATION_NAME
        try:
            self._conn = psycopg.connect(self._dsn, **extra)
        except psycopg.Error as exc:
            raise StateStoreError(f"cannot connect to the PostgreSQL state store at {self.location} (option"
                                  f" state_dsn): {self._message(exc)}", option="state_dsn") from None
        self._tables = False
        return self._conn

    def _failure(self, doing: str, name: str | None, exc: BaseException, committing: bool = False) -> StateStoreError:
        psycopg = _psycopg()
        record = f" the {self.kind} record {name!r}" if name is not None else ""
        if isinstance(exc, psycopg.OperationalError) and (self._conn is None or self._conn.broken
                                                          or self._conn.closed):
            if committing:
                outcome = ("the connection was lost while committing, so this change may or may not have been"
                           " written: read the record again before retrying")
            else:
                outcome = ("nothing was written by this step (its transaction was rolled back) and records written"
                           " before are kept; run the task again once PostgreSQL is back")
            return StateStoreError(f"lost the connection to the PostgreSQL state store at {self.location} while"
                                   f" {doing}{record}: {self._message(exc)}; {outcome}")
        return StateStoreError(f"PostgreSQL state store at {self.location}: {doing}{record} failed:"
                               f" {self._message(exc)}")

    def _execute(self, sql: str, params: Any, doing: str, name: str | None, retry: bool = False) -> Any:
        """One statement; psycopg errors become :class:`StateStoreError`. ``retry``: once more on a fresh connection
        when a connection found broken (the server restarted since) failed outside a transaction."""
        psycopg = _psycopg()
        conn = self._connect()
        try:
            return conn.execute(sql, params)
        except psycopg.OperationalError as exc:
            if retry and not self._in_transaction and (conn.broken or conn.closed):
                self.close()
                return self._execute(sql, params, doing, name, retry=False)
            raise self._failure(doing, name, exc) from None
        except psycopg.Error as exc:
            raise self._failure(doing, name, exc) from None

    # schema ----------------------------------------------------------------------------------------
    def _have_tables(self, name: str | None = None) -> bool:
        """Whether our tables exist (cached once they do); a table of that name with other columns is refused."""
        if self._tables:
            return True
        row = self._execute("SELECT to_regclass(%s) IS NOT NULL, to_regclass(%s) IS NOT NULL", (TABLE, HISTORY_TABLE),
                            "looking up its tables", name, retry=True).fetchone()
        if not row[0] and not row[1]:
            return False
        for table, expected in ((TABLE, COLUMNS), (HISTORY_TABLE, HISTORY_COLUMNS)):
            found = {column for (column,) in self._execute(
                "SELECT attname FROM pg_attribute WHERE attrelid = to_regclass(%s) AND attnum > 0"
                " AND NOT attisdropped", (table,), "looking up its tables", name).fetchall()}
            missing = [column for column in expected if column not in found]
            if missing:
                raise StateStoreError(f"PostgreSQL state store at {self.location}: table {table} is not a"
                                      f" progressive.delivery state table (it has no column {', '.join(missing)});"
                                      " point state_dsn at another database or schema", option="state_dsn")
        self._tables = True
        return True

    def _ensure_tables(self, name: str) -> None:
        if self._have_tables(name):
            return
        own = not self._in_transaction
        if own:
            self._execute("BEGIN", None, "creating its tables", name)
        try:
            self._execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK_KEY,), "creating its tables", name)
            for statement in DDL:
                self._execute(statement, None, "creating its tables", name)
            if own:
                self._execute("COMMIT", None, "creating its tables", name)
        except BaseException:
            if own:
                self._rollback_quietly()
            raise
        self._tables = self._have_tables(name)

    def _rollback_quietly(self) -> None:
        if self._conn is not None and not self._conn.closed and not self._conn.broken:
            with contextlib.suppress(Exception):
                self._conn.execute("ROLLBACK")

    # reading ---------------------------------------------------------------------------------------
    def read(self, name: str) -> dict[str, Any] | None:
        """The record's data, ``None`` when there is none. :class:`CorruptStateError` when it cannot be trusted."""
        validate_name(name)
        if not self._have_tables(name):
            return None
        row = self._execute(_READ, (self.kind, name), "reading", name, retry=True).fetchone()
        if row is None:
            return None
        return self._verify(name, *row)

    def _verify(self, name: str, row_format: Any, row_version: Any, data: Any, row_checksum: Any) -> dict[str, Any]:
        def corrupt(problem: str) -> CorruptStateError:
            return CorruptStateError(f"{self.location} {TABLE} (kind={self.kind!r}, name={name!r})", problem,
                                     what="state row", cause="It was written by something else or edited by hand")

        if row_format != FORMAT:
            raise corrupt(f"not a {FORMAT} row (its format is {row_format!r})")
        if row_version != VERSION:
            raise corrupt(f"format version {row_version!r} is not {VERSION}; it was written by another version of"
                          " the progressive.delivery collection")
        if not isinstance(data, dict):
            raise corrupt(f"its data is {type(data).__name__}, not an object")
        try:
            actual = checksum(data)
        except ValueError as exc:
            raise corrupt(f"its data cannot be checksummed: {exc}") from None
        if actual != row_checksum:
            raise corrupt(f"checksum mismatch (row says {row_checksum!r}, data gives {actual!r})")
        return data

    # writing ---------------------------------------------------------------------------------------
    def _save(self, sql: str, operation: str, name: str, data: Mapping[str, Any]) -> bool:
        from psycopg.types.json import Jsonb  # pylint: disable=import-outside-toplevel

        validate_name(name)
        data = as_stored(dict(data))
        digest = checksum(data)  # ValueError for NaN / infinity, before anything is sent
        self._ensure_tables(name)
        params = {"kind": self.kind, "name": name, "format": FORMAT, "version": VERSION, "data": Jsonb(data),
                  "checksum": digest, "operation": operation}
        doing = "writing" if operation == "write" else "creating"
        return self._execute(sql, params, doing, name).fetchone() is not None

    def write(self, name: str, data: Mapping[str, Any]) -> None:
        """Create or replace the record (one statement: atomic), and append it to the history."""
        self._save(_WRITE, "write", name, data)

    def create(self, name: str, data: Mapping[str, Any]) -> bool:
        """Create the record only if there is none (``INSERT ... ON CONFLICT``). ``False`` when it exists."""
        return self._save(_CREATE, "create", name, data)

    def remove(self, name: str) -> bool:
        """Delete the record (its history stays); ``False`` when there was none."""
        validate_name(name)
        if not self._have_tables(name):
            return False
        return self._execute(_REMOVE, {"kind": self.kind, "name": name}, "removing", name).fetchone() is not None

    def history(self, name: str) -> list[dict[str, Any]]:
        """Every create, write and remove of the record, oldest first (``operation``, ``data``, ``at``, ``by``)."""
        validate_name(name)
        if not self._have_tables(name):
            return []
        rows = self._execute(f"SELECT id, operation, data, checksum, at, by FROM {HISTORY_TABLE}"
                             " WHERE kind = %s AND name = %s ORDER BY id", (self.kind, name), "reading the history of",
                             name, retry=True).fetchall()
        return [{"id": row[0], "operation": row[1], "data": row[2], "checksum": row[3], "at": row[4].isoformat(),
                 "by": row[5]} for row in rows]

    # mutual exclusion ------------------------------------------------------------------------------
    @contextlib.contextmanager
    def mutex(self, name: str, timeout: float = MUTEX_TIMEOUT,
              sleep: Callable[[float], None] = time.sleep) -> Iterator[None]:  # pylint: disable=unused-argument
        """One transaction holding the record's advisory lock (``pg_advisory_xact_lock``), waiting up to ``timeout``
        seconds for another run's read-modify-write. Committed when the block ends, rolled back when it raises."""
        validate_name(name)
        if self._in_transaction:
            raise StateStoreError(f"PostgreSQL state store: the mutex of {name!r} was requested inside another one")
        psycopg = _psycopg()
        key = f"{FORMAT}/{self.kind}/{name}"
        # Tables created inside the transaction would be invisible to its reads (to_regclass looks at the catalog as
        # the transaction first saw it), so a run that waited for the first writer's lock would read nothing and
        # overwrite what it wrote: create them, committed, before the transaction starts.
        self._ensure_tables(name)
        self._execute("BEGIN", None, "locking", name, retry=True)
        self._in_transaction = True
        try:
            try:
                self._execute("SELECT set_config('lock_timeout', %s, true)", (f"{max(1, int(timeout * 1000))}ms",),
                              "locking", name)
                self._conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (key,))
            except psycopg.errors.LockNotAvailable:
                raise StateStoreError(f"timed out after {timeout:g}s waiting for the mutex of the {self.kind} record"
                                      f" {name!r} in the PostgreSQL state store at {self.location}: another run keeps"
                                      " it locked") from None
            except psycopg.Error as exc:
                raise self._failure("locking", name, exc) from None
            yield
        except BaseException:
            self._rollback_quietly()
            self._in_transaction = False
            raise
        self._in_transaction = False
        try:
            self._conn.execute("COMMIT")
        except psycopg.Error as exc:
            raise self._failure("committing", name, exc, committing=True) from None


# --------------------------------------------------------------------------------------------------
# Moving from the file store
# --------------------------------------------------------------------------------------------------
def copy_records(source: Any, target: PgStateStore) -> list[tuple[str, bool]]:
    """Copy every record of ``source`` (a file :class:`._state_store.StateStore`) into ``target`` (same kind),
    each under the target's mutex with :meth:`PgStateStore.create`: a record that already exists in PostgreSQL is
    kept, never overwritten. Returns ``(name, copied)`` per record. Idempotent: run it again and nothing changes.
    Every source record is verified (checksum) before anything is written."""
    if source.kind != target.kind:
        raise ValueError(f"cannot copy {source.kind!r} records into a {target.kind!r} store")
    records = [(name, source.read(name)) for name in source.names()]
    copied = []
    for name, data in records:
        if data is None:  # removed since it was listed
            continue
        with target.mutex(name):
            copied.append((name, target.create(name, data)))
    return copied
