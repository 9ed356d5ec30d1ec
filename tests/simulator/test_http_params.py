"""Parameter validation (the contract's 400s), inclusive windows, x-timezone reading/rendering, 404/405."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tests.simulator.helpers import read_all

BAD_REQUESTS = [
    ("/transactions", {"startDate": "not-a-date"}, {}),
    ("/transactions", {"endDate": "2026-13-45"}, {}),
    ("/transactions", {"limit": "0"}, {}),
    ("/transactions", {"limit": "-5"}, {}),
    ("/transactions", {"limit": "ten"}, {}),
    ("/transactions", {"skip": "-1"}, {}),
    ("/transactions", {"sort": "2"}, {}),
    ("/transactions", {"startDate": "2026-03-02", "endDate": "2026-03-01"}, {}),
    ("/transactions", {}, {"x-timezone": "Mars/Olympus_Mons"}),
    ("/kiosks", {"page": "0"}, {}),
    ("/kiosks", {"sortColumn": "color"}, {}),
    ("/users", {"role": "pilot"}, {}),
    ("/alerts", {"severities": "low,extreme"}, {}),
    ("/alerts", {"statuses": "closed"}, {}),
    ("/alerts", {"orderBy": "severity"}, {}),
    ("/alerts", {"orderDirection": "UP"}, {}),
    ("/alerts", {"isAck": "maybe"}, {}),
    ("/alerts", {"startDateFrom": "2026-03-02", "startDateTo": "2026-02-01"}, {}),
    ("/analytics/sales", {}, {}),  # granularity is required
    ("/analytics/sales", {"granularity": "yearly"}, {}),
    ("/analytics/sales", {"granularity": "daily", "aggregateBy": "color"}, {}),
    ("/analytics/inventory/product-stats", {"sortColumn": "color"}, {}),
    ("/analytics/temperature/hourly", {}, {}),  # kioskSerialNumber is required
    ("/analytics/temperature/yearly", {"kioskSerialNumber": "LIV-0001"}, {}),
    (
        "/analytics/temperature/minutely",
        {"kioskSerialNumber": "LIV-0001", "startDate": "2026-02-27", "endDate": "2026-03-01"},
        {},
    ),
    (
        "/analytics/temperature/hourly",
        {"kioskSerialNumber": "LIV-0001", "startDate": "2025-12-01", "endDate": "2026-03-01"},
        {},
    ),
    ("/transactions/abc", {}, {}),
]


@pytest.mark.parametrize("path,query,headers", BAD_REQUESTS)
def test_bad_parameters_get_400_problem(client, path, query, headers) -> None:
    response = client.get(path, params=query, headers=headers)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == 400 and body["detail"] and body["instance"] == "/api/v1" + path


def test_not_found_and_method_not_allowed_are_problems(client) -> None:
    for path in (
        "/kiosks/LIV-9999",
        "/kiosks/LIV-9999/inventory",
        "/products/999999",
        "/users/999999",
        "/organizations/999999",
        "/refills/999999",
        "/promocodes/99999",
        "/definitely/not/here",
    ):
        response = client.get(path)
        assert response.status_code == 404, path
        assert response.headers["content-type"] == "application/problem+json"
    unknown_kiosk = client.get("/analytics/temperature/hourly", params={"kioskSerialNumber": "LIV-9999"})
    assert unknown_kiosk.status_code == 404
    wrong_method = client.put("/kiosks")
    assert wrong_method.status_code == 405
    assert wrong_method.headers["content-type"] == "application/problem+json"


def test_date_only_windows_are_whole_inclusive_days_in_the_x_timezone(client, simulator) -> None:
    zone = ZoneInfo("Europe/Zurich")
    response = client.get(
        "/transactions",
        params={"startDate": "2026-02-28", "endDate": "2026-02-28", "limit": 100},
        headers={"x-timezone": "Europe/Zurich"},
    )
    assert response.status_code == 200
    start = datetime(2026, 2, 28, tzinfo=zone)
    end = start + timedelta(days=1)
    expected = simulator.store.scalar(
        "SELECT count(*) FROM transactions WHERE created >= ? AND created < ?", [start, end]
    )
    assert response.json()["total"] == expected > 0
    for tx in response.json()["data"]:
        created = datetime.fromisoformat(tx["created"])
        assert created.utcoffset() == timedelta(hours=1)  # rendered in the x-timezone (CET in February)
        assert start <= created < end


def test_windows_include_both_ends(client, simulator) -> None:
    created = simulator.store.scalar("SELECT created FROM transactions ORDER BY created LIMIT 1 OFFSET 10")
    instant = created.astimezone(UTC).isoformat()
    exact = client.get(
        "/transactions", params={"startDate": instant, "endDate": instant}, headers={"x-timezone": "UTC"}
    ).json()
    expected = simulator.store.scalar("SELECT count(*) FROM transactions WHERE created = ?", [created])
    assert exact["total"] == expected >= 1


def test_values_without_offset_are_read_in_the_x_timezone(client, simulator) -> None:
    params = {"startDate": "2026-02-28T08:00:00", "endDate": "2026-02-28T12:00:00"}
    london = client.get("/transactions", params=params, headers={"x-timezone": "Europe/London"}).json()[
        "total"
    ]
    start = datetime(2026, 2, 28, 8, tzinfo=UTC)  # London is on UTC in February
    expected = simulator.store.scalar(
        "SELECT count(*) FROM transactions WHERE created BETWEEN ? AND ?", [start, start + timedelta(hours=4)]
    )
    assert london == expected


def test_x_timezone_rendering(client) -> None:
    utc = client.get("/transactions", params={"limit": 1}, headers={"x-timezone": "UTC"}).json()["data"][0]
    berlin = client.get("/transactions", params={"limit": 1}).json()["data"][0]  # default Europe/Berlin
    zurich = client.get(
        "/transactions", params={"limit": 1}, headers={"x-timezone": "America/New_York"}
    ).json()["data"][0]
    assert utc["id"] == berlin["id"] == zurich["id"]
    assert utc["created"].endswith("Z")
    assert berlin["created"].endswith("+01:00")
    assert zurich["created"].endswith("-05:00")
    instants = {datetime.fromisoformat(x["created"].replace("Z", "+00:00")) for x in (utc, berlin, zurich)}
    assert len(instants) == 1


def test_filters(client, simulator) -> None:
    serial = simulator.store.scalar("SELECT serial_number FROM kiosks ORDER BY id LIMIT 1")
    txs = read_all(client, "/transactions", kioskSerialNumbers=serial)
    assert txs and {t["kiosk"]["serialNumber"] for t in txs} == {serial}
    alerts = client.get("/alerts", params={"statuses": "resolved", "isAck": "true", "limit": 100}).json()
    assert all(a["status"] == "resolved" and a["isAck"] for a in alerts["data"])
    name = simulator.store.scalar("SELECT name FROM products WHERE NOT deleted ORDER BY id LIMIT 1")
    found = client.get("/products", params={"name": name[:4].lower()}).json()
    assert any(p["name"] == name for p in found["data"])
    assert all(name[:4].lower() in p["name"].lower() for p in found["data"])
