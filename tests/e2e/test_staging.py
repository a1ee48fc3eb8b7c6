# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Staging and seed 003: the manual big-bang checklist (stop, backup, pull, migrate, start, health check, ~8
minutes of downtime) replaced by one release with a migration and no failed request; a staging environment's
release ends with smoke tests, a migration dry run and the `staging` tag, and production takes only that digest."""
from __future__ import annotations

import json
import uuid

import pytest

from tests.e2e import test_promote_migrate
from tests.e2e.conftest import ROOT, haproxy_weights, manifest_digest, playbook, record
from tests.lab import lab as labmod

pytestmark = pytest.mark.lab
db = test_promote_migrate.db  # a fresh database on the lab's PostgreSQL (a pytest fixture, used by name)

MIGRATIONS = ROOT / "tests" / "migrations"
V_STG, V_PROD = "2026.12.30+50", "2026.12.31+51"


def database_vars(database) -> str:
    return json.dumps({"delivery_database": {"host": "127.0.0.1", "port": database.port, "user": labmod.PG_USER,
                                             "password": labmod.PG_PASSWORD, "name": database.name}})


def deploy(env, version: str, *extra: str):
    return playbook("deploy.yml", "-e", f"delivery_image={env['image']}", "-e", f"delivery_version={version}",
                    *extra, state_dir=env["state"])


def test_seed_003_one_staging_release_with_a_migration_and_no_failed_request(env, db):  # pylint: disable=redefined-outer-name
    tag = f"staging-e2e-{uuid.uuid4().hex[:8]}"
    registry, repo = env["image"].split("@")[0].split("/", 1)
    run = deploy(env, V_STG, "-e", "delivery_staging=true", "-e", f"delivery_staging_tag={tag}",
                 "-e", f"delivery_migration_path={MIGRATIONS / 'release1'}", "-e", database_vars(db))
    assert run.rc == 0, run.output[-6000:]
    # expand ran before the candidate started; the backfill (migrate) was only dry-run against this database
    assert "schema version none -> 3; applied [1, 2, 3]" in run.stdout
    assert "Dry run of the migrations against the staging database" in run.stdout
    assert db.version_rows() == [(3, False)]
    assert set(db.columns("users")) == {"id", "mail", "email"}
    # smoke tests through both routers, then the staging tag on the release's digest
    assert "Every smoke request was answered by the release" in run.stdout
    assert manifest_digest(registry, repo, tag) == env["image"].split("@")[1]
    rec = record(env["state"])
    assert (rec["last"]["outcome"], rec["last"]["version"]) == ("promoted", V_STG)
    stable = rec["stable_pool"]
    assert haproxy_weights(env["lab"])[stable] == sum(haproxy_weights(env["lab"]).values())
    # no downtime: every request through HAProxy answered, the old release and then the new one
    env["traffic"].stop()
    assert env["traffic"].by_version().get(V_STG, 0) > 0
    assert env["traffic"].failed() == 0, env["traffic"].answers


def test_production_takes_only_the_digest_that_passed_staging(env):
    tag = f"staging-e2e-{uuid.uuid4().hex[:8]}"
    before = haproxy_weights(env["lab"])
    refused = deploy(env, V_PROD, "-e", "delivery_require_staging=true", "-e", f"delivery_staging_tag={tag}")
    assert refused.rc != 0
    assert "has not passed staging" in refused.output and tag in refused.output
    assert record(env["state"])["last"] is None and record(env["state"])["current"] is None
    assert haproxy_weights(env["lab"]) == before

    promoted = playbook("promote.yml", "-e", f"delivery_image={env['image']}", "-e", f"promote_tag={tag}",
                        state_dir=env["state"])
    assert promoted.rc == 0, promoted.output[-3000:]
    run = deploy(env, V_PROD, "-e", "delivery_require_staging=true", "-e", f"delivery_staging_tag={tag}")
    assert run.rc == 0, run.output[-6000:]  # the lock of the refused run was released too
    assert (record(env["state"])["last"]["outcome"], record(env["state"])["last"]["version"]) == ("promoted", V_PROD)
    assert env["traffic"].failed() == 0, env["traffic"].answers
