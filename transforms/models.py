"""The SQL models of the warehouse and their data tests, each model one file with a YAML header.

Three layers, built in this order:
* `staging/stg_<raw table>.sql`: views over one raw table each (rename to snake_case, cast; no joins).
* `intermediate/int_*.sql`: joins and definitions several marts share (a kiosk's time zone and currency, the
  UTC offsets behind kiosk-local time). Temporary tables of the build's session: computed once per build,
  never visible to BI users, gone when the build commits.
* `marts/dim_*.sql`, `marts/fct_*.sql`: the star schema, tables.

Every model file starts with a block comment holding YAML (description, grain, columns, keys, relationships),
followed by one SELECT in DuckDB's dialect. The header is the single source of the data dictionary and of the
generic data tests, so documentation and checks cannot drift from the SQL. A model's dependencies are the
relations its parsed SELECT reads (sqlglot, after macro expansion).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import Any, Literal

import yaml

from transforms.macros import PREVIOUS_PREFIX
from transforms.render import RenderError, parse_sql

PACKAGE_DIR = Path(__file__).parent
STAGING_DIR = PACKAGE_DIR / "staging"
INTERMEDIATE_DIR = PACKAGE_DIR / "intermediate"
MARTS_DIR = PACKAGE_DIR / "marts"
TESTS_DIR = PACKAGE_DIR / "tests"

ModelKind = Literal["staging", "intermediate", "mart"]
LAYERS: tuple[tuple[ModelKind, Path], ...] = (
    ("staging", STAGING_DIR),
    ("intermediate", INTERMEDIATE_DIR),
    ("mart", MARTS_DIR),
)
MATERIALIZATIONS: dict[ModelKind, str] = {
    "staging": "view",
    "intermediate": "temporary table",
    "mart": "table",
}
DataTestKind = Literal["unique", "not_null", "relationship", "range", "version", "custom"]

_HEADER = re.compile(r"\A\s*/\*(?P<yaml>.*?)\*/(?P<body>.*)\Z", re.DOTALL)
_HEADER_KEYS = {
    "description",
    "grain",
    "columns",
    "unique",
    "not_null",
    "relationships",
    "ranges",
    "versions",
    "same_columns_as",
    "incremental",
    "indexes",
}
# Relations an `incremental.changed` query may read besides the models: temporary tables of the build.
NEW_LOADS = "new_loads"  # the dlt loads not yet in the marts
CHANGED_PREFIX = "changed_"  # changed_<fact>: the keys an incremental build rebuilds in that fact
REBUILT_PREFIX = "rebuilt_"  # rebuilt_<fact>: the rows of those keys, checked before they are kept
REPLACED_PREFIX = "replaced_"  # replaced_<fact>: the rows those keys had before this build
# previous_<dim> (PREVIOUS_PREFIX): the dimension as the last build left it, what changed_keys() compares with
# What a `changed` query may read of an incremental fact built before it.
FOLLOWED_PREFIXES = (CHANGED_PREFIX, REBUILT_PREFIX, REPLACED_PREFIX)


class ModelDefinitionError(ValueError):
    """A model or data test file is malformed (a bug in the repository, not in the data)."""


@dataclass(frozen=True)
class Relationship:
    """`column` of this model must match `to_model.to_column` (a foreign key into a dimension)."""

    column: str
    to_model: str
    to_column: str


@dataclass(frozen=True)
class Incremental:
    """How a fact is maintained without a full rebuild (see transforms/runner.py).

    `changed` selects the values of `key` (one column or several, and any further column the model's
    `changed_rows(col, set_col)` or `changed_days(kiosk, day, n)` filters read) whose rows must be rebuilt:
    rows of new loads, and rows whose dimension attributes changed (`previous_<dim>` holds the dimension
    before this build). It may read the model's own table (the rows before this build) and, of an incremental
    fact built before it, `changed_<fact>`, `rebuilt_<fact>` (its rows now) and `replaced_<fact>` (the rows
    they replaced). The rows of those keys are deleted and selected again, so `key` must lead one of the
    model's unique keys. `history` names the raw tables whose rows the fact accumulates (a reload of one,
    `run --refresh`, rebuilds it in full). The model's `indexes` (see Model) let PostgreSQL find the changed
    rows without scanning the history.
    """

    key: tuple[str, ...]
    changed: str
    history: tuple[str, ...] = ()
    # Found in `changed` when the models load: the dimensions it compares with their previous build
    # (previous_<dim>), and the facts whose changed keys it reads (changed_<fact>).
    compares: tuple[str, ...] = ()
    follows: tuple[str, ...] = ()


@dataclass(frozen=True)
class Model:
    name: str
    kind: ModelKind
    path: Path
    sql: str
    description: str
    grain: str
    columns: dict[str, str]
    unique: tuple[tuple[str, ...], ...] = ()
    not_null: tuple[str, ...] = ()
    relationships: tuple[Relationship, ...] = ()
    # column -> (lowest, highest): a number or another column of the row; None leaves that side open
    ranges: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    # foreign key into an SCD2 dimension -> (the fact's time, the natural key both carry): the version joined
    # is the one in effect at that time (the dimension's join helpers effective_from and effective_to)
    versions: dict[str, tuple[str, str]] = field(default_factory=dict)
    incremental: Incremental | None = None
    # (table, columns) of the PostgreSQL indexes this model's reads need, on raw tables or on marts it reads
    # (header `indexes: {table: [column, ...]}`, or a list of such lists for several on one table)
    indexes: tuple[tuple[str, tuple[str, ...]], ...] = ()
    depends_on: frozenset[str] = field(default_factory=frozenset)

    @property
    def materialization(self) -> str:
        return MATERIALIZATIONS[self.kind]


@dataclass(frozen=True)
class DataTest:
    """A query returning the offending rows; an empty result means the test passes.

    `kind` and `columns` say what a generic test checks (the columns of a unique key, the not-null column, the
    foreign key column, with `to_model`/`to_column` its target), so the runner never reads them from `name`.
    """

    name: str
    model: str
    description: str
    sql: str
    kind: DataTestKind = "custom"
    columns: tuple[str, ...] = ()
    to_model: str | None = None
    to_column: str | None = None
    # A custom test whose header says `scope: changed_rows`: each offending row shows in the rows of the keys
    # rebuilt, so an incremental build checks only those (of every incremental fact the test reads).
    changed_rows_only: bool = False
    # A custom test whose header says `changed_keys_of: <fact>`: its changed_rows() and changed_days() filters
    # keep the keys an incremental build of that fact rebuilt (TRUE when the fact was rebuilt in full).
    changed_keys_of: str | None = None


def _split_header(path: Path) -> tuple[dict[str, Any], str]:
    text = path.read_text(encoding="utf-8")
    match = _HEADER.match(text)
    if not match:
        raise ModelDefinitionError(f"{path.name}: must start with a /* YAML */ header")
    try:
        meta = yaml.safe_load(match.group("yaml")) or {}
    except yaml.YAMLError as exc:
        raise ModelDefinitionError(f"{path.name}: header is not valid YAML: {exc}") from exc
    body = match.group("body").strip().rstrip(";").strip()
    if not body:
        raise ModelDefinitionError(f"{path.name}: has no SQL after its header")
    return meta, body


def _parse_relationship(path: Path, item: object) -> Relationship:
    # Written as "column: model.column" so headers stay one line per foreign key.
    if not isinstance(item, dict) or len(item) != 1:
        raise ModelDefinitionError(f"{path.name}: relationships items are 'column: model.column'")
    ((column, target),) = item.items()
    to_model, _, to_column = str(target).partition(".")
    if not to_column:
        raise ModelDefinitionError(f"{path.name}: relationship target {target!r} must be model.column")
    return Relationship(str(column), to_model, to_column)


def _load_model(path: Path, kind: ModelKind) -> tuple[Model, dict[str, Any]]:
    meta, sql = _split_header(path)
    unknown = set(meta) - _HEADER_KEYS
    if unknown:
        raise ModelDefinitionError(f"{path.name}: unknown header key(s) {sorted(unknown)}")
    columns = meta.get("columns") or {}
    if not isinstance(columns, dict) or not (columns or meta.get("same_columns_as")):
        raise ModelDefinitionError(f"{path.name}: header needs a 'columns' mapping")
    unique = tuple(tuple(key) if isinstance(key, list) else (str(key),) for key in (meta.get("unique") or []))
    model = Model(
        name=path.stem,
        kind=kind,
        path=path,
        sql=sql,
        description=str(meta.get("description", "")).strip(),
        grain=str(meta.get("grain", "")).strip(),
        # An empty description is inherited (`_described`) from the models it reads.
        columns={str(k): "" if v is None else str(v).strip() for k, v in columns.items()},
        unique=unique,
        not_null=tuple(meta.get("not_null") or ()),
        relationships=tuple(_parse_relationship(path, r) for r in (meta.get("relationships") or ())),
        ranges=_parse_ranges(path, meta.get("ranges") or {}),
        versions=_parse_versions(path, meta.get("versions") or {}),
        incremental=_parse_incremental(path, meta.get("incremental"), unique),
        indexes=_parse_indexes(path, meta.get("indexes") or {}),
    )
    return model, meta


def _parse_incremental(
    path: Path, incremental: Any, unique: tuple[tuple[str, ...], ...]
) -> Incremental | None:
    if incremental is None:
        return None
    bad = ModelDefinitionError(
        f"{path.name}: incremental needs key (a column or a list of them), changed (a SELECT) and "
        "history (raw tables)"
    )
    if not isinstance(incremental, dict) or set(incremental) - {"key", "changed", "history"}:
        raise bad
    key, changed = incremental.get("key"), incremental.get("changed")
    history = incremental.get("history")
    keys = (key,) if isinstance(key, str) else tuple(key) if isinstance(key, list) else ()
    if not keys or not all(isinstance(k, str) for k in keys):
        raise bad
    if not isinstance(changed, str):
        raise bad
    if not isinstance(history, list) or not history:
        raise bad
    if not any(k[: len(keys)] == keys for k in unique):
        raise ModelDefinitionError(f"{path.name}: incremental key {list(keys)} must lead a unique key")
    return Incremental(
        key=keys,
        changed=changed.strip(),
        history=tuple(str(t) for t in history),
    )


def _parse_indexes(path: Path, indexes: Any) -> tuple[tuple[str, tuple[str, ...]], ...]:
    if not isinstance(indexes, dict) or not all(isinstance(c, list) and c for c in indexes.values()):
        raise ModelDefinitionError(f"{path.name}: indexes map tables to [column, ...] or [[column, ...]]")
    return tuple(
        (str(table), tuple(str(c) for c in index))
        for table, columns in indexes.items()
        for index in (columns if all(isinstance(c, list) for c in columns) else [columns])
    )


def _parse_versions(path: Path, versions: Any) -> dict[str, tuple[str, str]]:
    try:
        return {str(k): (str(v["at"]), str(v["natural_key"])) for k, v in versions.items()}
    except (AttributeError, KeyError, TypeError):
        raise ModelDefinitionError(
            f"{path.name}: versions map a foreign key to {{at: time column, natural_key: column}}"
        ) from None


def _parse_ranges(path: Path, ranges: Any) -> dict[str, tuple[Any, Any]]:
    bad = ModelDefinitionError(
        f"{path.name}: ranges map a column to [lowest, highest] (a number, a column, ~)"
    )
    if not isinstance(ranges, dict):
        raise bad
    parsed: dict[str, tuple[Any, Any]] = {}
    for column, bounds in ranges.items():
        if not isinstance(bounds, list) or len(bounds) != 2:
            raise bad
        parsed[str(column)] = (bounds[0], bounds[1])
    return parsed


def _inherit_columns(model: Model, meta: dict[str, Any], by_name: dict[str, Model]) -> Model:
    """`same_columns_as: other`: the model selects the other's rows (a subset), hence its columns in its
    order, their not-null checks, ranges and foreign keys; `columns` here only rewords some descriptions."""
    base_name = meta.get("same_columns_as")
    if not base_name:
        return model
    base = by_name.get(str(base_name))
    if base is None:
        raise ModelDefinitionError(f"{model.path.name}: same_columns_as names no model: {base_name}")
    if meta.get("not_null") or meta.get("relationships") or meta.get("ranges"):
        raise ModelDefinitionError(f"{model.path.name}: not_null, ranges and joins come from {base.name}")
    extra = set(model.columns) - set(base.columns)
    if extra:
        raise ModelDefinitionError(f"{model.path.name}: {sorted(extra)} are not columns of {base.name}")
    return replace(
        model,
        columns={column: model.columns.get(column, meaning) for column, meaning in base.columns.items()},
        not_null=base.not_null,
        relationships=base.relationships,
        ranges=base.ranges,
    )


def _with_dependencies(model: Model, names: set[str]) -> Model:
    try:
        parsed = parse_sql(model.sql)
    except RenderError as exc:
        raise ModelDefinitionError(f"{model.path.name}: {exc}") from exc
    unknown = parsed.relations - names
    if unknown:
        raise ModelDefinitionError(
            f"{model.path.name}: reads {sorted(unknown)}, which are no models (raw tables are raw.<table>)"
        )
    if model.kind == "staging" and (parsed.relations or len(parsed.raw_tables) != 1):
        raise ModelDefinitionError(f"{model.path.name}: a staging model reads exactly one raw table")
    if model.kind != "staging" and parsed.raw_tables:
        raise ModelDefinitionError(f"{model.path.name}: only staging models read raw tables")
    depends_on = parsed.relations - {model.name}
    incremental = model.incremental
    if incremental is not None:
        changed = parse_sql(incremental.changed).relations
        compares = {n.removeprefix(PREVIOUS_PREFIX) for n in changed if n.startswith(PREVIOUS_PREFIX)}
        followed = {(p, n.removeprefix(p)) for n in changed for p in FOLLOWED_PREFIXES if n.startswith(p)}
        follows = {fact for _prefix, fact in followed}
        models_read = changed - {NEW_LOADS, model.name} - {PREVIOUS_PREFIX + n for n in compares}
        models_read -= {prefix + fact for prefix, fact in followed}
        unknown = (models_read | compares | follows) - names
        if unknown:
            raise ModelDefinitionError(
                f"{model.path.name}: incremental.changed reads unknown {sorted(unknown)}"
            )
        # What `changed` reads or compares is built first.
        depends_on |= models_read | compares | follows
        incremental = replace(incremental, compares=tuple(sorted(compares)), follows=tuple(sorted(follows)))
    return replace(model, depends_on=depends_on, incremental=incremental)


def _described(model: Model, by_name: dict[str, Model]) -> Model:
    """A column listed without a description means what the same-named column of a model it reads means
    (dependencies are described first, in build order): one wording for a column passed through."""
    if all(model.columns.values()):
        return model
    columns = {}
    for column, meaning in model.columns.items():
        if not meaning:
            inherited = [by_name[d].columns.get(column, "") for d in sorted(model.depends_on)]
            meaning = next((m for m in inherited if m), "")
            if not meaning:
                raise ModelDefinitionError(
                    f"{model.path.name}: column {column} has no description, and no model it reads has one"
                )
        columns[column] = meaning
    return replace(model, columns=columns)


def _topological(models: list[Model]) -> list[Model]:
    by_name = {m.name: m for m in models}
    ordered: list[Model] = []
    state: dict[str, str] = {}

    def visit(name: str, chain: tuple[str, ...]) -> None:
        if state.get(name) == "done":
            return
        if state.get(name) == "visiting":
            raise ModelDefinitionError(f"model dependency cycle: {' -> '.join((*chain, name))}")
        state[name] = "visiting"
        for dep in sorted(by_name[name].depends_on):
            visit(dep, (*chain, name))
        state[name] = "done"
        ordered.append(by_name[name])

    # Layer by layer, alphabetical inside each: a stable order makes build logs comparable.
    layer = {kind: i for i, (kind, _) in enumerate(LAYERS)}
    for model in sorted(models, key=lambda m: (layer[m.kind], m.name)):
        visit(model.name, ())
    return ordered


@cache
def load_models() -> tuple[Model, ...]:
    """All models in build order (dependencies first)."""
    loaded = [_load_model(p, kind) for kind, directory in LAYERS for p in sorted(directory.glob("*.sql"))]
    by_name: dict[str, Model] = {}
    for model, _ in loaded:
        if model.name in by_name:
            raise ModelDefinitionError(f"duplicate model name {model.name}")
        by_name[model.name] = model
    models = [_inherit_columns(model, meta, by_name) for model, meta in loaded]
    names = set(by_name)
    described: dict[str, Model] = {}
    for model in _topological([_with_dependencies(m, names) for m in models]):
        described[model.name] = _described(model, described)
    return tuple(described.values())


@cache
def load_data_tests() -> tuple[DataTest, ...]:
    """The hand-written data tests of `transforms/tests/*.sql` (generic ones come from model headers)."""
    tests = []
    for path in sorted(TESTS_DIR.glob("*.sql")):
        meta, sql = _split_header(path)
        if "model" not in meta:
            raise ModelDefinitionError(f"{path.name}: data test header needs 'model'")
        scope, keys_of = meta.get("scope"), meta.get("changed_keys_of")
        if scope not in (None, "changed_rows"):
            raise ModelDefinitionError(f"{path.name}: scope is changed_rows or absent, not {scope!r}")
        if keys_of is not None and not isinstance(keys_of, str):
            raise ModelDefinitionError(f"{path.name}: changed_keys_of names one incremental fact")
        tests.append(
            DataTest(
                path.stem,
                str(meta["model"]),
                str(meta.get("description", "")).strip(),
                sql,
                changed_rows_only=scope == "changed_rows",
                changed_keys_of=keys_of,
            )
        )
    return tuple(tests)


def generic_data_tests(models: Iterable[Model]) -> list[DataTest]:
    """Tests derived from model headers: unique keys, not-null columns, ranges, relationships to dimensions.
    Each is named `kind(column)`, says what holds, and selects the rows where it does not."""
    tests: list[DataTest] = []
    for model in models:
        if model.kind == "staging":
            continue  # views over raw data: the marts built from them are what the tests guard
        m = model.name

        def add(kind: DataTestKind, columns: tuple[str, ...], says: str, sql: str, **target: str) -> None:
            label = (
                f"{columns[0]} -> {target['to_model']}.{target['to_column']}"
                if target
                else ", ".join(columns)
            )
            test = DataTest(f"{kind}({label})", m, says, sql, kind=kind, columns=columns, **target)  # noqa: B023
            tests.append(test)

        for key in model.unique:
            cols = ", ".join(key)
            add(
                "unique",
                key,
                f"{cols} identifies one row of {m}",
                f"SELECT {cols}, count(*) AS duplicates FROM {m} GROUP BY {cols} HAVING count(*) > 1",
            )
        for column in model.not_null:
            add(
                "not_null",
                (column,),
                f"{m}.{column} is never null",
                f"SELECT * FROM {m} WHERE {column} IS NULL",
            )
        for column, (lowest, highest) in model.ranges.items():
            outside = " OR ".join(
                f"{column} {op} {b}" for op, b in (("<", lowest), (">", highest)) if b is not None
            )
            add(
                "range",
                (column,),
                f"{m}.{column} lies within [{lowest}, {highest}]",
                f"SELECT * FROM {m} WHERE {outside}",
            )
        joins = {rel.column: rel for rel in model.relationships}
        for column, (at, natural_key) in model.versions.items():
            if column not in joins:
                raise ModelDefinitionError(f"{model.path.name}: versions names {column}, no relationship")
            dim, key = joins[column].to_model, joins[column].to_column
            # A null key is allowed only where the dimension has no version at all (a product the catalog
            # never listed: deleted before the first sync); the second branch finds the rows that lost theirs.
            add(
                "version",
                (column,),
                f"each {m} row joins the {dim} version valid at its {at}, if {dim} has its {natural_key}",
                f"SELECT f.*, d.effective_from, d.effective_to FROM {m} AS f JOIN {dim} AS d "
                f"ON d.{key} = f.{column} WHERE d.{natural_key} <> f.{natural_key} "
                f"OR f.{at} < d.effective_from OR f.{at} >= d.effective_to "
                f"UNION ALL SELECT f.*, CAST(NULL AS TIMESTAMP), CAST(NULL AS TIMESTAMP) FROM {m} AS f "
                f"WHERE f.{column} IS NULL AND f.{natural_key} IN (SELECT {natural_key} FROM {dim})",
            )
        for rel in model.relationships:
            add(
                "relationship",
                (rel.column,),
                f"every {m}.{rel.column} exists in {rel.to_model}",
                f"SELECT f.* FROM {m} AS f LEFT JOIN {rel.to_model} AS d "
                f"ON f.{rel.column} = d.{rel.to_column} "
                f"WHERE f.{rel.column} IS NOT NULL AND d.{rel.to_column} IS NULL",
                to_model=rel.to_model,
                to_column=rel.to_column,
            )
    return tests


@cache
def all_data_tests() -> tuple[DataTest, ...]:
    """Every data test a build runs: the generic ones of the model headers, then the hand-written ones."""
    return (*generic_data_tests(load_models()), *load_data_tests())
