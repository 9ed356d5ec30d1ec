"""`livello-sync status`: where each resource stands, for people and for monitoring.

Read-only and offline: it opens the warehouse read-only (DuckDB) or with a plain connection (PostgreSQL),
never the API, and creates no file. Per resource: the last successful sync, the cursor, rows in the last run
and in total, the age of the newest record, the last failure; per run: status, requests and the API budget.
`--max-age` turns it into a check for monitors (exit 1 when a resource's last successful sync is older); a
warehouse that cannot be read is exit 1 too, with what went wrong.

`--json` prints `StatusReport.as_json()`; its schema is documented in the README ("status for machines")."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from dlt.common.versioned_state import decompress_state

from pipelines.settings import Warehouse, mask_password
from sources.livello.context import api_time, to_utc
from sources.livello.endpoints import ENDPOINTS
from sources.livello.rows import column_name
from sources.livello.state import SOURCE_NAME, ResourceState

STATUS_SCHEMA_VERSION = 1
RECENT_RUNS = 5


class WarehouseUnavailable(Exception):
    """The warehouse cannot be read: missing, locked by a writer, unreachable (status exits 1)."""


@dataclass
class ResourceStatus:
    resource: str
    table: str
    rows_total: int | None = None  # rows in the raw table (None: no table yet)
    rows_last_run: int | None = None
    last_success_at: str | None = None  # end of the last run that synced it without failing
    cursor: str | None = None  # incremental resources: the newest cursor value loaded
    newest_record_at: str | None = None  # the newest cursor value in the warehouse, else the last load
    backfill_resumes_at: str | None = None
    last_failure_at: str | None = None
    last_failure: str | None = None
    stale: bool = False  # older than --max-age
    configured_only: bool = False  # the API cannot list it: only what configuration names is read


@dataclass
class RunStatus:
    started_at: str
    status: str
    duration_seconds: float
    rows_loaded: int
    requests: int
    http_429: int
    budget_remaining: int | None
    budget_limit: int | None
    error: str | None
    # Several API clients: client name -> its part of the run (pipelines/sync.py Lane.record()).
    clients: dict[str, Any] = field(default_factory=dict)


@dataclass
class ClientBudget:
    """One API client's rate-limit budget as the last run that used it left it (several clients)."""

    name: str
    client_id: str | None
    organization_id: int | None
    kiosks: int | None
    last_status: str | None
    last_run_at: str | None
    requests_last_run: int
    requests_last_hour: int  # by the syncs of the last hour
    budget_used: int | None  # requests of the current window (the API's RateLimit headers at the end)
    budget_allowed: int | None  # what the sync may use per window (budget_share of the API's limit)
    budget_limit: int | None  # the API's limit per window
    error: str | None


