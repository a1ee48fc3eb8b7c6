# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""promote.yml and migrate.yml with ansible-playbook against inventories/lab: the lab's registry and PostgreSQL.

Neither touches the router or the pools: promotions go to a repository of their own in the lab registry (the
demo image is mounted there by digest), migrations to a scratch database.
"""
from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.e2e.conftest import ROOT, Run, image_digest_ref, manifest_digest, module, playbook
from tests.integration.test_image_promote import Registry, push_small_image
from tests.integration.test_schema_migrate import Database, drop_database
from tests.lab import lab as labmod

pytestmark = pytest.mark.lab

MIGRATIONS = ROOT / "tests" / "migrations"


def changed(run: Run) -> int:
    return int(re.search(r"changed=(\d+)", run.stdout.split("PLAY RECAP", 1)[1]).group(1))


# --------------------------------------------------------------------------------------------------
# promote.yml
# --------------------------------------------------------------------------------------------------
@pytest.fixture
def repo(lab) -> tuple[Registry, str, str]:
    """A repository of its own in the lab registry, its `staging` tag on an older build: (registry, repo, old)."""
    registry = Registry(lab.ports["registry"], Path(lab.dir) / "registry" / "data")
    name = f"promote-e2e-{uuid.uuid4().hex[:8]}/app"
    old = push_small_image(registry, name, "sha-0ld0000", "amd64", uuid.uuid4().hex)["digest"]
    return registry, name, old


def promote(tmp_path: Path, image: str, *extra: str) -> Run:
    return playbook("promote.yml", "-e", f"delivery_image={image}", *extra, state_dir=tmp_path / "state")


def test_promote_moves_the_tag_to_the_digest_and_keeps_the_previous(repo, tmp_path):
    registry, name, old = repo
    first = promote(tmp_path, f"{registry.host}/{name}@{old}", "-e", "promote_tag=staging")
    assert first.rc == 0, first.output[-3000:]
    assert registry.digest(name, "staging") == old and registry.digest(name, "previous-staging") is None

    # The release under test: the lab's demo image, by digest, promoted into this repository.
    image = image_digest_ref()
    digest = image.split("@")[1]
    destination = f"{registry.host}/{name}"
    check = promote(tmp_path, image, "-e", "promote_tag=staging", "-e", f"promote_repository={destination}",
                    "--check")
    assert check.rc == 0, check.output[-3000:]
    assert registry.digest(name, "staging") == old  # --check moved nothing

    run = promote(tmp_path, image, "-e", "promote_tag=staging", "-e", f"promote_repository={destination}")
    assert run.rc == 0, run.output[-3000:]
    assert changed(run) == 1
    assert manifest_digest(registry.host, name, "staging") == digest
    assert manifest_digest(registry.host, name, "previous-staging") == old
    assert f"{destination}:staging -> {digest} (moved; was {old}" in run.stdout

    again = promote(tmp_path, image, "-e", "promote_tag=staging", "-e", f"promote_repository={destination}")
    assert again.rc == 0 and changed(again) == 0, again.output[-3000:]
    assert registry.digest(name, "previous-staging") == old  # a promotion that moves nothing keeps previous-*

    # staging -> stable-kr: the digest that passed staging, previous-stable-kr kept the same way.
    stable = promote(tmp_path, f"{destination}@{digest}", "-e", "promote_tag=stable-kr")
    assert stable.rc == 0, stable.output[-3000:]
    assert registry.digest(name, "stable-kr") == digest and registry.digest(name, "previous-stable-kr") is None


@pytest.mark.parametrize("image", ["{repo}:staging", "{repo}:sha-0ld0000", "{repo}@sha256:abc", "{repo}"])
def test_promote_refuses_anything_but_a_digest_and_changes_nothing(repo, tmp_path, image):
    registry, name, _old = repo
    tags = ("staging", "previous-staging", "sha-0ld0000")
    before = {tag: registry.digest(name, tag) for tag in tags}
    run = promote(tmp_path, image.format(repo=f"{registry.host}/{name}"), "-e", "promote_tag=staging")
    assert run.rc != 0
    assert "promotes a digest, never a tag" in run.output and "nothing was changed" in run.output
    assert "TASK [Point the tag" not in run.stdout  # refused before the promotion task
    assert {tag: registry.digest(name, tag) for tag in tags} == before


def test_promote_refuses_a_bad_tag_name(repo, tmp_path):
    registry, name, old = repo
    run = promote(tmp_path, f"{registry.host}/{name}@{old}", "-e", "promote_tag=-bad tag")
    assert run.rc != 0 and "nothing was changed" in run.output
    assert registry.digest(name, "staging") is None


# --------------------------------------------------------------------------------------------------
# migrate.yml
# --------------------------------------------------------------------------------------------------
@pytest.fixture
def db(lab) -> Iterator[Database]:
    """A fresh database on the lab's PostgreSQL, dropped afterwards."""
    name = f"mig_e2e_{uuid.uuid4().hex[:10]}"
    admin = f"postgresql://{labmod.PG_USER}:{labmod.PG_PASSWORD}@127.0.0.1:{lab.ports['postgres']}/{labmod.PG_DB}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    yield Database(name, lab.ports["postgres"])
    drop_database(admin, name)


