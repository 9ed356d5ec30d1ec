"""GET /transactions, /transactions/{id}, /refills, /refills/{id}: skip paging, created DESC by default.

The facts are large (millions of rows), so a page never scans or counts them whole:
- `Store.page_slice` takes the total from memoized per-day counts and narrows the page to the UTC days (on
  a busy fleet: hours) that hold it, with the offset inside them, so the ORDER BY/LIMIT sorts at most a
  few thousand rows that DuckDB's zone maps on `created` find without a scan, however deep the skip;
- the page's lines are read by id range plus a literal id list (ids grow with insertion, so the range is a
  few row groups of the line table), and DuckDB renders each line as JSON, which goes into the response
  as is (`orjson.Fragment`): a page holds up to a few thousand lines, and converting their values to
  Python objects and back cost more than everything else together.
Money is read as DOUBLE: DECIMAL(12,2) -> DOUBLE is the correctly rounded value, the same float that
`money()` gives for the Decimal, without the per-value Python work.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from simulator.params import render_instant
from simulator.routes import Ctx, Handler, Reply, in_list_sql, paged, route
from simulator.store import add_range

_TX_SORT = {
    "created": "t.created",
    "total": "t.total",
    "kioskName": "k.name",
    "type": "t.created",
}  # every row is a purchase


def _kiosk_filter(ctx: Ctx) -> list[int] | None:
    """Ids of the kiosks named by `kioskSerialNumbers` (unknown serials match nothing); None = no filter."""
    serials = ctx.query.csv("kioskSerialNumbers")
    if serials is None:
        return None

    def lookup() -> tuple[int, ...]:
        params: list[Any] = []
        sql = f"SELECT id FROM kiosks WHERE {in_list_sql('serial_number', serials, params)} ORDER BY id"
        return tuple(r[0] for r in ctx.store.query(sql, params))

    return list(ctx.store.memo(("kiosk_ids", tuple(serials)), lookup))


def _fact_where(
    alias: str,
    org_ids: list[int] | None,
    kiosk_ids: list[int] | None,
    lo: datetime | None,
    hi: datetime | None,
    params: list[Any],
) -> str:
    where = [in_list_sql(f"{alias}.organization_id", org_ids, params)]
    if kiosk_ids is not None:
        where.append(in_list_sql(f"{alias}.kiosk_id", kiosk_ids, params))
    add_range(where, params, f"{alias}.created", lo, hi)
    return " AND ".join(where)


def _page_headers(
    ctx: Ctx, table: str, alias: str, columns: str, *, order: str | None = None, join: str = ""
) -> tuple[int, list[dict[str, Any]]]:
    """The total and the header rows of one page of `table` (`transactions` or `refills`).

    `order` None means the default `created` order, which `Store.page_slice` narrows to the page's days or
    hours; another order (e.g. by total) has to look at every matching row, but still counts from the day
    counts."""
    q = ctx.query
    descending = q.sort_direction(-1) != 1
    direction = "DESC" if descending else "ASC"
    limit, skip = q.limit(), q.skip()
    win = ctx.window()
    org_ids, kiosk_ids = ctx.org_ids, _kiosk_filter(ctx)
    page = ctx.store.page_slice(
        table,
        org_ids=org_ids,
        kiosk_ids=kiosk_ids,
        start=win.start,
        end=win.end,
        skip=skip,
        limit=limit,
        descending=descending,
    )
    if page.empty:
        return page.total, []
    params: list[Any] = []
    if order is None:
        where = _fact_where(alias, org_ids, kiosk_ids, page.lo, page.hi, params)
        order_sql, offset = f"{alias}.created {direction}", page.offset
    else:
        where = _fact_where(alias, org_ids, kiosk_ids, win.start, win.end, params)
        # Other columns tie often, so `created` then `id` make the order total and paging stable.
        order_sql, offset = f"{order} {direction}, {alias}.created {direction}", skip
    rows = ctx.store.query_records(
        f"SELECT {columns} FROM {table} {alias} {join} WHERE {where} "
        f"ORDER BY {order_sql}, {alias}.id {direction} LIMIT ? OFFSET ?",
        [*params, limit, offset],
    )
    return page.total, _instants(rows)


def _kiosk_refs(ctx: Ctx, kiosk_ids: set[int]) -> dict[int, dict[str, Any]]:
    """Kiosk references by id. They never change once a kiosk exists (the clock only adds kiosks), so they
    are cached on the simulator's state; a miss (a kiosk added since) reads the table."""
    cache: dict[int, tuple[str, str]] = ctx.state.__dict__.setdefault("_kiosk_refs", {})
    missing = sorted(k for k in kiosk_ids if k not in cache)
    if missing:
        params: list[Any] = []
        rows = ctx.store.query(
            f"SELECT id, name, serial_number FROM kiosks WHERE {in_list_sql('id', missing, params)}", params
        )
        for r in rows:
            cache[r[0]] = (r[1], r[2])
    # A fresh dict per render, so that no payload shares objects with the cache.
    return {k: {"id": k, "name": cache[k][0], "serialNumber": cache[k][1]} for k in kiosk_ids}