@dataclass
class StatusReport:
    destination: str
    dataset: str
    warehouse: str  # the DuckDB file or the PostgreSQL host/database (no password)
    generated_at: str
    max_age_hours: float | None = None
    resources: list[ResourceStatus] = field(default_factory=list)
    runs: list[RunStatus] = field(default_factory=list)
    requests_last_hour: int = 0
    clients: list[ClientBudget] = field(default_factory=list)  # several API clients: budget per client

    @property
    def stale(self) -> list[str]:
        return [r.resource for r in self.resources if r.stale]

    def as_json(self) -> str:
        return json.dumps(
            {"schema_version": STATUS_SCHEMA_VERSION, **asdict(self), "stale": self.stale}, indent=2
        )

    def render(self) -> str:
        lines = [f"livello-sync status: {self.destination} dataset {self.dataset} at {self.warehouse}"]
        header = (
            f"  {'resource':<27} {'last sync':<17} {'rows':>10} {'last run':>9}  {'newest record':<17}  note"
        )
        lines.append(header)
        now = to_utc(self.generated_at)
        for r in self.resources:
            note = []
            if r.backfill_resumes_at:
                note.append(f"backfill resumes at {_short(r.backfill_resumes_at)}")
            if r.last_failure and (r.last_success_at is None or r.last_failure_at > r.last_success_at):
                note.append(f"last run FAILED: {r.last_failure[:80]}")
            if r.stale:
                note.append("STALE")
            if r.configured_only and r.rows_total is None:
                note.append("reads only the keys configuration names")
            synced = (
                f"{_short(r.last_success_at)} ({_ago(r.last_success_at, now)})"
                if r.last_success_at
                else "never"
            )
            lines.append(
                f"  {r.resource:<27} {synced:<24} {_count(r.rows_total):>10} {_count(r.rows_last_run):>9}  "
                f"{_short(r.newest_record_at) if r.newest_record_at else '-':<17}  {'; '.join(note)}"
            )
        if self.runs:
            lines.append("  last runs:")
            for run in self.runs:
                budget = _budget(run.budget_remaining, run.budget_limit, "left")
                lines.append(
                    f"    {_short(run.started_at)} {run.status:<9} {run.requests:>6,} requests, "
                    f"{run.http_429} x 429, {budget}, {run.duration_seconds:.0f} s"
                    + (f"  error: {run.error[:100]}" if run.error else "")
                )
            lines.append(f"  API requests used by syncs in the last hour: {self.requests_last_hour:,}")
        if self.clients:
            lines.append("  API clients (budget per client, each its own rate-limit window):")
            for c in self.clients:
                budget = _budget(c.budget_used, c.budget_allowed, "of the window used")
                scope = f"organization {c.organization_id}" if c.organization_id is not None else "unscoped"
                kiosks = f"{c.kiosks} kiosks" if c.kiosks is not None else "all kiosks"
                lines.append(
                    f"    {c.name:<16} {c.client_id or '-':<22} {scope:<18} {kiosks:<11} "
                    f"{c.last_status or '-':<9} {c.requests_last_run:>6,} requests, {budget}; "
                    f"{c.requests_last_hour:,} in the last hour"
                    + (f"  error: {c.error[:80]}" if c.error else "")
                )
        if self.stale:
            lines.append(f"STALE: {', '.join(self.stale)}: no successful sync within the allowed age")
        return "\n".join(lines)


def _budget(part: int | None, whole: int | None, what: str) -> str:
    """'312/800 left', or that the budget is unknown (no response said)."""
    return f"{part:,}/{whole:,} {what}" if part is not None and whole is not None else "budget unknown"


def _short(iso: str | None) -> str:
    return to_utc(iso).strftime("%Y-%m-%d %H:%M") if iso else "-"


