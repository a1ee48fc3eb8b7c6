# -*- coding: utf-8 -*-
# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Pure parts of the registry client: references, auth challenges, config.json, and the auth flow (fake transport)."""
from __future__ import annotations

import base64
import io
import json
from typing import Any

import pytest
from ansible_collections.progressive.delivery.plugins.module_utils._backoff import BackoffPolicy
from ansible_collections.progressive.delivery.plugins.module_utils._registry import (
    OCI_INDEX,
    Credentials,
    ImageReference,
    Manifest,
    Promoter,
    PromotionError,
    RegistryAuthError,
    RegistryClient,
    RegistryNotFound,
    RegistryUnavailable,
    Response,
    compute_digest,
    credentials_for,
    docker_config_auths,
    manifest_blobs,
    manifest_children,
    manifest_media_type,
    parse_challenge,
    parse_reference,
    registry_auth_secrets,
    registry_base_url,
)
from ansible_collections.progressive.delivery.plugins.module_utils._result import ModuleFailure

DIGEST = "sha256:" + "a" * 64


# --------------------------------------------------------------------------------------------------
# references
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("text", "expected"), [
    ("127.0.0.1:15000/demo-app:latest", ImageReference("127.0.0.1:15000", "demo-app", "latest")),
    ("registry.example.com/shop/app:2026.11.1-42", ImageReference("registry.example.com", "shop/app", "2026.11.1-42")),
    (f"reg.example.com/a/b/c@{DIGEST}", ImageReference("reg.example.com", "a/b/c", None, DIGEST)),
    (f"reg.example.com/app:v1@{DIGEST}", ImageReference("reg.example.com", "app", "v1", DIGEST)),
    ("localhost:5000/app", ImageReference("localhost:5000", "app", "latest")),
    ("localhost/app:1", ImageReference("localhost", "app", "1")),
    ("nginx:1.27", ImageReference("docker.io", "library/nginx", "1.27")),
    ("bitnami/redis", ImageReference("docker.io", "bitnami/redis", "latest")),
    ("index.docker.io/library/alpine:3", ImageReference("docker.io", "library/alpine", "3")),
    ("[::1]:5000/app:x", ImageReference("[::1]:5000", "app", "x")),
    ("REG.Example.COM/app:v", ImageReference("reg.example.com", "app", "v")),
])
def test_parse_reference(text: str, expected: ImageReference) -> None:
    assert parse_reference(text) == expected


def test_parse_reference_default_tag_and_str() -> None:
    assert parse_reference("reg.io/app", default_tag=None).tag is None
    assert parse_reference("reg.io/app", default_tag="v2").reference == "v2"
    assert parse_reference(f"reg.io/app:v1@{DIGEST}").reference == DIGEST
    assert str(parse_reference(f"reg.io/app:v1@{DIGEST}")) == f"reg.io/app:v1@{DIGEST}"


