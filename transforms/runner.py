"""Build the staging views, intermediate and mart tables, then run the data tests, on DuckDB or PostgreSQL.

Entry point for the pipeline: `build(pipeline)`, called after every load and by `livello-sync transform`.
The whole build runs in one transaction: BI tools see either the previous marts or the new ones, and a failed
data test rolls the build back (the previous, tested marts stay) and raises `DataTestsFailed`. Intermediate
models are temporary tables of that session, dropped before the commit.

Staging views stay in the dataset's schema beside the raw tables; the marts go to their own schema
(transforms/settings.py, default `<dataset>_marts`), the only one a BI tool needs. Once the data tests pass,
the same transaction declares what the model headers state, so BI tools can infer joins and explain columns
(transforms/constraints.py): primary keys and NOT NULL on both engines, foreign keys (with an index each) on
PostgreSQL, and table and column comments.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from transforms import constraints, incremental
from transforms.incremental import FactBuild, IncrementalState
from transforms.models import (
    CHANGED_PREFIX,
    REBUILT_PREFIX,
    REPLACED_PREFIX,
    DataTest,
    Model,
    all_data_tests,
    load_models,
)
from transforms.render import TEMP_SCHEMA, identifier, qualified, qualified_schema, render_select, temporary
from transforms.settings import TransformSettings, transform_settings

SAMPLE_ROWS = 5
SUPPORTED_DIALECTS = ("duckdb", "postgres")


class SqlClient(Protocol):
    """The subset of dlt's `SqlClientBase` the runner uses."""

    def execute_sql(self, sql: str, *args: Any) -> Sequence[Sequence[Any]] | None: ...

    def execute_query(self, sql: str, *args: Any) -> Any: ...

    def begin_transaction(self) -> Any: ...


class TransformError(RuntimeError):
    """The build could not run (unsupported destination, SQL error); the previous marts are unchanged."""


@dataclass(frozen=True)
class ModelResult:
    name: str
    materialization: str
    rows: int | None
    seconds: float
    # An incremental fact: the keys rebuilt (None: rebuilt in full, for `full_reason`).
    changed_keys: int | None = None
    full_reason: str | None = None

    @property
    def how(self) -> str:
        """How an incremental fact was built ('incremental: 12 key(s) rebuilt'); '' for other models."""
        if self.changed_keys is not None:
            return f"incremental: {self.changed_keys:,} key(s) rebuilt"
        return f"rebuilt in full: {self.full_reason}" if self.full_reason else ""


@dataclass(frozen=True)
class DataTestResult:
    name: str
    model: str
    failing_rows: int
    sample_columns: tuple[str, ...] = ()
    sample: tuple[tuple[Any, ...], ...] = ()
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return self.failing_rows == 0

    def describe(self) -> str:
        lines = [f"{self.name} on {self.model}: {self.failing_rows} offending row(s)"]
        if self.sample:
            lines.append("    sample: " + ", ".join(self.sample_columns))
            lines += [f"      {tuple(_plain(v) for v in row)}" for row in self.sample]
        return "\n".join(lines)


@dataclass
class BuildReport:
    dialect: str
    dataset: str
    marts_schema: str = ""
    models: list[ModelResult] = field(default_factory=list)
    tests: list[DataTestResult] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def failed_tests(self) -> list[DataTestResult]:
        return [t for t in self.tests if not t.passed]

    def row_counts(self) -> dict[str, int]:
        return {m.name: m.rows for m in self.models if m.rows is not None}

    def summary(self) -> str:
        width = max((len(m.name) for m in self.models), default=10)
        lines = [
            f"transform on {self.dialect} dataset {self.dataset} (marts in {self.marts_schema}): "
            f"{self.seconds:.2f}s"
        ]
        for m in self.models:
            if m.materialization == "table":
                how = f"  {m.how}" if m.how else ""
                lines.append(f"  {m.name:<{width}}  {m.rows:>10} rows  {m.seconds:6.2f}s{how}")
        passed = len(self.tests) - len(self.failed_tests)
        lines.append(f"  data tests: {passed}/{len(self.tests)} passed")
        return "\n".join(lines)


