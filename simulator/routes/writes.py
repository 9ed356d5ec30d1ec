"""POST/PATCH/DELETE operations: validate the body against the contract's *Input schema, check scope and
organization visibility, then apply the data core's mutation and answer with what a later GET returns.

Mutations raise KeyError for an unknown id (404) and ValueError for a semantically invalid body (400).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from simulator import mutations
from simulator.problems import ProblemError, bad_request, not_found
from simulator.routes import Ctx, Reply, route
from simulator.routes.organizations import render_organization, visible_organization
from simulator.routes.products import render_product, visible_product
from simulator.routes.promocodes import render_promocode
from simulator.routes.users import render_user, visible_user

# A field spec: (JSON types allowed, required, nested spec or enum values or None).
Spec = dict[str, tuple[tuple[type, ...], bool, Any]]
NUM = (int, float)
STR = (str,)
BOOL = (bool,)
OBJ = (dict,)
ARR = (list,)

PRICING: Spec = {
    "defaultPrice": (NUM, True, None),
    "defaultCost": (NUM, True, None),
    "defaultVat_id": (NUM, False, None),
}
PACKAGING: Spec = {
    "shelfLifeDays": (NUM, True, None),
    "netWeightGrams": (NUM, True, None),
    "grossWeightGrams": (NUM, True, None),
    "netWeightGramsUnit": (STR, True, None),
    "ean": (STR, False, None),
    "description": (STR, False, None),
    "unitCount": (NUM, False, None),
    "packageWeightGrams": (NUM, False, None),
    "tolerancePercentage": (NUM, False, None),
}
CAPACITY: Spec = {"surfaceSize": (NUM, True, None), "units": (NUM, True, None)}
IMAGE: Spec = {"data": (STR, True, None)}
PRODUCT: Spec = {
    "name": (STR, True, None),
    "description": (STR, False, None),
    "category": (STR, False, None),
    "manufacturer": (STR, True, None),
    "articleNumber": (STR, False, None),
    "organizationId": (NUM, True, None),
    "nutrition": (OBJ, False, None),
    "dietaryInfo": (OBJ, False, None),
    "pricing": (OBJ, True, PRICING),
    "images": (ARR, False, IMAGE),
    "packaging": (OBJ, True, PACKAGING),
    "capacities": (ARR, True, CAPACITY),
    "copyImagesFromMetaId": (NUM, False, None),
}
PRODUCT_UPDATE: Spec = {k: (t, False, n) for k, (t, _, n) in PRODUCT.items()}
LINE_PRICE: Spec = {
    "price": (NUM, True, None),
    "productLineId": (NUM, False, None),
    "validFrom": (STR, False, None),
    "validTo": (STR + (type(None),), False, None),
}
ORG_ADDRESS: Spec = {
    "country": (STR, True, None),
    "address": (STR, False, None),
    "postalCode": (STR, False, None),
    "city": (STR, False, None),
    "state": (STR, False, None),
    "countryCode": (STR, False, None),
}
ORGANIZATION: Spec = {
    "name": (STR, True, None),
    "slug": (STR, False, None),
    "type": (STR, True, ("general", "client", "manufacturer")),
    "description": (STR, False, None),
    "currency": (STR, True, ("eur", "chf", "gbp", "usd", "czk")),
    "eanPrefix": (STR, False, None),
    "address": (OBJ, True, ORG_ADDRESS),
    "contact": (OBJ, False, None),
    "supportEmail": (STR, False, None),
    "supportPhoneNumber": (STR, False, None),
    "support": (OBJ, False, None),
    "parentOrg": (NUM + (type(None),), False, None),
    "privacyPolicyUrl": (STR, False, None),
    "termsAndConditionsUrl": (STR, False, None),
}
ORGANIZATION_UPDATE: Spec = {k: (t, False, n) for k, (t, _, n) in ORGANIZATION.items()}
USER: Spec = {
    "email": (STR, True, None),
    "firstName": (STR, True, None),
    "lastName": (STR, True, None),
    "status": (STR, True, ("ACTIVE", "INACTIVE")),
    "lang": (STR, True, ("en", "de", "it", "fr")),
    "organizationId": (NUM, True, None),
    "mobile": (STR, False, None),
    "note": (STR, False, None),
    "avatarUrl": (STR, False, None),
    "membercards": (ARR, False, STR),
    "address": (OBJ, False, None),
}
USER_UPDATE: Spec = {k: (t, False, n) for k, (t, _, n) in USER.items() if k != "organizationId"}
RULE: Spec = {
    "day": (NUM, True, None),
    "resetAmount": (NUM, True, None),
    "type": (STR, True, ("percentage", "flat")),
    "cappingEnabled": (BOOL, True, None),
    "discountFlat": (NUM, False, None),
    "discountPercentage": (NUM, False, None),
    "cappingFlat": (NUM, False, None),
    "cappingPercentage": (NUM, False, None),
    "minCart": (NUM, False, None),
    "description": (STR, False, None),
}
PROMOCODES: Spec = {
    "organizationId": (NUM, True, None),
    "code": (STR, False, None),
    "quantity": (NUM, False, None),
    "balance": (NUM, False, None),
    "enabled": (BOOL, False, None),
    "workingDurationStart": (STR, False, None),
    "workingDurationEnd": (STR, False, None),
    "durationEndDays": (NUM, False, None),
    "rules": (ARR, False, RULE),
    "configId": (NUM, False, None),
}
ELIGIBILITY: Spec = {
    "organizationId": (NUM, True, None),
    "enabled": (BOOL, True, None),
    "productlineIds": (ARR, False, NUM),
    "kioskSerialNumber": (STR, False, None),
    "configId": (NUM, False, None),
    "validTo": (STR, False, None),
}


def check_body(body: Any, spec: Spec, where: str = "body") -> dict[str, Any]:
    """Types, required fields and enums of a contract *Input schema (unknown properties are ignored)."""
    if not isinstance(body, dict):
        raise bad_request(f"{where} must be an object")
    for name, (types, required, nested) in spec.items():
        if name not in body:
            if required:
                raise bad_request(
                    f"Missing required field: {where}.{name}"
                    if where != "body"
                    else f"Missing required field: {name}"
                )
            continue
        value = body[name]
        # JSON true/false are not numbers, although Python's bool is an int.
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            raise bad_request(f"{name} has the wrong type")
        if isinstance(nested, tuple) and value is not None and isinstance(value, str) and value not in nested:
            raise bad_request(f"{name} must be one of {', '.join(nested)}")
        if isinstance(nested, dict) and isinstance(value, dict):
            check_body(value, nested, f"{where}.{name}" if where != "body" else name)
        if isinstance(value, list):
            for index, item in enumerate(value):
                if isinstance(nested, dict):
                    check_body(item, nested, f"{name}[{index}]")
                elif (
                    isinstance(nested, tuple)
                    and nested
                    and isinstance(nested[0], type)
                    and (not isinstance(item, nested) or isinstance(item, bool))
                ):
                    raise bad_request(f"{name}[{index}] has the wrong type")
    return body


def _apply(action: Callable[[], Any]) -> Any:
    try:
        return action()
    except KeyError as error:
        raise not_found(str(error.args[0]) if error.args else "Not found") from None
    except (ValueError, TypeError) as error:
        raise bad_request(str(error)) from None


def _org_in_scope(ctx: Ctx, org_id: Any) -> None:
    """Writes into an organization the caller cannot see look like writes into a missing one."""
    is_number = isinstance(org_id, int | float) and not isinstance(org_id, bool)
    if is_number and (org_id != int(org_id) or not ctx.org_visible(int(org_id))):
        raise bad_request(f"organization {org_id} does not exist")


# -- products ----------------------------------------------------------------------------------------------
@route("POST", "/products")
def create_product(ctx: Ctx) -> Reply:
    ctx.require("products:write")
    body = check_body(ctx.json_body(), PRODUCT)
    if not body["capacities"]:
        raise bad_request("capacities needs at least one entry")
    _org_in_scope(ctx, body["organizationId"])
    product_id = _apply(lambda: mutations.create_product(ctx.store, body))
    return Reply(201, render_product(visible_product(ctx, product_id)))


@route("PATCH", "/products/{id}")
def update_product(ctx: Ctx) -> Reply:
    ctx.require("products:write")
    product_id = ctx.path_int("id")
    body = check_body(ctx.json_body(), PRODUCT_UPDATE)
    visible_product(ctx, product_id)
    if "organizationId" in body:
        _org_in_scope(ctx, body["organizationId"])
    _apply(lambda: mutations.update_product(ctx.store, product_id, body))
    return Reply(200, render_product(visible_product(ctx, product_id)))


@route("DELETE", "/products/{id}")
def delete_product(ctx: Ctx) -> Reply:
    ctx.require("products:write")
    product_id = ctx.path_int("id")
    visible_product(ctx, product_id)
    _apply(lambda: mutations.delete_product(ctx.store, product_id))
    return Reply(204)


@route("PATCH", "/product-lines/{id}/price")
def update_product_line_price(ctx: Ctx) -> Reply:
    ctx.require("products:write")
    line_id = ctx.path_int("id")
    body = check_body(ctx.json_body(), LINE_PRICE)
    owner = ctx.store.scalar(
        "SELECT k.organization_id FROM product_lines pl JOIN kiosks k ON k.id = pl.kiosk_id WHERE pl.id = ?",
        [line_id],
    )
    if owner is None or not ctx.org_visible(owner):
        raise not_found(f"Product line {line_id} not found")
    return Reply(200, _apply(lambda: mutations.update_product_line_price(ctx.store, line_id, body)))


# -- organizations -----------------------------------------------------------------------------------------
@route("POST", "/organizations")
def create_organization(ctx: Ctx) -> Reply:
    ctx.require("organizations:write")
    body = check_body(ctx.json_body(), ORGANIZATION)
    parent = body.get("parentOrg")
    if parent is None and ctx.org_ids is not None:
        # Only the platform itself creates root organizations (the contract: required for non-superadmins).
        raise bad_request("parentOrg is required")
    if parent is not None:
        _org_in_scope(ctx, parent)
    org_id = _apply(lambda: mutations.create_organization(ctx.store, body))
    return Reply(201, _render_org(ctx, org_id))


@route("PATCH", "/organizations/{id}")
def update_organization(ctx: Ctx) -> Reply:
    ctx.require("organizations:write")
    org_id = ctx.path_int("id")
    body = check_body(ctx.json_body(), ORGANIZATION_UPDATE)
    visible_organization(ctx, org_id)
    if "parentOrg" in body:
        if body["parentOrg"] is None:
            raise bad_request("parentOrg cannot be removed")
        _org_in_scope(ctx, body["parentOrg"])
    _apply(lambda: mutations.update_organization(ctx.store, org_id, body))
    return Reply(200, _render_org(ctx, org_id))


def _render_org(ctx: Ctx, org_id: int) -> dict[str, Any]:
    # A new organization below the caller's is visible through the caller's scope (descendants).
    ctx.__dict__.pop("org_ids", None)
    return render_organization(visible_organization(ctx, org_id))


# -- users -------------------------------------------------------------------------------------------------
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")


@route("POST", "/users")
def create_user(ctx: Ctx) -> Reply:
    ctx.require("users:write")
    body = check_body(ctx.json_body(), USER)
    if not _EMAIL.match(body["email"]):
        raise bad_request("email is not an e-mail address")
    _org_in_scope(ctx, body["organizationId"])
    user_id = _apply(lambda: mutations.create_user(ctx.store, body))
    return Reply(201, _render_user(ctx, user_id))


@route("PATCH", "/users/{id}")
def update_user(ctx: Ctx) -> Reply:
    ctx.require("users:write")
    user_id = ctx.path_int("id")
    body = check_body(ctx.json_body(), USER_UPDATE)
    if "email" in body and not _EMAIL.match(body["email"]):
        raise bad_request("email is not an e-mail address")
    visible_user(ctx, user_id)
    _apply(lambda: mutations.update_user(ctx.store, user_id, body))
    return Reply(200, _render_user(ctx, user_id))


def _render_user(ctx: Ctx, user_id: int) -> dict[str, Any]:
    return render_user(visible_user(ctx, user_id))


# -- promocodes --------------------------------------------------------------------------------------------
_CODE = re.compile(r"^\d{5}$")


@route("POST", "/promocodes")
def create_promocodes(ctx: Ctx) -> Reply:
    ctx.require("promocodes:write")
    body = check_body(ctx.json_body(), PROMOCODES)
    if "code" in body and not _CODE.match(body["code"]):
        raise bad_request("code must be five digits")
    if "workingDurationEnd" in body and "durationEndDays" in body:
        raise bad_request("workingDurationEnd and durationEndDays are mutually exclusive")
    if "rules" in body and "configId" in body:
        raise bad_request("rules and configId are mutually exclusive")
    _org_in_scope(ctx, body["organizationId"])
    result = _apply(lambda: mutations.create_promocodes(ctx.store, body))
    codes = []
    for promocode_id in result.get("promocode_ids", []):
        rows = ctx.store.query_dicts("SELECT * FROM promocodes WHERE id = ?", [promocode_id])
        codes.extend(render_promocode(ctx, r) for r in rows)
    return Reply(
        201,
        {
            "success": bool(result["success"]),
            "promocodes": codes,
            "configCreated": bool(result["configCreated"]),
            "errorMessage": result.get("errorMessage"),
        },
    )


@route("POST", "/promocodes/eligibility")
def set_promocode_eligibility(ctx: Ctx) -> Reply:
    ctx.require("promocodes:write")
    body = check_body(ctx.json_body(), ELIGIBILITY)
    _org_in_scope(ctx, body["organizationId"])
    result = _apply(lambda: mutations.set_promocode_eligibility(ctx.store, body))
    if not isinstance(result, dict):
        raise ProblemError(500, "eligibility update returned no result")
    return Reply(
        200,
        {"success": bool(result.get("success", True)), "affectedCount": int(result.get("affectedCount", 0))},
    )
