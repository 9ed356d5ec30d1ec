"""The vendor's analytics, computed from the same records the list endpoints serve.

Every function takes the caller's organization scope (`org_ids`, already expanded to descendants), an
inclusive UTC window (`start_utc`/`end_utc`, None = unbounded), the x-timezone (`tz`, an IANA name) and an
optional kiosk filter (`kiosk_serials`, None = all), and returns exactly the JSON shape of the contract's
response schema.

Formulas (contract x-contract-notes and each operation's description):
- counted transactions: paid AND ended with a purchase;
- per line: gross = item total; net = round_half_up(gross / (1 + vatRate/100), 2); tax = gross - net;
  cost = quantity * unit cost; profit = net - cost. Lines are rounded first, then summed.
Net is computed in integer cents ((2 * gross_cents * 10000 + d) // (2 * d), d = 10000 + vat basis points), so
the half-up rounding is exact and never suffers binary floating point. Money is returned as Decimal (exact).
- buckets are labelled by their local start in the x-timezone (`timezone(tz, created)`), ISO weeks start on
  Monday, and on the autumn DST night the two local 02:00 hours get one label and so merge into one bucket.
- amounts in different currencies are added without conversion, as the vendor does.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, NotRequired, TypedDict, Unpack
from zoneinfo import ZoneInfo

from simulator.store import Store, add_range

CENT = Decimal("0.01")

# Net cents of one line, exact half-up (totals are never negative; sign() keeps negatives symmetric anyway).
_NET_CENTS = "sign(gross_cents) * ((abs(gross_cents) * 20000 + (10000 + vat_bp)) // (2 * (10000 + vat_bp)))"

_BUCKET_UNITS = {"hourly": "hour", "daily": "day", "weekly": "week", "monthly": "month"}


def _cents(value: Any) -> Decimal:
    return (Decimal(int(value or 0)) / 100).quantize(CENT)


def _round2(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


class Scope(TypedDict):
    """The arguments every windowed analytics function takes (keyword arguments, see the module docstring)."""

    org_ids: list[int] | None
    start_utc: datetime | None
    end_utc: datetime | None
    tz: str
    kiosk_serials: NotRequired[list[str] | None]


def _filters(alias: str, scope: Scope, params: list[Any]) -> str:
    """WHERE conditions for a fact table with created / organization_id / kiosk_id (inclusive window)."""
    conds: list[str] = []
    org_ids, kiosk_serials = scope["org_ids"], scope.get("kiosk_serials")
    if org_ids is not None:
        conds.append(f"{alias}.organization_id IN (SELECT unnest(?::INTEGER[]))")
        params.append(list(org_ids))
    add_range(conds, params, f"{alias}.created", scope["start_utc"], scope["end_utc"])
    if kiosk_serials is not None:
        conds.append(
            f"{alias}.kiosk_id IN (SELECT id FROM kiosks"
            " WHERE serial_number IN (SELECT unnest(?::VARCHAR[])))"
        )
        params.append(list(kiosk_serials))
    return " AND ".join(conds) or "TRUE"


def _counted_lines_cte(scope: Scope, params: list[Any]) -> str:
    """CTE `lines`: one row per line of a counted transaction, with exact per-line cents and local time."""
    item_where = _filters("i", scope, params)
    tx_where = _filters("t", scope, params)
    params.append(scope["tz"])
    return f"""
    WITH base AS (
        SELECT i.transaction_id, i.kiosk_id, i.product_id, i.product_line_id, i.quantity, i.created,
               CAST(round(i.total * 100) AS BIGINT) AS gross_cents,
               CAST(round(i.vat_rate * 100) AS BIGINT) AS vat_bp,
               CAST(round(i.cost * 100) AS BIGINT) * i.quantity AS cost_cents
        FROM transaction_items i
        WHERE {item_where}
          AND i.transaction_id IN (
              SELECT t.id FROM transactions t WHERE {tx_where} AND t.is_paid AND t.ended_with_purchase)
    ),
    lines AS (
        SELECT *, {_NET_CENTS} AS net_cents, timezone(?, created) AS local_ts FROM base
    )
    """


def _over_lines(store: Store, scope: Scope, select: str) -> list[tuple[Any, ...]]:
    """The rows of `select`, a query over the CTE `lines` (the counted transactions' lines in `scope`)."""
    params: list[Any] = []
    return store.query(_counted_lines_cte(scope, params) + select, params)


# -- /analytics/sales ----------------------------------------------------------------------------------------
def sales(
    store: Store,
    *,
    granularity: str,
    aggregate_by: str | None = None,
    **scope: Unpack[Scope],
) -> list[dict[str, Any]]:
    """GET /analytics/sales: one row per local bucket (and per product line or kiosk with aggregateBy)."""
    unit = _BUCKET_UNITS[granularity]
    key_sql, key_name = {
        None: ("NULL", None),
        "product": ("l.product_line_id", "productLineId"),
        "kiosk": ("k.serial_number", "kioskSerialNumber"),
    }[aggregate_by]
    rows = _over_lines(
        store,
        scope,
        f"""
        SELECT strftime(date_trunc('{unit}', l.local_ts), '%Y-%m-%dT%H:%M:%S') AS bucket, {key_sql} AS key,
               sum(gross_cents), sum(net_cents), sum(cost_cents)
        FROM lines l JOIN kiosks k ON k.id = l.kiosk_id
        GROUP BY 1, 2 ORDER BY 1, 2
        """,
    )
    out = []
    for bucket, key, gross, net, cost in rows:
        row: dict[str, Any] = {"date": bucket}
        if key_name is not None:
            row[key_name] = key
        row.update(
            totalSales=_cents(gross),
            totalNetSales=_cents(net),
            totalTax=_cents(gross - net),
            totalCost=_cents(cost),
            profit=_cents(net - cost),
        )
        out.append(row)
    return out


def top_kiosks(store: Store, **scope: Unpack[Scope]) -> list[dict[str, Any]]:
    """GET /analytics/sales/top-kiosks: the 10 kiosks with the highest net sales."""
    rows = _over_lines(
        store,
        scope,
        """
        SELECT k.serial_number, k.name, sum(net_cents) AS net, sum(cost_cents) AS cost
        FROM lines l JOIN kiosks k ON k.id = l.kiosk_id
        GROUP BY 1, 2 ORDER BY net DESC, k.serial_number LIMIT 10
        """,
    )
    return [
        {
            "rank": i,
            "kioskSerialNumber": serial,
            "kioskName": name,
            "netSales": _cents(net),
            "netCost": _cents(cost),
            "profit": _cents(net - cost),
        }
        for i, (serial, name, net, cost) in enumerate(rows, start=1)
    ]


def top_products(store: Store, **scope: Unpack[Scope]) -> list[dict[str, Any]]:
    """GET /analytics/sales/top-products: the 20 product metas with the most units sold."""
    rows = _over_lines(
        store,
        scope,
        """
        SELECT p.name, p.manufacturer, p.image_url, sum(quantity) AS qty, sum(net_cents) AS net,
               sum(cost_cents) AS cost
        FROM lines l JOIN products p ON p.id = l.product_id
        GROUP BY p.id, 1, 2, 3 ORDER BY qty DESC, net DESC, p.id LIMIT 20
        """,
    )
    return [
        {
            "rank": i,
            "productName": name,
            "manufacturer": manufacturer,
            "imageUrl": image,
            "quantitySold": int(qty),
            "netSales": _cents(net),
            "netCost": _cents(cost),
            "profit": _cents(net - cost),
        }
        for i, (name, manufacturer, image, qty, net, cost) in enumerate(rows, start=1)
    ]


# -- /analytics/transactions/* -------------------------------------------------------------------------------
def _counted_tx_where(scope: Scope, params: list[Any]) -> str:
    return _filters("t", scope, params) + " AND t.is_paid AND t.ended_with_purchase"


def transaction_kpis(store: Store, **scope: Unpack[Scope]) -> dict[str, Any]:
    """GET /analytics/transactions/kpis."""
    params: list[Any] = []
    where = _counted_tx_where(scope, params)
    count, gross_cents = store.query_one(
        "SELECT count(*), coalesce(sum(CAST(round(t.total * 100) AS BIGINT)), 0) "
        f"FROM transactions t WHERE {where}",
        params,
    )
    ((net, qty),) = _over_lines(
        store, scope, "SELECT coalesce(sum(net_cents), 0), coalesce(sum(quantity), 0) FROM lines"
    )
    gross = _cents(gross_cents)
    return {
        "totalNumberOfTransactions": int(count),
        "averagePurchaseValue": _round2(gross / count) if count else Decimal("0.00"),
        "totalNumberOfProductsSold": int(qty),
        "totalNetIncome": _cents(net),
        "totalGrossIncome": gross,
    }


def peak_hour(store: Store, **scope: Unpack[Scope]) -> dict[str, Any]:
    """GET /analytics/transactions/peak-hour: the local hour of day with the most counted transactions.

    Ties go to the earliest hour; without any transaction the answer is 00:00-01:00 with sum 0."""
    params: list[Any] = [scope["tz"]]
    where = _counted_tx_where(scope, params)
    row = store.query_one(
        f"""SELECT hour(timezone(?, t.created)) AS h, count(*) AS n FROM transactions t WHERE {where}
            GROUP BY 1 ORDER BY n DESC, h LIMIT 1""",
        params,
    )
    hour, count = row if row else (0, 0)
    return {"start": f"{hour:02d}:00", "end": f"{(hour + 1) % 24:02d}:00", "sum": int(count)}


def daily_profit(store: Store, **scope: Unpack[Scope]) -> list[dict[str, Any]]:
    """GET /analytics/transactions/daily-profit: per local date, net sales, cost and profit."""
    rows = _over_lines(
        store,
        scope,
        """SELECT strftime(CAST(local_ts AS DATE), '%Y-%m-%d'), sum(net_cents), sum(cost_cents)
                 FROM lines GROUP BY 1 ORDER BY 1""",
    )
    return [
        {"_id": day, "total_sales": _cents(net), "total_cost": _cents(cost), "profit": _cents(net - cost)}
        for day, net, cost in rows
    ]


def payment_types(store: Store, **scope: Unpack[Scope]) -> dict[str, int]:
    """GET /analytics/transactions/payment-types: counted transactions by card brand / membercard / other."""
    params: list[Any] = []
    where = _counted_tx_where(scope, params)
    row = store.query_one(
        f"""
        WITH c AS (
            SELECT CASE
                WHEN t.payment_type = 'MEMBERCARD' THEN 'membercard'
                WHEN lower(t.card_type) = 'visa' THEN 'visa'
                WHEN lower(t.card_type) = 'mastercard' THEN 'mastercard'
                WHEN lower(t.card_type) = 'girocard' THEN 'girocard'
                WHEN t.card_type IS NOT NULL THEN 'otherCreditCard'
                ELSE 'other' END AS kind
            FROM transactions t WHERE {where}
        )
        SELECT count(*) FILTER (kind = 'visa'), count(*) FILTER (kind = 'mastercard'),
               count(*) FILTER (kind = 'girocard'), count(*) FILTER (kind = 'otherCreditCard'),
               count(*) FILTER (kind = 'membercard'), count(*) FILTER (kind = 'other')
        FROM c
        """,
        params,
    )
    keys = ("visa", "mastercard", "girocard", "otherCreditCard", "membercard", "other")
    return {k: int(v or 0) for k, v in zip(keys, row, strict=True)}


def _product_activity_sql(scope: Scope, params: list[Any]) -> str:
    """Per product meta: sold, gross/cost cents (counted transactions) and refilled/removed (refills)."""
    cte = _counted_lines_cte(scope, params)
    refill_where = _filters("r", scope, params)
    return (
        cte
        + f""",
    sold AS (
        SELECT product_id, sum(quantity) AS sold, sum(gross_cents) AS gross, sum(cost_cents) AS cost
        FROM lines GROUP BY 1
    ),
    refilled AS (
        SELECT product_id, sum(added) AS refilled, sum(removed) AS removed
        FROM refill_items r WHERE {refill_where} GROUP BY 1
    ),
    activity AS (
        SELECT coalesce(s.product_id, f.product_id) AS product_id,
               coalesce(s.sold, 0) AS sold, coalesce(f.refilled, 0) AS refilled, coalesce(f.removed, 0) AS
               removed,
               coalesce(s.gross, 0) AS gross, coalesce(s.cost, 0) AS cost
        FROM sold s FULL OUTER JOIN refilled f ON f.product_id = s.product_id
    )
    """
    )


def product_lifecycle(store: Store, **scope: Unpack[Scope]) -> dict[str, Any]:
    """GET /analytics/transactions/product-lifecycle: most/least sold, most refilled, most removed product
    meta.

    Only products with activity of the ranked kind are candidates (a product that sold nothing is not the
    least sold); ties go to the lower product id; an entry is null when no product qualifies."""
    params: list[Any] = []
    sql = _product_activity_sql(scope, params)
    rows = store.query(
        sql
        + """SELECT a.product_id, p.name, p.image_url, a.sold, a.refilled, a.removed
                 FROM activity a JOIN products p ON p.id = a.product_id ORDER BY a.product_id""",
        params,
    )

    def pick(index: int, *, lowest: bool = False) -> dict[str, Any] | None:
        candidates = [r for r in rows if r[index] > 0]
        if not candidates:
            return None
        best = min(candidates, key=lambda r: (r[index] if lowest else -r[index], r[0]))
        return {
            "productMetaId": best[0],
            "productMetaName": best[1],
            "imageUrl": best[2],
            "count": int(best[index]),
        }

    return {
        "mostSoldProductMeta": pick(3),
        "leastSoldProductMeta": pick(3, lowest=True),
        "mostRefilledProductMeta": pick(4),
        "mostRemovedProductMeta": pick(5),
    }


# -- /analytics/refills/stats --------------------------------------------------------------------------------
def refill_stats(store: Store, **scope: Unpack[Scope]) -> dict[str, Any]:
    """GET /analytics/refills/stats over the refill items in the window."""
    params: list[Any] = []
    where = _filters("r", scope, params)
    added, removed, expired, cost_added, sales_added, cost_removed = store.query_one(
        f"""
        SELECT coalesce(sum(added), 0), coalesce(sum(removed), 0), coalesce(sum(removed_expired), 0),
               coalesce(sum(added * CAST(round(cost * 100) AS BIGINT)), 0),
               coalesce(sum(added * CAST(round(price * 100) AS BIGINT)), 0),
               coalesce(sum(removed * CAST(round(cost * 100) AS BIGINT)), 0)
        FROM refill_items r WHERE {where}
        """,
        params,
    )
    spoilage = (
        (Decimal(int(expired)) / Decimal(int(added))).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)
        if added
        else Decimal("0")
    )
    return {
        "totalNumberOfProductsAdded": int(added),
        "defaultTotalCostValueOfRefills": _cents(cost_added),
        "totalNumberOfProductsRemoved": int(removed),
        "averageSpoilageRate": spoilage,
        "defaultTotalSalesValueOfRefills": _cents(sales_added),
        "defaultTotalCostValueOfRemovedProducts": _cents(cost_removed),
    }


