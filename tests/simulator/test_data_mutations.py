"""Write endpoints change the records the read endpoints serve."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from simulator import mutations
from simulator.config import SimConfig
from simulator.generator import generate
from simulator.store import Store

NOW = datetime(2026, 10, 28, 12, 0, tzinfo=UTC)
PRODUCT = {
    "name": "Rösti-Bowl 🥔",
    "manufacturer": "Frischeküche",
    "organizationId": 2,
    "category": "Bowl",
    "pricing": {"defaultPrice": 6.9, "defaultCost": 2.5, "defaultVat_id": 4},
    "packaging": {
        "shelfLifeDays": 3,
        "netWeightGrams": 350,
        "grossWeightGrams": 380,
        "netWeightGramsUnit": "g",
        "ean": "4012345678901",
    },
    "capacities": [{"surfaceSize": 1, "units": 8}],
}


@pytest.fixture()
def store() -> Store:
    s = Store()
    generate(s, SimConfig(seed=2, kiosks=3, days=2, now=NOW))
    yield s
    s.close()


def test_create_and_update_product_keep_a_price_history(store: Store):
    pid = mutations.create_product(store, PRODUCT)
    row = store.query_dicts("SELECT * FROM products WHERE id = ?", [pid])[0]
    assert row["name"] == "Rösti-Bowl 🥔" and float(row["price"]) == 6.9 and float(row["vat_rate"]) == 7.0
    assert row["created_at"] == NOW and row["ean"] == "4012345678901"
    line_id, old_price = store.query_one(
        "SELECT id, price FROM product_lines WHERE product_id = 1 AND active LIMIT 1"
    )
    mutations.update_product(store, 1, {"name": "Käsespätzle XL", "pricing": {"defaultPrice": 12.5}})
    assert store.scalar("SELECT name FROM products WHERE id = 1") == "Käsespätzle XL"
    assert (
        store.scalar("SELECT count(*) FROM product_prices WHERE product_id = 1 AND valid_from = ?", [NOW])
        == 1
    )
    history = store.query(
        "SELECT price, valid_to FROM product_line_prices WHERE product_line_id = ? ORDER BY valid_from",
        [line_id],
    )
    assert history[-1] == (pytest.approx(12.5), None) and history[-2][1] == NOW
    assert float(store.scalar("SELECT price FROM product_lines WHERE id = ?", [line_id])) == 12.5
    assert old_price != 12.5
    with pytest.raises(KeyError):
        mutations.update_product(store, 99_999, {"name": "x"})
    with pytest.raises(ValueError):
        mutations.create_product(store, {**PRODUCT, "organizationId": 424242})


def test_delete_product_hides_it_and_empties_its_cells(store: Store):
    mutations.delete_product(store, 2)
    assert store.scalar("SELECT deleted FROM products WHERE id = 2")
    assert store.scalar("SELECT count(*) FROM product_lines WHERE product_id = 2 AND active") == 0
    with pytest.raises(KeyError):
        mutations.delete_product(store, 2)


def test_product_line_price_patch_closes_the_previous_price(store: Store):
    line_id = store.scalar("SELECT min(id) FROM product_lines WHERE active")
    result = mutations.update_product_line_price(
        store, line_id, {"price": 4.2, "validFrom": "2026-10-28T13:00:00Z"}
    )
    assert result["productLineId"] == line_id and result["price"] == 4.2
    assert result["validFrom"] == "2026-10-28T13:00:00Z" and result["validTo"] is None
    open_rows = store.scalar(
        "SELECT count(*) FROM product_line_prices WHERE product_line_id = ? AND valid_to IS NULL", [line_id]
    )
    assert open_rows == 1
    with pytest.raises(ValueError):
        mutations.update_product_line_price(store, line_id, {"price": 1, "productLineId": line_id + 1})
    with pytest.raises(KeyError):
        mutations.update_product_line_price(store, 987_654, {"price": 1})


def test_organizations_and_users(store: Store):
    org_id = mutations.create_organization(
        store,
        {
            "name": "Café Crème Sàrl",
            "type": "client",
            "currency": "chf",
            "parentOrg": 3,
            "address": {"country": "Switzerland", "countryCode": "CH", "city": "Lausanne"},
        },
    )
    assert org_id in store.descendant_org_ids(3)
    assert store.query_one("SELECT type, currency FROM organizations WHERE id = ?", [org_id]) == (
        "CLIENT",
        "CHF",
    )
    assert store.scalar("SELECT count(*) FROM vat_rates WHERE organization_id = ?", [org_id]) == 2
    with pytest.raises(ValueError):
        mutations.update_organization(store, 3, {"parentOrg": org_id})  # would be its own ancestor
    mutations.update_organization(store, org_id, {"name": "Café Crème SA"})
    assert store.scalar("SELECT name FROM organizations WHERE id = ?", [org_id]) == "Café Crème SA"
    user = {
        "email": "zoe@example.com",
        "firstName": "Zoë",
        "lastName": "Müller",
        "status": "ACTIVE",
        "lang": "fr",
        "organizationId": org_id,
        "membercards": ["MC-1"],
    }
    uid = mutations.create_user(store, user)
    with pytest.raises(ValueError):
        mutations.create_user(store, user)
    mutations.update_user(store, uid, {"mobile": "+41 79 000 00 00", "status": "INACTIVE"})
    assert store.query_one("SELECT mobile, status, membercards FROM users WHERE id = ?", [uid]) == (
        "+41 79 000 00 00",
        "INACTIVE",
        ["MC-1"],
    )


def test_promocodes_and_eligibility(store: Store):
    created = mutations.create_promocodes(
        store,
        {
            "organizationId": 2,
            "quantity": 3,
            "balance": 5,
            "rules": [
                {"day": 1, "resetAmount": 5, "type": "flat", "cappingEnabled": False, "discountFlat": 1}
            ],
        },
    )
    assert created["success"] and created["configCreated"] and len(created["promocode_ids"]) == 3
    codes = [
        r[0]
        for r in store.query(
            "SELECT code FROM promocodes WHERE id IN (SELECT unnest(?))", [created["promocode_ids"]]
        )
    ]
    assert len(set(codes)) == 3 and all(len(c) == 5 and c.isdigit() for c in codes)
    taken = mutations.create_promocodes(store, {"organizationId": 2, "code": codes[0]})
    assert not taken["success"] and codes[0] in taken["errorMessage"]
    result = mutations.set_promocode_eligibility(store, {"organizationId": 3, "enabled": True})
    swiss_lines = store.scalar(
        "SELECT count(*) FROM product_lines pl JOIN kiosks k ON k.id = pl.kiosk_id "
        "WHERE pl.active AND k.organization_id IN (3, 7)"
    )
    assert result == {"success": True, "affectedCount": swiss_lines}
