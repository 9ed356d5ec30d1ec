"""`livello-sync run` against the simulator over real HTTP, on DuckDB and on PostgreSQL.

Every check compares the warehouse with the simulator's own store (the truth), never with the pipeline's
output."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx

from simulator.server import SimulatorServer
from sources.livello.context import to_utc
from tests.conftest import fetch_token
from tests.sync.conftest import (
    VOLATILE_TABLES,
    SyncRunner,
    Warehouse,
    duckdb_held_by_another_process,
    money,
    truth_ids,
    truth_scalar,
)

PAGE = 100


def assert_equals_truth(wh: Warehouse, sim: SimulatorServer) -> None:
    """Every raw table holds exactly the simulator's records: ids, money sums, child rows, no duplicates."""
    assert wh.ids("organizations") == truth_ids(sim, "organizations")
    assert wh.ids("vat_rates") == truth_ids(sim, "vat_rates")
    assert wh.ids("organization_product_lines", "cast(_id as integer)") == truth_ids(
        sim, "product_lines", where="active"
    )
    assert wh.ids("kiosks", "serial_number") == truth_ids(sim, "kiosks", "serial_number")
    assert wh.ids("kiosk_details", "serial_number") == truth_ids(sim, "kiosks", "serial_number")
    assert wh.ids("products", where="_dlt_valid_to is null") == truth_ids(
        sim, "products", where="not deleted"
    )
    assert wh.ids("users") == truth_ids(sim, "users")
    assert wh.ids("alert_types", "type") == truth_ids(sim, "alert_types", "type")

    assert wh.ids("transactions") == truth_ids(sim, "transactions")
    assert money(wh.scalar("select sum(total) from transactions")) == money(
        truth_scalar(sim, "select sum(total) from transactions")
    )
    assert money(wh.scalar("select sum(discount_total) from transactions")) == money(
        truth_scalar(sim, "select sum(discount_total) from transactions")
    )
    items = wh.query(
        "select count(*), sum(i.total), sum(i.quantity) from transactions__items_purchased i "
        "join transactions t on i._dlt_parent_id = t._dlt_id"
    )[0]
    truth_items = sim.store.query("select count(*), sum(total), sum(quantity) from transaction_items")[0]
    assert (items[0], money(items[1]), items[2]) == (truth_items[0], money(truth_items[1]), truth_items[2])

    assert wh.ids("refills") == truth_ids(sim, "refills")
    refill_items = wh.query(
        "select count(*), sum(i.added), sum(i.removed), sum(i.added * i.cost) "
        "from refills__items_replenished i join refills r on i._dlt_parent_id = r._dlt_id"
    )[0]
    truth_refill = sim.store.query(
        "select count(*), sum(added), sum(removed), sum(added * cost) from refill_items"
    )[0]
    assert (refill_items[0], refill_items[1], refill_items[2], money(refill_items[3])) == (
        truth_refill[0],
        truth_refill[1],
        truth_refill[2],
        money(truth_refill[3]),
    )

    assert sorted(wh.query("select id, status from alerts")) == sorted(
        sim.store.query("select id, status from alerts")
    )

    for table, keys in (
        ("transactions", "id"),
        ("refills", "id"),
        ("alerts", "id"),
        ("users", "id"),
        ("kiosks", "serial_number"),
        ("organization_product_lines", "_id"),
        ("vat_rates", "organization_id, id"),
    ):
        assert wh.duplicate_keys(table, keys) == 0, table
    assert wh.duplicate_keys("products", "id, _dlt_valid_from") == 0
    assert (
        int(
            wh.scalar(
                "select count(*) from transactions__items_purchased i where not exists "
                "(select 1 from transactions t where t._dlt_id = i._dlt_parent_id)"
            )
        )
        == 0
    )


def business_state(wh: Warehouse) -> dict[str, list[tuple[str, ...]]]:
    return {table: wh.fingerprint(table) for table in sorted(wh.tables() - VOLATILE_TABLES)}


