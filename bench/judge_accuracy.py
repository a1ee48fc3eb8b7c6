# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""How well the canary judges separate healthy from degraded canaries (issue 3, "Benchmark").

Prints numbers; it is not a test. Results and method: docs/judge-accuracy.md.

    .venv/bin/python bench/judge_accuracy.py [--pairs 2400] [--seed 1] [--steps 4] [--workers 2] [--levels 10,50,100]

For each traffic level (canary requests/s; the baseline pool gets the same traffic) it generates ``--pairs``
labelled canary/baseline pairs from the request process itself: Poisson arrivals in every 5-s sample, each request
failing independently (binomial) and taking a log-normal latency, recorded in the lab demo app's histogram
buckets. Per 5-s sample it derives what Prometheus would return for a 2-minute range query with a 5-s step:
the error ratio and ``histogram_quantile(0.95, ...)``. Half the pairs are healthy (canary = baseline process), the
other half degraded in one metric: error rate x1.5/x2/x5 or latency x1.2/x1.5/x2 (true p95 +20/+50/+100%).
A rollout has ``--steps`` steps of one 2-minute window each; the per-window judges see step 1 (and, in the
"every step" columns, each step), the sequential test accumulates the counts of all steps.
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.stats import beta, mannwhitneyu

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / ".build"))
from ansible_collections.progressive.delivery.plugins.module_utils import _judge  # noqa: E402

LEVELS = (10, 50, 100)  # canary requests per second
WINDOW_S, SAMPLE_S = 120, 5  # 2-minute windows sampled every 5 s
BASE_ERROR_RATE = 0.01  # 1% of requests fail in a healthy version
LATENCY_MEDIAN_S, LATENCY_SIGMA = 0.060, 0.5  # log-normal: median 60 ms, true p95 = 137 ms
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)  # tests/lab/app/demoapp.py
ALPHA = 0.02  # 1 - confidence 0.98, for every judge
GATE = 1.5  # effect-size / ratio gate for the error ratio (and the Mann-Whitney p95 gate)
P95_GATE = 1.2  # plain threshold judge: p95 may grow by 20%
REGRESSIONS = (("errors", 1.5), ("errors", 2.0), ("errors", 5.0), ("latency", 1.2), ("latency", 1.5),
               ("latency", 2.0))
JUDGES = (("threshold", "threshold"), ("ours", "ours (MW)"), ("reference", "reference MW"),
          ("ours_every", "ours, every step"), ("reference_every", "reference, every step"),
          ("sequential_1", "sequential, step 1"), ("sequential", "sequential, all steps"),
          ("sequential_gated", "sequential + gate 1.5"))
CHUNK = 100  # pairs per worker task


@dataclass
class Window:
    """What Prometheus gives for one side over one 2-minute window."""

    error_ratio: np.ndarray  # per 5-s sample (NaN without requests)
    p95: np.ndarray  # per 5-s sample, histogram_quantile (NaN without requests)
    window_p95: float  # histogram_quantile over the whole window
    errors: int
    requests: int
    slow: int  # requests slower than the latency threshold (from the bucket counts)


def histogram_quantile(q: float, counts: np.ndarray) -> np.ndarray:
    """Prometheus ``histogram_quantile`` on per-row (non-cumulative) bucket counts, last column = +Inf."""
    cum = np.cumsum(counts, axis=-1).astype(float)
    total = cum[..., -1]
    rank = q * total
    idx = np.argmax(cum >= rank[..., None], axis=-1)
    bounds = np.array((0.0, *BUCKETS, BUCKETS[-1]))
    lower, upper = bounds[idx], bounds[np.minimum(idx + 1, len(BUCKETS))]
    before = np.where(idx > 0, np.take_along_axis(cum, np.maximum(idx - 1, 0)[..., None], -1)[..., 0], 0.0)
    inside = np.take_along_axis(cum, idx[..., None], -1)[..., 0] - before
    with np.errstate(invalid="ignore", divide="ignore"):
        value = lower + (upper - lower) * (rank - before) / inside
    value = np.where(idx == len(BUCKETS), BUCKETS[-1], value)  # rank in the +Inf bucket
    return np.where(total > 0, value, np.nan)


