# -*- coding: utf-8 -*-
# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The state store's two backends, file and PostgreSQL, held to the same semantics (docs/state.md).

Tests parametrised over ``backend`` run once on a file store in ``tmp_path`` and once on a scratch database of the
lab's PostgreSQL (created by the lab role ``delivery``, which has CREATEDB, and dropped afterwards): racing
acquisitions from separate processes with different working directories, TTL takeover, a holder that died, the
guard, the release record. The PostgreSQL-only tests: corrupt and foreign rows, the modules through a real
``ansible-playbook`` (``module_defaults`` of the action group ``state``, a race of ``ansible`` processes, the DSN's
password never printed), and a PostgreSQL restarted while a lock is held, on a private throwaway server (never the
shared lab's).
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from ansible_collections.progressive.delivery.plugins.module_utils._guard import GuardBlocked, QosGuard
from ansible_collections.progressive.delivery.plugins.module_utils._lock import (
    DeployLock,
    LockBusy,
    expires_at,
    new_record,
)
from ansible_collections.progressive.delivery.plugins.module_utils._release import ReleaseRecord
from ansible_collections.progressive.delivery.plugins.module_utils._result import ModuleFailure
from ansible_collections.progressive.delivery.plugins.module_utils._state_pg import HISTORY_TABLE, TABLE, copy_records
from ansible_collections.progressive.delivery.plugins.module_utils._state_store import (
    KINDS,
    CorruptStateError,
    StateStoreError,
    open_store,
)

from tests.integration.prom_helpers import ROOT, run_playbook, wait_for
from tests.integration.test_deploy_lock import Barrier, adhoc, outcome
from tests.integration.test_schema_migrate import drop_database
from tests.lab import lab as labmod

pytestmark = pytest.mark.lab

NAME = "prod-kr/app"
RACERS = 6
DIGEST = "sha256:" + "ab" * 32


# --------------------------------------------------------------------------------------------------
# backends
# --------------------------------------------------------------------------------------------------
@dataclass
class Backend:
    name: str
    store_dir: str
    dsn: str | None = None

    def open(self, kind: str = "lock") -> Any:
        return open_store(kind, self.name, self.store_dir, self.dsn)

    @property
    def options(self) -> dict[str, str]:
        options = {"state_backend": self.name, "store_dir": self.store_dir}
        if self.dsn:
            options["state_dsn"] = self.dsn
        return options

    def query(self, sql: str, params: tuple | None = None) -> list[tuple]:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            cur = conn.execute(sql, params)
            return cur.fetchall() if cur.description else []


def lab_admin_dsn(lab: Any, dbname: str = labmod.PG_DB) -> str:
    return f"postgresql://{labmod.PG_USER}:{labmod.PG_PASSWORD}@127.0.0.1:{lab.ports['postgres']}/{dbname}"


@pytest.fixture
def pg_backend(lab, tmp_path) -> Iterator[Backend]:
    """A scratch database of the lab's PostgreSQL, dropped afterwards."""
    name = f"state_{uuid.uuid4().hex[:10]}"
    admin = lab_admin_dsn(lab)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    try:
        yield Backend("postgres", str(tmp_path / "ignored-store-dir"), lab_admin_dsn(lab, name))
    finally:
        drop_database(admin, name)
    assert not (tmp_path / "ignored-store-dir").exists(), "the postgres backend wrote into store_dir"


@pytest.fixture(params=["file", "postgres"])
def backend(request, tmp_path) -> Backend:
    if request.param == "file":
        return Backend("file", str(tmp_path / "store"))
    return request.getfixturevalue("pg_backend")


# --------------------------------------------------------------------------------------------------
# separate processes, each in its own working directory
# --------------------------------------------------------------------------------------------------
RACER = r'''
import json, os, sys, time
from ansible_collections.progressive.delivery.plugins.module_utils._lock import DeployLock, LockBusy
from ansible_collections.progressive.delivery.plugins.module_utils._state_store import open_store

cfg = json.loads(os.environ["RACER"])
store = open_store("lock", cfg["backend"], cfg["store_dir"], cfg["dsn"])
store.read(cfg["name"])  # connected (postgres) before the start line: the race is on the lock, not on connecting
warnings = []
lock = DeployLock(store, cfg["name"], cfg["owner"], cfg["ttl"], warn=warnings.append)
open(os.path.join(cfg["barrier"], "ready.%d" % os.getpid()), "w").close()
while not os.path.exists(os.path.join(cfg["barrier"], "go")):
    time.sleep(0.002)
if cfg["mode"] == "mutex":
    with store.mutex(cfg["name"]):
        print(json.dumps({"inside": True, "cwd": os.getcwd()}), flush=True)
        time.sleep(600)
try:
    result = {"won": True, "outcome": lock.acquire(0, False).as_dict(), "warnings": warnings}
except LockBusy as busy:
    result = {"won": False, "msg": busy.msg, "record": busy.record}
result["cwd"] = os.getcwd()
print(json.dumps(result), flush=True)
if cfg["mode"] == "hold":
    time.sleep(600)
'''


class Racers:
    """Python processes that open the store, meet at a barrier, then act at once; each in its own directory."""

    def __init__(self, tmp_path: Path, backend: Backend) -> None:
        self.tmp_path, self.backend = tmp_path, backend
        self.script = tmp_path / "racer.py"
        self.script.write_text(RACER)
        self.procs: list[subprocess.Popen] = []

    def start(self, count: int, mode: str = "acquire", ttl: float = 3600.0, prefix: str = "racer") -> list:
        barrier = self.tmp_path / f"barrier-{uuid.uuid4().hex[:6]}"
        barrier.mkdir()
        env_base = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / ".build"), str(ROOT)])}
        procs = []
        for i in range(count):
            cwd = self.tmp_path / f"cwd-{prefix}-{i}"
            cwd.mkdir(exist_ok=True)
            config = {"backend": self.backend.name, "store_dir": self.backend.store_dir, "dsn": self.backend.dsn,
                      "name": NAME, "owner": f"{prefix}-{i}", "ttl": ttl, "barrier": str(barrier), "mode": mode}
            procs.append(subprocess.Popen([sys.executable, str(self.script)], cwd=cwd, text=True,
                                          env={**env_base, "RACER": json.dumps(config)},
                                          stdout=subprocess.PIPE, stderr=subprocess.PIPE))
        self.procs += procs
        wait_for(lambda: len(list(barrier.glob("ready.*"))) >= count or any(p.poll() for p in procs), timeout=60,
                 interval=0.02, what=f"{count} racers at the barrier")
        (barrier / "go").touch()
        return procs

    @staticmethod
    def first_line(proc: subprocess.Popen) -> dict[str, Any]:
        line = proc.stdout.readline()
        if not line:
            raise AssertionError(f"racer printed nothing: {proc.wait(10)} {proc.stderr.read()}")
        return json.loads(line)

    def results(self, procs: list) -> list[dict[str, Any]]:
        answers = []
        for proc in procs:
            stdout, stderr = proc.communicate(timeout=60)
            assert proc.returncode == 0 and stdout, stderr
            answers.append(json.loads(stdout))
        return answers

    def kill_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)


