"""`livello-sync demo`: the README's first command.

Starts the bundled simulator as a subprocess (the simulator's own `SimulatorProcess` handle) on a free
loopback port, syncs it into a local DuckDB file with the same code path as `livello-sync run` (configured
through the environment, exactly as an operator would), builds the marts, prints what was loaded and a few
headline numbers, and stops the simulator whatever happens.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import Any

Printer = Callable[[str], None]


def _headlines() -> list[str]:
    from pipelines.destination import open_pipeline
    from pipelines.settings import DEFAULT_DATASET

    pipeline = open_pipeline("duckdb", DEFAULT_DATASET)
    out: list[str] = []
    queries = [
        ("kiosks", "select count(*) from kiosks"),
        ("products (current)", "select count(*) from products where _dlt_valid_to is null"),
        ("purchase sessions", "select count(*) from transactions"),
        (
            "paid purchases",
            "select count(*) from transactions where session__details__ended_with_purchase "
            "and payment_method__is_paid",
        ),
    ]
    with pipeline.sql_client() as client:
        from transforms.settings import use_marts

        use_marts(client)  # fct_sales is in the marts' schema, the raw tables in the dataset's
        for label, sql in queries:
            try:
                out.append(f"  {label:<20} {client.execute_sql(sql)[0][0]:>12,}")
            except Exception:
                continue
        try:
            for currency, gross in client.execute_sql(
                "select coalesce(currency, '?'), sum(total) from transactions "
                "where payment_method__is_paid group by 1 order by 1"
            ):
                out.append(f"  {'revenue ' + currency:<20} {gross:>12,.2f}")
        except Exception:
            pass
        try:
            rows = client.execute_sql("select count(*), sum(gross_amount) from fct_sales")
            out.append(f"  {'fct_sales lines':<20} {rows[0][0]:>12,}")
        except Exception:
            pass
        out += _planning(client)
    return out


def _planning(client: Any) -> list[str]:
    """What the marts an operator plans with say about the demo fleet (one line each; a mart that is missing
    is left out)."""
    lines = ["", "What the planning marts say:"]
    queries: list[tuple[str, str, Callable[[Sequence[Any]], str]]] = [
        (
            "fct_replenishment_plan",
            "select count(*), sum(case when suggested_refill_quantity > 0 then 1 else 0 end), "
            "coalesce(sum(suggested_refill_quantity), 0), "
            "sum(case when units_expiring_before_next_visit > 0 then units_expiring_before_next_visit end), "
            "sum(case when predicted_stock_out_date <= next_visit_date then 1 else 0 end) "
            "from fct_replenishment_plan",
            lambda r: (
                f"{r[1]:,} of {r[0]:,} load cells to refill at the next visit, {r[2]:,} units; "
                f"{r[3] or 0:,} units expire by then; {r[4] or 0:,} cells run empty before it"
            ),
        ),
        (
            "  refill cost",
            "select currency, sum(suggested_refill_cost), sum(suggested_refill_sales_value) "
            "from fct_replenishment_plan group by currency order by currency",
            lambda r: f"{r[0]} {r[1]:,.2f} at cost, {r[2]:,.2f} sales value",
        ),
        (
            "fct_cold_chain_daily",
            "select count(*), sum(case when is_breach then 1 else 0 end), "
            "coalesce(sum(minutes_above_threshold), 0), "
            "coalesce(max(longest_excursion_minutes), 0), max(threshold_celsius), max(breach_after_minutes) "
            "from fct_cold_chain_daily",
            lambda r: (
                f"{r[0]:,} sensor-days, {r[1]:,} breach the rule (an excursion above "
                f"{float(r[4] or 0):g} °C longer than {r[5] or 0} min); "
                f"{r[2]:,} minutes above in all, longest excursion {r[3]:,} min"
            ),
        ),
        (
            "fct_kiosk_daily",
            "select count(*), count(distinct kiosk_serial_number), coalesce(sum(sessions), 0), "
            "coalesce(sum(quiet_opening_hours), 0), coalesce(sum(usual_opening_hours), 0), "
            "sum(case when sessions = 0 then 1 else 0 end) from fct_kiosk_daily",
            lambda r: (
                f"{r[0]:,} kiosk-days of {r[1]:,} kiosks, {r[2]:,} sessions; {r[3]:,} of {r[4]:,} "
                f"usual opening hours without a session; {r[5]:,} days without any"
            ),
        ),
        (
            "dim_promocode",
            "select count(*), sum(case when is_usable then 1 else 0 end) from dim_promocode",
            lambda r: f"{r[0]:,} promocodes synced, {r[1] or 0:,} usable",
        ),
    ]
    for label, sql, describe in queries:
        try:
            rows = client.execute_sql(sql) or []
        except Exception:
            continue
        for row in rows:
            lines.append(f"  {label:<23} {describe(row)}")
    return lines if len(lines) > 2 else []


def run_demo(*, duckdb_path: str, kiosks: int, days: int, seed: int, out: Printer, err: Printer) -> int:
    from pipelines.cli import main as cli_main
    from pipelines.settings import DEFAULT_DATASET, in_project
    from simulator.server import SimulatorProcess

    started = time.monotonic()
    path = in_project(duckdb_path).resolve()
    pipelines_dir = in_project(DEMO_PIPELINES_DIR)
    for stale in (path, Path(str(path) + ".wal")):
        stale.unlink(missing_ok=True)  # a new simulator has new history: start the demo warehouse afresh
    shutil.rmtree(pipelines_dir, ignore_errors=True)
    saved = dict(os.environ)
    # The simulator keeps the contract's own limit (1000 requests/hour): the demo shows a real run's budget.
    simulator = SimulatorProcess(["--kiosks", str(kiosks), "--days", str(days), "--seed", str(seed)])
    try:
        with simulator:
            out(
                f"Simulator ready at {simulator.base_url} "
                f"({kiosks} kiosks, {days} days of history, seed {seed})."
            )
            os.environ.update(
                {
                    "SOURCES__LIVELLO__BASE_URL": simulator.base_url,
                    "SOURCES__LIVELLO__CLIENT_ID": simulator.client_id,
                    "SOURCES__LIVELLO__CLIENT_SECRET": simulator.client_secret,
                    "SOURCES__LIVELLO__PSEUDONYMIZATION_KEY": os.environ.get(
                        "SOURCES__LIVELLO__PSEUDONYMIZATION_KEY", "livello-demo-pseudonymization-key"
                    ),
                    "SOURCES__LIVELLO__PIPELINES_DIR": str(pipelines_dir),
                    # the API cannot list promocodes: the simulator's codes of its first organizations
                    "SOURCES__LIVELLO__PROMOCODES": os.environ.get(
                        "SOURCES__LIVELLO__PROMOCODES", DEMO_PROMOCODES
                    ),
                    "DESTINATION__DUCKDB__CREDENTIALS": str(path),
                }
            )
            code = cli_main(["run", "--destination", "duckdb", "--dataset", DEFAULT_DATASET])
            if code != 0:
                err("the demo sync failed (see above)")
                return code
            out("\nHeadline numbers:")
            for line in _headlines():
                out(line)
            out(_reconciled())
    except RuntimeError as error:
        err(str(error))
        return 1
    finally:
        os.environ.clear()
        os.environ.update(saved)
    report = _report(path, err)
    out(_next_steps(path, pipelines_dir, report, time.monotonic() - started))
    return 0


DEMO_PIPELINES_DIR = Path(".livello-sync") / "demo-pipelines"
DEMO_PROMOCODES = "10100,10101,10102,10200,10201,10202"


def _reconciled() -> str:
    """While the simulator still answers: the marts against the vendor's own analytics, to the cent."""
    from pipelines.destination import open_pipeline
    from pipelines.reconcile import reconcile
    from pipelines.settings import DEFAULT_DATASET, resolve_checked
    from sources.livello.client import ClientSettings, LivelloClient

    end = date.today()
    start = end - timedelta(days=6)
    pipeline = open_pipeline("duckdb", DEFAULT_DATASET, writable=False)
    with LivelloClient(resolve_checked(ClientSettings)) as client, pipeline.sql_client() as sql_client:
        report = reconcile(sql_client, client, start, end)
    verdict = "the marts agree" if report.exit_code == 0 else "they DIFFER (see `livello-sync reconcile`)"
    return f"\nReconciled with the API's own analytics: {report.render().splitlines()[-1]}; {verdict}."


