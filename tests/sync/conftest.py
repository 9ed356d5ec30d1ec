"""Fixtures of the pipeline tests: a warehouse on DuckDB or PostgreSQL, and `livello-sync` runs against a
simulator.

`warehouse` is parametrized over both engines; `sync` runs the real CLI (in-process, configured through the
environment exactly as an operator would) and returns its exit code and output. Truth always comes from the
simulator's own store (`sim.store`), never from the pipeline's output.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from simulator.server import SimulatorServer
from tests.conftest import without_configuration

PSEUDONYMIZATION_KEY = "test-pseudonymization-key"
# The simulator's clock for pipeline tests: close to the wall clock (as in production, where the API's now is
# the real now) but in the past, so moving it forward one day never reaches the future.
# LIVELLO_TEST_NOW (ISO 8601) pins it, to replay a failure with the data it saw: the simulated history follows
# the clock (time of day, weekday), so a run at another time sees other data. The pipeline's clock stays the
# wall clock, so pin a moment about two days back, as the default is, or planning sees a longer gap.
RECENT_NOW = (
    datetime.fromisoformat(os.environ["LIVELLO_TEST_NOW"]).astimezone(UTC)
    if os.environ.get("LIVELLO_TEST_NOW")
    else datetime.now(UTC) - timedelta(days=2)
).replace(second=0, microsecond=0)
SMALL = {"kiosks": 3, "days": 4, "now": RECENT_NOW, "rate_limit_per_hour": 0}
# Snapshot and log tables: they change on every run by design.
VOLATILE_TABLES = {"kiosk_inventory", "sync_runs"}


@dataclass
class Warehouse:
    destination: str
    dataset: str
    env: dict[str, str]
    duckdb_path: Path | None = None
    dsn: str | None = None
    _columns: dict[str, list[str]] = field(default_factory=dict)

    def _connect(self) -> Any:
        if self.destination == "duckdb":
            import duckdb

            conn = duckdb.connect(str(self.duckdb_path), read_only=True)
            # the marts first (their own schema, once a transform made it), then the raw tables: queries
            # name both unqualified
            marts = conn.execute(
                "select count(*) from information_schema.schemata where schema_name = ?",
                [f"{self.dataset}_marts"],
            ).fetchone()
            schemas = f"{self.dataset}_marts,{self.dataset}" if marts and marts[0] else self.dataset
            conn.execute(f"SET search_path = '{schemas}'")
            return conn
        import psycopg2

        conn = psycopg2.connect(self.dsn)
        with conn.cursor() as cur:
            cur.execute(f"SET search_path TO {self.dataset}_marts, {self.dataset}")
        return conn

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        conn = self._connect()
        try:
            if self.destination == "duckdb":
                return [tuple(r) for r in conn.execute(sql).fetchall()]
            with conn.cursor() as cur:
                cur.execute(sql)
                return [tuple(r) for r in cur.fetchall()]
        finally:
            conn.close()

    def scalar(self, sql: str) -> Any:
        return self.query(sql)[0][0]

    def tables(self) -> set[str]:
        rows = self.query(
            f"select table_name from information_schema.tables where table_schema = '{self.dataset}'"
        )
        return {r[0] for r in rows if not r[0].startswith("_dlt")}

    def columns(self, table: str) -> list[str]:
        rows = self.query(
            "select column_name from information_schema.columns "
            f"where table_schema = '{self.dataset}' and table_name = '{table}' order by column_name"
        )
        return [r[0] for r in rows]

    def ids(self, table: str, column: str = "id", where: str = "true") -> list[Any]:
        return sorted(r[0] for r in self.query(f"select {column} from {table} where {where}"))

    def fingerprint(self, table: str) -> list[tuple[str, ...]]:
        """Every row's business columns (dlt's bookkeeping columns left out), as sorted text tuples."""
        names = [c for c in self.columns(table) if not c.startswith("_dlt")]
        rows = self.query(f"select {', '.join(names)} from {table}")
        return sorted(tuple("" if v is None else str(v) for v in row) for row in rows)

    def duplicate_keys(self, table: str, keys: str) -> int:
        return int(
            self.scalar(
                f"select count(*) from (select {keys} from {table} group by {keys} having count(*) > 1) d"
            )
        )


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def warehouse(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Warehouse]:
    if request.param == "duckdb":
        path = tmp_path / "warehouse.duckdb"
        yield Warehouse(
            "duckdb", "livello", {"DESTINATION__DUCKDB__CREDENTIALS": str(path)}, duckdb_path=path
        )
        return
    dsn = request.getfixturevalue("postgres_dsn")
    dataset = f"lv_{secrets.token_hex(4)}"
    yield Warehouse("postgres", dataset, {"DESTINATION__POSTGRES__CREDENTIALS": dsn}, dsn=dsn)
    import psycopg2

    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(
            f"DROP SCHEMA IF EXISTS {dataset} CASCADE; DROP SCHEMA IF EXISTS {dataset}_staging CASCADE; "
            f"DROP SCHEMA IF EXISTS {dataset}_marts CASCADE"
        )
    conn.close()


@dataclass
class SyncRunner:
    """Runs `livello-sync run` against `sim` into `warehouse` and returns (exit code, combined output)."""

    warehouse: Warehouse
    workdir: Path
    monkeypatch: pytest.MonkeyPatch
    capsys: pytest.CaptureFixture[str]

    def env(self, sim: SimulatorServer, client: tuple[str, str] | None = None) -> dict[str, str]:
        client_id, client_secret = client or sim.demo_credentials
        return {
            "SOURCES__LIVELLO__BASE_URL": sim.base_url,
            "SOURCES__LIVELLO__CLIENT_ID": client_id,
            "SOURCES__LIVELLO__CLIENT_SECRET": client_secret,
            "SOURCES__LIVELLO__PSEUDONYMIZATION_KEY": PSEUDONYMIZATION_KEY,
            "SOURCES__LIVELLO__PIPELINES_DIR": str(self.workdir / "pipelines"),
            **self.warehouse.env,
        }

    def __call__(
        self,
        sim: SimulatorServer,
        *args: str,
        client: tuple[str, str] | None = None,
        env: dict[str, str] | None = None,
        transform: bool = False,
    ) -> tuple[int, str]:
        from pipelines.cli import main

        for key, value in {**self.env(sim, client), **(env or {})}.items():
            self.monkeypatch.setenv(key, value)
        self.capsys.readouterr()
        code = main(
            [
                "run",
                "--destination",
                self.warehouse.destination,
                "--dataset",
                self.warehouse.dataset,
                *(() if transform else ("--no-transform",)),
                *args,
            ]
        )
        captured = self.capsys.readouterr()
        return code, captured.out + captured.err


@pytest.fixture
def sync(
    warehouse: Warehouse, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> SyncRunner:
    without_configuration(monkeypatch, tmp_path)
    return SyncRunner(warehouse, tmp_path, monkeypatch, capsys)


@pytest.fixture
def small_sim(simulator_factory: Callable[..., SimulatorServer]) -> SimulatorServer:
    return simulator_factory(**SMALL)


# ----------------------------------------------------------------------------------------- the truth
def truth_ids(sim: SimulatorServer, table: str, column: str = "id", where: str = "true") -> list[Any]:
    return sorted(r[0] for r in sim.store.query(f"select {column} from {table} where {where}"))


def truth_scalar(sim: SimulatorServer, sql: str) -> Any:
    return sim.store.scalar(sql)


def money(value: Any) -> Decimal:
    return Decimal(str(value or 0)).quantize(Decimal("0.01"))


@contextmanager
def duckdb_held_by_another_process(path: Path) -> Iterator[None]:
    """Another process (a BI tool, a notebook, a second run) holds the DuckDB file open for writing."""
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('held', flush=True); "
            "time.sleep(60)",
            str(path),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        yield
    finally:
        holder.kill()
        holder.wait(10)


def assert_incremental_tables_equal_api(wh: Warehouse, sim: SimulatorServer) -> None:
    """transactions, refills and alerts hold exactly the API's records (ids, no duplicate key, money to the
    cent, every line item) and kiosks every kiosk: what a crashed and resumed sync must end with."""
    for table in ("transactions", "refills", "alerts"):
        assert wh.ids(table) == truth_ids(sim, table), table
        assert wh.duplicate_keys(table, "id") == 0, table
    assert wh.ids("kiosks", "serial_number") == truth_ids(sim, "kiosks", "serial_number")
    assert money(wh.scalar("select sum(total) from transactions")) == money(
        truth_scalar(sim, "select sum(total) from transactions")
    )
    items = wh.scalar(
        "select count(*) from transactions__items_purchased i "
        "join transactions t on i._dlt_parent_id = t._dlt_id"
    )
    assert items == truth_scalar(sim, "select count(*) from transaction_items")