def lookback_pages(sim: SimulatorServer, table: str, since_sql: str, cursor: str = "created") -> int:
    """Pages of a verified lookback: from the last held row before the cursor (the proof) to the newest."""
    rows = int(truth_scalar(sim, f"select count(*) from {table} where {cursor} >= {since_sql}"))
    return math.ceil((1 + rows) / PAGE)


def api_client(sim: SimulatorServer) -> httpx.Client:
    return httpx.Client(
        base_url=sim.base_url, timeout=10, headers={"Authorization": f"Bearer {fetch_token(sim)}"}
    )


def test_sync_is_exact_incremental_and_cheap(
    sync: SyncRunner, warehouse: Warehouse, small_sim: SimulatorServer
) -> None:
    sim, wh = small_sim, warehouse
    codes = truth_ids(sim, "promocodes", "code")[:2]
    promo_env = {"SOURCES__LIVELLO__PROMOCODES": ",".join([*codes, "00000"])}

    # 1. First sync: the whole history, exactly.
    code, output = sync(sim, env=promo_env)
    assert code == 0, output
    assert_equals_truth(wh, sim)
    assert sorted(wh.ids("promocodes", "code")) == sorted(codes)
    assert "00000" in output  # an unknown configured code is reported, not fatal
    cells = int(truth_scalar(sim, "select count(*) from load_cells"))
    assert wh.scalar("select count(*) from kiosk_inventory") == cells
    assert wh.scalar("select count(distinct snapshot_at) from kiosk_inventory") == 1
    # PII never reaches the warehouse: tokens instead of the simulator's e-mail addresses and names.
    emails = {r[0] for r in sim.store.query("select email from users")}
    stored = wh.query("select email, first_name, last_name from users")
    assert all(len(e) == 32 and e not in emails for e, _, _ in stored)
    assert not {r[1] for r in stored} & {r[0] for r in sim.store.query("select first_name from users")}
    temperature_rows = int(wh.scalar("select count(*) from temperature"))
    assert temperature_rows > 0
    assert (
        wh.duplicate_keys("temperature", "kiosk_serial_number, sensor_position, granularity, bucket_start")
        == 0
    )

    # 2. Nothing new: no row added or changed, and only the requests the snapshots and the lookback need.
    before = business_state(wh)
    sim.reset_request_counts()
    code, output = sync(sim, env=promo_env)
    assert code == 0, output
    after = business_state(wh)
    for table in before:
        gone, added = set(before[table]) - set(after[table]), set(after[table]) - set(before[table])
        assert not gone and not added, f"{table} changed: {sorted(gone)[:3]} -> {sorted(added)[:3]}"
    assert after.keys() == before.keys()
    assert wh.scalar("select count(distinct snapshot_at) from kiosk_inventory") == 2
    counts = sim.request_count
    kiosks = truth_ids(sim, "kiosks", "serial_number")
    orgs = truth_ids(sim, "organizations")
    top_orgs = truth_ids(sim, "organizations", where="parent_id is null")
    newest_tx = "(select max(created) from transactions)"
    newest_refill = "(select max(created) from refills)"
    expected = {
        "/api/v1/auth/token": 1,
        "/api/v1/organizations": 1,
        "/api/v1/kiosks": 1,
        "/api/v1/products": math.ceil(len(truth_ids(sim, "products", where="not deleted")) / PAGE),
        "/api/v1/users": 1,  # newest-updated first: the first page reaches the last run's cursor
        "/api/v1/alerts/types": 1,
        # The lookback is proven complete by the first page of the rows from the cursor on, read from the
        # last held row before it: no request more than the new rows need.
        "/api/v1/transactions": lookback_pages(sim, "transactions", newest_tx),
        "/api/v1/refills": lookback_pages(sim, "refills", newest_refill),
        "/api/v1/analytics/temperature/hourly": len(kiosks),
        **{f"/api/v1/organizations/{o}/vat": 1 for o in orgs},
        # the first run proved the top organizations' listings hold every line: only they are read now
        **{f"/api/v1/organizations/{o}/product-lines": 1 for o in top_orgs},
        # one request per kiosk for its detail and its inventory: the detail carries the load cells
        **{f"/api/v1/kiosks/{k}": 1 for k in kiosks},
        **{f"/api/v1/promocodes/{c}": 1 for c in [*codes, "00000"]},
    }
    # Alerts: the lookback proven like the transactions'; the alerts held as open that start before the
    # cursor are re-read: a short listing from the oldest of them (or the lookback's start) holds them, else
    # one listing of the open ones does (the others come back with the new rows).
    newest_alert = "(select max(start_date) from alerts)"
    oldest_open = truth_scalar(
        sim, f"select min(start_date) from alerts where status <> 'resolved' and start_date < {newest_alert}"
    )
    alert_requests = lookback_pages(sim, "alerts", newest_alert, "start_date")
    if oldest_open is not None:
        reach = f"least(timestamptz '{oldest_open.isoformat()}', {newest_alert} - interval 48 hours)"
        listed = int(truth_scalar(sim, f"select count(*) from alerts where start_date >= {reach}"))
        alert_requests = math.ceil(listed / PAGE) if listed <= 2 * PAGE else alert_requests + 1
    assert counts.pop("/api/v1/alerts", 0) == alert_requests
    assert counts == expected

    # 3. One day later: exactly the new rows arrive, with requests in proportion to the new data.
    known_tx = set(wh.ids("transactions"))
    old_newest = truth_scalar(sim, "select max(created) from transactions")
    sim.advance(hours=24)
    sim.reset_request_counts()
    code, output = sync(sim)
    assert code == 0, output
    assert_equals_truth(wh, sim)
    new_tx = set(truth_ids(sim, "transactions")) - known_tx
    assert new_tx and set(wh.ids("transactions")) - known_tx == new_tx
    read = int(
        truth_scalar(
            sim, f"select count(*) from transactions where created >= timestamptz '{old_newest.isoformat()}'"
        )
    )
    assert sim.request_count["/api/v1/transactions"] == math.ceil((1 + read) / PAGE)  # the new day

    # 4. A kiosk uploads sessions 20 hours late: the lookback catches them.
    known_tx = set(wh.ids("transactions"))
    sim.upload_backlog(kiosk_serial=kiosks[0], hours_late=20)
    late = set(truth_ids(sim, "transactions")) - known_tx
    assert late, "the simulator added no backlog"
    code, output = sync(sim)
    assert code == 0, output
    assert late <= set(wh.ids("transactions"))
    assert_equals_truth(wh, sim)

    # 5. A price change makes a new product version; a deleted product is retired.
    changed, deleted = truth_ids(sim, "products", where="not deleted")[:2]
    # the simulated day may already have renamed it: its earlier versions stay, closed
    earlier = wh.scalar(f"select count(*) from products where id = {changed}")
    deleted_versions = wh.scalar(f"select count(*) from products where id = {deleted}")
    with api_client(sim) as api:
        api.patch(
            f"/products/{changed}",
            json={"name": "Renamed bar", "pricing": {"defaultPrice": 9.99, "defaultCost": 1.11}},
        ).raise_for_status()
        api.delete(f"/products/{deleted}").raise_for_status()
    code, output = sync(sim, "--resources", "products")
    assert code == 0, output
    versions = wh.query(
        f"select name, price, _dlt_valid_to is null from products where id = {changed} "
        "order by _dlt_valid_from"
    )
    assert len(versions) == earlier + 1
    assert versions[-1][0] == "Renamed bar" and Decimal(str(versions[-1][1])) == Decimal("9.99")
    assert [v[2] for v in versions] == [False] * earlier + [True]
    assert (
        wh.query(f"select count(*) from products where id = {deleted} and _dlt_valid_to is null")[0][0] == 0
    )
    assert wh.scalar(f"select count(*) from products where id = {deleted}") == deleted_versions
    assert wh.ids("products", where="_dlt_valid_to is null") == truth_ids(
        sim, "products", where="not deleted"
    )


