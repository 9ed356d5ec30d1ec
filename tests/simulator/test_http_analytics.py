"""The analytics endpoints equal the contract's formulas applied to the raw list endpoints' rows."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

import httpx
import pytest

from tests.simulator.helpers import bearer_client, read_all

WINDOW = {"startDate": "2026-02-26", "endDate": "2026-03-02"}
CENT = Decimal("0.01")


@pytest.fixture(scope="module")
def client(simulator) -> httpx.Client:
    with bearer_client(simulator, timeout=30, **{"x-timezone": "UTC"}) as c:
        yield c


@pytest.fixture(scope="module")
def counted(client) -> list[dict]:
    txs = read_all(client, "/transactions", **WINDOW)
    assert txs
    return [t for t in txs if t["paymentMethod"]["isPaid"] and t["session"]["details"]["endedWithPurchase"]]


def _d(value: float) -> Decimal:
    return Decimal(str(value))


def _net(item: dict) -> Decimal:
    gross = _d(item["total"])
    return (gross / (1 + _d(item["vatRate"]) / 100)).quantize(CENT, rounding=ROUND_HALF_UP)


def test_kpis_equal_sums_over_transactions(client, counted) -> None:
    kpis = client.get("/analytics/transactions/kpis", params=WINDOW).json()
    gross = sum((_d(t["total"]) for t in counted), Decimal(0))
    assert kpis["totalNumberOfTransactions"] == len(counted)
    assert _d(kpis["totalGrossIncome"]) == gross
    assert kpis["totalNumberOfProductsSold"] == sum(
        i["quantity"] for t in counted for i in t["itemsPurchased"]
    )
    assert _d(kpis["totalNetIncome"]) == sum(
        (_net(i) for t in counted for i in t["itemsPurchased"]), Decimal(0)
    )
    assert _d(kpis["averagePurchaseValue"]) == (gross / len(counted)).quantize(CENT, rounding=ROUND_HALF_UP)


def test_sales_buckets_add_up_per_kiosk(client, counted) -> None:
    per_kiosk = Counter()
    for t in counted:
        per_kiosk[t["kiosk"]["serialNumber"]] += _d(t["total"])
    rows = client.get(
        "/analytics/sales", params={"granularity": "daily", "aggregateBy": "kiosk", **WINDOW}
    ).json()
    from_sales = Counter()
    for r in rows:
        from_sales[r["kioskSerialNumber"]] += _d(r["totalSales"])
        assert _d(r["profit"]) == _d(r["totalNetSales"]) - _d(r["totalCost"])
    assert from_sales == per_kiosk


def test_daily_profit_matches_line_formulas(client, counted) -> None:
    days = client.get("/analytics/transactions/daily-profit", params=WINDOW).json()
    net = Counter()
    cost = Counter()
    for t in counted:
        day = t["created"][:10]
        for i in t["itemsPurchased"]:
            net[day] += _net(i)
            cost[day] += _d(i["cost"]) * i["quantity"]
    assert {d["_id"]: _d(d["total_sales"]) for d in days if _d(d["total_sales"])} == {
        k: v for k, v in net.items() if v
    }
    for d in days:
        assert _d(d["total_cost"]) == cost[d["_id"]]
        assert _d(d["profit"]) == _d(d["total_sales"]) - _d(d["total_cost"])


def test_payment_types_and_peak_hour_count_transactions(client, counted) -> None:
    types = client.get("/analytics/transactions/payment-types", params=WINDOW).json()
    assert sum(types.values()) == len(counted)
    assert types["membercard"] == sum(t["paymentMethod"]["paymentType"] == "MEMBERCARD" for t in counted)
    peak = client.get("/analytics/transactions/peak-hour", params=WINDOW).json()
    hours = Counter(datetime.fromisoformat(t["created"].replace("Z", "+00:00")).hour for t in counted)
    best = max(hours.values())
    assert peak["sum"] == best
    assert int(peak["start"][:2]) == min(h for h, n in hours.items() if n == best)


def test_refill_stats_equal_sums_over_refills(client) -> None:
    refills = read_all(client, "/refills", **WINDOW)
    assert refills
    stats = client.get("/analytics/refills/stats", params=WINDOW).json()
    items = [i for r in refills for i in r["itemsReplenished"]]
    added = sum(i["added"] for i in items)
    assert stats["totalNumberOfProductsAdded"] == added
    assert stats["totalNumberOfProductsRemoved"] == sum(i["removed"] for i in items)
    assert _d(stats["defaultTotalCostValueOfRefills"]) == sum(
        (_d(i["cost"]) * i["added"] for i in items), Decimal(0)
    )
    assert _d(stats["defaultTotalSalesValueOfRefills"]) == sum(
        (_d(i["price"]) * i["added"] for i in items), Decimal(0)
    )


def test_low_stock_matches_inventory(client, simulator) -> None:
    rows = read_all(client, "/analytics/inventory/low-stock", threshold="3")
    assert all(r["quantity"] <= 3 for r in rows)
    serial = simulator.store.scalar("SELECT serial_number FROM kiosks ORDER BY id LIMIT 1")
    cells = client.get(f"/kiosks/{serial}/inventory").json()
    expected = {
        c["planogramPosition"] for c in cells if c["productLineData"] and c["productLineData"]["count"] <= 3
    }
    assert {r["planogramPosition"] for r in rows if r["kioskSerialNumber"] == serial} == expected


def test_kiosk_today_sales_total_is_todays_paid_purchases(client, simulator) -> None:
    now = simulator.store.now
    for kiosk in client.get("/kiosks", params={"limit": 100}).json()["data"]:
        local_day = now.astimezone(ZoneInfo(kiosk["timezone"])).date().isoformat()
        txs = read_all(
            client,
            "/transactions",
            zone=kiosk["timezone"],
            kioskSerialNumbers=kiosk["serialNumber"],
            startDate=local_day,
            endDate=local_day,
        )
        paid = [
            t for t in txs if t["paymentMethod"]["isPaid"] and t["session"]["details"]["endedWithPurchase"]
        ]
        assert _d(kiosk["todaySalesTotal"]) == sum((_d(t["total"]) for t in paid), Decimal(0))


def test_temperature_exists_only_up_to_now(client, simulator) -> None:
    serial = client.get("/kiosks").json()["data"][0]["serialNumber"]
    now = simulator.config.now.astimezone(UTC)
    path = "/analytics/temperature/hourly"
    reaching_past_now = client.get(
        path,
        params={
            "kioskSerialNumber": serial,
            "startDate": (now - timedelta(hours=3)).isoformat(),
            "endDate": (now + timedelta(days=2)).isoformat(),
        },
    )
    assert reaching_past_now.status_code == 200
    buckets = {v["date"] for series in reaching_past_now.json() for v in series["values"]}
    assert max(buckets) == now.replace(minute=0, second=0, microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")
    wholly_future = client.get(
        path,
        params={
            "kioskSerialNumber": serial,
            "startDate": (now + timedelta(hours=2)).isoformat(),
            "endDate": (now + timedelta(days=1)).isoformat(),
        },
    )
    assert wholly_future.status_code == 200
    assert all(not series["values"] for series in wholly_future.json())
