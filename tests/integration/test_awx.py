# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""awx/configure.yml against the wire-level AWX fake (tests/fake_awx): what it creates, that a second run changes
nothing, that the token stays out of the output, and that the fake refuses what AWX refuses."""
from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.fake_awx.server import FakeAwx

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SCM_URL = "https://git.example.internal/shop/delivery.git"
PLAYBOOKS = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "playbooks").glob("*.yml"))
INVENTORY_FILES = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "inventories").glob("*/hosts.yml"))
WRITES = ("POST", "PATCH", "PUT", "DELETE")
CREDENTIALS = json.dumps({"awx_credentials": ["delivery ssh", "delivery vault"]})


@dataclass
class Run:
    result: subprocess.CompletedProcess
    requests: list[tuple[str, str, dict[str, str], Any, int]]

    @property
    def output(self) -> str:
        return self.result.stdout + self.result.stderr


def configure(awx: FakeAwx, token: str, *extra: str) -> Run:
    start = len(awx.requests)
    env = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "CONTROLLER_HOST": awx.url,
           "CONTROLLER_OAUTH_TOKEN": token, "ANSIBLE_FORCE_COLOR": "0"}
    result = subprocess.run([str(BIN / "ansible-playbook"), "awx/configure.yml", "-v",
                             "-e", f"awx_project_scm_url={SCM_URL}", *extra],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False)
    return Run(result, awx.requests[start:])


@pytest.fixture(scope="module")
def token() -> str:
    return "awx-" + secrets.token_hex(16)


@pytest.fixture(scope="module")
def awx(token: str) -> Iterator[FakeAwx]:
    with FakeAwx(token, PLAYBOOKS, INVENTORY_FILES) as fake:
        fake.store.add("credentials", {"name": "delivery ssh", "credential_type": 1, "organization": 1})
        fake.store.add("credentials", {"name": "delivery vault", "credential_type": 3, "organization": 1})
        yield fake


@pytest.fixture(scope="module")
def runs(awx: FakeAwx, token: str) -> tuple[Run, Run]:
    first = configure(awx, token, "-e", CREDENTIALS)
    assert first.result.returncode == 0, first.output[-5000:]
    second = configure(awx, token, "-e", CREDENTIALS)
    assert second.result.returncode == 0, second.output[-5000:]
    return first, second


def survey(awx: FakeAwx, obj: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {q["variable"]: q for q in awx.store.surveys.get(obj["id"], {}).get("spec", [])}


def used_by_playbooks(variable: str, playbook: str) -> bool:
    texts = [(ROOT / playbook).read_text()] + [p.read_text() for p in (ROOT / "roles").rglob("*.yml")]
    return any(re.search(rf"\b{variable}\b", text) for text in texts)


# ---- what configure.yml creates ---------------------------------------------------------------------------------
def test_every_request_was_accepted(runs: tuple[Run, Run]):
    for run in runs:
        refused = [r for r in run.requests if r[4] >= 400]
        assert not refused, refused


def test_execution_environment_project_and_inventories(awx: FakeAwx, runs: tuple[Run, Run]):
    ee = awx.one("execution_environments", name="delivery execution environment")
    assert ee["image"] == "registry.example.internal/progressive/delivery-ee:0.1.0"
    assert ee["pull"] == "missing"
    project = awx.one("projects", name="delivery")
    assert (project["scm_type"], project["scm_url"], project["scm_branch"]) == ("git", SCM_URL, "main")
    assert project["default_environment"] == ee["id"] and project["scm_update_on_launch"] is True
    # the project was synced once, when it was created, and awx.awx waited for that sync
    assert len(awx.find("project_updates", project=project["id"])) == 1
    update_id = awx.find("project_updates")[0]["id"]
    assert ("GET", f"/api/v2/project_updates/{update_id}/") in [(r[0], r[1]) for r in runs[0].requests]
    for env in ("stg-kr", "stg-jp", "prod-kr", "prod-jp"):
        inventory = awx.one("inventories", name=f"delivery {env}")
        source = awx.one("inventory_sources", inventory=inventory["id"])
        assert (source["source"], source["source_project"]) == ("scm", project["id"])
        assert source["source_path"] == f"inventories/{env}/hosts.yml"
        assert source["overwrite"] and source["update_on_launch"]


EXPECTED_SURVEYS = {
    "deploy": {"delivery_image": True, "delivery_version": True, "delivery_strategy_choice": False},
    "rollback": {"delivery_rollback_to": False, "delivery_rollback_version": False, "delivery_rollback_reason": True},
    "guard": {"guard_action": True, "guard_duration": False, "guard_reason": False},
    "status": {},
    "approve": {"delivery_approve": True, "delivery_approval_comment": False},
}
PLAYBOOK_OF = {"approve": "promote"}  # the others are named after their playbook


@pytest.mark.parametrize("name", sorted(EXPECTED_SURVEYS))
def test_job_template(awx: FakeAwx, runs: tuple[Run, Run], name: str):
    template = awx.one("job_templates", name=f"delivery {name}")
    assert template["playbook"] == f"playbooks/{PLAYBOOK_OF.get(name, name)}.yml"
    assert template["project"] == awx.one("projects", name="delivery")["id"]
    assert template["execution_environment"] == awx.one("execution_environments")["id"]
    # the environment is the inventory chosen at launch; no fixed inventory, so nobody deploys to a default one
    assert template["ask_inventory_on_launch"] is True and template["inventory"] is None
    assert template["allow_simultaneous"] is True
    assert set(awx.store.links[(template["id"], "credentials")]) == {
        awx.one("credentials", name=name)["id"] for name in ("delivery ssh", "delivery vault")}
    owner = json.loads(template["extra_vars"])["delivery_lock_owner"]
    assert "awx_job_id" in owner and "{{" in owner, owner
    questions = survey(awx, template)
    assert {var: q["required"] for var, q in questions.items()} == EXPECTED_SURVEYS[name]
    assert template["survey_enabled"] is bool(questions)
    for variable in questions:
        assert used_by_playbooks(variable, template["playbook"]), variable


def test_lock_owner_names_the_awx_job(awx: FakeAwx, runs: tuple[Run, Run], tmp_path: Path):
    """The job templates' delivery_lock_owner, rendered by Ansible with the variables AWX gives a job."""
    extra_vars = tmp_path / "extra_vars.json"
    extra_vars.write_text(awx.one("job_templates", name="delivery deploy")["extra_vars"])
    cases = [({"awx_job_id": 4711, "awx_user_name": "alice", "awx_workflow_job_id": 4710},
              "alice (AWX job 4711, workflow 4710)"),
             ({"tower_job_id": 12}, "schedule (AWX job 12)")]
    for awx_vars, owner in cases:
        result = subprocess.run([str(BIN / "ansible"), "localhost", "-m", "ansible.builtin.debug", "-a",
                                 "var=delivery_lock_owner", "-e", f"@{extra_vars}", "-e", json.dumps(awx_vars)],
                                cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False)
        assert f'"delivery_lock_owner": "{owner}"' in result.stdout, result.stdout + result.stderr


