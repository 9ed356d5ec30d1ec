"""The counters of one client for the run summary, updated by the transport and the authentication."""

from __future__ import annotations

import threading
from dataclasses import dataclass

# One lock for the counters of every client: updates are a few additions, and a lock outside the dataclass
# keeps its fields exactly the counters (asdict, replace and copies keep working).
_LOCK = threading.Lock()


@dataclass
class ClientStats:
    """Counters of one client, for the run summary."""

    requests: int = 0  # API requests sent, every attempt included (what the vendor's budget counts)
    token_requests: int = 0
    token_refreshes: int = 0  # new tokens fetched after a 401
    retries: int = 0  # attempts repeated after a retryable failure or a 429
    http_429: int = 0
    http_5xx: int = 0
    transport_errors: int = 0  # dropped connections, timeouts, protocol errors
    invalid_bodies: int = 0  # 2xx bodies that did not parse (truncated)
    rate_limit_limit: int | None = None  # the last RateLimit-* headers of an API response
    rate_limit_remaining: int | None = None
    rate_limit_reset: int | None = None
    rate_limit_remaining_min: int | None = None  # the lowest RateLimit-Remaining seen (how close we came)
    slept_seconds_pacing: float = 0.0
    slept_seconds_rate_limited: float = 0.0  # Retry-After waits
    slept_seconds_backoff: float = 0.0

    def add(self, **amounts: float) -> None:
        """Add to the named counters at once (a client is shared by threads)."""
        with _LOCK:
            for name, amount in amounts.items():
                setattr(self, name, getattr(self, name) + amount)

    def record_rate_limit(self, limit: int, remaining: int, reset: int) -> None:
        """Keep the RateLimit-* headers of an API response, and the lowest remaining budget seen."""
        with _LOCK:
            self.rate_limit_limit, self.rate_limit_remaining, self.rate_limit_reset = limit, remaining, reset
            if self.rate_limit_remaining_min is None or remaining < self.rate_limit_remaining_min:
                self.rate_limit_remaining_min = remaining