def test_faults_do_not_change_the_result(
    sync: SyncRunner, warehouse: Warehouse, small_sim: SimulatorServer
) -> None:
    small_sim.set_faults(
        seed=3,
        error_ratio=0.1,
        drop_ratio=0.03,
        truncate_ratio=0.03,
        burst_429_every=40,
        burst_429_length=2,
        expire_tokens_after=25,
    )
    code, output = sync(
        small_sim,
        "--resources",
        "organizations,kiosks,kiosk_details,products,transactions,"
        "refills,users,alerts,alert_types,vat_rates,"
        "organization_product_lines",
    )
    assert code == 0, output
    small_sim.clear_faults()
    # The faults really happened: retries, 429s answered and fresh tokens after the mid-run expiries.
    api = re.search(r"API: ([\d,]+) requests, (\d+) token requests, (\d+) retries, (\d+) x 429", output)
    assert api is not None, output
    tokens, retries, http_429 = (int(api.group(i)) for i in (2, 3, 4))
    assert tokens > 1 and retries > 0 and http_429 > 0, output
    assert_equals_truth(warehouse, small_sim)


def test_missing_scope_skips_only_that_resource(
    sync: SyncRunner, warehouse: Warehouse, small_sim: SimulatorServer
) -> None:
    code, output = sync(
        small_sim,
        "--resources",
        "kiosks,users,temperature,refills",
        client=("lv_m2m_limited", "sk_live_limited"),
    )
    assert code == 0, output
    assert "users:read" in output and "reports:read" in output
    assert {"users", "temperature"}.isdisjoint(warehouse.tables())
    assert warehouse.ids("refills") == truth_ids(small_sim, "refills")
    assert (
        small_sim.request_count.get("/api/v1/users", 0) == 0
    )  # known from the token's scopes: not even tried


