# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""canary_shift with router=istio and router=gateway_api, through a real ansible-playbook, against the fake API
server of tests/fake_k8s (no Kubernetes API server can run on this machine). The module talks to it with the real
``kubernetes`` client over HTTP, with a bearer token."""
from __future__ import annotations

import copy
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fake_k8s.server import FakeKubeApiServer
from tests.fake_k8s.store import GATEWAY_HTTPROUTE, ISTIO_VIRTUALSERVICE, Resource, Store
from tests.integration.prom_helpers import run_playbook

TOKEN = f"fake-k8s-token-{uuid.uuid4().hex}"
NS = "shop"
STEPS = [0, 5, 25, 50, 100]
V1 = {"host": "reviews.shop.svc.cluster.local", "subset": "v1"}
V2 = {"host": "reviews.shop.svc.cluster.local", "subset": "v2"}


@pytest.fixture(scope="module")
def api() -> Iterator[FakeKubeApiServer]:
    with FakeKubeApiServer(token=TOKEN) as server:
        yield server


@pytest.fixture(autouse=True)
def discovery_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The module's temp directory (TMPDIR, inherited through ansible-playbook): kubernetes.core's discovery cache
    (``k8srcp-<sha256(host-user)>.json``) goes there, not to /tmp where a fake server of an earlier run on the same
    port may have left one."""
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    return tmp_path


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def virtual_service(api: FakeKubeApiServer, routes: list[dict[str, Any]] | None = None) -> str:
    name = unique("reviews")
    routes = routes if routes is not None else [
        {"name": "canary-header", "match": [{"headers": {"x-canary": {"exact": "1"}}}],
         "route": [{"destination": V2}]},
        {"name": "primary", "retries": {"attempts": 3, "perTryTimeout": "2s"},
         "route": [{"destination": {**V1, "port": {"number": 9080}}, "weight": 100},
                   {"destination": {**V2, "port": {"number": 9080}}, "weight": 0}]},
    ]
    api.store.create(ISTIO_VIRTUALSERVICE, "v1", NS, {
        "apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
        "metadata": {"name": name, "labels": {"app": "reviews"}},
        "spec": {"hosts": ["reviews.shop.svc.cluster.local"], "http": routes, "x-unknown-field": {"kept": True}},
    })
    return name


def http_route(api: FakeKubeApiServer, rules: list[dict[str, Any]] | None = None) -> str:
    name = unique("shop")
    rules = rules if rules is not None else [
        {"name": "api", "matches": [{"path": {"type": "PathPrefix", "value": "/api"}}],
         "backendRefs": [{"name": "api-blue", "port": 8080}]},
        {"name": "web", "backendRefs": [{"name": "web-blue", "port": 80, "weight": 1}],
         "timeouts": {"request": "10s"}},
    ]
    api.store.create(GATEWAY_HTTPROUTE, "v1", NS, {
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute", "metadata": {"name": name},
        "spec": {"parentRefs": [{"name": "gw"}], "rules": rules},
    })
    return name


def stored(api: FakeKubeApiServer, res: Resource, name: str) -> dict[str, Any]:
    return api.store.get(res, res.versions[0], NS, name)


def shift(api: FakeKubeApiServer, router: str, obj_name: str, weight: int, **options: Any) -> dict[str, Any]:
    if router == "istio":
        pools = {"route_name": "primary", "stable": V1, "canary": V2}
    else:
        pools = {"route_name": "api", "stable": "api-blue", "canary": {"name": "api-green", "port": 8080}}
    args = {"router": router, "name": obj_name, "namespace": NS, "host": api.url, "api_key": TOKEN,
            "weight": weight, **pools}
    args.update(options)
    return {"name": f"shift {weight}", "progressive.delivery.canary_shift": args}


def istio_weights(obj: dict[str, Any]) -> dict[str, int]:
    route = next(r for r in obj["spec"]["http"] if r.get("name") == "primary")
    return {ref["destination"]["subset"]: ref["weight"] for ref in route["route"]}


def gateway_weights(obj: dict[str, Any]) -> dict[str, int]:
    rule = next(r for r in obj["spec"]["rules"] if r.get("name") == "api")
    return {ref["name"]: ref["weight"] for ref in rule["backendRefs"]}


def without(obj: dict[str, Any], *paths: tuple[str, ...]) -> dict[str, Any]:
    obj = copy.deepcopy(obj)
    for path in paths:
        parent = obj
        for key in path[:-1]:
            parent = parent[key]
        parent.pop(path[-1], None)
    return obj


