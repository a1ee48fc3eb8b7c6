#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: slo_check
short_description: Judge service level indicators from Prometheus, alone or against a baseline
version_added: 0.1.0
description:
  - Queries Prometheus for a list of service level indicators (SLIs) and judges each one against absolute bounds
    (O(slis[].max), O(slis[].min)), against a baseline such as the stable pool of a canary
    (O(slis[].max_increase), O(slis[].max_ratio)) or with a Mann-Whitney U test of two samples taken from range
    queries (O(slis[].judge=mann_whitney)), the way Kayenta's NetflixACAJudge classifies canary metrics.
  - O(slis[].judge=sequential) accumulates evidence across the steps of a rollout. It runs an always-valid
    sequential test (Lindon & Malek) on the canary's and the baseline's bad-event counts since the rollout
    started. Call it at every step. It fails as soon as the canary's bad-event rate is significantly above
    O(slis[].max_ratio) times the baseline's. The false-fail rate stays below O(slis[].alpha) however many
    steps look at it.
  - Folds the indicator verdicts into one verdict, V(pass), V(fail) or V(inconclusive), and a weighted score,
    as Kayenta does. Every result explains itself in plain words in RV(results[].reason).
  - An indicator is one PromQL O(slis[].query), or a ratio of event counts, O(slis[].bad_query) or
    O(slis[].good_query) over O(slis[].total_query), as OpenSLO and Sloth define ratio SLIs. A ratio indicator
    reads a missing bad-event series (no error yet) as 0, an empty or zero total as no data, and a total below
    O(slis[].min_events) as no data, so neither a healthy service nor an idle one needs C(or vector(0)).
  - Missing data is never a pass. An indicator whose query returns nothing (or NaN, for example a ratio of two
    zero rates) follows O(slis[].on_no_data). When half or more of the indicators have no data the verdict is
    V(inconclusive) with score 0, whatever O(slis[].on_no_data) says.
  - Transient Prometheus failures (connection refused, timeouts, HTTP 5xx) are retried with exponential backoff and
    jitter (O(retries), O(retry_delay)); an indicator still failing after that is V(inconclusive), never V(pass).
  - Read-only; never reports a change. See C(docs/slo_check.md) in the collection for a guide to writing indicators.
author: progressive.delivery maintainers (@progressive-delivery)
extends_documentation_fragment:
  - progressive.delivery._in_process
  - progressive.delivery._prometheus
  - progressive.delivery._slis
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details:
      - The module only reads from Prometheus; it runs and judges in check mode exactly as in normal mode.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
options:
  slis:
    description:
      - The indicators to judge. Each needs a O(slis[].name), a O(slis[].query) and something to judge it by.
      - The suboptions are shared with M(progressive.delivery.qos_guard); where they name C(results[]), that is
        RV(results) of this module.
    required: true
  at:
    description:
      - Evaluate the indicators at this past time instead of now (retrospective analysis), as a unix timestamp
        or an RFC 3339 date-time with a time zone (V(2026-11-21T10:00:00Z)).
      - Instant queries are evaluated at O(at); range queries end at O(at).
    type: raw
  fail_on_verdict:
    description:
      - When V(true), the task fails when the verdict is V(fail); the message lists each failing indicator with its
        value and its bound. All return values are returned with the failure as well.
      - An V(inconclusive) verdict never fails the task; check RV(verdict) and decide (for example, pause a
        rollout and retry the check later).
    type: bool
    default: true
requirements:
  - scipy (only for O(slis[].judge=mann_whitney), on the host that executes the module)
notes:
  - All indicators are evaluated at the same instant, RV(evaluated_at), so they describe the same moment.
  - Malformed PromQL (Prometheus C(bad_data)), a query that fails to evaluate (C(execution)), a query returning
    several series, HTTP 401/403/404 and TLS errors fail the task with a message naming the indicator and the
    option; they are configuration errors that retrying cannot fix.
  - An indicator without data does not pass, so it lowers the score; but missing data alone never fails the check.
    When the score is below O(pass_score) only because of indicators without data (or a O(slis[].critical) one
    has no data), the verdict is V(inconclusive) and the rollout holds, neither promoted nor rolled back.