def test_bad_credentials_fail_fast_before_writing(
    sync: SyncRunner, warehouse: Warehouse, small_sim: SimulatorServer
) -> None:
    code, output = sync(small_sim, client=("lv_m2m_demo", "wrong-secret"))
    assert code == 2, output
    assert "wrong-secret" not in output
    assert small_sim.requests_to("/transactions") == 0
    if warehouse.destination == "duckdb":
        assert not warehouse.duckdb_path or not warehouse.duckdb_path.exists() or not warehouse.tables()
    else:
        assert not warehouse.tables()


def test_pseudonymization_key_is_required_unless_opted_out(
    sync: SyncRunner, warehouse: Warehouse, small_sim: SimulatorServer
) -> None:
    no_key = {"SOURCES__LIVELLO__PSEUDONYMIZATION_KEY": ""}
    code, output = sync(small_sim, "--resources", "users", env=no_key)
    assert code == 2, output
    assert "PSEUDONYMIZATION_KEY" in output
    assert small_sim.requests_to("/users") == 0
    code, output = sync(
        small_sim, "--resources", "users", env={**no_key, "SOURCES__LIVELLO__PSEUDONYMIZE_USERS": "false"}
    )
    assert code == 0, output
    assert sorted(r[0] for r in warehouse.query("select email from users")) == sorted(
        r[0] for r in small_sim.store.query("select email from users")
    )


def test_max_duration_pauses_and_the_next_run_resumes(
    sync: SyncRunner, warehouse: Warehouse, small_sim: SimulatorServer
) -> None:
    env = {"SOURCES__LIVELLO__BACKFILL_WINDOW_ROWS": "150"}
    resources = ("--resources", "transactions,refills")
    code, output = sync(small_sim, *resources, "--max-duration", "1s", env=env)
    assert code == 0, output
    assert "--max-duration reached" in output
    first_run = set(warehouse.query("select id, _dlt_load_id from transactions"))
    assert 0 < len(first_run) < len(truth_ids(small_sim, "transactions"))
    code, output = sync(small_sim, *resources, env=env)
    assert code == 0, output
    assert warehouse.ids("transactions") == truth_ids(small_sim, "transactions")
    assert warehouse.duplicate_keys("transactions", "id") == 0
    # The resumed run starts at the first unfinished window: rows of finished windows were not loaded again.
    assert first_run <= set(warehouse.query("select id, _dlt_load_id from transactions"))


