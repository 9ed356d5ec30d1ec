"""The raw tables a release writes for a fixed simulated world: each table's columns and a hash of its rows,
so that two releases can be compared on the same API data (tests/sync/test_raw_tables_unchanged.py).

    python -m tests.sync.raw_digest OUT.json   # the digest this checkout writes (run in its own process)

The scenario: a world fixed in seed, fleet and clock (the same API data on every machine and day), a first
run of every resource into DuckDB, one simulated day, a nightly run."""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

WORLD: dict[str, Any] = {"seed": 11, "kiosks": 3, "days": 6, "now": datetime(2026, 10, 1, 12, 0, tzinfo=UTC)}
# Values that follow the sync's own clock (when it took the snapshot) rather than the API's data.
VOLATILE_COLUMNS = {"kiosk_inventory": {"snapshot_at"}}
DATASET = "livello"


def _text(value: Any) -> str:
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat() if value.tzinfo else value.isoformat()
    return str(value)


def digest(database: Path) -> dict[str, dict[str, Any]]:
    """{table: {"columns": [...], "rows": n, "sha256": ...}} of the raw tables, over the columns dlt did not
    add (its _dlt_* bookkeeping differs from run to run by design)."""
    import duckdb

    conn = duckdb.connect(str(database), read_only=True)
    try:
        listed = conn.execute(
            "select table_name, column_name from information_schema.columns where table_schema = ? "
            "order by table_name, column_name",
            [DATASET],
        ).fetchall()
        tables: dict[str, list[str]] = {}
        for table, column in listed:
            if not table.startswith("_dlt") and table != "sync_runs" and not column.startswith("_dlt"):
                tables.setdefault(table, []).append(column)
        result: dict[str, dict[str, Any]] = {}
        for table, names in tables.items():
            hashed = [c for c in names if c not in VOLATILE_COLUMNS.get(table, set())]
            select = ", ".join(f'"{c}"' for c in hashed)
            rows = conn.execute(f'select {select} from "{DATASET}"."{table}"').fetchall()
            lines = sorted("\x1f".join(_text(v) for v in row) for row in rows)
            result[table] = {
                "columns": names,
                "rows": len(lines),
                "sha256": hashlib.sha256("\n".join(lines).encode()).hexdigest(),
            }
        return result
    finally:
        conn.close()


def run_scenario(workdir: Path) -> Path:
    """The scenario's two runs with this checkout's CLI; returns the DuckDB file they wrote."""
    from pipelines.cli import main
    from simulator.config import SimConfig
    from simulator.server import SimulatorServer

    database = workdir / "warehouse.duckdb"
    (workdir / ".dlt").mkdir(exist_ok=True)
    with SimulatorServer(SimConfig(**WORLD, rate_limit_per_hour=0)) as sim:
        client_id, client_secret = sim.demo_credentials
        os.environ.update(
            {
                "SOURCES__LIVELLO__BASE_URL": sim.base_url,
                "SOURCES__LIVELLO__CLIENT_ID": client_id,
                "SOURCES__LIVELLO__CLIENT_SECRET": client_secret,
                "SOURCES__LIVELLO__PSEUDONYMIZATION_KEY": "raw-digest-fixed-key-0123456789abcdef",
                "SOURCES__LIVELLO__PIPELINES_DIR": str(workdir / "pipelines"),
                "DESTINATION__DUCKDB__CREDENTIALS": str(database),
            }
        )
        run = ["--project-dir", str(workdir), "run", "--destination", "duckdb", "--dataset", DATASET]
        if main([*run, "--no-transform"]) != 0:
            raise SystemExit("the first run failed")
        sim.advance(hours=24)
        if main([*run, "--no-transform"]) != 0:
            raise SystemExit("the nightly run failed")
    return database


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as folder:
        written = digest(run_scenario(Path(folder)))
    Path(sys.argv[1]).write_text(json.dumps(written, indent=1, sort_keys=True) + "\n", encoding="utf-8")
