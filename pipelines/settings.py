"""Settings of one `livello-sync` command, kept apart by what needs them.

* `ClientSettings` and `SourceSettings` (sources/livello/config.py): talking to the API, reading it.
* `PipelineSettings`: the pipeline's own `sources.livello.*` keys (backfill window size, count-verified
  lookback, where dlt keeps its working directories).
* `Warehouse`: where the data goes (engine, dataset, credentials). Opening a warehouse (`status`, `transform`)
  needs this alone, no API settings.
* `RunOptions`: what one `livello-sync run` was asked to do (command-line options).

Every value comes from dlt's configuration (environment, `.dlt/*.toml`) or the command line, is validated
once by its spec, and a problem is a `SettingError` (exit 2) naming the setting as its environment variable
and its `.dlt` key. A key under `[sources.livello]` that no spec knows is refused (a typo would be silently
ignored)."""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import dlt
from dlt.common.configuration import configspec
from dlt.common.configuration.exceptions import ConfigProviderException, ConfigurationException
from dlt.common.configuration.specs import BaseConfiguration

from sources.livello.config import (
    DURATION_EXAMPLES,
    ClientSettings,
    SettingError,
    SourceSettings,
    check_known,
    invalid,
    known_fields,
    provider_problem,
    resolve,
    setting_names,
)
from sources.livello.config import parse_duration as _parse_duration
from sources.livello.endpoints import RESOURCE_NAMES, Endpoint, select
from sources.livello.redaction import SECRETS
from transforms.settings import TransformSettings

DESTINATIONS = ("duckdb", "postgres")
DEFAULT_DATASET = "livello"
DEFAULT_DUCKDB_FILE = "livello_sync.duckdb"


@configspec
class PipelineSettings(BaseConfiguration):
    # A backfill window is sized to hold about this many rows (~100 requests, minutes at the allowed rate), so
    # a crash or interruption loses at most one window of work.
    backfill_window_rows: int = 10_000
    # Probe the lookback window's row count and re-read only the sub-windows where the API and the warehouse
    # disagree (pipelines/lookback.py); false re-reads the whole lookback on every run.
    verify_lookback: bool = True
    # Where dlt keeps each pipeline's working state (default ~/.dlt/pipelines). The state is also stored in
    # the warehouse, so a wiped directory is restored on the next run.
    pipelines_dir: str | None = None
    # `livello-sync status` freshness check: the longest a resource may go without a successful sync before
    # status exits 1. A table: `default = "26h"` and per resource, e.g. `temperature = "50h"`.
    max_age: dict[str, str] | None = None
    # The warehouse commands use when --destination / --dataset are not given (`livello-sync init` sets them).
    # Not named `destination`: dlt would find its own [destination] section there.
    default_destination: str = "duckdb"
    default_dataset: str = DEFAULT_DATASET

    def on_resolved(self) -> None:
        if self.default_destination not in DESTINATIONS:
            allowed = "must be one of " + ", ".join(DESTINATIONS)
            raise invalid("default_destination", self.default_destination, allowed)
        if self.backfill_window_rows < 1:
            raise invalid("backfill_window_rows", self.backfill_window_rows, "must be at least 1")
        for key, value in (self.max_age or {}).items():
            if key != "default" and key not in RESOURCE_NAMES:
                raise invalid(
                    "max_age", key, "keys are `default` or a resource: " + ", ".join(RESOURCE_NAMES)
                )
            if _parse_duration(value) is None:
                raise invalid("max_age", value, f"values must be {DURATION_EXAMPLES}")

    def max_ages(self, default: timedelta | None = None) -> tuple[timedelta | None, dict[str, timedelta]]:
        """(the default max age, per-resource ones); `default` (the command line's) wins over the file's."""
        ages = {key: _parse_duration(value) for key, value in (self.max_age or {}).items()}
        fallback = default if default is not None else ages.pop("default", None)
        ages.pop("default", None)
        return fallback, {key: age for key, age in ages.items() if age is not None}


KNOWN_SETTINGS = known_fields(ClientSettings, SourceSettings, PipelineSettings, TransformSettings)


PROJECT_DIR_ENV = "LIVELLO_SYNC_PROJECT_DIR"
_project_dir: Path | None = None


