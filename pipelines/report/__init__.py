"""`livello-sync report`: one self-contained HTML file from the marts, for the people who run the kiosks.

Sections: revenue per kiosk-local day, kiosk and currency; top products by margin; stock-outs and fill
rates; spoilage; cold chain per kiosk; refill suggestions for the next day; pipeline health from `sync_runs`.
Each has a short explanation, charts (Vega-Lite through altair, rendered to static SVG by vl-convert and
inlined) and HTML tables of the numbers, so the page opens anywhere without network or JavaScript.

`write_report(pipeline, path)` is the entry point for code that holds a dlt pipeline (the demo);
`run_report(destination, dataset, output)` is the command's. Both only read the warehouse.
"""

from __future__ import annotations

import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

DEFAULT_OUTPUT = "livello_report.html"
DEFAULT_DAYS = 28
TITLE = "Livello kiosk report"


class ReportError(RuntimeError):
    """The report cannot be written (no warehouse, marts missing, database unreachable); one line."""


def _engine(pipeline: Any) -> str:
    name = str(pipeline.destination.destination_name)
    return "postgres" if name.endswith("postgres") else "duckdb" if name.endswith("duckdb") else name


def _describe(engine: str, credentials: Any) -> str:
    if engine == "duckdb":
        return f"DuckDB file {Path(str(credentials.database)).resolve()}"
    if engine == "postgres":
        return (
            f"PostgreSQL {credentials.username}@{credentials.host}:{credentials.port or 5432}/"
            f"{credentials.database}"
        )
    return engine


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def write_report(pipeline: Any, path: str | os.PathLike[str], *, days: int = DEFAULT_DAYS) -> Path:
    """Write the report of `pipeline`'s dataset to `path` and return its absolute path.

    Reads the marts of the last `days` kiosk-local days through `pipeline.sql_client()`; never creates or
    changes anything in the warehouse. Raises `ReportError` (one line) when the DuckDB file does not exist,
    the database cannot be opened, or the marts are missing.
    """
    from pipelines.report import page, sections
    from pipelines.report.model import Report
    from pipelines.report.reader import REQUIRED_MARTS, Reader

    if days < 1:
        raise ValueError("days must be at least 1")
    engine = _engine(pipeline)
    dataset = pipeline.dataset_name
    client = pipeline.sql_client()
    warehouse = _describe(engine, client.credentials)
    if engine == "duckdb" and not Path(str(client.credentials.database)).is_file():
        raise ReportError(
            f"no DuckDB warehouse at {client.credentials.database}: run `livello-sync run` first "
            "(or set DESTINATION__DUCKDB__CREDENTIALS to the warehouse file)"
        )
    try:
        client.__enter__()
    except Exception as error:
        raise ReportError(f"cannot open the warehouse ({warehouse}): {_first_line(error)}") from None
    try:
        db = Reader(client, dataset)
        missing = db.missing(REQUIRED_MARTS)
        if missing:
            raise ReportError(
                f"the marts are missing in {warehouse}, dataset {dataset} ({', '.join(missing)}): "
                "build them with `livello-sync run` (sync and transform) or `livello-sync transform`"
            )
        window = sections.data_window(db, days)
        kiosks = sections.Kiosks(db)
        built = [build(db, window, kiosks) for build in sections.SECTIONS] if window else []
        built.append(sections.pipeline_health(db, window, kiosks))
    except ReportError:
        raise
    except Exception as error:  # a database error: one line, no traceback
        raise ReportError(
            f"reading the marts failed ({warehouse}, dataset {dataset}): {_first_line(error)}"
        ) from None
    finally:
        client.__exit__(None, None, None)
    if window is None:
        from pipelines.report.model import Section

        built.insert(
            0, Section("empty", "No data yet", "The marts exist but hold no sales, stock or readings.")
        )
    report = Report(TITLE, warehouse, dataset, datetime.now(UTC), window, built)
    return _write(Path(path), page.render(report))


def _write(path: Path, text: str) -> Path:
    """Replace `path` atomically: a reader (or a browser reload) never sees half a report."""
    path = path.resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def run_report(
    destination: str, dataset: str, output: str | os.PathLike[str], *, days: int = DEFAULT_DAYS
) -> Path:
    """`livello-sync report`: the warehouse of (destination, dataset), configured as for every command.

    A `SettingError` (bad configuration) propagates; `ReportError` says why no report was written."""
    from pipelines.destination import make_pipeline
    from pipelines.settings import chosen_warehouse, in_project

    warehouse = chosen_warehouse(destination, dataset, writable=False)
    if warehouse.destination == "duckdb" and not Path(warehouse.duckdb_path or "").is_file():
        # before dlt sees the path: opening a DuckDB file that does not exist would create an empty warehouse
        raise ReportError(
            f"no DuckDB warehouse at {warehouse.duckdb_path}: run `livello-sync run` first "
            "(or set DESTINATION__DUCKDB__CREDENTIALS to the warehouse file)"
        )
    # A relative --output is in the project folder, like every other path (cron runs from anywhere).
    return write_report(make_pipeline(warehouse), in_project(output), days=days)
