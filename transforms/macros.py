"""Macros: pseudo-functions a model calls like SQL functions, expanded by the renderer on sqlglot's tree.

They hold the definitions every fact shares, so each is written once:

* `date_key(x)`: the yyyymmdd integer of a date or timestamp (`dim_date.date_key`, every fact's `date_key`).
* `local_time(ts_utc, tz)`: the wall-clock time in the IANA zone `tz` of a UTC timestamp without zone (the
  kiosk-local time of every fact), exact across daylight-saving changes.
* `valid_at(v, ts)`: the row `v` of a type 2 dimension (`dim_product`) is the version valid at `ts`, for the
  join of a fact to the version of its time. Both bounds are plain comparisons, never an OR (say, for the
  open-ended current version), so both engines still hash-join on the dimension's id.
* `FROM changed_keys(dim, key, column, ...) AS c`: the keys whose `column`s differ between the dimension `dim`
  and `previous_dim`, its state after the last build (added and removed keys included): a relation of one
  column, `key`. For the `incremental.changed` queries of facts, the only place `previous_<dim>` exists.

`local_time` is fast as well as exact. Converting each row with its own zone costs DuckDB an ICU calendar per
row (~5x slower than adding an interval). A zone's offset only changes at a transition, so `int_utc_offsets`
converts each (zone, UTC day) once, at the day's start and end; the macro joins that table and adds the
offset, and converts row by row only on the two days a year that hold a transition (start and end offsets
differ) or a day `int_utc_offsets` does not cover (a missing day costs speed, never correctness). The join is
added to the SELECT that calls the macro: a LEFT JOIN on the unique key (zone, day), so it never adds or
drops a row.

Arguments must be plain columns (`t.created_at_utc`, not an expression): each appears several times in the
expansion, and a column is free to repeat.
"""

from __future__ import annotations

from collections.abc import Callable

import sqlglot
from sqlglot import exp

SOURCE_DIALECT = "duckdb"
LOCAL_OFFSETS_MODEL = "int_utc_offsets"
PREVIOUS_PREFIX = "previous_"  # previous_<dim>: the dimension as the last build left it


class MacroError(ValueError):
    """A macro is called in a way it cannot be expanded (wrong arguments or an unsupported place)."""


def _template(sql: str) -> exp.Expression:
    return sqlglot.parse_one(sql, read=SOURCE_DIALECT)


# Placeholders: the columns `_x`, `_ts`, `_tz` (the arguments) and the table alias `_h` (int_utc_offsets'
# join, or valid_at's dimension).
_DATE_KEY = _template(
    "CAST(EXTRACT(YEAR FROM _x) * 10000 + EXTRACT(MONTH FROM _x) * 100 + EXTRACT(DAY FROM _x) AS INTEGER)"
)
_LOCAL_TIME = _template(
    "CASE WHEN _h.offset_at_start = _h.offset_at_end THEN _ts + _h.offset_at_start "
    "ELSE timezone(_tz, timezone('UTC', _ts)) END"
)
_LOCAL_OFFSETS_ON = _template("_h.timezone = _tz AND _h.day_utc = date_trunc('day', _ts)")
_VALID_AT = _template("(_ts >= _h.effective_from AND _ts < _h.effective_to)")


def _fill(template: exp.Expression, columns: dict[str, exp.Expression], alias: str = "") -> exp.Expression:
    def substitute(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Column):
            if not node.table and node.name in columns:
                return columns[node.name].copy()
            if node.table == "_h":
                return exp.column(node.name, table=alias)
        return node

    return template.copy().transform(substitute)


def _column_args(call: exp.Anonymous, names: tuple[str, ...]) -> dict[str, exp.Expression]:
    args = call.expressions
    signature = f"{call.name}({', '.join(names)})"
    if len(args) != len(names):
        raise MacroError(f"{signature} takes {len(names)} argument(s), got {len(args)}: {call.sql()}")
    for arg in args:
        if not isinstance(arg, exp.Column) or isinstance(arg.this, exp.Star):
            raise MacroError(f"{signature}: pass columns, not {arg.sql()} (compute it in a CTE first)")
    return dict(zip(names, args, strict=True))


