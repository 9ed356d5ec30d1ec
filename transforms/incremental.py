"""Which facts a build may maintain incrementally, and the bookkeeping that makes it safe.

A fact whose header declares `incremental` (transforms/models.py) is rebuilt in full only when it must be: on
`livello-sync transform --full-refresh`, on the first build, when its SQL or the build settings changed (the
fingerprint of its rendered SQL differs), when its table is missing, when a raw table it reads was dropped and
reloaded (`--refresh`: the oldest load id left in the table moved), or when a fact its `changed` query reads
was itself rebuilt in full. Otherwise the build deletes the rows of the changed keys and selects them again
(transforms/runner.py), in the same transaction as everything else.

Two tables in the dataset's schema (beside dlt's own, never in the marts' schema a BI tool reads) remember
what each marts schema holds: `_livello_mart_loads`, the dlt loads already built into it (what is not there is
`new_loads` to the `changed` queries), and `_livello_mart_builds`, per incremental fact its fingerprint, the
oldest load id of each raw table it reads, and its row count (so the build never counts a big table).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from transforms.models import NEW_LOADS, PREVIOUS_PREFIX, Model, load_models
from transforms.render import TEMP_SCHEMA, identifier, parse_sql, qualified, temporary

BUILT_LOADS = "_livello_mart_loads"
BUILDS = "_livello_mart_builds"
CHANGED_PREFIX = "changed_"
REBUILT_PREFIX = "rebuilt_"  # rebuilt_<fact>: the rows of its changed keys, checked before they are kept


class SqlClient(Protocol):
    def execute_sql(self, sql: str, *args: Any) -> Sequence[Sequence[Any]] | None: ...


@dataclass(frozen=True)
class LoggedBuild:
    fingerprint: str
    sources: str
    rows: int


@dataclass
class IncrementalState:
    """What this build knows about the previous one; decided model by model as the build goes."""

    full_refresh: bool
    marts: str
    logged: dict[str, LoggedBuild] = field(default_factory=dict)
    snapshots: set[str] = field(default_factory=set)  # dimensions whose previous_<dim> exists
    incremental: set[str] = field(default_factory=set)  # facts built incrementally in this build
    full: dict[str, str] = field(default_factory=dict)  # fact -> why it was rebuilt in full
    fingerprints: dict[str, tuple[str, str]] = field(default_factory=dict)  # fact -> (fingerprint, sources)
    rows: dict[str, int] = field(default_factory=dict)


def incremental_models() -> list[Model]:
    return [m for m in load_models() if m.incremental is not None]


def snapshot_names() -> set[str]:
    """Dimensions some `changed` query compares with their previous build."""
    names: set[str] = set()
    for model in incremental_models():
        assert model.incremental is not None
        for relation in parse_sql(model.incremental.changed).relations:
            if relation.startswith(PREVIOUS_PREFIX):
                names.add(relation.removeprefix(PREVIOUS_PREFIX))
    return names


def build_relations() -> dict[str, str]:
    """The temporary tables `changed` queries and filters read, for the renderer's `schemas`."""
    names = {NEW_LOADS, *(PREVIOUS_PREFIX + n for n in snapshot_names())}
    names |= {prefix + m.name for m in incremental_models() for prefix in (CHANGED_PREFIX, REBUILT_PREFIX)}
    return dict.fromkeys(names, TEMP_SCHEMA)


def fingerprint(*rendered: str) -> str:
    return hashlib.sha256("\n;\n".join(rendered).encode()).hexdigest()[:32]


