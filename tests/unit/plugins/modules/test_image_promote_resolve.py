# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""image_promote state=resolved, in-process against an in-memory registry: the digest, pinned; nothing written;
the options it does not use are refused by name."""
from __future__ import annotations

from typing import Any

import pytest
from ansible_collections.progressive.delivery.plugins.modules import image_promote

from tests.unit.plugins.module_utils.test_registry import MemoryRegistry, manifest_of
from tests.unit.plugins.modules.test_contract import Ended
from tests.unit.plugins.modules.test_contract import run as run_module


@pytest.fixture()
def memory(monkeypatch: pytest.MonkeyPatch) -> MemoryRegistry:
    registry = MemoryRegistry()
    registry.push("shop/app", "v2", manifest_of("v2"))
    monkeypatch.setattr(image_promote, "client_factory", lambda _params: lambda _registry: registry)
    return registry


def run(args: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Ended:
    return run_module("image_promote", args, monkeypatch)


@pytest.mark.parametrize("check_mode", [False, True])
def test_a_tag_resolves_to_its_digest_pinned(memory, monkeypatch, check_mode):
    digest = memory.tags[("shop/app", "v2")]
    ended = run({"source": "r.io/shop/app:v2", "state": "resolved", "_ansible_check_mode": check_mode,
                 "_ansible_diff": True}, monkeypatch)
    assert ended.kind == "exit", ended.payload
    result = ended.payload
    assert result["changed"] is False and result["before"] == result["after"] == {}
    assert result["digest"] == digest and result["resolved"] == f"r.io/shop/app@{digest}"
    assert result["repository"] == "r.io/shop/app" and result["destinations"] == []
    assert memory.puts == []


def test_a_digest_is_checked_and_kept(memory, monkeypatch):
    digest = memory.tags[("shop/app", "v2")]
    ended = run({"source": f"r.io/shop/app@{digest}", "state": "resolved", "expected_digest": digest}, monkeypatch)
    assert ended.kind == "exit" and ended.payload["resolved"] == f"r.io/shop/app@{digest}"


@pytest.mark.parametrize(("args", "option", "text"), [
    ({"source": "r.io/shop/app:nope", "state": "resolved"}, "source", "r.io/shop/app:nope was not found"),
    ({"source": "r.io/shop/app:v2", "state": "resolved", "expected_digest": "sha256:" + "0" * 64},
     "expected_digest", "nothing was changed"),
    ({"source": "r.io/shop/app:v2", "state": "resolved", "destination": ["r.io/shop/app:stable"]},
     "destination", "not used with state=resolved"),
    ({"source": "r.io/shop/app:v2", "state": "resolved", "keep_previous": "previous"},
     "keep_previous", "not used with state=resolved"),
    ({"source": "r.io/shop/app:v2"}, "destination", "destination"),
    ({"source": "r.io/shop/app:v2", "state": "pinned"}, "state", "promoted, resolved"),
])
def test_failures_name_the_option(memory, monkeypatch, args, option, text):
    ended = run(args, monkeypatch)
    assert ended.kind == "fail" and ended.payload.get("option") == option, ended.payload
    assert text in ended.payload["msg"]
    assert memory.puts == []


def test_a_promotion_also_returns_the_pinned_source(memory, monkeypatch):
    digest = memory.tags[("shop/app", "v2")]
    ended = run({"source": "r.io/shop/app:v2", "destination": ["r.io/shop/app:stable"]}, monkeypatch)
    assert ended.kind == "exit" and ended.payload["changed"] is True
    assert ended.payload["resolved"] == f"r.io/shop/app@{digest}" and memory.puts == ["stable"]