@pytest.mark.parametrize(("text", "fragment"), [
    ("", "empty"),
    ("https://reg.io/app:1", "scheme"),
    ("reg.io/App:1", "repository"),
    ("reg.io/app:-bad", "tag"),
    ("reg.io/app@sha256:xyz", "digest"),
    ("reg.io/app//x:1", "repository"),
])
def test_parse_reference_errors(text: str, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        parse_reference(text)


@pytest.mark.parametrize(("registry", "scheme", "insecure", "url"), [
    ("127.0.0.1:15000", "auto", (), "http://127.0.0.1:15000"),
    ("localhost:5000", "auto", (), "http://localhost:5000"),
    ("[::1]:5000", "auto", (), "http://[::1]:5000"),
    ("reg.example.com", "auto", (), "https://reg.example.com"),
    ("reg.example.com:5000", "auto", ("REG.example.com:5000",), "http://reg.example.com:5000"),
    ("127.0.0.1:15000", "https", (), "https://127.0.0.1:15000"),
    ("docker.io", "auto", (), "https://registry-1.docker.io"),
])
def test_registry_base_url(registry: str, scheme: str, insecure: tuple[str, ...], url: str) -> None:
    assert registry_base_url(registry, scheme, insecure) == url


# --------------------------------------------------------------------------------------------------
# challenges and credentials
# --------------------------------------------------------------------------------------------------
def test_parse_bearer_challenge_with_commas_in_scope() -> None:
    challenge = parse_challenge('Bearer realm="https://auth.example.com/token",service="registry.example.com",'
                                'scope="repository:shop/app:pull,push"')
    assert challenge is not None and challenge.scheme == "bearer"
    assert challenge.params == {"realm": "https://auth.example.com/token", "service": "registry.example.com",
                                "scope": "repository:shop/app:pull,push"}


def test_parse_challenge_variants() -> None:
    assert parse_challenge('Basic realm="lab-registry"') == parse_challenge('basic  Realm = "lab-registry"')
    assert parse_challenge('Basic realm="lab-registry"').params == {"realm": "lab-registry"}
    unquoted = parse_challenge("Bearer realm=https://a/t, service=reg")
    assert unquoted.params == {"realm": "https://a/t", "service": "reg"}
    assert parse_challenge(r'Bearer realm="a\"b"').params == {"realm": 'a"b'}
    assert parse_challenge("") is None and parse_challenge(None) is None
    assert parse_challenge("Negotiate").scheme == "negotiate"


def test_docker_config_auths() -> None:
    auth = base64.b64encode(b"ci:pa:ss").decode()
    found = docker_config_auths({"auths": {
        "https://index.docker.io/v1/": {"auth": auth},
        "reg.example.com:5000": {"auth": auth},
        "http://127.0.0.1:15001/v2/": {"username": "u", "password": "p"},
        "helper.example.com": {},
    }, "credHelpers": {"x.example.com": "ecr-login"}})
    assert found["docker.io"] == Credentials("ci", "pa:ss", found["docker.io"].origin)
    assert found["reg.example.com:5000"].password == "pa:ss"
    assert (found["127.0.0.1:15001"].username, found["127.0.0.1:15001"].password) == ("u", "p")
    assert "helper.example.com" not in found
    assert "auths['https://index.docker.io/v1/']" in found["docker.io"].origin


@pytest.mark.parametrize(("document", "fragment"), [
    ([], "not a JSON object"),
    ({"auths": {"r": {"auth": "%%%"}}}, "not base64"),
    ({"auths": {"r": {"auth": base64.b64encode(b"nocolon").decode()}}}, "user:password"),
])
def test_docker_config_errors_never_show_secrets(document: Any, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment) as info:
        docker_config_auths(document)
    assert "nocolon" not in str(info.value)


def test_credentials_precedence() -> None:
    config = {"reg.io": Credentials("cfg", "cfg-pw", "docker_config")}
    by_host = {"REG.io": {"username": "dict", "password": "dict-pw"}}
    assert credentials_for("reg.io", by_host, "opt", "opt-pw", config).username == "dict"
    assert credentials_for("reg.io", None, "opt", "opt-pw", config).username == "opt"
    assert credentials_for("reg.io", None, None, None, config).username == "cfg"
    assert credentials_for("other.io", None, None, None, config) is None
    with pytest.raises(ValueError, match=r"registry_auth\['reg.io'\]"):
        credentials_for("reg.io", {"reg.io": {"username": "x"}}, None, None, {})
    assert registry_auth_secrets(by_host) == {"dict-pw"}


# --------------------------------------------------------------------------------------------------
# manifests
# --------------------------------------------------------------------------------------------------
def test_manifest_media_type_and_children() -> None:
    index = json.dumps({"schemaVersion": 2, "manifests": [{"digest": DIGEST, "size": 1}]}).encode()
    assert manifest_media_type("application/json", index) == OCI_INDEX
    assert manifest_media_type(OCI_INDEX + "; charset=utf-8", b"{}") == OCI_INDEX
    assert [child["digest"] for child in manifest_children(Manifest(index, OCI_INDEX, DIGEST))] == [DIGEST]
    image = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                        "config": {"digest": DIGEST, "size": 2},
                        "layers": [{"digest": "sha256:" + "b" * 64, "size": 3},
                                   {"digest": "sha256:" + "c" * 64, "size": 4, "urls": ["https://x"],
                                    "mediaType": "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"}]})
    manifest = Manifest(image.encode(), manifest_media_type(None, image.encode()), DIGEST)
    assert [blob["size"] for blob in manifest_blobs(manifest)] == [2, 3]


# --------------------------------------------------------------------------------------------------
# the auth flow, on a fake transport
# --------------------------------------------------------------------------------------------------
class FakeRegistry:
    """Bearer-protected registry + token service; records every request."""

    def __init__(self, password: str = "right") -> None:
        self.password = password
        self.calls: list[tuple[str, str, dict[str, str]]] = []
        self.tokens_issued = 0

    def __call__(self, method: str, url: str, headers: dict[str, str], body: Any, timeout: float) -> Response:
        self.calls.append((method, url, dict(headers)))
        if url.startswith("https://auth.example.com/token"):
            expected = "Basic " + base64.b64encode(f"ci:{self.password}".encode()).decode()
            if headers.get("Authorization") != expected:
                return Response(401, {}, io.BytesIO(b'{"errors":[{"code":"UNAUTHORIZED"}]}'))
            self.tokens_issued += 1
            return Response(200, {}, io.BytesIO(json.dumps({"token": f"tok{self.tokens_issued}"}).encode()))
        if headers.get("Authorization", "").startswith("Bearer tok"):
            return Response(200, {"Content-Type": OCI_INDEX}, io.BytesIO(b'{"manifests": []}'))
        challenge = 'Bearer realm="https://auth.example.com/token",service="reg.example.com",' \
                    'scope="repository:shop/app:pull"'
        return Response(401, {"WWW-Authenticate": challenge}, io.BytesIO(b""))


