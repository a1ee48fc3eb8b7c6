# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The router registry that canary_shift reads: which adapters exist, their merged options, and which adapter a
task's parameters select.

AnsiballZ ships only the module_utils it finds through static imports, so every adapter is imported explicitly
here (one line per adapter file) and registered with :func:`register`. Option specs of all adapters are merged
into one argument_spec; two adapters that declare the same option with different specs are a programming error,
raised as :class:`SpecConflict` when the spec is built (at import time for the built-in adapters), never silently
resolved by keeping the first one.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ansible_collections.progressive.delivery.plugins.module_utils._result import ModuleFailure
from ansible_collections.progressive.delivery.plugins.module_utils._routers import Router
from ansible_collections.progressive.delivery.plugins.module_utils._routers.haproxy import HAProxyRouter
from ansible_collections.progressive.delivery.plugins.module_utils._routers.kubernetes import (
    GatewayApiRouter,
    IstioRouter,
)
from ansible_collections.progressive.delivery.plugins.module_utils._routers.nginx import NginxReloadRouter
from ansible_collections.progressive.delivery.plugins.module_utils._routers.nginx_runtime import NginxRuntimeRouter

BUILT_IN: tuple[type[Router], ...] = (HAProxyRouter, NginxReloadRouter, NginxRuntimeRouter, IstioRouter,
                                      GatewayApiRouter)


class SpecConflict(Exception):
    """Two option specs with the same name disagree (a bug in an adapter, found when the spec is built)."""


_adapters: list[type[Router]] = []


def _normalised(spec: Mapping[str, Any]) -> dict[str, Any]:
    """A spec as AnsibleModule reads it (no ``type`` means ``str``), for comparing two declarations."""
    return {"type": "str", **spec}


def merge_specs(declared: Iterable[tuple[str, Mapping[str, dict[str, Any]]]]) -> dict[str, dict[str, Any]]:
    """Merge ``(owner, spec)`` pairs; the same option declared twice must be declared identically."""
    merged: dict[str, dict[str, Any]] = {}
    owners: dict[str, str] = {}
    for owner, spec in declared:
        for option, option_spec in spec.items():
            if option in merged and _normalised(merged[option]) != _normalised(option_spec):
                raise SpecConflict(f"option {option}: {owners[option]} declares {merged[option]!r} but {owner}"
                                   f" declares {option_spec!r}")
            if option not in merged:
                merged[option], owners[option] = dict(option_spec), owner
    return merged


def _declarations(adapters: Iterable[type[Router]]) -> list[tuple[str, Mapping[str, dict[str, Any]]]]:
    return [(f"router {cls.name} ({cls.__name__})", cls.argument_spec()) for cls in adapters]


def register(cls: type[Router]) -> type[Router]:
    """Add an adapter (usable as a class decorator). Its options are checked against every registered adapter's
    now: a conflict raises :class:`SpecConflict` and leaves the registry unchanged."""
    same_name = [other for other in _adapters if other.name == cls.name]
    if cls in _adapters:
        return cls
    if same_name and (cls.variant is None or any(other.variant is None or other.variant == cls.variant
                                                 or other.variant[0] != cls.variant[0] for other in same_name)):
        raise SpecConflict(f"router {cls.name}: {cls.__name__} and {same_name[0].__name__} both claim it; adapters"
                           " that share a name need a variant on the same option with different values")
    merge_specs(_declarations([*_adapters, cls]))
    _adapters.append(cls)
    return cls


def unregister(cls: type[Router]) -> None:
    """Remove an adapter (tests that register a toy adapter clean up with this)."""
    _adapters.remove(cls)


def adapters() -> list[type[Router]]:
    return list(_adapters)


def names() -> list[str]:
    """The values of the module's ``router`` option, in registration order."""
    return list(dict.fromkeys(cls.name for cls in _adapters))


def argument_spec(base: Mapping[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The module's own options plus every adapter's, with ``router`` choices from the registry."""
    spec = merge_specs([("canary_shift", base), *_declarations(_adapters)])
    spec["router"] = {**spec["router"], "choices": names()}
    return spec


def _variants(name: str) -> list[type[Router]]:
    return [cls for cls in _adapters if cls.name == name]


def required_if() -> list[tuple[str, str, list[str]]]:
    """AnsibleModule ``required_if``: per router, the options all its variants need."""
    rules = []
    for name in names():
        common = set.intersection(*(set(cls.required) for cls in _variants(name)))
        if common:
            first = _variants(name)[0].required
            rules.append(("router", name, [option for option in first if option in common]))
    return rules


def mutually_exclusive() -> list[list[str]]:
    groups: list[list[str]] = []
    for cls in _adapters:
        for group in cls.mutually_exclusive:
            if list(group) not in groups:
                groups.append(list(group))
    return groups


def select(params: Mapping[str, Any]) -> type[Router]:
    """The adapter for ``params`` (``router``, and the variant option when a router has several adapters).

    The options the adapter needs are checked here too, with AnsibleModule's wording and naming the first missing
    one: ``required_if`` cannot express a variant's needs, and it takes an option given as null for present.
    """
    name = params["router"]
    variants = _variants(name)
    if not variants:
        raise ModuleFailure(f"value of router must be one of: {', '.join(names())}, got: {name}", option="router")
    condition = f"router is {name}"
    if len(variants) == 1 and variants[0].variant is None:
        chosen = variants[0]
    else:
        option = variants[0].variant[0]  # type: ignore[index]  # register() guarantees a variant
        value = params.get(option)
        found = [cls for cls in variants if cls.variant and cls.variant[1] == value]
        if not found:
            allowed = ", ".join(cls.variant[1] for cls in variants if cls.variant)
            raise ModuleFailure(f"value of {option} must be one of: {allowed}, got: {value}", option=option)
        chosen, condition = found[0], f"{condition} and {option} is {value}"
    missing = [required for required in chosen.required if params.get(required) in (None, "", [])]
    if missing:
        raise ModuleFailure(f"{condition} but all of the following are missing: {', '.join(missing)}",
                            option=missing[0])
    return chosen


for _adapter in BUILT_IN:
    register(_adapter)