def test_two_runs_cannot_overlap(sync: SyncRunner, warehouse: Warehouse, small_sim: SimulatorServer) -> None:
    from pipelines.lock import pipeline_lock
    from pipelines.settings import Warehouse

    name = Warehouse(
        destination=warehouse.destination,
        dataset=warehouse.dataset,
        duckdb_path=str(warehouse.duckdb_path) if warehouse.duckdb_path else None,
        postgres_credentials=warehouse.dsn,
    ).pipeline_name
    with pipeline_lock(sync.workdir / "pipelines", name):
        code, output = sync(small_sim, "--resources", "kiosks")
    assert code == 1
    assert "another livello-sync run" in output
    code, output = sync(small_sim, "--resources", "kiosks")
    assert code == 0, output


def test_a_second_host_on_the_same_warehouse_waits_its_turn(
    sync: SyncRunner, warehouse: Warehouse, small_sim: SimulatorServer, tmp_path
) -> None:
    """The lock lives in the warehouse: a run from another machine (here: another pipelines folder, which is
    what a second host has) is told who holds it and makes no API request."""

    from pipelines.lock import warehouse_lock
    from pipelines.settings import Warehouse as WarehouseSettings

    other_host = {"SOURCES__LIVELLO__PIPELINES_DIR": str(tmp_path / "other_host_pipelines")}
    small_sim.reset_request_counts()
    if warehouse.destination == "postgres":
        held = WarehouseSettings("postgres", warehouse.dataset, postgres_credentials=warehouse.dsn)
        with warehouse_lock(held):
            code, output = sync(small_sim, "--resources", "kiosks", env=other_host)
        assert "holds the lock of dataset" in output and "livello-sync" in output
    else:
        assert sync(small_sim, "--resources", "kiosks")[0] == 0  # the file exists
        small_sim.reset_request_counts()
        with duckdb_held_by_another_process(warehouse.duckdb_path):
            code, output = sync(small_sim, "--resources", "kiosks", env=other_host)
        assert "cannot be opened for writing" in output
    assert code == 1, output
    assert small_sim.request_count == {}  # not even a token
    code, output = sync(small_sim, "--resources", "kiosks", env=other_host)
    assert code == 0, output


def test_refresh_rereads_one_resource_and_leaves_the_others(
    sync: SyncRunner, warehouse: Warehouse, small_sim: SimulatorServer
) -> None:
    resources = ("--resources", "kiosks,transactions,refills")
    code, output = sync(small_sim, *resources)
    assert code == 0, output
    refills_before = warehouse.query("select id, _dlt_load_id from refills")
    # Something went wrong with transactions (here: rows deleted behind the pipeline's back).
    if warehouse.destination == "duckdb":
        import duckdb

        with duckdb.connect(str(warehouse.duckdb_path)) as conn:
            conn.execute(f"delete from {warehouse.dataset}.transactions where id % 2 = 0")
    else:
        import psycopg2

        with psycopg2.connect(warehouse.dsn) as conn, conn.cursor() as cur:
            cur.execute(f"delete from {warehouse.dataset}.transactions where id % 2 = 0")
    assert warehouse.ids("transactions") != truth_ids(small_sim, "transactions")
    small_sim.reset_request_counts()
    code, output = sync(small_sim, *resources, "--refresh", "transactions")
    assert code == 0, output
    assert "initial" in output  # planned from the start, not from the cursor
    assert "Refreshed transactions: read again from the start" in output
    assert warehouse.ids("transactions") == truth_ids(small_sim, "transactions")
    assert warehouse.duplicate_keys("transactions", "id") == 0
    # Refills were not replaced: every row keeps the load that brought it, but for the newest ones the run
    # reads again from the cursor on (merged, as every incremental run does).
    refills_after = warehouse.query("select id, _dlt_load_id from refills")
    assert sorted(r[0] for r in refills_after) == sorted(r[0] for r in refills_before)
    assert len(set(refills_before) & set(refills_after)) >= len(refills_before) - 2
    code, output = sync(small_sim, *resources, "--refresh", "users")
    assert code == 2 and "not among --resources" in output


