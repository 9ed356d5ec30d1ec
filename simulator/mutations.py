"""The write endpoints' effects on the store.

Each function takes the request body as parsed JSON (the contract's *Input schema, camelCase keys; the route
has checked types and required fields) and changes the very records the read endpoints serve. Functions that
create or change a resource with a GET endpoint return its id, and the route renders it with that GET
endpoint's renderer, so a write answers exactly what a later read returns. ProductLinePrice and the promocode
results have
no GET endpoint and are returned in the contract's shape.

Errors: `KeyError` for an unknown id (-> 404), `ValueError` with a readable message for a semantically invalid
body (-> 400). Every write runs in one store transaction; times come from the simulator's clock (`store.now`).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from simulator import data
from simulator.clock import delete_product as _delete_product_rows
from simulator.generator import apply_line_prices
from simulator.store import Store

_ORG_TYPES = {"general": "GENERAL", "client": "CLIENT", "manufacturer": "MANUFACTURER"}
_CURRENCIES = {"eur", "chf", "gbp", "usd", "czk"}


def _now(store: Store) -> datetime:
    return store.now or datetime.now(UTC).replace(second=0, microsecond=0)


def _instant(value: Any, name: str, default: datetime) -> datetime:
    if value is None:
        return default
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{name} is not an ISO 8601 date-time: {value!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _money(value: Any, name: str) -> float:
    try:
        number = round(float(value), 2)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number") from None
    if number < 0:
        raise ValueError(f"{name} must not be negative")
    return number


def _require_org(cur, org_id: Any) -> int:
    row = cur.execute("SELECT id FROM organizations WHERE id = ?", [int(org_id)]).fetchone()
    if row is None:
        raise ValueError(f"organization {org_id} does not exist")
    return int(row[0])


# A writable field: (section of the body, or None for the top level; key in it; column it sets).
Field = tuple[str | None, str, str]


def _columns(body: dict[str, Any], fields: tuple[Field, ...]) -> dict[str, Any]:
    """{column: value} for the `fields` present in `body`, later fields winning (a PATCH changes only what it
    names)."""
    cols: dict[str, Any] = {}
    for section, key, column in fields:
        source = body if section is None else (body.get(section) or {})
        if key in source:
            cols[column] = source[key]
    return cols


# -- products ------------------------------------------------------------------------------------------------
_PRODUCT_FIELDS: tuple[Field, ...] = (
    (None, "name", "name"),
    (None, "description", "description"),
    (None, "category", "category"),
    (None, "manufacturer", "manufacturer"),
    (None, "articleNumber", "article_number"),
    ("packaging", "ean", "ean"),
    ("packaging", "netWeightGramsUnit", "weight_unit"),
)


def _vat_value(cur, vat_id: Any) -> float | None:
    if vat_id is None:
        return None
    row = cur.execute("SELECT value FROM vat_rates WHERE id = ?", [int(vat_id)]).fetchone()
    if row is None:
        raise ValueError(f"VAT rate {vat_id} does not exist")
    return float(row[0])


def _image_url(cur, product_id: int, body: dict[str, Any]) -> str | None:
    if body.get("images"):
        return f"https://cdn.livello.example/products/{product_id}-{len(body['images'])}.jpg"
    source = body.get("copyImagesFromMetaId")
    if source is not None:
        row = cur.execute("SELECT image_url FROM products WHERE id = ?", [int(source)]).fetchone()
        return None if row is None else row[0]
    return None


def create_product(store: Store, body: dict[str, Any]) -> int:
    """POST /products (ProductInput). Returns the new product's id."""
    now = _now(store)
    pricing = body["pricing"]
    packaging = body["packaging"]
    price = _money(pricing["defaultPrice"], "pricing.defaultPrice")
    cost = _money(pricing["defaultCost"], "pricing.defaultCost")
    with store.write() as cur:
        org_id = _require_org(cur, body["organizationId"])
        vat_id = pricing.get("defaultVat_id")
        vat = _vat_value(cur, vat_id)
        pid = store.next_id("products", cur)
        cur.execute(
            "INSERT INTO products VALUES (" + ",".join(["?"] * 22) + ")",
            [
                pid,
                org_id,
                body["name"],
                body.get("description"),
                body.get("category"),
                body["manufacturer"],
                body.get("articleNumber"),
                packaging.get("ean"),
                price,
                cost,
                vat,
                None if vat_id is None else int(vat_id),
                float(packaging["netWeightGrams"]),
                packaging.get("netWeightGramsUnit") or "g",
                None if packaging.get("shelfLifeDays") is None else int(packaging["shelfLifeDays"]),
                _image_url(cur, pid, body),
                None if body.get("nutrition") is None else json.dumps(body["nutrition"], ensure_ascii=False),
                None
                if body.get("dietaryInfo") is None
                else json.dumps(body["dietaryInfo"], ensure_ascii=False),
                now,
                now,
                False,
                None,
            ],
        )
        cur.execute("INSERT INTO product_prices VALUES (?, ?, ?, ?)", [pid, now, price, cost])
    return pid


