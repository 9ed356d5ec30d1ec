"""Proactive pacing on `RateLimit-Limit/Remaining/Reset`, so that a steady run never receives a 429.

The Livello API counts requests per client in fixed windows (1000/hour for the API, 10/minute for the token
endpoint) and reports, on every response, the window's limit, what is left and the seconds until it resets.
The vendor's budget is shared with the customer's other integrations, so a sync may use only `budget_share` of
each window: the rest is a reserve we never touch.

Within a window the pacer lets the first `burst_share` of our allowance go at full speed (a nightly run of a
few hundred requests finishes in seconds instead of being spread over an hour), then spaces the remaining
calls evenly until the reset (a long backfill keeps a steady trickle instead of long dead sleeps, and leaves
the vendor smooth traffic). When the allowance is used up it sleeps until the window resets.

`RateLimit-Reset` is whole seconds. The simulator (and the IETF draft's reference implementations) round it
up, so `received_at + reset` is an upper bound of the true reset instant; we keep the smallest bound seen in a
window and add a small margin for clock skew. If a server rounded down instead, the first request after waking
could land in the old window; it then comes out of the reserve (never a 429 while `budget_share < 1`) and the
next response corrects the estimate.

Thread-safe: the pacer counts requests in flight and subtracts them from the remaining budget, and a sleeping
caller holds the lock, so concurrent callers queue behind it instead of all bursting at the reset.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable, Mapping
from dataclasses import KW_ONLY, dataclass, field

logger = logging.getLogger("livello_sync.client")

# Extra sleep after the estimated reset instant: covers clock skew between client and server.
RESET_MARGIN_SECONDS = 0.05
# Sleeps until a reset longer than this are logged as warnings (shorter ones at debug level).
WARN_SLEEP_SECONDS = 5.0


def parse_rate_limit_headers(headers: Mapping[str, str]) -> tuple[int, int, int] | None:
    """(limit, remaining, reset) from a response's headers, or None if any is missing or malformed."""
    try:
        limit = int(headers["ratelimit-limit"])
        remaining = int(headers["ratelimit-remaining"])
        reset = int(headers["ratelimit-reset"])
    except (KeyError, ValueError, TypeError):
        return None
    if limit < 0 or remaining < 0 or reset < 0:
        return None
    return limit, remaining, reset


