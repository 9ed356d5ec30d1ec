"""`livello-sync check`: does everything a run needs work, without writing any data?

One line per check, each ok / FAILED (with what to do) / skip / warn:

* configuration: the settings `run` would use (`load_settings`); a missing pseudonymization key is reported
  on its own line, so the other checks still run;
* credentials: a token from the API (`check_credentials`), the scopes granted with it;
* rate limit: the RateLimit budget of this client (from the responses to check's few requests) and the share
  a sync may use;
* scopes: which resources each scope enables, and the resources that are skipped (scope missing, nothing
  configured, no pseudonymization key);
* first backfill: requests a sync of the whole history would take (limit=1 probes: rows of each windowed
  endpoint, organizations and kiosks the per-organization and per-kiosk calls fan out over) and the least
  time they take at the allowed rate;
* warehouse: a DuckDB file that opens for writing (a write inside a transaction that is rolled back) or, when
  it does not exist yet, a folder where it can be created; a PostgreSQL server that answers, and a role that
  may create the dataset's schemas and tables (read-only queries of its privileges).

Like Airbyte's `check`, it writes nothing: no warehouse file, table or schema, no pipeline folder, no state.
Exit 0 when everything `run` needs works (skipped resources are fine: `run` skips them too), 1 when the API
or the warehouse cannot be reached now, 2 when the configuration or the credentials are wrong."""

from __future__ import annotations

import contextlib
import copy
import json
import math
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipelines.settings import SyncSettings, Warehouse, load_settings, mask_password, parse_resources
from sources.livello import probes
from sources.livello.client import LivelloClient
from sources.livello.config import SettingError, setting_names
from sources.livello.context import PAGE_SIZE, floor_hour
from sources.livello.endpoints import ENDPOINTS, Endpoint, select
from sources.livello.errors import (
    AuthenticationError,
    BudgetExhaustedError,
    LivelloError,
    PermissionDeniedError,
    TransientError,
)
from sources.livello.redaction import SECRETS

SCHEMA_VERSION = 1
OK, FAILED, SKIP, WARN, NOT_RUN = "ok", "FAILED", "skip", "warn", "not run"
EXIT_OK, EXIT_UNREACHABLE, EXIT_CONFIGURATION = 0, 1, 2
# check asks little of the API and should answer fast: fewer attempts and no long waits than a run.
CHECK_MAX_ATTEMPTS = 2
CHECK_MAX_WAIT_SECONDS = 30.0
NIGHT_SECONDS = 3.5 * 3600  # the --max-duration of the deploy recipes
INIT_HINT = "`livello-sync init --force` rewrites the credentials and keeps everything else"
KEY_HINT = "`livello-sync init --force` adds a key and keeps everything else"


@dataclass
class Line:
    check: str
    status: str
    message: str
    exit_code: int = EXIT_OK  # a FAILED line: 1 unreachable now, 2 configuration


@dataclass
class ResourceCheck:
    resource: str
    scopes: list[str]
    syncs: bool
    reason: str | None = None  # why it is skipped
    requests: int | None = None  # its share of the first backfill
    rows: int | None = None  # rows of a windowed resource in the API


