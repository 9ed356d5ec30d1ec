"""The generated history: deterministic, internally consistent and as varied as real kiosk data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from simulator.config import SimConfig
from simulator.generator import generate
from simulator.store import Store

NOW = datetime(2026, 10, 28, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def store() -> Store:
    s = Store()
    generate(s, SimConfig(seed=11, kiosks=4, days=12, now=NOW))
    yield s
    s.close()


def _fingerprint(store: Store) -> dict[str, str]:
    tables = {
        "transactions": "id",
        "transaction_items": "transaction_id, line_number",
        "refills": "id",
        "refill_items": "refill_id, line_number",
        "alerts": "id",
        "products": "id",
        "inventory": "load_cell_id",
        "product_line_prices": "id",
        "users": "id",
        "temperature_excursions": "kiosk_id, position, start_at",
    }
    return {
        t: store.scalar(f"SELECT md5(string_agg(CAST(x AS VARCHAR), '|' ORDER BY {order})) FROM {t} x")
        for t, order in tables.items()
    }


def test_same_seed_gives_the_same_store_and_another_seed_does_not():
    def build(seed: int) -> dict[str, str]:
        s = Store()
        generate(s, SimConfig(seed=seed, kiosks=2, days=3, now=NOW))
        try:
            return _fingerprint(s)
        finally:
            s.close()

    first, again, other = build(5), build(5), build(6)
    assert first == again
    assert first["transactions"] != other["transactions"]


def test_history_covers_the_configured_days_and_never_the_future(store: Store):
    lo, hi = store.query_one("SELECT min(created), max(created) FROM transactions")
    assert NOW - timedelta(days=12) < lo < NOW - timedelta(days=11)
    assert NOW - timedelta(hours=1) < hi <= NOW
    assert store.now == NOW
    assert store.scalar("SELECT count(*) FROM refills WHERE created > ?", [NOW]) == 0
    assert store.scalar("SELECT count(*) FROM alerts WHERE start_date > ? OR updated_at > ?", [NOW, NOW]) == 0


def test_transaction_totals_are_the_sums_of_their_lines(store: Store):
    mismatches = store.scalar(
        """SELECT count(*) FROM transactions t
           LEFT JOIN (SELECT transaction_id, sum(total) AS total, sum(discount) AS discount, count(*) AS n
                      FROM transaction_items GROUP BY 1) i ON i.transaction_id = t.id
           WHERE t.total <> coalesce(i.total, 0) OR t.discount_total <> coalesce(i.discount, 0)
              OR t.item_count <> coalesce(i.n, 0)"""
    )
    assert mismatches == 0
    bad_lines = store.scalar(
        "SELECT count(*) FROM transaction_items WHERE total <> quantity * price - discount OR discount < 0 "
        "OR discount > quantity * price OR quantity < 1"
    )
    assert bad_lines == 0


def test_sessions_come_with_one_to_five_lines_or_none_at_all(store: Store):
    per_purchase = dict(
        store.query("SELECT item_count, count(*) FROM transactions WHERE ended_with_purchase GROUP BY 1")
    )
    assert set(per_purchase) <= {1, 2, 3, 4, 5} and len(per_purchase) >= 4
    no_purchase = store.query_one(
        "SELECT count(*), sum(total), sum(item_count), bool_or(is_paid) FROM transactions "
        "WHERE NOT ended_with_purchase"
    )
    assert no_purchase[0] > 0 and no_purchase[1] == 0 and no_purchase[2] == 0 and not no_purchase[3]
    unpaid = store.scalar("SELECT count(*) FROM transactions WHERE ended_with_purchase AND NOT is_paid")
    discounted = store.scalar("SELECT count(*) FROM transaction_items WHERE discount > 0")
    assert unpaid > 0 and discounted > 0


def test_item_prices_follow_the_price_history(store: Store):
    wrong = store.scalar(
        """SELECT count(*) FROM transaction_items i JOIN product_line_prices p
             ON p.product_line_id = i.product_line_id AND i.created >= p.valid_from
            AND (p.valid_to IS NULL OR i.created < p.valid_to)
           WHERE p.price <> i.price"""
    )
    assert wrong == 0
    changed = store.scalar(
        "SELECT count(DISTINCT product_line_id) FROM product_line_prices WHERE valid_to IS NOT NULL"
    )
    assert changed > 0


def test_inventory_stays_within_zero_and_capacity(store: Store):
    bad = store.scalar(
        "SELECT count(*) FROM inventory i JOIN load_cells c ON c.id = i.load_cell_id "
        "WHERE i.count < 0 OR i.count > c.capacity"
    )
    assert bad == 0
    # Refills never leave more units than the cell holds.
    over = store.scalar(
        "SELECT count(*) FROM refill_items r JOIN product_lines pl ON pl.id = r.product_line_id "
        "JOIN load_cells c ON c.id = pl.load_cell_id "
        "WHERE r.added > c.capacity OR r.removed_expired > r.removed"
    )
    assert over == 0


def test_every_kiosk_has_20_to_40_load_cells_and_refills_every_day_or_two(store: Store):
    cells = [r[0] for r in store.query("SELECT count(*) FROM load_cells GROUP BY kiosk_id")]
    assert len(cells) == 4 and all(20 <= n <= 40 for n in cells)
    max_gap = store.scalar(
        """SELECT max(gap) FROM (SELECT created - lag(created) OVER (PARTITION BY kiosk_id ORDER BY created)
        AS gap
                                 FROM refills)"""
    )
    assert max_gap <= timedelta(days=2, hours=4)
    expired = store.scalar("SELECT sum(removed_expired) FROM refill_items")
    assert expired > 0


def test_organizations_nest_and_kiosks_span_currencies_and_time_zones(store: Store):
    assert store.descendant_org_ids(2) == [2, 5, 6]
    assert store.descendant_org_ids(1) == list(range(1, 10))
    currencies = {r[0] for r in store.query("SELECT DISTINCT currency FROM transactions")}
    assert {"EUR", "CHF"} <= currencies
    zones = {r[0] for r in store.query("SELECT DISTINCT timezone FROM kiosks")}
    assert zones == {"Europe/Berlin", "Europe/Zurich", "Europe/London"}
    types = {r[0] for r in store.query("SELECT DISTINCT type FROM organizations")}
    assert types == {"GENERAL", "CLIENT", "MANUFACTURER"}


def test_names_carry_non_ascii_text_and_optional_fields_are_sometimes_null(store: Store):
    names = [
        r[0]
        for r in store.query(
            "SELECT name FROM products UNION ALL SELECT name FROM kiosks "
            "UNION ALL SELECT first_name FROM users"
        )
    ]
    assert any("ü" in n or "ä" in n for n in names)
    assert any("é" in n or "è" in n for n in names)
    assert any(any(ord(c) > 0xFFFF for c in n) for n in names)  # emoji
    assert store.scalar("SELECT count(*) FROM products") == 150
    for column in ("ean", "image_url", "description", "article_number"):
        assert store.scalar(f"SELECT count(*) FROM products WHERE {column} IS NULL") > 0, column
    assert store.scalar("SELECT count(*) FROM users WHERE mobile IS NULL") > 0
    assert store.scalar("SELECT count(*) FROM inventory WHERE product_line_id IS NULL") > 0


def test_demand_follows_local_lunch_peaks_and_weekdays(store: Store):
    by_hour = dict(
        store.query(
            """SELECT hour(timezone(k.timezone, t.created)), count(*) FROM transactions t
           JOIN kiosks k ON k.id = t.kiosk_id GROUP BY 1"""
        )
    )
    assert by_hour[12] > 5 * by_hour.get(3, 0)
    assert by_hour[12] == max(by_hour.values()) or by_hour[13] == max(by_hour.values())
    by_dow = dict(
        store.query(
            """SELECT isodow(timezone(k.timezone, t.created)) >= 6, count(*) / count(DISTINCT
                  CAST(timezone(k.timezone, t.created) AS DATE)) FROM transactions t
           JOIN kiosks k ON k.id = t.kiosk_id GROUP BY 1"""
        )
    )
    assert by_dow[False] > 1.5 * by_dow[True]


def test_ids_increase_with_created(store: Store):
    for table in ("transactions", "refills"):
        out_of_order = store.scalar(
            f"SELECT count(*) FROM (SELECT created, lag(created) OVER (ORDER BY id) AS prev FROM {table}) "
            "WHERE created < prev"
        )
        assert out_of_order == 0, table


def test_alerts_open_get_acknowledged_and_resolve(store: Store):
    states = dict(store.query("SELECT status, count(*) FROM alerts GROUP BY 1"))
    assert states.get("resolved", 0) > 0
    assert store.scalar("SELECT count(*) FROM alerts WHERE status = 'resolved' AND end_date IS NULL") == 0
    assert (
        store.scalar("SELECT count(*) FROM alerts WHERE status <> 'resolved' AND end_date IS NOT NULL") == 0
    )
    assert store.scalar("SELECT count(*) FROM alerts WHERE is_ack") > 0
    assert store.scalar("SELECT count(*) FROM alerts WHERE type = 'TEMPERATURE_HIGH'") > 0
    assert store.scalar("SELECT count(*) FROM alerts WHERE updated_at < start_date") == 0
