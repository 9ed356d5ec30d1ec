"""One whole `livello-sync run` as a function: sync, marts, run record, exit code.

The command line (`livello-sync run`), the demo and orchestrators (deploy/dagster) all call `run_job`, so a
run behaves the same however it is started. Exit codes: 0 success, 1 the run failed, 2 bad configuration or
credentials (nothing was written)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pipelines.lock import LockedError
from pipelines.progress import human, plural
from pipelines.settings import SyncSettings, remember_warehouse
from pipelines.summary import RunSummary
from pipelines.sync import Sync, describe_failure, record_run, root_livello_error
from sources.livello.config import SettingError, setting_names
from sources.livello.errors import AuthenticationError, BudgetExhaustedError, PermissionDeniedError

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

log = logging.getLogger("livello_sync.job")
Printer = Callable[[str], None]


@dataclass
class JobResult:
    exit_code: int
    summary: RunSummary
    pipeline: Any = None  # the dlt pipeline the run used (None when it never started)


def run_job(settings: SyncSettings, *, out: Printer = print, err: Printer = print) -> JobResult:
    """Sync, build the marts when asked, record the run in `sync_runs` and print the summary."""
    sync = Sync(settings, out=out)
    summary = sync.summary
    code = EXIT_OK
    try:
        sync.run()
    except LockedError as error:
        err(str(error))
        return JobResult(EXIT_FAILED, summary, sync.pipeline)
    except SettingError:
        raise  # found at run time (a client scoped to an unknown organization): exit 2, nothing was loaded
    except (AuthenticationError, PermissionDeniedError) as error:
        if isinstance(error, AuthenticationError) or not summary.windows_done:
            which = (
                f"the primary client's entry in {setting_names('clients')}"
                if settings.client.api_clients()
                else "SOURCES__LIVELLO__CLIENT_ID / CLIENT_SECRET"
            )
            err(f"{error}\nNothing was written. Check {which}.")
            return JobResult(EXIT_USAGE, summary, sync.pipeline)
        raise
    except KeyboardInterrupt:
        summary.status, summary.error = "failed", "interrupted"
        err("interrupted: finished windows are kept; run again to resume at the first unfinished window")
        code = EXIT_FAILED
    except Exception as error:  # every failure ends with a summary and exit 1; details in the message
        cause = root_livello_error(error)
        summary.status = "failed"
        summary.error = describe_failure(error)[:500]
        if isinstance(cause, BudgetExhaustedError):
            summary.error = (
                f"API budget exhausted ({cause}); finished windows are kept, run again later to resume"
            )
        elif isinstance(cause, AuthenticationError):
            summary.error = f"credentials rejected mid-run ({cause}); finished windows are kept"
        err(f"run failed: {summary.error}")
        if cause is None:
            log.debug("run failed", exc_info=True)
        code = EXIT_FAILED
    if summary.failed or summary.failed_clients:
        code = EXIT_FAILED
    pipeline = sync.pipeline
    loaded = summary.status in ("complete", "paused", "partial")
    if pipeline is not None and loaded and settings.run.transform:
        summary.transform = _transform(pipeline, err)
        if summary.transform.startswith("failed"):
            code = EXIT_FAILED
            hint = drift_hint(pipeline, summary)
            if hint:
                err(hint)
    if pipeline is not None and not pipeline.has_pending_data:
        try:
            record_run(pipeline, summary, settings.warehouse.loader_file_format)
        except Exception as error:  # the data is loaded; a missing run record must not fail the run
            err(f"could not record the run in sync_runs: {describe_failure(error)}")
    if pipeline is not None:
        remember_warehouse(settings.warehouse)
    out(summary.render())
    return JobResult(code, summary, pipeline)


def drift_hint(pipeline: Any, summary: RunSummary) -> str | None:
    """What to do when the marts fail after the API's fields changed: the rows loaded meanwhile keep failing
    the data tests after the API is fixed (they are behind the cursor), so say how to read them again."""
    runs: list[tuple[Any, Any]] = [(summary.started_at, summary.drift)]
    try:
        with pipeline.sql_client() as client:
            table = client.make_qualified_table_name("sync_runs")
            recorded = client.execute_sql(
                f"SELECT started_at, drift, transform FROM {table} ORDER BY started_at DESC"
            )
    except Exception:  # noqa: BLE001 - no run history (a first run, an older warehouse): this run's only
        log.debug("no sync_runs to read drift from", exc_info=True)
        recorded = []
    for started_at, drift, transform in recorded or []:
        if transform is None or not str(transform).startswith("failed"):
            break  # the marts were right after this run (or it predates the record of builds)
        runs.append((started_at, json.loads(drift or "{}")))
    began: datetime | None = None
    resources: set[str] = set()
    for started_at, drift in runs:
        changed = {name for name, d in drift.items() if d.get("missing") or d.get("retyped")}
        if changed:
            resources |= changed
            began = started_at if began is None or started_at < began else began
    if began is None:
        return None
    since = _oldest_row_loaded_since(pipeline, resources, began) or began
    day = since.astimezone(UTC).date().isoformat()
    names = ",".join(sorted(resources))
    return (
        f"The API's fields changed for {names} (runs since {day}); the rows loaded meanwhile stay as "
        f"received. Once the API sends those fields again, read the rows again: `livello-sync run --since "
        f"{day}` (merges over them), or `livello-sync run --refresh {names}`."
    )


def _oldest_row_loaded_since(pipeline: Any, resources: set[str], began: datetime) -> datetime | None:
    """The oldest cursor value among the rows of `resources` that loads since `began` wrote: where reading
    again must start (a run reads from its cursor, which may lie well before the run itself)."""
    from sources.livello.endpoints import BY_NAME
    from sources.livello.rows import column_name

    oldest: datetime | None = None
    for name in resources:
        endpoint = BY_NAME.get(name)
        if endpoint is None or endpoint.incremental is None:
            continue
        try:
            with pipeline.sql_client() as client:
                table = client.make_qualified_table_name(name)
                loads = client.make_qualified_table_name("_dlt_loads")
                cursor = client.escape_column_name(column_name(endpoint.incremental.cursor))
                rows = client.execute_sql(
                    f"SELECT min({cursor}) FROM {table} WHERE _dlt_load_id IN "
                    f"(SELECT load_id FROM {loads} WHERE inserted_at >= %s)",
                    began,
                )
        except Exception:  # noqa: BLE001 - the hint falls back to the run's own time
            log.debug("cannot find the oldest drifted row of %s", name, exc_info=True)
            continue
        value = rows[0][0] if rows else None
        if isinstance(value, datetime):
            value = value if value.tzinfo else value.replace(tzinfo=UTC)
            oldest = value if oldest is None or value < oldest else oldest
    return oldest


def _transform(pipeline: Any, err: Printer) -> str:
    from transforms.runner import build

    try:
        report = build(pipeline)
    except Exception as error:
        # The whole message names each failed data test, its table, the offending row count and samples.
        err(f"transform failed (the previous marts are kept):\n{error}")
        return f"failed: {str(error).splitlines()[0]}"
    return describe_build(report)


def describe_build(report: Any) -> str:
    """'12 marts built in 1.0 s, 138/138 data tests passed' and the marts' rows, in name order."""
    tables = sorted((m for m in report.models if m.materialization == "table"), key=lambda m: m.name)
    passed = len(report.tests) - len(report.failed_tests)
    lines = [
        f"{plural(len(tables), 'mart')} built in {human(report.seconds)}, "
        f"{passed}/{plural(len(report.tests), 'data test')} passed"
    ]
    lines += [f"    {m.name:<28} {m.rows or 0:>12,} rows" + (f"  ({m.how})" if m.how else "") for m in tables]
    return "\n".join(lines)
