"""`livello-sync demo`: the README's first command.

Starts the bundled simulator as a subprocess (the simulator's own `SimulatorProcess` handle) on a free
loopback port, syncs it into a local DuckDB file with the same code path as `livello-sync run` (configured
through the environment, exactly as an operator would), builds the marts, prints what was loaded and a few
headline numbers, and stops the simulator whatever happens.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

DEMO_DATASET = "livello"

Printer = Callable[[str], None]


def _headlines() -> list[str]:
    from pipelines.destination import open_pipeline

    pipeline = open_pipeline("duckdb", DEMO_DATASET)
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
    return out


def run_demo(*, duckdb_path: str, kiosks: int, days: int, seed: int, out: Printer, err: Printer) -> int:
    from pipelines.cli import main as cli_main
    from simulator.server import SimulatorProcess

    started = time.monotonic()
    path = Path(duckdb_path).resolve()
    for stale in (path, Path(str(path) + ".wal")):
        stale.unlink(missing_ok=True)  # a new simulator has new history: start the demo warehouse afresh
    work = Path(tempfile.mkdtemp(prefix="livello_demo_"))
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
                    "SOURCES__LIVELLO__PIPELINES_DIR": str(work),
                    "DESTINATION__DUCKDB__CREDENTIALS": str(path),
                }
            )
            code = cli_main(["run", "--destination", "duckdb", "--dataset", DEMO_DATASET])
            if code != 0:
                err("the demo sync failed (see above)")
                return code
            out("\nHeadline numbers:")
            for line in _headlines():
                out(line)
    except RuntimeError as error:
        err(str(error))
        return 1
    finally:
        os.environ.clear()
        os.environ.update(saved)
        shutil.rmtree(work, ignore_errors=True)
    out(
        f"\nDemo finished in {time.monotonic() - started:.0f}s. Explore it: duckdb {path} "
        f"(tables live in schema {DEMO_DATASET}, e.g. select * from {DEMO_DATASET}.fct_sales limit 10)"
    )
    return 0
