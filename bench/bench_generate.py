"""Measures the simulator's data core at scale.

    .venv/bin/python bench/bench_generate.py --kiosks 20 --days 365      # ~1 million purchase sessions
    .venv/bin/python bench/bench_generate.py --kiosks 100 --days 365     # the issue's ~5 million

Prints generation time, rows/s, peak RSS, and the latency (p50/p95) of the queries behind a 100-row
/transactions page (newest first, with and without a window and a kiosk filter).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import time
from datetime import UTC, datetime, timedelta

from simulator.cli import add_world_arguments
from simulator.config import SimConfig
from simulator.generator import generate
from simulator.store import Store, add_range


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _timed(fn, repeat: int = 30) -> tuple[float, float]:
    samples = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.95) - 1]


def _transactions_page(store: Store, orgs, start, end, serials, skip: int, *, narrowed: bool) -> int:
    """The store queries behind one GET /transactions page: count, 100 headers (created DESC), their lines.

    narrowed=True uses `Store.page_slice` (memoized per-day/per-hour counts) for the total, to bound `created`
    and to shrink the offset, and fetches the lines by id range (the route's shape); narrowed=False is the
    plain shape (count and top-N over the whole filtered table, lines by `IN (list)`)."""
    where, params = [], []
    if orgs is not None:
        where.append("t.organization_id IN (SELECT unnest(?))")
        params.append(orgs)
    kiosk_ids = None
    if serials is not None:
        kiosk_ids = [
            r[0]
            for r in store.query("SELECT id FROM kiosks WHERE serial_number IN (SELECT unnest(?))", [serials])
        ]
        where.append("t.kiosk_id IN (SELECT unnest(?))")
        params.append(kiosk_ids)
    lo, hi, offset = start, end, skip
    if narrowed:
        window = store.page_slice(
            "transactions", org_ids=orgs, kiosk_ids=kiosk_ids, start=start, end=end, skip=skip, limit=100
        )
        lo, hi, offset = window.lo, window.hi, window.offset
    else:
        count_where, count_params = list(where), list(params)
        add_range(count_where, count_params, "t.created", start, end)
        store.scalar(
            f"SELECT count(*) FROM transactions t WHERE {' AND '.join(count_where) or 'TRUE'}", count_params
        )
    add_range(where, params, "t.created", lo, hi)
    headers = store.query_dicts(
        f"SELECT t.* FROM transactions t WHERE {' AND '.join(where) or 'TRUE'} "
        "ORDER BY t.created DESC, t.id DESC LIMIT ? OFFSET ?",
        [*params, 100, offset],
    )
    if not headers:
        return 0
    ids = [h["id"] for h in headers]
    if narrowed:
        # ids are integers, so a literal IN list is safe; DuckDB evaluates it as a cheap filter inside the
        # id range the zone maps already pruned to (a parameter list becomes a semi-join instead).
        lines = store.query_dicts(
            "SELECT * FROM transaction_items WHERE transaction_id BETWEEN ? AND ? "
            f"AND transaction_id IN ({', '.join(str(int(i)) for i in ids)})",
            [min(ids), max(ids)],
        )
    else:
        lines = store.query_dicts(
            "SELECT * FROM transaction_items WHERE transaction_id IN (SELECT unnest(?))", [ids]
        )
    return len(headers) + len(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_world_arguments(parser, kiosks=20, days=365)
    parser.add_argument("--database", default=None, help="DuckDB file (default: in memory)")
    args = parser.parse_args()

    now = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
    # The machine is shared; the load says how far wall-clock numbers are from an idle machine.
    load_before = os.getloadavg()[0]
    config = SimConfig(seed=args.seed, kiosks=args.kiosks, days=args.days, now=now)
    store = Store(args.database)
    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    summary = generate(store, config)
    cpu_after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    counts = summary.counts
    tx = counts["transactions"]
    rows = sum(counts.values())
    print(
        f"generated {args.kiosks} kiosks x {args.days} days in {summary.seconds:.1f} s wall, {cpu:.1f} s CPU"
        f" (load average before start: {load_before:.1f})"
    )
    print(
        f"  transactions {tx:,}  items {counts['transaction_items']:,}  refills {counts['refills']:,}"
        f"  refill items {counts['refill_items']:,}  alerts {counts['alerts']:,}"
    )
    print(f"  {tx / summary.seconds:,.0f} purchase sessions/s, {rows / summary.seconds:,.0f} rows/s")
    print(f"  peak RSS {_peak_rss_mb():,.0f} MB")

    serials = [r[0] for r in store.query("SELECT serial_number FROM kiosks ORDER BY id LIMIT 3")]
    cases = {
        "newest first, skip 0": dict(skip=0),
        "newest first, skip 10,000": dict(skip=10_000),
        "one-week window": dict(skip=0, start=now - timedelta(days=7), end=now),
        "3 kiosks, 30-day window, skip 100": dict(
            skip=100, start=now - timedelta(days=30), end=now, serials=serials
        ),
        "one organization (scoped client)": dict(skip=0, orgs=store.descendant_org_ids(3)),
    }
    for narrowed in (True, False):
        shape = "with Store.page_slice" if narrowed else "plain queries"
        for label, case in cases.items():

            def run(case=case, narrowed=narrowed) -> None:
                _transactions_page(
                    store,
                    case.get("orgs"),
                    case.get("start"),
                    case.get("end"),
                    case.get("serials"),
                    case["skip"],
                    narrowed=narrowed,
                )

            p50, p95 = _timed(run, repeat=30)
            print(f"  100-row transactions page ({shape}), {label}: p50 {p50:.1f} ms, p95 {p95:.1f} ms")
    print(f"  peak RSS after queries {_peak_rss_mb():,.0f} MB")


if __name__ == "__main__":
    main()
