# -*- coding: utf-8 -*-
# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Backfill throughput and lock impact of schema_migrate's migrate phase, on the lab's PostgreSQL.

    .venv/bin/python bench/migration_backfill.py [--rows 1000000] [--batch-sizes 1000,10000]

For each batch size: a fresh database with ``--rows`` rows, the expand file (a nullable column and a partial index
on the rows still to do), then the migrate-phase file run by the module's own runner (``Runner.apply``: dirty flag,
one transaction per batch until 0 rows, clean flag). Meanwhile

* a writer updates random rows of the table, one autocommit UPDATE at a time, and records its latencies;
* a sampler reads ``pg_stat_activity``/``pg_locks`` every 5 ms and records how long the backfill's transaction
  had held its locks (``now() - xact_start`` while it holds a lock on the table).

Prints rows/s, batches, the longest lock held by one batch and the writer's p50/p99/max latency. Needs the lab
(``make lab-up``). Not part of the pass/fail gate.
"""
from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / ".build")]

from ansible_collections.progressive.delivery.plugins.module_utils._migrations import (  # noqa: E402
    Runner,
    Settings,
    discover,
    plan,
)

from tests.lab import lab as labmod  # noqa: E402

EXPAND = """-- phase: expand
ALTER TABLE items ADD COLUMN total_cents bigint;
-- allow: index-not-concurrently
CREATE INDEX items_backfill_todo ON items (id) WHERE total_cents IS NULL;
"""
BACKFILLS = {
    # the next batch's ids from the partial index, then primary-key lookups: the plan never changes
    "array": """-- phase: migrate
UPDATE items SET total_cents = (price * 100)::bigint
WHERE id = ANY (ARRAY(SELECT id FROM items WHERE total_cents IS NULL ORDER BY id LIMIT :batch_size));
""",
    # the common IN form: from about 10,000 rows on the planner switches to a hash join over the whole table
    "in": """-- phase: migrate
UPDATE items SET total_cents = (price * 100)::bigint
WHERE id IN (SELECT id FROM items WHERE total_cents IS NULL LIMIT :batch_size);
""",
}


def dsn(db: str) -> str:
    return f"postgresql://{labmod.PG_USER}:{labmod.PG_PASSWORD}@127.0.0.1:{labmod.ports()['postgres']}/{db}"


class Writer(threading.Thread):
    """Updates random rows, one autocommit statement at a time, recording each latency."""

    def __init__(self, db: str, rows: int) -> None:
        super().__init__(daemon=True)
        self.conninfo, self.rows = dsn(db), rows
        self.stop = threading.Event()
        self.latencies: list[float] = []

    def run(self) -> None:
        with psycopg.connect(self.conninfo, autocommit=True) as conn:
            while not self.stop.is_set():
                started = time.perf_counter()
                conn.execute("UPDATE items SET price = price + 0 WHERE id = %s", (random.randint(1, self.rows),))
                self.latencies.append(time.perf_counter() - started)
                time.sleep(0.002)


class LockSampler(threading.Thread):
    """Every 5 ms: how long the backfill's current transaction has held locks on ``items``."""

    def __init__(self, db: str, application_name: str) -> None:
        super().__init__(daemon=True)
        self.conninfo, self.application_name = dsn(db), application_name
        self.stop = threading.Event()
        self.longest = 0.0
        self.samples = 0

    def run(self) -> None:
        query = ("SELECT extract(epoch FROM clock_timestamp() - a.xact_start) FROM pg_stat_activity a "
                 "JOIN pg_locks l ON l.pid = a.pid AND l.granted "
                 "WHERE a.application_name = %s AND l.relation = 'items'::regclass AND a.xact_start IS NOT NULL "
                 "LIMIT 1")
        with psycopg.connect(self.conninfo, autocommit=True) as conn:
            while not self.stop.is_set():
                row = conn.execute(query, (self.application_name,)).fetchone()
                self.samples += 1
                if row and row[0] is not None:
                    self.longest = max(self.longest, float(row[0]))
                time.sleep(0.005)


