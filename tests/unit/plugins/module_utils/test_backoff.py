# -*- coding: utf-8 -*-
# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests for plugins/module_utils/_backoff.py (deterministic: fake clock, sleep and rng)."""
from __future__ import annotations

import random

import pytest
from ansible_collections.progressive.delivery.plugins.module_utils._backoff import (
    BackoffPolicy,
    RetriesExhausted,
    call_with_retries,
)


class Transient(Exception):
    pass


class Permanent(Exception):
    pass


class FakeTime:
    """A clock that only moves when something sleeps (or a call takes ``cost`` seconds)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.sleeps.append(seconds)
        self.now += seconds


class Flaky:
    """Raises the given exceptions in turn, then returns ``value``; each call costs ``cost`` fake seconds."""

    def __init__(self, errors: list[Exception], value: str = "ok", fake: FakeTime | None = None,
                 cost: float = 0.0) -> None:
        self.errors = list(errors)
        self.value = value
        self.calls = 0
        self.fake = fake
        self.cost = cost

    def __call__(self) -> str:
        self.calls += 1
        if self.fake is not None:
            self.fake.now += self.cost
        if self.errors:
            raise self.errors.pop(0)
        return self.value


def is_transient(exc: Exception) -> bool:
    return isinstance(exc, Transient)


def run(func, policy, fake, rng=lambda: 1.0, on_retry=None):
    return call_with_retries(func, policy, is_transient, sleep=fake.sleep, clock=fake.clock, rng=rng,
                             on_retry=on_retry)


def test_success_first_time_does_not_sleep():
    fake = FakeTime()
    func = Flaky([])
    assert run(func, BackoffPolicy(retries=3), fake) == "ok"
    assert func.calls == 1
    assert fake.sleeps == []


def test_transient_errors_are_retried_until_success():
    fake = FakeTime()
    func = Flaky([Transient("a"), Transient("b")])
    assert run(func, BackoffPolicy(retries=3, base_delay=1.0), fake) == "ok"
    assert func.calls == 3
    assert fake.sleeps == [1.0, 2.0]  # rng() == 1.0: the caps themselves


def test_exponential_caps_and_max_delay():
    policy = BackoffPolicy(retries=10, base_delay=0.5, max_delay=3.0)
    assert [policy.delay_cap(n) for n in range(1, 7)] == [0.5, 1.0, 2.0, 3.0, 3.0, 3.0]
    assert BackoffPolicy(base_delay=1.0, multiplier=3.0).delay_cap(3) == 9.0


def test_huge_retry_numbers_do_not_overflow():
    assert BackoffPolicy(retries=10_000, base_delay=1.0, max_delay=30.0).delay_cap(5000) == 30.0


def test_full_jitter_scales_the_cap_by_rng():
    policy = BackoffPolicy(base_delay=2.0)
    assert policy.delay(1, rng=lambda: 0.25) == 0.5
    assert policy.delay(3, rng=lambda: 0.5) == 4.0
    assert policy.delay(2, rng=lambda: 0.0) == 0.0
    seeded = random.Random(7)
    delays = [policy.delay(4, rng=seeded.random) for _draw in range(1000)]
    assert all(0 <= delay < 16.0 for delay in delays)
    assert 7.0 < sum(delays) / len(delays) < 9.0  # uniform on [0, 16): mean 8


def test_exhausted_retries_raise_with_attempts_and_cause():
    fake = FakeTime()
    errors = [Transient(f"e{i}") for i in range(5)]
    func = Flaky(errors)
    with pytest.raises(RetriesExhausted) as info:
        run(func, BackoffPolicy(retries=2, base_delay=1.0), fake, rng=lambda: 0.5)
    assert func.calls == 3
    assert fake.sleeps == [0.5, 1.0]
    exhausted = info.value
    assert exhausted.attempts == 3
    assert str(exhausted.last_error) == "e2"
    assert exhausted.__cause__ is exhausted.last_error
    assert exhausted.elapsed == pytest.approx(1.5)
    assert not exhausted.deadline_reached
    assert "gave up after 3 attempts in 1.5s: e2" in str(exhausted)


def test_zero_retries_tries_once():
    fake = FakeTime()
    func = Flaky([Transient("down")])
    with pytest.raises(RetriesExhausted) as info:
        run(func, BackoffPolicy(retries=0), fake)
    assert func.calls == 1
    assert fake.sleeps == []
    assert "after 1 attempt in" in str(info.value)


def test_permanent_errors_propagate_at_once_unchanged():
    fake = FakeTime()
    error = Permanent("bad_data")
    func = Flaky([Transient("a"), error])
    with pytest.raises(Permanent) as info:
        run(func, BackoffPolicy(retries=5), fake)
    assert info.value is error
    assert func.calls == 2
    assert len(fake.sleeps) == 1


def test_deadline_stops_before_a_wait_that_would_overrun_it():
    fake = FakeTime()
    func = Flaky([Transient(str(i)) for i in range(10)], fake=fake, cost=1.0)
    policy = BackoffPolicy(retries=10, base_delay=1.0, max_delay=100.0, deadline=6.0)
    with pytest.raises(RetriesExhausted) as info:
        run(func, policy, fake)
    # t=1: fail, wait 1 -> t=3: fail, wait 2 -> t=6: fail, the next wait (4) would end at 10 > 6
    assert fake.sleeps == [1.0, 2.0]
    assert func.calls == 3
    assert info.value.deadline_reached
    assert "deadline" in str(info.value)


def test_on_retry_hook_sees_each_retry():
    fake = FakeTime()
    seen = []
    func = Flaky([Transient("a"), Transient("b")])
    run(func, BackoffPolicy(retries=3, base_delay=1.0), fake, rng=lambda: 0.5,
        on_retry=lambda n, exc, delay: seen.append((n, str(exc), delay)))
    assert seen == [(1, "a", 0.5), (2, "b", 1.0)]


@pytest.mark.parametrize("kwargs", [
    {"retries": -1}, {"base_delay": -0.1}, {"base_delay": float("inf")}, {"max_delay": -1.0},
    {"multiplier": 0.5}, {"deadline": -1.0},
])
def test_invalid_policies_are_rejected(kwargs):
    with pytest.raises(ValueError):
        BackoffPolicy(**kwargs)


def test_retry_numbers_start_at_one():
    with pytest.raises(ValueError):
        BackoffPolicy().delay_cap(0)
