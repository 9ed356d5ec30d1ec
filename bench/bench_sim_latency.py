"""Latency of 100-row /transactions pages served by the simulator over real HTTP, and the server's memory.

    .venv/bin/python bench/bench_sim_latency.py --database /tmp/sim-100x365.duckdb   # 100 kiosks x 365 days
    .venv/bin/python bench/bench_sim_latency.py --kiosks 10 --days 30 --requests 300

The server runs in its own process (as `livello-sim serve` does) with the whole store in memory; this
process is the HTTP client. Generating 100 kiosks x 365 days (~5.5 M purchases) takes minutes, so with
`--database FILE` the first run saves the generated store to FILE and later runs load it into the server's
memory instead (seconds). The file must have been generated with the same --kiosks/--days/--seed.

Prints, per page shape, p50/p95/max of each run and the median over runs, then the server's peak RSS (VmHWM,
which includes loading the store) and its RSS after the runs, and the load average during the runs.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from simulator.cli import add_world_arguments  # noqa: E402
from simulator.config import SimConfig  # noqa: E402
from simulator.store import TABLES, Store  # noqa: E402

NOW = datetime(2026, 3, 2, 12, tzinfo=UTC)
READY_TIMEOUT_SECONDS = 1800.0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


# -- the server process ----------------------------------------------------------------------------------
def _load_into_memory(path: str) -> Store:
    """A new in-memory store with every table of the DuckDB file at `path`, rows in the file's order (the
    order DuckDB's zone maps rely on)."""
    store = Store()
    conn = store.connection
    conn.execute(f"ATTACH '{path}' AS saved (READ_ONLY)")
    try:
        for table in TABLES:
            conn.execute(f"INSERT INTO memory.main.{table} SELECT * FROM saved.main.{table}")
    finally:
        conn.execute("DETACH saved")
    # As after generating: the checkpoint compresses the in-memory tables (about a quarter of the memory).
    conn.execute("CHECKPOINT")
    return store


def _save(store: Store, path: str) -> None:
    store.connection.execute(f"ATTACH '{path}' AS saved")
    try:
        store.connection.execute("COPY FROM DATABASE memory TO saved")
    finally:
        store.connection.execute("DETACH saved")


def serve(args: argparse.Namespace) -> int:
    """Child mode: build or load the store, serve it, print READY <base_url>, run until stdin closes."""
    from simulator.generator import generate
    from simulator.server import SimulatorServer

    config = SimConfig(seed=args.seed, kiosks=args.kiosks, days=args.days, now=NOW, rate_limit_per_hour=0)
    started = time.perf_counter()
    if args.database and os.path.exists(args.database):
        store, how = _load_into_memory(args.database), f"loaded from {args.database}"
    else:
        store = Store()
        generate(store, config)
        how = "generated"
        if args.database:
            _save(store, args.database)
            how += f" and saved to {args.database}"
    print(f"store {how} in {time.perf_counter() - started:.1f} s", flush=True)
    with SimulatorServer(config, store=store) as sim:
        print(f"READY {sim.base_url}", flush=True)
        sys.stdin.read()  # until the parent closes our stdin
    return 0


def _memory_kb(pid: int) -> dict[str, int]:
    """VmHWM (peak RSS) and VmRSS of a process, in kB (Linux /proc)."""
    values: dict[str, int] = {}
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            name, _, rest = line.partition(":")
            if name in ("VmHWM", "VmRSS"):
                values[name] = int(rest.split()[0])
    return values


# -- the client ------------------------------------------------------------------------------------------
def _token(client: httpx.Client, client_id: str, secret: str) -> str:
    response = client.post(
        "/auth/token",
        json={"client_id": client_id, "client_secret": secret, "grant_type": "client_credentials"},
    )
    response.raise_for_status()
    return response.json()["access_token"]


def _shapes(client: httpx.Client, kiosks: int, days: int) -> dict[str, tuple[str, Callable[[], dict]]]:
    """name -> (token key, query factory). Queries ask for UTC so date-only windows are UTC days."""
    rng = random.Random(1)
    day = (NOW - timedelta(days=min(3, days - 1))).date().isoformat()
    day_total = client.get(
        "/transactions", params={"limit": 1, "startDate": day, "endDate": day}, headers={"x-timezone": "UTC"}
    ).json()["total"]
    serial = f"LIV-{rng.randrange(1, kiosks + 1):04d}"
    return {
        "newest page (default sort)": ("demo", lambda: {"limit": 100}),
        "sync: 1-day window, ascending": (
            "demo",
            lambda: {
                "limit": 100,
                "startDate": day,
                "endDate": day,
                "sort": 1,
                "skip": rng.randrange(0, max(1, day_total), 100),
            },
        ),
        "kiosk filter, newest": ("demo", lambda: {"limit": 100, "kioskSerialNumbers": serial}),
        "scoped client, newest": ("org", lambda: {"limit": 100}),
        "deep skip (0..100k)": ("demo", lambda: {"limit": 100, "skip": rng.randrange(0, 100_000, 100)}),
        "refills, newest": ("demo", lambda: {"limit": 100}),
    }


