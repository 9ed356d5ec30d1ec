"""The README's "Set up a real configuration" in one test: init, check, run, status --json, against the
simulator, from an empty folder and configured by the files init wrote alone. The tables the run creates
are exactly those `livello-sync resources` lists, and check's backfill estimate is close to what the run
cost."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from pipelines import discover
from simulator.server import SimulatorServer
from tests.cli.conftest import Result, init_args


def test_init_check_run_status(
    project: Path, simulator: SimulatorServer, cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch
) -> None:
    import duckdb

    monkeypatch.setenv("LIVELLO_TEST_SECRET", simulator.demo_credentials[1])
    assert cli(*init_args(simulator)).code == 0
    codes = [row[0] for row in simulator.store.query("select code from promocodes order by code limit 2")]
    monkeypatch.setenv("SOURCES__LIVELLO__PROMOCODES", ",".join(codes))

    check = cli("check", "--json")
    assert check.code == 0, check.text
    estimate = json.loads(check.out)["backfill"]["requests"]

    run = cli("run", "--no-transform", "--quiet")
    assert run.code == 0, run.text
    with duckdb.connect(str(project / "livello_sync.duckdb"), read_only=True) as connection:
        loaded = {
            row[0]
            for row in connection.execute(
                "select table_name from information_schema.tables where table_schema = 'livello'"
            ).fetchall()
        }
        requests = connection.execute("select requests from livello.sync_runs").fetchone()[0]
    listed = {table for info in discover.resources() for table in info.tables}
    assert loaded - {"sync_runs"} - {t for t in loaded if t.startswith("_dlt")} == listed
    assert abs(estimate - requests) <= max(5, requests // 5), (estimate, requests)

    status = cli("status", "--json")
    assert status.code == 0, status.text
    resources = {r["resource"]: r for r in json.loads(status.out)["resources"]}
    assert all(r["last_success_at"] for r in resources.values()), resources
