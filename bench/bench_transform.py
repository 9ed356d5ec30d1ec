"""The nightly transform after one day of new sales, incremental against a full rebuild, at two history sizes.

    .venv/bin/python bench/bench_transform.py [--lines 500000,5000000] [--engines duckdb,postgres] [--runs 3]

The history is generated in the warehouse by bench_marts.py's set-based SQL (the raw tables as dlt loads
them, registered as one dlt load in `_dlt_loads`), then built once in full. Each run then adds one day of
sales (--day-lines, default 5,555: a day of the 0.5M-line history, the same at every size; as a new dlt
load, with the history's spread of dates and kiosks) and times:

  incremental  `build(pipeline)`: fct_transactions and fct_sales rebuild only the new load's transactions
  full         `build(pipeline, full_refresh=True)`: every mart from the whole history

Each (engine, size) runs in a child process, so its peak memory (max RSS; for PostgreSQL the client's only)
is its own. Prints the medians per run kind, the ratio full / incremental at each size, and the ratio of the
incremental times at the largest and smallest size (the issue's targets: 5M <= 1.3 x 0.5M; incremental >= 5x
faster than full at 5M on PostgreSQL; peak memory within 1.2x).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import dlt

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_marts import DATASET, DAYS, GENERATORS, destination, generate_raw, warehouse_arguments  # noqa: E402

from transforms.runner import build  # noqa: E402

# After the history's load id "x" in string order, as dlt's load ids (timestamps) follow each other.
DAY_LOAD = "x{n:06d}"
# A day of the smallest history (0.5M lines over the generator's 90 days): a night brings the same new sales
# whatever the length of the history before it.
DAY_LINES = 500_000 // DAYS


def register_load(client: Any, load_id: str) -> None:
    client.execute_sql(
        f'CREATE TABLE IF NOT EXISTS "{DATASET}"._dlt_loads (load_id VARCHAR NOT NULL, schema_name VARCHAR, '
        "status BIGINT NOT NULL, inserted_at TIMESTAMPTZ, schema_version_hash VARCHAR)"
    )
    client.execute_sql(
        f"INSERT INTO \"{DATASET}\"._dlt_loads VALUES ('{load_id}', 'livello', 0, now(), NULL)"
    )


def add_day(client: Any, lines: int, day: int, day_lines: int) -> None:
    """One day of sales as a new load: `day_lines` lines (two per transaction) after the history's ids."""
    first = lines // 2 + (day - 1) * (day_lines // 2)
    last = first + day_lines // 2 - 1
    load = DAY_LOAD.format(n=day)
    transactions = (
        GENERATORS["transactions"]
        .replace("generate_series(0, {half} - 1)", f"generate_series({first}, {last})")
        .replace("'x' AS _dlt_load_id", f"'{load}' AS _dlt_load_id")
    )
    items = GENERATORS["transactions__items_purchased"].replace(
        "generate_series(0, {n} - 1)", f"generate_series({2 * first}, {2 * last + 1})"
    )
    with client.begin_transaction():
        client.execute_sql(f'INSERT INTO "{DATASET}".transactions {transactions}')
        client.execute_sql(f'INSERT INTO "{DATASET}".transactions__items_purchased {items}')
        register_load(client, load)


def one(engine: str, lines: int, day_lines: int, runs: int, workdir: Path, postgres: str) -> dict[str, Any]:
    pipeline = dlt.pipeline(
        pipeline_name=f"bench_transform_{engine}",
        destination=destination(engine, workdir, postgres),
        dataset_name=DATASET,
        pipelines_dir=str(workdir / "pipelines"),
    )
    with pipeline.sql_client() as client:
        for schema in (DATASET, f"{DATASET}_marts"):
            client.execute_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        client.execute_sql(f'CREATE SCHEMA "{DATASET}"')
        generated = generate_raw(client, lines)
        register_load(client, "x")
    started = time.perf_counter()
    first = build(pipeline)
    first_seconds = time.perf_counter() - started
    incremental, full, keys = [], [], []
    for day in range(1, runs + 1):
        with pipeline.sql_client() as client:
            add_day(client, lines, day, day_lines)
        started = time.perf_counter()
        report = build(pipeline)
        incremental.append(time.perf_counter() - started)
        keys.append(next(m.changed_keys for m in report.models if m.name == "fct_sales"))
        started = time.perf_counter()
        build(pipeline, full_refresh=True)
        full.append(time.perf_counter() - started)
    slowest = sorted(report.models, key=lambda m: -m.seconds)[:5]
    with pipeline.sql_client() as client:
        for schema in (DATASET, f"{DATASET}_marts"):
            client.execute_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    return {
        "engine": engine,
        "lines": lines,
        "generated_s": round(generated, 2),
        "first_build_s": round(first_seconds, 2),
        "fct_sales_rows": first.row_counts()["fct_sales"],
        "incremental_s": incremental,
        "full_s": full,
        "changed_transactions": keys,
        "slowest_incremental": [f"{m.name} {m.seconds:.2f}s" for m in slowest],
        "tests_incremental_s": round(sum(t.seconds for t in report.tests), 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def main() -> None:
    parser = warehouse_arguments(__doc__.splitlines()[0], "500000,5000000")
    parser.add_argument(
        "--day-lines",
        type=int,
        default=DAY_LINES,
        help="sales lines of the day added before each nightly build (the same at every history size)",
    )
    parser.add_argument("--one", help=argparse.SUPPRESS)  # engine,lines: the child process
    args = parser.parse_args()
    if args.one:
        engine, lines = args.one.split(",")
        with tempfile.TemporaryDirectory(prefix="bench_transform_") as tmp:
            print(json.dumps(one(engine, int(lines), args.day_lines, args.runs, Path(tmp), args.postgres)))
        return
    sizes = [int(n) for n in args.lines.split(",")]
    for engine in args.engines.split(","):
        results = []
        for lines in sizes:
            child = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--one",
                    f"{engine},{lines}",
                    "--runs",
                    str(args.runs),
                    "--day-lines",
                    str(args.day_lines),
                    "--postgres",
                    args.postgres,
                ],
                check=True,
                capture_output=True,
                text=True,
            )
            result = json.loads(child.stdout.strip().splitlines()[-1])
            results.append(result)
            inc, full = statistics.median(result["incremental_s"]), statistics.median(result["full_s"])
            print(
                f"{engine:<8} {lines:>9,} lines: incremental median {inc:6.2f}s "
                f"(runs {', '.join(f'{t:.2f}' for t in result['incremental_s'])}; "
                f"{statistics.median(result['changed_transactions']):,.0f} transactions rebuilt), "
                f"full median {full:6.2f}s, full/incremental {full / inc:4.1f}x, "
                f"peak RSS {result['peak_rss_mb']:,.0f} MB",
                flush=True,
            )
            print(
                f"         slowest (incremental): {', '.join(result['slowest_incremental'])}; "
                f"data tests {result['tests_incremental_s']:.2f}s",
                flush=True,
            )
        if len(results) > 1:
            small, large = results[0], results[-1]
            growth = statistics.median(large["incremental_s"]) / statistics.median(small["incremental_s"])
            memory = large["peak_rss_mb"] / small["peak_rss_mb"]
            print(
                f"{engine:<8} incremental {large['lines']:,} / {small['lines']:,} lines: {growth:.2f}x time, "
                f"{memory:.2f}x peak RSS",
                flush=True,
            )


if __name__ == "__main__":
    main()
