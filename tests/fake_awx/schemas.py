# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What AWX (24.x) accepts in the bodies of the requests the fake serves, and its error messages.

Each resource lists its writable fields with a type and a default. Types are checked as AWX's Django REST framework
serializers check them, with their messages ("A valid integer is required.", "Must be a valid boolean.", 'Invalid pk
"9" - object does not exist.'), and a field error is a 400 ``{"field": ["message"]}``. One deliberate difference: AWX
(DRF) silently drops a field it does not know, which hides a misspelt option; the fake refuses it with a 400, except
the few fields awx.awx itself sends where AWX ignores them (``ignored``).

Survey specs are checked with the rules and messages of AWX's ``JobTemplateSurveySpec._validate_spec_data`` (a 400
``{"error": "..."}``).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import yaml

# field type names: str, int, bool, dict, vars (a JSON or YAML mapping in a string), fk:<plural>, choice:<a|b|c>
_STR, _INT, _BOOL = "str", "int", "bool"


@dataclass(frozen=True)
class Resource:
    plural: str
    type: str
    fields: dict[str, tuple[str, Any]]
    required: tuple[str, ...] = ()
    related: tuple[str, ...] = ()
    ignored: frozenset[str] = field(default_factory=frozenset)
    # creatable with POST on the list endpoint
    creatable: bool = True


def _flags(*names: str) -> dict[str, tuple[str, Any]]:
    return {name: (_BOOL, False) for name in names}


_PROMPTS = ("ask_scm_branch_on_launch", "ask_diff_mode_on_launch", "ask_variables_on_launch", "ask_limit_on_launch",
            "ask_tags_on_launch", "ask_skip_tags_on_launch", "ask_job_type_on_launch", "ask_verbosity_on_launch",
            "ask_inventory_on_launch", "ask_credential_on_launch", "ask_execution_environment_on_launch",
            "ask_forks_on_launch", "ask_instance_groups_on_launch", "ask_job_slice_count_on_launch",
            "ask_labels_on_launch", "ask_timeout_on_launch")