seealso:
  - name: Kayenta canary judge
    description: The NetflixACAJudge and Mann-Whitney classifier this module follows.
    link: https://github.com/spinnaker/kayenta/tree/master/kayenta-judge
  - name: Prometheus HTTP API
    description: The query endpoints this module uses.
    link: https://prometheus.io/docs/prometheus/latest/querying/api/
"""

EXAMPLES = r"""
- name: Gate the green pool on its error ratio and latency
  progressive.delivery.slo_check:
    prometheus_url: http://127.0.0.1:19090
    slis:
      - name: error_ratio
        bad_query: sum(increase(http_requests_total{pool="green",code=~"5.."}[1m]))
        total_query: sum(increase(http_requests_total{pool="green"}[1m]))
        min_events: 100      # fewer requests in the minute: no data, never a pass
        max: 0.01
        critical: true
      - name: p95_latency
        query: >-
          histogram_quantile(0.95,
            sum by (le) (rate(http_request_duration_seconds_bucket{pool="green"}[1m])))
        max: 0.25
  register: gate

- name: Compare the canary with the stable pool (Kayenta-style)
  progressive.delivery.slo_check:
    prometheus_url: https://prometheus.example.com
    bearer_token: "{{ vault_prometheus_token }}"
    slis:
      - name: error_ratio
        judge: mann_whitney
        bad_query: sum(increase(http_requests_total{pool="green",code=~"5.."}[10s]))
        total_query: sum(increase(http_requests_total{pool="green"}[10s]))
        baseline_bad_query: sum(increase(http_requests_total{pool="blue",code=~"5.."}[10s]))
        baseline_total_query: sum(increase(http_requests_total{pool="blue"}[10s]))
        min_events: 20       # per 10 s sample
        range: 5m
        step: 10s
        max_ratio: 1.5
        critical: true
      - name: p95_latency
        query: >-
          histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket{pool="green"}[1m])))
        baseline_query: >-
          histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket{pool="blue"}[1m])))
        max_ratio: 1.2
  register: canary

# One step of a canary rollout; run it at every step with the same rollout_start.
- name: Accumulate evidence across the rollout's steps (sequential test)
  progressive.delivery.slo_check:
    prometheus_url: http://127.0.0.1:19090
    slis:
      - name: errors
        judge: sequential
        since: "{{ rollout_start }}"
        bad_query: sum(increase(http_requests_total{pool="green",code=~"5.."}[$__range]))
        total_query: sum(increase(http_requests_total{pool="green"}[$__range]))
        baseline_bad_query: sum(increase(http_requests_total{pool="blue",code=~"5.."}[$__range]))
        baseline_total_query: sum(increase(http_requests_total{pool="blue"}[$__range]))
        min_events: 200
        max_ratio: 1.2
        history: "{{ step_analysis.results[0].looks | default([]) if step_analysis is defined else [] }}"
        final: "{{ canary_weight | int == 100 }}"
        critical: true
  register: step_analysis

- name: Wait for enough evidence, then stop the rollout if there still is none
  progressive.delivery.slo_check:
    prometheus_url: http://127.0.0.1:19090
    slis:
      - name: error_ratio
        bad_query: sum(increase(http_requests_total{pool="green",code=~"5.."}[1m]))
        total_query: sum(increase(http_requests_total{pool="green"}[1m]))
        min_events: 100
        max: 0.01
  register: gate
  retries: 5
  delay: 30
  until: gate.verdict != 'inconclusive'   # after the last retry the task fails with gate.msg

- name: Look back at a release window
  progressive.delivery.slo_check:
    prometheus_url: http://127.0.0.1:19090
    at: "2026-11-21T10:00:00Z"
    fail_on_verdict: false
    slis:
      - name: availability
        good_query: sum(increase(http_requests_total{code!~"5.."}[5m]))
        total_query: sum(increase(http_requests_total[5m]))
        min_events: 1000
        min: 0.999
        on_no_data: fail
  register: retro
"""

RETURN = r"""
verdict:
  description:
    - V(pass), V(fail) or V(inconclusive) for the whole check.
    - V(inconclusive) when half or more of the indicators have no data, when the score is between O(marginal_score)
      and O(pass_score), or when there is no indicator with a weight above 0.
  returned: always
  type: str
  sample: fail
