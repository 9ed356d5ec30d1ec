"""`livello-sync resources`: every resource with its tables, keys, cursor and scopes, offline; with
--check-access also what this client's token may read."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from simulator.auth import LIMITED_CLIENT_ID, LIMITED_CLIENT_SECRET
from simulator.server import SimulatorServer
from sources.livello.endpoints import ENDPOINTS, RESOURCE_NAMES
from tests.cli.conftest import Result, closed_port, tree


def test_offline_it_lists_all_14_resources_without_any_setting(
    project: Path, cli: Callable[..., Result]
) -> None:
    before = tree(project.parent)
    result = cli("resources")
    assert result.code == 0, result.text
    rows = {text.split()[0] for text in result.out.splitlines()[2:] if text and not text.startswith(" ")}
    assert set(RESOURCE_NAMES) <= rows and len(RESOURCE_NAMES) == 14
    assert "transactions__items_purchased" in result.out and "users__roles_in_organizations" in result.out
    assert "access" not in result.out.splitlines()[0]
    assert tree(project.parent) == before

    document = json.loads(cli("resources", "--json").out)
    by_name = {r["resource"]: r for r in document["resources"]}
    assert list(by_name) == list(RESOURCE_NAMES)
    transactions = by_name["transactions"]
    assert transactions["tables"] == ["transactions", "transactions__items_purchased"]
    assert transactions["primary_key"] == ["id"] and transactions["cursor"] == "created"
    assert transactions["write_disposition"] == "merge" and transactions["paging"] == "skip"
    assert by_name["products"]["write_disposition"] == "scd2"
    assert by_name["alerts"]["cursor_column"] == "start_date" and by_name["alerts"]["each_run"]
    assert by_name["temperature"]["scopes"] == ["reports:read", "kiosks:read"]
    assert by_name["temperature"]["fan_out"] == "kiosks.serialNumber"
    assert by_name["promocodes"]["configured_by"] == "promocodes"
    assert by_name["users"]["pii"] == ["email", "first_name", "last_name", "mobile", "address"]
    for endpoint in ENDPOINTS:
        assert by_name[endpoint.resource]["scopes"] == list(endpoint.scopes)
        assert by_name[endpoint.resource]["access"] is None


def test_check_access_says_what_the_limited_client_may_read(
    project: Path, simulator: SimulatorServer, cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in {
        "SOURCES__LIVELLO__BASE_URL": simulator.base_url,
        "SOURCES__LIVELLO__CLIENT_ID": LIMITED_CLIENT_ID,
        "SOURCES__LIVELLO__CLIENT_SECRET": LIMITED_CLIENT_SECRET,
    }.items():
        monkeypatch.setenv(key, value)
    result = cli("resources", "--check-access")
    assert result.code == 0, result.text
    assert "access" in result.out.splitlines()[0]
    assert f"client {LIMITED_CLIENT_ID} may read 12 of 14 resources" in result.out
    document = json.loads(cli("resources", "--check-access", "--json").out)
    denied = {r["resource"]: r["missing_scopes"] for r in document["resources"] if not r["access"]}
    assert denied == {"users": ["users:read"], "temperature": ["reports:read"]}

    monkeypatch.setenv("SOURCES__LIVELLO__CLIENT_SECRET", "sk_live_wrong")
    assert cli("resources", "--check-access").code == 2
    assert cli("resources").code == 0  # offline needs no credentials
    monkeypatch.setenv("SOURCES__LIVELLO__BASE_URL", f"http://127.0.0.1:{closed_port()}/api/v1")
    assert cli("resources", "--check-access").code == 1
