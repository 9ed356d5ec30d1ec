"""Pacing versus a naive client against a rate-limited simulator.

The naive client is what dlt's rest_api client does: send as fast as possible and, on a 429, wait
`Retry-After` and retry. The paced client is `LivelloClient`. Both send the same number of successful GETs
against the same limit (scaled down from the vendor's 1000/hour to a few seconds per window so the bench runs
in about a minute).

    .venv/bin/python bench/bench_pacing.py [--limit 30] [--window 3] [--requests 150] [--budget-share 0.8]

Prints, per client: wall time, successful requests per second, 429s received, and the lowest
RateLimit-Remaining seen. Meanwhile a "neighbour" (the customer's other integration on the same credentials)
sends a steady `--neighbour-share` of the limit; its 429s show whether the client left it room.
"""

from __future__ import annotations

import argparse
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx

from simulator.config import SimConfig
from simulator.server import SimulatorServer
from sources.livello.client import ClientSettings, LivelloClient

CLIENT_ID, CLIENT_SECRET = "lv_m2m_demo", "sk_live_demo"


@dataclass
class Result:
    name: str
    seconds: float
    requests: int
    http_429: int
    min_remaining: int | None

    def line(self, limit: int) -> str:
        left = "n/a" if self.min_remaining is None else f"{self.min_remaining}/{limit}"
        return (
            f"{self.name:<28} {self.seconds:7.1f} s  {self.requests / self.seconds:7.2f} req/s  "
            f"429s {self.http_429:4d}  lowest RateLimit-Remaining {left}"
        )


class Neighbour(threading.Thread):
    """Another integration on the same credentials: a steady `share` of the limit, no retries."""

    def __init__(self, base_url: str, share: float, limit: int, window: int) -> None:
        super().__init__(daemon=True)
        self.base_url = base_url
        self.interval = window / max(1.0, share * limit)
        self.stop_event = threading.Event()
        self.sent = 0
        self.http_429 = 0

    def run(self) -> None:
        with httpx.Client(timeout=30.0) as http:
            token = _token(http, self.base_url)
            while not self.stop_event.wait(self.interval):
                response = http.get(
                    f"{self.base_url}/alerts/types", headers={"Authorization": f"Bearer {token}"}
                )
                self.sent += 1
                self.http_429 += response.status_code == 429


def _token(http: httpx.Client, base_url: str) -> str:
    body = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "grant_type": "client_credentials"}
    return str(http.post(f"{base_url}/auth/token", json=body).json()["access_token"])


def run_naive(base_url: str, requests: int) -> Result:
    """Send as fast as possible; on 429 sleep Retry-After and retry (dlt rest_api's behaviour)."""
    http = httpx.Client(timeout=30.0, headers={"x-timezone": "UTC"})
    token = _token(http, base_url)
    http.headers["Authorization"] = f"Bearer {token}"
    done = http_429 = 0
    min_remaining: int | None = None
    started = time.monotonic()
    for _ in range(requests * 20):  # bounded: never more than 20 attempts per wanted request
        if done == requests:
            break
        response = http.get(f"{base_url}/alerts/types")
        remaining = int(response.headers.get("ratelimit-remaining", "0"))
        min_remaining = remaining if min_remaining is None else min(min_remaining, remaining)
        if response.status_code == 429:
            http_429 += 1
            time.sleep(float(response.headers.get("retry-after", "1")))
            continue
        response.raise_for_status()
        done += 1
    http.close()
    return Result("naive (429 + Retry-After)", time.monotonic() - started, done, http_429, min_remaining)


def run_paced(base_url: str, requests: int, budget_share: float, window: int) -> Result:
    settings = ClientSettings(
        base_url=base_url,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        budget_share=budget_share,
        rate_limit_window_seconds=window,
    )
    with LivelloClient(settings) as livello:
        livello.check_credentials()
        started = time.monotonic()
        for _ in range(requests):
            livello.get("/alerts/types")
        seconds = time.monotonic() - started
        stats = livello.stats
    return Result(
        f"paced (budget_share {budget_share})",
        seconds,
        requests,
        stats.http_429,
        stats.rate_limit_remaining_min,
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--limit", type=int, default=30, help="requests per window (the vendor: 1000)")
    parser.add_argument("--window", type=int, default=3, help="window seconds (the vendor: 3600)")
    parser.add_argument("--requests", type=int, default=150, help="successful GETs per client")
    parser.add_argument("--budget-share", type=float, default=0.8)
    parser.add_argument("--neighbour-share", type=float, default=0.15, help="0 for no neighbour")
    args = parser.parse_args()

    config = SimConfig(
        seed=1,
        kiosks=2,
        days=1,
        now=datetime(2026, 10, 1, tzinfo=UTC),
        rate_limit_per_hour=args.limit,
        rate_limit_window_seconds=args.window,
        sessions_per_kiosk_day=5,
    )
    print(f"limit {args.limit} per {args.window}s window, {args.requests} requests per client")
    with SimulatorServer(config) as sim:
        # Each client starts on a fresh window so neither inherits the other's usage.
        results = []
        for run in (
            lambda: run_naive(sim.base_url, args.requests),
            lambda: run_paced(sim.base_url, args.requests, args.budget_share, args.window),
        ):
            time.sleep(args.window - (time.time() % args.window) + 0.05)
            neighbour = Neighbour(sim.base_url, args.neighbour_share, args.limit, args.window)
            if args.neighbour_share > 0:
                neighbour.start()
            result = run()
            neighbour.stop_event.set()
            if neighbour.is_alive():
                neighbour.join(10)
            results.append((result, neighbour))
    allowed = args.budget_share * args.limit / args.window
    print(
        f"allowed rate at budget_share {args.budget_share}: {allowed:.2f} req/s "
        f"(the whole limit: {args.limit / args.window:.2f} req/s)"
    )
    for result, neighbour in results:
        print(result.line(args.limit) + f"  | neighbour: {neighbour.http_429}/{neighbour.sent} got 429")


if __name__ == "__main__":
    main()
