"""Rows as the source hands them to dlt: declared decimals coerced, dropped fields removed, PII pseudonymized,
and each primary key once per load."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from dlt.common.normalizers.naming.snake_case import NamingConvention as SnakeCaseNaming

if TYPE_CHECKING:
    from sources.livello.endpoints import Endpoint
    from sources.livello.pseudonymize import Pseudonymizer

DELETED_FLAG = "_deleted"  # hard-delete marker: a row carrying it removes the stored row with its key
_NAMING = SnakeCaseNaming()


def column_name(field: str) -> str:
    """dlt's snake_case column of an API field (`serialNumber` -> `serial_number`)."""
    return _NAMING.normalize_identifier(field)


def _coerce_decimal(value: Any) -> Any:
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):  # the client parses floats as Decimal; this is a safety net
        return Decimal(str(value))
    return value


def _coerce_path(node: Any, parts: list[str]) -> None:
    if node is None or not parts:
        return
    head, rest = parts[0], parts[1:]
    many = head.endswith("[]")
    key = head[:-2] if many else head
    if not isinstance(node, dict) or key not in node:
        return
    if many:
        for item in node[key] or ():
            _coerce_path(item, rest)
    elif rest:
        _coerce_path(node[key], rest)
    else:
        node[key] = _coerce_decimal(node[key])


def prepare(
    endpoint: Endpoint,
    row: dict[str, Any],
    extra: dict[str, Any] | None = None,
    pseudonymizer: Pseudonymizer | None = None,
) -> dict[str, Any]:
    out = {k: v for k, v in row.items() if k not in endpoint.drop}
    for path in endpoint.decimals:
        _coerce_path(out, path.split("."))
    if pseudonymizer is not None and endpoint.pii:
        out = pseudonymizer.pseudonymize(out, endpoint.pii)
    if extra:
        out.update(extra)
    return out


class Dedup:
    """Drops rows whose primary key was already seen in this load (skip paging can repeat a row; upsert and
    delete-insert must not get two rows with one key in one load). A key part is looked up as the API field
    (`serialNumber`) and else as the column itself (`organization_id`, added by a fan-out)."""

    def __init__(self, keys: Sequence[str]) -> None:
        self._keys = tuple((_api_field(k), k) for k in keys)
        self.seen: set[tuple[Any, ...]] = set()

    @classmethod
    def of(cls, endpoint: Endpoint) -> Dedup:
        return cls(endpoint.primary_key)

    def fresh(self, row: dict[str, Any]) -> bool:
        if not self._keys:
            return True
        key = tuple(row[f] if f in row else row.get(c) for f, c in self._keys)
        if key in self.seen:
            return False
        self.seen.add(key)
        return True


def _api_field(column: str) -> str:
    """The API field of a snake_case column (`serial_number` -> `serialNumber`, `_id` stays `_id`)."""
    if column.startswith("_"):
        return column
    head, *rest = column.split("_")
    return head + "".join(p.title() for p in rest)


def key_fields(endpoint: Endpoint) -> list[str]:
    """API field names of the primary key."""
    return [_api_field(k) for k in endpoint.primary_key]


def row_key(endpoint: Endpoint) -> Callable[[dict[str, Any]], Hashable] | None:
    """The primary key of an API row, for paging's repeat checks (None when the endpoint has no key)."""
    fields = key_fields(endpoint)
    if not fields:
        return None
    return lambda row: tuple(row.get(f) for f in fields)


def column_hints(endpoint: Endpoint) -> tuple[dict[str, Any], dict[str, Any]]:
    """dlt hints declaring the type of every money, measure and id field (`decimals`, `types`), so a value
    always lands in its declared type (a number sent as text is coerced, not stored as text) and a column null
    in a whole load still gets its type: (root table columns, nested hints of list items' child tables).
    Nested objects are flattened with `__` as dlt does. Also the hard-delete marker of deleting listings."""
    declared = {**{path: "decimal" for path in endpoint.decimals}, **dict(endpoint.types)}
    columns: dict[str, Any] = {}
    nested: dict[tuple[str, ...], dict[str, Any]] = {}
    for path, data_type in declared.items():
        *lists, leaf = path.split("[].")
        column = "__".join(column_name(part) for part in leaf.split("."))
        hint = {"name": column, "data_type": data_type, "nullable": True}
        if not lists:
            columns[column] = hint
            continue
        table = tuple(column_name(part.replace(".", "__")) for part in lists)
        nested.setdefault(table, {"columns": {}})["columns"][column] = hint
    if endpoint.deletes_unlisted:
        columns[DELETED_FLAG] = {"data_type": "bool", "hard_delete": True, "nullable": True}
    return columns, nested
