# -*- coding: utf-8 -*-
# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests for the pure parts of plugins/module_utils/_prometheus.py (no network)."""
from __future__ import annotations

import http.client
import io
import json
import math
import socket
import ssl
import urllib.error

import pytest
from ansible_collections.progressive.delivery.plugins.module_utils._prometheus import (
    MultipleSeriesError,
    PrometheusClient,
    PrometheusConfig,
    PrometheusRejected,
    PrometheusResponseError,
    PrometheusUnavailable,
    classify_exception,
    classify_http_error,
    format_labels,
    instant_value,
    parse_api_response,
    prometheus_argument_spec,
    range_step_points,
    single_series,
)
from ansible_collections.progressive.delivery.plugins.module_utils._time import (
    format_time,
    parse_duration,
    parse_time,
)


def body(data: dict, **extra) -> bytes:
    return json.dumps({"status": "success", "data": data, **extra}).encode()


def vector(*items: tuple[dict, str]) -> bytes:
    return body({"resultType": "vector", "result": [{"metric": m, "value": [1700000000.5, v]} for m, v in items]})


# ---------------------------------------------------------------------------------------------
# durations and times
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("text", "seconds"), [
    ("2m", 120.0), ("90s", 90.0), ("1h30m", 5400.0), ("500ms", 0.5), ("1m30s500ms", 90.5), ("1d", 86400.0),
    ("1w", 604800.0), ("15", 15.0), ("2.5", 2.5), (5, 5.0), (0.25, 0.25), (" 30s ", 30.0),
])
def test_parse_duration(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "2 m", "m", "2x", "5s2", "-5s", "0s", "0", True, "1.5.3s", "nan", "inf"])
def test_parse_duration_rejects(text):
    with pytest.raises(ValueError):
        parse_duration(text)


@pytest.mark.parametrize(("value", "expected"), [
    (1795250400, 1795250400.0),
    ("1795250400.5", 1795250400.5),
    ("2026-11-21T10:00:00Z", 1795255200.0),
    ("2026-11-21T10:00:00.250z", 1795255200.25),
    ("2026-11-21T19:00:00+09:00", 1795255200.0),
])
def test_parse_time(value, expected):
    assert parse_time(value) == expected


@pytest.mark.parametrize("value", ["2026-11-21T10:00:00", "yesterday", "", True, -5, "nan"])
def test_parse_time_rejects(value):
    with pytest.raises(ValueError):
        parse_time(value)


def test_naive_time_is_rejected_with_a_hint():
    with pytest.raises(ValueError, match="time zone"):
        parse_time("2026-11-21T10:00:00")


def test_format_time_round_trips():
    assert format_time(1795255200.25) == "2026-11-21T10:00:00.250Z"
    assert parse_time(format_time(1795255200.25)) == 1795255200.25


def test_range_step_points():
    assert range_step_points(120, 5) == 25
    assert range_step_points(45, 5) == 10
    assert range_step_points(0.3, 0.1) == 4  # no float truncation to 3


# ---------------------------------------------------------------------------------------------
# responses
# ---------------------------------------------------------------------------------------------
def test_vector_with_one_series():
    result = parse_api_response(vector(({"pool": "blue"}, "0.052")))
    assert result.result_type == "vector"
    assert instant_value(result) == 0.052
    assert single_series(result).labels == {"pool": "blue"}


def test_empty_vector_is_no_data():
    result = parse_api_response(vector())
    assert single_series(result) is None
    assert instant_value(result) is None


@pytest.mark.parametrize("text", ["NaN", "nan"])
def test_nan_is_no_data(text):
    assert instant_value(parse_api_response(vector(({}, text)))) is None


@pytest.mark.parametrize(("text", "value"), [("+Inf", math.inf), ("-Inf", -math.inf), ("1e3", 1000.0)])
def test_special_values(text, value):
    assert instant_value(parse_api_response(vector(({}, text)))) == value


def test_scalar_result():
    result = parse_api_response(body({"resultType": "scalar", "result": [1700000000, "3"]}))
    assert instant_value(result) == 3.0


def test_matrix_result_and_warnings():
    data = {"resultType": "matrix", "result": [{"metric": {}, "values": [[1, "0.1"], [2, "NaN"], [3, "0.3"]]}]}
    result = parse_api_response(body(data, warnings=["PromQL info: metric might not be a counter"]))
    series = single_series(result)
    assert series.points[0] == (1.0, 0.1)
    assert math.isnan(series.values[1])
    assert result.warnings == ["PromQL info: metric might not be a counter"]


