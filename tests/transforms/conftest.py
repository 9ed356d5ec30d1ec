"""Transform test warehouses: contract-shaped fixture, loaded by dlt into DuckDB or PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import dlt
import pytest

from tests.transforms.raw_fixtures import load_fixture, make_pipeline
from transforms.render import search_path
from transforms.runner import BuildReport, build
from transforms.settings import marts_schema

ENGINES = ("duckdb", pytest.param("postgres", marks=pytest.mark.postgres))


def postgres_credentials(request: pytest.FixtureRequest) -> str:
    """The root conftest's per-module database, with a password dlt insists on (trust auth ignores it)."""
    dsn = str(request.getfixturevalue("postgres_dsn"))
    parts = urlsplit(dsn)
    if parts.password is None:
        netloc = f"{parts.username or 'postgres'}:unused@{parts.hostname}:{parts.port or 5432}"
        dsn = urlunsplit(parts._replace(netloc=netloc))
    return dsn


class Warehouse:
    """A fixture dataset on one engine, with its dlt pipeline. Queries name marts and raw tables unqualified:
    the search path holds the marts' schema, then the dataset's (where raw tables and staging views are)."""

    def __init__(self, engine: str, pipeline: dlt.Pipeline, report: BuildReport | None = None) -> None:
        self.engine = engine
        self.pipeline = pipeline
        self.report = report

    @property
    def dataset(self) -> str:
        return str(self.pipeline.dataset_name)

    @property
    def marts(self) -> str:
        return marts_schema(self.dataset)

    @contextmanager
    def client(self) -> Iterator[Any]:
        with self.pipeline.sql_client() as client:
            client.execute_sql(search_path(self.engine, [self.marts, self.dataset]))
            yield client

    def query(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        with self.client() as client:
            return [tuple(r) for r in (client.execute_sql(sql, *args) or [])]

    def execute(self, sql: str) -> None:
        with self.client() as client:
            client.execute_sql(sql)

    def table(self, name: str) -> tuple[list[str], list[tuple[Any, ...]]]:
        """All rows of a table in a deterministic order, with its column names."""
        with self.client() as client, client.execute_query(f"SELECT * FROM {name}") as cursor:
            columns = [d[0] for d in cursor.description]
            rows = [tuple(r) for r in cursor.fetchall()]
        return columns, sorted(rows, key=lambda r: tuple((v is None, str(v)) for v in r))


def new_warehouse(
    engine: str, request: pytest.FixtureRequest, base_dir: Path, *, load: bool = True
) -> Warehouse:
    """A new dataset on `engine`; PostgreSQL datasets live in the root conftest's per-module database."""
    dataset = f"tx_{uuid.uuid4().hex[:10]}"
    if engine == "duckdb":
        destination = dlt.destinations.duckdb(str(base_dir / f"warehouse_{dataset}.duckdb"))
    else:
        destination = dlt.destinations.postgres(postgres_credentials(request))
    pipeline = make_pipeline(destination, dataset, base_dir / "pipelines")
    if load:
        load_fixture(pipeline)
    return Warehouse(engine, pipeline)


@pytest.fixture(scope="module")
def built_both(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Warehouse]:
    """The same fixture built on both engines, for row-by-row comparisons (read-only for tests)."""
    warehouses = {}
    for engine in ("duckdb", "postgres"):
        warehouse = new_warehouse(engine, request, tmp_path_factory.mktemp(f"both_{engine}"))
        warehouse.report = build(warehouse.pipeline)
        warehouses[engine] = warehouse
    return warehouses


@pytest.fixture(scope="module", params=ENGINES)
def built(request: pytest.FixtureRequest, built_both: dict[str, Warehouse]) -> Warehouse:
    """One engine's built fixture (shares the module's load with built_both: one load per engine)."""
    return built_both[request.param]


@pytest.fixture(scope="module", params=ENGINES)
def tamperable(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Warehouse:
    """A built fixture shared by a module's tests that tamper with raw data; each test undoes its change."""
    warehouse = new_warehouse(request.param, request, tmp_path_factory.mktemp(f"tamper_{request.param}"))
    warehouse.report = build(warehouse.pipeline)
    return warehouse


@pytest.fixture(params=ENGINES)
def empty(request: pytest.FixtureRequest, tmp_path: Path) -> Warehouse:
    """A pipeline with nothing loaded yet."""
    return new_warehouse(request.param, request, tmp_path, load=False)
