# -*- coding: utf-8 -*-
# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""OCI distribution (Docker registry v2) client and the image promotion behind ``image_promote``.

* Pure helpers (unit-tested): :func:`parse_reference`, :func:`parse_challenge`, :func:`docker_config_auths`,
  :func:`registry_base_url`, :func:`manifest_media_type`, :func:`manifest_children`.
* :class:`RegistryClient` talks to one registry through ``ansible.module_utils.urls.Request`` (one SSL context per
  client, built once). It answers ``WWW-Authenticate`` challenges: ``Basic`` (credentials sent pre-emptively from
  then on) and ``Bearer`` (token from the realm, cached per scope set). Transient failures (connection errors,
  timeouts, HTTP 5xx/429) are retried with the shared backoff helper.
* :class:`Promoter` copies a manifest (and, for indexes, every child) with the cheapest operation that works:
  nothing when the destination already has the blob, a cross-repository mount on the same registry, a streamed
  chunked upload (digest verified while streaming, never the whole blob in memory) across registries.
"""
from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import http.client
import ipaddress
import json
import os
import re
import socket
import ssl
import time
import urllib.error
import urllib.parse
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from ansible.module_utils.urls import ConnectionError as UrlsConnectionError
from ansible.module_utils.urls import Request, SSLValidationError, make_context
from ansible_collections.progressive.delivery.plugins.module_utils._backoff import (
    BackoffPolicy,
    RetriesExhausted,
    call_with_retries,
)
from ansible_collections.progressive.delivery.plugins.module_utils._result import ModuleFailure

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
INDEX_TYPES = (OCI_INDEX, DOCKER_LIST)
IMAGE_TYPES = (OCI_MANIFEST, DOCKER_MANIFEST)
MANIFEST_ACCEPT = ", ".join((OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST))

DOCKER_HUB = "docker.io"
DOCKER_HUB_API = "registry-1.docker.io"
DEFAULT_CHUNK_SIZE = 16 * 1024 * 1024
#: Longest single wait between two retries, in seconds.
MAX_RETRY_DELAY = 30.0
_TRANSIENT_STATUSES = (408, 425, 429)
_READ_BLOCK = 1024 * 1024

_DIGEST_RE = re.compile(r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}$")
_TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_PATH_COMPONENT_RE = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")
_HOST_RE = re.compile(r"^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]+)?$")
_CHALLENGE_PARAM_RE = re.compile(r'\s*([A-Za-z0-9_.-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))\s*(?:,|$)')


# --------------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------------
class RegistryError(Exception):
    """Something went wrong talking to a registry. ``str(error)`` is a plain-words message.

    ``option`` names the module option at fault when there is one (``source``, ``password``, ...).
    """

    transient = False

    def __init__(self, message: str = "", option: str | None = None) -> None:
        super().__init__(message)
        self.option = option


class RegistryUnavailable(RegistryError):
    """The registry could not answer now (connection refused/reset, timeout, HTTP 5xx, 408, 425, 429)."""

    transient = True


class RegistryAuthError(RegistryError):
    """The registry refused the credentials (or needs some and none were given)."""


class RegistryNotFound(RegistryError):
    """A manifest, repository or blob does not exist (HTTP 404)."""


class DigestMismatch(RegistryError):
    """Content does not hash to the digest it was asked for."""


# --------------------------------------------------------------------------------------------------
# References
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ImageReference:
    """``registry/repository[:tag][@digest]``. ``registry`` is normalised (``docker.io`` for Docker Hub)."""

    registry: str
    repository: str
    tag: str | None = None
    digest: str | None = None

    @property
    def reference(self) -> str:
        """What goes after ``/manifests/``: the digest if there is one, else the tag."""
        return self.digest or self.tag or "latest"

    def with_tag(self, tag: str) -> ImageReference:
        return ImageReference(self.registry, self.repository, tag, None)

    def __str__(self) -> str:
        text = f"{self.registry}/{self.repository}"
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


def normalize_registry(host: str) -> str:
    """Lower-case host[:port]; Docker Hub's aliases become ``docker.io``."""
    host = host.strip().lower()
    if host in ("index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"):
        return DOCKER_HUB
    return host


def _looks_like_registry(component: str) -> bool:
    return "." in component or ":" in component or component == "localhost" or component.startswith("[")


