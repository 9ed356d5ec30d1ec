"""Configuration of one simulator instance, shared by the data core and the HTTP layer.

The data core (store, generator, clock, analytics, mutations) reads the data-shaping fields (seed, kiosks,
days, now). The HTTP layer (app, auth, rate limits, faults) reads the rest. The HTTP engineer may add fields
here for auth, rate limits and faults; keep every field defaulted so `SimConfig()` stays a working demo
configuration.

Determinism: the generated history is a pure function of (seed, kiosks, days, now).
"""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


def floor_to_minute(moment: datetime) -> datetime:
    """The UTC minute containing `moment` (naive values are read as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).replace(second=0, microsecond=0)


def wall_clock_minute() -> datetime:
    return floor_to_minute(datetime.now(UTC))


@dataclass
class ClientConfig:
    """One machine-to-machine API client (OAuth2 client credentials).

    `organization_id` None sees every organization; otherwise the client is scoped to that organization and
    its descendants. `allowed_ips` empty means any address.
    """

    client_id: str
    client_secret: str
    scopes: tuple[str, ...]
    organization_id: int | None = None
    token_lifetime_seconds: int | None = None
    allowed_ips: tuple[str, ...] = ()


# The shares of requests the one draw per request divides up (simulator/faults.py); together at most 1.
RATIO_FIELDS = (
    "drop_ratio",
    "error_ratio",
    "truncate_ratio",
    "maintenance_ratio",
    "invalid_utf8_ratio",
    "text_body_ratio",
)


@dataclass(frozen=True)
class FaultConfig:
    """Fault injection of the HTTP layer (simulator/faults.py): off by default, deterministic given `seed`.

    Tuple fields accept any sequence and `add_fields` a mapping or (name, value) pairs; both are stored as
    tuples, so a FaultConfig stays immutable and comparable."""

    seed: int = 0
    # Share (0..1) of requests answered with a random status of `error_statuses` (problem+json body).
    error_ratio: float = 0.0
    error_statuses: tuple[int, ...] = (500, 502, 503)
    # Bursts of 429: after every `burst_429_every` served requests, `burst_429_length` consecutive 429s.
    burst_429_every: int = 0
    burst_429_length: int = 0
    burst_retry_after_seconds: int = 1
    # Added latency per request: latency_ms plus a uniform jitter in [0, latency_jitter_ms].
    latency_ms: float = 0.0
    latency_jitter_ms: float = 0.0
    # Share of requests whose connection is closed without any response.
    drop_ratio: float = 0.0
    # Share of 2xx JSON responses whose body is cut (status and Content-Length consistent with the cut body).
    truncate_ratio: float = 0.0
    # Invalidate every issued token after every N authenticated API requests (tokens "expire mid-run").
    expire_tokens_after: int = 0
    include_token_endpoint: bool = False
    # Clients revoked from the start (their token requests and tokens get 401).
    revoked_clients: tuple[str, ...] = ()

    # -- a hostile API: answers that look successful but are wrong (each off by default) -------------------
    # API paths (relative to /api/v1, `*` matches one segment: "/transactions", "/kiosks/*/inventory") the
    # faults below are limited to; empty means every path.
    paths: tuple[str, ...] = ()
    # List endpoints answer the first page whatever skip/offset/page say, with the real total.
    ignore_paging: bool = False
    # List endpoints answer in their default order whatever sort/sortBy/orderBy/orderDirection say.
    ignore_sort: bool = False
    # The envelope's `total` replaced by this number (0 = off), e.g. 10_000_000.
    inflate_total: int = 0
    # The envelope's `total` smaller by this much on every later page (page n of 0.. reports total - n * it).
    shrink_total_by: int = 0
    # The envelope without its `total` key.
    omit_total: bool = False
    # Shares of requests answered 200 with: an HTML maintenance page (text/html, from a "proxy", so without
    # RateLimit headers); the real JSON with invalid UTF-8 bytes; a plain-text body that claims JSON.
    maintenance_ratio: float = 0.0
    invalid_utf8_ratio: float = 0.0
    text_body_ratio: float = 0.0
    # Schema drift of every item (each element of `data`, of an array response, or the object itself): fields
    # dropped, fields added (name -> JSON value), numbers sent as JSON strings (integers as their digits,
    # other numbers with two decimals: total 12.5 -> "12.50"). Names may be dotted ("kiosk.id",
    # "itemsPurchased.price"; lists on the way are entered).
    drop_fields: tuple[str, ...] = ()
    add_fields: tuple[tuple[str, Any], ...] = ()
    stringify_fields: tuple[str, ...] = ()
    # GET /organizations/{id}/product-lines lists only the organization's own kiosks' lines, not its
    # sub-organizations' (a reading of the contract's scoping it does not rule out; not a fault as such).
    listings_own_organization_only: bool = False

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name == "add_fields":
                pairs = value.items() if isinstance(value, Mapping) else value
                object.__setattr__(self, f.name, tuple((str(k), v) for k, v in pairs))
            elif isinstance(f.default, tuple) and not isinstance(value, tuple):
                # A lone string is one entry, not a sequence of characters.
                object.__setattr__(self, f.name, (value,) if isinstance(value, str) else tuple(value))

    def with_changes(self, **changes: Any) -> FaultConfig:
        known = {f.name for f in dataclasses.fields(self)}
        unknown = set(changes) - known
        if unknown:
            raise ValueError(f"unknown fault setting(s): {', '.join(sorted(unknown))}")
        updated = dataclasses.replace(self, **changes)
        updated.validate()
        return updated

    def validate(self) -> None:
        for name in RATIO_FIELDS:
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be within 0..1, got {value}")
        if sum(getattr(self, name) for name in RATIO_FIELDS) > 1.0:
            raise ValueError(f"{' + '.join(RATIO_FIELDS)} must not exceed 1")
        for name in ("burst_429_every", "burst_429_length", "expire_tokens_after", "inflate_total"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")
        if self.shrink_total_by < 0:
            raise ValueError("shrink_total_by must be >= 0")
        if sum((bool(self.inflate_total), bool(self.shrink_total_by), self.omit_total)) > 1:
            raise ValueError("inflate_total, shrink_total_by and omit_total exclude each other")
        if self.latency_ms < 0 or self.latency_jitter_ms < 0:
            raise ValueError("latency must be >= 0")
        if any(s < 400 or s > 599 for s in self.error_statuses) or not self.error_statuses:
            raise ValueError("error_statuses must be HTTP error codes")
        if any(not p.startswith("/") for p in self.paths):
            raise ValueError("paths must start with / (relative to /api/v1)")

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: tuples as lists, `add_fields` as an object (what POST /_sim/faults accepts)."""
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        data = {k: list(v) if isinstance(v, tuple) else v for k, v in data.items()}
        data["add_fields"] = dict(self.add_fields)
        return data


