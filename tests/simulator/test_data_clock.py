"""Time moves: advance() adds exactly what happened after the old now; a backlog arrives late."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from simulator import clock
from simulator.config import SimConfig
from simulator.generator import generate
from simulator.store import Store

NOW = datetime(2026, 10, 28, 12, 0, tzinfo=UTC)


def _store(seed: int = 21) -> tuple[Store, SimConfig]:
    config = SimConfig(seed=seed, kiosks=3, days=4, now=NOW)
    store = Store()
    generate(store, config)
    return store, config


@pytest.fixture(scope="module")
def advanced():
    store, config = _store()
    before = {
        "max_tx": store.scalar("SELECT max(id) FROM transactions"),
        "max_refill": store.scalar("SELECT max(id) FROM refills"),
        "names": dict(store.query("SELECT id, name FROM products")),
        "open_alerts": {r[0] for r in store.query("SELECT id FROM alerts WHERE status <> 'resolved'")},
        "kiosks": store.scalar("SELECT count(*) FROM kiosks"),
    }
    summary = clock.advance(
        store, config, timedelta(hours=30), renames=2, price_changes=1, deletions=1, new_kiosks=1
    )
    yield store, config, before, summary
    store.close()


def test_advance_adds_rows_only_after_the_old_now(advanced):
    store, _, before, summary = advanced
    new_now = NOW + timedelta(hours=30)
    assert store.now == new_now and summary.new_now == new_now and summary.old_now == NOW
    lo, hi, n = store.query_one(
        "SELECT min(created), max(created), count(*) FROM transactions WHERE id > ?", [before["max_tx"]]
    )
    assert n == summary.new_transactions > 100
    assert lo > NOW and hi <= new_now
    assert summary.transaction_id_range == [before["max_tx"] + 1, before["max_tx"] + n]
    assert (
        store.scalar(
            "SELECT count(*) FROM transactions WHERE id <= ? AND created > ?", [before["max_tx"], NOW]
        )
        == 0
    )
    refills = store.scalar(
        "SELECT count(*) FROM refills WHERE id > ? AND created > ?", [before["max_refill"], NOW]
    )
    assert refills == summary.new_refills > 0


def test_advance_applies_catalog_events(advanced):
    store, _, before, summary = advanced
    new_now = NOW + timedelta(hours=30)
    assert len(summary.renamed_product_ids) == 2
    for pid in summary.renamed_product_ids:
        name, updated = store.query_one("SELECT name, updated_at FROM products WHERE id = ?", [pid])
        assert name != before["names"][pid] and updated == new_now
    (deleted,) = summary.deleted_product_ids
    assert store.scalar("SELECT deleted FROM products WHERE id = ?", [deleted])
    assert store.scalar("SELECT count(*) FROM product_lines WHERE product_id = ? AND active", [deleted]) == 0
    assert (
        store.scalar(
            "SELECT count(*) FROM inventory i JOIN product_lines pl ON pl.id = i.product_line_id "
            "WHERE pl.product_id = ?",
            [deleted],
        )
        == 0
    )
    assert summary.price_changed_product_ids
    assert store.scalar("SELECT count(*) FROM product_prices WHERE valid_from > ?", [NOW]) >= 1
    (serial,) = summary.new_kiosk_serials
    cells = store.scalar(
        "SELECT count(*) FROM load_cells c JOIN kiosks k ON k.id = c.kiosk_id WHERE k.serial_number = ?",
        [serial],
    )
    assert 20 <= cells <= 40
    assert store.scalar("SELECT count(*) FROM kiosks") == before["kiosks"] + 1


def test_alerts_change_state_and_inventory_stays_consistent(advanced):
    store, _, before, summary = advanced
    new_now = NOW + timedelta(hours=30)
    changed = store.query(
        "SELECT id, updated_at, status FROM alerts WHERE id IN (SELECT unnest(?))",
        [summary.changed_alert_ids],
    )
    assert changed and all(
        NOW < updated <= new_now for _, updated, _ in changed if _ in before["open_alerts"]
    )
    assert (
        store.scalar(
            "SELECT count(*) FROM inventory i JOIN load_cells c ON c.id = i.load_cell_id "
            "WHERE i.count < 0 OR i.count > c.capacity"
        )
        == 0
    )
    mismatched = store.scalar(
        """SELECT count(*) FROM transactions t LEFT JOIN (SELECT transaction_id, sum(total) AS s
           FROM transaction_items GROUP BY 1) i ON i.transaction_id = t.id WHERE t.total <> coalesce(i.s,
           0)"""
    )
    assert mismatched == 0


def test_advance_is_deterministic():
    runs = []
    for _ in range(2):
        store, config = _store(seed=4)
        clock.advance(store, config, timedelta(hours=6))
        runs.append(
            store.scalar("SELECT md5(string_agg(CAST(t AS VARCHAR), '|' ORDER BY id)) FROM transactions t")
        )
        store.close()
    assert runs[0] == runs[1]


def test_backlog_arrives_now_with_created_in_the_past():
    store, config = _store(seed=8)
    max_id = store.scalar("SELECT max(id) FROM transactions")
    stock_before = store.scalar(
        "SELECT sum(count) FROM inventory i JOIN kiosks k ON k.id = "
        "(SELECT kiosk_id FROM load_cells WHERE id = i.load_cell_id) "
        "WHERE k.serial_number = 'LIV-0002'"
    )
    backlog = clock.upload_backlog(store, "LIV-0002", 6, sessions=25)
    assert len(backlog.transaction_ids) == 25 and min(backlog.transaction_ids) == max_id + 1
    rows = store.query("SELECT created, uploaded_at FROM transactions WHERE id > ?", [max_id])
    assert all(created <= NOW - timedelta(hours=6) for created, _ in rows)
    assert all(created >= NOW - timedelta(hours=7) for created, _ in rows)
    assert all(uploaded == NOW for _, uploaded in rows)
    sold = store.scalar(
        "SELECT coalesce(sum(quantity), 0) FROM transaction_items WHERE transaction_id > ?", [max_id]
    )
    stock_after = store.scalar(
        "SELECT sum(count) FROM inventory i JOIN kiosks k ON k.id = "
        "(SELECT kiosk_id FROM load_cells WHERE id = i.load_cell_id) "
        "WHERE k.serial_number = 'LIV-0002'"
    )
    assert sold > 0 and stock_after == stock_before - sold
    # A cursor on `created` that already passed now - 6 h never sees these rows: that is the point.
    assert (
        store.scalar(
            "SELECT count(*) FROM transactions WHERE id > ? AND created > ?",
            [max_id, NOW - timedelta(hours=6)],
        )
        == 0
    )
    with pytest.raises(KeyError):
        clock.upload_backlog(store, "LIV-9999", 1)
    store.close()
