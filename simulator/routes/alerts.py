"""GET /alerts (offset paging, startDate DESC by default) and GET /alerts/types."""

from __future__ import annotations

from typing import Any

from simulator.params import render_utc
from simulator.routes import Ctx, Reply, in_list_sql, page_of, paged, route
from simulator.store import add_range

_ORDER_COLUMNS = {"startDate": "a.start_date", "createdAt": "a.created_at"}


@route("GET", "/alerts")
def list_alerts(ctx: Ctx) -> Reply:
    ctx.require("alerts:read")
    q = ctx.query
    limit, offset = q.limit(default=50), q.skip("offset")
    order_column = _ORDER_COLUMNS[q.enum("orderBy", list(_ORDER_COLUMNS), "startDate")]
    direction = q.enum("orderDirection", ["ASC", "DESC"], "DESC")
    params: list[Any] = []
    where = [in_list_sql("a.organization_id", ctx.org_ids, params)]
    for name, column, allowed in (
        ("kioskSerialNumbers", "k.serial_number", None),
        ("types", "a.type", None),
        ("severities", "a.severity", ["low", "mid", "high"]),
        ("statuses", "a.status", ["open", "raised", "resolved"]),
    ):
        values = q.csv(name) if allowed is None else q.csv_enum(name, allowed)
        if values is not None:
            where.append(f"{column} IN (SELECT unnest(?))")
            params.append(values)
    is_ack = q.boolean("isAck")
    if is_ack is not None:
        where.append("a.is_ack = ?")
        params.append(is_ack)
    win = ctx.window("startDateFrom", "startDateTo")
    add_range(where, params, "a.start_date", win.start, win.end)
    joined = "alerts a JOIN kiosks k ON k.id = a.kiosk_id"
    select = f"SELECT a.*, k.serial_number, k.name AS kiosk_name FROM {joined}"
    order = f"{order_column} {direction}, a.id {direction}"
    total, rows = page_of(ctx, joined, select, where, params, order, limit, offset)
    return paged(
        total,
        [
            {
                "id": r["id"],
                "type": r["type"],
                "category": r["category"],
                "severity": r["severity"],
                "status": r["status"],
                "isAck": bool(r["is_ack"]),
                "kioskSerialNumber": r["serial_number"],
                "kioskName": r["kiosk_name"],
                "message": r["message"],
                "startDate": render_utc(r["start_date"]),
                "endDate": render_utc(r["end_date"]),
                "createdAt": render_utc(r["created_at"]),
                "updatedAt": render_utc(r["updated_at"]),
            }
            for r in rows
        ],
    )


@route("GET", "/alerts/types")
def list_alert_types(ctx: Ctx) -> Reply:
    ctx.require("alerts:read")
    rows = ctx.store.query(
        "SELECT type, category, default_severity, description FROM alert_types ORDER BY type"
    )
    return Reply(
        200, [{"type": r[0], "category": r[1], "defaultSeverity": r[2], "description": r[3]} for r in rows]
    )
