"""What a run's incremental listings cost: a first run's history that one window holds costs its pages and no
probe more; alerts, which change after they start (status, acknowledgement, end) until they are resolved and
whose listing has no updated-since filter, are re-read while held open at no request more than needed."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import timedelta

from simulator.server import SimulatorServer
from tests.sync.conftest import SMALL, SyncRunner, Warehouse

PAGE = 100


def alert_states(rows: list[tuple[object, ...]]) -> list[tuple[str, str, bool]]:
    return sorted((str(i), str(s), bool(a)) for i, s, a in rows)


def test_a_first_run_that_one_window_holds_costs_its_pages_and_nothing_more(
    sync: SyncRunner, warehouse: Warehouse, small_sim: SimulatorServer
) -> None:
    sim, wh = small_sim, warehouse
    code, output = sync(sim, "--resources", "transactions,refills,alerts")
    assert code == 0, output
    for table, path in (("transactions", "transactions"), ("refills", "refills"), ("alerts", "alerts")):
        total = int(sim.store.scalar(f"select count(*) from {table}"))
        assert 0 < total <= 10_000  # one backfill window (the default backfill_window_rows)
        assert wh.scalar(f"select count(*) from {table}") == total
        # The planner's probe is the listing's first page: no request besides the pages themselves.
        assert sim.request_count[f"/api/v1/{path}"] == math.ceil(total / PAGE), table
    # A second run measures nothing again: the density the first run saw plans it.
    code, output = sync(sim, "--resources", "transactions,refills,alerts")
    assert code == 0, output
    assert "complete by position" in output


def test_an_old_alert_held_open_is_read_again_in_the_listing_of_the_new_ones(
    sync: SyncRunner, warehouse: Warehouse, simulator_factory: Callable[..., SimulatorServer]
) -> None:
    # Alerts are sparse (a few a day on three kiosks): eight days of history put the oldest one days before
    # the newest whatever the clock, and still fit in two pages.
    sim, wh = simulator_factory(**{**SMALL, "days": 8}), warehouse
    now = sim.store.now
    assert now is not None
    # The oldest alert is still open, well before the lookback (48 h before the newest alert), and the vendor
    # resolves it in 12 hours.
    (oldest, start), *_ = sim.store.query("select id, start_date from alerts order by start_date, id")
    newest = sim.store.scalar("select max(start_date) from alerts")
    assert newest - start > timedelta(hours=48 + 12)
    with sim.store.write() as cur:
        cur.execute(
            "update alerts set status = 'open', is_ack = false, end_date = null, raise_at = null, "
            "ack_at = null, resolve_at = ? where id = ?",
            [now + timedelta(hours=12), oldest],
        )
    code, output = sync(sim, "--resources", "alerts")
    assert code == 0, output
    assert wh.scalar(f"select status from alerts where id = {oldest}") == "open"

    sim.advance(hours=24)
    assert sim.store.scalar(f"select status from alerts where id = {oldest}") == "resolved"
    sim.reset_request_counts()
    code, output = sync(sim, "--resources", "alerts")
    assert code == 0, output
    truth = sim.store.query("select id, status, is_ack from alerts")
    assert alert_states(wh.query("select id, status, is_ack from alerts")) == alert_states(truth)
    assert wh.scalar(f"select count(*) from alerts where id = {oldest}") == 1
    # One listing from the old alert's start holds it and the new alerts: no separate query of the open
    # ones and of the resolved ones (three requests at least).
    listed = int(sim.store.scalar("select count(*) from alerts where start_date >= ?", [start]))
    assert listed <= 2 * PAGE
    assert sim.request_count["/api/v1/alerts"] == math.ceil(listed / PAGE)
    assert "to the records held open" in output
