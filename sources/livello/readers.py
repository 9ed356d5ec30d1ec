"""How the source reads an endpoint: the generic readers the endpoint table uses for most rows, and the small
special readers beside them. A reader takes the run's context and its endpoint row and yields batches of rows
for dlt; everything that differs between endpoints comes from the row's declared fields."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sources.livello import state
from sources.livello.context import PAGE_SIZE, RunContext, Window, api_time, to_utc
from sources.livello.errors import NotFoundError
from sources.livello.rows import DELETED_FLAG, Dedup, key_fields, prepare, row_key

if TYPE_CHECKING:
    from sources.livello.endpoints import Endpoint

Batches = Iterator[list[dict[str, Any]]]
_PLACEHOLDER = re.compile(r"\{[^}]+\}")


@dataclass(frozen=True)
class Call:
    """One request of an endpoint: its path and query, and the columns its rows gain."""

    path: str
    params: dict[str, Any]
    extra: dict[str, Any]
    row: dict[str, Any] | None = None  # the fan-out listing's row the call is made for


def calls(ctx: RunContext, endpoint: Endpoint, params: dict[str, Any] | None = None) -> Iterator[Call]:
    """The requests of one reading: one, or one per row of the fan-out's listing."""
    path = endpoint.path
    for placeholder, setting in endpoint.path_settings.items():
        path = path.replace("{" + placeholder + "}", str(getattr(ctx.settings, setting)))
    query = {**endpoint.params, **(params or {})}
    fan_out = endpoint.fan_out
    if fan_out is None:
        yield Call(path, query, {})
        return
    for row in ctx.fan_out_rows(endpoint):
        key = row[fan_out.key]
        extra = {fan_out.column: key} if fan_out.column else {}
        placeholder = "{" + fan_out.into + "}"
        if placeholder in path:
            yield Call(path.replace(placeholder, str(key)), query, extra, row)
        else:
            yield Call(path, {**query, fan_out.into: key}, extra, row)


def _pages(ctx: RunContext, endpoint: Endpoint, call: Call) -> Batches:
    if endpoint.paging:
        yield from ctx.client.paginate(
            call.path, endpoint.paging, call.params, page_size=PAGE_SIZE, key=row_key(endpoint)
        )
        return
    body = ctx.get(endpoint, call.path, call.params or None)
    if isinstance(body, list):
        yield body
    elif body is not None:
        yield [body]


def _each_call(
    ctx: RunContext,
    endpoint: Endpoint,
    params: dict[str, Any] | None = None,
    keep: Callable[[Call], bool] | None = None,
) -> Iterator[tuple[Call, Batches]]:
    """Every call (that `keep` keeps) with its pages; a fanned-out call whose target vanished since the
    listing is skipped."""
    for call in calls(ctx, endpoint, params):
        if keep is not None and not keep(call):
            continue
        pages = _pages(ctx, endpoint, call)
        try:
            first = next(pages, None)
        except NotFoundError:
            if endpoint.fan_out is None:
                raise
            ctx.warn(f"{endpoint.resource}: {call.path} no longer exists; skipped")
            continue
        if first is not None:
            yield call, _chain(first, pages)


def _chain(first: list[dict[str, Any]], rest: Batches) -> Batches:
    yield first
    yield from rest


# -- generic readers -----------------------------------------------------------------------------------------
def read_listing(ctx: RunContext, endpoint: Endpoint) -> Batches:
    """A full listing each run: paged, a single response, or one call per row of a fan-out."""
    dedup = Dedup.of(endpoint)
    pseudonymizer = ctx.pseudonymizer if endpoint.pii else None
    if endpoint.shared:  # read once per run for planning and fan-outs: no second request
        yield [prepare(endpoint, r, None, pseudonymizer) for r in ctx.listing(endpoint) if dedup.fresh(r)]
        return
    for call, pages in _each_call(ctx, endpoint):
        for page in pages:
            rows = (prepare(endpoint, r, call.extra, pseudonymizer) for r in page)
            batch = [r for r in rows if dedup.fresh(r)]
            if batch:
                yield batch


