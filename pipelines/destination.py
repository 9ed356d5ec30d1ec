"""The dlt pipeline of a warehouse: DuckDB through Parquet files, PostgreSQL through CSV and COPY (the loader
file format is the warehouse's, see `Warehouse.loader_file_format`)."""

from __future__ import annotations

from typing import Any

import dlt
from dlt.pipeline.pipeline import Pipeline

from pipelines.settings import Warehouse, warehouse_settings


def make_destination(warehouse: Warehouse) -> Any:
    if warehouse.destination == "duckdb":
        return dlt.destinations.duckdb(credentials=warehouse.duckdb_path)
    return dlt.destinations.postgres(credentials=warehouse.postgres_credentials)


def make_pipeline(warehouse: Warehouse, client: str | None = None) -> Pipeline:
    """The warehouse's pipeline; with `client`, the pipeline of that extra API client of a run with several
    (same dataset and tables, its own state: `Warehouse.pipeline_name_for`)."""
    # No dlt progress collector: the run's own reporter (pipelines/progress.py) shows one line per load.
    kwargs: dict[str, Any] = {}
    if warehouse.pipelines_dir:
        kwargs["pipelines_dir"] = warehouse.pipelines_dir
    return dlt.pipeline(
        pipeline_name=warehouse.pipeline_name_for(client),
        destination=make_destination(warehouse),
        dataset_name=warehouse.dataset,
        **kwargs,
    )


def open_pipeline(destination: str, dataset: str, *, writable: bool = True) -> Pipeline:
    """The pipeline of (destination, dataset) for commands that only read (`writable=False`) or transform
    the warehouse."""
    return make_pipeline(warehouse_settings(destination, dataset, writable=writable))
