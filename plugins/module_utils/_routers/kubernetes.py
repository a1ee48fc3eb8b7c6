# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Istio VirtualService and Gateway API HTTPRoute adapters (official ``kubernetes`` client, CustomObjectsApi).

A pool is one destination (Istio: ``host`` + optional ``subset``) or one backendRef (Gateway API: ``name`` +
optional ``port``) of one route of the object. Both weights are written in a single PUT of the whole object,
carrying the ``metadata.resourceVersion`` that was read, so there is no intermediate state (make-before-break
holds trivially) and a concurrent edit is a 409 Conflict, never overwritten. On a 409 the object is read again
and the change retried once, only when the route we change is exactly as we first read it (another writer
touched something else); otherwise the task fails.

Weights are written as percentages (stable 100 - w, canary w): ``reduce_weights`` is off, so the module's
target is the stored pair itself; any other stored pair (say 3 : 1) differs from it and is rewritten.
"""
from __future__ import annotations

import copy
import json
import os
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from ansible_collections.kubernetes.core.plugins.module_utils.args_common import AUTH_ARG_SPEC
from ansible_collections.progressive.delivery.plugins.module_utils._deps import KUBERNETES, require
from ansible_collections.progressive.delivery.plugins.module_utils._routers import Router, RouterError

# The kubernetes client takes about 0.3-0.6 s to import: only router=istio/gateway_api pays for it (on first
# use, see _load_kubernetes), not every canary_shift task on HAProxy or nginx. kubernetes.core's args_common
# (imported above) is plain data and does not import the client.
k8s_client: Any = None
k8s_config: Any = None
k8s_core: Any = None


class ApiException(Exception):
    """Stand-in until the library is loaded (never raised)."""


class ConfigException(Exception):
    """Stand-in until the library is loaded (never raised)."""


class Urllib3HTTPError(Exception):
    """Stand-in until the library is loaded (never raised)."""


class CoreException(Exception):
    """Stand-in until the library is loaded (never raised)."""


def _load_kubernetes() -> None:
    """Import the kubernetes client and put its classes where the ``except`` clauses of this file look."""
    global k8s_client, k8s_config, k8s_core  # pylint: disable=global-statement
    global ApiException, ConfigException, Urllib3HTTPError, CoreException  # pylint: disable=global-statement
    if k8s_client is not None:
        return
    # pylint: disable=import-outside-toplevel
    from ansible_collections.kubernetes.core.plugins.module_utils.k8s import client as core_client
    from ansible_collections.kubernetes.core.plugins.module_utils.k8s.exceptions import CoreException as core_exc
    from kubernetes import client, config
    from kubernetes.client.exceptions import ApiException as api_exception
    from kubernetes.config.config_exception import ConfigException as config_exception
    from urllib3.exceptions import HTTPError as http_error
    k8s_client, k8s_config, k8s_core = client, config, core_client
    ApiException, ConfigException, Urllib3HTTPError = api_exception, config_exception, http_error
    CoreException = core_exc


REQUEST_TIMEOUT = 30  # seconds per API request


def kubernetes_argument_spec() -> dict[str, dict[str, Any]]:
    """Options shared by router=istio and router=gateway_api (doc fragment ``_kubernetes``): the object and route,
    plus kubernetes.core's connection options (AUTH_ARG_SPEC: kubeconfig, context, host, api_key, certificates,
    proxies, impersonation; each can also come from a ``K8S_AUTH_*`` environment variable)."""
    spec: dict[str, dict[str, Any]] = {
        "name": {"type": "str"},
        "namespace": {"type": "str"},
        "route_name": {"type": "str"},
        "route_index": {"type": "int"},
        "api_version": {"type": "str"},
    }
    spec.update(copy.deepcopy(AUTH_ARG_SPEC))
    return spec


class KubernetesRouter(Router):
    """A route of a namespaced custom object whose two weighted references are the stable and canary pools."""

    max_weight = 100
    reduce_weights = False
    required = ("name",)
    mutually_exclusive = (("route_name", "route_index"),)
    group: ClassVar[str]
    versions: ClassVar[tuple[str, ...]]  # tried in order until one is served
    plural: ClassVar[str]
    kind: ClassVar[str]
    routes_field: ClassVar[str]  # spec.<routes_field>[] are the routes
    refs_field: ClassVar[str]  # route.<refs_field>[] are the weighted references
    ref_word: ClassVar[str]  # what a reference is called in messages

    def __init__(self, params: Mapping[str, Any], check_mode: bool = False, runner: Any = None) -> None:
        super().__init__(params, check_mode, runner)
        self._check_options()
        self._pools: dict[str, tuple[str, dict[str, Any]]] = {}
        self._api: Any = None
        self._version: str | None = None
        self._object: dict[str, Any] | None = None
        self._route_read: dict[str, Any] | None = None
        self._namespace: str | None = None
        self._stored: dict[str, int] = {}

    @staticmethod
    def argument_spec() -> dict[str, dict[str, Any]]:
        return kubernetes_argument_spec()

    # ---- options ----------------------------------------------------------------------------------------------
    def _check_options(self) -> None:
        require(KUBERNETES, reason=f"for router={self.name}", option="router")
        _load_kubernetes()
        self._api_versions()

    def _api_versions(self) -> tuple[str, ...]:
        wanted = self.params.get("api_version")
        if not wanted:
            return self.versions
        version = wanted.split("/", 1)[1] if wanted.startswith(f"{self.group}/") else wanted
        allowed = ", ".join(f"{self.group}/{v}" for v in self.versions)
        if "/" in version or version not in self.versions:
            raise RouterError(f"option api_version: must be one of {allowed} for router={self.name}, got {wanted!r}")
        return (version,)

    @property
    def object_name(self) -> str:
        return self.params["name"]

    @property
    def namespace(self) -> str:
        if self._namespace is None:
            self._namespace = self.params.get("namespace") or self._context_namespace() or "default"
        return self._namespace

    def _context_namespace(self) -> str | None:
        kubeconfig = self.params.get("kubeconfig")
        if (self.params.get("host") and not (kubeconfig or self.params.get("context"))) or \
                not isinstance(kubeconfig, (str, type(None))):
            return None
        try:
            contexts, active = k8s_config.list_kube_config_contexts(config_file=kubeconfig)
        except (ConfigException, OSError, TypeError):
            return None
        wanted = self.params.get("context")
        chosen = next((c for c in contexts if c.get("name") == wanted), None) if wanted else active
        return ((chosen or {}).get("context") or {}).get("namespace")

    def describe(self) -> dict[str, Any]:
        target = {"kind": self.kind, "name": self.object_name, "namespace": self.namespace,
                  "route_name": self.params.get("route_name"), "route_index": self.params.get("route_index")}
        if self._version:
            target["api_version"] = f"{self.group}/{self._version}"
        if self._object:
            target["resource_version"] = self._object["metadata"].get("resourceVersion")
        if self._stored:
            target["weights"] = dict(self._stored)
        return target

    def check_weights(self, weights: Mapping[str, int]) -> None:
        super().check_weights(weights)
        if sum(weights.values()) != 100:
            raise RouterError(f"option weights: {self.kind} weights are stored as percentages and must add up to"
                              f" 100, got {dict(weights)}", option="weights")

    # ---- pools ------------------------------------------------------------------------------------------------
    def members(self, pool: Any, option: str) -> list[str]:
        label, spec = self._parse_pool(pool, option)
        self._pools[option] = (label, spec)
        return [label]

    def _parse_pool(self, pool: Any, option: str) -> tuple[str, dict[str, Any]]:
        raise NotImplementedError

    def _matches(self, ref: dict[str, Any], spec: dict[str, Any]) -> bool:
        raise NotImplementedError

    def _ref_label(self, ref: dict[str, Any]) -> str:
        raise NotImplementedError

    def _ref_weight(self, ref: dict[str, Any], refs: list[dict[str, Any]]) -> int:
        raise NotImplementedError

    def _new_ref(self, spec: dict[str, Any], stable_ref: dict[str, Any], weight: int) -> dict[str, Any]:
        raise NotImplementedError

    # ---- Router interface -------------------------------------------------------------------------------------
    def get_weights(self, members: Sequence[str]) -> dict[str, int]:
        self._object = self._read()
        route = self._route(self._object)
        self._route_read = copy.deepcopy(route)
        return self._weights_of(route)

    def set_weights(self, current: Mapping[str, int], target: Mapping[str, int]) -> None:
        if self._object is None:
            raise RouterError("internal error: set_weights() before get_weights()")
        canary_percent = self._percent(target)
        try:
            self._object = self._write(self._with_weights(self._object, canary_percent))
        except ApiException as exc:
            if exc.status != 409:
                raise self._api_error(exc, "update") from None
            self._object = self._retry_after_conflict(canary_percent)
        self._weights_of(self._route(self._object))  # what the API server stored, for describe()

    def verify(self, target: Mapping[str, int]) -> dict[str, int]:
        stored = self._weights_of(self._route(self._read()))
        expected = self._weights_on_module_scale(100 - self._percent(target), self._percent(target))
        if stored != expected:
            raise RouterError(f"verify: {self._where()} as stored has weights {stored}, expected {expected}")
        return stored

    # ---- reading the weights ----------------------------------------------------------------------------------
    def _weights_of(self, route: dict[str, Any]) -> dict[str, int]:
        refs = route.get(self.refs_field) or []
        stable_label, canary_label = self._pools["stable"][0], self._pools["canary"][0]
        stable_ref = self._find(refs, "stable", route, required=True)
        canary_ref = self._find(refs, "canary", route, required=False)
        others = [ref for ref in refs if ref is not stable_ref and ref is not canary_ref
                  and self._ref_weight(ref, refs) > 0]
        if others:
            raise RouterError(f"{self._where(route)} also sends traffic to {', '.join(map(self._ref_label, others))}:"
                              f" the stable ({stable_label}) and canary ({canary_label}) pools must be its only"
                              f" {self.ref_word}s with a weight above 0")
        stable = self._ref_weight(stable_ref, refs)
        canary = self._ref_weight(canary_ref, refs) if canary_ref is not None else 0
        self._stored = {stable_label: stable, canary_label: canary}
        return self._weights_on_module_scale(stable, canary)

    def _weights_on_module_scale(self, stable: int, canary: int) -> dict[str, int]:
        return {self._pools["stable"][0]: stable, self._pools["canary"][0]: canary}

    def _find(self, refs: list[dict[str, Any]], option: str, route: dict[str, Any], required: bool
              ) -> dict[str, Any] | None:
        label, spec = self._pools[option]
        found = [ref for ref in refs if isinstance(ref, dict) and self._matches(ref, spec)]
        if len(found) > 1:
            raise RouterError(f"option {option}: {label} matches {len(found)} {self.ref_word}s in"
                              f" {self._where(route)} ({', '.join(map(self._ref_label, found))}): be more specific")
        if not found and required:
            present = ", ".join(self._ref_label(ref) for ref in refs if isinstance(ref, dict)) or "none"
            raise RouterError(f"option {option}: {self.ref_word} {label} not found in {self._where(route)};"
                              f" {self.ref_word}s there: {present}")
        return found[0] if found else None

    def _percent(self, target: Mapping[str, int]) -> int:
        """The canary's percentage in ``target`` (exact: one member per pool)."""
        total = sum(target.values())
        if len(target) != 2 or total <= 0:
            raise RouterError(f"internal error: cannot turn weights {dict(target)} into percentages")
        return round(100 * target[self._pools["canary"][0]] / total)

    # ---- routes -----------------------------------------------------------------------------------------------
    def _route(self, obj: dict[str, Any]) -> dict[str, Any]:
        routes = (obj.get("spec") or {}).get(self.routes_field) or []
        name, index = self.params.get("route_name"), self.params.get("route_index")
        if index is not None:
            if not 0 <= index < len(routes):
                raise RouterError(f"option route_index: {self._where()} has {len(routes)} {self.routes_field}"
                                  f" routes, index {index} does not exist; routes: {self._route_names(routes)}")
            return routes[index]
        if name is None:
            if len(routes) != 1:
                raise RouterError(f"option route_name is required: {self._where()} has {len(routes)}"
                                  f" {self.routes_field} routes: {self._route_names(routes)}")
            return routes[0]
        found = [route for route in routes if route.get("name") == name]
        if len(found) != 1:
            problem = "no" if not found else f"{len(found)}"
            raise RouterError(f"option route_name: {problem} {self.routes_field} route named {name!r} in"
                              f" {self._where()}; routes: {self._route_names(routes)}")
        return found[0]

    @staticmethod
    def _route_names(routes: list[dict[str, Any]]) -> str:
        names = [repr(route["name"]) if route.get("name") else f"(unnamed, index {index})"
                 for index, route in enumerate(routes)]
        return ", ".join(names) or "none"

    def _where(self, route: dict[str, Any] | None = None) -> str:
        where = f"{self.kind} {self.namespace}/{self.object_name}"
        if route is not None:
            label = repr(route["name"]) if route.get("name") else f"index {self.params.get('route_index') or 0}"
            where = f"{self.routes_field} route {label} of {where}"
        return where

    # ---- writing ----------------------------------------------------------------------------------------------
    def _with_weights(self, obj: dict[str, Any], canary_percent: int) -> dict[str, Any]:
        obj = copy.deepcopy(obj)
        route = self._route(obj)
        refs = route.setdefault(self.refs_field, [])
        stable_ref = self._find(refs, "stable", route, required=True)
        canary_ref = self._find(refs, "canary", route, required=False)
        stable_ref["weight"] = 100 - canary_percent
        if canary_ref is None:
            refs.append(self._new_ref(self._pools["canary"][1], stable_ref, canary_percent))
        else:
            canary_ref["weight"] = canary_percent
        return obj

    def _retry_after_conflict(self, canary_percent: int) -> dict[str, Any]:
        fresh = self._read()
        if self._route(fresh) != self._route_read:
            raise self._conflict_error(fresh, "the route was changed by another writer")
        try:
            return self._write(self._with_weights(fresh, canary_percent))
        except ApiException as exc:
            if exc.status == 409:
                raise self._conflict_error(fresh, "it changed again while retrying") from None
            raise self._api_error(exc, "update") from None

    def _conflict_error(self, fresh: dict[str, Any], why: str) -> RouterError:
        before = (self._object or {}).get("metadata", {}).get("resourceVersion")
        after = fresh.get("metadata", {}).get("resourceVersion")
        return RouterError(f"{self._where()} changed concurrently (resourceVersion {before} -> {after}): {why};"
                           " nothing was overwritten, run again to shift from the new state")

    # ---- API calls --------------------------------------------------------------------------------------------
    def _client(self) -> Any:
        if self._api is None:
            self._api = k8s_client.CustomObjectsApi(self._api_client())
        return self._api

    def _api_client(self) -> Any:
        """The kubernetes ``ApiClient`` of kubernetes.core's public ``get_api_client()``, which reads the connection
        options (and the ``K8S_AUTH_*`` environment), loads the in-cluster service account or the kubeconfig, and
        sets certificates, proxies and impersonation headers. It returns a ``K8SClient`` whose ``.client`` is the
        dynamic client and whose ``.client.client`` is the ``ApiClient`` that ``CustomObjectsApi`` uses here (the
        group, versions and plural are known: nothing found by discovery is needed).

        Building the dynamic client reads ``GET /version`` and ``GET /apis`` (unless kubernetes.core's discovery
        cache file, ``<tempdir>/k8srcp-<sha256(host-user)>.json``, exists), so the errors of those requests are
        turned into this adapter's messages here.
        """
        options = {option: self.params.get(option) for option in AUTH_ARG_SPEC}
        try:
            return k8s_core.get_api_client(module=None, **options).client.client
        except (CoreException, ConfigException, TypeError) as exc:
            source = options.get("kubeconfig") if isinstance(options.get("kubeconfig"), str) else "the kubeconfig"
            context = options.get("context")
            raise RouterError(f"options kubeconfig/context: cannot load the Kubernetes configuration from {source}"
                              f"{f' (context {context})' if context else ''}: {exc.__cause__ or exc}; or give"
                              " option host (and api_key)", option="kubeconfig") from None
        except OSError as exc:  # a certificate or key file named by an option (or K8S_AUTH_*) cannot be read
            option = next((name for name in ("ca_cert", "client_cert", "client_key")
                           if exc.filename is not None and options.get(name) == exc.filename), None)
            raise RouterError(f"{f'option {option}: ' if option else ''}cannot read {exc.filename}:"
                              f" {exc.strerror or exc}", option=option) from None
        except ApiException as exc:  # an error answer to the discovery requests
            if exc.status == 401:
                raise self._api_error(exc, "read") from None
            raise RouterError(f"cannot read the discovery documents (/version, /apis) of the Kubernetes API server at"
                              f" {self._host()}: {exc.status} {exc.reason}; is option host a Kubernetes API"
                              " server?") from None
        except Urllib3HTTPError as exc:
            raise RouterError(f"cannot reach the Kubernetes API server at {self._host()}: {exc}") from None
        except (ValueError, AttributeError, KeyError) as exc:  # http:// for an HTTPS endpoint; a page, not JSON
            why = str(exc) if exc.__class__ is ValueError else f"not a discovery document ({type(exc).__name__}: {exc})"
            raise RouterError(f"cannot read the discovery documents (/version, /apis) of the Kubernetes API server at"
                              f" {self._host()}: {why}; is option host a Kubernetes API server?") from None

    def _read(self) -> dict[str, Any]:
        unserved = []
        for version in ([self._version] if self._version else self._api_versions()):
            try:
                obj = self._call("get_namespaced_custom_object", version)
            except ApiException as exc:
                if exc.status == 404 and _status_body(exc) is None:
                    unserved.append(f"{self.group}/{version}")
                    continue
                raise self._api_error(exc, "read", version) from None
            self._version = version
            return obj
        raise RouterError(f"the API server at {self._host()} does not serve {self.plural}.{self.group} in"
                          f" {' or '.join(unserved)} (is the CRD installed? option api_version selects the"
                          " version)")

    def _write(self, obj: dict[str, Any]) -> dict[str, Any]:
        return self._call("replace_namespaced_custom_object", self._version or self.versions[0], body=obj)

    def _call(self, method: str, version: str, **kwargs: Any) -> dict[str, Any]:
        try:
            return getattr(self._client(), method)(self.group, version, self.namespace, self.plural,
                                                   self.object_name, _request_timeout=REQUEST_TIMEOUT, **kwargs)
        except Urllib3HTTPError as exc:
            raise RouterError(f"cannot reach the Kubernetes API server at {self._host()}: {exc}") from None

    def _host(self) -> str:
        if self._api is not None:
            return getattr(getattr(self._api.api_client, "configuration", None), "host", "?")
        # before get_api_client() has returned: option host (or K8S_AUTH_HOST) when given, else the server of
        # the kubeconfig or in-cluster configuration, which kubernetes.config loaded as the default configuration
        host = self.params.get("host") or os.environ.get("K8S_AUTH_HOST") or \
            k8s_client.Configuration.get_default_copy().host
        return str(host).rstrip("/")

    def _api_error(self, exc: Any, action: str, version: str | None = None) -> RouterError:
        status = _status_body(exc) or {}
        message = status.get("message") or exc.reason
        if exc.status == 401:
            return RouterError(f"the Kubernetes API server at {self._host()} rejected the credentials (401"
                               " Unauthorized): check option api_key, or the user of the kubeconfig context")
        if exc.status == 404:
            return RouterError(f"{self.kind} {self.object_name!r} not found in namespace {self.namespace!r}"
                               f" ({self.group}/{version or self._version}; options name and namespace)")
        if exc.status == 403:
            return RouterError(f"not allowed to {action} {self._where()} (403 Forbidden): {message}")
        return RouterError(f"cannot {action} {self._where()}: {exc.status} {status.get('reason') or exc.reason}:"
                           f" {message}")


