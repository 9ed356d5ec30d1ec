"""Which facts a build may maintain incrementally, and the bookkeeping that makes it safe.

A fact whose header declares `incremental` (transforms/models.py) is rebuilt in full only when it must be: on
`livello-sync transform --full-refresh`, on the first build, when its SQL, its keys or the build settings
changed (the fingerprint of its rendered SQL and its header's keys and NOT NULL columns differs), when its
table is missing, when a raw table it reads was dropped and reloaded (`--refresh`: the oldest load id left in
the table moved), or when a fact its `changed` query reads was itself rebuilt in full. Otherwise the build
deletes the rows of the changed keys and selects them again (transforms/runner.py), in the same transaction
as everything else.

Two tables in the dataset's schema (beside dlt's own, never in the marts' schema a BI tool reads) remember
what each marts schema holds: `_livello_mart_loads`, the dlt loads already built into it (what is not there is
`new_loads` to the `changed` queries), and `_livello_mart_builds`, per incremental fact its fingerprint, the
oldest load id of each raw table it reads, and its row count (so the build never counts a big table).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Protocol

from transforms.macros import PREVIOUS_PREFIX
from transforms.models import (
    FOLLOWED_PREFIXES,
    NEW_LOADS,
    Incremental,
    Model,
    load_models,
)
from transforms.render import TEMP_SCHEMA, identifier, qualified, temporary

BUILT_LOADS = "_livello_mart_loads"
BUILDS = "_livello_mart_builds"
DLT_LOADS = "_dlt_loads"


class SqlClient(Protocol):
    def execute_sql(self, sql: str, *args: Any) -> Sequence[Sequence[Any]] | None: ...


@dataclass(frozen=True)
class FactBuild:
    """What a build of an incremental fact leaves for the next: see `why_full`."""

    fingerprint: str
    sources: str
    rows: int


@dataclass
class IncrementalState:
    """What this build knows about the previous one; decided model by model as the build goes."""

    full_refresh: bool
    marts: str
    logged: dict[str, FactBuild] = field(default_factory=dict)  # the previous build's, per fact
    built: dict[str, FactBuild] = field(default_factory=dict)  # this build's, per fact
    marts_tables: frozenset[str] = frozenset()  # the tables of the marts schema when the build started
    snapshots: set[str] = field(default_factory=set)  # dimensions whose previous_<dim> exists
    incremental: set[str] = field(default_factory=set)  # facts built incrementally in this build


def incremental_of(model: Model) -> Incremental:
    assert model.incremental is not None, f"{model.name} is not incremental"
    return model.incremental


@cache
def incremental_models() -> tuple[Model, ...]:
    return tuple(m for m in load_models() if m.incremental is not None)


@cache
def snapshot_names() -> frozenset[str]:
    """Dimensions some `changed` query compares with their previous build, and those an incremental fact
    points to (`lost_keys` compares them)."""
    compared = {name for m in incremental_models() for name in incremental_of(m).compares}
    return frozenset(compared | {target for target, _column in _relationship_targets()})


@cache
def _relationship_targets() -> frozenset[tuple[str, str]]:
    marts = {m.name for m in load_models() if m.kind == "mart" and m.incremental is None}
    facts = incremental_models()
    return frozenset((r.to_model, r.to_column) for m in facts for r in m.relationships if r.to_model in marts)


def lost_keys(client: SqlClient, dialect: str, state: IncrementalState) -> frozenset[str]:
    """The dimensions an incremental fact points to that lost a key in this build: the fact's relationship
    tests then check every row, not only the rebuilt ones (an old row may point to the lost key). Nothing to
    compare when no fact was built incrementally: every test then checks every row anyway."""
    if not state.incremental:
        return frozenset()
    lost = set()
    for target, column in sorted(_relationship_targets()):
        if target not in state.snapshots:
            continue
        col = identifier(dialect, column)
        count = client.execute_sql(
            f"SELECT count(*) FROM (SELECT {col} FROM {temporary(dialect, PREVIOUS_PREFIX + target)} "
            f"EXCEPT SELECT {col} FROM {qualified(dialect, state.marts, target)}) AS lost"
        )
        if count and int(count[0][0]):
            lost.add(target)
    return frozenset(lost)


@cache
def _build_relation_names() -> tuple[str, ...]:
    names = {NEW_LOADS, *(PREVIOUS_PREFIX + n for n in snapshot_names())}
    names |= {prefix + m.name for m in incremental_models() for prefix in FOLLOWED_PREFIXES}
    return tuple(sorted(names))


def build_relations() -> dict[str, str]:
    """The temporary tables `changed` queries, filters and scoped data tests read, for the renderer's
    `schemas` (a new dict: the caller adds to it)."""
    return dict.fromkeys(_build_relation_names(), TEMP_SCHEMA)


def fingerprint(*rendered: str) -> str:
    return hashlib.sha256("\n;\n".join(rendered).encode()).hexdigest()[:32]


def start(
    client: SqlClient,
    dialect: str,
    dataset: str,
    marts: str,
    raw_columns: Mapping[str, frozenset[str]],
    *,
    full_refresh: bool,
) -> IncrementalState:
    """Create the bookkeeping tables if needed, read them, and fill `new_loads`."""
    loads, builds = qualified(dialect, dataset, BUILT_LOADS), qualified(dialect, dataset, BUILDS)
    client.execute_sql(
        f"CREATE TABLE IF NOT EXISTS {loads} (marts_schema VARCHAR NOT NULL, load_id VARCHAR NOT NULL)"
    )
    client.execute_sql(
        f"CREATE TABLE IF NOT EXISTS {builds} (marts_schema VARCHAR NOT NULL, model VARCHAR NOT NULL, "
        "fingerprint VARCHAR NOT NULL, sources VARCHAR NOT NULL, row_count BIGINT NOT NULL)"
    )
    tables = client.execute_sql(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = %s "
        "AND table_catalog = current_database()",
        marts,
    )
    state = IncrementalState(
        full_refresh=full_refresh, marts=marts, marts_tables=frozenset(str(t[0]) for t in tables or [])
    )
    logged = client.execute_sql(
        f"SELECT model, fingerprint, sources, row_count FROM {builds} WHERE marts_schema = %s", marts
    )
    for model, print_, sources, rows in logged or []:
        state.logged[str(model)] = FactBuild(str(print_), str(sources), int(rows))
    client.execute_sql(f"DROP TABLE IF EXISTS {temporary(dialect, NEW_LOADS)}")
    create = f"CREATE TEMPORARY TABLE {identifier(dialect, NEW_LOADS)} AS"
    if DLT_LOADS in raw_columns:
        client.execute_sql(
            f"{create} SELECT load_id FROM {qualified(dialect, dataset, DLT_LOADS)} WHERE status = 0 "
            f"AND load_id NOT IN (SELECT load_id FROM {loads} WHERE marts_schema = %s)",
            marts,
        )
    else:
        client.execute_sql(f"{create} SELECT CAST(NULL AS VARCHAR) AS load_id WHERE FALSE")
    return state


def snapshot(client: SqlClient, dialect: str, model: Model, state: IncrementalState) -> None:
    """Before a dimension is rebuilt: keep it as previous_<dim> when a `changed` query compares with it."""
    if model.name not in snapshot_names():
        return
    previous = PREVIOUS_PREFIX + model.name
    client.execute_sql(f"DROP TABLE IF EXISTS {temporary(dialect, previous)}")
    if model.name in state.marts_tables:
        client.execute_sql(
            f"CREATE TEMPORARY TABLE {identifier(dialect, previous)} AS "
            f"SELECT * FROM {qualified(dialect, state.marts, model.name)}"
        )
        state.snapshots.add(model.name)


def source_marks(
    client: SqlClient, dialect: str, dataset: str, model: Model, raw_columns: Mapping[str, frozenset[str]]
) -> str:
    """The oldest load id left in each raw table of the fact's history: it moves when a table is reloaded."""
    marks = []
    for table in incremental_of(model).history:
        if "_dlt_load_id" not in raw_columns.get(table, ()):
            continue
        oldest = client.execute_sql(f"SELECT min(_dlt_load_id) FROM {qualified(dialect, dataset, table)}")
        marks.append(f"{table}={oldest[0][0] if oldest else None}")
    return ",".join(marks)


