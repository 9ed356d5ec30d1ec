"""Settings of one `livello-sync` run: dlt configuration (.dlt/*.toml, environment) merged with command-line
options.

Everything is read the dlt way (`sources.livello.*`, `destination.<name>.credentials`), so an operator can
configure a run by environment variables alone (SOURCES__LIVELLO__CLIENT_ID,
DESTINATION__POSTGRES__CREDENTIALS, ...). Problems an operator must fix raise `ConfigError`, which the CLI
turns into exit code 2 with the message."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import dlt

from sources.livello.endpoints import RESOURCE_NAMES, TEMPERATURE_MAX_WINDOW_HOURS

DESTINATIONS = ("duckdb", "postgres")
DEFAULT_DATASET = "livello"
DEFAULT_DUCKDB_FILE = "livello_sync.duckdb"
# Re-read this much history before the cursor on every incremental run. Kiosks that lose connectivity upload
# their sessions late (they buffer offline sales and send them on reconnect, typically within hours; a kiosk
# offline overnight or a missed nightly run needs about a day more). 48 h catches a backlog of up to two days
# and costs a nightly run about two days of pages; the merge on the primary key absorbs the re-reads.
DEFAULT_LOOKBACK = timedelta(hours=48)
# A backfill window is sized to hold about this many rows (~100 requests, minutes at the allowed rate), so a
# crash or interruption loses at most one window of work.
DEFAULT_WINDOW_ROWS = 10_000


class ConfigError(Exception):
    """Bad usage or configuration: the CLI exits with code 2 and prints the message."""


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$", re.IGNORECASE)
_UNIT_SECONDS = {"": 3600, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str | int | float | timedelta, *, what: str) -> timedelta:
    """'48h', '90m', '2d', '3600s'; a bare number means hours."""
    if isinstance(text, timedelta):
        return text
    if isinstance(text, int | float):
        return timedelta(hours=float(text))
    match = _DURATION.match(str(text))
    if not match:
        raise ConfigError(f"{what}: cannot read {text!r} as a duration (examples: 48h, 90m, 2d)")
    return timedelta(seconds=float(match.group(1)) * _UNIT_SECONDS[match.group(2).lower()])


def parse_since(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(
            f"--since: cannot read {text!r} as a date (use YYYY-MM-DD or an ISO 8601 time)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            return [str(v) for v in json.loads(text)]
        return [p.strip() for p in text.split(",") if p.strip()]
    return [str(v) for v in value]


def _as_bool(value: Any, default: bool) -> bool:
    if value is None:
        return default
    if isinstance(value, str):
        return value.strip().lower() not in ("0", "false", "no", "off")
    return bool(value)


@dataclass
class SyncSettings:
    base_url: str
    client_id: str
    client_secret: str = field(repr=False)
    destination: str = "duckdb"
    dataset: str = DEFAULT_DATASET
    resources: tuple[str, ...] = RESOURCE_NAMES
    since: datetime | None = None
    lookback: timedelta = DEFAULT_LOOKBACK
    max_duration: timedelta | None = None
    transform: bool = True
    token_url: str | None = None
    budget_share: float | None = None
    pseudonymize_users: bool = True
    pseudonymization_key: str | None = field(default=None, repr=False)
    promocodes: tuple[str, ...] = ()
    temperature_granularity: str = "hourly"
    window_rows: int = DEFAULT_WINDOW_ROWS
    # Probe the lookback window's row count and re-read only the sub-windows where the API and the warehouse
    # disagree (pipelines/lookback.py); false re-reads the whole lookback on every run.
    verify_lookback: bool = True
    duckdb_path: str | None = None
    postgres_credentials: str | None = field(default=None, repr=False)
    pipelines_dir: str | None = None
    progress: bool = True

    @property
    def pipeline_name(self) -> str:
        # One pipeline (local state, lock) per warehouse: two DuckDB files, or two PostgreSQL databases, with
        # the same dataset must never share a cursor, or a fresh warehouse would start where another stopped.
        return f"livello_{self.destination}_{self.dataset}_{self.warehouse_id}"

    @property
    def warehouse_id(self) -> str:
        """A short, password-free fingerprint of where the data goes (DuckDB file, or host/port/database)."""
        if self.destination == "duckdb":
            location = str(Path(self.duckdb_path or DEFAULT_DUCKDB_FILE).resolve())
        else:
            parts = urlsplit(self.postgres_credentials or "")
            location = f"{parts.username}@{parts.hostname}:{parts.port or 5432}{parts.path}"
        return hashlib.sha256(location.encode()).hexdigest()[:8]


def _cfg(key: str) -> Any:
    return dlt.config.get(f"sources.livello.{key}")


def _secret(key: str) -> Any:
    return dlt.secrets.get(key)


def destination_settings(destination: str, dataset: str) -> dict[str, Any]:
    """Destination credentials for `destination`; raises ConfigError when they are missing or unusable."""
    if destination not in DESTINATIONS:
        raise ConfigError(f"--destination must be one of {', '.join(DESTINATIONS)}, not {destination!r}")
    if destination == "duckdb":
        path = str(dlt.config.get("destination.duckdb.credentials") or DEFAULT_DUCKDB_FILE)
        if Path(path).stem == dataset:
            # DuckDB names the catalog after the file; a schema of the same name makes every query ambiguous.
            raise ConfigError(
                f"the DuckDB file name {Path(path).name!r} must differ from the dataset name "
                f"{dataset!r} (DuckDB cannot tell the catalog from the schema): rename the file"
            )
        return {"duckdb_path": path}
    credentials = _secret("destination.postgres.credentials")
    if not credentials:
        raise ConfigError(
            "PostgreSQL needs credentials: set DESTINATION__POSTGRES__CREDENTIALS "
            "(postgresql://user:password@host:5432/database) or [destination.postgres] in "
            ".dlt/secrets.toml"
        )
    return {"postgres_credentials": _with_password_field(str(credentials))}


def _with_password_field(dsn: str) -> str:
    """dlt insists on a password field; a DSN without one (trust or peer auth, ~/.pgpass, PGPASSWORD) gets an
    empty password, which libpq treats as not given."""
    parts = urlsplit(dsn)
    if parts.scheme.startswith("postgres") and "@" in parts.netloc:
        userinfo, host = parts.netloc.rsplit("@", 1)
        if ":" not in userinfo:
            return urlunsplit(parts._replace(netloc=f"{userinfo}:@{host}"))
    return dsn


def load_settings(
    *,
    destination: str = "duckdb",
    dataset: str = DEFAULT_DATASET,
    resources: str | None = None,
    since: str | None = None,
    lookback: str | None = None,
    max_duration: str | None = None,
    transform: bool = True,
    progress: bool = True,
) -> SyncSettings:
    base_url = _cfg("base_url")
    client_id = _secret("sources.livello.client_id")
    client_secret = _secret("sources.livello.client_secret")
    missing = [
        env
        for env, value in (
            ("SOURCES__LIVELLO__BASE_URL", base_url),
            ("SOURCES__LIVELLO__CLIENT_ID", client_id),
            ("SOURCES__LIVELLO__CLIENT_SECRET", client_secret),
        )
        if not value
    ]
    if missing:
        raise ConfigError(
            "missing API configuration: set "
            + ", ".join(missing)
            + " (or sources.livello.* in .dlt/config.toml and .dlt/secrets.toml)"
        )

    selected = RESOURCE_NAMES
    if resources:
        wanted = [r.strip() for r in resources.split(",") if r.strip()]
        unknown = [r for r in wanted if r not in RESOURCE_NAMES]
        if unknown:
            raise ConfigError(
                f"--resources: unknown {', '.join(unknown)}; known: {', '.join(RESOURCE_NAMES)}"
            )
        selected = tuple(r for r in RESOURCE_NAMES if r in wanted)  # keep the dependency-friendly table order

    pseudonymize = _as_bool(_cfg("pseudonymize_users"), True)
    key = _secret("sources.livello.pseudonymization_key")
    if "users" in selected and pseudonymize and not key:
        raise ConfigError(
            "users are pseudonymized by default and need a key: set "
            "SOURCES__LIVELLO__PSEUDONYMIZATION_KEY (or sources.livello.pseudonymization_key in "
            ".dlt/secrets.toml), or opt out with sources.livello.pseudonymize_users = false, or "
            "leave users out with --resources"
        )

    granularity = str(_cfg("temperature_granularity") or "hourly")
    if granularity not in TEMPERATURE_MAX_WINDOW_HOURS:
        raise ConfigError(
            f"sources.livello.temperature_granularity must be one of "
            f"{', '.join(TEMPERATURE_MAX_WINDOW_HOURS)}, not {granularity!r}"
        )

    budget_share = _cfg("budget_share")
    window_rows = int(_cfg("backfill_window_rows") or DEFAULT_WINDOW_ROWS)
    if window_rows < 1:
        raise ConfigError("sources.livello.backfill_window_rows must be at least 1")
    settings = SyncSettings(
        base_url=str(base_url).rstrip("/"),
        client_id=str(client_id),
        client_secret=str(client_secret),
        destination=destination,
        dataset=dataset,
        resources=selected,
        since=parse_since(since) if since else None,
        lookback=parse_duration(lookback or _cfg("lookback") or DEFAULT_LOOKBACK, what="--lookback"),
        max_duration=parse_duration(max_duration, what="--max-duration") if max_duration else None,
        transform=transform,
        token_url=_cfg("token_url"),
        budget_share=float(budget_share) if budget_share is not None else None,
        pseudonymize_users=pseudonymize,
        pseudonymization_key=str(key) if key else None,
        promocodes=tuple(_as_list(_cfg("promocodes"))),
        temperature_granularity=granularity,
        window_rows=window_rows,
        verify_lookback=_as_bool(_cfg("verify_lookback"), True),
        pipelines_dir=_cfg("pipelines_dir"),
        progress=progress,
        **destination_settings(destination, dataset),
    )
    if settings.lookback < timedelta(0):
        raise ConfigError("--lookback must not be negative")
    return settings