def _ago(iso: str | None, now: datetime) -> str:
    if iso is None:
        return "-"
    seconds = (now - to_utc(iso)).total_seconds()
    if seconds < 5400:
        return f"{max(0.0, seconds) / 60:.0f} min"
    if seconds < 3 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def _count(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def _iso(value: Any) -> str | None:
    return api_time(to_utc(value)) if value is not None else None


# -- reading the warehouse --------------------------------------------------------------------------------
class Reader:
    """Plain read-only queries on the warehouse's dataset (no dlt pipeline: nothing is created)."""

    def __init__(self, connection: Any, engine: str, dataset: str) -> None:
        self._connection = connection
        self._engine = engine
        self.dataset = dataset

    def rows(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        if self._engine == "duckdb":
            return [tuple(r) for r in self._connection.execute(sql.replace("%s", "?"), list(args)).fetchall()]
        with self._connection.cursor() as cursor:
            cursor.execute(sql, args or None)
            return [tuple(r) for r in cursor.fetchall()]

    def table(self, name: str) -> str:
        return f'"{self.dataset}"."{name}"'

    def tables(self) -> set[str]:
        return {
            r[0]
            for r in self.rows(
                "select table_name from information_schema.tables where table_schema = %s", self.dataset
            )
        }

    def columns(self, table: str) -> set[str]:
        sql = "select column_name from information_schema.columns where table_schema = %s and table_name = %s"
        return {r[0] for r in self.rows(sql, self.dataset, table)}


@contextmanager
def open_reader(warehouse: Warehouse) -> Iterator[Reader]:
    """A read-only view of the warehouse, or WarehouseUnavailable saying why it cannot be read."""
    if warehouse.destination == "duckdb":
        import duckdb

        path = Path(warehouse.duckdb_path or "")
        if not path.exists():
            raise WarehouseUnavailable(
                f"no warehouse at {path}: nothing was synced into it yet (run `livello-sync run`), or "
                "DESTINATION__DUCKDB__CREDENTIALS points elsewhere"
            )
        try:
            connection = duckdb.connect(str(path), read_only=True)
        except duckdb.Error as error:
            raise WarehouseUnavailable(f"cannot open {path}: {_first_line(error)}") from None
        try:
            yield Reader(connection, "duckdb", warehouse.dataset)
        finally:
            connection.close()
        return
    import psycopg2

    where = mask_password(str(warehouse.postgres_credentials))
    try:
        connection = psycopg2.connect(warehouse.postgres_credentials, connect_timeout=10)
    except psycopg2.Error as error:
        raise WarehouseUnavailable(f"cannot connect to PostgreSQL at {where}: {_first_line(error)}") from None
    try:
        connection.set_session(readonly=True, autocommit=True)
        yield Reader(connection, "postgres", warehouse.dataset)
    finally:
        connection.close()


def _first_line(error: BaseException) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return mask_password(lines[0]) if lines else type(error).__name__


def _pipeline_state(reader: Reader, pipeline_name: str) -> dict[str, ResourceState]:
    sql = (
        f"select pipeline_name, state from {reader.table('_dlt_pipeline_state')} "
        "where pipeline_name like 'livello%%' order by version desc, created_at desc"
    )
    rows = reader.rows(sql)
    chosen = next((r for r in rows if r[0] == pipeline_name), rows[0] if rows else None)
    if chosen is None:
        return {}
    state = decompress_state(chosen[1])
    resources = state.get("sources", {}).get(SOURCE_NAME, {}).get("resources", {})
    return {name: ResourceState(dict(raw)) for name, raw in resources.items()}


def _runs(reader: Reader, tables: set[str]) -> list[dict[str, Any]]:
    if "sync_runs" not in tables:
        return []
    wanted = [
        "started_at", "finished_at", "status", "error", "duration_seconds", "rows_loaded", "rows_per_table",
        "requests", "http_429", "budget_remaining", "budget_limit", "failed", "skipped", "resources",
        "clients",
    ]  # fmt: skip
    present = [c for c in wanted if c in reader.columns("sync_runs")]
    rows = reader.rows(
        f"select {', '.join(present)} from {reader.table('sync_runs')} order by started_at desc"
    )
    return [dict(zip(present, row, strict=True)) for row in rows]


def _json(value: Any, default: Any) -> Any:
    try:
        return json.loads(value) if value else default
    except (TypeError, ValueError):
        return default


def collect(
    warehouse: Warehouse,
    *,
    max_age: timedelta | None = None,
    overrides: dict[str, timedelta] | None = None,
    now: datetime | None = None,
) -> StatusReport:
    """The status of `warehouse`; with `max_age` (and per-resource `overrides`) each resource is marked stale
    when its last successful sync is older."""
    now = now or datetime.now(UTC)
    location = warehouse.duckdb_path if warehouse.destination == "duckdb" else warehouse.postgres_credentials
    report = StatusReport(
        warehouse.destination,
        warehouse.dataset,
        mask_password(str(location)),
        api_time(now),
        max_age.total_seconds() / 3600 if max_age is not None else None,
    )
    with open_reader(warehouse) as reader:
        tables = reader.tables()
        if not tables:
            raise WarehouseUnavailable(
                f"dataset {warehouse.dataset} does not exist in {report.warehouse}: nothing was synced into "
                "it yet (run `livello-sync run`), or --dataset names another one"
            )
        states = _pipeline_state(reader, warehouse.pipeline_name) if "_dlt_pipeline_state" in tables else {}
        runs = _runs(reader, tables)
        for endpoint in ENDPOINTS:
            report.resources.append(_resource(reader, tables, endpoint, states, runs))
    report.runs = [
        RunStatus(
            started_at=_iso(r["started_at"]) or "",
            status=str(r.get("status")),
            duration_seconds=float(r.get("duration_seconds") or 0),
            rows_loaded=int(r.get("rows_loaded") or 0),
            requests=int(r.get("requests") or 0),
            http_429=int(r.get("http_429") or 0),
            budget_remaining=r.get("budget_remaining"),
            budget_limit=r.get("budget_limit"),
            error=r.get("error"),
            clients=_json(r.get("clients"), {}),
        )
        for r in runs[:RECENT_RUNS]
    ]
    report.clients = _client_budgets(runs, now)
    report.requests_last_hour = sum(
        int(r.get("requests") or 0) for r in runs if now - to_utc(r["started_at"]) <= timedelta(hours=1)
    )
    for resource in report.resources:
        limit = (overrides or {}).get(resource.resource, max_age)
        synced = resource.last_success_at
        if limit is not None and resource.rows_total is not None:
            resource.stale = synced is None or now - to_utc(synced) > limit
    return report


def _client_budgets(runs: Sequence[dict[str, Any]], now: datetime) -> list[ClientBudget]:
    """Per API client, in the order of the newest run that listed clients: the budget its last run left."""
    budgets: dict[str, ClientBudget] = {}
    for run in runs:  # newest first
        recent = now - to_utc(run["started_at"]) <= timedelta(hours=1)
        for name, c in _json(run.get("clients"), {}).items():
            if name not in budgets:
                budgets[name] = ClientBudget(
                    name=name,
                    client_id=c.get("client_id"),
                    organization_id=c.get("organization_id"),
                    kiosks=c.get("kiosks"),
                    last_status=c.get("status"),
                    last_run_at=_iso(run["started_at"]),
                    requests_last_run=int(c.get("requests") or 0),
                    requests_last_hour=0,
                    budget_used=c.get("budget_used"),
                    budget_allowed=c.get("budget_allowed"),
                    budget_limit=c.get("budget_limit"),
                    error=c.get("error"),
                )
            if recent:
                budgets[name].requests_last_hour += int(c.get("requests") or 0)
    return list(budgets.values())


def _resource(
    reader: Reader,
    tables: set[str],
    endpoint: Any,
    states: dict[str, ResourceState],
    runs: Sequence[dict[str, Any]],
) -> ResourceStatus:
    status = ResourceStatus(
        endpoint.resource, endpoint.resource, configured_only=bool(endpoint.configured_by)
    )
    progress = states[endpoint.resource].progress if endpoint.resource in states else None
    if progress is not None:
        status.cursor = _iso(progress.cursor)
        status.backfill_resumes_at = _iso(progress.backfill_next)
    if endpoint.resource in tables:
        table = reader.table(endpoint.resource)
        status.rows_total = int(reader.rows(f"select count(*) from {table}")[0][0])
        cursor = endpoint.incremental or endpoint.changes
        cursor_column = column_name(cursor.cursor) if cursor else None
        if cursor_column and cursor_column in reader.columns(endpoint.resource):
            status.newest_record_at = _iso(reader.rows(f"select max({cursor_column}) from {table}")[0][0])
        else:
            loads = reader.table("_dlt_loads")
            status.newest_record_at = _iso(
                reader.rows(
                    f"select max(l.inserted_at) from {loads} l where l.status = 0 and l.load_id in "
                    f"(select distinct _dlt_load_id from {table})"
                )[0][0]
            )
    for run in runs:  # newest first
        failed = _json(run.get("failed"), {})
        selected = _json(run.get("resources"), None)
        took_part = selected is None or endpoint.resource in selected
        if status.rows_last_run is None and took_part:
            status.rows_last_run = int(_json(run.get("rows_per_table"), {}).get(endpoint.resource, 0))
        if status.last_failure is None and (
            endpoint.resource in failed or (took_part and run.get("status") == "failed")
        ):
            status.last_failure_at = _iso(run.get("finished_at") or run["started_at"])
            status.last_failure = failed.get(endpoint.resource) or run.get("error") or "the run failed"
        succeeded = run.get("status") in ("complete", "paused", "partial") and endpoint.resource not in failed
        if (
            status.last_success_at is None
            and succeeded
            and took_part
            and (selected is not None or status.rows_total)
        ):
            status.last_success_at = _iso(run.get("finished_at") or run["started_at"])
    return status
