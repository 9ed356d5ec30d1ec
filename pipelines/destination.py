"""The dlt pipeline for a destination: DuckDB through Parquet files, PostgreSQL through CSV and COPY.

dlt's default INSERT path takes minutes and gigabytes for a million rows on DuckDB and is several times slower
than COPY on PostgreSQL (research notes, section 6), so each destination gets its fast loader file format."""

from __future__ import annotations

import sys
from typing import Any

import dlt
from dlt.pipeline.pipeline import Pipeline

from pipelines.settings import SyncSettings


def loader_file_format(settings: SyncSettings) -> Any:
    return "parquet" if settings.destination == "duckdb" else "csv"


def make_destination(settings: SyncSettings) -> Any:
    if settings.destination == "duckdb":
        return dlt.destinations.duckdb(credentials=settings.duckdb_path)
    return dlt.destinations.postgres(credentials=settings.postgres_credentials)


def make_pipeline(settings: SyncSettings) -> Pipeline:
    kwargs: dict[str, Any] = {}
    if settings.pipelines_dir:
        kwargs["pipelines_dir"] = settings.pipelines_dir
    if settings.progress and sys.stderr.isatty():
        # On a terminal, dlt's row counters every 10 s show a long window's extract and load moving;
        # unattended runs (cron, CI) get only the per-load lines and the summary.
        kwargs["progress"] = dlt.progress.log(log_period=10.0, logger=sys.stderr, dump_system_stats=False)
    return dlt.pipeline(
        pipeline_name=settings.pipeline_name,
        destination=make_destination(settings),
        dataset_name=settings.dataset,
        **kwargs,
    )


def open_pipeline(destination: str, dataset: str, pipelines_dir: str | None = None) -> Pipeline:
    """The pipeline of (destination, dataset) for read-only commands (status, demo summary)."""
    from pipelines.settings import destination_settings

    settings = SyncSettings(
        base_url="",
        client_id="",
        client_secret="",
        destination=destination,
        dataset=dataset,
        pipelines_dir=pipelines_dir or dlt.config.get("sources.livello.pipelines_dir"),
        **destination_settings(destination, dataset),
    )
    return make_pipeline(settings)
