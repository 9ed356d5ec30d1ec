"""Dagster code location for livello-sync: the sync and the marts as assets, with a nightly schedule.

    pip install 'livello-sync[dagster]'
    LIVELLO_SYNC_PROJECT_DIR=/srv/livello dagster dev -m orchestration.dagster_defs

Assets (group `livello`)
- `livello/raw`: one materialization is one whole `livello-sync run --no-transform`, done by `run_job`, the
  function the command line calls, so checkpointed backfill windows, the pipeline lock, the count-verified
  lookback, crash healing and the `sync_runs` record behave exactly as under cron. Its metadata: rows loaded
  per table, API requests used, 429s, the budget left in the vendor's window, the run's status and summary.
- `livello/dim_*`, `livello/fct_*`: one asset per mart, all built by one op with `transforms.runner.build`
  (one transaction ending with the data tests: a BI tool sees the old marts or the new ones, never a mix),
  downstream of `livello/raw`. Each carries `dagster/row_count`. Materializing only the marts is
  `livello-sync transform`.

One shared API budget
The vendor allows 1,000 requests an hour per API client, and our client paces itself from the `RateLimit-*`
headers it sees. Two clients with the same credentials running at once would each believe they own the
budget and together draw 429s or starve the customer's other integrations. So it cannot happen:
1. Only `livello/raw` calls the API, and it does the whole sync in one op with one `LivelloClient`. There are
   deliberately no per-resource assets: dagster-dlt's `@dlt_assets` would make one per resource and run
   `pipeline.run(source)` itself, bypassing the windows, lock and lookback of `run_job`. Nothing inside one
   Dagster run can call the API in parallel.
2. Across runs (the schedule firing while a long backfill still runs, a manual materialization): both ops are
   in the Dagster pool `livello_sync`, and `deploy/dagster/dagster.yaml` gives a pool one slot, so a second
   run waits for the first instead of competing. The same slot keeps DuckDB's single writer safe: a mart
   build never overlaps a load.
3. On an instance without that limit, an advisory lock per API client (base URL and client id, beside the
   pipelines' working directories) makes a second concurrent sync with the same credentials fail at once,
   before its first request, saying why; `run_job`'s pipeline lock also refuses a second run on one warehouse.

Configuration
`LivelloSyncResource` (a `ConfigurableResource`) holds what is not secret: destination, dataset, the project
dir where `.dlt/` lives (default `$LIVELLO_SYNC_PROJECT_DIR`, else the working directory) and the optional run
options of `livello-sync run` (resources, lookback, max_duration). Secrets (client secret, pseudonymization
key, database password) never go into Dagster config, which Dagster stores with every run and shows in its
UI: dlt reads them from the environment or `<project dir>/.dlt/secrets.toml`, as for the command line.
Another code location: `defs = make_definitions(LivelloSyncResource(destination="postgres"), cron=...)`.

Failures
A run that exits 1 (failed, or partial: some resources stopped) or 2 (bad configuration or credentials,
nothing written) fails `livello/raw` with the run's own message; the marts are then not rebuilt and the
previous, tested ones stay (the command line does rebuild them after a partial run: materialize the marts
alone for that). A failed mart build fails the marts with the data tests' report.
"""

# No `from __future__ import annotations`: Dagster reads the `context` and resource annotations at definition
# time and refuses them as strings.
import hashlib
import os
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetSelection,
    AssetSpec,
    ConfigurableResource,
    Definitions,
    Failure,
    MaterializeResult,
    MetadataValue,
    ScheduleDefinition,
    asset,
    define_asset_job,
    multi_asset,
)
from pydantic import Field

from pipelines.job import EXIT_FAILED, EXIT_OK, EXIT_USAGE, JobResult, run_job
from pipelines.lock import LockedError, pipeline_lock
from pipelines.settings import SyncSettings, load_settings, use_project
from sources.livello.config import SettingError
from sources.livello.redaction import install_redaction

PROJECT_DIR_ENV = "LIVELLO_SYNC_PROJECT_DIR"  # the same variable as `livello-sync --project-dir`
GROUP = "livello"
POOL = "livello_sync"
RAW_KEY = AssetKey(["livello", "raw"])
# As deploy/livello-sync.timer: after the day's late uploads, marts fresh before office hours.
NIGHTLY_CRON = "30 2 * * *"
# A run still going after this long is stopped by Dagster's run monitoring (like systemd's TimeoutStartSec);
# the default resource's max_duration is below it, so a long backfill pauses cleanly at a window boundary
# first (exit 0, the next run resumes), as in deploy/livello-sync.service.
MAX_RUNTIME_SECONDS = 4 * 3600
DEFAULT_MAX_DURATION = "3h30m"
EXIT_MEANING = {
    EXIT_FAILED: "the run failed",
    EXIT_USAGE: "bad configuration or credentials; nothing was written",
}


