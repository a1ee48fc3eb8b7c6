# -*- coding: utf-8 -*-
# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The examples of docs/slo_check.md, run as written against the lab's real Prometheus and demo apps.

The YAML of each ``<!-- guide-example: NAME -->`` block is read from the guide itself, so the guide cannot drift
from what the module does. The only changes made to it, each asserted to apply: the Prometheus URL (the lab may
run on shifted ports), the pool label (each scenario has its own demo app), the task name (one task per
scenario in one playbook) and, for the retry example, the retry timing.

Scenarios (demo apps from the lab image, scraped every second by the lab Prometheus):

* ``healthy``: 25 user requests/s, no errors: there is no 5xx series at all -> pass with value 0;
* ``regression``: 25 requests/s, 20 % answered 500 -> fail, the task fails naming the indicator;
* ``idle``: no traffic at all -> inconclusive (no events), never pass;
* ``healthchecks``: only ``/healthz``, 10/s (like HAProxy's ``option httpchk``; more than ``min_events`` in the
  window if they counted as requests) -> inconclusive: health checks are not user requests;
* ``trickle``: 0.3 user requests/s, about 5 in the window -> inconclusive below ``min_events`` 100.
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.integration.prom_helpers import DemoApps, Traffic, prom_query, run_playbook, wait_for

pytestmark = pytest.mark.lab

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "slo_check.md"
GUIDE_URL = "http://127.0.0.1:19090"
GUIDE_POOL = 'pool="green"'
APPS = {
    "healthy": {"version": "2026.11.1+1"},
    "regression": {"version": "2026.11.1+2", "error_rate": 0.2},
    "idle": {"version": "2026.11.1+3"},
    "healthchecks": {"version": "2026.11.1+4"},
    "trickle": {"version": "2026.11.1+5"},
}


def guide_example(name: str) -> list[dict]:
    """The tasks of the guide's ``<!-- guide-example: name ... -->`` block."""
    text = GUIDE.read_text()
    marker = f"<!-- guide-example: {name} "
    assert text.count(marker) == 1, f"docs/slo_check.md must have exactly one {marker!r}"
    rest = text[text.index(marker):]
    assert rest.split("\n", 1)[1].startswith("```yaml\n"), f"{marker} must be followed by a ```yaml block"
    body = rest.split("```yaml\n", 1)[1].split("\n```", 1)[0]
    tasks = yaml.safe_load(body)
    assert isinstance(tasks, list) and tasks, body
    return tasks


def adapted(tasks: list[dict], name: str, url: str, pool: str, **literal: tuple[str, str]) -> list[dict]:
    """``tasks`` with the guide's URL and pool replaced (both must occur), renamed ``name``."""
    text = json.dumps(tasks)
    replacements = {"url": (GUIDE_URL, url), "pool": (json.dumps(GUIDE_POOL)[1:-1], json.dumps(f'pool="{pool}"')[1:-1]),
                    **literal}
    for what, (old, new) in replacements.items():
        assert old in text, f"the guide example no longer contains {what} {old!r}"
        text = text.replace(old, new)
    tasks = json.loads(text)
    assert len(tasks) == 1
    return [{**tasks[0], "name": name}]


class Guide:
    def __init__(self, lab, apps: DemoApps, traffic: Traffic) -> None:
        self.url = lab.url("prometheus")
        self.apps = apps
        self.traffic = traffic

    def pool(self, key: str) -> str:
        return self.apps.apps[key].pool


@pytest.fixture(scope="module")
def guide(lab) -> Iterator[Guide]:
    apps = DemoApps(lab.dir, prefix="guide")
    traffic = Traffic()
    try:
        started = apps.start(APPS)
        apps.wait_scraped(lab.url("prometheus"))
        traffic.add(started["healthy"].url, rate=25)
        traffic.add(started["regression"].url, rate=25)
        traffic.add(started["healthchecks"].url + "healthz", rate=10)
        traffic.add(started["trickle"].url, rate=0.3)
        traffic.start()
        yield Guide(lab, apps, traffic)
    finally:
        traffic.stop()
        apps.stop()