def _live_product(cur, product_id: int) -> tuple[Any, ...]:
    row = cur.execute(
        "SELECT price, cost FROM products WHERE id = ? AND NOT deleted", [product_id]
    ).fetchone()
    if row is None:
        raise KeyError(f"product {product_id} not found")
    return row


def update_product(store: Store, product_id: int, body: dict[str, Any]) -> int:
    """PATCH /products/{id} (ProductUpdateInput): changes only the given fields. A new default price or cost
    adds a price-history row and reprices the product's active lines from now."""
    now = _now(store)
    with store.write() as cur:
        old_price, old_cost = _live_product(cur, product_id)
        sets = _columns(body, _PRODUCT_FIELDS)
        if "organizationId" in body:
            sets["organization_id"] = _require_org(cur, body["organizationId"])
        packaging = body.get("packaging") or {}
        if "shelfLifeDays" in packaging:
            sets["shelf_life_days"] = int(packaging["shelfLifeDays"])
        if "netWeightGrams" in packaging:
            sets["weight"] = float(packaging["netWeightGrams"])
        if "nutrition" in body:
            sets["nutrition"] = json.dumps(body["nutrition"], ensure_ascii=False)
        if "dietaryInfo" in body:
            sets["dietary_info"] = json.dumps(body["dietaryInfo"], ensure_ascii=False)
        if body.get("images") or body.get("copyImagesFromMetaId") is not None:
            sets["image_url"] = _image_url(cur, product_id, body)
        pricing = body.get("pricing") or {}
        if "defaultVat_id" in pricing:
            sets["vat_rate"] = _vat_value(cur, pricing["defaultVat_id"])
            sets["vat_id"] = int(pricing["defaultVat_id"])
        new_price = (
            _money(pricing["defaultPrice"], "pricing.defaultPrice")
            if "defaultPrice" in pricing
            else float(old_price)
        )
        new_cost = (
            _money(pricing["defaultCost"], "pricing.defaultCost")
            if "defaultCost" in pricing
            else float(old_cost)
        )
        sets["updated_at"] = now
        assignments = ", ".join(f"{column} = ?" for column in sets)
        cur.execute(f"UPDATE products SET {assignments} WHERE id = ?", [*sets.values(), product_id])
        if new_price != float(old_price) or new_cost != float(old_cost):
            cur.execute(
                "INSERT INTO product_prices VALUES (?, ?, ?, ?)", [product_id, now, new_price, new_cost]
            )
            cur.execute(
                "UPDATE products SET price = ?, cost = ? WHERE id = ?", [new_price, new_cost, product_id]
            )
            if new_price != float(old_price):
                lines = [
                    r[0]
                    for r in cur.execute(
                        "SELECT id FROM product_lines WHERE product_id = ? AND active ORDER BY id",
                        [product_id],
                    ).fetchall()
                ]
                apply_line_prices(cur, [(lid, now, new_price) for lid in lines])
    return product_id


def delete_product(store: Store, product_id: int) -> None:
    """DELETE /products/{id}: the product disappears from the API (404 afterwards) and from the planograms;
    its history (transactions, refills) keeps it."""
    now = _now(store)
    with store.write() as cur:
        _live_product(cur, product_id)
        _delete_product_rows(cur, product_id, now)


