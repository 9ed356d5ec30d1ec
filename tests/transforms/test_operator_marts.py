"""The marts an operator plans with (replenishment plan, cold chain, kiosk days, promocodes), from the
contract-shaped fixture on DuckDB and PostgreSQL; the engines' rows are compared in test_marts."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

from tests.transforms.conftest import Warehouse
from tests.transforms.raw_fixtures import PRODUCT_LINES, sales
from transforms.render import render_select


def test_cold_chain_uses_the_finest_granularity_and_the_breach_rule(built: Warehouse) -> None:
    rows = built.query(
        "SELECT kiosk_serial_number, sensor_position, local_date, minutes_measured, minutes_above_threshold, "
        "longest_excursion_minutes, max_celsius, is_breach, threshold_celsius, breach_after_minutes, "
        "source_granularity FROM fct_cold_chain_daily ORDER BY 1, 2, 3"
    )
    seven = Decimal("7.000")
    assert rows == [
        # two hourly buckets, the second (7.4 °C) above the limit: a 60-minute excursion
        ("LIV-0001", "top", date(2026, 3, 20), 120, 60, 60, Decimal("8.4"), True, seven, 30, "hourly"),
        ("LIV-0002", "middle", date(2026, 3, 20), 2, 0, 0, Decimal("6.2"), False, seven, 30, "minutely"),
        # 08:00 hourly, 09:00 from its 45 minutes (not its hourly bucket): 35 + 5 minutes above, longest 35
        ("LIV-0003", "bottom", date(2026, 3, 21), 105, 40, 35, Decimal("8.5"), True, seven, 30, "mixed"),
    ]


def test_settings_are_literals_in_the_rendered_sql() -> None:
    sql = "SELECT t.x > setting('cold_chain_max_celsius') AS hot FROM t AS t"
    rendered = render_select(
        sql,
        dialect="postgres",
        dataset="ds",
        raw_columns={},
        settings={"cold_chain_max_celsius": Decimal("8.500")},
    )
    assert "t.x > CAST(8.500 AS DECIMAL(18, 3))" in rendered


def _half_up(value: Decimal, places: str) -> Decimal:
    return value.quantize(Decimal(places), rounding=ROUND_HALF_UP)


def test_replenishment_plan_fills_to_capacity_with_weekday_aware_demand(built: Warehouse) -> None:
    rows = built.query(
        "SELECT load_cell_id, local_date, next_visit_date, quantity_on_hand, capacity, "
        "avg_units_sold_per_day, demand_basis, demand_days, days_of_cover, predicted_stock_out_date, "
        "units_expiring_before_next_visit, suggested_refill_quantity, suggested_refill_cost, "
        "suggested_refill_sales_value, currency "
        "FROM fct_replenishment_plan ORDER BY load_cell_id"
    )
    # Truth from the fixture: the latest snapshot is 2026-03-20 21:00 in Berlin, the visit Saturday the
    # 21st; demand = units of line 1101 sold on the Saturdays of the 28 days before, since the kiosk's first
    # session.
    berlin = ZoneInfo("Europe/Berlin")
    local = {s.transaction_id: s.created_utc.astimezone(berlin).date() for s in sales()}
    mine = [s for s in sales() if s.kiosk == "LIV-0001"]
    first = min(local[s.transaction_id] for s in mine)
    snapshot_day, visit = date(2026, 3, 20), date(2026, 3, 21)
    days = [
        snapshot_day - timedelta(days=n)
        for n in range(1, 29)
        if snapshot_day - timedelta(days=n) >= first
        and (snapshot_day - timedelta(days=n)).isoweekday() == visit.isoweekday()
    ]
    units = sum(
        item["quantity"]
        for s in mine
        if s.paid and s.ended_with_purchase and local[s.transaction_id] in days
        for item in s.items
        if item["productLineId"] == PRODUCT_LINES[101]
    )
    demand = _half_up(Decimal(units) / len(days), "0.001")
    cover = _half_up(3 / demand, "0.01") if demand else None
    assert rows[0][:8] == (11, snapshot_day, visit, 3, 10, demand, "weekday", len(days))
    assert rows[0][8] == cover
    # expiry 2026-04-01 is after the visit: nothing expires; 7 units fill the cell (cost 0.60, price 1.99)
    assert rows[0][10:] == (0, 7, Decimal("4.20"), Decimal("13.93"), "EUR")
    # an empty cell: no product, nothing to bring, no expiry known
    assert rows[1][0] == 12 and rows[1][3:5] == (0, None) and rows[1][10:14] == (None, 0, 0, 0)


def test_kiosk_days_count_sessions_and_quiet_opening_hours(built: Warehouse) -> None:
    rows = {
        (r[0], r[1]): r[2:]
        for r in built.query(
            "SELECT kiosk_serial_number, local_date, sessions, paid_purchases, revenue_gross, units_sold, "
            "refills, stock_outs_seen, alerts_opened, usual_opening_hours, quiet_opening_hours "
            "FROM fct_kiosk_daily"
        )
    }
    # every day from the kiosk's first fact, quiet days included, one row each
    assert len(rows) == len(built.query("SELECT DISTINCT kiosk_serial_number, date_key FROM fct_kiosk_daily"))
    first = min(d for k, d in rows if k == "LIV-0002")
    last = max(d for k, d in rows if k == "LIV-0002")
    assert sum(1 for k, _d in rows if k == "LIV-0002") == (last - first).days + 1
    # LIV-0002 (Zurich): one counted sale of 14.70 on 2026-03-20, with its only session hour a usual one
    assert rows[("LIV-0002", date(2026, 3, 20))][:4] == (1, 1, Decimal("14.70"), 3)
    usual = rows[("LIV-0002", date(2026, 3, 19))]
    assert usual[-2:] == (1, 1)  # the usual hour passed without a session
    totals = built.query(
        "SELECT sum(sessions), sum(paid_purchases) FROM fct_kiosk_daily "
        "WHERE kiosk_serial_number = 'LIV-0001'"
    )
    truth = [s for s in sales() if s.kiosk == "LIV-0001"]
    assert totals == [(len(truth), sum(1 for s in truth if s.paid and s.ended_with_purchase))]


def test_promocodes_join_their_organization(built: Warehouse) -> None:
    rows = built.query(
        "SELECT code, organization_name, currency, balance, is_enabled, is_usable, valid_to_utc "
        "FROM dim_promocode ORDER BY code"
    )
    end = datetime(2026, 6, 30)
    assert rows == [
        ("01234", "Livello Demo GmbH", "EUR", Decimal("10.00"), True, True, end),
        ("20001", "Alpen Snacks AG", "CHF", Decimal("0.00"), True, False, end),
        ("30001", "Thames Vending Ltd", "GBP", Decimal("5.00"), False, False, end),
    ]