@dataclass(eq=False)
class RateLimitPacer:
    """Paces the requests of one rate-limit bucket (the API, or the token endpoint).

    `check_wait(seconds, reason)` is called before every sleep and raises when the wait is not allowed (longer
    than `max_wait_seconds`, or past the run's deadline); `on_sleep(seconds)` accounts for the time slept.
    """

    name: str
    _: KW_ONLY
    budget_share: float
    burst_share: float
    clock: Callable[[], float]
    sleep: Callable[[float], None]
    check_wait: Callable[[float, str], None]
    on_sleep: Callable[[float], None]
    default_window_seconds: float
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _limit: int | None = field(default=None, init=False)
    # Our estimate of what the server has left in the current window, net of our requests in flight.
    _remaining: float = field(default=0.0, init=False)
    _last_header_remaining: int | None = field(default=None, init=False)
    # When the latest response arrived (see `observe`).
    _last_received_at: float | None = field(default=None, init=False)
    # Upper bound of the current window's reset instant (clock units); None when unknown.
    _reset_at: float | None = field(default=None, init=False)
    _in_flight: int = field(default=0, init=False)
    _last_sent_at: float | None = field(default=None, init=False)
    _window_seconds: float = field(default=0.0, init=False)
    _spreading_logged_for: float | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        if not 0.0 < self.budget_share <= 1.0:
            raise ValueError(f"budget_share must be within (0, 1], got {self.budget_share}")
        if not 0.0 <= self.burst_share <= 1.0:
            raise ValueError(f"burst_share must be within [0, 1], got {self.burst_share}")
        self._window_seconds = self.default_window_seconds

    # -- what callers see ----------------------------------------------------------------------------------
    @property
    def window_seconds(self) -> float:
        """The window length: measured once a reset was observed, else the configured default."""
        return self._window_seconds

    def allowed_per_window(self) -> int | None:
        """Requests per window this client may use (its share of the limit), None before any response."""
        if self._limit is None:
            return None
        return max(1, math.floor(self.budget_share * self._limit))

    def estimate_seconds(self, requests: int) -> float | None:
        """Lower bound of the time `requests` calls take at the allowed rate (request latency excluded)."""
        with self._lock:
            if self._limit is None:
                return None
            per_window = max(1, math.floor(self.budget_share * self._limit))
            now = self.clock()
            if self._reset_at is None or now >= self._reset_at:
                allowed_now, to_reset = float(per_window), self._window_seconds
            else:
                allowed_now, to_reset = max(0.0, self._remaining - self._reserve()), self._reset_at - now
        seconds = self._seconds_within_window(min(requests, allowed_now), allowed_now, to_reset, per_window)
        left = requests - allowed_now
        if left <= 0:
            return seconds
        seconds = to_reset
        full_windows, last = divmod(left, per_window)
        if last == 0:
            full_windows, last = full_windows - 1, per_window
        seconds += full_windows * self._window_seconds
        return seconds + self._seconds_within_window(last, per_window, self._window_seconds, per_window)

    def _seconds_within_window(
        self, requests: float, allowed: float, to_reset: float, per_window: int
    ) -> float:
        """Time for `requests` calls when `allowed` remain and the window resets in `to_reset` seconds."""
        threshold = self._spread_threshold_for(per_window)
        burst = max(0.0, allowed - threshold)
        if requests <= burst or allowed <= 0:
            return 0.0
        return (requests - burst) * to_reset / (min(allowed, threshold) + 1.0)

    # -- the two hooks around each request -----------------------------------------------------------------
    def acquire(self) -> None:
        """Wait until one more request fits the budget, then count it as in flight."""
        with self._lock:
            for _ in range(3):  # at most: sleep to the reset, then one spacing sleep in the new window
                now = self.clock()
                if self._limit is None or self._reset_at is None:
                    break
                if now >= self._reset_at:
                    # The window is over: assume a fresh one until a response says otherwise.
                    self._remaining = float(self._limit - self._in_flight)
                    self._reset_at = None
                    self._last_header_remaining = None
                    break
                allowed = self._remaining - self._reserve()
                if allowed < 1.0 - 1e-9:
                    wait = self._reset_at - now + RESET_MARGIN_SECONDS
                    self.check_wait(
                        wait, f"the {self.name} budget share of this rate-limit window is used up"
                    )
                    log = logger.warning if wait >= WARN_SLEEP_SECONDS else logger.debug
                    log(
                        "pacing: %s budget share used (limit %s, remaining %s); sleeping %.1fs to the reset",
                        self.name,
                        self._limit,
                        self._last_header_remaining,
                        wait,
                    )
                    self._do_sleep(wait)
                    continue
                if self._last_sent_at is not None and allowed <= self._spread_threshold():
                    # allowed + 1 slots: the last allowed call goes out before the reset, not at it.
                    interval = (self._reset_at - now) / (allowed + 1.0)
                    wait = self._last_sent_at + interval - now
                    if wait > 0:
                        self._log_spreading(interval)
                        self.check_wait(wait, f"spacing {self.name} requests over the rate-limit window")
                        self._do_sleep(wait)
                break
            self._remaining -= 1
            self._in_flight += 1
            self._last_sent_at = self.clock()

    def observe(self, headers: Mapping[str, str] | None, *, sent_at: float, received_at: float) -> None:
        """Account for the response (or failure, `headers` None) of a request counted by `acquire`."""
        parsed = parse_rate_limit_headers(headers) if headers is not None else None
        with self._lock:
            self._in_flight = max(0, self._in_flight - 1)
            if parsed is None:
                return
            limit, remaining, reset = parsed
            reset_at = received_at + reset
            others = self._in_flight
            # Concurrent requests may be answered in another order than the server counted them. One sent
            # after the latest answer arrived was counted after every answered request, so a higher
            # `remaining` there means a new window; elsewhere, a request counted before the lowest one seen.
            in_order = self._last_received_at is None or sent_at >= self._last_received_at
            if self._last_received_at is None or received_at > self._last_received_at:
                self._last_received_at = received_at
            new_window = (
                self._reset_at is None
                or self._last_header_remaining is None
                or limit != self._limit
                or (in_order and remaining > self._last_header_remaining)
                or sent_at >= self._reset_at
                or reset_at > self._reset_at + 1.5
            )
            if new_window:
                if self._reset_at is not None and reset_at > self._reset_at + 0.5:
                    # Two consecutive window ends give the window's length (for duration estimates).
                    self._window_seconds = max(1.0, round(reset_at - self._reset_at))
                self._limit = limit
                self._remaining = float(remaining - others)
                self._reset_at = reset_at
                self._last_header_remaining = remaining
                return
            self._reset_at = min(self._reset_at, reset_at)
            if remaining < self._last_header_remaining:
                # Counted after every answered request: only those still in flight may come after it.
                self._last_header_remaining = remaining
                self._remaining = float(remaining - others)
            else:
                # Already in the lowest `remaining` seen, which took it for one still in flight.
                self._remaining = min(self._remaining + 1.0, float(self._last_header_remaining - others))

    # -- internals -------------------------------------------------------------------------------------------
    def _reserve(self) -> float:
        """Requests of each window left to the customer's other integrations."""
        assert self._limit is not None
        return (1.0 - self.budget_share) * self._limit

    def _spread_threshold(self) -> float:
        assert self._limit is not None
        return self._spread_threshold_for(self.budget_share * self._limit)

    def _spread_threshold_for(self, allowance: float) -> float:
        """Once no more than this many allowed requests remain, calls are spaced until the reset."""
        return (1.0 - self.burst_share) * allowance

    def _do_sleep(self, seconds: float) -> None:
        self.sleep(seconds)
        self.on_sleep(seconds)

    def _log_spreading(self, interval: float) -> None:
        if self._spreading_logged_for != self._reset_at:
            self._spreading_logged_for = self._reset_at
            logger.info(
                "pacing: spacing %s requests %.2fs apart until the window resets (limit %s, remaining %s)",
                self.name,
                interval,
                self._limit,
                self._last_header_remaining,
            )
