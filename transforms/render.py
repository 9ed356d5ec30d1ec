"""Turn one model's SQL (written once, in DuckDB's dialect) into SQL for the target engine.

Six rewrites happen on sqlglot's syntax tree, never on text, in this order, then the SQL is generated:
1. Macros (`date_key(...)`, `local_time(...)`, see transforms/macros.py) are expanded, so every model shares
   one definition of the date key and of kiosk-local time.
2. `raw.<table>` names a table loaded by dlt. It is qualified with the dataset schema. dlt creates no column
   that was always null in the API and no table for a resource that never returned a row, so a reference to a
   missing raw column becomes NULL (staging wraps every raw column in a CAST, which gives the NULL its type)
   and a missing raw table becomes an empty relation.
3. Any other table that is not a CTE is a model: it is qualified with its schema (the dataset unless `schemas`
   says otherwise; `TEMP_SCHEMA` is the session's temporary schema, where intermediate models live), so views
   keep working whatever search path a BI tool uses.
4. A raw column cast to a DECIMAL goes through DECIMAL(18, 9) first. dlt stores numbers as DECIMAL(38, 9), a
   128-bit integer in DuckDB whose rescaling cast is ~30x slower than the 64-bit one (6 s instead of 0.2 s per
   million values); raw amounts stay far below the 999,999,999 that DECIMAL(18, 9) holds. Same SQL on both
   engines.
5. `setting('name')` becomes the literal value of that build setting (transforms/settings.py: the cold-chain
   limit and breach rule), so a threshold is configured in one place and still a constant to the planner.
   `changed_rows(col)` (or `changed_rows(col, set_col)`) is TRUE in a full build; in an incremental one it
   keeps the rows whose `col` is in the build's set of changed keys (its column `set_col`, default the
   column's name), so an incremental fact filters each big input where it reads it. `changed_days(kiosk,
   day, n)` keeps, in the same way, the rows of each changed (kiosk_serial_number, local_date) and of the
   `n` days before it: the trailing window a day's figures are computed over.
6. DuckDB: `timezone('UTC', CAST(x AS TIMESTAMPTZ))` (the UTC wall-clock time of a zoned timestamp, how
   staging reads every raw time) becomes `make_timestamp(epoch_us(...))`, the same value computed from the
   epoch instead of through an ICU calendar per row (25x faster: 0.4 s of every scan of 2.5M transactions).
7. The tree is generated in the target dialect (PostgreSQL or DuckDB).

Parsing and rendering are cached per process: a build renders every model and data test, and the test suite
builds the same SQL many times.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import Any

import sqlglot
from sqlglot import exp

from transforms.macros import SOURCE_DIALECT, MacroError, expand_macros

RAW_SCHEMA_MARKER = "raw"
TEMP_SCHEMA = "<temp>"  # in `schemas`: the relation is a temporary table of the build's session
# Where each engine keeps a session's temporary tables: (catalog, schema).
_TEMP_LOCATIONS = {"duckdb": ("temp", "main"), "postgres": (None, "pg_temp")}


class RenderError(ValueError):
    """The model's SQL cannot be parsed or references something the renderer does not understand."""


@dataclass(frozen=True)
class ParsedSql:
    """A statement parsed and macro-expanded once; `tree` is shared, so copy it before changing it."""

    tree: exp.Expression
    raw_tables: frozenset[str]  # raw.<table> references
    relations: frozenset[str]  # every other table that is not a CTE: the models it reads
    settings: frozenset[str] = frozenset()  # the build settings it reads through setting('name')


def _named_tables(tree: exp.Expression) -> Iterator[exp.Table]:
    # A table function (generate_series(...) AS h(n)) is a Table node too, without a name to qualify.
    return (t for t in tree.find_all(exp.Table) if isinstance(t.this, exp.Identifier))


@lru_cache(maxsize=1024)
def parse_sql(sql: str) -> ParsedSql:
    try:
        tree = expand_macros(sqlglot.parse_one(sql, read=SOURCE_DIALECT))
    except (sqlglot.errors.ParseError, MacroError) as exc:
        raise RenderError(str(exc)) from exc
    cte_names = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
    raw_tables, relations = set(), set()
    for table in _named_tables(tree):
        if table.db == RAW_SCHEMA_MARKER:
            raw_tables.add(table.name)
        elif not table.db and table.name not in cte_names:
            relations.add(table.name)
    names = frozenset(_setting_name(call) for call in _calls(tree, "setting"))
    return ParsedSql(tree, frozenset(raw_tables), frozenset(relations), names)


def _calls(tree: exp.Expression, name: str) -> list[exp.Anonymous]:
    """The calls of the pseudo-function `name` (setting, changed_rows, changed_days) in `tree`."""
    return [c for c in tree.find_all(exp.Anonymous) if c.name.lower() == name]


