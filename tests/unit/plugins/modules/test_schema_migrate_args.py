# -*- coding: utf-8 -*-
# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What stays in plugins/modules/schema_migrate.py: the options (documentation = argument_spec, the deprecated
alias) and the shaping of the result (before/after, deprecated keys, diff only in diff mode)."""
from __future__ import annotations

from types import SimpleNamespace

import yaml
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible_collections.progressive.delivery.plugins.module_utils._migrator import Outcome
from ansible_collections.progressive.delivery.plugins.modules import schema_migrate

from tests.module_docs import documented_options


def test_documentation_matches_argument_spec() -> None:
    doc, spec = documented_options(schema_migrate), schema_migrate.argument_spec()
    assert set(doc) == set(spec)
    for name, entry in spec.items():
        assert doc[name]["type"] == entry["type"], name
        assert bool(doc[name].get("required")) == bool(entry.get("required")), name
        assert doc[name].get("choices") == entry.get("choices"), name
        assert doc[name].get("default") == entry.get("default") or float(doc[name]["default"]) == entry["default"]
        assert doc[name].get("aliases", []) == entry.get("aliases", []), name


def test_migrations_table_is_a_deprecated_alias_of_migration_table() -> None:
    spec = schema_migrate.argument_spec()
    assert spec["migration_table"]["deprecated_aliases"] == [
        {"name": "migrations_table", "version": "2.0.0", "collection_name": "progressive.delivery"}]
    result = ArgumentSpecValidator(spec).validate({"path": "/tmp", "migrations_table": "ops.versions"})
    assert not result.error_messages
    assert result.validated_parameters["migration_table"] == "ops.versions"
    assert [(d["msg"], d["version"]) for d in result._deprecations] == [
        ("Alias 'migrations_table' is deprecated. See the module docs for more information", "2.0.0")]
    assert ArgumentSpecValidator(spec).validate({"path": "/tmp", "migration_table": "t"})._deprecations == []
    doc = documented_options(schema_migrate)["migration_table"]
    assert "deprecated" in " ".join(doc["description"]) and "2.0.0" in " ".join(doc["description"])


def test_deprecated_result_keys_are_documented_as_deprecated() -> None:
    returns = yaml.safe_load(schema_migrate.RETURN)
    for key in ("version_before", "version", "dirty"):
        assert "Deprecated: use before/after; will be removed in 2.0.0." in returns[key]["description"], key
    assert {"before", "after", "diff", "option"} <= set(returns)


def _outcome() -> Outcome:
    return Outcome(table="schema_migrations", phase="expand", direction="up", changed=True,
                   before={"version": 1, "dirty": False}, after={"version": 3, "dirty": False},
                   applied=[{"version": 2}, {"version": 3}])


def test_diff_only_in_diff_mode() -> None:
    plain = schema_migrate.shape(SimpleNamespace(_diff=False), _outcome())
    assert "diff" not in plain
    assert plain["before"] == {"version": 1, "dirty": False} and plain["after"] == {"version": 3, "dirty": False}
    assert (plain["version_before"], plain["version"], plain["dirty"]) == (1, 3, False)
    diffed = schema_migrate.shape(SimpleNamespace(_diff=True), _outcome())
    assert diffed["diff"]["before"] == plain["before"] and diffed["diff"]["after"] == plain["after"]
    assert diffed["diff"]["before_header"] == "version table schema_migrations"


def test_a_failure_before_the_table_was_read_has_no_state() -> None:
    shaped = schema_migrate.shape(SimpleNamespace(_diff=True), Outcome(table="t"))
    assert shaped["changed"] is False
    assert not {"before", "after", "diff", "version", "version_before"} & set(shaped)