def test_several_series_are_an_error_listing_the_label_sets():
    result = parse_api_response(vector(({"pool": "blue", "code": "500"}, "1"), ({"pool": "green"}, "2")))
    with pytest.raises(MultipleSeriesError) as info:
        single_series(result)
    assert info.value.count == 2
    assert '{code="500", pool="blue"}' in str(info.value)
    assert '{pool="green"}' in str(info.value)
    assert "sum(" in str(info.value)


def test_many_series_are_summarised():
    result = parse_api_response(vector(*[({"i": str(i)}, "1") for i in range(8)]))
    with pytest.raises(MultipleSeriesError, match="and 3 more"):
        instant_value(result)


def test_format_labels():
    assert format_labels({}) == "{}"
    assert format_labels({"b": "2", "a": "1"}) == '{a="1", b="2"}'


def test_string_result_is_rejected():
    with pytest.raises(PrometheusResponseError, match="not a number"):
        parse_api_response(body({"resultType": "string", "result": [1, "x"]}))


def test_native_histogram_samples_are_rejected():
    data = {"resultType": "vector", "result": [{"metric": {}, "histogram": [1, {"count": "3"}]}]}
    with pytest.raises(PrometheusResponseError, match="native histogram"):
        parse_api_response(body(data))


@pytest.mark.parametrize("raw", [b"<html>login</html>", b"", b"[]", b'{"data": {}}'])
def test_non_api_answers_are_rejected(raw):
    with pytest.raises(PrometheusResponseError):
        parse_api_response(raw)


def test_bad_sample_value_is_rejected():
    with pytest.raises(PrometheusResponseError):
        parse_api_response(vector(({}, "abc")))


# ---------------------------------------------------------------------------------------------
# error classification
# ---------------------------------------------------------------------------------------------
BAD_DATA = json.dumps({"status": "error", "errorType": "bad_data",
                       "error": 'invalid parameter "query": 1:9: parse error: unclosed left parenthesis'})


def test_bad_data_is_permanent_and_keeps_prometheus_message():
    error = classify_http_error(400, "Bad Request", BAD_DATA)
    assert isinstance(error, PrometheusRejected)
    assert not error.transient
    assert error.is_query_error
    assert error.error_type == "bad_data"
    assert "unclosed left parenthesis" in str(error)


def test_execution_error_blames_the_query():
    error = classify_http_error(422, "Unprocessable Entity", json.dumps(
        {"status": "error", "errorType": "execution", "error": "found duplicate series"}))
    assert isinstance(error, PrometheusRejected) and error.is_query_error


@pytest.mark.parametrize("status", [500, 502, 503, 504, 429, 408])
def test_server_errors_are_transient(status):
    error = classify_http_error(status, "", json.dumps({"status": "error", "errorType": "timeout",
                                                        "error": "query timed out"}))
    assert isinstance(error, PrometheusUnavailable)
    assert error.transient


def test_proxy_html_error_is_described():
    error = classify_http_error(502, "Bad Gateway", b"<html><body>upstream down</body></html>")
    assert isinstance(error, PrometheusUnavailable)
    assert "HTTP 502 Bad Gateway" in str(error) and "upstream down" in str(error)


@pytest.mark.parametrize(("status", "hint"), [(401, "bearer_token"), (403, "bearer_token"), (404, "prometheus_url")])
def test_auth_and_not_found_are_permanent_with_a_hint(status, hint):
    error = classify_http_error(status, "Nope", b"")
    assert isinstance(error, PrometheusRejected)
    assert not error.is_query_error
    assert hint in str(error)


@pytest.mark.parametrize(("exc", "text"), [
    (urllib.error.URLError(ConnectionRefusedError(111, "Connection refused")), "connection refused"),
    (ConnectionRefusedError(111, "Connection refused"), "connection refused"),
    (TimeoutError("timed out"), "timed out"),
    (urllib.error.URLError(TimeoutError("timed out")), "timed out"),
    (http.client.RemoteDisconnected("Remote end closed connection"), "connection failed"),
    (ConnectionResetError(104, "reset"), "connection failed"),
    (urllib.error.URLError(socket.gaierror(-2, "Name or service not known")), "connection failed"),
])
def test_network_errors_are_transient(exc, text):
    error = classify_exception(exc)
    assert isinstance(error, PrometheusUnavailable)
    assert text in str(error)


def test_tls_verification_failure_is_permanent():
    error = classify_exception(urllib.error.URLError(ssl.SSLCertVerificationError(1, "certificate verify failed")))
    assert isinstance(error, PrometheusRejected)
    assert "validate_certs" in str(error)


