# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The parts of the real CRDs' OpenAPI schemas that the API server enforces for the fields we touch.

Gateway API HTTPRoute (gateway.networking.k8s.io/v1, standard channel v1.2): ``rules`` at most 16, a rule's
``name`` a SectionName (GEP-995) unique in the route, ``backendRefs`` at most 16, a backendRef's ``weight``
0..1000000 defaulting to 1, ``group`` defaulting to "" and ``kind`` to "Service", ``port`` 1..65535 and required
for a Service (the CEL rule of BackendRef). Istio VirtualService: a route destination needs ``destination``,
which needs ``host``; ``weight`` is an integer (int32; the range check is istiod's validating webhook, which a
bare API server does not run). Messages follow kube-openapi's wording. Unknown fields are kept, not pruned.
"""
from __future__ import annotations

import copy
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Cause:
    """One entry of a 422 Status's ``details.causes``."""

    reason: str
    field: str
    message: str

    def text(self) -> str:
        return f"{self.field}: {self.message}"

    def as_dict(self) -> dict[str, str]:
        return {"reason": self.reason, "message": self.message, "field": self.field}


Rule = tuple[Callable[[Any], bool], str]  # (CEL-like predicate on the value, message when it is False)

SECTION_NAME = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DEFAULT_MATCHES = [{"path": {"type": "PathPrefix", "value": "/"}}]


def _service_has_port(ref: Any) -> bool:
    is_service = ref.get("group", "") == "" and ref.get("kind", "Service") == "Service"
    return "port" in ref if is_service else True


def _rule_names_unique(rules: Any) -> bool:
    names = [rule["name"] for rule in rules if isinstance(rule, dict) and "name" in rule]
    return len(names) == len(set(names))


BACKEND_REF: dict[str, Any] = {
    "type": "object",
    "required": ["name"],
    "x-validations": [(_service_has_port, "Must have port for Service reference")],
    "properties": {
        "group": {"type": "string", "default": "", "maxLength": 253},
        "kind": {"type": "string", "default": "Service", "minLength": 1, "maxLength": 63},
        "name": {"type": "string", "minLength": 1, "maxLength": 253},
        "namespace": {"type": "string", "minLength": 1, "maxLength": 63},
        "port": {"type": "integer", "minimum": 1, "maximum": 65535},
        "weight": {"type": "integer", "minimum": 0, "maximum": 1000000, "default": 1},
    },
}

HTTPROUTE: dict[str, Any] = {
    "type": "object",
    "required": ["spec"],
    "properties": {"spec": {"type": "object", "properties": {
        "hostnames": {"type": "array", "maxItems": 16, "items": {"type": "string"}},
        "parentRefs": {"type": "array", "maxItems": 32, "items": {"type": "object", "required": ["name"]}},
        "rules": {
            "type": "array", "maxItems": 16, "default": [{"matches": DEFAULT_MATCHES}],
            "x-validations": [(_rule_names_unique, "Rule name must be unique within the route")],
            "items": {"type": "object", "properties": {
                "name": {"type": "string", "minLength": 1, "maxLength": 253, "pattern": SECTION_NAME},
                "matches": {"type": "array", "maxItems": 64, "default": DEFAULT_MATCHES},
                "backendRefs": {"type": "array", "maxItems": 16, "items": BACKEND_REF},
            }},
        },
    }}},
}

ISTIO_DESTINATION: dict[str, Any] = {
    "type": "object",
    "required": ["host"],
    "properties": {
        "host": {"type": "string"},
        "subset": {"type": "string"},
        "port": {"type": "object", "properties": {"number": {"type": "integer", "minimum": 0,
                                                             "maximum": 4294967295}}},
    },
}

VIRTUALSERVICE: dict[str, Any] = {
    "type": "object",
    "properties": {"spec": {"type": "object", "properties": {
        "hosts": {"type": "array", "items": {"type": "string"}},
        "gateways": {"type": "array", "items": {"type": "string"}},
        "http": {"type": "array", "items": {"type": "object", "properties": {
            "name": {"type": "string"},
            "route": {"type": "array", "items": {
                "type": "object",
                "required": ["destination"],
                "properties": {"destination": ISTIO_DESTINATION, "weight": {"type": "integer"}},
            }},
        }}},
    }}},
}

