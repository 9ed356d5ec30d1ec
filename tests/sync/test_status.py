"""`livello-sync status` for people and monitors: honest exit codes, JSON, freshness, no file created."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipelines.cli import main
from simulator.server import SimulatorServer
from tests.sync.conftest import SyncRunner, Warehouse, duckdb_held_by_another_process, truth_ids


def status(sync: SyncRunner, *args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    for key, value in (env or {}).items():
        sync.monkeypatch.setenv(key, value)
    sync.capsys.readouterr()
    wh = sync.warehouse
    code = main(["status", "--destination", wh.destination, "--dataset", wh.dataset, *args])
    captured = sync.capsys.readouterr()
    return code, captured.out, captured.err


def test_status_reports_every_resource_as_json_and_checks_freshness(
    sync: SyncRunner, warehouse: Warehouse, small_sim: SimulatorServer
) -> None:
    code, output = sync(small_sim)
    assert code == 0, output
    code, out, err = status(sync, "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["schema_version"] == 1 and report["stale"] == []
    by_name = {r["resource"]: r for r in report["resources"]}
    assert by_name["transactions"]["rows_total"] == len(truth_ids(small_sim, "transactions"))
    assert by_name["transactions"]["rows_last_run"] == len(truth_ids(small_sim, "transactions"))
    assert by_name["transactions"]["cursor"] and by_name["transactions"]["last_success_at"]
    assert by_name["promocodes"]["rows_total"] is None  # none configured: nothing to be stale about
    assert report["runs"][0]["status"] == "complete" and report["runs"][0]["requests"] > 0

    # A monitor's check: fresh within a day, stale at zero.
    assert status(sync, "--max-age", "26h")[0] == 0
    code, out, _ = status(sync, "--max-age", "0s")
    assert code == 1 and "STALE" in out and "transactions" in out
    # Per-resource ages from configuration; the command line sets the default.
    code, out, _ = status(
        sync, "--json", env={"SOURCES__LIVELLO__MAX_AGE": '{"default": "26h", "alerts": "0s"}'}
    )
    assert code == 1 and json.loads(out)["stale"] == ["alerts"]


def test_a_resource_that_failed_shows_its_failure(
    sync: SyncRunner, warehouse: Warehouse, small_sim: SimulatorServer
) -> None:
    assert sync(small_sim, "--resources", "kiosks,refills")[0] == 0
    small_sim.set_faults(paths=("/refills",), omit_total=True)
    assert sync(small_sim, "--resources", "kiosks,refills")[0] == 1
    code, out, _ = status(sync, "--json")
    refills = next(r for r in json.loads(out)["resources"] if r["resource"] == "refills")
    assert "no valid total" in refills["last_failure"]
    assert refills["last_failure_at"] > refills["last_success_at"]
    code, out, _ = status(sync)
    assert "last run FAILED" in out


def test_status_never_creates_a_warehouse(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    missing = tmp_path / "never_synced.duckdb"
    monkeypatch.setenv("DESTINATION__DUCKDB__CREDENTIALS", str(missing))
    monkeypatch.setenv("SOURCES__LIVELLO__PIPELINES_DIR", str(tmp_path / "pipelines"))
    assert main(["status"]) == 1
    err = capsys.readouterr().err
    assert "no warehouse at" in err and "livello-sync run" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no file, no pipeline folder


def test_status_fails_when_the_warehouse_cannot_be_read(
    sync: SyncRunner, warehouse: Warehouse, small_sim: SimulatorServer
) -> None:
    assert sync(small_sim, "--resources", "kiosks")[0] == 0
    if warehouse.destination == "duckdb":
        # Another process holds the DuckDB file for writing (a BI tool, a notebook, a second run).
        with duckdb_held_by_another_process(warehouse.duckdb_path):
            code, out, err = status(sync)
        assert code == 1 and "cannot open" in err and str(warehouse.duckdb_path) in err, err
    else:
        # PostgreSQL down (a closed port on this machine), with a password that must not be printed.
        down = "postgresql://postgres:Hidden-pw@127.0.0.1:9/nothing"
        code, out, err = status(sync, env={"DESTINATION__POSTGRES__CREDENTIALS": down})
        assert code == 1 and "cannot connect to PostgreSQL at" in err and "127.0.0.1:9" in err, err
        assert "Hidden-pw" not in out + err
    assert "No warehouse data yet" not in out


def test_transform_and_reconcile_fail_naming_why_the_warehouse_cannot_be_opened(
    sync: SyncRunner, warehouse: Warehouse, small_sim: SimulatorServer
) -> None:
    assert sync(small_sim, "--resources", "kiosks")[0] == 0
    wh = sync.warehouse
    target = ["--destination", wh.destination, "--dataset", wh.dataset]
    reconcile = ["reconcile", *target, "--start", "2026-11-01", "--end", "2026-11-02"]

    def cli(*args: str) -> tuple[int, str]:
        sync.capsys.readouterr()
        code = main(list(args))
        captured = sync.capsys.readouterr()
        return code, captured.out + captured.err

    if warehouse.destination == "duckdb":
        with duckdb_held_by_another_process(warehouse.duckdb_path):
            results = [cli("transform", *target), cli(*reconcile)]
        for code, output in results:
            # DuckDB's own reason (the lock), not dlt's generic advice to check credentials or the internet
            assert code == 1 and "lock" in output.lower(), output
            assert "internet connection" not in output, output
    else:
        down = "postgresql://postgres:Hidden-pw@127.0.0.1:9/nothing"
        sync.monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS", down)
        for code, output in (cli("transform", *target), cli(*reconcile)):
            assert code == 1 and "127.0.0.1" in output and "Hidden-pw" not in output, output