def _report(path: Path, err: Printer) -> Path | None:
    from pipelines.destination import make_pipeline
    from pipelines.report import ReportError, write_report
    from pipelines.settings import DEFAULT_DATASET, Warehouse, in_project

    try:
        return write_report(
            make_pipeline(Warehouse("duckdb", DEFAULT_DATASET, duckdb_path=str(path))),
            in_project(REPORT_FILE),
        )
    except ReportError as error:
        err(f"the report could not be written: {error}")
        return None


REPORT_FILE = "livello_report.html"


def _next_steps(path: Path, pipelines_dir: Path, report: Path | None, seconds: float) -> str:
    from pipelines.settings import DEFAULT_DATASET, Warehouse

    name = Warehouse("duckdb", DEFAULT_DATASET, duckdb_path=str(path)).pipeline_name
    lines = [f"\nDemo finished in {seconds:.0f} s. The warehouse is {path}."]
    if report is not None:
        lines.append(f"Report: {report} (open it in a browser; it needs no network)")
    lines += [
        "Next:",
        "  .venv/bin/livello-sync status   # per resource: last sync, rows, newest record (this warehouse)",
        "  .venv/bin/livello-sync report   # the HTML report again",
        f"  .venv/bin/python -c \"import duckdb; print(duckdb.connect('{path}', read_only=True)"
        f".sql('select * from {_marts_schema(path)}.fct_sales limit 5'))\"",
        f"  .venv/bin/dlt pipeline --pipelines-dir {pipelines_dir} {name} info",
        f"  .venv/bin/dlt pipeline --pipelines-dir {pipelines_dir} {name} trace",
    ]
    return "\n".join(lines)


def _marts_schema(path: Path) -> str:
    import duckdb

    with duckdb.connect(str(path), read_only=True) as connection:
        row = connection.execute(
            "select table_schema from information_schema.tables where table_name = 'fct_sales'"
        ).fetchone()
    return str(row[0]) if row else "livello"