def owned_lines(sim: SimulatorServer) -> list[tuple[int, int]]:
    """(line id, organization that owns its kiosk) of every active product line, in the simulator."""
    rows = sim.store.query(
        "select pl.id, k.organization_id from product_lines pl join kiosks k on k.id = pl.kiosk_id "
        "where pl.active order by pl.id"
    )
    return [(int(a), int(b)) for a, b in rows]


def test_product_lines_read_per_organization_unless_the_parents_cover_them(
    sync: SyncRunner, warehouse: Warehouse, small_sim: SimulatorServer
) -> None:
    sim, wh = small_sim, warehouse
    lines = "organization_product_lines"
    orgs = truth_ids(sim, "organizations")
    top_orgs = truth_ids(sim, "organizations", where="parent_id is null")
    assert len(orgs) > len(top_orgs), "the simulator has no sub-organizations"

    def sync_and_count() -> dict[str, int]:
        sim.reset_request_counts()
        code, output = sync(sim, "--resources", "kiosks,organizations," + lines)
        assert code == 0, output
        stored = wh.query(f"select cast(_id as integer), organization_id from {lines} order by 1")
        assert [(int(a), int(b)) for a, b in stored] == owned_lines(sim)  # each line once, at its owner
        return {p: n for p, n in sim.request_count.items() if p.endswith("/product-lines")}

    # An API whose parents list their sub-organizations' lines: proven once, then only the tops are read.
    assert sync_and_count() == {f"/api/v1/organizations/{o}/product-lines": 1 for o in orgs}
    assert sync_and_count() == {f"/api/v1/organizations/{o}/product-lines": 1 for o in top_orgs}
    # A line of a sub-organization's kiosk is taken off at the vendor: missing from the tops' listings, it
    # is looked for in its own organization's listing only (one request more), and deleted.
    removed, owner = next((line, org) for line, org in owned_lines(sim) if org not in top_orgs)
    with sim.store.write() as cur:
        cur.execute("update product_lines set active = false where id = ?", [removed])
    assert sync_and_count() == {
        f"/api/v1/organizations/{o}/product-lines": 1 for o in sorted({*top_orgs, owner})
    }
    assert removed not in wh.ids(lines, "cast(_id as integer)")
    assert sync_and_count() == {f"/api/v1/organizations/{o}/product-lines": 1 for o in top_orgs}
    # The API starts listing only each organization's own lines: the tops' listings miss lines, which are
    # not deleted on their word; the same run reads the others, the proof fails and every run reads all.
    sim.set_faults(listings_own_organization_only=True)
    assert sync_and_count() == {f"/api/v1/organizations/{o}/product-lines": 1 for o in orgs}
    assert sync_and_count() == {f"/api/v1/organizations/{o}/product-lines": 1 for o in orgs}


def user_rows(sim: SimulatorServer) -> list[tuple[int, str, str]]:
    return [
        (int(a), str(b), str(c))
        for a, b, c in sim.store.query("select id, lang, status from users order by id")
    ]


