"""One `livello-sync run`: credentials, pending packages, plan, checkpointed loads, run record.

Order matters for crash safety: 1. the pipeline lock, then a token request: bad credentials fail before
anything is written; 2. packages left by a crashed run are loaded first (otherwise dlt loads them and silently
ignores the new extract); 3. the state is synchronized from the destination (a wiped working directory resumes
from the warehouse); 4. every load carries the rows of one window per incremental endpoint together with that
endpoint's new position in dlt state: a crash at any point either loses the whole window (re-read next run)
or none of it.

Several API clients (`sources.livello.clients`): the primary reads the organization-wide listings and the
kiosk list, the fleet is split across the clients (pipelines/fleet.py), and each client (a `Lane`: its own
HTTP client and pacing, its own dlt pipeline and so its own state) reads its kiosks' per-kiosk data in its own
thread; extraction overlaps, normalize and load take turns, and a client that fails stops only itself.

Nothing here names an endpoint: what differs between them is declared in sources/livello/endpoints.py."""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import dlt
from dlt.pipeline.exceptions import PipelineStepFailed
from dlt.pipeline.pipeline import Pipeline

from pipelines.destination import make_pipeline
from pipelines.fleet import split_fleet
from pipelines.lock import pipeline_lock, warehouse_lock
from pipelines.lookback import (
    WarehouseCounter,
    apply_check,
    open_records_reach,
    verify_by_position,
    warehouse_counter,
)
from pipelines.plan import RunPlan, plan_by_rows, plan_by_span, snapshot_requests
from pipelines.progress import human, plural
from pipelines.settings import SyncSettings
from pipelines.summary import RunSummary
from pipelines.workdir import abort_pending, heal, remove_repeated_rows, warehouse_unavailable
from sources.livello import livello_source, state
from sources.livello.client import LivelloClient
from sources.livello.config import ClientSettings
from sources.livello.context import RunContext, Window
from sources.livello.endpoints import FLEET, Endpoint
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


@dataclass
class Lane:
    """One API client of a run: its own HTTP client (and so its own pacing on its own rate-limit window), its
    own dlt pipeline (its own state) and the kiosks it reads fleet data for. A run with one client has one
    lane, the primary, exactly as before several clients existed."""

    name: str | None  # the configured client name; None in a run with one client
    settings: ClientSettings
    client: LivelloClient
    organization_id: int | None = None
    pipeline: Pipeline | None = None
    ctx: RunContext | None = None
    endpoints: tuple[Endpoint, ...] = ()
    fleet: frozenset[str] | None = None  # None: every kiosk
    kiosk_filter: tuple[str, ...] | None = None
    status: str = "running"  # running, complete, partial, paused, failed
    error: str | None = None
    rows: dict[str, int] = field(default_factory=dict)
    windows_done: int = 0
    windows_total: int = 0

    # The name that suffixes this lane's pipeline (None: the primary keeps the warehouse's pipeline, so its
    # state stays where a run with one client left it).
    pipeline_client: str | None = None

    @property
    def primary(self) -> bool:
        return self.pipeline_client is None

    def label(self, message: str) -> str:
        return message if self.name is None else f"[{self.name}] {message}"

    def record(self) -> dict[str, Any]:
        """This client's entry in the run record (sync_runs.clients): what it read, what it cost."""
        stats = self.client.stats
        allowed = None
        if stats.rate_limit_limit is not None:
            allowed = max(1, math.floor(self.settings.budget_share * stats.rate_limit_limit))
        used = (
            stats.rate_limit_limit - stats.rate_limit_remaining
            if stats.rate_limit_limit is not None and stats.rate_limit_remaining is not None
            else None
        )
        return {
            "client_id": self.settings.client_id,
            "organization_id": self.organization_id,
            "kiosks": len(self.fleet) if self.fleet is not None else None,
            "filtered": self.kiosk_filter is not None,
            "status": self.status,
            "error": self.error,
            "requests": int(stats.requests),
            "token_requests": int(stats.token_requests),
            "retries": int(stats.retries),
            "http_429": int(getattr(stats, "http_429", 0) or 0),
            "budget_limit": stats.rate_limit_limit,
            "budget_remaining": stats.rate_limit_remaining,
            "budget_used": used,
            "budget_allowed": allowed,
            "budget_reset_seconds": stats.rate_limit_reset,
            "rows": dict(sorted(self.rows.items())),
        }


