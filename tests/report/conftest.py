"""Fixtures of the report tests: warehouses synced from a simulator by the real CLI (`livello-sync run`,
marts built), on DuckDB (shared by the session) and PostgreSQL (per module), and `report(...)`, the real
CLI's `livello-sync report` against one of them. Truth is read from the marts with plain SQL, never from the
report."""

from __future__ import annotations

import io
import secrets
from collections.abc import Callable
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from simulator.server import SimulatorServer
from tests.conftest import small_config, without_configuration
from tests.sync.conftest import PSEUDONYMIZATION_KEY, SMALL, Warehouse

ENGINES = ("duckdb", pytest.param("postgres", marks=pytest.mark.postgres))


@dataclass
class Synced:
    """A warehouse loaded and transformed by `livello-sync run`, and the environment that reaches it."""

    warehouse: Warehouse
    workdir: Path
    env: dict[str, str]

    @property
    def engine(self) -> str:
        return self.warehouse.destination

    @property
    def dataset(self) -> str:
        return self.warehouse.dataset

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        return self.warehouse.query(sql)

    def window(self, days: int = 28) -> tuple[int, int]:
        """(first, last) date_key of the report's window: `days` days up to the latest day of any fact."""
        end = max(
            self.query(f"select max(date_key) from {table}")[0][0]
            for table in ("fct_sales", "fct_inventory_daily", "fct_refills", "fct_temperature_hourly")
        )
        last = datetime.strptime(str(end), "%Y%m%d").date()
        return int((last - timedelta(days=days - 1)).strftime("%Y%m%d")), int(end)


def _clean_env(monkeypatch: pytest.MonkeyPatch, workdir: Path, env: dict[str, str]) -> None:
    without_configuration(monkeypatch, workdir)
    for key, value in env.items():
        monkeypatch.setenv(key, value)


def _sync(warehouse: Warehouse, workdir: Path, runs: int) -> Synced:
    from pipelines.cli import main

    env = {"SOURCES__LIVELLO__PIPELINES_DIR": str(workdir / "pipelines"), **warehouse.env}
    with SimulatorServer(small_config(**SMALL)) as sim, pytest.MonkeyPatch.context() as mp:
        client_id, client_secret = sim.demo_credentials
        _clean_env(
            mp,
            workdir,
            {
                **env,
                "SOURCES__LIVELLO__BASE_URL": sim.base_url,
                "SOURCES__LIVELLO__CLIENT_ID": client_id,
                "SOURCES__LIVELLO__CLIENT_SECRET": client_secret,
                "SOURCES__LIVELLO__PSEUDONYMIZATION_KEY": PSEUDONYMIZATION_KEY,
            },
        )
        args = ["run", "--destination", warehouse.destination, "--dataset", warehouse.dataset, "--quiet"]
        for run in range(runs):
            if run:
                sim.advance(hours=24)  # a day of production between the nightly runs
            assert main(args) == 0
    return Synced(warehouse, workdir, env)


@pytest.fixture(scope="session")
def synced_duckdb(tmp_path_factory: pytest.TempPathFactory) -> Synced:
    workdir = tmp_path_factory.mktemp("report_duckdb")
    path = workdir / "warehouse.duckdb"
    warehouse = Warehouse(
        "duckdb", "livello", {"DESTINATION__DUCKDB__CREDENTIALS": str(path)}, duckdb_path=path
    )
    return _sync(warehouse, workdir, runs=2)


@pytest.fixture(scope="module")
def synced_postgres(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Synced:
    dsn = request.getfixturevalue("postgres_dsn")
    dataset = f"lv_{secrets.token_hex(4)}"
    warehouse = Warehouse("postgres", dataset, {"DESTINATION__POSTGRES__CREDENTIALS": dsn}, dsn=dsn)
    return _sync(warehouse, tmp_path_factory.mktemp("report_postgres"), runs=1)


@pytest.fixture(scope="module", params=ENGINES)
def synced(request: pytest.FixtureRequest) -> Synced:
    return request.getfixturevalue(f"synced_{request.param}")


@dataclass
class CliResult:
    code: int
    out: str
    err: str


def run_report(workdir: Path, env: dict[str, str], *args: str) -> CliResult:
    """`livello-sync report *args` in `workdir` with only `env` set (restored afterwards)."""
    from pipelines.cli import main

    out, err = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as mp, redirect_stdout(out), redirect_stderr(err):
        _clean_env(mp, workdir, env)
        code = main(["report", *args])
    return CliResult(code, out.getvalue(), err.getvalue())


@pytest.fixture
def report(tmp_path: Path) -> Callable[..., CliResult]:
    """`report(env, *args)`: the CLI's report in a clean working directory of the test."""
    return lambda env, *args: run_report(tmp_path, env, *args)


# ------------------------------------------------------------------------------------- reading the page
@dataclass
class HtmlTable:
    id: str
    section: str
    columns: list[str]  # data-col of each header cell
    kinds: list[str]  # data-kind of each header cell
    rows: list[list[str]]

    def records(self) -> list[dict[str, str]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]


@dataclass
class Page:
    html: str
    sections: list[str]
    tables: list[HtmlTable]
    charts: list[dict[str, str]]  # attributes of every <figure class="chart">, with its section
    tags: set[str]

    def table(self, table_id: str) -> HtmlTable:
        return next(t for t in self.tables if t.id == table_id)


class _Reader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.sections: list[str] = []
        self.tables: list[HtmlTable] = []
        self.charts: list[dict[str, str]] = []
        self.tags: set[str] = set()
        self._cell: list[str] | None = None
        self._row: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        self.tags.add(tag)
        if tag == "section":
            self.sections.append(a.get("id", ""))
        elif tag == "figure" and "chart" in a.get("class", ""):
            self.charts.append({**a, "section": self.sections[-1]})
        elif tag == "table":
            self.tables.append(HtmlTable(a.get("id", ""), self.sections[-1], [], [], []))
        elif tag == "th" and self.tables:
            self.tables[-1].columns.append(a.get("data-col", ""))
            self.tables[-1].kinds.append(a.get("data-kind", ""))
        elif tag == "tr":
            self._row = []
        elif tag == "td":
            self._cell = []

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self._cell is not None and self._row is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row:
            self.tables[-1].rows.append(self._row)
            self._row = None


def read_page(path: Path) -> Page:
    html = path.read_text(encoding="utf-8")
    parser = _Reader()
    parser.feed(html)
    return Page(html, parser.sections, parser.tables, parser.charts, parser.tags)


def number(text: str) -> Any:
    """A number as the report prints it (thousands separators, 2 decimals for money)."""
    from decimal import Decimal

    return Decimal(text.replace(",", "").replace("%", "").strip())


def as_date(key: int) -> date:
    return datetime.strptime(str(key), "%Y%m%d").date()


@pytest.fixture(scope="module")
def written(synced: Synced, tmp_path_factory: pytest.TempPathFactory) -> tuple[Synced, Page]:
    """The default report of `synced` (28 days), written once per module by the CLI, parsed (read-only)."""
    workdir = tmp_path_factory.mktemp(f"written_{synced.engine}")
    output = workdir / "out" / "report.html"
    args = ("--destination", synced.engine, "--dataset", synced.dataset, "--output", str(output))
    result = run_report(workdir, synced.env, *args)
    assert result.code == 0, result.err
    assert f"Report written to {output}" in result.out
    return synced, read_page(output)