# -- /analytics/inventory/* ----------------------------------------------------------------------------------
def low_stock(
    store: Store,
    *,
    org_ids: list[int] | None,
    kiosk_serials: list[str] | None = None,
    threshold: float = 0,
    manufacturers: list[str] | None = None,
    skip: int = 0,
    limit: int = 25,
) -> tuple[int, list[dict[str, Any]]]:
    """GET /analytics/inventory/low-stock: load cells with a product line whose count <= threshold.

    Ordered by kiosk serial number, then the cell's place in the planogram; manufacturers match
    case-insensitively."""
    params: list[Any] = [threshold]
    conds = ["pl.active", "i.count <= ?"]
    if org_ids is not None:
        conds.append("k.organization_id IN (SELECT unnest(?::INTEGER[]))")
        params.append(list(org_ids))
    if kiosk_serials is not None:
        conds.append("k.serial_number IN (SELECT unnest(?::VARCHAR[]))")
        params.append(list(kiosk_serials))
    if manufacturers is not None:
        conds.append("lower(p.manufacturer) IN (SELECT lower(unnest(?::VARCHAR[])))")
        params.append(list(manufacturers))
    sql = f"""
        FROM inventory i
        JOIN load_cells c ON c.id = i.load_cell_id
        JOIN product_lines pl ON pl.id = i.product_line_id
        JOIN products p ON p.id = pl.product_id
        JOIN kiosks k ON k.id = c.kiosk_id
        WHERE {" AND ".join(conds)}
    """
    total = int(store.scalar("SELECT count(*) " + sql, params))
    rows = store.query(
        f"""SELECT k.serial_number, k.name, c.planogram_position, pl.id, p.id, p.name, p.manufacturer,
            i.count,
                   c.capacity {sql} ORDER BY k.serial_number, c.cell_id LIMIT ? OFFSET ?""",
        [*params, int(limit), int(skip)],
    )
    keys = (
        "kioskSerialNumber",
        "kioskName",
        "planogramPosition",
        "productLineId",
        "productMetaId",
        "productName",
        "manufacturer",
        "quantity",
        "capacity",
    )
    return total, [dict(zip(keys, r, strict=True)) for r in rows]


