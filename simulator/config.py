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


@dataclass(frozen=True)
class FaultConfig:
    """Fault injection of the HTTP layer (simulator/faults.py): off by default, deterministic given `seed`."""

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

    def with_changes(self, **changes: Any) -> FaultConfig:
        known = {f.name for f in dataclasses.fields(self)}
        unknown = set(changes) - known
        if unknown:
            raise ValueError(f"unknown fault setting(s): {', '.join(sorted(unknown))}")
        if "error_statuses" in changes:
            changes["error_statuses"] = tuple(int(s) for s in changes["error_statuses"])
        if "revoked_clients" in changes:
            changes["revoked_clients"] = tuple(str(c) for c in changes["revoked_clients"])
        updated = dataclasses.replace(self, **changes)
        updated.validate()
        return updated

    def validate(self) -> None:
        for name in ("error_ratio", "drop_ratio", "truncate_ratio"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be within 0..1, got {value}")
        if self.error_ratio + self.drop_ratio + self.truncate_ratio > 1.0:
            raise ValueError("error_ratio + drop_ratio + truncate_ratio must not exceed 1")
        for name in ("burst_429_every", "burst_429_length", "expire_tokens_after"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")
        if self.latency_ms < 0 or self.latency_jitter_ms < 0:
            raise ValueError("latency must be >= 0")
        if any(s < 400 or s > 599 for s in self.error_statuses) or not self.error_statuses:
            raise ValueError("error_statuses must be HTTP error codes")

    def as_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["error_statuses"] = list(self.error_statuses)
        data["revoked_clients"] = list(self.revoked_clients)
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