class DataTestsFailed(TransformError):
    """At least one data test found offending rows; the build was rolled back."""

    def __init__(self, report: BuildReport) -> None:
        self.report = report
        failed = report.failed_tests
        details = "\n".join("  " + t.describe() for t in failed)
        super().__init__(
            f"{len(failed)} data test(s) failed; the marts were not replaced "
            f"(dataset {report.dataset}, {report.dialect}):\n{details}"
        )


def _plain(value: Any) -> Any:
    return str(value) if not isinstance(value, int | str | type(None)) else value


def dialect_of(pipeline: Any) -> str:
    name = str(pipeline.destination.destination_name)
    for dialect in SUPPORTED_DIALECTS:
        if name == dialect or name.endswith("." + dialect):
            return dialect
    raise TransformError(f"transforms support {', '.join(SUPPORTED_DIALECTS)}, not destination {name!r}")


def build(
    pipeline: Any, settings: TransformSettings | None = None, *, full_refresh: bool = False
) -> BuildReport:
    """Rebuild staging views in `pipeline`'s dataset and the marts in their schema, then run every data test.

    Facts declared `incremental` rebuild only the rows of changed keys unless `full_refresh` (or
    transforms/incremental.py finds a reason to rebuild them in full). `settings` default to the configured
    ones (`sources.livello.marts_schema`, the cold-chain rule). Raises `DataTestsFailed` (listing test,
    table, offending row count and a sample) when a test fails.
    """
    dialect = dialect_of(pipeline)
    settings = settings or transform_settings()
    with pipeline.sql_client() as client:
        return build_with_client(
            client,
            dialect=dialect,
            dataset=pipeline.dataset_name,
            settings=settings,
            full_refresh=full_refresh,
        )


def build_with_client(
    client: SqlClient,
    *,
    dialect: str,
    dataset: str,
    settings: TransformSettings | None = None,
    full_refresh: bool = False,
) -> BuildReport:
    if dialect not in SUPPORTED_DIALECTS:
        raise TransformError(f"unsupported dialect {dialect!r}")
    settings = settings or transform_settings()
    target = Target(dialect, dataset, settings.schema_for(dataset), settings.model_settings())
    report = BuildReport(dialect=dialect, dataset=dataset, marts_schema=target.marts)
    started = time.perf_counter()
    _set_utc_session(client, dialect)
    # A transform before the first load (or with nothing loaded yet) builds empty marts instead of failing.
    for schema in dict.fromkeys((dataset, target.marts)):
        client.execute_sql(f"CREATE SCHEMA IF NOT EXISTS {qualified_schema(dialect, schema)}")
    raw_columns = _raw_columns(client, dialect, dataset, {m.name for m in load_models()})
    step = "start"
    try:
        with client.begin_transaction():
            if dialect == "postgres":
                # Without statistics on fresh tables the planner overestimates the build's statements and
                # JIT-compiles them, which costs more than it saves (measured: 5 % of a build at 1M sales
                # lines, 30 % at 100k). LOCAL: for this transaction only.
                client.execute_sql("SET LOCAL jit = off")
                # The CTEs of a build have no statistics: on a join over several keys of two of them the
                # planner guesses a handful of rows and merge-joins with rescans (measured: fct_kiosk_daily
                # 4.3 s instead of 1.5 s at 0.5M sales lines, minutes at 5M). Hash joins scale with the rows.
                client.execute_sql("SET LOCAL enable_mergejoin = off")
                # At the default 4 MB a hash aggregate over the history spills, and a parallel spilling one
                # can take minutes (measured: the distinct session hours of 2.5M transactions, 100 s; 2 s at
                # 16 MB or more).
                client.execute_sql("SET LOCAL work_mem = '32MB'")
            step = "dropping the previous constraints"
            constraints.drop_foreign_keys(client, dialect, target.marts)
            if target.marts != dataset:
                step = "moving the marts out of the dataset's schema"
                _drop_marts_in(client, dialect, dataset)
            step = "reading what the previous build left"
            state = incremental.start(
                client, dialect, dataset, target.marts, raw_columns, full_refresh=full_refresh
            )
            incremental.create_indexes(client, dialect, dataset, raw_columns)
            for model in load_models():
                step = f"model {model.name}"
                report.models.append(_build_model(client, model, target, raw_columns, state))
            step = "data tests"
            report.tests = run_data_tests(
                client,
                dialect=dialect,
                dataset=dataset,
                settings=settings,
                restrict=_restrictions(state),
                lost_keys=incremental.lost_keys(client, dialect, state),
            )
            if report.failed_tests:
                report.seconds = time.perf_counter() - started
                raise DataTestsFailed(report)
            # Only after the tests: a violation is then reported by its test (name, rows, sample), and the
            # constraints cannot fail on data the tests accepted.
            step = "declaring keys, constraints and comments"
            constraints.declare(
                client,
                dialect,
                target.marts,
                [m for m in load_models() if m.kind == "mart"],
                kept=state.incremental,
            )
            step = "recording the build"
            incremental.finish(client, dialect, dataset, state)
            step = "dropping temporary tables"
            _drop_temporary_tables(client, dialect)
            report.seconds = time.perf_counter() - started
    except TransformError:
        raise
    except Exception as exc:  # noqa: BLE001 - name the step; the driver's message says what went wrong
        raise TransformError(f"transform failed in {step} ({dialect}, dataset {dataset}): {exc}") from exc
    return report