@pytest.fixture
def racers(tmp_path, backend) -> Iterator[Racers]:
    group = Racers(tmp_path, backend)
    yield group
    group.kill_all()


def lock_of(backend: Backend, owner: str, ttl: float = 3600.0, warnings: list | None = None) -> DeployLock:
    return DeployLock(backend.open("lock"), NAME, owner, ttl, warn=(warnings if warnings is not None else []).append)


# --------------------------------------------------------------------------------------------------
# the same semantics on both backends
# --------------------------------------------------------------------------------------------------
def test_racing_processes_in_different_directories_exactly_one_wins(backend, racers):
    results = racers.results(racers.start(RACERS))
    assert len({result["cwd"] for result in results}) == RACERS
    winners = [result for result in results if result["won"]]
    assert len(winners) == 1, results
    record = winners[0]["outcome"]["after"]
    assert winners[0]["outcome"]["before"] is None and winners[0]["outcome"]["changed"] is True
    for loser in (result for result in results if not result["won"]):
        assert f"is held by {record['owner']!r}" in loser["msg"] and loser["record"] == record
    assert backend.open("lock").read(NAME) == record


def test_an_expired_lock_is_taken_over_by_exactly_one_of_several_racers(backend, racers):
    store = backend.open("lock")
    stale = new_record(NAME, "dead-job-17", 60.0, time.time() - 600, "old-host")
    store.write(NAME, stale)
    results = racers.results(racers.start(4, prefix="taker"))
    winners = [result for result in results if result["won"]]
    assert len(winners) == 1, results
    won = winners[0]["outcome"]
    assert won["taken_over"] is True and won["before"] == stale
    assert any("took over the lock of 'dead-job-17'" in text for text in winners[0]["warnings"])
    assert all(f"is held by {won['after']['owner']!r}" in result["msg"] for result in results if not result["won"])
    assert store.read(NAME) == won["after"]