def parse_reference(text: str, default_tag: str | None = "latest") -> ImageReference:
    """Parse ``registry/repo:tag``, ``registry/repo@sha256:...`` or ``registry/repo:tag@sha256:...``.

    Without a registry part (``app:1``) the reference is on Docker Hub (``docker.io/library/app:1``), as with
    ``docker pull``. Without tag and digest, ``default_tag`` is used (``None`` keeps the tag unset).
    Raises ``ValueError`` with the reason.
    """
    if not isinstance(text, str) or not text.strip():
        raise ValueError("empty image reference")
    text = text.strip()
    if "://" in text:
        raise ValueError(f"{text!r} is not an image reference: leave out the scheme (http:// or https://)")
    name, _at, digest = text.partition("@")
    if digest and not _DIGEST_RE.match(digest):
        raise ValueError(f"{text!r}: {digest!r} is not a digest (expected algorithm:hex, e.g. sha256:...)")
    registry, _slash, remainder = name.partition("/")
    if not remainder or not _looks_like_registry(registry):
        registry, remainder = DOCKER_HUB, name
    elif not _HOST_RE.match(registry):
        raise ValueError(f"{text!r}: {registry!r} is not a registry host[:port]")
    registry = normalize_registry(registry)
    repository, tag = _split_tag(remainder)
    if tag is not None and not _TAG_RE.match(tag):
        raise ValueError(f"{text!r}: {tag!r} is not a valid tag (letters, digits, _ . -; at most 128)")
    for component in repository.split("/"):
        if not _PATH_COMPONENT_RE.match(component):
            raise ValueError(f"{text!r}: repository {repository!r} is not valid (lower-case letters, digits and"
                             " separators . _ __ -, components joined by /)")
    if registry == DOCKER_HUB and "/" not in repository:
        repository = f"library/{repository}"
    if tag is None and not digest:
        tag = default_tag
    return ImageReference(registry, repository, tag, digest or None)


def _split_tag(remainder: str) -> tuple[str, str | None]:
    slash = remainder.rfind("/")
    colon = remainder.rfind(":")
    if colon > slash:
        return remainder[:colon], remainder[colon + 1:]
    return remainder, None


def is_loopback(registry: str) -> bool:
    """True for ``localhost``, 127.0.0.0/8 and ::1 (with or without a port)."""
    host = registry
    if host.startswith("["):
        host = host[1:host.find("]")]
    elif host.count(":") == 1:
        host = host.split(":", 1)[0]
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def registry_base_url(registry: str, scheme: str = "auto", insecure_registries: Iterable[str] = ()) -> str:
    """``http(s)://host[:port]`` for the API of ``registry``.

    ``scheme`` ``auto``: plain http for loopback registries and those listed in ``insecure_registries`` (what
    Docker does for ``--insecure-registry``), https otherwise. ``http`` / ``https`` force one for all registries.
    """
    if scheme not in ("auto", "http", "https"):
        raise ValueError(f"registry_scheme must be one of auto, http, https, got {scheme!r}")
    insecure = {normalize_registry(item) for item in insecure_registries}
    if scheme == "auto":
        scheme = "http" if is_loopback(registry) or normalize_registry(registry) in insecure else "https"
    host = DOCKER_HUB_API if registry == DOCKER_HUB else registry
    return f"{scheme}://{host}"


# --------------------------------------------------------------------------------------------------
# Authentication helpers
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Challenge:
    """A parsed ``WWW-Authenticate`` header: scheme (lower-case) and parameters (keys lower-case)."""

    scheme: str
    params: dict[str, str] = field(default_factory=dict)


def parse_challenge(header: str | None) -> Challenge | None:
    """Parse ``Bearer realm="https://auth",service="registry",scope="repository:a:pull,push"`` or ``Basic realm=..``.

    Quoted values may contain commas (scopes do). Returns ``None`` for an empty or unparseable header.
    """
    if not header or not header.strip():
        return None
    scheme, _space, rest = header.strip().partition(" ")
    if not re.match(r"^[A-Za-z][A-Za-z0-9_-]*$", scheme):
        return None
    params: dict[str, str] = {}
    position, rest = 0, rest.strip()
    while position < len(rest):
        match = _CHALLENGE_PARAM_RE.match(rest, position)
        if not match or match.end() == position:
            break
        value = match.group(2) if match.group(2) is not None else match.group(3)
        params[match.group(1).lower()] = re.sub(r"\\(.)", r"\1", value)
        position = match.end()
    return Challenge(scheme.lower(), params)


@dataclass(frozen=True)
class Credentials:
    """User name and password for one registry, and where they came from (for error messages)."""

    username: str
    password: str = field(repr=False)
    origin: str = "username/password"

    @property
    def option(self) -> str:
        """The module option these credentials came from (``registry_auth``, ``docker_config`` or ``password``)."""
        for option in ("registry_auth", "docker_config"):
            if self.origin.startswith(option):
                return option
        return "password"


def _config_key_host(key: str) -> str:
    """``https://index.docker.io/v1/`` -> ``docker.io``; ``registry.example.com:5000`` stays."""
    text = key.strip()
    if "://" in text:
        text = urllib.parse.urlsplit(text).netloc or text
    return normalize_registry(text.split("/", 1)[0])


def docker_config_auths(document: Any, source: str = "docker_config") -> dict[str, Credentials]:
    """Credentials by registry from a parsed Docker ``config.json`` (``auths.<host>.auth`` = base64 user:password).

    ``username``/``password`` members are accepted too. Entries with only an ``identitytoken`` or handled by a
    credential helper are skipped (not supported). ``ValueError`` names the broken entry, never its secret.
    """
    if not isinstance(document, Mapping):
        raise ValueError(f"{source}: not a JSON object")
    auths = document.get("auths") or {}
    if not isinstance(auths, Mapping):
        raise ValueError(f"{source}: 'auths' is not an object")
    found: dict[str, Credentials] = {}
    for key, entry in auths.items():
        if not isinstance(entry, Mapping):
            raise ValueError(f"{source}: auths[{key!r}] is not an object")
        credentials = _config_entry(key, entry, source)
        if credentials is not None:
            found[_config_key_host(key)] = credentials
    return found


