"""Latency of a 100-row transactions page served by the simulator over real HTTP.

    .venv/bin/python bench/bench_sim_latency.py                 # 100 kiosks x 365 days (~5 M purchases)
    .venv/bin/python bench/bench_sim_latency.py --kiosks 10 --days 30 --requests 300

Prints generation time, store size, p50/p95/max per page shape (newest page, a deep skip, a one-day window,
a kiosk filter), and the process's peak RSS while holding the store.
"""

from __future__ import annotations

import argparse
import random
import resource
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from simulator.config import SimConfig  # noqa: E402
from simulator.server import SimulatorServer  # noqa: E402
from simulator.store import Store  # noqa: E402


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--kiosks", type=int, default=100)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--requests", type=int, default=200, help="requests per page shape")
    parser.add_argument("--database", default=None, help="DuckDB file for the store (default: memory)")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="serve the store already in --database (generated with the same options)",
    )
    args = parser.parse_args()

    now = datetime(2026, 3, 2, 12, tzinfo=UTC)
    config = SimConfig(
        seed=args.seed,
        kiosks=args.kiosks,
        days=args.days,
        now=now,
        rate_limit_per_hour=0,
        database_path=args.database,
    )
    started = time.perf_counter()
    store = Store(args.database) if args.reuse and args.database else None
    with SimulatorServer(config, store=store) as sim:
        generated = time.perf_counter() - started
        purchases = sim.store.scalar("SELECT count(*) FROM transactions")
        print(
            f"store: {args.kiosks} kiosks x {args.days} days, {purchases:,} purchase sessions, "
            f"generated and served in {generated:.1f} s"
        )
        token = httpx.post(
            sim.token_url,
            timeout=30,
            json={
                "client_id": "lv_m2m_demo",
                "client_secret": "sk_live_demo",
                "grant_type": "client_credentials",
            },
        ).json()["access_token"]
        serial = sim.store.scalar("SELECT serial_number FROM kiosks ORDER BY id LIMIT 1")
        day = (now - timedelta(days=min(3, args.days - 1))).date().isoformat()
        rng = random.Random(1)
        shapes = {
            "newest page (default sort)": lambda: {"limit": 100},
            "deep page (skip 0..100k)": lambda: {"limit": 100, "skip": rng.randrange(0, 100_000, 100)},
            "one-day window, ascending": lambda: {"limit": 100, "startDate": day, "endDate": day, "sort": 1},
            "kiosk filter": lambda: {"limit": 100, "kioskSerialNumbers": serial},
        }
        with httpx.Client(
            base_url=sim.base_url,
            timeout=30,
            headers={"Authorization": f"Bearer {token}", "x-timezone": "UTC"},
        ) as client:
            for name, params in shapes.items():
                for _ in range(10):  # warm-up: DuckDB caches, connection, thread pool
                    client.get("/transactions", params=params()).raise_for_status()
                timings: list[float] = []
                rows = 0
                for _ in range(args.requests):
                    query = params()
                    t0 = time.perf_counter()
                    response = client.get("/transactions", params=query)
                    timings.append((time.perf_counter() - t0) * 1000)
                    response.raise_for_status()
                    rows = len(response.json()["data"])
                print(
                    f"{name:32s} rows/page={rows:3d}  p50={statistics.median(timings):6.2f} ms  "
                    f"p95={percentile(timings, 0.95):6.2f} ms  max={max(timings):6.2f} ms"
                )
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"peak RSS of this process (store + server + client): {peak_mb:,.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