def test_a_holder_that_died_keeps_the_lock_until_its_ttl_then_it_is_taken_over(backend, racers):
    holder = racers.start(1, mode="hold", ttl=3.0, prefix="holder")[0]
    held = Racers.first_line(holder)
    assert held["won"] is True
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait(10)
    with pytest.raises(LockBusy) as busy:
        lock_of(backend, "bob").acquire(0, False)
    assert "is held by 'holder-0'" in busy.value.msg
    wait_for(lambda: expires_at(held["outcome"]["after"]) < time.time(), timeout=10, interval=0.1,
             what="the dead holder's lock to expire")
    warnings: list[str] = []
    taken = lock_of(backend, "bob", warnings=warnings).acquire(0, False)
    assert taken.taken_over is True and taken.before == held["outcome"]["after"] and taken.after["owner"] == "bob"
    assert any("took over the lock of 'holder-0'" in text for text in warnings)


def test_a_process_killed_inside_the_mutex_never_leaves_it_locked(backend, racers):
    inside = racers.start(1, mode="mutex", prefix="crasher")[0]
    assert Racers.first_line(inside)["inside"] is True
    store = backend.open("lock")
    with pytest.raises(StateStoreError, match=r"timed out after 0\.5s"), store.mutex(NAME, timeout=0.5):
        pass
    os.kill(inside.pid, signal.SIGKILL)
    inside.wait(10)
    start = time.monotonic()
    with store.mutex(NAME, timeout=10):
        store.write(NAME, new_record(NAME, "after-crash", 60.0, time.time(), "here"))
    assert time.monotonic() - start < 5
    assert store.read(NAME)["owner"] == "after-crash"


def test_the_guard_locks_enforces_and_unlocks_across_entry_points(backend):
    laptop, awx = backend.open("guard"), backend.open("guard")  # two stores: two entry points
    locked = QosGuard(laptop, NAME, "laptop").lock(300, "rollback of 1.2.3")
    assert locked.decision == "locked" and locked.changed
    with pytest.raises(GuardBlocked) as blocked:
        QosGuard(awx, NAME, "awx job 7").enforce()
    assert "locked by 'laptop'" in blocked.value.msg and "remaining" in blocked.value.msg
    extended = QosGuard(awx, NAME, "awx job 7").lock(600, "still flaky")
    assert extended.decision == "extended"
    assert QosGuard(laptop, NAME, "laptop").lock(60, "shorter").decision == "none"
    unlocked = QosGuard(awx, NAME, "sre").unlock("INC-1: fixed")
    assert unlocked.decision == "unlocked"
    assert QosGuard(laptop, NAME, "laptop").enforce().decision == "allowed"
    history = laptop.read(NAME)["history"]
    assert [event["event"] for event in history] == ["locked", "extended", "unlocked"]
    assert [event["by"] for event in history] == ["laptop", "awx job 7", "sre"]


