"""The vendor's analytics formulas on hand-computable cases (including the autumn DST Sunday)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest

from simulator import analytics
from simulator.config import SimConfig
from simulator.generator import generate
from simulator.store import Store

# The generated history starts on 2026-11-15; every hand-made record below lies in October, so windows in
# October see only them.
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
BERLIN_DAY = dict(
    start_utc=datetime(2026, 10, 24, 22, 0, tzinfo=UTC),
    end_utc=datetime(2026, 10, 25, 22, 59, 59, tzinfo=UTC),
    tz="Europe/Berlin",
)
_next_id = [900_000]


def _tx(
    store: Store,
    kiosk: int,
    created: datetime,
    lines: list[tuple],
    *,
    paid: bool = True,
    ended: bool = True,
    payment: str = "CARD",
    card: str | None = "Visa",
) -> int:
    """lines: (product_id, quantity, price, vat_rate, discount, unit_cost)."""
    _next_id[0] += 1
    tx_id = _next_id[0]
    org, currency = store.query_one(
        "SELECT k.organization_id, o.currency FROM kiosks k JOIN organizations o ON o.id = k.organization_id "
        "WHERE k.id = ?",
        [kiosk],
    )
    total = sum(D(str(q)) * D(str(p)) - D(str(d)) for _, q, p, _, d, _ in lines)
    discount = sum(D(str(d)) for *_, d, _ in lines)
    store.query(
        "INSERT INTO transactions VALUES (?, ?, ?, ?, 1, ?, ?, ?, ?, NULL, NULL, ?, ?, ?, ?, ?, ?, ?)",
        [
            tx_id,
            created,
            kiosk,
            org,
            paid,
            ended,
            payment,
            card,
            f"ext-{tx_id}",
            created,
            len(lines),
            total,
            discount,
            currency,
            created,
        ],
    )
    for n, (pid, qty, price, vat, disc, cost) in enumerate(lines, start=1):
        store.query(
            "INSERT INTO transaction_items VALUES (?, ?, ?, ?, ?, 1, ?, 'x', NULL, 'A1', ?, ?, ?, ?, ?, ?)",
            [
                tx_id,
                n,
                created,
                kiosk,
                org,
                pid,
                qty,
                price,
                vat,
                disc,
                D(str(qty)) * D(str(price)) - D(str(disc)),
                cost,
            ],
        )
    return tx_id


@pytest.fixture(scope="module")
def store() -> Store:
    s = Store()
    generate(s, SimConfig(seed=3, kiosks=3, days=5, now=NOW))
    # LIV-0001: Berlin, EUR. Two purchases in the two local 02:00 hours of the DST night, one at the window's
    # end.
    _tx(s, 1, datetime(2026, 10, 25, 0, 30, tzinfo=UTC), [(1, 2, "1.07", "7", "0", "0.40")], card="Visa")
    _tx(
        s,
        1,
        datetime(2026, 10, 25, 1, 30, tzinfo=UTC),
        [(2, 1, "2.15", "7", "0", "1.00")],
        payment="MEMBERCARD",
        card="Visa",
    )
    _tx(s, 1, datetime(2026, 10, 25, 10, 0, tzinfo=UTC), [(3, 1, "5.00", "19", "0", "2.00")], paid=False)
    _tx(s, 1, datetime(2026, 10, 25, 10, 5, tzinfo=UTC), [], ended=False, paid=False)
    _tx(
        s,
        1,
        datetime(2026, 10, 25, 22, 59, 59, tzinfo=UTC),
        [(3, 1, "3.00", "19", "0.50", "1.20")],
        card="girocard",
    )
    _tx(s, 1, datetime(2026, 10, 25, 23, 0, tzinfo=UTC), [(3, 1, "9.00", "19", "0", "1.20")])
    # LIV-0003: London, GBP, 20 % VAT: net 0.125 and 0.025 must round half-up to 0.13 and 0.03.
    _tx(
        s,
        3,
        datetime(2026, 10, 25, 12, 0, tzinfo=UTC),
        [(101, 1, "0.15", "20", "0", "0.05"), (102, 1, "0.03", "20", "0", "0.01")],
        card="Amex",
    )
    created = datetime(2026, 10, 25, 7, 0, tzinfo=UTC)
    s.query("INSERT INTO refills VALUES (990001, ?, 1, 5, 'pin', NULL, ?, ?)", [created, created, created])
    for n, (added, removed, expired, cost, price) in enumerate(
        [(10, 3, 2, "0.40", "1.07"), (5, 0, 0, "1.00", "2.15")], start=1
    ):
        s.query(
            "INSERT INTO refill_items VALUES "
            "(990001, ?, ?, 1, 5, 1, ?, 'x', NULL, 'A1', ?, ?, ?, ?, ?, NULL)",
            [n, created, n, added, removed, expired, cost, price],
        )
    yield s
    s.close()


def _args(serials: list[str] | None = None, **window) -> dict:
    return dict(org_ids=None, kiosk_serials=serials, **(window or BERLIN_DAY))


def test_kpis_count_only_paid_purchases_with_per_line_rounding(store: Store):
    kpis = analytics.transaction_kpis(store, **_args(["LIV-0001"]))
    assert kpis == {
        # the unpaid one, the empty session and the one after the window are not counted
        "totalNumberOfTransactions": 3,
        "averagePurchaseValue": D("2.26"),  # 6.79 / 3
        "totalNumberOfProductsSold": 4,
        "totalNetIncome": D("6.11"),  # 2.00 + 2.01 + 2.10
        "totalGrossIncome": D("6.79"),
    }


def test_net_is_rounded_half_up_exactly(store: Store):
    kpis = analytics.transaction_kpis(store, **_args(["LIV-0003"]))
    assert kpis["totalNetIncome"] == D("0.16")  # 0.13 + 0.03, where binary floats would give 0.12 + 0.02
    daily = analytics.sales(store, granularity="daily", **_args(["LIV-0003"]))
    assert daily == [
        {
            "date": "2026-10-25T00:00:00",
            "totalSales": D("0.18"),
            "totalNetSales": D("0.16"),
            "totalTax": D("0.02"),
            "totalCost": D("0.06"),
            "profit": D("0.10"),
        }
    ]


def test_the_two_local_2am_hours_of_the_dst_night_merge_into_one_bucket(store: Store):
    hourly = analytics.sales(store, granularity="hourly", **_args(["LIV-0001"]))
    assert [b["date"] for b in hourly] == ["2026-10-25T02:00:00", "2026-10-25T23:00:00"]
    assert hourly[0] == {
        "date": "2026-10-25T02:00:00",
        "totalSales": D("4.29"),
        "totalNetSales": D("4.01"),
        "totalTax": D("0.28"),
        "totalCost": D("1.80"),
        "profit": D("2.21"),
    }
    weekly = analytics.sales(store, granularity="weekly", **_args(["LIV-0001"]))
    assert [b["date"] for b in weekly] == ["2026-10-19T00:00:00"]  # ISO weeks start on Monday
    assert weekly[0]["totalSales"] == D("6.79") and weekly[0]["profit"] == D("3.11")
    monthly = analytics.sales(store, granularity="monthly", aggregate_by="kiosk", **_args(["LIV-0001"]))
    assert monthly == [
        {
            "date": "2026-10-01T00:00:00",
            "kioskSerialNumber": "LIV-0001",
            "totalSales": D("6.79"),
            "totalNetSales": D("6.11"),
            "totalTax": D("0.68"),
            "totalCost": D("3.00"),
            "profit": D("3.11"),
        }
    ]
    assert analytics.peak_hour(store, **_args(["LIV-0001"])) == {"start": "02:00", "end": "03:00", "sum": 2}


def test_buckets_and_days_follow_the_requested_time_zone(store: Store):
    utc_day = dict(
        start_utc=datetime(2026, 10, 25, tzinfo=UTC),
        end_utc=datetime(2026, 10, 25, 23, 59, 59, tzinfo=UTC),
        tz="UTC",
    )
    profit = analytics.daily_profit(store, **_args(["LIV-0001"], **utc_day))
    # In UTC the 23:00 purchase belongs to the same day, so it is counted too.
    assert profit == [
        {"_id": "2026-10-25", "total_sales": D("13.67"), "total_cost": D("4.20"), "profit": D("9.47")}
    ]
    berlin = analytics.daily_profit(store, **_args(["LIV-0001"]))
    assert berlin == [
        {"_id": "2026-10-25", "total_sales": D("6.11"), "total_cost": D("3.00"), "profit": D("3.11")}
    ]


def test_windows_are_inclusive_at_both_ends(store: Store):
    at = datetime(2026, 10, 25, 22, 59, 59, tzinfo=UTC)
    only_that_instant = dict(start_utc=at, end_utc=at, tz="Europe/Berlin")
    assert (
        analytics.transaction_kpis(store, **_args(["LIV-0001"], **only_that_instant))[
            "totalNumberOfTransactions"
        ]
        == 1
    )


def test_payment_types_put_membercards_first_and_match_brands_case_insensitively(store: Store):
    assert analytics.payment_types(store, **_args()) == {
        "visa": 1,
        "mastercard": 0,
        "girocard": 1,
        "otherCreditCard": 1,
        "membercard": 1,
        "other": 0,
    }


def test_top_kiosks_and_products_rank_by_their_measures(store: Store):
    top = analytics.top_kiosks(store, **_args())
    assert [(k["rank"], k["kioskSerialNumber"], k["netSales"], k["profit"]) for k in top] == [
        (1, "LIV-0001", D("6.11"), D("3.11")),
        (2, "LIV-0003", D("0.16"), D("0.10")),
    ]
    products = analytics.top_products(store, **_args(["LIV-0001"]))
    assert [(p["rank"], p["quantitySold"]) for p in products] == [(1, 2), (2, 1), (3, 1)]
    assert products[0]["netSales"] == D("2.00") and products[0]["netCost"] == D("0.80")


def test_refill_stats_and_product_activity(store: Store):
    stats = analytics.refill_stats(store, **_args(["LIV-0001"]))
    assert stats == {
        "totalNumberOfProductsAdded": 15,
        "defaultTotalCostValueOfRefills": D("9.00"),
        "totalNumberOfProductsRemoved": 3,
        "averageSpoilageRate": D("0.1333"),
        "defaultTotalSalesValueOfRefills": D("21.45"),
        "defaultTotalCostValueOfRemovedProducts": D("1.20"),
    }
    life = analytics.product_lifecycle(store, **_args(["LIV-0001"]))
    assert life["mostSoldProductMeta"]["productMetaId"] == 1 and life["mostSoldProductMeta"]["count"] == 2
    assert life["leastSoldProductMeta"]["productMetaId"] == 2  # ties (1 unit each) go to the lower id
    assert life["mostRefilledProductMeta"]["count"] == 10 and life["mostRemovedProductMeta"]["count"] == 3
    total, rows = analytics.product_stats(store, **_args(["LIV-0001"]), sort_column="totalGrossSales")
    assert total == 3
    assert [(r["productMetaId"], r["sold"], r["refilled"], r["totalGrossSales"]) for r in rows] == [
        (3, 1, 0, D("2.50")),
        (2, 1, 5, D("2.15")),
        (1, 2, 10, D("2.14")),
    ]
    total_all, _ = analytics.product_stats(store, **_args(["LIV-0001"]), include_zero_activity=True, limit=5)
    assert total_all > total


def test_organization_scope_hides_other_organizations(store: Store):
    swiss = store.descendant_org_ids(3)
    kpis = analytics.transaction_kpis(store, **{**_args(), "org_ids": swiss})
    assert kpis["totalNumberOfTransactions"] == 0
    berlin = store.descendant_org_ids(2)
    assert (
        analytics.transaction_kpis(store, **{**_args(), "org_ids": berlin})["totalNumberOfTransactions"] == 3
    )


def test_low_stock_pages_and_filters(store: Store):
    total, rows = analytics.low_stock(store, org_ids=None, threshold=1000, skip=0, limit=7)
    lines = store.scalar("SELECT count(*) FROM product_lines WHERE active")
    assert total == lines and len(rows) == 7
    _, rest = analytics.low_stock(store, org_ids=None, threshold=1000, skip=7, limit=100)
    keys = {(r["kioskSerialNumber"], r["planogramPosition"]) for r in rows + rest}
    assert len(keys) == min(lines, 107)
    total_zero, zero_rows = analytics.low_stock(store, org_ids=None, threshold=0, skip=0, limit=100)
    assert all(r["quantity"] == 0 for r in zero_rows) and total_zero == len(zero_rows)


def test_hourly_temperature_aggregates_the_minutely_readings(store: Store):
    start = datetime(2026, 11, 18, 9, 0, tzinfo=UTC)
    end = start + timedelta(hours=3) - timedelta(minutes=1)
    minutes = analytics.temperature_minutes(store, 1, start, end)
    hourly = analytics.temperature(
        store, kiosk_serial="LIV-0001", granularity="hourly", start_utc=start, end_utc=end, tz="UTC"
    )
    assert {s["sensorPosition"] for s in hourly} == {m["position"] for m in minutes}
    for series in hourly:
        assert len(series["values"]) == 3
        for i, bucket in enumerate(series["values"]):
            values = [
                m["value"]
                for m in minutes
                if m["position"] == series["sensorPosition"] and m["minute"].hour == 9 + i
            ]
            assert len(values) == 60
            assert bucket["date"] == f"2026-11-18T{9 + i:02d}:00:00Z"
            assert bucket["min"] == min(values) and bucket["max"] == max(values)
            assert abs(bucket["value"] - sum(values) / 60) <= 0.005 + 1e-9
    again = analytics.temperature(
        store,
        kiosk_serial="LIV-0001",
        granularity="minutely",
        start_utc=start,
        end_utc=end,
        tz="Europe/Berlin",
    )
    assert again[0]["values"][0]["date"] == "2026-11-18T10:00:00+01:00"
    assert len(again[0]["values"]) == 180


def test_hourly_temperature_is_the_exact_half_up_average_on_every_call(store: Store):
    """A bucket whose average lies exactly on a half cent rounds up, on every call and for any window that
    covers it: a floating sum in DuckDB's thread-dependent order once flipped such buckets between calls, so
    the pipeline's lookback re-read "changed" unchanged temperature rows."""
    end = NOW - timedelta(minutes=1)
    halfway = 0
    for kiosk_id, serial in store.query("SELECT id, serial_number FROM kiosks ORDER BY id"):
        minutes = analytics.temperature_minutes(store, kiosk_id, NOW - timedelta(days=2), end)
        hundredths: dict[tuple[str, datetime], list[int]] = {}
        for m in minutes:
            key = (m["position"], m["minute"].replace(minute=0))
            hundredths.setdefault(key, []).append(round(m["value"] * 100))
        expected = {
            key: (D(sum(v)) / len(v) / 100).quantize(D("0.01"), rounding="ROUND_HALF_UP")
            for key, v in hundredths.items()
        }
        halfway += sum(1 for v in hundredths.values() if D(sum(v)) * 2 / len(v) % 2 == 1)
        for days in (2, 1, 2, 1, 2):  # a long and a short window, alternately: same answer for shared buckets
            series = analytics.temperature(
                store,
                kiosk_serial=serial,
                granularity="hourly",
                start_utc=NOW - timedelta(days=days),
                end_utc=end,
                tz="UTC",
            )
            for s in series:
                for bucket in s["values"]:
                    start = datetime.fromisoformat(bucket["date"].replace("Z", "+00:00"))
                    assert D(str(bucket["value"])) == expected[(s["sensorPosition"], start)], (serial, bucket)
    assert halfway > 0, "no bucket on a half cent: the window no longer exercises the rounding"


def test_temperature_shows_excursions_above_seven_degrees(store: Store):
    serial, start, end = store.query_one(
        """SELECT k.serial_number, e.start_at, e.end_at FROM temperature_excursions e
           JOIN temperature_sensors s USING (kiosk_id, position) JOIN kiosks k ON k.id = e.kiosk_id
           ORDER BY s.base_celsius + e.peak_celsius DESC LIMIT 1"""
    )
    series = analytics.temperature(
        store,
        kiosk_serial=serial,
        granularity="custom",
        grouping="day",
        start_utc=start,
        end_utc=end,
        tz="Europe/Berlin",
    )
    assert max(v["max"] for s in series for v in s["values"]) > 7.0
    assert 2 <= len(series) <= 3