def _date_key(call: exp.Anonymous) -> exp.Expression:
    (value,) = _column_args(call, ("_x",)).values()
    return _fill(_DATE_KEY, {"_x": value})


def _valid_at(call: exp.Anonymous) -> exp.Expression:
    args = _column_args(call, ("_v", "_ts"))
    if args["_v"].table:
        raise MacroError(f"valid_at(v, ts): v is the dimension's table alias, got {args['_v'].sql()}")
    return _fill(_VALID_AT, args, args["_v"].name)


def _projection_select(call: exp.Expression) -> exp.Select:
    """The SELECT whose output list holds `call` (the join must be added there, and only there)."""
    node = call
    while node.parent is not None and not isinstance(node.parent, exp.Select):
        node = node.parent
    select = node.parent
    if not isinstance(select, exp.Select) or node.arg_key != "expressions":
        raise MacroError(f"local_time() must be in a SELECT's output list: {call.sql()}")
    # sqlglot names the FROM "from_" since version 30, "from" before
    if not (select.args.get("from_") or select.args.get("from")):
        raise MacroError(f"local_time() needs a FROM to join {LOCAL_OFFSETS_MODEL} to: {select.sql()}")
    if select.args.get("group") or any(isinstance(e, exp.Star) for e in select.expressions):
        # GROUP BY would not group the joined offsets; a bare * would also select them.
        raise MacroError(f"local_time() cannot expand in a SELECT with GROUP BY or a bare *: {select.sql()}")
    return select


def _expand_local_time(tree: exp.Expression) -> None:
    joins: dict[tuple[int, str, str], str] = {}  # (select, ts, tz) -> alias of the join added for them
    for call in list(tree.find_all(exp.Anonymous)):
        if call.name.lower() != "local_time":
            continue
        args = _column_args(call, ("_ts", "_tz"))
        select = _projection_select(call)
        key = (id(select), args["_ts"].sql(), args["_tz"].sql())
        alias = joins.get(key)
        if alias is None:
            alias = joins[key] = f"utc_offsets_{len(joins) + 1}"
            select.join(
                exp.table_(LOCAL_OFFSETS_MODEL, alias=alias),
                on=_fill(_LOCAL_OFFSETS_ON, args, alias),
                join_type="left",
                copy=False,
            )
        call.replace(_fill(_LOCAL_TIME, args, alias))


def _changed_keys(table: exp.Table) -> exp.Expression:
    call = table.this
    assert isinstance(call, exp.Anonymous)
    args = call.expressions
    signature = "changed_keys(dim, key, column, ...)"
    if len(args) < 3 or not all(isinstance(a, exp.Column) and not a.table for a in args):
        raise MacroError(f"{signature} takes a dimension, its key and the columns to compare: {call.sql()}")
    dimension, key, *columns = (a.name for a in args)
    listed = ", ".join([key, *columns])
    now, before = f"SELECT {listed} FROM {dimension}", f"SELECT {listed} FROM {PREVIOUS_PREFIX}{dimension}"
    differing = _template(
        f"SELECT {key} FROM ({now} EXCEPT {before}) AS added "
        f"UNION SELECT {key} FROM ({before} EXCEPT {now}) AS removed"
    )
    return exp.Subquery(this=differing, alias=table.args.get("alias") or exp.TableAlias(this=key))


def _expand_changed_keys(tree: exp.Expression) -> None:
    for table in list(tree.find_all(exp.Table)):
        if isinstance(table.this, exp.Anonymous) and table.this.name.lower() == "changed_keys":
            table.replace(_changed_keys(table))


_SCALAR_MACROS: dict[str, Callable[[exp.Anonymous], exp.Expression]] = {
    "date_key": _date_key,
    "valid_at": _valid_at,
}
MACROS = frozenset({*_SCALAR_MACROS, "local_time", "changed_keys"})


def expand_macros(tree: exp.Expression) -> exp.Expression:
    """Expand every macro call in `tree` in place (local_time first: date_key's argument may not be one)."""
    _expand_changed_keys(tree)
    _expand_local_time(tree)
    for call in list(tree.find_all(exp.Anonymous)):
        expand = _SCALAR_MACROS.get(call.name.lower())
        if expand is not None:
            call.replace(expand(call))
    return tree