def read_windows(ctx: RunContext, endpoint: Endpoint, dedup: Dedup | None = None) -> Batches:
    """Rows of an incremental listing over this load's windows, oldest first, advancing the resource's
    position in its state (committed with the rows)."""
    incremental = endpoint.incremental
    assert incremental is not None and incremental.order is not None and endpoint.paging is not None
    resource = state.live()
    dedup = dedup or Dedup.of(endpoint)
    for window in list(ctx.windows_to_read(endpoint, resource.progress)):
        newest: datetime | None = None
        oldest: datetime | None = None  # of the last range
        count = 0  # rows of the last (newest) range: the density estimate must not count skipped history
        for part in window.ranges():
            count, oldest = 0, None
            # One reading per group of this client's kiosks (one unfiltered reading without several clients).
            for kiosks in ctx.kiosk_queries(endpoint):
                params = {
                    **incremental.order.ascending,
                    **part.params(incremental.start_param, incremental.end_param),
                    **kiosks,
                }
                start = max(part.held - 1, 0)
                pages = ctx.client.paginate(
                    endpoint.path,
                    endpoint.paging,
                    params,
                    page_size=PAGE_SIZE,
                    key=row_key(endpoint),
                    start=start,
                )
                for number, page in enumerate(pages):
                    batch = []
                    for row in page[1:] if number == 0 and part.held else page:
                        # A row already yielded in this load (an open alert re-read first) still moves the
                        # cursor.
                        moment = to_utc(row[incremental.cursor])
                        newest = moment if newest is None or moment > newest else newest
                        oldest = moment if oldest is None or moment < oldest else oldest
                        if dedup.fresh(row):
                            batch.append(prepare(endpoint, row))
                    count += len(batch)
                    if batch:
                        yield batch
        rate = None
        # From the range's start, or from its oldest row when it starts at the oldest row the API has.
        density_start = window.verified_until if window.held else window.ranges()[-1].start or oldest
        if newest is not None and density_start is not None and count > 1:
            rate = count / max(1.0, (newest - density_start).total_seconds() / 3600)
        resource.advance(newest=newest, next_window=window.end, rows_per_hour=rate)


def read_changes(ctx: RunContext, endpoint: Endpoint) -> Batches:
    """A listing with a change time (`Changes`): most recently changed first down to the last run's newest
    change, or in full on the first run and every `full_listing_days`; that full reading replaces the table,
    retiring the records no longer listed. An answer not in the promised order (a server ignoring the sort) is
    not trusted to stop early: the run reads the listing in full instead, merged (rows of the broken reading
    are in the same load), and the next scheduled full listing retires what is gone."""
    changes = endpoint.changes
    assert changes is not None and endpoint.paging is not None
    resource = state.live()
    since, last_full = resource.progress.cursor, resource.full_listing_at
    full = (
        since is None
        or last_full is None
        or ctx.snapshot_at - last_full >= timedelta(days=ctx.settings.full_listing_days)
    )
    dedup = Dedup.of(endpoint)
    newest: list[datetime] = [since] if since is not None else []
    if full:
        ctx.replacing.add(endpoint.resource)
        yield from _read_changed(ctx, endpoint, dedup, None, newest)
        resource.set_full_listing_at(ctx.snapshot_at)
    else:
        assert since is not None
        try:
            yield from _read_changed(ctx, endpoint, dedup, since - changes.margin, newest)
        except _OutOfOrder as problem:
            ctx.warn(f"{endpoint.resource}: {problem}; read in full instead")
            yield from _read_changed(ctx, endpoint, dedup, None, newest)
    resource.advance(newest=max(newest, default=None), next_window=None, rows_per_hour=None)


class _OutOfOrder(Exception):
    """A listing asked for most recently changed first answered in another order."""


def _read_changed(
    ctx: RunContext, endpoint: Endpoint, dedup: Dedup, stop_before: datetime | None, newest: list[datetime]
) -> Batches:
    """The listing's rows (newest first down to `stop_before`, or all when None), adding the newest change
    time seen to `newest`."""
    changes = endpoint.changes
    assert changes is not None and endpoint.paging is not None
    pseudonymizer = ctx.pseudonymizer if endpoint.pii else None
    params = dict(changes.newest_first) if stop_before is not None else {}
    previous: datetime | None = None
    pages = ctx.client.paginate(
        endpoint.path, endpoint.paging, params, page_size=PAGE_SIZE, key=row_key(endpoint)
    )
    for page in pages:
        moments = [_change_time(row, changes.cursor) for row in page]
        if stop_before is not None:
            # The whole page must be in order before any row of it decides where the reading stops.
            for row, moment in zip(page, moments, strict=True):
                if moment is None or (previous is not None and moment > previous):
                    raise _OutOfOrder(
                        f"{endpoint.path} is not sorted by {changes.cursor} "
                        f"({row.get(changes.cursor)!r} after {previous and api_time(previous)})"
                    )
                previous = moment
        batch, done = [], False
        for row, moment in zip(page, moments, strict=True):
            if stop_before is not None and moment is not None and moment < stop_before:
                done = True
                break
            if moment is not None:
                newest.append(moment)
            if dedup.fresh(row):
                batch.append(prepare(endpoint, row, None, pseudonymizer))
        if batch:
            yield batch
        if done:
            return