_TYPES: dict[str, Callable[[Any], bool]] = {
    "object": lambda value: isinstance(value, dict),
    "array": lambda value: isinstance(value, list),
    "string": lambda value: isinstance(value, str),
    "integer": lambda value: isinstance(value, int) and not isinstance(value, bool),
    "boolean": lambda value: isinstance(value, bool),
}
_JSON_TYPE_NAMES = {dict: "object", list: "array", str: "string", int: "integer", float: "number", bool: "boolean"}


def apply_defaults(schema: dict[str, Any], value: Any) -> None:
    """Fill in defaults in place, the way the API server defaults a custom resource on write and on read."""
    if isinstance(value, dict):
        for key, sub in schema.get("properties", {}).items():
            if key not in value and "default" in sub:
                value[key] = copy.deepcopy(sub["default"])
            if key in value:
                apply_defaults(sub, value[key])
    elif isinstance(value, list) and "items" in schema:
        for item in value:
            apply_defaults(schema["items"], item)


def validate(schema: dict[str, Any], value: Any, path: str = "") -> list[Cause]:
    """The causes of a 422 Invalid for ``value`` against ``schema`` (empty list: valid)."""
    expected = schema.get("type")
    if expected and not _TYPES[expected](value):
        actual = _JSON_TYPE_NAMES.get(type(value), "null")
        return [Cause("FieldValueTypeInvalid", path,
                      f'Invalid value: "{actual}": {path} in body must be of type {expected}: "{actual}"')]
    causes = _check_scalar(schema, value, path)
    if isinstance(value, dict):
        causes += _check_object(schema, value, path)
    if isinstance(value, list):
        causes += _check_array(schema, value, path)
    if not causes:
        causes += [Cause("FieldValueInvalid", path, f'Invalid value: "{expected}": {message}')
                   for predicate, message in schema.get("x-validations", []) if not predicate(value)]
    return causes


def _check_scalar(schema: dict[str, Any], value: Any, path: str) -> list[Cause]:
    if isinstance(value, int) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            return [Cause("FieldValueInvalid", path, f"Invalid value: {value}: {path} in body should be greater than"
                                                     f" or equal to {schema['minimum']}")]
        if "maximum" in schema and value > schema["maximum"]:
            return [Cause("FieldValueInvalid", path, f"Invalid value: {value}: {path} in body should be less than"
                                                     f" or equal to {schema['maximum']}")]
    if isinstance(value, str):
        if "maxLength" in schema and len(value.encode()) > schema["maxLength"]:
            return [Cause("FieldValueTooLong", path, f"Too long: may not be more than {schema['maxLength']} bytes")]
        if "minLength" in schema and len(value) < schema["minLength"]:
            return [Cause("FieldValueInvalid", path, f'Invalid value: "{value}": {path} in body should be at least'
                                                     f" {schema['minLength']} chars long")]
        if "pattern" in schema and not re.search(schema["pattern"], value):
            return [Cause("FieldValueInvalid", path, f'Invalid value: "{value}": {path} in body should match'
                                                     f" '{schema['pattern']}'")]
    return []


def _check_object(schema: dict[str, Any], value: dict[str, Any], path: str) -> list[Cause]:
    prefix = f"{path}." if path else ""
    causes = [Cause("FieldValueRequired", f"{prefix}{key}", "Required value")
              for key in schema.get("required", []) if key not in value]
    for key, sub in schema.get("properties", {}).items():
        if key in value:
            causes += validate(sub, value[key], f"{prefix}{key}")
    return causes


def _check_array(schema: dict[str, Any], value: list[Any], path: str) -> list[Cause]:
    if "maxItems" in schema and len(value) > schema["maxItems"]:
        return [Cause("FieldValueTooMany", path, f"Too many: {len(value)}: must have at most {schema['maxItems']}"
                                                 " items")]
    causes: list[Cause] = []
    if "items" in schema:
        for index, item in enumerate(value):
            causes += validate(schema["items"], item, f"{path}[{index}]")
    return causes