class LivelloSyncResource(ConfigurableResource):
    """Where the sync writes and what one run does; secrets come from dlt's providers, never from here."""

    destination: str = Field(
        default="duckdb",
        description="warehouse engine, duckdb or postgres; credentials from "
        "DESTINATION__<ENGINE>__CREDENTIALS or <project_dir>/.dlt/secrets.toml",
    )
    dataset: str = Field(default="livello", description="schema to load into")
    project_dir: str | None = Field(
        default=None,
        description=f"directory holding .dlt/ (default ${PROJECT_DIR_ENV}, else the working directory)",
    )
    resources: str | None = Field(default=None, description="comma-separated resources (default: all)")
    lookback: str | None = Field(default=None, description="history re-read before the cursor, e.g. 48h")
    max_duration: str | None = Field(
        default=None, description="stop cleanly after this long (e.g. 3h); the next run resumes"
    )

    def project_path(self) -> Path:
        return Path(self.project_dir or os.environ.get(PROJECT_DIR_ENV) or Path.cwd()).resolve()

    def activate(self) -> None:
        """Redact secrets from every log record (Dagster's captured logs included) and read `.dlt/` of the
        project dir as it is now: each op may run in its own process, so each one does this itself."""
        install_redaction()
        use_project(self.project_path())

    def sync_settings(self) -> SyncSettings:
        """The settings of `livello-sync run --no-transform` (the marts are their own assets)."""
        self.activate()
        return load_settings(
            destination=self.destination,
            dataset=self.dataset,
            resources=self.resources,
            lookback=self.lookback,
            max_duration=self.max_duration,
            transform=False,
            progress=False,  # no terminal: the per-load lines go to Dagster's log
        )

    def warehouse_pipeline(self) -> Any:
        """The warehouse's dlt pipeline, without API settings (as `livello-sync transform`)."""
        from pipelines.destination import open_pipeline

        self.activate()
        return open_pipeline(self.destination, self.dataset)


# ------------------------------------------------------------------------------------------------ the sync
def run_metadata(result: JobResult) -> dict[str, Any]:
    """What a run loaded and what it cost, as materialization metadata (numbers stay numbers: Dagster plots
    them across runs)."""
    summary = result.summary
    rows = dict(sorted(summary.rows.items()))
    metadata: dict[str, Any] = {
        "status": summary.status,
        "exit_code": result.exit_code,
        "rows_loaded": sum(rows.values()),
        "rows_per_table": MetadataValue.json(rows),
        "requests": summary.requests,
        "token_requests": summary.token_requests,
        "http_429": summary.http_429,
        "loads": f"{summary.windows_done} of {summary.windows_total}",
        "duration_seconds": round(summary.duration_seconds, 1),
        "warehouse": f"{summary.destination}, dataset {summary.dataset}",
        "summary": MetadataValue.md(f"```\n{summary.render()}\n```"),
    }
    # Unknown until the API answered once; left out rather than a fake 0 in the plots.
    if summary.budget_remaining is not None:
        metadata["budget_remaining"] = summary.budget_remaining
    if summary.budget_limit is not None:
        metadata["budget_limit"] = summary.budget_limit
    if summary.skipped:
        metadata["skipped"] = MetadataValue.json(dict(summary.skipped))
    if summary.failed:
        metadata["failed"] = MetadataValue.json(dict(summary.failed))
    return metadata


def failure_message(result: JobResult, errors: list[str]) -> str:
    """The run's own words: what it printed as errors, then resources that stopped without one."""
    lines = [line for message in errors for line in message.splitlines() if line.strip()]
    for resource, why in sorted(result.summary.failed.items()):
        if not any(why in line for line in lines):
            lines.append(f"{resource} stopped: {why}")
    if not lines:
        lines.append(result.summary.error or f"the run ended {result.summary.status}")
    meaning = EXIT_MEANING.get(result.exit_code, EXIT_MEANING[EXIT_FAILED])
    return f"livello-sync run exited {result.exit_code} ({meaning}): " + "\n".join(lines)


def _hold_api_client(stack: ExitStack, settings: SyncSettings) -> None:
    """Layer 3 of the shared budget (module docstring): one sync per API client at a time on this host."""
    client = settings.client
    digest = hashlib.sha256(f"{client.base_url}\n{client.client_id}".encode()).hexdigest()[:12]
    directory = settings.pipeline.pipelines_dir
    if directory is None:
        from dlt.common.pipeline import get_dlt_pipelines_dir

        directory = get_dlt_pipelines_dir()
    name = f"livello_api_client_{digest}"
    try:
        stack.enter_context(pipeline_lock(directory, name))
    except LockedError:
        raise Failure(
            description=(
                "another sync with the same API client (base URL and client id) is running; its requests "
                "share one vendor budget, so this one did not start (no request was made). Give the Dagster "
                f"pool {POOL!r} one slot (deploy/dagster/dagster.yaml) so runs queue instead "
                f"(lock {Path(directory) / (name + '.lock')})"
            ),
            metadata={"exit_code": EXIT_FAILED},
        ) from None