def _change_time(row: dict[str, Any], field: str) -> datetime | None:
    value = row.get(field)
    try:
        return to_utc(value) if isinstance(value, str) and value else None
    except ValueError:
        return None


# -- special readers -----------------------------------------------------------------------------------------
def read_inventory(ctx: RunContext, endpoint: Endpoint) -> Batches:
    """One snapshot per run: every load cell of every kiosk, stamped with the run's single `snapshot_at`.

    The cells come with the kiosk detail (`embedded_in`: the same LoadCell schema as the inventory path), so
    the run that reads the details reads them once; the inventory path answers where a detail has none."""
    for call in calls(ctx, endpoint):
        cells = _embedded_cells(ctx, endpoint, call)
        if cells is None:
            try:
                cells = ctx.get(endpoint, call.path)
            except NotFoundError:
                ctx.warn(f"{endpoint.resource}: {call.path} no longer exists; skipped")
                continue
        extra = {**call.extra, "snapshot_at": ctx.snapshot_at}
        # An empty cell has productLineData null: leave the key out rather than create an untyped column.
        yield [
            prepare(endpoint, {k: v for k, v in c.items() if v is not None or k != "productLineData"}, extra)
            for c in cells or ()
        ]


def _embedded_cells(ctx: RunContext, endpoint: Endpoint, call: Call) -> list[dict[str, Any]] | None:
    """The cells embedded in the response of `endpoint.embedded_in` for the call's kiosk (None: not there)."""
    if endpoint.embedded_in is None or call.row is None or endpoint.fan_out is None:
        return None
    source = endpoint.embedded_in
    assert source.fan_out is not None
    path = source.path.replace("{" + source.fan_out.into + "}", str(call.row[source.fan_out.key]))
    try:
        node: Any = ctx.get(source, path)
    except NotFoundError:
        return None
    for key in endpoint.embedded_path:
        node = node.get(key) if isinstance(node, dict) else None
    return node if isinstance(node, list) else None


def read_product_lines(ctx: RunContext, endpoint: Endpoint) -> Batches:
    """Product lines (current prices) per organization; lines no longer listed are deleted.

    An organization's listing includes its sub-organizations' kiosks ("all data is scoped to your
    organization and its sub-organizations"), so one line comes back under several organizations; it is kept
    once, attributed to the organization that owns its kiosk (from the kiosk list), whatever the order of
    reading. The contract does not promise that for this path, so the saving is proven before it is used:
    a full reading (every organization, as the first run and then every `full_listing_days` make) checks
    that the top organizations' listings hold every line, identical; while that holds, a run reads only the
    top organizations (one request instead of one per organization). A line missing from the tops' listings
    is never deleted on their word alone: the run asks the listing of the organization the line belonged to
    (kept in state per line), and when that one still has it (or its organization is unknown) reads every
    organization and proves again."""
    from sources.livello.endpoints import KIOSKS  # the kiosk list says who owns a line's kiosk
    from sources.livello.errors import ScopeError

    try:
        owners = {
            k["serialNumber"]: int(k["orgId"])
            for k in ctx.listing(KIOSKS)
            if str(k.get("orgId", "")).isdigit()
        }
    except ScopeError:
        owners = {}
    assert endpoint.fan_out is not None and endpoint.fan_out.column is not None
    column, key = endpoint.fan_out.column, endpoint.fan_out.key
    organizations = ctx.listing(endpoint.fan_out.over)
    known = {row[key] for row in organizations}
    tops = tuple(sorted(row[key] for row in organizations if row.get("parentOrg") not in known))
    resource = state.live()
    proof = resource.coverage
    shortcut = not (
        not owners
        or proof is None
        or not proof.proven
        or proof.tops != tops
        or ctx.snapshot_at - proof.checked_at >= timedelta(days=ctx.settings.full_listing_days)
    )
    by_org: dict[Any, dict[str, str]] = {}  # organization -> line id -> the line as listed (for the proof)
    attributed: dict[str, Any] = {}  # line id -> the organization its row names
    dedup = Dedup.of(endpoint)

    def read(keep: Callable[[Any], bool]) -> Batches:
        for call, pages in _each_call(ctx, endpoint, keep=lambda c: keep(c.extra[column])):
            org = call.extra[column]
            rows = []
            for line in (row for page in pages for row in page):
                as_listed = json.dumps(line, sort_keys=True, default=str)
                by_org.setdefault(org, {})[str(line.get("_id"))] = as_listed
                owner = owners.get(line.get("kioskSerialNumber"), org)
                if dedup.fresh(line):
                    attributed[str(line.get("_id"))] = attributed_to = owner if owner in known else org
                    rows.append(prepare(endpoint, line, {column: attributed_to}))
            if rows:
                yield rows

    yield from read(lambda org: not shortcut or org in tops)
    missing = resource.listed - set(attributed) if shortcut else set()
    if missing:
        # Gone from the tops' listings: asked where each line belonged (its organization's own listing). Found
        # there, the shortcut no longer holds; a line whose organization is unknown is looked for everywhere.
        last_owners = resource.listed_owners
        where = {last_owners.get(line) for line in missing}
        yield from read(lambda org: org not in tops and str(org) in where)
        if None in where or missing & set(attributed):
            shortcut = False
            yield from read(lambda org: org not in tops and str(org) not in where)
    if not shortcut:
        everything = {line for lines in by_org.values() for line in lines.items()}
        from_tops = {line for org in tops for line in by_org.get(org, {}).items()}
        resource.set_coverage(state.Coverage(ctx.snapshot_at, tops, proven=everything == from_tops))
    # The listing is the current price list: a line it no longer contains (its cell now holds another product)
    # is deleted from the table. Sales keep their own copy of the price on every line item.
    listed = {str(k[0]) for k in dedup.seen}
    gone = sorted(resource.listed - listed)
    if gone:
        yield [{key_fields(endpoint)[0]: line_id, DELETED_FLAG: True} for line_id in gone]
    resource.set_listed(listed, attributed)