def _config_entry(key: str, entry: Mapping[str, Any], source: str) -> Credentials | None:
    origin = f"{source} auths[{key!r}]"
    if entry.get("auth"):
        try:
            decoded = base64.b64decode(str(entry["auth"]), validate=True).decode("utf-8")
        except (binascii.Error, ValueError):
            raise ValueError(f"{source}: auths[{key!r}].auth is not base64 of user:password") from None
        username, colon, password = decoded.partition(":")
        if not colon or not username:
            raise ValueError(f"{source}: auths[{key!r}].auth does not decode to user:password")
        return Credentials(username, password, origin)
    if entry.get("username") and entry.get("password") is not None:
        return Credentials(str(entry["username"]), str(entry["password"]), origin)
    return None


def load_docker_config(path: str) -> dict[str, Credentials]:
    """Read and parse a Docker ``config.json`` (see :func:`docker_config_auths`)."""
    try:
        with open(os.path.expanduser(path), "rb") as handle:
            document = json.loads(handle.read())
    except OSError as exc:
        raise ValueError(f"docker_config: cannot read {path}: {exc.strerror or exc}") from None
    except ValueError:
        raise ValueError(f"docker_config: {path} is not valid JSON") from None
    return docker_config_auths(document, f"docker_config {path}")


def credentials_for(registry: str, registry_auth: Mapping[str, Any] | None, username: str | None,
                    password: str | None, docker_auths: Mapping[str, Credentials]) -> Credentials | None:
    """Credentials for ``registry``: ``registry_auth[registry]``, else ``username``/``password``, else config.json."""
    for key, entry in (registry_auth or {}).items():
        if normalize_registry(str(key)) == registry:
            if not isinstance(entry, Mapping) or not entry.get("username") or entry.get("password") is None:
                raise ValueError(f"registry_auth[{key!r}] must be a dictionary with username and password")
            return Credentials(str(entry["username"]), str(entry["password"]), f"registry_auth[{key!r}]")
    if username:
        return Credentials(username, password or "", "username/password")
    return docker_auths.get(registry)


def registry_auth_secrets(registry_auth: Any) -> set[str]:
    """The password values in a raw ``registry_auth`` option (to hide them in every output)."""
    secrets: set[str] = set()
    if isinstance(registry_auth, Mapping):
        for entry in registry_auth.values():
            if isinstance(entry, Mapping) and entry.get("password"):
                secrets.add(str(entry["password"]))
    return secrets


# --------------------------------------------------------------------------------------------------
# Manifests
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Manifest:
    """The exact bytes of a manifest, its media type and digest (sha256 of the bytes)."""

    body: bytes = field(repr=False)
    media_type: str
    digest: str

    @property
    def is_index(self) -> bool:
        return self.media_type in INDEX_TYPES

    def document(self) -> dict[str, Any]:
        try:
            document = json.loads(self.body)
        except ValueError:
            raise RegistryError(f"manifest {self.digest} is not JSON") from None
        if not isinstance(document, dict):
            raise RegistryError(f"manifest {self.digest} is not a JSON object")
        return document


def compute_digest(data: bytes, algorithm: str = "sha256") -> str:
    return f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}"


def manifest_media_type(content_type: str | None, body: bytes) -> str:
    """The manifest's media type: the ``Content-Type`` answer, else its ``mediaType`` member, else by shape."""
    declared = (content_type or "").split(";", 1)[0].strip()
    if declared in INDEX_TYPES + IMAGE_TYPES:
        return declared
    try:
        document = json.loads(body)
    except ValueError:
        document = None
    if isinstance(document, dict):
        if document.get("mediaType"):
            return str(document["mediaType"])
        if document.get("schemaVersion") == 1:
            return "application/vnd.docker.distribution.manifest.v1+json"
        return OCI_INDEX if "manifests" in document else OCI_MANIFEST
    return declared or OCI_MANIFEST


def _descriptor(item: Any, where: str) -> dict[str, Any]:
    if not isinstance(item, Mapping) or not isinstance(item.get("digest"), str) or not _DIGEST_RE.match(item["digest"]):
        raise RegistryError(f"{where} is not a descriptor with a digest")
    return dict(item)


def manifest_children(manifest: Manifest) -> list[dict[str, Any]]:
    """Descriptors of the child manifests of an index / manifest list (empty for an image manifest)."""
    if not manifest.is_index:
        return []
    return [_descriptor(item, f"manifest {manifest.digest} entry {n}")
            for n, item in enumerate(manifest.document().get("manifests") or [])]


def manifest_blobs(manifest: Manifest) -> list[dict[str, Any]]:
    """Descriptors of the blobs (config, then layers) an image manifest needs; foreign layers are left out."""
    if manifest.media_type not in IMAGE_TYPES:
        raise RegistryError(f"manifest {manifest.digest} has media type {manifest.media_type!r}, which"
                            " image_promote cannot copy (supported: " + ", ".join(INDEX_TYPES + IMAGE_TYPES) + ")")
    document = manifest.document()
    blobs = []
    if document.get("config"):
        blobs.append(_descriptor(document["config"], f"manifest {manifest.digest} config"))
    for n, layer in enumerate(document.get("layers") or []):
        descriptor = _descriptor(layer, f"manifest {manifest.digest} layer {n}")
        if descriptor.get("urls") and "foreign" in str(descriptor.get("mediaType", "")):
            continue
        if "nondistributable" in str(descriptor.get("mediaType", "")) and descriptor.get("urls"):
            continue
        blobs.append(descriptor)
    return blobs