RESOURCES: dict[str, Resource] = {r.plural: r for r in (
    Resource("organizations", "organization",
             {"name": (_STR, ""), "description": (_STR, ""), "max_hosts": (_INT, 0),
              "default_environment": ("fk:execution_environments", None)}, required=("name",)),
    Resource("credentials", "credential",
             {"name": (_STR, ""), "description": (_STR, ""), "organization": ("fk:organizations", None),
              "credential_type": (_INT, 1), "inputs": ("dict", {})}, required=("name", "credential_type")),
    Resource("execution_environments", "execution_environment",
             {"name": (_STR, ""), "description": (_STR, ""), "image": (_STR, ""),
              "organization": ("fk:organizations", None), "credential": ("fk:credentials", None),
              "pull": ("choice:|always|missing|never", "")}, required=("name", "image")),
    Resource("projects", "project",
             {"name": (_STR, ""), "description": (_STR, ""), "organization": ("fk:organizations", None),
              "scm_type": ("choice:|git|svn|insights|archive", ""), "scm_url": (_STR, ""),
              "scm_branch": (_STR, ""), "scm_refspec": (_STR, ""), "local_path": (_STR, ""),
              **_flags("scm_clean", "scm_delete_on_update", "scm_track_submodules", "scm_update_on_launch",
                       "allow_override"),
              "scm_update_cache_timeout": (_INT, 0), "timeout": (_INT, 0),
              "credential": ("fk:credentials", None), "default_environment": ("fk:execution_environments", None),
              "signature_validation_credential": ("fk:credentials", None), "custom_virtualenv": (_STR, None)},
             required=("name",), related=("update", "project_updates", "playbooks", "inventories")),
    Resource("project_updates", "project_update", {}, creatable=False),
    Resource("inventories", "inventory",
             {"name": (_STR, ""), "description": (_STR, ""), "organization": ("fk:organizations", None),
              "variables": ("vars", ""), "kind": ("choice:|smart|constructed", ""), "host_filter": (_STR, None),
              "prevent_instance_group_fallback": (_BOOL, False)},
             required=("name", "organization"), related=("inventory_sources", "hosts", "groups")),
    Resource("inventory_sources", "inventory_source",
             {"name": (_STR, ""), "description": (_STR, ""), "inventory": ("fk:inventories", None),
              "source": ("choice:file|scm|ec2|gce|azure_rm|vmware|satellite6|openstack|rhv|controller|insights", ""),
              "source_path": (_STR, ""), "source_project": ("fk:projects", None), "source_vars": ("vars", ""),
              "scm_branch": (_STR, ""), "credential": ("fk:credentials", None),
              "execution_environment": ("fk:execution_environments", None), "enabled_var": (_STR, ""),
              "enabled_value": (_STR, ""), "host_filter": (_STR, ""),
              **_flags("overwrite", "overwrite_vars", "update_on_launch"),
              "update_cache_timeout": (_INT, 0), "timeout": (_INT, 0), "verbosity": ("choice:0|1|2", 1),
              "limit": (_STR, ""), "custom_virtualenv": (_STR, None)},
             required=("name", "inventory", "source"), related=("update",)),
    Resource("job_templates", "job_template",
             {"name": (_STR, ""), "description": (_STR, ""), "organization": ("fk:organizations", None),
              "job_type": ("choice:run|check", "run"), "inventory": ("fk:inventories", None),
              "project": ("fk:projects", None), "playbook": (_STR, ""), "scm_branch": (_STR, ""),
              "forks": (_INT, 0), "limit": (_STR, ""), "verbosity": ("choice:0|1|2|3|4|5", 0),
              "extra_vars": ("vars", ""), "job_tags": (_STR, ""), "skip_tags": (_STR, ""),
              "start_at_task": (_STR, ""), "timeout": (_INT, 0), "host_config_key": (_STR, ""),
              "execution_environment": ("fk:execution_environments", None), "custom_virtualenv": (_STR, None),
              "job_slice_count": (_INT, 1), "webhook_service": ("choice:|github|gitlab|bitbucket_dc", ""),
              "webhook_credential": ("fk:credentials", None),
              **_flags("force_handlers", "use_fact_cache", "survey_enabled", "become_enabled", "diff_mode",
                       "allow_simultaneous", "prevent_instance_group_fallback", *_PROMPTS)},
             required=("name",), related=("survey_spec", "credentials", "labels", "launch", "instance_groups")),
    Resource("workflow_job_templates", "workflow_job_template",
             {"name": (_STR, ""), "description": (_STR, ""), "organization": ("fk:organizations", None),
              "extra_vars": ("vars", ""), "inventory": ("fk:inventories", None), "limit": (_STR, None),
              "scm_branch": (_STR, None), "job_tags": (_STR, None), "skip_tags": (_STR, None),
              "webhook_service": ("choice:|github|gitlab|bitbucket_dc", ""),
              "webhook_credential": ("fk:credentials", None),
              **_flags("survey_enabled", "allow_simultaneous", "ask_variables_on_launch", "ask_inventory_on_launch",
                       "ask_scm_branch_on_launch", "ask_limit_on_launch", "ask_labels_on_launch",
                       "ask_tags_on_launch", "ask_skip_tags_on_launch")},
             required=("name",), related=("survey_spec", "workflow_nodes", "labels", "launch")),
    Resource("workflow_job_template_nodes", "workflow_job_template_node",
             {"workflow_job_template": ("fk:workflow_job_templates", None),
              "unified_job_template": ("fk:unified_job_templates", None), "identifier": (_STR, ""),
              "extra_data": ("dict", {}), "inventory": ("fk:inventories", None), "scm_branch": (_STR, None),
              "job_type": ("choice:run|check", None), "job_tags": (_STR, None), "skip_tags": (_STR, None),
              "limit": (_STR, None), "diff_mode": (_BOOL, None), "verbosity": ("choice:0|1|2|3|4|5", None),
              "forks": (_INT, None), "job_slice_count": (_INT, None), "timeout": (_INT, None),
              "all_parents_must_converge": (_BOOL, False),
              "execution_environment": ("fk:execution_environments", None)},
             required=("workflow_job_template",),
             # awx.awx.workflow_job_template_node sends the read-only `type`, which AWX ignores
             ignored=frozenset({"type"}),
             related=("success_nodes", "failure_nodes", "always_nodes", "credentials", "labels", "instance_groups",
                      "create_approval_template")),
    # created through workflow_job_template_nodes/N/create_approval_template/; awx.awx posts and patches the node's
    # fields (identifier, workflow_job_template) along with the template's, which AWX's serializer ignores
    Resource("workflow_approval_templates", "workflow_approval_template",
             {"name": (_STR, ""), "description": (_STR, ""), "timeout": (_INT, 0)}, required=("name",),
             ignored=frozenset({"identifier", "workflow_job_template"}), creatable=False),
)}

