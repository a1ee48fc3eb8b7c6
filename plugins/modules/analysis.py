#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Documentation only: the work is done by the action plugin plugins/action/analysis.py, on the controller.

from __future__ import annotations

DOCUMENTATION = r"""
module: analysis
short_description: Analyse one rollout step while it runs, with Argo Rollouts semantics
version_added: 0.1.0
description:
  - Runs the analysis of one step of a canary or blue-green rollout. Every O(interval), for O(duration), it judges
    the step's indicators with M(progressive.delivery.slo_check), requests the O(health_urls) and inspects the
    O(containers); each poll is one measurement, V(pass), V(fail) or V(inconclusive).
  - A fault is caught while the step runs, not at its end. More than O(failure_limit) failed measurements end
    the analysis as V(fail) at once; by default the first one does.
  - More than O(inconclusive_limit) inconclusive measurements in a row (Prometheus unreachable, a marginal score)
    end it as V(inconclusive).
  - Missing data is never a pass. A measurement that is inconclusive only because indicators have no data yet (no
    traffic, fewer events than C(slis[].min_events)) is waiting for evidence. It does not end the analysis early.
    When it is still the case at O(duration), the step is extended, one O(interval) at a time, up to
    O(max_duration), and ends V(inconclusive) if the evidence never comes.
  - V(pass) needs the analysis to run its O(duration), the last measurement to pass, and failures never above
    O(failure_limit).
  - "Prints a progress line while it runs, at least every O(progress_interval), at every poll that does not pass
    or changes the verdict, and at the end, as plain text on stdout (also under AWX), for example
    C(analysis [step 2/4 25%] 12s/30s (18s left): error_ratio 0.000 <= 0.01 pass, health ok -> pass)."
  - Explains every failure in RV(failing) and RV(msg). An indicator comes with its query, bounds and measured
    values. A health URL comes with its HTTP status, and a container with its restart count and health.
  - "With O(hold), a passing analysis goes on observing until an approval gate opens (a release that waits for
    people before its next step, C(docs/approvals.md)): in slices of O(hold.poll_interval), each judged as the step
    was, with the gate looked at between slices through M(progressive.delivery.approval). The candidate keeps its
    weight and stays guarded while people decide; a slice that does not pass ends the analysis with its verdict."
  - Read-only; never reports a change.
author: progressive.delivery maintainers (@progressive-delivery)
extends_documentation_fragment:
  - action_common_attributes
  - action_common_attributes.conn
  - action_common_attributes.flow
  - progressive.delivery._state_store
attributes:
  action:
    support: full
  async:
    support: none
  become:
    support: none
  bypass_host_loop:
    support: none
  check_mode:
    support: full
    details:
      - The analysis only reads; it runs in check mode exactly as in normal mode.
  diff_mode:
    support: none
  connection:
    support: full
    details:
      - M(progressive.delivery.slo_check) and M(community.docker.docker_container_info) run on the task's host,
        like any module. Use C(delegate_to=localhost) to run them on the controller. O(health_urls) are always
        requested from the controller.
  delegation:
    support: full
  platform:
    support: full
    platforms: posix
options:
  prometheus_url:
    description:
      - URL of the Prometheus server, passed to M(progressive.delivery.slo_check).
      - Required when O(slis) is set.
    type: str
  prometheus:
    description:
      - Further connection options passed to M(progressive.delivery.slo_check) unchanged.
    type: dict
    suboptions:
      bearer_token:
        description: Bearer token.
        type: str
      username:
        description: User for HTTP basic authentication.
        type: str
      password:
        description: Password for HTTP basic authentication.
        type: str
      headers:
        description: Extra HTTP headers.
        type: dict
      validate_certs:
        description: Whether to validate TLS certificates.
        type: bool
      timeout:
        description: Timeout of one request, in seconds.
        type: float
      retries:
        description: Retries of a transient failure within one poll.
        type: int
      retry_delay:
        description: First delay between retries, in seconds.
        type: float
  slis:
    description:
      - The indicators, in M(progressive.delivery.slo_check)'s format (O(progressive.delivery.slo_check#module:slis)).
        They are judged at every poll.
      - For C(slis[].judge=sequential) indicators the C(results[].looks) of one poll are passed as
        C(slis[].history) to the next, so the test accumulates within the step. Pass RV(last) on to the next step.
    type: list
    elements: dict
    default: []
  since:
    description:
      - The start of the rollout (unix timestamp or RFC 3339), passed as C(slis[].since) to the sequential indicators
        that do not set their own.
    type: raw
  pass_score:
    description: Passed to M(progressive.delivery.slo_check) when set.
    type: float
  marginal_score:
    description: Passed to M(progressive.delivery.slo_check) when set.
    type: float
  duration:
    description:
      - How long the step is observed (V(30s), V(10m)). The last poll is at O(duration) exactly.
    type: raw
    required: true
  interval:
    description:
      - Time between two polls (V(5s)); not longer than O(duration). The first poll is at the start.
    type: raw
    default: 5s
  max_duration:
    description:
      - How far the step may be extended while it lacks evidence. Defaults to O(duration) (no extension); not
        shorter than O(duration).
    type: raw
  progress_interval:
    description:
      - Longest gap between two progress lines. V(0) prints a line at every poll.
    type: raw
    default: 10s
  failure_limit:
    description:
      - Failed measurements tolerated. One more ends the analysis as V(fail). V(0) fails at the first one.
    type: int
    default: 0
  inconclusive_limit:
    description:
      - Inconclusive measurements in a row tolerated. One more ends the analysis as V(inconclusive). Measurements
        that only wait for evidence do not count.
    type: int
    default: 2
  health_urls:
    description:
      - URLs that must answer HTTP 200 at every poll, for example the candidate pool's C(/healthz). Any other
        answer, or none, is a failed measurement that names the URL.
    type: list
    elements: str
    default: []
  health_timeout:
    description: Timeout of one health request.
    type: raw
    default: 5s
  load:
    description:
      - Synthetic requests sent from the controller while the analysis runs (as Flagger's load tester does), so a
        pool that gets no user traffic yet, such as blue-green's candidate at 0 %, produces the events its
        indicators need. Their answers count in the app's own metrics like any request.
    type: dict
    suboptions:
      url:
        description: The URL to request (C(GET)), for example the candidate pool's C(/).
        type: str
        required: true
      rate:
        description: Requests per second.
        type: float
        default: 10.0
      timeout:
        description: Timeout of one request, in seconds.
        type: float
        default: 5.0
  containers:
    description:
      - Docker containers checked at every poll with M(community.docker.docker_container_info). A restart is a
        failed measurement that names the container. A restart is a restart count or start time that changed
        since the first poll, or a replaced container. So is a container that stops, turns C(unhealthy) or
        disappears.
    type: list
    elements: str
    default: []
  docker:
    description:
      - Options passed to M(community.docker.docker_container_info) with each container, for example
        C(docker_host).
    type: dict
    default: {}
  label:
    description: Text shown in brackets on every progress line, for example V(step 2/4 25%).
    type: str
    default: ""
  hold:
    description:
      - After a passing O(duration), hold the step at its weight, observed, until the approval gate O(hold.gate)
        has its quorum, or fail after O(hold.timeout). The gate is the one M(progressive.delivery.approval)
        records and C(playbooks/promote.yml -e delivery_approve=GATE) approves; it lives in the state store
        (O(store_dir), O(state_backend), O(state_dsn), which only this option and O(release) use).
      - The observation goes on in slices of O(hold.poll_interval) with this task's indicators, checks, interval
        and limits. The first slice that does not pass ends the analysis with that slice's verdict and explanation
        (RV(msg) starts with C(while holding for approval gate)); RV(hold.decision) is then V(failed).
      - No quorum within O(hold.timeout) ends the hold with RV(hold.decision) V(timed_out); RV(verdict) stays the
        observation's V(pass) and RV(msg) says which gate timed out. The task fails, unless O(fail_on_verdict=false)
        (then branch on RV(hold.decision), as the canary role does).
      - Approvals given before the hold count; an approved gate ends the hold at once.
      - The action group C(group/progressive.delivery.state) includes this action, so a play's C(module_defaults)
        for that group give it the store's backend and DSN.
    type: dict
    version_added: 0.3.0
    suboptions:
      gate:
        description: The gate's name, for example V(prod-kr/shop 2026.12.1+3 at 50%).
        type: str
        required: true
      approvers:
        description: Who may approve; empty means anyone (as O(progressive.delivery.approval#module:approvers)).
        type: list
        elements: str
        default: []
      quorum:
        description: How many different approvers the gate needs.
        type: int
        default: 1
      timeout:
        description: How long the step holds for the quorum, a duration such as V(4h).
        type: raw
        default: 1h
      poll_interval:
        description:
          - The length of one observation slice, and so how often the gate is looked at, a duration. At least
            O(interval).
        type: raw
        default: 15s
  release:
    description:
      - Stop when this release is no longer the current one. Every poll also reads the release record of
        O(release.environment)/O(release.app) (M(progressive.delivery.release_record), in the state store of
        O(store_dir), O(state_backend), O(state_dsn)). When its current release is not O(release.id), because a
        rollback or another deploy took the release over, the analysis ends at that poll with RV(verdict)
        V(taken_over), RV(msg) saying what the record says and RV(taken_over) its current and last release.
      - So a step run after its shift learns of a rollback within one poll, not at the end of a 10-minute step.
    type: dict
    version_added: 0.3.0
    suboptions:
      environment:
        description: The release record's environment, for example V(prod-kr).
        type: str
        required: true
      app:
        description: The release record's app.
        type: str
        required: true
      id:
        description: The release id that must stay current, as M(progressive.delivery.release_record) recorded it.
        type: str
        required: true
  fail_on_verdict:
    description:
      - When V(true), the task fails unless the verdict is V(pass). Missing data is never a pass, so an
        V(inconclusive) analysis fails the task too. All return values are returned with the failure.
      - Set V(false) to branch on RV(verdict), as the canary role does.
    type: bool
    default: true
notes:
  - The polling runs in the controller's worker process for the task, so the task holds a fork for
    O(max_duration).
  - With pipelining (C(pipelining = True) in C(ansible.cfg), as this collection's), a poll runs its module calls
    (M(progressive.delivery.slo_check), one M(community.docker.docker_container_info) per container and the release
    record) at the same time, in threads; without pipelining they run one after the other, and a poll takes their
    sum.
  - A configuration error of an indicator (for example malformed PromQL) fails the task at once, whatever
    O(fail_on_verdict) says.
seealso:
  - module: progressive.delivery.slo_check
  - name: Argo Rollouts analysis
    description: The failure and inconclusive limits this action follows.
    link: https://argo-rollouts.readthedocs.io/en/stable/features/analysis/
"""

