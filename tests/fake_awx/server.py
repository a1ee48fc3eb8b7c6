# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A small AWX API server on 127.0.0.1 over HTTP/1.1, for what awx.awx's modules call (controller_api.py).

Serves ``/api/v2/``: ``ping/``, ``me/``, ``config/``; list, lookup (``?name=``, ``?or__id=&or__name=``, any field
of the resource), create (POST) and detail (GET, PATCH, DELETE) of the resources in schemas.py; the read-only union
``unified_job_templates/``; ``project_updates/<id>/`` (a project with an SCM type is synced when created or when
its SCM fields change, and the sync succeeds at once, listing the playbooks and inventory files the fake was given);
``survey_spec/`` of job and workflow job templates (GET, POST, DELETE); the association lists ``success_nodes``,
``failure_nodes``, ``always_nodes`` and ``credentials`` (GET, POST ``{"id": N}`` and ``{"id": N, "disassociate":
true}``); ``workflow_job_template_nodes/<id>/create_approval_template/``.

Bodies are checked against schemas.py (a 400 with AWX's field errors) and against AWX's cross-field rules: a job
template needs a project, a playbook of that project and an inventory or ``ask_inventory_on_launch``; a workflow node
may set an inventory or extra_data only where its job template prompts for them; an SCM inventory source needs a
project and a file of it; the workflow graph stays acyclic and within one workflow. The bearer token is required on
every request (401 otherwise). Every request is kept in ``requests`` as ``(method, path, query, body)``.

    with FakeAwx(token="s3cret", playbooks=[...], inventory_files=[...]) as awx:
        awx.url; awx.find("job_templates", name="delivery deploy"); awx.requests
"""
from __future__ import annotations

import itertools
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tests.fake_awx.schemas import (
    ASSOCIATIONS,
    RESOURCES,
    UNIFIED,
    FieldErrors,
    SurveyError,
    check_body,
    check_survey,
)

VERSION = "24.6.1"
_PATH = re.compile(r"^/api/v2/(?P<plural>[a-z_]+)/(?:(?P<id>\d+)/(?:(?P<sub>[a-z_]+)/)?)?$")
_PAGING = {"page", "page_size", "order_by"}


class ApiError(Exception):
    def __init__(self, code: int, payload: dict[str, Any]) -> None:
        super().__init__(json.dumps(payload))
        self.code, self.payload = code, payload


class Store:
    """The objects, by resource, as AWX returns them; ids are unique across resources (as unified job templates)."""

    def __init__(self, playbooks: list[str], inventory_files: list[str]) -> None:
        self.objects: dict[str, dict[int, dict[str, Any]]] = {plural: {} for plural in RESOURCES}
        self.surveys: dict[int, dict[str, Any]] = {}
        self.links: dict[tuple[int, str], list[int]] = {}
        self.playbooks = list(playbooks)
        self.inventory_files = list(inventory_files)
        self._ids = itertools.count(1)
        self.lock = threading.RLock()
        self.add("organizations", {"name": "Default", "description": "The default organization"})

    # ---- objects ------------------------------------------------------------------------------------------------
    def add(self, plural: str, fields: dict[str, Any]) -> dict[str, Any]:
        """Create an object from checked fields (tests use it to seed credentials and the like)."""
        resource = RESOURCES[plural]
        obj_id = next(self._ids)
        obj = {name: default for name, (_kind, default) in resource.fields.items()}
        if plural == "projects":
            obj["scm_revision"] = ""
        obj.update(fields)
        obj.update(id=obj_id, type=resource.type, url=f"/api/v2/{plural}/{obj_id}/", created="2026-01-01T00:00:00Z",
                   modified="2026-01-01T00:00:00Z", summary_fields={})
        self.objects[plural][obj_id] = obj
        return obj

    def get(self, plural: str, obj_id: int) -> dict[str, Any] | None:
        if plural == "unified_job_templates":
            return next((self.objects[p][obj_id] for p in UNIFIED if obj_id in self.objects[p]), None)
        return self.objects.get(plural, {}).get(obj_id)

    def exists(self, plural: str, obj_id: int) -> bool:
        return self.get(plural, obj_id) is not None

    def plural_of(self, obj: dict[str, Any]) -> str:
        return obj["url"].split("/")[3]

    def render(self, obj: dict[str, Any]) -> dict[str, Any]:
        plural = self.plural_of(obj)
        out = json.loads(json.dumps(obj))
        related = {name: f"{obj['url']}{name}/" for name in RESOURCES[plural].related}
        if plural == "workflow_job_template_nodes" and obj["unified_job_template"] is not None:
            ujt = self.get("unified_job_templates", obj["unified_job_template"])
            related["unified_job_template"] = ujt["url"] if ujt else None
        if plural == "job_templates" and obj["project"]:
            related["project"] = f"/api/v2/projects/{obj['project']}/"
        out["related"] = related
        return out

    def listing(self, plural: str, query: list[tuple[str, str]]) -> dict[str, Any]:
        if plural == "unified_job_templates":
            pool = [o for p in UNIFIED for o in self.objects[p].values()]
            allowed = {"id", "name", "type", "organization", "description"}
        else:
            pool = list(self.objects[plural].values())
            allowed = {"id", "name", "type", *RESOURCES[plural].fields}
        either = [(k[4:], v) for k, v in query if k.startswith("or__")]
        exact = [(k, v) for k, v in query if not k.startswith("or__") and k not in _PAGING]
        for key, _value in either + exact:
            if key not in allowed:
                raise ApiError(400, {"detail": f"{key} is not an allowed field name. Must be ascii encodable."})

        def matches(obj: dict[str, Any], key: str, value: str) -> bool:
            return str(obj.get(key)) == value if obj.get(key) is not None else value in ("", "None", "null")

        found = [o for o in sorted(pool, key=lambda o: o["id"])
                 if all(matches(o, k, v) for k, v in exact)
                 and (not either or any(matches(o, k, v) for k, v in either))]
        return {"count": len(found), "next": None, "previous": None, "results": [self.render(o) for o in found]}

    # ---- cross-field rules --------------------------------------------------------------------------------------
    def validate(self, plural: str, obj: dict[str, Any]) -> None:
        if plural == "job_templates":
            if obj["project"] is None:
                raise FieldErrors({"project": ["This field is required."]})
            if not obj["playbook"]:
                raise FieldErrors({"playbook": ["This field is required."]})
            if obj["playbook"] not in self.playbooks:
                raise FieldErrors({"playbook": ["Playbook not found for project."]})
            if obj["inventory"] is None and not obj["ask_inventory_on_launch"]:
                raise FieldErrors({"inventory": ["Job Template must provide 'inventory' or allow prompting for it."]})
        elif plural == "projects":
            if obj["scm_type"] and not obj["scm_url"]:
                raise FieldErrors({"scm_url": ["SCM URL is required."]})
        elif plural == "inventory_sources":
            if obj["source"] == "scm":
                if obj["source_project"] is None:
                    raise FieldErrors({"source_project": ["Project required for scm type sources."]})
                if obj["source_path"] not in self.inventory_files:
                    raise FieldErrors({"source_path": [f"{obj['source_path']} is not an inventory file of the"
                                                       " project (the fake checks it; AWX fails the sync)."]})
        elif plural == "workflow_job_template_nodes":
            ujt = self.get("unified_job_templates", obj["unified_job_template"] or 0)
            prompts = ujt if ujt is not None and ujt["type"] == "job_template" else None
            if obj["inventory"] is not None and not (prompts and prompts["ask_inventory_on_launch"]):
                raise FieldErrors({"inventory": ["Field is not configured to prompt on launch."]})
            takes_vars = prompts and (prompts["ask_variables_on_launch"] or prompts["survey_enabled"])
            if obj["extra_data"] and not takes_vars:
                raise FieldErrors({"extra_data": [f"Variables {', '.join(obj['extra_data'])} provided, but this"
                                                  " template cannot accept variables."]})
            siblings = [n for n in self.objects[plural].values()
                        if n["workflow_job_template"] == obj["workflow_job_template"] and n["id"] != obj.get("id")]
            if obj["identifier"] and any(n["identifier"] == obj["identifier"] for n in siblings):
                raise FieldErrors({"__all__": ["Workflow job template node with this Workflow job template and"
                                               " Identifier already exists."]})

    def sync_project(self, project: dict[str, Any]) -> None:
        update = self.add("project_updates", {})
        update.update(name=project["name"], project=project["id"], status="successful", failed=False,
                      finished="2026-01-01T00:00:01Z", event_processing_finished=True, scm_revision="0" * 40)
        project["scm_revision"] = "0" * 40
        project["summary_fields"] = {**project["summary_fields"],
                                     "last_update": {"id": update["id"], "status": "successful", "failed": False}}
        # the POST/PATCH response shows the update it started (awx.awx waits on it); a later GET does not
        project["_current_update"] = update["id"]

    # ---- graph ----------------------------------------------------------------------------------------------------
    def associate(self, parent: dict[str, Any], relation: str, body: Any) -> None:
        if not isinstance(body, dict) or set(body) - {"id", "disassociate"}:
            raise FieldErrors({"detail": ["Expected {\"id\": N} or {\"id\": N, \"disassociate\": true}."]})
        child_id = body.get("id")
        if isinstance(child_id, bool) or not isinstance(child_id, int):
            raise FieldErrors({"id": ["A valid integer is required."]})
        child = self.get(ASSOCIATIONS[relation], child_id)
        if child is None:
            raise ApiError(400, {"msg": f"Object with id {child_id} not found."})
        ids = self.links.setdefault((parent["id"], relation), [])
        if body.get("disassociate"):
            if child_id in ids:
                ids.remove(child_id)
            return
        if relation.endswith("_nodes"):
            if child["workflow_job_template"] != parent["workflow_job_template"]:
                raise ApiError(400, {"Error": "Cannot associate nodes of different workflows."})
            if child_id == parent["id"] or self._reaches(child_id, parent["id"]):
                raise ApiError(400, {"Error": "Cycle detected."})
            other = [r for r in ("success_nodes", "failure_nodes", "always_nodes")
                     if r != relation and child_id in self.links.get((parent["id"], r), [])]
            if other:
                raise ApiError(400, {"Error": "Relationship not allowed."})
        if child_id not in ids:
            ids.append(child_id)

    def _reaches(self, start: int, goal: int) -> bool:
        seen, todo = set(), [start]
        while todo:
            node = todo.pop()
            if node == goal:
                return True
            if node not in seen:
                seen.add(node)
                todo.extend(c for r in ("success_nodes", "failure_nodes", "always_nodes")
                            for c in self.links.get((node, r), []))
        return False


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PATCH(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def _handle(self) -> None:
        url = urlsplit(self.path)
        query = parse_qsl(url.query, keep_blank_values=True)
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body: Any = None
        try:
            if self.headers.get("Authorization", "") != f"Bearer {self.server.token}":
                raise ApiError(401, {"detail": "Authentication credentials were not provided."})
            if self.command in ("POST", "PATCH", "PUT"):
                if (self.headers.get("Content-Type") or "").split(";")[0].strip() != "application/json":
                    raise ApiError(415, {"detail": f'Unsupported media type "{self.headers.get("Content-Type")}" in'
                                                   ' request.'})
                try:
                    body = json.loads(raw) if raw else {}
                except ValueError as exc:
                    raise ApiError(400, {"detail": f"JSON parse error - {exc}"}) from None
            with self.server.store.lock:
                code, payload = self._route(url.path, query, body)
        except FieldErrors as exc:
            code, payload = 400, exc.errors
        except SurveyError as exc:
            code, payload = 400, {"error": str(exc)}
        except ApiError as exc:
            code, payload = exc.code, exc.payload
        self.server.requests.append((self.command, url.path, dict(query), body, code))
        data = b"" if payload is None else json.dumps(payload).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-API-Product-Name", "AWX")
        self.send_header("X-API-Product-Version", VERSION)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    # ---- routing ------------------------------------------------------------------------------------------------
    def _route(self, path: str, query: list[tuple[str, str]], body: Any) -> tuple[int, Any]:
        store, method = self.server.store, self.command
        if path in ("/api/v2/ping/", "/api/v2/config/", "/api/v2/me/") and method == "GET":
            return 200, {"/api/v2/ping/": {"version": VERSION, "active_node": "awx-fake", "ha": False},
                         "/api/v2/config/": {"version": VERSION, "license_info": {}, "analytics_status": "off"},
                         "/api/v2/me/": {"count": 1, "next": None, "previous": None,
                                         "results": [{"id": 1, "username": "admin", "is_superuser": True}]}}[path]
        match = _PATH.match(path)
        if match is None or (match["plural"] not in RESOURCES and match["plural"] != "unified_job_templates"):
            raise ApiError(404, {"detail": "Not found."})
        plural, sub = match["plural"], match["sub"]
        if match["id"] is None:
            if method == "GET":
                return 200, store.listing(plural, query)
            if method == "POST" and plural in RESOURCES and RESOURCES[plural].creatable:
                return 201, self._create(plural, body)
            raise ApiError(405, {"detail": f'Method "{method}" not allowed.'})
        obj = store.get(plural, int(match["id"]))
        if obj is None or plural == "unified_job_templates":
            raise ApiError(404, {"detail": "Not found."})
        if sub is None:
            return self._detail(plural, obj, body)
        if sub not in RESOURCES[plural].related:
            raise ApiError(404, {"detail": "Not found."})
        if sub == "survey_spec":
            return self._survey(obj, body)
        if sub == "create_approval_template" and method == "POST":
            return self._approval(obj, body)
        if sub in ASSOCIATIONS and plural in ("workflow_job_template_nodes", "job_templates"):
            if method == "GET":
                ids = store.links.get((obj["id"], sub), [])
                items = [store.render(store.get(ASSOCIATIONS[sub], i)) for i in ids]
                return 200, {"count": len(items), "next": None, "previous": None, "results": items}
            if method == "POST":
                store.associate(obj, sub, body)
                return 204, None
        raise ApiError(405, {"detail": f'Method "{method}" not allowed.'})

    def _create(self, plural: str, body: Any) -> dict[str, Any]:
        store = self.server.store
        fields = check_body(RESOURCES[plural], body, store.exists, partial=False)
        candidate = {name: default for name, (_kind, default) in RESOURCES[plural].fields.items()} | fields
        store.validate(plural, candidate)
        self._unique_name(plural, candidate, None)
        obj = store.add(plural, fields)
        if plural == "projects" and obj["scm_type"]:
            store.sync_project(obj)
        return self._rendered(obj)

    def _detail(self, plural: str, obj: dict[str, Any], body: Any) -> tuple[int, Any]:
        store = self.server.store
        if self.command == "GET":
            return 200, store.render(obj)
        if self.command == "PATCH":
            fields = check_body(RESOURCES[plural], body, store.exists, partial=True)
            candidate = {**obj, **fields}
            store.validate(plural, candidate)
            self._unique_name(plural, candidate, obj["id"])
            scm_changed = plural == "projects" and any(
                k.startswith("scm_") and k != "scm_update_on_launch" and obj.get(k) != v for k, v in fields.items())
            obj.update(fields)
            if scm_changed and obj["scm_type"]:
                store.sync_project(obj)
            return 200, self._rendered(obj)
        if self.command == "DELETE":
            del store.objects[plural][obj["id"]]
            return 204, None
        raise ApiError(405, {"detail": f'Method "{self.command}" not allowed.'})

    def _rendered(self, obj: dict[str, Any]) -> dict[str, Any]:
        out = self.server.store.render(obj)
        current = obj.pop("_current_update", None)
        out.pop("_current_update", None)
        if current is not None:
            out["summary_fields"]["current_update"] = {"id": current, "status": "pending", "failed": False}
        return out

    def _unique_name(self, plural: str, obj: dict[str, Any], own_id: int | None) -> None:
        if "name" not in RESOURCES[plural].fields or plural == "workflow_approval_templates":
            return
        scope = "inventory" if plural == "inventory_sources" else "organization"
        for other in self.server.store.objects[plural].values():
            if other["id"] != own_id and other["name"] == obj["name"] and other.get(scope) == obj.get(scope):
                raise FieldErrors({"__all__": [f"{RESOURCES[plural].type.replace('_', ' ').capitalize()} with this"
                                               f" Name and {scope.capitalize()} already exists."]})

    def _survey(self, obj: dict[str, Any], body: Any) -> tuple[int, Any]:
        surveys = self.server.store.surveys
        if self.command == "GET":
            return 200, surveys.get(obj["id"], {})
        if self.command == "POST":
            surveys[obj["id"]] = check_survey(body)
            return 200, None
        if self.command == "DELETE":
            surveys.pop(obj["id"], None)
            return 200, None
        raise ApiError(405, {"detail": f'Method "{self.command}" not allowed.'})

    def _approval(self, node: dict[str, Any], body: Any) -> tuple[int, Any]:
        store = self.server.store
        if node["unified_job_template"] is not None:
            raise ApiError(400, {"Error": "This node already has a template (create_approval_template only on an"
                                          " empty node)."})
        fields = check_body(RESOURCES["workflow_approval_templates"], body, store.exists, partial=False)
        approval = store.add("workflow_approval_templates", fields)
        node["unified_job_template"] = approval["id"]
        return 201, store.render(approval)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, token: str, store: Store) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.token = token
        self.store = store
        self.requests: list[tuple[str, str, dict[str, str], Any, int]] = []


class FakeAwx:
    """The fake, served from a background thread; use as a context manager or call start()/stop()."""

    def __init__(self, token: str, playbooks: list[str], inventory_files: list[str]) -> None:
        self._server = _Server(token, Store(playbooks, inventory_files))
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def store(self) -> Store:
        return self._server.store

    @property
    def requests(self) -> list[tuple[str, str, dict[str, str], Any, int]]:
        return self._server.requests

    def find(self, plural: str, **match: Any) -> list[dict[str, Any]]:
        return [o for o in self.store.objects[plural].values() if all(o.get(k) == v for k, v in match.items())]

    def one(self, plural: str, **match: Any) -> dict[str, Any]:
        found = self.find(plural, **match)
        assert len(found) == 1, f"{plural} {match}: {len(found)} found"
        return found[0]

    def start(self) -> FakeAwx:
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-awx", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def __enter__(self) -> FakeAwx:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
