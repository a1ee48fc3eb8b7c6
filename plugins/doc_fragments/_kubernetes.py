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
      - Path to a kubeconfig file. If not set, the file named by the E(KUBECONFIG) environment variable or
        C(~/.kube/config) is used, or the in-cluster service account when neither exists and the module runs in a pod.
      - Not read when only O(host) is given.
    type: path
  context:
    description:
      - The kubeconfig context to use. If not set, the current context of the kubeconfig.
    type: str
  host:
    description:
      - URL of the Kubernetes API server, for example V(https://k8s.example.com:6443).
      - Without O(kubeconfig) and O(context), O(host) with O(api_key) is the whole connection; with them it
        overrides the kubeconfig's server.
    type: str
  api_key:
    description:
      - Bearer token to authenticate with, sent in the C(Authorization) header. Overrides the kubeconfig's
        credentials.
    type: str
  validate_certs:
    description:
      - Whether to check the API server's TLS certificate.
      - If not set, the kubeconfig's setting (C(insecure-skip-tls-verify)) applies, otherwise V(true).
    type: bool
  ca_cert:
    description:
      - Path to a CA certificate bundle to check the API server's certificate with, instead of the kubeconfig's or
        the system's.
    type: path
requirements:
  - kubernetes (the official Kubernetes Python client) for O(router=istio) and O(router=gateway_api)
"""
