#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: schema_migrate
short_description: Expand, migrate and contract PostgreSQL schemas with golang-migrate files
version_added: 0.1.0
description:
  - Applies SQL migrations from a directory in golang-migrate's layout (C({version}_{title}.up.sql) and
    C({version}_{title}.down.sql)) to a PostgreSQL database, one release phase at a time, so that the schema
    stays compatible with the version of the application that still runs.
  - The version table is golang-migrate's own (C(schema_migrations), one row of C(version bigint) and
    C(dirty boolean)), written the way the C(migrate) CLI writes it, and runs take the same advisory locks. A team
    can switch between this module and C(migrate) in either direction.
  - "Each file declares its phase in a header comment, C(-- phase: expand) (the default), C(-- phase: migrate) or
    C(-- phase: contract). A file that cannot run inside a transaction (C(CREATE INDEX CONCURRENTLY)) says
    C(-- transaction: none); its statements then run one by one, outside a transaction."
  - "Expand-phase files are linted before anything runs (O(lint)). A statement that would break the running
    version (dropping or renaming, C(NOT NULL) without default, type changes, C(SET NOT NULL), a blocking index
    build, a validating foreign key or check) is refused with the file, line and rule name, unless the line
    before it says C(-- allow: <rule>)."
  - Migrate-phase files are batched backfills. Each statement is re-run, one transaction per batch, until it
    touches 0 rows. C(:batch_size) in the statement is replaced by O(batch_size).
  - A file that fails leaves the version table C(dirty) at its version, as golang-migrate does. Later runs refuse
    to continue until O(force_version) says which version the database is really at.
  - See C(docs/schema_migrate.md) in the collection for the phases across releases and the lint rules.
author: progressive.delivery maintainers (@progressive-delivery)
extends_documentation_fragment:
  - progressive.delivery._postgres
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details:
      - A real dry run. The files run inside one transaction, each in a savepoint, and the transaction is
        rolled back, so syntax errors, lock timeouts and constraint violations surface and nothing stays
        behind. The version table is not written.
      - "A backfill runs its first batch only. Files marked C(-- transaction: none) cannot be checked; they are
        reported with RV(checked[].checked=false)."
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: full
    details:
      - The diff shows the version table (C(version), C(dirty)) before and after. It is returned only in diff
        mode; RV(before) and RV(after) are always returned.
options:
  path:
    description:
      - Directory of the migration files. Files not named like golang-migrate's are ignored.
    type: path
    required: true
  phase:
    description:
      - V(expand) applies the pending expand files, stopping before the first pending file of another phase
        (a backfill or a contract file). Run it before the new version ships.
      - V(migrate) applies the pending migrate files (batched backfills), stopping before the first file of
        another phase. Run it once the new version writes the new schema.
      - V(contract) applies the pending contract files, stopping before the first file of another phase. Run it
        once no old version can be serving.
      - V(all) applies every pending file in order (a new database, or a test).
      - Ignored with O(direction=down).
    type: str
    choices: [expand, migrate, contract, all]
    default: expand
  target:
    description:
      - The last version to apply going up, or the version to go down to with O(direction=down) (that version
        stays applied). V(latest) for no limit.
    type: str
    default: latest
  direction:
    description:
      - V(up) applies pending files, V(down) runs the C(.down.sql) files of applied versions, newest first.
    type: str
    choices: [up, down]
    default: up
  steps:
    description:
      - The most files to run. With O(direction=down) the default is V(1); mutually exclusive with O(target)
        there.
    type: int
  migration_table:
    description:
      - Name of the version table, V(table) or V(schema.table) (the C(x-migrations-table) of C(migrate)). Without
        a schema, the connection's C(current_schema()).
      - The alias O(migrations_table) is deprecated and will be removed in 2.0.0; it is the same option, use
        O(migration_table) (the name the role M(progressive.delivery.migration) uses, as C(migration_table)).
    type: str
    default: schema_migrations
    aliases: [migrations_table]
  lint:
    description:
      - Lint the pending expand-phase files and refuse to run any that breaks a rule.
    type: bool
    default: true
  lint_only:
    description:
      - Lint every expand-phase file in O(path) and report the findings in RV(lint) without connecting to the
        database. Never changes anything, and does not fail on findings (see RV(lint_failed)).
    type: bool
    default: false
  force_version:
    description:
      - Set the version table to this version, clean, and do nothing else (C(migrate force)). V(-1) empties it.
      - Use it after repairing the database by hand, when a failed run left it dirty.
    type: int
  batch_size:
    description:
      - Rows per batch of a backfill; replaces C(:batch_size) in migrate-phase files.
    type: int
    default: 1000
  batch_pause:
    description:
      - Seconds to sleep between two batches of a backfill, to leave room for the application's own writes.
    type: float
    default: 0
  max_batches:
    description:
      - Fail a backfill statement that still touches rows after this many batches (a statement that never
        reaches 0 rows). V(0) for no limit.
    type: int
    default: 0
  lock_timeout:
    description:
      - PostgreSQL C(lock_timeout) of the session (V(5s), V(500ms)). A file or batch waiting longer for a table
        lock fails instead of queueing the application's queries behind it; it is retried O(lock_retries) times
        with exponential backoff (the transaction was rolled back, so retrying is safe).
    type: str
    default: 5s
  lock_retries:
    description:
      - How often a file or a batch that hit O(lock_timeout) is retried.
    type: int
    default: 3
  lock_wait:
    description:
      - How long to wait for another run (of this module or of C(migrate)) to release the advisory lock before
        failing.
    type: str
    default: 60s
  statement_timeout:
    description:
      - PostgreSQL C(statement_timeout) of the session, V(0) for none.
    type: str
    default: "0"