def test_survey_choices(awx: FakeAwx, runs: tuple[Run, Run]):
    deploy = survey(awx, awx.one("job_templates", name="delivery deploy"))
    assert deploy["delivery_strategy_choice"]["type"] == "multiplechoice"
    assert deploy["delivery_strategy_choice"]["choices"] == ["canary", "blue_green", "rolling"]
    # unanswered: not passed at all, so the environment's own delivery_strategy applies (AWX applies a default)
    assert "default" not in deploy["delivery_strategy_choice"] and not deploy["delivery_strategy_choice"]["required"]
    for optional in ("guard_duration", "guard_reason"):
        assert "default" not in survey(awx, awx.one("job_templates", name="delivery guard"))[optional]
    guard = survey(awx, awx.one("job_templates", name="delivery guard"))
    assert guard["guard_action"]["choices"] == ["lock", "unlock", "status"]
    assert guard["guard_action"]["default"] == "status"


def test_workflow_graph(awx: FakeAwx, runs: tuple[Run, Run]):
    workflow = awx.one("workflow_job_templates", name="delivery release")
    assert workflow["survey_enabled"] and not workflow["allow_simultaneous"]
    assert set(survey(awx, workflow)) == {"delivery_image", "delivery_version"}
    nodes = {n["identifier"]: n for n in awx.find("workflow_job_template_nodes", workflow_job_template=workflow["id"])}
    assert set(nodes) == {"deploy prod-kr", "approve prod-jp", "deploy prod-jp"}
    deploy = awx.one("job_templates", name="delivery deploy")
    for env in ("prod-kr", "prod-jp"):
        node = nodes[f"deploy {env}"]
        assert node["unified_job_template"] == deploy["id"]
        assert node["inventory"] == awx.one("inventories", name=f"delivery {env}")["id"]
    approval = awx.store.get("workflow_approval_templates", nodes["approve prod-jp"]["unified_job_template"])
    assert approval is not None and approval["name"] == "delivery release to prod-jp"
    assert approval["timeout"] == 14400

    def edges(relation: str) -> set[tuple[str, str]]:
        by_id = {n["id"]: ident for ident, n in nodes.items()}
        return {(by_id[parent], by_id[child]) for (parent, rel), children in awx.store.links.items()
                if rel == relation and parent in by_id for child in children}

    assert edges("success_nodes") == {("deploy prod-kr", "approve prod-jp"), ("approve prod-jp", "deploy prod-jp")}
    assert edges("failure_nodes") == set() and edges("always_nodes") == set()


