"""The pacer at the vendor's real scale (1000 requests per hour) on simulated time.

The HTTP tests use windows of a few seconds; these drive `RateLimitPacer` against the simulator's own
fixed-window limiter with a virtual clock, so hours of pacing take milliseconds and every number is exact.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import pytest

from simulator.ratelimit import FixedWindowLimiter
from sources.livello.errors import BudgetExhaustedError
from sources.livello.pacing import RateLimitPacer


class VirtualTime:
    def __init__(self, start: float = 10_000.0) -> None:
        self.now = start
        self.slept = 0.0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += max(0.0, seconds)
        self.slept += max(0.0, seconds)


def virtual_pacer(
    time: VirtualTime,
    *,
    budget_share: float,
    burst_share: float,
    window: float,
    check_wait: Callable[[float, str], None] = lambda seconds, reason: None,
) -> RateLimitPacer:
    """The API pacer on `time`'s clock: its sleeps move that clock instead of waiting."""
    return RateLimitPacer(
        "API",
        budget_share=budget_share,
        burst_share=burst_share,
        clock=time.clock,
        sleep=time.sleep,
        check_wait=check_wait,
        on_sleep=lambda s: None,
        default_window_seconds=window,
    )


def run(
    requests: int,
    *,
    limit: int = 1000,
    window: float = 3600.0,
    budget_share: float = 0.8,
    burst_share: float = 0.5,
    latency: float = 0.05,
    max_wait: float = 3600.0,
) -> tuple[VirtualTime, Counter[int], int]:
    """Send `requests` paced requests; returns the time, requests per window index, and 429s received."""
    time = VirtualTime()
    limiter = FixedWindowLimiter(limit, window, clock=time.clock)

    def check_wait(seconds: float, reason: str) -> None:
        if seconds > max_wait:
            raise BudgetExhaustedError(reason, wait_seconds=seconds)

    pacer = virtual_pacer(
        time, budget_share=budget_share, burst_share=burst_share, window=window, check_wait=check_wait
    )
    per_window: Counter[int] = Counter()
    rejected = 0
    for _ in range(requests):
        pacer.acquire()
        sent = time.now
        time.now += latency / 2  # the server decides half-way through the round trip
        decision = limiter.hit("client")
        time.now += latency / 2
        if decision.allowed:
            per_window[int((time.now - latency / 2) // window)] += 1
        else:
            rejected += 1
        headers = {k.decode(): v.decode() for k, v in decision.headers()}
        pacer.observe(headers, sent_at=sent, received_at=time.now)
    return time, per_window, rejected


def test_a_long_backfill_never_gets_429_and_keeps_the_reserve() -> None:
    time, per_window, rejected = run(5000)
    assert rejected == 0
    assert max(per_window.values()) <= 800  # 80 % of 1000 per hour, the rest left to other integrations
    # Uses its share fully: 5000 requests at 800 per hour need a bit over 6 windows, not more.
    assert len(per_window) <= 8
    assert time.slept / 3600 <= 7.0


def test_a_nightly_run_below_the_burst_allowance_is_not_slowed_down() -> None:
    time, _, rejected = run(350)
    assert rejected == 0
    assert time.slept == 0.0  # 350 < 400 = half of the 800 allowed: full speed


def test_the_rest_of_the_allowance_is_spread_until_the_reset() -> None:
    time, per_window, rejected = run(700, latency=0.01)
    assert rejected == 0
    # 400 at full speed, then 300 spaced out over the rest of the first hour (no idle hour-long sleep at the
    # end).
    assert 0 < time.slept < 3600
    assert sum(per_window.values()) == 700


@pytest.mark.parametrize("budget_share", [1.0, 0.5, 0.1])
def test_budget_share_is_respected_in_every_window(budget_share: float) -> None:
    _, per_window, rejected = run(300, limit=50, window=60.0, budget_share=budget_share, burst_share=0.0)
    assert rejected == 0
    assert max(per_window.values()) <= max(1, int(budget_share * 50))


def test_a_wait_longer_than_allowed_raises() -> None:
    with pytest.raises(BudgetExhaustedError) as caught:
        run(900, max_wait=600.0, burst_share=1.0)
    assert caught.value.wait_seconds > 600.0


def test_estimate_matches_the_allowed_rate() -> None:
    time = VirtualTime()
    pacer = virtual_pacer(time, budget_share=0.8, burst_share=0.5, window=3600.0)
    assert pacer.estimate_seconds(10) is None
    headers = {"ratelimit-limit": "1000", "ratelimit-remaining": "999", "ratelimit-reset": "3600"}
    pacer.observe(headers, sent_at=time.now, received_at=time.now)
    assert pacer.estimate_seconds(100) == 0.0  # within the burst allowance
    estimate = pacer.estimate_seconds(4000)
    assert estimate is not None
    assert 4 * 3600 <= estimate <= 5 * 3600  # 4000 requests at 800 per hour


def test_concurrent_answers_in_another_order_keep_the_share() -> None:
    """Four callers always in flight, each round answered last-counted first: a higher `remaining` in a later
    answer is the same window, not a new one, so the share holds however the answers are ordered."""
    time = VirtualTime()
    limiter = FixedWindowLimiter(20, 60.0, clock=time.clock)
    pacer = virtual_pacer(time, budget_share=0.5, burst_share=1.0, window=60.0)
    window_ends = time.now + 60.0
    counted: list[int] = []  # the server's remaining after each request of the first window
    while time.now < window_ends:
        round_sent, decisions = [], []
        for _ in range(4):
            pacer.acquire()
            if time.now >= window_ends:
                break
            round_sent.append(time.now)
            decisions.append(limiter.hit("client"))
        counted += [decision.remaining for decision in decisions]
        time.now += 0.05
        for sent, decision in reversed(list(zip(round_sent, decisions, strict=True))):
            headers = {k.decode(): v.decode() for k, v in decision.headers()}
            pacer.observe(headers, sent_at=sent, received_at=time.now)
    assert min(counted) >= 10  # never more than half of the 20
    assert len(counted) >= 8  # and not much less either
