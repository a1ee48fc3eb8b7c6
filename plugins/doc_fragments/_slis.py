# -*- coding: utf-8 -*-
# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations


class ModuleDocFragment:
    # The indicators (slis) judged by slo_check and by qos_guard's state=evaluate (the suboptions are
    # plugins/module_utils/_slo.py SLI_OPTIONS), and the score thresholds (_slo.SCORE_OPTIONS). Each module keeps
    # its own slis description (and required:); Ansible merges the module's keys over this fragment's.
    DOCUMENTATION = r"""
options:
  slis:
    type: list
    elements: dict
    suboptions:
      name:
        description:
          - Name of the indicator, unique within O(slis). Used in results and messages.
        type: str
        required: true
      query:
        description:
          - PromQL expression for the indicator (the canary when a O(slis[].baseline_query) is given).
          - Each indicator has exactly one of O(slis[].query), O(slis[].bad_query) or O(slis[].good_query). For
            error ratios and success ratios prefer a ratio indicator (O(slis[].bad_query) or O(slis[].good_query)
            with O(slis[].total_query)). It needs no C(or vector(0)), which would also hide a misnamed metric.
          - With O(slis[].judge=threshold) it is an instant query evaluated at the evaluation time (C(at) in
            M(progressive.delivery.slo_check), the current time in M(progressive.delivery.qos_guard)) and must return
            one series or a scalar; with O(slis[].judge=mann_whitney) it is a range query over O(slis[].range).
          - With O(slis[].judge=sequential) it is an instant query that counts the canary's bad events (errors,
            slow requests) since the rollout started, for example the C(sum) of the C(increase) of the canary's
            5xx requests over C([$__range]), with C(or vector(0)) so that no errors count as 0. A ratio indicator
            (O(slis[].bad_query)) needs no C(or vector(0)). See O(slis[].since) for C($__range).
          - A query returning several series is an error; aggregate it, for example with C(sum(...)).
          - An empty result or NaN is no data, see O(slis[].on_no_data).
        type: str
      bad_query:
        description:
          - Makes the indicator a ratio of event counts, as OpenSLO's C(ratioMetric) and Sloth's C(events) define
            SLIs. PromQL that counts the bad events (errors, slow requests) among those counted by
            O(slis[].total_query), for example
            C(sum(increase(http_requests_total{code=~"5.."}[5m]))). The indicator's value is
            bad / total, judged with O(slis[].max) for example.
          - An empty result (the series does not exist until the first error) with events in the total is 0 bad
            events. An empty or zero total is no data, and so is a total below O(slis[].min_events). So a
            healthy service passes without C(or vector(0)), and no traffic is never a pass.
          - With O(slis[].judge=threshold) both are instant queries. With O(slis[].judge=mann_whitney) both are
            range queries and each step's ratio is one sample. With O(slis[].judge=sequential) both count the
            events since the rollout started and the test uses the counts directly.
          - Mutually exclusive with O(slis[].query) and O(slis[].good_query). Requires O(slis[].total_query).
        type: str
      good_query:
        description:
          - Like O(slis[].bad_query), but counts the good events (for example non-5xx requests). The indicator's
            value is good / total, judged with O(slis[].min) for example.
          - An empty result with events in the total is 0 % good. An empty or zero total is no data.
          - With O(slis[].judge=sequential) the bad events are total - good.
          - Mutually exclusive with O(slis[].query) and O(slis[].bad_query). Requires O(slis[].total_query).
        type: str
      max:
        description:
          - Upper bound. The indicator fails when the value is greater than O(slis[].max) (the bound itself passes).
          - With O(slis[].judge=mann_whitney) the value is the mean of the canary samples.
        type: float
      min:
        description:
          - Lower bound. The indicator fails when the value is less than O(slis[].min).
          - With O(slis[].judge=mann_whitney) the value is the mean of the canary samples.
        type: float
      baseline_query:
        description:
          - PromQL expression for the same indicator on the baseline (for example the stable pool).
          - Required by O(slis[].max_increase), O(slis[].max_ratio) with O(slis[].judge=threshold), and by
            O(slis[].judge=mann_whitney) and O(slis[].judge=sequential).
          - Ratio indicators use O(slis[].baseline_bad_query) or O(slis[].baseline_good_query) with
            O(slis[].baseline_total_query) instead.
          - With O(slis[].judge=sequential), the baseline's bad events since the rollout started (instant query).
        type: str
      max_increase:
        description:
          - With O(slis[].judge=threshold), fail when value - baseline value > O(slis[].max_increase).
          - Not accepted with O(slis[].judge=mann_whitney); use O(slis[].max_ratio) there.
        type: float
      max_ratio:
        description:
          - With O(slis[].judge=threshold), fail when value / baseline value > O(slis[].max_ratio). A baseline of 0
            gives ratio 1 when the value is 0 as well, otherwise an infinite ratio.
          - With O(slis[].judge=mann_whitney), the effect-size gate (Kayenta's C(allowedIncrease)). A significant
            increase only fails when mean(canary) / mean(baseline) > O(slis[].max_ratio), a significant decrease
            only when the ratio < 1 / O(slis[].max_ratio).
          - With O(slis[].judge=sequential), the tolerated ratio of the canary's bad-event rate to the baseline's
            (the null hypothesis is ratio <= O(slis[].max_ratio)). Defaults to V(1) for that judge. For example,
            V(1.2) lets the canary have up to 20% more errors than the baseline.
          - Must be greater than 0.
        type: float
      judge:
        description:
          - V(threshold) compares one value (instant query) with the bounds.
          - V(mann_whitney) takes O(slis[].range) of samples, one every O(slis[].step), from O(slis[].query) and
            O(slis[].baseline_query), removes outliers, and classifies the canary as Kayenta's
            NetflixACAJudge does. Needs the Python library C(scipy) on the host that runs the module.
          - V(sequential) is an always-valid sequential test, meant to run once per rollout step (Lindon & Malek,
            anytime-valid inference for count data, as Netflix uses it for canaries).
            It compares the canary's bad-event rate, O(slis[].query) / O(slis[].total_query), with the baseline's,
            O(slis[].baseline_query) / O(slis[].baseline_total_query). All four are cumulative counts since the
            rollout started.
            It fails once the anytime-valid p-value is at most O(slis[].alpha) (the e-value reaches
            1 / O(slis[].alpha)), that is, when the canary's rate is significantly above O(slis[].max_ratio)
            times the baseline's.
            Otherwise the indicator passes, as there is no evidence of a regression so far and the rollout may
            continue. A later step can still fail it, and the false-fail rate stays below O(slis[].alpha)
            however many steps look.
            C(results[].decision) says V(continue), or V(pass) on the O(slis[].final) look.
            Pass C(results[].looks) back as O(slis[].history) at the next step.
            Pure Python, no C(scipy) needed.
        type: str
        choices: [threshold, mann_whitney, sequential]
        default: threshold
      range:
        description:
          - Only for O(slis[].judge=mann_whitney). How far back the samples reach from the evaluation time, as a
            Prometheus duration (V(2m), V(90s)) or seconds. Defaults to V(2m).
        type: str
      step:
        description:
          - Only for O(slis[].judge=mann_whitney). Distance between two samples, as a Prometheus duration or
            seconds. Defaults to V(5s).
          - Use a step at least as long as the C(rate()) window in the query, otherwise neighbouring samples overlap,
            are correlated, and the test sees differences that are not there.
        type: str
      confidence:
        description:
          - Only for O(slis[].judge=mann_whitney). Confidence level of the test, between 0 and 1 (exclusive); a
            difference is significant when the p-value is below 1 - O(slis[].confidence).
        type: float
        default: 0.98
      direction:
        description:
          - Only for O(slis[].judge=mann_whitney). Which significant change fails the indicator.
          - V(increase) for metrics where higher is worse (error rates, latency), V(decrease) where lower is worse
            (throughput, success ratio), V(either) for both.
        type: str
        choices: [increase, decrease, either]
        default: increase
      min_samples:
        description:
          - Only for O(slis[].judge=mann_whitney). Fewest samples (non-NaN points) each of the two range queries
            must return; with fewer the indicator has no data. A rank test on a handful of samples cannot find a
            difference, so without this gate too little data would look like a pass.
        type: int
        default: 10
      total_query:
        description:
          - The count of all events (requests) of a ratio indicator, of which O(slis[].bad_query) or
            O(slis[].good_query) counts a part. Required with those.
          - Write it as a count over the window, for example C(sum(increase(http_requests_total[5m]))), so that
            O(slis[].min_events) is a number of events (C(rate) gives events per second; the ratio is the same).
          - With O(slis[].judge=sequential), required. The canary's events since the rollout started (for
            example the C(sum) of the C(increase) of the canary's request counter over C([$__range])), of which
            O(slis[].query) or O(slis[].bad_query) counts the bad ones.
        type: str
      baseline_bad_query:
        description:
          - O(slis[].bad_query) for the baseline (for example the stable pool), with
            O(slis[].baseline_total_query). Needed by the baseline comparisons (O(slis[].max_ratio),
            O(slis[].max_increase)), O(slis[].judge=mann_whitney) and O(slis[].judge=sequential).
        type: str
      baseline_good_query:
        description:
          - O(slis[].good_query) for the baseline, with O(slis[].baseline_total_query).
        type: str
      baseline_total_query:
        description:
          - The baseline's O(slis[].total_query), with O(slis[].baseline_bad_query) or O(slis[].baseline_good_query).
          - With O(slis[].judge=sequential), required. The baseline's events since the rollout started, of which
            O(slis[].baseline_query) or O(slis[].baseline_bad_query) counts the bad ones.
        type: str
      min_events:
        description:
          - The evidence floor of a ratio indicator (and of O(slis[].judge=sequential)). With fewer events than
            this in O(slis[].total_query) (and O(slis[].baseline_total_query)) the indicator has no data, see
            O(slis[].on_no_data). A 1 % error bound judged on 20 requests, or on a router's health checks, is
            not evidence.
          - With O(slis[].judge=threshold) and O(slis[].judge=sequential) it bounds the total's value (the events
            in the query's window, or since the rollout started). With O(slis[].judge=mann_whitney) it bounds each
            sample; samples below it are left out before O(slis[].min_samples) is checked.
          - Below the floor an indicator never passes. With an absolute bound (O(slis[].max) or O(slis[].min)),
            decisive bad events fail it before the floor (a test of the bad share against the bound at level
            0.001, with at least 3 bad events), so a clear fault is caught while a step is still short of
            evidence.
          - Not set by default, so only an empty or zero total is no data. Set it.
        type: float
      since:
        description:
          - Only for O(slis[].judge=sequential). The start of the rollout, as a unix timestamp or an RFC 3339
            date-time with a time zone (V(2026-11-21T10:00:00Z)). Typically recorded once when the rollout starts,
            for example from C(ansible_date_time.epoch) (needs facts) taken at the first step.
          - C($__range) in the four queries is replaced by the whole seconds from O(slis[].since) to the evaluation
            time, for example V(754s). The queries can then say
            C(increase) over C([$__range]) and count from the start of the rollout at every step. The results
            return the queries as sent and the window in C(results[].range).
          - Without O(slis[].since) the queries are sent as they are and must count from the start of the rollout
            by themselves. A query with C($__range) then fails validation, and so does O(slis[].since) without
            any C($__range).
          - Use the same O(slis[].since) at every step of a rollout. The counts must never shrink between looks.
            Small decreases within 1% or 1 event, which the extrapolation of C(increase) causes, are clamped.
        type: raw
      alpha:
        description:
          - Only for O(slis[].judge=sequential). Significance level, between 0 and 1 (exclusive). The chance
            that a canary no worse than O(slis[].max_ratio) times the baseline ever fails, over all the looks of
            the rollout together.
        type: float
        default: 0.02
      effect_size_max_ratio:
        description:
          - Only for O(slis[].judge=sequential). An effect-size gate, like O(slis[].max_ratio) for
            O(slis[].judge=mann_whitney). A significant result fails only while the observed cumulative ratio
            (C(results[].ratio)) is also above this value. Without it, any significant excess over
            O(slis[].max_ratio) fails.
        type: float
      history:
        description:
          - Only for O(slis[].judge=sequential). The earlier looks of this rollout, that is C(results[].looks) of this
            indicator from the previous step. Each look is a list of the four counts.
          - While the canary/baseline traffic split stays the same, the test depends only on the current
            cumulative counts, and O(slis[].history) only keeps C(results[].max_e_value) and the p-value
            monotone.
          - When the split changes between steps (canary weight 10%, 25%, 50%), pass it. Each step's increment is
            then judged with its own split.
          - Empty or omitted on the first step.
        type: list
        elements: raw
      final:
        description:
          - Only for O(slis[].judge=sequential). V(true) on the last look of the rollout. A test that has not
            failed then concludes V(pass) (C(results[].decision=pass)). It also returns
            C(results[].ratio_upper), the largest ratio the data cannot exclude.
          - The indicator verdict is V(pass) either way when the test did not fail.
        type: bool
        default: false
      critical:
        description:
          - When V(true), a failure of this indicator fails the whole check with score 0, whatever the other
            indicators say.
        type: bool
        default: false
      weight:
        description:
          - Weight of the indicator in the score (0 or more). The score is 100 * the weight of the passing indicators
            / the weight of all indicators.
        type: float
        default: 1
      on_no_data:
        description:
          - What an indicator without data counts as. Transient Prometheus errors are not "no data", they always
            make the indicator V(inconclusive).
          - V(inconclusive) does not pass the indicator and counts as no data.
          - V(fail) fails the indicator (and the check, if O(slis[].critical)).
          - V(pass) passes the indicator, for example an error counter that does not exist until the first error.
            It still counts as no data for the rule that half or more indicators without data make the check
            V(inconclusive).
        type: str
        choices: [fail, inconclusive, pass]
        default: inconclusive
  pass_score:
    description:
      - The check passes when the score is at least O(pass_score) (and no critical indicator failed).
    type: float
    default: 95
  marginal_score:
    description:
      - The check fails when the score is below O(marginal_score). A score between O(marginal_score) and
        O(pass_score) is V(inconclusive). Must not be greater than O(pass_score).
    type: float
    default: 75
"""
