"""GET /kiosks, /kiosks/{serialNumber}, /kiosks/{serialNumber}/inventory, /kiosks/{serialNumber}/session."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from simulator.params import render_instant, render_utc
from simulator.problems import bad_request, not_found
from simulator.routes import (
    Ctx,
    Reply,
    ilike_contains,
    in_list_sql,
    iso_date,
    money,
    number,
    paged,
    route,
    sim_now,
)
from simulator.routes.temperature_now import latest_temperatures

# A kiosk counts as online when it reported within this long before the simulator's now.
ONLINE_WITHIN = timedelta(minutes=15)
# Longer than any history the simulator holds; keeps date arithmetic in range for absurd values.
MAX_AGE_MINUTES = 60 * 24 * 366 * 100

_SORT_COLUMNS = {
    "name": "k.name",
    "serialNumber": "k.serial_number",
    "networkLastOnline": "k.network_last_online",
    "organizationName": "k.organization_name",
    "latestTemperature": "latest_temperature",
    "todaySalesTotal": "today_sales_total",
}


@route("GET", "/kiosks")
def list_kiosks(ctx: Ctx) -> Reply:
    ctx.require("kiosks:read")
    q = ctx.query
    direction = "ASC" if q.sort_direction(1) == 1 else "DESC"
    column = q.enum("sortColumn", list(_SORT_COLUMNS), "name")
    limit, page = q.limit(), q.page()
    name = q.string("name")
    params: list[Any] = []
    where = [in_list_sql("k.organization_id", ctx.org_ids, params)]
    if name:
        where.append(ilike_contains("k.name", name, params))
    where_sql = " AND ".join(where)
    total = ctx.store.scalar(f"SELECT count(*) FROM kiosks k WHERE {where_sql}", params)
    rows = _kiosk_rows(
        ctx,
        where_sql,
        params,
        f"{_SORT_COLUMNS[column]} {direction} NULLS LAST, k.id",
        limit,
        (page - 1) * limit,
        sort_by_temperature=column == "latestTemperature",
    )
    return paged(total, rows)


def _kiosk_rows(
    ctx: Ctx,
    where_sql: str,
    params: list[Any],
    order_sql: str,
    limit: int,
    offset: int,
    *,
    sort_by_temperature: bool,
) -> list[dict[str, Any]]:
    now = sim_now(ctx)
    # todaySalesTotal: paid purchases since the kiosk's local midnight of the simulator's day.
    sql = f"""
        WITH page_kiosks AS (
            SELECT k.*, o.name AS organization_name
            FROM kiosks k JOIN organizations o ON o.id = k.organization_id
            WHERE {where_sql}
        ),
        sales AS (
            SELECT t.kiosk_id, sum(t.total) AS today_sales_total
            FROM transactions t JOIN page_kiosks k ON k.id = t.kiosk_id
            WHERE t.created >= timezone(k.timezone, date_trunc('day', timezone(k.timezone, ?::TIMESTAMPTZ)))
              AND t.created <= ?::TIMESTAMPTZ AND t.is_paid AND t.ended_with_purchase
              -- A constant bound (no zone is 2 days away from UTC) lets DuckDB skip old row groups.
              AND t.created >= ?::TIMESTAMPTZ - INTERVAL 2 DAY
            GROUP BY t.kiosk_id
        ),
        cells AS (
            SELECT kiosk_id, count(*) AS load_cell_count FROM load_cells
            WHERE kiosk_id IN (SELECT id FROM page_kiosks) GROUP BY kiosk_id
        )
        SELECT k.id, k.serial_number, k.name, k.organization_id, k.organization_name, k.timezone, k.street,
               k.postal_code, k.city, k.country_code, k.network_last_online, k.created_at,
               coalesce(s.today_sales_total, 0) AS today_sales_total, coalesce(c.load_cell_count, 0) AS cells
        FROM page_kiosks k LEFT JOIN sales s ON s.kiosk_id = k.id LEFT JOIN cells c ON c.kiosk_id = k.id
    """
    all_params = [*params, now, now, now]
    if sort_by_temperature:
        # Temperatures are computed outside SQL, so sort the (small) fleet in Python.
        rows = ctx.store.query_dicts(sql, all_params)
        temps = latest_temperatures(ctx.store, [r["id"] for r in rows], now)
        descending = "DESC" in order_sql.split(",")[0]
        present = [r for r in rows if temps.get(r["id"]) is not None]
        missing = [r for r in rows if temps.get(r["id"]) is None]
        present.sort(key=lambda r: (temps[r["id"]], r["id"]), reverse=descending)
        rows = (present + missing)[offset : offset + limit]
    else:
        rows = ctx.store.query_dicts(
            f"{sql} ORDER BY {order_sql} LIMIT ? OFFSET ?", [*all_params, limit, offset]
        )
        temps = latest_temperatures(ctx.store, [r["id"] for r in rows], now)
    return [
        {
            "serialNumber": r["serial_number"],
            "name": r["name"],
            "orgId": str(r["organization_id"]),
            "organizationName": r["organization_name"],
            "timezone": r["timezone"],
            "address": {
                "street": r["street"],
                "postalCode": r["postal_code"],
                "city": r["city"],
                "countryCode": r["country_code"],
            },
            "networkLastOnline": render_utc(r["network_last_online"]),
            "online": r["network_last_online"] >= now - ONLINE_WITHIN,
            "latestTemperature": temps.get(r["id"]),
            "todaySalesTotal": money(r["today_sales_total"]),
            "loadCellCount": int(r["cells"]),
            "createdAt": render_utc(r["created_at"]),
        }
        for r in rows
    ]


def _visible_kiosk(ctx: Ctx) -> dict[str, Any]:
    serial = ctx.path_params["serialNumber"]
    rows = ctx.store.query_dicts(
        """SELECT k.*, o.name AS organization_name, o.currency, o.support_email, o.support_hotline,
                  o.contact_person, o.contact_email, o.contact_phone
           FROM kiosks k JOIN organizations o ON o.id = k.organization_id WHERE k.serial_number = ?""",
        [serial],
    )
    if not rows or not ctx.org_visible(rows[0]["organization_id"]):
        raise not_found(f"Kiosk {serial} not found")
    return rows[0]


def load_cells(ctx: Ctx, kiosk_id: int) -> list[dict[str, Any]]:
    rows = ctx.store.query_dicts(
        """
        SELECT lc.id AS load_cell_id, lc.planogram_position, lc.surface_size, lc.cell_id, lc.capacity,
               pl.id AS product_line_id, pl.price, pl.vat_rate, p.id AS product_id, p.name, p.manufacturer,
               p.cost, coalesce(inv.count, 0) AS count, inv.next_expiration_date
        FROM load_cells lc
        LEFT JOIN product_lines pl ON pl.load_cell_id = lc.id AND pl.active
        LEFT JOIN products p ON p.id = pl.product_id
        LEFT JOIN inventory inv ON inv.load_cell_id = lc.id
        WHERE lc.kiosk_id = ?
        ORDER BY lc.cell_id
        """,
        [kiosk_id],
    )
    return [
        {
            "loadCellId": r["load_cell_id"],
            "planogramPosition": r["planogram_position"],
            "surfaceSize": number(r["surface_size"]),
            "cellId": r["cell_id"],
            "productLineData": None
            if r["product_line_id"] is None
            else {
                "productLineId": r["product_line_id"],
                "productMetaId": r["product_id"],
                "name": r["name"],
                "manufacturer": r["manufacturer"],
                "price": money(r["price"]),
                "vatRate": number(r["vat_rate"]),
                "cost": money(r["cost"]),
                "capacity": int(r["capacity"]),
                "count": max(0, min(int(r["count"]), int(r["capacity"]))),
                "nextExpirationDate": iso_date(r["next_expiration_date"]),
            },
        }
        for r in rows
    ]


@route("GET", "/kiosks/{serialNumber}")
def get_kiosk(ctx: Ctx) -> Reply:
    ctx.require("kiosks:read")
    k = _visible_kiosk(ctx)
    return Reply(
        200,
        {
            "_id": k["serial_number"],
            "name": k["name"],
            "orgId": str(k["organization_id"]),
            "serialNumber": k["serial_number"],
            "timezone": k["timezone"],
            "inventory": {"loadCells": load_cells(ctx, k["id"])},
            "controller": _drop_nulls(
                {
                    "preAuth": money(k["pre_auth"]),
                    "tabletLang": k["tablet_lang"],
                    "tabletFont": k["tablet_font"],
                    "paymentType": k["payment_type"],
                    "minimumAge": k["minimum_age"],
                    "serviceCheck": _drop_nulls(
                        {
                            "enabled": k["service_check_enabled"],
                            "intervalDays": k["service_check_interval_days"],
                        }
                    ),
                }
            ),
            "ownerOrganization": {
                "_id": str(k["organization_id"]),
                "name": k["organization_name"],
                "currency": k["currency"],
                "support": _drop_nulls({"email": k["support_email"], "hotline": k["support_hotline"]}),
                "contact": _drop_nulls(
                    {
                        "contactPerson": k["contact_person"],
                        "email": k["contact_email"],
                        "phoneNumber": k["contact_phone"],
                    }
                ),
                "kioskInitScreen": {},
            },
        },
    )


def _drop_nulls(obj: dict[str, Any]) -> dict[str, Any]:
    # The contract types these optional properties without null, so absent beats null.
    return {k: v for k, v in obj.items() if v is not None}


@route("GET", "/kiosks/{serialNumber}/inventory")
def get_inventory(ctx: Ctx) -> Reply:
    ctx.require("inventory:read")
    k = _visible_kiosk(ctx)
    return Reply(200, load_cells(ctx, k["id"]))


@route("GET", "/kiosks/{serialNumber}/session")
def get_session(ctx: Ctx) -> Reply:
    ctx.require("kiosks:read")
    max_age = ctx.query.real("maxAgeMinutes", 30)
    if max_age < 0:
        raise bad_request("maxAgeMinutes must be >= 0")
    max_age = min(max_age, MAX_AGE_MINUTES)
    tz = ctx.tz
    k = _visible_kiosk(ctx)
    rows = ctx.store.query_dicts("SELECT * FROM sessions WHERE kiosk_id = ?", [k["id"]])
    now = sim_now(ctx)
    if not rows or rows[0]["updated_at"] < now - timedelta(minutes=max_age):
        raise not_found(f"Kiosk {k['serial_number']} has no session within the last {max_age:g} minutes")
    s = rows[0]
    details: dict[str, Any] = {
        "sessionClosedAt": None
        if s["session_closed_at"] is None
        else render_instant(s["session_closed_at"], tz),
        "endedWithPurchase": bool(s["ended_with_purchase"]),
    }
    if s["external_transaction_id"] is not None:
        details["externalTransactionId"] = s["external_transaction_id"]
    return Reply(
        200,
        {
            "status": s["status"],
            "type": s["type"],
            "createdAt": render_instant(s["created_at"], tz),
            "updatedAt": render_instant(s["updated_at"], tz),
            "isTerminal": bool(s["is_terminal"]),
            "details": details,
        },
    )
