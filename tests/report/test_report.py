"""`livello-sync report`: one self-contained HTML page from the marts, numbers equal to the marts' own sums
per currency, on DuckDB and PostgreSQL; read-only, with one-line errors when there is nothing to report on."""

from __future__ import annotations

import re
import shutil
from collections import defaultdict
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from tests.report.conftest import CliResult, Page, Synced, as_date, number, read_page

SECTIONS = ["revenue", "products", "stock", "spoilage", "cold-chain", "refills", "health"]


def test_the_page_is_self_contained_and_every_section_has_numbers(written: tuple[Synced, Page]) -> None:
    synced, page = written
    assert page.sections == SECTIONS
    # Nothing is fetched when the page opens: no script, stylesheet link, image, frame or any URL at all.
    assert not page.tags & {"script", "link", "img", "iframe", "object", "embed", "base"}
    assert not re.search(r"https?://", page.html)
    references = re.findall(r"""(?:src|href)\s*=\s*["']?([^"'\s>]*)""", page.html)
    references += re.findall(r"""url\(\s*["']?([^)"']*)""", page.html)
    assert references and all(r.startswith("#") for r in references), "only references within the page"
    assert "@import" not in page.html
    # The header says which warehouse, dataset and window the numbers come from.
    first, last = synced.window()
    assert f"<dd>{synced.dataset}</dd>" in page.html
    assert f"28 kiosk-local days, {as_date(first)} to {as_date(last)}" in page.html
    # Every section explains itself, draws at least one chart and has a table with rows (refills: when a cell
    # needs units, see below).
    for section in SECTIONS:
        if section != "refills" or "refills-cells" in {t.id for t in page.tables}:
            assert any(c["section"] == section for c in page.charts), section
            assert any(t.section == section and t.rows for t in page.tables), section


def test_fallback_refills_top_up_every_cell_below_half_fill(
    synced_duckdb: Synced, report: Callable[..., CliResult], tmp_path: Path
) -> None:
    # A warehouse of an older version, without fct_replenishment_plan and fct_cold_chain_daily: the report
    # falls back to the inventory and the hourly temperatures.
    copy = tmp_path / "without_new_marts.duckdb"
    shutil.copy(synced_duckdb.warehouse.duckdb_path, copy)
    with duckdb.connect(str(copy)) as conn:
        conn.execute("drop table livello_marts.fct_replenishment_plan")
        conn.execute("drop table livello_marts.fct_cold_chain_daily")
        latest = (
            "select i.kiosk_serial_number, i.planogram_position, i.capacity - i.quantity_on_hand "
            "from livello_marts.fct_inventory_snapshot i where i.product_line_id is not null "
            "and i.capacity > 0 and 2 * i.quantity_on_hand < i.capacity "
            "and i.snapshot_at_utc = (select max(x.snapshot_at_utc) "
            "from livello_marts.fct_inventory_snapshot x where x.kiosk_serial_number = i.kiosk_serial_number)"
        )
        cells = conn.sql(latest).fetchall()
    truth = sorted((kiosk, position, int(units)) for kiosk, position, units in cells)
    output = tmp_path / "report.html"
    result = report({"DESTINATION__DUCKDB__CREDENTIALS": str(copy)}, "--output", str(output))
    assert result.code == 0, result.err
    page = read_page(output)
    assert "Fallback (fct_replenishment_plan is not in this warehouse)" in page.html
    assert "fct_cold_chain_daily, with minutes above the limit" in page.html
    if not truth:
        assert "Nothing to refill: no cell is below 50 % fill at the latest snapshot." in page.html
        return
    shown = sorted(
        (r["kiosk"].split()[0], r["position"], int(number(r["suggested"])))
        for r in page.table("refills-cells").records()
    )
    assert shown == truth


