"""GET /promocodes/{code} (read); POST /promocodes and /promocodes/eligibility live in routes/writes.py."""

from __future__ import annotations

import re
from typing import Any

from simulator.params import render_utc
from simulator.problems import bad_request, not_found
from simulator.routes import Ctx, Reply, money, number, route

_CODE = re.compile(r"^\d{5}$")


def render_promocode(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    config = ctx.store.query_dicts("SELECT * FROM promocode_configs WHERE id = ?", [p["config_id"]])
    rules = ctx.store.query_dicts(
        "SELECT * FROM promocode_rules WHERE config_id = ? ORDER BY day, id", [p["config_id"]]
    )
    return {
        "id": p["id"],
        "code": p["code"],
        "balance": number(p["balance"]),
        "enabled": bool(p["enabled"]),
        "workingDurationStart": render_utc(p["working_duration_start"]),
        "workingDurationEnd": render_utc(p["working_duration_end"]),
        "organizationId": p["organization_id"],
        "config": {
            "id": p["config_id"],
            "enabled": bool(config[0]["enabled"]) if config else False,
            "rules": [_render_rule(r) for r in rules],
        },
    }


def _render_rule(r: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": r["id"],
        "day": r["day"],
        "resetAmount": number(r["reset_amount"]),
        "type": r["type"],
        "cappingEnabled": bool(r["capping_enabled"]),
    }
    optional = {
        "discountFlat": money(r["discount_flat"]),
        "discountPercentage": number(r["discount_percentage"]),
        "cappingFlat": money(r["capping_flat"]),
        "cappingPercentage": number(r["capping_percentage"]),
        "minCart": number(r["min_cart"]),
        "description": r["description"],
    }
    out.update({k: v for k, v in optional.items() if v is not None})
    return out


@route("GET", "/promocodes/{code}")
def get_promocode(ctx: Ctx) -> Reply:
    ctx.require("promocodes:read")
    code = ctx.path_params["code"]
    if not _CODE.match(code):
        raise bad_request(f"code must be five digits, got {code!r}")
    rows = ctx.store.query_dicts("SELECT * FROM promocodes WHERE code = ?", [code])
    if not rows or not ctx.org_visible(rows[0]["organization_id"]):
        raise not_found(f"Promocode {code} not found")
    return Reply(200, render_promocode(ctx, rows[0]))