def test_second_run_changes_nothing(awx: FakeAwx, runs: tuple[Run, Run]):
    first, second = runs
    assert re.search(r"localhost\s*:\s*ok=\d+\s+changed=[1-9]", first.result.stdout)
    assert re.search(r"localhost\s*:\s*ok=\d+\s+changed=0\s", second.result.stdout), second.result.stdout[-2000:]
    assert [r[:2] for r in second.requests if r[0] in WRITES] == []
    assert second.requests, "the second run did not even look"


def test_token_stays_out_of_the_output_and_the_bodies(runs: tuple[Run, Run], token: str):
    for run in runs:
        assert token not in run.output
        assert not any(token in json.dumps(r[3]) or token in json.dumps(r[2]) for r in run.requests)


def test_a_playbook_the_project_lacks_fails_the_run(token: str):
    """A job template naming a playbook that is not in the project fails as AWX fails it (400 -> task failure)."""
    with FakeAwx(token, [p for p in PLAYBOOKS if p != "playbooks/guard.yml"], INVENTORY_FILES) as fake:
        run = configure(fake, token, "-e", '{"awx_environments": ["prod-kr", "prod-jp"]}')
    assert run.result.returncode != 0
    assert "Playbook not found for project." in run.output
    assert "delivery guard" in run.output
    assert token not in run.output
    assert not fake.find("job_templates", name="delivery guard")
    assert not fake.find("workflow_job_templates"), "the run must stop at the failed template"


# ---- the fake refuses what AWX refuses --------------------------------------------------------------------------
def call(fake: FakeAwx, method: str, path: str, body: Any = None, token: str | None = None) -> tuple[int, Any]:
    request = urllib.request.Request(fake.url + path, method=method,
                                     data=None if body is None else json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json",
                                              **({"Authorization": f"Bearer {token}"} if token else {})})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            raw = response.read()
            return response.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


@pytest.fixture
def bare() -> Iterator[FakeAwx]:
    with FakeAwx("t", ["playbooks/deploy.yml"], ["inventories/prod-kr/hosts.yml"]) as fake:
        yield fake


def test_fake_requires_the_token(bare: FakeAwx):
    assert call(bare, "GET", "/api/v2/ping/")[0] == 401
    assert call(bare, "GET", "/api/v2/ping/", token="wrong")[0] == 401
    assert call(bare, "GET", "/api/v2/ping/", token="t")[0] == 200


def test_fake_refuses_unknown_fields_wrong_types_and_missing_fields(bare: FakeAwx):
    code, body = call(bare, "POST", "/api/v2/inventories/", {"name": "x", "organization": 1, "vars": "{}"}, "t")
    assert (code, list(body)) == (400, ["vars"])
    code, body = call(bare, "POST", "/api/v2/inventories/", {"name": "x", "organization": "Default"}, "t")
    assert (code, body) == (400, {"organization": ["Incorrect type. Expected pk value, received str."]})
    code, body = call(bare, "POST", "/api/v2/inventories/", {"name": "x", "organization": 99}, "t")
    assert (code, body) == (400, {"organization": ['Invalid pk "99" - object does not exist.']})
    code, body = call(bare, "POST", "/api/v2/inventories/", {"name": "x"}, "t")
    assert (code, body) == (400, {"organization": ["This field is required."]})
    code, body = call(bare, "POST", "/api/v2/projects/", {"name": "p", "scm_type": "git", "scm_clean": "maybe"}, "t")
    assert code == 400 and body == {"scm_clean": ["Must be a valid boolean."]}
    code, body = call(bare, "POST", "/api/v2/projects/", {"name": "p", "scm_type": "cvs"}, "t")
    assert (code, body) == (400, {"scm_type": ['"cvs" is not a valid choice.']})
    assert call(bare, "POST", "/api/v2/projects/", {"name": "p", "scm_type": "git"}, "t") == (
        400, {"scm_url": ["SCM URL is required."]})
    assert call(bare, "GET", "/api/v2/job_templates/?nmae=x", token="t")[0] == 400
    assert not bare.find("inventories") and not bare.find("projects")


