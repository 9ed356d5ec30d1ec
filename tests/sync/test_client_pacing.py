"""Proactive pacing against rate-limited simulators with short windows and real sleeps.

The vendor's windows are an hour long; these use 1-2 second windows so that several windows pass in a few
seconds.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from simulator.config import SimConfig
from simulator.server import SimulatorServer
from sources.livello.client import LivelloClient
from sources.livello.errors import BudgetExhaustedError, DeadlineExceededError
from tests.sync.clients import client_settings, one_kiosk_world

NOW = datetime(2026, 10, 1, 6, 0, tzinfo=UTC)


def limited_sim(limit: int, window_seconds: int) -> SimulatorServer:
    return SimulatorServer(
        SimConfig(
            seed=11,
            kiosks=2,
            days=2,
            now=NOW,
            rate_limit_per_hour=limit,
            rate_limit_window_seconds=window_seconds,
            sessions_per_kiosk_day=10,
        )
    )


settings_for = client_settings


class RateLimitRecorder:
    """Records RateLimit-Remaining of every API response (an httpx event hook: observation, not a mock)."""

    def __init__(self) -> None:
        self.seen: list[tuple[float, int, int]] = []  # (time, remaining, limit)

    def __call__(self, response) -> None:  # noqa: ANN001 - httpx.Response
        if "ratelimit-remaining" in response.headers and not response.url.path.endswith("/auth/token"):
            self.seen.append(
                (
                    time.monotonic(),
                    int(response.headers["ratelimit-remaining"]),
                    int(response.headers["ratelimit-limit"]),
                )
            )


@pytest.fixture(scope="module")
def sim_20_per_2s() -> Iterator[SimulatorServer]:
    with limited_sim(20, 2) as server:
        yield server


def test_half_budget_run_of_three_windows_gets_no_429_and_uses_at_most_half(
    sim_20_per_2s: SimulatorServer,
) -> None:
    recorder = RateLimitRecorder()
    with LivelloClient(settings_for(sim_20_per_2s, budget_share=0.5)) as livello:
        livello._http.event_hooks["response"].append(recorder)
        started = time.monotonic()
        for _ in range(60):  # 3 x the limit, so at least 6 windows at half the limit each
            livello.get("/alerts/types")
        elapsed = time.monotonic() - started
        stats = livello.stats
    assert stats.http_429 == 0
    assert stats.requests == 60
    # At most half of any window used: RateLimit-Remaining never fell below half the limit.
    assert stats.rate_limit_remaining_min is not None and stats.rate_limit_remaining_min >= 10
    assert min(remaining for _, remaining, _ in recorder.seen) >= 10
    # Paced, not stalled: 60 requests at 10 per 2-second window need ~5-6 windows.
    assert 8.0 <= elapsed <= 16.0
    assert stats.slept_seconds_pacing > 0


def test_whole_budget_run_gets_no_429() -> None:
    with limited_sim(10, 1) as server, LivelloClient(settings_for(server, budget_share=1.0)) as livello:
        for _ in range(35):
            livello.get("/alerts/types")
        assert livello.stats.http_429 == 0
        assert livello.stats.rate_limit_remaining_min == 0  # it did use the whole window


def test_spreads_the_second_half_of_the_allowance_over_the_window(sim_20_per_2s: SimulatorServer) -> None:
    recorder = RateLimitRecorder()
    with LivelloClient(settings_for(sim_20_per_2s, budget_share=0.5, burst_share=0.0)) as livello:
        livello._http.event_hooks["response"].append(recorder)
        for _ in range(15):
            livello.get("/alerts/types")
        assert livello.stats.http_429 == 0
    times = [t for t, _, _ in recorder.seen]
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    # Always spreading: no long stall at a window's end, calls come at a steady trickle instead.
    assert max(gaps) < 1.0
    assert sorted(gaps)[len(gaps) // 2] > 0.05


def test_wait_longer_than_max_wait_raises_budget_exhausted() -> None:
    # burst_share 1: the whole allowance at full speed, then a wait until the hourly reset
    overrides = {"budget_share": 0.5, "burst_share": 1.0, "max_wait_seconds": 1.0}
    with limited_sim(4, 3600) as server, LivelloClient(settings_for(server, **overrides)) as livello:
        livello.get("/alerts/types")
        with pytest.raises(BudgetExhaustedError) as caught:
            for _ in range(4):
                livello.get("/alerts/types")
        assert livello.stats.http_429 == 0
        assert livello.stats.requests == 2  # half of 4 used, then it refused to wait for the next window
    assert caught.value.wait_seconds > 1.0
    assert "budget_share" in str(caught.value)


def test_deadline_stops_before_a_wait_that_would_pass_it(sim_20_per_2s: SimulatorServer) -> None:
    with LivelloClient(settings_for(sim_20_per_2s, budget_share=0.5, burst_share=1.0)) as livello:
        livello.set_deadline(0.5)
        with pytest.raises(DeadlineExceededError):
            for _ in range(30):
                livello.get("/alerts/types")
        assert livello.stats.requests <= 20


def test_estimate_uses_the_allowed_rate(sim_20_per_2s: SimulatorServer) -> None:
    with LivelloClient(settings_for(sim_20_per_2s, budget_share=0.5, rate_limit_window_seconds=2)) as livello:
        assert livello.estimate_seconds(100) is None  # nothing known before the first response
        livello.get("/alerts/types")
        assert livello.allowed_requests_per_window() == (10, 2)
        estimate = livello.estimate_seconds(100)
    assert estimate is not None
    assert 16.0 <= estimate <= 22.0  # 100 requests at 10 per 2-second window


def test_token_endpoint_limit_is_paced_too() -> None:
    """Every API call invalidates the token, so each call needs a new one: 5 per 2 s allowed, 4 used."""
    config = one_kiosk_world(seed=11, token_rate_limit_per_minute=5, token_rate_limit_window_seconds=2)
    with SimulatorServer(config) as server, LivelloClient(settings_for(server)) as livello:
        server.set_faults(expire_tokens_after=1)
        for _ in range(7):
            livello.get("/alerts/types")
        stats = livello.stats
    assert stats.http_429 == 0
    assert stats.token_requests == 7
    assert stats.slept_seconds_pacing > 0


def test_concurrent_callers_share_one_budget() -> None:
    # A simulator of its own: a window the module's other tests opened would already hold requests that a new
    # client cannot know of before its first answer, and its first concurrent calls go out before any answer.
    with limited_sim(20, 2) as sim, LivelloClient(settings_for(sim, budget_share=0.5)) as livello:

        def work() -> None:
            for _ in range(4):
                livello.get("/alerts/types")

        threads = [threading.Thread(target=work) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        stats = livello.stats
    assert stats.requests == 16
    assert stats.http_429 == 0
    assert stats.rate_limit_remaining_min is not None and stats.rate_limit_remaining_min >= 10
