# -*- coding: utf-8 -*-
# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""progressive.delivery.slo_check against the lab's real Prometheus and real demo apps.

One module-scoped fixture starts seven demo-app containers (unique pool labels), makes the lab Prometheus scrape
them and sends steady traffic to all of them for the whole module; the checks run through real ansible-playbook
processes. Tests that need little traffic run first, the sequential test (counts since the traffic started, at
20 s) while the Mann-Whitney data accumulates, the Mann-Whitney comparisons (45 s of samples) last.

Traffic and statistics of the Mann-Whitney tests. The error rate is judged per 5 s window, one sample every 5 s
(no overlap, so samples are independent) over 45 s: 9-10 samples a side. At 80 requests/s per pool, rate() over
1 s scrapes counts about 4 s = 320 requests per window, so a 10 % error rate gives a per-window ratio of
0.10 +/- 0.017 and 20 % gives 0.20 +/- 0.022. Doubled canary: nearly every canary window is above every baseline
window (p ~ 1e-4 << 0.02), and the ratio of the means is 2.0 +/- 0.13, about 4 standard deviations above the
max_ratio 1.5 gate (a false pass ~ 1 in 20000). Equal pools: the ratio of the means is 1.0 +/- 0.075, more than
6 standard deviations below the gate, so even the 2 % of runs where the U test alone sees a "difference" pass.
"""
from __future__ import annotations

import datetime
import http.server
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.prom_helpers import (
    DemoApps,
    PrometheusProcess,
    Traffic,
    free_port,
    run_playbook,
)

pytestmark = pytest.mark.lab

MODULE = "progressive.delivery.slo_check"
STABLE, CANARY = "2026.11.0+1", "2026.11.1+2"
MW_RATE = 80.0
APPS = {
    "healthy": {"version": CANARY},
    "errors": {"version": CANARY, "error_rate": 0.05},
    "slow": {"version": CANARY, "latency_ms": 300, "jitter_ms": 20},
    "stable": {"version": STABLE, "error_rate": 0.10},
    "equal": {"version": CANARY, "error_rate": 0.10},  # new version, same behaviour
    "noise": {"version": STABLE, "error_rate": 0.10},  # same version in both pools: noise alone
    "double": {"version": CANARY, "error_rate": 0.20},
}
TOKEN = "s3cr3t-token-9f81c2"
PASSWORD = "s3cr3t-password-4d07aa"


# --------------------------------------------------------------------------------------------------
# PromQL
# --------------------------------------------------------------------------------------------------
def error_rate(pool: str, window: str) -> str:
    # "or vector(0)": a healthy app has no 5xx series at all, which must read as 0 errors, not as no data
    return (f'(sum(rate(http_requests_total{{pool="{pool}",path="/",code=~"5.."}}[{window}])) or vector(0))'
            f' / sum(rate(http_requests_total{{pool="{pool}",path="/"}}[{window}]))')


def p95(pool: str, window: str) -> str:
    return (f'histogram_quantile(0.95, sum by (le) '
            f'(rate(http_request_duration_seconds_bucket{{pool="{pool}"}}[{window}])))')


def threshold_slis(pool: str, window: str = "15s") -> list[dict]:
    return [{"name": "error_rate", "query": error_rate(pool, window), "max": 0.01, "critical": True},
            {"name": "p95_latency", "query": p95(pool, window), "max": 0.25}]


def counts(pool: str, window: str, bad: bool = False) -> str:
    """A ratio indicator's count: no ``or vector(0)``, the module reads a missing 5xx series as 0 errors."""
    code = ',code=~"5.."' if bad else ""
    return f'sum(increase(http_requests_total{{pool="{pool}",path="/"{code}}}[{window}]))'


def ratio_mw_sli(canary: str, baseline: str) -> dict:
    return {"name": "error_ratio", "judge": "mann_whitney", "bad_query": counts(canary, "5s", bad=True),
            "total_query": counts(canary, "5s"), "baseline_bad_query": counts(baseline, "5s", bad=True),
            "baseline_total_query": counts(baseline, "5s"), "min_events": 100, "range": "45s", "step": "5s",
            "min_samples": 9, "max_ratio": 1.5, "critical": True}


def mw_sli(canary: str, baseline: str) -> dict:
    return {"name": "error_rate", "judge": "mann_whitney", "query": error_rate(canary, "5s"),
            "baseline_query": error_rate(baseline, "5s"), "range": "45s", "step": "5s", "min_samples": 9,
            "max_ratio": 1.5, "critical": True}