@asset(
    key=RAW_KEY,
    group_name=GROUP,
    pool=POOL,
    kinds={"dlt"},
    description="Every raw table of the Livello API sync (one `livello-sync run --no-transform`): "
    "incremental, checkpointed, one API client for the whole run.",
)
def livello_raw(context: AssetExecutionContext, livello: LivelloSyncResource) -> MaterializeResult:
    try:
        settings = livello.sync_settings()
    except SettingError as error:
        raise Failure(
            description=f"livello-sync run exited {EXIT_USAGE} ({EXIT_MEANING[EXIT_USAGE]}): {error}",
            metadata={"exit_code": EXIT_USAGE},
        ) from None
    errors: list[str] = []

    def err(message: str) -> None:
        errors.append(message)
        context.log.error(message)

    with ExitStack() as stack:
        _hold_api_client(stack, settings)
        result = run_job(settings, out=context.log.info, err=err)
    metadata = run_metadata(result)
    if result.exit_code != EXIT_OK:
        raise Failure(description=failure_message(result, errors), metadata=metadata)
    return MaterializeResult(metadata=metadata)


# ----------------------------------------------------------------------------------------------- the marts
def mart_key(name: str) -> AssetKey:
    return AssetKey(["livello", name])


def mart_specs() -> list[AssetSpec]:
    """One asset per mart model in build order (dependencies first), with the lineage its SQL declares.
    Staging views are not assets: they are views, rebuilt with the marts and read by nothing else."""
    from transforms.models import load_models

    marts = [model for model in load_models() if model.kind == "mart"]
    names = {model.name for model in marts}
    return [
        AssetSpec(
            mart_key(model.name),
            deps=[RAW_KEY, *(mart_key(dep) for dep in sorted(model.depends_on & names))],
            description=f"{model.description}\n\nGrain: {model.grain}",
            group_name=GROUP,
            kinds={"sql"},
        )
        for model in marts
    ]


MART_SPECS = mart_specs()


@multi_asset(
    name="livello_marts",
    specs=MART_SPECS,
    pool=POOL,
    can_subset=False,  # one transaction rebuilds every mart and runs every data test
    description="Rebuild the staging views and star-schema marts, then run the data tests "
    "(`livello-sync transform`).",
)
def livello_marts(
    context: AssetExecutionContext, livello: LivelloSyncResource
) -> Iterator[MaterializeResult]:
    from transforms.runner import TransformError, build

    try:
        pipeline = livello.warehouse_pipeline()
    except SettingError as error:
        raise Failure(description=f"bad configuration: {error}", metadata={"exit_code": EXIT_USAGE}) from None
    try:
        report = build(pipeline)
    except TransformError as error:  # data tests included: the message names each test, table and rows
        raise Failure(description=f"transform failed (the previous marts are kept):\n{error}") from None
    except Exception as error:  # a database failure: the build's transaction was rolled back
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise Failure(description=f"transform failed (the previous marts are kept): {first}") from error
    context.log.info(report.summary())
    counts = report.row_counts()
    tests = f"{len(report.tests) - len(report.failed_tests)} of {len(report.tests)} passed"
    # In build order: Dagster wants a multi-asset's outputs yielded dependencies first.
    for key in [spec.key for spec in MART_SPECS if spec.key in context.selected_asset_keys]:
        metadata: dict[str, Any] = {"data_tests": tests}
        rows = counts.get(key.path[-1])
        if rows is not None:
            metadata["dagster/row_count"] = rows
        yield MaterializeResult(asset_key=key, metadata=metadata)


# -------------------------------------------------------------------------------------- job and schedule
def make_definitions(
    resource: LivelloSyncResource | None = None, *, cron: str = NIGHTLY_CRON, timezone: str = "UTC"
) -> Definitions:
    """The code location: both assets, the nightly job over them and its schedule, and the resource (by
    default DuckDB, dataset livello, `.dlt/` of $LIVELLO_SYNC_PROJECT_DIR, at most 3h30m per run)."""
    job = define_asset_job(
        "livello_nightly",
        selection=AssetSelection.groups(GROUP),
        description="Sync the Livello API, then rebuild the marts.",
        tags={"dagster/max_runtime": str(MAX_RUNTIME_SECONDS)},
    )
    schedule = ScheduleDefinition(
        name="livello_nightly_schedule",
        job=job,
        cron_schedule=cron,
        execution_timezone=timezone,
        description="Every night; a missed night is caught up by the next run (incremental with lookback).",
    )
    return Definitions(
        assets=[livello_raw, livello_marts],
        jobs=[job],
        schedules=[schedule],
        resources={"livello": resource or LivelloSyncResource(max_duration=DEFAULT_MAX_DURATION)},
    )


defs = make_definitions()
