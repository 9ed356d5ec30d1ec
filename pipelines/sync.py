"""One `livello-sync run`: credentials, pending packages, plan, checkpointed loads, run record.

Order matters for crash safety: 1. the pipeline lock, then a token request: bad credentials fail before
anything is written; 2. packages left by a crashed run are loaded first (otherwise dlt loads them and silently
ignores the new extract); 3. the state is synchronized from the destination (a wiped working directory resumes
from the warehouse); 4. every load carries the rows of one window per incremental endpoint together with that
endpoint's new position in dlt state: a crash at any point either loses the whole window (re-read next run)
or none of it.

Nothing here names an endpoint: what differs between them is declared in sources/livello/endpoints.py."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import dlt
from dlt.pipeline.exceptions import PipelineStepFailed
from dlt.pipeline.pipeline import Pipeline

from pipelines.destination import make_pipeline
from pipelines.lock import pipeline_lock, warehouse_lock
from pipelines.lookback import WarehouseCounter, apply_check, verify_by_position, warehouse_counter
from pipelines.plan import RunPlan, plan_by_rows, plan_by_span, snapshot_requests
from pipelines.progress import human, plural
from pipelines.settings import SyncSettings
from pipelines.summary import RunSummary
from pipelines.workdir import abort_pending, heal, remove_repeated_rows, warehouse_unavailable
from sources.livello import livello_source, state
from sources.livello.client import LivelloClient
from sources.livello.context import RunContext, Window
from sources.livello.endpoints import Endpoint
from sources.livello.errors import (
    BadRequestError,
    DeadlineExceededError,
    LivelloError,
    ScopeError,
    UnexpectedResponseError,
)
from sources.livello.state import Progress

log = logging.getLogger("livello_sync.sync")

Printer = Callable[[str], None]


def root_livello_error(error: BaseException) -> LivelloError | None:
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, LivelloError):
            return current
        seen.add(id(current))
        current = getattr(current, "exception", None) or current.__cause__ or current.__context__
    return None


def describe_failure(error: BaseException) -> str:
    """One readable line for a failed run, with the step it failed in: the project's own message when the
    failure came from the API client (dlt wraps it in PipelineStepFailed and chains the low-level cause), else
    the innermost cause."""
    step = getattr(error, "step", None)
    root: BaseException = root_livello_error(error) or error
    seen: set[int] = set()
    while not isinstance(root, LivelloError) and id(root) not in seen:
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
        self.summary = RunSummary(
            destination=settings.warehouse.destination, dataset=settings.warehouse.dataset
        )
        sleeper = getattr(out, "sleeper", None)  # a Reporter keeps the operator informed during long waits
        self.client = (
            LivelloClient(settings.client, sleep=sleeper(self._budget))
            if sleeper is not None
            else LivelloClient(settings.client)
        )
        self.pipeline: Pipeline | None = None
        self.ctx: RunContext | None = None

    # ----------------------------------------------------------------------------------------- phases
    def run(self) -> RunSummary:
        started = time.monotonic()
        pipeline = make_pipeline(self.settings.warehouse)
        self.pipeline = pipeline
        try:
            with (
                pipeline_lock(pipeline.pipelines_dir, pipeline.pipeline_name),
                warehouse_lock(self.settings.warehouse),
            ):
                self.client.check_credentials()  # AuthenticationError propagates: nothing has been written
                if self.settings.run.max_duration is not None:
                    self.client.set_deadline(self.settings.run.max_duration.total_seconds())
                pipeline = self._finish_pending(pipeline)
                self.pipeline = pipeline
                pipeline.sync_destination()
                self._run_loads(pipeline, started)
        finally:
            self.summary.duration_seconds = time.monotonic() - started
            self.summary.record_client(self.client.stats)
            self.client.close()
        return self.summary

    def _finish_pending(self, pipeline: Pipeline) -> Pipeline:
        """Load what a crashed run left (repairing or discarding what dlt cannot finish) before anything new
        is extracted: dlt would otherwise load the pending packages and silently ignore the new extract."""
        pipeline, actions = heal(pipeline)
        for action in actions:
            self.out(action)
        if not pipeline.has_pending_data:
            return pipeline
        self.out("Loading data left by an interrupted run before extracting anything new ...")
        try:
            pipeline.run(loader_file_format=self.settings.warehouse.loader_file_format)
        except PipelineStepFailed as error:
            if warehouse_unavailable(error):
                raise  # the warehouse is down or full: the packages stay pending for the next run
            # Anything else that stops a crashed run's packages (a half-normalized package, a load dlt cannot
            # resume) would stop every later run the same way; their windows were never committed.
            reason = f"finishing them failed during {error.step}: {describe_failure(error)}"
            pipeline, action = abort_pending(pipeline, reason)
            self.out(action)
            return pipeline
        self._count(pipeline)
        repeated = remove_repeated_rows(pipeline)
        if repeated:
            tables = ", ".join(f"{table} {rows:,}" for table, rows in sorted(repeated.items()))
            self.out(
                f"Removed rows the crashed run's package had loaded twice when dlt finished it ({tables}): "
                "each was the same extracted row (one _dlt_id) taken again."
            )
        return pipeline

    def _selected(self, ctx: RunContext) -> tuple[Endpoint, ...]:
        """The selected endpoints the client's scopes allow and configuration gives something to read; the
        rest are skipped (with a warning for a missing scope)."""
        granted = self.client.scopes
        selected = []
        for endpoint in self.settings.run.endpoints:
            missing = [s for s in endpoint.scopes if granted is not None and s not in granted]
            if missing:
                ctx.skip(endpoint.resource, missing[0])
                continue
            if endpoint.configured_by and not endpoint.configured(ctx.settings):
                continue  # nothing named to read (the API cannot list these)
            selected.append(endpoint)
        return tuple(selected)

    def _plan(self, ctx: RunContext, pipeline: Pipeline, selected: tuple[Endpoint, ...]) -> RunPlan:
        states = state.of_pipeline(pipeline)
        for name in self.settings.run.refresh:  # read again from the start: planned as a first run
            states.pop(name, None)
        run, lookback = self.settings.run, ctx.settings.lookback_period
        now = datetime.now(UTC)
        plan = RunPlan()
        incremental = [e for e in selected if e.incremental is not None]
        for endpoint in (e for e in incremental if e.incremental and e.incremental.sizing == "rows"):
            progress = states.get(endpoint.resource, state.ResourceState()).progress
            try:
                counter = self._lookback_counter(ctx, pipeline, endpoint, progress)
                resource_plan, probe_count = plan_by_rows(
                    ctx,
                    endpoint,
                    progress,
                    since=run.since,
                    # A verified lookback is planned separately: the listing starts at the cursor.
                    lookback=timedelta(0) if counter is not None else lookback,
                    window_rows=self.settings.pipeline.backfill_window_rows,
                    now=now,
                )
                check = None
                if counter is not None and progress.cursor is not None:
                    first = resource_plan.windows[0]
                    check = verify_by_position(
                        ctx, endpoint, progress.cursor - lookback, progress.cursor, first.end, counter
                    )
            except (UnexpectedResponseError, BadRequestError) as error:  # its probes came back broken
                ctx.fail(endpoint.resource, error.message)
                continue
            if check is not None:
                resource_plan.windows[0] = apply_check(resource_plan.windows[0], check)
                resource_plan.expected_requests += check.reread_requests
                if check.held is not None:  # the probe was the first page of the new rows
                    resource_plan.expected_requests = max(0, resource_plan.expected_requests - 1)
                resource_plan.note = check.describe()
                probe_count += check.probes
            plan.windowed[endpoint.resource] = resource_plan
            plan.probe_requests += probe_count
        first_data = [p.windows[0].start for p in plan.windowed.values() if p.windows[0].start is not None]
        for endpoint in (e for e in incremental if e.incremental and e.incremental.sizing == "span"):
            plan.windowed[endpoint.resource] = plan_by_span(
                ctx,
                endpoint,
                states.get(endpoint.resource, state.ResourceState()).progress,
                since=run.since,
                lookback=lookback,
                first_data=min(first_data) if first_data else None,
                now=now,
            )
        plan.snapshot_requests = snapshot_requests(ctx, selected)
        return plan

    def _lookback_counter(
        self, ctx: RunContext, pipeline: Pipeline, endpoint: Endpoint, progress: Progress
    ) -> WarehouseCounter | None:
        """What verifies a normal incremental run's lookback; None when the whole lookback is read (the
        setting is off, the endpoint's rows can change, a first run, `--since`, a resumed backfill, or the
        warehouse cannot be counted)."""
        lookback = ctx.settings.lookback_period
        if (
            not self.settings.pipeline.verify_lookback
            or endpoint.incremental is None
            or not endpoint.incremental.verify_lookback
            or self.settings.run.since is not None
            or progress.cursor is None
            or progress.in_backfill
            or lookback <= timedelta(0)
        ):
            return None
        cursor = progress.cursor
        counter = warehouse_counter(pipeline, endpoint)
        try:
            counter(cursor, cursor)  # fails fast if the table cannot be counted, before any probe is spent
        except Exception as error:  # noqa: BLE001 - any database error means: fall back to the full re-read
            log.warning(
                "%s: cannot count the warehouse rows (%s); re-reading the lookback",
                endpoint.resource,
                type(error).__name__,
            )
            return None
        return counter

    def _announce(self, plan: RunPlan) -> None:
        for name, p in plan.windowed.items():
            parts = [plural(len(p.windows), "window")]
            if p.expected_rows is not None:
                parts.append(f"~{p.expected_rows:,} rows")
            parts.append(f"~{plural(p.expected_requests, 'request')}")
            start = p.windows[0].start
            where = f"from {start:%Y-%m-%d %H:%M} UTC" if start is not None else "from the oldest row"
            self._event("plan", f"  {name:<13} {p.mode:<11} {where}: {', '.join(parts)}", resource=name)
            if p.note:
                self._event("plan", f"  {'':<13} {p.note}", resource=name)
        total = plan.expected_requests
        line = f"Expecting ~{plural(total, 'API request')} in {plural(max(plan.load_count, 1), 'load')}"
        allowed = self.client.allowed_requests_per_window()
        seconds = self.client.estimate_seconds(total)
        if allowed is not None and seconds is not None:
            per_window, window_seconds = allowed
            rate = f"{per_window * 3600 / window_seconds:,.0f} requests/hour"
            line += f"; at the allowed {rate}, " + (
                "well within the budget" if seconds < 1 else f"at least {human(seconds)}"
            )
        self._event("plan", line + ".", requests=total)

    def _budget(self) -> tuple[int, int] | None:
        """(requests used, requests allowed) of the current rate-limit window, when a response said."""
        stats = self.client.stats
        if stats.rate_limit_limit is None or stats.rate_limit_remaining is None:
            return None
        allowed = max(1, math.floor(self.settings.client.budget_share * stats.rate_limit_limit))
        return stats.rate_limit_limit - stats.rate_limit_remaining, allowed

    def _event(self, kind: str, message: str, **fields: Any) -> None:
        event = getattr(self.out, "event", None)
        if event is not None:
            event(kind, message, **fields)
        else:
            self.out(message)

    def _status(self, message: str) -> None:
        status = getattr(self.out, "status", None)
        if status is not None:
            status(message, heartbeat=False)

    def _run_loads(self, pipeline: Pipeline, started: float) -> None:
        ctx = RunContext(self.client, self.settings.source, snapshot_at=datetime.now(UTC), windows={})
        self.ctx = ctx
        selected = self._selected(ctx)
        self.summary.resources = [e.resource for e in selected]
        try:
            plan = self._plan(ctx, pipeline, selected)
        except ScopeError as error:  # a shared listing (kiosks, organizations) forbidden while planning
            raise LivelloError(f"cannot plan the run: {error}") from None
        self._announce(plan)
        loads = max(plan.load_count, 1)
        self.summary.windows_total = loads
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
                e.resource
                for e in selected
                if e.resource not in ctx.failed
                and e.reads_in_load(first_load=ctx.first_load, has_window=e.resource in ctx.windows)
            ]
            if not names:
                continue
            load_started = time.monotonic()
            requests_before = self.client.stats.requests
            ctx.on_rows = self._load_progress(index + 1, loads)
            ctx.loading = frozenset(names)
            try:
                self._load(pipeline, ctx, names, first=index == 0)
            except Exception as error:
                if isinstance(root_livello_error(error), DeadlineExceededError):
                    self.summary.status = "paused"
                    self.out(
                        f"--max-duration reached during load {index + 1} of {loads}; that window will be "
                        "read again by the next run."
                    )
                    break
                raise
            clear = getattr(self.out, "clear_status", None)
            if clear is not None:
                clear()
            counts = self._count(pipeline)
            self.summary.windows_done = index + 1
            if self.settings.run.progress:
                windows = ", ".join(f"{n} {short_window(w)}" for n, w in ctx.windows.items()) or "snapshots"
                rows, requests = sum(counts.values()), self.client.stats.requests - requests_before
                self._event(
                    "load",
                    f"[{index + 1}/{loads}] {plural(rows, 'row')}, {plural(requests, 'request')}, "
                    f"{human(time.monotonic() - load_started)}  ({windows})",
                    load=index + 1,
                    loads=loads,
                    rows=rows,
                    requests=requests,
                )
        self.summary.skipped = dict(ctx.skipped)
        self.summary.failed = dict(ctx.failed)
        self.summary.drift = {name: drift.as_dict() for name, drift in ctx.drift.items() if drift}
        self.summary.warnings = list(ctx.warnings)
        if self.summary.status == "running":
            # "partial": some resources stopped on broken answers; everything else was loaded
            self.summary.status = "partial" if ctx.failed else "complete"

    def _load(self, pipeline: Pipeline, ctx: RunContext, names: list[str], *, first: bool) -> None:
        """One load of `names`. In the first, resources asked to be refreshed go alone and first, with dlt's
        refresh="drop_resources": their tables and state are replaced only if their extract and normalize
        succeed."""
        fmt = self.settings.warehouse.loader_file_format
        refreshed = [n for n in names if first and n in self.settings.run.refresh]
        if refreshed:
            pipeline.run(
                livello_source(ctx).with_resources(*refreshed),
                loader_file_format=fmt,
                refresh="drop_resources",
            )
            names = [n for n in names if n not in refreshed]
            if not names:
                return
            self._count(pipeline)
        pipeline.run(livello_source(ctx).with_resources(*names), loader_file_format=fmt)

    def _load_progress(self, number: int, loads: int) -> Callable[[str, int], None]:
        """The live line of one load: which resource, rows so far, requests, time."""
        started, requests_before, rows = time.monotonic(), self.client.stats.requests, [0]

        def progress(resource: str, batch_rows: int) -> None:
            rows[0] += batch_rows
            requests = self.client.stats.requests - requests_before
            self._status(
                f"load {number}/{loads}: {resource}, {rows[0]:,} rows, {plural(requests, 'request')}, "
                f"{human(time.monotonic() - started)}"
            )

        return progress

    def _out_of_time(self, started: float) -> bool:
        limit = self.settings.run.max_duration
        return limit is not None and time.monotonic() - started >= limit.total_seconds()

    def _count(self, pipeline: Pipeline) -> dict[str, int]:
        counts = _rows_extracted(pipeline)
        for table, rows in counts.items():
            self.summary.rows[table] = self.summary.rows.get(table, 0) + rows
        return counts


def record_run(pipeline: Pipeline, summary: RunSummary, loader_file_format: str) -> None:
    """Append the run's record to `sync_runs` (what `status` reports as budget use and run history).

    Through a pipeline of its own beside the run's, so that the run's pipeline keeps its data loads as its
    last trace (`dlt pipeline <name> trace` shows what was loaded, not this bookkeeping row)."""
    runs = dlt.pipeline(
        pipeline_name=f"{pipeline.pipeline_name}_runs",
        destination=pipeline.destination,
        dataset_name=pipeline.dataset_name,
        pipelines_dir=pipeline.pipelines_dir,
    )
    runs.run(
        [summary.record()],
        table_name="sync_runs",
        columns={
            "error": {"data_type": "text", "nullable": True},
            "transform": {"data_type": "text", "nullable": True},
        },
        write_disposition="append",
        loader_file_format=loader_file_format,
    )


def short_window(window: Window) -> str:
    """'2026-11-25 12:00 .. 21:00', '2026-11-25 12:00 .. 11-26 06:00', '2026-11-25 12:00 .. now'."""
    if window.start is None:
        return "all .. now"
    start = f"{window.start:%Y-%m-%d %H:%M}"
    if window.end is None:
        return f"{start} .. now"
    same_day = window.end.date() == window.start.date()
    return f"{start} .. {window.end:%H:%M}" if same_day else f"{start} .. {window.end:%m-%d %H:%M}"