def task(name: str, url: str, slis: list[dict], **options) -> dict:
    return {"name": name, MODULE: {"prometheus_url": url, "slis": slis, **options}}


def by_name(result: dict) -> dict[str, dict]:
    return {entry["name"]: entry for entry in result["results"]}


# --------------------------------------------------------------------------------------------------
# fixtures
# --------------------------------------------------------------------------------------------------
class Demo:
    def __init__(self, lab, apps: DemoApps, traffic: Traffic, started_unix: float) -> None:
        self.lab = lab
        self.apps = apps
        self.traffic = traffic
        self.started_unix = started_unix
        self.url = lab.url("prometheus")

    def pool(self, key: str) -> str:
        return self.apps.apps[key].pool

    def client_error_ratio(self, key: str) -> float:
        codes = self.traffic.codes[self.apps.apps[key].url]
        return codes.get(500, 0) / max(1, sum(codes.values()))


@pytest.fixture(scope="module")
def demo(lab) -> Iterator[Demo]:
    apps = DemoApps(lab.dir, prefix="slo")
    traffic = Traffic()
    try:
        started = apps.start(APPS)
        apps.wait_scraped(lab.url("prometheus"))
        for key, app in started.items():
            if key == "slow":
                traffic.add(app.url, rate=12, threads=6)  # 300 ms per request: needs concurrency
            elif key in ("healthy", "errors"):
                traffic.add(app.url, rate=30)
            else:
                traffic.add(app.url, rate=MW_RATE)
        started_unix = time.time()
        traffic.start()
        print(f"demo apps: {', '.join(f'{key}=:{app.port}' for key, app in started.items())}")
        yield Demo(lab, apps, traffic, started_unix)
    finally:
        traffic.stop()
        apps.stop()


@pytest.fixture(scope="module")
def threshold_run(demo):
    """Absolute SLOs of the healthy, erroring and slow apps, after 18 s of traffic (windows of 15 s)."""
    demo.traffic.wait_until_elapsed(18)
    before_traffic = datetime.datetime.fromtimestamp(demo.started_unix - 2, tz=datetime.timezone.utc)  # noqa: UP017
    return run_playbook([
        task("healthy", demo.url, threshold_slis(demo.pool("healthy"))),
        {**task("healthy_check_mode", demo.url, threshold_slis(demo.pool("healthy"))), "check_mode": True},
        task("errors", demo.url, threshold_slis(demo.pool("errors"))),
        task("slow", demo.url, threshold_slis(demo.pool("slow"))),
        task("errors_before_traffic", demo.url, threshold_slis(demo.pool("errors")),
             at=before_traffic.isoformat(), fail_on_verdict=False),
    ])


# --------------------------------------------------------------------------------------------------
# absolute bounds
# --------------------------------------------------------------------------------------------------
def test_healthy_app_passes(threshold_run, demo):
    result = threshold_run["healthy"]
    assert not result.get("failed"), result.get("msg")
    assert result["changed"] is False
    assert result["verdict"] == "pass" and result["score"] == 100
    entries = by_name(result)
    assert entries["error_rate"]["value"] == 0.0
    assert entries["error_rate"]["samples"] == {"query": 1, "baseline_query": None}
    assert 0 < entries["p95_latency"]["value"] < 0.05
    assert all(entry["verdict"] == "pass" for entry in entries.values())
    assert entries["error_rate"]["query"] == error_rate(demo.pool("healthy"), "15s")  # the exact query sent
    assert result["evaluated_at"].endswith("Z")


def test_check_mode_judges_the_same_and_never_changes(threshold_run):
    result = threshold_run["healthy_check_mode"]
    assert result["verdict"] == "pass" and result["changed"] is False
    assert [entry["verdict"] for entry in result["results"]] == ["pass", "pass"]


def test_injected_errors_fail_on_the_error_rate_with_the_value(threshold_run, demo):
    result = threshold_run["errors"]
    assert result["failed"] is True
    assert result["verdict"] == "fail" and result["score"] == 0  # critical indicator
    entries = by_name(result)
    error = entries["error_rate"]
    assert error["verdict"] == "fail"
    assert 0.02 < error["value"] < 0.10
    assert abs(error["value"] - demo.client_error_ratio("errors")) < 0.03
    assert error["bounds"]["max"] == 0.01
    assert entries["p95_latency"]["verdict"] == "pass"
    assert "error_rate (fail): value 0.0" in result["msg"] and "> max 0.01" in result["msg"]
    assert "p95_latency" not in result["msg"]


