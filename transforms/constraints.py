"""Declare what the model headers state on the built marts, so BI tools infer joins and explain columns.

From each mart's header (transforms/models.py):
* `not_null` columns become NOT NULL, the first `unique` key whose columns are all `not_null` the primary key,
  any further unique key a UNIQUE constraint (both engines);
* each `relationships` item into another mart becomes a foreign key with an index on its column (PostgreSQL
  only; the index is left out when the column already leads the table's primary key). DuckDB gets none: a
  DuckDB foreign key forbids dropping the dimension it points to, even in the transaction that drops the fact
  too, which is how every build replaces the marts;
* `description` and `grain` become the table comment, `columns` the column comments (both engines).

Called by the runner inside the build's transaction after the data tests passed, so a constraint never fails
on data (the tests already checked every key, not-null column and relationship) and a failed build leaves
the previous marts with their constraints.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from transforms.models import Model
from transforms.render import identifier, qualified


class SqlClient(Protocol):
    def execute_sql(self, sql: str, *args: Any) -> Sequence[Sequence[Any]] | None: ...


def primary_key(model: Model) -> tuple[str, ...] | None:
    """The key declared as primary: the first unique key without a nullable column."""
    not_null = set(model.not_null)
    return next((key for key in model.unique if set(key) <= not_null), None)


def foreign_keys(model: Model, marts: dict[str, Model]) -> list[tuple[str, str, str]]:
    """(column, target mart, target column) of every relationship that can be a foreign key: the target is
    a mart whose primary key is exactly that column."""
    keys = []
    for rel in model.relationships:
        target = marts.get(rel.to_model)
        if target is not None and primary_key(target) == (rel.to_column,):
            keys.append((rel.column, rel.to_model, rel.to_column))
    return keys


def table_comment(model: Model) -> str:
    text = " ".join(model.description.split())
    return f"{text} Grain: {model.grain}." if model.grain else text


def _string(text: str) -> str:
    return "'" + " ".join(text.split()).replace("'", "''") + "'"


def _name(kind: str, table: str, column: str = "") -> str:
    # PostgreSQL truncates identifiers at 63 bytes; the names stay unique within a table (and a schema for
    # indexes) because each holds the table and column.
    return f"{kind}_{table}_{column}"[:63] if column else f"{kind}_{table}"[:63]


def drop_foreign_keys(client: SqlClient, dialect: str, schema: str) -> None:
    """Drop the foreign keys between the marts of `schema`, so the build can drop and recreate every table
    without CASCADE (which would also drop a user's views silently)."""
    if dialect != "postgres":
        return
    rows = client.execute_sql(
        "SELECT t.relname, c.conname FROM pg_constraint AS c "
        "JOIN pg_class AS t ON t.oid = c.conrelid JOIN pg_namespace AS n ON n.oid = t.relnamespace "
        "WHERE c.contype = 'f' AND n.nspname = %s",
        schema,
    )
    for table, name in rows or []:
        table_name = qualified(dialect, schema, str(table))
        client.execute_sql(f"ALTER TABLE {table_name} DROP CONSTRAINT {identifier(dialect, name)}")


def declare(
    client: SqlClient, dialect: str, schema: str, marts: Iterable[Model], kept: Iterable[str] = ()
) -> None:
    """Keys, NOT NULL, foreign keys (PostgreSQL) and comments of the freshly built `marts` in `schema`.

    `kept` are the facts an incremental build updated in place: they keep their keys and indexes, and their
    foreign keys come back NOT VALID (PostgreSQL then checks the rows added from now on; the data tests
    checked the rebuilt ones), so the build does not scan their history again.
    """
    models = {m.name: m for m in marts}
    kept = set(kept)
    for model in models.values():
        if model.name not in kept:
            _declare_keys(client, dialect, schema, model)
    if dialect == "postgres":
        for model in models.values():
            _declare_foreign_keys(client, schema, model, models, not_valid=model.name in kept)
    for model in models.values():
        _comment(client, dialect, schema, model)


def _declare_keys(client: SqlClient, dialect: str, schema: str, model: Model) -> None:
    table = qualified(dialect, schema, model.name)
    pk = primary_key(model)
    clauses = [f"ALTER COLUMN {identifier(dialect, c)} SET NOT NULL" for c in model.not_null]
    if pk:
        clauses.append(
            f"ADD CONSTRAINT {identifier(dialect, _name('pk', model.name))} "
            f"PRIMARY KEY ({', '.join(identifier(dialect, c) for c in pk)})"
        )
    for i, key in enumerate(k for k in model.unique if k != pk):
        clauses.append(
            f"ADD CONSTRAINT {identifier(dialect, _name('uq', model.name, str(i + 1)))} "
            f"UNIQUE ({', '.join(identifier(dialect, c) for c in key)})"
        )
    if not clauses:
        return
    if dialect == "postgres":
        # one statement: PostgreSQL checks every new NOT NULL and builds the key in a single table scan
        client.execute_sql(f"ALTER TABLE {table} " + ", ".join(clauses))
        return
    for clause in clauses:
        if clause.startswith("ADD CONSTRAINT"):
            # DuckDB takes no constraint name (and UNIQUE only at CREATE TABLE): the primary key alone
            if " PRIMARY KEY " in clause:
                columns = clause.split(" PRIMARY KEY ", 1)[1]
                client.execute_sql(f"ALTER TABLE {table} ADD PRIMARY KEY {columns}")
            continue
        client.execute_sql(f"ALTER TABLE {table} {clause}")


def _declare_foreign_keys(
    client: SqlClient, schema: str, model: Model, marts: dict[str, Model], *, not_valid: bool = False
) -> None:
    table = qualified("postgres", schema, model.name)
    pk = primary_key(model) or ()
    for column, to_model, to_column in foreign_keys(model, marts):
        col = identifier("postgres", column)
        client.execute_sql(
            f"ALTER TABLE {table} ADD CONSTRAINT {identifier('postgres', _name('fk', model.name, column))} "
            f"FOREIGN KEY ({col}) REFERENCES {qualified('postgres', schema, to_model)} "
            f"({identifier('postgres', to_column)})" + (" NOT VALID" if not_valid else "")
        )
        if pk[:1] != (column,):
            # PostgreSQL indexes the referenced key, not the referencing column: joins from a dimension
            # filter to the fact (the BI tool's usual query) and the FK checks need it
            client.execute_sql(
                f"CREATE INDEX IF NOT EXISTS {identifier('postgres', _name('ix', model.name, column))} "
                f"ON {table} ({col})"
            )


def _comment(client: SqlClient, dialect: str, schema: str, model: Model) -> None:
    table = qualified(dialect, schema, model.name)
    statements = [f"COMMENT ON TABLE {table} IS {_string(table_comment(model))}"]
    for column, meaning in model.columns.items():
        statements.append(f"COMMENT ON COLUMN {table}.{identifier(dialect, column)} IS {_string(meaning)}")
    client.execute_sql("; ".join(statements))  # one call per table, not one per column
