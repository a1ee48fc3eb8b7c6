# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The fake API server's storage and the semantics of a real one for custom resources.

One resourceVersion counter for the whole store (like etcd's revision), bumped on every write; an update whose
result equals the stored object is a no-op that keeps the resourceVersion (as the real GuaranteedUpdate does);
``metadata.generation`` grows when anything but metadata and status changes (both CRDs have a status
subresource, so a write to the main resource keeps the stored status); updates need the resourceVersion
(custom resources do not allow unconditional updates) and a stale one is a 409 Conflict.
"""
from __future__ import annotations

import copy
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tests.fake_k8s import schemas
from tests.fake_k8s.patch import PatchError, json_patch, merge_patch

MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"


@dataclass(frozen=True)
class Resource:
    group: str
    plural: str
    kind: str
    versions: tuple[str, ...]
    schema: dict[str, Any]
    short_names: tuple[str, ...] = ()  # as in the CRD's spec.names (served in discovery)
    categories: tuple[str, ...] = ()

    def qualified(self) -> str:
        return f"{self.plural}.{self.group}"


ISTIO_VIRTUALSERVICE = Resource("networking.istio.io", "virtualservices", "VirtualService",
                                ("v1", "v1beta1", "v1alpha3"), schemas.VIRTUALSERVICE, short_names=("vs",),
                                categories=("istio-io", "networking-istio-io"))
GATEWAY_HTTPROUTE = Resource("gateway.networking.k8s.io", "httproutes", "HTTPRoute", ("v1", "v1beta1"),
                             schemas.HTTPROUTE, categories=("gateway-api",))
RESOURCES = (ISTIO_VIRTUALSERVICE, GATEWAY_HTTPROUTE)


class ApiError(Exception):
    """An error answer of the API server, with its metav1.Status body."""

    def __init__(self, code: int, reason: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code, self.reason, self.message, self.details = code, reason, message, details

    def status(self) -> dict[str, Any]:
        body: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                                "message": self.message, "reason": self.reason, "code": self.code}
        if self.details is not None:
            body["details"] = self.details
        return body


def _details(res: Resource, name: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "group": res.group, "kind": res.plural, **extra}


def not_found(res: Resource, name: str) -> ApiError:
    return ApiError(404, "NotFound", f'{res.qualified()} "{name}" not found', _details(res, name))


def conflict(res: Resource, name: str) -> ApiError:
    return ApiError(409, "Conflict", f'Operation cannot be fulfilled on {res.qualified()} "{name}": the object has'
                    " been modified; please apply your changes to the latest version and try again",
                    _details(res, name))


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def invalid(res: Resource, name: str, causes: list[schemas.Cause]) -> ApiError:
    texts = [cause.text() for cause in causes]
    joined = texts[0] if len(texts) == 1 else f"[{', '.join(texts)}]"
    return ApiError(422, "Invalid", f'{res.kind}.{res.group} "{name}" is invalid: {joined}',
                    {"name": name, "group": res.group, "kind": res.kind,
                     "causes": [cause.as_dict() for cause in causes]})


Key = tuple[str, str, str, str]  # group, plural, namespace, name


@dataclass
class Store:
    """Objects of the fake API server. Thread-safe; ``before_next_write`` injects a concurrent writer."""

    objects: dict[Key, dict[str, Any]] = field(default_factory=dict)
    revision: int = 1000
    lock: threading.RLock = field(default_factory=threading.RLock)
    _hooks: list[Callable[[Store], None]] = field(default_factory=list)
    #: every committed object, in order (for tests to check each step; not part of the wire protocol)
    history: list[dict[str, Any]] = field(default_factory=list)

    def before_next_write(self, hook: Callable[[Store], None]) -> None:
        """Run ``hook(store)`` just before the next PUT/PATCH is handled: another writer that wins the race."""
        with self.lock:
            self._hooks.append(hook)

    def _run_hooks(self) -> None:
        hooks, self._hooks = self._hooks, []
        for hook in hooks:
            hook(self)

    # ---- reads ------------------------------------------------------------------------------------------------
    def get(self, res: Resource, version: str, namespace: str, name: str) -> dict[str, Any]:
        with self.lock:
            stored = self.objects.get((res.group, res.plural, namespace, name))
            if stored is None:
                raise not_found(res, name)
            return self._served(res, version, stored)

    def list(self, res: Resource, version: str, namespace: str) -> dict[str, Any]:
        with self.lock:
            items = [self._served(res, version, obj) for (group, plural, ns, _name), obj in sorted(self.objects.items())
                     if (group, plural, ns) == (res.group, res.plural, namespace)]
            return {"apiVersion": f"{res.group}/{version}", "kind": f"{res.kind}List",
                    "metadata": {"resourceVersion": str(self.revision)}, "items": items}

    @staticmethod
    def _served(res: Resource, version: str, stored: dict[str, Any]) -> dict[str, Any]:
        obj = copy.deepcopy(stored)
        obj["apiVersion"] = f"{res.group}/{version}"
        return obj

    # ---- writes -----------------------------------------------------------------------------------------------
    def create(self, res: Resource, version: str, namespace: str, body: Any, dry_run: bool = False
               ) -> dict[str, Any]:
        with self.lock:
            obj = self._checked_body(res, version, namespace, body)
            name = obj["metadata"].get("name")
            if not name:
                raise ApiError(422, "Invalid", f'{res.kind}.{res.group} "" is invalid: metadata.name: Required value:'
                               " name or generateName is required", {"group": res.group, "kind": res.kind})
            if obj["metadata"].get("resourceVersion"):
                raise ApiError(500, "InternalError", "resourceVersion should not be set on objects to be created")
            key = (res.group, res.plural, namespace, name)
            if key in self.objects:
                raise ApiError(409, "AlreadyExists", f'{res.qualified()} "{name}" already exists',
                               _details(res, name))
            self._admit(res, obj)
            obj["metadata"].update({"uid": str(uuid.uuid4()), "generation": 1, "creationTimestamp": _now()})
            return self._commit(res, version, key, obj, dry_run)

    def replace(self, res: Resource, version: str, namespace: str, name: str, body: Any, dry_run: bool = False
                ) -> dict[str, Any]:
        with self.lock:
            self._run_hooks()
            obj = self._checked_body(res, version, namespace, body)
            if obj["metadata"].get("name") != name:
                raise bad_request(f"the name of the object ({obj['metadata'].get('name', '')}) does not match the"
                                  f" name on the URL ({name})")
            return self._update(res, version, namespace, name, obj, dry_run)

    def patch(self, res: Resource, version: str, namespace: str, name: str, content_type: str, patch: Any,
              dry_run: bool = False) -> dict[str, Any]:
        with self.lock:
            self._run_hooks()
            current = self.get(res, version, namespace, name)
            try:
                if content_type == MERGE_PATCH:
                    if not isinstance(patch, dict):
                        raise PatchError("json: cannot unmarshal array into Go value of type map[string]interface {}",
                                         bad_request=True)
                    patched = merge_patch(current, patch)
                else:
                    patched = json_patch(current, patch)
            except PatchError as exc:
                if exc.bad_request:
                    raise bad_request(str(exc)) from None
                raise ApiError(422, "Invalid", str(exc)) from None
            obj = self._checked_body(res, version, namespace, patched)
            if obj["metadata"].get("name") != name:
                raise bad_request(f"the name of the object ({obj['metadata'].get('name', '')}) does not match the"
                                  f" name on the URL ({name})")
            return self._update(res, version, namespace, name, obj, dry_run)

    def delete(self, res: Resource, version: str, namespace: str, name: str) -> dict[str, Any]:
        with self.lock:
            key = (res.group, res.plural, namespace, name)
            if key not in self.objects:
                raise not_found(res, name)
            self.revision += 1
            return self._served(res, version, self.objects.pop(key))

    # ---- helpers ----------------------------------------------------------------------------------------------
    def _checked_body(self, res: Resource, version: str, namespace: str, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise bad_request("couldn't get version/kind; json parse error: json: cannot unmarshal array into Go"
                              " value of type struct { APIVersion string \"json:\\\"apiVersion,omitempty\\\"\"; Kind"
                              " string \"json:\\\"kind,omitempty\\\"\" }")
        obj = copy.deepcopy(body)
        if not obj.get("kind"):
            raise bad_request(f"Object 'Kind' is missing in '{_short(body)}'")
        expected = f"{res.group}/{version}"
        if obj.get("apiVersion") != expected or obj["kind"] != res.kind:
            raise bad_request(f"the API version in the data ({obj.get('apiVersion')}) does not match the expected"
                              f" API version ({expected})" if obj["kind"] == res.kind else
                              f"the kind in the data ({obj['kind']}) does not match the expected kind ({res.kind})")
        metadata = obj.setdefault("metadata", {})
        if not isinstance(metadata, dict):
            raise bad_request("metadata must be an object")
        if metadata.setdefault("namespace", namespace) != namespace:
            raise bad_request("the namespace of the provided object does not match the namespace sent on the request")
        return obj

    def _update(self, res: Resource, version: str, namespace: str, name: str, obj: dict[str, Any], dry_run: bool
                ) -> dict[str, Any]:
        key = (res.group, res.plural, namespace, name)
        stored = self.objects.get(key)
        if stored is None:
            raise not_found(res, name)
        sent = obj["metadata"].get("resourceVersion")
        if not sent:
            raise ApiError(422, "Invalid", f'{res.kind}.{res.group} "{name}" is invalid: metadata.resourceVersion:'
                           " Invalid value: 0x0: must be specified for an update",
                           {"name": name, "group": res.group, "kind": res.kind, "causes": [
                               {"reason": "FieldValueInvalid", "field": "metadata.resourceVersion",
                                "message": "Invalid value: 0x0: must be specified for an update"}]})
        if not str(sent).isdigit():
            raise bad_request(f'invalid resource version: "{sent}"')
        if str(sent) != stored["metadata"]["resourceVersion"]:
            raise conflict(res, name)
        for immutable in ("uid", "creationTimestamp", "generation"):
            obj["metadata"][immutable] = stored["metadata"][immutable]
        if "status" in stored:
            obj["status"] = copy.deepcopy(stored["status"])
        else:
            obj.pop("status", None)
        self._admit(res, obj)
        if _without_version(obj) == _without_version(stored):
            return self._served(res, version, stored)
        if _spec_of(obj) != _spec_of(stored):
            obj["metadata"]["generation"] = stored["metadata"]["generation"] + 1
        return self._commit(res, version, key, obj, dry_run)

    @staticmethod
    def _admit(res: Resource, obj: dict[str, Any]) -> None:
        schemas.apply_defaults(res.schema, obj)
        causes = schemas.validate(res.schema, obj)
        if causes:
            raise invalid(res, obj["metadata"].get("name", ""), causes)

    def _commit(self, res: Resource, version: str, key: Key, obj: dict[str, Any], dry_run: bool) -> dict[str, Any]:
        obj.pop("apiVersion", None)
        if dry_run:
            return self._served(res, version, obj)
        self.revision += 1
        obj["metadata"]["resourceVersion"] = str(self.revision)
        self.objects[key] = obj
        self.history.append(self._served(res, version, obj))
        return self._served(res, version, obj)

    def mutate(self, res: Resource, namespace: str, name: str, change: Callable[[dict[str, Any]], None]) -> None:
        """Another writer: apply ``change`` to the stored object and commit it (new resourceVersion)."""
        with self.lock:
            key = (res.group, res.plural, namespace, name)
            obj = copy.deepcopy(self.objects[key])
            change(obj)
            if _spec_of(obj) != _spec_of(self.objects[key]):
                obj["metadata"]["generation"] += 1
            self._commit(res, res.versions[0], key, obj, dry_run=False)


def _spec_of(obj: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in obj.items() if key not in ("metadata", "status", "apiVersion", "kind")}


def _without_version(obj: dict[str, Any]) -> dict[str, Any]:
    copied = {key: value for key, value in obj.items() if key != "apiVersion"}
    copied["metadata"] = {key: value for key, value in obj["metadata"].items() if key != "resourceVersion"}
    return copied


def _short(body: Any) -> str:
    text = str(body)
    return text if len(text) < 80 else f"{text[:77]}..."


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