def test_injected_latency_fails_the_p95_indicator(threshold_run):
    result = threshold_run["slow"]
    entries = by_name(result)
    assert entries["p95_latency"]["verdict"] == "fail"
    assert 0.25 < entries["p95_latency"]["value"] <= 0.5  # 300-320 ms lands in the (0.25, 0.5] bucket
    assert entries["error_rate"]["verdict"] == "pass"
    assert result["verdict"] == "fail" and result["failed"] is True  # score 50 < marginal 75
    assert "p95_latency (fail)" in result["msg"] and "> max 0.25" in result["msg"]


def test_at_evaluates_a_past_instant(threshold_run, demo):
    result = threshold_run["errors_before_traffic"]
    assert not result.get("failed")
    assert result["verdict"] == "inconclusive" and result["score"] == 0
    assert all(entry["no_data"] for entry in result["results"])
    expected = datetime.datetime.fromtimestamp(demo.started_unix - 2, tz=datetime.timezone.utc)  # noqa: UP017
    evaluated = datetime.datetime.fromisoformat(result["evaluated_at"].replace("Z", "+00:00"))
    assert abs((evaluated - expected).total_seconds()) < 0.01


# --------------------------------------------------------------------------------------------------
# no data
# --------------------------------------------------------------------------------------------------
def test_empty_vector_follows_on_no_data(demo):
    missing = f'sum(rate(http_requests_total{{pool="{demo.apps.token}-nowhere"}}[15s]))'
    healthy = threshold_slis(demo.pool("healthy"))
    run = run_playbook([
        task("fail", demo.url, [{"name": "ghost", "query": missing, "max": 1, "on_no_data": "fail"}],
             fail_on_verdict=False),
        task("fail_task", demo.url, [{"name": "ghost", "query": missing, "max": 1, "on_no_data": "fail"}]),
        task("inconclusive", demo.url, [{"name": "ghost", "query": missing, "max": 1}]),
        task("pass", demo.url, [{"name": "ghost", "query": missing, "max": 1, "on_no_data": "pass"}]),
        task("pass_with_data", demo.url,
             [*healthy, {"name": "ghost", "query": missing, "max": 1, "on_no_data": "pass"}]),
        task("nan", demo.url, [{"name": "zero_by_zero", "query": "vector(0) / vector(0)", "max": 1}]),
        task("one_missing_of_three", demo.url, [*healthy, {"name": "ghost", "query": missing, "max": 1}]),
    ])
    failed = run["fail"]
    assert failed["results"][0]["verdict"] == "fail" and failed["results"][0]["no_data"] is True
    assert failed["verdict"] == "fail" and not failed.get("failed")
    assert run["fail_task"]["failed"] is True and "ghost (fail)" in run["fail_task"]["msg"]

    inconclusive = run["inconclusive"]
    assert inconclusive["results"][0]["verdict"] == "inconclusive"
    assert inconclusive["verdict"] == "inconclusive" and not inconclusive.get("failed")
    assert inconclusive["results"][0]["samples"]["query"] == 0

    alone = run["pass"]
    assert alone["results"][0]["verdict"] == "pass" and alone["results"][0]["no_data"] is True
    assert alone["verdict"] == "inconclusive" and alone["score"] == 0  # never a pass on missing data alone

    with_data = run["pass_with_data"]
    assert with_data["verdict"] == "pass" and with_data["score"] == 100

    nan = run["nan"]
    assert nan["results"][0]["no_data"] is True and nan["results"][0]["value"] is None
    assert nan["verdict"] == "inconclusive"

    # two healthy indicators and one without data: score 66.7 < marginal 75, yet missing data holds, never fails
    partial = run["one_missing_of_three"]
    assert [entry["verdict"] for entry in partial["results"]] == ["pass", "pass", "inconclusive"]
    assert partial["verdict"] == "inconclusive" and not partial.get("failed")
    assert round(partial["score"], 1) == 66.7


