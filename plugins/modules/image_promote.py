#!/usr/bin/python
# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: image_promote
short_description: Promote a container image by digest between tags, repositories and OCI registries
version_added: 0.1.0
description:
  - Points one or more destination tags at the exact manifest of O(source), through the registry HTTP API (OCI
    distribution / Docker registry v2). Nothing is rebuilt or pulled through a Docker engine; the digest never
    changes.
  - Same repository (a retag) is one manifest GET and one PUT of the same bytes with the same C(Content-Type).
  - Another repository on the same registry mounts every blob from the source repository (cross-repository blob
    mount); when the registry refuses the mount, the blob is uploaded.
  - Another registry copies each blob the destination does not have yet (C(HEAD) first), streamed in chunks
    (O(chunk_size)) with the digest verified on the way; a blob whose content does not match is never committed.
  - Manifest lists and OCI image indexes are copied with every child manifest and its blobs, children first.
  - Idempotent (a destination already at the digest is left alone). Check mode reports what would move without
    writing anything; diff mode shows the digest of each reference it moves, before and after.
  - O(state=resolved) only resolves O(source) to its digest (a tag is looked up, a digest is checked against the
    content) and returns it pinned, RV(resolved); nothing is written. A reference that does not resolve fails
    naming O(source). The preflight role resolves C(delivery_image) this way.
author: progressive.delivery maintainers (@progressive-delivery)
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: full
options:
  source:
    description:
      - The image to promote, V(registry/repository:tag) or V(registry/repository@sha256:<hex>).
      - Without a registry part the image is on Docker Hub (V(docker.io)); without tag and digest the tag is
        V(latest).
    type: str
    required: true
  state:
    description:
      - V(promoted) points every O(destination) at the manifest of O(source).
      - V(resolved) only resolves O(source) (and checks O(expected_digest)); no O(destination) or
        O(keep_previous). Never changes anything.
    type: str
    choices: [promoted, resolved]
    default: promoted
  destination:
    description:
      - One destination reference V(registry/repository:tag) or a list of them. Required with O(state=promoted).
      - A destination without a tag gets the tag of O(source).
    type: list
    elements: str
  expected_digest:
    description:
      - Refuse to promote (and write nothing) unless O(source) resolves to this digest (V(sha256:<hex>)). With
        O(state=resolved), fail unless it does.
    type: str
  keep_previous:
    description:
      - Before a destination tag is moved, point this tag (in the same repository) at the digest the destination
        has now, for example V(previous-stable-kr), so that a rollback knows where to go.
      - Nothing happens when the destination does not exist yet or does not move.
    type: str
  username:
    description:
      - User name for registries that ask for authentication and have no entry in O(registry_auth).
      - Used for HTTP Basic authentication and to obtain Bearer tokens from the registry's token service.
    type: str
  password:
    description:
      - Password (or access token) of O(username). Never logged or returned.
    type: str
  registry_auth:
    description:
      - 'Credentials per registry host, for example C({"registry.example.com": {"username": "ci", "password": "..."}}).'
      - Keys are the registry as written in the references (V(host) or V(host:port)); C(docker.io) for Docker Hub.
      - Takes precedence over O(username)/O(password) and O(docker_config) for that registry. The passwords are
        never logged or returned.
    type: dict
  docker_config:
    description:
      - Path of a Docker C(config.json) whose C(auths.<registry>.auth) entries (base64 of V(user:password)) are used
        for registries that have neither an O(registry_auth) entry nor O(username).
      - Credential helpers (C(credsStore), C(credHelpers)) and identity tokens are not supported.
    type: path
  validate_certs:
    description:
      - Verify the TLS certificates of C(https) registries.
    type: bool
    default: true
  ca_path:
    description:
      - CA certificate file (PEM) or directory used to verify C(https) registries.
    type: path
  registry_scheme:
    description:
      - V(auto) uses plain C(http) for registries on the loopback interface (V(localhost), V(127.0.0.0/8), V(::1))
        and those in O(insecure_registries), like Docker does, and C(https) for every other registry.
      - V(https) or V(http) force one scheme for all registries.
    type: str
    choices: [auto, https, http]
    default: auto
  insecure_registries:
    description:
      - Registries (V(host) or V(host:port)) reached over plain C(http) when O(registry_scheme=auto).
    type: list
    elements: str
    default: []
  timeout:
    description:
      - Seconds to wait for each HTTP answer (and for each read of a blob stream).
    type: float
    default: 60
  retries:
    description:
      - How many times a request, or a whole blob copy, is retried after a transient failure (connection refused or
        reset, timeout, HTTP 5xx, 408, 425, 429). V(0) tries once. Authentication and not-found errors are never
        retried.
    type: int
    default: 3
  retry_delay:
    description:
      - Base of the exponential backoff in seconds (full jitter, at most 30 seconds per wait).
    type: float
    default: 1
  chunk_size:
    description:
      - Bytes sent per C(PATCH) request when a blob is uploaded to another registry. The blob is streamed from the
        source; no more than a read buffer is held in memory whatever the size.
    type: int
    default: 16777216