def update_product_line_price(store: Store, product_line_id: int, body: dict[str, Any]) -> dict[str, Any]:
    """PATCH /product-lines/{id}/price (ProductLinePriceInput) -> ProductLinePrice.

    Adds a price-history row valid from `validFrom` (default: now); earlier rows are closed where the new one
    starts. A `validTo` is kept on the new row while no later row exists."""
    from simulator.params import render_utc

    now = _now(store)
    if body.get("productLineId") is not None and int(body["productLineId"]) != product_line_id:
        raise ValueError("productLineId in the body differs from the path")
    price = _money(body["price"], "price")
    valid_from = _instant(body.get("validFrom"), "validFrom", now)
    valid_to = _instant(body.get("validTo"), "validTo", now) if body.get("validTo") is not None else None
    if valid_to is not None and valid_to <= valid_from:
        raise ValueError("validTo must be after validFrom")
    with store.write() as cur:
        if (
            cur.execute("SELECT 1 FROM product_lines WHERE id = ? AND active", [product_line_id]).fetchone()
            is None
        ):
            raise KeyError(f"product line {product_line_id} not found")
        (new_id,) = apply_line_prices(cur, [(product_line_id, valid_from, price)])
        row = cur.execute("SELECT valid_to FROM product_line_prices WHERE id = ?", [new_id]).fetchone()
        if row[0] is None and valid_to is not None:
            cur.execute("UPDATE product_line_prices SET valid_to = ? WHERE id = ?", [valid_to, new_id])
        stored = cur.execute(
            "SELECT id, product_line_id, price, valid_from, valid_to FROM product_line_prices WHERE id = ?",
            [new_id],
        ).fetchone()
    return {
        "id": int(stored[0]),
        "productLineId": int(stored[1]),
        "price": float(stored[2]),
        "validFrom": render_utc(stored[3]),
        "validTo": render_utc(stored[4]),
    }


# -- organizations -------------------------------------------------------------------------------------------
_ORG_FIELDS: tuple[Field, ...] = (
    (None, "name", "name"),
    (None, "slug", "slug"),
    (None, "description", "description"),
    (None, "eanPrefix", "ean_prefix"),
    (None, "privacyPolicyUrl", "privacy_policy_url"),
    (None, "termsAndConditionsUrl", "terms_url"),
    (None, "supportEmail", "support_email"),
    (None, "supportPhoneNumber", "support_hotline"),
    ("address", "address", "address"),
    ("address", "postalCode", "postal_code"),
    ("address", "city", "city"),
    ("address", "state", "state"),
    ("address", "country", "country"),
    ("address", "countryCode", "country_code"),
    ("contact", "contactPerson", "contact_person"),
    ("contact", "role", "contact_role"),
    ("contact", "email", "contact_email"),
    ("contact", "phoneNumber", "contact_phone"),
    # The nested support object wins over the flat supportEmail / supportPhoneNumber.
    ("support", "email", "support_email"),
    ("support", "hotline", "support_hotline"),
    ("support", "hotlineAvailability", "support_hotline_availability"),
)


def _org_columns(cur, body: dict[str, Any]) -> dict[str, Any]:
    cols = _columns(body, _ORG_FIELDS)
    if "type" in body:
        if str(body["type"]).lower() not in _ORG_TYPES:
            raise ValueError(f"unknown organization type {body['type']!r}")
        cols["type"] = _ORG_TYPES[str(body["type"]).lower()]
    if "currency" in body:
        if str(body["currency"]).lower() not in _CURRENCIES:
            raise ValueError(f"unknown currency {body['currency']!r}")
        cols["currency"] = str(body["currency"]).upper()
    if "parentOrg" in body:
        cols["parent_id"] = None if body["parentOrg"] is None else _require_org(cur, body["parentOrg"])
    return cols


def create_organization(store: Store, body: dict[str, Any]) -> int:
    """POST /organizations (OrganizationInput). Returns the new organization's id. The organization gets the
    VAT rates of its country when the simulator knows them."""
    now = _now(store)
    with store.write() as cur:
        cols = _org_columns(cur, body)
        org_id = store.next_id("organizations", cur)
        cols.update(id=org_id, created_at=now, updated_at=now)
        cols.setdefault("parent_id", None)
        names = ", ".join(cols)
        cur.execute(
            f"INSERT INTO organizations ({names}) VALUES ({', '.join(['?'] * len(cols))})",
            list(cols.values()),
        )
        country_code = (cols.get("country_code") or "").upper()
        vat_id = store.next_id("vat_rates", cur)
        for name, value in data.VAT_BY_COUNTRY.get(country_code, ()):
            cur.execute(
                "INSERT INTO vat_rates VALUES (?, ?, ?, ?, ?)", [vat_id, org_id, name, value, country_code]
            )
            vat_id += 1
    return org_id


def update_organization(store: Store, org_id: int, body: dict[str, Any]) -> int:
    """PATCH /organizations/{id} (OrganizationUpdateInput). An organization cannot become its own ancestor."""
    now = _now(store)
    with store.write() as cur:
        if cur.execute("SELECT 1 FROM organizations WHERE id = ?", [org_id]).fetchone() is None:
            raise KeyError(f"organization {org_id} not found")
        cols = _org_columns(cur, body)
        parent = cols.get("parent_id")
        if parent is not None and parent in store.descendant_org_ids(org_id):
            raise ValueError("parentOrg would create a cycle")
        cols["updated_at"] = now
        assignments = ", ".join(f"{c} = ?" for c in cols)
        cur.execute(f"UPDATE organizations SET {assignments} WHERE id = ?", [*cols.values(), org_id])
    return org_id