EXAMPLES = r"""
- name: Analyse the canary at 25 % for 30 s, polling every 5 s
  progressive.delivery.analysis:
    prometheus_url: http://127.0.0.1:19090
    label: step 2/4 25%
    duration: 30s
    interval: 5s
    max_duration: 2m        # extend while there is too little traffic to judge
    slis:
      - name: error_ratio
        bad_query: sum(increase(http_requests_total{pool="green",code=~"5.."}[30s]))
        total_query: sum(increase(http_requests_total{pool="green"}[30s]))
        min_events: 100
        max: 0.01
        critical: true
    health_urls:
      - http://127.0.0.1:8082/healthz
    containers:
      - app-green
    # stop at the next poll when a rollback (or another deploy) takes this release over
    release:
      environment: prod-kr
      app: shop
      id: 2026.12.1+3
    store_dir: /srv/deploy-state
    fail_on_verdict: false
  register: step_analysis

- name: Roll back when the step did not pass
  ansible.builtin.debug:
    msg: "{{ step_analysis.msg }}"
  when: step_analysis.verdict not in ['pass', 'taken_over']
"""

RETURN = r"""
hold:
  description: What the hold did, with O(hold) and a passing analysis.
  returned: when O(hold) is set and the analysis of O(duration) passed
  type: dict
  contains:
    gate:
      description: The gate's name.
      type: str
    decision:
      description: V(open) (approved; the step may go on), V(timed_out) (no quorum in time) or V(failed) (an
        observation slice did not pass; RV(verdict) and RV(msg) say why), as M(progressive.delivery.approval)'s
        C(decision).
      type: str
    waited:
      description: Seconds held.
      type: float
    approved_by:
      description: The approvers counted when the hold ended.
      type: list
      elements: str
    polls:
      description: Measurements taken while holding.
      type: int
    slices:
      description: Observation slices run while holding.
      type: int
  sample: {"gate": "prod-kr/shop 2026.12.1+3 at 50%", "decision": "open", "waited": 1834.2,
           "approved_by": ["alice"], "polls": 367, "slices": 123}
load:
  description: What O(load) sent and what answered (HTTP status or error -> count).
  returned: when O(load) is set
  type: dict
  sample: {"url": "http://127.0.0.1:8082/", "rate": 10.0, "sent": 52, "answers": {"200": 52}}
taken_over:
  description: What the release record said when the release of O(release) was found no longer current.
  returned: when RV(verdict) is V(taken_over)
  type: dict
  contains:
    current:
      description: The current release (C(id), C(version), C(strategy)), or V(null) when none is in progress.
      type: dict
    last:
      description: The last finished release (C(id), C(version), C(strategy), C(outcome), C(reason)), or V(null).
      type: dict
    finished:
      description:
        - V(true) when the release of O(release) itself finished (a rollback took it over; RV(taken_over.last) is
          it, with its outcome and reason); V(false) when another release is current.
      type: bool
  sample: {"current": null, "last": {"id": "2026.12.1+3", "version": "2026.12.1+3", "strategy": "rollback",
           "outcome": "rolled_back", "reason": "operator: 5xx in KR"}, "finished": true}
verdict:
  description: V(pass), V(fail) or V(inconclusive) for the step; V(taken_over) when O(release) is no longer the
    current release.
  returned: always
  type: str
  sample: fail
msg:
  description: The verdict and why, in one sentence; for V(fail), every failing indicator or check with its query,
    bound and value.
  returned: always
  type: str
  sample: "analysis [step 2/4 25%] failed after 5s (2 polls): 1 failed measurement, more than failure_limit 0.
    Failing: error_ratio: value 0.3 > max 0.01 (30 bad of 100 events) (query: ...; bound: max 0.01; value: 0.300)"
measurements:
  description: One entry per poll.
  returned: always
  type: list
  elements: dict
  contains:
    at:
      description: When the poll started (RFC 3339, UTC).
      type: str
    elapsed:
      description: Seconds since the analysis started.
      type: float
    verdict:
      description: The measurement's verdict.
      type: str
    values:
      description: Each indicator's value by name (V(null) without data).
      type: dict
    no_data:
      description: Whether the measurement was inconclusive only for lack of evidence.
      type: bool
    checks:
      description: Each health URL's HTTP status and each container's state, by URL and name (only with checks).
      type: dict
  sample: [{"at": "2026-11-21T10:00:05.000Z", "elapsed": 5.0, "verdict": "pass", "values": {"error_ratio": 0.0},
            "no_data": false}]
failing:
  description:
    - Every indicator or check that failed during the analysis (the latest failure of each), also for a tolerated
      failure of a passing analysis.
  returned: always
  type: list
  elements: dict
  contains:
    kind:
      description: V(indicator), V(health_url) or V(container).
      type: str
    name:
      description: The indicator's name, the URL or the container name.
      type: str
    query:
      description: The PromQL (C(bad / total) for ratio indicators, C(... vs baseline ...)), C(GET <url>) or the
        container inspected.
      type: str
    queries:
      description: Indicators only; every query sent, by option name.
      type: dict
    bound:
      description: The bounds, as text (V(max 0.01, min_events 100), V(HTTP 200)).
      type: str
    bounds:
      description: Indicators only; the bounds that are set.
      type: dict
    value:
      description: The measured value (an HTTP status, or the container's state).
      type: raw
    baseline_value:
      description: Indicators only; the baseline's value, or V(null).
      type: raw
    ratio:
      description: Indicators only; value / baseline value, or V(null).
      type: raw
    events:
      description: Indicators only; the event counts of a ratio indicator, or V(null).
      type: dict
    reason:
      description: Why it failed, in plain words.
      type: str
    at:
      description: When the failing poll started.
      type: str
    elapsed:
      description: Seconds into the analysis of the failing poll.
      type: float
  sample: [{"kind": "health_url", "name": "http://127.0.0.1:8082/healthz", "query": "GET http://127.0.0.1:8082/healthz",
            "bound": "HTTP 200", "value": 503, "reason": "http://127.0.0.1:8082/healthz answered HTTP 503, not 200",
            "at": "2026-11-21T10:00:05.000Z", "elapsed": 5.0}]
last:
  description: The last M(progressive.delivery.slo_check) result (V(null) without O(slis)).
  returned: always
  type: dict
elapsed:
  description: Seconds from the start to the last poll.
  returned: always
  type: float
  sample: 30.0
polls:
  description: Number of measurements.
  returned: always
  type: int
  sample: 7
extended:
  description: Whether the step ran past O(duration) waiting for evidence.
  returned: always
  type: bool
  sample: false
failures:
  description: Number of failed measurements.
  returned: always
  type: int
  sample: 0
option:
  description: The option at fault when the task failed on a bad option.
  returned: failure
  type: str
  sample: duration
"""