def use_project(project_dir: str | Path | None = None) -> Path:
    """Read configuration from `project_dir`/.dlt (default: $LIVELLO_SYNC_PROJECT_DIR, else the working
    directory), whatever dlt read before in this process: each command starts from the files as they are now.
    Relative paths in the configuration (the DuckDB file, the pipelines folder) are resolved against it, so
    cron and systemd need no `cd`."""
    from dlt.common.configuration.container import Container
    from dlt.common.configuration.specs.pluggable_run_context import PluggableRunContext

    global _project_dir
    chosen = Path(project_dir or os.environ.get(PROJECT_DIR_ENV) or Path.cwd()).expanduser().resolve()
    if not chosen.is_dir():
        raise SettingError(
            f"the project folder {chosen} does not exist (--project-dir or {PROJECT_DIR_ENV}): it is the "
            "folder that holds .dlt/ (create it with `livello-sync init`)"
        )
    try:
        Container()[PluggableRunContext].reload(str(chosen))
    except ConfigProviderException as error:
        raise SettingError(provider_problem(error)) from None
    _project_dir = chosen
    return chosen


def project_dir() -> Path:
    """The folder whose .dlt/ configures this command (the working directory until `use_project`)."""
    return _project_dir or Path.cwd().resolve()


def in_project(path: str | Path) -> Path:
    """`path` made absolute against the project folder (absolute paths stay as they are)."""
    candidate = Path(path).expanduser()
    return candidate if candidate.is_absolute() else project_dir() / candidate


def resolve_checked(spec: type[Any], explicit: dict[str, Any] | None = None) -> Any:
    """`resolve`, after refusing unknown `sources.livello` keys."""
    check_known(KNOWN_SETTINGS)
    return resolve(spec, explicit=explicit)


# -- the warehouse -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Warehouse:
    destination: str = "duckdb"
    dataset: str = DEFAULT_DATASET
    duckdb_path: str | None = None
    postgres_credentials: str | None = field(default=None, repr=False)
    pipelines_dir: str | None = None

    @property
    def pipeline_name(self) -> str:
        # One pipeline (local state, lock) per warehouse: two DuckDB files, or two PostgreSQL databases, with
        # the same dataset must never share a cursor, or a fresh warehouse would start where another stopped.
        return f"livello_{self.destination}_{self.dataset}_{self.warehouse_id}"

    def pipeline_name_for(self, client: str | None) -> str:
        """The pipeline of one API client: the primary (None) keeps `pipeline_name`, so a warehouse synced
        with one client keeps its state when more are added; every other client has its own pipeline, and so
        its own cursors and backfill checkpoints, beside it in the same dataset."""
        return self.pipeline_name if client is None else f"{self.pipeline_name}__{client}"

    @property
    def warehouse_id(self) -> str:
        """A short, password-free fingerprint of where the data goes (DuckDB file, or host/port/database)."""
        if self.destination == "duckdb":
            location = str(Path(self.duckdb_path or DEFAULT_DUCKDB_FILE).resolve())
        else:
            parts = urlsplit(self.postgres_credentials or "")
            location = f"{parts.username}@{parts.hostname}:{parts.port or 5432}{parts.path}"
        return hashlib.sha256(location.encode()).hexdigest()[:8]

    @property
    def loader_file_format(self) -> str:
        # dlt's default INSERT path takes minutes and gigabytes for a million rows on DuckDB and is several
        # times slower than COPY on PostgreSQL (research notes, section 6).
        return "parquet" if self.destination == "duckdb" else "csv"


def warehouse_settings(
    destination: str, dataset: str, pipeline: PipelineSettings | None = None, *, writable: bool = True
) -> Warehouse:
    """The warehouse of (destination, dataset) with its credentials; a SettingError when they are unusable.
    `writable`: the command writes (run, transform), so a DuckDB file must be creatable or writable."""
    if destination not in DESTINATIONS:
        raise SettingError(f"--destination must be one of {', '.join(DESTINATIONS)}, not {destination!r}")
    configured = (pipeline or resolve_checked(PipelineSettings)).pipelines_dir
    pipelines_dir = str(in_project(configured)) if configured else None
    if destination == "duckdb":
        path = _duckdb_path(dataset, writable=writable)
        return Warehouse(destination, dataset, duckdb_path=path, pipelines_dir=pipelines_dir)
    return Warehouse(destination, dataset, postgres_credentials=_postgres_dsn(), pipelines_dir=pipelines_dir)


_DUCKDB_SETTING = setting_names("credentials", ("destination", "duckdb"))
_POSTGRES_SETTING = setting_names("credentials", ("destination", "postgres"))


