"""`livello-sync reconcile` after a real sync from the simulator, over HTTP, on DuckDB and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pipelines.cli import main
from simulator.server import SimulatorServer
from tests.transforms.conftest import ENGINES, postgres_credentials

# Everything the marts read; users and temperature add API calls but nothing reconcile compares.
RESOURCES = ",".join(
    [
        "organizations",
        "vat_rates",
        "organization_product_lines",
        "kiosks",
        "kiosk_details",
        "kiosk_inventory",
        "products",
        "transactions",
        "refills",
        "alerts",
        "alert_types",
    ]
)
# The root simulator fixture's clock is 2026-03-02 12:00 UTC with 5 days of history: whole local days.
WINDOW = ["--start", "2026-02-26", "--end", "2026-03-01"]


@pytest.fixture(scope="module", params=ENGINES)
def synced(
    request: pytest.FixtureRequest, simulator: SimulatorServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[str]]:
    """A clean `livello-sync run` of the simulator; yields the destination options for further commands."""
    engine = request.param
    base = tmp_path_factory.mktemp(f"reconcile_{engine}")
    client_id, client_secret = simulator.demo_credentials
    dataset = "livello"
    with pytest.MonkeyPatch.context() as env:
        env.setenv("SOURCES__LIVELLO__BASE_URL", simulator.base_url)
        env.setenv("SOURCES__LIVELLO__CLIENT_ID", client_id)
        env.setenv("SOURCES__LIVELLO__CLIENT_SECRET", client_secret)
        env.setenv("SOURCES__LIVELLO__PIPELINES_DIR", str(base / "pipelines"))
        env.setenv("DESTINATION__DUCKDB__CREDENTIALS", str(base / "warehouse.duckdb"))
        if engine == "postgres":
            env.setenv("DESTINATION__POSTGRES__CREDENTIALS", postgres_credentials(request))
        options = ["--destination", engine, "--dataset", dataset]
        assert main(["run", "--quiet", "--resources", RESOURCES, *options]) == 0
        yield options


def _raw_sql(options: list[str], sql: str) -> None:
    from pipelines.destination import open_pipeline

    pipeline = open_pipeline(options[1], options[3])
    with pipeline.sql_client() as client:
        client.execute_sql(sql)


def test_reconcile_passes_after_a_clean_sync_per_group_and_per_kiosk(
    synced: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["reconcile", *WINDOW, *synced]) == 0
    out = capsys.readouterr().out
    assert "0 differ by more than 0.01" in out
    # one scope per currency and time zone: EUR and CHF organizations are both reconciled, never summed
    assert "EUR Europe/Berlin" in out and "CHF Europe/Zurich" in out
    assert "kpis.totalGrossIncome" in out and "refills.averageSpoilageRate" in out
    assert main(["reconcile", *WINDOW, "--per-kiosk", *synced]) == 0


def test_reconcile_fails_after_one_sales_line_is_tampered_with(
    synced: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    # A consistent tamper (line and its transaction both +1.00) passes the data tests; only the API can tell.
    _raw_sql(
        synced,
        """
        UPDATE transactions__items_purchased SET total = total + 1
        WHERE _dlt_id = (
            SELECT min(i._dlt_id) FROM transactions__items_purchased AS i
            JOIN transactions AS t ON i._dlt_parent_id = t._dlt_id
            WHERE t.kiosk__serial_number = 'LIV-0001' AND t.payment_method__is_paid
                AND t.session__details__ended_with_purchase
                AND t.created BETWEEN '2026-02-27T00:00:00Z' AND '2026-02-28T00:00:00Z'
        )
        """,
    )
    _raw_sql(
        synced,
        """
        UPDATE transactions SET total = total + 1
        WHERE _dlt_id = (
            SELECT i._dlt_parent_id FROM transactions__items_purchased AS i
            WHERE i._dlt_id = (
                SELECT min(i2._dlt_id) FROM transactions__items_purchased AS i2
                JOIN transactions AS t ON i2._dlt_parent_id = t._dlt_id
                WHERE t.kiosk__serial_number = 'LIV-0001' AND t.payment_method__is_paid
                    AND t.session__details__ended_with_purchase
                    AND t.created BETWEEN '2026-02-27T00:00:00Z' AND '2026-02-28T00:00:00Z'
            )
        )
        """,
    )
    # edited in place, not by a dlt load: only a full rebuild reads the rows again
    assert main(["transform", *synced, "--full-refresh"]) == 0
    capsys.readouterr()

    assert main(["reconcile", *WINDOW, *synced]) == 1
    out = capsys.readouterr().out
    differing = [line for line in out.splitlines() if line.endswith("<-- differs")]
    assert any(line.startswith("kpis.totalGrossIncome") and "LIV-0001" in line for line in differing)
    assert any(line.startswith("daily-profit[2026-02-27].total_sales") for line in differing)
    assert all("LIV-0001" in line for line in differing), "only the tampered kiosk's scope may differ"


def test_reconcile_rejects_bad_dates_with_usage_error(synced: list[str]) -> None:
    assert main(["reconcile", "--start", "2026-03-01", "--end", "yesterday", *synced]) == 2
