"""Schema drift: how the fields an endpoint sends in this load compare with what its raw tables already hold.

A changed API is otherwise silent: dlt adds new fields as new columns, a field the API stopped sending just
leaves the column null (and a mart that counts on it quietly changes), and a number sent as text either
lands in a variant column or is coerced. So every row a resource yields is watched (after the source's own
preparation: dropped fields, added columns, decimal coercion) against the columns of the schema the previous
loads built, and the resource reports, by API field:

* new: a field, or a nested list, the tables do not have yet;
* missing: a field the last load's rows carried (or, before that was recorded, one the tables hold) that no
  row of this load carried at all (a field sent as null counts as sent: nullable is not drift); a field
  reported missing once is not reported again by the loads that follow, so strict mode, which stops the run
  at the first report, lets a run in default mode accept the change;
* retyped: a value whose kind differs from its column's type (a number sent as text, text sent as a number).

A resource seen for the first time has nothing to drift from."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sources.livello.errors import UnexpectedResponseError
from sources.livello.rows import DELETED_FLAG, column_name

_NUMBER_TYPES = {"bigint", "decimal", "double", "wei"}
# dlt's contract in strict mode: tables may be created (a first run), but no column added and no value of
# another type than its column's (a variant column) on a table that exists.
STRICT_CONTRACT = {"tables": "evolve", "columns": "freeze", "data_type": "freeze"}


class DriftError(UnexpectedResponseError):
    """An endpoint's fields changed in a way the warehouse cannot take, or strict mode is on. `stops_run`:
    strict mode fails the whole run (nothing of it loaded) instead of stopping this resource only."""

    def __init__(self, message: str, *, stops_run: bool, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.stops_run = stops_run


@dataclass
class Drift:
    """Changes by API field (dotted, `[]` for list items) -> what changed, in words."""

    new: dict[str, str] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)
    retyped: dict[str, str] = field(default_factory=dict)
    # Columns (root columns by name, others as table.column) with values their type cannot take.
    uncoercible_columns: set[str] = field(default_factory=set)

    def __bool__(self) -> bool:
        return bool(self.new or self.missing or self.retyped)

    def merge(self, other: Drift) -> None:
        self.new.update(other.new)
        self.missing.update(other.missing)
        self.retyped.update(other.retyped)
        self.uncoercible_columns |= other.uncoercible_columns

    def as_dict(self) -> dict[str, dict[str, str]]:
        kinds = {"new": self.new, "missing": self.missing, "retyped": self.retyped}
        return {kind: values for kind, values in kinds.items() if values}

    def describe(self) -> str:
        """A short account by API field (an object whose fields all went is named once: `paymentMethod.*`)."""
        parts = []
        if self.missing:
            parts.append("no longer sent: " + ", ".join(_collapse(self.missing)))
        if self.retyped:
            parts.append("changed type: " + ", ".join(f"{k} ({v})" for k, v in sorted(self.retyped.items())))
        if self.new:
            parts.append("new: " + ", ".join(sorted(self.new)))
        return "; ".join(parts)


def _collapse(fields: Mapping[str, str]) -> list[str]:
    by_head: dict[str, list[str]] = {}
    for name in sorted(fields):
        by_head.setdefault(name.split(".")[0], []).append(name)
    return [
        names[0] if len(names) == 1 else f"{head}.* ({len(names)} fields)" for head, names in by_head.items()
    ]


def _kind(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float | Decimal):
        return "number"
    if isinstance(value, datetime | date):
        return "timestamp"
    if isinstance(value, str):
        return "text"
    return "json"


def _retyped(column_type: str | None, kind: str) -> bool:
    if column_type is None or kind == "json":
        return False
    if column_type in _NUMBER_TYPES:
        return kind != "number"
    if column_type == "text":
        return kind in ("number", "bool")
    if column_type == "bool":
        return kind != "bool"
    return False  # timestamps arrive as ISO text, which dlt parses


def _coercible(column_type: str | None, value: Any) -> bool:
    if column_type in _NUMBER_TYPES and isinstance(value, str):
        try:
            number = Decimal(value.strip())
        except ArithmeticError:
            return False
        return number.is_finite() and (column_type != "bigint" or number == number.to_integral_value())
    return True


class FieldWatch:
    """Watches the rows one resource yields in one load against the tables `schema_tables` describes."""

    def __init__(
        self,
        resource: str,
        schema_tables: Mapping[str, Mapping[str, Any]] | None,
        last_sent: Mapping[str, frozenset[str]] | None = None,
    ) -> None:
        self.resource = resource
        self._last_sent = last_sent
        tables = schema_tables or {}
        self._known: dict[str, dict[str, str | None]] = {
            name: {
                column: spec.get("data_type")
                for column, spec in (table.get("columns") or {}).items()
                if not column.startswith("_dlt") and column != DELETED_FLAG and "__v_" not in column
            }
            for name, table in tables.items()
            if name == resource or name.startswith(resource + "__")
        }
        self._seen: dict[str, set[str]] = {}  # table -> columns whose key was present (also as null)
        self._null_prefixes: dict[str, set[str]] = {}  # table -> columns of nested objects sent as null
        self._rows: dict[str, int] = {}
        self._paths: dict[tuple[str, str], str] = {}  # (table, column) -> API field
        self._kinds: dict[tuple[str, str], str] = {}  # (table, column) -> the first mismatching kind seen
        self._new: dict[tuple[str, str], str] = {}
        self.uncoercible: set[str] = set()

    @property
    def first_load(self) -> bool:
        return self.resource not in self._known

    def see(self, rows: Iterable[dict[str, Any]]) -> None:
        if self.first_load:
            return
        for row in rows:
            if DELETED_FLAG not in row:  # a deletion marker carries the key only: not an API row
                self._row(row, self.resource, "")

    def _row(self, row: Mapping[str, Any], table: str, api_prefix: str) -> None:
        self._rows[table] = self._rows.get(table, 0) + 1
        self._fields(row, table, "", api_prefix)

    def _fields(self, obj: Mapping[str, Any], table: str, prefix: str, api_prefix: str) -> None:
        """Nested objects are flattened into their table's columns (`a__b`), lists go to child tables, as dlt
        does."""
        known = self._known.get(table)
        for key, value in obj.items():
            column, api = f"{prefix}{column_name(key)}", f"{api_prefix}{key}"
            if isinstance(value, Mapping) and value:
                self._fields(value, table, column + "__", api + ".")
                continue
            if isinstance(value, list):
                child = f"{table}__{column}"
                if child not in self._known and value:
                    self._new.setdefault((table, column), f"a new nested list, table {child}")
                for item in value:
                    if isinstance(item, Mapping):
                        self._row(item, child, f"{api}[].")
                continue
            self._seen.setdefault(table, set()).add(column)
            self._paths[(table, column)] = api
            if value is None or isinstance(value, Mapping):  # sent empty: its nested columns count as sent
                self._null_prefixes.setdefault(table, set()).add(column)
                continue
            if known is None:
                continue
            if column not in known:
                self._new.setdefault((table, column), f"column {table}.{column}")
            elif (table, column) not in self._kinds:
                kind = _kind(value)
                if kind is not None and _retyped(known[column], kind):
                    self._kinds[(table, column)] = f"held as {known[column]}, sent as {kind}: {value!r:.40}"
                    if not _coercible(known[column], value):
                        self.uncoercible.add(column if table == self.resource else f"{table}.{column}")

    def drift(self) -> Drift:
        drift = Drift(uncoercible_columns=set(self.uncoercible))
        if self.first_load:
            return drift
        for (table, column), what in self._new.items():
            drift.new[self._paths.get((table, column), column)] = what
        for (table, column), what in self._kinds.items():
            drift.retyped[self._paths.get((table, column), column)] = what
        for table, columns in self._known.items():
            if not self._rows.get(table):
                continue  # no row of this table in this load: nothing to miss
            sent = self.sent_columns().get(table, set())
            expected = columns if self._last_sent is None else self._last_sent.get(table, columns)
            for column in expected:
                if column in columns and column not in sent:
                    drift.missing[_api_guess(column)] = f"column {table}.{column}"
        return drift

    def sent_columns(self, previous: Mapping[str, frozenset[str]] | None = None) -> dict[str, set[str]]:
        """Per table with rows in this load, the columns they carried (a nested object sent as null carries
        its columns); tables without rows keep what `previous` says."""
        sent: dict[str, set[str]] = {t: set(c) for t, c in (previous or {}).items()}
        for table, rows in self._rows.items():
            if not rows:
                continue
            seen, nulls = self._seen.get(table, set()), self._null_prefixes.get(table, set())
            known = set(self._known.get(table, {}))
            sent[table] = seen | {c for c in known if any(c.startswith(p + "__") for p in nulls)}
        return sent


def _api_guess(column: str) -> str:
    """The API field of a column no row carried (its original spelling is unknown): camelCase of each part."""
    parts = []
    for part in column.split("__"):
        head, *rest = part.split("_")
        parts.append(head + "".join(p.title() for p in rest))
    return ".".join(parts)
