"""Time the full mart build (views, marts, data tests) at 100k and 1M sales lines on DuckDB and PostgreSQL.

The raw tables are generated directly in the warehouse by set-based SQL in the shape dlt loads them
(snake_case columns, `__` flattening, child tables linked by `_dlt_parent_id`, DECIMAL(38,9) numbers,
TIMESTAMPTZ times, products as scd2 with `_dlt_valid_from/_dlt_valid_to`), so generating a million lines takes
seconds and the benchmark measures the transforms only. The generator SQL is portable: the same text runs on
both engines.

    .venv/bin/python bench/bench_marts.py [--lines 100000,1000000] [--engines duckdb,postgres] [--runs 3]

PostgreSQL: DESTINATION__POSTGRES__CREDENTIALS or --postgres (default: the local server, user postgres).
Prints the median wall time of the runs per (engine, size), the CPU time of this process (DuckDB runs in it;
for PostgreSQL it is the client's share only), and the slowest models of the last run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import dlt

from transforms.runner import build

DATASET = "livello_bench"
KIOSKS = 100
PRODUCTS = 200
CHANGED_PRODUCTS = 50  # products with a price change in the middle of the window: two SCD2 versions
DAYS = 90
CELLS_PER_KIOSK = 20
SNAPSHOTS = 30
TEMPERATURE_DAYS = 30

# {n} is the number of sales lines. Two lines per transaction; one in ten transactions unpaid. Integer
# division is written as CAST((a - a % b) / b AS BIGINT): DuckDB's `/` returns a double, PostgreSQL's
# truncates.
GENERATORS: dict[str, str] = {
    "organizations": """
        SELECT CAST(o AS BIGINT) AS id, 'Org ' || o AS name, 'org-' || o AS slug, 'CLIENT' AS type,
            CASE o WHEN 1 THEN 'EUR' WHEN 2 THEN 'CHF' ELSE 'GBP' END AS currency,
            CAST(NULL AS BIGINT) AS parent_org, CAST(1 AS BIGINT) AS kiosk_count,
            TIMESTAMPTZ '2025-01-01 00:00:00+00' AS created_at,
            'x' AS _dlt_load_id, 'org' || o AS _dlt_id
        FROM generate_series(1, 3) AS r(o)""",
    "kiosks": f"""
        SELECT 'LIV-' || k AS serial_number, 'Kiosk ' || k AS name, CAST(1 + k % 3 AS VARCHAR) AS org_id,
            'Org' AS organization_name,
            CASE k % 3 WHEN 0 THEN 'Europe/Berlin' WHEN 1 THEN 'Europe/Zurich' ELSE 'Europe/London' END
                AS timezone,
            TRUE AS online, CAST({CELLS_PER_KIOSK} AS BIGINT) AS load_cell_count,
            TIMESTAMPTZ '2025-01-01 00:00:00+00' AS created_at, 'x' AS _dlt_load_id, 'k' || k AS _dlt_id
        FROM generate_series(0, {KIOSKS - 1}) AS r(k)""",
    "kiosk_details": f"""
        SELECT 'LIV-' || k AS serial_number, 'LIV-' || k AS _id,
            CASE k % 3 WHEN 0 THEN 'EUR' WHEN 1 THEN 'CHF' ELSE 'GBP' END AS owner_organization__currency,
            'x' AS _dlt_load_id, 'kd' || k AS _dlt_id
        FROM generate_series(0, {KIOSKS - 1}) AS r(k)""",
    "products": f"""
        SELECT CAST(p AS BIGINT) AS id, 'Product ' || p AS name, 'Snacks' AS category, 'ACME' AS manufacturer,
            CAST(1 AS BIGINT) AS organization_id, 'EUR' AS organization_currency,
            CAST(CAST(1 + (p % 50) * 0.1 + v * 0.2 AS DECIMAL(18, 2)) AS VARCHAR) AS price,
            CAST(CAST(1 + (p % 50) * 0.05 AS DECIMAL(18, 2)) AS VARCHAR) AS net_price,
            CAST(0.5 AS DECIMAL(38, 9)) AS cost, CAST(19 AS DECIMAL(38, 9)) AS vat_rate,
            TIMESTAMPTZ '2025-12-01 00:00:00+00' AS created_at,
            CASE WHEN v = 0 THEN TIMESTAMPTZ '2025-12-01 00:00:00+00'
                ELSE TIMESTAMPTZ '2026-02-15 00:00:00+00' END AS updated_at,
            TIMESTAMPTZ '2026-01-01 00:00:00+00' + v * INTERVAL '30 days' AS _dlt_valid_from,
            CASE WHEN v = 0 AND p < {CHANGED_PRODUCTS} THEN TIMESTAMPTZ '2026-01-31 00:00:00+00' END
                AS _dlt_valid_to,
            'x' AS _dlt_load_id, 'p' || p || '_' || v AS _dlt_id
        FROM generate_series(0, {PRODUCTS - 1}) AS r(p), generate_series(0, 1) AS s(v)
        WHERE v = 0 OR p < {CHANGED_PRODUCTS}""",
    "transactions__items_purchased": f"""
        SELECT CAST(1000 + (i * 7) % {PRODUCTS} AS BIGINT) AS product_line_id,
            CAST((i * 7) % {PRODUCTS} AS BIGINT) AS product_meta_id, 'Product' AS name,
                'A1' AS planogram_position,
            CAST(1 + i % 3 AS BIGINT) AS quantity,
            CAST(1 + ((i * 7) % 50) * 0.1 AS DECIMAL(38, 9)) AS price,
            CAST(CASE CAST((i - i % 2) / 2 AS BIGINT) % {KIOSKS} % 3 WHEN 0 THEN 19 WHEN 1 THEN 8.1 ELSE
                20 END AS DECIMAL(38, 9))
                AS vat_rate,
            CAST(0 AS DECIMAL(38, 9)) AS discount,
            CAST((1 + i % 3) * (1 + ((i * 7) % 50) * 0.1) AS DECIMAL(38, 9)) AS total,
            CAST(0.5 AS DECIMAL(38, 9)) AS cost,
            'tx' || CAST((i - i % 2) / 2 AS BIGINT) AS _dlt_parent_id,
                CAST(i % 2 AS BIGINT) AS _dlt_list_idx, 'li' || i AS _dlt_id,
            'tx' || CAST((i - i % 2) / 2 AS BIGINT) AS _dlt_root_id
        FROM generate_series(0, {{n}} - 1) AS r(i)""",
    "transactions": f"""
        SELECT CAST(t AS BIGINT) AS id,
            TIMESTAMPTZ '2026-01-01 00:00:00+00' + ((CAST(t AS BIGINT) * 7919) % ({{days}} * 86400)) *
                INTERVAL '1 second' AS created,
            CAST((1 + (2 * t) % 3) * (1 + ((2 * t * 7) % 50) * 0.1)
                + (1 + (2 * t + 1) % 3) * (1 + (((2 * t + 1) * 7) % 50) * 0.1) AS DECIMAL(38, 9)) AS total,
            CAST(0 AS DECIMAL(38, 9)) AS discount_total, 'purchase' AS type, CAST(0 AS BIGINT) AS user_id,
            CASE (t % {KIOSKS}) % 3 WHEN 0 THEN 'EUR' WHEN 1 THEN 'CHF' ELSE 'GBP' END AS currency,
            (t % 10 <> 0) AS payment_method__is_paid, TRUE AS session__details__ended_with_purchase,
            CASE WHEN t % 7 = 0 THEN 'MEMBERCARD' ELSE 'CARD' END AS payment_method__payment_type,
            CASE t % 4 WHEN 0 THEN 'Visa' WHEN 1 THEN 'Mastercard' WHEN 2 THEN 'Girocard' ELSE 'Amex' END
                AS payment_method__card_type,
            'LIV-' || (t % {KIOSKS}) AS kiosk__serial_number, 'Kiosk' AS kiosk__name,
            'x' AS _dlt_load_id, 'tx' || t AS _dlt_id
        FROM generate_series(0, {{half}} - 1) AS r(t)""",
    "refills__items_replenished": f"""
        SELECT CAST(1000 + (i * 7) % {PRODUCTS} AS BIGINT) AS product_line_id,
            CAST((i * 7) % {PRODUCTS} AS BIGINT) AS product_meta_id, 'Product' AS name,
                'A1' AS planogram_position,
            CAST(5 + i % 10 AS BIGINT) AS added, CAST(i % 3 AS BIGINT) AS removed,
            CAST(CASE WHEN i % 3 = 0 THEN 0 ELSE i % 2 END AS BIGINT) AS removed_expired,
            CAST(0.5 AS DECIMAL(38, 9)) AS cost, CAST(1.99 AS DECIMAL(38, 9)) AS price,
            'rf' || CAST((i - i % 5) / 5 AS BIGINT) AS _dlt_parent_id,
                CAST(i % 5 AS BIGINT) AS _dlt_list_idx, 'ri' || i AS _dlt_id
        FROM generate_series(0, {{tenth}} - 1) AS r(i)""",
    "refills": f"""
        SELECT CAST(r AS BIGINT) AS id,
            TIMESTAMPTZ '2026-01-01 00:00:00+00' + ((CAST(r AS BIGINT) * 104729) % ({{days}} * 86400)) *
                INTERVAL '1 second' AS created,
            'manual' AS type, 'LIV-' || (r % {KIOSKS}) AS kiosk__serial_number,
            'x' AS _dlt_load_id, 'rf' || r AS _dlt_id
        FROM generate_series(0, {{fiftieth}} - 1) AS s(r)""",
    "kiosk_inventory": f"""
        SELECT 'LIV-' || k AS kiosk_serial_number,
            TIMESTAMPTZ '2026-01-01 06:00:00+00' + ({{days}} - {3 * SNAPSHOTS}) * INTERVAL '1 day'
                + s * INTERVAL '3 days' AS snapshot_at,
            CAST(c AS BIGINT) AS load_cell_id, 'A' || c AS planogram_position, CAST(c AS BIGINT) AS cell_id,
            CAST(1000 + (k * 7 + c) % {PRODUCTS} AS BIGINT) AS product_line_data__product_line_id,
            CAST((k * 7 + c) % {PRODUCTS} AS BIGINT) AS product_line_data__product_meta_id,
            CAST(1.99 AS DECIMAL(38, 9)) AS product_line_data__price,
            CAST(0.5 AS DECIMAL(38, 9)) AS product_line_data__cost,
            CAST(10 AS BIGINT) AS product_line_data__capacity,
            CAST((k + c + s) % 11 AS BIGINT) AS product_line_data__count,
            'load' || s AS _dlt_load_id, 'inv' || k || '_' || c || '_' || s AS _dlt_id
        FROM generate_series(0, {KIOSKS - 1}) AS a(k), generate_series(1, {CELLS_PER_KIOSK}) AS b(c),
            generate_series(0, {SNAPSHOTS - 1}) AS d(s)""",
    "temperature": f"""
        SELECT 'LIV-' || k AS kiosk_serial_number, 'Kiosk' AS kiosk_name,
            CASE p WHEN 0 THEN 'top' WHEN 1 THEN 'middle' ELSE 'bottom' END AS sensor_position,
            'hourly' AS granularity,
            TIMESTAMPTZ '2026-02-01 00:00:00+00' + ({{days}} - {DAYS}) * INTERVAL '1 day'
                + h * INTERVAL '1 hour' AS bucket_start,
            CAST(4 + (k + h) % 5 AS DECIMAL(38, 9)) AS value, CAST(3 AS DECIMAL(38, 9)) AS min,
            CAST(9 AS DECIMAL(38, 9)) AS max, 'x' AS _dlt_load_id, 't' || k || '_' || p || '_' || h AS _dlt_id
        FROM generate_series(0, {KIOSKS - 1}) AS a(k), generate_series(0, 2) AS b(p),
            generate_series(0, {TEMPERATURE_DAYS * 24 - 1}) AS c(h)""",
    "alerts": f"""
        SELECT CAST(a AS BIGINT) AS id, 'HighTemperature' AS type, 'Hardware' AS category, 'high' AS severity,
            CASE WHEN a % 3 = 0 THEN 'open' ELSE 'resolved' END AS status, (a % 2 = 0) AS is_ack,
            'LIV-' || (a % {KIOSKS}) AS kiosk_serial_number, 'too warm' AS message,
            TIMESTAMPTZ '2026-01-01 00:00:00+00' + ({{days}} - {DAYS}) * INTERVAL '1 day'
                + a * INTERVAL '1 hour' AS start_date,
            CASE WHEN a % 3 <> 0 THEN TIMESTAMPTZ '2026-01-01 02:00:00+00'
                + ({{days}} - {DAYS}) * INTERVAL '1 day' + a * INTERVAL '1 hour' END AS end_date,
            'x' AS _dlt_load_id, 'al' || a AS _dlt_id
        FROM generate_series(0, 999) AS r(a)""",
}


def generate_raw(client: Any, lines: int, days: int = DAYS) -> float:
    """The raw tables of `lines` sales lines over `days` days (inventory, temperature and alerts in the
    last 90 days of them)."""
    started = time.perf_counter()
    with client.begin_transaction():
        for table, sql in GENERATORS.items():
            client.execute_sql(f'DROP TABLE IF EXISTS "{DATASET}".{table}')
            sizes = {
                "n": lines,
                "half": lines // 2,
                "tenth": lines // 10,
                "fiftieth": lines // 50,
                "days": days,
            }
            client.execute_sql(f'CREATE TABLE "{DATASET}".{table} AS {sql.format(**sizes)}')
        _varchar_like_dlt(client)
        for table in GENERATORS:
            # the statistics autovacuum keeps on a warehouse's tables (a fresh table has none)
            client.execute_sql(f'ANALYZE "{DATASET}".{table}')
    return time.perf_counter() - started


def _varchar_like_dlt(client: Any) -> None:
    """PostgreSQL types the generated strings `text`; dlt creates `varchar` columns. The staging views cast
    to VARCHAR, a no-op on dlt's columns but an expression on `text` ones, which hides the column statistics
    from the planner (measured: a 4x slower incremental join at 1M lines). Make them what dlt makes."""
    rows = client.execute_sql(
        "SELECT table_name, column_name FROM information_schema.columns "
        "WHERE table_schema = %s AND data_type = 'text'",
        DATASET,
    )
    by_table: dict[str, list[str]] = {}
    for table, column in rows or []:
        by_table.setdefault(str(table), []).append(str(column))
    for table, columns in by_table.items():
        changes = ", ".join(f'ALTER COLUMN "{c}" TYPE varchar' for c in columns)
        client.execute_sql(f'ALTER TABLE "{DATASET}"."{table}" {changes}')


def destination(engine: str, workdir: Path, postgres: str) -> Any:
    if engine == "duckdb":
        return dlt.destinations.duckdb(str(workdir / "bench_warehouse.duckdb"))
    return dlt.destinations.postgres(postgres)


def bench(engine: str, lines: int, runs: int, workdir: Path, postgres: str) -> None:
    pipeline = dlt.pipeline(
        pipeline_name=f"bench_marts_{engine}",
        destination=destination(engine, workdir, postgres),
        dataset_name=DATASET,
        pipelines_dir=str(workdir / "pipelines"),
    )
    with pipeline.sql_client() as client:
        client.execute_sql(f'DROP SCHEMA IF EXISTS "{DATASET}" CASCADE')
        client.execute_sql(f'CREATE SCHEMA "{DATASET}"')
        generated = generate_raw(client, lines)
    timings = []
    cpu = []
    report = None
    for _ in range(runs):
        started, cpu_started = time.perf_counter(), time.process_time()
        report = build(pipeline)
        timings.append(time.perf_counter() - started)
        cpu.append(time.process_time() - cpu_started)
    assert report is not None
    counts = report.row_counts()
    print(
        f"{engine:<8} {lines:>9,} sales lines: build median {statistics.median(timings):6.2f}s "
        f"(runs {', '.join(f'{t:.2f}' for t in timings)}; client CPU median {statistics.median(cpu):.2f}s; "
        f"raw generated in {generated:.1f}s; "
        f"fct_sales {counts['fct_sales']:,}, fct_transactions {counts['fct_transactions']:,}, "
        f"{len(report.tests)} data tests)",
        flush=True,
    )
    slowest = sorted(report.models, key=lambda m: -m.seconds)[:4]
    tests = sum(t.seconds for t in report.tests)
    print(
        "         slowest: "
        + ", ".join(f"{m.name} {m.seconds:.2f}s" for m in slowest)
        + f"; data tests {tests:.2f}s"
    )
    with pipeline.sql_client() as client:
        client.execute_sql(f'DROP SCHEMA IF EXISTS "{DATASET}" CASCADE')


def warehouse_arguments(description: str, lines: str) -> argparse.ArgumentParser:
    """--lines (default `lines`), --engines, --runs, --postgres: the warehouse benchmarks' options."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--lines", default=lines)
    parser.add_argument("--engines", default="duckdb,postgres")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--postgres",
        default=os.environ.get(
            "DESTINATION__POSTGRES__CREDENTIALS", "postgresql://postgres:unused@127.0.0.1:5432/postgres"
        ),
    )
    return parser


def main() -> None:
    args = warehouse_arguments(__doc__.splitlines()[0], "100000,1000000").parse_args()
    with tempfile.TemporaryDirectory(prefix="bench_marts_") as tmp:
        for engine in args.engines.split(","):
            for lines in (int(n) for n in args.lines.split(",")):
                bench(engine, lines, args.runs, Path(tmp), args.postgres)


if __name__ == "__main__":
    main()
