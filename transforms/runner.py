"""Build the staging views and mart tables, then run the data tests, on DuckDB or PostgreSQL.

Entry point for the pipeline: `build(pipeline)`, called after every load and by `livello-sync transform`.
The whole build runs in one transaction: BI tools see either the previous marts or the new ones, and a failed
data test rolls the build back (the previous, tested marts stay) and raises `DataTestsFailed`.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from transforms.models import DataTest, Model, load_data_tests, load_models
from transforms.render import qualified, qualified_schema, render_select

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
        lines = [f"transform on {self.dialect} dataset {self.dataset}: {self.seconds:.2f}s"]
        for m in self.models:
            if m.materialization == "table":
                lines.append(f"  {m.name:<{width}}  {m.rows:>10} rows  {m.seconds:6.2f}s")
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


def build(pipeline: Any) -> BuildReport:
    """Rebuild staging views and marts in `pipeline`'s dataset, then run every data test.

    Raises `DataTestsFailed` (listing test, table, offending row count and a sample) when a test fails.
    """
    dialect = dialect_of(pipeline)
    with pipeline.sql_client() as client:
        return build_with_client(client, dialect=dialect, dataset=pipeline.dataset_name)


def build_with_client(client: SqlClient, *, dialect: str, dataset: str) -> BuildReport:
    if dialect not in SUPPORTED_DIALECTS:
        raise TransformError(f"unsupported dialect {dialect!r}")
    report = BuildReport(dialect=dialect, dataset=dataset)
    started = time.perf_counter()
    _set_utc_session(client, dialect)
    # A transform before the first load (or with nothing loaded yet) builds empty marts instead of failing.
    client.execute_sql(f"CREATE SCHEMA IF NOT EXISTS {qualified_schema(dialect, dataset)}")
    raw_columns = _raw_columns(client, dialect, dataset, {m.name for m in load_models()})
    step = "start"
    try:
        with client.begin_transaction():
            for model in load_models():
                step = f"model {model.name}"
                report.models.append(_build_model(client, model, dialect, dataset, raw_columns))
            step = "data tests"
            report.tests = run_data_tests(client, dialect=dialect, dataset=dataset)
            report.seconds = time.perf_counter() - started
            if report.failed_tests:
                raise DataTestsFailed(report)
    except TransformError:
        raise
    except Exception as exc:  # noqa: BLE001 - name the step; the driver's message says what went wrong
        raise TransformError(f"transform failed in {step} ({dialect}, dataset {dataset}): {exc}") from exc
    return report


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
    client: SqlClient, model: Model, dialect: str, dataset: str, raw_columns: dict[str, frozenset[str]]
) -> ModelResult:
    started = time.perf_counter()
    select = render_select(model.sql, dialect=dialect, dataset=dataset, raw_columns=raw_columns)
    target = qualified(dialect, dataset, model.name)
    rows: int | None = None
    if model.materialization == "view":
        client.execute_sql(f"DROP VIEW IF EXISTS {target}")
        client.execute_sql(f"CREATE VIEW {target} AS {select}")
    else:
        client.execute_sql(f"DROP TABLE IF EXISTS {target}")
        client.execute_sql(f"CREATE TABLE {target} AS {select}")
        rows = int(_scalar(client, f"SELECT count(*) FROM {target}"))
    return ModelResult(model.name, model.materialization, rows, time.perf_counter() - started)


def _scalar(client: SqlClient, sql: str) -> Any:
    result = client.execute_sql(sql)
    return result[0][0] if result else None


# --- data tests -------------------------------------------------------------------------------------------


def generic_tests(models: Iterable[Model]) -> list[DataTest]:
    """Tests derived from model headers: unique keys, not-null columns, relationships to dimensions."""
    tests: list[DataTest] = []
    for model in models:
        if model.kind != "mart":
            continue
        for key in model.unique:
            cols = ", ".join(key)
            tests.append(
                DataTest(
                    f"unique({cols})",
                    model.name,
                    f"{cols} identifies one row of {model.name}",
                    f"SELECT {cols}, count(*) AS duplicates FROM {model.name} "
                    f"GROUP BY {cols} HAVING count(*) > 1",
                )
            )
        # not-null checks run together per model (one scan, see run_data_tests); listed for the report
        for column in model.not_null:
            tests.append(
                DataTest(
                    f"not_null({column})",
                    model.name,
                    f"{model.name}.{column} is never null",
                    f"SELECT * FROM {model.name} WHERE {column} IS NULL",
                )
            )
        for rel in model.relationships:
            tests.append(
                DataTest(
                    f"relationship({rel.column} -> {rel.to_model}.{rel.to_column})",
                    model.name,
                    f"every {model.name}.{rel.column} exists in {rel.to_model}",
                    f"SELECT f.* FROM {model.name} AS f LEFT JOIN {rel.to_model} AS d "
                    f"ON f.{rel.column} = d.{rel.to_column} "
                    f"WHERE f.{rel.column} IS NOT NULL AND d.{rel.to_column} IS NULL",
                )
            )
    return tests


def all_data_tests() -> list[DataTest]:
    return generic_tests(load_models()) + list(load_data_tests())


def run_data_tests(client: SqlClient, *, dialect: str, dataset: str) -> list[DataTestResult]:
    null_counts = _null_counts(client, dialect=dialect, dataset=dataset)
    results = []
    for test in all_data_tests():
        column = test.name[len("not_null(") : -1] if test.name.startswith("not_null(") else None
        if column is not None and null_counts.get((test.model, column)) == 0:
            # One scan per model counted the nulls of all its columns; only a failing column queries again.
            results.append(DataTestResult(test.name, test.model, 0))
            continue
        results.append(run_data_test(client, test, dialect=dialect, dataset=dataset))
    return results


def _null_counts(client: SqlClient, *, dialect: str, dataset: str) -> dict[tuple[str, str], int]:
    counts: dict[tuple[str, str], int] = {}
    for model in load_models():
        if model.kind != "mart" or not model.not_null:
            continue
        sums = ", ".join(f"sum(CASE WHEN {c} IS NULL THEN 1 ELSE 0 END)" for c in model.not_null)
        query = render_select(
            f"SELECT {sums} FROM {model.name}", dialect=dialect, dataset=dataset, raw_columns={}
        )
        row = (client.execute_sql(query) or [[None] * len(model.not_null)])[0]
        for column, value in zip(model.not_null, row, strict=True):
            counts[(model.name, column)] = int(value or 0)
    return counts


def run_data_test(client: SqlClient, test: DataTest, *, dialect: str, dataset: str) -> DataTestResult:
    started = time.perf_counter()
    query = render_select(test.sql, dialect=dialect, dataset=dataset, raw_columns={})
    # One pass for the sample (plus one row beyond it), a count only when there are more offending rows.
    with client.execute_query(f"SELECT * FROM ({query}) AS offending LIMIT {SAMPLE_ROWS + 1}") as cursor:
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
