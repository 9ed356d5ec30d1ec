"""Backfill and incremental planning: which time windows each incremental resource reads in this run.

Per resource the start is, in order of precedence: `--since` (an explicit re-backfill), the first unfinished
window of an interrupted backfill (no lookback: finished windows are never fetched again), the cursor minus
the lookback (a normal incremental run), or, on a first run, the oldest row the API has (one probe with
limit=1).

A long range is split into windows sized from the data's density, measured with two limit=1 probes (oldest and
newest row plus `total`), so each window holds about `window_rows` rows; each window is one dlt load, which
commits its rows and the resource's position together. The newest window is left open (no end date) so rows
created while the run is under way, or stamped by a server clock ahead of ours, are never cut off."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sources.livello.endpoints import BY_NAME, TEMPERATURE_MAX_WINDOW_HOURS
from sources.livello.resources import PAGE_SIZE, RunContext, Window, api_time, to_utc

MIN_WINDOW = timedelta(hours=1)
MAX_WINDOW = timedelta(days=7)
# A range no longer than this is read as one open window without probing (a normal nightly run).
SINGLE_WINDOW_RANGE = timedelta(days=7)


@dataclass
class ResourcePlan:
    resource: str
    mode: str  # "initial", "since", "resume", "incremental"
    windows: list[Window]
    expected_rows: int | None = None
    expected_requests: int = 0
    rows_per_hour: float | None = None
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


def floor_hour(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def split(start: datetime, end: datetime, size: timedelta) -> list[Window]:
    """Closed windows of `size` from `start` until the one containing `end`, which is left open."""
    windows: list[Window] = []
    cursor = start
    while cursor + size <= end:
        windows.append(Window(cursor, cursor + size))
        cursor += size
    windows.append(Window(cursor, None))
    return windows


def _probe(
    ctx: RunContext, resource: str, start: datetime | None, ascending: bool
) -> tuple[int, datetime | None]:
    """(total rows from `start` on, cursor value of the oldest/newest of them) with one limit=1 request."""
    endpoint = BY_NAME[resource]
    assert endpoint.window is not None and endpoint.cursor is not None
    if resource == "alerts":
        params: dict[str, Any] = {"orderBy": "startDate", "orderDirection": "ASC" if ascending else "DESC"}
    else:
        params = {"sort": 1 if ascending else -1}
    if start is not None:
        params[endpoint.window.start_param] = api_time(start)
    params[endpoint.paging] = 0  # type: ignore[index]
    params["limit"] = 1
    body = ctx.client.get(endpoint.path, params)
    rows = body.get("data") or []
    total = int(body.get("total") or 0)
    return total, (to_utc(rows[0][endpoint.cursor]) if rows else None)


def _start(state: dict[str, Any], since: datetime | None, lookback: timedelta) -> tuple[str, datetime | None]:
    if since is not None:
        return "since", since
    backfill = state.get("backfill")
    if backfill and backfill.get("next"):
        return "resume", to_utc(backfill["next"])
    if state.get("cursor"):
        return "incremental", to_utc(state["cursor"]) - lookback
    return "initial", None


def plan_listing(
    ctx: RunContext,
    resource: str,
    state: dict[str, Any],
    *,
    since: datetime | None,
    lookback: timedelta,
    window_rows: int,
    now: datetime,
) -> tuple[ResourcePlan, int]:
    """Plan of a cursor-ordered listing (transactions, refills, alerts) and the probe requests it cost."""
    mode, start = _start(state, since, lookback)
    known_rate = state.get("rows_per_hour")
    if mode == "incremental" and start is not None and now - start <= SINGLE_WINDOW_RANGE:
        hours = max(1.0, (now - start).total_seconds() / 3600)
        rows = int(known_rate * hours) if known_rate is not None else None
        if rows is None or rows <= 2 * window_rows:  # a normal nightly run: one window, no probes
            requests = 1 + (rows // PAGE_SIZE if rows else 0)
            return ResourcePlan(resource, mode, [Window(start, None)], rows, requests, known_rate), 0

    total, oldest = _probe(ctx, resource, start, ascending=True)
    if total == 0 or oldest is None:
        first = start if start is not None else now - lookback
        return ResourcePlan(resource, mode, [Window(first, None)], 0, 1, known_rate), 1
    _, newest = _probe(ctx, resource, start, ascending=False)
    newest = newest or oldest
    first = floor_hour(oldest) if start is None else max(start, floor_hour(oldest))
    span_hours = max(1.0, (newest - first).total_seconds() / 3600)
    rate = total / span_hours
    size_hours = min(
        max(window_rows / rate, MIN_WINDOW.total_seconds() / 3600), MAX_WINDOW.total_seconds() / 3600
    )
    size = timedelta(hours=max(1, math.floor(size_hours)))
    windows = split(first, newest, size)
    per_window = rate * size.total_seconds() / 3600
    requests = sum(max(1, math.ceil(per_window / PAGE_SIZE)) for _ in windows)
    return ResourcePlan(resource, mode, windows, total, requests, rate), 2


def plan_temperature(
    ctx: RunContext,
    state: dict[str, Any],
    *,
    since: datetime | None,
    lookback: timedelta,
    first_data: datetime | None,
    data_end: datetime,
    granularity: str,
    kiosk_count: int,
) -> ResourcePlan:
    mode, start = _start(state, since, lookback)
    if start is None:  # first run: from the oldest data any other resource has, else the kiosks' creation
        created = [to_utc(k["createdAt"]) for k in ctx.kiosks() if k.get("createdAt")]
        start = first_data or (min(created) if created else data_end - lookback)
    start = floor_hour(start)
    size = timedelta(hours=TEMPERATURE_MAX_WINDOW_HOURS[granularity])
    windows = split(start, data_end, size)
    return ResourcePlan("temperature", mode, windows, None, kiosk_count * len(windows))


def snapshot_requests(ctx: RunContext, resources: tuple[str, ...], promocodes: int) -> int:
    """Requests of the per-run listings and snapshots (exact for fan-outs, one page assumed for listings)."""
    per_kiosk = len(ctx.kiosks()) if {"kiosk_details", "kiosk_inventory"} & set(resources) else 0
    per_org = len(ctx.organizations()) if {"vat_rates", "organization_product_lines"} & set(resources) else 0
    count = 0
    for name in resources:
        endpoint = BY_NAME[name]
        if name == "promocodes":
            count += promocodes
        elif name == "temperature":
            continue
        elif endpoint.fan_out == "kiosk":
            count += per_kiosk
        elif endpoint.fan_out == "organization":
            count += per_org
        elif name in ("kiosks", "organizations"):
            continue  # already fetched while planning
        else:
            count += 1
    return count