def start(
    client: SqlClient, dialect: str, dataset: str, marts: str, *, full_refresh: bool
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
    state = IncrementalState(full_refresh=full_refresh, marts=marts)
    logged = client.execute_sql(
        f"SELECT model, fingerprint, sources, row_count FROM {builds} WHERE marts_schema = %s", marts
    )
    for model, print_, sources, rows in logged or []:
        state.logged[str(model)] = LoggedBuild(str(print_), str(sources), int(rows))
    new_loads = temporary(dialect, NEW_LOADS)
    client.execute_sql(f"DROP TABLE IF EXISTS {new_loads}")
    dlt_loads = qualified(dialect, dataset, "_dlt_loads")
    if _table_exists(client, dataset, "_dlt_loads"):
        select = (
            f"SELECT load_id FROM {dlt_loads} WHERE status = 0 "
            f"AND load_id NOT IN (SELECT load_id FROM {loads} WHERE marts_schema = %s)"
        )
    else:
        select = "SELECT CAST(NULL AS VARCHAR) AS load_id WHERE FALSE"
    args = (marts,) if "%s" in select else ()
    client.execute_sql(f"CREATE TEMPORARY TABLE {identifier(dialect, NEW_LOADS)} AS {select}", *args)
    return state


def snapshot(client: SqlClient, dialect: str, marts: str, model: Model, state: IncrementalState) -> None:
    """Before a dimension is rebuilt: keep it as previous_<dim> when a `changed` query compares with it."""
    if model.name not in snapshot_names():
        return
    previous = PREVIOUS_PREFIX + model.name
    client.execute_sql(f"DROP TABLE IF EXISTS {temporary(dialect, previous)}")
    if _table_exists(client, marts, model.name):
        client.execute_sql(
            f"CREATE TEMPORARY TABLE {identifier(dialect, previous)} AS "
            f"SELECT * FROM {qualified(dialect, marts, model.name)}"
        )
        state.snapshots.add(model.name)


def source_marks(client: SqlClient, dialect: str, dataset: str, model: Model) -> str:
    """The oldest load id left in each raw table of the fact's history: it moves when a table is reloaded."""
    assert model.incremental is not None
    marks = []
    for table in model.incremental.history:
        if not _column_exists(client, dataset, table, "_dlt_load_id"):
            continue
        oldest = client.execute_sql(f"SELECT min(_dlt_load_id) FROM {qualified(dialect, dataset, table)}")
        marks.append(f"{table}={oldest[0][0] if oldest else None}")
    return ",".join(marks)


def why_full(
    client: SqlClient, marts: str, model: Model, state: IncrementalState, print_: str, sources: str
) -> str | None:
    """Why `model` must be rebuilt in full in this build, or None when the changed keys suffice."""
    assert model.incremental is not None
    logged = state.logged.get(model.name)
    reasons = [
        (state.full_refresh, "--full-refresh"),
        (logged is None, "first build"),
        (logged is not None and logged.fingerprint != print_, "its SQL or the build settings changed"),
        (logged is not None and logged.sources != sources, "a raw table it reads was reloaded"),
    ]
    for relation in parse_sql(model.incremental.changed).relations:
        if (
            relation.startswith(PREVIOUS_PREFIX)
            and relation.removeprefix(PREVIOUS_PREFIX) not in state.snapshots
        ):
            reasons.append((True, f"no previous build of {relation.removeprefix(PREVIOUS_PREFIX)}"))
        if (
            relation.startswith(CHANGED_PREFIX)
            and relation.removeprefix(CHANGED_PREFIX) not in state.incremental
        ):
            reasons.append((True, f"{relation.removeprefix(CHANGED_PREFIX)} was rebuilt in full"))
    for holds, reason in reasons:
        if holds:
            return reason
    if not _table_exists(client, marts, model.name):
        return "its table is missing"
    return None


def create_indexes(client: SqlClient, dialect: str, dataset: str, models: Iterable[Model]) -> None:
    """PostgreSQL: the raw-table indexes the `changed` queries and filters need (once; IF NOT EXISTS)."""
    if dialect != "postgres":
        return  # DuckDB scans a column's zone maps and hash-joins; an ART index would only slow the loads
    for model in models:
        assert model.incremental is not None
        for table, columns in model.incremental.indexes:
            if not all(_column_exists(client, dataset, table, c) for c in columns):
                continue
            name = identifier(dialect, f"ix_livello_{table}_{'_'.join(columns)}"[:63])
            cols = ", ".join(identifier(dialect, c) for c in columns)
            client.execute_sql(
                f"CREATE INDEX IF NOT EXISTS {name} ON {qualified(dialect, dataset, table)} ({cols})"
            )


def finish(client: SqlClient, dialect: str, dataset: str, state: IncrementalState) -> None:
    """Record the loads now in the marts and each incremental fact's fingerprint and rows."""
    loads, builds = qualified(dialect, dataset, BUILT_LOADS), qualified(dialect, dataset, BUILDS)
    client.execute_sql(
        f"INSERT INTO {loads} SELECT %s, load_id FROM {temporary(dialect, NEW_LOADS)}", state.marts
    )
    client.execute_sql(f"DELETE FROM {builds} WHERE marts_schema = %s", state.marts)
    for model, (print_, sources) in state.fingerprints.items():
        client.execute_sql(
            f"INSERT INTO {builds} VALUES (%s, %s, %s, %s, %s)",
            state.marts,
            model,
            print_,
            sources,
            state.rows[model],
        )
    drop_temporary_tables(client, dialect)


def drop_temporary_tables(client: SqlClient, dialect: str) -> None:
    for name in build_relations():
        client.execute_sql(f"DROP TABLE IF EXISTS {temporary(dialect, name)}")


def _table_exists(client: SqlClient, schema: str, table: str) -> bool:
    rows = client.execute_sql(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = %s AND table_name = %s "
        "AND table_catalog = current_database()",
        schema,
        table,
    )
    return bool(rows and rows[0][0])


def _column_exists(client: SqlClient, schema: str, table: str, column: str) -> bool:
    rows = client.execute_sql(
        "SELECT count(*) FROM information_schema.columns WHERE table_schema = %s AND table_name = %s "
        "AND column_name = %s AND table_catalog = current_database()",
        schema,
        table,
        column,
    )
    return bool(rows and rows[0][0])