def simulate_counts(rng: np.random.Generator, rate: float, error_rate: float,
                    latency_factor: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Requests, errors and histogram bucket counts of every 5-s sample of one window, request by request."""
    samples = WINDOW_S // SAMPLE_S
    requests = rng.poisson(rate * SAMPLE_S, samples)
    errors = rng.binomial(requests, error_rate)
    latency = latency_factor * rng.lognormal(math.log(LATENCY_MEDIAN_S), LATENCY_SIGMA, requests.sum())
    bucket = np.searchsorted(BUCKETS, latency, side="left")  # first bound with latency <= le
    owner = np.repeat(np.arange(samples), requests)
    buckets = np.bincount(owner * (len(BUCKETS) + 1) + bucket, minlength=samples * (len(BUCKETS) + 1))
    return requests, errors, buckets.reshape(samples, len(BUCKETS) + 1)


def observe(rng: np.random.Generator, rate: float, error_rate: float, latency_factor: float,
            slow_bound: int) -> Window:
    requests, errors, buckets = simulate_counts(rng, rate, error_rate, latency_factor)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(requests > 0, errors / requests, np.nan)
    return Window(ratio, histogram_quantile(0.95, buckets), float(histogram_quantile(0.95, buckets.sum(0))),
                  int(errors.sum()), int(requests.sum()), int(buckets[:, slow_bound + 1:].sum()))


def slow_bucket(rng: np.random.Generator, rate: float) -> int:
    """Index of the bucket bound used by the sequential latency test, fixed before the rollout starts.

    The largest bound at or below the baseline's p95 in a 2-minute window before the rollout (the smallest bound
    if none is), so that at least ~5% of the baseline's requests are "slow".
    """
    _errors, _total, buckets = simulate_counts(rng, rate, BASE_ERROR_RATE, 1.0)
    p95 = float(histogram_quantile(0.95, buckets.sum(0)))
    below = [index for index, bound in enumerate(BUCKETS) if bound <= p95]
    return below[-1] if below else 0


# --------------------------------------------------------------------------------------------------
# Judges: each returns True when it fails the canary
# --------------------------------------------------------------------------------------------------
def threshold_fails(canary: Window, baseline: Window) -> bool:
    error_ratio = (canary.errors / canary.requests, baseline.errors / baseline.requests)
    return (_judge.threshold_verdict(error_ratio[0], baseline=error_ratio[1], max_ratio=GATE)[0] == "fail"
            or _judge.threshold_verdict(canary.window_p95, baseline=baseline.window_p95,
                                        max_ratio=P95_GATE)[0] == "fail")


def ours_fails(canary: Window, baseline: Window) -> bool:
    return any(_judge.mann_whitney_classify(c, b, confidence=1 - ALPHA, effect_size_max_ratio=GATE).verdict == "fail"
               for c, b in ((canary.error_ratio, baseline.error_ratio), (canary.p95, baseline.p95)))


def reference_metric_fails(canary: np.ndarray, baseline: np.ndarray) -> bool:
    """scipy Mann-Whitney U (two-sided) at 0.98 plus the ratio gate on the means; nothing else."""
    canary, baseline = canary[~np.isnan(canary)], baseline[~np.isnan(baseline)]
    if canary.size == 0 or baseline.size == 0:
        return False
    p_value = mannwhitneyu(canary, baseline, alternative="two-sided").pvalue
    return bool(p_value < ALPHA and canary.mean() > GATE * baseline.mean())


def reference_fails(canary: Window, baseline: Window) -> bool:
    return (reference_metric_fails(canary.error_ratio, baseline.error_ratio)
            or reference_metric_fails(canary.p95, baseline.p95))


def sequential_fails(canary: Sequence[Window], baseline: Sequence[Window], gate: float | None = None) -> bool:
    """Errors and slow requests, each an anytime-valid test at ALPHA, evaluated after every step on the counts
    accumulated since the rollout started; the canary fails at the first step where either test fails."""
    for count in ("errors", "slow"):
        looks = np.cumsum([(getattr(c, count), c.requests, getattr(b, count), b.requests)
                           for c, b in zip(canary, baseline, strict=True)], axis=0).tolist()
        for step in range(len(looks)):
            result = _judge.sequential_rate_test(*looks[step], alpha=ALPHA, history=looks[:step],
                                                 effect_size_max_ratio=gate)
            if result.verdict == "fail":
                return True
    return False


# --------------------------------------------------------------------------------------------------
# One pair, one level
# --------------------------------------------------------------------------------------------------
def judge_pair(level: int, index: int, seed: int, steps: int) -> tuple[int, dict[str, bool]]:
    """Simulate pair ``index`` (kind -1 = healthy, else an index into REGRESSIONS) and run every judge."""
    rng = np.random.default_rng([seed, level, index])
    kind = -1 if index % 2 == 0 else (index // 2) % len(REGRESSIONS)
    metric, factor = REGRESSIONS[kind] if kind >= 0 else ("none", 1.0)
    error_rate = BASE_ERROR_RATE * (factor if metric == "errors" else 1.0)
    latency_factor = factor if metric == "latency" else 1.0
    bound = slow_bucket(rng, level)
    canary = [observe(rng, level, error_rate, latency_factor, bound) for _unused in range(steps)]
    baseline = [observe(rng, level, BASE_ERROR_RATE, 1.0, bound) for _unused in range(steps)]
    ours = [ours_fails(c, b) for c, b in zip(canary, baseline, strict=True)]
    reference = [reference_fails(c, b) for c, b in zip(canary, baseline, strict=True)]
    return kind, {"threshold": threshold_fails(canary[0], baseline[0]), "ours": ours[0],
                  "reference": reference[0], "ours_every": any(ours), "reference_every": any(reference),
                  "sequential_1": sequential_fails(canary[:1], baseline[:1]),
                  "sequential": sequential_fails(canary, baseline),
                  "sequential_gated": sequential_fails(canary, baseline, GATE)}


def run_chunk(level: int, start: int, stop: int, seed: int, steps: int) -> list[tuple[int, dict[str, bool]]]:
    return [judge_pair(level, index, seed, steps) for index in range(start, stop)]


def collect(chunks: list[list[tuple[int, dict[str, bool]]]]) -> dict[int, dict[str, list[bool]]]:
    table: dict[int, dict[str, list[bool]]] = {}
    for chunk in chunks:
        for kind, verdicts in chunk:
            row = table.setdefault(kind, {key: [] for key, _title in JUDGES})
            for key, failed in verdicts.items():
                row[key].append(failed)
    return table


# --------------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------------
def kind_label(kind: int) -> str:
    if kind < 0:
        return "healthy: false-fail"
    metric, factor = REGRESSIONS[kind]
    return f"errors x{factor:g}: recall" if metric == "errors" else f"p95 +{round(factor * 100 - 100)}%: recall"


def share(values: list[bool]) -> float:
    return 100.0 * sum(values) / len(values)


def print_table(level: int, table: dict[int, dict[str, list[bool]]]) -> None:
    print(f"\n### {level} canary requests/s\n")
    print("| pairs | n | " + " | ".join(title for _key, title in JUDGES) + " |")
    print("|---|---:|" + "---:|" * len(JUDGES))
    for kind in sorted(table):
        row = table[kind]
        cells = " | ".join(f"{share(row[key]):.1f}%" for key, _title in JUDGES)
        print(f"| {kind_label(kind)} | {len(row['ours'])} | {cells} |")


def exact_bounds(values: list[bool]) -> tuple[float, float]:
    """Two-sided 95% Clopper-Pearson interval of a share, in percent."""
    hits, total = sum(values), len(values)
    low = beta.ppf(0.025, hits, total - hits + 1) if hits else 0.0
    high = beta.ppf(0.975, hits + 1, total - hits) if hits < total else 1.0
    return 100.0 * low, 100.0 * high


def with_bounds(values: list[bool], digits: int = 1) -> str:
    low, high = exact_bounds(values)
    return f"{share(values):.{digits}f}% [{low:.{digits}f}, {high:.{digits}f}]"


def print_targets(results: dict[int, dict[int, dict[str, list[bool]]]]) -> None:
    print("\n### Targets (95% Clopper-Pearson intervals in brackets)\n")
    big = [kind for kind, (_name, factor) in enumerate(REGRESSIONS) if factor >= 2.0]
    table = results.get(100, {})
    for key in ("ours", "reference", "sequential", "sequential_gated") if table else ():
        worst = min(big, key=lambda kind, key=key: share(table[kind][key]))
        recall, false_fail = table[worst][key], table[-1][key]
        met = "met" if share(recall) >= 99.0 and share(false_fail) <= 1.0 else "NOT met"
        print(f"- 100 req/s, {key}: lowest recall over regressions >= 2x {with_bounds(recall)}"
              f" ({kind_label(worst).split(':')[0]}), false-fail {with_bounds(false_fail, 2)} -> {met}")
    for level in (level for level in (10, 50) if level in results):
        table = results[level]
        for key in ("sequential", "sequential_gated"):
            wins = [kind_label(kind).split(":")[0] for kind in range(len(REGRESSIONS))
                    if share(table[kind][key]) > share(table[kind]["reference"])]
            print(f"- {level} req/s, {key}: false-fail {with_bounds(table[-1][key], 2)} vs reference"
                  f" {with_bounds(table[-1]['reference'], 2)}; recall higher than the reference's for"
                  f" {len(wins)}/{len(REGRESSIONS)} regressions ({', '.join(wins) or 'none'})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=2400, help="pairs per traffic level (half healthy)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--steps", type=int, default=4, help="rollout steps (2-minute windows) for the sequential test")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--levels", default=",".join(map(str, LEVELS)), help="canary requests/s, comma-separated")
    args = parser.parse_args()
    levels = [int(level) for level in args.levels.split(",")]
    if args.pairs < 200 or args.steps < 1:
        parser.error("--pairs must be at least 200 and --steps at least 1")
    start = time.monotonic()
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        futures = {level: [pool.submit(run_chunk, level, start, min(start + CHUNK, args.pairs), args.seed, args.steps)
                           for start in range(0, args.pairs, CHUNK)] for level in levels}
        results = {level: collect([future.result() for future in chunks]) for level, chunks in futures.items()}
    print(f"judge accuracy: {args.pairs} pairs per level (half healthy), {args.steps} steps of {WINDOW_S} s,"
          f" {SAMPLE_S}-s samples, base error rate {BASE_ERROR_RATE:.0%}, log-normal latency (median"
          f" {LATENCY_MEDIAN_S * 1000:g} ms, sigma {LATENCY_SIGMA}), alpha {ALPHA}, gate {GATE}, seed {args.seed}")
    for level in levels:
        print_table(level, results[level])
    print_targets(results)
    print(f"\n({time.monotonic() - start:.0f} s with {args.workers} workers)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