@dataclass(frozen=True)
class Target:
    """Where one build writes: the dataset (raw tables, staging views) and the marts' schema."""

    dialect: str
    dataset: str
    marts: str
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def schemas(self) -> dict[str, str]:
        return model_schemas(self.marts)


def model_schemas(marts_schema: str) -> dict[str, str]:
    """Models that do not live in the dataset's schema: the marts have their own, the intermediate ones are
    temporary tables (so are the incremental build's own: new_loads, previous_<dim>, changed_<fact>,
    rebuilt_<fact>, replaced_<fact>)."""
    schemas = incremental.build_relations()
    for model in load_models():
        if model.kind == "intermediate":
            schemas[model.name] = TEMP_SCHEMA
        elif model.kind == "mart":
            schemas[model.name] = marts_schema
    return schemas


def _drop_marts_in(client: SqlClient, dialect: str, dataset: str) -> None:
    # Warehouses built before the marts had their own schema hold them beside the raw tables: a BI tool
    # would find two copies, the old one stale. Only mart names are dropped, never a raw table.
    for model in reversed(load_models()):
        if model.kind == "mart":
            client.execute_sql(f"DROP TABLE IF EXISTS {qualified(dialect, dataset, model.name)}")


def drop_staging_views(pipeline: Any) -> None:
    """Drop the stg_* views of `pipeline`'s dataset before dlt drops raw tables (`run --refresh`):
    PostgreSQL refuses to drop a table a view reads. The next build creates them again."""
    dialect = dialect_of(pipeline)
    with pipeline.sql_client() as client:
        for model in reversed(load_models()):
            if model.kind == "staging":
                client.execute_sql(
                    f"DROP VIEW IF EXISTS {qualified(dialect, pipeline.dataset_name, model.name)}"
                )


def _set_utc_session(client: SqlClient, dialect: str) -> None:
    # Casts between naive and zoned timestamps use the session zone: pin it so results never vary by host.
    client.execute_sql("SET TimeZone = 'UTC'" if dialect == "duckdb" else "SET TIME ZONE 'UTC'")


def _raw_columns(
    client: SqlClient, dialect: str, dataset: str, model_names: set[str]
) -> dict[str, frozenset[str]]:
    rows = (
        client.execute_sql(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = %s AND table_catalog = current_database()",
            dataset,
        )
        or []
    )
    columns: dict[str, set[str]] = {}
    for table, column in rows:
        if table not in model_names:
            columns.setdefault(table, set()).add(column)
    return {table: frozenset(cols) for table, cols in columns.items()}


