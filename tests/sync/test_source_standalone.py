"""The source on its own, as a dlt user runs it: `livello_source()` with no arguments, configured by dlt's
providers, in a plain `dlt.pipeline`, without livello-sync's planner or run bookkeeping."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import dlt
import pytest

from simulator.server import SimulatorServer
from sources.livello import livello_source
from tests.conftest import without_configuration
from tests.sync.conftest import SMALL, truth_ids


@pytest.fixture
def configured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, simulator_factory: Callable[..., SimulatorServer]
) -> SimulatorServer:
    """A simulator, and the environment an operator would set for it (no .dlt folder of the repository)."""
    sim = simulator_factory(**SMALL)
    without_configuration(monkeypatch, tmp_path)
    client_id, client_secret = sim.demo_credentials
    monkeypatch.setenv("SOURCES__LIVELLO__BASE_URL", sim.base_url)
    monkeypatch.setenv("SOURCES__LIVELLO__CLIENT_ID", client_id)
    monkeypatch.setenv("SOURCES__LIVELLO__CLIENT_SECRET", client_secret)
    return sim


def plain_pipeline(tmp_path: Path) -> dlt.Pipeline:
    return dlt.pipeline(
        pipeline_name="my_livello",
        destination=dlt.destinations.duckdb(str(tmp_path / "mine.duckdb")),
        pipelines_dir=str(tmp_path / "dlt"),
    )


def ids(pipeline: dlt.Pipeline, table: str, column: str = "id", where: str = "true") -> list[object]:
    with pipeline.sql_client() as client:
        return sorted(r[0] for r in client.execute_sql(f"select {column} from {table} where {where}"))


def test_livello_source_without_arguments_loads_the_selected_resources(
    configured: SimulatorServer, tmp_path: Path
) -> None:
    pipeline = plain_pipeline(tmp_path)
    configured.reset_request_counts()
    pipeline.run(livello_source().with_resources("kiosks", "products"))
    assert ids(pipeline, "kiosks", "serial_number") == truth_ids(configured, "kiosks", "serial_number")
    assert ids(pipeline, "products", where="_dlt_valid_to is null") == truth_ids(
        configured, "products", where="not deleted"
    )
    # Only what was selected was read: no other endpoint was asked, no other table created.
    asked = {path.removeprefix("/api/v1") for path in configured.request_count}
    assert asked == {"/auth/token", "/kiosks", "/products"}
    assert {t.split("__")[0] for t in pipeline.default_schema.data_table_names()} == {"kiosks", "products"}


def test_incremental_resources_continue_from_their_cursor(
    configured: SimulatorServer, tmp_path: Path
) -> None:
    sim = configured
    pipeline = plain_pipeline(tmp_path)
    pipeline.run(livello_source().with_resources("transactions", "refills"))
    assert ids(pipeline, "transactions") == truth_ids(sim, "transactions")
    assert ids(pipeline, "refills") == truth_ids(sim, "refills")

    # The next run reads from the cursor minus the lookback, not the whole history, and duplicates nothing.
    known = set(ids(pipeline, "transactions"))
    sim.advance(hours=24)
    sim.reset_request_counts()
    pipeline.run(livello_source().with_resources("transactions"))
    new = set(truth_ids(sim, "transactions")) - known
    assert new and ids(pipeline, "transactions") == truth_ids(sim, "transactions")
    full_history_pages = -(-len(truth_ids(sim, "transactions")) // 100)
    assert sim.requests_to("/transactions") < full_history_pages
