"""Write endpoints change what the read endpoints serve; moving the clock makes new data appear."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import fetch_token

NEW_PRODUCT = {
    "name": "Bircher Müsli 🥣",
    "manufacturer": "Frischeküche",
    "category": "Frühstück",
    "pricing": {"defaultPrice": 3.9, "defaultCost": 1.2},
    "packaging": {
        "shelfLifeDays": 4,
        "netWeightGrams": 200,
        "grossWeightGrams": 230,
        "netWeightGramsUnit": "g",
    },
    "capacities": [{"surfaceSize": 1, "units": 8}],
}


@pytest.fixture
def sim(simulator_factory):
    return simulator_factory()


@pytest.fixture
def client(sim) -> httpx.Client:
    with httpx.Client(
        base_url=sim.base_url, timeout=20, headers={"Authorization": f"Bearer {fetch_token(sim)}"}
    ) as c:
        yield c


def test_product_create_update_delete(client, sim) -> None:
    org_id = sim.store.scalar("SELECT organization_id FROM products ORDER BY id LIMIT 1")
    before = client.get("/products").json()["total"]
    created = client.post("/products", json={**NEW_PRODUCT, "organizationId": org_id})
    assert created.status_code == 201, created.text
    product = created.json()
    assert product["name"] == NEW_PRODUCT["name"] and product["price"] == "3.90"
    assert client.get(f"/products/{product['id']}").json() == product
    assert client.get("/products").json()["total"] == before + 1

    patched = client.patch(f"/products/{product['id']}", json={"name": "Bircher Müsli groß"})
    assert patched.status_code == 200 and patched.json()["name"] == "Bircher Müsli groß"
    assert client.get(f"/products/{product['id']}").json()["name"] == "Bircher Müsli groß"

    assert client.delete(f"/products/{product['id']}").status_code == 204
    assert client.get(f"/products/{product['id']}").status_code == 404
    assert client.get("/products").json()["total"] == before


def test_invalid_bodies_get_400(client, sim) -> None:
    org_id = sim.store.scalar("SELECT organization_id FROM products ORDER BY id LIMIT 1")
    missing = {k: v for k, v in NEW_PRODUCT.items() if k != "pricing"}
    assert client.post("/products", json={**missing, "organizationId": org_id}).status_code == 400
    assert (
        client.post("/products", content=b"{oops", headers={"content-type": "application/json"}).status_code
        == 400
    )
    assert client.post("/users", json={"email": "x@example.com"}).status_code == 400
    assert (
        client.post(
            "/organizations",
            json={"name": "X", "type": "shop", "currency": "eur", "address": {"country": "DE"}},
        ).status_code
        == 400
    )
    assert client.patch("/products/999999", json={"name": "x"}).status_code == 404


def test_product_line_price_changes_inventory_price(client, sim) -> None:
    serial = sim.store.scalar("SELECT serial_number FROM kiosks ORDER BY id LIMIT 1")
    cell = next(c for c in client.get(f"/kiosks/{serial}/inventory").json() if c["productLineData"])
    line_id = cell["productLineData"]["productLineId"]
    new_price = round(cell["productLineData"]["price"] + 0.5, 2)
    response = client.patch(f"/product-lines/{line_id}/price", json={"price": new_price})
    assert response.status_code == 200, response.text
    assert response.json()["productLineId"] == line_id and response.json()["price"] == new_price
    after = next(
        c
        for c in client.get(f"/kiosks/{serial}/inventory").json()
        if c["productLineData"] and c["productLineData"]["productLineId"] == line_id
    )
    assert after["productLineData"]["price"] == new_price


def test_organization_and_user_writes(client, sim) -> None:
    parent = sim.store.scalar("SELECT id FROM organizations WHERE type = 'CLIENT' ORDER BY id LIMIT 1")
    org = client.post(
        "/organizations",
        json={
            "name": "Café Zürichsee",
            "type": "client",
            "currency": "chf",
            "parentOrg": parent,
            "address": {"country": "Switzerland", "city": "Zürich", "countryCode": "CH"},
        },
    )
    assert org.status_code == 201, org.text
    body = org.json()
    assert body["type"] == "CLIENT" and body["currency"] == "CHF" and body["parentOrg"] == parent
    assert client.get(f"/organizations/{body['id']}").json()["name"] == "Café Zürichsee"
    renamed = client.patch(f"/organizations/{body['id']}", json={"name": "Café am See"})
    assert renamed.status_code == 200 and renamed.json()["name"] == "Café am See"

    user = client.post(
        "/users",
        json={
            "email": "zoe.mueller@example.com",
            "firstName": "Zoë",
            "lastName": "Müller",
            "status": "ACTIVE",
            "lang": "de",
            "organizationId": body["id"],
        },
    )
    assert user.status_code == 201, user.text
    user_id = user.json()["id"]
    assert client.get(f"/users/{user_id}").json()["firstName"] == "Zoë"
    patched = client.patch(f"/users/{user_id}", json={"status": "INACTIVE"})
    assert patched.status_code == 200 and patched.json()["status"] == "INACTIVE"


def test_promocodes(client, sim) -> None:
    org_id = sim.store.scalar("SELECT id FROM organizations WHERE type = 'CLIENT' ORDER BY id LIMIT 1")
    created = client.post(
        "/promocodes",
        json={
            "organizationId": org_id,
            "code": "54321",
            "balance": 3,
            "durationEndDays": 10,
            "rules": [
                {
                    "day": 1,
                    "resetAmount": 1,
                    "type": "percentage",
                    "cappingEnabled": False,
                    "discountPercentage": 10,
                }
            ],
        },
    )
    assert created.status_code == 201, created.text
    assert created.json()["success"] and created.json()["promocodes"][0]["code"] == "54321"
    fetched = client.get("/promocodes/54321")
    assert fetched.status_code == 200 and fetched.json()["balance"] == 3
    eligibility = client.post("/promocodes/eligibility", json={"organizationId": org_id, "enabled": True})
    assert eligibility.status_code == 200 and eligibility.json()["affectedCount"] >= 0


def test_write_and_read_scopes_are_separate(sim) -> None:
    token = fetch_token(sim, "lv_m2m_limited", "sk_live_limited")
    headers = {"Authorization": f"Bearer {token}"}
    org_id = sim.store.scalar("SELECT id FROM organizations WHERE type = 'CLIENT' ORDER BY id LIMIT 1")
    created = httpx.post(
        sim.base_url + "/users",
        headers=headers,
        timeout=10,
        json={
            "email": "a.b@example.com",
            "firstName": "A",
            "lastName": "B",
            "status": "ACTIVE",
            "lang": "en",
            "organizationId": org_id,
        },
    )
    assert created.status_code == 201  # users:write is granted ...
    denied = httpx.get(sim.base_url + f"/users/{created.json()['id']}", headers=headers, timeout=10)
    assert denied.status_code == 403  # ... users:read is not
    assert denied.json()["detail"] == "Insufficient scope. Required: users:read"


def test_advancing_the_clock_makes_new_transactions_appear(client, sim) -> None:
    before = client.get("/transactions", params={"limit": 1}, headers={"x-timezone": "UTC"}).json()
    changes = sim.advance(hours=3)
    assert changes["now"].startswith("2026-03-02T15:00")
    after = client.get("/transactions", params={"limit": 1}, headers={"x-timezone": "UTC"}).json()
    assert after["total"] > before["total"]
    assert after["data"][0]["created"] > before["data"][0]["created"]


def test_control_routes_advance_and_backlog(sim) -> None:
    key = {"X-Sim-Control-Key": sim.control_key}
    assert httpx.post(sim.root_url + "/_sim/advance", json={"minutes": 30}, timeout=30).status_code == 401
    advanced = httpx.post(sim.root_url + "/_sim/advance", json={"minutes": 30}, headers=key, timeout=60)
    assert advanced.status_code == 200 and advanced.json()["now"].startswith("2026-03-02T12:30")
    before = sim.store.scalar("SELECT count(*) FROM transactions")
    backlog = httpx.post(
        sim.root_url + "/_sim/backlog",
        json={"kiosk_serial": "LIV-0001", "hours_late": 5},
        headers=key,
        timeout=60,
    )
    assert backlog.status_code == 200, backlog.text
    assert sim.store.scalar("SELECT count(*) FROM transactions") > before
    state = httpx.get(sim.root_url + "/_sim/state", headers=key, timeout=10).json()
    assert state["now"].startswith("2026-03-02T12:30") and state["rows"]["transactions"] > before
