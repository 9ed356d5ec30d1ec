"""The marts as a BI tool sees them: their own schema, keys, NOT NULL, foreign keys and comments from the
model headers, found through the catalogs BI tools read (information_schema, pg_constraint, duckdb_*())."""

from __future__ import annotations

import pytest

from tests.transforms.conftest import Warehouse
from transforms.constraints import foreign_keys, primary_key, table_comment
from transforms.models import Model, load_models

MARTS = {m.name: m for m in load_models() if m.kind == "mart"}
STAGING = {m.name for m in load_models() if m.kind == "staging"}


def _relations(built: Warehouse, schema: str) -> dict[str, str]:
    rows = built.query(
        "SELECT table_name, table_type FROM information_schema.tables WHERE table_schema = %s", schema
    )
    return {str(name): str(kind) for name, kind in rows}


def test_the_marts_schema_holds_the_marts_alone_and_raw_data_stays_in_the_dataset(built: Warehouse) -> None:
    assert built.marts == f"{built.dataset}_marts"
    marts = _relations(built, built.marts)
    assert set(marts) == set(MARTS) and set(marts.values()) == {"BASE TABLE"}
    dataset = _relations(built, built.dataset)
    assert set(dataset) >= STAGING and not set(MARTS) & set(dataset)
    assert {"transactions", "_dlt_loads"} <= set(dataset)


def _expected_joins() -> set[tuple[str, str, str, str]]:
    return {(m.name, col, to, to_col) for m in MARTS.values() for col, to, to_col in foreign_keys(m, MARTS)}


def test_every_relationship_of_the_headers_can_be_a_foreign_key() -> None:
    declared = {(m.name, r.column, r.to_model, r.to_column) for m in MARTS.values() for r in m.relationships}
    assert declared == _expected_joins()
    assert all(primary_key(m) for m in MARTS.values())


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
    assert pks == {name: primary_key(m) for name, m in MARTS.items()}
    assert sum(kind == "f" for _, kind, _, _ in keys) == len(_expected_joins())
    nullable = set(
        pg.query(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = %s AND is_nullable = 'NO'",
            schema,
        )
    )
    assert nullable == {(m.name, c) for m in MARTS.values() for c in {*m.not_null, *primary_key(m)}}
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
    assert tables == {name: table_comment(m) for name, m in MARTS.items()}
    rows = pg.query(
        "SELECT table_name, column_name, "
        "col_description(format('%%I.%%I', table_schema, table_name)::regclass, ordinal_position) "
        "FROM information_schema.columns WHERE table_schema = %s",
        pg.marts,
    )
    for name, model in MARTS.items():
        got = {c: d for t, c, d in rows if t == name}
        assert got == _comments_expected(model), name


def test_duckdb_declares_primary_keys_not_null_and_comments(built_both: dict[str, Warehouse]) -> None:
    duck = built_both["duckdb"]
    tables = dict(
        duck.query("SELECT table_name, comment FROM duckdb_tables() WHERE schema_name = %s", duck.marts)
    )
    assert tables == {name: table_comment(m) for name, m in MARTS.items()}
    columns = duck.query(
        "SELECT table_name, column_name, comment, is_nullable FROM duckdb_columns() WHERE schema_name = %s",
        duck.marts,
    )
    for name, model in MARTS.items():
        assert {c: d for t, c, d, _ in columns if t == name} == _comments_expected(model), name
        not_null = {c for t, c, _, nullable in columns if t == name and not nullable}
        assert not_null == {*model.not_null, *primary_key(model)}, name
    keys = duck.query(
        "SELECT table_name, constraint_column_names FROM duckdb_constraints() "
        "WHERE schema_name = %s AND constraint_type = 'PRIMARY KEY'",
        duck.marts,
    )
    assert {t: tuple(cols) for t, cols in keys} == {name: primary_key(m) for name, m in MARTS.items()}
