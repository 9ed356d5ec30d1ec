"""Backfill and incremental planning: which time windows each incremental endpoint reads in this run.

Per endpoint the start is, in order of precedence: `--since` (an explicit re-backfill), the first unfinished
window of an interrupted backfill (no lookback: finished windows are never fetched again), the cursor minus
the lookback (a normal incremental run), or, on a first run, the oldest row the API has.

How a range becomes windows is the endpoint's declared `sizing`. "rows": windows sized from the data's
density, measured with two probes (oldest and newest row plus `total`), so each holds about
`window_rows` rows; a range of at most `window_rows` rows is one open window instead, read from the probe's
own first page on. "span": windows of the longest span the contract allows one request, starting where the
row-sized endpoints' history starts. Each window is one dlt load, which commits its rows and the endpoint's
position together. The newest window is left open (no end date) so rows created while the run is under way,
or stamped by a server clock ahead of ours, are never cut off."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sources.livello import probes, readers
from sources.livello.context import PAGE_SIZE, RunContext, Window, floor_hour, split, to_utc
from sources.livello.endpoints import Endpoint
from sources.livello.state import Progress

MIN_WINDOW = timedelta(hours=1)
MAX_WINDOW = timedelta(days=7)
# Without a known density, a range no longer than this is read as one open window without probing.
SINGLE_WINDOW_RANGE = timedelta(days=7)


@dataclass
class ResourcePlan:
    resource: str
    mode: str  # "initial", "since", "resume", "incremental"
    windows: list[Window]
    expected_rows: int | None = None
    expected_requests: int = 0
    rows_per_hour: float | None = None
    data_start: datetime | None = None  # where the rows this plan reads start (its first window's start)
    note: str | None = None  # e.g. what the count-verified lookback found


@dataclass
class RunPlan:
    windowed: dict[str, ResourcePlan] = field(default_factory=dict)
    snapshot_requests: int = 0
    probe_requests: int = 0

    @property
    def load_count(self) -> int:
        return max((len(p.windows) for p in self.windowed.values()), default=0)

    @property
    def expected_requests(self) -> int:
        return self.snapshot_requests + sum(p.expected_requests for p in self.windowed.values())

    def windows_for_load(self, index: int) -> dict[str, Window]:
        return {name: p.windows[index] for name, p in self.windowed.items() if index < len(p.windows)}


def start_of(progress: Progress, since: datetime | None, lookback: timedelta) -> tuple[str, datetime | None]:
    if since is not None:
        return "since", since
    if progress.backfill_next is not None:
        return "resume", progress.backfill_next
    if progress.cursor is not None:
        return "incremental", progress.cursor - lookback
    return "initial", None


def plan_by_rows(
    ctx: RunContext,
    endpoint: Endpoint,
    progress: Progress,
    *,
    since: datetime | None,
    lookback: timedelta,
    window_rows: int,
    now: datetime,
) -> tuple[ResourcePlan, int]:
    """Plan of a cursor-ordered listing and the probe requests it cost."""
    resource = endpoint.resource
    mode, start = start_of(progress, since, lookback)
    known_rate = progress.rows_per_hour
    # A normal incremental run is one open window; the probes that size windows are spent only when the
    # known density predicts more rows than two windows hold, or when no density is known for a long range.
    if (
        mode == "incremental"
        and start is not None
        and (known_rate is not None or now - start <= SINGLE_WINDOW_RANGE)
    ):
        hours = max(1.0, (now - start).total_seconds() / 3600)
        rows = int(known_rate * hours) if known_rate is not None else None
        if rows is None or rows <= 2 * window_rows:  # a normal nightly run: one window, no probes
            requests = 1 + (rows // PAGE_SIZE if rows else 0)
            plan = ResourcePlan(resource, mode, [Window(start, None)], rows, requests, known_rate, start)
            return plan, 0

    kiosks = ctx.kiosk_queries(endpoint)  # several API clients: this client's kiosks only
    head = probes.first_pages(ctx.client, endpoint, start, kiosks=kiosks)
    total, oldest = head.total, head.moment
    if oldest is None:
        first = start
    else:
        first = floor_hour(oldest) if start is None else max(start, floor_hour(oldest))
    if total <= window_rows or oldest is None:
        # One window holds it all: the open window from the same start, whose first pages the probe read.
        head.reuse(ctx.client, endpoint)
        pages = sum(max(1, math.ceil(int(b.get("total") or 0) / PAGE_SIZE)) for _, b in head.answers)
        rate = total / max(1.0, (now - oldest).total_seconds() / 3600) if oldest and total > 1 else known_rate
        windows = [Window(start, None)]
        return ResourcePlan(resource, mode, windows, total, pages - len(kiosks), rate, first), len(kiosks)
    _, newest = probes.edge(ctx.client, endpoint, start, newest=True, kiosks=kiosks)
    newest = newest or oldest
    span_hours = max(1.0, (newest - first).total_seconds() / 3600)
    rate = total / span_hours
    size_hours = min(
        max(window_rows / rate, MIN_WINDOW.total_seconds() / 3600), MAX_WINDOW.total_seconds() / 3600
    )
    size = timedelta(hours=max(1, math.floor(size_hours)))
    windows = split(first, newest, size)
    per_window = rate * size.total_seconds() / 3600
    requests = sum(max(1, math.ceil(per_window / PAGE_SIZE)) for _ in windows)
    return ResourcePlan(resource, mode, windows, total, requests, rate, first), 2 * len(kiosks)


def plan_by_span(
    ctx: RunContext,
    endpoint: Endpoint,
    progress: Progress,
    *,
    since: datetime | None,
    lookback: timedelta,
    first_data: datetime | None,
    now: datetime,
) -> ResourcePlan:
    """Windows of the contract's longest span; one request per fan-out row and window."""
    assert endpoint.incremental is not None and endpoint.fan_out is not None
    mode, start = start_of(progress, since, lookback)
    fan_out_rows = ctx.fan_out_rows(endpoint)
    if start is None:  # first run: from the oldest data any other endpoint has, else the kiosks' creation
        created = [r["createdAt"] for r in fan_out_rows if r.get("createdAt")]
        start = first_data or (min(to_utc(c) for c in created) if created else now - lookback)
    span = endpoint.incremental.span(ctx.settings)
    assert span is not None
    windows = split(floor_hour(start), now, span)
    requests = sum(
        1 for w in windows for row in fan_out_rows if w.end is None or readers.existed_before(row, w.end)
    )
    return ResourcePlan(endpoint.resource, mode, windows, None, requests)


def snapshot_requests(ctx: RunContext, endpoints: Iterable[Endpoint]) -> int:
    """Requests of the per-run listings and snapshots (exact for fan-outs, one page assumed for listings)."""
    count = 0
    for endpoint in endpoints:
        if endpoint.incremental is not None and not endpoint.each_run:
            continue
        if endpoint.shared:
            continue  # already fetched while planning
        if endpoint.configured_by:
            count += len(endpoint.configured(ctx.settings))
        elif endpoint.fan_out is not None:
            count += len(ctx.fan_out_rows(endpoint))
        else:
            count += 1
    return count