notes:
  - The advisory lock ids are golang-migrate's (C(GenerateAdvisoryLockId) of the database, schema and table). The
    module takes both the id of the C(migrate) CLI (which names the database C(/<db>), by its URL path) and the id
    of golang-migrate used as a library (C(current_database())).
  - A migrate-phase file that uses C(:batch_size) is not valid SQL for the C(migrate) CLI; write a literal
    C(LIMIT) if the CLI must run it too.
seealso:
  - name: golang-migrate
    description: The file layout and version table this module shares.
    link: https://github.com/golang-migrate/migrate
"""

EXAMPLES = r"""
- name: Expand before the new version ships
  progressive.delivery.schema_migrate:
    login_host: db.example.com
    login_user: app_owner
    login_password: "{{ vault_db_password }}"
    login_db: app
    path: "{{ playbook_dir }}/../migrations"
    phase: expand
  run_once: true
  register: expand

- name: Backfill in batches of 5000 rows once the new version writes both columns
  progressive.delivery.schema_migrate:
    dsn: "{{ vault_app_dsn }}"
    path: migrations/
    phase: migrate
    batch_size: 5000
    batch_pause: 0.1
  run_once: true

- name: Lint in CI, without a database
  progressive.delivery.schema_migrate:
    path: migrations/
    lint_only: true
  register: lint
  failed_when: lint.lint_failed

- name: After fixing a failed migration by hand, mark version 41 as applied
  progressive.delivery.schema_migrate:
    dsn: "{{ vault_app_dsn }}"
    path: migrations/
    force_version: 41
"""

RETURN = r"""
before:
  description:
    - The version table before the run. C(version) is V(null) for none.
  returned: unless O(lint_only); on failure, once the version table was read
  type: dict
  contains:
    version:
      description: The version.
      type: int
    dirty:
      description: Whether a file failed at that version.
      type: bool
  sample: {"version": 3, "dirty": false}
after:
  description:
    - The version table after the run, same shape as RV(before); in check mode, what the run would leave. After a
      failed file, that file's version with C(dirty=true).
  returned: unless O(lint_only); on failure, once the version table was read
  type: dict
  contains:
    version:
      description: The version.
      type: int
    dirty:
      description: Whether a file failed at that version.
      type: bool
  sample: {"version": 5, "dirty": false}
diff:
  description: RV(before) and RV(after) as Ansible's diff.
  returned: diff mode, unless O(lint_only)
  type: dict
  sample: {"before": {"version": 3, "dirty": false}, "after": {"version": 5, "dirty": false},
           "before_header": "version table schema_migrations", "after_header": "version table schema_migrations"}