# ---------------------------------------------------------------------------------------------
# configuration and the client with an injected opener (no network)
# ---------------------------------------------------------------------------------------------
def params(**overrides):
    base = {key: spec.get("default") for key, spec in prometheus_argument_spec().items()}
    base["prometheus_url"] = "http://127.0.0.1:9090/"
    base.update(overrides)
    return base


def test_argument_spec_marks_secrets_no_log_and_is_a_copy():
    spec = prometheus_argument_spec()
    assert spec["bearer_token"]["no_log"] and spec["password"]["no_log"]
    spec["timeout"]["default"] = 1
    assert prometheus_argument_spec()["timeout"]["default"] == 10.0


def test_config_headers_and_bearer_token():
    config = PrometheusConfig.from_params(params(bearer_token="s3cret", headers={"X-Scope-OrgID": "tenant-1"}))
    assert config.url == "http://127.0.0.1:9090"
    assert config.request_headers() == {"Accept": "application/json", "X-Scope-OrgID": "tenant-1",
                                        "Authorization": "Bearer s3cret"}


@pytest.mark.parametrize(("overrides", "option"), [
    ({"prometheus_url": "127.0.0.1:9090"}, "prometheus_url"), ({"prometheus_url": "ftp://x"}, "prometheus_url"),
    ({"timeout": 0}, "timeout"), ({"retries": -1}, "retries"), ({"retry_delay": -1}, "retry_delay"),
])
def test_config_validation_names_the_option(overrides, option):
    with pytest.raises(ValueError, match=option):
        PrometheusConfig.from_params(params(**overrides))


def test_config_masks_credentials_in_url_errors():
    with pytest.raises(ValueError) as info:
        PrometheusConfig.from_params(params(prometheus_url="ftp://user:hunter2@host"))
    assert "hunter2" not in str(info.value)


class FakeOpener:
    def __init__(self, answers: list) -> None:
        self.answers = list(answers)
        self.urls: list[str] = []

    def __call__(self, url: str, timeout: float) -> bytes:
        self.urls.append(url)
        answer = self.answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return answer


def client(opener: FakeOpener, **overrides) -> tuple[PrometheusClient, list[float]]:
    sleeps: list[float] = []
    config = PrometheusConfig.from_params(params(retry_delay=1.0, **overrides))
    return PrometheusClient(config, opener=opener, sleep=sleeps.append, clock=lambda: 0.0, rng=lambda: 1.0), sleeps


def http_error(status: int, text: bytes | str) -> urllib.error.HTTPError:
    raw = text.encode() if isinstance(text, str) else text
    return urllib.error.HTTPError("http://x", status, "reason", {}, io.BytesIO(raw))


def test_client_retries_transient_errors_then_succeeds():
    opener = FakeOpener([urllib.error.URLError(ConnectionRefusedError(111, "refused")), http_error(503, ""),
                         vector(({}, "1.5"))])
    prom, sleeps = client(opener, retries=3)
    assert instant_value(prom.query("up", at=1795255200.0)) == 1.5
    assert sleeps == [1.0, 2.0]
    assert "time=1795255200.000" in opener.urls[0]
    assert opener.urls[0].startswith("http://127.0.0.1:9090/api/v1/query?query=up&")


def test_client_gives_up_with_attempts_in_the_message():
    opener = FakeOpener([urllib.error.URLError(ConnectionRefusedError(111, "refused"))] * 3)
    prom, sleeps = client(opener, retries=2)
    with pytest.raises(PrometheusUnavailable, match=r"gave up after 3 attempts.*connection refused"):
        prom.query("up", at=0)
    assert len(sleeps) == 2


def test_client_does_not_retry_bad_data():
    opener = FakeOpener([http_error(400, BAD_DATA)])
    prom, sleeps = client(opener, retries=5)
    with pytest.raises(PrometheusRejected) as info:
        prom.query("count(up", at=0)
    assert info.value.error_type == "bad_data"
    assert sleeps == []
    assert len(opener.urls) == 1


def test_client_range_query_parameters():
    data = {"resultType": "matrix", "result": [{"metric": {}, "values": [[1, "1"], [2, "2"]]}]}
    opener = FakeOpener([body(data)])
    prom = client(opener)[0]
    result = prom.query_range("rate(x[5s])", start=100.0, end=160.0, step=5.0)
    assert single_series(result).values == [1.0, 2.0]
    assert "/api/v1/query_range?" in opener.urls[0]
    assert "start=100.000" in opener.urls[0] and "end=160.000" in opener.urls[0] and "step=5.000" in opener.urls[0]