@pytest.fixture(scope="module")
def first_gate(guide):
    guide.traffic.wait_until_elapsed(16)
    checks = f'sum(http_health_checks_total{{pool="{guide.pool("healthchecks")}"}})'
    wait_for(lambda: (found := prom_query(guide.url, checks)) and float(found[0]["value"][1]) >= 100,
             timeout=30, what="Prometheus to see 100 health checks")
    example = guide_example("first-gate")
    tasks = [task for scenario in APPS
             for task in adapted(example, scenario, guide.url, guide.pool(scenario))]
    return run_playbook(tasks)


def by_name(result: dict) -> dict[str, dict]:
    return {entry["name"]: entry for entry in result["results"]}


def test_healthy_service_without_an_error_series_passes(first_gate, guide):
    assert not prom_query(guide.url, f'http_requests_total{{pool="{guide.pool("healthy")}",code=~"5.."}}')
    result = first_gate["healthy"]
    assert not result.get("failed"), result.get("msg")
    assert result["verdict"] == "pass" and result["score"] == 100
    error = by_name(result)["error_ratio"]
    assert error["verdict"] == "pass" and error["value"] == 0.0
    assert error["events"]["bad_query"] == 0.0 and error["events"]["total_query"] >= 100
    assert result["msg"].startswith("SLO check passed: ") and "error_ratio (pass): value 0" in result["msg"]


def test_a_real_regression_fails_the_task(first_gate):
    result = first_gate["regression"]
    assert result["failed"] is True and result["verdict"] == "fail"
    error = by_name(result)["error_ratio"]
    assert error["verdict"] == "fail" and 0.1 < error["value"] < 0.3
    assert "error_ratio (fail): value 0." in result["msg"] and "> max 0.01" in result["msg"]


def test_no_user_traffic_is_inconclusive_not_pass(first_gate):
    result = first_gate["idle"]
    assert not result.get("failed"), result.get("msg")
    assert result["verdict"] == "inconclusive" and result["score"] == 0
    error = by_name(result)["error_ratio"]
    assert error["no_data"] is True and "total_query returned nothing" in error["reason"]
    assert result["msg"].startswith("SLO check inconclusive: 2 of 2 indicators have no data")


def test_health_checks_alone_are_not_evidence(first_gate):
    result = first_gate["healthchecks"]
    assert result["verdict"] == "inconclusive" and not result.get("failed")
    error = by_name(result)["error_ratio"]
    assert error["no_data"] is True and error["events"]["total_query"] is None


def test_a_trickle_below_min_events_is_inconclusive(first_gate):
    result = first_gate["trickle"]
    assert result["verdict"] == "inconclusive" and not result.get("failed")
    error = by_name(result)["error_ratio"]
    assert error["no_data"] is True and "fewer than min_events 100" in error["reason"]
    assert 0 < error["events"]["total_query"] < 100
    assert by_name(result)["p95_latency"]["verdict"] == "pass"  # one of two without data: still inconclusive
    assert "[bounds: max 0.01, min_events 100]" in result["reason"]


def test_the_retry_example_ends_with_the_reason_not_unknown_error(guide):
    guide.traffic.wait_until_elapsed(16)
    example = guide_example("retry")
    timing = {"retries": ('"retries": 5', '"retries": 2'), "delay": ('"delay": 30', '"delay": 1')}
    run = run_playbook([*adapted(example, "idle", guide.url, guide.pool("idle"), **timing),
                        *adapted(example, "healthy", guide.url, guide.pool("healthy"), **timing)])
    idle = run["idle"]
    print(idle["msg"])
    assert idle["failed"] is True and idle["attempts"] == 2  # ansible-core >= 2.16: retries counts all attempts
    assert idle["verdict"] == "inconclusive"
    assert idle["msg"].startswith("SLO check inconclusive: 1 of 1 indicators have no data (error_ratio)")
    assert "Unknown error" not in idle["msg"]
    healthy = run["healthy"]
    assert not healthy.get("failed") and healthy["verdict"] == "pass" and healthy["attempts"] == 1