class Sync:
    def __init__(self, settings: SyncSettings, out: Printer = print) -> None:
        self.settings = settings
        self.out = out
        self.summary = RunSummary(
            destination=settings.warehouse.destination, dataset=settings.warehouse.dataset
        )
        listed = settings.client.api_clients()
        if not listed:
            self.lanes = [Lane(None, settings.client, self._client(None, settings.client))]
        else:
            self.lanes = []
            for index, api_client in enumerate(listed):
                client_settings = settings.client.for_client(api_client)
                lane = Lane(
                    api_client.name,
                    client_settings,
                    self._client(api_client.name, client_settings),
                    api_client.organization_id,
                    pipeline_client=api_client.name if index else None,
                )
                self.lanes.append(lane)
        self.client = self.lanes[0].client
        self.pipeline: Pipeline | None = None
        self.ctx: RunContext | None = None
        # Several clients extract at once but load one at a time: DuckDB has one writer, and dlt's schema
        # migrations of the shared tables must not race. None: one client, loads as before.
        self._warehouse_turn: threading.Lock | None = threading.Lock() if len(self.lanes) > 1 else None
        self._summary_lock = threading.Lock()

    def _client(self, name: str | None, settings: ClientSettings) -> LivelloClient:
        # A Reporter keeps the operator informed during long waits.
        sleeper = getattr(self.out, "sleeper", None)
        if sleeper is None:
            return LivelloClient(settings)
        return LivelloClient(settings, sleep=sleeper(lambda: self._budget_of(name)))

    def _lane(self, name: str | None) -> Lane:
        return next(lane for lane in self.lanes if lane.name == name)

    # ----------------------------------------------------------------------------------------- phases
    def run(self) -> RunSummary:
        started = time.monotonic()
        pipeline = make_pipeline(self.settings.warehouse)
        self.pipeline = pipeline
        primary = self.lanes[0]
        primary.pipeline = pipeline
        try:
            with (
                pipeline_lock(pipeline.pipelines_dir, pipeline.pipeline_name),
                warehouse_lock(self.settings.warehouse),
                ExitStack() as extra_locks,
            ):
                for lane in self.lanes[1:]:  # one writer per client pipeline too
                    name = self.settings.warehouse.pipeline_name_for(lane.pipeline_client)
                    extra_locks.enter_context(pipeline_lock(pipeline.pipelines_dir, name))
                self.client.check_credentials()  # AuthenticationError propagates: nothing has been written
                self._set_deadline(primary)
                pipeline = self._finish_pending(pipeline)
                self.pipeline = pipeline
                primary.pipeline = pipeline
                pipeline.sync_destination()
                if len(self.lanes) == 1:
                    self._run_loads(primary, started)
                    self._finish_one(primary)
                else:
                    self._run_lanes(started)
        finally:
            self.summary.duration_seconds = time.monotonic() - started
            self.summary.record_client(primary.client.stats)
            if len(self.lanes) > 1:
                self.summary.requests = sum(lane.client.stats.requests for lane in self.lanes)
                self.summary.token_requests = sum(lane.client.stats.token_requests for lane in self.lanes)
                self.summary.retries = sum(lane.client.stats.retries for lane in self.lanes)
                self.summary.http_429 = sum(
                    int(getattr(lane.client.stats, "http_429", 0) or 0) for lane in self.lanes
                )
                self.summary.clients = {str(lane.name): lane.record() for lane in self.lanes}
            for lane in self.lanes:
                lane.client.close()
        return self.summary

    def _set_deadline(self, lane: Lane) -> None:
        if self.settings.run.max_duration is not None:
            lane.client.set_deadline(self.settings.run.max_duration.total_seconds())

    def _finish_one(self, lane: Lane) -> None:
        """The summary of a run with one client (what it always was)."""
        ctx = lane.ctx
        assert ctx is not None
        self.summary.skipped = dict(ctx.skipped)
        self.summary.failed = dict(ctx.failed)
        self.summary.drift = {name: drift.as_dict() for name, drift in ctx.drift.items() if drift}
        self.summary.warnings = list(ctx.warnings)
        self.summary.windows_done, self.summary.windows_total = lane.windows_done, lane.windows_total
        if self.summary.status == "running":
            # "partial": some resources stopped on broken answers; everything else was loaded
            self.summary.status = "partial" if ctx.failed else "complete"
        lane.status = self.summary.status

    # ------------------------------------------------------------------------------ several clients
    def _run_lanes(self, started: float) -> None:
        """Several clients: the primary reads the organization-wide listings and the fleet, the fleet is
        split, then every client reads its kiosks' fleet data concurrently (each paced on its own budget) and
        loads through its own pipeline, one load in the warehouse at a time. A client that fails is reported
        and leaves its state where it was; the others go on."""
        primary = self.lanes[0]
        snapshot_at = datetime.now(UTC)  # one inventory snapshot for the whole run, whichever client read it
        ctx = RunContext(primary.client, self.settings.source, snapshot_at=snapshot_at, windows={})
        primary.ctx = self.ctx = ctx
        try:
            kiosks = ctx.listing(FLEET.kiosks)
            organizations = ctx.listing(FLEET.organizations)
        except ScopeError as error:
            raise LivelloError(f"cannot split the fleet across the clients: {error}") from None
        listed = self.settings.client.api_clients()
        split = split_fleet(listed, kiosks, organizations)  # SettingError: an unknown organization
        for lane in self.lanes:
            assignment = split[str(lane.name)]
            lane.fleet, lane.kiosk_filter = assignment.kiosks, assignment.kiosk_filter
            where = f"organization {lane.organization_id}" if lane.organization_id is not None else "unscoped"
            how = "filtered by serial number" if lane.kiosk_filter is not None else "its whole scope"
            self.out(
                lane.label(f"{lane.settings.client_id} ({where}): {plural(len(lane.fleet), 'kiosk')}, {how}")
            )
        ctx.fleet, ctx.kiosk_filter = primary.fleet, primary.kiosk_filter
        with ThreadPoolExecutor(len(self.lanes) - 1, thread_name_prefix="livello-client") as pool:
            futures = [pool.submit(self._run_lane, lane, started, kiosks) for lane in self.lanes[1:]]
            self._run_lane(primary, started, kiosks)
            for future in futures:
                future.result()  # _run_lane catches what a client's run raises
        self._finish_lanes()

    def _run_lane(self, lane: Lane, started: float, kiosks: list[dict[str, Any]]) -> None:
        try:
            if not lane.primary:
                lane.client.check_credentials()
                self._set_deadline(lane)
                with self._turn():
                    pipeline = make_pipeline(self.settings.warehouse, lane.pipeline_client)
                    lane.pipeline = self._finish_pending(pipeline)
                    lane.pipeline.sync_destination()
                primary_ctx = self.lanes[0].ctx
                assert primary_ctx is not None  # made before any other client starts
                lane.ctx = RunContext(
                    lane.client,
                    self.settings.source,
                    snapshot_at=primary_ctx.snapshot_at,  # one inventory snapshot of the whole fleet
                    windows={},
                    fleet=lane.fleet,
                    kiosk_filter=lane.kiosk_filter,
                )
                lane.ctx.share_listing(FLEET.kiosks, kiosks)  # read once, by the primary
            self._run_loads(lane, started)
            ctx = lane.ctx
            assert ctx is not None
            if lane.status == "running":
                lane.status = "partial" if ctx.failed else "complete"
        except Exception as error:  # noqa: BLE001 - one client's failure must not stop the others
            lane.status, lane.error = "failed", describe_failure(error)[:500]
            if isinstance(root_livello_error(error), DeadlineExceededError):
                lane.status, lane.error = "paused", None
            else:
                log.error("client %s failed: %s", lane.name, lane.error)
                self.out(lane.label(f"FAILED: {lane.error}; its kiosks resume from their state next run"))

    def _finish_lanes(self) -> None:
        summary = self.summary
        for lane in self.lanes:
            ctx = lane.ctx
            summary.windows_done += lane.windows_done
            summary.windows_total += lane.windows_total
            if lane.status == "failed":
                summary.failed_clients[str(lane.name)] = lane.error or "failed"
                for endpoint in lane.endpoints or self._lane_endpoints(lane):
                    summary.failed.setdefault(endpoint.resource, f"client {lane.name}: {lane.error}")
            if ctx is None:
                continue
            for resource, reason in ctx.failed.items():
                summary.failed.setdefault(resource, f"client {lane.name}: {reason}")
            for resource, reason in ctx.skipped.items():
                shown = reason if lane.primary else f"client {lane.name}: {reason}"
                summary.skipped.setdefault(resource, shown)
            for name, drift in ctx.drift.items():
                if drift:
                    summary.drift.setdefault(name, drift.as_dict())
            summary.warnings += [lane.label(w) for w in ctx.warnings]
        if summary.status == "running":
            if all(lane.status == "failed" for lane in self.lanes):
                summary.status = "failed"
                summary.error = "every client failed: " + "; ".join(
                    f"{name}: {error}" for name, error in summary.failed_clients.items()
                )
            elif any(lane.status == "paused" for lane in self.lanes):
                summary.status = "paused"
            else:
                summary.status = "partial" if summary.failed else "complete"

    def _in_turn(self, counter: WarehouseCounter) -> WarehouseCounter:
        def count(start: datetime, end: datetime) -> int:
            with self._turn():
                return counter(start, end)

        return count

    def _turn(self) -> Any:
        """The warehouse to oneself: held while a client touches it (several clients; else nothing)."""
        return self._warehouse_turn if self._warehouse_turn is not None else nullcontext()

    def _lane_endpoints(self, lane: Lane) -> tuple[Endpoint, ...]:
        """The endpoints a lane reads: the primary everything selected, the others fleet data only; fleet data
        only when the lane has kiosks."""
        endpoints = self.settings.run.endpoints
        if not lane.primary:
            endpoints = tuple(e for e in endpoints if e.fleet)
        if lane.fleet is not None and not lane.fleet:
            endpoints = tuple(e for e in endpoints if not e.fleet)
        return endpoints

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
        self._count(None, pipeline)
        repeated = remove_repeated_rows(pipeline)
        if repeated:
            tables = ", ".join(f"{table} {rows:,}" for table, rows in sorted(repeated.items()))
            self.out(
                f"Removed rows the crashed run's package had loaded twice when dlt finished it ({tables}): "
                "each was the same extracted row (one _dlt_id) taken again."
            )
        return pipeline

    def _selected(self, lane: Lane, ctx: RunContext) -> tuple[Endpoint, ...]:
        """The lane's endpoints its client's scopes allow and configuration gives something to read; the
        rest are skipped (with a warning for a missing scope)."""
        granted = lane.client.scopes
        selected = []
        for endpoint in self._lane_endpoints(lane):
            missing = [s for s in endpoint.scopes if granted is not None and s not in granted]
            if missing:
                ctx.skip(endpoint.resource, missing[0])
                continue
            if endpoint.configured_by and not endpoint.configured(ctx.settings):
                continue  # nothing named to read (the API cannot list these)
            selected.append(endpoint)
        return tuple(selected)

    def _plan(
        self, lane: Lane, ctx: RunContext, pipeline: Pipeline, selected: tuple[Endpoint, ...]
    ) -> RunPlan:
        states = state.of_pipeline(pipeline)
        for name in self.settings.run.refresh:  # read again from the start: planned as a first run
            states.pop(name, None)
        run, lookback = self.settings.run, ctx.settings.lookback_period
        now = datetime.now(UTC)
        plan = RunPlan()
        incremental = [e for e in selected if e.incremental is not None]
        for endpoint in (e for e in incremental if e.incremental and e.incremental.sizing == "rows"):
            resource_state = states.get(endpoint.resource, state.ResourceState())
            progress = resource_state.progress
            try:
                counter = self._lookback_counter(ctx, pipeline, endpoint, progress)
                reach = (
                    open_records_reach(endpoint, resource_state, lookback, counter, now)
                    if run.since is None
                    else None
                )
                if reach is not None:  # the records held open are re-read with the new rows, in one listing
                    counter = None
                resource_plan, probe_count = plan_by_rows(
                    ctx,
                    endpoint,
                    progress,
                    since=run.since,
                    # A verified lookback is planned separately: the listing starts at the cursor.
                    lookback=reach or (timedelta(0) if counter is not None else lookback),
                    window_rows=self.settings.pipeline.backfill_window_rows,
                    now=now,
                )
                if reach is not None:
                    resource_plan.note = (
                        f"reaches back {human(reach.total_seconds())} to the records held open; re-read with "
                        "the new rows"
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
        first_data = [p.data_start for p in plan.windowed.values() if p.data_start is not None]
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
        warehouse cannot be counted). A client of several counts the warehouse's rows of its own kiosks
        only (the API lists it no others); one whose kiosks take several filtered requests re-reads the
        lookback, as the position proof needs one listing."""
        lookback = ctx.settings.lookback_period
        if (
            not self.settings.pipeline.verify_lookback
            or endpoint.incremental is None
            or not endpoint.incremental.verify_lookback
            or self.settings.run.since is not None
            or progress.cursor is None
            or progress.in_backfill
            or lookback <= timedelta(0)
            or (ctx.fleet is not None and (not endpoint.kiosk_field or len(ctx.kiosk_queries(endpoint)) != 1))
        ):
            return None
        cursor = progress.cursor
        counter = warehouse_counter(pipeline, endpoint, ctx.fleet)
        if self._warehouse_turn is not None:  # several clients: counted between loads, one at a time
            counter = self._in_turn(counter)
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

    def _announce(self, lane: Lane, plan: RunPlan) -> None:
        for name, p in plan.windowed.items():
            parts = [plural(len(p.windows), "window")]
            if p.expected_rows is not None:
                parts.append(f"~{p.expected_rows:,} rows")
            parts.append(f"~{plural(p.expected_requests, 'request')}")
            start = p.windows[0].start
            where = f"from {start:%Y-%m-%d %H:%M} UTC" if start is not None else "from the oldest row"
            self._event(
                "plan", lane.label(f"  {name:<13} {p.mode:<11} {where}: {', '.join(parts)}"), resource=name
            )
            if p.note:
                self._event("plan", lane.label(f"  {'':<13} {p.note}"), resource=name)
        total = plan.expected_requests
        line = f"Expecting ~{plural(total, 'API request')} in {plural(max(plan.load_count, 1), 'load')}"
        allowed = lane.client.allowed_requests_per_window()
        seconds = lane.client.estimate_seconds(total)
        if allowed is not None and seconds is not None:
            per_window, window_seconds = allowed
            rate = f"{per_window * 3600 / window_seconds:,.0f} requests/hour"
            line += f"; at the allowed {rate}, " + (
                "well within the budget" if seconds < 1 else f"at least {human(seconds)}"
            )
        self._event("plan", lane.label(line + "."), requests=total)

    def _budget(self) -> tuple[int, int] | None:
        """(requests used, requests allowed) of the primary's current rate-limit window, when a response
        said."""
        return self._budget_of(self.lanes[0].name)

    def _budget_of(self, name: str | None) -> tuple[int, int] | None:
        lane = self._lane(name)
        stats = lane.client.stats
        if stats.rate_limit_limit is None or stats.rate_limit_remaining is None:
            return None
        allowed = max(1, math.floor(lane.settings.budget_share * stats.rate_limit_limit))
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

    def _run_loads(self, lane: Lane, started: float) -> None:
        pipeline = lane.pipeline
        assert pipeline is not None
        if lane.ctx is None:
            now = datetime.now(UTC)
            lane.ctx = RunContext(lane.client, self.settings.source, snapshot_at=now, windows={})
            self.ctx = lane.ctx
        ctx = lane.ctx
        selected = self._selected(lane, ctx)
        lane.endpoints = selected
        if lane.primary:
            self.summary.resources = [e.resource for e in selected]
        try:
            plan = self._plan(lane, ctx, pipeline, selected)
        except ScopeError as error:  # a shared listing (kiosks, organizations) forbidden while planning
            raise LivelloError(f"cannot plan the run: {error}") from None
        self._announce(lane, plan)
        loads = max(plan.load_count, 1)
        lane.windows_total = loads
        for index in range(loads):
            if index > 0 and self._out_of_time(started):
                lane.status = self.summary.status = "paused"
                self.out(
                    lane.label(
                        f"--max-duration reached after {index} of {loads} load(s); the next run resumes at "
                        "the first unfinished window."
                    )
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
            requests_before = lane.client.stats.requests
            ctx.on_rows = self._load_progress(lane, index + 1, loads)
            ctx.loading = frozenset(names)
            try:
                counts = self._load(lane, ctx, names, first=index == 0)
            except Exception as error:
                if isinstance(root_livello_error(error), DeadlineExceededError):
                    lane.status = self.summary.status = "paused"
                    self.out(
                        lane.label(
                            f"--max-duration reached during load {index + 1} of {loads}; that window will be "
                            "read again by the next run."
                        )
                    )
                    break
                raise
            clear = getattr(self.out, "clear_status", None)
            if clear is not None:
                clear()
            lane.windows_done = index + 1
            if self.settings.run.progress:
                windows = describe_windows(ctx.windows)
                rows, requests = sum(counts.values()), lane.client.stats.requests - requests_before
                self._event(
                    "load",
                    lane.label(
                        f"[{index + 1}/{loads}] {plural(rows, 'row')}, {plural(requests, 'request')}, "
                        f"{human(time.monotonic() - load_started)}  ({windows})"
                    ),
                    load=index + 1,
                    loads=loads,
                    rows=rows,
                    requests=requests,
                )

    def _load(self, lane: Lane, ctx: RunContext, names: list[str], *, first: bool) -> dict[str, int]:
        """One load of `names`; the rows extracted per table. In the first, resources asked to be refreshed
        go alone and first, with dlt's refresh="drop_resources": their tables and state are replaced only if
        their extract and normalize succeed."""
        pipeline = lane.pipeline
        assert pipeline is not None
        counts: dict[str, int] = {}
        refreshed = [n for n in names if first and n in self.settings.run.refresh]
        if refreshed:
            from transforms.runner import drop_staging_views

            drop_staging_views(pipeline)
            counts = self._run(lane, livello_source(ctx).with_resources(*refreshed), "drop_resources")
            self.out(
                lane.label(
                    f"Refreshed {', '.join(refreshed)}: read again from the start; the tables and state "
                    "replaced, the other resources left as they were."
                )
            )
            names = [n for n in names if n not in refreshed]
            if not names:
                return counts
        for table, rows in self._run(lane, livello_source(ctx).with_resources(*names), None).items():
            counts[table] = counts.get(table, 0) + rows
        return counts

    def _run(self, lane: Lane, source: Any, refresh: str | None) -> dict[str, int]:
        """Extract, normalize and load `source` through the lane's pipeline; the rows extracted per table.
        Several clients extract concurrently and take turns for normalize and load."""
        pipeline = lane.pipeline
        assert pipeline is not None
        fmt = self.settings.warehouse.loader_file_format
        options: dict[str, Any] = {"refresh": refresh} if refresh else {}
        if self._warehouse_turn is None:
            pipeline.run(source, loader_file_format=fmt, **options)
            return self._count(lane, pipeline)
        pipeline.extract(source, loader_file_format=fmt, **options)
        counts = self._count(lane, pipeline)  # the extract's trace: normalize and load start their own
        with self._warehouse_turn:
            pipeline.normalize()
            pipeline.load()
        return counts

    def _load_progress(self, lane: Lane, number: int, loads: int) -> Callable[[str, int], None]:
        """The live line of one load: which resource, rows so far, requests, time."""
        started, requests_before, rows = time.monotonic(), lane.client.stats.requests, [0]

        def progress(resource: str, batch_rows: int) -> None:
            rows[0] += batch_rows
            requests = lane.client.stats.requests - requests_before
            self._status(
                lane.label(
                    f"load {number}/{loads}: {resource}, {rows[0]:,} rows, {plural(requests, 'request')}, "
                    f"{human(time.monotonic() - started)}"
                )
            )

        return progress

    def _out_of_time(self, started: float) -> bool:
        limit = self.settings.run.max_duration
        return limit is not None and time.monotonic() - started >= limit.total_seconds()

    def _count(self, lane: Lane | None, pipeline: Pipeline) -> dict[str, int]:
        counts = _rows_extracted(pipeline)
        with self._summary_lock:
            for table, rows in counts.items():
                self.summary.rows[table] = self.summary.rows.get(table, 0) + rows
                if lane is not None:
                    lane.rows[table] = lane.rows.get(table, 0) + rows
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
            "clients": {"data_type": "text", "nullable": True},
        },
        write_disposition="append",
        loader_file_format=loader_file_format,
    )


def describe_windows(windows: dict[str, Window]) -> str:
    """The windows of one load in a few words: one window for all ('transactions, refills 2026-11-25 12:00 ..
    now'), else their count and span, so the progress line stays short however many resources load."""
    if not windows:
        return "snapshots"
    described = {short_window(w) for w in windows.values()}
    if len(described) == 1:
        return f"{', '.join(windows)} {described.pop()}"
    starts = [w.start for w in windows.values()]
    ends = [w.end for w in windows.values()]
    span = Window(
        None if None in starts else min(s for s in starts if s is not None),
        None if None in ends else max(e for e in ends if e is not None),
    )
    return f"{plural(len(windows), 'resource')}, {short_window(span)}"


def short_window(window: Window) -> str:
    """'2026-11-25 12:00 .. 21:00', '2026-11-25 12:00 .. 11-26 06:00', '2026-11-25 12:00 .. now'."""
    if window.start is None:
        return "all .. now"
    start = f"{window.start:%Y-%m-%d %H:%M}"
    if window.end is None:
        return f"{start} .. now"
    same_day = window.end.date() == window.start.date()
    return f"{start} .. {window.end:%H:%M}" if same_day else f"{start} .. {window.end:%m-%d %H:%M}"
