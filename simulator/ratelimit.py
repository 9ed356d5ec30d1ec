"""Fixed-window rate limits per client, reported in `RateLimit-*` headers on every response.

The contract: 1000 requests/hour per client on API endpoints, 10/minute per client on POST /auth/token,
429 with `Retry-After` when exceeded. Each client has its own fixed window that opens with its first request.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

# What a disabled limiter advertises: a client pacing on RateLimit-Remaining must never run out.
UNLIMITED = 1_000_000


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    reset_seconds: int

    def headers(self) -> list[tuple[bytes, bytes]]:
        headers = [
            (b"ratelimit-limit", str(self.limit).encode()),
            (b"ratelimit-remaining", str(self.remaining).encode()),
            (b"ratelimit-reset", str(self.reset_seconds).encode()),
        ]
        if not self.allowed:
            headers.append((b"retry-after", str(max(1, self.reset_seconds)).encode()))
        return headers


@dataclass
class FixedWindowLimiter:
    """`limit` requests per `window_seconds` per key; limit 0 disables limiting (headers stay meaningful).

    A key's window starts with its first request and lasts `window_seconds` (fixed, not sliding), like the
    per-client windows of common API gateways; the next request after it opens a new window.
    """

    limit: int
    window_seconds: float
    clock: Callable[[], float] = time.monotonic
    _windows: dict[str, tuple[float, int]] = field(init=False, default_factory=dict)
    _lock: threading.Lock = field(init=False, default_factory=threading.Lock)

    def _current(self, key: str, now: float) -> tuple[float, int]:
        started, used = self._windows.get(key, (now, 0))
        if now >= started + self.window_seconds:
            return now, 0
        return started, used

    def _reset(self, started: float, now: float) -> int:
        # Rounded first: float noise must not turn a full 3600 s window into 3601.
        return max(0, math.ceil(round(started + self.window_seconds - now, 3)))

    def hit(self, key: str) -> Decision:
        """Count one request of `key` and say whether it may proceed."""
        now = self.clock()
        with self._lock:
            started, used = self._current(key, now)
            if self.limit <= 0:
                self._windows[key] = (started, used)
                return Decision(True, UNLIMITED, UNLIMITED, self._reset(started, now))
            if used >= self.limit:
                self._windows[key] = (started, used)
                return Decision(False, self.limit, 0, self._reset(started, now))
            used += 1
            self._windows[key] = (started, used)
        return Decision(True, self.limit, self.limit - used, self._reset(started, now))

    def peek(self, key: str) -> Decision:
        """The current state of `key` without counting a request (for responses that are not charged)."""
        now = self.clock()
        with self._lock:
            started, used = self._current(key, now)
        if self.limit <= 0:
            return Decision(True, UNLIMITED, UNLIMITED, self._reset(started, now))
        return Decision(True, self.limit, max(0, self.limit - used), self._reset(started, now))

    def reconfigure(self, limit: int | None = None, window_seconds: float | None = None) -> None:
        with self._lock:
            if limit is not None:
                self.limit = limit
            if window_seconds is not None:
                self.window_seconds = window_seconds
            self._windows.clear()