def why_full(model: Model, state: IncrementalState, built: FactBuild) -> str | None:
    """Why `model` must be rebuilt in full in this build, or None when the changed keys suffice."""
    spec = incremental_of(model)
    logged = state.logged.get(model.name)
    if state.full_refresh:
        return "--full-refresh"
    if logged is None:
        return "first build"
    if logged.fingerprint != built.fingerprint:
        return "its SQL, its keys or the build settings changed"
    if logged.sources != built.sources:
        return "a raw table it reads was reloaded"
    for dimension in spec.compares:
        if dimension not in state.snapshots:
            return f"no previous build of {dimension}"
    for fact in spec.follows:
        if fact not in state.incremental:
            return f"{fact} was rebuilt in full"
    if model.name not in state.marts_tables:
        return "its table is missing"
    return None


def create_indexes(
    client: SqlClient, dialect: str, dataset: str, raw_columns: Mapping[str, frozenset[str]]
) -> None:
    """PostgreSQL: the raw-table indexes the models' reads need (once; IF NOT EXISTS)."""
    for table, columns in _indexes():
        if set(columns) <= raw_columns.get(table, frozenset()):
            _create_index(client, dialect, qualified(dialect, dataset, table), table, columns)


def create_mart_indexes(client: SqlClient, dialect: str, marts: str, model: Model) -> None:
    """PostgreSQL: the indexes later models' reads need on the mart just built (a full rebuild makes a new
    table)."""
    for table, columns in _indexes():
        if table == model.name:
            _create_index(client, dialect, qualified(dialect, marts, table), table, columns)