def test_users_read_by_change_time_and_retired_by_a_periodic_full_listing(
    sync: SyncRunner, warehouse: Warehouse, small_sim: SimulatorServer
) -> None:
    sim, wh = small_sim, warehouse
    every_day = {"SOURCES__LIVELLO__FULL_LISTING_DAYS": "7"}

    def sync_users(env: dict[str, str] | None = None) -> int:
        sim.reset_request_counts()
        code, output = sync(sim, "--resources", "users", env={**every_day, **(env or {})})
        assert code == 0, output
        stored = wh.query("select id, lang, status from users order by id")
        assert [(int(a), str(b), str(c)) for a, b, c in stored] == user_rows(sim)
        return sim.request_count.get("/api/v1/users", 0)

    # Sign-ups through the API until the users take more than one page.
    org = truth_ids(sim, "organizations")[0]
    with api_client(sim) as api:
        for n in range(max(0, PAGE + 20 - len(truth_ids(sim, "users")))):
            api.post(
                "/users",
                json={
                    "email": f"new{n}@example.com",
                    "firstName": "New",
                    "lastName": f"User {n}",
                    "organizationId": org,
                    "status": "ACTIVE",
                    "lang": "de",
                },
            ).raise_for_status()
    users = len(truth_ids(sim, "users"))
    assert sync_users() == math.ceil(users / PAGE)
    # A day of account changes: one page, newest-updated first, brings them all.
    changed = sim.advance(hours=24, user_changes=5)
    assert len(changed["changes"]["changed_user_ids"]) == 5
    assert sync_users() == 1
    # A user erased at the vendor stays until the next full listing, which deletes the row.
    erased = truth_ids(sim, "users")[3]
    sim.erase_user(erased)
    sim.reset_request_counts()
    code, output = sync(sim, "--resources", "users", env=every_day)
    assert code == 0, output
    assert erased in wh.ids("users") and sim.request_count["/api/v1/users"] == 1
    assert sync_users({"SOURCES__LIVELLO__FULL_LISTING_DAYS": "0"}) == math.ceil((users - 1) / PAGE)
    assert erased not in wh.ids("users")
    # The full listing replaced the table: no deletion marker column, no child row of the erased user left.
    assert not [c for c in wh.columns("users") if c.startswith("_deleted")]
    for child in ("users__membercards", "users__roles_in_organizations"):
        orphans = (
            f"select count(*) from {child} c "
            "where not exists (select 1 from users u where u._dlt_id = c._dlt_parent_id)"
        )
        assert wh.scalar(orphans) == 0, child
    # A server that ignores the sort cannot stop the reading early: the run reads every page instead.
    sim.advance(hours=24, user_changes=3)
    sim.set_faults(ignore_sort=True)
    assert sync_users() >= math.ceil((users - 1) / PAGE)


def test_temperature_is_read_only_from_each_kiosks_creation(
    sync: SyncRunner, warehouse: Warehouse, small_sim: SimulatorServer
) -> None:
    sim, wh = small_sim, warehouse
    since = datetime.now(UTC) - timedelta(days=400)
    code, output = sync(sim, "--resources", "kiosks,temperature", "--since", since.date().isoformat())
    assert code == 0, output
    now = datetime.now(UTC)
    month = timedelta(days=31)  # the contract's longest hourly span
    created = [to_utc(c) for (c,) in sim.store.query("select created_at from kiosks")]
    assert all(c > since + 2 * month for c in created), "the kiosks must be younger than --since"
    # Per kiosk the 31-day windows from --since that end after its creation: at least the months it has
    # existed, at most one more (windows are aligned to --since, not to the creation).
    least = sum(math.ceil((now - c) / month) for c in created)
    requests = sim.request_count["/api/v1/analytics/temperature/hourly"]
    assert least <= requests <= least + len(created)
    assert requests < len(created) * math.ceil((now - since) / month)  # not every month back to --since
    first = dict(wh.query("select kiosk_serial_number, min(bucket_start) from temperature group by 1"))
    kiosks = dict(sim.store.query("select serial_number, created_at from kiosks"))
    assert set(first) == set(kiosks)
    assert all(to_utc(first[k]) >= to_utc(kiosks[k]) - timedelta(hours=1) for k in kiosks)
