"""The model files themselves: headers, one SQL source for both engines, and the generated data dictionary."""

from __future__ import annotations

import sqlglot

from transforms import dictionary
from transforms.models import load_data_tests, load_models
from transforms.render import render_select


def test_every_mart_states_its_grain_and_documents_its_columns() -> None:
    for model in load_models():
        assert model.grain, f"{model.name} has no grain"
        assert model.columns, f"{model.name} documents no column"
        if model.kind == "mart":
            assert model.unique, f"{model.name} declares no unique key"


def test_every_data_test_targets_an_existing_mart() -> None:
    marts = {m.name for m in load_models() if m.kind == "mart"}
    assert {t.model for t in load_data_tests()} <= marts


def test_one_sql_source_renders_for_both_engines() -> None:
    # every raw table present, with no columns: the worst case a first partial sync can produce
    raw_tables = [
        "organizations",
        "vat_rates",
        "organization_product_lines",
        "kiosks",
        "kiosk_details",
        "kiosk_inventory",
        "products",
        "transactions",
        "transactions__items_purchased",
        "refills",
        "refills__items_replenished",
        "users",
        "alerts",
        "alert_types",
        "temperature",
    ]
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