_PRODUCT_STATS_SORT = {
    "sold": "a.sold",
    "refilled": "a.refilled",
    "removed": "a.removed",
    "totalGrossSales": "a.gross",
    "totalCost": "a.cost",
}


def product_stats(
    store: Store,
    *,
    sort_column: str | None = None,
    sort_direction: str | None = None,
    include_zero_activity: bool = False,
    skip: int = 0,
    limit: int = 25,
    **scope: Unpack[Scope],
) -> tuple[int, list[dict[str, Any]]]:
    """GET /analytics/inventory/product-stats: per product meta sold/refilled/removed and gross sales/cost.

    Default order: sold DESC; ties by product id. With includeZeroActivity, every non-deleted product the
    caller can see (owned by a scoped organization, or on a product line of a scoped kiosk) appears, with
    zeros."""
    params: list[Any] = []
    sql = _product_activity_sql(scope, params)
    org_ids, kiosk_serials = scope["org_ids"], scope.get("kiosk_serials")
    if include_zero_activity:
        scope_params: list[Any] = []
        owned = "TRUE"
        lined = "TRUE"
        if org_ids is not None:
            owned = "p.organization_id IN (SELECT unnest(?::INTEGER[]))"
            lined = "k.organization_id IN (SELECT unnest(?::INTEGER[]))"
            scope_params = [list(org_ids), list(org_ids)]
        kiosk_cond = "TRUE"
        if kiosk_serials is not None:
            kiosk_cond = "k.serial_number IN (SELECT unnest(?::VARCHAR[]))"
            scope_params.append(list(kiosk_serials))
        sql += f""", visible AS (
            SELECT p.id AS product_id FROM products p WHERE NOT p.deleted AND {owned}
                {"AND FALSE" if kiosk_serials is not None else ""}
            UNION
            SELECT pl.product_id FROM product_lines pl JOIN kiosks k ON k.id = pl.kiosk_id
            JOIN products p ON p.id = pl.product_id
            WHERE pl.active AND NOT p.deleted AND {lined} AND {kiosk_cond}
            UNION
            SELECT product_id FROM activity
        ),
        stats AS (
            SELECT v.product_id, coalesce(a.sold, 0) AS sold, coalesce(a.refilled, 0) AS refilled,
                   coalesce(a.removed, 0) AS removed, coalesce(a.gross, 0) AS gross, coalesce(a.cost, 0) AS
                   cost
            FROM visible v LEFT JOIN activity a ON a.product_id = v.product_id
        )"""
        params.extend(scope_params)
    else:
        sql += ", stats AS (SELECT * FROM activity WHERE sold > 0 OR refilled > 0 OR removed > 0)"
    column = _PRODUCT_STATS_SORT.get(sort_column or "sold", "a.sold")
    direction = "ASC" if (sort_direction or "DESC").upper() == "ASC" else "DESC"
    total = int(store.scalar(sql + " SELECT count(*) FROM stats", params))
    rows = store.query(
        sql
        + f"""
        SELECT a.product_id, p.name, p.manufacturer, p.image_url, a.sold, a.refilled, a.removed, a.gross,
        a.cost
        FROM stats a JOIN products p ON p.id = a.product_id
        ORDER BY {column} {direction}, a.product_id LIMIT ? OFFSET ?
        """,
        [*params, int(limit), int(skip)],
    )
    return total, [
        {
            "productMetaId": pid,
            "productName": name,
            "manufacturer": manufacturer,
            "imageUrl": image,
            "sold": int(sold),
            "refilled": int(refilled),
            "removed": int(removed),
            "totalGrossSales": _cents(gross),
            "totalCost": _cents(cost),
        }
        for pid, name, manufacturer, image, sold, refilled, removed, gross, cost in rows
    ]