def measure(args: argparse.Namespace) -> int:
    command = [sys.executable, __file__, "--serve", *_passthrough(args)]
    server = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        base_url = _wait_ready(server)
        return _run_client(args, base_url, server.pid)
    finally:
        assert server.stdin is not None
        server.stdin.close()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()


def _passthrough(args: argparse.Namespace) -> list[str]:
    out = ["--kiosks", str(args.kiosks), "--days", str(args.days), "--seed", str(args.seed)]
    return out + (["--database", args.database] if args.database else [])


def _wait_ready(server: subprocess.Popen[str]) -> str:
    assert server.stdout is not None
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        line = server.stdout.readline()
        if not line:
            raise RuntimeError(f"server exited with {server.wait()} before READY")
        print(f"[server] {line.rstrip()}")
        if line.startswith("READY "):
            return line.split()[1]
    raise TimeoutError("server not ready in time")


def _run_client(args: argparse.Namespace, base_url: str, pid: int) -> int:
    with httpx.Client(base_url=base_url, timeout=60, headers={"x-timezone": "UTC"}) as client:
        demo = _token(client, "lv_m2m_demo", "sk_live_demo")
        client.headers["Authorization"] = f"Bearer {demo}"
        # The first top-level client organization, as a per-organization client sees it.
        orgs = client.get("/organizations", params={"limit": 100}).json()["data"]
        top = _top_level_client_org(orgs)
        tokens = {"demo": demo, "org": _token(client, f"lv_m2m_org_{top}", f"sk_live_org_{top}")}
        shapes = _shapes(client, args.kiosks, args.days)
        results: dict[str, list[tuple[float, float, float]]] = {name: [] for name in shapes}
        loads: list[float] = []
        for run in range(args.runs):
            loads.append(os.getloadavg()[0])
            for name, (who, params) in shapes.items():
                path = "/refills" if name.startswith("refills") else "/transactions"
                headers = {"Authorization": f"Bearer {tokens[who]}"}
                for _ in range(10):  # warm-up: DuckDB caches, connection, thread pool
                    client.get(path, params=params(), headers=headers).raise_for_status()
                timings: list[float] = []
                rows = 0
                for _ in range(args.requests):
                    query = params()
                    t0 = time.perf_counter()
                    response = client.get(path, params=query, headers=headers)
                    timings.append((time.perf_counter() - t0) * 1000)
                    response.raise_for_status()
                    rows = len(response.json()["data"])
                stats = (statistics.median(timings), percentile(timings, 0.95), max(timings))
                results[name].append(stats)
                print(
                    f"run {run + 1}: {name:32s} rows={rows:3d}  p50={stats[0]:6.2f} ms  "
                    f"p95={stats[1]:6.2f} ms  max={stats[2]:7.2f} ms",
                    flush=True,
                )
        memory = _memory_kb(pid)
    print(f"\nmedian over {args.runs} runs of {args.requests} requests each (org client: organization {top})")
    for name, runs in results.items():
        p50 = statistics.median(r[0] for r in runs)
        p95 = statistics.median(r[1] for r in runs)
        print(f"  {name:32s} p50={p50:6.2f} ms  p95={p95:6.2f} ms")
    print(
        f"server process: peak RSS (VmHWM, includes building/loading the store) "
        f"{memory['VmHWM'] / 1024:,.0f} MB, RSS after the runs {memory['VmRSS'] / 1024:,.0f} MB"
    )
    print(f"load average (1 min) at the start of each run: {', '.join(f'{x:.2f}' for x in loads)}")
    return 0


def _top_level_client_org(orgs: list[dict]) -> int:
    """A CLIENT organization directly below the platform (simulator.app.TOP_LEVEL_CLIENT_ORGS_SQL)."""
    by_id = {o["id"]: o for o in orgs}
    for org in orgs:
        parent = by_id.get(org.get("parentOrg"))
        if org.get("type") == "CLIENT" and (parent is None or parent.get("type") != "CLIENT"):
            return int(org["id"])
    raise RuntimeError(f"no top-level CLIENT organization among {len(orgs)} organizations")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_world_arguments(parser, kiosks=100, days=365)
    parser.add_argument("--requests", type=int, default=200, help="requests per page shape and run")
    parser.add_argument("--runs", type=int, default=3, help="repetitions of the whole set (medians reported)")
    parser.add_argument(
        "--database", default=None, help="DuckDB file: saved after generating, loaded when it exists"
    )
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    return serve(args) if args.serve else measure(args)


if __name__ == "__main__":
    sys.exit(main())