notes:
  - Schema 1 manifests (V(application/vnd.docker.distribution.manifest.v1+prettyjws)) are not supported.
seealso:
  - module: progressive.delivery.canary_shift
    description: Moves traffic to the release once its image is promoted.
"""

EXAMPLES = r"""
- name: Promote the tested build to the stable tag, keeping the old one for rollbacks
  progressive.delivery.image_promote:
    source: registry.example.com/shop/app:2026.11.1-42
    destination: registry.example.com/shop/app:stable-kr
    expected_digest: "{{ release.digest }}"
    keep_previous: previous-stable-kr
    registry_auth:
      registry.example.com:
        username: ci
        password: "{{ vault_registry_password }}"

- name: Copy a release by digest to the production registry (two tags)
  progressive.delivery.image_promote:
    source: "staging.example.com/shop/app@{{ release.digest }}"
    destination:
      - prod.example.com/shop/app:2026.11.1
      - prod.example.com/shop/app:stable
    docker_config: ~/.docker/config.json
  register: promoted

- name: Resolve a tag to its digest before a deploy (nothing is written; a tag that does not exist fails)
  progressive.delivery.image_promote:
    source: registry.example.com/shop/app:2026.11.1-42
    state: resolved
  register: image

- name: Deploy by digest
  ansible.builtin.debug:
    msg: "{{ image.resolved }}"  # registry.example.com/shop/app@sha256:6c3c...

- name: A registry on the loopback interface is plain http by default
  progressive.delivery.image_promote:
    source: 127.0.0.1:15000/demo-app:latest
    destination: 127.0.0.1:15000/demo-app:candidate
"""

RETURN = r"""
before:
  description:
    - The digest each destination (and each O(keep_previous) tag that follows a moving destination) pointed at
      before the task, keyed by reference; V(null) where the tag did not exist. Same keys as RV(after).
    - V({}) with O(state=resolved) (nothing moves).
  returned: success
  type: dict
  sample: {"registry.example.com/shop/app:stable-kr": "sha256:0f1e...",
           "registry.example.com/shop/app:previous-stable-kr": null}
after:
  description:
    - The digest the same references point at after the task (in check mode, would point at).
  returned: success
  type: dict
  sample: {"registry.example.com/shop/app:stable-kr": "sha256:6c3c...",
           "registry.example.com/shop/app:previous-stable-kr": "sha256:0f1e..."}
diff:
  description: RV(before) and RV(after). Only in diff mode.
  returned: when diff mode is on
  type: dict
digest:
  description: Digest of the promoted manifest (the same at the source and at every destination).
  returned: success, and on failure once the source was resolved
  type: str
  sample: sha256:6c3c624b58dbbcd3c0dd82b4c53f04194d1247c6eebdaab7c610cf7d66709b3b
media_type:
  description: Media type of the promoted manifest.
  returned: success
  type: str
  sample: application/vnd.oci.image.index.v1+json
resolved:
  description: O(source) pinned by its digest, V(registry/repository@digest) (the registry as normalised, for
    example V(docker.io/library/app@sha256:...) for V(app:1)).
  returned: success
  type: str
  sample: registry.example.com/shop/app@sha256:6c3c624b58dbbcd3c0dd82b4c53f04194d1247c6eebdaab7c610cf7d66709b3b
repository:
  description: The repository of O(source), V(registry/repository).
  returned: success
  type: str
  sample: registry.example.com/shop/app
previous_digest:
  description:
    - Deprecated, use RV(before); will be removed in 2.0.0.
    - Digest each destination pointed at before the task, V(null) where it did not exist.
  returned: success
  type: dict
  sample: {"registry.example.com/shop/app:stable-kr": "sha256:0f1e..."}
destinations:
  description: One entry per destination, what happened (or would happen, in check mode); V([]) with
    O(state=resolved).
  returned: success
  type: list
  elements: dict
  contains:
    destination:
      description: The destination reference.
      type: str
    previous_digest:
      description: Digest before the task, V(null) if it did not exist.
      type: str
    changed:
      description: Whether the destination moved (would move, in check mode).
      type: bool
    kept_previous:
      description: Whether O(keep_previous) was pointed at RV(destinations[].previous_digest) (would be, in check mode).
      type: bool
blobs_copied:
  description: Blobs uploaded to a destination (streamed from the source registry).
  returned: success
  type: int
  sample: 2