def test_module_defaults_group_sets_the_connection(demo):
    play = [{"hosts": "localhost", "gather_facts": False,
             "module_defaults": {"group/progressive.delivery.all": {"prometheus_url": demo.url}},
             "tasks": [{"name": "grouped",
                        "progressive.delivery.slo_check": {"slis": threshold_slis(demo.pool("healthy"))}}]}]
    run = run_playbook([], play=play)
    assert run["grouped"]["verdict"] == "pass"


# --------------------------------------------------------------------------------------------------
# bad input
# --------------------------------------------------------------------------------------------------
def test_malformed_promql_fails_naming_indicator_option_and_prometheus_message(demo):
    run = run_playbook([
        task("query", demo.url, [{"name": "broken", "query": "sum(rate(http_requests_total[1m]", "max": 1}]),
        task("baseline", demo.url, [{"name": "cmp", "query": "vector(1)", "baseline_query": "vector(1) +",
                                     "max_ratio": 2}], retries=5),
    ])
    query = run["query"]
    assert query["failed"] is True
    assert query["msg"].startswith("slis[0] ('broken'): option query: Prometheus rejected")
    assert "(bad_data)" in query["msg"] and "parse error" in query["msg"]
    baseline = run["baseline"]
    assert baseline["msg"].startswith("slis[0] ('cmp'): option baseline_query: Prometheus rejected 'vector(1) +'")
    assert "(bad_data)" in baseline["msg"]
    assert run.duration < 15  # bad_data is not retried (5 retries with backoff would take longer)


def test_several_series_fail_with_the_label_sets(demo):
    query = f'sum by (pool) (rate(http_requests_total{{app="{demo.apps.token}",path="/"}}[15s]))'
    result = run_playbook([task("multi", demo.url, [{"name": "per_pool", "query": query, "max": 1000}])])["multi"]
    assert result["failed"] is True
    assert result["msg"].startswith("slis[0] ('per_pool'): option query: the query must return exactly one series")
    assert f'{{pool="{demo.pool("double")}"}}' in result["msg"] or "more" in result["msg"]
    assert "sum(" in result["msg"]


def test_invalid_indicators_are_reported_by_name(demo):
    run = run_playbook([
        task("judge", demo.url, [{"name": "ok", "query": "vector(1)", "max": 1},
                                 {"name": "odd", "query": "vector(1)", "max": 1, "judge": "bayes"}]),
        task("max", demo.url, [{"name": "lat", "query": "vector(1)", "max": "fast"}]),
        task("mw", demo.url, [{"name": "cmp", "query": "vector(1)", "judge": "mann_whitney"}]),
        task("bound", demo.url, [{"name": "nothing", "query": "vector(1)"}]),
    ])
    assert run["judge"]["msg"] == ("slis[1] ('odd'): value of judge must be one of: threshold, mann_whitney,"
                                   " sequential, got: bayes")
    assert run["max"]["msg"].startswith("slis[0] ('lat'): argument 'max' is of type str")
    assert run["mw"]["msg"] == "slis[0] ('cmp'): judge 'mann_whitney' compares two samples and needs baseline_query"
    assert run["bound"]["msg"].startswith("slis[0] ('nothing'): judge 'threshold' needs at least one bound")
    assert all(run[name]["failed"] for name in ("judge", "max", "mw", "bound"))


# --------------------------------------------------------------------------------------------------
# secrets
# --------------------------------------------------------------------------------------------------
def test_secrets_never_appear_in_verbose_output(demo):
    closed = f"http://127.0.0.1:{free_port()}"
    slis = [{"name": "up", "query": "vector(1)", "max": 1}]
    run = run_playbook([
        task("token", demo.url, slis, bearer_token=TOKEN),
        task("basic", demo.url, slis, username="reader", password=PASSWORD),
        task("token_down", closed, slis, bearer_token=TOKEN, retries=1, retry_delay=0.1),
        task("basic_bad_query", demo.url, [{"name": "up", "query": "vector(", "max": 1}], username="reader",
             password=PASSWORD),
    ], args=("-vvv",), json_output=False)
    output = run.stdout + run.stderr
    assert "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER" in output  # -vvv did print the module arguments
    assert '"verdict": "pass"' in output and "connection refused" in output and "bad_data" in output
    assert TOKEN not in output
    assert PASSWORD not in output


