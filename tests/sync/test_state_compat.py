"""A pipeline state written by an earlier release keeps working: the next run resumes where that release
stopped, and nothing is read twice or lost.

`fixtures/state_0_1_0_paused.json` is the resource state livello-sync 0.1.0 wrote when a backfill was paused
after 3 of 14 loads (the file says how it was made). The test plants it in a fresh pipeline and runs
the current code against the very simulator world it was written for."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dlt

from simulator.server import SimulatorServer
from tests.sync.conftest import SyncRunner, Warehouse, truth_ids

FIXTURE = Path(__file__).parent / "fixtures" / "state_0_1_0_paused.json"
# The world the fixture was written against (see its _comment).
FIXTURE_WORLD: dict[str, Any] = {
    "seed": 7,
    "kiosks": 3,
    "days": 5,
    "now": datetime(2026, 3, 2, 12, 0, tzinfo=UTC),
    "rate_limit_per_hour": 0,
}
ENV = {"SOURCES__LIVELLO__BACKFILL_WINDOW_ROWS": "100"}


def plant_state(pipelines_dir: Path, resources: dict[str, Any]) -> None:
    """Replace the resource state of the only pipeline in `pipelines_dir` with `resources`."""
    (name,) = [p.name for p in pipelines_dir.iterdir() if p.is_dir() and not p.name.endswith("_runs")]
    pipeline = dlt.attach(pipeline_name=name, pipelines_dir=str(pipelines_dir))
    with pipeline.managed_state() as state:
        state.setdefault("sources", {}).setdefault("livello", {})["resources"] = resources


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_a_run_resumes_from_the_state_release_0_1_0_wrote(
    sync: SyncRunner, warehouse: Warehouse, simulator_factory: Callable[..., SimulatorServer]
) -> None:
    sim = simulator_factory(**FIXTURE_WORLD)
    old = json.loads(FIXTURE.read_text(encoding="utf-8"))["resources"]
    code, output = sync(sim, "--resources", "kiosks", env=ENV)  # creates the pipeline the state belongs to
    assert code == 0, output
    plant_state(sync.workdir / "pipelines", old)

    code, output = sync(sim, "--resources", "kiosks,transactions,refills,alerts", env=ENV)
    assert code == 0, output
    assert "resume" in output
    # Transactions: the backfill resumed at the first window 0.1.0 had not finished; earlier ones not re-read.
    resume_at = utc(old["transactions"]["backfill"]["next"])
    assert warehouse.ids("transactions") == truth_ids(
        sim, "transactions", where=f"created >= timestamptz '{resume_at.isoformat()}'"
    )
    # Refills: incremental from 0.1.0's cursor minus the 48 h lookback (the warehouse held none of them).
    since = utc(old["refills"]["cursor"]) - timedelta(hours=48)
    assert warehouse.ids("refills") == truth_ids(
        sim, "refills", where=f"created >= timestamptz '{since.isoformat()}'"
    )
    # Alerts: the alert 0.1.0 tracked as open is re-read, whatever its start date.
    assert set(old["alerts"]["open"]) <= {str(i) for i in warehouse.ids("alerts")}

    # The run after that continues from the state the current release wrote: nothing new, nothing twice.
    before = {t: warehouse.ids(t) for t in ("transactions", "refills", "alerts")}
    code, output = sync(sim, "--resources", "kiosks,transactions,refills,alerts", env=ENV)
    assert code == 0, output
    assert {t: warehouse.ids(t) for t in before} == before
    for table in before:
        assert warehouse.duplicate_keys(table, "id") == 0, table