def test_revenue_equals_the_marts_per_currency_and_never_mixes_currencies(
    written: tuple[Synced, Page],
) -> None:
    synced, page = written
    first, last = synced.window()
    truth = {
        currency: (int(purchases), Decimal(gross), Decimal(net), Decimal(profit))
        for currency, purchases, gross, net, profit in synced.query(
            "select currency, count(distinct transaction_id), sum(gross_amount), sum(net_amount), "
            f"sum(profit_amount) from fct_sales where is_counted and date_key between {first} and {last} "
            "group by currency"
        )
    }
    assert len(truth) == 3  # the small world has EUR, CHF and GBP kiosks
    totals = {
        r["currency"]: (
            int(number(r["purchases"])),
            number(r["gross"]),
            number(r["net"]),
            number(r["profit"]),
        )
        for r in page.table("revenue-totals").records()
    }
    assert totals == truth
    # One revenue chart per currency, each for that currency alone.
    assert sorted(c["data-currency"] for c in page.charts if c["section"] == "revenue") == sorted(truth)
    # Per kiosk: each kiosk in its own currency, and the kiosks of a currency add up to its total.
    kiosk_currency = dict(synced.query("select kiosk_serial_number, currency from dim_kiosk"))
    per_currency: dict[str, Decimal] = defaultdict(Decimal)
    for row in page.table("revenue-kiosks").records():
        assert kiosk_currency[row["kiosk"].split()[0]] == row["currency"]
        per_currency[row["currency"]] += number(row["gross"])
    assert dict(per_currency) == {c: t[1] for c, t in truth.items()}


def test_every_money_column_stands_beside_its_currency(written: tuple[Synced, Page]) -> None:
    synced, page = written
    currencies = {r[0] for r in synced.query("select distinct currency from dim_kiosk")}
    money_tables = [t for t in page.tables if "money" in t.kinds]
    assert {t.section for t in money_tables} >= {"revenue", "products", "spoilage"}
    for table in money_tables:
        assert "currency" in table.columns, table.id
        assert {r["currency"] for r in table.records()} <= currencies, table.id
    for chart in page.charts:
        if chart["section"] in ("revenue", "products", "spoilage"):
            assert chart.get("data-currency") in currencies, chart


def test_top_products_and_spoilage_equal_the_marts(written: tuple[Synced, Page]) -> None:
    synced, page = written
    first, last = synced.window()
    window = f"date_key between {first} and {last}"
    best = {
        currency: Decimal(margin)
        for currency, margin in synced.query(
            "select currency, max(margin) from (select currency, product_meta_id, "
            f"sum(profit_amount) as margin from fct_sales where is_counted and {window} "
            "group by currency, product_meta_id) m group by currency"
        )
    }
    ranked = [r for r in page.table("products-top").records() if r["rank"] == "1"]
    assert {r["currency"]: number(r["margin"]) for r in ranked} == best
    spoiled = {
        currency: (int(added), int(expired), Decimal(cost or 0))
        for currency, added, expired, cost in synced.query(
            "select currency, sum(quantity_added), sum(quantity_removed_expired), "
            f"sum(cost_value_removed_expired) from fct_refills where {window} group by currency"
        )
    }
    shown = {
        r["currency"]: (int(number(r["added"])), int(number(r["expired"])), number(r["cost_expired"]))
        for r in page.table("spoilage-totals").records()
    }
    assert shown == spoiled


def test_days_narrow_the_window(
    synced_duckdb: Synced, report: Callable[..., CliResult], tmp_path: Path
) -> None:
    # Four days: the latest day of any fact is the inventory snapshot's, taken on the wall clock, which runs
    # a day ahead of the simulator's; its last sales may lie in the small hours of the day before. Four
    # days hold a whole day of sales whatever the hour, and fewer days than the history.
    output = tmp_path / "four_days.html"
    result = report(synced_duckdb.env, "--days", "4", "--output", str(output))
    assert result.code == 0, result.err
    page = read_page(output)
    first, last = synced_duckdb.window(days=4)
    assert f"4 kiosk-local days, {as_date(first)} to {as_date(last)}" in page.html
    assert synced_duckdb.query("select min(date_key) from fct_sales where is_counted")[0][0] < first
    gross = dict(
        synced_duckdb.query(
            "select currency, sum(gross_amount) from fct_sales "
            f"where is_counted and date_key between {first} and {last} group by currency"
        )
    )
    assert {r["currency"]: number(r["gross"]) for r in page.table("revenue-totals").records()} == gross
    assert report(synced_duckdb.env, "--days", "0").code == 2