def read_alerts(ctx: RunContext, endpoint: Endpoint) -> Batches:
    """New alerts by start date (windowed) and, in a run's first load, every alert not yet resolved re-read.

    The list has no updated-since filter. An alert held as open that starts where this run's windows read
    anyway comes back with them (the planner starts the listing at the oldest of them when that listing is
    short: pipelines/lookback.py `open_records_reach`); only those older cost a re-read, two cheap filtered
    queries rather than a full listing: the alerts open now (statuses=open,raised), and, for held ones that
    left that list, the resolved alerts of just their start-date range. A load that listed every alert from
    its start to now stops holding open the ones it no longer found there (deleted at the vendor).
    """
    dedup = Dedup.of(endpoint)
    resource = state.live()
    windows = list(ctx.windows_to_read(endpoint, resource.progress))
    # Rows from the first window's start on are read in this run (later loads read the later windows).
    read_from = windows[0].read_from if windows else datetime.max.replace(tzinfo=UTC)
    seen: set[str] = set()
    if ctx.first_load:
        for batch in _reread_open_alerts(ctx, endpoint, dedup, read_from):
            seen.update(str(r["id"]) for r in batch)
            yield batch
    for batch in read_windows(ctx, endpoint, dedup):
        _track_alerts(resource, batch)
        seen.update(str(r["id"]) for r in batch)
        yield batch
    if len(windows) == 1 and windows[0].end is None:
        # This load listed every alert from `read_from` to now: one held open there but not listed is gone.
        after = read_from or datetime.min.replace(tzinfo=UTC)
        gone = [key for key, start in resource.open_records.items() if start >= after and key not in seen]
        resource.track_open({}, closed=gone)


def _track_alerts(resource: state.ResourceState, rows: list[dict[str, Any]]) -> None:
    resource.track_open(
        {str(r["id"]): to_utc(r["startDate"]) for r in rows if r.get("status") != "resolved"},
        closed=[str(r["id"]) for r in rows if r.get("status") == "resolved"],
    )


def _reread_open_alerts(
    ctx: RunContext, endpoint: Endpoint, dedup: Dedup, read_from: datetime | None
) -> Batches:
    incremental = endpoint.incremental
    assert incremental is not None and incremental.order is not None and endpoint.paging is not None
    order = incremental.order.ascending
    resource = state.live()
    older = {k: s for k, s in resource.open_records.items() if read_from is not None and s < read_from}
    if not older:
        return
    still_open: list[dict[str, Any]] = []
    key = row_key(endpoint)
    for kiosks in ctx.kiosk_queries(endpoint):
        open_now = {**order, "statuses": "open,raised", **kiosks}
        for page in ctx.client.paginate(
            endpoint.path, endpoint.paging, open_now, page_size=PAGE_SIZE, key=key
        ):
            batch = [prepare(endpoint, r) for r in page if dedup.fresh(r)]
            still_open.extend(batch)
            if batch:
                yield batch
    now_open = {str(r["id"]) for r in still_open}
    gone = {key: start for key, start in older.items() if key not in now_open}
    ranges = start_ranges(sorted(gone.values()), resource.progress.rows_per_hour)
    for kiosks in ctx.kiosk_queries(endpoint):
        for first, last in ranges:
            resolved = {
                **order,
                "statuses": "resolved",
                incremental.start_param: api_time(first),
                incremental.end_param: api_time(last + timedelta(milliseconds=1)),
                **kiosks,
            }
            for page in ctx.client.paginate(
                endpoint.path, endpoint.paging, resolved, page_size=PAGE_SIZE, key=key
            ):
                batch = [prepare(endpoint, r) for r in page if str(r["id"]) in gone and dedup.fresh(r)]
                if batch:
                    yield batch
    # Resolved (or deleted at the vendor): stop re-reading either way.
    resource.track_open({}, closed=gone)
    _track_alerts(resource, still_open)