score:
  description:
    - Weighted share of passing indicators in percent (0 to 100); 0 when a critical indicator failed or when half or
      more of the indicators have no data.
  returned: always
  type: float
  sample: 50.0
reason:
  description:
    - Why the check came to RV(verdict), in plain words, then every indicator with its verdict, its value
      and its bounds (or why it has no value).
  returned: always
  type: str
  sample: "critical indicator failed: error_ratio. Indicators: error_ratio (fail): value 0.052 > max 0.01
    (21 bad of 404 events); p95_latency (pass): value 0.012 is <= max 0.25"
msg:
  description:
    - The verdict, its reason and every indicator in one sentence, for every verdict (V(pass) and
      V(inconclusive) too), so that an C(until) loop that runs out of retries fails with it. With
      O(fail_on_verdict) and V(fail), the failure message lists only the failing indicators.
  returned: always
  type: str
  sample: "SLO check inconclusive: 1 of 1 indicators have no data (error_ratio); not enough data to judge.
    Indicators: error_ratio (inconclusive): no data: total_query counted 12 events, fewer than min_events 100;
    counted as inconclusive (on_no_data=inconclusive) [bounds: max 0.01, min_events 100]"
evaluated_at:
  description:
    - The instant all indicators were evaluated at (RFC 3339, UTC); O(at) when given, else the start of the task.
  returned: always
  type: str
  sample: "2026-11-21T10:00:00.000Z"