# -- users ---------------------------------------------------------------------------------------------------
_USER_FIELDS: tuple[Field, ...] = (
    (None, "email", "email"),
    (None, "firstName", "first_name"),
    (None, "lastName", "last_name"),
    (None, "status", "status"),
    (None, "lang", "lang"),
    (None, "mobile", "mobile"),
    (None, "note", "note"),
    (None, "avatarUrl", "avatar_url"),
    ("address", "address", "address"),
    ("address", "city", "city"),
    ("address", "postalCode", "postal_code"),
    ("address", "country", "country"),
)


def _user_columns(body: dict[str, Any]) -> dict[str, Any]:
    cols = _columns(body, _USER_FIELDS)
    if "membercards" in body:
        cols["membercards"] = [str(c) for c in body["membercards"] or []]
    return cols


def _check_email_free(cur, email: str, user_id: int | None) -> None:
    row = cur.execute(
        "SELECT id FROM users WHERE lower(email) = lower(?) AND id IS DISTINCT FROM ?", [email, user_id]
    ).fetchone()
    if row is not None:
        raise ValueError(f"a user with email {email} already exists")


def create_user(store: Store, body: dict[str, Any]) -> int:
    """POST /users (UserInput). Returns the new user's id (role CUSTOMER in `organizationId`)."""
    now = _now(store)
    with store.write() as cur:
        org_id = _require_org(cur, body["organizationId"])
        _check_email_free(cur, body["email"], None)
        cols = _user_columns(body)
        uid = store.next_id("users", cur)
        cols.update(
            id=uid,
            organization_id=org_id,
            root=False,
            terms_accepted=False,
            role="CUSTOMER",
            created=now,
            updated=now,
        )
        cols.setdefault("membercards", [])
        names = ", ".join(cols)
        cur.execute(
            f"INSERT INTO users ({names}) VALUES ({', '.join(['?'] * len(cols))})", list(cols.values())
        )
    return uid


def update_user(store: Store, user_id: int, body: dict[str, Any]) -> int:
    """PATCH /users/{id} (UserUpdateInput)."""
    now = _now(store)
    with store.write() as cur:
        if cur.execute("SELECT 1 FROM users WHERE id = ?", [user_id]).fetchone() is None:
            raise KeyError(f"user {user_id} not found")
        cols = _user_columns(body)
        if "email" in cols:
            _check_email_free(cur, cols["email"], user_id)
        cols["updated"] = now
        assignments = ", ".join(f"{c} = ?" for c in cols)
        cur.execute(f"UPDATE users SET {assignments} WHERE id = ?", [*cols.values(), user_id])
    return user_id


# -- promocodes ----------------------------------------------------------------------------------------------
def _insert_rules(cur, store: Store, config_id: int, rules: list[dict[str, Any]]) -> None:
    rule_id = store.next_id("promocode_rules", cur)
    for rule in rules:
        cur.execute(
            "INSERT INTO promocode_rules VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                rule_id,
                config_id,
                int(rule["day"]),
                float(rule["resetAmount"]),
                rule["type"],
                bool(rule["cappingEnabled"]),
                rule.get("discountFlat"),
                rule.get("discountPercentage"),
                rule.get("cappingFlat"),
                rule.get("cappingPercentage"),
                rule.get("minCart"),
                rule.get("description"),
            ],
        )
        rule_id += 1


