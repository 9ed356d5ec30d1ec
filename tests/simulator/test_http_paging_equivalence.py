"""The fast paging of /transactions and /refills (per-day counts narrow a page to its days) returns exactly
the rows and totals of a naive full-scan query, for random windows, time zones, kiosk filters, scopes, sort
orders, skips and limits, on a store with late-arriving backlog rows and a clock that has moved on."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from simulator import store as store_module
from simulator.app import TOP_LEVEL_CLIENT_ORGS_SQL
from simulator.params import parse_instant
from simulator.server import SimulatorServer
from tests.conftest import fetch_token, small_config

NOW = datetime(2026, 3, 30, 9, 0, tzinfo=UTC)
DAYS = 5
ZONES = ("UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata")
TX_SORT_COLUMNS = {"created": "t.created", "type": "t.created", "total": "t.total", "kioskName": "k.name"}
CASES = 70


@pytest.fixture(scope="module")
def sim() -> Iterator[SimulatorServer]:
    with SimulatorServer(small_config(seed=23, kiosks=4, days=DAYS, now=NOW)) as server:
        # Late rows get new, higher ids with an old `created`; the clock then adds a few hours of history.
        server.upload_backlog(kiosk_serial="LIV-0002", hours_late=40, sessions=25)
        server.advance(hours=7)
        yield server


@pytest.fixture(scope="module")
def clients(sim: SimulatorServer) -> Iterator[dict[int | None, httpx.Client]]:
    """One client per scope: None = the demo client (every organization), else an organization client."""
    scopes: list[int | None] = [None, *(r[0] for r in sim.store.query(TOP_LEVEL_CLIENT_ORGS_SQL))]
    made: dict[int | None, httpx.Client] = {}
    for org in scopes:
        token = (
            fetch_token(sim) if org is None else fetch_token(sim, f"lv_m2m_org_{org}", f"sk_live_org_{org}")
        )
        made[org] = httpx.Client(
            base_url=sim.base_url, timeout=20, headers={"Authorization": f"Bearer {token}"}
        )
    yield made
    for client in made.values():
        client.close()


def _random_bound(rng: random.Random, tz: ZoneInfo, *, end: bool) -> str:
    """A startDate/endDate value: date-only (a whole local day) or an instant with or without offset."""
    moment = NOW + timedelta(hours=7) - timedelta(seconds=rng.randrange(0, (DAYS + 1) * 86_400))
    kind = rng.choice(("date", "offset", "naive", "utc"))
    if kind == "date":
        return moment.astimezone(tz).date().isoformat()
    if kind == "naive":
        return moment.astimezone(tz).replace(tzinfo=None).isoformat(timespec="seconds")
    if kind == "utc":
        return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    return moment.astimezone(tz).isoformat(timespec="seconds")


def _random_case(rng: random.Random, serials: list[str], table: str) -> tuple[dict[str, str], str]:
    tz_name = rng.choice(ZONES)
    tz = ZoneInfo(tz_name)
    query: dict[str, str] = {"limit": str(rng.choice((1, 7, 25, 100, 100, 100)))}
    if rng.random() < 0.5:
        query["sort"] = rng.choice(("1", "-1"))
    if table == "transactions" and rng.random() < 0.3:
        query["sortBy"] = rng.choice(list(TX_SORT_COLUMNS))
    shape = rng.choice(("none", "start", "end", "both", "both"))
    if shape in ("start", "both"):
        query["startDate"] = _random_bound(rng, tz, end=False)
    if shape in ("end", "both"):
        query["endDate"] = _random_bound(rng, tz, end=True)
    if "startDate" in query and "endDate" in query:
        start = parse_instant("startDate", query["startDate"], tz, end_of_day=False)
        end = parse_instant("endDate", query["endDate"], tz, end_of_day=True)
        if end < start:
            query["startDate"], query["endDate"] = query["endDate"], query["startDate"]
            if parse_instant("endDate", query["endDate"], tz, end_of_day=True) < parse_instant(
                "startDate", query["startDate"], tz, end_of_day=False
            ):
                del query["startDate"]
    filter_kind = rng.random()
    if filter_kind < 0.25:
        query["kioskSerialNumbers"] = rng.choice(serials)
    elif filter_kind < 0.4:
        query["kioskSerialNumbers"] = ",".join(rng.sample(serials, 2) + ["LIV-9999"])
    return query, tz_name


def _truth(
    sim: SimulatorServer, table: str, query: dict[str, str], tz_name: str, org: int | None, skip: int
) -> tuple[int, list[int]]:
    """Total and page ids by a plain query over the whole table (no narrowing)."""
    tz = ZoneInfo(tz_name)
    alias = "t" if table == "transactions" else "r"
    where, params = ["TRUE"], []
    if org is not None:
        where.append(f"{alias}.organization_id IN (SELECT unnest(?))")
        params.append(sim.store.descendant_org_ids(org))
    if "kioskSerialNumbers" in query:
        where.append(f"{alias}.kiosk_id IN (SELECT id FROM kiosks WHERE serial_number IN (SELECT unnest(?)))")
        params.append(query["kioskSerialNumbers"].split(","))
    if "startDate" in query:
        where.append(f"{alias}.created >= ?")
        params.append(parse_instant("startDate", query["startDate"], tz, end_of_day=False))
    if "endDate" in query:
        where.append(f"{alias}.created <= ?")
        params.append(parse_instant("endDate", query["endDate"], tz, end_of_day=True))
    direction = "ASC" if query.get("sort") == "1" else "DESC"
    column = TX_SORT_COLUMNS[query.get("sortBy", "created")] if table == "transactions" else "r.created"
    order = f"{column} {direction}, {alias}.created {direction}, {alias}.id {direction}"
    sql = f"FROM {table} {alias} JOIN kiosks k ON k.id = {alias}.kiosk_id WHERE {' AND '.join(where)}"
    total = sim.store.scalar(f"SELECT count(*) {sql}", params)
    ids = sim.store.query(
        f"SELECT {alias}.id {sql} ORDER BY {order} LIMIT ? OFFSET ?", [*params, int(query["limit"]), skip]
    )
    return total, [r[0] for r in ids]


@pytest.mark.parametrize("refine_above_rows", [0, 2_000], ids=["hours", "days"])
@pytest.mark.parametrize("table", ["transactions", "refills"])
def test_pages_equal_a_full_scan(sim, clients, monkeypatch, table: str, refine_above_rows: int) -> None:
    # The small store has a few hundred rows a day; a zero threshold makes every page narrow to hours too.
    monkeypatch.setattr(store_module, "_REFINE_ABOVE_ROWS", refine_above_rows)
    rng = random.Random(f"paging-{table}-{refine_above_rows}")
    serials = [r[0] for r in sim.store.query("SELECT serial_number FROM kiosks ORDER BY id")]
    line_table, key, lines_field = (
        ("transaction_items", "transaction_id", "itemsPurchased")
        if table == "transactions"
        else ("refill_items", "refill_id", "itemsReplenished")
    )
    line_counts = dict(sim.store.query(f"SELECT {key}, count(*) FROM {line_table} GROUP BY 1"))
    non_empty = 0
    for case in range(CASES):
        query, tz_name = _random_case(rng, serials, table)
        org = rng.choice(list(clients))
        total, _ = _truth(sim, table, query, tz_name, org, 0)
        # Skips at the start, in the middle, near and past the end.
        skip = rng.choice((0, rng.randrange(0, total + 1), max(0, total - rng.randrange(1, 150)), total + 3))
        expected_total, expected_ids = _truth(sim, table, query, tz_name, org, skip)
        response = clients[org].get(
            f"/{table}", params={**query, "skip": str(skip)}, headers={"x-timezone": tz_name}
        )
        assert response.status_code == 200, response.text
        body = response.json()
        context = f"case {case}: {query} skip={skip} tz={tz_name} org={org}"
        assert body["total"] == expected_total, context
        assert [row["id"] for row in body["data"]] == expected_ids, context
        for row in body["data"]:
            assert len(row[lines_field]) == line_counts.get(row["id"], 0), context
        non_empty += bool(expected_ids)
    assert non_empty >= CASES // 3, "too few random cases hit rows to test anything"


@pytest.mark.parametrize("refine_above_rows", [0, 2_000], ids=["hours", "days"])
def test_paging_a_window_yields_each_row_once_in_order(sim, clients, monkeypatch, refine_above_rows) -> None:
    """The sync's shape: ascending one-day windows paged by skip until `total`."""
    monkeypatch.setattr(store_module, "_REFINE_ABOVE_ROWS", refine_above_rows)
    client = clients[None]
    day = (NOW - timedelta(days=2)).date().isoformat()
    seen: list[dict[str, Any]] = []
    total = None
    for _ in range(1_000):  # bounded
        body = client.get(
            "/transactions",
            params={"startDate": day, "endDate": day, "sort": 1, "limit": 100, "skip": len(seen)},
            headers={"x-timezone": "UTC"},
        ).json()
        total = body["total"]
        seen.extend(body["data"])
        if len(seen) >= total or not body["data"]:
            break
    ids = [row["id"] for row in seen]
    truth = [
        r[0]
        for r in sim.store.query(
            "SELECT id FROM transactions WHERE CAST(created AS DATE) = ? ORDER BY created, id", [day]
        )
    ]
    assert total == len(truth) > 100
    assert ids == truth


def test_counts_follow_writes(simulator_factory, api_client_factory) -> None:
    """Totals and pages come from memoized counts; a write (the clock moving on, a backlog upload) must show
    in the very next page."""
    server = simulator_factory(kiosks=2, days=2, now=NOW)
    client = api_client_factory(server)

    def newest() -> tuple[int, list[int]]:
        body = client.get("/transactions", params={"limit": 100}).json()
        return body["total"], [row["id"] for row in body["data"]]

    def truth() -> tuple[int, list[int]]:
        ids = server.store.query("SELECT id FROM transactions ORDER BY created DESC, id DESC LIMIT 100")
        return server.store.scalar("SELECT count(*) FROM transactions"), [r[0] for r in ids]

    assert newest() == truth()
    server.advance(hours=5)
    assert newest() == truth()
    before = client.get("/transactions", params={"limit": 1}).json()["total"]
    server.upload_backlog(kiosk_serial="LIV-0001", hours_late=20, sessions=5)
    assert newest() == truth()
    assert client.get("/transactions", params={"limit": 1}).json()["total"] == before + 5