# --------------------------------------------------------------------------------------------------
# Prometheus failures: retried, then inconclusive, never pass
# --------------------------------------------------------------------------------------------------
class _Always503(http.server.BaseHTTPRequestHandler):
    hits = 0

    def do_GET(self) -> None:
        type(self).hits += 1
        body = b'{"status":"error","errorType":"unavailable","error":"too many queries"}'
        self.send_response(503)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args) -> None:
        return


def test_transient_failures_are_retried_then_inconclusive():
    refused = f"http://127.0.0.1:{free_port()}"
    silent = socket.socket()  # accepts connections (backlog) but never answers: a timeout
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Always503)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    slis = [{"name": "up", "query": "vector(1)", "max": 1, "on_no_data": "pass"}]
    try:
        run = run_playbook([
            task("refused", refused, slis, retries=2, retry_delay=0.1),
            task("timeout", f"http://127.0.0.1:{silent.getsockname()[1]}", slis, retries=1, retry_delay=0.1,
                 timeout=1),
            task("http_503", f"http://127.0.0.1:{server.server_address[1]}", slis, retries=2, retry_delay=0.1),
        ])
    finally:
        server.shutdown()
        silent.close()
    for name, words, attempts in (("refused", "connection refused", 3), ("timeout", "timed out", 2),
                                  ("http_503", "HTTP 503", 3)):
        result = run[name]
        assert not result.get("failed"), result.get("msg")  # inconclusive does not fail the task
        assert result["verdict"] == "inconclusive" and result["score"] == 0
        entry = result["results"][0]
        assert entry["verdict"] == "inconclusive"  # on_no_data=pass does not apply to errors
        assert entry["no_data"] is False
        assert f"gave up after {attempts} attempts" in entry["error"] and words in entry["error"], entry["error"]
        assert words in entry["reason"]
    assert _Always503.hits == 3


def test_prometheus_stopped_mid_run_makes_the_check_inconclusive(demo, tmp_path: Path):
    own = PrometheusProcess(tmp_path / "prometheus", demo.apps.targets_file)
    own.start()
    try:
        own.wait_has_data(f'rate(http_requests_total{{pool="{demo.pool("healthy")}",path="/"}}[5s]) > 0')
        slis = threshold_slis(demo.pool("healthy"), window="5s")
        run = run_playbook([
            task("before", own.url, slis, retries=2, retry_delay=0.2),
            {"name": "stop prometheus", "ansible.builtin.command": f"kill -TERM {own.proc.pid}"},
            {"name": "wait stopped", "ansible.builtin.wait_for": {"host": "127.0.0.1", "port": own.port,
                                                                  "state": "stopped", "timeout": 20}},
            task("after", own.url, slis, retries=2, retry_delay=0.2),
        ], ignore_errors=False)
    finally:
        own.stop()
    assert run.returncode == 0, run.stdout[-3000:]
    assert run["before"]["verdict"] == "pass"
    after = run["after"]
    assert after["verdict"] == "inconclusive" and after["score"] == 0
    assert not after.get("failed")
    for entry in after["results"]:
        assert entry["verdict"] == "inconclusive"
        assert "gave up after 3 attempts" in entry["error"] and "connection refused" in entry["error"]


# --------------------------------------------------------------------------------------------------
# sequential test: cumulative counts since the traffic started (runs while the Mann-Whitney data accumulates)
# --------------------------------------------------------------------------------------------------
def since_start(pool: str, bad: bool = False) -> str:
    """Requests (or 5xx requests) of ``pool`` since ``since``: slo_check replaces $__range with that window."""
    code = ',code=~"5.."' if bad else ""
    query = f'sum(increase(http_requests_total{{pool="{pool}",path="/"{code}}}[$__range]))'
    return f"({query} or vector(0))" if bad else query


def seq_sli(canary: str, baseline: str, since, **options) -> dict:
    # max_ratio 1.2: a canary up to 20 % worse is tolerated, so equal pools (ratio 1 +/- 0.1 over ~1600 requests
    # a side) essentially never fail, while the doubled error rate (ratio 2) is rejected by orders of magnitude
    return {"name": "errors", "judge": "sequential", "since": since, "query": since_start(canary, bad=True),
            "total_query": since_start(canary), "baseline_query": since_start(baseline, bad=True),
            "baseline_total_query": since_start(baseline), "max_ratio": 1.2, "critical": True, **options}


