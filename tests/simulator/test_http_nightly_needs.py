"""What a cheaper nightly sync relies on, over real HTTP: the kiosk detail's inventory, telemetry that starts
with the kiosk, product lines of an organization's whole tree, users newest-updated first, per-client
rate-limit budgets."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime, timedelta

import httpx
import pytest

from simulator.app import TOP_LEVEL_CLIENT_ORGS_SQL
from simulator.auth import organization_client_id, organization_client_secret
from simulator.params import render_utc
from simulator.server import SimulatorServer
from tests.simulator.helpers import bearer_client, read_all, status_with


@pytest.fixture(scope="module")
def sim(own_simulator: SimulatorServer) -> SimulatorServer:
    # Its tests move the clock and write.
    return own_simulator


@pytest.fixture
def api(sim: SimulatorServer) -> Iterator[httpx.Client]:
    with bearer_client(sim, **{"x-timezone": "UTC"}) as client:
        yield client


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _serials(api: httpx.Client) -> list[str]:
    return [k["serialNumber"] for k in api.get("/kiosks", params={"limit": 100}).json()["data"]]


def test_kiosk_detail_inventory_is_the_inventory_endpoint(sim, api) -> None:
    def both(serial: str) -> tuple[list, list]:
        detail = api.get(f"/kiosks/{serial}").json()["inventory"]["loadCells"]
        return detail, api.get(f"/kiosks/{serial}/inventory").json()

    serials = _serials(api)
    before = {s: both(s) for s in serials}
    for detail, inventory in before.values():
        assert detail == inventory and inventory
    sim.advance(hours=8)  # purchases and refills change the counts
    line = next(c for c in before[serials[0]][1] if c["productLineData"])["productLineData"]["productLineId"]
    assert api.patch(f"/product-lines/{line}/price", json={"price": 9.99}).status_code == 200
    after = {s: both(s) for s in serials}
    for detail, inventory in after.values():
        assert detail == inventory
    assert after != before
    priced = [c["productLineData"] for c in after[serials[0]][1] if c["productLineData"]]
    assert {d["price"] for d in priced if d["productLineId"] == line} == {9.99}


def test_temperature_starts_with_the_kiosk(sim, api) -> None:
    kiosks = api.get("/kiosks").json()["data"]
    stored = dict(sim.store.query("SELECT serial_number, created_at FROM kiosks"))
    assert {k["serialNumber"]: k["createdAt"] for k in kiosks} == {
        s: render_utc(c) for s, c in stored.items()
    }
    serial = kiosks[0]["serialNumber"]
    created = _instant(kiosks[0]["createdAt"])

    def series(granularity: str, start: datetime, end: datetime) -> list[dict]:
        params = {"kioskSerialNumber": serial, "startDate": start.isoformat(), "endDate": end.isoformat()}
        return api.get(f"/analytics/temperature/{granularity}", params=params).json()

    minutely = series("minutely", created - timedelta(hours=3), created + timedelta(hours=2))
    assert minutely and all(_instant(v["date"]) >= created for s in minutely for v in s["values"])
    assert min(_instant(v["date"]) for s in minutely for v in s["values"]) - created < timedelta(minutes=1)
    hourly = series("hourly", created - timedelta(days=3), created + timedelta(hours=5))
    # Buckets are labelled by their start: only the one holding createdAt may start before it.
    hour = created.replace(minute=0, second=0, microsecond=0)
    assert hourly and all(_instant(v["date"]) >= hour for s in hourly for v in s["values"])
    assert series("hourly", created - timedelta(days=3), created - timedelta(seconds=1)) == []
    assert series("hourly", created, created + timedelta(hours=5)) == hourly
    assert series("daily", created - timedelta(days=30), created - timedelta(minutes=1)) == []


def test_a_new_kiosk_reads_temperatures_from_its_creation_on(sim, api) -> None:
    changes = sim.advance(hours=2, new_kiosks=1)["changes"]
    (serial,) = changes["new_kiosk_serials"]
    kiosk = next(
        k for k in api.get("/kiosks", params={"limit": 100}).json()["data"] if k["serialNumber"] == serial
    )
    created = _instant(kiosk["createdAt"])
    params = {"kioskSerialNumber": serial, "startDate": (created - timedelta(hours=20)).isoformat()}
    minutely = api.get("/analytics/temperature/minutely", params=params).json()
    assert all(_instant(v["date"]) >= created for s in minutely for v in s["values"])


def _token(sim: SimulatorServer, client_id: str, secret: str) -> str:
    body = {"client_id": client_id, "client_secret": secret, "grant_type": "client_credentials"}
    return httpx.post(sim.token_url, json=body, timeout=10).json()["access_token"]


def test_product_lines_of_an_organization_cover_its_sub_organizations(sim, api) -> None:
    parent = {o["id"]: o["parentOrg"] for o in read_all(api, "/organizations")}

    def tree(org_id: int) -> set[int]:
        below = {org_id}
        for _ in range(len(parent)):  # bounded: no tree is deeper than it has organizations
            below |= {o for o, p in parent.items() if p in below}
        return below

    kiosks = api.get("/kiosks", params={"limit": 100}).json()["data"]
    owner = {k["serialNumber"]: int(k["orgId"]) for k in kiosks}
    lines = {o: api.get(f"/organizations/{o}/product-lines").json() for o in parent}
    (root,) = [o for o, p in parent.items() if p is None]
    every_line = [line["_id"] for org_lines in lines.values() for line in org_lines]
    assert sorted(line["_id"] for line in lines[root]) == sorted(set(every_line))  # each line once
    for org_id, org_lines in lines.items():
        in_tree = [line for line in lines[root] if owner[line["kioskSerialNumber"]] in tree(org_id)]
        assert org_lines == in_tree
    # An organization's own client gets the same lines for its tree, and a 404 above it.
    top = next(o for o in parent if parent[o] == root and len(tree(o)) > 1 and lines[o])
    token = _token(sim, f"lv_m2m_org_{top}", f"sk_live_org_{top}")
    for org_id in tree(top):
        answer = httpx.get(
            f"{sim.base_url}/organizations/{org_id}/product-lines",
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
        assert answer.json() == lines[org_id]
    assert status_with(sim, f"/organizations/{root}/product-lines", token) == 404


def test_users_newest_updated_first_and_updated_moves_with_every_change(sim, api) -> None:
    def by_updated(sort: int, limit: int = 100) -> list[dict]:
        return api.get("/users", params={"sortBy": "updated", "sort": sort, "limit": limit}).json()["data"]

    now = sim.store.now
    newest, oldest = by_updated(-1), by_updated(1)
    stamps = [_instant(u["updated"]) for u in newest]
    assert stamps == sorted(stamps, reverse=True) and stamps[0] <= now
    assert [_instant(u["updated"]) for u in oldest] == sorted(_instant(u["updated"]) for u in oldest)
    patched = api.patch(f"/users/{oldest[0]['id']}", json={"mobile": "+49 170 0000000"})
    assert patched.status_code == 200 and _instant(patched.json()["updated"]) == now
    assert by_updated(-1, limit=1)[0]["id"] == oldest[0]["id"]
    before = {u["id"]: u for u in read_all(api, "/users")}
    changed = sim.advance(hours=1, user_changes=3)["changes"]["changed_user_ids"]
    assert len(changed) == 3
    top = by_updated(-1, limit=3)
    assert sorted(u["id"] for u in top) == sorted(changed)
    assert all(now < _instant(u["updated"]) <= sim.store.now for u in top)
    for user in top:  # the account itself changed, not only its timestamp
        fields = ("mobile", "lang", "status")
        assert any(user[f] != before[user["id"]][f] for f in fields)


def test_rate_limit_budgets_are_independent_per_client(simulator_factory) -> None:
    sim = simulator_factory(rate_limit_per_hour=3, rate_limit_window_seconds=30)
    org_clients = [
        (organization_client_id(o), organization_client_secret(o))
        for (o,) in sim.store.query(TOP_LEVEL_CLIENT_ORGS_SQL)
    ]
    clients = [("lv_m2m_demo", "sk_live_demo"), ("lv_m2m_limited", "sk_live_limited"), *org_clients[:2]]
    tokens = [_token(sim, client_id, secret) for client_id, secret in clients]

    def hit(token: str) -> httpx.Response:
        return httpx.get(
            sim.base_url + "/alerts/types", headers={"Authorization": f"Bearer {token}"}, timeout=10
        )

    assert [hit(tokens[0]).status_code for _ in range(4)] == [200, 200, 200, 429]
    time.sleep(1.1)  # the other clients' windows open later than the first one's
    for token in tokens[1:]:
        answers = [hit(token) for _ in range(4)]
        assert [r.status_code for r in answers] == [200, 200, 200, 429]
        assert [r.headers["ratelimit-remaining"] for r in answers] == ["2", "1", "0", "0"]
        # Fixed windows per client: this one opened with its own first request, after the first client's.
        assert int(answers[0].headers["ratelimit-reset"]) > int(hit(tokens[0]).headers["ratelimit-reset"])
    assert hit(tokens[0]).status_code == 429


def test_control_route_forces_clock_events(sim) -> None:
    key = {"X-Sim-Control-Key": sim.control_key}
    answer = httpx.post(
        sim.root_url + "/_sim/advance", json={"minutes": 5, "user_changes": 2}, headers=key, timeout=30
    )
    assert answer.status_code == 200 and len(answer.json()["changes"]["changed_user_ids"]) == 2
    unknown = httpx.post(
        sim.root_url + "/_sim/advance", json={"minutes": 5, "renamez": 1}, headers=key, timeout=30
    )
    assert unknown.status_code == 400 and "renamez" in unknown.json()["detail"]
