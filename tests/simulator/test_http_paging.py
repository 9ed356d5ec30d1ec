"""Paging every list endpoint by `total` yields each row exactly once, with limit 100 and with a limit of 500
that the server silently clamps to 100; default sort orders are the contract's."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest


def _key_kiosk(row: dict[str, Any]) -> Any:
    return row["serialNumber"]


def _key_id(row: dict[str, Any]) -> Any:
    return row["id"]


def _key_low_stock(row: dict[str, Any]) -> Any:
    return (row["kioskSerialNumber"], row["planogramPosition"])


def _key_product_stats(row: dict[str, Any]) -> Any:
    return row["productMetaId"]


# (path, paging style, key, extra query, truth SQL giving the expected total)
LISTS: list[tuple[str, str, Callable[[dict[str, Any]], Any], dict[str, str], str | None]] = [
    ("/kiosks", "page", _key_kiosk, {}, "SELECT count(*) FROM kiosks"),
    ("/products", "page", _key_id, {}, "SELECT count(*) FROM products WHERE NOT deleted"),
    ("/transactions", "skip", _key_id, {}, "SELECT count(*) FROM transactions"),
    ("/refills", "skip", _key_id, {}, "SELECT count(*) FROM refills"),
    ("/users", "skip", _key_id, {}, "SELECT count(*) FROM users"),
    ("/organizations", "skip", _key_id, {}, "SELECT count(*) FROM organizations"),
    ("/alerts", "offset", _key_id, {}, "SELECT count(*) FROM alerts"),
    ("/analytics/inventory/low-stock", "skip", _key_low_stock, {"threshold": "1000"}, None),
    ("/analytics/inventory/product-stats", "skip", _key_product_stats, {"includeZeroActivity": "true"}, None),
]


def _page_through(client: httpx.Client, path: str, style: str, limit: int, extra: dict[str, str]):
    rows: list[dict[str, Any]] = []
    total = None
    page = 1
    for _ in range(10_000):  # bounded: a server bug must not hang the test
        query = {"limit": str(limit), **extra}
        if style == "page":
            query["page"] = str(page)
        else:
            query["skip" if style == "skip" else "offset"] = str(len(rows))
        response = client.get(path, params=query)
        assert response.status_code == 200, response.text
        body = response.json()
        total = body["total"] if total is None else total
        assert body["total"] == total, "total changed while paging a quiet simulator"
        assert len(body["data"]) <= 100, "limit above 100 must be clamped"
        rows.extend(body["data"])
        page += 1
        if len(rows) >= total or not body["data"]:
            break
    return total, rows


@pytest.mark.parametrize("limit", [100, 500])
@pytest.mark.parametrize("path,style,key,extra,truth", LISTS, ids=[entry[0] for entry in LISTS])
def test_paging_by_total_yields_each_row_once(
    client, simulator, path, style, key, extra, truth, limit
) -> None:
    total, rows = _page_through(client, path, style, limit, extra)
    keys = [key(r) for r in rows]
    assert len(keys) == total
    assert len(set(keys)) == total, "a row appeared on two pages"
    if truth is not None:
        assert total == simulator.store.scalar(truth)


def test_limit_defaults(client) -> None:
    assert len(client.get("/transactions").json()["data"]) == 25
    assert len(client.get("/alerts").json()["data"]) == min(50, client.get("/alerts").json()["total"])
    assert len(client.get("/transactions", params={"limit": 1000}).json()["data"]) == 100


def test_default_orders(client, simulator) -> None:
    txs = client.get("/transactions", params={"limit": 100}, headers={"x-timezone": "UTC"}).json()["data"]
    created = [t["created"] for t in txs]
    assert created == sorted(created, reverse=True), "transactions are newest first"
    newest = simulator.store.scalar("SELECT max(created) FROM transactions")
    assert txs[0]["created"].startswith(newest.strftime("%Y-%m-%dT%H:%M:%S"))
    refills = client.get("/refills", params={"limit": 100}, headers={"x-timezone": "UTC"}).json()["data"]
    assert [r["created"] for r in refills] == sorted((r["created"] for r in refills), reverse=True)
    alerts = client.get("/alerts", params={"limit": 100}).json()["data"]
    assert [a["startDate"] for a in alerts] == sorted((a["startDate"] for a in alerts), reverse=True)
    for path, field in (
        ("/kiosks", "name"),
        ("/products", "name"),
        ("/organizations", "name"),
        ("/users", "firstName"),
    ):
        values = [row[field] for row in client.get(path, params={"limit": 100}).json()["data"]]
        assert values == sorted(values, key=lambda v: v.encode("utf-8")) or values == sorted(values), path


def test_sort_parameters(client) -> None:
    oldest_first = client.get(
        "/transactions", params={"sort": 1, "limit": 100}, headers={"x-timezone": "UTC"}
    ).json()["data"]
    assert [t["created"] for t in oldest_first] == sorted(t["created"] for t in oldest_first)
    by_total = client.get("/transactions", params={"sortBy": "total", "sort": -1, "limit": 100}).json()[
        "data"
    ]
    assert [t["total"] for t in by_total] == sorted((t["total"] for t in by_total), reverse=True)
    # An unknown sortBy falls back to the default column instead of failing.
    fallback = client.get(
        "/transactions", params={"sortBy": "nonsense", "limit": 100}, headers={"x-timezone": "UTC"}
    )
    assert fallback.status_code == 200
    assert [t["created"] for t in fallback.json()["data"]] == sorted(
        (t["created"] for t in fallback.json()["data"]), reverse=True
    )
    products = client.get("/products", params={"sortBy": "price", "sort": -1, "limit": 100}).json()["data"]
    prices = [float(p["price"]) for p in products]
    assert prices == sorted(prices, reverse=True)