results:
  description:
    - One entry per indicator, in the order of O(slis).
    - Numbers that are infinite (for example a C(histogram_quantile) above the highest bucket) are returned as the
      strings V(+Inf) or V(-Inf).
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The indicator's O(slis[].name).
      type: str
      sample: error_rate
    verdict:
      description: V(pass), V(fail) or V(inconclusive) (after applying O(slis[].on_no_data)).
      type: str
      sample: fail
    reason:
      description: Why, in plain words, with the value and the bound or the test statistics.
      type: str
      sample: "value 0.052 > max 0.01"
    no_data:
      description: Whether the indicator had no data (empty result, NaN, too few samples or a missing baseline).
      type: bool
      sample: false
    error:
      description: The Prometheus error that made the indicator inconclusive after all retries, else V(null).
      type: str
      sample: "http://127.0.0.1:19090/api/v1/query: gave up after 4 attempts in 3.2s: connection refused"
    judge:
      description: The judge used, V(threshold), V(mann_whitney) or V(sequential).
      type: str
      sample: threshold
    critical:
      description: The indicator's O(slis[].critical).
      type: bool
      sample: true
    weight:
      description: The indicator's O(slis[].weight).
      type: float
      sample: 1.0
    on_no_data:
      description: The indicator's O(slis[].on_no_data).
      type: str
      sample: inconclusive
    query:
      description: The exact PromQL sent for O(slis[].query) (with C($__range) replaced for V(sequential)).
      type: str
      sample: sum(rate(http_requests_total{code="500"}[1m])) / sum(rate(http_requests_total[1m]))
    baseline_query:
      description: The exact PromQL sent for O(slis[].baseline_query), or V(null).
      type: str
      sample: null
    bad_query:
      description: The exact PromQL sent for O(slis[].bad_query), or V(null).
      type: str
      sample: sum(increase(http_requests_total{pool="green",code=~"5.."}[1m]))
    good_query:
      description: The exact PromQL sent for O(slis[].good_query), or V(null).
      type: str
      sample: null
    total_query:
      description: The exact PromQL sent for O(slis[].total_query), or V(null).
      type: str
      sample: sum(increase(http_requests_total{pool="green"}[754s]))
    baseline_bad_query:
      description: The exact PromQL sent for O(slis[].baseline_bad_query), or V(null).
      type: str
      sample: null
    baseline_good_query:
      description: The exact PromQL sent for O(slis[].baseline_good_query), or V(null).
      type: str
      sample: null
    baseline_total_query:
      description: The exact PromQL sent for O(slis[].baseline_total_query), or V(null).
      type: str
      sample: sum(increase(http_requests_total{pool="blue"}[754s]))
    value:
      description:
        - The indicator's value (bad / total or good / total for a ratio indicator); for V(mann_whitney) the mean
          of the canary samples; for V(sequential) the canary's cumulative bad-event rate (bad events /
          O(slis[].total_query)). V(null) without data.
      type: raw
      sample: 0.052
    baseline_value:
      description:
        - The baseline's value (mean of the baseline samples for V(mann_whitney), cumulative bad-event rate for
          V(sequential)), or V(null).
      type: raw
      sample: 0.011
    ratio:
      description:
        - RV(results[].value) / RV(results[].baseline_value) (ratio of the means for V(mann_whitney), ratio of the
          bad-event rates for V(sequential)), or V(null).
      type: raw
      sample: 4.73
    bounds:
      description: The bounds the indicator was judged by (V(null) when not set).
      type: dict
      contains:
        min:
          description: O(slis[].min).
          type: float
        max:
          description: O(slis[].max).
          type: float
        max_increase:
          description: O(slis[].max_increase).
          type: float
        max_ratio:
          description: O(slis[].max_ratio).
          type: float
      sample: {"min": null, "max": 0.01, "max_increase": null, "max_ratio": null}
    samples:
      description:
        - Number of values each query returned (non-NaN points; 0 or 1 for instant queries). V(null) for a query
          not configured or not evaluated.
      type: dict
      contains:
        query:
          description: Values returned by O(slis[].query).
          type: int
        baseline_query:
          description: Values returned by O(slis[].baseline_query).
          type: int
      sample: {"query": 24, "baseline_query": 25}
    events:
      description:
        - For ratio indicators with V(threshold) and for V(sequential), the event counts the value was computed
          from, by option name (for example C(bad_query) and C(total_query)). A bad or good count whose query
          returned nothing is 0 when the total had events. V(null) for a count not queried, for V(mann_whitney)
          and for indicators defined by O(slis[].query) with V(threshold).
      type: dict
      sample: {"bad_query": 3.0, "total_query": 412.0}
    min_events:
      description: The indicator's O(slis[].min_events), or V(null).
      type: float
      sample: 100.0
    removed_outliers:
      description: Samples removed as outliers before the Mann-Whitney test (V(null) for V(threshold)).
      type: int
      sample: 1
    classification:
      description: Kayenta's label for V(mann_whitney) (V(Pass), V(High), V(Low), V(Nodata)), else V(null).
      type: str
      sample: High
    p_value:
      description:
        - Two-sided Mann-Whitney U p-value for V(mann_whitney); for V(sequential) the anytime-valid p-value,
          min(1, 1 / RV(results[].max_e_value)), which never increases from one look to the next. Else V(null).
      type: float
      sample: 0.00002
    e_value:
      description:
        - V(sequential) only, else V(null). The e-value (mixture likelihood ratio) at this look; larger is more
          evidence of a regression. Huge values are returned as V(+Inf).
      type: raw
      sample: 3.2
    max_e_value:
      description:
        - V(sequential) only, else V(null). The running maximum of RV(results[].e_value) over all looks. The test
          fails when it reaches 1 / O(slis[].alpha).
      type: raw
      sample: 4.1
    ratio_upper:
      description:
        - V(sequential) with O(slis[].final=true) and a V(pass), else V(null). An anytime-valid upper bound, at
          confidence 1 - O(slis[].alpha), of the true ratio of bad-event rates, which says how large a regression
          the data cannot exclude. V(+Inf) when there were too few bad events to bound it.
      type: raw
      sample: 1.6
    decision:
      description:
        - V(sequential) only, else V(null). The test's own decision. V(fail) means a regression was detected.
          V(continue) means no evidence yet, so the indicator passes for this step and the rollout may go on.
          V(pass) is returned only with O(slis[].final=true), when the rollout ended without evidence. V(nodata)
          means no canary or baseline events yet, or a query returned nothing.
      type: str
      sample: continue
    looks:
      description:
        - V(sequential) only, else V(null). The cumulative counts at every look so far, this one last. Each look
          is [canary bad events, canary total, baseline bad events, baseline total], after clamping. Pass the list
          as O(slis[].history) at the next step.
        - Without data it is O(slis[].history) unchanged.
      type: list
      elements: list
      sample: [[12.0, 1200.0, 11.0, 10800.0], [40.0, 4000.0, 30.0, 12000.0]]
    hodges_lehmann:
      description: Hodges-Lehmann estimate of the shift of the canary relative to the baseline, or V(null).
      type: float
      sample: 0.098
    ci_lower:
      description: Lower end of the O(slis[].confidence) interval of that shift, or V(null).
      type: float
      sample: 0.081
    ci_upper:
      description: Upper end of the O(slis[].confidence) interval of that shift, or V(null).
      type: float
      sample: 0.117
    range:
      description:
        - The sample range for V(mann_whitney) as given or defaulted (V(2m)). For V(sequential) with
          O(slis[].since), the window that replaced C($__range) (V(754s)). Else V(null).
      type: str
      sample: 2m
    step:
      description: The sample step for V(mann_whitney) as given or defaulted (V(5s)), else V(null).
      type: str
      sample: 5s
    warnings:
      description: Warnings Prometheus returned with the answers.
      type: list
      elements: str
      sample: []
