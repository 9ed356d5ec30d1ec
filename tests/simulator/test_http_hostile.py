"""The hostile-API faults over real HTTP: 200 answers that look right and are not (simulator/faults.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from simulator.config import FaultConfig
from simulator.server import SimulatorProcess, SimulatorServer
from tests.simulator.helpers import bearer_client


@pytest.fixture(scope="module")
def sim(own_simulator: SimulatorServer) -> SimulatorServer:
    # The module's own simulator: every test sets its faults and the fixture below clears them.
    return own_simulator


@pytest.fixture
def api(sim: SimulatorServer) -> Iterator[httpx.Client]:
    with bearer_client(sim) as client:
        yield client
    sim.clear_faults()


def _ids(response: httpx.Response) -> list[int]:
    return [row["id"] for row in response.json()["data"]]


def test_ignore_paging_answers_the_first_page_with_the_real_total(sim, api) -> None:
    first = api.get("/transactions", params={"limit": 50})
    second = api.get("/transactions", params={"limit": 50, "skip": 50})
    page_two = api.get("/kiosks", params={"limit": 1, "page": 2})
    alerts = api.get("/alerts", params={"limit": 5, "offset": 5})
    assert _ids(first) != _ids(second)
    sim.set_faults(ignore_paging=True)
    for skip in (50, 100, 5000):
        again = api.get("/transactions", params={"limit": 50, "skip": skip})
        assert again.status_code == 200 and _ids(again) == _ids(first)
        assert (
            again.json()["total"]
            == first.json()["total"]
            == sim.store.scalar("SELECT count(*) FROM transactions")
        )
    kiosks = api.get("/kiosks", params={"limit": 1, "page": 2}).json()
    assert kiosks["data"] != page_two.json()["data"]
    assert kiosks["data"] == api.get("/kiosks", params={"limit": 1}).json()["data"] and kiosks["total"] == 3
    assert _ids(api.get("/alerts", params={"limit": 5, "offset": 5})) != _ids(alerts)
    # Limited to some paths, the other endpoints page as usual.
    sim.set_faults(ignore_paging=True, paths=("/alerts",))
    assert _ids(api.get("/transactions", params={"limit": 50, "skip": 50})) == _ids(second)
    assert _ids(api.get("/alerts", params={"limit": 5, "offset": 5})) == _ids(
        api.get("/alerts", params={"limit": 5})
    )


def test_inflated_total_keeps_the_real_data(sim, api) -> None:
    real = api.get("/refills", params={"limit": 20}).json()
    sim.set_faults(inflate_total=10_000_000)
    inflated = api.get("/refills", params={"limit": 20}).json()
    assert inflated["total"] == 10_000_000 and real["total"] < 10_000_000
    assert inflated["data"] == real["data"]


def test_total_shrinks_on_later_pages_or_is_missing(sim, api) -> None:
    real = api.get("/transactions", params={"limit": 40}).json()["total"]
    sim.set_faults(shrink_total_by=7)
    totals = [
        api.get("/transactions", params={"limit": 40, "skip": 40 * n}).json()["total"] for n in range(3)
    ]
    assert totals == [real, real - 7, real - 14]
    assert api.get("/products", params={"limit": 5, "page": 3}).json()["total"] == max(
        0, sim.store.scalar("SELECT count(*) FROM products WHERE NOT deleted") - 14
    )
    sim.set_faults(FaultConfig(omit_total=True))
    body = api.get("/users", params={"limit": 10}).json()
    assert "total" not in body and len(body["data"]) == 10
    # An array answer has no envelope and stays as it is.
    assert isinstance(api.get("/alerts/types").json(), list)


def test_maintenance_page_is_html_with_status_200_and_no_rate_limit_headers(sim, api) -> None:
    sim.set_faults(maintenance_ratio=1.0, paths=("/kiosks",))
    page = api.get("/kiosks")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "<html" in page.text and "maintenance" in page.text
    assert "ratelimit-remaining" not in page.headers
    with pytest.raises(json.JSONDecodeError):
        page.json()
    other = api.get("/products")
    assert other.status_code == 200 and "total" in other.json()


def test_invalid_utf8_and_text_bodies_claim_json(sim, api) -> None:
    real = api.get("/alerts/types").content
    sim.set_faults(invalid_utf8_ratio=1.0)
    broken = api.get("/alerts/types")
    assert broken.status_code == 200 and broken.headers["content-type"] == "application/json"
    with pytest.raises(UnicodeDecodeError):
        broken.content.decode("utf-8")
    # A Latin-1 writer's bytes: read as Latin-1 (less the marker) they are the real answer.
    assert json.loads(broken.content.decode("latin-1").replace("é", "", 1)) == json.loads(real)
    sim.set_faults(FaultConfig(text_body_ratio=1.0))
    text = api.get("/alerts/types")
    assert text.status_code == 200 and text.headers["content-type"] == "application/json"
    assert text.content.decode("utf-8").strip()
    with pytest.raises(json.JSONDecodeError):
        json.loads(text.content)


def test_schema_drift_drops_adds_and_retypes_fields(sim, api) -> None:
    real = api.get("/transactions", params={"limit": 30}).json()["data"]
    sim.set_faults(
        paths=("/transactions", "/transactions/*"),
        drop_fields=("paymentMethod", "discountTotal"),
        add_fields={"loyaltyTier": "gold"},
        stringify_fields=("total", "id", "kiosk.id", "itemsPurchased.price"),
    )
    drifted = api.get("/transactions", params={"limit": 30}).json()["data"]
    assert len(drifted) == len(real) == 30
    for before, after in zip(real, drifted, strict=True):
        assert "paymentMethod" not in after and "discountTotal" not in after
        assert after["loyaltyTier"] == "gold"
        assert after["total"] == f"{before['total']:.2f}" and isinstance(after["total"], str)
        assert after["id"] == str(before["id"]) and after["kiosk"]["id"] == str(before["kiosk"]["id"])
        assert [i["price"] for i in after["itemsPurchased"]] == [
            f"{i['price']:.2f}" for i in before["itemsPurchased"]
        ]
        assert after["created"] == before["created"] and after["currency"] == before["currency"]
    one = api.get(f"/transactions/{real[0]['id']}").json()
    assert one["id"] == str(real[0]["id"]) and "paymentMethod" not in one
    # Outside the paths nothing drifts.
    refill = api.get("/refills", params={"limit": 1}).json()["data"][0]
    assert isinstance(refill["id"], int) and "loyaltyTier" not in refill


def test_drift_reaches_array_answers(sim, api) -> None:
    serial = sim.store.scalar("SELECT serial_number FROM kiosks ORDER BY id LIMIT 1")
    sim.set_faults(drop_fields=("productLineData",), paths=("/kiosks/*/inventory",))
    cells = api.get(f"/kiosks/{serial}/inventory").json()
    assert cells and all("productLineData" not in c and "loadCellId" in c for c in cells)
    detail = api.get(f"/kiosks/{serial}").json()
    assert all("productLineData" in c for c in detail["inventory"]["loadCells"])


def test_hostile_faults_compose_and_are_deterministic(sim, api) -> None:
    # Share faults (one draw per request) with deterministic ones, all on one path.
    deterministic = {"ignore_paging": True, "inflate_total": 123, "paths": ("/refills",)}
    faults = FaultConfig(seed=11, maintenance_ratio=0.3, error_ratio=0.2, **deterministic)
    sim.set_faults(faults)
    first = [(r.status_code, r.headers.get("content-type")) for r in _refill_pages(api)]
    sim.set_faults(faults)
    responses = _refill_pages(api)
    assert [(r.status_code, r.headers.get("content-type")) for r in responses] == first
    kinds = {content_type.split(";")[0] for status, content_type in first if status == 200}
    assert kinds == {"text/html", "application/json"}
    statuses = {status for status, _ in first}
    assert 200 in statuses and statuses - {200} <= {500, 502, 503}
    json_pages = [r.json() for r in responses if r.headers["content-type"] == "application/json"]
    assert json_pages and all(p["total"] == 123 for p in json_pages)
    assert len({tuple(row["id"] for row in p["data"]) for p in json_pages}) == 1  # paging ignored throughout


def _refill_pages(api: httpx.Client) -> list[httpx.Response]:
    return [api.get("/refills", params={"limit": 10, "skip": 10 * n}) for n in range(30)]


def test_fault_settings_are_validated() -> None:
    with pytest.raises(ValueError, match="exclude each other"):
        FaultConfig(inflate_total=5, omit_total=True).validate()
    with pytest.raises(ValueError, match="must not exceed 1"):
        FaultConfig(error_ratio=0.6, text_body_ratio=0.6).validate()
    with pytest.raises(ValueError, match="unknown fault setting"):
        FaultConfig().with_changes(ignore_pages=True)
    assert FaultConfig(drop_fields="total").drop_fields == ("total",)
    assert FaultConfig(add_fields={"a": 1}) == FaultConfig(add_fields=[("a", 1)])


def test_hostile_faults_through_the_control_route(sim, api) -> None:
    key = {"X-Sim-Control-Key": sim.control_key}
    settings = {
        "paths": ["/users"],
        "drop_fields": ["email"],
        "add_fields": {"tier": 3},
        "stringify_fields": ["id"],
        "omit_total": True,
    }
    answer = httpx.post(sim.root_url + "/_sim/faults", json=settings, headers=key, timeout=10)
    assert answer.status_code == 200
    assert {k: answer.json()[k] for k in settings} == settings
    assert httpx.get(sim.root_url + "/_sim/faults", headers=key, timeout=10).json()["add_fields"] == {
        "tier": 3
    }
    body = api.get("/users", params={"limit": 3}).json()
    assert "total" not in body
    assert all("email" not in u and u["tier"] == 3 and isinstance(u["id"], str) for u in body["data"])
    bad = httpx.post(
        sim.root_url + "/_sim/faults",
        json={"inflate_total": 9, "reset": True, "omit_total": True},
        headers=key,
    )
    assert bad.status_code == 400


def test_serve_options_set_the_hostile_faults() -> None:
    args = ["--kiosks", "1", "--days", "1", "--now", "2026-03-02T12:00:00Z"]
    hostile = ["--fault-path", "/kiosks", "--fault-inflate-total", "999", "--fault-add-field", 'tier="gold"']
    with SimulatorProcess([*args, *hostile], startup_timeout=60) as proc, bearer_client(proc) as client:
        kiosks, products = client.get("/kiosks").json(), client.get("/products").json()
    assert kiosks["total"] == 999 and kiosks["data"][0]["tier"] == "gold"
    assert products["total"] < 999 and "tier" not in products["data"][0]