def release_of(backend: Backend, owner: str = "ci") -> ReleaseRecord:
    return ReleaseRecord(backend.open("release"), "prod-kr", "demo", owner)


def release(version: str) -> dict[str, Any]:
    return {"version": version, "digest": DIGEST, "image": f"registry.example.com/demo@{DIGEST}",
            "strategy": "canary", "override": {"reason": "hotfix during the freeze", "by": "oncall"}}


def test_the_release_record_keeps_steps_and_history(backend):
    first = release_of(backend).start(release("1.0.0"))
    release_id = first.release["id"]
    assert first.changed and first.after["current"]["override"]["reason"] == "hotfix during the freeze"
    rerun = release_of(backend).start({**release("1.0.0"), "id": release_id})
    assert rerun.changed is False and rerun.release["id"] == release_id  # a rerun continues it
    with pytest.raises(ModuleFailure) as other:
        release_of(backend, "laptop").start(release("2.0.0"))
    assert other.value.option == "release"
    release_of(backend).step(release_id, {"index": 1, "of": 2, "weight": 50, "verdict": "pass"})
    finished = release_of(backend).finish(release_id, "promoted")
    assert finished.after["current"] is None and finished.after["history"][-1]["outcome"] == "promoted"
    second = release_of(backend, "laptop").start(release("2.0.0"))
    release_of(backend, "laptop").finish(second.release["id"], "rolled_back", "error rate")
    record = backend.open("release").read("prod-kr/demo")
    assert [(entry["version"], entry["outcome"]) for entry in record["history"]] == [
        ("1.0.0", "promoted"), ("2.0.0", "rolled_back")]
    assert record["history"][0]["steps"][0]["weight"] == 50
    if backend.name == "postgres":  # every write is in the append-only history table too
        rows = backend.query(f"SELECT operation, data FROM {HISTORY_TABLE} WHERE kind = 'release' ORDER BY id")
        assert [row[0] for row in rows] == ["write"] * 5
        assert rows[-1][1] == record and rows[0][1]["current"]["version"] == "1.0.0"


# --------------------------------------------------------------------------------------------------
# PostgreSQL only: rows that cannot be trusted, the modules, a restart
# --------------------------------------------------------------------------------------------------
def test_a_corrupt_row_is_never_trusted_and_a_foreign_table_is_refused(pg_backend):
    store = pg_backend.open("lock")
    lock_of(pg_backend, "alice").acquire(0, False)
    pg_backend.query(f"UPDATE {TABLE} SET data = jsonb_set(data, '{{owner}}', '\"mallory\"')")
    with pytest.raises(CorruptStateError) as corrupt:
        store.read(NAME)
    assert "checksum mismatch" in str(corrupt.value) and "state row" in str(corrupt.value)
    assert f"name={NAME!r}" in str(corrupt.value) and labmod.PG_PASSWORD not in str(corrupt.value)
    with pytest.raises(StateStoreError, match="or release with force=true"):
        lock_of(pg_backend, "bob").release(False)
    assert lock_of(pg_backend, "bob").release(True).changed is True
    assert store.read(NAME) is None
    pg_backend.query(f"UPDATE {TABLE} SET version = 2")  # no row left: nothing to update
    lock_of(pg_backend, "carol").acquire(0, False)
    pg_backend.query(f"UPDATE {TABLE} SET version = 9")
    with pytest.raises(CorruptStateError, match="format version 9 is not 1"):
        store.read(NAME)
    pg_backend.query(f"DROP TABLE {TABLE}, {HISTORY_TABLE}")
    pg_backend.query(f"CREATE TABLE {TABLE} (id integer, payload text)")
    with pytest.raises(StateStoreError) as foreign:
        pg_backend.open("lock").read(NAME)
    assert "is not a progressive.delivery state table" in str(foreign.value) and foreign.value.option == "state_dsn"


