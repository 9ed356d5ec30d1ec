"""Never silently wrong: an API (or a proxy in front of it) that answers wrongly stops the resource it broke,
with a message naming the endpoint and what was wrong; nothing of the broken window is committed, its cursor
stays, the other resources load, the run exits 1, and once the API behaves the next run equals it exactly.

Every misbehaviour comes from the simulator's own fault switches on loopback (no mock of our client)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from simulator.server import SimulatorServer
from tests.sync.conftest import SyncRunner, Warehouse, money, truth_ids, truth_scalar

RESOURCES = ("--resources", "kiosks,transactions,refills,alerts")


def transactions_state(sync: SyncRunner) -> dict[str, Any]:
    """The transactions resource state the pipeline holds locally (empty when never committed)."""
    # the run's pipeline, not the one beside it that records the run in sync_runs
    (state_file,) = (
        p for p in (sync.workdir / "pipelines").glob("*/state.json") if "_runs" not in p.parent.name
    )
    state = json.loads(state_file.read_text(encoding="utf-8"))
    return state.get("sources", {}).get("livello", {}).get("resources", {}).get("transactions", {})


def assert_equals_truth(wh: Warehouse, sim: SimulatorServer) -> None:
    assert wh.ids("transactions") == truth_ids(sim, "transactions")
    assert money(wh.scalar("select sum(total) from transactions")) == money(
        truth_scalar(sim, "select sum(total) from transactions")
    )
    assert wh.ids("refills") == truth_ids(sim, "refills")
    for table in ("transactions", "refills", "alerts"):
        assert wh.duplicate_keys(table, "id") == 0, table


HOSTILE = [
    pytest.param({"ignore_paging": True}, "ignores the `skip` parameter", id="ignored-skip"),
    pytest.param({"inflate_total": 10_000_000}, "is empty although total=10,000,000", id="inflated-total"),
    pytest.param({"shrink_total_by": 7}, "the listing shrank", id="shrinking-total"),
    pytest.param({"omit_total": True}, "has no valid total (missing)", id="missing-total"),
    pytest.param({"maintenance_ratio": 1.0}, "with an HTML page (text/html", id="html-maintenance-page"),
    pytest.param({"invalid_utf8_ratio": 1.0}, "not valid UTF-8", id="invalid-utf8"),
    pytest.param({"text_body_ratio": 1.0}, "a body that is not JSON", id="text-body"),
]


@pytest.mark.parametrize(("fault", "message"), HOSTILE)
def test_a_broken_listing_stops_only_its_resource_and_loses_nothing(
    sync: SyncRunner, warehouse: Warehouse, small_sim: SimulatorServer, fault: dict[str, Any], message: str
) -> None:
    sim, wh = small_sim, warehouse
    code, output = sync(sim, *RESOURCES)  # a first clean sync: the warehouse holds the history
    assert code == 0, output
    before_ids, before_state = wh.ids("transactions"), transactions_state(sync)
    sim.advance(hours=24)  # new rows wait in the API
    sim.set_faults(paths=("/transactions",), **fault)
    sim.reset_request_counts()

    code, output = sync(sim, *RESOURCES, env={"SOURCES__LIVELLO__MAX_ATTEMPTS": "2"})
    assert code == 1, output
    assert "FAILED transactions: GET /transactions" in output and message in output, output
    assert "Traceback" not in output
    # Nothing of the broken window was committed and the cursor did not move ...
    assert wh.ids("transactions") == before_ids
    assert transactions_state(sync) == before_state
    # ... while the other resources loaded the new day.
    assert wh.ids("refills") == truth_ids(sim, "refills")
    assert wh.ids("kiosks", "serial_number") == truth_ids(sim, "kiosks", "serial_number")
    # Bounded by what the answers allow, never a loop over a huge total: the lookback's count probes (a binary
    # search down to 30 minutes: at most log2(48 h / 30 min) + 1 = 8), two pages, and the client's two tries.
    assert sim.requests_to("/transactions") <= 8 + 2 * 2
    assert "sync_runs" in wh.tables()
    failed = wh.scalar("select failed from sync_runs order by started_at desc limit 1")
    assert "transactions" in json.loads(failed)

    sim.clear_faults()
    code, output = sync(sim, *RESOURCES)
    assert code == 0, output
    assert_equals_truth(wh, sim)