# --------------------------------------------------------------------------------------------------
# HTTP transport
# --------------------------------------------------------------------------------------------------
class Response:
    """Status, headers and the (unread) body stream of one HTTP answer."""

    def __init__(self, status: int, headers: Any, stream: Any) -> None:
        self.status = status
        self._headers = headers
        self._stream = stream

    def header(self, name: str) -> str | None:
        if self._headers is None:
            return None
        value = self._headers.get(name)
        return None if value is None else str(value)

    def read(self, size: int = -1) -> bytes:
        if self._stream is None:
            return b""
        try:
            return self._stream.read(size) if size >= 0 else self._stream.read()
        except (OSError, http.client.HTTPException) as exc:
            raise RegistryUnavailable(f"connection failed while reading the answer: {exc}") from None

    def close(self) -> None:
        if self._stream is not None:
            with contextlib.suppress(Exception):
                self._stream.close()


#: ``transport(method, url, headers, body, timeout) -> Response``; body is None, bytes or a file-like object.
Transport = Callable[[str, str, dict[str, str], Any, float], Response]


def urls_transport(validate_certs: bool = True, ca_path: str | None = None) -> Transport:
    """A transport on ``ansible.module_utils.urls.Request`` that returns HTTP errors as answers, not exceptions.

    ``Authorization`` is never sent along a redirect (blob downloads often redirect to object storage).
    """
    request = Request(validate_certs=validate_certs, follow_redirects="safe", use_netrc=False,
                      decompress=False, unredirected_headers=["Authorization"],
                      http_agent="progressive.delivery.image_promote")
    # Request.open() builds a new SSL context (loading every CA certificate, ~70 ms) per call unless given one.
    contexts: dict[bool, ssl.SSLContext] = {}

    def context_for(url: str) -> ssl.SSLContext:
        https = url.lower().startswith("https:")
        if https not in contexts:
            if not https:
                contexts[https] = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            elif ca_path and os.path.isdir(ca_path):
                contexts[https] = make_context(capath=ca_path, validate_certs=validate_certs)
            else:
                contexts[https] = make_context(cafile=ca_path, validate_certs=validate_certs)
        return contexts[https]

    def send(method: str, url: str, headers: dict[str, str], body: Any, timeout: float) -> Response:
        try:
            raw = request.open(method, url, data=body, headers=headers, timeout=timeout, context=context_for(url))
        except urllib.error.HTTPError as exc:
            return Response(exc.code, exc.headers, exc)
        except RegistryError:
            raise
        except Exception as exc:  # pylint: disable=broad-exception-caught
            raise classify_exception(exc) from None
        return Response(raw.getcode(), raw.headers, raw)

    return send


def classify_exception(exc: BaseException) -> RegistryError:
    """A network-level exception (no HTTP answer) as a :class:`RegistryError` in plain words."""
    reason = getattr(exc, "reason", exc)
    if isinstance(exc, (SSLValidationError, ssl.SSLError)) or isinstance(reason, ssl.SSLError):
        return RegistryError(f"TLS error: {reason} (check validate_certs and ca_path; for a plain-http registry"
                             " see registry_scheme and insecure_registries)")
    if isinstance(exc, (TimeoutError, socket.timeout)) or isinstance(reason, socket.timeout):
        return RegistryUnavailable("timed out waiting for an answer (see timeout)")
    if isinstance(reason, ConnectionRefusedError):
        return RegistryUnavailable("connection refused")
    if isinstance(exc, (OSError, http.client.HTTPException, UrlsConnectionError)):
        return RegistryUnavailable(f"connection failed: {reason}")
    return RegistryError(f"request failed: {reason}")


def error_detail(response: Response) -> str:
    """``HTTP 404 MANIFEST_UNKNOWN: manifest unknown`` from the registry's JSON error document, if any."""
    body = response.read()
    codes = []
    try:
        document = json.loads(body) if body else None
    except ValueError:
        document = None
    if isinstance(document, Mapping):
        for item in document.get("errors") or []:
            if isinstance(item, Mapping):
                codes.append(f"{item.get('code', 'ERROR')}: {item.get('message', '')}".rstrip(": "))
    text = f"HTTP {response.status}"
    if codes:
        text += " " + "; ".join(codes)
    elif body:
        excerpt = " ".join(body.decode("utf-8", "replace").split())[:200]
        text += f": {excerpt}"
    return text


# --------------------------------------------------------------------------------------------------
# The client
# --------------------------------------------------------------------------------------------------
def pull_scope(repository: str) -> str:
    return f"repository:{repository}:pull"


def push_scope(repository: str) -> str:
    return f"repository:{repository}:pull,push"