def _setting_name(call: exp.Anonymous) -> str:
    args = call.expressions
    if len(args) != 1 or not (isinstance(args[0], exp.Literal) and args[0].is_string):
        raise RenderError(f"setting() takes one quoted name: {call.sql()}")
    return str(args[0].this)


def _changed_rows(call: exp.Anonymous, dialect: str, changed_set: str | None) -> exp.Expression:
    args = call.expressions
    if not 1 <= len(args) <= 2 or not isinstance(args[0], exp.Column):
        raise RenderError(f"changed_rows() takes a column and optionally the set's column: {call.sql()}")
    if changed_set is None:
        return exp.true()
    set_column = args[1].name if len(args) == 2 else args[0].name
    keys = exp.select(exp.column(set_column, quoted=True)).from_(_temporary_table(dialect, changed_set))
    return exp.In(this=args[0].copy(), query=exp.Subquery(this=keys))


def _changed_days(call: exp.Anonymous, dialect: str, changed_set: str | None) -> exp.Expression:
    args = call.expressions
    if len(args) != 3 or not all(isinstance(a, exp.Column) for a in args[:2]) or not args[2].is_int:
        raise RenderError(f"changed_days() takes a kiosk column, a day column and a day count: {call.sql()}")
    if changed_set is None:
        return exp.true()
    days = sqlglot.parse_one(
        "SELECT DISTINCT c.kiosk_serial_number, CAST(c.local_date - s.n * INTERVAL 1 DAY AS DATE) "
        f"FROM _changed AS c CROSS JOIN generate_series(0, {int(args[2].name)}) AS s(n)",
        read="duckdb",
    )
    days.find(exp.Table).replace(_temporary_table(dialect, changed_set).as_("c"))  # type: ignore[union-attr]
    pair = exp.Tuple(expressions=[args[0].copy(), args[1].copy()])
    return exp.In(this=pair, query=exp.Subquery(this=days))


def _literal(value: Any) -> exp.Expression:
    # A decimal stays a typed decimal on both engines (a bare 7.5 is DECIMAL on DuckDB, numeric on
    # PostgreSQL).
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, int):
        return exp.Literal.number(value)
    if isinstance(value, Decimal):
        scale = max(0, -int(value.as_tuple().exponent))  # type: ignore[operator]
        return exp.cast(exp.Literal.number(str(value)), exp.DataType.build(f"DECIMAL(18, {scale})"))
    return exp.Literal.string(str(value))


_NARROW_DECIMAL = exp.DataType.build("DECIMAL(18, 9)")


def _is_decimal_cast(node: exp.Expression | None) -> bool:
    return isinstance(node, exp.Cast) and node.to.this == exp.DataType.Type.DECIMAL


def _empty_relation(alias: str) -> exp.Subquery:
    # Zero rows, and a dummy column so the SELECT is valid on both engines.
    select = exp.select(exp.alias_(exp.Null(), "_missing_raw_table")).where(exp.false())
    return exp.Subquery(this=select, alias=exp.TableAlias(this=exp.to_identifier(alias)))


def _qualify(table: exp.Table, dialect: str, schema: str) -> None:
    catalog, db = _TEMP_LOCATIONS[dialect] if schema == TEMP_SCHEMA else (None, schema)
    table.set("db", exp.to_identifier(db, quoted=True))
    if catalog:
        table.set("catalog", exp.to_identifier(catalog, quoted=True))


def render_select(
    sql: str,
    *,
    dialect: str,
    dataset: str,
    raw_columns: Mapping[str, frozenset[str]],
    schemas: Mapping[str, str] | None = None,
    settings: Mapping[str, Any] | None = None,
    changed_set: str | None = None,
    restrict: Sequence[tuple[str, str]] = (),
) -> str:
    """Return `sql` rewritten for `dialect`, with tables qualified by `dataset`.

    `raw_columns` maps every raw table present in the dataset to its column names; `schemas` maps a model to
    the schema it lives in when that is not `dataset` (`TEMP_SCHEMA` for the build's temporary tables);
    `settings` holds the values `setting('name')` stands for (default: the declared defaults);
    `changed_set` names the temporary table of changed keys `changed_rows(...)` and `changed_days(...)` filter
    on (None: no filter);
    `restrict` holds (model, temporary table) pairs: each reference to such a model reads the temporary
    table instead (the data tests of an incremental build check the rows it rebuilt, before they are kept).
    """
    parsed = parse_sql(sql)
    schemas = schemas or {}
    if settings is None:
        # the declared defaults (transforms/settings.py): rendering for a look, not for a build
        from transforms.settings import TransformSettings

        settings = TransformSettings().model_settings()
    # Only what this statement references goes into the cache key, so other tables' changes do not miss it.
    return _render(
        sql,
        dialect,
        dataset,
        tuple(sorted((name, raw_columns.get(name)) for name in parsed.raw_tables)),
        tuple(sorted((name, schemas[name]) for name in parsed.relations if name in schemas)),
        tuple(sorted((name, settings[name]) for name in parsed.settings if name in settings)),
        changed_set,
        tuple(r for r in restrict if r[0] in parsed.relations),
    )