"""

import time  # noqa: E402
from typing import Any  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible_collections.progressive.delivery.plugins.module_utils._judge import (  # noqa: E402
    FAIL,
)
from ansible_collections.progressive.delivery.plugins.module_utils._prometheus import (  # noqa: E402
    PROMETHEUS_MUTUALLY_EXCLUSIVE,
    PROMETHEUS_REQUIRED_TOGETHER,
    PrometheusClient,
    PrometheusConfig,
    prometheus_argument_spec,
)
from ansible_collections.progressive.delivery.plugins.module_utils._result import (  # noqa: E402
    ModuleFailure,
    run_module,
)
from ansible_collections.progressive.delivery.plugins.module_utils._slo import (  # noqa: E402
    SCORE_OPTIONS,
    SLI_OPTIONS,
    IndicatorConfigError,
    SliModule,
    evaluation_time,
    load_indicators,
    run_check,
)


def argument_spec() -> dict[str, dict[str, Any]]:
    spec = prometheus_argument_spec()
    spec.update(
        slis={"type": "list", "elements": "dict", "required": True, "options": SLI_OPTIONS},
        **SCORE_OPTIONS,
        at={"type": "raw"},
        fail_on_verdict={"type": "bool", "default": True},
    )
    return spec


# --------------------------------------------------------------------------------------------------
# Module
# --------------------------------------------------------------------------------------------------
def _client(params: dict[str, Any]) -> PrometheusClient:
    try:
        return PrometheusClient(PrometheusConfig.from_params(params))
    except ValueError as exc:
        raise ModuleFailure(f"option {exc}", option=str(exc).split(" ", 1)[0]) from None


def check(module: AnsibleModule) -> dict[str, Any]:
    """Judge the indicators; raises :class:`ModuleFailure` (run_module turns it into the one fail_json)."""
    params = module.params
    indicators = load_indicators(params)
    try:
        at = evaluation_time(params["at"], time.time())
    except ValueError as exc:
        raise ModuleFailure(str(exc), option="at") from None
    client = _client(params)
    try:
        result = run_check(client, indicators, at, params["pass_score"], params["marginal_score"])
    except IndicatorConfigError as exc:
        raise ModuleFailure(str(exc), option=exc.option) from None
    if params["fail_on_verdict"] and result["verdict"] == FAIL:
        raise ModuleFailure(**result)
    return result


#: How main() builds and runs the module; the action plugin builds the same one in the controller process
#: (plugins/plugin_utils/_in_process.py).
MODULE_CLASS = SliModule
MODULE_KWARGS = {"mutually_exclusive": PROMETHEUS_MUTUALLY_EXCLUSIVE,
                 "required_together": PROMETHEUS_REQUIRED_TOGETHER, "supports_check_mode": True}
run = check


def main() -> None:
    module = MODULE_CLASS(argument_spec=argument_spec(), **MODULE_KWARGS)
    run_module(module, lambda: run(module))


if __name__ == "__main__":
    main()