class RegistryClient:
    """One registry's v2 API, with challenge-driven auth and retries of transient failures.

    Every call names the token ``scopes`` it needs; a Bearer token is fetched on the first 401 and cached per
    scope set, Basic credentials are sent pre-emptively once the registry asked for them.
    """

    def __init__(self, registry: str, base_url: str, credentials: Credentials | None, transport: Transport,
                 timeout: float = 60.0, policy: BackoffPolicy | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.registry = registry
        self.base_url = base_url.rstrip("/")
        self.credentials = credentials
        self.timeout = timeout
        self.policy = policy or BackoffPolicy(retries=3, base_delay=1.0)
        self._transport = transport
        self._sleep = sleep
        self._tokens: dict[tuple[str, ...], str] = {}
        self._basic = False
        self.requests = 0

    # ---- plumbing ----------------------------------------------------------------------------------
    def url(self, path: str) -> str:
        return urllib.parse.urljoin(self.base_url + "/", path)

    def retrying(self, func: Callable[[], Any], what: str) -> Any:
        """Call ``func`` with the backoff policy; transient errors are retried, the final one names ``what``."""
        try:
            return call_with_retries(func, self.policy, lambda exc: isinstance(exc, RegistryError) and exc.transient,
                                     sleep=self._sleep)
        except RetriesExhausted as exhausted:
            raise RegistryUnavailable(f"{what}: {exhausted.describe()}") from exhausted.last_error

    def request(self, method: str, url: str, scopes: tuple[str, ...], headers: Mapping[str, str] | None = None,
                body: Any = None) -> Response:
        """One request, answering an auth challenge once. The caller closes the answer."""
        replayable = body is None or isinstance(body, bytes)
        response = self._send(method, url, scopes, headers, body)
        if response.status != 401:
            return response
        challenge = parse_challenge(response.header("WWW-Authenticate"))
        tried_credentials = self._authorization(scopes) is not None
        response.read()
        response.close()
        self._prepare_auth(challenge, scopes, tried_credentials)
        if not replayable:
            raise RegistryUnavailable(f"{self.registry} asked for authentication in the middle of an upload")
        response = self._send(method, url, scopes, headers, body)
        if response.status == 401:
            response.close()
            raise self._rejected() if self.credentials else self._no_credentials()
        return response

    def _send(self, method: str, url: str, scopes: tuple[str, ...], headers: Mapping[str, str] | None,
              body: Any) -> Response:
        all_headers = dict(headers or {})
        authorization = self._authorization(scopes)
        if authorization:
            all_headers["Authorization"] = authorization
        self.requests += 1
        return self._transport(method, url, all_headers, body, self.timeout)

    def _authorization(self, scopes: tuple[str, ...]) -> str | None:
        token = self._tokens.get(tuple(sorted(scopes)))
        if token:
            return f"Bearer {token}"
        if self._basic and self.credentials:
            raw = f"{self.credentials.username}:{self.credentials.password}".encode()
            return "Basic " + base64.b64encode(raw).decode("ascii")
        return None

    def _prepare_auth(self, challenge: Challenge | None, scopes: tuple[str, ...], tried: bool) -> None:
        if challenge is None or challenge.scheme not in ("basic", "bearer"):
            raise RegistryAuthError(f"registry {self.registry} answered HTTP 401 without a Basic or Bearer"
                                    " challenge; image_promote cannot authenticate to it")
        if challenge.scheme == "basic":
            if self.credentials is None:
                raise self._no_credentials()
            if tried and self._basic:
                raise self._rejected()
            self._basic = True
            return
        self._tokens[tuple(sorted(scopes))] = self._fetch_token(challenge, scopes)

    def _fetch_token(self, challenge: Challenge, scopes: tuple[str, ...]) -> str:
        realm = challenge.params.get("realm")
        if not realm:
            raise RegistryAuthError(f"registry {self.registry} sent a Bearer challenge without a realm")
        wanted = list(dict.fromkeys(list(scopes) + ([challenge.params["scope"]] if challenge.params.get("scope")
                                                    else [])))
        query = [("service", challenge.params["service"])] if challenge.params.get("service") else []
        query += [("scope", scope) for scope in wanted]
        url = realm + ("&" if "?" in realm else "?") + urllib.parse.urlencode(query)
        headers = {"Accept": "application/json"}
        if self.credentials:
            raw = f"{self.credentials.username}:{self.credentials.password}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(raw).decode("ascii")
        self.requests += 1
        response = self._transport("GET", url, headers, None, self.timeout)
        try:
            if response.status in (401, 403):
                raise self._rejected() if self.credentials else self._no_credentials()
            if response.status != 200:
                error = RegistryUnavailable if response.status >= 500 or response.status in _TRANSIENT_STATUSES \
                    else RegistryAuthError
                raise error(f"token endpoint of {self.registry} ({urllib.parse.urlsplit(realm).netloc}) answered "
                            f"{error_detail(response)}")
            try:
                document = json.loads(response.read())
            except ValueError:
                document = None
        finally:
            response.close()
        token = document.get("token") or document.get("access_token") if isinstance(document, Mapping) else None
        if not token:
            raise RegistryAuthError(f"token endpoint of {self.registry} returned no token")
        return str(token)

    def _rejected(self) -> RegistryAuthError:
        if self.credentials is None:
            return self._no_credentials()
        return RegistryAuthError(f"registry {self.registry} rejected the credentials of user "
                                 f"{self.credentials.username!r} (from {self.credentials.origin}): HTTP 401;"
                                 " check the user name and password", option=self.credentials.option)

    def _no_credentials(self) -> RegistryAuthError:
        return RegistryAuthError(f"registry {self.registry} requires authentication but no credentials are set for"
                                 f" it: set registry_auth[{self.registry!r}], username/password or docker_config")

    def _check(self, response: Response, ok: tuple[int, ...], what: str) -> Response:
        if response.status in ok:
            return response
        detail = error_detail(response)
        response.close()
        if response.status >= 500 or response.status in _TRANSIENT_STATUSES:
            raise RegistryUnavailable(f"{what}: {detail}")
        if response.status == 403:
            who = f"user {self.credentials.username!r}" if self.credentials else "anonymous access"
            raise RegistryAuthError(f"{what}: {detail} ({who} is not allowed to do this on {self.registry})")
        if response.status == 404:
            raise RegistryNotFound(f"{what}: {detail}")
        raise RegistryError(f"{what}: {detail}")

    # ---- manifests ---------------------------------------------------------------------------------
    def get_manifest(self, repository: str, reference: str) -> Manifest:
        """The manifest's exact bytes and media type; the digest is verified when ``reference`` is one."""
        url = self.url(f"/v2/{repository}/manifests/{reference}")
        what = f"GET manifest {self.registry}/{repository}:{reference}" if ":" not in reference else \
            f"GET manifest {self.registry}/{repository}@{reference}"

        def fetch() -> Manifest:
            response = self._check(self.request("GET", url, (pull_scope(repository),), {"Accept": MANIFEST_ACCEPT}),
                                   (200,), what)
            try:
                body = response.read()
                content_type = response.header("Content-Type")
            finally:
                response.close()
            algorithm = reference.split(":", 1)[0] if _DIGEST_RE.match(reference) else "sha256"
            digest = compute_digest(body, algorithm)
            if _DIGEST_RE.match(reference) and digest != reference:
                raise DigestMismatch(f"{what}: the registry returned content with digest {digest}")
            return Manifest(body, manifest_media_type(content_type, body), digest)

        return self.retrying(fetch, what)

    def manifest_digest(self, repository: str, reference: str) -> str | None:
        """Digest the tag (or digest) points at now, ``None`` if it does not exist."""
        url = self.url(f"/v2/{repository}/manifests/{reference}")
        what = f"HEAD manifest {self.registry}/{repository}:{reference}"

        def head() -> str | None:
            response = self.request("HEAD", url, (pull_scope(repository),), {"Accept": MANIFEST_ACCEPT})
            if response.status == 404:
                response.close()
                return None
            response = self._check(response, (200,), what)
            response.close()
            return response.header("Docker-Content-Digest")

        digest = self.retrying(head, what)
        if digest is not None and _DIGEST_RE.match(digest):
            return digest
        try:  # a registry that does not send Docker-Content-Digest on HEAD: hash the bytes ourselves
            return self.get_manifest(repository, reference).digest
        except RegistryNotFound:
            return None

    def put_manifest(self, repository: str, reference: str, manifest: Manifest) -> None:
        url = self.url(f"/v2/{repository}/manifests/{reference}")
        what = f"PUT manifest {self.registry}/{repository}:{reference}"

        def put() -> None:
            response = self.request("PUT", url, (push_scope(repository),), {"Content-Type": manifest.media_type},
                                    manifest.body)
            self._check(response, (200, 201, 202), what).close()
            returned = response.header("Docker-Content-Digest")
            if returned and returned != manifest.digest:
                raise DigestMismatch(f"{what}: the registry stored it as {returned}, expected {manifest.digest}")

        self.retrying(put, what)

    # ---- blobs -------------------------------------------------------------------------------------
    def has_blob(self, repository: str, digest: str) -> bool:
        url = self.url(f"/v2/{repository}/blobs/{digest}")
        response = self.request("HEAD", url, (pull_scope(repository),))
        response.close()
        if response.status == 404:
            return False
        self._check(response, (200,), f"HEAD blob {self.registry}/{repository}@{digest}")
        return True

    def start_upload(self, repository: str, mount: tuple[str, str] | None = None) -> str | None:
        """Open an upload session (its URL), or ``None`` when ``mount=(digest, from_repository)`` mounted the blob."""
        path = f"/v2/{repository}/blobs/uploads/"
        scopes = (push_scope(repository),)
        if mount:
            path += "?" + urllib.parse.urlencode({"mount": mount[0], "from": mount[1]})
            scopes += (pull_scope(mount[1]),)
        response = self._check(self.request("POST", self.url(path), scopes),
                               (201, 202), f"POST blob upload {self.registry}/{repository}")
        response.close()
        if response.status == 201 and mount:
            return None
        location = response.header("Location")
        if not location:
            raise RegistryError(f"{self.registry} opened an upload for {repository} without a Location")
        return self.url(location)

    def open_blob(self, repository: str, digest: str) -> Response:
        url = self.url(f"/v2/{repository}/blobs/{digest}")
        return self._check(self.request("GET", url, (pull_scope(repository),)), (200,),
                           f"GET blob {self.registry}/{repository}@{digest}")

    def upload_chunk(self, repository: str, location: str, reader: Any, start: int, length: int) -> str:
        headers = {"Content-Type": "application/octet-stream", "Content-Length": str(length),
                   "Content-Range": f"{start}-{start + length - 1}"}
        response = self._check(self.request("PATCH", location, (push_scope(repository),), headers, reader),
                               (202, 204), f"PATCH blob upload {self.registry}/{repository}")
        response.close()
        return self.url(response.header("Location") or location)

    def finish_upload(self, repository: str, location: str, digest: str) -> None:
        separator = "&" if "?" in location else "?"
        url = location + separator + urllib.parse.urlencode({"digest": digest})
        headers = {"Content-Type": "application/octet-stream", "Content-Length": "0"}
        response = self._check(self.request("PUT", url, (push_scope(repository),), headers, b""),
                               (201, 204), f"PUT blob {self.registry}/{repository}@{digest}")
        response.close()

    def cancel_upload(self, repository: str, location: str) -> None:
        with contextlib.suppress(RegistryError):
            self.request("DELETE", location, (push_scope(repository),)).close()


class HashingChunks:
    """Up to ``limit`` bytes of ``source`` as an iterable of blocks, hashed on the way; fails if ``source`` ends early.

    An iterable (not a file-like object): http.client then sends each block as it comes, instead of reading a
    file-like body 8 KiB at a time.
    """

    def __init__(self, source: Response, hasher: Any, limit: int) -> None:
        self._source = source
        self._hasher = hasher
        self.remaining = limit

    def __iter__(self) -> Iterator[bytes]:
        while self.remaining > 0:
            data = self._source.read(min(_READ_BLOCK, self.remaining))
            if not data:
                raise RegistryUnavailable(f"the source ended with {self.remaining} bytes of the blob still missing")
            self.remaining -= len(data)
            self._hasher.update(data)
            yield data


# --------------------------------------------------------------------------------------------------
# Promotion
# --------------------------------------------------------------------------------------------------
@dataclass
class Counters:
    blobs_copied: int = 0
    blobs_mounted: int = 0
    blobs_existing: int = 0
    bytes_copied: int = 0
    manifests_copied: int = 0


@dataclass
class Move:
    """One destination: where it points now and whether it must move."""

    destination: ImageReference
    previous_digest: str | None
    digest: str

    @property
    def needed(self) -> bool:
        return self.previous_digest != self.digest


@dataclass
class Promotion:
    """What :meth:`Promoter.promote` did (or would do, in check mode).

    ``moves`` are the destinations, ``keeps`` the ``keep_previous`` tags that follow a moving destination (same
    order, ``None`` where there is none). ``applied`` lists the moves (keep tags included) done so far, in order:
    all of them on success, those done before the error in a :class:`PromotionError`.
    """

    manifest: Manifest
    moves: list[Move]
    keeps: list[Move | None]
    applied: list[Move] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return any(move.needed for move in self.applied)

    def before(self) -> dict[str, str | None]:
        """Digest of every reference the promotion touched, before it ran (``None``: it did not exist)."""
        return {str(move.destination): move.previous_digest for move in self.applied}

    def after(self) -> dict[str, str | None]:
        """The same references and their digests afterwards."""
        return {str(move.destination): move.digest for move in self.applied}


class PromotionError(RegistryError):
    """A registry failure in the middle of a promotion; ``promotion`` says what was done before it."""

    def __init__(self, error: RegistryError, promotion: Promotion) -> None:
        super().__init__(str(error), error.option)
        self.error = error
        self.promotion = promotion


class Promoter:
    """Copies manifests (and what they need) between repositories of one or two registries.

    ``clients(registry)`` returns the :class:`RegistryClient` of a registry (one per registry, shared).
    """

    def __init__(self, clients: Callable[[str], RegistryClient], chunk_size: int = DEFAULT_CHUNK_SIZE) -> None:
        self._clients = clients
        self.chunk_size = chunk_size
        self.counters = Counters()
        self._done: set[tuple[str, str, str]] = set()

    def resolve(self, source: ImageReference) -> Manifest:
        try:
            return self._clients(source.registry).get_manifest(source.repository, source.reference)
        except RegistryNotFound as exc:
            raise RegistryNotFound(f"option source: {source} was not found ({exc})", option="source") from None

    def resolve_expected(self, source: ImageReference, expected_digest: str | None = None,
                         consequence: str = "nothing was changed") -> Manifest:
        """:meth:`resolve`, then refuse (naming ``expected_digest``) a source that resolves to another digest."""
        manifest = self.resolve(source)
        if expected_digest and expected_digest.strip() != manifest.digest:
            raise ModuleFailure(f"option expected_digest: source {source} resolves to {manifest.digest}, not"
                                f" {expected_digest.strip()}; {consequence}", option="expected_digest",
                                changed=False, digest=manifest.digest, media_type=manifest.media_type)
        return manifest

    def plan(self, manifest: Manifest, destinations: list[ImageReference]) -> list[Move]:
        moves = []
        for destination in destinations:
            client = self._clients(destination.registry)
            current = client.manifest_digest(destination.repository, destination.reference)
            moves.append(Move(destination, current, manifest.digest))
        return moves

    def plan_keep(self, move: Move, tag: str | None) -> Move | None:
        """The move of ``tag`` (same repository) to the digest a moving destination has now, ``None`` if none."""
        if not tag or not move.needed or move.previous_digest is None or move.destination.tag == tag:
            return None
        destination = move.destination.with_tag(tag)
        current = self._clients(destination.registry).manifest_digest(destination.repository, tag)
        return Move(destination, current, move.previous_digest)

    def keep_previous(self, keep: Move) -> bool:
        """Apply a move of :meth:`plan_keep` (a manifest already in the repository); True if it moved."""
        if not keep.needed:
            return False
        client = self._clients(keep.destination.registry)
        previous = client.get_manifest(keep.destination.repository, keep.digest)
        client.put_manifest(keep.destination.repository, keep.destination.reference, previous)
        return True

    def promote(self, source: ImageReference, destinations: list[ImageReference], expected_digest: str | None = None,
                keep_previous: str | None = None, check_mode: bool = False) -> Promotion:
        """Resolve ``source``, check ``expected_digest``, then move every destination (keeping its previous digest
        under ``keep_previous`` first). In check mode only reads. A failure after the first write raises
        :class:`PromotionError` with what was done."""
        manifest = self.resolve_expected(source, expected_digest, "nothing was promoted")
        moves = self.plan(manifest, destinations)
        promotion = Promotion(manifest, moves, [self.plan_keep(move, keep_previous) for move in moves])
        for index, move in enumerate(moves):
            keep = promotion.keeps[index]
            try:
                if keep is not None:
                    if not check_mode:
                        self.keep_previous(keep)
                    promotion.applied.append(keep)
                if move.needed and not check_mode:
                    self.copy(source, manifest, move.destination)
            except RegistryError as exc:
                raise PromotionError(exc, promotion) from exc
            promotion.applied.append(move)
        return promotion

    def copy(self, source: ImageReference, manifest: Manifest, destination: ImageReference) -> None:
        """Copy ``manifest`` (children and blobs first) and point ``destination`` at it.

        Within one repository everything the manifest refers to is there already: one PUT of the same bytes.
        """
        if (source.registry, source.repository) != (destination.registry, destination.repository):
            self._copy_content(source, manifest, destination)
        self._clients(destination.registry).put_manifest(destination.repository, destination.reference, manifest)
        self.counters.manifests_copied += 1

    def _copy_content(self, source: ImageReference, manifest: Manifest, destination: ImageReference) -> None:
        if manifest.is_index:
            for child in manifest_children(manifest):
                self._copy_child(source, child["digest"], destination)
            return
        for blob in manifest_blobs(manifest):
            self.copy_blob(source, destination, blob["digest"], int(blob.get("size") or 0))

    def _copy_child(self, source: ImageReference, digest: str, destination: ImageReference) -> None:
        key = (destination.registry, destination.repository, digest)
        if key in self._done:
            return
        dest_client = self._clients(destination.registry)
        if dest_client.manifest_digest(destination.repository, digest) != digest:
            child = self._clients(source.registry).get_manifest(source.repository, digest)
            self._copy_content(source, child, destination)
            dest_client.put_manifest(destination.repository, digest, child)
            self.counters.manifests_copied += 1
        self._done.add(key)

    def copy_blob(self, source: ImageReference, destination: ImageReference, digest: str, size: int) -> None:
        key = (destination.registry, destination.repository, digest)
        if key in self._done:
            return
        dest = self._clients(destination.registry)
        what = f"copy blob {digest} to {destination.registry}/{destination.repository}"
        dest.retrying(lambda: self._copy_blob_once(source, destination, digest, size), what)
        self._done.add(key)

    def _copy_blob_once(self, source: ImageReference, destination: ImageReference, digest: str, size: int) -> None:
        dest = self._clients(destination.registry)
        if dest.has_blob(destination.repository, digest):
            self.counters.blobs_existing += 1
            return
        same_registry = source.registry == destination.registry and source.repository != destination.repository
        mount = (digest, source.repository) if same_registry else None
        location = dest.start_upload(destination.repository, mount)
        if location is None:
            self.counters.blobs_mounted += 1
            return
        try:
            copied = self._stream_blob(source, destination, location, digest, size)
        except BaseException:
            dest.cancel_upload(destination.repository, location)
            raise
        self.counters.blobs_copied += 1
        self.counters.bytes_copied += copied

    def _stream_blob(self, source: ImageReference, destination: ImageReference, location: str, digest: str,
                     size: int) -> int:
        """Stream the blob in ``chunk_size`` PATCHes, hashing on the way; the digest is checked before commit."""
        dest = self._clients(destination.registry)
        response = self._clients(source.registry).open_blob(source.repository, digest)
        try:
            length = int(response.header("Content-Length") or size or 0)
            algorithm = digest.split(":", 1)[0]
            hasher = hashlib.new(algorithm)
            offset = 0
            while offset < length:
                count = min(self.chunk_size, length - offset)
                location = dest.upload_chunk(destination.repository, location, HashingChunks(response, hasher, count),
                                             offset, count)
                offset += count
        finally:
            response.close()
        actual = f"{algorithm}:{hasher.hexdigest()}"
        if actual != digest:
            raise DigestMismatch(f"blob {digest} from {source.registry}/{source.repository} hashes to {actual};"
                                 " nothing was committed")
        dest.finish_upload(destination.repository, location, digest)
        return length
