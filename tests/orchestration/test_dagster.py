"""The Dagster code location (orchestration/dagster_defs.py), materialized in-process with
`dagster.materialize` against a simulator over real HTTP into a DuckDB file. Skipped without the `dagster`
extra; `.ci/run` installs it.

Truth comes from the simulator's own store, never from the pipeline's output."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from simulator.server import SimulatorServer
from tests.conftest import without_configuration
from tests.sync.conftest import SMALL, SyncRunner, Warehouse, truth_ids, truth_scalar

dagster = pytest.importorskip("dagster")
dagster_defs = pytest.importorskip("orchestration.dagster_defs")

REPO_ROOT = Path(__file__).resolve().parents[2]
# The vendor's limit (SMALL turns it off): the run then reports the budget it left, as in production.
WORLD = {**SMALL, "rate_limit_per_hour": 1000}

Configure = Callable[..., Warehouse]


@pytest.fixture
def configure(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Configure:
    """`configure(sim, client=None)`: the environment of a run against `sim` (as `SyncRunner.env`: what an
    operator puts in the environment file), a DuckDB file in tmp_path, no .dlt/ of the repository."""
    from pipelines.settings import use_project

    original = Path.cwd()
    # The assets point dlt at tmp_path's (empty) .dlt/; later tests get the configuration they started with.
    request.addfinalizer(lambda: use_project(original))
    without_configuration(monkeypatch, tmp_path, dagster_defs.PROJECT_DIR_ENV)
    path = tmp_path / "warehouse.duckdb"
    warehouse = Warehouse("duckdb", "livello", {"DESTINATION__DUCKDB__CREDENTIALS": str(path)}, path)

    def apply(sim: SimulatorServer, client: tuple[str, str] | None = None) -> Warehouse:
        # No capsys: dlt's logger, set up on the first run of the process, keeps the sys.stderr it found,
        # and capsys's stream is closed after the test (later tests' dlt logging would fail).
        runner = SyncRunner(warehouse, tmp_path, monkeypatch, capsys=None)  # type: ignore[arg-type]
        for key, value in runner.env(sim, client).items():
            monkeypatch.setenv(key, value)
        return warehouse

    return apply


def materialize(tmp_path: Path, **resource: Any) -> Any:
    return dagster.materialize(
        [dagster_defs.livello_raw, dagster_defs.livello_marts],
        resources={"livello": dagster_defs.LivelloSyncResource(project_dir=str(tmp_path), **resource)},
        raise_on_error=False,
    )


def metadata_of(result: Any, key: Any) -> dict[str, Any]:
    events = [e for e in result.get_asset_materialization_events() if e.asset_key == key]
    assert len(events) == 1, [e.asset_key for e in result.get_asset_materialization_events()]
    return {name: value.value for name, value in events[0].materialization.metadata.items()}


def failure_message(result: Any) -> str:
    failures = result.get_step_failure_events()
    assert failures, "a step should have failed"
    return "\n".join(str(f.step_failure_data.error.message) for f in failures)


def test_materialize_syncs_the_simulator_and_builds_the_marts(
    simulator_factory: Callable[..., SimulatorServer], configure: Configure, tmp_path: Path
) -> None:
    sim = simulator_factory(**WORLD)
    wh = configure(sim)

    result = materialize(tmp_path)
    assert result.success, failure_message(result)

    # The raw tables equal the simulator's truth.
    assert wh.ids("kiosks", "serial_number") == truth_ids(sim, "kiosks", "serial_number")
    assert wh.ids("transactions") == truth_ids(sim, "transactions")
    assert wh.ids("refills") == truth_ids(sim, "refills")
    assert wh.scalar("select count(*) from sync_runs where status = 'complete'") == 1

    # The sync's metadata: rows per table, requests, budget left in the vendor's window.
    raw = metadata_of(result, dagster_defs.RAW_KEY)
    assert raw["status"] == "complete" and raw["exit_code"] == 0
    rows = raw["rows_per_table"]
    assert rows["transactions"] == truth_scalar(sim, "select count(*) from transactions")
    assert rows["kiosks"] == len(truth_ids(sim, "kiosks", "serial_number"))
    assert raw["rows_loaded"] == sum(rows.values())
    api_requests = sum(n for path, n in sim.request_count.items() if path != "/api/v1/auth/token")
    assert 0 < raw["requests"] <= api_requests
    assert raw["budget_limit"] == 1000
    assert 0 <= raw["budget_remaining"] <= 1000 - raw["requests"]
    assert "Run complete" in raw["summary"]

    # The marts were built from it and report their row counts.
    sales = metadata_of(result, dagster_defs.mart_key("fct_sales"))
    assert sales["dagster/row_count"] == wh.scalar("select count(*) from fct_sales") > 0
    assert sales["data_tests"].split(" of ")[0] == sales["data_tests"].split(" of ")[1].split()[0]
    assert wh.scalar("select count(*) from dim_kiosk") == len(truth_ids(sim, "kiosks", "serial_number"))

    # No secret in Dagster's run record or event log (they are stored and shown in the UI).
    run_record = str(result.dagster_run.run_config)
    events = " ".join(str(e.message) for e in result.all_events)
    for secret in (sim.demo_credentials[1], os.environ["SOURCES__LIVELLO__PSEUDONYMIZATION_KEY"]):
        assert secret not in run_record and secret not in events


def test_a_failed_run_fails_the_asset_with_the_runs_own_message(
    simulator_factory: Callable[..., SimulatorServer],
    configure: Configure,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sim = simulator_factory(**SMALL)
    wh = configure(sim, client=("lv_m2m_demo", "wrong-secret"))

    result = materialize(tmp_path)
    assert not result.success
    message = failure_message(result)
    assert "exited 2" in message and "SOURCES__LIVELLO__CLIENT_ID" in message, message
    assert "wrong-secret" not in message
    assert not result.get_asset_materialization_events()  # the marts were not rebuilt either
    assert sim.requests_to("/transactions") == 0
    assert not wh.duckdb_path or not wh.duckdb_path.exists() or not wh.tables()

    # A configuration problem (no pseudonymization key) is exit 2 too, before any request.
    monkeypatch.delenv("SOURCES__LIVELLO__PSEUDONYMIZATION_KEY")
    result = materialize(tmp_path)
    assert not result.success
    assert "exited 2" in failure_message(result) and "PSEUDONYMIZATION_KEY" in failure_message(result)


def test_a_second_sync_with_the_same_api_client_does_not_start(
    simulator_factory: Callable[..., SimulatorServer], configure: Configure, tmp_path: Path
) -> None:
    """Layer 3 of the shared budget: another sync holding the API client's lock (here: this test, as a run
    on another warehouse would) stops this one before its first request."""
    import contextlib

    from pipelines.lock import pipeline_lock

    sim = simulator_factory(**SMALL)
    configure(sim)
    settings = dagster_defs.LivelloSyncResource(project_dir=str(tmp_path)).sync_settings()
    lock_dir = Path(str(settings.pipeline.pipelines_dir))
    with contextlib.ExitStack() as stack:
        dagster_defs._hold_api_client(stack, settings)  # what the other run's op holds
        held = [p.name for p in lock_dir.glob("livello_api_client_*.lock")]
        result = materialize(tmp_path)
    assert held, "the lock lives in the pipelines dir"
    assert not result.success
    assert "same API client" in failure_message(result) and dagster_defs.POOL in failure_message(result)
    assert sum(sim.request_count.values()) == 0
    # Released: the next sync takes it (and a different client would not have waited at all).
    with pipeline_lock(lock_dir, held[0].removesuffix(".lock")):
        pass


def test_the_code_location_has_a_nightly_schedule_and_one_api_pool() -> None:
    defs = dagster_defs.defs
    dagster.Definitions.validate_loadable(defs)
    schedule = defs.resolve_schedule_def("livello_nightly_schedule")
    minute, hour, *rest = schedule.cron_schedule.split()
    assert (minute, hour, rest) == ("30", "2", ["*", "*", "*"])  # once a day, 02:30
    assert schedule.execution_timezone == "UTC"

    context = dagster.build_schedule_context(scheduled_execution_time=datetime(2026, 3, 2, 2, 30, tzinfo=UTC))
    requests = schedule.evaluate_tick(context).run_requests or []
    assert len(requests) == 1
    job = defs.resolve_job_def(schedule.job_name)
    assert job.tags["dagster/max_runtime"] == str(4 * 3600)  # as TimeoutStartSec=4h of the systemd unit
    # ... and the run stops itself cleanly before that, as with --max-duration 3h30m in the unit.
    assert defs.resources["livello"].max_duration == "3h30m"
    keys = {key.to_user_string() for key in job.asset_layer.executable_asset_keys}
    assert {"livello/raw", "livello/fct_sales", "livello/dim_date"} <= keys
    # The marts depend on the sync: one run loads, then builds.
    graph = defs.resolve_asset_graph()
    assert dagster_defs.RAW_KEY in graph.get(dagster_defs.mart_key("fct_sales")).parent_keys
    # Both ops share one pool; the shipped instance config gives it one slot.
    assert dagster_defs.livello_raw.op.pool == dagster_defs.livello_marts.op.pool == dagster_defs.POOL


def test_the_shipped_instance_config_gives_the_pool_one_slot(tmp_path: Path) -> None:
    shutil.copy(REPO_ROOT / "deploy" / "dagster" / "dagster.yaml", tmp_path / "dagster.yaml")
    # Loading checks the file against Dagster's instance schema.
    instance = dagster.DagsterInstance.from_config(str(tmp_path))
    try:
        assert instance.get_concurrency_config().pool_config.default_pool_limit == 1
        assert instance.run_monitoring_enabled  # enforces the job's dagster/max_runtime
    finally:
        instance.dispose()
