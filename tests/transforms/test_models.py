"""The model files themselves: headers, one SQL source for both engines, and the generated data dictionary."""

from __future__ import annotations

from collections import Counter

import pytest
import sqlglot

from transforms import dictionary
from transforms.models import all_data_tests, load_data_tests, load_models
from transforms.render import RenderError, parse_sql, render_select


def test_every_mart_states_its_grain_and_documents_its_columns() -> None:
    for model in load_models():
        assert model.grain, f"{model.name} has no grain"
        assert model.columns, f"{model.name} documents no column"
        if model.kind == "mart":
            assert model.unique, f"{model.name} declares no unique key"


def test_every_data_test_targets_an_existing_mart_or_staging_view() -> None:
    # staging: fields the marts count by, checked where they arrive (a mart's COALESCE would hide their loss)
    targets = {m.name for m in load_models() if m.kind in ("mart", "staging")}
    assert {t.model for t in load_data_tests()} <= targets


def test_one_sql_source_renders_for_both_engines() -> None:
    # every raw table the staging models read present, with no columns: the worst case a first partial sync
    # can produce
    raw_tables = set().union(*(parse_sql(m.sql).raw_tables for m in load_models() if m.kind == "staging"))
    assert {"transactions", "transactions__items_purchased", "kiosk_details", "temperature"} <= raw_tables
    raw = {table: frozenset() for table in raw_tables}
    for model in load_models():
        for dialect in ("duckdb", "postgres"):
            sql = render_select(model.sql, dialect=dialect, dataset="livello", raw_columns=raw)
            sqlglot.parse_one(sql, read=dialect)  # the output is valid SQL of that dialect
            assert '"livello".' in sql


def test_missing_raw_columns_become_typed_nulls_and_missing_tables_empty_relations() -> None:
    sql = "SELECT CAST(t.id AS BIGINT) AS id, CAST(t.currency AS VARCHAR) AS c FROM raw.transactions AS t"
    rendered = render_select(
        sql, dialect="postgres", dataset="ds", raw_columns={"transactions": frozenset({"id"})}
    )
    assert (
        rendered == 'SELECT CAST(t.id AS BIGINT) AS id, CAST(NULL AS TEXT) AS c FROM "ds".transactions AS t'
    )
    missing = render_select(sql, dialect="duckdb", dataset="ds", raw_columns={})
    assert "WHERE FALSE" in missing and "CAST(NULL AS BIGINT)" in missing


def test_the_data_dictionary_is_generated_from_the_models_and_up_to_date() -> None:
    assert dictionary.DICTIONARY_PATH.read_text(encoding="utf-8") == dictionary.render(), (
        "docs/data-dictionary.md is stale: run python -m transforms.dictionary"
    )
    text = dictionary.render()
    for model in load_models():
        assert f"### `{model.name}`" in text


def test_staging_reads_one_raw_table_and_only_staging_reads_raw_tables() -> None:
    for model in load_models():
        parsed = parse_sql(model.sql)
        if model.kind == "staging":
            assert len(parsed.raw_tables) == 1 and not parsed.relations, model.name
        else:
            assert not parsed.raw_tables, model.name


def test_dependencies_are_the_relations_the_parsed_sql_reads() -> None:
    models = {m.name: m for m in load_models()}
    # CTE names are no dependencies; a macro's join is one (local_time reads int_utc_offsets)
    assert models["fct_alerts"].depends_on == {"stg_alerts", "int_kiosks", "int_utc_offsets"}
    assert models["fct_sales"].depends_on == {
        "stg_transaction_items",
        "stg_transactions",
        "fct_transactions",
        "dim_product",
    }
    order = [m.name for m in load_models()]
    for model in load_models():
        assert all(order.index(dep) < order.index(model.name) for dep in model.depends_on), model.name


def _expanded(sql: str) -> str:
    return render_select(sql, dialect="duckdb", dataset="ds", raw_columns={}, schemas={})


def test_date_key_and_valid_at_macros_expand_to_their_one_definition() -> None:
    sql = _expanded(
        "SELECT date_key(s.sold_at_local) AS k FROM f AS s "
        "LEFT JOIN dim_product AS d ON d.product_meta_id = s.product_meta_id AND valid_at(d, s.sold_at_utc)"
    )
    assert (
        "CAST(EXTRACT(YEAR FROM s.sold_at_local) * 10000 + EXTRACT(MONTH FROM s.sold_at_local) * 100" in sql
    )
    assert "AND (s.sold_at_utc >= d.effective_from AND s.sold_at_utc < d.effective_to)" in sql