def test_the_modules_on_postgres_with_module_defaults_of_the_state_group(pg_backend):
    defaults = {"state_backend": "postgres", "state_dsn": pg_backend.dsn, "store_dir": pg_backend.store_dir}
    tasks = [
        {"name": "alice locks", "progressive.delivery.deploy_lock": {"name": NAME, "owner": "alice"}},
        {"name": "bob is refused", "progressive.delivery.deploy_lock": {"name": NAME, "owner": "bob"}},
        {"name": "guard", "progressive.delivery.qos_guard": {
            "name": NAME, "state": "locked", "duration": "5m", "reason": "rollback", "owner": "alice"}},
        {"name": "enforce", "progressive.delivery.qos_guard": {"name": NAME, "state": "enforce"}},
        {"name": "start", "progressive.delivery.release_record": {
            "environment": "prod-kr", "app": "demo", "state": "started", "release": release("3.0.0")}},
        {"name": "query", "progressive.delivery.release_record": {"environment": "prod-kr", "app": "demo"}},
        {"name": "alice unlocks", "progressive.delivery.deploy_lock": {
            "name": NAME, "owner": "alice", "state": "released"}},
    ]
    play = [{"hosts": "localhost", "gather_facts": False,
             "module_defaults": {"group/progressive.delivery.state": defaults},
             "tasks": [{"ignore_errors": True, **task} for task in tasks]}]
    run = run_playbook([], play=play, args=("-vvv",))
    where = pg_backend.dsn.split("@", 1)[1]
    assert run["alice locks"]["changed"] is True and run["alice locks"]["state_file"].startswith(
        f"postgresql://{where}/{TABLE}/lock/"), run["alice locks"]
    assert run["bob is refused"]["failed"] is True and "is held by 'alice'" in run["bob is refused"]["msg"]
    assert run["guard"]["decision"] == "locked"
    assert run["enforce"]["failed"] is True and "locked by 'alice'" in run["enforce"]["msg"]
    assert run["start"]["changed"] is True and run["query"]["record"]["current"]["version"] == "3.0.0"
    assert run["alice unlocks"]["changed"] is True
    assert labmod.PG_PASSWORD not in run.stdout + run.stderr
    assert pg_backend.open("release").read("prod-kr/demo")["current"]["version"] == "3.0.0"
    assert pg_backend.open("guard").read(NAME)["locked"] is True
    assert pg_backend.open("lock").read(NAME) is None
    assert not Path(pg_backend.store_dir).exists()


def test_racing_ansible_processes_on_postgres_exactly_one_wins(pg_backend, tmp_path):
    barrier = Barrier(tmp_path / "barrier")
    args = f"name={NAME} state_backend=postgres state_dsn={pg_backend.dsn}"
    procs = [adhoc(f"{args} owner=racer-{i}", barrier.interpreter) for i in range(4)]
    try:
        barrier.release(len(procs))
        results = [(f"racer-{i}", *outcome(proc)) for i, proc in enumerate(procs)]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    winners = [entry for entry in results if entry[1] == 0]
    assert len(winners) == 1, [(entry[0], entry[1], entry[2].get("msg")) for entry in results]
    owner = winners[0][0]
    for name, rc, answer, stderr in results:
        assert labmod.PG_PASSWORD not in json.dumps(answer) + stderr
        if name != owner:
            assert rc != 0 and f"is held by '{owner}'" in answer["msg"], answer
    assert pg_backend.open("lock").read(NAME)["owner"] == owner


# --------------------------------------------------------------------------------------------------
# a private PostgreSQL, restarted while a lock is held
# --------------------------------------------------------------------------------------------------
PRIVATE_PASSWORD = "r3start-Secret"
PG_BIN = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"))