def migrate(db: Database, state: Path, phase: str, path: Path, *extra: str) -> Run:
    database = {"delivery_database": {"host": "127.0.0.1", "port": db.port, "user": labmod.PG_USER,
                                      "password": labmod.PG_PASSWORD, "name": db.name}}
    return playbook("migrate.yml", "-e", json.dumps(database), "-e", f"migration_phase={phase}", "-e",
                    f"delivery_migration_path={path}", *extra, state_dir=state)


def declare_pools(state: Path, blue: tuple[str, str], green: tuple[str, str]) -> None:
    """The release record says what runs in each pool: (version, role) per pool; green is stable."""
    image = image_digest_ref()
    pools = {pool: {"version": version, "digest": image.split("@")[1], "image": image, "role": role}
             for pool, (version, role) in (("blue", blue), ("green", green))}
    result = module("progressive.delivery.release_record", {
        "environment": "lab-kr", "app": "demo", "store_dir": str(state), "state": "pools", "pools": pools,
        "stable_pool": "green"})
    assert not result.get("failed"), result


def test_migrate_expand_then_migrate_on_a_fresh_database(db, tmp_path):
    state = tmp_path / "state"
    run = migrate(db, state, "expand", MIGRATIONS / "release1")
    assert run.rc == 0, run.output[-3000:]
    assert "schema version none -> 3; applied [1, 2, 3]; pending [4]" in run.stdout
    assert db.version_rows() == [(3, False)]
    assert set(db.columns("users")) == {"id", "mail", "email"}
    assert changed(run) == 1

    again = migrate(db, state, "expand", MIGRATIONS / "release1")
    assert again.rc == 0 and changed(again) == 0, again.output[-3000:]
    assert "applied []" in again.stdout and db.version_rows() == [(3, False)]

    backfill = migrate(db, state, "migrate", MIGRATIONS / "release1")
    assert backfill.rc == 0 and changed(backfill) == 1, backfill.output[-3000:]
    assert db.version_rows() == [(4, False)]
    assert changed(migrate(db, state, "migrate", MIGRATIONS / "release1")) == 0


def test_contract_waits_for_evidence_the_guard_and_every_serving_pool(db, tmp_path):
    state = tmp_path / "state"
    for phase in ("expand", "migrate"):
        assert migrate(db, state, phase, MIGRATIONS / "release1").rc == 0
    schema = db.snapshot()
    contract = ("contract", MIGRATIONS / "release2", "-e", "migration_expand_release=2026.05.1")

    # No release record: no data is not a pass.
    run = migrate(db, state, *contract)
    assert run.rc != 0 and "migration_deployed_versions is empty" in run.output, run.output[-3000:]
    # The previous pool, kept warm for a switch back, still runs the release that reads users.mail.
    declare_pools(state, blue=("2026.04.3+5", "previous"), green=("2026.05.1+7", "stable"))
    run = migrate(db, state, *contract)
    assert run.rc != 0 and "older than 2026.05.1: blue=2026.04.3+5" in run.output, run.output[-3000:]
    # Stopped (idle): it cannot serve; but a QoS guard watches the environment.
    declare_pools(state, blue=("2026.04.3+5", "idle"), green=("2026.05.1+7", "stable"))
    guard = playbook("guard.yml", "-e", "guard_action=lock", "-e", "guard_duration=5m", "-e",
                     "guard_reason=e2e hold", state_dir=state)
    assert guard.rc == 0, guard.output[-3000:]
    run = migrate(db, state, *contract)
    assert run.rc != 0 and "a QoS guard is active" in run.output, run.output[-3000:]
    assert db.snapshot() == schema and db.version_rows() == [(4, False)]  # every refusal changed nothing

    assert playbook("guard.yml", "-e", "guard_action=unlock", "-e", "guard_reason=e2e done", state_dir=state).rc == 0
    run = migrate(db, state, *contract)
    assert run.rc == 0, run.output[-3000:]
    assert "applied [5]" in run.stdout and db.version_rows() == [(5, False)]
    assert "mail" not in db.columns("users")
    assert changed(migrate(db, state, *contract)) == 0

    # The next release's expand (6) follows its contract.
    run = migrate(db, state, "expand", MIGRATIONS / "release2")
    assert run.rc == 0 and "applied [6]" in run.stdout and db.version_rows() == [(6, False)]


def test_migrate_refuses_a_missing_phase_or_path(db, tmp_path):
    state = tmp_path / "state"
    run = migrate(db, state, "all", MIGRATIONS / "release1")
    assert run.rc != 0 and "migration_phase=expand|migrate|contract" in run.output
    run = playbook("migrate.yml", "-e", "migration_phase=expand", state_dir=state)
    assert run.rc != 0 and "delivery_migration_path" in run.output
    assert db.query("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") == [(0,)]