@dataclass
class SimConfig:
    """Everything that defines one simulator instance.

    `now` is the simulator's clock at start (UTC, floored to the minute); the history covers
    [now - days, now].
    `clients` empty means the HTTP layer's default clients (demo, limited, per-organization).
    """

    seed: int = 42
    kiosks: int = 12
    days: int = 90
    now: datetime = field(default_factory=wall_clock_minute)
    rate_limit_per_hour: int = 1000
    rate_limit_window_seconds: int = 3600
    token_rate_limit_per_minute: int = 10
    token_rate_limit_window_seconds: int = 60
    token_lifetime_seconds: int = 86_400
    clients: list[ClientConfig] = field(default_factory=list)
    # Credentials of the all-scopes demo client when `clients` is empty
    # (`livello-sim serve --client-id/--client-secret`).
    demo_client_id: str = "lv_m2m_demo"
    demo_client_secret: str = "sk_live_demo"
    faults: FaultConfig = field(default_factory=FaultConfig)
    control_key: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    # Average purchase sessions per kiosk and day (before weekday/hour rhythm and kiosk popularity). 137 gives
    # the issue's ~5 million sessions for 100 kiosks x 365 days.
    sessions_per_kiosk_day: float = 137.0
    # None keeps the store in memory; a path keeps it in a DuckDB file (useful for large benchmark stores).
    database_path: str | None = None

    def __post_init__(self) -> None:
        self.now = floor_to_minute(self.now)
        if self.kiosks < 1:
            raise ValueError("kiosks must be >= 1")
        if self.days < 1:
            raise ValueError("days must be >= 1")
        if self.sessions_per_kiosk_day <= 0:
            raise ValueError("sessions_per_kiosk_day must be > 0")
