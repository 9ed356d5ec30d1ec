"""GET /products, /products/{id} (reads); the write operations live in routes/writes.py."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from simulator.params import render_utc
from simulator.problems import not_found
from simulator.routes import Ctx, Reply, ilike_contains, in_list_sql, money, money_text, number, paged, route

_SORT_COLUMNS = {
    "name": "p.name",
    "manufacturer": "p.manufacturer",
    "weight": "p.weight",
    "cost": "p.cost",
    "price": "p.price",
}

PRODUCT_SELECT = """
    SELECT p.*, o.name AS organization_name, o.currency AS organization_currency
    FROM products p JOIN organizations o ON o.id = p.organization_id
"""


def render_product(r: dict[str, Any]) -> dict[str, Any]:
    price = Decimal(r["price"])
    vat = r["vat_rate"]
    net = (
        price if vat is None else (price / (1 + Decimal(vat) / 100)).quantize(Decimal("0.01"), ROUND_HALF_UP)
    )
    return {
        "id": r["id"],
        "name": r["name"],
        "description": r["description"],
        "category": r["category"],
        "manufacturer": r["manufacturer"],
        "articleNumber": r["article_number"],
        "organizationId": r["organization_id"],
        "organizationName": r["organization_name"],
        "organizationCurrency": r["organization_currency"],
        "netPrice": money_text(net),
        "price": money_text(price),
        "cost": money(r["cost"]),
        "weight": number(r["weight"]),
        "weightUnit": r["weight_unit"],
        "ean": r["ean"],
        "shelfLifeDays": r["shelf_life_days"],
        "vatRate": number(vat),
        "updatedAt": render_utc(r["updated_at"]),
        "createdAt": render_utc(r["created_at"]),
        "images": [] if not r["image_url"] else [{"url": r["image_url"]}],
    }


@route("GET", "/products")
def list_products(ctx: Ctx) -> Reply:
    ctx.require("products:read")
    q = ctx.query
    direction = "ASC" if q.sort_direction(1) == 1 else "DESC"
    column = _SORT_COLUMNS[q.sort_by(list(_SORT_COLUMNS), "name")]
    limit, page = q.limit(), q.page()
    params: list[Any] = []
    where = ["NOT p.deleted", in_list_sql("p.organization_id", ctx.org_ids, params)]
    for name, column_sql, partial in (
        ("name", "p.name", True),
        ("category", "p.category", False),
        ("manufacturer", "p.manufacturer", False),
    ):
        value = q.string(name)
        if value is None:
            continue
        if partial:
            where.append(ilike_contains(column_sql, value, params))
        else:
            where.append(f"lower({column_sql}) = lower(?)")
            params.append(value)
    where_sql = " AND ".join(where)
    total = ctx.store.scalar(f"SELECT count(*) FROM products p WHERE {where_sql}", params)
    rows = ctx.store.query_dicts(
        f"{PRODUCT_SELECT} WHERE {where_sql} ORDER BY {column} {direction}, p.id LIMIT ? OFFSET ?",
        [*params, limit, (page - 1) * limit],
    )
    return paged(total, [render_product(r) for r in rows])


def visible_product(ctx: Ctx, product_id: int) -> dict[str, Any]:
    rows = ctx.store.query_dicts(f"{PRODUCT_SELECT} WHERE p.id = ? AND NOT p.deleted", [product_id])
    if not rows or not ctx.org_visible(rows[0]["organization_id"]):
        raise not_found(f"Product {product_id} not found")
    return rows[0]


@route("GET", "/products/{id}")
def get_product(ctx: Ctx) -> Reply:
    ctx.require("products:read")
    return Reply(200, render_product(visible_product(ctx, ctx.path_int("id"))))