def _duckdb_path(dataset: str, *, writable: bool) -> str:
    """The DuckDB file, checked before anything is requested from the API (nothing is created here)."""
    path = in_project(str(_config_value("destination.duckdb.credentials") or DEFAULT_DUCKDB_FILE))
    if path.stem.lower() == dataset.lower():
        # DuckDB names the catalog after the file, case-insensitively; a schema of the same name makes every
        # query ambiguous.
        raise SettingError(
            f"the DuckDB file name {path.name!r} must differ from the dataset name {dataset!r} (DuckDB "
            "cannot tell the catalog from the schema, whatever their case): rename the file in "
            f"{_DUCKDB_SETTING}"
        )
    folder = path.resolve().parent
    if not writable:
        return str(path)
    if not folder.is_dir():
        raise SettingError(
            f"the folder {folder} of the DuckDB file {path} does not exist: create it, or point "
            f"{_DUCKDB_SETTING} at a file in an existing folder"
        )
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise SettingError(
            f"{path} is not writable by this user: fix its permissions or change {_DUCKDB_SETTING}"
        )
    return str(path)


def _postgres_dsn() -> str:
    """The PostgreSQL connection string, checked so that a typo never reaches dlt or the driver, whose
    messages would print it with its password."""
    value = _config_value("destination.postgres.credentials", secret=True)
    if isinstance(value, Mapping):  # [destination.postgres.credentials] as a TOML table
        value = _dsn_from_fields(value)
    if not value:
        raise SettingError(
            f"PostgreSQL needs credentials: set {_POSTGRES_SETTING} to "
            "postgresql://user:password@host:5432/database (in .dlt/secrets.toml or the environment)"
        )
    dsn = str(value)
    parts = urlsplit(dsn)
    if parts.password:
        SECRETS.add(parts.password)
    try:
        valid = (
            parts.scheme in ("postgresql", "postgres")
            and bool(parts.hostname)
            and bool(parts.path.strip("/"))
        )
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        valid = False
    if not valid:
        raise SettingError(
            f"{_POSTGRES_SETTING} is not a PostgreSQL connection string: expected "
            f"postgresql://user:password@host:5432/database, got {mask_password(dsn)!r}"
        )
    return _with_password_field(dsn)


def _dsn_from_fields(fields: Mapping[str, Any]) -> str:
    user = quote(str(fields.get("username") or ""), safe="")
    password = fields.get("password")
    userinfo = f"{user}:{quote(str(password), safe='')}" if password else user
    host = f"{fields.get('host') or 'localhost'}:{fields.get('port') or 5432}"
    return f"postgresql://{userinfo}@{host}/{fields.get('database') or ''}"


def mask_password(text: str) -> str:
    """`text` with whatever stands between a user's ':' and '@' replaced by ***."""
    return re.sub(r":[^:@/]*@", ":***@", text)


def _config_value(key: str, *, secret: bool = False) -> Any:
    try:
        return (dlt.secrets if secret else dlt.config).get(key)
    except ConfigurationException as error:  # an unreadable .dlt/*.toml
        raise SettingError(str(error).splitlines()[-1]) from None


def _with_password_field(dsn: str) -> str:
    """dlt insists on a password field; a DSN without one (trust or peer auth, ~/.pgpass, PGPASSWORD) gets an
    empty password, which libpq treats as not given."""
    parts = urlsplit(dsn)
    if parts.scheme.startswith("postgres") and "@" in parts.netloc:
        userinfo, host = parts.netloc.rsplit("@", 1)
        if ":" not in userinfo:
            return urlunsplit(parts._replace(netloc=f"{userinfo}:@{host}"))
    return dsn


# -- the warehouse the last run wrote ----------------------------------------------------------------------
LAST_RUN_FILE = Path(".livello-sync") / "last_run.json"


def remember_warehouse(warehouse: Warehouse) -> None:
    """Note in the project folder which warehouse a run wrote (no credentials: PostgreSQL's come from the
    configuration), so `status`, `report`, `reconcile` and `transform` read that one unless told otherwise."""
    record = {
        "destination": warehouse.destination,
        "dataset": warehouse.dataset,
        "duckdb_path": warehouse.duckdb_path,
        "pipelines_dir": warehouse.pipelines_dir,
        "pipeline_name": warehouse.pipeline_name,
    }
    path = project_dir() / LAST_RUN_FILE
    try:
        path.parent.mkdir(exist_ok=True)
        path.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    except OSError:
        pass  # a read-only project folder: the commands fall back to the configuration