class PrivatePostgres:
    """A throwaway PostgreSQL on a free port (as the ``postgres`` user when run as root), stopped by its PID."""

    def __init__(self) -> None:
        self.bin = PG_BIN[-1].parent
        self.user = "postgres" if os.geteuid() == 0 else None
        self.dir = Path(tempfile.mkdtemp(prefix="pd-state-pg-"))
        self.dir.chmod(0o755)
        (self.dir / "sock").mkdir()
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.proc: subprocess.Popen | None = None
        pwfile = self.dir / "pwfile"
        pwfile.write_text(PRIVATE_PASSWORD + "\n")
        if self.user:
            for path in (self.dir, self.dir / "sock", pwfile):
                shutil.chown(path, self.user, self.user)
        subprocess.run([str(self.bin / "initdb"), "-D", str(self.dir / "data"), "-U", "postgres", "-A", "trust",
                        "--auth-host=scram-sha-256", f"--pwfile={pwfile}", "-E", "UTF8", "--locale=C.UTF-8"],
                       check=True, capture_output=True, cwd=self.dir, **self._as_user())
        pwfile.unlink()

    def _as_user(self) -> dict[str, Any]:
        return {"user": self.user, "group": self.user, "extra_groups": []} if self.user else {}

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres:{PRIVATE_PASSWORD}@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [str(self.bin / "postgres"), "-D", str(self.dir / "data"), "-k", str(self.dir / "sock"),
             "-h", "127.0.0.1", "-p", str(self.port), "-c", "fsync=off", "-c", "max_connections=20"],
            cwd=self.dir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **self._as_user())

        def ready() -> bool:
            try:
                with psycopg.connect(self.dsn, connect_timeout=2):
                    return True
            except psycopg.OperationalError:
                assert self.proc.poll() is None, "the private PostgreSQL exited"
                return False

        wait_for(ready, timeout=30, interval=0.1, what="the private PostgreSQL")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # fast shutdown: sessions are terminated
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def private_pg() -> Iterator[PrivatePostgres]:
    if not PG_BIN:
        pytest.skip("no PostgreSQL server binaries under /usr/lib/postgresql")
    server = PrivatePostgres()
    try:
        server.start()
        yield server
    finally:
        server.remove()


def test_postgres_restarted_while_a_lock_is_held(private_pg, tmp_path):
    backend = Backend("postgres", str(tmp_path / "unused"), private_pg.dsn)
    alice_store = backend.open("lock")
    held = DeployLock(alice_store, NAME, "alice", 3600).acquire(0, False).after
    carol_store = backend.open("lock")
    carol = DeployLock(carol_store, NAME, "carol", 3600)

    # carol is inside the record's mutex (between its read and its write) when PostgreSQL goes down
    with pytest.raises(StateStoreError) as lost, carol_store.mutex(NAME):
        assert carol_store.read(NAME) == held
        private_pg.stop()
        carol_store.write(NAME, new_record(NAME, "carol", 3600, time.time(), "here"))
    message = str(lost.value)
    assert f"lost the connection to the PostgreSQL state store at postgresql://127.0.0.1:{private_pg.port}/postgres" \
        in message and "nothing was written" in message
    assert PRIVATE_PASSWORD not in message

    # while it is down: a clear error naming host and port and state_dsn, never the password
    with pytest.raises(StateStoreError) as down:
        DeployLock(backend.open("lock"), NAME, "bob", 3600).acquire(0, False)
    assert f"cannot connect to the PostgreSQL state store at postgresql://127.0.0.1:{private_pg.port}/postgres" \
        in str(down.value) and down.value.option == "state_dsn" and PRIVATE_PASSWORD not in str(down.value)

    private_pg.start()
    # nothing lost: alice's lock is there as it was; no second winner: bob and carol are refused
    assert backend.open("lock").read(NAME) == held
    with pytest.raises(LockBusy, match="is held by 'alice'"):
        DeployLock(backend.open("lock"), NAME, "bob", 3600).acquire(0, False)
    with pytest.raises(LockBusy, match="is held by 'alice'"):
        carol.acquire(0, False)  # carol's store reconnects by itself outside a mutex
    refreshed = DeployLock(alice_store, NAME, "alice", 3600).acquire(0, False)  # alice's store reconnects too
    assert refreshed.refreshed is True and refreshed.after["id"] == held["id"]
    rows = backend.query(f"SELECT operation, data->>'owner' FROM {HISTORY_TABLE} ORDER BY id")
    assert rows == [("create", "alice"), ("write", "alice")]  # carol's write never happened


