"""`livello-sync check` against the simulator: exit 0 with scopes, skipped resources, budget and backfill
estimate; 2 for bad configuration or credentials; 1 when the API or the warehouse cannot be reached; and in
every case nothing written (no file, table, schema or pipeline folder)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from simulator.auth import LIMITED_CLIENT_ID, LIMITED_CLIENT_SECRET
from simulator.server import SimulatorServer
from tests.cli.conftest import Result, closed_port, init_args, tree
from tests.sync.conftest import duckdb_held_by_another_process

LIMITED = (LIMITED_CLIENT_ID, LIMITED_CLIENT_SECRET)


def set_up(
    cli: Callable[..., Result],
    monkeypatch: pytest.MonkeyPatch,
    sim: SimulatorServer,
    client: tuple[str, str] | None = None,
    *extra: str,
) -> None:
    monkeypatch.setenv("LIVELLO_TEST_SECRET", (client or sim.demo_credentials)[1])
    result = cli(*init_args(sim, client, *extra))
    assert result.code == 0, result.text


def line(result: Result, name: str) -> str:
    """The output line of one check (`  <status> <name> <message>`)."""
    found = [text for text in result.out.splitlines() if text[10:].startswith(f"{name} ")]
    assert len(found) == 1, result.out
    return found[0]


def test_the_limited_client_passes_with_its_scopes_and_skipped_resources(
    project: Path, simulator: SimulatorServer, cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch
) -> None:
    set_up(cli, monkeypatch, simulator, LIMITED)
    before = tree(project.parent)
    simulator.reset_request_counts()
    result = cli("check")
    assert result.code == 0, result.text
    assert tree(project.parent) == before  # no DuckDB file, no pipeline folder, nothing else
    assert line(result, "credentials").startswith("  ok ") and LIMITED_CLIENT_ID in result.out
    assert "users:read          NOT granted: skips users" in result.out
    assert "reports:read        NOT granted: skips temperature" in result.out
    assert "transactions:read   transactions" in result.out
    assert line(result, "users").startswith("  skip") and "users:read not granted" in line(result, "users")
    assert "reports:read" in line(result, "temperature")
    assert "nothing configured" in line(result, "promocodes")
    budget = line(result, "rate limit")
    assert "of 1,000 requests left" in budget and "at most 800 per hour" in budget
    backfill = line(result, "first backfill")
    assert backfill.startswith("  ok ") and "transactions" in backfill and "3 kiosks" in backfill
    assert "does not exist yet: the first run creates it" in line(result, "warehouse")
    assert result.out.rstrip().endswith("Next: livello-sync run")
    # A handful of limit=1 probes, nothing read in full, only paths the limited client may read.
    asked = {path: count for path, count in simulator.request_count.items() if "/auth/" not in path}
    assert sum(asked.values()) <= 8 and not any("/users" in p or "/analytics" in p for p in asked), asked

    document = json.loads(cli("check", "--json").out)
    assert document["exit_code"] == 0 and "users:read" not in document["scopes_granted"]
    skipped = {r["resource"]: r["reason"] for r in document["resources"] if not r["syncs"]}
    assert set(skipped) == {"users", "temperature", "promocodes"}
    assert document["backfill"]["requests"] > document["backfill"]["rows"]["transactions"] / 100
    assert document["rate_limit"]["allowed_per_window"] == 800


def test_an_existing_duckdb_file_is_opened_for_writing_and_left_unchanged(
    project: Path, simulator: SimulatorServer, cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch
) -> None:
    import duckdb

    set_up(cli, monkeypatch, simulator)
    warehouse = project / "livello_sync.duckdb"
    with duckdb.connect(str(warehouse)) as connection:
        connection.execute("create schema livello; create table livello.kiosks (serial_number text)")
    before = tree(project.parent)
    result = cli("check")
    assert result.code == 0, result.text
    assert "opens for writing (1 table(s) in schema livello" in line(result, "warehouse")
    assert tree(project.parent) == before  # same bytes, no .wal, nothing new

    with duckdb_held_by_another_process(warehouse):
        held = cli("check")
    assert held.code == 1 and "held open by another process" in line(held, "warehouse")
    assert line(held, "credentials").startswith("  ok ")  # the other checks still ran


def test_bad_credentials_exit_2(
    project: Path, simulator: SimulatorServer, cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch
) -> None:
    set_up(cli, monkeypatch, simulator, (LIMITED_CLIENT_ID, "sk_live_wrong"))
    before = tree(project.parent)
    result = cli("check")
    assert result.code == 2, result.text
    assert line(result, "credentials").startswith("  FAILED") and "rejected the credentials" in result.out
    assert "sk_live_wrong" not in result.text
    assert line(result, "scopes").startswith("  not run")
    assert tree(project.parent) == before


def test_configuration_errors_exit_2_in_one_line(
    project: Path, cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch
) -> None:
    result = cli("check")  # nothing configured
    assert result.code == 2 and result.out == ""
    assert len(result.err.strip().splitlines()) == 1 and "SOURCES__LIVELLO__CLIENT_ID" in result.err
    document = json.loads(cli("check", "--json").out)
    assert document["exit_code"] == 2 and document["lines"][0]["status"] == "FAILED"


def test_a_missing_pseudonymization_key_fails_but_the_other_checks_run(
    project: Path, simulator: SimulatorServer, cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch
) -> None:
    set_up(cli, monkeypatch, simulator)
    secrets_file = project / ".dlt" / "secrets.toml"
    kept = [text for text in secrets_file.read_text().splitlines() if not text.startswith("pseudonymization")]
    secrets_file.write_text("\n".join(kept))
    result = cli("check")
    assert result.code == 2, result.text
    assert line(result, "pseudonymization").startswith("  FAILED") and "init --force" in result.out
    assert "no pseudonymization key" in line(result, "users")
    assert line(result, "credentials").startswith("  ok ") and line(result, "warehouse").startswith("  ok ")
    assert cli("check", "--resources", "kiosks,transactions").code == 0  # users left out: fine


def test_an_unreachable_api_exits_1_quickly(
    project: Path, simulator: SimulatorServer, cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    set_up(cli, monkeypatch, simulator)
    monkeypatch.setenv("SOURCES__LIVELLO__BASE_URL", f"http://127.0.0.1:{closed_port()}/api/v1")
    started = time.monotonic()
    result = cli("check")
    assert result.code == 1, result.text
    assert time.monotonic() - started < 10
    assert "cannot connect to 127.0.0.1" in line(result, "credentials")
    assert line(result, "warehouse").startswith("  ok ")


@pytest.mark.postgres
def test_postgres_reachable_writable_and_unchanged(
    project: Path,
    simulator: SimulatorServer,
    cli: Callable[..., Result],
    monkeypatch: pytest.MonkeyPatch,
    postgres_dsn: str,
) -> None:
    import psycopg2

    set_up(cli, monkeypatch, simulator, None, "--postgres-dsn", postgres_dsn, "--dataset", "lv_check")

    def schemas() -> set[str]:
        with psycopg2.connect(postgres_dsn) as connection, connection.cursor() as cursor:
            cursor.execute("select nspname from pg_namespace")
            names = {row[0] for row in cursor.fetchall()}
        connection.close()
        return names

    before = schemas(), tree(project.parent)
    result = cli("check", "--destination", "postgres", "--dataset", "lv_check")
    assert result.code == 0, result.text
    assert "may create in schemas lv_check and lv_check_marts" in line(result, "warehouse")
    assert (schemas(), tree(project.parent)) == before

    # A role that may connect but not create schemas: configuration (exit 2), with the GRANT to run.
    role = "livello_check_reader"
    with psycopg2.connect(postgres_dsn) as connection, connection.cursor() as cursor:
        connection.autocommit = True
        cursor.execute(f"DROP ROLE IF EXISTS {role}; CREATE ROLE {role} LOGIN")
    connection.close()
    try:
        reader_dsn = postgres_dsn.replace("postgres@", f"{role}@")
        monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS", reader_dsn)
        refused = cli("check", "--destination", "postgres", "--dataset", "lv_check")
        assert refused.code == 2, refused.text
        assert "GRANT CREATE ON DATABASE" in line(refused, "warehouse")
    finally:
        with psycopg2.connect(postgres_dsn) as connection, connection.cursor() as cursor:
            connection.autocommit = True
            cursor.execute(f"DROP ROLE IF EXISTS {role}")
        connection.close()

    monkeypatch.setenv(
        "DESTINATION__POSTGRES__CREDENTIALS", f"postgresql://postgres:pw@127.0.0.1:{closed_port()}/x"
    )
    down = cli("check", "--destination", "postgres", "--dataset", "lv_check")
    assert down.code == 1 and "cannot reach PostgreSQL" in line(down, "warehouse")
    assert ":pw@" not in down.text


def test_a_backfill_longer_than_a_night_says_over_how_many_nights(
    project: Path,
    simulator_factory: Callable[..., SimulatorServer],
    cli: Callable[..., Result],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sim = simulator_factory(days=60, rate_limit_per_hour=30)  # a sync may use 24 requests an hour
    set_up(cli, monkeypatch, sim)
    result = cli("check")
    assert result.code == 0, result.text
    assert "of 30 requests left" in line(result, "rate limit")
    backfill = line(result, "first backfill")
    assert "at the allowed 24 requests/hour" in backfill and " h at the allowed" in backfill
    assert "a nightly run resumes it over ~" in backfill, backfill
