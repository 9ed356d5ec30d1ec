"""Faults on demand: what a flaky or hostile production API does to a client, reproducibly.

Everything is off by default. Faults apply to vendor API requests under /api/v1 (the token endpoint only when
`include_token_endpoint` is set, so a client can still authenticate by default) and never to the /_sim control
surface. Two families (settings in `simulator.config.FaultConfig`):

- transport faults (latency, dropped connections, 429 bursts, 5xx, cut bodies, expiring tokens): a client
  sees that something failed;
- hostile answers (`ignore_paging`, `ignore_sort`, `inflate_total` / `shrink_total_by` / `omit_total`, an
  HTML maintenance page, invalid UTF-8, a text body, schema drift): status 200 and a body that looks
  plausible, so only a client that checks what it got notices. `paths` limits this family to some endpoints.

Design note. One `FaultDecision` per request, made before the handler runs, says everything that happens to
that request; the app applies it at three points: before the handler (latency, drop, 429, 5xx, maintenance
and text bodies, which replace the answer; `ignore_paging`, which rewrites the query), on the rendered JSON
(totals and drift, on the parsed body, so they work on every endpoint whatever its renderer) and on the
final bytes (truncation, invalid UTF-8). The share faults (`*_ratio`) divide one draw per request from one
`random.Random(seed)` between them in a fixed order (drop, error, truncate, maintenance, invalid UTF-8, text),
so a sequential client sees the same faults on the same requests every run, and enabling a later kind leaves
the earlier kinds' requests as they were. The path filter never changes the draws (a request outside
`paths` draws too and then gets no hostile answer), so the sequence does not depend on which paths a client
visits. The other hostile faults are deterministic functions of the request. Kinds compose: a request gets
at most one share fault, plus every deterministic one that applies.
"""

from __future__ import annotations

import random
import re
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal

import orjson

from simulator.config import FaultConfig

FaultKind = Literal[
    "none", "error", "burst_429", "drop", "truncate", "maintenance", "invalid_utf8", "text_body"
]
# The share faults in the order they divide the draw (new kinds go last: earlier ones keep their requests).
_SHARES: tuple[tuple[FaultKind, str], ...] = (
    ("drop", "drop_ratio"),
    ("error", "error_ratio"),
    ("truncate", "truncate_ratio"),
    ("maintenance", "maintenance_ratio"),
    ("invalid_utf8", "invalid_utf8_ratio"),
    ("text_body", "text_body_ratio"),
)
_HOSTILE_KINDS = frozenset({"maintenance", "invalid_utf8", "text_body"})
_API_PREFIX = "/api/v1"
PAGING_PARAMETERS = ("skip", "offset", "page")
SORT_PARAMETERS = ("sort", "sortBy", "orderBy", "orderDirection")
DEFAULT_LIMIT = 25  # the contract's default page size (only /alerts has another, and pagers send a limit)
MAX_LIMIT = 100

MAINTENANCE_PAGE = b"""<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>Scheduled maintenance</title></head>
<body>
<h1>We&rsquo;ll be back soon</h1>
<p>The Livello platform is undergoing scheduled maintenance. Please try again in a few minutes.</p>
</body>
</html>
"""
TEXT_BODY = b"Service temporarily unavailable. Please try again later.\n"


@dataclass(frozen=True)
class FaultDecision:
    kind: FaultKind = "none"
    status: int = 0
    delay_seconds: float = 0.0
    # The settings whose deterministic hostile faults (paging, totals, drift) apply to this request.
    reshape: FaultConfig | None = None


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

    def decide(self, path: str = "") -> FaultDecision:
        """Decide the faults of the next eligible request to `path` (counts it)."""
        with self._lock:
            cfg = self.config
            self._served += 1
            delay = 0.0
            if cfg.latency_ms or cfg.latency_jitter_ms:
                delay = (cfg.latency_ms + self._rng.uniform(0.0, cfg.latency_jitter_ms)) / 1000.0
            hostile = path_matches(cfg.paths, path)
            reshape = cfg if hostile and reshapes(cfg) else None
            if cfg.burst_429_every > 0 and cfg.burst_429_length > 0:
                cycle = cfg.burst_429_every + cfg.burst_429_length
                if (self._served - 1) % cycle >= cfg.burst_429_every:
                    return FaultDecision("burst_429", 429, delay, reshape)
            if not any(getattr(cfg, ratio) for _, ratio in _SHARES):
                return FaultDecision("none", 0, delay, reshape)
            # One draw per request keeps the sequence stable when only one ratio changes between runs.
            draw = self._rng.random()
            edge = 0.0
            for kind, ratio in _SHARES:
                edge += getattr(cfg, ratio)
                if draw < edge:
                    if kind in _HOSTILE_KINDS and not hostile:
                        break
                    status = self._rng.choice(cfg.error_statuses) if kind == "error" else 0
                    return FaultDecision(kind, status, delay, reshape)
            return FaultDecision("none", 0, delay, reshape)

    def count_authenticated(self) -> bool:
        """Count one authenticated API request; True when issued tokens must now be invalidated."""
        with self._lock:
            every = self.config.expire_tokens_after
            if every <= 0:
                return False
            self._authenticated += 1
            return self._authenticated % every == 0


# -- which requests --------------------------------------------------------------------------------------
def path_matches(patterns: tuple[str, ...], path: str) -> bool:
    """Whether `path` (as requested, /api/v1/...) is one of `patterns` (relative to /api/v1; `*` is one
    segment); no patterns match every path."""
    if not patterns:
        return True
    relative = path.removeprefix(_API_PREFIX) or "/"
    return any(_pattern(p).fullmatch(relative) for p in patterns)


