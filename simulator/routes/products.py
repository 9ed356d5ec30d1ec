"""GET /products, /products/{id} (reads); the write operations live in routes/writes.py."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from simulator.params import render_utc
from simulator.routes import (
    Ctx,
    Listing,
    Reply,
    money,
    money_text,
    number,
    route,
)

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


Listing(
    path="/products",
    scope="products:read",
    count_from="products p",
    select=PRODUCT_SELECT,
    org_column="p.organization_id",
    render=render_product,
    sort_columns={
        "name": "p.name",
        "manufacturer": "p.manufacturer",
        "weight": "p.weight",
        "cost": "p.cost",
        "price": "p.price",
    },
    default_sort="name",
    unique="p.id",
    paging="page",
    where=("NOT p.deleted",),
    text_filters=(
        ("name", "p.name", True),
        ("category", "p.category", False),
        ("manufacturer", "p.manufacturer", False),
    ),
).register()


def visible_product(ctx: Ctx, product_id: int) -> dict[str, Any]:
    rows = ctx.store.query_dicts(f"{PRODUCT_SELECT} WHERE p.id = ? AND NOT p.deleted", [product_id])
    return ctx.visible(rows, f"Product {product_id}")


@route("GET", "/products/{id}")
def get_product(ctx: Ctx) -> Reply:
    ctx.require("products:read")
    return Reply(200, render_product(visible_product(ctx, ctx.path_int("id"))))