def seq_ratio_sli(canary: str, baseline: str, since, **options) -> dict:
    return {"name": "errors", "judge": "sequential", "since": since,
            "bad_query": counts(canary, "$__range", bad=True), "total_query": counts(canary, "$__range"),
            "baseline_bad_query": counts(baseline, "$__range", bad=True),
            "baseline_total_query": counts(baseline, "$__range"), "min_events": 200, "max_ratio": 1.2,
            "critical": True, **options}


@pytest.fixture(scope="module")
def seq_run(demo):
    """Two rollout "steps" a few seconds apart, the second carrying the first's looks as history."""
    demo.traffic.wait_until_elapsed(20)
    stable, since = demo.pool("stable"), demo.started_unix
    since_text = datetime.datetime.fromtimestamp(since, tz=datetime.timezone.utc).isoformat()  # noqa: UP017
    return run_playbook([
        task("double", demo.url, [seq_sli(demo.pool("double"), stable, since)]),
        task("double_ratio", demo.url, [seq_ratio_sli(demo.pool("double"), stable, since)]),
        task("healthy_ratio", demo.url, [seq_ratio_sli(demo.pool("healthy"), demo.pool("healthy"), since)]),
        {**task("equal_step1", demo.url, [seq_sli(demo.pool("equal"), stable, since)]), "register": "step1"},
        {"name": "next step", "ansible.builtin.wait_for": {"timeout": 3}},
        task("equal_step2", demo.url, [seq_sli(demo.pool("equal"), stable, since_text, final=True,
                                               history="{{ step1.results[0].looks }}")]),
    ])


def _seq_entry(result: dict) -> dict:
    entry = result["results"][0]
    print({key: entry[key] for key in ("verdict", "decision", "value", "baseline_value", "ratio", "e_value",
                                       "max_e_value", "p_value", "ratio_upper", "looks", "range", "reason")})
    assert entry["judge"] == "sequential" and entry["no_data"] is False
    assert "$__range" not in entry["query"] and f"[{entry['range']}]" in entry["total_query"]
    return entry


def test_sequential_fails_a_doubled_error_rate(seq_run):
    result = seq_run["double"]
    assert result["failed"] is True and result["verdict"] == "fail"
    entry = _seq_entry(result)
    assert entry["verdict"] == "fail" and entry["decision"] == "fail"
    assert entry["max_e_value"] == "+Inf" or entry["max_e_value"] >= 50
    assert entry["p_value"] <= 0.02 and 1.5 < entry["ratio"] < 2.7
    assert 0.15 < entry["value"] < 0.25 and 0.05 < entry["baseline_value"] < 0.15
    window = float(entry["range"].removesuffix("s"))  # since the traffic started: that many seconds at MW_RATE
    assert 0.75 * window * MW_RATE < entry["looks"][0][1] < 1.1 * window * MW_RATE
    assert "errors (fail): canary error rate is above max_ratio 1.2 x baseline" in result["msg"]


def test_sequential_ratio_indicator_uses_the_counts(seq_run):
    result = seq_run["double_ratio"]
    assert result["failed"] is True and result["verdict"] == "fail"
    entry = result["results"][0]
    assert entry["decision"] == "fail" and entry["query"] is None and "$__range" not in entry["bad_query"]
    assert entry["looks"][0] == [entry["events"][key] for key in ("bad_query", "total_query", "baseline_bad_query",
                                                                  "baseline_total_query")]
    # a healthy pool has no 5xx series at all: 0 errors on both sides, not "no data"
    healthy = seq_run["healthy_ratio"]
    assert not healthy.get("failed"), healthy.get("msg")
    entry = healthy["results"][0]
    assert entry["verdict"] == "pass" and entry["no_data"] is False and entry["decision"] == "continue"
    assert entry["events"]["bad_query"] == 0.0 and entry["events"]["total_query"] > 200


def test_sequential_equal_pools_continue_then_pass_with_history(seq_run):
    first, second = seq_run["equal_step1"], seq_run["equal_step2"]
    assert not first.get("failed"), first.get("msg")
    step1 = _seq_entry(first)
    assert first["verdict"] == "pass" and step1["verdict"] == "pass" and step1["decision"] == "continue"
    assert step1["reason"].startswith("no evidence of a regression so far")
    assert len(step1["looks"]) == 1 and step1["ratio_upper"] is None

    assert not second.get("failed"), second.get("msg")
    step2 = _seq_entry(second)
    assert second["verdict"] == "pass" and step2["decision"] == "pass"  # final look
    assert len(step2["looks"]) == 2 and step2["looks"][0] == step1["looks"][0]  # history carried
    assert step2["looks"][1][1] > step2["looks"][0][1] and step2["looks"][1][3] > step2["looks"][0][3]
    assert "over 2 looks" in step2["reason"]
    assert step2["max_e_value"] >= step1["max_e_value"] and step2["p_value"] <= step1["p_value"]
    assert 1.0 < step2["ratio_upper"] < 2.0 and 0.67 < step2["ratio"] < 1.5


