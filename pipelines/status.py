"""`livello-sync status`: per resource the last successful sync, cursor position, rows loaded and freshness,
and the API budget the last runs used. Reads the warehouse (and the dlt state stored there), never the API."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pipelines.destination import open_pipeline
from sources.livello import state
from sources.livello.context import api_time, to_utc
from sources.livello.endpoints import RESOURCE_NAMES


def _ago(moment: datetime | None, now: datetime) -> str:
    if moment is None:
        return "-"
    seconds = (now - moment).total_seconds()
    if seconds < 0:
        return "ahead"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    if seconds < 3 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def _table_facts(client: Any, tables: set[str]) -> dict[str, tuple[int, datetime | None]]:
    """rows and time of the last successful load, per raw table present in the warehouse."""
    facts: dict[str, tuple[int, datetime | None]] = {}
    loads = client.make_qualified_table_name("_dlt_loads")
    for table in sorted(tables):
        name = client.make_qualified_table_name(table)
        rows = client.execute_sql(
            f"select count(*), (select max(l.inserted_at) from {loads} l where l.status = 0 and l.load_id in "
            f"(select distinct _dlt_load_id from {name})) from {name}"
        )
        count, last = rows[0]
        facts[table] = (int(count), to_utc(last) if last is not None else None)
    return facts


def _last_runs(client: Any) -> list[tuple[Any, ...]]:
    try:
        return list(
            client.execute_sql(
                "select started_at, status, requests, http_429, budget_remaining, budget_limit, "
                "duration_seconds "
                f"from {client.make_qualified_table_name('sync_runs')} order by started_at desc limit 5"
            )
        )
    except Exception:  # no run recorded yet
        return []


def render_status(destination: str, dataset: str) -> str:
    pipeline = open_pipeline(destination, dataset)
    try:
        pipeline.sync_destination()
    except Exception as error:
        return f"No warehouse data yet for {destination} dataset {dataset} ({str(error).splitlines()[0]})."
    states = state.of_pipeline(pipeline)
    now = datetime.now(UTC)
    schema_tables = set(pipeline.default_schema.data_table_names()) if pipeline.default_schema_name else set()
    if not schema_tables:
        return f"Nothing synced yet into {destination} dataset {dataset}. Run `livello-sync run` first."
    with pipeline.sql_client() as client:
        facts = _table_facts(client, {t for t in schema_tables if t in RESOURCE_NAMES or t == "sync_runs"})
        runs = _last_runs(client)
    lines = [
        f"livello-sync status: {destination} dataset {dataset} (pipeline {pipeline.pipeline_name})",
        f"  {'resource':<27} {'last sync (UTC)':<17} {'cursor (UTC)':<17} {'rows':>10}  freshness",
    ]
    for name in RESOURCE_NAMES:
        progress = states[name].progress if name in states else None
        cursor = progress.cursor if progress else None
        rows, last = facts.get(name, (0, None))
        if name not in facts and name not in states:
            lines.append(f"  {name:<27} {'never':<17} {'-':<17} {0:>10}  -")
            continue
        fresh = _ago(cursor or last, now)
        resume = progress.backfill_next if progress else None
        note = f"  (backfill in progress, resumes at {api_time(resume)})" if resume else ""
        lines.append(
            f"  {name:<27} {last.strftime('%Y-%m-%d %H:%M') if last else '-':<17} "
            f"{cursor.strftime('%Y-%m-%d %H:%M') if cursor else '-':<17} {rows:>10,}  {fresh}{note}"
        )
    if runs:
        lines.append("  last runs:")
        for started, status, requests, http_429, remaining, limit, seconds in runs:
            budget = f"{remaining}/{limit} left" if remaining is not None else "budget unknown"
            lines.append(
                f"    {to_utc(started):%Y-%m-%d %H:%M} {status:<9} {requests:>6} requests, "
                f"{http_429} x 429, {budget}, {float(seconds or 0):.0f}s"
            )
        hour_ago = [r for r in runs if (now - to_utc(r[0])).total_seconds() <= 3600]
        used = sum(int(r[2] or 0) for r in hour_ago)
        lines.append(f"  API requests used by syncs in the last hour: {used}")
    return "\n".join(lines)