@dataclass
class CheckReport:
    destination: str
    dataset: str
    settings_dir: str
    client_id: str | None = None
    base_url: str | None = None
    lines: list[Line] = field(default_factory=list)
    scopes_granted: list[str] | None = None
    resources: list[ResourceCheck] = field(default_factory=list)
    rate_limit: dict[str, Any] | None = None
    backfill: dict[str, Any] | None = None
    requests_used: int = 0  # what check itself cost, token requests excluded

    def add(self, check: str, status: str, message: str, exit_code: int = EXIT_OK) -> Line:
        line = Line(check, status, message, exit_code if status == FAILED else EXIT_OK)
        self.lines.append(line)
        return line

    @property
    def exit_code(self) -> int:
        return max((line.exit_code for line in self.lines), default=EXIT_OK)

    def as_json(self) -> str:
        return json.dumps(
            {"schema_version": SCHEMA_VERSION, "exit_code": self.exit_code, **asdict(self)}, indent=2
        )

    def render(self) -> str:
        out = [
            f"livello-sync check: settings in {self.settings_dir}, {self.destination} dataset {self.dataset}"
        ]
        width = max(len(line.check) for line in self.lines) if self.lines else 0
        for line in self.lines:
            out.append(f"  {line.status:<7} {line.check:<{width}}  {line.message}")
            if line.check == "scopes" and line.status == OK:
                out.extend(f"  {'':<7} {'':<{width}}    {detail}" for detail in self.scope_details())
        skipped = [r.resource for r in self.resources if not r.syncs]
        if self.exit_code == EXIT_OK:
            note = f" ({len(skipped)} resource(s) skipped, as `run` will skip them)" if skipped else ""
            out.append(f"Everything `livello-sync run` needs works{note}. Next: livello-sync run")
        else:
            kind = (
                "the configuration"
                if self.exit_code == EXIT_CONFIGURATION
                else "reaching the API or warehouse"
            )
            out.append(
                f"check FAILED ({kind}, exit {self.exit_code}): fix the lines marked FAILED and run it again"
            )
        return "\n".join(out)

    def scope_details(self) -> list[str]:
        """Per scope the sync needs: the resources it enables, or skips when not granted."""
        granted = set(self.scopes_granted or ())
        needed: list[str] = []
        for resource in self.resources:
            needed.extend(s for s in resource.scopes if s not in needed)
        width = max((len(s) for s in needed), default=0)
        details = []
        for scope in needed:
            users = [r for r in self.resources if scope in r.scopes]
            if scope in granted:
                enabled = [r.resource for r in users if r.syncs]
                other = [r.resource for r in users if not r.syncs]
                text = ", ".join(enabled) or "-"
                if other:
                    text += f" (not: {', '.join(other)}, see below)"
                details.append(f"{scope:<{width}}  {text}")
            else:
                details.append(f"{scope:<{width}}  NOT granted: skips {', '.join(r.resource for r in users)}")
        unused = sorted(granted - set(needed))
        if unused and len(self.resources) == len(ENDPOINTS):
            details.append(
                f"granted, never needed by a sync (a read-only client is enough): {', '.join(unused)}"
            )
        elif unused:
            details.append(f"granted, not needed by these resources: {', '.join(unused)}")
        return details


# -- configuration -----------------------------------------------------------------------------------------
def _load(
    destination: str | None, dataset: str | None, resources: str | None
) -> tuple[SyncSettings, str | None]:
    """The settings of a run, and the pseudonymization key's problem when that is the only one (so the
    other checks still run); any other SettingError propagates."""
    try:
        return load_settings(destination=destination, dataset=dataset, resources=resources), None
    except SettingError as error:
        wanted = parse_resources(resources)
        pii = {e.resource for e in select(wanted) if e.pii}
        rest = [name for name in wanted if name not in pii]
        if not pii or not rest:
            raise
        try:
            settings = load_settings(destination=destination, dataset=dataset, resources=",".join(rest))
        except SettingError:
            raise error from None
        return settings, str(error)


def _settings_dir() -> str:
    import dlt

    return str(dlt.current.run_context().settings_dir)


# -- the API -----------------------------------------------------------------------------------------------
def _skip_reason(
    endpoint: Endpoint, settings: SyncSettings, granted: frozenset[str], key_problem: str | None
) -> str | None:
    missing = [s for s in endpoint.scopes if s not in granted]
    if missing:
        return (
            f"scope {', '.join(missing)} not granted to this client: ask Livello to grant it, or leave "
            "it out (the rest syncs without it)"
        )
    if endpoint.configured_by and not endpoint.configured(settings.source):
        from pipelines.discover import configured_setting

        name = configured_setting(endpoint) or endpoint.configured_by
        return f"nothing configured: the API cannot list these; name them in {setting_names(name)}"
    if endpoint.pii and key_problem:
        return f"no pseudonymization key: set {setting_names('pseudonymization_key')} ({KEY_HINT})"
    return None