@lru_cache(maxsize=4096)
def _render(
    sql: str,
    dialect: str,
    dataset: str,
    raw_columns: tuple[tuple[str, frozenset[str] | None], ...],
    schemas: tuple[tuple[str, str], ...],
    settings: tuple[tuple[str, Any], ...] = (),
    changed_set: str | None = None,
    restrict: tuple[tuple[str, str], ...] = (),
) -> str:
    tree = parse_sql(sql).tree.copy()
    restricted = dict(restrict)
    for call in _calls(tree, "changed_rows"):
        call.replace(_changed_rows(call, dialect, changed_set))
    for call in _calls(tree, "changed_days"):
        call.replace(_changed_days(call, dialect, changed_set))
    present = dict(raw_columns)
    schema_of = dict(schemas)
    values = dict(settings)
    for call in _calls(tree, "setting"):
        name = _setting_name(call)
        if name not in values:
            known = ", ".join(sorted(values)) or "none"
            raise RenderError(f"setting({name!r}) has no value (known: {known})")
        call.replace(_literal(values[name]))
    cte_names = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
    raw_aliases: dict[str, frozenset[str]] = {}

    for table in list(_named_tables(tree)):
        name = table.name
        if table.db == RAW_SCHEMA_MARKER:
            alias = table.alias_or_name
            columns = present.get(name)
            if columns is not None:
                raw_aliases[alias] = columns
                _qualify(table, dialect, dataset)
            else:
                raw_aliases[alias] = frozenset()
                table.replace(_empty_relation(alias))
        elif not table.db and name not in cte_names:
            if name in restricted:
                if not table.alias:
                    # columns qualified by the model's name still resolve
                    table.set("alias", exp.TableAlias(this=exp.to_identifier(name)))
                table.set("this", exp.to_identifier(restricted[name], quoted=True))
                _qualify(table, dialect, TEMP_SCHEMA)
            else:
                _qualify(table, dialect, schema_of.get(name, dataset))

    for column in list(tree.find_all(exp.Column)):
        columns = raw_aliases.get(column.table)
        if columns is None:
            continue
        if column.name not in columns:
            column.replace(exp.Null())
        elif _is_decimal_cast(column.parent):
            column.replace(exp.cast(column.copy(), _NARROW_DECIMAL))

    if dialect == "duckdb":
        for call in _calls(tree, "timezone"):
            if _is_utc_of_zoned(call):
                epoch = exp.Anonymous(this="epoch_us", expressions=[call.expressions[1].copy()])
                call.replace(exp.Anonymous(this="make_timestamp", expressions=[epoch]))
    return tree.sql(dialect=dialect)


def _is_utc_of_zoned(call: exp.Anonymous) -> bool:
    args = call.expressions
    return (
        len(args) == 2
        and isinstance(args[0], exp.Literal)
        and args[0].is_string
        and args[0].name.upper() == "UTC"
        and isinstance(args[1], exp.Cast)
        and args[1].to.this == exp.DataType.Type.TIMESTAMPTZ
    )


def qualified(dialect: str, dataset: str, name: str) -> str:
    return exp.table_(name, db=dataset, quoted=True).sql(dialect=dialect)


def qualified_schema(dialect: str, dataset: str) -> str:
    return exp.to_identifier(dataset, quoted=True).sql(dialect=dialect)


def identifier(dialect: str, name: str) -> str:
    return exp.to_identifier(name, quoted=True).sql(dialect=dialect)


def temporary(dialect: str, name: str) -> str:
    """`name` in the session's temporary schema (where CREATE TEMPORARY TABLE puts it)."""
    return _temporary_table(dialect, name).sql(dialect=dialect)


def _temporary_table(dialect: str, name: str) -> exp.Table:
    catalog, db = _TEMP_LOCATIONS[dialect]
    return exp.table_(name, db=db, catalog=catalog, quoted=True)


def search_path(dialect: str, schemas: Sequence[str]) -> str:
    """The statement making `schemas` (first wins) the session's search path: lets hand-written SQL
    (reconcile, the README's questions, tests) name marts and raw tables unqualified in their two schemas."""
    names = [identifier(dialect, s) for s in dict.fromkeys(schemas)]
    if dialect == "duckdb":
        return "SET search_path = '" + ",".join(names).replace("'", "''") + "'"
    return "SET search_path TO " + ", ".join([*names, "public"])