def test_moving_from_files_to_postgres_copies_every_record_once(pg_backend, tmp_path):
    files = Backend("file", str(tmp_path / "files"))
    long_name = "prod-kr/" + "x" * 300
    DeployLock(files.open("lock"), NAME, "alice", 3600).acquire(0, False)
    DeployLock(files.open("lock"), long_name, "bob", 3600).acquire(0, False)
    QosGuard(files.open("guard"), NAME, "sre").lock(300, "rollback")
    release_of(files).start(release("1.0.0"))
    QosGuard(pg_backend.open("guard"), NAME, "someone").lock(60, "already in postgres")
    copied = {kind: copy_records(files.open(kind), pg_backend.open(kind)) for kind in KINDS}
    assert copied == {"lock": sorted([(NAME, True), (long_name, True)]), "guard": [(NAME, False)],
                      "release": [("prod-kr/demo", True)], "approval": []}
    for kind, name in (("lock", NAME), ("lock", long_name), ("release", "prod-kr/demo")):
        assert pg_backend.open(kind).read(name) == files.open(kind).read(name)
    assert pg_backend.open("guard").read(NAME)["reason"] == "already in postgres"  # kept, never overwritten
    again = {kind: copy_records(files.open(kind), pg_backend.open(kind)) for kind in KINDS}
    assert all(not done for pairs in again.values() for _name, done in pairs)


def test_the_playbooks_share_the_guard_through_postgres(pg_backend, tmp_path):
    """guard.yml locks the QoS guard in PostgreSQL from one working directory and state directory (an entry
    point); deploy.yml started elsewhere (another state directory: another machine) is refused by that guard
    before anything is locked or changed; status from a third place shows it."""
    def playbook(name: str, where: Path, *extra: str) -> subprocess.CompletedProcess:
        where.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
        return subprocess.run(
            [str(ROOT / ".venv" / "bin" / "ansible-playbook"), "-i", str(ROOT / "inventories" / "lab"),
             str(ROOT / "playbooks" / name), "-e", "delivery_state_backend=postgres",
             "-e", f"delivery_state_dsn={pg_backend.dsn}", "-e", f"delivery_state_dir={where / 'state'}", *extra],
            cwd=where, env=env, capture_output=True, text=True, check=False, timeout=300)

    locked = playbook("guard.yml", tmp_path / "gitlab", "-e", "guard_action=lock",
                      "-e", '{"guard_reason": "on-call hold"}')
    assert locked.returncode == 0, locked.stdout[-3000:]
    deploy = playbook("deploy.yml", tmp_path / "awx", "-e", "delivery_version=2026.12.9+9",
                      "-e", "delivery_image=" + labmod.image_tag(labmod.ports()["registry"]))
    assert deploy.returncode != 0 and "on-call hold" in deploy.stdout, deploy.stdout[-3000:]
    status = playbook("guard.yml", tmp_path / "cli")
    assert status.returncode == 0 and "LOCKED" in status.stdout and "on-call hold" in status.stdout
    assert pg_backend.open("guard").read("lab-kr/demo")["locked"] is True
    assert pg_backend.open("lock").read("lab-kr/demo") is None  # the refused deploy took no lock
    assert pg_backend.open("release").read("lab-kr/demo") is None  # and recorded nothing
    assert labmod.PG_PASSWORD not in locked.stdout + deploy.stdout + status.stdout
    for where in ("gitlab", "awx", "cli"):
        assert not (tmp_path / where / "state").exists()  # nothing went to files