blobs_mounted:
  description: Blobs mounted from the source repository (same registry, no data transferred).
  returned: success
  type: int
  sample: 0
blobs_existing:
  description: Blobs the destination repository already had.
  returned: success
  type: int
  sample: 0
bytes_copied:
  description: Bytes uploaded in RV(blobs_copied).
  returned: success
  type: int
  sample: 52430000
manifests_copied:
  description: Manifests written, index children included (the O(keep_previous) tag not counted).
  returned: success
  type: int
  sample: 3
msg:
  description: On failure, what went wrong.
  returned: failure
  type: str
option:
  description:
    - On failure, the option at fault when there is one, for example V(source) (not found), V(destination),
      V(expected_digest) (the source has another digest), V(password), V(registry_auth) or V(docker_config)
      (credentials rejected).
    - When a registry fails after some references were moved, the failure also has C(changed), RV(before) and
      RV(after) of what was done.
  returned: failure, when an option is at fault
  type: str
  sample: expected_digest
"""

from typing import Any  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible_collections.progressive.delivery.plugins.module_utils._backoff import BackoffPolicy  # noqa: E402
from ansible_collections.progressive.delivery.plugins.module_utils._registry import (  # noqa: E402
    MAX_RETRY_DELAY,
    Counters,
    Credentials,
    ImageReference,
    Promoter,
    Promotion,
    PromotionError,
    RegistryClient,
    RegistryError,
    credentials_for,
    load_docker_config,
    parse_reference,
    registry_auth_secrets,
    registry_base_url,
    urls_transport,
)
from ansible_collections.progressive.delivery.plugins.module_utils._result import (  # noqa: E402
    ContractModule,
    ModuleFailure,
    run_module,
    state_result,
)


def argument_spec() -> dict[str, dict[str, Any]]:
    return {
        "source": {"type": "str", "required": True},
        "state": {"type": "str", "default": "promoted", "choices": ["promoted", "resolved"]},
        "destination": {"type": "list", "elements": "str"},
        "expected_digest": {"type": "str"},
        "keep_previous": {"type": "str"},
        "username": {"type": "str"},
        "password": {"type": "str", "no_log": True},
        "registry_auth": {"type": "dict"},
        "docker_config": {"type": "path"},
        "validate_certs": {"type": "bool", "default": True},
        "ca_path": {"type": "path"},
        "registry_scheme": {"type": "str", "default": "auto", "choices": ["auto", "https", "http"]},
        "insecure_registries": {"type": "list", "elements": "str", "default": []},
        "timeout": {"type": "float", "default": 60.0},
        "retries": {"type": "int", "default": 3},
        "retry_delay": {"type": "float", "default": 1.0},
        "chunk_size": {"type": "int", "default": 16 * 1024 * 1024},
    }


class ImagePromoteModule(ContractModule):
    """Hides the passwords inside ``registry_auth`` (a free-form dict) from every output, logs included.

    ``no_log`` on the whole option would also mask the user names, which the error messages must name.
    """

    def _load_params(self) -> None:
        super()._load_params()
        self.no_log_values.update(registry_auth_secrets(self.params.get("registry_auth")))


def _reference(option: str, text: str, default_tag: str | None = "latest") -> ImageReference:
    try:
        return parse_reference(text, default_tag=default_tag)
    except ValueError as exc:
        raise ModuleFailure(f"option {option}: {exc}", option=option) from None


def parse_options(params: dict[str, Any]) -> tuple[ImageReference, list[ImageReference]]:
    """Validate the references and numbers; :class:`ModuleFailure` names the option."""
    source = _reference("source", params["source"])
    _check_numbers(params)
    if params["state"] == "resolved":
        for option in ("destination", "keep_previous"):
            if params[option]:
                raise ModuleFailure(f"option {option}: not used with state=resolved (which only resolves source);"
                                    " leave it out, or use state=promoted", option=option)
        return source, []
    destinations: list[ImageReference] = []
    for text in params["destination"] or []:
        destination = _reference("destination", text, default_tag=source.tag)
        if destination.digest:
            raise ModuleFailure(f"option destination: {text!r} names a digest; give a tag (registry/repository:tag)",
                                option="destination")
        if destination.tag is None:
            raise ModuleFailure(f"option destination: {text!r} has no tag and source {source} has none to reuse",
                                option="destination")
        if destination not in destinations:
            destinations.append(destination)
    if not destinations:
        raise ModuleFailure("option destination: give at least one reference", option="destination")
    if params["keep_previous"] is not None:
        first = destinations[0]
        _reference("keep_previous", f"{first.registry}/{first.repository}:{params['keep_previous']}")
    return source, destinations


def _check_numbers(params: dict[str, Any]) -> None:
    if params["chunk_size"] < 1024:
        raise ModuleFailure(f"option chunk_size: must be at least 1024 bytes, got {params['chunk_size']}",
                            option="chunk_size")
    if params["timeout"] <= 0:
        raise ModuleFailure(f"option timeout: must be greater than 0, got {params['timeout']}", option="timeout")
    for option in ("retries", "retry_delay"):
        if params[option] < 0:
            raise ModuleFailure(f"option {option}: must be 0 or more, got {params[option]}", option=option)


def client_factory(params: dict[str, Any]) -> Any:
    """``clients(registry) -> RegistryClient``: one client per registry, made on first use."""
    docker_auths: dict[str, Credentials] = {}
    if params["docker_config"]:
        try:
            docker_auths = load_docker_config(params["docker_config"])
        except ValueError as exc:
            raise ModuleFailure(str(exc), option="docker_config") from None
    transport = urls_transport(params["validate_certs"], params["ca_path"])
    policy = BackoffPolicy(retries=params["retries"], base_delay=params["retry_delay"],
                           max_delay=max(MAX_RETRY_DELAY, params["retry_delay"]))
    clients: dict[str, RegistryClient] = {}

    def clients_for(registry: str) -> RegistryClient:
        if registry not in clients:
            try:
                credentials = credentials_for(registry, params["registry_auth"], params["username"],
                                              params["password"], docker_auths)
            except ValueError as exc:
                raise ModuleFailure(f"option {exc}", option="registry_auth") from None
            base_url = registry_base_url(registry, params["registry_scheme"], params["insecure_registries"])
            clients[registry] = RegistryClient(registry, base_url, credentials, transport, params["timeout"], policy)
        return clients[registry]

    return clients_for


def deprecated_aliases(promotion: Promotion) -> dict[str, Any]:
    """The key of 0.x (``previous_digest``: destinations only), kept until 2.0.0."""
    return {"previous_digest": {str(move.destination): move.previous_digest for move in promotion.moves}}


def pinned(source: ImageReference, digest: str) -> dict[str, str]:
    """``resolved`` (``registry/repository@digest``) and ``repository`` (``registry/repository``)."""
    repository = f"{source.registry}/{source.repository}"
    return {"resolved": f"{repository}@{digest}", "repository": repository}


def resolve_only(module: AnsibleModule, source: ImageReference, promoter: Promoter) -> dict[str, Any]:
    manifest = promoter.resolve_expected(source, module.params["expected_digest"])
    return state_result(module, False, {}, {}, digest=manifest.digest, media_type=manifest.media_type,
                        destinations=[], blobs_copied=0, blobs_mounted=0, blobs_existing=0, bytes_copied=0,
                        manifests_copied=0, previous_digest={}, **pinned(source, manifest.digest))


def shape(module: AnsibleModule, source: ImageReference, promotion: Promotion, counters: Counters) -> dict[str, Any]:
    keeps = promotion.keeps
    entries = [{"destination": str(move.destination), "previous_digest": move.previous_digest,
                "changed": move.needed, "kept_previous": bool(keeps[index] and keeps[index].needed)}
               for index, move in enumerate(promotion.moves)]
    result = state_result(module, promotion.changed, promotion.before(), promotion.after(),
                          digest=promotion.manifest.digest, media_type=promotion.manifest.media_type,
                          destinations=entries, blobs_copied=counters.blobs_copied,
                          blobs_mounted=counters.blobs_mounted, blobs_existing=counters.blobs_existing,
                          bytes_copied=counters.bytes_copied, manifests_copied=counters.manifests_copied)
    return {**result, **deprecated_aliases(promotion), **pinned(source, promotion.manifest.digest)}


def run(module: AnsibleModule) -> dict[str, Any]:
    params = module.params
    source, destinations = parse_options(params)
    promoter = Promoter(client_factory(params), params["chunk_size"])
    if params["state"] == "resolved":
        return resolve_only(module, source, promoter)
    try:
        promotion = promoter.promote(source, destinations, params["expected_digest"], params["keep_previous"],
                                     module.check_mode)
    except PromotionError as exc:
        done = exc.promotion
        raise ModuleFailure(str(exc), option=exc.option, changed=done.changed, before=done.before(),
                            after=done.after(), digest=done.manifest.digest) from None
    return shape(module, source, promotion, promoter.counters)


def translate(exc: Exception) -> ModuleFailure | None:
    if isinstance(exc, RegistryError):
        return ModuleFailure(str(exc), option=exc.option)
    return None


def main() -> None:
    module = ImagePromoteModule(argument_spec=argument_spec(), supports_check_mode=True,
                                required_by={"password": "username"},
                                required_if=[("state", "promoted", ["destination"])])
    run_module(module, lambda: run(module), translate=translate)


if __name__ == "__main__":
    main()
