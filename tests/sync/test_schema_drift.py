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
    status, drift, started_at = wh.query(
        "select status, drift, started_at from sync_runs order by started_at desc limit 1"
    )[0]
    return {"status": status, "drift": json.loads(drift), "started_at": started_at}


@pytest.fixture
def synced(sync: SyncRunner, warehouse: Warehouse, small_sim: SimulatorServer) -> SimulatorServer:
    code, output = sync(small_sim, *RESOURCES)
    assert code == 0, output
    assert last_run(warehouse)["drift"] == {}  # the first run has nothing to drift from, a clean run neither
    small_sim.advance(hours=24)
    return small_sim


@pytest.fixture
def synced_with_marts(sync: SyncRunner, warehouse: Warehouse, small_sim: SimulatorServer) -> SimulatorServer:
    """Every resource synced and the marts built: what the marts' data tests guard."""
    code, output = sync(small_sim, transform=True)
    assert code == 0, output
    small_sim.advance(hours=24)
    return small_sim


def test_fields_the_api_stops_sending_are_reported_by_name(
    sync: SyncRunner, warehouse: Warehouse, synced_with_marts: SimulatorServer
) -> None:
    synced = synced_with_marts
    counted_before = warehouse.scalar("select count(*) from fct_transactions where is_counted")
    synced.set_faults(paths=("/transactions",), drop_fields=("paymentMethod", "discountTotal"))
    code, output = sync(synced, transform=True)
    assert "transactions: the API's fields changed: no longer sent: discountTotal, paymentMethod.*" in output
    assert "drift transactions missing:" in output and "paymentMethod.isPaid" in output
    missing = last_run(warehouse)["drift"]["transactions"]["missing"]
    assert missing["paymentMethod.isPaid"] == "column transactions.payment_method__is_paid"
    assert "discountTotal" in missing
    # The marts would count none of the new sales: their data tests fail the build, the previous marts stay.
    assert code == 1, output
    assert "transactions_state_payment_and_money" in output
    assert warehouse.scalar("select count(*) from fct_transactions where is_counted") == counted_before

    # The API is fixed, but the rows it sent meanwhile are behind the cursor: the run says how to read them
    # again, and doing so brings the marts back.
    synced.clear_faults()
    code, output = sync(synced, transform=True)
    assert code == 1, output
    # From the oldest row the broken runs loaded (they read from their cursor, a day before the run).
    day = (
        warehouse.scalar("select min(created) from transactions where payment_method__is_paid is null")
        .date()
        .isoformat()
    )
    assert f"livello-sync run --since {day}" in output and "--refresh transactions" in output
    code, output = sync(synced, "--since", day, transform=True)
    assert code == 0, output
    assert warehouse.ids("transactions") == truth_ids(synced, "transactions")
    assert warehouse.scalar("select count(*) from fct_transactions where is_counted") > counted_before


def test_money_that_is_not_a_number_fails_the_build_and_the_previous_marts_stay(
    sync: SyncRunner, warehouse: Warehouse, synced_with_marts: SimulatorServer
) -> None:
    synced = synced_with_marts
    gross_before = warehouse.scalar("select sum(gross_amount) from fct_sales")
    synced.set_faults(paths=("/transactions",), add_fields={"total": "n/a", "itemsPurchased.total": "n/a"})
    code, output = sync(synced, transform=True)
    assert code == 1, output
    assert "transactions_state_payment_and_money" in output and "sales_lines_state_their_money" in output
    assert "total" in last_run(warehouse)["drift"]["transactions"]["retyped"]
    assert warehouse.scalar("select sum(gross_amount) from fct_sales") == gross_before


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


def test_strict_mode_accepts_a_change_after_one_run_in_default_mode(
    sync: SyncRunner, warehouse: Warehouse, synced: SimulatorServer
) -> None:
    synced.set_faults(paths=("/transactions",), add_fields={"loyaltyTier": "gold"})
    assert sync(synced, *RESOURCES)[0] == 0  # default mode: the new field becomes a column
    synced.clear_faults()  # ... and the API stops sending it again
    synced.advance(hours=2)
    code, output = sync(synced, *RESOURCES, env=STRICT)
    assert code == 1 and "loyaltyTier" in output, output
    # one run in default mode reports and accepts it
    code, output = sync(synced, *RESOURCES, env={"SOURCES__LIVELLO__SCHEMA_CONTRACT": "evolve"})
    assert code == 0 and "loyaltyTier" in output, output
    synced.advance(hours=2)
    code, output = sync(synced, *RESOURCES, env=STRICT)
    assert code == 0, output
    assert last_run(warehouse)["drift"] == {}
    assert warehouse.ids("transactions") == truth_ids(synced, "transactions")
