"""Reconnect backoff: doubling, capped, jittered downwards only, reset by a success."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from dbus_bms.transports.backoff import Backoff


def test_no_wait_before_the_first_failure_and_after_a_success():
    b = Backoff(rng=random.Random(1))
    assert b.delay() == 0
    b.failed()
    b.failed()
    b.succeeded()
    assert b.delay() == 0


def test_waits_double_up_to_the_cap_without_jitter():
    b = Backoff(base=1.0, cap=60.0, jitter=0.0)
    assert [b.failed() for _ in range(9)] == [1, 2, 4, 8, 16, 32, 60, 60, 60]


@given(failures=st.integers(1, 200), seed=st.integers(0, 2**32), base=st.floats(0.1, 10), cap=st.floats(1, 600))
def test_jitter_stays_within_its_band_and_never_exceeds_the_cap(failures, seed, base, cap):
    b = Backoff(base=base, cap=cap, jitter=0.3, rng=random.Random(seed))
    b.failures = failures
    raw = min(cap, base * 2 ** (failures - 1))
    assert 0.7 * raw <= b.delay() <= raw <= cap


def test_two_links_failing_together_do_not_retry_in_lockstep():
    a, b = Backoff(rng=random.Random(1)), Backoff(rng=random.Random(2))
    waits = [(a.failed(), b.failed()) for _ in range(5)]
    assert all(x != y for x, y in waits)