# unified_job_templates lists these (read only), with their `type`
UNIFIED = ("job_templates", "workflow_job_templates", "projects", "inventory_sources", "workflow_approval_templates")
# association sub-endpoints: name -> the resource whose ids are (dis)associated
ASSOCIATIONS = {"success_nodes": "workflow_job_template_nodes", "failure_nodes": "workflow_job_template_nodes",
                "always_nodes": "workflow_job_template_nodes", "credentials": "credentials"}


class FieldErrors(Exception):
    """A 400 with DRF's shape: ``{"field": ["message", ...]}``."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__(json.dumps(errors))
        self.errors = errors


def check_value(name: str, kind: str, value: Any, exists: Any) -> tuple[Any, str | None]:
    """The value as AWX stores it, or an error message. ``exists(plural, id)`` answers foreign keys."""
    if value is None:
        return None, None
    if kind == _STR:
        if isinstance(value, (dict, list, bool)):
            return None, "Not a valid string."
        return str(value), None
    if kind == _INT:
        if isinstance(value, bool) or not isinstance(value, (int, str)) or not str(value).lstrip("-").isdigit():
            return None, "A valid integer is required."
        return int(value), None
    if kind == _BOOL:
        if isinstance(value, bool):
            return value, None
        if value in ("true", "True", "1", 1):
            return True, None
        if value in ("false", "False", "0", 0):
            return False, None
        return None, "Must be a valid boolean."
    if kind == "dict":
        return (value, None) if isinstance(value, dict) else (None, f'Expected a dictionary of items but got type'
                                                                    f' "{type(value).__name__}".')
    if kind == "vars":
        if not isinstance(value, str):
            return None, "Not a valid string."
        if value.strip():
            try:
                parsed = yaml.safe_load(value)
            except yaml.YAMLError as exc:
                return None, f"Cannot parse as JSON or YAML: {exc}"
            if not isinstance(parsed, dict):
                return None, f"Input type `{type(parsed).__name__}` is not a dictionary"
        return value, None
    if kind.startswith("choice:"):
        choices = kind[len("choice:"):].split("|")
        if str(value) not in choices or isinstance(value, bool):
            return None, f'"{value}" is not a valid choice.'
        return (int(value) if choices[0].isdigit() else value), None
    if kind.startswith("fk:"):
        if isinstance(value, bool) or not isinstance(value, int):
            return None, f"Incorrect type. Expected pk value, received {type(value).__name__}."
        if not exists(kind[3:], value):
            return None, f'Invalid pk "{value}" - object does not exist.'
        return value, None
    raise AssertionError(f"unknown field type {kind} of {name}")


def check_body(resource: Resource, body: Any, exists: Any, partial: bool) -> dict[str, Any]:
    """The writable fields of a POST (partial=False) or PATCH body, checked; raises FieldErrors."""
    if not isinstance(body, dict):
        raise FieldErrors({"non_field_errors": ["Invalid data. Expected a dictionary, but got "
                                                f"{type(body).__name__}."]})
    errors: dict[str, list[str]] = {}
    clean: dict[str, Any] = {}
    for name, value in body.items():
        if name in resource.ignored:
            continue
        if name not in resource.fields:
            errors[name] = [f"Unknown field for {resource.type} (AWX would drop it silently)."]
            continue
        stored, problem = check_value(name, resource.fields[name][0], value, exists)
        if problem:
            errors[name] = [problem]
        else:
            clean[name] = stored
    if not partial:
        for name in resource.required:
            if clean.get(name) in (None, "") and name not in errors:
                errors[name] = ["This field is required."]
    if errors:
        raise FieldErrors(errors)
    return clean


# ---- survey specs (AWX's JobTemplateSurveySpec._validate_spec_data) --------------------------------------------------
SURVEY_TYPES: dict[str, Any] = {"text": str, "textarea": str, "password": str, "multiplechoice": str,
                                "multiselect": str, "integer": int, "float": (float, int)}


class SurveyError(Exception):
    """A 400 ``{"error": "..."}``."""


def check_survey(spec: Any) -> dict[str, Any]:
    if not isinstance(spec, dict):
        raise SurveyError("Survey spec is not a json object.")
    for name, expected, label in (("name", str, "string"), ("description", str, "string"),
                                  ("spec", list, "list of items")):
        if name not in spec:
            raise SurveyError(f"Field '{name}' is missing from survey spec.")
        if not isinstance(spec[name], expected):
            raise SurveyError(f"Expected {label} for field '{name}', received {type(spec[name]).__name__} type.")
    if not spec["spec"]:
        raise SurveyError("'spec' doesn't contain any items.")
    variables: set[str] = set()
    for idx, item in enumerate(spec["spec"]):
        if not isinstance(item, dict):
            raise SurveyError(f"Survey question {idx} is not a json object.")
        for name in ("type", "question_name", "variable", "required"):
            if name not in item:
                raise SurveyError(f"'{name}' missing from survey question {idx}")
            expected, label = (bool, "boolean") if name == "required" else (str, "string")
            if not isinstance(item[name], expected):
                raise SurveyError(f"'{name}' in survey question {idx} expected to be {label}.")
        if item["variable"] in variables:
            raise SurveyError(f"'variable' '{item['variable']}' duplicated in survey question {idx}.")
        variables.add(item["variable"])
        qtype = item["type"]
        if qtype not in SURVEY_TYPES:
            raise SurveyError(f"'{qtype}' in survey question {idx} is not one of '{', '.join(SURVEY_TYPES)}' allowed"
                              " question types.")
        if "default" in item and item["default"] != "" and not isinstance(item["default"], SURVEY_TYPES[qtype]):
            label = qtype if qtype in ("integer", "float") else "string"
            raise SurveyError(f"Default value {item['default']} in survey question {idx} expected to be {label}.")
        for key in ("min", "max"):
            if item.get(key) is not None and (isinstance(item[key], bool) or not isinstance(item[key], int)):
                raise SurveyError(f"The {key} limit in survey question {idx} expected to be integer.")
        if qtype in ("multiplechoice", "multiselect"):
            if "choices" not in item:
                raise SurveyError(f"Survey question {idx} of type {qtype} must specify choices.")
            choices = item["choices"]
            if isinstance(choices, str):
                choices = item["choices"] = "\n".join(c for c in choices.splitlines() if c.strip())
            if "default" in item:
                default = item["default"]
                if isinstance(default, str):
                    default = item["default"] = "\n".join(c for c in default.splitlines() if c.strip())
                    defaults = default.splitlines()
                else:
                    defaults = default
                if qtype == "multiplechoice" and len(defaults) > 1:
                    raise SurveyError("Multiple Choice (Single Select) can only have one default value.")
                if any(d not in choices for d in defaults):
                    raise SurveyError("Default choice must be answered from the choices listed.")
    return spec