def drop_database(db: str, timeout: float = 60.0) -> None:
    """DROP DATABASE ... WITH (FORCE) as the lab role, which may not terminate an autovacuum worker: retry."""
    deadline = time.monotonic() + timeout
    with psycopg.connect(dsn(labmod.PG_DB), autocommit=True) as conn:
        while True:
            try:
                conn.execute(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
                return
            except (psycopg.errors.InsufficientPrivilege, psycopg.errors.ObjectInUse):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)


def prepare(db: str, rows: int, workdir: Path, pattern: str) -> None:
    with psycopg.connect(dsn(labmod.PG_DB), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {db}")
    with psycopg.connect(dsn(db), autocommit=True) as conn:
        conn.execute("CREATE TABLE items (id bigserial PRIMARY KEY, price numeric(10, 2) NOT NULL, name text)")
        conn.execute("INSERT INTO items (price, name) SELECT (g %% 1000) / 7.0, 'item ' || g "
                     "FROM generate_series(1, %s) g", (rows,))
        conn.execute("VACUUM ANALYZE items")
    (workdir / "1_total_cents.up.sql").write_text(EXPAND)
    (workdir / "2_backfill_total_cents.up.sql").write_text(BACKFILLS[pattern])


def run_one(rows: int, batch_size: int, pattern: str) -> dict[str, float]:
    db = f"bench_{uuid.uuid4().hex[:8]}"
    application_name = f"bench-backfill-{db}"
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        try:
            prepare(db, rows, workdir, pattern)
            settings = Settings(conninfo=dsn(db), batch_size=batch_size, application_name=application_name)
            runner = Runner.connect(settings)
            migrations = discover(str(workdir))
            runner.lock()
            runner.ensure_table()
            runner.apply(plan(migrations, None, "expand")[0])
            writer, sampler = Writer(db, rows), LockSampler(db, application_name)
            writer.start()
            sampler.start()
            time.sleep(0.5)
            baseline = len(writer.latencies)
            result = runner.apply(plan(migrations, 1, "migrate")[0])
            writer.stop.set()
            sampler.stop.set()
            writer.join()
            sampler.join()
            runner.close()
            latencies = sorted(writer.latencies[baseline:])
            done = psycopg.connect(dsn(db)).execute("SELECT count(*) FROM items WHERE total_cents IS NULL").fetchone()
            assert done[0] == 0 and result["rows"] == rows, (done, result)
            return {"rows": result["rows"], "batches": result["batches"], "seconds": result["seconds"],
                    "rows_per_s": result["rows"] / result["seconds"], "longest_lock_s": sampler.longest,
                    "lock_samples": sampler.samples, "writes": len(latencies),
                    "writer_p50_ms": 1000 * statistics.median(latencies),
                    "writer_p99_ms": 1000 * latencies[int(0.99 * (len(latencies) - 1))],
                    "writer_max_ms": 1000 * latencies[-1]}
        finally:
            drop_database(db)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--batch-sizes", default="1000,10000")
    parser.add_argument("--patterns", default="array,in", help="backfill statements to compare: array, in")
    args = parser.parse_args()
    if not labmod.is_up():
        print("the lab is not running: make lab-up", file=sys.stderr)
        return 2
    print(f"{'pattern':>7} {'batch':>7} {'rows':>9} {'batches':>7} {'seconds':>8} {'rows/s':>9} {'longest lock':>12} "
          f"{'writes':>6} {'writer p50':>10} {'p99':>8} {'max':>8}")
    for pattern in args.patterns.split(","):
        for batch_size in (int(b) for b in args.batch_sizes.split(",")):
            r = run_one(args.rows, batch_size, pattern)
            print(f"{pattern:>7} {batch_size:>7} {r['rows']:>9} {r['batches']:>7} {r['seconds']:>8.1f} "
                  f"{r['rows_per_s']:>9.0f} "
                  f"{r['longest_lock_s'] * 1000:>10.0f}ms {r['writes']:>6} {r['writer_p50_ms']:>8.1f}ms "
                  f"{r['writer_p99_ms']:>6.1f}ms {r['writer_max_ms']:>6.1f}ms", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
