# -*- coding: utf-8 -*-
# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""progressive.delivery.image_promote against the lab's two real registries (Debian docker-registry 2.8).

``registry`` (127.0.0.1:15000) has no auth and holds the demo image; ``registry_auth`` (127.0.0.1:15001) wants
htpasswd Basic auth. Every test works under its own namespace (``promote-<random>/...``) so runs never collide;
the demo-app repository itself is only read. The multi-arch image is built here with the registry HTTP API: two
small single-layer images (different content, amd64 and arm64) and an OCI index referencing them.

Mount versus upload is checked three ways: the module's counters, a HEAD of every blob at the destination, and
the registry's storage: an upload session leaves ``<repository>/_uploads/`` behind, a cross-repository mount
does not.
"""
from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import tarfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.integration.prom_helpers import run_playbook
from tests.lab import lab as labmod

pytestmark = pytest.mark.lab

MODULE = "progressive.delivery.image_promote"
ACCEPT = ", ".join((
    "application/vnd.oci.image.index.v1+json", "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json", "application/vnd.docker.distribution.manifest.v2+json"))
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
AUTH = (labmod.REGISTRY_USER, labmod.REGISTRY_PASSWORD)


# --------------------------------------------------------------------------------------------------
# registry HTTP helpers (the test's own view, independent of the module)
# --------------------------------------------------------------------------------------------------
class Registry:
    def __init__(self, port: int, storage: Path, auth: tuple[str, str] | None = None) -> None:
        self.host = f"127.0.0.1:{port}"
        self.base = f"http://{self.host}/v2"
        self.storage = storage / "docker" / "registry" / "v2" / "repositories"
        self.session = requests.Session()
        self.session.auth = auth

    def manifest(self, repo: str, ref: str) -> requests.Response:
        return self.session.get(f"{self.base}/{repo}/manifests/{ref}", headers={"Accept": ACCEPT}, timeout=30)

    def digest(self, repo: str, ref: str) -> str | None:
        resp = self.session.head(f"{self.base}/{repo}/manifests/{ref}", headers={"Accept": ACCEPT}, timeout=30)
        return resp.headers["Docker-Content-Digest"] if resp.status_code == 200 else None

    def has_blob(self, repo: str, digest: str) -> bool:
        return self.session.head(f"{self.base}/{repo}/blobs/{digest}", timeout=30).status_code == 200

    def push_blob(self, repo: str, data: bytes) -> dict[str, Any]:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        resp = self.session.post(f"{self.base}/{repo}/blobs/uploads/", timeout=30)
        assert resp.status_code == 202, resp.text
        location = requests.compat.urljoin(self.base, resp.headers["Location"])
        resp = self.session.put(location, params={"digest": digest}, data=data,
                                headers={"Content-Type": "application/octet-stream"}, timeout=30)
        assert resp.status_code == 201, resp.text
        return {"digest": digest, "size": len(data)}

    def put_manifest(self, repo: str, ref: str, document: dict[str, Any]) -> dict[str, Any]:
        body = json.dumps(document, separators=(",", ":")).encode()
        resp = self.session.put(f"{self.base}/{repo}/manifests/{ref}", data=body,
                                headers={"Content-Type": document["mediaType"]}, timeout=30)
        assert resp.status_code == 201, resp.text
        return {"mediaType": document["mediaType"], "digest": "sha256:" + hashlib.sha256(body).hexdigest(),
                "size": len(body)}

    def uploads_dir(self, repo: str) -> Path:
        return self.storage / repo / "_uploads"

    def uploads(self, repo: str) -> set[str]:
        """Names of the upload sessions the registry holds for repo."""
        folder = self.uploads_dir(repo)
        return {entry.name for entry in folder.iterdir()} if folder.exists() else set()


def layer_tarball(name: str, content: bytes) -> tuple[bytes, str]:
    """A gzipped tar with one file; returns (blob, diff_id)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        info = tarfile.TarInfo(name)
        info.size = len(content)
        info.mtime = 0
        tar.addfile(info, io.BytesIO(content))
    return gzip.compress(raw.getvalue(), mtime=0), "sha256:" + hashlib.sha256(raw.getvalue()).hexdigest()


