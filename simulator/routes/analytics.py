"""GET /analytics/*: validation and scoping here, the vendor's formulas in simulator/analytics.py."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from simulator.params import parse_instant
from simulator.problems import ProblemError, bad_request, not_found
from simulator.routes import Ctx, Reply, paged, route, sim_now

GRANULARITIES = ["hourly", "daily", "weekly", "monthly"]
TEMPERATURE_GRANULARITIES = ["minutely", "hourly", "daily", "weekly", "monthly", "custom"]
TEMPERATURE_GROUPINGS = ["minute", "hour", "day", "week", "month"]
# Longest window per temperature granularity (contract x-contract-notes); others are unbounded.
TEMPERATURE_MAX_SPAN = {"minutely": timedelta(hours=24), "hourly": timedelta(days=31)}
PRODUCT_STATS_COLUMNS = ["sold", "refilled", "removed", "totalGrossSales", "totalCost"]
ArgsReader = Callable[[Ctx], dict[str, Any]]


def _fn(name: str) -> Any:
    from simulator import analytics

    fn = getattr(analytics, name, None)
    if fn is None:
        raise ProblemError(501, f"Analytics operation {name} is not implemented by this simulator")
    return fn


def _common(ctx: Ctx, *, kiosks: bool = True) -> dict[str, Any]:
    """The arguments every analytics function takes: scope, inclusive UTC window, zone, kiosk filter."""
    win = ctx.window()
    args: dict[str, Any] = {
        "org_ids": ctx.org_ids,
        "start_utc": win.start,
        "end_utc": win.end,
        "tz": ctx.tz.key,
    }
    if kiosks:
        args["kiosk_serials"] = ctx.query.csv("kioskSerialNumbers")
    return args


@route("GET", "/analytics/sales")
def sales(ctx: Ctx) -> Reply:
    ctx.require("reports:read")
    q = ctx.query
    granularity = q.enum("granularity", GRANULARITIES, required=True)
    aggregate_by = q.enum("aggregateBy", ["product", "kiosk"])
    args = _common(ctx)
    single = q.string("kioskSerialNumber")
    if single is not None:
        args["kiosk_serials"] = sorted({single, *(args["kiosk_serials"] or [])})
    return Reply(200, _fn("sales")(ctx.store, granularity=granularity, aggregate_by=aggregate_by, **args))


@route("GET", "/analytics/sales/top-kiosks")
def top_kiosks(ctx: Ctx) -> Reply:
    ctx.require("reports:read")
    return Reply(200, _fn("top_kiosks")(ctx.store, **_common(ctx, kiosks=False)))


def _simple(operation: str) -> Any:
    def handler(ctx: Ctx) -> Reply:
        ctx.require("reports:read")
        return Reply(200, _fn(operation)(ctx.store, **_common(ctx)))

    handler.__name__ = operation
    return handler


for _path, _operation in (
    ("/analytics/sales/top-products", "top_products"),
    ("/analytics/transactions/kpis", "transaction_kpis"),
    ("/analytics/transactions/peak-hour", "peak_hour"),
    ("/analytics/transactions/daily-profit", "daily_profit"),
    ("/analytics/transactions/payment-types", "payment_types"),
    ("/analytics/transactions/product-lifecycle", "product_lifecycle"),
    ("/analytics/refills/stats", "refill_stats"),
):
    route("GET", _path)(_simple(_operation))


def _paged(path: str, scope: str, operation: str) -> Callable[[ArgsReader], ArgsReader]:
    """Registers GET `path`, a paged analytics list: `operation`'s (total, rows) for skip/limit and the
    arguments the decorated function reads from the request (after the scope check, so 403 beats 400)."""

    def register(read_args: ArgsReader) -> ArgsReader:
        def handler(ctx: Ctx) -> Reply:
            ctx.require(scope)
            q = ctx.query
            total, rows = _fn(operation)(ctx.store, skip=q.skip(), limit=q.limit(), **read_args(ctx))
            return paged(total, rows)

        handler.__name__ = operation
        route("GET", path)(handler)
        return read_args

    return register


@_paged("/analytics/inventory/low-stock", "inventory:read", "low_stock")
def _low_stock_args(ctx: Ctx) -> dict[str, Any]:
    q = ctx.query
    return {
        "org_ids": ctx.org_ids,
        "kiosk_serials": q.csv("kioskSerialNumbers"),
        "threshold": q.real("threshold", 0),
        "manufacturers": q.csv("manufacturers"),
    }


@_paged("/analytics/inventory/product-stats", "reports:read", "product_stats")
def _product_stats_args(ctx: Ctx) -> dict[str, Any]:
    q = ctx.query
    return {
        "sort_column": q.enum("sortColumn", PRODUCT_STATS_COLUMNS),
        "sort_direction": q.enum("sortDirection", ["ASC", "DESC"]),
        "include_zero_activity": bool(q.boolean("includeZeroActivity", False)),
        **_common(ctx),
    }


@route("GET", "/analytics/temperature/{granularity}")
def temperature(ctx: Ctx) -> Reply:
    ctx.require("reports:read")
    granularity = ctx.path_params["granularity"]
    if granularity not in TEMPERATURE_GRANULARITIES:
        raise bad_request(f"granularity must be one of {', '.join(TEMPERATURE_GRANULARITIES)}")
    q = ctx.query
    serial = q.string("kioskSerialNumber", required=True)
    grouping = q.enum("grouping", TEMPERATURE_GROUPINGS)
    tz = ctx.tz
    start_raw, end_raw = q.string("startDate"), q.string("endDate")
    end = parse_instant("endDate", end_raw, tz, end_of_day=True) if end_raw else sim_now(ctx)
    start = (
        parse_instant("startDate", start_raw, tz, end_of_day=False)
        if start_raw
        else end - timedelta(hours=24)
    )
    if end < start:
        raise bad_request("endDate must not be before startDate")
    max_span = TEMPERATURE_MAX_SPAN.get(granularity)
    # A date-only endDate ends one microsecond before midnight; allow that microsecond on top of the limit.
    if max_span is not None and end - start > max_span + timedelta(milliseconds=1):
        raise bad_request(f"granularity={granularity} allows a window of at most {max_span}")
    kiosk = ctx.store.query_one("SELECT id, organization_id FROM kiosks WHERE serial_number = ?", [serial])
    if kiosk is None or not ctx.org_visible(kiosk[1]):
        raise not_found(f"Kiosk {serial} not found")
    # Telemetry exists only up to now: a window reaching into the future ends at now (and one lying wholly in
    # the future is empty, not an error: the request itself is valid).
    result = _fn("temperature")(
        ctx.store,
        kiosk_serial=serial,
        granularity=granularity,
        grouping=grouping,
        start_utc=start,
        end_utc=min(end, sim_now(ctx)),
        tz=tz.key,
    )
    return Reply(200, result)