def _build_model(
    client: SqlClient,
    model: Model,
    target: Target,
    raw_columns: dict[str, frozenset[str]],
    state: IncrementalState,
) -> ModelResult:
    started = time.perf_counter()
    dialect, dataset = target.dialect, target.dataset

    def render(sql: str, changed_set: str | None = None) -> str:
        return render_select(
            sql,
            dialect=dialect,
            dataset=dataset,
            raw_columns=raw_columns,
            schemas=target.schemas,
            settings=target.settings,
            changed_set=changed_set,
        )

    select = render(model.sql)
    rows: int | None = None
    if model.kind == "intermediate":
        # Temporary: private to this session (a concurrent build has its own), not WAL-logged by PostgreSQL,
        # kept in memory by DuckDB; a failed build's rollback removes it like everything else.
        client.execute_sql(f"DROP TABLE IF EXISTS {temporary(dialect, model.name)}")
        client.execute_sql(f"CREATE TEMPORARY TABLE {identifier(dialect, model.name)} AS {select}")
        _analyze_temporary(client, dialect, model.name)
    elif model.kind == "staging":
        view = qualified(dialect, dataset, model.name)
        client.execute_sql(f"DROP VIEW IF EXISTS {view}")
        client.execute_sql(f"CREATE VIEW {view} AS {select}")
    elif model.incremental is not None:
        result = _build_incremental(client, model, target, raw_columns, state, render, select)
        incremental.create_mart_indexes(client, dialect, target.marts, model)
        return replace(result, seconds=time.perf_counter() - started)
    else:
        incremental.snapshot(client, dialect, model, state)
        rows = _replace_table(client, dialect, qualified(dialect, target.marts, model.name), select)
        incremental.create_mart_indexes(client, dialect, target.marts, model)
    return ModelResult(model.name, model.materialization, rows, time.perf_counter() - started)


def _replace_table(client: SqlClient, dialect: str, table: str, select: str) -> int:
    client.execute_sql(f"DROP TABLE IF EXISTS {table}")
    client.execute_sql(f"CREATE TABLE {table} AS {select}")
    if dialect == "postgres":
        # the models after it read it in this transaction, before autovacuum could have a look
        client.execute_sql(f"ANALYZE {table}")
    return int(_scalar(client, f"SELECT count(*) FROM {table}"))


def _analyze_temporary(client: SqlClient, dialect: str, name: str) -> None:
    if dialect == "postgres":
        # autovacuum never analyzes temporary tables: without statistics the planner misjudges the joins
        # of every mart on them (a sort-merge of all transactions instead of a hash join, 1 s at 1M lines)
        client.execute_sql(f"ANALYZE {temporary(dialect, name)}")


def _build_incremental(
    client: SqlClient,
    model: Model,
    target: Target,
    raw_columns: dict[str, frozenset[str]],
    state: IncrementalState,
    render: Callable[..., str],
    select: str,
) -> ModelResult:
    """Delete and select again the rows of the keys `incremental.changed` finds, or rebuild in full."""
    spec = incremental.incremental_of(model)
    dialect, table = target.dialect, qualified(target.dialect, target.marts, model.name)
    changed = CHANGED_PREFIX + model.name
    changed_sql = render(spec.changed)
    sources = incremental.source_marks(client, dialect, target.dataset, model, raw_columns)
    # A kept table keeps the NOT NULL and keys of its first build: a header that changes them rebuilds it.
    print_ = incremental.fingerprint(select, changed_sql, f"not_null={model.not_null} unique={model.unique}")
    reason = incremental.why_full(model, state, FactBuild(print_, sources, 0))
    if reason is not None:
        rows = _replace_table(client, dialect, table, select)
        state.built[model.name] = FactBuild(print_, sources, rows)
        return ModelResult(model.name, model.materialization, rows, 0.0, full_reason=reason)
    client.execute_sql(f"DROP TABLE IF EXISTS {temporary(dialect, changed)}")
    client.execute_sql(f"CREATE TEMPORARY TABLE {identifier(dialect, changed)} AS {changed_sql}")
    _analyze_temporary(client, dialect, changed)
    key = ", ".join(identifier(dialect, k) for k in spec.key)
    in_changed = f"({key}) IN (SELECT {key} FROM {temporary(dialect, changed)})"
    # The rows of the changed keys go to a temporary table first: the data tests check them there, so a
    # NULL where the table says NOT NULL fails its test (named, with a sample), not the INSERT. The filter
    # again outside: a model that forgot a changed_rows() filter still rebuilds only changed keys.
    rebuilt = REBUILT_PREFIX + model.name
    client.execute_sql(f"DROP TABLE IF EXISTS {temporary(dialect, rebuilt)}")
    client.execute_sql(
        f"CREATE TEMPORARY TABLE {identifier(dialect, rebuilt)} AS "
        f"SELECT * FROM ({render(model.sql, changed)}) AS rebuilt WHERE {in_changed}"
    )
    # What those keys held before: `changed` queries of later facts read it (a row that moved to another
    # day changes the old day too).
    replaced = REPLACED_PREFIX + model.name
    client.execute_sql(f"DROP TABLE IF EXISTS {temporary(dialect, replaced)}")
    client.execute_sql(
        f"CREATE TEMPORARY TABLE {identifier(dialect, replaced)} AS SELECT * FROM {table} WHERE {in_changed}"
    )
    before = int(_scalar(client, f"SELECT count(*) FROM {temporary(dialect, replaced)}"))
    client.execute_sql(f"DELETE FROM {table} WHERE {in_changed}")
    complete = " AND ".join(f"{identifier(dialect, c)} IS NOT NULL" for c in model.not_null) or "TRUE"
    client.execute_sql(f"INSERT INTO {table} SELECT * FROM {temporary(dialect, rebuilt)} WHERE {complete}")
    after = int(_scalar(client, f"SELECT count(*) FROM {temporary(dialect, rebuilt)}"))
    keys = int(_scalar(client, f"SELECT count(*) FROM {temporary(dialect, changed)}"))
    rows = state.logged[model.name].rows - before + after
    state.incremental.add(model.name)
    state.built[model.name] = FactBuild(print_, sources, rows)
    return ModelResult(model.name, model.materialization, rows, 0.0, changed_keys=keys)