# --------------------------------------------------------------------------------------------------
# weight steps and idempotency
# --------------------------------------------------------------------------------------------------
def test_istio_weight_steps_are_stored_exactly_and_everything_else_is_kept(api: FakeKubeApiServer,
                                                                           discovery_cache: Path) -> None:
    name = virtual_service(api)
    api.requests.clear()
    before = stored(api, ISTIO_VIRTUALSERVICE, name)
    tasks = []
    for weight in STEPS:
        tasks += [shift(api, "istio", name, weight), {**shift(api, "istio", name, weight), "name": f"again {weight}"}]
    history_start = len(api.store.history)
    run = run_playbook(tasks)

    writes = api.store.history[history_start:]
    # 0 is already the state: no write; every other step is exactly one write, and no repeat writes
    assert [istio_weights(obj) for obj in writes] == [{"v1": 100 - w, "v2": w} for w in STEPS[1:]]
    for weight in STEPS:
        result, again = run[f"shift {weight}"], run[f"again {weight}"]
        assert not result.get("failed"), result
        assert result["changed"] is (weight != 0)
        assert again["changed"] is False and not again.get("failed"), again
        assert result["effective_weight"] == weight and again["previous_weight"] == weight
        assert result["target"]["weights"] == {f"{V1['host']}/v1": 100 - weight, f"{V2['host']}/v2": weight}
    after = stored(api, ISTIO_VIRTUALSERVICE, name)
    # only the two weights changed: the other route, retries, ports, labels and unknown fields are untouched
    primary = ("spec", "http", 1, "route")
    assert without(after, ("metadata",), primary) == without(before, ("metadata",), primary)
    assert after["metadata"]["labels"] == {"app": "reviews"}
    assert after["metadata"]["generation"] == before["metadata"]["generation"] + 4
    # kubernetes.core's client: the first task's discovery (/version, /apis) is cached in the temp directory
    # and the next tasks (each its own module process) read the cache instead of asking again
    assert [r for r in api.requests if "/namespaces/" not in r] == ["GET /version -> 200", "GET /apis -> 200"]
    assert len(list(discovery_cache.glob("k8srcp-*.json"))) == 1


def test_gateway_api_weight_steps_add_the_canary_backend_ref(api: FakeKubeApiServer) -> None:
    name = http_route(api)
    before = stored(api, GATEWAY_HTTPROUTE, name)
    tasks = []
    for weight in STEPS:
        tasks += [shift(api, "gateway_api", name, weight),
                  {**shift(api, "gateway_api", name, weight), "name": f"again {weight}"}]
    history_start = len(api.store.history)
    run = run_playbook(tasks)

    writes = api.store.history[history_start:]
    # the backendRef api-green is absent at first: weight 0 needs no change, weight 5 adds it
    assert [gateway_weights(obj) for obj in writes] == [{"api-blue": 100 - w, "api-green": w} for w in STEPS[1:]]
    for weight in STEPS:
        assert run[f"shift {weight}"]["changed"] is (weight != 0), run[f"shift {weight}"]
        assert run[f"again {weight}"]["changed"] is False, run[f"again {weight}"]
    after = stored(api, GATEWAY_HTTPROUTE, name)
    added = after["spec"]["rules"][0]["backendRefs"][1]
    assert added == {"group": "", "kind": "Service", "name": "api-green", "port": 8080, "weight": 100}
    assert after["spec"]["rules"][1] == before["spec"]["rules"][1]


def test_gateway_api_back_to_zero_keeps_the_canary_with_weight_zero(api: FakeKubeApiServer) -> None:
    name = http_route(api)
    run = run_playbook([shift(api, "gateway_api", name, 50), {**shift(api, "gateway_api", name, 0), "name": "zero"}])
    assert run["zero"]["changed"] is True and run["zero"]["previous_weight"] == 50
    assert gateway_weights(stored(api, GATEWAY_HTTPROUTE, name)) == {"api-blue": 100, "api-green": 0}


def test_check_mode_changes_nothing(api: FakeKubeApiServer) -> None:
    name = virtual_service(api)
    before = stored(api, ISTIO_VIRTUALSERVICE, name)
    run = run_playbook([{**shift(api, "istio", name, 25), "check_mode": True}], args=("--diff",))
    result = run["shift 25"]
    assert result["changed"] is True and not result.get("failed"), result
    assert result["diff"]["after"] == {f"{V1['host']}/v1": 75, f"{V2['host']}/v2": 25}
    assert stored(api, ISTIO_VIRTUALSERVICE, name) == before  # resourceVersion included