version_before:
  description:
    - The version in the version table before the run (V(null) for none), RV(before.version).
    - "Deprecated: use before/after; will be removed in 2.0.0."
  returned: unless O(lint_only)
  type: int
  sample: 3
version:
  description:
    - The version after the run (in check mode, the version the run would reach), RV(after.version).
    - "Deprecated: use before/after; will be removed in 2.0.0."
  returned: unless O(lint_only)
  type: int
  sample: 5
dirty:
  description:
    - Whether the version table is dirty after the run (a file failed), RV(after.dirty).
    - "Deprecated: use before/after; will be removed in 2.0.0."
  returned: unless O(lint_only)
  type: bool
  sample: false
phase:
  description: The phase that ran (O(phase)).
  returned: unless O(lint_only) or O(force_version)
  type: str
  sample: expand
direction:
  description: The direction that ran (O(direction)).
  returned: unless O(lint_only) or O(force_version)
  type: str
  sample: up
failed_version:
  description: The version of the file that failed (the table is left dirty at RV(after.version)).
  returned: when a file failed
  type: int
  sample: 4
option:
  description: The option at fault, when a failure has one (for example V(path), V(target), V(lock_wait),
    V(force_version) when the table is dirty).
  returned: failure
  type: str
  sample: path
files:
  description: With O(lint_only), the migration files found in O(path), in order.
  returned: O(lint_only)
  type: list
  elements: dict
  sample: [{"version": 1, "title": "create_users", "phase": "expand", "file": "1_create_users.up.sql",
            "transaction": true}]
applied:
  description: The files applied, in order.
  returned: unless O(lint_only)
  type: list
  elements: dict
  contains:
    version:
      description: Version of the file.
      type: int
    title:
      description: Title part of the file name.
      type: str
    phase:
      description: The file's phase.
      type: str
    direction:
      description: V(up) or V(down).
      type: str
    seconds:
      description: Run time of the file.
      type: float
    batches:
      description: Backfills only. Batches run, including the last one that touched 0 rows.
      type: int
    rows:
      description: Backfills only. Rows touched over all batches.
      type: int
  sample: [{"version": 4, "title": "backfill_email", "phase": "migrate", "direction": "up", "seconds": 3.2,
            "batches": 101, "rows": 100000}]
pending:
  description: The files still pending after the run (in check mode, before it), in order.
  returned: unless O(lint_only)
  type: list
  elements: dict
  sample: [{"version": 5, "title": "drop_old_email", "phase": "contract", "file": "5_drop_old_email.up.sql",
            "transaction": true}]
checked:
  description: Check mode only. The files the dry run ran and rolled back, or could not check.
  returned: check mode
  type: list
  elements: dict
  contains:
    version:
      description: Version of the file.
      type: int
    title:
      description: Title part of the file name.
      type: str
    phase:
      description: The file's phase.
      type: str
    direction:
      description: V(up) or V(down).
      type: str
    checked:
      description: Whether the file ran (and was rolled back).
      type: bool
    reason:
      description: Why the file was not checked.
      type: str
    seconds:
      description: Run time of the checked file.
      type: float
    rows_first_batch:
      description: Backfills only. Rows the first batch touched.
      type: int
  sample: [{"version": 3, "title": "index_email", "phase": "expand", "direction": "up", "checked": false,
            "reason": "'-- transaction: none' file: cannot run inside a transaction"}]
lint:
  description:
    - Lint findings of the pending expand-phase files (of every expand-phase file with O(lint_only)). Findings
      with C(allowed=true) were allowed by a C(-- allow:) comment.
  returned: always
  type: list
  elements: dict
  sample: [{"file": "2_rename.up.sql", "line": 3, "rule": "rename-column", "allowed": false,
            "message": "renaming a column breaks the running version; ...",
            "statement": "ALTER TABLE users RENAME COLUMN mail TO email"}]
lint_failed:
  description: Whether any lint finding is not allowed.
  returned: always
  type: bool
  sample: false