def test_pipeline_health_lists_the_runs_of_sync_runs(written: tuple[Synced, Page]) -> None:
    synced, page = written
    runs = synced.query("select status, rows_loaded, requests from sync_runs order by started_at desc")
    listed = page.table("health-runs").records()
    assert [(r["status"], int(number(r["rows_loaded"])), int(number(r["requests"]))) for r in listed] == [
        (status, int(rows), int(requests)) for status, rows, requests in runs
    ]
    summary = page.table("health-summary").records()[0]
    assert int(summary["runs"]) == len(runs)
    assert int(number(summary["requests"])) == sum(int(r[2]) for r in runs)


def test_a_missing_duckdb_file_is_not_created(report: Callable[..., CliResult], tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "warehouse.duckdb"
    output = tmp_path / "report.html"
    result = report({"DESTINATION__DUCKDB__CREDENTIALS": str(missing)}, "--output", str(output))
    assert result.code == 1
    assert result.err.strip().count("\n") == 0 and "no DuckDB warehouse at" in result.err
    assert "livello-sync run" in result.err
    assert not missing.exists() and not missing.parent.exists() and not output.exists()


def test_missing_marts_exit_1_with_a_hint_and_change_nothing(
    synced: Synced, report: Callable[..., CliResult], tmp_path: Path
) -> None:
    output = tmp_path / "report.html"
    schemas_before = synced.query("select schema_name from information_schema.schemata order by 1")
    result = report(
        synced.env, "--destination", synced.engine, "--dataset", "not_built_here", "--output", str(output)
    )
    assert result.code == 1
    assert result.err.strip().count("\n") == 0, result.err
    assert "the marts are missing" in result.err and "livello-sync transform" in result.err
    assert not output.exists()
    assert synced.query("select schema_name from information_schema.schemata order by 1") == schemas_before


def test_marts_without_rows_give_a_report_that_says_so(
    request: pytest.FixtureRequest, report: Callable[..., CliResult], tmp_path: Path
) -> None:
    from tests.transforms.conftest import new_warehouse
    from transforms.runner import build

    warehouse = new_warehouse("duckdb", request, tmp_path, load=False)
    build(warehouse.pipeline)  # the marts of a warehouse nothing was loaded into: tables without rows
    path = warehouse.pipeline.sql_client().credentials.database
    output = tmp_path / "empty.html"
    result = report(
        {"DESTINATION__DUCKDB__CREDENTIALS": path}, "--dataset", warehouse.pipeline.dataset_name,
        "--output", str(output),
    )  # fmt: skip
    assert result.code == 0, result.err
    page = read_page(output)
    assert "no data in the marts yet" in page.html
    assert "No run recorded in sync_runs" in page.html


def test_the_plan_and_the_cold_chain_come_from_their_marts(written: tuple[Synced, Page]) -> None:
    synced, page = written
    first, last = synced.window()
    minutes = dict(
        synced.query(
            "select kiosk_serial_number || ' ' || sensor_position, sum(minutes_above_threshold) "
            f"from fct_cold_chain_daily where date_key between {first} and {last} "
            "group by kiosk_serial_number, sensor_position"
        )
    )
    units = dict(
        synced.query(
            "select kiosk_serial_number, sum(suggested_refill_quantity) from fct_replenishment_plan "
            "where suggested_refill_quantity > 0 group by kiosk_serial_number"
        )
    )
    assert "Fallback" not in page.html and "From fct_replenishment_plan" in page.html
    assert "come from fct_cold_chain_daily" in page.html
    shown = {
        f"{r['kiosk'].split()[0]} {r['sensor_position']}": int(number(r["minutes_above"]))
        for r in page.table("cold-sensors").records()
    }
    assert shown == {k: int(v) for k, v in minutes.items()}
    if not units:
        assert "Nothing to refill: the plan suggests no units." in page.html
        return
    planned = {r["kiosk"].split()[0]: int(number(r["units"])) for r in page.table("refills-kiosks").records()}
    assert planned == {k: int(v) for k, v in units.items()}
    cells = page.table("refills-cells")
    assert {"avg_sold", "cover", "stock_out"} <= set(cells.columns)


def test_write_report_for_the_demo(
    synced_duckdb: Synced, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from pipelines.destination import open_pipeline
    from pipelines.report import write_report

    for key, value in synced_duckdb.env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)
    path = write_report(open_pipeline("duckdb", "livello"), "demo_report.html")
    assert path == (tmp_path / "demo_report.html").resolve() and path.is_file()
    assert "Livello kiosk report" in path.read_text(encoding="utf-8")
