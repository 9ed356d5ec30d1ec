"""The nightly build maintains the facts incrementally, and that equals rebuilding them from the history.

Several simulated days go by with late uploads, price changes, a product deleted and renamed and a kiosk
installed; after each nightly run (sync, then the incremental build), `transform --full-refresh` into a
second marts schema must hold every mart row for row as the incrementally maintained one. The incremental
chain is never reset in between: each night builds on the previous night's incremental result.
"""

from __future__ import annotations

from typing import Any

import pytest

from pipelines.cli import main
from simulator.server import SimulatorServer
from tests.sync.conftest import SyncRunner, Warehouse
from transforms.models import load_models

pytestmark = pytest.mark.slow

NIGHTS: list[dict[str, Any]] = [
    {"price_changes": 2},
    {"deletions": 1, "renames": 1, "backlog_hours": 30},
    {"price_changes": 2, "new_kiosks": 1},
    {"backlog_hours": 50},
]
INCREMENTAL_FACTS = sorted(m.name for m in load_models() if m.incremental is not None)


def marts_rows(warehouse: Warehouse, schema: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every mart's rows, sorted (the same order on both engines)."""
    return {
        model.name: sorted(warehouse.query(f"SELECT * FROM {schema}.{model.name}"), key=repr)
        for model in load_models()
        if model.kind == "mart"
    }


def full_rebuild(sync: SyncRunner, schema: str) -> str:
    sync.monkeypatch.setenv("SOURCES__LIVELLO__MARTS_SCHEMA", schema)
    try:
        sync.capsys.readouterr()
        code = main(
            [
                "transform",
                "--destination",
                sync.warehouse.destination,
                "--dataset",
                sync.warehouse.dataset,
                "--full-refresh",
            ]
        )
        out = sync.capsys.readouterr()
        assert code == 0, out.out + out.err
        return out.out
    finally:
        sync.monkeypatch.delenv("SOURCES__LIVELLO__MARTS_SCHEMA")


def test_incremental_marts_equal_a_full_rebuild_night_after_night(
    sync: SyncRunner, small_sim: SimulatorServer, warehouse: Warehouse
) -> None:
    code, out = sync(small_sim, transform=True)
    assert code == 0, out
    for fact in INCREMENTAL_FACTS:
        assert f"{fact}" in out and "rebuilt in full: first build" in out
    marts = f"{warehouse.dataset}_marts"
    full = f"{warehouse.dataset}_full"
    kiosks = sorted(r[0] for r in warehouse.query(f"SELECT kiosk_serial_number FROM {marts}.dim_kiosk"))
    for night, events in enumerate(NIGHTS):
        backlog = events.get("backlog_hours")
        small_sim.advance(hours=24, **{k: v for k, v in events.items() if k != "backlog_hours"})
        if backlog:
            small_sim.upload_backlog(kiosk_serial=kiosks[night % len(kiosks)], hours_late=backlog)
        code, out = sync(small_sim, transform=True)
        assert code == 0, out
        transactions = warehouse.scalar(f"SELECT count(*) FROM {marts}.fct_transactions")
        for fact in INCREMENTAL_FACTS:
            line = next((x for x in out.splitlines() if x.strip().startswith(fact + " ")), out)
            assert "incremental:" in line, (night, line)
            rebuilt = int(line.split("incremental:")[1].split()[0].replace(",", ""))
            assert 0 < rebuilt < transactions, (night, line)  # some keys, never the whole history
        incremental = marts_rows(warehouse, marts)
        full_rebuild(sync, full)
        assert marts_rows(warehouse, full) == incremental, f"night {night + 1}: {events}"
    # the nights' changes did happen: deleted and repriced products, the late uploads, a new kiosk
    assert warehouse.scalar(f"SELECT count(*) FROM {marts}.dim_product WHERE is_deleted") >= 1
    assert warehouse.scalar(f"SELECT count(*) FROM {marts}.dim_product WHERE version_number > 1") >= 1
    assert warehouse.scalar(f"SELECT count(*) FROM {marts}.dim_kiosk") > len(kiosks)


def test_a_reloaded_raw_table_or_full_refresh_rebuilds_the_facts_in_full(
    sync: SyncRunner, small_sim: SimulatorServer, warehouse: Warehouse
) -> None:
    code, out = sync(small_sim, transform=True)
    assert code == 0, out
    small_sim.advance(hours=24)
    code, out = sync(small_sim, "--refresh", "transactions", transform=True)
    assert code == 0, out
    assert "rebuilt in full: a raw table it reads was reloaded" in out
    marts = f"{warehouse.dataset}_marts"
    incremental = marts_rows(warehouse, marts)
    rebuilt = full_rebuild(sync, f"{warehouse.dataset}_full")
    assert "rebuilt in full: --full-refresh" in rebuilt
    assert marts_rows(warehouse, f"{warehouse.dataset}_full") == incremental