# Each line as the contract's JSON object, in the contract's property order. vatRate is an integer when the
# rate is whole (19) and a fraction otherwise (7.7), like `routes.number`.
_LINE_JSON = {
    "transaction_items": """to_json(struct_pack(
        "productLineId" := product_line_id, "productMetaId" := product_id, "name" := name, "ean" := ean,
        "planogramPosition" := planogram_position, "quantity" := quantity, "price" := price::DOUBLE,
        "vatRate" := CASE WHEN vat_rate = trunc(vat_rate) THEN to_json(vat_rate::BIGINT)
                          ELSE to_json(vat_rate::DOUBLE) END,
        "discount" := discount::DOUBLE, "total" := total::DOUBLE, "cost" := cost::DOUBLE))""",
    "refill_items": """to_json(struct_pack(
        "productLineId" := product_line_id, "productMetaId" := product_id, "name" := name, "ean" := ean,
        "planogramPosition" := planogram_position, "added" := added, "removed" := removed,
        "removedExpired" := removed_expired, "cost" := cost::DOUBLE, "price" := price::DOUBLE,
        "expirationDate" := expiration_date))""",
}
_LINE_KEY = {"transaction_items": "transaction_id", "refill_items": "refill_id"}
NO_LINES = orjson.Fragment(b"[]")


def _lines(ctx: Ctx, table: str, headers: list[dict[str, Any]]) -> dict[int, orjson.Fragment]:
    """The JSON array of each header's lines (in line order), by header id; headers without lines are absent.

    Ids grow with insertion and lines are appended with their header, so the id range selects a few row
    groups by zone map; the literal id list then filters inside them (a bound list parameter would become a
    semi-join over the whole table)."""
    if not headers:
        return {}
    key = _LINE_KEY[table]
    ids = sorted({int(h["id"]) for h in headers})
    rows = ctx.store.query(
        f"SELECT {key}, line_number, {_LINE_JSON[table]} FROM {table} WHERE {key} BETWEEN ? AND ? "
        f"AND {key} IN ({', '.join(map(str, ids))})",
        [ids[0], ids[-1]],
    )
    rows.sort()  # by header, then line number (cheaper here than an ORDER BY in the query)
    grouped: dict[int, list[str]] = {}
    for header_id, _line_number, line in rows:
        grouped.setdefault(header_id, []).append(line)
    return {k: orjson.Fragment("[" + ",".join(v) + "]") for k, v in grouped.items()}


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Timestamps come as epoch microseconds and are converted here: much cheaper than DuckDB's TIMESTAMPTZ to
# Python conversion (measured: 4-5 ms per 100-row page).
TX_COLUMNS = (
    "t.id, epoch_us(t.created) AS created_us, t.kiosk_id, t.organization_id, t.user_id, t.is_paid, "
    "t.ended_with_purchase, t.payment_type, t.card_type, t.payment_card_type, t.membercard_id, "
    "t.external_transaction_id, epoch_us(t.session_closed_at) AS session_closed_us, "
    "t.total::DOUBLE AS total, t.discount_total::DOUBLE AS discount_total, t.currency"
)
REFILL_COLUMNS = (
    "r.id, epoch_us(r.created) AS created_us, r.kiosk_id, r.organization_id, r.type, r.operator_user_id, "
    "epoch_us(r.session_closed_at) AS session_closed_us"
)


