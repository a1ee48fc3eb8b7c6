# -*- coding: utf-8 -*-
# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Prometheus HTTP API client shared by ``slo_check`` and ``qos_guard``.

* :func:`prometheus_argument_spec` holds the connection options documented in the ``_prometheus`` doc fragment.
* :class:`PrometheusClient` sends instant and range queries through ``ansible.module_utils.urls`` (no dependency on
  the managed host) and retries transient failures with the shared backoff helper.
* Errors are classified: :class:`PrometheusUnavailable` (connection refused, timeout, HTTP 5xx/429; retried) versus
  :class:`PrometheusRejected` (HTTP 4xx with Prometheus' own ``errorType``/``error``, e.g. ``bad_data`` for
  malformed PromQL; never retried) and :class:`PrometheusResponseError` (an answer that is not the Prometheus API).
* The parsing helpers (:func:`parse_api_response`, :func:`single_series`) are pure and unit-tested; durations and
  times live in ``_time.py``.
"""
from __future__ import annotations

import copy
import http.client
import json
import math
import socket
import ssl
import time
import urllib.error
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ansible.module_utils.urls import ConnectionError as UrlsConnectionError
from ansible.module_utils.urls import Request, SSLValidationError, make_context, mask_url
from ansible_collections.progressive.delivery.plugins.module_utils._backoff import (
    BackoffPolicy,
    RetriesExhausted,
    call_with_retries,
)

_ARGUMENT_SPEC: dict[str, dict[str, Any]] = {
    "prometheus_url": {"type": "str", "required": True},
    "bearer_token": {"type": "str", "no_log": True},
    "username": {"type": "str"},
    "password": {"type": "str", "no_log": True},
    "headers": {"type": "dict"},
    "validate_certs": {"type": "bool", "default": True},
    "timeout": {"type": "float", "default": 10.0},
    "retries": {"type": "int", "default": 3},
    "retry_delay": {"type": "float", "default": 1.0},
}

#: Pass to ``AnsibleModule(mutually_exclusive=..., required_together=...)`` along with the argument spec.
PROMETHEUS_MUTUALLY_EXCLUSIVE = [("bearer_token", "username"), ("bearer_token", "password")]
PROMETHEUS_REQUIRED_TOGETHER = [("username", "password")]

#: Longest single wait between two retries, in seconds.
MAX_RETRY_DELAY = 30.0
#: Prometheus refuses range queries with more points per series than this.
MAX_POINTS_PER_SERIES = 11000
#: HTTP statuses other than 5xx that mean "try again later".
_TRANSIENT_STATUSES = (408, 425, 429)
#: Prometheus errorType values that blame the query itself.
QUERY_ERROR_TYPES = ("bad_data", "execution")


def prometheus_argument_spec() -> dict[str, dict[str, Any]]:
    """A fresh copy of the connection options (merge into a module's own argument_spec)."""
    return copy.deepcopy(_ARGUMENT_SPEC)


# --------------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------------
class PrometheusError(Exception):
    """Base class: something went wrong talking to Prometheus. ``str(error)`` is a plain-words message."""

    transient = False


class PrometheusUnavailable(PrometheusError):
    """Prometheus could not answer now: connection refused/reset, timeout, HTTP 5xx or 429. Worth retrying."""

    transient = True


class PrometheusRejected(PrometheusError):
    """Prometheus (or a proxy in front of it) refused the request with HTTP 4xx. Retrying will not help.

    ``status`` is the HTTP status, ``error_type`` / ``error`` Prometheus' own fields when the body carried them
    (``bad_data`` for malformed PromQL, ``execution`` for a query that fails to evaluate).
    """

    def __init__(self, message: str, status: int, error_type: str | None = None, error: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.error_type = error_type
        self.error = error

    @property
    def is_query_error(self) -> bool:
        """True when Prometheus blames the query (as opposed to auth, a wrong URL, ...)."""
        return self.error_type in QUERY_ERROR_TYPES


class PrometheusResponseError(PrometheusError):
    """The answer is not a Prometheus API response (not JSON, wrong shape, unsupported result type)."""


class MultipleSeriesError(PrometheusError):
    """A query meant to give one value returned several series. ``label_sets`` lists them (formatted)."""

    def __init__(self, count: int, label_sets: list[str]) -> None:
        shown = ", ".join(label_sets[:5]) + (f" and {count - 5} more" if count > 5 else "")
        super().__init__(f"the query must return exactly one series but returned {count}: {shown}; aggregate it,"
                         " e.g. with sum(...) or max(...), or narrow it with label matchers")
        self.count = count
        self.label_sets = label_sets


# --------------------------------------------------------------------------------------------------
# Pure parsing helpers
# --------------------------------------------------------------------------------------------------
def parse_sample_value(text: Any) -> float:
    """A Prometheus sample value (``"0.5"``, ``"NaN"``, ``"+Inf"``, ``"-Inf"``) as a float."""
    try:
        return float(text)
    except (TypeError, ValueError):
        raise PrometheusResponseError(f"not a sample value: {text!r}") from None


def format_labels(labels: Mapping[str, str]) -> str:
    """``{code="500", pool="blue"}`` (sorted, like PromQL), ``{}`` for none."""
    inner = ", ".join(f'{key}="{value}"' for key, value in sorted(labels.items()))
    return "{" + inner + "}"


@dataclass(frozen=True)
class Series:
    """One series of a query result: its labels and its ``(timestamp, value)`` points (one for instant queries)."""

    labels: dict[str, str]
    points: list[tuple[float, float]]

    @property
    def values(self) -> list[float]:
        return [point[1] for point in self.points]


@dataclass(frozen=True)
class QueryResult:
    """A parsed ``data`` object: ``result_type`` (vector, matrix, scalar), its series, Prometheus' warnings."""

    result_type: str
    series: list[Series]
    warnings: list[str] = field(default_factory=list)


def _point(pair: Any) -> tuple[float, float]:
    if not isinstance(pair, (list, tuple)) or len(pair) != 2:
        raise PrometheusResponseError(f"not a [timestamp, value] pair: {pair!r}")
    return float(pair[0]), parse_sample_value(pair[1])


def _vector_series(item: Mapping[str, Any]) -> Series:
    if "value" not in item:
        raise PrometheusResponseError("the result holds native histogram samples, which slo_check cannot judge;"
                                      " use histogram_quantile(), histogram_count() or similar to get a number")
    return Series(dict(item.get("metric") or {}), [_point(item["value"])])


def _matrix_series(item: Mapping[str, Any]) -> Series:
    if "values" not in item:
        raise PrometheusResponseError("the result holds native histogram samples, which slo_check cannot judge;"
                                      " use histogram_quantile(), histogram_count() or similar to get a number")
    return Series(dict(item.get("metric") or {}), [_point(pair) for pair in item["values"]])


def parse_query_data(data: Any, warnings: list[str] | None = None) -> QueryResult:
    """Turn the ``data`` member of a successful response into a :class:`QueryResult`."""
    if not isinstance(data, Mapping) or "resultType" not in data:
        raise PrometheusResponseError("the response has no data.resultType")
    result_type, result = data["resultType"], data.get("result")
    try:
        if result_type == "scalar":
            series = [Series({}, [_point(result)])]
        elif result_type == "vector":
            series = [_vector_series(item) for item in result or []]
        elif result_type == "matrix":
            series = [_matrix_series(item) for item in result or []]
        else:
            raise PrometheusResponseError(f"result type {result_type!r} is not a number; the query must return"
                                          " an instant vector or a scalar")
    except (TypeError, AttributeError, KeyError, ValueError) as exc:
        raise PrometheusResponseError(f"unexpected {result_type} result: {exc}") from exc
    return QueryResult(result_type, series, list(warnings or []))


def _decode_json(body: bytes | str) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None


def parse_api_response(body: bytes | str) -> QueryResult:
    """Parse the body of an HTTP 200 answer from ``/api/v1/query`` or ``/api/v1/query_range``."""
    document = _decode_json(body)
    if not isinstance(document, Mapping) or "status" not in document:
        raise PrometheusResponseError(f"the answer is not a Prometheus API response: {_excerpt(body)}")
    if document["status"] != "success":
        raise PrometheusRejected(_rejection_text(200, document.get("errorType"), document.get("error")), 200,
                                 document.get("errorType"), document.get("error"))
    warnings = [str(item) for item in document.get("warnings") or []]
    return parse_query_data(document.get("data"), warnings)


def _excerpt(body: bytes | str, limit: int = 200) -> str:
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body)
    text = " ".join(text.split())
    return repr(text[:limit] + ("..." if len(text) > limit else ""))


def _rejection_text(status: int, error_type: Any, error: Any) -> str:
    if error_type or error:
        return f"Prometheus rejected the query (HTTP {status}, {error_type or 'error'}): {error or 'no details'}"
    return f"HTTP {status}"


def classify_http_error(status: int, reason: str, body: bytes | str) -> PrometheusError:
    """Map an HTTP error answer to :class:`PrometheusUnavailable` (5xx, 408, 425, 429) or :class:`PrometheusRejected`.

    Prometheus' own ``errorType`` / ``error`` fields are kept when the body is its JSON error document.
    """
    document = _decode_json(body)
    error_type = error = None
    if isinstance(document, Mapping) and document.get("status") == "error":
        error_type, error = document.get("errorType"), document.get("error")
    detail = _rejection_text(status, error_type, error) if (error_type or error) else \
        f"HTTP {status} {reason}".rstrip() + (f": {_excerpt(body)}" if body else "")
    if status >= 500 or status in _TRANSIENT_STATUSES:
        return PrometheusUnavailable(detail)
    return PrometheusRejected(detail + _status_hint(status), status, error_type, error)


def _status_hint(status: int) -> str:
    if status in (401, 403):
        return " (check bearer_token, username/password and headers)"
    if status == 404:
        return " (check prometheus_url: it must point at Prometheus' root, the API is under /api/v1/)"
    return ""


def classify_exception(exc: BaseException) -> PrometheusError:
    """Map a network-level exception (no HTTP answer) to a :class:`PrometheusError` with a plain-words message."""
    if isinstance(exc, PrometheusError):
        return exc
    if isinstance(exc, (SSLValidationError, ssl.SSLError)) or isinstance(getattr(exc, "reason", None), ssl.SSLError):
        return PrometheusRejected(f"TLS error: {_reason(exc)} (check validate_certs and the CA bundle)", 0)
    if isinstance(exc, (TimeoutError, socket.timeout)) or isinstance(getattr(exc, "reason", None), socket.timeout):
        return PrometheusUnavailable("timed out waiting for an answer (see timeout)")
    reason = getattr(exc, "reason", exc)
    if isinstance(reason, ConnectionRefusedError):
        return PrometheusUnavailable("connection refused")
    if isinstance(exc, (OSError, http.client.HTTPException, UrlsConnectionError)):
        return PrometheusUnavailable(f"connection failed: {_reason(exc)}")
    return PrometheusRejected(f"request failed: {_reason(exc)}", 0)


def _reason(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None)
    return str(reason if reason is not None else exc) or type(exc).__name__


def single_series(result: QueryResult) -> Series | None:
    """The one series of ``result``; ``None`` for an empty result; :class:`MultipleSeriesError` for more than one."""
    if not result.series:
        return None
    if len(result.series) > 1:
        raise MultipleSeriesError(len(result.series), [format_labels(series.labels) for series in result.series])
    return result.series[0]


def instant_value(result: QueryResult) -> float | None:
    """The value of a one-series instant result; ``None`` when there is no series or the value is NaN."""
    series = single_series(result)
    if series is None or not series.points:
        return None
    value = series.points[-1][1]
    return None if math.isnan(value) else value


def range_step_points(range_seconds: float, step_seconds: float) -> int:
    """Number of points a range query of ``range_seconds`` evaluated every ``step_seconds`` returns per series."""
    return math.floor(range_seconds / step_seconds + 1e-9) + 1


# --------------------------------------------------------------------------------------------------
# The client
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PrometheusConfig:
    """Connection settings (the documented options of the ``_prometheus`` doc fragment)."""

    url: str
    bearer_token: str | None = None
    username: str | None = None
    password: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    validate_certs: bool = True
    timeout: float = 10.0
    retries: int = 3
    retry_delay: float = 1.0

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> PrometheusConfig:
        """Build from module params; ``ValueError`` names the option for invalid values."""
        config = cls(url=str(params["prometheus_url"]).rstrip("/"), bearer_token=params.get("bearer_token"),
                     username=params.get("username"), password=params.get("password"),
                     headers={str(k): str(v) for k, v in (params.get("headers") or {}).items()},
                     validate_certs=bool(params.get("validate_certs", True)),
                     timeout=float(params.get("timeout", 10.0)), retries=int(params.get("retries", 3)),
                     retry_delay=float(params.get("retry_delay", 1.0)))
        config.validate()
        return config

    def validate(self) -> None:
        parsed = urllib.parse.urlparse(self.url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ValueError(f"prometheus_url must be an http:// or https:// URL, got {mask_url(self.url)!r}")
        if not (math.isfinite(self.timeout) and self.timeout > 0):
            raise ValueError(f"timeout must be greater than 0, got {self.timeout}")
        if self.retries < 0:
            raise ValueError(f"retries must be 0 or more, got {self.retries}")
        if not (math.isfinite(self.retry_delay) and self.retry_delay >= 0):
            raise ValueError(f"retry_delay must be 0 or more, got {self.retry_delay}")

    def backoff_policy(self) -> BackoffPolicy:
        return BackoffPolicy(retries=self.retries, base_delay=self.retry_delay,
                             max_delay=max(MAX_RETRY_DELAY, self.retry_delay))

    def request_headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        headers.update(self.headers)
        if self.bearer_token:
            headers["Authorization"] = f"Bearer {self.bearer_token}"
        return headers


Opener = Callable[[str, float], bytes]


class PrometheusClient:
    """Instant and range queries against one Prometheus, with retries for transient failures.

    ``opener(url, timeout) -> body`` performs one GET and may raise ``urllib.error.HTTPError`` / ``URLError`` /
    ``OSError``; the default uses ``ansible.module_utils.urls.Request``. ``sleep``, ``clock`` and ``rng`` go to the
    backoff helper (tests inject them).
    """

    def __init__(self, config: PrometheusConfig, opener: Opener | None = None,
                 sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic,
                 rng: Callable[[], float] | None = None) -> None:
        self.config = config
        self._opener = opener or self._urls_opener()
        self._backoff = {"sleep": sleep, "clock": clock}
        if rng is not None:
            self._backoff["rng"] = rng

    def query(self, promql: str, at: float) -> QueryResult:
        """Instant query evaluated at unix time ``at``."""
        return self._call("/api/v1/query", {"query": promql, "time": _ts(at)})

    def query_range(self, promql: str, start: float, end: float, step: float) -> QueryResult:
        """Range query from ``start`` to ``end`` (unix seconds), one point every ``step`` seconds."""
        return self._call("/api/v1/query_range",
                          {"query": promql, "start": _ts(start), "end": _ts(end), "step": _ts(step)})

    def _call(self, path: str, params: Mapping[str, str]) -> QueryResult:
        endpoint = self.config.url + path
        url = endpoint + "?" + urllib.parse.urlencode(params)
        try:
            return call_with_retries(lambda: self._fetch(url), self.config.backoff_policy(),
                                     lambda exc: isinstance(exc, PrometheusError) and exc.transient, **self._backoff)
        except RetriesExhausted as exhausted:
            raise PrometheusUnavailable(f"{mask_url(endpoint)}: {exhausted.describe()}") from exhausted.last_error
        except PrometheusError as exc:
            exc.args = (f"{mask_url(endpoint)}: {exc}",)
            raise

    def _fetch(self, url: str) -> QueryResult:
        try:
            body = self._opener(url, self.config.timeout)
        except urllib.error.HTTPError as exc:
            raise classify_http_error(exc.code, str(exc.reason or ""), _read_error_body(exc)) from None
        except Exception as exc:  # pylint: disable=broad-exception-caught
            raise classify_exception(exc) from None
        return parse_api_response(body)

    def _urls_opener(self) -> Opener:
        config = self.config
        request = Request(headers=config.request_headers(), timeout=config.timeout,
                          validate_certs=config.validate_certs, url_username=config.username,
                          url_password=config.password, force_basic_auth=bool(config.username),
                          follow_redirects="safe")

        # Request.open() builds a new SSL context (loading every CA certificate, ~70 ms) on each call unless one is
        # given: build it once, and only for https (plain http never uses it, a bare context costs nothing).
        contexts: dict[bool, ssl.SSLContext] = {}

        def context_for(url: str) -> ssl.SSLContext:
            https = url.lower().startswith("https:")
            if https not in contexts:
                contexts[https] = make_context(validate_certs=config.validate_certs) if https else \
                    ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            return contexts[https]

        def opener(url: str, timeout: float) -> bytes:
            response = request.open("GET", url, timeout=timeout, context=context_for(url))
            try:
                return response.read()
            finally:
                response.close()

        return opener


def _read_error_body(exc: urllib.error.HTTPError) -> bytes:
    try:
        return exc.read() or b""
    except Exception:  # pylint: disable=broad-exception-caught
        return b""


def _ts(seconds: float) -> str:
    """Seconds as Prometheus wants them in API parameters (fixed point, millisecond precision)."""
    return f"{seconds:.3f}"
