# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The Istio / Gateway API adapters, and the honesty of the fake API server they are tested against, both driven
through the real ``kubernetes`` client."""
from __future__ import annotations

import http.client
import http.server
import json
import tempfile
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ansible_collections.progressive.delivery.plugins.module_utils._deps import Dependency
from ansible_collections.progressive.delivery.plugins.module_utils._result import ModuleFailure
from ansible_collections.progressive.delivery.plugins.module_utils._routers import RouterError, registry
from ansible_collections.progressive.delivery.plugins.module_utils._routers import kubernetes as k8s_router
from ansible_collections.progressive.delivery.plugins.module_utils._routers.kubernetes import (
    GatewayApiRouter,
    IstioRouter,
)
from ansible_collections.progressive.delivery.plugins.module_utils._weights import server_weights
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from tests.fake_k8s.server import FakeKubeApiServer
from tests.fake_k8s.store import GATEWAY_HTTPROUTE, ISTIO_VIRTUALSERVICE, Store

TOKEN = "unit-test-token"
NS = "shop"
GW, GW_V, ROUTES = "gateway.networking.k8s.io", "v1", "httproutes"
IS, IS_V, VSS = "networking.istio.io", "v1", "virtualservices"


@pytest.fixture(scope="module")
def api() -> Iterator[FakeKubeApiServer]:
    with FakeKubeApiServer(token=TOKEN) as server:
        yield server


@pytest.fixture(autouse=True)
def discovery_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """kubernetes.core's discoverer keeps what ``/version`` and ``/apis`` said in
    ``<tempdir>/k8srcp-<sha256(host-user)>.json`` and, when that file exists, asks the server nothing: each test
    gets its own temp directory, so no test reads another test's cache (or one an earlier run left in /tmp for a
    fake server on the same port)."""
    cache = tmp_path / "tempdir"
    cache.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(cache))
    return cache


def raw_get(api: FakeKubeApiServer, path: str, token: str | None = TOKEN) -> tuple[int, str, bytes]:
    host, port = api.url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=5)
    connection.request("GET", path, headers={"Authorization": f"Bearer {token}"} if token else {})
    response = connection.getresponse()
    body = response.read()
    connection.close()
    return response.status, response.getheader("Content-Type") or "", body


def custom_objects(api: FakeKubeApiServer, token: str | None = TOKEN) -> Any:
    configuration = client.Configuration()
    configuration.host = api.url
    if token:
        configuration.api_key = {"authorization": f"Bearer {token}"}
    return client.CustomObjectsApi(client.ApiClient(configuration))


def httproute(name: str, refs: list[dict[str, Any]] | None = None, **spec: Any) -> dict[str, Any]:
    refs = refs if refs is not None else [{"name": "blue", "port": 80, "weight": 100}]
    return {"apiVersion": f"{GW}/{GW_V}", "kind": "HTTPRoute", "metadata": {"name": name},
            "spec": {"rules": [{"name": "main", "backendRefs": refs}], **spec}}


def virtualservice(name: str, route: list[dict[str, Any]]) -> dict[str, Any]:
    return {"apiVersion": f"{IS}/{IS_V}", "kind": "VirtualService", "metadata": {"name": name},
            "spec": {"hosts": ["reviews"], "http": [{"name": "primary", "route": route}]}}


def create_route(api: FakeKubeApiServer, refs: list[dict[str, Any]] | None = None, token: str = TOKEN,
                 **spec: Any) -> dict[str, Any]:
    return custom_objects(api, token).create_namespaced_custom_object(
        GW, GW_V, NS, ROUTES, httproute(f"r-{uuid.uuid4().hex[:8]}", refs, **spec))


def api_error(call: Any, *args: Any, **kwargs: Any) -> tuple[int, dict[str, Any]]:
    with pytest.raises(ApiException) as info:
        call(*args, **kwargs)
    return info.value.status, json.loads(info.value.body)


# --------------------------------------------------------------------------------------------------
# the fake API server is honest
# --------------------------------------------------------------------------------------------------
def test_stale_resource_version_is_a_409_conflict_status(api: FakeKubeApiServer) -> None:
    objects = custom_objects(api)
    obj = create_route(api)
    name = obj["metadata"]["name"]
    objects.replace_namespaced_custom_object(GW, GW_V, NS, ROUTES, name, obj)  # no-op: same resourceVersion
    obj["metadata"]["labels"] = {"a": "b"}
    objects.replace_namespaced_custom_object(GW, GW_V, NS, ROUTES, name, obj)
    code, status = api_error(objects.replace_namespaced_custom_object, GW, GW_V, NS, ROUTES, name, obj)
    assert code == 409
    assert status == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "code": 409,
                      "reason": "Conflict", "details": {"name": name, "group": GW, "kind": ROUTES},
                      "message": f'Operation cannot be fulfilled on httproutes.{GW} "{name}": the object has been'
                                 " modified; please apply your changes to the latest version and try again"}


def test_merge_patch_with_a_stale_resource_version_is_a_conflict(api: FakeKubeApiServer) -> None:
    objects = custom_objects(api)
    obj = create_route(api)
    name, version = obj["metadata"]["name"], obj["metadata"]["resourceVersion"]
    patched = objects.patch_namespaced_custom_object(GW, GW_V, NS, ROUTES, name, {"metadata": {"labels": {"x": "1"}}})
    assert int(patched["metadata"]["resourceVersion"]) > int(version)
    code, status = api_error(objects.patch_namespaced_custom_object, GW, GW_V, NS, ROUTES, name,
                             {"metadata": {"resourceVersion": version, "labels": {"x": "2"}}})
    assert (code, status["reason"]) == (409, "Conflict")


def test_update_without_resource_version_is_refused(api: FakeKubeApiServer) -> None:
    obj = create_route(api)
    del obj["metadata"]["resourceVersion"]
    code, status = api_error(custom_objects(api).replace_namespaced_custom_object, GW, GW_V, NS, ROUTES,
                             obj["metadata"]["name"], obj)
    assert (code, status["reason"]) == (422, "Invalid")
    assert "metadata.resourceVersion: Invalid value: 0x0: must be specified for an update" in status["message"]


def test_missing_object_is_a_404_not_found_status(api: FakeKubeApiServer) -> None:
    code, status = api_error(custom_objects(api).get_namespaced_custom_object, GW, GW_V, NS, ROUTES, "nope")
    assert (code, status["reason"], status["message"]) == (404, "NotFound", f'httproutes.{GW} "nope" not found')
    assert status["details"] == {"name": "nope", "group": GW, "kind": ROUTES}


def test_unserved_version_is_a_plain_404_page(api: FakeKubeApiServer) -> None:
    with pytest.raises(ApiException) as info:
        custom_objects(api).get_namespaced_custom_object(GW, "v9", NS, ROUTES, "nope")
    assert info.value.status == 404 and info.value.body.strip() == "404 page not found"


@pytest.mark.parametrize("token", [None, "wrong"])
def test_bearer_token_is_required(api: FakeKubeApiServer, token: str | None) -> None:
    code, status = api_error(custom_objects(api, token).get_namespaced_custom_object, GW, GW_V, NS, ROUTES, "x")
    assert (code, status["reason"], status["message"]) == (401, "Unauthorized", "Unauthorized")


def test_body_disagreeing_with_the_url_is_a_bad_request(api: FakeKubeApiServer) -> None:
    objects = custom_objects(api)
    obj = create_route(api)
    name = obj["metadata"]["name"]
    renamed = {**obj, "metadata": {**obj["metadata"], "name": "other"}}
    code, status = api_error(objects.replace_namespaced_custom_object, GW, GW_V, NS, ROUTES, name, renamed)
    assert (code, status["reason"]) == (400, "BadRequest")
    assert status["message"] == f"the name of the object (other) does not match the name on the URL ({name})"
    moved = {**obj, "metadata": {**obj["metadata"], "namespace": "other"}}
    code, status = api_error(objects.replace_namespaced_custom_object, GW, GW_V, NS, ROUTES, name, moved)
    assert (code, status["reason"]) == (400, "BadRequest") and "namespace" in status["message"]
    code, status = api_error(objects.replace_namespaced_custom_object, GW, "v1beta1", NS, ROUTES, name, obj)
    assert (code, status["reason"]) == (400, "BadRequest") and "API version" in status["message"]


def test_invalid_json_is_a_bad_request(api: FakeKubeApiServer) -> None:
    host, port = api.url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=5)
    connection.request("PUT", f"/apis/{GW}/{GW_V}/namespaces/{NS}/{ROUTES}/x", body=b"{not json",
                       headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"})
    response = connection.getresponse()
    status = json.loads(response.read())
    connection.close()
    assert (response.status, status["kind"], status["reason"]) == (400, "Status", "BadRequest")


def test_strategic_merge_patch_is_not_accepted_for_custom_resources(api: FakeKubeApiServer) -> None:
    obj = create_route(api)
    code, status = api_error(custom_objects(api).patch_namespaced_custom_object, GW, GW_V, NS, ROUTES,
                             obj["metadata"]["name"], {"metadata": {"labels": {"a": "b"}}},
                             _content_type="application/strategic-merge-patch+json")
    assert (code, status["reason"]) == (415, "UnsupportedMediaType")


def test_json_patch_applies_and_a_failed_test_is_invalid(api: FakeKubeApiServer) -> None:
    objects = custom_objects(api)
    name = create_route(api)["metadata"]["name"]
    path = "/spec/rules/0/backendRefs/0/weight"
    patched = objects.patch_namespaced_custom_object(GW, GW_V, NS, ROUTES, name, [
        {"op": "test", "path": path, "value": 100}, {"op": "replace", "path": path, "value": 60}],
        _content_type="application/json-patch+json")
    assert patched["spec"]["rules"][0]["backendRefs"][0]["weight"] == 60
    code, _status = api_error(objects.patch_namespaced_custom_object, GW, GW_V, NS, ROUTES, name,
                              [{"op": "test", "path": path, "value": 100}],
                              _content_type="application/json-patch+json")
    assert code == 422


def test_resource_version_and_generation(api: FakeKubeApiServer) -> None:
    objects = custom_objects(api)
    obj = create_route(api, extra={"unknown": ["kept"]})
    name, first = obj["metadata"]["name"], int(obj["metadata"]["resourceVersion"])
    assert obj["metadata"]["generation"] == 1 and obj["spec"]["extra"] == {"unknown": ["kept"]}
    obj["metadata"]["labels"] = {"a": "b"}
    obj = objects.replace_namespaced_custom_object(GW, GW_V, NS, ROUTES, name, obj)
    assert int(obj["metadata"]["resourceVersion"]) > first and obj["metadata"]["generation"] == 1
    obj["spec"]["rules"][0]["backendRefs"][0]["weight"] = 5
    obj = objects.replace_namespaced_custom_object(GW, GW_V, NS, ROUTES, name, obj)
    assert obj["metadata"]["generation"] == 2 and obj["spec"]["extra"] == {"unknown": ["kept"]}
    same = objects.replace_namespaced_custom_object(GW, GW_V, NS, ROUTES, name, obj)
    assert same["metadata"]["resourceVersion"] == obj["metadata"]["resourceVersion"]  # a no-op is not a write


def test_status_is_kept_on_a_write_to_the_main_resource(api: FakeKubeApiServer) -> None:
    obj = create_route(api)
    name = obj["metadata"]["name"]
    api.store.mutate(GATEWAY_HTTPROUTE, NS, name, lambda stored: stored.update(status={"parents": []}))
    obj = custom_objects(api).get_namespaced_custom_object(GW, GW_V, NS, ROUTES, name)
    obj["status"] = {"parents": [{"forged": True}]}
    obj["metadata"]["labels"] = {"a": "b"}
    assert custom_objects(api).replace_namespaced_custom_object(GW, GW_V, NS, ROUTES, name, obj)["status"] == \
        {"parents": []}


def test_crd_defaults_are_applied(api: FakeKubeApiServer) -> None:
    obj = create_route(api, [{"name": "blue", "port": 80}])
    assert obj["spec"]["rules"][0]["backendRefs"][0] == {"name": "blue", "port": 80, "group": "", "kind": "Service",
                                                         "weight": 1}


@pytest.mark.parametrize("refs,field,fragment", [
    ([{"name": "blue", "port": 80, "weight": 1000001}], "spec.rules[0].backendRefs[0].weight",
     "should be less than or equal to 1000000"),
    ([{"name": "blue", "port": 80, "weight": -1}], "spec.rules[0].backendRefs[0].weight",
     "should be greater than or equal to 0"),
    ([{"name": "blue", "port": 80, "weight": "5"}], "spec.rules[0].backendRefs[0].weight",
     'must be of type integer: "string"'),
    ([{"name": f"b{i}", "port": 80} for i in range(17)], "spec.rules[0].backendRefs",
     "Too many: 17: must have at most 16 items"),
    ([{"name": "blue"}], "spec.rules[0].backendRefs[0]", "Must have port for Service reference"),
    ([{"port": 80}], "spec.rules[0].backendRefs[0].name", "Required value"),
])
def test_httproute_schema_is_enforced(api: FakeKubeApiServer, refs: list[dict[str, Any]], field: str,
                                      fragment: str) -> None:
    code, status = api_error(create_route, api, refs)
    assert (code, status["reason"]) == (422, "Invalid")
    assert [cause["field"] for cause in status["details"]["causes"]] == [field]
    assert fragment in status["message"] and status["message"].startswith(f"HTTPRoute.{GW} ")


def test_httproute_rule_names_are_unique_section_names(api: FakeKubeApiServer) -> None:
    rules = [{"name": "main", "backendRefs": []}, {"name": "main"}]
    code, status = api_error(create_route, api, rules=rules)
    assert code == 422 and "Rule name must be unique within the route" in status["message"]
    code, status = api_error(create_route, api, rules=[{"name": "Not_A_Section"}])
    assert code == 422 and "should match" in status["message"]


def test_virtualservice_schema_is_enforced(api: FakeKubeApiServer) -> None:
    objects = custom_objects(api)
    code, status = api_error(objects.create_namespaced_custom_object, IS, IS_V, NS, VSS,
                             virtualservice("bad", [{"destination": {"host": "r"}, "weight": "ten"}]))
    assert code == 422 and "spec.http[0].route[0].weight in body must be of type integer" in status["message"]
    code, status = api_error(objects.create_namespaced_custom_object, IS, IS_V, NS, VSS,
                             virtualservice("bad", [{"weight": 100}]))
    assert code == 422 and "spec.http[0].route[0].destination: Required value" in status["message"]


def test_an_object_is_the_same_in_every_served_version(api: FakeKubeApiServer) -> None:
    objects = custom_objects(api)
    objects.create_namespaced_custom_object(IS, "v1beta1", NS, VSS, {
        **virtualservice("versions", [{"destination": {"host": "r"}}]), "apiVersion": f"{IS}/v1beta1"})
    obj = objects.get_namespaced_custom_object(IS, "v1", NS, VSS, "versions")
    assert obj["apiVersion"] == f"{IS}/v1" and obj["spec"]["http"][0]["route"] == [{"destination": {"host": "r"}}]


def test_discovery_documents_have_the_real_shape(api: FakeKubeApiServer) -> None:
    def get(path: str) -> Any:
        code, content_type, body = raw_get(api, path)
        assert (code, content_type) == (200, "application/json"), (path, body)
        return json.loads(body)

    version = get("/version")  # version.Info: not an API object, no kind
    assert set(version) == {"major", "minor", "gitVersion", "gitCommit", "gitTreeState", "buildDate", "goVersion",
                            "compiler", "platform"}
    assert version["gitVersion"].startswith(f"v{version['major']}.{version['minor']}.")
    core = get("/api")  # APIVersions is served without apiVersion
    assert (core["kind"], core["versions"], "apiVersion" in core) == ("APIVersions", ["v1"], False)
    assert core["serverAddressByClientCIDRs"][0]["clientCIDR"] == "0.0.0.0/0"
    assert get("/api/v1") == {"kind": "APIResourceList", "groupVersion": "v1", "resources": []}

    groups = get("/apis")
    assert (groups["kind"], groups["apiVersion"]) == ("APIGroupList", "v1")
    istio = {"name": IS, "preferredVersion": {"groupVersion": f"{IS}/v1", "version": "v1"},
             "versions": [{"groupVersion": f"{IS}/{v}", "version": v} for v in ("v1", "v1beta1", "v1alpha3")]}
    gateway_api = {"name": GW, "preferredVersion": {"groupVersion": f"{GW}/v1", "version": "v1"},
                   "versions": [{"groupVersion": f"{GW}/{v}", "version": v} for v in ("v1", "v1beta1")]}
    assert groups["groups"] == [istio, gateway_api]
    assert get(f"/apis/{GW}") == {"kind": "APIGroup", "apiVersion": "v1", **gateway_api}

    resources = get(f"/apis/{IS}/v1beta1")
    assert (resources["kind"], resources["apiVersion"], resources["groupVersion"]) == \
        ("APIResourceList", "v1", f"{IS}/v1beta1")
    assert resources["resources"] == [{
        "name": "virtualservices", "singularName": "virtualservice", "namespaced": True, "kind": "VirtualService",
        "verbs": ["delete", "get", "list", "patch", "create", "update"], "shortNames": ["vs"],
        "categories": ["istio-io", "networking-istio-io"]}]
    assert [r["kind"] for r in get(f"/apis/{GW}/v1")["resources"]] == ["HTTPRoute"]


def test_discovery_lists_only_what_is_served_and_needs_the_token() -> None:
    with FakeKubeApiServer(token=TOKEN, served={IS: ("v1beta1", "v1alpha3")}) as old_istio:
        groups = json.loads(raw_get(old_istio, "/apis")[2])["groups"]
        assert [(g["name"], g["preferredVersion"]["version"], len(g["versions"])) for g in groups] == \
            [(IS, "v1beta1", 2)]
        for path in (f"/apis/{IS}/v1", f"/apis/{GW}", f"/apis/{GW}/v1", "/apis/example.com/v1", "/openapi/v9"):
            assert raw_get(old_istio, path)[::2] == (404, b"404 page not found\n"), path
        code, _headers, body = raw_get(old_istio, "/version", token="wrong")
        assert (code, json.loads(body)["reason"]) == (401, "Unauthorized")


def test_kubernetes_dynamic_discovery_reads_the_fake(api: FakeKubeApiServer, discovery_cache: Path) -> None:
    """What kubernetes.core's client asks when built (``/version``, ``/apis``) and when it looks a kind up
    (``/apis/<group>/<version>``), answered so that the dynamic client understands it."""
    from ansible_collections.kubernetes.core.plugins.module_utils.k8s.client import get_api_client
    token = f"discovery-{uuid.uuid4().hex}"  # a new token: kubernetes.core's in-process pool has no client yet
    with FakeKubeApiServer(token=token) as server:
        core = get_api_client(host=server.url, api_key=token)
        assert server.requests == ["GET /version -> 200", "GET /apis -> 200"]
        assert core.client.version["kubernetes"]["gitVersion"] == "v1.31.4"
        route = core.resource("HTTPRoute", f"{GW}/v1beta1")
        assert (route.name, route.namespaced, route.group_version) == ("httproutes", True, f"{GW}/v1beta1")
        assert "update" in route.verbs and server.requests[-1] == f"GET /apis/{GW}/v1beta1 -> 200"
        assert [path.name[:7] for path in discovery_cache.iterdir()] == ["k8srcp-"]  # the discovery cache


# --------------------------------------------------------------------------------------------------
# the adapters
# --------------------------------------------------------------------------------------------------
@pytest.fixture(autouse=True)
def fresh_default_configuration() -> Iterator[None]:
    """kubernetes.core loads a kubeconfig into the client's process-wide default configuration (one module run is
    one process); tests run many adapters in one process, so each starts from a clean default."""
    client.Configuration.set_default(None)
    yield
    client.Configuration.set_default(None)


def params(api: FakeKubeApiServer, obj_name: str, **extra: Any) -> dict[str, Any]:
    return {"name": obj_name, "namespace": NS, "route_name": "main", "route_index": None, "api_version": None,
            "kubeconfig": None, "context": None, "host": api.url, "api_key": TOKEN, "validate_certs": None,
            "ca_cert": None, **extra}


def gateway(api: FakeKubeApiServer, obj_name: str, **extra: Any) -> GatewayApiRouter:
    router = GatewayApiRouter(params(api, obj_name, **extra))
    router.members("blue", "stable")
    router.members({"name": "green", "port": 80}, "canary")
    return router


def shift(router: Any, weight: int) -> dict[str, int]:
    members = [router._pools["stable"][0], router._pools["canary"][0]]
    current = router.get_weights(members)
    target = server_weights(weight, members[:1], members[1:], router.max_weight, router.reduce_weights)
    if current != target:
        router.set_weights(current, target)
    return router.verify(target)


def test_missing_kubernetes_library_is_a_clear_error(monkeypatch: pytest.MonkeyPatch,
                                                     api: FakeKubeApiServer) -> None:
    monkeypatch.setattr(k8s_router, "KUBERNETES", Dependency("no_such_module_here", "kubernetes", "29.0"))
    with pytest.raises(ModuleFailure, match=r"kubernetes >= 29\.0.*for router=istio") as failure:
        IstioRouter(params(api, "x"))
    assert failure.value.option == "router" and "no_such_module_here" in failure.value.result["exception"]


def test_module_utils_import_without_the_library(monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins
    import importlib
    import importlib.util
    import sys

    real_import = builtins.__import__

    def no_kubernetes(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "kubernetes" or name.startswith("kubernetes."):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    real_find_spec = importlib.util.find_spec

    def no_kubernetes_spec(name: str, *args: Any, **kwargs: Any) -> Any:
        return None if name == "kubernetes" else real_find_spec(name, *args, **kwargs)

    module_name = k8s_router.__name__
    monkeypatch.setattr(builtins, "__import__", no_kubernetes)
    monkeypatch.setattr(importlib.util, "find_spec", no_kubernetes_spec)
    monkeypatch.delitem(sys.modules, module_name)
    try:
        reloaded = importlib.import_module(module_name)
        assert reloaded.k8s_client is None
        with pytest.raises(ModuleFailure, match=r"kubernetes >= 29\.0.*for router=gateway_api"):
            reloaded.GatewayApiRouter({"name": "x"})
    finally:
        monkeypatch.undo()
        sys.modules[module_name] = k8s_router


def test_required_and_exclusive_options_are_declared_to_the_registry() -> None:
    assert ("router", "gateway_api", ["name"]) in registry.required_if()
    assert ["route_name", "route_index"] in registry.mutually_exclusive()
    with pytest.raises(ModuleFailure, match=r"router is istio but all of the following are missing: name$"):
        registry.select({"router": "istio", "name": None})
    assert registry.select({"router": "istio", "name": "x"}) is IstioRouter


def test_connection_options_are_kubernetes_core_ones() -> None:
    from ansible_collections.kubernetes.core.plugins.module_utils.args_common import AUTH_ARG_SPEC
    spec = GatewayApiRouter.argument_spec()
    assert {option: spec[option] for option in AUTH_ARG_SPEC} == AUTH_ARG_SPEC
    assert spec["validate_certs"]["aliases"] == ["verify_ssl"] and spec["ca_cert"]["aliases"] == ["ssl_ca_cert"]


def test_k8s_auth_environment_gives_the_connection(api: FakeKubeApiServer, monkeypatch: pytest.MonkeyPatch) -> None:
    name = create_route(api)["metadata"]["name"]
    monkeypatch.setenv("K8S_AUTH_HOST", api.url)
    monkeypatch.setenv("K8S_AUTH_API_KEY", TOKEN)
    assert shift(gateway(api, name, host=None, api_key=None), 25) == {"blue": 75, "green:80": 25}


def test_weights_must_be_percentages(api: FakeKubeApiServer) -> None:
    router = gateway(api, "x")
    router.check_weights({"blue": 70, "green:80": 30})
    with pytest.raises(RouterError, match="must add up to 100") as failure:
        router.check_weights({"blue": 70, "green:80": 20})
    assert failure.value.option == "weights"


@pytest.mark.parametrize("extra,message", [
    ({"api_version": "v2"}, "option api_version: must be one of gateway.networking.k8s.io/v1,"),
    ({"api_version": "networking.istio.io/v1"}, "option api_version: must be one of"),
])
def test_options_are_checked(api: FakeKubeApiServer, extra: dict[str, Any], message: str) -> None:
    with pytest.raises(RouterError, match=message):
        GatewayApiRouter(params(api, "x", **extra))


@pytest.mark.parametrize("router_class,pool", [
    (IstioRouter, ["a"]), (IstioRouter, {"host": ""}), (IstioRouter, {"host": "a", "port": 1}),
    (GatewayApiRouter, {"name": "a", "port": 0}), (GatewayApiRouter, {"name": "a", "port": True}),
    (GatewayApiRouter, 5),
])
def test_bad_pools_name_the_option(api: FakeKubeApiServer, router_class: Any, pool: Any) -> None:
    with pytest.raises(RouterError, match=r"^option canary: "):
        router_class(params(api, "x")).members(pool, "canary")


def test_member_labels(api: FakeKubeApiServer) -> None:
    istio = IstioRouter(params(api, "x"))
    assert istio.members("reviews", "stable") == ["reviews"]
    assert istio.members({"host": "reviews", "subset": "v2"}, "canary") == ["reviews/v2"]
    assert gateway(api, "x")._pools == {"stable": ("blue", {"name": "blue", "port": None}),
                                        "canary": ("green:80", {"name": "green", "port": 80})}


@pytest.mark.parametrize("stable,canary,expected", [
    (75, 25, {"blue": 75, "green:80": 25}),  # what server_weights(reduce=False) gives for 25%: idempotent
    (30, 10, {"blue": 30, "green:80": 10}),  # same share in other units: the module sees the same split
    (1, 2, {"blue": 1, "green:80": 2}),
    (0, 0, {"blue": 0, "green:80": 0}),
])
def test_stored_weights_on_the_module_scale(api: FakeKubeApiServer, stable: int, canary: int,
                                            expected: dict[str, int]) -> None:
    assert gateway(api, "x")._weights_on_module_scale(stable, canary) == expected


def test_shift_writes_percentages_and_verifies(api: FakeKubeApiServer) -> None:
    name = create_route(api)["metadata"]["name"]
    for weight in (0, 5, 25, 50, 100, 0):
        router = gateway(api, name)
        assert shift(router, weight) == server_weights(weight, ["blue"], ["green:80"], 100, reduce=False)
        assert router.describe()["weights"] == {"blue": 100 - weight, "green:80": weight}
    refs = custom_objects(api).get_namespaced_custom_object(GW, GW_V, NS, ROUTES, name)["spec"]["rules"][0][
        "backendRefs"]
    assert [(ref["name"], ref["weight"]) for ref in refs] == [("blue", 100), ("green", 0)]


def test_conflict_on_another_part_of_the_object_is_retried(api: FakeKubeApiServer) -> None:
    name = create_route(api)["metadata"]["name"]
    router = gateway(api, name)
    current = router.get_weights(["blue", "green:80"])
    api.store.mutate(GATEWAY_HTTPROUTE, NS, name, lambda obj: obj["metadata"].update(labels={"other": "writer"}))
    router.set_weights(current, {"blue": 1, "green:80": 1})
    obj = custom_objects(api).get_namespaced_custom_object(GW, GW_V, NS, ROUTES, name)
    assert obj["metadata"]["labels"] == {"other": "writer"}
    assert [ref["weight"] for ref in obj["spec"]["rules"][0]["backendRefs"]] == [50, 50]


def test_conflict_on_the_route_is_an_error_and_not_overwritten(api: FakeKubeApiServer) -> None:
    name = create_route(api)["metadata"]["name"]
    router = gateway(api, name)
    current = router.get_weights(["blue", "green:80"])

    def other(obj: dict[str, Any]) -> None:
        obj["spec"]["rules"][0]["backendRefs"][0]["weight"] = 7
    api.store.mutate(GATEWAY_HTTPROUTE, NS, name, other)
    with pytest.raises(RouterError, match=f"HTTPRoute {NS}/{name} changed concurrently .*the route was changed by"
                                          " another writer; nothing was overwritten"):
        router.set_weights(current, {"blue": 1, "green:80": 1})
    obj = custom_objects(api).get_namespaced_custom_object(GW, GW_V, NS, ROUTES, name)
    assert obj["spec"]["rules"][0]["backendRefs"] == [{"name": "blue", "port": 80, "weight": 7, "group": "",
                                                       "kind": "Service"}]


def test_conflict_twice_is_an_error(api: FakeKubeApiServer) -> None:
    name = create_route(api)["metadata"]["name"]
    router = gateway(api, name)
    current = router.get_weights(["blue", "green:80"])

    def label(store: Store) -> None:  # another writer before our first PUT and again before our retry
        store.mutate(GATEWAY_HTTPROUTE, NS, name, lambda obj: obj["metadata"].update(labels={"n": str(store.revision)}))

    def label_twice(store: Store) -> None:
        label(store)
        store.before_next_write(label)
    api.store.before_next_write(label_twice)
    with pytest.raises(RouterError, match="changed again while retrying"):
        router.set_weights(current, {"blue": 1, "green:80": 1})


def test_verify_fails_when_the_stored_weights_differ(api: FakeKubeApiServer) -> None:
    name = create_route(api)["metadata"]["name"]
    router = gateway(api, name)
    current = router.get_weights(["blue", "green:80"])
    router.set_weights(current, {"blue": 75, "green:80": 25})
    api.store.mutate(GATEWAY_HTTPROUTE, NS, name,
                     lambda obj: obj["spec"]["rules"][0]["backendRefs"][1].update(weight=50))
    with pytest.raises(RouterError, match=r"verify: HTTPRoute .* has weights \{'blue': 75, 'green:80': 50\}"):
        router.verify({"blue": 75, "green:80": 25})


def test_istio_lone_destination_gets_all_traffic_and_the_canary_is_added_with_its_port(
        api: FakeKubeApiServer) -> None:
    route = [{"destination": {"host": "reviews", "subset": "v1", "port": {"number": 9080}}}]
    custom_objects(api).create_namespaced_custom_object(IS, IS_V, NS, VSS, virtualservice("lone", route))
    router = IstioRouter(params(api, "lone", route_name="primary"))
    router.members({"host": "reviews", "subset": "v1"}, "stable")
    router.members({"host": "reviews", "subset": "v2"}, "canary")
    assert router.get_weights(["reviews/v1", "reviews/v2"]) == {"reviews/v1": 100, "reviews/v2": 0}
    assert shift(router, 5) == {"reviews/v1": 95, "reviews/v2": 5}
    stored = custom_objects(api).get_namespaced_custom_object(IS, IS_V, NS, VSS, "lone")["spec"]["http"][0]["route"]
    assert stored == [{"destination": {"host": "reviews", "subset": "v1", "port": {"number": 9080}}, "weight": 95},
                      {"destination": {"host": "reviews", "subset": "v2", "port": {"number": 9080}}, "weight": 5}]


def test_route_index_and_unnamed_routes(api: FakeKubeApiServer) -> None:
    name = create_route(api, rules=[{"backendRefs": [{"name": "other", "port": 81}]},
                                    {"backendRefs": [{"name": "blue", "port": 80}]}])["metadata"]["name"]
    assert shift(gateway(api, name, route_name=None, route_index=1), 50) == {"blue": 50, "green:80": 50}
    with pytest.raises(RouterError, match=r"routes: \(unnamed, index 0\), \(unnamed, index 1\)"):
        gateway(api, name, route_name=None).get_weights(["blue", "green:80"])
    with pytest.raises(RouterError, match=r"option route_index: .* index 2 does not exist"):
        gateway(api, name, route_name=None, route_index=2).get_weights(["blue", "green:80"])


def test_kubeconfig_context_gives_server_credentials_and_namespace(api: FakeKubeApiServer, tmp_path: Path) -> None:
    name = create_route(api)["metadata"]["name"]
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "elsewhere",
        "clusters": [{"name": "fake", "cluster": {"server": api.url}}],
        "users": [{"name": "deployer", "user": {"token": TOKEN}}, {"name": "nobody", "user": {"token": "bad"}}],
        "contexts": [{"name": "shop", "context": {"cluster": "fake", "user": "deployer", "namespace": NS}},
                     {"name": "elsewhere", "context": {"cluster": "fake", "user": "nobody"}}],
    }))
    router = gateway(api, name, host=None, api_key=None, namespace=None, kubeconfig=str(kubeconfig), context="shop")
    assert router.namespace == NS
    assert shift(router, 25) == {"blue": 75, "green:80": 25}
    wrong_user = gateway(api, name, host=None, api_key=None, kubeconfig=str(kubeconfig))
    with pytest.raises(RouterError, match="rejected the credentials"):
        wrong_user.get_weights(["blue", "green:80"])
    with pytest.raises(RouterError, match="options kubeconfig/context: cannot load"):
        gateway(api, name, host=None, kubeconfig=str(tmp_path / "missing")).get_weights(["blue", "green:80"])


def test_unreachable_api_server_is_a_clear_error(api: FakeKubeApiServer) -> None:
    router = gateway(api, "x", host="http://127.0.0.1:9")
    with pytest.raises(RouterError, match=r"cannot reach the Kubernetes API server at http://127\.0\.0\.1:9"):
        router.get_weights(["blue", "green:80"])


def test_the_client_is_kubernetes_core_get_api_client(discovery_cache: Path) -> None:
    from ansible_collections.kubernetes.core.plugins.module_utils.k8s.client import get_api_client
    token = f"adapter-{uuid.uuid4().hex}"
    with FakeKubeApiServer(token=token) as server:
        name = create_route(server, token=token)["metadata"]["name"]
        server.requests.clear()
        router = gateway(server, name, api_key=token)
        assert shift(router, 25) == {"blue": 75, "green:80": 25}
        path = f"/apis/{GW}/{GW_V}/namespaces/{NS}/{ROUTES}/{name}"
        assert server.requests == ["GET /version -> 200", "GET /apis -> 200", f"GET {path} -> 200",
                                   f"PUT {path} -> 200", f"GET {path} -> 200"]
        # the very ApiClient of kubernetes.core's client (kubernetes.core keeps one per configuration)
        assert router._client().api_client is get_api_client(host=server.url, api_key=token).client.client
        assert len(list(discovery_cache.glob("k8srcp-*.json"))) == 1


def test_wrong_token_is_refused_at_discovery(discovery_cache: Path) -> None:
    with FakeKubeApiServer(token=TOKEN) as server:
        router = gateway(server, "x", api_key=f"wrong-{uuid.uuid4().hex}")
        with pytest.raises(RouterError, match=rf"API server at {server.url} rejected the credentials \(401"
                                              r" Unauthorized\): check option api_key"):
            router.get_weights(["blue", "green:80"])
        assert server.requests == ["GET /version -> 401"]


def test_a_server_without_discovery_is_not_a_kubernetes_api_server(api: FakeKubeApiServer) -> None:
    router = gateway(api, "x", host=f"{api.url}/not-kubernetes/")
    with pytest.raises(RouterError, match=rf"cannot read the discovery documents \(/version, /apis\) of the"
                                          rf" Kubernetes API server at {api.url}/not-kubernetes: 404 Not Found"):
        router.get_weights(["blue", "green:80"])


def test_unreadable_certificate_names_the_option(api: FakeKubeApiServer, tmp_path: Path) -> None:
    missing = tmp_path / "missing-ca.pem"
    router = gateway(api, "x", host="https://127.0.0.1:9", ca_cert=str(missing))
    with pytest.raises(RouterError, match=f"option ca_cert: cannot read {missing}: No such file") as failure:
        router.get_weights(["blue", "green:80"])
    assert failure.value.option == "ca_cert"


def test_discovery_cache_per_server_and_a_stale_one_does_not_mislead(discovery_cache: Path) -> None:
    """kubernetes.core's discovery cache is one file per host (and user): fake servers on other ports get their
    own, and when the file exists nothing is asked. The adapter reads and writes by group, version and plural
    and never uses what discovery found, so a cache that no longer tells the truth changes nothing."""
    with FakeKubeApiServer() as first, FakeKubeApiServer(served={IS: ("v1beta1",)}) as second:
        for server in (first, second):
            server.store.create(ISTIO_VIRTUALSERVICE, "v1beta1", NS, {
                **virtualservice("reviews", [{"destination": {"host": "r", "subset": "v1"}}]),
                "apiVersion": f"{IS}/v1beta1"})
        assert shift(istio(first, api_key="a"), 5) == {"r/v1": 95, "r/v2": 5}
        assert shift(istio(second, api_key="a"), 5) == {"r/v1": 95, "r/v2": 5}
        assert [r for r in first.requests if "/namespaces/" not in r] == ["GET /version -> 200", "GET /apis -> 200"]
        discovery_requests = [r for r in second.requests if "/namespaces/" not in r]
        assert discovery_requests == ["GET /version -> 200", "GET /apis -> 200"]
        assert len(list(discovery_cache.glob("k8srcp-*.json"))) == 2
        first.served[IS] = ("v1beta1",)  # the cache of the first server still says v1 is preferred
        first.requests.clear()
        router = istio(first, api_key="b")  # another credential: a new client, which loads the cache file
        assert shift(router, 25) == {"r/v1": 75, "r/v2": 25}
        assert not [r for r in first.requests if "/namespaces/" not in r]  # nothing asked: the cache was used
        assert router.describe()["api_version"] == f"{IS}/v1beta1"  # v1 answered 404, v1beta1 was used


def istio(server: FakeKubeApiServer, **extra: Any) -> IstioRouter:
    router = IstioRouter(params(server, "reviews", route_name="primary", **extra))
    router.members({"host": "r", "subset": "v1"}, "stable")
    router.members({"host": "r", "subset": "v2"}, "canary")
    return router


def test_a_server_answering_html_is_a_clear_error() -> None:
    class Html(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"<html>a login page</html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Html)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        router = GatewayApiRouter({"name": "x", "namespace": NS, "host": url, "api_key": TOKEN})
        router.members("blue", "stable")
        router.members({"name": "green", "port": 80}, "canary")
        with pytest.raises(RouterError, match=rf"cannot read the discovery documents \(/version, /apis\) of the"
                                              rf" Kubernetes API server at {url}: not a discovery document"):
            router.get_weights(["blue", "green:80"])
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