def _instants(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for r in rows:
        r["created"] = _EPOCH + timedelta(microseconds=r.pop("created_us"))
        closed = r.pop("session_closed_us")
        r["session_closed_at"] = None if closed is None else _EPOCH + timedelta(microseconds=closed)
    return rows


Renderer = Callable[[dict[str, Any], orjson.Fragment, dict[str, Any], ZoneInfo], dict[str, Any]]


def _render_transaction(
    t: dict[str, Any], items: orjson.Fragment, kiosk: dict[str, Any], tz: ZoneInfo
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
        "total": t["total"],
        "discountTotal": t["discount_total"],
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
        "itemsPurchased": items,
    }


@route("GET", "/transactions")
def list_transactions(ctx: Ctx) -> Reply:
    ctx.require("transactions:read")
    sort_column = _TX_SORT[ctx.query.sort_by(list(_TX_SORT), "created")]
    total, headers = _page_headers(
        ctx,
        "transactions",
        "t",
        TX_COLUMNS,
        order=None if sort_column == "t.created" else sort_column,
        join="JOIN kiosks k ON k.id = t.kiosk_id" if sort_column == "k.name" else "",
    )
    tz = ctx.tz
    items = _lines(ctx, "transaction_items", headers)
    kiosks = _kiosk_refs(ctx, {h["kiosk_id"] for h in headers})
    membercards = sorted({h["membercard_id"] for h in headers if h["membercard_id"]})
    data = [_render_transaction(h, items.get(h["id"], NO_LINES), kiosks[h["kiosk_id"]], tz) for h in headers]
    return paged(total, data, membercardList=membercards)


def _visible_row(ctx: Ctx, table_alias: str, columns: str, row_id: int, label: str) -> dict[str, Any]:
    """One transaction or refill by id; 404 when unknown or outside the client's organizations."""
    alias = table_alias.split()[1]
    rows = _instants(
        ctx.store.query_records(f"SELECT {columns} FROM {table_alias} WHERE {alias}.id = ?", [row_id])
    )
    return ctx.visible(rows, f"{label} {row_id}")


def _render_refill(
    r: dict[str, Any], items: orjson.Fragment, kiosk: dict[str, Any], tz: ZoneInfo
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
    out["itemsReplenished"] = items
    return out


@route("GET", "/refills")
def list_refills(ctx: Ctx) -> Reply:
    ctx.require("refills:read")
    total, headers = _page_headers(ctx, "refills", "r", REFILL_COLUMNS)
    tz = ctx.tz
    items = _lines(ctx, "refill_items", headers)
    kiosks = _kiosk_refs(ctx, {h["kiosk_id"] for h in headers})
    return paged(
        total,
        [_render_refill(h, items.get(h["id"], NO_LINES), kiosks[h["kiosk_id"]], tz) for h in headers],
    )


def _get_one(
    scope: str, table_alias: str, columns: str, label: str, line_table: str, render: Renderer
) -> Handler:
    """GET /transactions/{id} or /refills/{id}: one record, rendered exactly as in its list."""

    def handler(ctx: Ctx) -> Reply:
        ctx.require(scope)
        row_id = ctx.path_int("id")
        row = _visible_row(ctx, table_alias, columns, row_id, label)
        items = _lines(ctx, line_table, [row])
        kiosk = _kiosk_refs(ctx, {row["kiosk_id"]})[row["kiosk_id"]]
        return Reply(200, render(row, items.get(row_id, NO_LINES), kiosk, ctx.tz))

    return handler


for _path, _scope, _table_alias, _columns, _label, _line_table, _render in (
    ("/transactions/{id}", "transactions:read", "transactions t", TX_COLUMNS, "Transaction",
     "transaction_items", _render_transaction),
    ("/refills/{id}", "refills:read", "refills r", REFILL_COLUMNS, "Refill", "refill_items", _render_refill),
):  # fmt: skip
    route("GET", _path)(_get_one(_scope, _table_alias, _columns, _label, _line_table, _render))