@lru_cache(maxsize=64)
def _pattern(text: str) -> re.Pattern[str]:
    text = text.removeprefix(_API_PREFIX).rstrip("/") or "/"
    return re.compile("/".join("[^/]+" if seg == "*" else re.escape(seg) for seg in text.split("/")))


def reshapes(cfg: FaultConfig) -> bool:
    """Whether any deterministic hostile fault is on."""
    return bool(
        cfg.ignore_paging
        or cfg.ignore_sort
        or cfg.inflate_total
        or cfg.shrink_total_by
        or cfg.omit_total
        or cfg.drop_fields
        or cfg.add_fields
        or cfg.stringify_fields
    )


def page_index(query: Mapping[str, str]) -> int:
    """Which page a list request asks for, 0 for the first: page - 1, or skip (offset) // limit."""
    try:
        if query.get("page"):
            return max(0, int(float(query["page"])) - 1)
        position = float(query.get("skip") or query.get("offset") or 0)
        limit = min(max(1.0, float(query.get("limit") or DEFAULT_LIMIT)), MAX_LIMIT)
        return max(0, int(position // limit))
    except (ValueError, OverflowError):  # nonsense the handler let through (ignore_paging dropped it)
        return 0


# -- what happens to the answer --------------------------------------------------------------------------
def without_paging(query: Mapping[str, str]) -> dict[str, str]:
    """The query as a paging-blind cache or a regressed API reads it: always the first page."""
    return {k: v for k, v in query.items() if k not in PAGING_PARAMETERS}


def as_asked(cfg: FaultConfig | None, query: Mapping[str, str]) -> Mapping[str, str]:
    """The query as the handler sees it under the paging and sorting faults."""
    if cfg is None:
        return query
    if cfg.ignore_paging:
        query = without_paging(query)
    if cfg.ignore_sort:
        query = {k: v for k, v in query.items() if k not in SORT_PARAMETERS}
    return query


def reshape_body(cfg: FaultConfig, body: bytes, query: Mapping[str, str]) -> bytes:
    """A 2xx JSON body with the envelope's total and the items' fields changed as `cfg` says."""
    if not (cfg.inflate_total or cfg.shrink_total_by or cfg.omit_total or _drifts(cfg)):
        return body
    payload = orjson.loads(body)
    if isinstance(payload, dict) and "total" in payload and isinstance(payload.get("data"), list):
        if cfg.omit_total:
            del payload["total"]
        elif cfg.inflate_total:
            payload["total"] = cfg.inflate_total
        elif cfg.shrink_total_by:
            payload["total"] = max(0, int(payload["total"]) - cfg.shrink_total_by * page_index(query))
    if _drifts(cfg):
        for item in _items(payload):
            _drift(cfg, item)
    return orjson.dumps(payload)


def _drifts(cfg: FaultConfig) -> bool:
    return bool(cfg.drop_fields or cfg.add_fields or cfg.stringify_fields)


def _items(payload: Any) -> list[Any]:
    """The resource objects of an answer: the envelope's data, an array's elements, or the object."""
    if isinstance(payload, dict) and isinstance(payload.get("data"), list):
        return payload["data"]
    if isinstance(payload, list):
        return payload
    return [payload]


def _drift(cfg: FaultConfig, item: Any) -> None:
    for name in cfg.drop_fields:
        for parent, key in _holders(item, name):
            parent.pop(key, None)
    for name, value in cfg.add_fields:
        for parent, key in _holders(item, name):
            parent[key] = value
    for name in cfg.stringify_fields:
        for parent, key in _holders(item, name):
            value = parent.get(key)
            if isinstance(value, int | float) and not isinstance(value, bool):
                parent[key] = str(value) if isinstance(value, int) else f"{value:.2f}"


def _holders(node: Any, dotted: str) -> Iterator[tuple[dict[str, Any], str]]:
    """(object, key) for every object below `node` that holds (or would hold) the last part of `dotted`;
    lists on the way are entered."""
    head, _, rest = dotted.partition(".")
    if isinstance(node, list):
        for element in node:
            yield from _holders(element, dotted)
    elif isinstance(node, dict):
        if not rest:
            yield node, head
        elif head in node:
            yield from _holders(node[head], rest)


def replacement_body(kind: FaultKind) -> tuple[bytes, str]:
    """The body and Content-Type of an answer that replaces the API's: the maintenance page of a proxy in
    front of it, or a text that its Content-Type claims to be JSON."""
    if kind == "maintenance":
        return MAINTENANCE_PAGE, "text/html; charset=utf-8"
    return TEXT_BODY, "application/json"


def corrupt_utf8(body: bytes) -> bytes:
    """The body as a server that writes Latin-1 while claiming UTF-8 sends it: an "é" at the start of the
    first string value, and every character as one Latin-1 byte (so it is invalid UTF-8 in any case)."""
    text = body.decode("utf-8")
    at = text.find('":"')
    at = 0 if at < 0 else at + 3
    return (text[:at] + "é" + text[at:]).encode("latin-1", errors="replace")


def truncate_body(body: bytes) -> bytes:
    """Cut a JSON body so that it no longer parses (keeps at least one byte, drops the last brace)."""
    if len(body) <= 1:
        return b""
    return body[: max(1, len(body) // 2)]