def create_promocodes(store: Store, body: dict[str, Any]) -> dict[str, Any]:
    """POST /promocodes (PromocodeCreateInput) -> {success, promocode_ids, configCreated, errorMessage}.

    The route renders `promocode_ids` with the GET /promocodes/{code} renderer into PromocodeCreateResult.
    With `rules`, a new configuration is created; otherwise `configId` (or the organization's newest
    configuration) is used. A taken code answers success=false with an errorMessage (nothing is created)."""
    now = _now(store)
    quantity = int(body.get("quantity") or 1)
    if not 1 <= quantity <= 100:
        raise ValueError("quantity must be between 1 and 100")
    code = body.get("code")
    if code is not None and quantity != 1:
        raise ValueError("a fixed code can only be created once (quantity 1)")
    start = _instant(body.get("workingDurationStart"), "workingDurationStart", now)
    days = body.get("durationEndDays")
    default_end = start + timedelta(days=int(days) if days is not None else 30)
    end = _instant(body.get("workingDurationEnd"), "workingDurationEnd", default_end)
    if end <= start:
        raise ValueError("workingDurationEnd must be after workingDurationStart")
    with store.write() as cur:
        org_id = _require_org(cur, body["organizationId"])
        if code is not None and cur.execute("SELECT 1 FROM promocodes WHERE code = ?", [code]).fetchone():
            return {
                "success": False,
                "promocode_ids": [],
                "configCreated": False,
                "errorMessage": f"Promocode {code} already exists",
            }
        config_created = False
        if body.get("rules"):
            config_id = store.next_id("promocode_configs", cur)
            cur.execute("INSERT INTO promocode_configs VALUES (?, ?, ?)", [config_id, org_id, True])
            _insert_rules(cur, store, config_id, body["rules"])
            config_created = True
        elif body.get("configId") is not None:
            row = cur.execute(
                "SELECT id FROM promocode_configs WHERE id = ?", [int(body["configId"])]
            ).fetchone()
            if row is None:
                raise ValueError(f"promocode configuration {body['configId']} does not exist")
            config_id = int(row[0])
        else:
            row = cur.execute(
                "SELECT max(id) FROM promocode_configs WHERE organization_id = ?", [org_id]
            ).fetchone()
            if row[0] is None:
                config_id = store.next_id("promocode_configs", cur)
                cur.execute("INSERT INTO promocode_configs VALUES (?, ?, ?)", [config_id, org_id, True])
                config_created = True
            else:
                config_id = int(row[0])
        taken = {r[0] for r in cur.execute("SELECT code FROM promocodes").fetchall()}
        codes = [code] if code is not None else []
        candidate = int(
            cur.execute("SELECT coalesce(max(CAST(code AS INTEGER)), 20000) FROM promocodes").fetchone()[0]
        )
        while len(codes) < quantity:
            candidate = candidate + 7 if candidate + 7 <= 99999 else 10000
            if f"{candidate:05d}" not in taken:
                codes.append(f"{candidate:05d}")
                taken.add(f"{candidate:05d}")
        first = store.next_id("promocodes", cur)
        ids = []
        for offset, c in enumerate(codes):
            cur.execute(
                "INSERT INTO promocodes VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    first + offset,
                    c,
                    float(body.get("balance") or 0),
                    bool(body.get("enabled", True)),
                    start,
                    end,
                    org_id,
                    config_id,
                ],
            )
            ids.append(first + offset)
    return {"success": True, "promocode_ids": ids, "configCreated": config_created, "errorMessage": None}


def set_promocode_eligibility(store: Store, body: dict[str, Any]) -> dict[str, Any]:
    """POST /promocodes/eligibility (PromocodeEligibilityInput) -> PromocodeEligibilityResult.

    Affects the listed product lines, or every active line of `kioskSerialNumber`, or (neither given) every
    active line of the organization's kiosks; only lines of kiosks in the organization or below count."""
    now = _now(store)
    with store.write() as cur:
        org_id = _require_org(cur, body["organizationId"])
        orgs = store.descendant_org_ids(org_id)
        conds = ["pl.active", "k.organization_id IN (SELECT unnest(?::INTEGER[]))"]
        params: list[Any] = [orgs]
        if body.get("productlineIds"):
            conds.append("pl.id IN (SELECT unnest(?::INTEGER[]))")
            params.append([int(x) for x in body["productlineIds"]])
        if body.get("kioskSerialNumber"):
            conds.append("k.serial_number = ?")
            params.append(body["kioskSerialNumber"])
        lines = [
            r[0]
            for r in cur.execute(
                "SELECT pl.id FROM product_lines pl JOIN kiosks k ON k.id = pl.kiosk_id "
                f"WHERE {' AND '.join(conds)}"
                " ORDER BY pl.id",
                params,
            ).fetchall()
        ]
        enabled = bool(body["enabled"])
        valid_to = _instant(body.get("validTo"), "validTo", now) if body.get("validTo") else None
        config_id = None if body.get("configId") is None else int(body["configId"])
        for lid in lines:
            cur.execute(
                "INSERT INTO promocode_eligibility VALUES (?, ?, ?, ?, ?, ?)",
                [config_id, org_id, lid, enabled, valid_to, now],
            )
        if lines:
            cur.execute(
                "UPDATE product_lines SET promocode_eligible = ? WHERE id IN (SELECT unnest(?::INTEGER[]))",
                [enabled, lines],
            )
    return {"success": True, "affectedCount": len(lines)}
