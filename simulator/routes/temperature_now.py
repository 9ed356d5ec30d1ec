"""The latest temperature of kiosks (KioskSummary.latestTemperature), from the data core's sensor model."""

from __future__ import annotations

from datetime import datetime
from typing import Any


def latest_temperatures(store: Any, kiosk_ids: list[int], now: datetime) -> dict[int, float | None]:
    """Mean over a kiosk's sensors at the simulator's current minute (None without sensors)."""
    from simulator import analytics

    if not kiosk_ids:
        return {}
    return analytics.latest_temperatures(store, kiosk_ids, now)