def _restrictions(state: IncrementalState) -> tuple[tuple[str, str], ...]:
    """(fact, its rebuilt rows) of each fact built incrementally: its data tests check those rows."""
    return tuple((name, REBUILT_PREFIX + name) for name in sorted(state.incremental))


def _drop_temporary_tables(client: SqlClient, dialect: str) -> None:
    # DuckDB keeps a connection's temporary tables after the commit, and dlt may hand the same connection to
    # the next build: leave nothing behind (dependents first).
    for model in reversed(load_models()):
        if model.kind == "intermediate":
            client.execute_sql(f"DROP TABLE IF EXISTS {temporary(dialect, model.name)}")
    incremental.drop_temporary_tables(client, dialect)


def _scalar(client: SqlClient, sql: str) -> Any:
    result = client.execute_sql(sql)
    return result[0][0] if result else None


# --- data tests -------------------------------------------------------------------------------------------


def run_data_tests(
    client: SqlClient,
    *,
    dialect: str,
    dataset: str,
    settings: TransformSettings | None = None,
    restrict: tuple[tuple[str, str], ...] = (),
    lost_keys: frozenset[str] = frozenset(),
) -> list[DataTestResult]:
    """Every data test; `restrict` (an incremental build's facts and their rebuilt rows) scopes the generic
    tests of those facts, and the custom tests marked `scope: changed_rows`, to the rebuilt rows, except the
    relationship tests into a dimension in `lost_keys` (one that lost a key an old row may point to)."""
    # Not-null and relationship tests are first counted together, one scan per model; only a test whose count
    # is not 0 runs on its own, for its exact count and sample.
    settings = settings or transform_settings()
    whole = frozenset(t for t in all_data_tests() if t.kind == "relationship" and t.to_model in lost_keys)
    screened = _screen(
        client, dialect=dialect, dataset=dataset, settings=settings, restrict=restrict, skip=whole
    )
    results = []
    for test in all_data_tests():
        if screened.get(test) == 0:
            results.append(DataTestResult(test.name, test.model, 0))
            continue
        results.append(
            run_data_test(
                client,
                test,
                dialect=dialect,
                dataset=dataset,
                settings=settings,
                restrict=() if test in whole else _scope(test, restrict),
                changed_set=_changed_set(test, restrict),
            )
        )
    return results


def _changed_set(test: DataTest, restrict: tuple[tuple[str, str], ...]) -> str | None:
    """The changed keys a `changed_keys_of` test filters on: only when its fact was built incrementally."""
    if test.changed_keys_of in {fact for fact, _rows in restrict}:
        return CHANGED_PREFIX + str(test.changed_keys_of)
    return None