def client(fake: FakeRegistry, password: str) -> RegistryClient:
    return RegistryClient("reg.example.com", "https://reg.example.com", Credentials("ci", password, "registry_auth"),
                          fake, policy=BackoffPolicy(retries=0))


def test_bearer_token_fetched_once_per_scope() -> None:
    fake = FakeRegistry()
    registry = client(fake, "right")
    registry.get_manifest("shop/app", "v1")
    registry.get_manifest("shop/app", "v2")
    assert fake.tokens_issued == 1
    token_url = next(url for _m, url, _h in fake.calls if "auth.example.com" in url)
    assert "service=reg.example.com" in token_url and "scope=repository%3Ashop%2Fapp%3Apull" in token_url
    registry.manifest_digest("other/repo", "v1")  # another scope: another token
    assert fake.tokens_issued == 2


def test_bearer_wrong_password_names_user_not_password() -> None:
    fake = FakeRegistry(password="right")
    registry = client(fake, "s3cret-wrong")
    with pytest.raises(RegistryAuthError) as info:
        registry.get_manifest("shop/app", "v1")
    message = str(info.value)
    assert "'ci'" in message and "reg.example.com" in message and "registry_auth" in message
    assert "s3cret-wrong" not in message
    assert info.value.option == "registry_auth"


@pytest.mark.parametrize(("origin", "option"), [
    ("registry_auth['r.io']", "registry_auth"), ("username/password", "password"),
    ("docker_config /x/config.json auths['r.io']", "docker_config")])
def test_credentials_name_the_option_they_came_from(origin: str, option: str) -> None:
    assert Credentials("u", "p", origin).option == option


def test_basic_auth_is_sent_preemptively_after_challenge() -> None:
    seen: list[str | None] = []

    def transport(method: str, url: str, headers: dict[str, str], body: Any, timeout: float) -> Response:
        seen.append(headers.get("Authorization"))
        if not headers.get("Authorization"):
            return Response(401, {"WWW-Authenticate": 'Basic realm="r"'}, io.BytesIO(b""))
        return Response(200, {"Docker-Content-Digest": DIGEST}, io.BytesIO(b""))

    registry = RegistryClient("r.io", "https://r.io", Credentials("u", "p"), transport, policy=BackoffPolicy(retries=0))
    assert registry.manifest_digest("a", "v1") == DIGEST
    assert registry.manifest_digest("a", "v2") == DIGEST
    assert seen[0] is None and all(value and value.startswith("Basic ") for value in seen[1:]) and len(seen) == 3


def test_transient_errors_are_retried_then_reported() -> None:
    attempts = []

    def transport(method: str, url: str, headers: dict[str, str], body: Any, timeout: float) -> Response:
        attempts.append(url)
        return Response(503, {}, io.BytesIO(b'{"errors":[{"code":"UNAVAILABLE","message":"busy"}]}'))

    registry = RegistryClient("r.io", "https://r.io", None, transport, policy=BackoffPolicy(retries=2, base_delay=0),
                              sleep=lambda _s: None)
    with pytest.raises(RegistryUnavailable, match=r"gave up after 3 attempts.*UNAVAILABLE: busy"):
        registry.get_manifest("a", "v1")
    assert len(attempts) == 3


# --------------------------------------------------------------------------------------------------
# promotion (one repository, in memory: retags, keep_previous, check mode, failures)
# --------------------------------------------------------------------------------------------------
def manifest_of(text: str) -> Manifest:
    body = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [], "x": text}).encode()
    return Manifest(body, OCI_INDEX, compute_digest(body))


class MemoryRegistry:
    """One registry client in memory: manifests by digest, tags by (repository, tag)."""

    registry = "r.io"

    def __init__(self, fail_put_on: str | None = None) -> None:
        self.manifests: dict[str, Manifest] = {}
        self.tags: dict[tuple[str, str], str] = {}
        self.puts: list[str] = []
        self.fail_put_on = fail_put_on

    def push(self, repository: str, tag: str, manifest: Manifest) -> None:
        self.manifests[manifest.digest] = manifest
        self.tags[(repository, tag)] = manifest.digest

    def get_manifest(self, repository: str, reference: str) -> Manifest:
        digest = self.tags.get((repository, reference), reference)
        if digest not in self.manifests:
            raise RegistryNotFound(f"{repository}:{reference}: MANIFEST_UNKNOWN")
        return self.manifests[digest]

    def manifest_digest(self, repository: str, reference: str) -> str | None:
        return self.tags.get((repository, reference))

    def put_manifest(self, repository: str, reference: str, manifest: Manifest) -> None:
        if reference == self.fail_put_on:
            raise RegistryUnavailable(f"PUT manifest {repository}:{reference}: HTTP 503")
        self.puts.append(reference)
        self.push(repository, reference, manifest)


