# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The router registry: a toy adapter registered from a test drives canary_shift's own main() (no edit of the
module), option specs are merged with a conflict check, and the module's documentation matches its spec."""
from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, ClassVar

import pytest
from ansible.module_utils.testing import patch_module_args
from ansible_collections.progressive.delivery.plugins.module_utils._routers import Router, RouterError, registry
from ansible_collections.progressive.delivery.plugins.modules import canary_shift

from tests.module_docs import documented_options


class ToyRouter(Router):
    """Weights in a dict; ``toy_store`` names the dict (so the adapter has a required option of its own)."""

    name = "toy"
    max_weight = 10
    required = ("toy_store",)
    stores: ClassVar[dict[str, dict[str, int]]] = {}
    calls: ClassVar[list[tuple[dict[str, int], dict[str, int]]]] = []

    @staticmethod
    def argument_spec() -> dict[str, dict[str, Any]]:
        return {"toy_store": {"type": "str"}, "toy_fail": {"type": "bool", "default": False}}

    @property
    def store(self) -> dict[str, int]:
        return self.stores[self.params["toy_store"]]

    def get_weights(self, members: Sequence[str]) -> dict[str, int]:
        missing = [member for member in members if member not in self.store]
        if missing:
            raise RouterError(f"option stable: no member {missing[0]} in the toy store")
        return {member: self.store[member] for member in members}

    def set_weights(self, current: Mapping[str, int], target: Mapping[str, int]) -> None:
        if self.params["toy_fail"]:
            raise RouterError("option toy_fail: the toy refuses; no weight was changed")
        self.calls.append((dict(current), dict(target)))
        self.store.update(target)

    def verify(self, target: Mapping[str, int]) -> dict[str, int]:
        return {member: self.store[member] for member in target}

    def describe(self) -> dict[str, Any]:
        return {"store": self.params["toy_store"]}


@pytest.fixture
def toy() -> Iterator[type[ToyRouter]]:
    registry.register(ToyRouter)
    ToyRouter.stores = {"lab": {"a": 10, "b": 0}}
    ToyRouter.calls = []
    yield ToyRouter
    registry.unregister(ToyRouter)


def run_main(capsys: pytest.CaptureFixture[str], args: dict[str, Any]) -> dict[str, Any]:
    """canary_shift's main() in this process, as AnsiballZ would run it; its one JSON result."""
    with patch_module_args(args), pytest.raises(SystemExit):
        canary_shift.main()
    return json.loads(capsys.readouterr().out)


TOY_TASK = {"router": "toy", "toy_store": "lab", "stable": "a", "canary": "b"}


def test_a_registered_adapter_drives_canary_shift(toy: type[ToyRouter], capsys: pytest.CaptureFixture[str]) -> None:
    result = run_main(capsys, {**TOY_TASK, "weight": 25})
    assert result["changed"] is True and not result.get("failed"), result
    assert result["before"] == {"a": 10, "b": 0} and result["after"] == {"a": 3, "b": 1}
    assert "diff" not in result  # diff mode is off
    assert result["router"] == "toy" and result["target"] == {"store": "lab"}
    assert result["previous_weight"] == 0 and result["effective_weight"] == 25 and result["weight"] == 25
    assert toy.stores["lab"] == {"a": 3, "b": 1} and toy.calls == [({"a": 10, "b": 0}, {"a": 3, "b": 1})]

    again = run_main(capsys, {**TOY_TASK, "weight": 25, "_ansible_diff": True})
    assert again["changed"] is False and again["before"] == again["after"] == {"a": 3, "b": 1}
    assert again["diff"] == {"before": {"a": 3, "b": 1}, "after": {"a": 3, "b": 1}}
    assert len(toy.calls) == 1

    checked = run_main(capsys, {**TOY_TASK, "weights": {"a": 0, "b": 7}, "_ansible_check_mode": True,
                                "_ansible_diff": True})
    assert checked["changed"] is True and checked["diff"]["after"] == {"a": 0, "b": 7}
    assert toy.stores["lab"] == {"a": 3, "b": 1}  # check mode


def test_toy_failures_carry_msg_option_and_router(toy: type[ToyRouter], capsys: pytest.CaptureFixture[str]) -> None:
    failed = run_main(capsys, {**TOY_TASK, "weight": 50, "toy_fail": True})
    assert failed["failed"] is True and failed["option"] == "toy_fail" and failed["router"] == "toy"
    assert failed["msg"] == "option toy_fail: the toy refuses; no weight was changed"
    missing = run_main(capsys, {"router": "toy", "stable": "a", "canary": "b", "weight": 50})
    assert missing["failed"] is True and "router is toy but all of the following are missing: toy_store" \
        in missing["msg"]
    assert missing["option"] == "toy_store"  # AnsibleModule's required_if, from ToyRouter.required
    heavy = run_main(capsys, {**TOY_TASK, "weights": {"a": 11, "b": 1}})
    assert heavy["option"] == "weights" and "from 0 to 10" in heavy["msg"]
    assert toy.stores["lab"] == {"a": 10, "b": 0} and toy.calls == []


def test_unregistered_router_is_not_a_choice(capsys: pytest.CaptureFixture[str]) -> None:
    result = run_main(capsys, {**TOY_TASK, "weight": 50})
    assert result["failed"] is True and "value of router must be one of: haproxy, nginx, istio, gateway_api" \
        in result["msg"]


def test_same_option_with_another_spec_is_refused_when_registered() -> None:
    class Clash(ToyRouter):
        name = "clash"

        @staticmethod
        def argument_spec() -> dict[str, dict[str, Any]]:
            return {"backend": {"type": "int"}}

    before = registry.adapters()
    with pytest.raises(registry.SpecConflict, match=r"option backend: router haproxy \(HAProxyRouter\) declares"):
        registry.register(Clash)
    assert registry.adapters() == before


def test_same_option_with_the_same_spec_is_shared() -> None:
    merged = registry.merge_specs([("a", {"host": {}}), ("b", {"host": {"type": "str"}})])
    assert merged == {"host": {}}  # no type means str: the same declaration
    with pytest.raises(registry.SpecConflict, match="option host: a declares"):
        registry.merge_specs([("a", {"host": {}}), ("b", {"host": {"type": "str", "no_log": True}})])
    # the module's own options are checked against the adapters' too
    with pytest.raises(registry.SpecConflict, match="option backend: canary_shift declares"):
        registry.argument_spec({**canary_shift.BASE_OPTIONS, "backend": {"type": "int"}})


def test_two_adapters_cannot_claim_one_router_name_without_variants() -> None:
    class SecondHAProxy(ToyRouter):
        name = "haproxy"

        @staticmethod
        def argument_spec() -> dict[str, dict[str, Any]]:
            return {}

    with pytest.raises(registry.SpecConflict, match="router haproxy: SecondHAProxy and HAProxyRouter both claim it"):
        registry.register(SecondHAProxy)


def test_documentation_matches_the_argument_spec() -> None:
    documented = documented_options(canary_shift)
    spec = canary_shift.argument_spec()
    assert sorted(documented) == sorted(spec)
    for option, option_spec in spec.items():
        doc = documented[option]
        for key in ("required", "choices", "aliases", "elements"):
            assert doc.get(key) == option_spec.get(key), (option, key)
        assert doc.get("type", "str") == option_spec.get("type", "str"), option
        assert doc.get("default") == option_spec.get("default"), option
        sub = option_spec.get("options")
        assert sorted(doc.get("suboptions") or {}) == sorted(sub or {}), option
