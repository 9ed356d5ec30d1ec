"""Drift is loud, and strict is one setting away: when the API's fields change, the run says which fields
changed (summary, sync_runs, a warning naming the API field), money and ids keep their declared types, and
`sources.livello.schema_contract = "freeze"` fails the run before anything of it is loaded.

The changed API comes from the simulator's drift switches on loopback."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from simulator.server import SimulatorServer
from tests.sync.conftest import SyncRunner, Warehouse, money, truth_ids, truth_scalar

RESOURCES = ("--resources", "kiosks,transactions,refills")
STRICT = {"SOURCES__LIVELLO__SCHEMA_CONTRACT": "freeze"}


def last_run(wh: Warehouse) -> dict[str, Any]:
    status, drift = wh.query("select status, drift from sync_runs order by started_at desc limit 1")[0]
    return {"status": status, "drift": json.loads(drift)}


@pytest.fixture
def synced(sync: SyncRunner, warehouse: Warehouse, small_sim: SimulatorServer) -> SimulatorServer:
    code, output = sync(small_sim, *RESOURCES)
    assert code == 0, output
    assert last_run(warehouse)["drift"] == {}  # the first run has nothing to drift from, a clean run neither
    small_sim.advance(hours=24)
    return small_sim


def test_fields_the_api_stops_sending_are_reported_by_name(
    sync: SyncRunner, warehouse: Warehouse, synced: SimulatorServer
) -> None:
    synced.set_faults(paths=("/transactions",), drop_fields=("paymentMethod", "discountTotal"))
    code, output = sync(synced, *RESOURCES)
    assert "transactions: the API's fields changed: no longer sent: discountTotal, paymentMethod.*" in output
    assert "drift transactions missing:" in output and "paymentMethod.isPaid" in output
    missing = last_run(warehouse)["drift"]["transactions"]["missing"]
    assert missing["paymentMethod.isPaid"] == "column transactions.payment_method__is_paid"
    assert "discountTotal" in missing
    assert code in (0, 1), output  # whether the marts' data tests then fail is theirs to say


def test_new_fields_and_money_sent_as_text_are_reported_and_money_stays_decimal(
    sync: SyncRunner, warehouse: Warehouse, synced: SimulatorServer
) -> None:
    synced.set_faults(
        paths=("/transactions",),
        stringify_fields=("total", "itemsPurchased.price"),
        add_fields={"loyaltyTier": "gold"},
    )
    code, output = sync(synced, *RESOURCES, "--no-transform")
    assert code == 0, output
    drift = last_run(warehouse)["drift"]["transactions"]
    assert set(drift["retyped"]) == {"total", "itemsPurchased[].price"}
    assert "held as decimal, sent as text" in drift["retyped"]["total"]
    assert "loyaltyTier" in drift["new"]
    # Declared types: the text arrived as exact decimals in the very columns they always had, nothing in a
    # text variant column, and the sums equal the API's to the cent.
    assert not [c for c in warehouse.columns("transactions") if "__v_" in c]
    assert not [c for c in warehouse.columns("transactions__items_purchased") if "__v_" in c]
    assert money(warehouse.scalar("select sum(total) from transactions")) == money(
        truth_scalar(synced, "select sum(total) from transactions")
    )
    prices = warehouse.query("select sum(price), count(*) from transactions__items_purchased")[0]
    truth = synced.store.query("select sum(price), count(*) from transaction_items")[0]
    assert (money(prices[0]), prices[1]) == (money(truth[0]), truth[1])
    assert isinstance(warehouse.scalar("select max(total) from transactions"), Decimal)


def test_a_changed_id_type_is_reported_and_the_rows_still_merge(
    sync: SyncRunner, warehouse: Warehouse, synced: SimulatorServer
) -> None:
    synced.set_faults(paths=("/transactions",), stringify_fields=("id",))
    code, output = sync(synced, *RESOURCES, "--no-transform")
    assert code == 0, output
    assert "id" in last_run(warehouse)["drift"]["transactions"]["retyped"]
    assert warehouse.ids("transactions") == truth_ids(synced, "transactions")
    assert warehouse.duplicate_keys("transactions", "id") == 0


def test_strict_mode_fails_the_run_before_anything_is_loaded(
    sync: SyncRunner, warehouse: Warehouse, synced: SimulatorServer
) -> None:
    before = {table: warehouse.ids(table) for table in ("transactions", "refills")}
    runs = warehouse.scalar("select count(*) from sync_runs")
    synced.set_faults(paths=("/transactions",), drop_fields=("discountTotal",))
    code, output = sync(synced, *RESOURCES, env=STRICT)
    assert code == 1, output
    assert "Strict mode" in output and "discountTotal" in output
    assert {table: warehouse.ids(table) for table in before} == before  # nothing of the run was loaded
    assert warehouse.scalar("select count(*) from sync_runs") == runs + 1  # the failure is recorded
    assert last_run(warehouse)["status"] == "failed"

    synced.clear_faults()
    code, output = sync(synced, *RESOURCES, env=STRICT)  # no drift: strict mode loads as usual
    assert code == 0, output
    assert warehouse.ids("transactions") == truth_ids(synced, "transactions")