def _total(client: LivelloClient, endpoint: Endpoint, cache: dict[str, int]) -> int:
    """Rows of a listing, from one limit=1 request."""
    if endpoint.resource not in cache:
        params: dict[str, Any] = dict(endpoint.params)
        if endpoint.paging is not None:
            params.update({endpoint.paging: 1 if endpoint.paging == "page" else 0, "limit": 1})
        body = client.get(endpoint.path, params)
        if isinstance(body, dict):
            cache[endpoint.resource] = int(body.get("total") or len(body.get("data") or []))
        else:
            cache[endpoint.resource] = len(body or [])
    return cache[endpoint.resource]


def estimate_backfill(
    client: LivelloClient, settings: SyncSettings, endpoints: list[Endpoint], now: datetime | None = None
) -> dict[str, Any]:
    """Requests a first run (the whole history) of `endpoints` needs, per resource, from limit=1 probes;
    what the planner adds (its probes and the windows' last pages when the history takes several windows) is
    included, as an estimate: windows are cut by time, not by row count."""
    now = now or datetime.now(UTC)
    totals: dict[str, int] = {}
    per: dict[str, int] = {}
    rows: dict[str, int] = {}
    oldest: datetime | None = None
    for endpoint in endpoints:
        incremental = endpoint.incremental
        if incremental is None or incremental.sizing != "rows":
            continue
        count, first = probes.edge(client, endpoint, None, newest=False)
        rows[endpoint.resource] = count
        pages = max(1, math.ceil(count / PAGE_SIZE))
        # One window: the planner's probe is the first page; else two probes and a page per window more.
        windows = math.ceil(count / settings.pipeline.backfill_window_rows)
        per[endpoint.resource] = pages if windows <= 1 else 2 + pages + windows - 1
        if first is not None and (oldest is None or first < oldest):
            oldest = first
    listings: set[str] = set()
    for endpoint in endpoints:
        incremental = endpoint.incremental
        if endpoint.resource in per:
            continue
        if incremental is not None and incremental.sizing == "span" and endpoint.fan_out is not None:
            span = incremental.span(settings.source)
            start = floor_hour(oldest or now - settings.source.lookback_period)
            windows = max(1, math.ceil((now - start) / span)) if span else 1
            per[endpoint.resource] = _total(client, endpoint.fan_out.over, totals) * windows
        elif endpoint.configured_by:
            per[endpoint.resource] = len(endpoint.configured(settings.source))
        elif endpoint.fan_out is not None:
            per[endpoint.resource] = _total(client, endpoint.fan_out.over, totals)
        elif endpoint.paging is not None:
            per[endpoint.resource] = max(1, math.ceil(_total(client, endpoint, totals) / PAGE_SIZE))
        else:
            per[endpoint.resource] = 1
        if endpoint.fan_out is not None:
            listings.add(endpoint.fan_out.over.resource)
    selected = {e.resource for e in endpoints}
    shared = {name: max(1, math.ceil(totals.get(name, 0) / PAGE_SIZE)) for name in listings - selected}
    requests = sum(per.values()) + sum(shared.values())
    return {
        "requests": requests,
        "seconds": client.estimate_seconds(requests),
        "requests_per_resource": per,
        "listing_requests": shared,  # fan-out listings read although not selected
        "rows": rows,
        "oldest": oldest.isoformat() if oldest else None,
        "organizations": totals.get("organizations"),
        "kiosks": totals.get("kiosks"),
    }


