# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Every module follows the one result contract (docs/architecture.md, "Module contract"; _result.py).

Walks plugins/modules: the documentation blocks come first, the module layer never calls fail_json/exit_json
itself (main() goes through run_module), module_utils never end a module, state-changing modules document a
before/after pair of the same shape and a diff that appears only in diff mode; then runs each module in-process
with bad input and checks the failure carries ``msg`` and the ``option`` at fault, and, where no server is
needed, that ``diff`` is there in diff mode and absent without it.
"""
from __future__ import annotations

import ast
import importlib
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args

ROOT = Path(__file__).resolve().parents[4]
MODULES_DIR = ROOT / "plugins" / "modules"
UTILS_DIR = ROOT / "plugins" / "module_utils"
PACKAGE = "ansible_collections.progressive.delivery.plugins.modules"
MODULES = sorted(path.stem for path in MODULES_DIR.glob("*.py") if not path.stem.startswith("_"))
ACTION_DIR = ROOT / "plugins" / "action"


def _doc_only(module: str) -> bool:
    """A documentation stub of an action plugin (as ansible.builtin.debug): no main(), ``attributes.action``."""
    tree = ast.parse((MODULES_DIR / f"{module}.py").read_text(encoding="utf-8"))
    has_main = any(isinstance(node, ast.FunctionDef) and node.name == "main" for node in tree.body)
    doc = next((yaml.safe_load(node.value.value) for node in tree.body if isinstance(node, ast.Assign)
                and getattr(node.targets[0], "id", None) == "DOCUMENTATION"), {}) or {}
    return not has_main and (doc.get("attributes") or {}).get("action", {}).get("support") == "full"


#: Documentation stubs of action plugins: checked statically, never run as modules.
DOC_ONLY = sorted(module for module in MODULES if _doc_only(module))
#: Modules with code, run in-process by the tests below.
RUNNABLE = sorted(set(MODULES) - set(DOC_ONLY))
#: Modules that only read (they report, never change anything) have no before/after pair.
READ_ONLY = {"slo_check", "analysis"}


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _calls(node: ast.AST, names: set[str]) -> list[int]:
    return [call.lineno for call in ast.walk(node) if isinstance(call, ast.Call)
            and isinstance(call.func, ast.Attribute) and call.func.attr in names]


def _returns(module: str) -> dict[str, Any]:
    return yaml.safe_load(importlib.import_module(f"{PACKAGE}.{module}").RETURN) or {}


def test_there_are_modules_to_walk():
    assert {"canary_shift", "deploy_lock", "image_promote", "qos_guard", "schema_migrate", "slo_check"} <= set(MODULES)


@pytest.mark.parametrize("module", DOC_ONLY)
def test_doc_only_modules_are_documentation_of_an_action_plugin(module):
    """A stub has no code (only the documentation blocks) and an action plugin of the same name does the work."""
    assert (ACTION_DIR / f"{module}.py").is_file(), f"{module}: documentation stub without plugins/action/{module}.py"
    body = _tree(MODULES_DIR / f"{module}.py").body
    code = [node.lineno for node in body if not (
        isinstance(node, ast.Assign) or (isinstance(node, ast.ImportFrom) and node.module == "__future__"))]
    assert code == [], f"{module}: a documentation stub holds only DOCUMENTATION, EXAMPLES and RETURN"
    returns = _returns(module)
    assert "msg" in returns and "changed" not in returns


@pytest.mark.parametrize("module", RUNNABLE)
def test_module_ends_only_through_run_module(module):
    tree = _tree(MODULES_DIR / f"{module}.py")
    assert _calls(tree, {"fail_json", "exit_json"}) == [], f"{module}: fail_json/exit_json outside _result.run_module"
    main = next(node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == "main")
    called = {getattr(call.func, "id", getattr(call.func, "attr", None)) for call in ast.walk(main)
              if isinstance(call, ast.Call)}
    assert "run_module" in called, f"{module}: main() must end through run_module"


@pytest.mark.parametrize("path", sorted(UTILS_DIR.rglob("*.py")), ids=lambda p: str(p.relative_to(UTILS_DIR)))
def test_module_utils_never_end_the_module(path):
    if path.name == "_result.py":
        return
    assert _calls(_tree(path), {"fail_json", "exit_json"}) == [], \
        f"{path.name}: raise ModuleFailure (or an error main() translates) instead of ending the module"


@pytest.mark.parametrize("module", MODULES)
def test_documentation_blocks_come_before_the_imports(module):
    body = _tree(MODULES_DIR / f"{module}.py").body
    blocks = ("DOCUMENTATION", "EXAMPLES", "RETURN")
    names = [node.targets[0].id for node in body if isinstance(node, ast.Assign)
             and isinstance(node.targets[0], ast.Name) and node.targets[0].id in blocks]
    assert names == ["DOCUMENTATION", "EXAMPLES", "RETURN"]
    first_doc = next(i for i, node in enumerate(body) if isinstance(node, ast.Assign))
    late_imports = [node.lineno for node in body[:first_doc] if isinstance(node, (ast.Import, ast.ImportFrom))
                    and not (isinstance(node, ast.ImportFrom) and node.module == "__future__")]
    assert late_imports == []


@pytest.mark.parametrize("module", sorted(set(MODULES) - READ_ONLY))
def test_state_changing_modules_document_before_and_after(module):
    returns = _returns(module)
    assert "before" in returns and "after" in returns, f"{module}: RETURN must document before and after"
    assert returns["before"]["type"] == returns["after"]["type"], f"{module}: before and after differ in shape"
    assert returns["before"].get("contains") == returns["after"].get("contains")
    diff = returns.get("diff")
    assert diff is not None, f"{module}: RETURN must document diff"
    assert "diff" in str(diff["returned"]).lower(), f"{module}: diff is returned only in diff mode"


@pytest.mark.parametrize("module", MODULES)
def test_deprecated_keys_say_what_replaces_them(module):
    for key, spec in _returns(module).items():
        text = " ".join(spec["description"]) if isinstance(spec["description"], list) else spec["description"]
        if "deprecated" in text.lower():
            assert "before" in text or "after" in text or "use " in text.lower(), f"{module}: {key}"


# --------------------------------------------------------------------------------------------------
# Running the modules in-process
# --------------------------------------------------------------------------------------------------
class Ended(Exception):
    def __init__(self, kind: str, payload: dict[str, Any]) -> None:
        super().__init__(kind)
        self.kind = kind
        self.payload = payload


def run(module: str, args: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Ended:
    def exit_json(self, **payload):  # pylint: disable=unused-argument
        raise Ended("exit", payload)

    def fail_json(self, msg, **payload):  # pylint: disable=unused-argument
        raise Ended("fail", {"msg": msg, **payload})

    monkeypatch.setattr(basic.AnsibleModule, "exit_json", exit_json)
    monkeypatch.setattr(basic.AnsibleModule, "fail_json", fail_json)
    code = importlib.import_module(f"{PACKAGE}.{module}")
    with patch_module_args(json.loads(json.dumps(args))), pytest.raises(Ended) as ended:
        code.main()
    return ended.value


def bad_inputs(tmp_path: Path) -> list[tuple[str, dict[str, Any], str]]:
    store = str(tmp_path / "state")
    slis_bad = [{"name": "errors", "query": "up", "max": 1, "judge": "threshold", "window": "soon"}]
    return [
        ("deploy_lock", {"name": "prod-kr/app", "ttl": "soon", "store_dir": store}, "ttl"),
        ("deploy_lock", {"name": "prod-kr/app", "wait": -3, "store_dir": store}, "wait"),
        ("qos_guard", {"name": "prod-kr/app", "state": "locked", "duration": "forever", "reason": "r",
                       "store_dir": store}, "duration"),
        ("canary_shift", {"router": "haproxy", "stable": "blue", "canary": "green", "weight": 150,
                          "backend": "app", "haproxy_socket": str(tmp_path / "none.sock")}, "weight"),
        ("image_promote", {"source": "not a reference", "destination": ["127.0.0.1:1/app:stable"]}, "source"),
        ("slo_check", {"prometheus_url": "http://127.0.0.1:1", "slis": slis_bad}, "slis"),
        ("schema_migrate", {"dsn": "postgresql://127.0.0.1:1/x", "path": str(tmp_path / "missing"),
                            "phase": "sideways"}, "phase"),
        ("release_record", {"environment": "lab-kr", "app": "demo", "state": "step", "release_id": "r1",
                            "step": {"index": 1, "weight": 150}, "store_dir": store}, "step"),
        ("approval", {"name": "prod-jp/demo 1", "state": "waiting", "timeout": "forever", "store_dir": store},
         "timeout"),
    ]


def test_every_module_has_a_bad_input_case(tmp_path):
    assert {case[0] for case in bad_inputs(tmp_path)} == set(RUNNABLE)


@pytest.mark.parametrize("index", range(9))
def test_bad_input_fails_with_msg_and_the_option_at_fault(index, tmp_path, monkeypatch):
    module, args, option = bad_inputs(tmp_path)[index]
    ended = run(module, args, monkeypatch)
    assert ended.kind == "fail", ended.payload
    assert ended.payload["msg"], ended.payload
    assert option in ended.payload["msg"], ended.payload
    assert ended.payload.get("option") == option, ended.payload
    assert not (tmp_path / "state").exists() or not any((tmp_path / "state").rglob("*.json")), "bad input wrote state"


@pytest.mark.parametrize("diff", [False, True])
@pytest.mark.parametrize("module", ["deploy_lock", "qos_guard"])
def test_diff_only_in_diff_mode(module, diff, tmp_path, monkeypatch):
    args: dict[str, Any] = {"name": "prod-kr/app", "store_dir": str(tmp_path / "state"), "_ansible_diff": diff}
    if module == "qos_guard":
        args.update(state="locked", duration="5m", reason="contract test")
    ended = run(module, args, monkeypatch)
    assert ended.kind == "exit", ended.payload
    assert ended.payload["changed"] is True
    assert ended.payload["before"] is None and ended.payload["after"]["name"] == "prod-kr/app"
    assert ("diff" in ended.payload) is diff
    if diff:
        assert ended.payload["diff"]["after"] == ended.payload["after"]


@pytest.mark.parametrize("module", RUNNABLE)
def test_ansibles_own_argument_errors_name_the_option(module, monkeypatch):
    """Every module is a ContractModule: an option Ansible itself rejects (unknown, or a required one missing) is
    named in ``option``."""
    ended = run(module, {"bogus_option_x": 1}, monkeypatch)
    assert ended.kind == "fail"
    assert ended.payload.get("option"), ended.payload
    assert ended.payload["option"] in ended.payload["msg"]


def _used_content(node: Any) -> set[str]:
    """``progressive.delivery.*`` modules (task keys) and roles (include_role / import_role / roles) in examples."""
    found: set[str] = set()
    if isinstance(node, list):
        for item in node:
            found |= _used_content(item)
    elif isinstance(node, dict):
        for key, value in node.items():
            if isinstance(key, str) and key.startswith("progressive.delivery."):
                found.add(f"module:{key.removeprefix('progressive.delivery.')}")
            if key in ("ansible.builtin.include_role", "ansible.builtin.import_role", "include_role") \
                    and isinstance(value, dict):
                found.add(f"role:{str(value.get('name', '')).removeprefix('progressive.delivery.')}")
            found |= _used_content(value)
    return found


@pytest.mark.parametrize("module", MODULES)
def test_examples_use_only_content_that_exists(module):
    """An example must run as written: every progressive.delivery module and role it names exists."""
    examples = yaml.safe_load(importlib.import_module(f"{PACKAGE}.{module}").EXAMPLES) or []
    roles = {path.name for path in (ROOT / "roles").iterdir() if path.is_dir()}
    for used in sorted(_used_content(examples)):
        kind, name = used.split(":", 1)
        if kind == "module":
            assert name in MODULES, f"{module} EXAMPLES use a module that does not exist: {name}"
        else:
            assert name in roles, f"{module} EXAMPLES use a role that does not exist: {name}"
