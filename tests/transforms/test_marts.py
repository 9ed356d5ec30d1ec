"""The marts built from the contract-shaped fixture: values users rely on, the catalog BI tools read (schema,
keys, foreign keys, comments) and the marts an operator plans with, on DuckDB and PostgreSQL."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tests.transforms.conftest import Warehouse
from tests.transforms.raw_fixtures import KIOSKS, PRODUCT_LINES, berlin_dst_instants, iter_sales_lines, sales
from transforms.constraints import foreign_keys, primary_key, table_comment
from transforms.models import Model, load_models
from transforms.render import parse_sql, render_select

MARTS = [m.name for m in load_models() if m.kind == "mart"]
REQUIRED_COLUMNS = {  # ../shared/design/warehouse.md: names users' dashboards depend on
    "dim_date": "date_key date year quarter month iso_week day_of_week is_weekend",
    "dim_organization": "organization_id name type parent_organization_id currency",
    "dim_kiosk": "kiosk_serial_number name organization_id timezone currency",
    "dim_product": "product_key product_meta_id name manufacturer category valid_from valid_to is_current "
    "is_deleted",
    "dim_payment_method": "payment_method_key payment_type card_type",
    "fct_transactions": "transaction_id kiosk_serial_number created_at_utc date_key is_paid "
    "ended_with_purchase "
    "item_count gross_amount discount_amount currency payment_method_key",
    "fct_sales": "transaction_id line_number kiosk_serial_number product_key product_meta_id product_line_id "
    "sold_at_utc date_key quantity unit_price gross_amount discount_amount net_amount tax_amount cost_amount "
    "profit_amount currency is_paid payment_method_key",
    "fct_refills": "refill_id line_number kiosk_serial_number product_key product_meta_id product_line_id "
    "refilled_at_utc date_key quantity_added quantity_removed quantity_removed_expired cost_value_added "
    "sales_value_added cost_value_removed currency",
    "fct_inventory_snapshot": "snapshot_at_utc date_key kiosk_serial_number load_cell_id planogram_position "
    "product_line_id product_meta_id quantity_on_hand capacity fill_rate stock_value_gross currency",
    "fct_inventory_daily": "snapshot_at_utc date_key kiosk_serial_number load_cell_id planogram_position "
    "product_line_id product_meta_id quantity_on_hand capacity fill_rate stock_value_gross currency",
    "fct_temperature_hourly": "kiosk_serial_number sensor_position hour_utc avg_celsius min_celsius "
    "max_celsius",
    "fct_alerts": "alert_id kiosk_serial_number type severity status started_at_utc resolved_at_utc is_ack",
}


def test_every_mart_of_the_design_exists_with_its_required_columns(built: Warehouse) -> None:
    assert set(REQUIRED_COLUMNS) <= set(MARTS)
    for mart, required in REQUIRED_COLUMNS.items():
        columns, _ = built.table(mart)
        assert set(required.split()) <= set(columns), mart


def test_columns_of_every_model_match_its_documentation(built: Warehouse) -> None:
    for model in load_models():
        if model.kind == "intermediate":
            # a temporary table of the build's session, gone after it: check the SELECT's output names
            columns = [e.alias_or_name for e in parse_sql(model.sql).tree.expressions]
        else:
            columns, _ = built.table(model.name)
        assert columns == list(model.columns), f"{model.name}: built columns differ from its header"


def test_build_report_counts_rows_and_passes_every_data_test(built: Warehouse) -> None:
    report = built.report
    assert report is not None and not report.failed_tests
    counts = report.row_counts()
    transactions = sales()
    assert counts["fct_transactions"] == len(transactions)
    assert counts["fct_sales"] == sum(len(s.items) for s in transactions)
    assert counts["fct_inventory_snapshot"] == 4  # two syncs x two load cells
    assert counts["fct_inventory_daily"] == 2  # both syncs fall on one Berlin day: the later one wins
    assert all(m.seconds >= 0 for m in report.models)
    assert "data tests" in report.summary()


def _half_up(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def test_sales_money_follows_the_vendor_definitions_to_the_cent(built: Warehouse) -> None:
    rows = built.query(
        "SELECT transaction_id, line_number, gross_amount, net_amount, tax_amount, cost_amount, "
        "profit_amount, "
        "currency FROM fct_sales"
    )
    got = {(r[0], r[1]): r[2:] for r in rows}
    currency = {serial: cur for serial, _n, _o, _tz, cur, _v in KIOSKS}
    for sale, item in iter_sales_lines():
        line_number = sale.items.index(item) + 1
        gross = item["total"]
        net = _half_up(gross / (1 + item["vatRate"] / 100))
        cost = _half_up(item["quantity"] * item["cost"])
        expected = (gross, net, gross - net, cost, net - cost, currency[sale.kiosk])
        assert got[(sale.transaction_id, line_number)] == expected, (sale.transaction_id, line_number)


def test_half_cent_net_rounds_up_exactly(built: Warehouse) -> None:
    # 0.03 GBP at 20 % VAT is 0.025 net: half-up gives 0.03 (floating point division would risk 0.02)
    [(net, tax)] = built.query("SELECT net_amount, tax_amount FROM fct_sales WHERE product_meta_id = 302")
    assert (net, tax) == (Decimal("0.03"), Decimal("0.00"))


def test_transactions_on_daylight_saving_sundays_get_kiosk_local_date_and_hour(built: Warehouse) -> None:
    berlin = ZoneInfo("Europe/Berlin")
    rows = built.query(
        "SELECT created_at_utc, local_date, local_hour, date_key, created_at_local FROM fct_transactions "
        "WHERE kiosk_serial_number = 'LIV-0001' AND transaction_id >= 100"
    )
    by_instant = {r[0]: r[1:] for r in rows}
    assert len(by_instant) == len(berlin_dst_instants())
    for instant in berlin_dst_instants():
        local = instant.astimezone(berlin)
        naive_utc = instant.astimezone(UTC).replace(tzinfo=None)
        local_date, local_hour, date_key, local_ts = by_instant[naive_utc]
        assert (local_date, local_hour) == (local.date(), local.hour), instant
        assert date_key == local.year * 10000 + local.month * 100 + local.day
        assert local_ts == local.replace(tzinfo=None)
    hours_on = {}
    for _utc, (local_date, hour, _key, _ts) in by_instant.items():
        hours_on.setdefault(local_date, []).append(hour)
    # spring: a wall clock reading 02:30 does not exist (it is the instant of 03:30 CEST);
    # autumn: 02:30 happens twice
    assert sorted(hours_on[date(2026, 3, 29)]) == [1, 3]
    assert sorted(hours_on[date(2026, 10, 25)]) == [1, 2, 2, 3]
    assert hours_on[date(2026, 3, 28)] == [23]


# Every fact's UTC event time and its kiosk-local twin: all come from the one local_time() macro.
LOCAL_TIMES = {
    "fct_transactions": ("created_at_utc", "created_at_local"),
    "fct_sales": ("sold_at_utc", "sold_at_local"),
    "fct_refills": ("refilled_at_utc", "refilled_at_local"),
    "fct_inventory_snapshot": ("snapshot_at_utc", "snapshot_at_local"),
    "fct_inventory_daily": ("snapshot_at_utc", "snapshot_at_local"),
    "fct_temperature_hourly": ("hour_utc", "hour_local"),
    "fct_alerts": ("started_at_utc", "started_at_local"),
    "fct_replenishment_plan": ("snapshot_at_utc", "snapshot_at_local"),
}
# Daily facts: a kiosk-local day is their grain, there is no event time to convert.
DAILY_FACTS = {"fct_cold_chain_daily", "fct_kiosk_daily"}


def test_every_fact_gets_exact_kiosk_local_time_date_and_date_key(built: Warehouse) -> None:
    assert {m for m in MARTS if m.startswith("fct_")} == set(LOCAL_TIMES) | DAILY_FACTS
    for fact, (utc_column, local_column) in LOCAL_TIMES.items():
        rows = built.query(
            f"SELECT f.{utc_column}, f.{local_column}, f.local_date, f.date_key, k.timezone FROM {fact} AS f "
            "JOIN dim_kiosk AS k ON k.kiosk_serial_number = f.kiosk_serial_number"
        )
        assert rows, fact
        for utc, local, local_date, date_key, timezone in rows:
            expected = utc.replace(tzinfo=UTC).astimezone(ZoneInfo(timezone)).replace(tzinfo=None)
            key = expected.year * 10000 + expected.month * 100 + expected.day
            assert (local, local_date, date_key) == (expected, expected.date(), key), (fact, utc)
    # the refills in the hour before each daylight-saving change (converted row by row)
    assert built.query(
        "SELECT refilled_at_local FROM fct_refills WHERE refill_id IN (503, 504) ORDER BY refill_id"
    ) == [(datetime(2026, 3, 29, 1, 30),), (datetime(2026, 10, 25, 2, 30),)]


def test_a_price_change_gives_two_versions_and_each_sale_joins_its_own(built: Warehouse) -> None:
    versions = built.query(
        "SELECT product_key, version_number, list_price, valid_from, valid_to, is_current, is_deleted "
        "FROM dim_product WHERE product_meta_id = 101 ORDER BY version_number"
    )
    changed_at = datetime(2026, 3, 15, 8, 0)
    assert versions == [
        ("101-1", 1, Decimal("1.79"), datetime(2026, 1, 1), changed_at, False, False),
        ("101-2", 2, Decimal("1.99"), changed_at, None, True, False),
    ]
    joined = built.query(
        "SELECT s.transaction_id, s.product_key, p.list_price, s.unit_price FROM fct_sales AS s "
        "JOIN dim_product AS p ON p.product_key = s.product_key WHERE s.product_meta_id = 101 "
        "ORDER BY s.transaction_id"
    )
    assert joined == [
        (1, "101-1", Decimal("1.79"), Decimal("1.79")),
        (2, "101-2", Decimal("1.99"), Decimal("1.99")),
    ]
    # the inventory snapshot on 2026-03-20 and the refill on 2026-03-12 join the versions valid then
    assert built.query(
        "SELECT DISTINCT product_key FROM fct_inventory_snapshot WHERE product_meta_id = 101"
    ) == [("101-2",)]
    assert built.query("SELECT product_key FROM fct_refills WHERE product_meta_id = 101") == [("101-1",)]


def test_transactions_keep_sessions_without_purchase_and_flag_counted_ones(built: Warehouse) -> None:
    rows = dict(
        (r[0], r[1:])
        for r in built.query(
            "SELECT transaction_id, is_counted, item_count, gross_amount, line_count FROM fct_transactions "
            "WHERE transaction_id IN (1, 5, 6)"
        )
    )
    assert rows[1] == (True, 3, Decimal("5.87"), 2)
    assert rows[5][0] is False  # unpaid
    assert rows[6] == (False, 0, Decimal("0.00"), 0)  # ended without purchase


def test_payment_methods_map_to_the_vendor_buckets(built: Warehouse) -> None:
    buckets = dict(built.query("SELECT payment_method_key, vendor_category FROM dim_payment_method"))
    assert buckets["MEMBERCARD:Visa"] == "membercard"
    assert buckets["CARD:Girocard"] == "girocard"
    assert buckets["CARD:AMEX"] == "otherCreditCard"
    assert buckets["FREE:none"] == "other"


def test_inventory_daily_keeps_the_last_snapshot_of_the_local_day(built: Warehouse) -> None:
    rows = built.query(
        "SELECT load_cell_id, quantity_on_hand, capacity, fill_rate, stock_value_gross, is_empty_cell, "
        "currency "
        "FROM fct_inventory_daily ORDER BY load_cell_id"
    )
    assert rows == [
        (11, 3, 10, Decimal("0.3"), Decimal("5.97"), False, "EUR"),
        (12, 0, None, None, Decimal("0.00"), True, "EUR"),
    ]


def test_temperature_hours_come_from_hourly_or_minutely_buckets(built: Warehouse) -> None:
    rows = built.query(
        "SELECT kiosk_serial_number, hour_utc, avg_celsius, max_celsius, source_granularity "
        "FROM fct_temperature_hourly WHERE kiosk_serial_number <> 'LIV-0003' ORDER BY 1, 2"
    )
    assert rows == [
        ("LIV-0001", datetime(2026, 3, 20, 10), Decimal("5.5"), Decimal("6.5"), "hourly"),
        ("LIV-0001", datetime(2026, 3, 20, 11), Decimal("7.4"), Decimal("8.4"), "hourly"),
        (
            "LIV-0002",
            datetime(2026, 3, 20, 12),
            Decimal("6.002"),
            Decimal("6.2"),
            "minutely",
        ),  # 6.0015 half-up
    ]


def test_dim_date_covers_whole_years_of_fact_dates(built: Warehouse) -> None:
    [(first, last, days)] = built.query("SELECT min(date), max(date), count(*) FROM dim_date")
    assert (first, last, days) == (date(2026, 1, 1), date(2026, 12, 31), 365)
    assert built.query(
        "SELECT iso_week, day_of_week, is_weekend FROM dim_date WHERE date_key = 20261025"
    ) == [(43, 7, True)]


def test_alerts_keep_current_state(built: Warehouse) -> None:
    rows = built.query("SELECT alert_id, status, is_ack, duration_minutes FROM fct_alerts ORDER BY alert_id")
    assert rows == [("9001", "resolved", True, 90), ("9002", "open", False, None)]


# Load times differ between two loads of the same data; they are audit columns, not data.
LOAD_TIME_COLUMNS = {"loaded_from_utc"}


def _without_load_times(columns: list[str], rows: list[tuple]) -> tuple[list[str], list[tuple]]:
    keep = [i for i, c in enumerate(columns) if c not in LOAD_TIME_COLUMNS]
    rows = [tuple(r[i] for i in keep) for r in rows]
    return [columns[i] for i in keep], sorted(rows, key=lambda r: tuple((v is None, str(v)) for v in r))


@pytest.mark.postgres
@pytest.mark.parametrize("mart", MARTS)
def test_marts_are_identical_on_duckdb_and_postgres(built_both: dict[str, Warehouse], mart: str) -> None:
    duck_columns, duck_rows = _without_load_times(*built_both["duckdb"].table(mart))
    pg_columns, pg_rows = _without_load_times(*built_both["postgres"].table(mart))
    assert duck_columns == pg_columns
    assert duck_rows, f"{mart} is empty in the fixture: the comparison would prove nothing"
    assert len(duck_rows) == len(pg_rows)
    for duck_row, pg_row in zip(duck_rows, pg_rows, strict=True):
        assert duck_row == pg_row


# A DuckDB column type and the PostgreSQL type the same SQL must give (information_schema's names).
SAME_TYPE = {
    "BIGINT": "bigint",
    "BOOLEAN": "boolean",
    "DATE": "date",
    "DOUBLE": "double precision",
    "INTEGER": "integer",
    "TIMESTAMP": "timestamp without time zone",
    "VARCHAR": "text",
}
# Columns whose PostgreSQL type is an unconstrained numeric (`x * 0.0001` and `//` transpile so); left as
# they are, because the marts keep their types, until the marts get declared column types.
NUMERIC_ON_POSTGRES = {
    ("fct_alerts", "duration_minutes"),
    ("fct_inventory_daily", "fill_rate"),
    ("fct_inventory_snapshot", "fill_rate"),
}


def _column_types(warehouse: Warehouse) -> dict[tuple[str, str], tuple[object, ...]]:
    rows = warehouse.query(
        "SELECT table_name, column_name, data_type, numeric_precision, numeric_scale "
        "FROM information_schema.columns WHERE table_schema = %s",
        warehouse.pipeline.dataset_name,
    )
    return {(t, c): (kind, precision, scale) for t, c, kind, precision, scale in rows if t in MARTS}


@pytest.mark.postgres
def test_every_mart_column_has_the_same_type_on_duckdb_and_postgres(built_both: dict[str, Warehouse]) -> None:
    duck, pg = _column_types(built_both["duckdb"]), _column_types(built_both["postgres"])
    assert set(duck) == set(pg)
    for column, (duck_type, precision, scale) in duck.items():
        if column in NUMERIC_ON_POSTGRES:
            expected = ("numeric", None, None)
        elif str(duck_type).startswith("DECIMAL("):
            expected = ("numeric", precision, scale)  # DECIMAL(p,s) is numeric(p,s)
        else:
            expected = (SAME_TYPE[str(duck_type)], precision, scale if duck_type != "DOUBLE" else None)
        assert pg[column] == expected, (column, duck_type)


def _bi_questions() -> list[str]:
    text = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    questions = text.split("## Seven questions answered in SQL", 1)[1]
    return re.findall(r"```sql\n(.*?)```", questions, re.DOTALL)


def test_the_seven_bi_questions_of_the_docs_run_on_the_marts(built: Warehouse) -> None:
    questions = _bi_questions()
    assert len(questions) == 7
    for sql in questions:
        built.query(sql.strip().rstrip(";"))
    # revenue per kiosk per week keeps currencies apart
    rows = built.query(questions[0].strip().rstrip(";"))
    assert {(r[0], r[5]) for r in rows} == {("LIV-0001", "EUR"), ("LIV-0002", "CHF"), ("LIV-0003", "GBP")}
    # the cold-chain question finds the fixture's two breach days (LIV-0001 top, LIV-0003 bottom)
    breaches = built.query(questions[6].strip().rstrip(";"))
    assert {(r[0], r[3]) for r in breaches} == {("LIV-0001", "top"), ("LIV-0003", "bottom")}


# --- the marts as a BI tool sees them: own schema, keys, foreign keys, comments ------------------------
MART_MODELS = {m.name: m for m in load_models() if m.kind == "mart"}
STAGING = {m.name for m in load_models() if m.kind == "staging"}


def _relations(built: Warehouse, schema: str) -> dict[str, str]:
    rows = built.query(
        "SELECT table_name, table_type FROM information_schema.tables WHERE table_schema = %s", schema
    )
    return {str(name): str(kind) for name, kind in rows}


def test_the_marts_schema_holds_the_marts_alone_and_raw_data_stays_in_the_dataset(built: Warehouse) -> None:
    assert built.marts == f"{built.dataset}_marts"
    marts = _relations(built, built.marts)
    assert set(marts) == set(MART_MODELS) and set(marts.values()) == {"BASE TABLE"}
    dataset = _relations(built, built.dataset)
    assert set(dataset) >= STAGING and not set(MART_MODELS) & set(dataset)
    assert {"transactions", "_dlt_loads"} <= set(dataset)


def _expected_joins() -> set[tuple[str, str, str, str]]:
    return {
        (m.name, col, to, to_col)
        for m in MART_MODELS.values()
        for col, to, to_col in foreign_keys(m, MART_MODELS)
    }


def test_every_relationship_of_the_headers_can_be_a_foreign_key() -> None:
    declared = {
        (m.name, r.column, r.to_model, r.to_column) for m in MART_MODELS.values() for r in m.relationships
    }
    assert declared == _expected_joins()
    assert all(primary_key(m) for m in MART_MODELS.values())


@pytest.mark.postgres
def test_postgres_catalog_declares_keys_not_null_and_every_fact_to_dimension_join(
    built_both: dict[str, Warehouse],
) -> None:
    pg = built_both["postgres"]
    schema = pg.marts
    # Metabase's way: information_schema's constraint views
    rows = pg.query(
        "SELECT tc.table_name, kcu.column_name, ccu.table_name, ccu.column_name "
        "FROM information_schema.table_constraints AS tc "
        "JOIN information_schema.key_column_usage AS kcu "
        "  ON kcu.constraint_name = tc.constraint_name AND kcu.table_schema = tc.table_schema "
        "JOIN information_schema.constraint_column_usage AS ccu "
        "  ON ccu.constraint_name = tc.constraint_name AND ccu.table_schema = tc.table_schema "
        "WHERE tc.constraint_type = 'FOREIGN KEY' AND tc.table_schema = %s",
        schema,
    )
    assert set(rows) == _expected_joins()
    assert {(f, d) for f, _c, d, _k in rows if f.startswith("fct_")} >= {
        ("fct_sales", "dim_product"),
        ("fct_sales", "dim_kiosk"),
        ("fct_sales", "dim_date"),
        ("fct_transactions", "dim_payment_method"),
    }
    # DBeaver's and psql's way: pg_constraint, with the primary keys
    keys = pg.query(
        "SELECT t.relname, c.contype, array_to_string(array(SELECT a.attname FROM unnest(c.conkey) WITH "
        "ORDINALITY AS k(n, i) JOIN pg_attribute AS a ON a.attrelid = c.conrelid AND a.attnum = k.n "
        "ORDER BY k.i), ','), c.confrelid::regclass::text "
        "FROM pg_constraint AS c JOIN pg_class AS t ON t.oid = c.conrelid "
        "JOIN pg_namespace AS n ON n.oid = t.relnamespace WHERE n.nspname = %s",
        schema,
    )
    pks = {table: tuple(cols.split(",")) for table, kind, cols, _ in keys if kind == "p"}
    assert pks == {name: primary_key(m) for name, m in MART_MODELS.items()}
    assert sum(kind == "f" for _, kind, _, _ in keys) == len(_expected_joins())
    nullable = set(
        pg.query(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = %s AND is_nullable = 'NO'",
            schema,
        )
    )
    assert nullable == {(m.name, c) for m in MART_MODELS.values() for c in {*m.not_null, *primary_key(m)}}
    # every foreign key column is indexed (alone, or leading the primary key)
    indexed = set(
        pg.query(
            "SELECT t.relname, a.attname FROM pg_index AS i JOIN pg_class AS t ON t.oid = i.indrelid "
            "JOIN pg_namespace AS n ON n.oid = t.relnamespace "
            "JOIN pg_attribute AS a ON a.attrelid = t.oid AND a.attnum = i.indkey[0] WHERE n.nspname = %s",
            schema,
        )
    )
    assert {(f, c) for f, c, _, _ in _expected_joins()} <= indexed


def _comments_expected(model: Model) -> dict[str, str]:
    return {column: " ".join(meaning.split()) for column, meaning in model.columns.items()}


@pytest.mark.postgres
def test_postgres_tables_and_columns_carry_the_headers_descriptions(built_both: dict[str, Warehouse]) -> None:
    pg = built_both["postgres"]
    tables = dict(
        pg.query(
            "SELECT c.relname, obj_description(c.oid, 'pg_class') FROM pg_class AS c "
            "JOIN pg_namespace AS n ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relkind = 'r'",
            pg.marts,
        )
    )
    assert tables == {name: table_comment(m) for name, m in MART_MODELS.items()}
    rows = pg.query(
        "SELECT table_name, column_name, "
        "col_description(format('%%I.%%I', table_schema, table_name)::regclass, ordinal_position) "
        "FROM information_schema.columns WHERE table_schema = %s",
        pg.marts,
    )
    for name, model in MART_MODELS.items():
        got = {c: d for t, c, d in rows if t == name}
        assert got == _comments_expected(model), name


def test_duckdb_declares_primary_keys_not_null_and_comments(built_both: dict[str, Warehouse]) -> None:
    duck = built_both["duckdb"]
    tables = dict(
        duck.query("SELECT table_name, comment FROM duckdb_tables() WHERE schema_name = %s", duck.marts)
    )
    assert tables == {name: table_comment(m) for name, m in MART_MODELS.items()}
    columns = duck.query(
        "SELECT table_name, column_name, comment, is_nullable FROM duckdb_columns() WHERE schema_name = %s",
        duck.marts,
    )
    for name, model in MART_MODELS.items():
        assert {c: d for t, c, d, _ in columns if t == name} == _comments_expected(model), name
        not_null = {c for t, c, _, nullable in columns if t == name and not nullable}
        assert not_null == {*model.not_null, *primary_key(model)}, name
    keys = duck.query(
        "SELECT table_name, constraint_column_names FROM duckdb_constraints() "
        "WHERE schema_name = %s AND constraint_type = 'PRIMARY KEY'",
        duck.marts,
    )
    assert {t: tuple(cols) for t, cols in keys} == {name: primary_key(m) for name, m in MART_MODELS.items()}


# --- the marts an operator plans with ------------------------------------------------------------------
def test_cold_chain_uses_the_finest_granularity_and_the_breach_rule(built: Warehouse) -> None:
    rows = built.query(
        "SELECT kiosk_serial_number, sensor_position, local_date, minutes_measured, minutes_above_threshold, "
        "longest_excursion_minutes, max_celsius, is_breach, threshold_celsius, breach_after_minutes, "
        "source_granularity FROM fct_cold_chain_daily ORDER BY 1, 2, 3"
    )
    seven = Decimal("7.000")
    assert rows == [
        # two hourly buckets, the second (7.4 °C) above the limit: a 60-minute excursion
        ("LIV-0001", "top", date(2026, 3, 20), 120, 60, 60, Decimal("8.4"), True, seven, 30, "hourly"),
        ("LIV-0002", "middle", date(2026, 3, 20), 2, 0, 0, Decimal("6.2"), False, seven, 30, "minutely"),
        # 08:00 hourly, 09:00 from its 45 minutes (not its hourly bucket): 35 + 5 minutes above, longest 35
        ("LIV-0003", "bottom", date(2026, 3, 21), 105, 40, 35, Decimal("8.5"), True, seven, 30, "mixed"),
    ]


def test_settings_are_literals_in_the_rendered_sql() -> None:
    sql = "SELECT t.x > setting('cold_chain_max_celsius') AS hot FROM t AS t"
    rendered = render_select(
        sql,
        dialect="postgres",
        dataset="ds",
        raw_columns={},
        settings={"cold_chain_max_celsius": Decimal("8.500")},
    )
    assert "t.x > CAST(8.500 AS DECIMAL(18, 3))" in rendered


def _round_half_up(value: Decimal, places: str) -> Decimal:
    return value.quantize(Decimal(places), rounding=ROUND_HALF_UP)


def test_replenishment_plan_fills_to_capacity_with_weekday_aware_demand(built: Warehouse) -> None:
    rows = built.query(
        "SELECT load_cell_id, local_date, next_visit_date, quantity_on_hand, capacity, "
        "avg_units_sold_per_day, demand_basis, demand_days, days_of_cover, predicted_stock_out_date, "
        "units_expiring_before_next_visit, suggested_refill_quantity, suggested_refill_cost, "
        "suggested_refill_sales_value, currency "
        "FROM fct_replenishment_plan ORDER BY load_cell_id"
    )
    # Truth from the fixture: the latest snapshot is 2026-03-20 21:00 in Berlin, the visit Saturday the
    # 21st; demand = units of line 1101 sold on the Saturdays of the 28 days before, since the kiosk's first
    # session.
    berlin = ZoneInfo("Europe/Berlin")
    local = {s.transaction_id: s.created_utc.astimezone(berlin).date() for s in sales()}
    mine = [s for s in sales() if s.kiosk == "LIV-0001"]
    first = min(local[s.transaction_id] for s in mine)
    snapshot_day, visit = date(2026, 3, 20), date(2026, 3, 21)
    days = [
        snapshot_day - timedelta(days=n)
        for n in range(1, 29)
        if snapshot_day - timedelta(days=n) >= first
        and (snapshot_day - timedelta(days=n)).isoweekday() == visit.isoweekday()
    ]
    units = sum(
        item["quantity"]
        for s in mine
        if s.paid and s.ended_with_purchase and local[s.transaction_id] in days
        for item in s.items
        if item["productLineId"] == PRODUCT_LINES[101]
    )
    demand = _round_half_up(Decimal(units) / len(days), "0.001")
    cover = _round_half_up(3 / demand, "0.01") if demand else None
    assert rows[0][:8] == (11, snapshot_day, visit, 3, 10, demand, "weekday", len(days))
    assert rows[0][8] == cover
    # expiry 2026-04-01 is after the visit: nothing expires; 7 units fill the cell (cost 0.60, price 1.99)
    assert rows[0][10:] == (0, 7, Decimal("4.20"), Decimal("13.93"), "EUR")
    # an empty cell: no product, nothing to bring, no expiry known
    assert rows[1][0] == 12 and rows[1][3:5] == (0, None) and rows[1][10:14] == (None, 0, 0, 0)


def test_kiosk_days_count_sessions_and_quiet_opening_hours(built: Warehouse) -> None:
    rows = {
        (r[0], r[1]): r[2:]
        for r in built.query(
            "SELECT kiosk_serial_number, local_date, sessions, paid_purchases, revenue_gross, units_sold, "
            "refills, stock_outs_seen, alerts_opened, usual_opening_hours, quiet_opening_hours "
            "FROM fct_kiosk_daily"
        )
    }
    # every day from the kiosk's first fact, quiet days included, one row each
    assert len(rows) == len(built.query("SELECT DISTINCT kiosk_serial_number, date_key FROM fct_kiosk_daily"))
    first = min(d for k, d in rows if k == "LIV-0002")
    last = max(d for k, d in rows if k == "LIV-0002")
    assert sum(1 for k, _d in rows if k == "LIV-0002") == (last - first).days + 1
    # LIV-0002 (Zurich): one counted sale of 14.70 on 2026-03-20, with its only session hour a usual one
    assert rows[("LIV-0002", date(2026, 3, 20))][:4] == (1, 1, Decimal("14.70"), 3)
    # usual hours come from the 28 days before: none before a kiosk's first session, nor on its first day
    assert rows[("LIV-0002", date(2026, 3, 19))][-2:] == (0, 0)
    assert rows[("LIV-0001", date(2026, 3, 10))][-2:] == (0, 0)
    # LIV-0001's one session of 2026-03-10 (13:00 Berlin) makes 13:00 its usual hour from the next day on:
    # quiet on the days without a session, not on 2026-03-20 with one at 13:00 again
    assert rows[("LIV-0001", date(2026, 3, 11))][-2:] == (1, 1)
    assert rows[("LIV-0001", date(2026, 3, 19))][-2:] == (1, 1)
    assert rows[("LIV-0001", date(2026, 3, 20))][-2:] == (1, 0)
    totals = built.query(
        "SELECT sum(sessions), sum(paid_purchases) FROM fct_kiosk_daily "
        "WHERE kiosk_serial_number = 'LIV-0001'"
    )
    truth = [s for s in sales() if s.kiosk == "LIV-0001"]
    assert totals == [(len(truth), sum(1 for s in truth if s.paid and s.ended_with_purchase))]


def test_promocodes_join_their_organization(built: Warehouse) -> None:
    rows = built.query(
        "SELECT code, organization_name, currency, balance, is_enabled, is_usable, valid_to_utc "
        "FROM dim_promocode ORDER BY code"
    )
    end = datetime(2026, 6, 30)
    assert rows == [
        ("01234", "Livello Demo GmbH", "EUR", Decimal("10.00"), True, True, end),
        ("20001", "Alpen Snacks AG", "CHF", Decimal("0.00"), True, False, end),
        ("30001", "Thames Vending Ltd", "GBP", Decimal("5.00"), False, False, end),
    ]
