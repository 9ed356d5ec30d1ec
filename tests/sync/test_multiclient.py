"""Several API clients syncing one warehouse: configuration, the fleet split, concurrent reading on separate
budgets, state per client, a failing client, status per client, and the simulator's per-client windows.

The runs are real: `livello-sync run` against the simulator over HTTP on 127.0.0.1 into DuckDB (and
PostgreSQL for the main run). The simulator's 6-kiosk world has the organizations 1 (platform) > 2
(Frischeküche) > 5, 6 and 1 > 3 (Zürcher Genuss) > 7 and 1 > 4; its kiosks belong to 5, 3, 4, 6, 7 and 2."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from pipelines.fleet import split_fleet
from simulator.server import SimulatorServer
from sources.livello.config import ApiClient, ClientSettings, SettingError, parse_clients, resolve
from sources.livello.redaction import SECRETS, install_redaction
from tests.conftest import fetch_token
from tests.sync.conftest import SMALL, SyncRunner, Warehouse, truth_ids
from tests.sync.test_pipeline import assert_equals_truth

SIX = {**SMALL, "kiosks": 6}
FLEET_PATHS = ("/api/v1/transactions", "/api/v1/refills", "/api/v1/alerts")
ORG_WIDE_PATHS = (
    "/api/v1/organizations",
    "/api/v1/kiosks",
    "/api/v1/products",
    "/api/v1/users",
    "/api/v1/alerts/types",
)


def org_client(name: str, org: int, secret: str | None = None) -> dict[str, Any]:
    return {
        "name": name,
        "client_id": f"lv_m2m_org_{org}",
        "client_secret": secret or f"sk_live_org_{org}",
        "organization_id": org,
    }


PRIMARY = {"name": "main", "client_id": "lv_m2m_demo", "client_secret": "sk_live_demo"}
TWO_SCOPED = [PRIMARY, org_client("frische", 2), org_client("zurich", 3)]


def clients_env(clients: list[dict[str, Any]]) -> dict[str, str]:
    return {"SOURCES__LIVELLO__CLIENTS": json.dumps(clients)}


def kiosks_of(sim: SimulatorServer, organizations: set[int]) -> set[str]:
    """Serials of the kiosks in the subtrees of `organizations` (the simulator's truth)."""
    tree = {o for org in organizations for o in sim.store.descendant_org_ids(org)}
    rows = sim.store.query("select serial_number, organization_id from kiosks")
    return {serial for serial, org in rows if org in tree}


def kiosks_asked_for(sim: SimulatorServer, client_id: str) -> tuple[set[str], list[str]]:
    """(serials the client's per-kiosk requests named, paths of its unfiltered fleet listings)."""
    named: set[str] = set()
    unfiltered: list[str] = []
    for path, query in sim.requests_by(client_id):
        if path.startswith("/api/v1/kiosks/"):
            named.add(path.split("/")[4])
        elif "kioskSerialNumber" in query:
            named.add(query["kioskSerialNumber"])
        elif "kioskSerialNumbers" in query:
            named |= set(query["kioskSerialNumbers"].split(","))
        elif path in FLEET_PATHS:
            unfiltered.append(path)
    return named, unfiltered


def loaded_tables(wh: Warehouse) -> set[str]:
    """The warehouse's data tables; none when the dataset was never created."""
    try:
        return wh.tables()
    except Exception:  # noqa: BLE001 - DuckDB and PostgreSQL report a missing schema differently
        return set()


def org_wide_requests(sim: SimulatorServer, client_id: str) -> list[str]:
    return [p for p, _ in sim.requests_by(client_id) if p in ORG_WIDE_PATHS or "/organizations/" in p]


def assert_fleet_tables_exact(
    wh: Warehouse, sim: SimulatorServer, fleets: tuple[int, ...] | None = None
) -> None:
    """The per-kiosk tables hold every kiosk once (no client read a kiosk another client also read), and
    each run's inventory is one snapshot of the whole fleet as it was then (`fleets`: its size at each run;
    a simulated day may install kiosks), whichever client read a kiosk."""
    serials = truth_ids(sim, "kiosks", "serial_number")
    fleets = fleets or (len(serials),)
    assert wh.ids("kiosk_details", "serial_number") == serials
    assert sorted(r[0] for r in wh.query("select distinct kiosk_serial_number from temperature")) == serials
    keys = "kiosk_serial_number, sensor_position, granularity, bucket_start"
    assert wh.duplicate_keys("temperature", keys) == 0
    per_snapshot = wh.query(
        "select count(distinct kiosk_serial_number) from kiosk_inventory "
        "group by snapshot_at order by snapshot_at"
    )
    assert [r[0] for r in per_snapshot] == list(fleets)


# -- configuration ---------------------------------------------------------------------------------------
def test_clients_from_toml_tables_and_from_env_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pipelines.settings import use_project

    for key in [k for k in os.environ if k.startswith("SOURCES__")]:
        monkeypatch.delenv(key)
    (tmp_path / ".dlt").mkdir()
    (tmp_path / ".dlt" / "secrets.toml").write_text(
        "[[sources.livello.clients]]\n"
        'name = "main"\nclient_id = "lv_m2m_demo"\nclient_secret = "sk_live_demo"\n'
        "[[sources.livello.clients]]\n"
        'name = "frische"\nclient_id = "lv_m2m_org_2"\nclient_secret = "sk_live_org_2"\n'
        "organization_id = 2\nbudget_share = 0.5\n",
        encoding="utf-8",
    )
    use_project(tmp_path)
    try:
        settings = resolve(ClientSettings)
        main, frische = settings.api_clients()
        assert (main.name, main.organization_id, main.budget_share) == ("main", None, None)
        assert (frische.client_id, frische.organization_id, frische.budget_share) == ("lv_m2m_org_2", 2, 0.5)
        # Commands with one client (check, reconcile) use the primary.
        assert (settings.client_id, settings.client_secret) == ("lv_m2m_demo", "sk_live_demo")
        assert settings.for_client(frische).budget_share == 0.5
        assert settings.for_client(main).budget_share == settings.budget_share

        monkeypatch.setenv("SOURCES__LIVELLO__CLIENTS", json.dumps([PRIMARY, org_client("zurich", 3)]))
        from_env = resolve(ClientSettings).api_clients()  # the environment wins over the file
        assert [c.name for c in from_env] == ["main", "zurich"]
        assert from_env[1] == ApiClient("zurich", "lv_m2m_org_3", "sk_live_org_3", 3)
    finally:
        use_project(Path.cwd())


@pytest.mark.parametrize(
    ("clients", "expected"),
    [
        ("{not json", "is not a JSON list"),
        ("[]", "must be a non-empty list"),
        ([{"name": "main", "client_id": "a"}], "client 'main' has no client_secret"),
        ([PRIMARY, {**org_client("main", 2)}], "client 'main' is listed twice"),
        ([PRIMARY, {**org_client("x", 2), "client_id": "lv_m2m_demo"}], "'lv_m2m_demo' is listed twice"),
        ([org_client("frische", 2), PRIMARY], "the first client ('frische') is the primary"),
        ([{**PRIMARY, "name": "Main!"}], "name must be"),
        ([{**PRIMARY, "budget_share": 2}], "budget_share must be greater than 0 and at most 1"),
        ([{**PRIMARY, "colour": "red"}], "unknown key 'colour'"),
    ],
    ids=[
        "non-json",
        "empty",
        "no-secret",
        "duplicate-name",
        "duplicate-id",
        "scoped-primary",
        "bad-name",
        "bad-share",
        "unknown-key",
    ],  # fmt: skip
)
def test_bad_client_lists_are_setting_errors_that_name_the_setting(clients: Any, expected: str) -> None:
    text = clients if isinstance(clients, str) else json.dumps(clients)
    with pytest.raises(SettingError) as caught:
        parse_clients(text)
    message = str(caught.value)
    assert expected in message and "SOURCES__LIVELLO__CLIENTS" in message
    assert "sk_live_" not in message  # no secret of any entry is ever printed


def test_every_listed_secret_is_redacted_before_any_client_exists(caplog: pytest.LogCaptureFixture) -> None:
    install_redaction()
    parse_clients(json.dumps([PRIMARY, org_client("frische", 2, "sk_multi_never_printed")]))
    assert SECRETS.redact("token sk_multi_never_printed") == "token ***"
    with caplog.at_level(logging.WARNING):
        logging.getLogger("livello_sync.sync").warning("leaked %s", "sk_multi_never_printed")
    assert "sk_multi_never_printed" not in caplog.text and "***" in caplog.text


def test_a_bad_clients_setting_exits_2_before_any_request(
    sync: SyncRunner, simulator_factory: Callable[..., SimulatorServer]
) -> None:
    sim = simulator_factory(**SMALL)
    code, output = sync(sim, env={"SOURCES__LIVELLO__CLIENTS": "[{oops"})
    assert code == 2, output
    assert "SOURCES__LIVELLO__CLIENTS (sources.livello.clients) is not a JSON list" in output
    assert sim.requests_to("/") == 0


def test_a_client_scoped_to_an_unknown_organization_exits_2_before_loading(
    sync: SyncRunner, warehouse: Warehouse, simulator_factory: Callable[..., SimulatorServer]
) -> None:
    sim = simulator_factory(**SMALL)
    clients = [PRIMARY, {**org_client("ghost", 2), "organization_id": 999}]
    code, output = sync(sim, env=clients_env(clients))
    assert code == 2, output
    assert "client 'ghost': organization_id 999 is not an organization" in output
    assert "sk_live_org_2" not in output
    assert not loaded_tables(warehouse)  # nothing was loaded


def test_fleet_tables_cannot_be_refreshed_by_one_of_several_clients(
    sync: SyncRunner, simulator_factory: Callable[..., SimulatorServer]
) -> None:
    sim = simulator_factory(**SMALL)
    code, output = sync(sim, "--refresh", "transactions", env=clients_env(TWO_SCOPED))
    assert code == 2 and "--refresh transactions" in output, output


# -- the split ---------------------------------------------------------------------------------------------
ORGS = [
    {"id": 1, "parentOrg": None},
    {"id": 2, "parentOrg": 1},
    {"id": 5, "parentOrg": 2},
    {"id": 3, "parentOrg": 1},
    {"id": 4, "parentOrg": 1},
]
KIOSKS = [
    {"serialNumber": "K1", "orgId": "5"},
    {"serialNumber": "K2", "orgId": "2"},
    {"serialNumber": "K3", "orgId": "3"},
    {"serialNumber": "K4", "orgId": "4"},
    {"serialNumber": "K5", "orgId": "4"},
    {"serialNumber": "K6", "orgId": "1"},
]


def test_the_deepest_scoped_client_gets_a_kiosk_and_the_rest_is_shared_evenly() -> None:
    clients = [
        ApiClient("main", "a", "s"),
        ApiClient("spare", "b", "s"),
        ApiClient("frische", "c", "s", 2),
        ApiClient("berlin", "d", "s", 5),
    ]
    split = split_fleet(clients, KIOSKS, ORGS)
    assert split["berlin"].kiosks == {"K1"}  # 5 is deeper than 2
    assert split["frische"].kiosks == {"K2"}
    # K3 (org 3), K4, K5 (org 4) and K6 (the root) have no scoped client: dealt out to the unscoped ones.
    assert split["main"].kiosks | split["spare"].kiosks == {"K3", "K4", "K5", "K6"}
    assert len(split["main"].kiosks) == len(split["spare"].kiosks) == 2
    # Filters only where the client's own scope holds more than it was given.
    assert split["berlin"].kiosk_filter is None
    assert split["frische"].kiosk_filter == ("K2",)  # its scope also holds berlin's K1
    assert split["main"].kiosk_filter == tuple(sorted(split["main"].kiosks))
    assert split["frische"].scope == {"K1", "K2"}


def test_one_unscoped_client_reads_its_whole_scope_unfiltered() -> None:
    split = split_fleet([ApiClient("main", "a", "s")], KIOSKS, ORGS)
    assert split["main"].kiosks == {k["serialNumber"] for k in KIOSKS}
    assert split["main"].kiosk_filter is None


def test_kiosk_filters_come_in_chunks_of_bounded_length() -> None:
    from sources.livello.context import KIOSK_FILTER_CHUNK, RunContext
    from sources.livello.endpoints import BY_NAME

    serials = tuple(f"LIV-{n:04d}" for n in range(250))
    ctx = RunContext(client=None, fleet=frozenset(serials), kiosk_filter=serials)  # type: ignore[arg-type]
    queries = ctx.kiosk_queries(BY_NAME["transactions"])
    assert [len(q["kioskSerialNumbers"].split(",")) for q in queries] == [100, 100, 50]
    assert KIOSK_FILTER_CHUNK == 100 and max(len(q["kioskSerialNumbers"]) for q in queries) < 1000
    assert ctx.kiosk_queries(BY_NAME["users"]) == [{}]  # organization-wide: never filtered


# -- runs --------------------------------------------------------------------------------------------------
def test_two_scoped_clients_and_the_primary_load_exactly_the_api(
    sync: SyncRunner, warehouse: Warehouse, simulator_factory: Callable[..., SimulatorServer]
) -> None:
    sim, wh = simulator_factory(**SIX), warehouse
    code, output = sync(sim, env=clients_env(TWO_SCOPED))
    assert code == 0, output
    assert_equals_truth(wh, sim)
    assert_fleet_tables_exact(wh, sim)

    # Each client asked only for its kiosks: the scoped ones their whole scope (unfiltered listings), the
    # primary the kiosk no scoped client covers (organization 4), filtered by serial number.
    expected = {
        "lv_m2m_org_2": kiosks_of(sim, {2}),
        "lv_m2m_org_3": kiosks_of(sim, {3}),
        "lv_m2m_demo": kiosks_of(sim, {4}),
    }
    assert sum(len(k) for k in expected.values()) == 6
    for client_id, kiosks in expected.items():
        named, unfiltered = kiosks_asked_for(sim, client_id)
        assert named == kiosks, client_id
        assert bool(unfiltered) == (client_id != "lv_m2m_demo"), client_id
    # The organization-wide listings were read once, by the primary.
    assert org_wide_requests(sim, "lv_m2m_org_2") == org_wide_requests(sim, "lv_m2m_org_3") == []
    assert sim.requests_to("/organizations") == len(
        [p for p, _ in sim.requests_by("lv_m2m_demo") if p.startswith("/api/v1/organizations")]
    )

    # Concurrency: the clients' requests overlap in time (each on its own budget), not one after another.
    spans = {c: (min(t), max(t)) for c in expected if (t := sim.request_times(c))}
    assert max(start for start, _ in spans.values()) < min(end for _, end in spans.values()), spans

    # State per client: one pipeline each in the same dataset; the primary's keeps the one-client name.
    names = {r[0] for r in wh.query("select distinct pipeline_name from _dlt_pipeline_state")}
    primary = next(n for n in names if not n.endswith(("__frische", "__zurich", "_runs")))
    assert {f"{primary}__frische", f"{primary}__zurich"} <= names

    # The run record: budget per client.
    clients = json.loads(wh.scalar("select clients from sync_runs"))
    assert set(clients) == {"main", "frische", "zurich"}
    assert all(c["status"] == "complete" and c["requests"] > 0 for c in clients.values())
    assert clients["frische"]["kiosks"] == len(expected["lv_m2m_org_2"])
    assert clients["main"]["filtered"] and not clients["zurich"]["filtered"]
    assert {c["requests"] for c in clients.values()} == {
        len(sim.requests_by(c["client_id"])) for c in clients.values()
    }

    # A nightly run after a simulated day, with a late upload at one of zurich's kiosks: the new rows and
    # the late ones, nothing twice, nothing lost.
    fleet_before = len(truth_ids(sim, "kiosks", "serial_number"))
    sim.advance(hours=24)
    # 30 h late: before the last run's cursor (the clock moved 24 h), inside the lookback.
    sim.upload_backlog(kiosk_serial=sorted(expected["lv_m2m_org_3"])[0], hours_late=30)
    sim.reset_request_counts()
    code, output = sync(sim, env=clients_env(TWO_SCOPED))
    assert code == 0, output
    assert_equals_truth(wh, sim)
    assert_fleet_tables_exact(wh, sim, (fleet_before, len(truth_ids(sim, "kiosks", "serial_number"))))
    # Each client proved its own lookback against the warehouse's rows of its own kiosks (no re-read):
    # frische's and the primary's kiosks had nothing late; zurich found its late rows.
    for name in ("main", "frische"):
        proofs = [line for line in output.splitlines() if f"[{name}]" in line and "lookback 48 h" in line]
        # transactions always; refills and alerts when the client's kiosks have some (else a first reading)
        assert any("transactions" in line for line in output.splitlines() if f"[{name}]" in line), output
        assert proofs and all("complete by position" in line for line in proofs), output
    zurich = [line for line in output.splitlines() if "[zurich]" in line and "lookback 48 h" in line]
    assert any("complete by position" not in line for line in zurich), output
    # the simulated day may have installed a kiosk: the client of its organization reads it, else the primary
    scoped = {"lv_m2m_org_2": kiosks_of(sim, {2}), "lv_m2m_org_3": kiosks_of(sim, {3})}
    fleet = set(truth_ids(sim, "kiosks", "serial_number"))
    for client_id, kiosks in {**scoped, "lv_m2m_demo": fleet - set().union(*scoped.values())}.items():
        assert kiosks_asked_for(sim, client_id)[0] == kiosks, client_id


# The engine makes no difference here: the two-client run covers PostgreSQL.
@pytest.mark.parametrize("warehouse", ["duckdb"], indirect=True)
def test_a_sub_organization_client_takes_its_kiosks_and_its_parent_reads_the_rest_filtered(
    sync: SyncRunner, warehouse: Warehouse, simulator_factory: Callable[..., SimulatorServer]
) -> None:
    sim, wh = simulator_factory(**SIX), warehouse
    clients = [*TWO_SCOPED, org_client("berlin", 5)]
    code, output = sync(sim, env=clients_env(clients))
    assert code == 0, output
    assert_equals_truth(wh, sim)
    assert_fleet_tables_exact(wh, sim)
    berlin = kiosks_of(sim, {5})
    assert berlin and kiosks_asked_for(sim, "lv_m2m_org_5")[0] == berlin
    named, unfiltered = kiosks_asked_for(sim, "lv_m2m_org_2")
    assert named == kiosks_of(sim, {2}) - berlin
    assert unfiltered == []  # its scope holds berlin's kiosks too: every listing filtered
    assert "frische" in output and "filtered by serial number" in output


# The engine makes no difference here: the two-client run covers PostgreSQL.
@pytest.mark.parametrize("warehouse", ["duckdb"], indirect=True)
def test_a_client_with_a_wrong_secret_is_reported_and_the_others_load(
    sync: SyncRunner, warehouse: Warehouse, simulator_factory: Callable[..., SimulatorServer]
) -> None:
    sim, wh = simulator_factory(**SIX), warehouse
    broken = [PRIMARY, org_client("frische", 2), org_client("zurich", 3, "sk_wrong_zurich_secret")]
    code, output = sync(sim, env=clients_env(broken))
    assert code == 1, output
    assert "FAILED client zurich" in output and "sk_wrong_zurich_secret" not in output
    zurich = kiosks_of(sim, {3})
    loaded = {r[0] for r in wh.query("select serial_number from kiosk_details")}
    assert loaded == set(truth_ids(sim, "kiosks", "serial_number")) - zurich
    in_zurich = ",".join(f"'{k}'" for k in zurich)
    elsewhere = f"kiosk_id not in (select id from kiosks where serial_number in ({in_zurich}))"
    expected = truth_ids(sim, "transactions", where=elsewhere)
    assert wh.ids("transactions") == expected
    record = wh.query("select status, clients, failed from sync_runs")[0]
    assert record[0] == "partial"
    clients = json.loads(record[1])
    assert clients["zurich"]["status"] == "failed" and "nvalid client" in clients["zurich"]["error"]
    assert clients["frische"]["status"] == clients["main"]["status"] == "complete"
    assert "client zurich" in json.loads(record[2])["transactions"]

    # Fixed: zurich's kiosks are read from their own (untouched) state, everything equals the API.
    code, output = sync(sim, env=clients_env(TWO_SCOPED))
    assert code == 0, output
    assert_equals_truth(wh, sim)
    assert wh.ids("kiosk_details", "serial_number") == truth_ids(sim, "kiosks", "serial_number")


# The engine makes no difference here: the two-client run covers PostgreSQL.
@pytest.mark.parametrize("warehouse", ["duckdb"], indirect=True)
def test_status_shows_the_budget_of_each_client(
    sync: SyncRunner, warehouse: Warehouse, simulator_factory: Callable[..., SimulatorServer],
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    from pipelines.cli import main

    sim, wh = simulator_factory(**{**SIX, "rate_limit_per_hour": 1000}), warehouse
    code, output = sync(sim, env=clients_env(TWO_SCOPED))
    assert code == 0, output
    capsys.readouterr()
    args = ["--destination", wh.destination, "--dataset", wh.dataset]
    assert main(["status", "--json", *args]) == 0
    report = json.loads(capsys.readouterr().out)
    budgets = {c["name"]: c for c in report["clients"]}
    assert set(budgets) == {"main", "frische", "zurich"}
    for name, c in budgets.items():
        requests = len(sim.requests_by(c["client_id"]))
        assert c["requests_last_run"] == requests, name
        # Each client's own window: what it used of it, of the 800 (80 % of 1,000) the sync may use.
        assert (c["budget_used"], c["budget_allowed"], c["budget_limit"]) == (requests, 800, 1000), name
    assert report["runs"][0]["clients"]["zurich"]["organization_id"] == 3
    assert main(["status", *args]) == 0
    text = capsys.readouterr().out
    assert "API clients (budget per client" in text
    assert "lv_m2m_org_2" in text and "/800 of the window used" in text


# -- the simulator ------------------------------------------------------------------------------------------
def test_each_simulated_client_has_its_own_rate_limit_window(
    simulator_factory: Callable[..., SimulatorServer],
) -> None:
    sim = simulator_factory(**{**SMALL, "rate_limit_per_hour": 3})
    tokens = {org: fetch_token(sim, f"lv_m2m_org_{org}", f"sk_live_org_{org}") for org in (2, 3)}

    def get(org: int) -> httpx.Response:
        headers = {"Authorization": f"Bearer {tokens[org]}"}
        return httpx.get(f"{sim.base_url}/kiosks", headers=headers, timeout=10)

    assert [get(2).status_code for _ in range(3)] == [200, 200, 200]
    exhausted = get(2)
    assert exhausted.status_code == 429 and exhausted.headers["ratelimit-remaining"] == "0"
    served = get(3)  # another client, another window: untouched by the first one's
    assert served.status_code == 200 and served.headers["ratelimit-remaining"] == "2"
    # Sub-organizations have clients too (simulator/auth.py): 5 is below 2.
    sub = fetch_token(sim, "lv_m2m_org_5", "sk_live_org_5")
    kiosks = httpx.get(f"{sim.base_url}/kiosks", headers={"Authorization": f"Bearer {sub}"}, timeout=10)
    assert {int(k["orgId"]) for k in kiosks.json()["data"]} <= set(sim.store.descendant_org_ids(5))
