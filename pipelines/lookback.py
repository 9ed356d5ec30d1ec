"""Count-verified lookback: re-read only the parts of the lookback window where rows are missing.

An incremental run re-reads the lookback window before its cursor to catch late-arriving rows (a kiosk that
was offline uploads sessions whose `created` lies in the past). Most nights nothing arrived late, and
re-reading the whole window spends a large share of the vendor's hourly budget on rows the warehouse holds.

Instead, for the lookback range [start, cursor) we ask the API for the `total` of that range (one `limit=1`
request) and count the warehouse's rows whose cursor column lies in the same range. The vendor never deletes
transactions or refills and never changes their `created`, and the warehouse holds each primary key once
(merge), so the warehouse's rows of a range are a subset of the API's rows of that range: equal counts mean
nothing is missing and the range is skipped. A range whose counts differ is halved and each half probed again
(the second half's API total is the difference, so a split costs one request), down to a range cheap enough to
re-read in full. A one-hour backlog 20 hours late thus costs a handful of probes plus that hour's pages.

Most nights a cheaper proof exists, in the request that reads the new rows anyway: with W rows of [start,
cursor) in the warehouse, the ascending listing from `start` is asked for from row W-1 on. If that row lies
before the cursor and the next one (if any) at or after it, the API holds exactly W rows before the cursor
(the listing is sorted by `created`), so nothing is missing; the rest of the page is the first page of the
new rows, loaded from that very response. Only when this proof fails does the count search above run.

The warehouse count comes from the destination through the pipeline's sql_client, i.e. committed loads only:
rows of a load that crashed before it committed are not counted, so their range is re-read."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from dlt.pipeline.pipeline import Pipeline

from sources.livello import probes
from sources.livello.context import PAGE_SIZE, RunContext, Window, to_utc
from sources.livello.endpoints import Endpoint
from sources.livello.rows import column_name
from sources.livello.state import ResourceState

log = logging.getLogger("livello_sync.lookback")

# A differing range with at most this many rows is re-read rather than split: re-reading costs at most as many
# requests as probing its two halves would.
REREAD_ROWS = 2 * PAGE_SIZE
# Never split below this: a smaller range is re-read whatever its size.
MIN_RANGE = timedelta(minutes=30)
# Bounds the recursion whatever the data (2**MAX_DEPTH ranges at most).
MAX_DEPTH = 10

WarehouseCounter = Callable[[datetime, datetime], int]


@dataclass
class LookbackCheck:
    resource: str
    start: datetime
    end: datetime
    probes: int = 0
    reread: list[Window] = field(default_factory=list)
    reread_sizes: list[int] = field(default_factory=list)  # the API's row count of each re-read window
    held: int | None = None  # proven complete by position: the warehouse's rows of [start, end)

    @property
    def reread_rows(self) -> int:
        return sum(self.reread_sizes)

    @property
    def reread_requests(self) -> int:
        return sum(max(1, math.ceil(rows / PAGE_SIZE)) for rows in self.reread_sizes)

    def describe(self) -> str:
        hours = (self.end - self.start).total_seconds() / 3600
        if self.held is not None:
            return f"lookback {hours:g} h complete by position ({self.held:,} rows held); not re-read"
        if not self.reread:
            return f"lookback {hours:g} h complete by count ({self.probes} probe(s)); not re-read"
        return (
            f"lookback {hours:g} h: counts differ in {len(self.reread)} sub-window(s) "
            f"({self.reread_rows:,} rows) found with {self.probes} probe(s); only those are re-read"
        )


def warehouse_counter(
    pipeline: Pipeline, endpoint: Endpoint, kiosks: frozenset[str] | None = None
) -> WarehouseCounter:
    """Counts the destination's committed rows of `endpoint` whose cursor lies in [start, end); with
    `kiosks` (one of several API clients) only the rows of those kiosks, the ones that client's API
    listing holds."""
    assert endpoint.incremental is not None
    column = column_name(endpoint.incremental.cursor)
    assert kiosks is None or endpoint.kiosk_field is not None
    kiosk_column = (
        "__".join(column_name(part) for part in endpoint.kiosk_field.split("."))
        if endpoint.kiosk_field
        else None
    )
    serials = sorted(kiosks or ())

    def count(start: datetime, end: datetime) -> int:
        with pipeline.sql_client() as client:
            table = client.make_qualified_table_name(endpoint.resource)
            column_sql = client.escape_column_name(column)
            sql = f"SELECT count(*) FROM {table} WHERE {column_sql} >= %s AND {column_sql} < %s"
            args: list[object] = [start, end]
            if kiosks is not None and kiosk_column is not None:
                if not serials:
                    return 0
                sql += (
                    f" AND {client.escape_column_name(kiosk_column)} IN ({', '.join(['%s'] * len(serials))})"
                )
                args += serials
            rows = client.execute_sql(sql, *args)
        return int(rows[0][0]) if rows else 0

    return count


def verify_by_position(
    ctx: RunContext,
    endpoint: Endpoint,
    start: datetime,
    cursor: datetime,
    end: datetime | None,
    warehouse: WarehouseCounter,
) -> LookbackCheck:
    """Proves [start, cursor) complete with the first page of the rows after it, or else searches by count
    which parts of it are not (`verify_lookback`)."""
    incremental, paging = endpoint.incremental, endpoint.paging
    assert incremental is not None and incremental.order is not None and paging in ("skip", "offset")
    held = warehouse(start, cursor)
    (kiosks,) = ctx.kiosk_queries(endpoint)  # one reading (one client, or one filter of this client's)
    query = {
        **incremental.order.ascending,
        **Window(start, end).params(incremental.start_param, incremental.end_param),
        "limit": PAGE_SIZE,
        paging: max(held - 1, 0),
        **kiosks,
    }
    body = ctx.client.get(endpoint.path, query)
    if _proves(body, held, cursor, incremental.cursor):
        ctx.client.keep(endpoint.path, query, body)  # the reader's first request: answered from this one
        check = LookbackCheck(endpoint.resource, start, cursor, probes=1, held=held)
        log.info("%s: %s", endpoint.resource, check.describe())
        return check
    check = verify_lookback(ctx, endpoint, start, cursor, warehouse)
    check.probes += 1
    return check


def _proves(body: object, held: int, cursor: datetime, field: str) -> bool:
    """Whether a page from row held-1 of the ascending listing shows exactly `held` rows before `cursor`."""
    if not isinstance(body, dict) or not isinstance(body.get("data"), list):
        return False  # the reader's own request will say what is wrong with the answer
    rows, total = body["data"], body.get("total")
    try:
        moments = [to_utc(row[field]) for row in rows[:2]]
    except (KeyError, TypeError, ValueError):
        return False
    if held == 0:
        return not moments or moments[0] >= cursor
    if not moments or moments[0] >= cursor:
        return False
    if len(moments) > 1:
        return moments[1] >= cursor
    return isinstance(total, int) and total == held


def verify_lookback(
    ctx: RunContext, endpoint: Endpoint, start: datetime, end: datetime, warehouse: WarehouseCounter
) -> LookbackCheck:
    """Which sub-windows of [start, end) must be re-read because the warehouse lacks rows the API has."""
    check = LookbackCheck(endpoint.resource, start, end)

    def api_count(a: datetime, b: datetime) -> int:
        check.probes += 1
        return probes.count(ctx.client, endpoint, Window(a, b), kiosks=ctx.kiosk_queries(endpoint))

    def visit(a: datetime, b: datetime, api_total: int | None, depth: int) -> None:
        if api_total is None:
            api_total = api_count(a, b)
        held = warehouse(a, b)
        if held == api_total:
            return
        if api_total <= REREAD_ROWS or b - a <= MIN_RANGE or depth >= MAX_DEPTH:
            check.reread.append(Window(a, b))
            check.reread_sizes.append(api_total)
            return
        middle = a + (b - a) / 2
        middle = middle.replace(microsecond=(middle.microsecond // 1000) * 1000)  # the API's precision
        first = api_count(a, middle)
        visit(a, middle, first, depth + 1)
        # The halves partition the range (end-exclusive windows), so the second half's total is the rest.
        visit(middle, b, max(0, api_total - first), depth + 1)

    if end > start:
        visit(start, end, None, 0)
    log.info("%s: %s", endpoint.resource, check.describe())
    return check


def open_records_reach(
    endpoint: Endpoint,
    resource: ResourceState,
    lookback: timedelta,
    warehouse: WarehouseCounter | None,
    now: datetime,
) -> timedelta | None:
    """A lookback reaching back to the oldest record held open (alerts not yet resolved), so that the one
    listing of the new rows re-reads them too, when that listing is expected to fit in two pages; else None.

    The listing has no updated-since filter: re-reading the records held open apart costs at least two
    requests, the new rows' page and the query of the open ones (a third when some were resolved since), so
    one listing of at most two pages from the oldest of them never costs more. The expectation is the
    warehouse's rows from there to the cursor (or the known density's estimate) plus the new rows the density
    predicts."""
    progress = resource.progress
    cursor, rate = progress.cursor, progress.rows_per_hour
    if not endpoint.each_run or cursor is None or progress.in_backfill or rate is None:
        return None
    # Where the listing reads every row again: the cursor when the lookback is verified, else its start.
    read_from = cursor if warehouse is not None else cursor - lookback
    older = [start for start in resource.open_records.values() if start < read_from]
    if not older:
        return None
    start = min(min(older), cursor - lookback)  # the whole lookback is re-read in its place
    try:
        held = warehouse(start, cursor) if warehouse is not None else None
    except Exception:  # noqa: BLE001 - the estimate below serves as well
        held = None
    if held is None:
        held = rate * (cursor - start).total_seconds() / 3600
    expected = held + rate * max(0.0, (now - cursor).total_seconds() / 3600)
    return cursor - start if expected <= 2 * PAGE_SIZE else None


def apply_check(window: Window, check: LookbackCheck) -> Window:
    """`window` (which starts at the check's end, the cursor) extended back over the verified lookback."""
    if check.held is not None:
        return Window(check.start, window.end, verified_until=window.start, held=check.held)
    return Window(check.start, window.end, verified_until=window.start, reread=tuple(check.reread))
