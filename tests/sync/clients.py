"""Client settings and small simulator worlds for the client tests (one definition for every client test)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from simulator.config import SimConfig
from simulator.server import SimulatorServer
from sources.livello.client import ClientSettings

NOW = datetime(2026, 10, 1, 6, 0, tzinfo=UTC)


def client_settings(sim: SimulatorServer, **overrides: Any) -> ClientSettings:
    """The demo client's settings for `sim`, with `overrides`."""
    client_id, client_secret = sim.demo_credentials
    values: dict[str, Any] = {
        "base_url": sim.base_url,
        "client_id": client_id,
        "client_secret": client_secret,
    }
    return ClientSettings(**{**values, **overrides})


def one_kiosk_world(**overrides: Any) -> SimConfig:
    """A one-kiosk, one-day world without API rate limit, for tests of the client's own behaviour."""
    values: dict[str, Any] = {
        "seed": 7,
        "kiosks": 1,
        "days": 1,
        "now": NOW,
        "rate_limit_per_hour": 0,
        "sessions_per_kiosk_day": 5,
    }
    return SimConfig(**{**values, **overrides})