def test_fake_checks_job_templates_surveys_and_workflow_nodes(bare: FakeAwx):
    status, project = call(bare, "POST", "/api/v2/projects/", {"name": "p", "scm_type": "git", "scm_url": "u"}, "t")
    assert status == 201 and project["summary_fields"]["current_update"]["status"] == "pending"
    jt = {"name": "jt", "project": project["id"], "playbook": "playbooks/nope.yml", "ask_inventory_on_launch": True}
    assert call(bare, "POST", "/api/v2/job_templates/", jt, "t") == (
        400, {"playbook": ["Playbook not found for project."]})
    jt["playbook"], jt["ask_inventory_on_launch"] = "playbooks/deploy.yml", False
    assert call(bare, "POST", "/api/v2/job_templates/", jt, "t") == (
        400, {"inventory": ["Job Template must provide 'inventory' or allow prompting for it."]})
    _status, inventory = call(bare, "POST", "/api/v2/inventories/", {"name": "i", "organization": 1}, "t")
    jt["inventory"] = inventory["id"]
    jt["extra_vars"] = "[1, 2]"
    assert call(bare, "POST", "/api/v2/job_templates/", jt, "t")[1] == {
        "extra_vars": ["Input type `list` is not a dictionary"]}
    del jt["extra_vars"]
    status, template = call(bare, "POST", "/api/v2/job_templates/", {**jt, "survey_enabled": True}, "t")
    assert status == 201

    spec = {"name": "s", "description": "", "spec": [
        {"type": "multiplechoice", "question_name": "q", "variable": "v", "required": True, "choices": ["a", "b"],
         "default": "c"}]}
    assert call(bare, "POST", f"/api/v2/job_templates/{template['id']}/survey_spec/", spec, "t") == (
        400, {"error": "Default choice must be answered from the choices listed."})
    spec["spec"][0]["default"] = "a"
    spec["spec"].append(dict(spec["spec"][0]))
    assert call(bare, "POST", f"/api/v2/job_templates/{template['id']}/survey_spec/", spec, "t") == (
        400, {"error": "'variable' 'v' duplicated in survey question 1."})
    spec["spec"].pop()
    assert call(bare, "POST", f"/api/v2/job_templates/{template['id']}/survey_spec/", spec, "t")[0] == 200
    assert call(bare, "GET", f"/api/v2/job_templates/{template['id']}/survey_spec/", token="t") == (200, spec)

    _status, wf = call(bare, "POST", "/api/v2/workflow_job_templates/", {"name": "wf"}, "t")
    node = {"workflow_job_template": wf["id"], "unified_job_template": template["id"], "inventory": inventory["id"],
            "identifier": "a"}
    # the job template does not prompt for an inventory
    assert call(bare, "POST", "/api/v2/workflow_job_template_nodes/", node, "t") == (
        400, {"inventory": ["Field is not configured to prompt on launch."]})
    del node["inventory"]
    _status, a = call(bare, "POST", "/api/v2/workflow_job_template_nodes/", node, "t")
    _status, b = call(bare, "POST", "/api/v2/workflow_job_template_nodes/", {**node, "identifier": "b"}, "t")
    assert call(bare, "POST", "/api/v2/workflow_job_template_nodes/", node, "t")[0] == 400  # identifier taken
    assert call(bare, "POST", f"/api/v2/workflow_job_template_nodes/{a['id']}/success_nodes/", {"id": b["id"]},
                "t")[0] == 204
    assert call(bare, "POST", f"/api/v2/workflow_job_template_nodes/{b['id']}/success_nodes/", {"id": a["id"]},
                "t") == (400, {"Error": "Cycle detected."})
    # an approval template only on an empty node, with AWX's fields
    assert call(bare, "POST", f"/api/v2/workflow_job_template_nodes/{a['id']}/create_approval_template/",
                {"name": "ok"}, "t")[0] == 400
    _status, empty = call(bare, "POST", "/api/v2/workflow_job_template_nodes/",
                          {"workflow_job_template": wf["id"], "identifier": "c"}, "t")
    assert call(bare, "POST", f"/api/v2/workflow_job_template_nodes/{empty['id']}/create_approval_template/",
                {"name": "ok", "timeout": "soon"}, "t") == (400, {"timeout": ["A valid integer is required."]})