def _scope(test: DataTest, restrict: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    if test.changed_rows_only:
        return restrict
    if test.kind == "custom":
        return ()
    return tuple(r for r in restrict if r[0] == test.model)


def _render(
    sql: str,
    dialect: str,
    dataset: str,
    settings: TransformSettings,
    restrict: tuple[tuple[str, str], ...] = (),
    changed_set: str | None = None,
) -> str:
    return render_select(
        sql,
        dialect=dialect,
        dataset=dataset,
        raw_columns={},
        schemas=model_schemas(settings.schema_for(dataset)),
        settings=settings.model_settings(),
        restrict=restrict,
        changed_set=changed_set,
    )


def _screen(
    client: SqlClient,
    *,
    dialect: str,
    dataset: str,
    settings: TransformSettings,
    restrict: tuple[tuple[str, str], ...] = (),
    skip: frozenset[DataTest] = frozenset(),
) -> dict[DataTest, int]:
    """Offending rows of every not-null and relationship test, counted per model in one query.

    A relationship counts the rows of `model` without a match in `to_model`. The LEFT JOINs of one query can
    multiply rows where a dimension repeats a key (its own unique test fails then); that only inflates a count
    that is not 0 anyway, and such a test runs on its own.
    """
    by_model: dict[str, list[DataTest]] = {}
    for test in all_data_tests():
        if test.kind in ("not_null", "relationship") and test not in skip:
            by_model.setdefault(test.model, []).append(test)
    counts: dict[DataTest, int] = {}
    for model, tests in by_model.items():
        sums, joins = [], []
        for i, test in enumerate(tests):
            column = f"f.{test.columns[0]}"
            if test.kind == "not_null":
                sums.append(f"sum(CASE WHEN {column} IS NULL THEN 1 ELSE 0 END)")
            else:
                target = f"d{i}.{test.to_column}"
                joins.append(f"LEFT JOIN {test.to_model} AS d{i} ON {column} = {target}")
                sums.append(f"sum(CASE WHEN {column} IS NOT NULL AND {target} IS NULL THEN 1 ELSE 0 END)")
        query = _render(
            f"SELECT {', '.join(sums)} FROM {model} AS f {' '.join(joins)}",
            dialect,
            dataset,
            settings,
            tuple(r for r in restrict if r[0] == model),
        )
        row = (client.execute_sql(query) or [[None] * len(tests)])[0]
        for test, value in zip(tests, row, strict=True):
            counts[test] = int(value or 0)
    return counts


def run_data_test(
    client: SqlClient,
    test: DataTest,
    *,
    dialect: str,
    dataset: str,
    settings: TransformSettings | None = None,
    restrict: tuple[tuple[str, str], ...] = (),
    changed_set: str | None = None,
) -> DataTestResult:
    started = time.perf_counter()
    query = _render(test.sql, dialect, dataset, settings or transform_settings(), restrict, changed_set)
    # One pass for the sample (plus one row beyond it), a count only when there are more offending rows.
    # PostgreSQL plans a LIMIT for the first rows it expects, and expects offending rows: it would scan the
    # history for them rather than look up the few rows an incremental build rebuilt. A materialized CTE is
    # planned for all its rows and still read only as far as the LIMIT.
    materialized = "MATERIALIZED " if dialect == "postgres" else ""
    sample = f"WITH offending AS {materialized}({query}) SELECT * FROM offending LIMIT {SAMPLE_ROWS + 1}"
    with client.execute_query(sample) as cursor:
        columns = tuple(d[0] for d in cursor.description)
        rows = [tuple(r) for r in cursor.fetchall()]
    failing = len(rows)
    if failing > SAMPLE_ROWS:
        failing = int(_scalar(client, f"SELECT count(*) FROM ({query}) AS offending"))
    return DataTestResult(
        name=test.name,
        model=test.model,
        failing_rows=failing,
        sample_columns=columns if rows else (),
        sample=tuple(rows[:SAMPLE_ROWS]),
        seconds=time.perf_counter() - started,
    )
