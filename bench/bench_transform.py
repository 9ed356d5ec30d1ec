"""The nightly transform after one day of new sales, incremental against a full rebuild, at two history sizes.

    .venv/bin/python bench/bench_transform.py [--lines 500000,5000000] [--engines duckdb,postgres] [--runs 3]

The history is generated in the warehouse by bench_marts.py's set-based SQL (the raw tables as dlt loads
them, registered as one dlt load in `_dlt_loads`, with the statistics autovacuum would keep), then built once
in full. A longer history is more days of the same fleet (100 kiosks): --day-lines (default 5,555) sales
lines a day, so 0.5M lines are 90 days and 5M lines 900 days (two and a half years). Each run then adds the
next day (its sales lines and a fiftieth as many refills, as a new dlt load) and times:

  incremental  `build(pipeline)`: the facts rebuild only what the new load touches
  full         `build(pipeline, full_refresh=True)`: every mart from the whole history

Every build runs in a child process of its own, so the nightly run's peak memory (max RSS; for PostgreSQL the
client's only) is its own, not that of the generation or of a full rebuild. Prints the medians per run
kind, the ratio full / incremental at each size, and the ratio of the nightly times and memory at the largest
and smallest size (the issue's targets: 5M <= 1.3 x 0.5M; incremental >= 5x faster than full at 5M on
PostgreSQL; peak memory within 1.2x).
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
# A day of the smallest history (0.5M lines over the generator's 90 days): every night brings the same new
# sales, whatever the length of the history before it.
DAY_LINES = 500_000 // DAYS


def register_load(client: Any, load_id: str) -> None:
    client.execute_sql(
        f'CREATE TABLE IF NOT EXISTS "{DATASET}"._dlt_loads (load_id VARCHAR NOT NULL, schema_name VARCHAR, '
        "status BIGINT NOT NULL, inserted_at TIMESTAMPTZ, schema_version_hash VARCHAR)"
    )
    client.execute_sql(
        f"INSERT INTO \"{DATASET}\"._dlt_loads VALUES ('{load_id}', 'livello', 0, now(), NULL)"
    )


def history_days(lines: int, day_lines: int) -> int:
    """Days of the history: a day of sales a day, so a longer history is more days of the same fleet."""
    return max(1, lines // day_lines)


def add_day(client: Any, lines: int, day: int, day_lines: int) -> None:
    """Day `day` after the history as a new load: `day_lines` sales lines (two per transaction) and a fiftieth
    as many refills (five lines each), after the history's ids, at the history's times of day."""
    load = DAY_LOAD.format(n=day)
    shift = (
        "TIMESTAMPTZ '2026-01-01 00:00:00+00' + "
        f"{history_days(lines, day_lines) + day - 1} * INTERVAL '1 day'"
    )

    with client.begin_transaction():
        for table, per_line, parent, child, children_per, size in (
            ("transactions", 2, "r(t)", "transactions__items_purchased", 2, "half"),
            ("refills", 50, "s(r)", "refills__items_replenished", 5, "fiftieth"),
        ):
            first = lines // per_line + (day - 1) * (day_lines // per_line)
            last = first + day_lines // per_line - 1
            parents = (
                GENERATORS[table]
                .format(**{size: 0, "days": 1})
                .replace(
                    f"generate_series(0, 0 - 1) AS {parent}", f"generate_series({first}, {last}) AS {parent}"
                )
                .replace("TIMESTAMPTZ '2026-01-01 00:00:00+00'", shift)
                .replace("'x' AS _dlt_load_id", f"'{load}' AS _dlt_load_id")
            )
            children = (
                GENERATORS[child]
                .format(n=0, tenth=0)
                .replace(
                    "generate_series(0, 0 - 1)",
                    f"generate_series({children_per * first}, {children_per * (last + 1) - 1})",
                )
            )
            client.execute_sql(f'INSERT INTO "{DATASET}".{table} {parents}')
            client.execute_sql(f'INSERT INTO "{DATASET}".{child} {children}')
        register_load(client, load)


def phase(
    name: str, engine: str, lines: int, day: int, day_lines: int, workdir: Path, postgres: str
) -> dict[str, Any]:
    """One step in a process of its own, so that its peak memory is its own: `setup` (generate and build
    once), `night` (add day `day`, then the nightly build), `full` (a full rebuild), `drop`."""
    pipeline = dlt.pipeline(
        pipeline_name=f"bench_transform_{engine}",
        destination=destination(engine, workdir, postgres),
        dataset_name=DATASET,
        pipelines_dir=str(workdir / "pipelines"),
    )
    result: dict[str, Any] = {}
    if name in ("setup", "drop"):
        with pipeline.sql_client() as client:
            for schema in (DATASET, f"{DATASET}_marts"):
                client.execute_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
            if name == "drop":
                return result
            client.execute_sql(f'CREATE SCHEMA "{DATASET}"')
            result["generated_s"] = generate_raw(client, lines, history_days(lines, day_lines))
            register_load(client, "x")
    elif name == "night":
        with pipeline.sql_client() as client:
            add_day(client, lines, day, day_lines)
    started = time.perf_counter()
    report = build(pipeline, full_refresh=name == "full")
    result["seconds"] = time.perf_counter() - started
    result["fct_sales_rows"] = report.row_counts()["fct_sales"]
    result["changed_transactions"] = next(m.changed_keys for m in report.models if m.name == "fct_sales")
    result["slowest"] = [
        f"{m.name} {m.seconds:.2f}s" for m in sorted(report.models, key=lambda m: -m.seconds)
    ]
    result["tests_s"] = sum(t.seconds for t in report.tests)
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return result


def run_phase(args: argparse.Namespace, name: str, engine: str, lines: int, day: int, workdir: str) -> Any:
    child = subprocess.run(
        [
            sys.executable,
            __file__,
            "--phase",
            f"{name},{engine},{lines},{day},{workdir}",
            "--day-lines",
            str(args.day_lines),
            "--postgres",
            args.postgres,
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(child.stdout.strip().splitlines()[-1])


def measure(args: argparse.Namespace, engine: str, lines: int) -> dict[str, Any]:
    """Setup, then --runs nights each followed by a full rebuild (which the next night builds on)."""
    with tempfile.TemporaryDirectory(prefix="bench_transform_") as workdir:
        run_phase(args, "setup", engine, lines, 0, workdir)
        nights, fulls = [], []
        for day in range(1, args.runs + 1):
            nights.append(run_phase(args, "night", engine, lines, day, workdir))
            fulls.append(run_phase(args, "full", engine, lines, 0, workdir))
        run_phase(args, "drop", engine, lines, 0, workdir)
    return {"lines": lines, "nights": nights, "fulls": fulls}


def main() -> None:
    parser = warehouse_arguments(__doc__.splitlines()[0], "500000,5000000")
    parser.add_argument(
        "--day-lines",
        type=int,
        default=DAY_LINES,
        help="sales lines of the day added before each nightly build (the same at every history size)",
    )
    parser.add_argument("--phase", help=argparse.SUPPRESS)  # name,engine,lines,day,workdir: a child
    args = parser.parse_args()
    if args.phase:
        name, engine, lines, day, workdir = args.phase.split(",", 4)
        result = phase(name, engine, int(lines), int(day), args.day_lines, Path(workdir), args.postgres)
        print(json.dumps(result))
        return
    sizes = [int(n) for n in args.lines.split(",")]
    for engine in args.engines.split(","):
        results = []
        for lines in sizes:
            result = measure(args, engine, lines)
            results.append(result)
            nights, fulls = result["nights"], result["fulls"]
            inc = statistics.median(n["seconds"] for n in nights)
            full = statistics.median(f["seconds"] for f in fulls)
            rss = statistics.median(n["peak_rss_mb"] for n in nights)
            result.update(incremental=inc, rss=rss)
            runs = ", ".join(f"{n['seconds']:.2f}" for n in nights)
            print(
                f"{engine:<8} {lines:>9,} lines: nightly (incremental) median {inc:6.2f}s "
                f"(runs {runs}; "
                f"{nights[0]['changed_transactions']:,} transactions rebuilt), full rebuild median "
                f"{full:6.2f}s, full/incremental {full / inc:4.1f}x, nightly peak RSS {rss:,.0f} MB "
                f"(full rebuild {statistics.median(f['peak_rss_mb'] for f in fulls):,.0f} MB)",
                flush=True,
            )
            print(
                f"         slowest (nightly): {', '.join(nights[-1]['slowest'][:5])}; "
                f"data tests {nights[-1]['tests_s']:.2f}s",
                flush=True,
            )
        if len(results) > 1:
            small, large = results[0], results[-1]
            time_ratio = large["incremental"] / small["incremental"]
            print(
                f"{engine:<8} nightly {large['lines']:,} / {small['lines']:,} lines: {time_ratio:.2f}x time, "
                f"{large['rss'] / small['rss']:.2f}x peak RSS",
                flush=True,
            )


if __name__ == "__main__":
    main()