def chosen_warehouse(destination: str | None, dataset: str | None, *, writable: bool) -> Warehouse:
    """The warehouse a command works on: the one named on the command line, else the one the last run in this
    project wrote, else the configured one (DuckDB, dataset livello)."""
    last: dict[str, Any] = {}
    configured = resolve_checked(PipelineSettings)
    path = project_dir() / LAST_RUN_FILE
    if destination is None and dataset is None and path.is_file():
        try:
            last = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            last = {}
    if last.get("destination") == "duckdb" and last.get("duckdb_path"):
        return Warehouse(
            "duckdb",
            last["dataset"],
            duckdb_path=last["duckdb_path"],
            pipelines_dir=last.get("pipelines_dir"),
        )
    return warehouse_settings(
        destination or last.get("destination") or configured.default_destination,
        dataset or last.get("dataset") or configured.default_dataset,
        configured,
        writable=writable,
    )


# -- one run --------------------------------------------------------------------------------
def parse_duration(text: str, *, what: str) -> timedelta:
    """'48h', '90m', '2d', '3600s'; a bare number means hours. SettingError naming `what` otherwise."""
    period = _parse_duration(text)
    if period is None:
        raise SettingError(f"{what}: cannot read {text!r} as {DURATION_EXAMPLES}")
    return period


def parse_since(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise SettingError(
            f"--since: cannot read {text!r} as a date (use YYYY-MM-DD or an ISO 8601 time)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def parse_resources(text: str | None, *, what: str = "--resources") -> tuple[str, ...]:
    if not text:
        return RESOURCE_NAMES
    wanted = [r.strip() for r in text.split(",") if r.strip()]
    unknown = [r for r in wanted if r not in RESOURCE_NAMES]
    if unknown:
        raise SettingError(f"{what}: unknown {', '.join(unknown)}; known: {', '.join(RESOURCE_NAMES)}")
    return tuple(r for r in RESOURCE_NAMES if r in wanted)  # keep the dependency-friendly table order


@dataclass(frozen=True)
class RunOptions:
    resources: tuple[str, ...] = RESOURCE_NAMES
    # Re-read from their start, replacing their tables and state (dlt's refresh="drop_resources").
    refresh: tuple[str, ...] = ()
    since: datetime | None = None
    max_duration: timedelta | None = None
    transform: bool = True
    progress: bool = True

    @property
    def endpoints(self) -> tuple[Endpoint, ...]:
        return select(self.resources)


@dataclass(frozen=True)
class SyncSettings:
    """Everything one `livello-sync run` needs."""

    client: ClientSettings
    source: SourceSettings
    pipeline: PipelineSettings
    warehouse: Warehouse
    run: RunOptions = field(default_factory=RunOptions)


def load_settings(
    *,
    destination: str | None = None,
    dataset: str | None = None,
    resources: str | None = None,
    since: str | None = None,
    lookback: str | None = None,
    max_duration: str | None = None,
    transform: bool = True,
    progress: bool = True,
    refresh: str | None = None,
) -> SyncSettings:
    """The settings of a run: dlt's configuration with the command line's options on top."""
    selected = parse_resources(resources)
    refreshed = parse_resources(refresh, what="--refresh") if refresh else ()
    if set(refreshed) - set(selected):
        raise SettingError(
            f"--refresh {', '.join(sorted(set(refreshed) - set(selected)))}: not among --resources"
        )
    run = RunOptions(
        resources=selected,
        refresh=refreshed,
        since=parse_since(since) if since else None,
        max_duration=parse_duration(max_duration, what="--max-duration") if max_duration else None,
        transform=transform,
        progress=progress,
    )
    if lookback is not None:
        parse_duration(lookback, what="--lookback")
    client = resolve_checked(ClientSettings)
    shared = [e.resource for e in select(refreshed) if e.fleet]
    if shared and client.api_clients():
        # Every client's kiosks share these tables: one client dropping and refilling them would lose the
        # others' rows.
        raise SettingError(
            f"--refresh {', '.join(shared)}: with several API clients ({setting_names('clients')}) these "
            "tables hold every client's kiosks and cannot be replaced by one; use --since to re-read them"
        )
    source = resolve_checked(SourceSettings, {"lookback": lookback})
    pipeline = resolve_checked(PipelineSettings)
    needs_key = [e.resource for e in run.endpoints if e.pii]
    if needs_key and source.pseudonymize_users and not source.pseudonymization_key:
        raise SettingError(
            f"{', '.join(needs_key)}: personal data is pseudonymized by default and needs a key: set "
            f"{setting_names('pseudonymization_key')} (in .dlt/secrets.toml), or opt out with "
            f"{setting_names('pseudonymize_users')} = false, or leave {needs_key[0]} out with --resources"
        )
    warehouse = warehouse_settings(
        destination or pipeline.default_destination, dataset or pipeline.default_dataset, pipeline
    )
    return SyncSettings(client, source, pipeline, warehouse, run)
