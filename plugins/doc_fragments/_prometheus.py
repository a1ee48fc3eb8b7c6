# -*- coding: utf-8 -*-
# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations


class ModuleDocFragment:
    # Connection options of modules that query Prometheus (slo_check, qos_guard).
    # Keep in sync with prometheus_argument_spec() in plugins/module_utils/_prometheus.py.
    DOCUMENTATION = r"""
options:
  prometheus_url:
    description:
      - Base URL of the Prometheus server (or of a Prometheus-compatible API such as Thanos Querier or Mimir),
        for example V(http://127.0.0.1:9090) or V(https://monitoring.example.com/prometheus).
      - The module appends C(/api/v1/query) and C(/api/v1/query_range) to it.
    type: str
    required: true
  bearer_token:
    description:
      - 'Token sent as C(Authorization: Bearer <token>).'
      - Mutually exclusive with O(username) and O(password).
      - Never logged or returned.
    type: str
  username:
    description:
      - User name for HTTP basic authentication. Requires O(password).
    type: str
  password:
    description:
      - Password for HTTP basic authentication. Requires O(username).
      - Never logged or returned.
    type: str
  headers:
    description:
      - Extra HTTP headers sent with every request, for example C(X-Scope-OrgID) for a multi-tenant Mimir or Cortex.
      - Header values are B(not) hidden from logs; pass credentials with O(bearer_token) or O(username)/O(password).
    type: dict
  validate_certs:
    description:
      - Whether to verify the TLS certificate of an C(https://) O(prometheus_url).
      - Set to V(false) only for self-signed certificates on a trusted network.
    type: bool
    default: true
  timeout:
    description:
      - Seconds to wait for each HTTP answer before treating the attempt as a transient failure.
    type: float
    default: 10
  retries:
    description:
      - How many times a request is retried after a transient failure (connection refused or reset, timeout,
        HTTP 5xx, 408, 425 or 429). V(0) tries once.
      - Errors where Prometheus rejects the request (HTTP 4xx such as C(bad_data) for malformed PromQL, or 401/403)
        are never retried.
    type: int
    default: 3
  retry_delay:
    description:
      - Base of the exponential backoff in seconds. Retry number N waits a random time between 0 and
        O(retry_delay) * 2^(N-1) seconds ("full jitter"), at most 30 seconds (or O(retry_delay) if larger).
    type: float
    default: 1
"""
