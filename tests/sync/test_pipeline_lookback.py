"""Verified lookback (pipelines/lookback.py) on DuckDB and PostgreSQL, against the simulator over HTTP.

A nightly run proves the lookback window complete with the first page of its new rows (read from the last
held row on); when that fails it searches by count and re-reads only the sub-windows where the warehouse
holds fewer rows than the API: late rows still land, at a fraction of a full lookback re-read's requests."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from simulator.server import SimulatorServer
from tests.sync.conftest import RECENT_NOW, SyncRunner, Warehouse, truth_ids

PAGE = 100
RESOURCES = ("--resources", "transactions,refills")
# Dense enough that a full 48-hour lookback is twenty pages or more whatever the time of day (ten kiosks gave
# thirteen at 22:00 UTC, too few for the ratio asserted below), small enough to generate in a second.
MEDIUM = {"kiosks": 16, "days": 3, "now": RECENT_NOW, "rate_limit_per_hour": 0}


@pytest.fixture
def medium_sim(simulator_factory: Callable[..., SimulatorServer]) -> SimulatorServer:
    return simulator_factory(**MEDIUM)


def rows_since(sim: SimulatorServer, table: str, since: Any) -> int:
    return int(sim.store.scalar(f"select count(*) from {table} where created >= timestamptz '{since}'"))


def pages_since(sim: SimulatorServer, table: str, since: Any) -> int:
    return max(1, math.ceil(rows_since(sim, table, since) / PAGE))


def pages_after_proof(sim: SimulatorServer, table: str) -> int:
    """A proven lookback: the last held row before the cursor, then every row from the cursor on."""
    return math.ceil((1 + rows_since(sim, table, newest(sim, table))) / PAGE)


def newest(sim: SimulatorServer, table: str) -> datetime:
    return sim.store.scalar(f"select max(created) from {table}").astimezone(UTC)


def test_late_backlog_costs_probes_and_its_sub_window_only(
    sync: SyncRunner, warehouse: Warehouse, medium_sim: SimulatorServer
) -> None:
    sim, wh = medium_sim, warehouse
    kiosks = truth_ids(sim, "kiosks", "serial_number")
    code, output = sync(sim, *RESOURCES)
    assert code == 0, output
    assert wh.ids("transactions") == truth_ids(sim, "transactions")

    # Nothing new: the request that reads the rows from the cursor on also proves the lookback complete.
    sim.reset_request_counts()
    code, output = sync(sim, *RESOURCES)
    assert code == 0, output
    assert sim.requests_to("/transactions") == pages_after_proof(sim, "transactions")
    assert sim.requests_to("/refills") == pages_after_proof(sim, "refills")
    assert "complete by position" in output

    # A kiosk uploads an hour of sessions 20 hours late: captured, for a few probes and that hour's pages.
    cursor = newest(sim, "transactions")
    full_lookback = pages_since(sim, "transactions", cursor - timedelta(hours=48))
    known = set(wh.ids("transactions"))
    sim.upload_backlog(kiosk_serial=kiosks[0], hours_late=20)
    late = set(truth_ids(sim, "transactions")) - known
    assert late, "the simulator added no backlog"
    sim.reset_request_counts()
    code, output = sync(sim, *RESOURCES)
    assert code == 0, output
    assert wh.ids("transactions") == truth_ids(sim, "transactions")
    verified = sim.requests_to("/transactions")
    # The position probe, the count of the whole lookback, two counts per halving down to the hour that
    # differs (48 h: 6 halvings), then that hour's pages: far below re-reading the lookback.
    bound = 2 + 2 * math.ceil(math.log2(48)) + math.ceil(len(late) / PAGE) + 1
    assert verified <= min(bound, full_lookback - 1), (verified, bound, full_lookback)
    assert "only those are re-read" in output

    # Switched off: the whole lookback is re-read as before, no probe.
    known = set(wh.ids("transactions"))
    sim.upload_backlog(kiosk_serial=kiosks[1], hours_late=30)
    assert set(truth_ids(sim, "transactions")) - known
    sim.reset_request_counts()
    code, output = sync(sim, *RESOURCES, env={"SOURCES__LIVELLO__VERIFY_LOOKBACK": "false"})
    assert code == 0, output
    assert wh.ids("transactions") == truth_ids(sim, "transactions")
    assert sim.requests_to("/transactions") == pages_since(sim, "transactions", cursor - timedelta(hours=48))
    assert sim.requests_to("/refills") == pages_since(
        sim, "refills", newest(sim, "refills") - timedelta(hours=48)
    )
    assert verified * 2 <= sim.requests_to("/transactions")


def test_rows_missing_from_the_warehouse_are_read_again(
    sync: SyncRunner, warehouse: Warehouse, small_sim: SimulatorServer
) -> None:
    """The count compares with what the warehouse holds, whatever the reason rows are missing (here: deleted
    behind the pipeline's back, as a lost load would leave it)."""
    sim, wh = small_sim, warehouse
    code, output = sync(sim, *RESOURCES)
    assert code == 0, output
    # The hole ends just after a real sale at least 10 hours before the newest one, inside the lookback: a
    # hole at a fixed distance from the clock (which follows the wall clock) fell into a night without sales.
    last_sale = sim.store.scalar(
        "select max(created) from transactions where created <= "
        f"timestamptz '{newest(sim, 'transactions') - timedelta(hours=10)}'"
    ).astimezone(UTC)
    hole_end = last_sale + timedelta(seconds=1)
    hole = f"created >= timestamptz '{hole_end - timedelta(hours=3)}' and created < timestamptz '{hole_end}'"
    assert sim.store.scalar(f"select count(*) from transactions where {hole}") > 0
    execute(
        wh,
        "delete from transactions__items_purchased where _dlt_parent_id in "
        f"(select _dlt_id from transactions where {hole})",
        f"delete from transactions where {hole}",
    )
    assert wh.ids("transactions") != truth_ids(sim, "transactions")
    code, output = sync(sim, *RESOURCES)
    assert code == 0, output
    assert wh.ids("transactions") == truth_ids(sim, "transactions")
    assert wh.duplicate_keys("transactions", "id") == 0


def execute(wh: Warehouse, *statements: str) -> None:
    if wh.destination == "duckdb":
        import duckdb

        conn = duckdb.connect(str(wh.duckdb_path))
        try:
            conn.execute(f"SET schema = '{wh.dataset}'")
            for sql in statements:
                conn.execute(sql)
        finally:
            conn.close()
        return
    import psycopg2

    conn = psycopg2.connect(wh.dsn)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(f"SET search_path TO {wh.dataset}")
            for sql in statements:
                cur.execute(sql)
    finally:
        conn.close()


@pytest.mark.parametrize("fault", [{"ignore_sort": True}, {"ignore_paging": True}])
def test_a_hostile_answer_never_passes_for_a_proof(
    sync: SyncRunner, warehouse: Warehouse, medium_sim: SimulatorServer, fault: dict[str, bool]
) -> None:
    """A server that ignores the order or the position answers plausible pages; the proof by position must
    then fail (and the count search or the page checks take over), never skip rows a kiosk uploaded late."""
    sim, wh = medium_sim, warehouse
    code, output = sync(sim, *RESOURCES)
    assert code == 0, output
    known = set(wh.ids("transactions"))
    sim.upload_backlog(kiosk_serial=truth_ids(sim, "kiosks", "serial_number")[0], hours_late=20)
    late = set(truth_ids(sim, "transactions")) - known
    assert late
    sim.set_faults(paths=("/transactions",), **fault)
    code, output = sync(sim, *RESOURCES)
    sim.clear_faults()
    if code == 0:  # the sort ignored: the proof fails, the count search finds the late hour
        assert "counts differ" in output, output
        assert wh.ids("transactions") == truth_ids(sim, "transactions")
    else:  # the position ignored: the page checks refuse the listing and keep nothing of it
        assert "ignores" in output and set(wh.ids("transactions")) == known
    code, output = sync(sim, *RESOURCES)
    assert code == 0, output
    assert wh.ids("transactions") == truth_ids(sim, "transactions")
    assert wh.duplicate_keys("transactions", "id") == 0