def test_local_time_joins_the_hour_offsets_once_per_timestamp_in_the_select_that_calls_it() -> None:
    sql = _expanded(
        "WITH x AS (SELECT t.id, local_time(t.at_utc, k.timezone) AS a, "
        "local_time(t.at_utc, k.timezone) AS b FROM t AS t LEFT JOIN k AS k ON k.id = t.kiosk) "
        "SELECT x.a FROM x"
    )
    assert sql.count('LEFT JOIN "ds".int_utc_offsets AS utc_offsets_1') == 1
    assert "utc_offsets_1.day_utc = DATE_TRUNC('DAY', t.at_utc)" in sql
    assert "ELSE TIMEZONE(k.timezone, TIMEZONE('UTC', t.at_utc)) END AS b" in sql
    assert sql.endswith("SELECT x.a FROM x")  # the outer SELECT is untouched


def test_changed_keys_is_the_symmetric_difference_with_the_previous_build() -> None:
    parsed = parse_sql("SELECT k.id FROM changed_keys(dim_x, id, a, b) AS k")
    assert parsed.relations == {"dim_x", "previous_dim_x"}  # what the build keeps and orders by
    sql = _expanded("SELECT k.id FROM changed_keys(dim_x, id, a, b) AS k")
    now, before = 'SELECT id, a, b FROM "ds".dim_x', 'SELECT id, a, b FROM "ds".previous_dim_x'
    assert f"SELECT id FROM ({now} EXCEPT {before}) AS added" in sql
    assert f"UNION SELECT id FROM ({before} EXCEPT {now}) AS removed) AS k" in sql


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT k.id FROM changed_keys(dim_x, id) AS k",  # no column to compare
        "SELECT k.id FROM changed_keys(dim_x, id, t.a) AS k",  # a qualified column
        "SELECT local_time(t.at_utc + INTERVAL 1 HOUR, t.tz) FROM t",  # an expression, not a column
        "SELECT * , local_time(t.at_utc, t.tz) FROM t",  # a bare * would select the joined offsets
        "SELECT t.tz, max(local_time(t.at_utc, t.tz)) FROM t GROUP BY t.tz",  # the offsets are not grouped
        "SELECT t.a FROM t WHERE local_time(t.at_utc, t.tz) > t.b",  # not in the output list
        "SELECT date_key(t.a, t.b) FROM t",  # wrong number of arguments
    ],
)
def test_macros_refuse_what_they_cannot_expand(sql: str) -> None:
    with pytest.raises(RenderError):
        parse_sql(sql)


def test_data_tests_carry_their_kind_and_columns() -> None:
    tests = all_data_tests()
    kinds = Counter(t.kind for t in tests)
    assert len(tests) >= 136 and kinds["custom"] == len(load_data_tests())
    assert set(kinds) == {"unique", "not_null", "relationship", "range", "version", "custom"}
    models = {m.name: m for m in load_models()}
    for test in tests:
        if test.kind == "custom":
            assert not test.columns
            continue
        assert test.columns and set(test.columns) <= set(models[test.model].columns), test
        if test.kind == "relationship":
            assert test.to_column in models[str(test.to_model)].columns, test


def test_the_version_test_finds_lines_without_the_version_of_a_listed_product() -> None:
    """A null product_key is allowed only for a product dim_product has no version of; a key of another
    product is wrong too. Run on tables of the test's own columns, in a real DuckDB."""
    import duckdb

    test = next(t for t in all_data_tests() if (t.model, t.name) == ("fct_sales", "version(product_key)"))
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE dim_product AS SELECT '1-1' AS product_key, 1 AS product_meta_id, "
        "TIMESTAMP '1900-01-01' AS effective_from, TIMESTAMP '9999-12-31' AS effective_to"
    )
    con.execute(
        "CREATE TABLE fct_sales AS SELECT * FROM "
        "(VALUES (1, '1-1', 1), (2, NULL, 1), (3, NULL, 2), (4, '1-1', 2)) AS t(line_number, product_key, "
        "product_meta_id), (SELECT TIMESTAMP '2026-03-01' AS sold_at_utc)"
    )
    assert sorted(row[0] for row in con.sql(test.sql).fetchall()) == [2, 4]
