"""Never wedged: a real run SIGKILLed at every stage boundary dlt has (several times each), and every next run
exits 0 and equals the API, with no duplicate key.

The kill comes from inside the child process at an exact point (tests/sync/kill_at.py wraps the function
that marks the boundary), so each scenario hits the state it names: mid-extract, between extract and
normalize, mid-normalize, at normalize's hand-over to load, mid-load, after the load before its package is
complete, and in the middle of the mart build."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from pipelines.cli import main
from simulator.server import SimulatorServer
from tests.conftest import REPO_ROOT
from tests.sync.conftest import (
    SyncRunner,
    Warehouse,
    assert_incremental_tables_equal_api,
    money,
)
from tests.sync.kill_at import BOUNDARIES

RESOURCES = "organizations,kiosks,kiosk_details,products,transactions,refills,alerts"
# Small windows: a backfill of several loads, so "the Nth time" reaches different loads.
ENV = {"SOURCES__LIVELLO__BACKFILL_WINDOW_ROWS": "300"}


def killed_run(sync: SyncRunner, sim: SimulatorServer, boundary: str, at: int) -> tuple[int, str]:
    wh = sync.warehouse
    args = ["run", "--destination", wh.destination, "--dataset", wh.dataset, "--resources", RESOURCES]
    env = {**os.environ, **sync.env(sim), **ENV, "PYTHONPATH": str(REPO_ROOT), "PYTHONUNBUFFERED": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "tests.sync.kill_at", boundary, str(at), "--", *args],
        cwd=sync.workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    return result.returncode, result.stdout + result.stderr


def next_run(sync: SyncRunner, sim: SimulatorServer) -> tuple[int, str]:
    """The next nightly run, marts included (the fixture's runner leaves them out)."""
    for key, value in {**sync.env(sim), **ENV}.items():
        sync.monkeypatch.setenv(key, value)
    sync.capsys.readouterr()
    wh = sync.warehouse
    code = main(["run", "--destination", wh.destination, "--dataset", wh.dataset, "--resources", RESOURCES])
    captured = sync.capsys.readouterr()
    return code, captured.out + captured.err


@pytest.mark.parametrize("at", [1, 2])
@pytest.mark.parametrize("boundary", BOUNDARIES)
def test_a_run_killed_at_a_stage_boundary_is_followed_by_a_clean_one(
    sync: SyncRunner, warehouse: Warehouse, small_sim: SimulatorServer, boundary: str, at: int
) -> None:
    code, output = killed_run(sync, small_sim, boundary, at)
    assert code == -signal.SIGKILL, f"the run was not killed at {boundary} #{at}:\n{output}"
    code, output = next_run(sync, small_sim)
    assert code == 0, output
    assert_incremental_tables_equal_api(warehouse, small_sim)
    # The marts were built, whatever the killed run left: the same numbers as the raw rows.
    gross = warehouse.scalar(f"select sum(gross_amount) from {marts(warehouse)}.fct_transactions")
    assert money(gross) == money(warehouse.scalar("select sum(total) from transactions"))


def marts(wh: Warehouse) -> str:
    """The schema the marts are built in."""
    schemas = {
        r[0]
        for r in wh.query(
            "select table_schema from information_schema.tables where table_name = 'fct_transactions'"
        )
    }
    return wh.dataset if wh.dataset in schemas else next(iter(schemas))