# -- temperature ---------------------------------------------------------------------------------------------
# The minutely signal of one sensor at epoch minute m: base + a daily wave (warmest mid-afternoon UTC) + noise
# from a hash of (sensor key, minute) + triangular excursions. Deterministic, so every query (minutely,
# hourly, daily...) aggregates the very same minute values. A sensor reads from the first whole minute at or
# after its kiosk's createdAt: there is no telemetry from before a kiosk existed.
_MINUTES_SQL = """
    WITH sensors AS (
        SELECT s.*, CAST(ceil(epoch(k.created_at) / 60) AS BIGINT) AS first_minute
        FROM temperature_sensors s JOIN kiosks k ON k.id = s.kiosk_id
        WHERE s.kiosk_id IN (SELECT unnest($kiosks::INTEGER[]))
    ),
    minutes AS (
        SELECT range AS m FROM range(CAST($first AS BIGINT), CAST($last AS BIGINT) + 1)
    ),
    grid AS (
        SELECT s.kiosk_id, s.position, mi.m,
               s.base_celsius
               + s.daily_amplitude * sin(2 * pi() * ((mi.m % 1440) - 480) / 1440.0)
               -- noise in [-1, 1] from a Lehmer-style integer hash of (sensor key, minute): cheap and stable
               + s.noise_celsius
                 * ((((mi.m * 48271 + s.noise_key) % 2147483647) * 16807 % 2147483647 % 2001) / 1000.0 - 1.0)
                 AS v
        FROM sensors s JOIN minutes mi ON mi.m >= s.first_minute
    ),
    excursion_minutes AS (
        -- only the few minutes inside excursions, so the join below is an equality join
        SELECT e.kiosk_id, e.position, e.peak_celsius,
               epoch(e.start_at) // 60 AS s,
               greatest(1, epoch(e.end_at) // 60 - epoch(e.start_at) // 60) AS len,
               unnest(generate_series(CAST(epoch(e.start_at) // 60 AS BIGINT),
                                      CAST(epoch(e.end_at) // 60 - 1 AS BIGINT))) AS m
        FROM temperature_excursions e JOIN sensors USING (kiosk_id, position)
        WHERE e.end_at >= to_timestamp($first * 60) AND e.start_at <= to_timestamp($last * 60 + 60)
    ),
    bumps AS (
        SELECT kiosk_id, position, m, sum(peak_celsius * (1 - abs(2.0 * (m - s) / len - 1))) AS bump
        FROM excursion_minutes WHERE m BETWEEN $first AND $last GROUP BY 1, 2, 3
    )
    SELECT g.kiosk_id, g.position, g.m, round(g.v + coalesce(b.bump, 0), 2) AS celsius
    FROM grid g LEFT JOIN bumps b ON b.kiosk_id = g.kiosk_id AND b.position = g.position AND b.m = g.m
"""


