# -*- coding: utf-8 -*-
# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests of the backend choice (``open_store``, the modules' ``state_backend``/``state_dsn``) and the parts of
plugins/module_utils/_state_pg.py that need no server: the DSN's location and redaction, the jsonb form of a
record, and a PostgreSQL that is not there. The backend against a real PostgreSQL is tested in
tests/integration/test_state_postgres.py."""
from __future__ import annotations

import importlib
import importlib.util
import json
import socket
import subprocess
import sys

import pytest
from ansible_collections.progressive.delivery.plugins.module_utils import _deps
from ansible_collections.progressive.delivery.plugins.module_utils._result import ModuleFailure
from ansible_collections.progressive.delivery.plugins.module_utils._state_pg import (
    MASK,
    PgStateStore,
    as_stored,
    location,
    parse_dsn,
    redactor,
)
from ansible_collections.progressive.delivery.plugins.module_utils._state_store import (
    StateStore,
    StateStoreError,
    checksum,
    open_store,
)

from tests.unit.plugins.modules.test_contract import run as run_module

SECRET = "s3cr%t-pw/xyz"
QUOTED = "s3cr%25t-pw%2Fxyz"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# ---------------------------------------------------------------------------------------------
# choosing a backend
# ---------------------------------------------------------------------------------------------
def test_the_file_backend_is_the_default(tmp_path):
    store = open_store("lock", store_dir=str(tmp_path))
    assert isinstance(store, StateStore) and store.backend == "file" and store.root == str(tmp_path)
    assert isinstance(open_store("guard", "file", str(tmp_path), dsn="ignored"), StateStore)


def test_postgres_gives_a_pg_store_and_ignores_store_dir():
    store = open_store("release", "postgres", "/nonexistent", f"postgresql://u:{QUOTED}@db.example.com:6543/st")
    assert isinstance(store, PgStateStore) and store.backend == "postgres" and store.kind == "release"
    assert store.path("prod-kr/app") == "postgresql://db.example.com:6543/st/delivery_state/release/prod-kr%2Fapp"
    assert SECRET not in repr(store) and QUOTED not in repr(store)


@pytest.mark.parametrize("dsn", [None, "", "   "])
def test_postgres_without_a_dsn_names_state_dsn(dsn):
    with pytest.raises(ModuleFailure) as failure:
        open_store("lock", "postgres", None, dsn)
    assert failure.value.option == "state_dsn" and "state_dsn is required" in failure.value.msg


def test_an_unknown_backend_names_state_backend():
    with pytest.raises(ModuleFailure) as failure:
        open_store("lock", "etcd", None, None)
    assert failure.value.option == "state_backend" and "file, postgres" in failure.value.msg


def test_an_empty_store_dir_names_store_dir():
    with pytest.raises(ModuleFailure) as failure:
        open_store("lock", "file", "", None)
    assert failure.value.option == "store_dir"


def test_missing_psycopg_is_missing_required_lib(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(_deps.importlib.util, "find_spec",
                        lambda name, *args: None if name == "psycopg" else real(name, *args))
    with pytest.raises(ModuleFailure) as failure:
        open_store("lock", "postgres", None, "postgresql://127.0.0.1/x")
    assert failure.value.option == "state_backend"
    assert "psycopg >= 3.1" in failure.value.msg and "state_backend=postgres" in failure.value.msg


def test_the_file_backend_never_loads_psycopg(tmp_path):
    code = ("import sys\n"
            "from ansible_collections.progressive.delivery.plugins.module_utils._state_store import open_store\n"
            "from ansible_collections.progressive.delivery.plugins.module_utils._lock import DeployLock\n"
            f"DeployLock(open_store('lock', 'file', {str(tmp_path)!r}), 'a', 'me', 60).acquire(0, False)\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'psycopg'))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": ":".join(sys.path)})
    assert out.stdout.strip() == "[]"


# ---------------------------------------------------------------------------------------------
# the DSN
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("dsn", "expected"), [
    (f"postgresql://delivery:{QUOTED}@127.0.0.1:15832/state", "postgresql://127.0.0.1:15832/state"),
    (f"host=db.example.com port=6000 dbname=st user=u password='{SECRET}'", "postgresql://db.example.com:6000/st"),
    ("postgresql://u@a.example.com:5433,b.example.com:5434/st", "postgresql://a.example.com:5433,b.example.com:5434/st"),
    ("postgresql://[::1]:5555/st", "postgresql://[::1]:5555/st"),
    ("dbname=st", "postgresql://localhost:5432/st"),
])
def test_location_has_host_port_and_database_never_the_user_or_password(dsn, expected):
    where = location(parse_dsn(dsn), environ={})
    assert where == expected
    assert SECRET not in where and "@" not in where


def test_location_takes_libpq_defaults_from_the_environment():
    assert location(parse_dsn("dbname=st"), environ={"PGHOST": "pg.internal", "PGPORT": "6432"}) \
        == "postgresql://pg.internal:6432/st"


def test_an_invalid_dsn_is_refused_without_quoting_it():
    with pytest.raises(StateStoreError) as error:
        PgStateStore(f"host=x password={SECRET} not-a-pair", "lock")
    assert error.value.option == "state_dsn" and "not a valid libpq connection string" in str(error.value)
    assert SECRET not in str(error.value) and "not-a-pair" not in str(error.value)


def test_redaction_masks_the_password_as_given_and_percent_encoded():
    dsn = f"postgresql://u:{QUOTED}@h/db"
    redact = redactor(dsn, parse_dsn(dsn))
    text = redact(f"error in {dsn}: password {SECRET} or {QUOTED} rejected")
    assert SECRET not in text and QUOTED not in text and text.count(MASK) == 3


def test_a_server_that_is_not_there_names_host_and_port_never_the_password():
    port = free_port()
    store = PgStateStore(f"postgresql://delivery:{QUOTED}@127.0.0.1:{port}/state", "lock", connect_timeout=3)
    for call in (lambda: store.read("prod-kr/app"), lambda: store.write("prod-kr/app", {"a": 1}),
                 lambda: store.mutex("prod-kr/app").__enter__()):
        with pytest.raises(StateStoreError) as error:
            call()
        message = str(error.value)
        assert f"cannot connect to the PostgreSQL state store at postgresql://127.0.0.1:{port}/state" in message
        assert error.value.option == "state_dsn"
        assert SECRET not in message and QUOTED not in message and "delivery:" not in message


# ---------------------------------------------------------------------------------------------
# the jsonb form of a record
# ---------------------------------------------------------------------------------------------
def test_as_stored_is_what_jsonb_gives_back():
    data = {"big": 1e16, "bigger": 2.5e20, "negzero": -0.0, "ttl": 3600.0, "tiny": 1e-7, "sum": 0.1 + 0.2,
            "nested": [{"x": 1e17}, "text", None, True], "n": 3}
    stored = as_stored(data)
    assert stored == {"big": 10**16, "bigger": 250000000000000000000, "negzero": 0.0, "ttl": 3600.0, "tiny": 1e-7,
                      "sum": 0.30000000000000004, "nested": [{"x": 10**17}, "text", None, True], "n": 3}
    assert isinstance(stored["big"], int) and isinstance(stored["ttl"], float)
    # PostgreSQL's numeric output of those values, read back by json.loads, has the same checksum
    from_server = json.loads('{"big": 10000000000000000, "bigger": 250000000000000000000, "negzero": 0.0,'
                             ' "ttl": 3600.0, "tiny": 0.0000001, "sum": 0.30000000000000004,'
                             ' "nested": [{"x": 100000000000000000}, "text", null, true], "n": 3}')
    assert checksum(from_server) == checksum(stored)


# ---------------------------------------------------------------------------------------------
# the modules' options
# ---------------------------------------------------------------------------------------------
MODULE_ARGS = {
    "deploy_lock": {"name": "prod-kr/app"},
    "qos_guard": {"name": "prod-kr/app", "state": "enforce"},
    "release_record": {"environment": "prod-kr", "app": "demo"},
}


@pytest.mark.parametrize("module", sorted(MODULE_ARGS))
def test_postgres_without_state_dsn_fails_naming_it(module, monkeypatch):
    ended = run_module(module, {**MODULE_ARGS[module], "state_backend": "postgres"}, monkeypatch)
    assert ended.kind == "fail" and ended.payload["option"] == "state_dsn", ended.payload
    assert "state_dsn" in ended.payload["msg"]


@pytest.mark.parametrize("module", sorted(MODULE_ARGS))
def test_an_unreachable_postgres_fails_naming_host_port_and_state_dsn(module, monkeypatch, tmp_path):
    port = free_port()
    args = {**MODULE_ARGS[module], "state_backend": "postgres", "store_dir": str(tmp_path / "unused"),
            "state_dsn": f"postgresql://delivery:{QUOTED}@127.0.0.1:{port}/state?connect_timeout=3"}
    ended = run_module(module, args, monkeypatch)
    assert ended.kind == "fail" and ended.payload["option"] == "state_dsn", ended.payload
    assert f"127.0.0.1:{port}" in ended.payload["msg"] and SECRET not in json.dumps(ended.payload)
    assert QUOTED not in json.dumps(ended.payload)
    assert ended.payload["state_file"].startswith(f"postgresql://127.0.0.1:{port}/state/delivery_state/")
    assert not (tmp_path / "unused").exists()


def test_state_dsn_is_no_log_in_every_state_module():
    for module in MODULE_ARGS:
        code = importlib.import_module(f"ansible_collections.progressive.delivery.plugins.modules.{module}")
        spec = code.argument_spec()
        assert spec["state_dsn"] == {"type": "str", "no_log": True}
        assert spec["state_backend"]["choices"] == ["file", "postgres"] and spec["state_backend"]["default"] == "file"
