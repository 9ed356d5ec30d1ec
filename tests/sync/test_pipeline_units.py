"""Fast checks of the pieces the pipeline tests cannot pin down precisely: window splitting, the endpoint
table against the contract, pseudonymization and the configuration errors that exit with code 2."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from pipelines.settings import parse_duration, parse_since
from sources.livello.config import SettingError
from sources.livello.context import Window, split
from sources.livello.endpoints import BY_NAME, ENDPOINTS
from sources.livello.pseudonymize import Pseudonymizer
from sources.livello.readers import start_ranges
from sources.livello.rows import prepare

USER_PII = BY_NAME["users"].pii

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def test_resolved_alerts_are_asked_for_in_ranges_no_dearer_than_one_query_each() -> None:
    hours = [0, 1, 2, 100, 101, 300]
    starts = [T0 + timedelta(hours=h) for h in hours]
    # 10 alerts an hour: a page holds 10 hours, so the starts 100 hours apart are asked for apart.
    assert start_ranges(starts, 10.0) == [
        (starts[0], starts[2]),
        (starts[3], starts[4]),
        (starts[5], starts[5]),
    ]
    # Sparse alerts: one range costs no more than three queries would.
    assert start_ranges(starts, 0.5) == [(starts[0], starts[-1])]
    assert start_ranges(starts, None) == [(starts[0], starts[-1])]  # density unknown
    assert start_ranges([], 10.0) == []


def test_windows_cover_the_range_without_gaps_and_leave_the_newest_open() -> None:
    windows = split(T0, T0 + timedelta(hours=50), timedelta(hours=12))
    assert [w.start for w in windows] == [T0 + timedelta(hours=12 * i) for i in range(5)]
    assert all(a.end == b.start for a, b in zip(windows, windows[1:], strict=False))
    assert windows[-1].end is None
    assert split(T0, T0 + timedelta(hours=3), timedelta(hours=12)) == [Window(T0, None)]


def test_closed_windows_stop_one_millisecond_short_because_api_windows_are_inclusive() -> None:
    params = Window(T0, T0 + timedelta(days=1)).params("startDate", "endDate")
    assert params == {"startDate": "2026-03-01T00:00:00.000Z", "endDate": "2026-03-01T23:59:59.999Z"}
    assert Window(T0).params("startDate", "endDate") == {"startDate": "2026-03-01T00:00:00.000Z"}


def test_endpoint_table_matches_the_contract(openapi_spec: dict[str, Any]) -> None:
    paths = openapi_spec["paths"]
    for endpoint in ENDPOINTS:
        operation = paths[endpoint.path.replace("{serial_number}", "{serialNumber}")]["get"]
        assert operation["x-required-scope"] == endpoint.scope, endpoint.resource
        names = {p.get("name") for p in operation.get("parameters", []) if isinstance(p, dict)}
        if endpoint.paging in ("skip", "offset", "page"):
            assert endpoint.paging in names, endpoint.resource
        if endpoint.incremental is not None:
            assert {endpoint.incremental.start_param, endpoint.incremental.end_param} <= names, (
                endpoint.resource
            )


def test_pseudonymization_is_keyed_stable_and_leaves_other_fields() -> None:
    user = {
        "id": 7,
        "email": " Ann@Example.com",
        "firstName": "Ann",
        "lastName": "Lee",
        "mobile": None,
        "address": {"city": "Bern", "address": "Main St 1"},
        "status": "ACTIVE",
    }
    one, other = Pseudonymizer("key-1"), Pseudonymizer("key-2")
    a, b = one.pseudonymize(user, USER_PII), one.pseudonymize({**user, "email": "ann@example.com"}, USER_PII)
    assert a["email"] == b["email"] and len(a["email"]) == 32 and "ann" not in a["email"]
    assert other.pseudonymize(user, USER_PII)["email"] != a["email"]
    assert a["firstName"] != a["lastName"] and a["mobile"] is None
    assert a["address"]["city"] != "Bern" and a["status"] == "ACTIVE" and a["id"] == 7
    assert "key-1" not in repr(one)


def test_money_fields_become_decimals_even_when_the_api_sends_integers() -> None:
    endpoint = next(e for e in ENDPOINTS if e.resource == "transactions")
    row = prepare(
        endpoint, {"id": 1, "total": 2, "discountTotal": 0, "itemsPurchased": [{"price": 2, "quantity": 1}]}
    )
    assert (
        type(row["total"]).__name__ == "Decimal"
        and type(row["itemsPurchased"][0]["price"]).__name__ == "Decimal"
    )
    assert row["itemsPurchased"][0]["quantity"] == 1 and type(row["id"]) is int


def test_durations_and_dates_are_read_or_rejected_clearly() -> None:
    assert parse_duration("48h", what="x") == timedelta(hours=48)
    assert parse_duration("90m", what="x") == timedelta(minutes=90)
    assert parse_duration("2d", what="x") == timedelta(days=2)
    assert parse_since("2026-03-01") == T0
    with pytest.raises(SettingError):
        parse_duration("soon", what="--lookback")
    with pytest.raises(SettingError):
        parse_since("yesterday")


def test_cli_exits_2_on_bad_usage_and_missing_configuration(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from pipelines.cli import main

    monkeypatch.chdir(tmp_path)
    for key in (
        "SOURCES__LIVELLO__BASE_URL",
        "SOURCES__LIVELLO__CLIENT_ID",
        "SOURCES__LIVELLO__CLIENT_SECRET",
    ):
        monkeypatch.delenv(key, raising=False)
    assert main(["run", "--no-transform"]) == 2
    assert "SOURCES__LIVELLO__CLIENT_ID" in capsys.readouterr().err
    assert main(["run", "--destination", "oracle"]) == 2
    monkeypatch.setenv("SOURCES__LIVELLO__BASE_URL", "http://127.0.0.1:9/api/v1")
    monkeypatch.setenv("SOURCES__LIVELLO__CLIENT_ID", "x")
    monkeypatch.setenv("SOURCES__LIVELLO__CLIENT_SECRET", "y")
    assert main(["run", "--resources", "transactions,nonsense"]) == 2
    assert main(["run", "--resources", "transactions", "--since", "someday"]) == 2
    monkeypatch.setenv("DESTINATION__DUCKDB__CREDENTIALS", str(tmp_path / "livello.duckdb"))
    assert main(["run", "--resources", "transactions"]) == 2  # file name equal to the dataset name
    assert "must differ from the dataset name" in capsys.readouterr().err


def test_each_warehouse_location_has_its_own_pipeline_state(tmp_path) -> None:
    from pipelines.settings import Warehouse

    def name(**where: str) -> str:
        return Warehouse(dataset="livello", **where).pipeline_name

    first, second = str(tmp_path / "a.duckdb"), str(tmp_path / "b.duckdb")
    assert name(duckdb_path=first) == name(duckdb_path=first)
    # a fresh DuckDB file must not resume from another file's cursor kept in ~/.dlt
    assert name(duckdb_path=first) != name(duckdb_path=second)
    pg = name(destination="postgres", postgres_credentials="postgresql://loader:s3cret@db:5432/warehouse")
    assert pg != name(destination="postgres", postgres_credentials="postgresql://loader:s3cret@db:5432/other")
    assert pg == name(
        destination="postgres", postgres_credentials="postgresql://loader:rotated@db:5432/warehouse"
    )
    assert "s3cret" not in pg