def _minutes_query(kiosk_id: int, start_utc: datetime, end_utc: datetime) -> tuple[str, dict[str, Any]]:
    first = -(-int(start_utc.timestamp()) // 60)  # the first whole minute at or after the start
    last = int(end_utc.timestamp()) // 60
    return _MINUTES_SQL, {"kiosks": [kiosk_id], "first": first, "last": last}


def temperature_minutes(
    store: Store, kiosk_id: int, start_utc: datetime, end_utc: datetime
) -> list[dict[str, Any]]:
    """Every sensor reading of each whole minute in [start_utc, end_utc]: {minute (UTC), position, value}."""
    sql, params = _minutes_query(kiosk_id, start_utc, end_utc)
    rows = store.query(sql + " ORDER BY g.position, g.m", params)
    return [
        {"minute": datetime.fromtimestamp(m * 60, UTC), "position": position, "value": float(v)}
        for _kiosk, position, m, v in rows
    ]


_TEMPERATURE_UNITS = {
    "minutely": "minute",
    "hourly": "hour",
    "daily": "day",
    "weekly": "week",
    "monthly": "month",
}
_POSITION_ORDER = {"top": 0, "middle": 1, "bottom": 2}


def temperature(
    store: Store,
    *,
    kiosk_serial: str,
    granularity: str,
    grouping: str | None = None,
    start_utc: datetime,
    end_utc: datetime,
    tz: str,
) -> list[dict[str, Any]]:
    """GET /analytics/temperature/{granularity}: per sensor, buckets of the minutely readings in the window.

    Bucket `date` is the bucket's local start in the x-timezone (with offset); value = average (half-up to 2
    decimals), min, max. granularity=custom uses `grouping` (default hour)."""
    from simulator.params import render_instant

    kiosk = store.query_one("SELECT id, name FROM kiosks WHERE serial_number = ?", [kiosk_serial])
    if kiosk is None:
        return []
    kiosk_id, kiosk_name = kiosk
    unit = (grouping or "hour") if granularity == "custom" else _TEMPERATURE_UNITS[granularity]
    sql, params = _minutes_query(kiosk_id, start_utc, end_utc)
    params["tz"] = tz
    # Converting every minute to local time is the expensive part, so coarser buckets first aggregate
    # 15-minute UTC blocks (every zone offset is a multiple of 15 minutes, so a block never straddles two
    # local buckets) and convert only the blocks.
    block = 1 if unit == "minute" else 15
    # Readings have 2 decimals: summing them as integer hundredths keeps the average exact. A floating sum
    # depends on DuckDB's (thread-dependent) summation order, so an average lying exactly on a half cent
    # rounded up on one call and down on the next, and a re-read changed an unchanged bucket.
    rows = store.query(
        f"""
        WITH readings AS ({sql}),
        blocks AS (
            SELECT position, m // {block} AS b, min(m) AS first_minute,
                   sum(CAST(round(celsius * 100) AS BIGINT)) AS total, count(*) AS n,
                   min(celsius) AS low, max(celsius) AS high
            FROM readings GROUP BY 1, 2
        )
        SELECT position, date_trunc('{unit}', timezone($tz, to_timestamp(b * {block * 60}))) AS label,
               min(first_minute), CAST(sum(total) AS BIGINT), CAST(sum(n) AS BIGINT), min(low), max(high)
        FROM blocks GROUP BY 1, 2 ORDER BY 1, 2
        """,
        params,
    )
    zone = ZoneInfo(tz)
    series: dict[str, list[dict[str, Any]]] = {}
    for position, label, first_minute, hundredths, count, low, high in rows:
        # A minute bucket starts at its own (first and only) minute; coarser labels need the zone.
        start = (
            datetime.fromtimestamp(first_minute * 60, UTC)
            if unit == "minute"
            else _bucket_start(label, first_minute, zone)
        )
        series.setdefault(position, []).append(
            {
                "date": render_instant(start, zone),
                "value": float(_round2(Decimal(hundredths) / count / 100)),
                "min": float(low),
                "max": float(high),
            }
        )
    return [
        {"sensorPosition": position, "kioskName": kiosk_name, "kioskSerial": kiosk_serial, "values": values}
        for position, values in sorted(series.items(), key=lambda kv: _POSITION_ORDER.get(kv[0], 9))
    ]


def _bucket_start(label: datetime, first_minute: int, zone: ZoneInfo) -> datetime:
    """The instant a local bucket label stands for: the label in the zone (earlier fold on the DST night);
    a label that does not exist locally (spring gap) maps to the first reading. A bucket that starts before
    the window (or before the kiosk's first reading) keeps its start as its label."""
    local = label.replace(tzinfo=zone, fold=0)
    instant = local.astimezone(UTC)
    first = datetime.fromtimestamp(first_minute * 60, UTC)
    if instant.astimezone(zone).replace(tzinfo=None) != label:
        return first
    return instant


def latest_temperatures(store: Store, kiosk_ids: list[int], now: datetime) -> dict[int, float | None]:
    """KioskSummary.latestTemperature of many kiosks in one query: the mean over each kiosk's sensors of the
    reading at the minute of `now`, rounded to 1 decimal (None for a kiosk without sensors)."""
    if not kiosk_ids:
        return {}
    minute = int(now.timestamp()) // 60
    params = {"kiosks": list(kiosk_ids), "first": minute, "last": minute}
    rows = store.query(_MINUTES_SQL, params)
    values: dict[int, list[float]] = {}
    for kiosk_id, _position, _m, celsius in rows:
        values.setdefault(kiosk_id, []).append(float(celsius))
    return {k: (round(sum(values[k]) / len(values[k]), 1) if values.get(k) else None) for k in kiosk_ids}


def window_days(start_utc: datetime, end_utc: datetime) -> float:
    return (end_utc - start_utc) / timedelta(days=1)