def test_weights_map_and_k8s_auth_environment(api: FakeKubeApiServer) -> None:
    """Explicit percentages; the connection from kubernetes.core's K8S_AUTH_* variables (no host/api_key)."""
    name = virtual_service(api)
    task = shift(api, "istio", name, 0)
    args = {key: value for key, value in task["progressive.delivery.canary_shift"].items()
            if key not in ("host", "api_key", "weight")}
    weights = {f"{V1['host']}/v1": 60, f"{V2['host']}/v2": 40}
    run = run_playbook([{"name": "map", "environment": {"K8S_AUTH_HOST": api.url, "K8S_AUTH_API_KEY": TOKEN},
                         "progressive.delivery.canary_shift": {**args, "weights": weights}}])
    assert run["map"]["changed"] is True and run["map"]["after"] == weights, run["map"]
    assert istio_weights(stored(api, ISTIO_VIRTUALSERVICE, name)) == {"v1": 60, "v2": 40}


# --------------------------------------------------------------------------------------------------
# concurrency
# --------------------------------------------------------------------------------------------------
def test_concurrent_edit_of_the_route_is_a_conflict_and_the_other_change_is_kept(api: FakeKubeApiServer) -> None:
    name = virtual_service(api)

    def other_writer(store: Store) -> None:
        def change(obj: dict[str, Any]) -> None:
            obj["spec"]["http"][1]["route"][0]["weight"] = 90
            obj["spec"]["http"][1]["route"][1]["weight"] = 10
        store.mutate(ISTIO_VIRTUALSERVICE, NS, name, change)

    api.store.before_next_write(other_writer)
    result = run_playbook([shift(api, "istio", name, 50)])["shift 50"]
    assert result.get("failed"), result
    assert "changed concurrently" in result["msg"] and "nothing was overwritten" in result["msg"], result["msg"]
    assert f"VirtualService {NS}/{name}" in result["msg"]
    assert istio_weights(stored(api, ISTIO_VIRTUALSERVICE, name)) == {"v1": 90, "v2": 10}


def test_concurrent_edit_elsewhere_is_retried_once_and_both_changes_are_kept(api: FakeKubeApiServer) -> None:
    name = http_route(api)

    def other_writer(store: Store) -> None:
        def change(obj: dict[str, Any]) -> None:
            obj["metadata"].setdefault("labels", {})["team"] = "web"
            obj["spec"]["rules"][1]["timeouts"]["request"] = "20s"
        store.mutate(GATEWAY_HTTPROUTE, NS, name, change)

    api.store.before_next_write(other_writer)
    result = run_playbook([shift(api, "gateway_api", name, 25)])["shift 25"]
    assert result["changed"] is True and not result.get("failed"), result
    after = stored(api, GATEWAY_HTTPROUTE, name)
    assert gateway_weights(after) == {"api-blue": 75, "api-green": 25}
    assert after["metadata"]["labels"] == {"team": "web"}
    assert after["spec"]["rules"][1]["timeouts"]["request"] == "20s"


# --------------------------------------------------------------------------------------------------
# errors: clear message, nothing changed
# --------------------------------------------------------------------------------------------------
def test_wrong_token_is_a_clear_error_and_no_token_is_printed(api: FakeKubeApiServer) -> None:
    name = virtual_service(api)
    wrong = f"wrong-token-{uuid.uuid4().hex}"
    task = shift(api, "istio", name, 25, api_key=wrong)
    run = run_playbook([task], json_output=False, args=("-vvv",))
    output = run.stdout + run.stderr
    assert "401 Unauthorized" in output and "check option api_key" in output, output[-3000:]
    assert wrong not in output and TOKEN not in output
    assert istio_weights(stored(api, ISTIO_VIRTUALSERVICE, name)) == {"v1": 100, "v2": 0}