def start_ranges(starts: list[datetime], rows_per_hour: float | None) -> list[tuple[datetime, datetime]]:
    """The sorted `starts` grouped into ranges to list, each the first and last start it holds: a start joins
    the range before it when, at the known density, the longer range costs no more pages than a query of
    its own would (unknown density: one range)."""
    if not starts:
        return []
    if rows_per_hour is None:
        return [(starts[0], starts[-1])]

    def pages(first: datetime, last: datetime) -> int:
        return max(1, math.ceil(rows_per_hour * (last - first).total_seconds() / 3600 / PAGE_SIZE))

    ranges = [(starts[0], starts[0])]
    for start in starts[1:]:
        first, last = ranges[-1]
        if pages(first, start) <= pages(first, last) + 1:
            ranges[-1] = (first, start)
        else:
            ranges.append((start, start))
    return ranges


def read_temperature(ctx: RunContext, endpoint: Endpoint) -> Batches:
    """Flat rows (one per kiosk, sensor and bucket) of this load's windows; a request per kiosk and window
    that ends after the kiosk's creation (`createdAt` in the kiosk list: no telemetry exists before it)."""
    incremental = endpoint.incremental
    assert incremental is not None
    granularity = ctx.settings.temperature_granularity
    span = incremental.span(ctx.settings)
    resource = state.live()
    dedup = Dedup.of(endpoint)
    for window in list(ctx.windows_to_read(endpoint, resource.progress)):
        newest: datetime | None = None
        # The open window gets an explicit end too: without endDate the API ends the window at its own "now",
        # and when its clock is behind ours the window's start can lie after that (400). One maximal window
        # after the start is always a valid request; buckets after the API's now simply do not exist yet.
        end = window.end or (window.start + span if window.start and span else None)
        dates = Window(window.start, end).params(incremental.start_param, incremental.end_param)

        def after_creation(call: Call, window: Window = window) -> bool:
            return window.end is None or existed_before(call.row, window.end)

        for call, pages in _each_call(ctx, endpoint, dates, keep=after_creation):
            serial = call.params[endpoint.fan_out.into] if endpoint.fan_out else None
            rows = []
            for series in (s for page in pages for s in page):
                for value in series.get("values") or ():
                    bucket = to_utc(value["date"])
                    newest = bucket if newest is None or bucket > newest else newest
                    row = {
                        "kiosk_serial_number": series.get("kioskSerial") or serial,
                        "kiosk_name": series.get("kioskName"),
                        "sensor_position": series.get("sensorPosition"),
                        "granularity": granularity,
                        "bucket_start": bucket,
                        "value": value.get("value"),
                        "min": value.get("min"),
                        "max": value.get("max"),
                    }
                    if dedup.fresh(row):
                        rows.append(prepare(endpoint, row))
            if rows:
                yield rows
        resource.advance(newest=newest, next_window=window.end, rows_per_hour=None)


def existed_before(kiosk: dict[str, Any] | None, moment: datetime) -> bool:
    """Whether a kiosk (a row of the kiosk list) was created before `moment` (unknown: assumed so)."""
    created = (kiosk or {}).get("createdAt")
    try:
        return not created or to_utc(created) < moment
    except ValueError:
        return True


def read_configured(ctx: RunContext, endpoint: Endpoint) -> Batches:
    """Records the API cannot list, read one request each for the keys named in configuration."""
    assert endpoint.configured_by is not None
    for key in endpoint.configured(ctx.settings):
        try:
            body = ctx.client.get(_PLACEHOLDER.sub(key, endpoint.path, count=1))
        except NotFoundError:
            ctx.warn(f"{endpoint.resource}: {key} is unknown to the API; skipped")
            continue
        yield [prepare(endpoint, body)]
