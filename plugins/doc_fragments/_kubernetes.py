# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations


class ModuleDocFragment:
    # Kubernetes options of canary_shift (router=istio and router=gateway_api)
    DOCUMENTATION = r"""
options:
  name:
    description:
      - Name of the Istio C(VirtualService) (O(router=istio)) or Gateway API C(HTTPRoute) (O(router=gateway_api)).
      - Required with O(router=istio) and O(router=gateway_api); not used by the other routers.
    type: str
  namespace:
    description:
      - Namespace of the object named by O(name).
      - If not set, the namespace of the kubeconfig context (when a kubeconfig is used), otherwise V(default).
    type: str
  route_name:
    description:
      - Which route of the object to change. For Istio the C(name) of an entry of C(spec.http); for Gateway API the
        C(name) of an entry of C(spec.rules) (rule names exist from Gateway API v1.2, GEP-995).
      - If neither O(route_name) nor O(route_index) is set, the object must have exactly one route.
      - Mutually exclusive with O(route_index).
    type: str
  route_index:
    description:
      - Which route of the object to change, by position (0-based) in C(spec.http) or C(spec.rules), for routes
        without names (Gateway API before v1.2).
      - A position can move when someone edits the object between two runs; prefer O(route_name).
      - Mutually exclusive with O(route_name).
    type: int
  api_version:
    description:
      - Version of the API to use, with or without the group (V(v1beta1) or V(networking.istio.io/v1beta1)).
      - If not set, V(networking.istio.io/v1) then V(networking.istio.io/v1beta1) are tried in turn for Istio (v1 is
        served from Istio 1.22), and V(gateway.networking.k8s.io/v1) then V(gateway.networking.k8s.io/v1beta1) for
        Gateway API; the first version that the API server serves is used for the read, the write and the verify.
    type: str
  kubeconfig:
    description:
      - Path to a kubeconfig file, or the kubeconfig itself as a dictionary. Can also be set with the
        E(K8S_AUTH_KUBECONFIG) environment variable.
      - If not set (and O(host) with O(api_key) is not a whole connection), the in-cluster service account is
        tried first, then the file named by E(KUBECONFIG) or C(~/.kube/config).
      - These connection options are kubernetes.core's (C(kubernetes.core.k8s_auth_options)); the client is
        kubernetes.core's own (C(get_api_client)), which reads the API server's discovery documents (C(/version),
        C(/apis)) when it is built and keeps them in a cache file in the temporary directory.
    type: raw
  context:
    description:
      - The kubeconfig context to use. If not set, the current context of the kubeconfig. Can also be set with
        E(K8S_AUTH_CONTEXT).
    type: str
  host:
    description:
      - URL of the Kubernetes API server, for example V(https://k8s.example.com:6443). Can also be set with
        E(K8S_AUTH_HOST).
      - O(host) with O(api_key) (or O(username) and O(password), or O(client_cert) and O(client_key)) is the
        whole connection; otherwise it overrides the kubeconfig's server.
    type: str
  api_key:
    description:
      - Bearer token to authenticate with, sent in the C(Authorization) header. Overrides the kubeconfig's
        credentials. Can also be set with E(K8S_AUTH_API_KEY).
    type: str
  username:
    description:
      - User name for basic authentication. Can also be set with E(K8S_AUTH_USERNAME).
    type: str
  password:
    description:
      - Password for basic authentication. Can also be set with E(K8S_AUTH_PASSWORD).
    type: str
  validate_certs:
    description:
      - Whether to check the API server's TLS certificate. Can also be set with E(K8S_AUTH_VERIFY_SSL).
      - If not set, the kubeconfig's setting (C(insecure-skip-tls-verify)) applies, otherwise V(true).
    type: bool
    aliases: [verify_ssl]
  ca_cert:
    description:
      - Path to a CA certificate bundle to check the API server's certificate with, instead of the kubeconfig's or
        the system's. Can also be set with E(K8S_AUTH_SSL_CA_CERT).
    type: path
    aliases: [ssl_ca_cert]
  client_cert:
    description:
      - Path to a client certificate to authenticate with. Can also be set with E(K8S_AUTH_CERT_FILE).
    type: path
    aliases: [cert_file]
  client_key:
    description:
      - Path to the key of O(client_cert). Can also be set with E(K8S_AUTH_KEY_FILE).
    type: path
    aliases: [key_file]
  proxy:
    description:
      - URL of an HTTP proxy to reach the API server through. Can also be set with E(K8S_AUTH_PROXY).
    type: str
  no_proxy:
    description:
      - Comma-separated hosts, domains, IP addresses or CIDRs to reach without O(proxy). Can also be set with
        E(K8S_AUTH_NO_PROXY).
    type: str
  proxy_headers:
    description:
      - Headers for O(proxy).
    type: dict
    suboptions:
      proxy_basic_auth:
        description:
          - C(user:password) for the proxy. Can also be set with E(K8S_AUTH_PROXY_HEADERS_PROXY_BASIC_AUTH).
        type: str
      basic_auth:
        description:
          - C(user:password) for basic authentication. Can also be set with E(K8S_AUTH_PROXY_HEADERS_BASIC_AUTH).
        type: str
      user_agent:
        description:
          - The C(User-Agent) header. Can also be set with E(K8S_AUTH_PROXY_HEADERS_USER_AGENT).
        type: str
  persist_config:
    description:
      - Whether to save refreshed tokens back to the kubeconfig file. Can also be set with
        E(K8S_AUTH_PERSIST_CONFIG).
    type: bool
  impersonate_user:
    description:
      - User to impersonate for the requests. Can also be set with E(K8S_AUTH_IMPERSONATE_USER).
    type: str
  impersonate_groups:
    description:
      - Groups to impersonate for the requests. Can also be set with E(K8S_AUTH_IMPERSONATE_GROUPS)
        (comma-separated).
    type: list
    elements: str
requirements:
  - kubernetes >= 29.0 (the official Kubernetes Python client) for O(router=istio) and O(router=gateway_api)
  - the kubernetes.core collection (a dependency of this collection)
"""