BAD_INPUT: list[tuple[str, dict[str, Any], str]] = [
    ("istio", {"route_name": "nope"},
     "option route_name: no http route named 'nope' in VirtualService shop/{name}; routes: 'canary-header',"
     " 'primary'"),
    ("gateway_api", {"route_name": "nope"},
     "option route_name: no rules route named 'nope' in HTTPRoute shop/{name}; routes: 'api', 'web'"),
    ("istio", {"route_name": None}, "option route_name is required: VirtualService shop/{name} has 2 http routes"),
    ("istio", {"stable": {"host": V1["host"], "subset": "v9"}},
     "option stable: destination reviews.shop.svc.cluster.local/v9 not found in http route 'primary' of"
     " VirtualService shop/{name}; destinations there: reviews.shop.svc.cluster.local/v1,"
     " reviews.shop.svc.cluster.local/v2"),
    ("gateway_api", {"stable": "api-bleu"},
     "option stable: backendRef api-bleu not found in rules route 'api' of HTTPRoute shop/{name};"
     " backendRefs there: api-blue:8080"),
    ("gateway_api", {"canary": "api-green"},
     "option canary: backendRef api-green is not in HTTPRoute shop/{name} yet; to add it give its port"),
    ("istio", {"name": "missing"},
     "VirtualService 'missing' not found in namespace 'shop' (networking.istio.io/v1; options name and"
     " namespace)"),
    ("istio", {"namespace": "elsewhere"}, "VirtualService '{name}' not found in namespace 'elsewhere'"),
    ("istio", {"name": None}, "router is istio but all of the following are missing: name"),
    ("istio", {"route_index": 1}, "parameters are mutually exclusive: route_name|route_index"),
    ("istio", {"weights": {"reviews.shop.svc.cluster.local/v1": 70, "reviews.shop.svc.cluster.local/v2": 20}},
     "option weights: VirtualService weights are stored as percentages and must add up to 100"),
    ("istio", {"stable": ["a", "b"]}, "option stable: an istio pool is a destination"),
    ("gateway_api", {"api_version": "networking.istio.io/v1"},
     "option api_version: must be one of gateway.networking.k8s.io/v1, gateway.networking.k8s.io/v1beta1"),
]


def test_bad_input_is_a_clear_error_and_nothing_changes(api: FakeKubeApiServer) -> None:
    cases = []
    for index, (router, options, expected) in enumerate(BAD_INPUT):
        name = virtual_service(api) if router == "istio" else http_route(api)
        res = ISTIO_VIRTUALSERVICE if router == "istio" else GATEWAY_HTTPROUTE
        task = {**shift(api, router, name, 25, **options), "name": f"case {index}"}
        if "weights" in options:
            del task["progressive.delivery.canary_shift"]["weight"]
        cases.append((task, res, name, stored(api, res, name), expected.format(name=name)))
    run = run_playbook([case[0] for case in cases])  # one ansible-playbook for all cases: each task fails alone
    for task, res, name, before, expected in cases:
        result = run[task["name"]]
        assert result.get("failed") and expected in result["msg"], (task, result.get("msg"))
        assert stored(api, res, name) == before


def test_other_weighted_destinations_are_refused(api: FakeKubeApiServer) -> None:
    v3 = {**V1, "subset": "v3"}
    name = virtual_service(api, [{"name": "primary", "route": [
        {"destination": V1, "weight": 80}, {"destination": V2, "weight": 10}, {"destination": v3, "weight": 10}]}])
    result = run_playbook([shift(api, "istio", name, 25)])["shift 25"]
    assert result.get("failed")
    assert "also sends traffic to reviews.shop.svc.cluster.local/v3" in result["msg"], result["msg"]


def test_api_server_validation_error_is_surfaced(api: FakeKubeApiServer) -> None:
    refs = [{"name": "api-blue", "port": 8080, "weight": 100}]
    refs += [{"name": f"old-{i}", "port": 8080, "weight": 0} for i in range(15)]  # 16: the CRD's maximum
    name = http_route(api, [{"name": "api", "backendRefs": refs}])
    result = run_playbook([shift(api, "gateway_api", name, 5)])["shift 5"]
    assert result.get("failed")
    assert "422 Invalid" in result["msg"] and "spec.rules[0].backendRefs: Too many: 17: must have at most 16" \
        in result["msg"], result["msg"]


def test_falls_back_to_v1beta1_when_v1_is_not_served() -> None:
    with FakeKubeApiServer(token=TOKEN, served={"networking.istio.io": ("v1beta1", "v1alpha3")}) as old_istio:
        name = virtual_service_v1beta1(old_istio)
        run = run_playbook([shift(old_istio, "istio", name, 5),
                            {**shift(old_istio, "istio", name, 5, api_version="v1"), "name": "pinned v1"}])
        assert run["shift 5"]["changed"] is True, run["shift 5"]
        assert run["shift 5"]["target"]["api_version"] == "networking.istio.io/v1beta1"
        assert "does not serve virtualservices.networking.istio.io in networking.istio.io/v1" \
            in run["pinned v1"]["msg"], run["pinned v1"]
        stored_obj = old_istio.store.get(ISTIO_VIRTUALSERVICE, "v1beta1", NS, name)
        assert istio_weights(stored_obj) == {"v1": 95, "v2": 5}


def virtual_service_v1beta1(api: FakeKubeApiServer) -> str:
    name = unique("reviews")
    api.store.create(ISTIO_VIRTUALSERVICE, "v1beta1", NS, {
        "apiVersion": "networking.istio.io/v1beta1", "kind": "VirtualService", "metadata": {"name": name},
        "spec": {"http": [{"name": "primary", "route": [{"destination": V1}]}]}})
    return name