# --------------------------------------------------------------------------------------------------
# canary against baseline (Mann-Whitney), last: needs 45 s of samples
# --------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def mw_run(demo):
    demo.traffic.wait_until_elapsed(53)  # 45 s range + 5 s rate window + scrape slack
    print("requests/s sent:", {key: round(demo.traffic.sent[app.url] / demo.traffic.elapsed(), 1)
                               for key, app in demo.apps.apps.items()})
    stable = demo.pool("stable")
    return run_playbook([
        task("equal", demo.url, [mw_sli(demo.pool("equal"), stable)]),
        task("noise", demo.url, [mw_sli(demo.pool("noise"), stable)]),
        task("double", demo.url, [mw_sli(demo.pool("double"), stable)]),
        task("double_ratio", demo.url, [ratio_mw_sli(demo.pool("double"), stable)]),
        task("equal_ratio", demo.url, [ratio_mw_sli(demo.pool("equal"), stable)]),
        task("double_threshold", demo.url, [{"name": "error_rate", "query": error_rate(demo.pool("double"), "30s"),
                                             "baseline_query": error_rate(stable, "30s"), "max_ratio": 1.5}]),
    ])


def _mw_entry(result: dict) -> dict:
    entry = result["results"][0]
    print({key: entry[key] for key in ("verdict", "value", "baseline_value", "ratio", "p_value", "hodges_lehmann",
                                       "ci_lower", "ci_upper", "samples", "removed_outliers", "reason")})
    assert entry["judge"] == "mann_whitney"
    assert entry["samples"]["query"] >= 9 and entry["samples"]["baseline_query"] >= 9
    assert entry["range"] == "45s" and entry["step"] == "5s"
    return entry


def test_equal_pools_pass(mw_run):
    result = mw_run["equal"]
    assert not result.get("failed"), result.get("msg")
    entry = _mw_entry(result)
    assert result["verdict"] == "pass" and entry["verdict"] == "pass"
    assert 0.05 < entry["value"] < 0.15 and 0.05 < entry["baseline_value"] < 0.15
    assert 0.67 < entry["ratio"] < 1.5


def test_noise_alone_passes(mw_run):
    result = mw_run["noise"]
    assert not result.get("failed"), result.get("msg")
    entry = _mw_entry(result)
    assert result["verdict"] == "pass" and entry["verdict"] == "pass"


def test_double_error_rate_fails(mw_run):
    result = mw_run["double"]
    assert result["failed"] is True and result["verdict"] == "fail"
    entry = _mw_entry(result)
    assert entry["verdict"] == "fail" and entry["classification"] == "High"
    assert entry["p_value"] < 0.02
    assert 0.05 < entry["hodges_lehmann"] < 0.15
    assert 0.05 < entry["ci_lower"] <= entry["hodges_lehmann"] <= entry["ci_upper"]
    assert 1.5 < entry["ratio"] < 2.7
    assert "error_rate (fail): canary is higher than baseline" in result["msg"]


def test_ratio_indicator_with_mann_whitney(mw_run):
    double = mw_run["double_ratio"]
    assert double["failed"] is True and double["verdict"] == "fail"
    entry = _mw_entry(double)
    assert entry["classification"] == "High" and 1.5 < entry["ratio"] < 2.7 and entry["query"] is None
    equal = mw_run["equal_ratio"]
    assert not equal.get("failed"), equal.get("msg")
    assert equal["verdict"] == "pass" and 0.67 < _mw_entry(equal)["ratio"] < 1.5


def test_double_error_rate_fails_the_threshold_ratio_too(mw_run):
    entry = mw_run["double_threshold"]["results"][0]
    assert entry["verdict"] == "fail" and 1.5 < entry["ratio"] < 2.7
    assert entry["samples"] == {"query": 1, "baseline_query": 1}
