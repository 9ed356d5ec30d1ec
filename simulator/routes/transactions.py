"""GET /transactions, /transactions/{id}, /refills, /refills/{id}: skip paging, created DESC by default.

The facts are large (millions of rows), so a page is fetched in two cheap steps: the page's header rows
(the ORDER BY/LIMIT runs on the fact table alone, helped by DuckDB's zone maps on `created`), then their
lines with a predicate on the page's id and created range so the line table's zone maps prune almost
everything.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from simulator.params import Window, render_instant
from simulator.problems import not_found
from simulator.routes import Ctx, Reply, in_list_sql, iso_date, money, number, paged, route, sim_now

# Below this many matching rows a plain top-N is cheap enough; above it the `created` bound pays off.
BOUND_MIN_ROWS = 50_000
_TX_SORT = {
    "created": "t.created",
    "total": "t.total",
    "kioskName": "k.name",
    "type": "t.created",
}  # every row is a purchase


def _fact_filters(ctx: Ctx, alias: str, win: Window, params: list[Any]) -> list[str]:
    where = [in_list_sql(f"{alias}.organization_id", ctx.org_ids, params)]
    if win.start is not None:
        where.append(f"{alias}.created >= ?")
        params.append(win.start)
    if win.end is not None:
        where.append(f"{alias}.created <= ?")
        params.append(win.end)
    serials = ctx.query.csv("kioskSerialNumbers")
    if serials is not None:
        placeholders = ", ".join("?" for _ in serials)
        kiosk_ids = [
            r[0]
            for r in ctx.store.query(
                f"SELECT id FROM kiosks WHERE serial_number IN ({placeholders})", serials
            )
        ]
        where.append(in_list_sql(f"{alias}.kiosk_id", kiosk_ids, params))
    return where


def _created_bound(
    ctx: Ctx,
    table: str,
    where_sql: str,
    params: list[Any],
    win: Window,
    direction: str,
    needed: int,
    total: int,
) -> tuple[str, list[Any]]:
    """A `created` bound that still holds the first `needed` rows of the order, so the top-N only reads the
    row groups near that end of the table (zone maps) instead of sorting millions of rows.

    The bound is estimated from the row density, then verified by counting; it widens until it holds enough
    rows (bounded number of probes; without a verified bound the query simply runs unbounded).
    """
    store = ctx.store
    newest = win.end or sim_now(ctx)
    oldest = win.start or _oldest_created(ctx, table)
    if oldest is None or newest <= oldest:
        return "", []
    span = (newest - oldest) * min(1.0, 1.5 * needed / total)
    for _ in range(24):
        if direction == "DESC":
            cutoff, clause = newest - span, " AND t.created >= ?"
        else:
            cutoff, clause = oldest + span, " AND t.created <= ?"
        if (direction == "DESC" and cutoff <= oldest) or (direction == "ASC" and cutoff >= newest):
            return "", []
        count = store.scalar(f"SELECT count(*) FROM {table} t WHERE {where_sql}{clause}", [*params, cutoff])
        if count >= needed:
            return clause, [cutoff]
        span *= 2 if count == 0 else min(8.0, max(1.25, 1.2 * needed / count))
    return "", []


def _oldest_created(ctx: Ctx, table: str) -> datetime | None:
    # Only an estimate for the bound above (which is verified), so a cached value may be slightly stale.
    cache = ctx.state.__dict__.setdefault("_oldest_created", {})
    if table not in cache:
        cache[table] = ctx.store.scalar(f"SELECT min(created) FROM {table}")
    return cache[table]


def _kiosk_refs(ctx: Ctx, kiosk_ids: set[int]) -> dict[int, dict[str, Any]]:
    if not kiosk_ids:
        return {}
    params: list[Any] = []
    rows = ctx.store.query(
        f"SELECT id, name, serial_number FROM kiosks WHERE {in_list_sql('id', sorted(kiosk_ids), params)}",
        params,
    )
    return {r[0]: {"id": r[0], "name": r[1], "serialNumber": r[2]} for r in rows}


# Line columns the renderers use (no timestamps: converting TIMESTAMPTZ values to Python is the slowest part
# of a fetch).
_LINE_COLUMNS = {
    "transaction_items": "transaction_id, line_number, product_line_id, product_id, name, ean, "
    "planogram_position, quantity, price, vat_rate, discount, total, cost",
    "refill_items": "refill_id, line_number, product_line_id, product_id, name, ean, planogram_position, "
    "added, removed, removed_expired, cost, price, expiration_date",
}
# Rows of a page span a `created` range with other kiosks' rows in between; above this many pages' worth of
# kiosks the line lookup switches from "range + kiosks, filter in Python" to an id list.
_RANGE_LOOKUP_MAX_SPAN = 6 * 3600


def _lines(ctx: Ctx, table: str, key: str, headers: list[dict[str, Any]]) -> dict[int, list[dict[str, Any]]]:
    """The lines of the page's headers, grouped by header id, in line order.

    DuckDB evaluates a long IN list slowly, while a `created` range plus the page's kiosks is pruned by zone
    maps; so for pages that cover a short time span the lines are read by range and filtered here.
    """
    if not headers:
        return {}
    ids = {int(h["id"]) for h in headers}
    created = [h["created"] for h in headers]
    kiosk_ids = sorted({int(h["kiosk_id"]) for h in headers})
    columns = _LINE_COLUMNS[table]
    kiosks_sql = f"kiosk_id IN ({', '.join(map(str, kiosk_ids))})"
    if (max(created) - min(created)).total_seconds() <= _RANGE_LOOKUP_MAX_SPAN:
        sql = f"SELECT {columns} FROM {table} WHERE created BETWEEN ? AND ? AND {kiosks_sql}"
    else:
        id_list = ", ".join(map(str, sorted(ids)))
        sql = (
            f"SELECT {columns} FROM {table} WHERE created BETWEEN ? AND ? AND {kiosks_sql} "
            f"AND {key} IN ({id_list})"
        )
    rows = ctx.store.query_dicts(sql, [min(created), max(created)])
    grouped: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        if r[key] in ids:
            grouped[r[key]].append(r)
    for lines in grouped.values():
        lines.sort(key=lambda r: r["line_number"])
    return grouped


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Timestamps come as epoch microseconds and are converted here: much cheaper than DuckDB's TIMESTAMPTZ to
# Python conversion (measured: 4-5 ms per 100-row page).
TX_COLUMNS = (
    "t.id, epoch_us(t.created) AS created_us, t.kiosk_id, t.organization_id, t.user_id, t.is_paid, "
    "t.ended_with_purchase, t.payment_type, t.card_type, t.payment_card_type, t.membercard_id, "
    "t.external_transaction_id, epoch_us(t.session_closed_at) AS session_closed_us, t.total, "
    "t.discount_total, t.currency"
)


def _instants(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for r in rows:
        r["created"] = _EPOCH + timedelta(microseconds=r.pop("created_us"))
        closed = r.pop("session_closed_us")
        r["session_closed_at"] = None if closed is None else _EPOCH + timedelta(microseconds=closed)
    return rows


def _render_transaction(
    t: dict[str, Any], items: list[dict[str, Any]], kiosk: dict[str, Any], tz: ZoneInfo
) -> dict[str, Any]:
    details: dict[str, Any] = {
        "sessionClosedAt": None
        if t["session_closed_at"] is None
        else render_instant(t["session_closed_at"], tz),
        "endedWithPurchase": bool(t["ended_with_purchase"]),
        "externalTransactionId": t["external_transaction_id"],
    }
    return {
        "id": t["id"],
        "created": render_instant(t["created"], tz),
        "total": money(t["total"]),
        "discountTotal": money(t["discount_total"]),
        "currency": t["currency"],
        "type": "purchase",
        "userId": t["user_id"],
        "session": {"details": details},
        "kiosk": kiosk,
        "paymentMethod": {
            "isPaid": bool(t["is_paid"]),
            "membercardId": t["membercard_id"],
            "paymentCardType": t["payment_card_type"],
            "cardType": t["card_type"],
            "paymentType": t["payment_type"],
            "externalTransactionId": t["external_transaction_id"],
        },
        "itemsPurchased": [
            {
                "productLineId": i["product_line_id"],
                "productMetaId": i["product_id"],
                "name": i["name"],
                "ean": i["ean"],
                "planogramPosition": i["planogram_position"],
                "quantity": int(i["quantity"]),
                "price": money(i["price"]),
                "vatRate": number(i["vat_rate"]),
                "discount": money(i["discount"]),
                "total": money(i["total"]),
                "cost": money(i["cost"]),
            }
            for i in items
        ],
    }


@route("GET", "/transactions")
def list_transactions(ctx: Ctx) -> Reply:
    ctx.require("transactions:read")
    q = ctx.query
    direction = "ASC" if q.sort_direction(-1) == 1 else "DESC"
    sort_by = q.sort_by(list(_TX_SORT), "created")
    limit, skip = q.limit(), q.skip()
    tz = ctx.tz
    win = ctx.window()
    params: list[Any] = []
    where_sql = " AND ".join(_fact_filters(ctx, "t", win, params))
    total = ctx.store.scalar(f"SELECT count(*) FROM transactions t WHERE {where_sql}", params)
    join = "JOIN kiosks k ON k.id = t.kiosk_id" if sort_by == "kioskName" else ""
    # Every column but `created` ties often, so `created` then `id` make the order total and paging stable.
    order = f"{_TX_SORT[sort_by]} {direction}"
    bound_sql, bound_params = "", []
    if _TX_SORT[sort_by] != "t.created":
        order += f", t.created {direction}"
    elif total > max(BOUND_MIN_ROWS, 20 * (skip + limit)):
        bound_sql, bound_params = _created_bound(
            ctx, "transactions", where_sql, params, win, direction, skip + limit, total
        )
    headers = _instants(
        ctx.store.query_dicts(
            f"SELECT {TX_COLUMNS} FROM transactions t {join} WHERE {where_sql}{bound_sql} "
            f"ORDER BY {order}, t.id {direction} "
            "LIMIT ? OFFSET ?",
            [*params, *bound_params, limit, skip],
        )
    )
    items = _lines(ctx, "transaction_items", "transaction_id", headers)
    kiosks = _kiosk_refs(ctx, {h["kiosk_id"] for h in headers})
    membercards = sorted({h["membercard_id"] for h in headers if h["membercard_id"]})
    data = [_render_transaction(h, items.get(h["id"], []), kiosks[h["kiosk_id"]], tz) for h in headers]
    return paged(total, data, membercardList=membercards)


@route("GET", "/transactions/{id}")
def get_transaction(ctx: Ctx) -> Reply:
    ctx.require("transactions:read")
    tx_id = ctx.path_int("id")
    tz = ctx.tz
    rows = _instants(
        ctx.store.query_dicts(f"SELECT {TX_COLUMNS} FROM transactions t WHERE t.id = ?", [tx_id])
    )
    if not rows or not ctx.org_visible(rows[0]["organization_id"]):
        raise not_found(f"Transaction {tx_id} not found")
    t = rows[0]
    items = _lines(ctx, "transaction_items", "transaction_id", [t])
    kiosk = _kiosk_refs(ctx, {t["kiosk_id"]})[t["kiosk_id"]]
    return Reply(200, _render_transaction(t, items.get(tx_id, []), kiosk, tz))


def _render_refill(
    r: dict[str, Any], items: list[dict[str, Any]], kiosk: dict[str, Any], tz: ZoneInfo
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": r["id"],
        "created": render_instant(r["created"], tz),
        "type": r["type"],
    }
    # Optional, non-nullable properties in the contract: absent rather than null.
    if r["operator_user_id"] is not None:
        out["operatorUserId"] = r["operator_user_id"]
    if r["session_closed_at"] is not None:
        out["sessionClosedAt"] = render_instant(r["session_closed_at"], tz)
    out["kiosk"] = kiosk
    out["itemsReplenished"] = [
        {
            "productLineId": i["product_line_id"],
            "productMetaId": i["product_id"],
            "name": i["name"],
            "ean": i["ean"],
            "planogramPosition": i["planogram_position"],
            "added": int(i["added"]),
            "removed": int(i["removed"]),
            "removedExpired": int(i["removed_expired"]),
            "cost": money(i["cost"]),
            "price": money(i["price"]),
            "expirationDate": iso_date(i["expiration_date"]),
        }
        for i in items
    ]
    return out


@route("GET", "/refills")
def list_refills(ctx: Ctx) -> Reply:
    ctx.require("refills:read")
    q = ctx.query
    direction = "ASC" if q.sort_direction(-1) == 1 else "DESC"
    limit, skip = q.limit(), q.skip()
    tz = ctx.tz
    win = ctx.window()
    params: list[Any] = []
    where_sql = " AND ".join(_fact_filters(ctx, "r", win, params))
    total = ctx.store.scalar(f"SELECT count(*) FROM refills r WHERE {where_sql}", params)
    headers = ctx.store.query_dicts(
        f"SELECT r.* FROM refills r WHERE {where_sql} ORDER BY r.created {direction}, r.id {direction} "
        "LIMIT ? OFFSET ?",
        [*params, limit, skip],
    )
    items = _lines(ctx, "refill_items", "refill_id", headers)
    kiosks = _kiosk_refs(ctx, {h["kiosk_id"] for h in headers})
    return paged(
        total, [_render_refill(h, items.get(h["id"], []), kiosks[h["kiosk_id"]], tz) for h in headers]
    )


@route("GET", "/refills/{id}")
def get_refill(ctx: Ctx) -> Reply:
    ctx.require("refills:read")
    refill_id = ctx.path_int("id")
    tz = ctx.tz
    rows = ctx.store.query_dicts("SELECT * FROM refills WHERE id = ?", [refill_id])
    if not rows or not ctx.org_visible(rows[0]["organization_id"]):
        raise not_found(f"Refill {refill_id} not found")
    r = rows[0]
    items = _lines(ctx, "refill_items", "refill_id", [r])
    kiosk = _kiosk_refs(ctx, {r["kiosk_id"]})[r["kiosk_id"]]
    return Reply(200, _render_refill(r, items.get(refill_id, []), kiosk, tz))