def push_small_image(registry: Registry, repo: str, tag: str, arch: str, marker: str) -> dict[str, Any]:
    """A one-layer OCI image for ``linux/<arch>``; returns its manifest descriptor (with platform)."""
    layer, diff_id = layer_tarball(f"etc/{arch}-marker", f"{arch} {marker}\n".encode())
    config = json.dumps({"architecture": arch, "os": "linux", "config": {},
                         "rootfs": {"type": "layers", "diff_ids": [diff_id]}}).encode()
    config_desc = {"mediaType": "application/vnd.oci.image.config.v1+json", **registry.push_blob(repo, config)}
    layer_desc = {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", **registry.push_blob(repo, layer)}
    descriptor = registry.put_manifest(repo, tag, {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                                                   "config": config_desc, "layers": [layer_desc]})
    descriptor["platform"] = {"architecture": arch, "os": "linux"}
    descriptor["blobs"] = [config_desc["digest"], layer_desc["digest"]]
    return descriptor


def blobs_of(registry: Registry, repo: str, ref: str) -> list[dict[str, Any]]:
    document = registry.manifest(repo, ref).json()
    return [document["config"], *document["layers"]]


def promote(**options: Any) -> dict[str, Any]:
    return run_playbook([{"name": "promote", MODULE: options}])["promote"]


# --------------------------------------------------------------------------------------------------
# fixtures
# --------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def plain(lab) -> Registry:
    return Registry(lab.ports["registry"], Path(lab.dir) / "registry" / "data")


@pytest.fixture(scope="module")
def secured(lab) -> Registry:
    return Registry(lab.ports["registry_auth"], Path(lab.dir) / "registry_auth" / "data", AUTH)


@pytest.fixture(scope="module")
def ns() -> str:
    return f"promote-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def demo(plain: Registry) -> tuple[str, str]:
    """The lab's demo image: (reference, digest)."""
    digest = plain.digest("demo-app", "latest")
    assert digest, "the lab registry has no demo-app:latest"
    return f"{plain.host}/demo-app:latest", digest


@pytest.fixture(scope="module")
def mounted(plain: Registry, demo: tuple[str, str], ns: str) -> dict[str, Any]:
    """demo-app:latest promoted to another repository of the same registry (the result)."""
    return promote(source=demo[0], destination=f"{plain.host}/{ns}/app:v1")


@pytest.fixture(scope="module")
def multiarch(plain: Registry, ns: str) -> Iterator[dict[str, Any]]:
    repo, marker = f"{ns}/multi", uuid.uuid4().hex
    children = [push_small_image(plain, repo, f"build-{arch}", arch, marker) for arch in ("amd64", "arm64")]
    index = plain.put_manifest(repo, "release", {
        "schemaVersion": 2, "mediaType": OCI_INDEX,
        "manifests": [{key: child[key] for key in ("mediaType", "digest", "size", "platform")} for child in children]})
    yield {"repo": repo, "digest": index["digest"], "children": children}


# --------------------------------------------------------------------------------------------------
# tests
# --------------------------------------------------------------------------------------------------
def test_promote_to_other_repository_mounts_blobs(mounted: dict[str, Any], plain: Registry, demo: tuple[str, str],
                                                  ns: str) -> None:
    assert not mounted.get("failed"), mounted.get("msg")
    assert mounted["changed"] is True
    assert mounted["digest"] == demo[1]
    dest = f"{plain.host}/{ns}/app:v1"
    assert mounted["before"] == {dest: None} and mounted["after"] == {dest: demo[1]}
    assert "diff" not in mounted  # changed, but diff mode is off
    blobs = blobs_of(plain, "demo-app", "latest")
    assert mounted["blobs_mounted"] == len(blobs)
    assert mounted["blobs_copied"] == 0 and mounted["bytes_copied"] == 0
    assert plain.digest(f"{ns}/app", "v1") == demo[1]
    assert all(plain.has_blob(f"{ns}/app", blob["digest"]) for blob in blobs)
    # no upload session was ever opened in the destination repository
    assert (plain.storage / ns / "app" / "_layers").is_dir()
    assert not plain.uploads_dir(f"{ns}/app").exists()


def test_retag_in_place_idempotent_and_check_mode(mounted: dict[str, Any], plain: Registry, demo: tuple[str, str],
                                                  ns: str) -> None:
    source, dest = f"{plain.host}/{ns}/app:v1", f"{plain.host}/{ns}/app:stable"
    run = run_playbook([
        {"name": "check", MODULE: {"source": source, "destination": dest}, "check_mode": True, "diff": True},
        {"name": "retag", MODULE: {"source": source, "destination": dest}, "diff": True},
        {"name": "again", MODULE: {"source": source, "destination": [dest]}},
    ])
    check, retag, again = run["check"], run["retag"], run["again"]
    assert check["changed"] is True and check["previous_digest"] == {dest: None}  # deprecated alias
    assert check["before"] == {dest: None} and check["after"] == {dest: demo[1]}
    assert check["diff"] == {"before": {dest: None}, "after": {dest: demo[1]}}
    assert retag["diff"] == check["diff"]
    assert retag["changed"] is True and not retag.get("failed"), retag.get("msg")
    # one manifest PUT of the same bytes, no blob traffic at all
    assert retag["manifests_copied"] == 1
    assert (retag["blobs_copied"], retag["blobs_mounted"], retag["blobs_existing"]) == (0, 0, 0)
    assert retag["media_type"] == "application/vnd.docker.distribution.manifest.v2+json"
    assert plain.manifest(f"{ns}/app", "stable").content == plain.manifest("demo-app", "latest").content
    assert again["changed"] is False and again["previous_digest"] == {dest: demo[1]}
    assert again["before"] == again["after"] == {dest: demo[1]}
    assert "diff" not in again


def test_copy_to_auth_registry(mounted: dict[str, Any], plain: Registry, secured: Registry, demo: tuple[str, str],
                               ns: str) -> None:
    auth = {secured.host: {"username": AUTH[0], "password": AUTH[1]}}
    source, dest = f"{plain.host}/{ns}/app:v1", f"{secured.host}/{ns}/app:v1"
    run = run_playbook([
        {"name": "check", MODULE: {"source": source, "destination": dest, "registry_auth": auth}, "check_mode": True},
        {"name": "copy", MODULE: {"source": source, "destination": dest, "registry_auth": auth,
                                  "chunk_size": 4 * 1024 * 1024}},
        {"name": "again", MODULE: {"source": source, "destination": dest, "username": AUTH[0], "password": AUTH[1]}},
    ])
    assert run["check"]["changed"] is True and run["check"]["blobs_copied"] == 0
    copy = run["copy"]
    assert not copy.get("failed"), copy.get("msg")
    blobs = blobs_of(plain, "demo-app", "latest")
    assert copy["blobs_copied"] == len(blobs) and copy["blobs_mounted"] == 0
    assert copy["bytes_copied"] == sum(blob["size"] for blob in blobs)
    assert secured.digest(f"{ns}/app", "v1") == demo[1]
    assert all(secured.has_blob(f"{ns}/app", blob["digest"]) for blob in blobs)
    assert run["again"]["changed"] is False


def test_multiarch_index_across_registries(multiarch: dict[str, Any], plain: Registry, secured: Registry, ns: str,
                                           tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    token = base64.b64encode(f"{AUTH[0]}:{AUTH[1]}".encode()).decode()
    config.write_text(json.dumps({"auths": {f"http://{secured.host}/v1/": {"auth": token}}}))
    repo = multiarch["repo"]
    result = promote(source=f"{plain.host}/{repo}:release", destination=f"{secured.host}/{repo}:release",
                     docker_config=str(config))
    assert not result.get("failed"), result.get("msg")
    assert result["media_type"] == OCI_INDEX and result["digest"] == multiarch["digest"]
    assert result["manifests_copied"] == 3
    assert result["blobs_copied"] == 4
    assert secured.digest(repo, "release") == multiarch["digest"]
    assert secured.manifest(repo, "release").content == plain.manifest(repo, "release").content
    for child in multiarch["children"]:
        assert secured.digest(repo, child["digest"]) == child["digest"]
        assert all(secured.has_blob(repo, blob) for blob in child["blobs"])

    # and within the registry to another repository: children copied, every blob mounted
    same = promote(source=f"{plain.host}/{repo}@{multiarch['digest']}", destination=f"{plain.host}/{ns}/multi2:r")
    assert not same.get("failed"), same.get("msg")
    assert (same["blobs_mounted"], same["blobs_copied"], same["manifests_copied"]) == (4, 0, 3)
    assert not plain.uploads_dir(f"{ns}/multi2").exists()


def test_keep_previous(mounted: dict[str, Any], multiarch: dict[str, Any], plain: Registry, demo: tuple[str, str],
                       ns: str) -> None:
    old = multiarch["children"][0]
    old_ref = f"{plain.host}/{multiarch['repo']}@{old['digest']}"
    dest = f"{plain.host}/{ns}/kp:stable-kr"
    run = run_playbook([
        {"name": "first", MODULE: {"source": old_ref, "destination": dest, "keep_previous": "previous-stable-kr"}},
        {"name": "check", MODULE: {"source": demo[0], "destination": dest, "keep_previous": "previous-stable-kr"},
         "check_mode": True},
        {"name": "move", MODULE: {"source": demo[0], "destination": dest, "keep_previous": "previous-stable-kr"}},
    ])
    assert run["first"]["changed"] is True and run["first"]["destinations"][0]["kept_previous"] is False
    assert run["check"]["changed"] is True and run["check"]["destinations"][0]["kept_previous"] is True
    move = run["move"]
    assert move["changed"] is True and move["destinations"][0]["kept_previous"] is True
    assert move["previous_digest"] == {dest: old["digest"]}  # check mode wrote nothing in between
    kept = f"{plain.host}/{ns}/kp:previous-stable-kr"
    assert run["check"]["before"] == move["before"] == {kept: None, dest: old["digest"]}
    assert run["check"]["after"] == move["after"] == {kept: old["digest"], dest: demo[1]}
    assert run["first"]["before"] == {dest: None}  # nothing to keep yet
    assert plain.digest(f"{ns}/kp", "stable-kr") == demo[1]
    assert plain.digest(f"{ns}/kp", "previous-stable-kr") == old["digest"]


def test_expected_digest_mismatch_writes_nothing(plain: Registry, demo: tuple[str, str], ns: str) -> None:
    wrong = "sha256:" + "0" * 64
    result = promote(source=demo[0], destination=f"{plain.host}/{ns}/guarded:v1", expected_digest=wrong)
    assert result["failed"] is True
    assert "expected_digest" in result["msg"] and wrong in result["msg"] and demo[1] in result["msg"]
    assert result["option"] == "expected_digest" and result["digest"] == demo[1] and result["changed"] is False
    assert plain.digest(f"{ns}/guarded", "v1") is None
    assert not (plain.storage / ns / "guarded").exists()
    ok = promote(source=demo[0], destination=f"{plain.host}/{ns}/guarded:v1", expected_digest=demo[1])
    assert ok["changed"] is True


def test_wrong_password_is_clear_and_never_shown(plain: Registry, secured: Registry, demo: tuple[str, str],
                                                 ns: str) -> None:
    secret = f"wrong-pw-{uuid.uuid4().hex}"
    dest = f"{secured.host}/{ns}/denied:v1"
    tasks = [
        {"name": "by_dict", MODULE: {"source": demo[0], "destination": dest,
                                     "registry_auth": {secured.host: {"username": AUTH[0], "password": secret}}}},
        {"name": "by_options", MODULE: {"source": demo[0], "destination": dest, "username": AUTH[0],
                                        "password": secret}},
    ]
    run = run_playbook(tasks)
    for name, origin, option in (("by_dict", "registry_auth", "registry_auth"),
                                 ("by_options", "username/password", "password")):
        msg = run[name]["msg"]
        assert run[name]["failed"] is True and run[name]["option"] == option
        assert secured.host in msg and repr(AUTH[0]) in msg and origin in msg, msg
    verbose = run_playbook(tasks, args=("-vvv",), json_output=False)
    output = verbose.stdout + verbose.stderr
    assert f"rejected the credentials of user {AUTH[0]!r}" in output
    assert secret not in output
    assert secret not in run.stdout + run.stderr
    assert secured.digest(f"{ns}/denied", "v1") is None

    anonymous = promote(source=demo[0], destination=dest)
    assert anonymous["failed"] is True and "requires authentication" in anonymous["msg"]
    assert "option" not in anonymous


def test_missing_source_tag(plain: Registry, ns: str) -> None:
    result = promote(source=f"{plain.host}/demo-app:no-such-tag-{ns}", destination=f"{plain.host}/{ns}/x:v1")
    assert result["failed"] is True
    assert "option source" in result["msg"] and "MANIFEST_UNKNOWN" in result["msg"], result["msg"]
    assert result["option"] == "source"

    bad = promote(source=f"{plain.host}/demo-app:latest", destination="http://nope/x:1")
    assert bad["failed"] is True and "option destination" in bad["msg"] and bad["option"] == "destination"

    low = promote(source=f"{plain.host}/demo-app:latest", destination=f"{plain.host}/{ns}/x:v1", chunk_size=10)
    assert low["failed"] is True and low["option"] == "chunk_size"


def test_state_resolved_pins_a_tag_and_writes_nothing(
        plain: Registry, secured: Registry, demo: tuple[str, str], ns: str) -> None:
    reference, digest = demo
    source = f"{secured.host}/{ns}/resolved:v1"
    assert promote(source=reference, destination=source, registry_auth={
        secured.host: {"username": AUTH[0], "password": AUTH[1]}})["changed"] is True
    tasks = [
        {"name": "tag", MODULE: {"source": reference, "state": "resolved"}},
        {"name": "by_digest", MODULE: {"source": f"{plain.host}/demo-app@{digest}", "state": "resolved"}},
        {"name": "missing", MODULE: {"source": f"{plain.host}/demo-app:no-such-tag-{ns}", "state": "resolved"}},
        {"name": "auth", MODULE: {"source": source, "state": "resolved",
                                  "registry_auth": {secured.host: {"username": AUTH[0], "password": AUTH[1]}}}},
        {"name": "anonymous", MODULE: {"source": source, "state": "resolved"}},
        {"name": "check", MODULE: {"source": reference, "state": "resolved"}, "check_mode": True},
    ]
    # The shared lab's demo-app repository may hold upload sessions of earlier pushes: compare, not expect empty.
    uploads_before = plain.uploads("demo-app")
    run = run_playbook(tasks)
    tag = run["tag"]
    assert tag["changed"] is False and tag["digest"] == digest and tag["before"] == tag["after"] == {}
    assert tag["resolved"] == f"{plain.host}/demo-app@{digest}" and tag["repository"] == f"{plain.host}/demo-app"
    assert run["by_digest"]["resolved"] == tag["resolved"]
    missing = run["missing"]
    assert missing["failed"] is True and missing["option"] == "source"
    assert "was not found" in missing["msg"] and "MANIFEST_UNKNOWN" in missing["msg"], missing["msg"]
    assert run["auth"]["resolved"] == f"{secured.host}/{ns}/resolved@{digest}"
    assert run["anonymous"]["failed"] is True and "requires authentication" in run["anonymous"]["msg"]
    assert run["check"]["resolved"] == tag["resolved"]
    assert plain.uploads("demo-app") == uploads_before
