"""GET /organizations, /organizations/{id}, /organizations/{id}/vat, /organizations/{id}/product-lines."""

from __future__ import annotations

from typing import Any

from simulator.params import Query, render_utc
from simulator.problems import not_found
from simulator.routes import (
    Ctx,
    Listing,
    Reply,
    money,
    number,
    route,
)

ORG_SELECT = """
    SELECT o.*, (SELECT count(*) FROM kiosks k WHERE k.organization_id = o.id) AS kiosk_count
    FROM organizations o
"""


def _drop_nulls(obj: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if v is not None}


def render_organization(r: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": r["id"],
        "name": r["name"],
    }
    if r["slug"] is not None:
        out["slug"] = r["slug"]
    out.update(
        {
            "type": str(r["type"]).upper(),
            "description": r["description"],
            "imageUrl": r["image_url"],
            "address": _drop_nulls(
                {
                    "address": r["address"],
                    "postalCode": r["postal_code"],
                    "city": r["city"],
                    "state": r["state"],
                    "country": r["country"],
                    "countryCode": r["country_code"],
                }
            ),
            "currency": str(r["currency"]).upper(),
            "parentOrg": r["parent_id"],
            "kioskCount": int(r["kiosk_count"]),
            "createdAt": render_utc(r["created_at"]),
        }
    )
    return out


def _country_filter(q: Query, where: list[str], params: list[Any]) -> None:
    country = q.string("country")
    if country is not None:
        # Either the country name or its ISO code, as users type both.
        where.append("(lower(o.country) = lower(?) OR lower(o.country_code) = lower(?))")
        params.extend([country, country])


Listing(
    path="/organizations",
    scope="organizations:read",
    count_from="organizations o",
    select=ORG_SELECT,
    org_column="o.id",
    render=render_organization,
    sort_columns={"name": "o.name", "kioskCount": "kiosk_count"},
    default_sort="name",
    unique="o.id",
    text_filters=(
        ("postalCode", "o.postal_code", False),
        ("city", "o.city", False),
        ("organizationType", "o.type", False),
        ("name", "o.name", True),
    ),
    filters=_country_filter,
).register()


def visible_organization(ctx: Ctx, org_id: int) -> dict[str, Any]:
    rows = ctx.store.query_dicts(f"{ORG_SELECT} WHERE o.id = ?", [org_id])
    if not rows or not ctx.org_visible(org_id):
        raise not_found(f"Organization {org_id} not found")
    return rows[0]


@route("GET", "/organizations/{id}")
def get_organization(ctx: Ctx) -> Reply:
    ctx.require("organizations:read")
    return Reply(200, render_organization(visible_organization(ctx, ctx.path_int("id"))))


@route("GET", "/organizations/{id}/vat")
def get_organization_vat(ctx: Ctx) -> Reply:
    ctx.require("organizations:read")
    org_id = ctx.path_int("id")
    visible_organization(ctx, org_id)
    # A sub-organization without rates of its own uses its nearest ancestor's (it sells in the same country).
    rows = ctx.store.query(
        """
        WITH RECURSIVE chain(id, parent_id, depth) AS (
            SELECT id, parent_id, 0 FROM organizations WHERE id = ?
            UNION ALL
            SELECT o.id, o.parent_id, c.depth + 1 FROM organizations o JOIN chain c ON o.id = c.parent_id
            WHERE c.depth < 50
        ),
        owner AS (
            SELECT c.id FROM chain c WHERE EXISTS (SELECT 1 FROM vat_rates v WHERE v.organization_id = c.id)
            ORDER BY c.depth LIMIT 1
        )
        SELECT v.id, v.name, v.value, v.country_code FROM vat_rates v
        WHERE v.organization_id = (SELECT id FROM owner) ORDER BY v.id
        """,
        [org_id],
    )
    return Reply(200, [{"id": r[0], "name": r[1], "value": number(r[2]), "countryCode": r[3]} for r in rows])


@route("GET", "/organizations/{id}/product-lines")
def get_organization_product_lines(ctx: Ctx) -> Reply:
    ctx.require("products:read")
    org_id = ctx.path_int("id")
    visible_organization(ctx, org_id)
    own_only = ctx.state.faults.config.listings_own_organization_only
    org_ids = [org_id] if own_only else ctx.store.descendant_org_ids(org_id)
    rows = ctx.store.query_dicts(
        """
        SELECT pl.id, p.name, p.image_url, p.id AS product_id, k.serial_number, lc.planogram_position,
               pl.price, pl.vat_rate,
               coalesce((SELECT max(plp.valid_from) FROM product_line_prices plp
                         WHERE plp.product_line_id = pl.id AND plp.valid_from <= ?),
                        pl.valid_from) AS valid_from
        FROM product_lines pl
        JOIN load_cells lc ON lc.id = pl.load_cell_id
        JOIN kiosks k ON k.id = pl.kiosk_id
        JOIN products p ON p.id = pl.product_id
        WHERE pl.active AND k.organization_id IN (SELECT unnest(?))
        ORDER BY pl.id
        """,
        [ctx.state.store.now or ctx.state.config.now, org_ids],
    )
    return Reply(
        200,
        [
            {
                "_id": str(r["id"]),
                "name": r["name"],
                "images": [] if not r["image_url"] else [{"url": r["image_url"]}],
                "productMetaId": r["product_id"],
                "kioskSerialNumber": r["serial_number"],
                "planogramPosition": r["planogram_position"],
                "price": money(r["price"]),
                "vatRate": number(r["vat_rate"]),
                "validFrom": render_utc(r["valid_from"]),
            }
            for r in rows
        ],
    )
