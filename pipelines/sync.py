"""One `livello-sync run`: credentials, pending packages, plan, checkpointed loads, run record.

Order matters for crash safety: 1. the pipeline lock, then a token request: bad credentials fail before
anything is written; 2. packages left by a crashed run are loaded first (otherwise dlt loads them and silently
ignores the new extract); 3. the state is synchronized from the destination (a wiped working directory resumes
from the warehouse); 4. every load carries the rows of one window per incremental resource together with that
resource's new position in dlt state: a crash at any point either loses the whole window (re-read next run) or
none of it."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from dlt.common.pipeline import LoadInfo
from dlt.pipeline.pipeline import Pipeline

from pipelines.destination import loader_file_format, make_pipeline
from pipelines.lock import pipeline_lock
from pipelines.lookback import (
    VERIFIED_RESOURCES,
    LookbackCheck,
    apply_check,
    verify_lookback,
    warehouse_counter,
)
from pipelines.plan import RunPlan, plan_listing, plan_temperature, snapshot_requests
from pipelines.settings import SyncSettings
from pipelines.summary import RunSummary
from sources.livello import SOURCE_NAME, livello_source
from sources.livello.client import ClientSettings, LivelloClient
from sources.livello.endpoints import BY_NAME, WINDOWED
from sources.livello.errors import DeadlineExceededError, LivelloError, ScopeError
from sources.livello.pseudonymize import Pseudonymizer
from sources.livello.resources import RunContext, SourceOptions, to_utc

log = logging.getLogger("livello.sync")

Printer = Callable[[str], None]


def resource_states(pipeline: Pipeline) -> dict[str, dict[str, Any]]:
    sources = pipeline.state.get("sources", {})
    return dict(sources.get(SOURCE_NAME, {}).get("resources", {}))


def make_client(settings: SyncSettings) -> LivelloClient:
    extra: dict[str, Any] = {}
    if settings.budget_share is not None:
        extra["budget_share"] = settings.budget_share
    return LivelloClient(
        ClientSettings(
            base_url=settings.base_url,
            client_id=settings.client_id,
            client_secret=settings.client_secret,
            token_url=settings.token_url,
            **extra,
        )
    )


def _root_livello_error(error: BaseException) -> LivelloError | None:
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, LivelloError):
            return current
        seen.add(id(current))
        current = getattr(current, "exception", None) or current.__cause__ or current.__context__
    return None


def describe_failure(error: BaseException) -> str:
    """One readable line for a failed run: the innermost cause (dlt wraps it in PipelineStepFailed), with the
    step it failed in."""
    step = getattr(error, "step", None)
    root: BaseException = error
    seen: set[int] = set()
    while id(root) not in seen:
        seen.add(id(root))
        nested = getattr(root, "exception", None) or root.__cause__ or root.__context__
        if nested is None:
            break
        root = nested
    lines = [line.strip() for line in str(root).splitlines() if line.strip()]
    text = lines[0] if lines else type(root).__name__
    if not isinstance(root, LivelloError):
        text = f"{type(root).__name__}: {text}"
    return f"{text} (during {step})" if step else text


def _rows_extracted(pipeline: Pipeline) -> dict[str, int]:
    """Rows per table of the last run, from the extract step (the CSV writer's normalize counts are wrong)."""
    trace = pipeline.last_trace
    info = trace.last_extract_info if trace else None
    counts: dict[str, int] = {}
    if info is None:
        return counts
    for metrics in info.metrics.values():
        for metric in metrics:
            for table, table_metrics in metric.get("table_metrics", {}).items():
                if table.startswith("_dlt"):
                    continue
                counts[table] = counts.get(table, 0) + int(table_metrics.items_count)
    return counts


class Sync:
    def __init__(self, settings: SyncSettings, out: Printer = print) -> None:
        self.settings = settings
        self.out = out
        self.summary = RunSummary(destination=settings.destination, dataset=settings.dataset)
        self.client = make_client(settings)
        self.pipeline: Pipeline | None = None
        self.ctx: RunContext | None = None

    # ----------------------------------------------------------------------------------------- phases
    def run(self) -> RunSummary:
        started = time.monotonic()
        pipeline = make_pipeline(self.settings)
        self.pipeline = pipeline
        try:
            with pipeline_lock(pipeline.pipelines_dir, pipeline.pipeline_name):
                self.client.check_credentials()  # AuthenticationError propagates: nothing has been written
                if self.settings.max_duration is not None:
                    self.client.set_deadline(self.settings.max_duration.total_seconds())
                self._finish_pending(pipeline)
                pipeline.sync_destination()
                self._run_loads(pipeline, started)
        finally:
            self.summary.duration_seconds = time.monotonic() - started
            self.summary.record_client(self.client.stats)
            self.client.close()
        return self.summary

    def _finish_pending(self, pipeline: Pipeline) -> None:
        if pipeline.has_pending_data:
            self.out("Loading data left by an interrupted run before extracting anything new ...")
            info = pipeline.run(loader_file_format=loader_file_format(self.settings))
            self._count(pipeline, info)

    def _options(self) -> SourceOptions:
        pseudonymizer = None
        if self.settings.pseudonymize_users and self.settings.pseudonymization_key:
            pseudonymizer = Pseudonymizer(self.settings.pseudonymization_key)
        return SourceOptions(
            pseudonymizer=pseudonymizer,
            promocodes=self.settings.promocodes,
            temperature_granularity=self.settings.temperature_granularity,
        )

    def _selected(self, ctx: RunContext) -> tuple[str, ...]:
        """The selected resources the client's scopes allow; the rest are skipped with a warning."""
        granted = self.client.scopes
        selected = []
        for name in self.settings.resources:
            scope = BY_NAME[name].scope
            if granted is not None and scope not in granted:
                ctx.skip(name, ScopeError(f"missing scope {scope}", scope=scope))
                continue
            if name == "promocodes" and not self.settings.promocodes:
                continue  # nothing to read: the API cannot list promocodes
            selected.append(name)
        if "temperature" in selected and "kiosks:read" not in (granted or {"kiosks:read"}):
            ctx.skip("temperature", ScopeError("temperature needs the kiosk list", scope="kiosks:read"))
            selected.remove("temperature")
        return tuple(selected)

    def _plan(self, ctx: RunContext, pipeline: Pipeline, selected: tuple[str, ...]) -> RunPlan:
        states = resource_states(pipeline)
        now = datetime.now(UTC)
        plan = RunPlan()
        first_data: list[datetime] = []
        data_end = now
        for name in selected:
            if name in WINDOWED and name != "temperature":
                state = states.get(name, {})
                check = self._verified_lookback(ctx, pipeline, name, state)
                resource_plan, probes = plan_listing(
                    ctx,
                    name,
                    state,
                    since=self.settings.since,
                    # A verified lookback is planned separately: the listing starts at the cursor.
                    lookback=timedelta(0) if check is not None else self.settings.lookback,
                    window_rows=self.settings.window_rows,
                    now=now,
                )
                if check is not None:
                    resource_plan.windows[0] = apply_check(resource_plan.windows[0], check)
                    resource_plan.expected_requests += check.reread_requests
                    resource_plan.note = check.describe()
                    probes += check.probes
                plan.windowed[name] = resource_plan
                plan.probe_requests += probes
                first_data.append(resource_plan.windows[0].start)
        if "temperature" in selected:
            plan.windowed["temperature"] = plan_temperature(
                ctx,
                states.get("temperature", {}),
                since=self.settings.since,
                lookback=self.settings.lookback,
                first_data=min(first_data) if first_data else None,
                data_end=data_end,
                granularity=self.settings.temperature_granularity,
                kiosk_count=len(ctx.kiosks()),
            )
        snapshot = tuple(n for n in selected if n not in WINDOWED or n == "alerts")
        plan.snapshot_requests = snapshot_requests(ctx, snapshot, len(self.settings.promocodes))
        return plan

    def _verified_lookback(
        self, ctx: RunContext, pipeline: Pipeline, name: str, state: dict[str, Any]
    ) -> LookbackCheck | None:
        """The count check of a normal incremental run's lookback; None when the whole lookback is read (the
        setting is off, a first run, `--since`, a resumed backfill, or the warehouse cannot be counted)."""
        settings = self.settings
        if (
            not settings.verify_lookback
            or name not in VERIFIED_RESOURCES
            or settings.since is not None
            or not state.get("cursor")
            or (state.get("backfill") or {}).get("next")
            or settings.lookback <= timedelta(0)
        ):
            return None
        cursor = to_utc(state["cursor"])
        counter = warehouse_counter(pipeline, name)
        try:
            counter(cursor, cursor)  # fails fast if the table cannot be counted, before any probe is spent
        except Exception as error:  # noqa: BLE001 - any database error means: fall back to the full re-read
            log.warning(
                "%s: cannot count the warehouse rows (%s); re-reading the lookback",
                name,
                type(error).__name__,
            )
            return None
        return verify_lookback(ctx, name, cursor - settings.lookback, cursor, counter)

    def _announce(self, plan: RunPlan) -> None:
        for name, p in plan.windowed.items():
            rows = f"~{p.expected_rows:,} rows, " if p.expected_rows is not None else ""
            self.out(
                f"  {name:<13} {p.mode:<11} from {p.windows[0].start:%Y-%m-%d %H:%M} UTC: "
                f"{len(p.windows)} window(s), {rows}~{p.expected_requests:,} requests"
            )
            if p.note:
                self.out(f"  {'':<13} {p.note}")
        total = plan.expected_requests
        line = f"Expecting ~{total:,} API requests in {max(plan.load_count, 1)} load(s)"
        allowed = self.client.allowed_requests_per_window()
        seconds = self.client.estimate_seconds(total)
        if allowed is not None:
            per_window, window_seconds = allowed
            per_hour = per_window * 3600 / window_seconds
            line += f"; the allowed rate is {per_hour:,.0f} requests/hour"
            if seconds is not None:
                line += f", so at least {_human(seconds)}"
        self.out(line + ".")

    def _run_loads(self, pipeline: Pipeline, started: float) -> None:
        ctx = RunContext(self.client, self._options(), snapshot_at=datetime.now(UTC))
        self.ctx = ctx
        selected = self._selected(ctx)
        try:
            plan = self._plan(ctx, pipeline, selected)
        except ScopeError as error:  # kiosks or organizations listing forbidden while planning
            raise LivelloError(f"cannot plan the run: {error}") from None
        self._announce(plan)
        loads = max(plan.load_count, 1)
        self.summary.windows_total = loads
        fmt = loader_file_format(self.settings)
        for index in range(loads):
            if index > 0 and self._out_of_time(started):
                self.summary.status = "paused"
                self.out(
                    f"--max-duration reached after {index} of {loads} load(s); the next run resumes at the "
                    "first unfinished window."
                )
                break
            ctx.first_load = index == 0
            ctx.windows = plan.windows_for_load(index)
            names = [
                n
                for n in selected
                if (n not in WINDOWED and index == 0) or n in ctx.windows or (n == "alerts" and index == 0)
            ]
            if not names:
                continue
            load_started = time.monotonic()
            requests_before = self.client.stats.requests
            try:
                info = pipeline.run(livello_source(ctx, names), loader_file_format=fmt)
            except Exception as error:
                if isinstance(_root_livello_error(error), DeadlineExceededError):
                    self.summary.status = "paused"
                    self.out(
                        f"--max-duration reached during load {index + 1} of {loads}; that window will be "
                        "read again by the next run."
                    )
                    break
                raise
            counts = self._count(pipeline, info)
            self.summary.windows_done = index + 1
            if self.settings.progress:
                windows = ", ".join(f"{n} {w}" for n, w in ctx.windows.items()) or "snapshots"
                rows = sum(counts.values())
                self.out(
                    f"[{index + 1}/{loads}] {rows:,} rows, {self.client.stats.requests - requests_before} "
                    f"requests, {time.monotonic() - load_started:.1f}s  ({windows})"
                )
        self.summary.skipped = dict(ctx.skipped)
        self.summary.warnings = list(ctx.warnings)
        if self.summary.status == "running":
            self.summary.status = "complete"

    def _out_of_time(self, started: float) -> bool:
        limit = self.settings.max_duration
        return limit is not None and time.monotonic() - started >= limit.total_seconds()

    def _count(self, pipeline: Pipeline, info: LoadInfo | None) -> dict[str, int]:
        counts = _rows_extracted(pipeline)
        for table, rows in counts.items():
            self.summary.rows[table] = self.summary.rows.get(table, 0) + rows
        return counts


def record_run(pipeline: Pipeline, settings: SyncSettings, summary: RunSummary) -> None:
    """Append the run's record to `sync_runs` (what `status` reports as budget use and run history)."""
    pipeline.run(
        [summary.record()],
        table_name="sync_runs",
        columns={"error": {"data_type": "text", "nullable": True}},
        write_disposition="append",
        loader_file_format=loader_file_format(settings),
    )


def _human(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
