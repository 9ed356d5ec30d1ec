"""Faults on demand: what a flaky production API does to a client, reproducibly.

Everything is off by default. Faults apply to vendor API requests under /api/v1 (the token endpoint only when
`include_token_endpoint` is set, so a client can still authenticate by default) and never to the /_sim control
surface. Decisions are drawn from one `random.Random(seed)` in request order, so a sequential client sees
the same faults on the same requests every run.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field
from typing import Literal

from simulator.config import FaultConfig

FaultKind = Literal["none", "error", "burst_429", "drop", "truncate"]


@dataclass(frozen=True)
class FaultDecision:
    kind: FaultKind = "none"
    status: int = 0
    delay_seconds: float = 0.0


@dataclass
class FaultInjector:
    config: FaultConfig = field(default_factory=FaultConfig)
    _rng: random.Random = field(init=False)
    _served: int = field(init=False, default=0)
    _authenticated: int = field(init=False, default=0)
    _lock: threading.Lock = field(init=False, default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.config.validate()
        self._rng = random.Random(self.config.seed)

    def configure(self, config: FaultConfig) -> None:
        """Replace the settings and restart the deterministic sequence."""
        config.validate()
        with self._lock:
            self.config = config
            self._rng = random.Random(config.seed)
            self._served = 0
            self._authenticated = 0

    def applies_to(self, token_endpoint: bool) -> bool:
        return not token_endpoint or self.config.include_token_endpoint

    def decide(self) -> FaultDecision:
        """Decide the fault for the next eligible request (counts it)."""
        with self._lock:
            cfg = self.config
            self._served += 1
            delay = 0.0
            if cfg.latency_ms or cfg.latency_jitter_ms:
                delay = (cfg.latency_ms + self._rng.uniform(0.0, cfg.latency_jitter_ms)) / 1000.0
            if cfg.burst_429_every > 0 and cfg.burst_429_length > 0:
                cycle = cfg.burst_429_every + cfg.burst_429_length
                if (self._served - 1) % cycle >= cfg.burst_429_every:
                    return FaultDecision("burst_429", 429, delay)
            if not (cfg.drop_ratio or cfg.error_ratio or cfg.truncate_ratio):
                return FaultDecision("none", 0, delay)
            # One draw per request keeps the sequence stable when only one ratio changes between runs.
            draw = self._rng.random()
            if draw < cfg.drop_ratio:
                return FaultDecision("drop", 0, delay)
            if draw < cfg.drop_ratio + cfg.error_ratio:
                return FaultDecision("error", self._rng.choice(cfg.error_statuses), delay)
            if draw < cfg.drop_ratio + cfg.error_ratio + cfg.truncate_ratio:
                return FaultDecision("truncate", 0, delay)
            return FaultDecision("none", 0, delay)

    def count_authenticated(self) -> bool:
        """Count one authenticated API request; True when issued tokens must now be invalidated."""
        with self._lock:
            every = self.config.expire_tokens_after
            if every <= 0:
                return False
            self._authenticated += 1
            return self._authenticated % every == 0


def truncate_body(body: bytes) -> bytes:
    """Cut a JSON body so that it no longer parses (keeps at least one byte, drops the last brace)."""
    if len(body) <= 1:
        return b""
    return body[: max(1, len(body) // 2)]