"""

from typing import Any  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible_collections.progressive.delivery.plugins.module_utils._deps import PSYCOPG, require  # noqa: E402
from ansible_collections.progressive.delivery.plugins.module_utils._migrations import (  # noqa: E402
    RUN_PHASES,
    dsn_secrets,
    postgres_argument_spec,
)
from ansible_collections.progressive.delivery.plugins.module_utils._migrator import (  # noqa: E402
    MigrationRunFailed,
    Outcome,
    RunOptions,
    lint_all,
    load_migrations,
    migrate,
    settings_from_params,
    validate_options,
    violations,
)
from ansible_collections.progressive.delivery.plugins.module_utils._result import (  # noqa: E402
    ContractModule,
    ModuleFailure,
    run_module,
    state_result,
)

COLLECTION = "progressive.delivery"


def argument_spec() -> dict[str, dict[str, Any]]:
    spec = postgres_argument_spec()
    spec.update(
        path={"type": "path", "required": True},
        phase={"type": "str", "choices": list(RUN_PHASES), "default": "expand"},
        target={"type": "str", "default": "latest"},
        direction={"type": "str", "choices": ["up", "down"], "default": "up"},
        steps={"type": "int"},
        migration_table={"type": "str", "default": "schema_migrations", "aliases": ["migrations_table"],
                         "deprecated_aliases": [{"name": "migrations_table", "version": "2.0.0",
                                                 "collection_name": COLLECTION}]},
        lint={"type": "bool", "default": True},
        lint_only={"type": "bool", "default": False},
        force_version={"type": "int"},
        batch_size={"type": "int", "default": 1000},
        batch_pause={"type": "float", "default": 0},
        max_batches={"type": "int", "default": 0},
        lock_timeout={"type": "str", "default": "5s"},
        lock_retries={"type": "int", "default": 3, "no_log": False},
        lock_wait={"type": "str", "default": "60s"},
        statement_timeout={"type": "str", "default": "0"},
    )
    return spec


def shape(module: AnsibleModule, outcome: Outcome) -> dict[str, Any]:
    """The module's result for ``outcome`` (also the partial result of a failure)."""
    extra: dict[str, Any] = {"applied": outcome.applied, "pending": outcome.pending, "lint": outcome.lint,
                             "lint_failed": outcome.lint_failed}
    if outcome.phase is not None:
        extra.update(phase=outcome.phase, direction=outcome.direction)
    if outcome.checked is not None:
        extra["checked"] = outcome.checked
    if outcome.failed_version is not None:
        extra["failed_version"] = outcome.failed_version
    if outcome.before is None:  # failed before the version table was read
        return {"changed": outcome.changed, **extra}
    deprecated = {"version_before": outcome.before["version"], "version": outcome.after["version"],
                  "dirty": outcome.after["dirty"]}
    return state_result(module, outcome.changed, outcome.before, outcome.after,
                        header=f"version table {outcome.table}", **deprecated, **extra)


def lint_only(migrations: list[Any]) -> dict[str, Any]:
    findings = lint_all(migrations)
    return {"changed": False, "lint": findings, "lint_failed": bool(violations(findings)),
            "files": [migration.summary() for migration in migrations]}


def run(module: AnsibleModule) -> dict[str, Any]:
    params = module.params
    validate_options(params)
    migrations = load_migrations(params["path"])
    if params["lint_only"]:
        return lint_only(migrations)
    require(PSYCOPG, reason="to connect to PostgreSQL")
    outcome = migrate(settings_from_params(params), migrations, RunOptions.from_params(params, module.check_mode))
    return shape(module, outcome)


def main() -> None:
    module = ContractModule(argument_spec=argument_spec(), supports_check_mode=True)
    for secret in dsn_secrets(module.params["dsn"]):
        module.no_log_values.add(secret)

    def translate(exc: Exception) -> ModuleFailure | None:
        if isinstance(exc, MigrationRunFailed):
            return ModuleFailure(exc.msg, exc.option, **shape(module, exc.outcome))
        return None

    run_module(module, lambda: run(module), translate)


if __name__ == "__main__":
    main()
