# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The discovery documents of the fake API server, shaped as a real kube-apiserver (1.31) serves them.

A client (kubernetes.dynamic's discoverer, which kubernetes.core's ``get_api_client()`` builds) reads
``GET /version`` and ``GET /apis`` when it is created, then ``/apis/<group>/<version>`` (and ``/api/v1`` for
core kinds) when it looks a resource up:

``/version``                  version.Info (no kind: it is not an API object)
``/api``                      APIVersions (kind, no apiVersion, as the real server sends it)
``/api/v1``                   APIResourceList of the core group (kind, groupVersion, no apiVersion); empty:
                              this fake serves no core objects
``/apis``                     APIGroupList (apiVersion v1) of the groups served, preferredVersion first
``/apis/<group>``             APIGroup (apiVersion v1)
``/apis/<group>/<version>``   APIResourceList (apiVersion v1) with name, singularName, namespaced, kind, verbs,
                              shortNames and categories of each resource

The verbs are the ones this fake serves (no watch, no deletecollection, no status subresource), so a client
never sees a verb it cannot use. A group or version that is not served is not listed (and its paths are
``404 page not found``).
"""
from __future__ import annotations

from typing import Any

from tests.fake_k8s.store import RESOURCES, Resource

#: version.Info of the fake (a real server's fields; the build is the fake's own, not a Kubernetes release)
VERSION_INFO: dict[str, str] = {
    "major": "1",
    "minor": "31",
    "gitVersion": "v1.31.4",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2026-01-01T00:00:00Z",
    "goVersion": "go1.22.10",
    "compiler": "gc",
    "platform": "linux/amd64",
}
#: what the fake serves on each custom-object path
VERBS = ["delete", "get", "list", "patch", "create", "update"]
#: the address a client is told to use (the real server sends its advertise address)
SERVER_ADDRESS = "127.0.0.1:6443"

Served = dict[str, tuple[str, ...]]  # group -> versions served, preferred first


def version_info() -> dict[str, str]:
    return dict(VERSION_INFO)


def core_versions() -> dict[str, Any]:
    return {"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": SERVER_ADDRESS}]}


def core_resources() -> dict[str, Any]:
    return {"kind": "APIResourceList", "groupVersion": "v1", "resources": []}


def _group(name: str, versions: tuple[str, ...]) -> dict[str, Any]:
    listed = [{"groupVersion": f"{name}/{version}", "version": version} for version in versions]
    return {"name": name, "versions": listed, "preferredVersion": dict(listed[0])}


def _served_groups(served: Served) -> list[tuple[str, tuple[str, ...]]]:
    groups: dict[str, tuple[str, ...]] = {}
    for res in RESOURCES:
        versions = served.get(res.group, ())
        if versions:
            groups[res.group] = versions
    return list(groups.items())


def group_list(served: Served) -> dict[str, Any]:
    return {"kind": "APIGroupList", "apiVersion": "v1",
            "groups": [_group(name, versions) for name, versions in _served_groups(served)]}


def group(served: Served, name: str) -> dict[str, Any] | None:
    versions = dict(_served_groups(served)).get(name)
    if not versions:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group(name, versions)}


def resource_list(served: Served, name: str, version: str) -> dict[str, Any] | None:
    found = [res for res in RESOURCES if res.group == name and version in dict(_served_groups(served)).get(name, ())]
    if not found:
        return None
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": f"{name}/{version}",
            "resources": [_resource(res) for res in found]}


def _resource(res: Resource) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": res.plural, "singularName": res.kind.lower(), "namespaced": True,
                             "kind": res.kind, "verbs": list(VERBS)}
    if res.short_names:
        entry["shortNames"] = list(res.short_names)
    if res.categories:
        entry["categories"] = list(res.categories)
    return entry


def document(served: Served, path: str) -> dict[str, Any] | None:
    """The discovery document at ``path`` (without query), or None when it is not a discovery path served."""
    parts = [part for part in path.split("/") if part]
    if parts == ["version"]:
        return version_info()
    if parts == ["api"]:
        return core_versions()
    if parts == ["api", "v1"]:
        return core_resources()
    if parts == ["apis"]:
        return group_list(served)
    if len(parts) == 2 and parts[0] == "apis":
        return group(served, parts[1])
    if len(parts) == 3 and parts[0] == "apis":
        return resource_list(served, parts[1], parts[2])
    return None
