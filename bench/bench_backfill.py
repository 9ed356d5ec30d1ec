"""Backfill and nightly-run cost of `livello-sync run` against a large simulator.

    .venv/bin/python bench/bench_backfill.py [--kiosks 100] [--days 90] [--destination duckdb]

Starts `livello-sim serve` (no rate limit) as a child process, runs a full backfill with the real CLI in
another child process (so simulator and pipeline each get a core), then moves the simulator's clock one day
forward and runs the nightly sync. Reports, for both runs, the requests the simulator served (every attempt
counted) and the wall time, next to the minimum possible: the sum over endpoints of ceil(rows / 100) for the
paged listings plus one request per organization or kiosk for the fan-out endpoints and one per kiosk and 31
days of temperature.

Then measures the count-verified lookback (pipelines/lookback.py): a kiosk uploads an hour of sessions 20
hours late and the next run's requests are reported, and after one more simulated day the nightly run is
repeated with `sources.livello.verify_lookback = false` (the whole 48-hour lookback re-read) for comparison.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from simulator.cli import add_world_arguments
from simulator.server import SimulatorProcess

PAGE = 100


def sim_state(sim: SimulatorProcess) -> dict[str, Any]:
    root = sim.base_url.split("/api/")[0]
    response = httpx.get(f"{root}/_sim/state", headers={"X-Sim-Control-Key": sim.control_key}, timeout=60)
    response.raise_for_status()
    return response.json()


def advance(sim: SimulatorProcess, hours: float) -> None:
    root = sim.base_url.split("/api/")[0]
    httpx.post(
        f"{root}/_sim/advance",
        json={"hours": hours},
        headers={"X-Sim-Control-Key": sim.control_key},
        timeout=600,
    ).raise_for_status()


def upload_backlog(sim: SimulatorProcess, hours_late: float) -> dict[str, Any]:
    """An hour of sessions of the first kiosk, uploaded `hours_late` hours after they happened."""
    root = sim.base_url.split("/api/")[0]
    token = httpx.post(
        f"{sim.base_url}/auth/token",
        json={
            "grant_type": "client_credentials",
            "client_id": sim.client_id or "lv_m2m_demo",
            "client_secret": sim.client_secret or "sk_live_demo",
        },
        timeout=60,
    )
    token.raise_for_status()
    kiosks = httpx.get(
        f"{sim.base_url}/kiosks",
        params={"limit": 1},
        headers={"Authorization": f"Bearer {token.json()['access_token']}"},
        timeout=60,
    )
    kiosks.raise_for_status()
    serial = kiosks.json()["data"][0]["serialNumber"]
    response = httpx.post(
        f"{root}/_sim/backlog",
        json={"kiosk_serial": serial, "hours_late": hours_late},
        headers={"X-Sim-Control-Key": sim.control_key},
        timeout=600,
    )
    response.raise_for_status()
    return dict(response.json().get("changes") or {})


def measured_run(
    sim: SimulatorProcess, env: dict[str, str], workdir: Path, destination: str
) -> tuple[int, float, dict[str, int]]:
    """(requests served, wall seconds, requests per windowed endpoint) of one sync run."""
    before = sim_state(sim)
    seconds, _ = run_sync(env, workdir, destination)
    after = sim_state(sim)
    by_path = {
        path.rsplit("/", 1)[-1]: int(after["requests"].get(path, 0)) - int(before["requests"].get(path, 0))
        for path in ("/api/v1/transactions", "/api/v1/refills")
    }
    return total_requests(after) - total_requests(before), seconds, by_path


def total_requests(state: dict[str, Any]) -> int:
    return sum(int(n) for path, n in state["requests"].items() if path.startswith("/api/"))


def minimum_requests(rows: dict[str, int], days: int, kiosks: int, orgs: int) -> dict[str, int]:
    paged = {
        name: math.ceil(rows.get(name, 0) / PAGE) or 1
        for name in ("transactions", "refills", "alerts", "products", "users", "organizations", "kiosks")
    }
    return {
        **paged,
        "vat_rates + product lines (per organization)": 2 * orgs,
        "kiosk details + inventory (per kiosk)": 2 * kiosks,
        "alert types": 1,
        "temperature (per kiosk and 31 days)": kiosks * math.ceil(days / 31),
        "token": 1,
    }


def run_sync(env: dict[str, str], workdir: Path, destination: str) -> tuple[float, str]:
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "run", "--destination", destination, "--no-transform"],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=6 * 3600,
    )
    seconds = time.monotonic() - started
    if result.returncode != 0:
        raise SystemExit(f"sync failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return seconds, result.stdout


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_world_arguments(parser, kiosks=100, days=90)
    parser.add_argument("--destination", choices=("duckdb", "postgres"), default="duckdb")
    args = parser.parse_args()

    now = (datetime.now(UTC) - timedelta(days=1)).replace(second=0, microsecond=0)
    workdir = Path(tempfile.mkdtemp(prefix="livello_bench_"))
    started = time.monotonic()
    sim_args = [
        "--kiosks",
        str(args.kiosks),
        "--days",
        str(args.days),
        "--seed",
        str(args.seed),
        "--rate-limit",
        "0",
        "--now",
        now.isoformat(),
    ]
    with SimulatorProcess(args=sim_args, startup_timeout=1800) as sim:
        print(
            f"simulator {args.kiosks} kiosks x {args.days} days ready in {time.monotonic() - started:.0f}s "
            f"at {sim.base_url}",
            flush=True,
        )
        env = {
            **os.environ,
            "SOURCES__LIVELLO__BASE_URL": sim.base_url,
            "SOURCES__LIVELLO__CLIENT_ID": sim.client_id or "lv_m2m_demo",
            "SOURCES__LIVELLO__CLIENT_SECRET": sim.client_secret or "sk_live_demo",
            "SOURCES__LIVELLO__PSEUDONYMIZATION_KEY": "bench-key",
            "SOURCES__LIVELLO__PIPELINES_DIR": str(workdir / "pipelines"),
            "DESTINATION__DUCKDB__CREDENTIALS": str(workdir / "bench.duckdb"),
        }
        before = sim_state(sim)
        rows = {k: int(v) for k, v in before["rows"].items()}
        orgs, kiosks = rows.get("organizations", 0), rows.get("kiosks", args.kiosks)

        backfill_seconds, backfill_out = run_sync(env, workdir, args.destination)
        after_backfill = sim_state(sim)
        backfill_requests = total_requests(after_backfill) - total_requests(before)

        advance(sim, 24)
        before_nightly = sim_state(sim)
        nightly_rows = {k: int(v) - rows.get(k, 0) for k, v in before_nightly["rows"].items()}
        nightly_seconds, nightly_out = run_sync(env, workdir, args.destination)
        final = sim_state(sim)
        nightly_requests = total_requests(final) - total_requests(before_nightly)
        nightly_by_path = {
            p: int(n) - int(before_nightly["requests"].get(p, 0)) for p, n in final["requests"].items()
        }

        backlog = upload_backlog(sim, hours_late=20)
        backlog_requests, backlog_seconds, backlog_by_path = measured_run(sim, env, workdir, args.destination)
        advance(sim, 24)
        full_env = {**env, "SOURCES__LIVELLO__VERIFY_LOOKBACK": "false"}
        full_requests, full_seconds, full_by_path = measured_run(sim, full_env, workdir, args.destination)

    minimum = minimum_requests(rows, args.days, kiosks, orgs)
    report = {
        "simulator": {"kiosks": args.kiosks, "days": args.days, "rows": rows},
        "backfill": {
            "requests": backfill_requests,
            "minimum": sum(minimum.values()),
            "minimum_by_endpoint": minimum,
            "wall_seconds": round(backfill_seconds, 1),
        },
        "nightly": {
            "requests": nightly_requests,
            "new_rows": nightly_rows,
            "wall_seconds": round(nightly_seconds, 1),
            "requests_by_path": {p: n for p, n in nightly_by_path.items() if n and p.count("/") <= 4},
        },
        "backlog_20h_late": {
            "backlog": backlog,
            "requests": backlog_requests,
            "windowed_requests": backlog_by_path,
            "wall_seconds": round(backlog_seconds, 1),
        },
        "nightly_verify_lookback_false": {
            "requests": full_requests,
            "windowed_requests": full_by_path,
            "wall_seconds": round(full_seconds, 1),
        },
    }
    print(backfill_out[-3000:])
    print(nightly_out[-2000:])
    print(json.dumps(report, indent=2, default=str))
    print(
        f"\nbackfill: {backfill_requests:,} requests (minimum {sum(minimum.values()):,}, "
        f"+{100 * (backfill_requests / max(1, sum(minimum.values())) - 1):.1f}%), "
        f"{backfill_seconds:.0f}s wall"
    )
    print(f"nightly after one day: {nightly_requests:,} requests, {nightly_seconds:.0f}s wall")
    print(
        f"run after a backlog 20 h late: {backlog_requests:,} requests ({backlog_by_path}), "
        f"{backlog_seconds:.0f}s"
    )
    print(
        f"nightly with verify_lookback=false: {full_requests:,} requests ({full_by_path}), "
        f"{full_seconds:.0f}s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