@cache
def _indexes() -> tuple[tuple[str, tuple[str, ...]], ...]:
    return tuple(sorted({index for m in load_models() for index in m.indexes}))


def _create_index(client: SqlClient, dialect: str, table: str, name: str, columns: tuple[str, ...]) -> None:
    if dialect != "postgres":
        return  # DuckDB scans a column's zone maps and hash-joins; an ART index would only slow the loads
    index = identifier(dialect, f"ix_livello_{name}_{'_'.join(columns)}"[:63])
    cols = ", ".join(identifier(dialect, c) for c in columns)
    client.execute_sql(f"CREATE INDEX IF NOT EXISTS {index} ON {table} ({cols})")


def finish(client: SqlClient, dialect: str, dataset: str, state: IncrementalState) -> None:
    """Record the loads now in the marts and each incremental fact's fingerprint and rows."""
    loads, builds = qualified(dialect, dataset, BUILT_LOADS), qualified(dialect, dataset, BUILDS)
    client.execute_sql(
        f"INSERT INTO {loads} SELECT %s, load_id FROM {temporary(dialect, NEW_LOADS)}", state.marts
    )
    client.execute_sql(f"DELETE FROM {builds} WHERE marts_schema = %s", state.marts)
    for model, built in state.built.items():
        client.execute_sql(
            f"INSERT INTO {builds} VALUES (%s, %s, %s, %s, %s)",
            state.marts,
            model,
            built.fingerprint,
            built.sources,
            built.rows,
        )
    drop_temporary_tables(client, dialect)


def drop_temporary_tables(client: SqlClient, dialect: str) -> None:
    for name in build_relations():
        client.execute_sql(f"DROP TABLE IF EXISTS {temporary(dialect, name)}")