def _status_body(exc: Any) -> dict[str, Any] | None:
    """The metav1.Status of an API error, or None when the body is not one (e.g. ``404 page not found``)."""
    try:
        body = json.loads(exc.body or "")
    except (TypeError, ValueError):
        return None
    return body if isinstance(body, dict) and body.get("kind") == "Status" else None


class IstioRouter(KubernetesRouter):
    """``spec.http[].route[]`` of a ``networking.istio.io`` VirtualService; a pool is ``host`` + ``subset``."""

    name = "istio"
    group = "networking.istio.io"
    versions = ("v1", "v1beta1")
    plural = "virtualservices"
    kind = "VirtualService"
    routes_field = "http"
    refs_field = "route"
    ref_word = "destination"

    def _parse_pool(self, pool: Any, option: str) -> tuple[str, dict[str, Any]]:
        if isinstance(pool, str):
            pool = {"host": pool}
        if not (isinstance(pool, dict) and set(pool) <= {"host", "subset"} and _text(pool.get("host"))
                and (pool.get("subset") is None or _text(pool["subset"]))):
            raise RouterError(f"option {option}: an istio pool is a destination: a host name or a dictionary with"
                              f" host and optional subset, got {pool!r}")
        spec = {"host": pool["host"], "subset": pool.get("subset")}
        return (f"{spec['host']}/{spec['subset']}" if spec["subset"] else spec["host"]), spec

    def _matches(self, ref: dict[str, Any], spec: dict[str, Any]) -> bool:
        destination = ref.get("destination") or {}
        return destination.get("host") == spec["host"] and destination.get("subset") == spec["subset"]

    def _ref_label(self, ref: dict[str, Any]) -> str:
        destination = ref.get("destination") or {}
        host, subset = destination.get("host", "?"), destination.get("subset")
        return f"{host}/{subset}" if subset else str(host)

    def _ref_weight(self, ref: dict[str, Any], refs: list[dict[str, Any]]) -> int:
        # Istio: a lone destination gets all traffic whatever its weight; otherwise a missing weight is 0
        if len(refs) == 1:
            return 100
        return int(ref.get("weight") or 0)

    def _new_ref(self, spec: dict[str, Any], stable_ref: dict[str, Any], weight: int) -> dict[str, Any]:
        destination: dict[str, Any] = {"host": spec["host"]}
        if spec["subset"]:
            destination["subset"] = spec["subset"]
        stable_destination = stable_ref.get("destination") or {}
        if stable_destination.get("host") == spec["host"] and "port" in stable_destination:
            destination["port"] = copy.deepcopy(stable_destination["port"])
        return {"destination": destination, "weight": weight}


