# -*- coding: utf-8 -*-
# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The one retry helper of the collection: exponential backoff with full jitter, a cap and a deadline.

Pure logic. Time and randomness are injected (``sleep``, ``clock``, ``rng``) so tests are deterministic::

    policy = BackoffPolicy(retries=3, base_delay=1.0)
    value = call_with_retries(fetch, policy, is_retryable=lambda exc: isinstance(exc, TransientError))

The n-th retry (n = 1, 2, ...) waits ``rng() * min(max_delay, base_delay * multiplier ** (n - 1))`` seconds
("full jitter", see the AWS Architecture Blog post "Exponential Backoff And Jitter"): clients that fail together
do not retry together. With a ``deadline`` no wait is started that would end after ``deadline`` seconds since
the first attempt.
"""
from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")

#: Above this exponent ``multiplier ** n`` is capped anyway; avoids OverflowError for huge retry counts.
_MAX_EXPONENT = 64


@dataclass(frozen=True)
class BackoffPolicy:
    """How often and how long to retry.

    ``retries``: retries after the first attempt (0 = try once). ``base_delay``: the cap of the first wait in
    seconds. ``multiplier``: growth of the cap per retry. ``max_delay``: upper limit of any single wait.
    ``deadline``: seconds from the first attempt after which no further wait is started (None = no deadline).
    """

    retries: int = 3
    base_delay: float = 1.0
    max_delay: float = 30.0
    multiplier: float = 2.0
    deadline: float | None = None

    def __post_init__(self) -> None:
        if self.retries < 0:
            raise ValueError(f"retries must be 0 or more, got {self.retries}")
        if not (math.isfinite(self.base_delay) and self.base_delay >= 0):
            raise ValueError(f"base_delay must be a finite number >= 0, got {self.base_delay}")
        if not self.max_delay >= 0:
            raise ValueError(f"max_delay must be >= 0, got {self.max_delay}")
        if not self.multiplier >= 1:
            raise ValueError(f"multiplier must be >= 1, got {self.multiplier}")
        if self.deadline is not None and not self.deadline >= 0:
            raise ValueError(f"deadline must be >= 0, got {self.deadline}")

    @property
    def attempts(self) -> int:
        """The most attempts this policy allows (first attempt plus retries)."""
        return self.retries + 1

    def delay_cap(self, retry: int) -> float:
        """Upper limit of the wait before retry number ``retry`` (1-based)."""
        if retry < 1:
            raise ValueError(f"retry numbers start at 1, got {retry}")
        exponent = min(retry - 1, _MAX_EXPONENT)
        return min(self.max_delay, self.base_delay * self.multiplier ** exponent)

    def delay(self, retry: int, rng: Callable[[], float] = random.random) -> float:
        """Full-jitter wait before retry number ``retry``: uniform in ``[0, delay_cap(retry))``."""
        return rng() * self.delay_cap(retry)


class RetriesExhausted(Exception):
    """Every allowed attempt failed with a retryable error (or the deadline left no time for another one).

    ``last_error`` is the exception of the final attempt (also chained as ``__cause__``), ``attempts`` the number
    of attempts made, ``elapsed`` the seconds since the first one, ``deadline_reached`` whether the deadline
    rather than the retry count stopped the retries.
    """

    def __init__(self, last_error: Exception, attempts: int, elapsed: float, deadline_reached: bool = False) -> None:
        self.last_error = last_error
        self.attempts = attempts
        self.elapsed = elapsed
        self.deadline_reached = deadline_reached
        super().__init__(self.describe())

    def describe(self) -> str:
        """Plain words, e.g. ``"gave up after 4 attempts in 3.2s: <last error>"``."""
        why = ", the retry deadline was reached" if self.deadline_reached else ""
        plural = "s" if self.attempts != 1 else ""
        return f"gave up after {self.attempts} attempt{plural} in {self.elapsed:.1f}s{why}: {self.last_error}"


RetryHook = Callable[[int, Exception, float], None]


def call_with_retries(func: Callable[[], T], policy: BackoffPolicy, is_retryable: Callable[[Exception], bool], *,
                      sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic,
                      rng: Callable[[], float] = random.random, on_retry: RetryHook | None = None) -> T:
    """Call ``func()`` until it returns, retrying the exceptions ``is_retryable`` accepts.

    A non-retryable exception propagates at once, unchanged. When the retries (or the deadline) run out,
    :class:`RetriesExhausted` is raised from the last error. ``on_retry(retry, error, delay)`` is called before
    each wait (for logging).
    """
    start = clock()
    attempt = 0
    while True:
        attempt += 1
        try:
            return func()
        except Exception as exc:  # pylint: disable=broad-exception-caught
            if not is_retryable(exc):
                raise
            delay = _next_delay(policy, attempt, rng)
            _give_up_if_done(policy, exc, attempt, clock() - start, delay)
            if on_retry is not None:
                on_retry(attempt, exc, delay)
            sleep(delay)


def _next_delay(policy: BackoffPolicy, attempt: int, rng: Callable[[], float]) -> float:
    return policy.delay(attempt, rng) if attempt <= policy.retries else 0.0


def _give_up_if_done(policy: BackoffPolicy, error: Exception, attempt: int, elapsed: float, delay: float) -> None:
    if attempt > policy.retries:
        raise RetriesExhausted(error, attempt, elapsed) from error
    if policy.deadline is not None and elapsed + delay > policy.deadline:
        raise RetriesExhausted(error, attempt, elapsed, deadline_reached=True) from error
