"""Small, hand-made API responses shaped exactly like the contract, loaded into a warehouse by dlt itself.

The JSON uses the API's camelCase field names and `Decimal` numbers (the source parses JSON numbers as
decimals), and every resource uses the table name and write disposition of docs/decisions.md, so the raw
tables have the very columns a real sync produces. Three kiosks in three currencies and time zones; product
101 changes price on 2026-03-15; Berlin transactions and refills sit on both daylight-saving nights of 2026.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import dlt

D = Decimal
BERLIN = ZoneInfo("Europe/Berlin")

KIOSKS = [
    # serial, name, org id, tz, currency, vat
    ("LIV-0001", "Berlin Hbf", 1, "Europe/Berlin", "EUR", D("19")),
    ("LIV-0002", "Zürich HB", 2, "Europe/Zurich", "CHF", D("8.1")),
    ("LIV-0003", "London Bridge", 3, "Europe/London", "GBP", D("20")),
]

ORGANIZATIONS = [
    {
        "id": 1,
        "name": "Livello Demo GmbH",
        "slug": "livello-demo",
        "type": "CLIENT",
        "description": None,
        "imageUrl": None,
        "address": {"city": "Düsseldorf", "countryCode": "DE"},
        "currency": "EUR",
        "parentOrg": None,
        "kioskCount": 1,
        "createdAt": "2025-01-01T00:00:00Z",
    },
    {
        "id": 2,
        "name": "Alpen Snacks AG",
        "slug": "alpen",
        "type": "CLIENT",
        "description": None,
        "imageUrl": None,
        "address": {"city": "Zürich", "countryCode": "CH"},
        "currency": "CHF",
        "parentOrg": 1,
        "kioskCount": 1,
        "createdAt": "2025-02-01T00:00:00Z",
    },
    {
        "id": 3,
        "name": "Thames Vending Ltd",
        "slug": "thames",
        "type": "CLIENT",
        "description": None,
        "imageUrl": None,
        "address": {"city": "London", "countryCode": "GB"},
        "currency": "GBP",
        "parentOrg": 1,
        "kioskCount": 1,
        "createdAt": "2025-03-01T00:00:00Z",
    },
]


def _kiosk_summaries() -> list[dict[str, Any]]:
    return [
        {
            "serialNumber": serial,
            "name": name,
            "orgId": str(org),
            "organizationName": f"org {org}",
            "timezone": tz,
            "address": {
                "street": "Main 1",
                "postalCode": "10115",
                "city": name.split()[0],
                "countryCode": "DE",
            },
            "networkLastOnline": "2026-11-27T23:59:00Z",
            "online": True,
            "latestTemperature": None,
            "todaySalesTotal": D("0"),
            "loadCellCount": 2,
            "createdAt": "2025-06-01T00:00:00Z",
        }
        for serial, name, org, tz, _cur, _vat in KIOSKS
    ]


def _kiosk_details() -> list[dict[str, Any]]:
    return [
        {
            "_id": serial,
            "name": name,
            "orgId": str(org),
            "serialNumber": serial,
            "timezone": tz,
            "controller": {
                "preAuth": D("25"),
                "tabletLang": "de",
                "paymentType": "CreditOrDebitCard",
                "minimumAge": 0,
            },
            "ownerOrganization": {"_id": str(org), "name": f"org {org}", "currency": cur},
        }
        for serial, name, org, tz, cur, _vat in KIOSKS
    ]


def _product(
    pid: int, name: str, org: int, cur: str, price: str, net: str, cost: str, vat: str, updated: str
) -> dict[str, Any]:
    return {
        "id": pid,
        "name": name,
        "description": None,
        "category": "Snacks",
        "manufacturer": "ACME",
        "articleNumber": None,
        "organizationId": org,
        "organizationName": f"org {org}",
        "organizationCurrency": cur,
        "netPrice": net,
        "price": price,
        "cost": D(cost),
        "weight": D("250"),
        "weightUnit": "g",
        "ean": None,
        "shelfLifeDays": 10,
        "vatRate": D(vat),
        "updatedAt": updated,
        "createdAt": "2026-01-01T00:00:00Z",
        "images": [{"url": f"https://img/{pid}.png"}],
    }


def products_before_price_change() -> list[dict[str, Any]]:
    return [
        _product(101, "Bio Apfelsaft", 1, "EUR", "1.79", "1.50", "0.60", "19", "2026-03-01T10:00:00Z"),
        _product(102, "Müsli Riegel", 1, "EUR", "2.49", "2.09", "0.90", "19", "2026-01-01T00:00:00Z"),
        _product(201, "Bircher Müesli", 2, "CHF", "4.90", "4.53", "1.80", "8.1", "2026-01-01T00:00:00Z"),
        _product(301, "Cheese Sandwich", 3, "GBP", "3.50", "2.92", "1.20", "20", "2026-01-01T00:00:00Z"),
        _product(302, "Mints", 3, "GBP", "0.03", "0.03", "0.01", "20", "2026-01-01T00:00:00Z"),
    ]


def products_after_price_change() -> list[dict[str, Any]]:
    products = products_before_price_change()
    products[0] = _product(
        101, "Bio Apfelsaft", 1, "EUR", "1.99", "1.67", "0.60", "19", "2026-03-15T08:00:00Z"
    )
    return products


PRODUCT_LINES = {101: 1101, 102: 1102, 201: 2201, 301: 3301, 302: 3302}


def _sold_from_cell(pid: int) -> dict[str, Any]:
    """The product fields a sales line and a refill line both carry: which product, on which cell."""
    return {
        "productLineId": PRODUCT_LINES[pid],
        "productMetaId": pid,
        "name": f"product {pid}",
        "ean": None,
        "planogramPosition": "A1",
    }


def _item(pid: int, qty: int, price: str, vat: D, cost: str, discount: str = "0") -> dict[str, Any]:
    total = D(price) * qty - D(discount)
    return {
        **_sold_from_cell(pid),
        "quantity": qty,
        "price": D(price),
        "vatRate": vat,
        "discount": D(discount),
        "total": total,
        "cost": D(cost),
    }


@dataclass(frozen=True)
class Sale:
    transaction_id: int
    kiosk: str
    created_utc: datetime
    items: tuple[dict[str, Any], ...]
    paid: bool = True
    ended_with_purchase: bool = True
    payment_type: str = "CARD"
    card_type: str | None = "Visa"


def berlin_dst_instants() -> list[datetime]:
    """01:30, 02:30 and 03:30 wall-clock times on both 2026 daylight-saving Sundays in Berlin, in UTC.

    02:30 does not exist on 29 March (clocks jump 02:00 -> 03:00) and exists twice on 25 October, so the
    autumn night gives both 02:30s (fold 0 and 1).
    """
    instants = []
    for day, folds in ((29, (0,)), (25, (0, 1))):
        month = 3 if day == 29 else 10
        for hour in (1, 2, 3):
            for fold in folds if hour == 2 else (0,):
                local = datetime(2026, month, day, hour, 30, tzinfo=BERLIN, fold=fold)
                instants.append(local.astimezone(UTC))
    # A sale just before local midnight on the spring Saturday: it belongs to the 28th, not the 29th.
    instants.append(datetime(2026, 3, 28, 23, 30, tzinfo=BERLIN).astimezone(UTC))
    return sorted(set(instants))


def sales() -> list[Sale]:
    vat = {serial: v for serial, _n, _o, _tz, _c, v in KIOSKS}
    result = [
        # before and after product 101's price change on 2026-03-15
        Sale(
            1,
            "LIV-0001",
            datetime(2026, 3, 10, 12, 0, tzinfo=UTC),
            (
                _item(101, 2, "1.79", vat["LIV-0001"], "0.60"),
                _item(102, 1, "2.49", vat["LIV-0001"], "0.90", "0.20"),
            ),
        ),
        Sale(
            2,
            "LIV-0001",
            datetime(2026, 3, 20, 12, 0, tzinfo=UTC),
            (_item(101, 1, "1.99", vat["LIV-0001"], "0.60"),),
            payment_type="MEMBERCARD",
            card_type="Visa",
        ),
        Sale(
            3,
            "LIV-0002",
            datetime(2026, 3, 20, 9, 15, tzinfo=UTC),
            (_item(201, 3, "4.90", vat["LIV-0002"], "1.80"),),
            card_type="Mastercard",
        ),
        # 20 % VAT: 0.03 gross is net 0.025, rounded half-up to 0.03 (a float division could give 0.02)
        Sale(
            4,
            "LIV-0003",
            datetime(2026, 3, 20, 18, 0, tzinfo=UTC),
            (
                _item(302, 1, "0.03", vat["LIV-0003"], "0.01"),
                _item(301, 2, "3.50", vat["LIV-0003"], "1.20", "0.35"),
            ),
            card_type="AMEX",
        ),
        # not counted by the vendor's analytics
        Sale(
            5,
            "LIV-0001",
            datetime(2026, 3, 21, 8, 0, tzinfo=UTC),
            (_item(102, 1, "2.49", vat["LIV-0001"], "0.90"),),
            paid=False,
        ),
        Sale(
            6,
            "LIV-0001",
            datetime(2026, 3, 21, 9, 0, tzinfo=UTC),
            (),
            ended_with_purchase=False,
            paid=False,
            payment_type="FREE",
            card_type=None,
        ),
    ]
    for n, instant in enumerate(berlin_dst_instants()):
        result.append(
            Sale(
                100 + n,
                "LIV-0001",
                instant,
                (_item(102, 1, "2.49", vat["LIV-0001"], "0.90"),),
                card_type="Girocard",
            )
        )
    return result


def _transaction(sale: Sale) -> dict[str, Any]:
    items = list(sale.items)
    total = sum((i["total"] for i in items), D("0"))
    currency = {serial: cur for serial, _n, _o, _tz, cur, _v in KIOSKS}[sale.kiosk]
    return {
        "id": sale.transaction_id,
        "created": sale.created_utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "total": total,
        "discountTotal": sum((i["discount"] for i in items), D("0")),
        "currency": currency,
        "type": "purchase",
        "userId": 0,
        "session": {
            "details": {
                "sessionClosedAt": (sale.created_utc + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "endedWithPurchase": sale.ended_with_purchase,
            }
        },
        "kiosk": {"id": int(sale.kiosk[-4:]), "name": sale.kiosk, "serialNumber": sale.kiosk},
        "paymentMethod": {
            "isPaid": sale.paid,
            "membercardId": None,
            "paymentCardType": "Credit",
            "cardType": sale.card_type,
            "paymentType": sale.payment_type,
        },
        "itemsPurchased": items,
    }


def transactions() -> list[dict[str, Any]]:
    return [_transaction(s) for s in sales()]


def refills() -> list[dict[str, Any]]:
    def line(pid: int, added: int, removed: int, expired: int, cost: str, price: str) -> dict[str, Any]:
        return {
            **_sold_from_cell(pid),
            "added": added,
            "removed": removed,
            "removedExpired": expired,
            "cost": D(cost),
            "price": D(price),
            "expirationDate": "2026-04-01",
        }

    return [
        {
            "id": 501,
            "created": "2026-03-12T06:00:00Z",
            "type": "manual",
            "operatorUserId": 7,
            "sessionClosedAt": "2026-03-12T06:20:00Z",
            "kiosk": {"id": 1, "name": "Berlin Hbf", "serialNumber": "LIV-0001"},
            "itemsReplenished": [line(101, 6, 2, 1, "0.60", "1.79"), line(102, 4, 0, 0, "0.90", "2.49")],
        },
        {
            "id": 502,
            "created": "2026-03-18T05:30:00Z",
            "type": "pin",
            "kiosk": {"id": 2, "name": "Zürich HB", "serialNumber": "LIV-0002"},
            "itemsReplenished": [line(201, 5, 1, 1, "1.80", "4.90")],
        },
        # Berlin refills in the UTC hour before each 2026 daylight-saving change (01:30 CET on 29 March, the
        # first 02:30 CEST on 25 October): the hour's offset changes at its end, so these convert row by row
        *(
            {
                "id": refill_id,
                "created": created,
                "type": "manual",
                "kiosk": {"id": 1, "name": "Berlin Hbf", "serialNumber": "LIV-0001"},
                "itemsReplenished": [line(102, 2, 0, 0, "0.90", "2.49")],
            }
            for refill_id, created in ((503, "2026-03-29T00:30:00Z"), (504, "2026-10-25T00:30:00Z"))
        ),
    ]


def inventory(snapshot_at: str, count_101: int) -> list[dict[str, Any]]:
    cell = {
        "loadCellId": 11,
        "planogramPosition": "A1",
        "surfaceSize": D("1.5"),
        "cellId": 1,
        "productLineData": {
            "productLineId": 1101,
            "productMetaId": 101,
            "name": "Bio Apfelsaft",
            "manufacturer": "ACME",
            "price": D("1.99"),
            "vatRate": D("19"),
            "cost": D("0.60"),
            "capacity": 10,
            "count": count_101,
            "nextExpirationDate": "2026-04-01",
        },
    }
    empty = {
        "loadCellId": 12,
        "planogramPosition": "A2",
        "surfaceSize": D("1.5"),
        "cellId": 2,
        "productLineData": None,
    }
    return [{**c, "kioskSerialNumber": "LIV-0001", "snapshotAt": snapshot_at} for c in (cell, empty)]


def temperature() -> list[dict[str, Any]]:
    rows = []
    for hour, value in ((10, "5.5"), (11, "7.4")):
        rows.append(
            {
                "kioskSerialNumber": "LIV-0001",
                "kioskName": "Berlin Hbf",
                "sensorPosition": "top",
                "granularity": "hourly",
                "bucketStart": f"2026-03-20T{hour:02d}:00:00Z",
                "value": D(value),
                "min": D(value) - 1,
                "max": D(value) + 1,
            }
        )
    for minute, value in ((0, "6.001"), (1, "6.002")):
        rows.append(
            {
                "kioskSerialNumber": "LIV-0002",
                "kioskName": "Zürich HB",
                "sensorPosition": "middle",
                "granularity": "minutely",
                "bucketStart": f"2026-03-20T12:{minute:02d}:00Z",
                "value": D(value),
                "min": D("5.9"),
                "max": D("6.2"),
            }
        )
    # LIV-0003 (London, UTC in March): an hourly bucket at 08:00, and at 09:00 both an hourly bucket and the
    # minutes of that hour, read later at minutely granularity: 35 minutes at 8.0 °C (an excursion longer
    # than 30 minutes), 5 at 6.5, 5 at 7.5 (fct_cold_chain_daily uses the minutes, the finest granularity)
    bottom = {"kioskSerialNumber": "LIV-0003", "kioskName": "London Bridge", "sensorPosition": "bottom"}
    for hour, value in ((8, "6.0"), (9, "9.0")):
        bucket = f"2026-03-21T{hour:02d}:00:00Z"
        value_d = D(value)
        rows.append(
            {**bottom, "granularity": "hourly", "bucketStart": bucket, "value": value_d, "min": value_d - 1}
            | {"max": value_d + 1}
        )
    for minute in range(45):
        value_d = D("8.0") if minute < 35 else D("6.5") if minute < 40 else D("7.5")
        rows.append(
            {**bottom, "granularity": "minutely", "bucketStart": f"2026-03-21T09:{minute:02d}:00Z"}
            | {"value": value_d, "min": value_d - D("0.5"), "max": value_d + D("0.5")}
        )
    return rows


def promocodes() -> list[dict[str, Any]]:
    """GET /promocodes/{code} bodies (shaped as the contract's Promocode)."""

    def code(pid: int, number: str, org: int, balance: str, enabled: bool) -> dict[str, Any]:
        rules = [
            {"id": pid * 10 + day, "day": day, "type": "percentage", "discountPercentage": D("15")}
            for day in range(2)
        ]
        return {
            "id": pid,
            "code": number,
            "balance": D(balance),
            "enabled": enabled,
            "workingDurationStart": "2026-01-01T00:00:00Z",
            "workingDurationEnd": "2026-06-30T00:00:00Z",
            "organizationId": org,
            "config": {"id": pid, "enabled": True, "rules": rules},
        }

    return [code(1, "01234", 1, "10", True), code(2, "20001", 2, "0", True), code(3, "30001", 3, "5", False)]


def alerts() -> list[dict[str, Any]]:
    base = {
        "category": "Hardware",
        "kioskName": "Berlin Hbf",
        "message": "too warm",
        "createdAt": "2026-03-20T11:00:00Z",
        "updatedAt": "2026-03-20T13:00:00Z",
    }
    return [
        {
            **base,
            "id": 9001,
            "type": "HighTemperature",
            "severity": "high",
            "status": "resolved",
            "isAck": True,
            "kioskSerialNumber": "LIV-0001",
            "startDate": "2026-03-20T11:00:00Z",
            "endDate": "2026-03-20T12:30:00Z",
        },
        {
            **base,
            "id": 9002,
            "type": "DoorOpen",
            "severity": "mid",
            "status": "open",
            "isAck": False,
            "kioskSerialNumber": "LIV-0002",
            "startDate": "2026-03-21T07:00:00Z",
            "endDate": None,
        },
    ]


def _resources(products: list[dict[str, Any]], snapshot: tuple[str, int]) -> list[Any]:
    def res(name: str, data: list[dict[str, Any]], **kwargs: Any) -> Any:
        return dlt.resource(data, name=name, **kwargs)

    return [
        res("organizations", ORGANIZATIONS, write_disposition="merge", primary_key="id"),
        res("kiosks", _kiosk_summaries(), write_disposition="merge", primary_key="serialNumber"),
        res("kiosk_details", _kiosk_details(), write_disposition="merge", primary_key="serialNumber"),
        res(
            "products",
            products,
            write_disposition={"disposition": "merge", "strategy": "scd2"},
            primary_key="id",
        ),
        res("transactions", transactions(), write_disposition="merge", primary_key="id"),
        res("refills", refills(), write_disposition="merge", primary_key="id"),
        res("kiosk_inventory", inventory(*snapshot), write_disposition="append"),
        res(
            "temperature",
            temperature(),
            write_disposition="merge",
            primary_key=["kioskSerialNumber", "sensorPosition", "granularity", "bucketStart"],
        ),
        res("alerts", alerts(), write_disposition="merge", primary_key="id"),
        res("promocodes", promocodes(), write_disposition="merge", primary_key="code"),
        res(
            "alert_types",
            [
                {
                    "type": "HighTemperature",
                    "category": "Hardware",
                    "defaultSeverity": "high",
                    "description": "Temperature above limit",
                }
            ],
            write_disposition="replace",
        ),
    ]


def make_pipeline(destination: Any, dataset: str, pipelines_dir: Path) -> dlt.Pipeline:
    return dlt.pipeline(
        pipeline_name=f"fixture_{dataset}",
        destination=destination,
        dataset_name=dataset,
        pipelines_dir=str(pipelines_dir),
    )


def load_fixture(pipeline: dlt.Pipeline) -> dlt.Pipeline:
    """Two syncs: before and after product 101's price change, each taking an inventory snapshot."""
    pipeline.run(_resources(products_before_price_change(), ("2026-03-20T10:00:00Z", 5)))
    pipeline.run(_resources(products_after_price_change(), ("2026-03-20T20:00:00Z", 3)))
    return pipeline


def iter_sales_lines() -> Iterator[tuple[Sale, dict[str, Any]]]:
    for sale in sales():
        for item in sale.items:
            yield sale, item