def promoter_with(memory: MemoryRegistry) -> Promoter:
    return Promoter(lambda _registry: memory)  # type: ignore[arg-type,return-value]


def ref(tag: str) -> ImageReference:
    return ImageReference("r.io", "app", tag)


@pytest.fixture()
def memory() -> MemoryRegistry:
    registry = MemoryRegistry()
    registry.push("app", "v2", manifest_of("v2"))
    registry.push("app", "stable", manifest_of("v1"))
    return registry


def test_promote_reports_before_and_after_of_every_reference_it_moves(memory: MemoryRegistry) -> None:
    old, new = memory.tags[("app", "stable")], memory.tags[("app", "v2")]
    promotion = promoter_with(memory).promote(ref("v2"), [ref("stable"), ref("fresh")], keep_previous="previous")
    assert promotion.changed is True
    assert promotion.before() == {"r.io/app:previous": None, "r.io/app:stable": old, "r.io/app:fresh": None}
    assert promotion.after() == {"r.io/app:previous": old, "r.io/app:stable": new, "r.io/app:fresh": new}
    assert memory.tags[("app", "previous")] == old and memory.tags[("app", "stable")] == new
    assert memory.puts == ["previous", "stable", "fresh"]  # the previous digest is kept before the tag moves
    again = promoter_with(memory).promote(ref("v2"), [ref("stable")], keep_previous="previous")
    assert again.changed is False and again.before() == again.after() == {"r.io/app:stable": new}
    assert again.keeps == [None]


def test_check_mode_reads_only_and_predicts_keep_previous(memory: MemoryRegistry) -> None:
    old = memory.tags[("app", "stable")]
    memory.push("app", "previous", memory.manifests[old])  # already where keep_previous would point it
    promotion = promoter_with(memory).promote(ref("v2"), [ref("stable")], keep_previous="previous", check_mode=True)
    assert promotion.changed is True and memory.puts == []
    assert promotion.keeps[0] is not None and promotion.keeps[0].needed is False
    assert promotion.before()["r.io/app:previous"] == promotion.after()["r.io/app:previous"] == old


def test_expected_digest_mismatch_is_a_module_failure_naming_the_option(memory: MemoryRegistry) -> None:
    with pytest.raises(ModuleFailure) as failure:
        promoter_with(memory).promote(ref("v2"), [ref("stable")], expected_digest="sha256:" + "0" * 64)
    assert failure.value.option == "expected_digest" and failure.value.result["changed"] is False
    assert failure.value.result["digest"] == memory.tags[("app", "v2")] and memory.puts == []


def test_a_missing_source_names_the_source_option(memory: MemoryRegistry) -> None:
    with pytest.raises(RegistryNotFound) as error:
        promoter_with(memory).promote(ref("nope"), [ref("stable")])
    assert error.value.option == "source" and "option source" in str(error.value)


def test_a_failure_midway_carries_what_was_done(memory: MemoryRegistry) -> None:
    memory.fail_put_on = "second"
    new = memory.tags[("app", "v2")]
    with pytest.raises(PromotionError) as error:
        promoter_with(memory).promote(ref("v2"), [ref("first"), ref("second"), ref("third")])
    done = error.value.promotion
    assert "HTTP 503" in str(error.value) and done.changed is True
    assert done.before() == {"r.io/app:first": None} and done.after() == {"r.io/app:first": new}


def test_resolve_only_reads_and_checks_the_expected_digest(memory: MemoryRegistry) -> None:
    digest = memory.tags[("app", "v2")]
    manifest = promoter_with(memory).resolve_expected(ref("v2"), digest)
    assert manifest.digest == digest and memory.puts == []
    with pytest.raises(ModuleFailure) as failure:
        promoter_with(memory).resolve_expected(ref("v2"), "sha256:" + "0" * 64)
    assert failure.value.option == "expected_digest" and "nothing was changed" in failure.value.msg
    with pytest.raises(RegistryNotFound) as error:
        promoter_with(memory).resolve_expected(ref("nope"))
    assert error.value.option == "source" and "r.io/app:nope was not found" in str(error.value)