class GatewayApiRouter(KubernetesRouter):
    """``spec.rules[].backendRefs[]`` of a Gateway API HTTPRoute; a pool is a backendRef ``name`` (+ ``port``)."""

    name = "gateway_api"
    group = "gateway.networking.k8s.io"
    versions = ("v1", "v1beta1")
    plural = "httproutes"
    kind = "HTTPRoute"
    routes_field = "rules"
    refs_field = "backendRefs"
    ref_word = "backendRef"

    def _parse_pool(self, pool: Any, option: str) -> tuple[str, dict[str, Any]]:
        if isinstance(pool, str):
            pool = {"name": pool}
        port = pool.get("port") if isinstance(pool, dict) else None
        if not (isinstance(pool, dict) and set(pool) <= {"name", "port"} and _text(pool.get("name"))
                and (port is None or (isinstance(port, int) and not isinstance(port, bool) and 0 < port < 65536))):
            raise RouterError(f"option {option}: a gateway_api pool is a backendRef: a name or a dictionary with"
                              f" name and optional port (1-65535), got {pool!r}")
        spec = {"name": pool["name"], "port": port}
        return (f"{spec['name']}:{port}" if port else spec["name"]), spec

    def _matches(self, ref: dict[str, Any], spec: dict[str, Any]) -> bool:
        return ref.get("name") == spec["name"] and (spec["port"] is None or ref.get("port") == spec["port"])

    def _ref_label(self, ref: dict[str, Any]) -> str:
        return f"{ref.get('name', '?')}:{ref['port']}" if ref.get("port") else str(ref.get("name", "?"))

    def _ref_weight(self, ref: dict[str, Any], refs: list[dict[str, Any]]) -> int:
        return int(ref.get("weight", 1))  # the CRD's default

    def _new_ref(self, spec: dict[str, Any], stable_ref: dict[str, Any], weight: int) -> dict[str, Any]:
        ref: dict[str, Any] = {key: stable_ref[key] for key in ("group", "kind") if key in stable_ref}
        ref["name"] = spec["name"]
        if spec["port"]:
            ref["port"] = spec["port"]
        elif "port" in stable_ref:
            raise RouterError(f"option canary: backendRef {spec['name']} is not in {self._where()} yet; to add it"
                              " give its port: canary: {name: ..., port: ...}")
        ref["weight"] = weight
        return ref


def _text(value: Any) -> bool:
    return isinstance(value, str) and bool(value)