def _human(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _check_api(
    report: CheckReport, settings: SyncSettings, endpoints: list[Endpoint], key_problem: str | None
) -> None:
    client_settings = copy.copy(settings.client)
    client_settings.max_attempts = min(client_settings.max_attempts, CHECK_MAX_ATTEMPTS)
    client_settings.max_wait_seconds = min(client_settings.max_wait_seconds, CHECK_MAX_WAIT_SECONDS)
    with LivelloClient(client_settings) as client:
        try:
            client.check_credentials()
        except (AuthenticationError, PermissionDeniedError) as error:
            report.add("credentials", FAILED, f"{error.message} ({INIT_HINT})", EXIT_CONFIGURATION)
        except (TransientError, BudgetExhaustedError) as error:
            report.add("credentials", FAILED, error.message, EXIT_UNREACHABLE)
        except LivelloError as error:  # the token URL answers something else than a token: a wrong URL
            report.add(
                "credentials",
                FAILED,
                f"{error.message}; check {setting_names('base_url')}",
                EXIT_CONFIGURATION,
            )
        if client.scopes is None:
            for name in ("rate limit", "scopes", "first backfill"):
                report.add(name, NOT_RUN, "needs a token")
            report.resources = [
                ResourceCheck(e.resource, list(e.scopes), False, "not checked") for e in endpoints
            ]
            return
        granted = client.scopes
        report.scopes_granted = sorted(granted)
        report.add(
            "credentials",
            OK,
            f"token issued to {settings.client.client_id} by {settings.client.resolved_token_url} "
            f"with {len(granted)} scope(s)",
        )
        report.resources = [
            ResourceCheck(e.resource, list(e.scopes), reason is None, reason)
            for e in endpoints
            for reason in [_skip_reason(e, settings, granted, key_problem)]
        ]
        syncing = [e for e, r in zip(endpoints, report.resources, strict=True) if r.syncs]
        backfill: dict[str, Any] | None = None
        backfill_line: tuple[str, str, int] | None = None
        try:
            backfill = estimate_backfill(client, settings, syncing)
        except (TransientError, BudgetExhaustedError) as error:
            backfill_line = (FAILED, error.message, EXIT_UNREACHABLE)
        except LivelloError as error:
            backfill_line = (WARN, f"cannot estimate it: {error.message}", EXIT_OK)
        if not client.stats.requests:  # nothing syncs: one cheap request for the budget
            with contextlib.suppress(LivelloError):  # a 403 carries the RateLimit headers too
                client.get("/alerts/types")
        report.requests_used = client.stats.requests
        _rate_limit(report, client, settings)
        report.add(
            "scopes",
            OK,
            f"{len(granted)} granted; {len(syncing)} of {len(endpoints)} resource(s) sync",
        )
        for resource in report.resources:
            if not resource.syncs:
                report.add(resource.resource, SKIP, resource.reason or "")
        if backfill_line is not None:
            report.add("first backfill", *backfill_line)
        elif backfill is not None:
            report.backfill = backfill
            for resource in report.resources:
                resource.requests = backfill["requests_per_resource"].get(resource.resource)
                resource.rows = backfill["rows"].get(resource.resource)
            report.add("first backfill", OK, _describe_backfill(backfill, client))


def _rate_limit(report: CheckReport, client: LivelloClient, settings: SyncSettings) -> None:
    stats = client.stats
    allowed = client.allowed_requests_per_window()
    if stats.rate_limit_limit is None or allowed is None:
        report.add(
            "rate limit",
            WARN,
            "the API sent no RateLimit headers: a run cannot pace itself ahead and relies on Retry-After",
        )
        return
    per_window, window_seconds = allowed
    report.rate_limit = {
        "limit": stats.rate_limit_limit,
        "remaining": stats.rate_limit_remaining,
        "reset_seconds": stats.rate_limit_reset,
        "allowed_per_window": per_window,
        "window_seconds": window_seconds,
        "budget_share": settings.client.budget_share,
    }
    left = stats.rate_limit_remaining or 0
    message = (
        f"{left:,} of {stats.rate_limit_limit:,} requests left in this window (resets in "
        f"{_human(float(stats.rate_limit_reset or 0))}); a sync uses at most {per_window:,} per "
        f"{_per_window(window_seconds)} (budget_share {settings.client.budget_share:g})"
    )
    reserve = stats.rate_limit_limit - per_window
    status = OK
    if left <= reserve:
        status = WARN
        message += "; this window's share is used up already (other integrations?): a run waits for the reset"
    report.add("rate limit", status, message)


def _describe_backfill(backfill: dict[str, Any], client: LivelloClient) -> str:
    requests = backfill["requests"]
    text = f"~{requests:,} request{'s' if requests != 1 else ''}"
    detail = [f"{name} {count:,} rows" for name, count in backfill["rows"].items()]
    detail += [f"{backfill[k]:,} {k}" for k in ("organizations", "kiosks") if backfill.get(k) is not None]
    if detail:
        text += f" ({', '.join(detail)})"
    seconds = backfill["seconds"]
    allowed = client.allowed_requests_per_window()
    if seconds is not None and allowed is not None:
        per_window, window_seconds = allowed
        rate = f"{per_window * 3600 / window_seconds:,.0f} requests/hour"
        if seconds < 60:
            text += f"; no rate-limit wait at the allowed {rate}"
        else:
            text += f"; at least {_human(seconds)} at the allowed {rate}"
        if seconds > NIGHT_SECONDS:
            nights = math.ceil(seconds / NIGHT_SECONDS)
            text += f" (with --max-duration 3h30m a nightly run resumes it over ~{nights} nights)"
    if backfill["oldest"]:
        text += f"; history from {backfill['oldest'][:10]}"
    return text


def _per_window(seconds: float) -> str:
    return {3600.0: "hour", 60.0: "minute"}.get(float(seconds), f"{_human(seconds)} window")


# -- the warehouse -----------------------------------------------------------------------------------------
def _size(free: int) -> str:
    return f"{free / 1e9:,.1f} GB" if free >= 1e9 else f"{free / 1e6:,.0f} MB"


def _first_line(error: BaseException) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return SECRETS.redact(mask_password(lines[0])) if lines else type(error).__name__


def check_duckdb(warehouse: Warehouse) -> tuple[str, str, int]:
    import duckdb

    path = Path(warehouse.duckdb_path or "").resolve()
    folder = path.parent
    setting = setting_names("credentials", ("destination", "duckdb"))
    if not path.exists():
        try:
            with tempfile.TemporaryFile(dir=folder, prefix=".livello-sync-check-"):
                pass
        except OSError as error:
            return (
                FAILED,
                f"cannot create files in {folder} ({error.strerror}): fix it or change {setting}",
                2,
            )
        free = _size(shutil.disk_usage(folder).free)
        return (
            OK,
            f"DuckDB file {path} does not exist yet: the first run creates it (folder writable, {free} free)",
            0,
        )
    try:
        connection = duckdb.connect(str(path))
    except duckdb.Error as error:
        detail = _first_line(error)
        if "lock" in detail.lower():
            return (
                FAILED,
                f"{path} is held open by another process (a BI tool, a notebook, a running sync): close it, "
                f"or a run fails the same way ({detail})",
                EXIT_UNREACHABLE,
            )
        return FAILED, f"cannot open {path} as a DuckDB database ({detail}): fix or change {setting}", 2
    try:
        connection.execute("BEGIN TRANSACTION")
        connection.execute('CREATE TABLE "__livello_sync_check" (ok INTEGER)')
        connection.execute('INSERT INTO "__livello_sync_check" VALUES (1)')
        connection.execute("ROLLBACK")
        tables = connection.execute(
            "select count(*) from information_schema.tables where table_schema = ?", [warehouse.dataset]
        ).fetchone()
    except duckdb.Error as error:
        return FAILED, f"{path} opens but refuses a write ({_first_line(error)}): fix or change {setting}", 2
    finally:
        connection.close()
    count = int(tables[0]) if tables else 0
    held = (
        f"{count} table(s) in schema {warehouse.dataset}" if count else f"no schema {warehouse.dataset} yet"
    )
    free = _size(shutil.disk_usage(folder).free)
    return OK, f"DuckDB file {path} opens for writing ({held}; {free} free)", 0


_POSTGRES_CONFIGURATION_ERRORS = (
    "authentication failed",
    "does not exist",
    "no pg_hba.conf entry",
    "permission denied",
    "invalid dsn",
    "invalid connection option",
    "password",
)


def check_postgres(warehouse: Warehouse) -> tuple[str, str, int]:
    import psycopg2

    dsn = str(warehouse.postgres_credentials)
    where = mask_password(dsn)
    try:
        connection = psycopg2.connect(dsn, connect_timeout=5, application_name="livello-sync check")
    except psycopg2.Error as error:
        detail = _first_line(error)
        setting = setting_names("credentials", ("destination", "postgres"))
        if any(text in detail.lower() for text in _POSTGRES_CONFIGURATION_ERRORS):
            return FAILED, f"PostgreSQL at {where} refuses the connection ({detail}): fix {setting}", 2
        return (
            FAILED,
            f"cannot reach PostgreSQL at {where} ({detail}): is the server up and reachable from here?",
            EXIT_UNREACHABLE,
        )
    from transforms.settings import marts_schema

    marts = marts_schema(warehouse.dataset)
    # dlt's merge loads go through _staging; the transform writes the marts' schema
    schemas = tuple(dict.fromkeys((warehouse.dataset, f"{warehouse.dataset}_staging", marts)))
    try:
        connection.set_session(readonly=True, autocommit=True)
        with connection.cursor() as cursor:
            cursor.execute(
                "select current_user, current_database(), current_setting('server_version'), "
                "has_database_privilege(current_database(), 'CREATE'), "
                "coalesce((select rolsuper from pg_roles where rolname = current_user), false)"
            )
            user, database, version, may_create_schemas, superuser = cursor.fetchone()
            problems: list[str] = []
            existing = 0
            for schema in schemas:
                cursor.execute(
                    "select has_schema_privilege(oid, 'CREATE') and has_schema_privilege(oid, 'USAGE') "
                    "from pg_namespace where nspname = %s",
                    (schema,),
                )
                row = cursor.fetchone()
                if row is None and not may_create_schemas:
                    problems.append(
                        f"schema {schema} does not exist and {user} may not create schemas in {database}: "
                        f"GRANT CREATE ON DATABASE {database} TO {user}, or CREATE SCHEMA {schema} "
                        f"AUTHORIZATION {user}"
                    )
                elif row is not None and not row[0]:
                    problems.append(
                        f"{user} may not create in schema {schema}: "
                        f"GRANT USAGE, CREATE ON SCHEMA {schema} TO {user}"
                    )
                existing += row is not None
            cursor.execute(
                "select count(*) filter (where not pg_has_role(current_user, tableowner, 'USAGE')), count(*) "
                "from pg_tables where schemaname = any(%s)",
                (list(schemas),),
            )
            foreign, tables = cursor.fetchone()
            if foreign and not superuser:
                problems.append(
                    f"{foreign} table(s) in {', '.join(schemas)} belong to other roles, and a run alters "
                    f"them (new columns, rebuilt marts): make {user} their owner"
                )
    except psycopg2.Error as error:
        return (
            FAILED,
            f"PostgreSQL at {where} failed a read-only query ({_first_line(error)})",
            EXIT_UNREACHABLE,
        )
    finally:
        connection.close()
    if problems:
        return FAILED, f"PostgreSQL {version} at {where}: " + "; ".join(problems), 2
    held = (
        f"{tables} table(s) in schema {warehouse.dataset}"
        if existing and tables
        else "schemas created by the first run"
    )
    return (
        OK,
        f"PostgreSQL {version} at {where} as {user}: may create in schemas {warehouse.dataset} and {marts} "
        f"({held})",
        0,
    )


# -- the whole check ---------------------------------------------------------------------------------------
def run_check(
    *,
    destination: str | None = None,
    dataset: str | None = None,
    resources: str | None = None,
) -> CheckReport:
    """Every check; a SettingError (other than a missing pseudonymization key) propagates (exit 2)."""
    settings, key_problem = _load(destination, dataset, resources)
    destination, dataset = settings.warehouse.destination, settings.warehouse.dataset
    report = CheckReport(
        destination, dataset, _settings_dir(), settings.client.client_id, settings.client.base_url
    )
    report.add(
        "configuration",
        OK,
        f"client {settings.client.client_id} at {settings.client.base_url}",
    )
    if key_problem:
        report.add(
            "pseudonymization", FAILED, f"{key_problem}; {INIT_HINT} and adds a key", EXIT_CONFIGURATION
        )
    endpoints = list(select(parse_resources(resources)))
    _check_api(report, settings, endpoints, key_problem)
    check = check_duckdb if destination == "duckdb" else check_postgres
    status, message, code = check(settings.warehouse)
    report.add("warehouse", status, message, code)
    return report
