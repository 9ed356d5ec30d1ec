"""The simulator's ASGI application: the vendor API under /api/v1 plus the /_sim control surface.

One request passes, in this order: request counting, fault latency, dropped connection, rate limit (charged to
the client; unauthenticated calls to their IP), 429 burst / 5xx / maintenance page / text body fault, route
lookup (404/405), authentication (401), the handler (in a worker thread, because DuckDB calls block; with the
paging parameters dropped under `ignore_paging`), then on a 2xx body the hostile rewrites (totals, schema
drift) and the truncated-body / invalid-UTF-8 fault (simulator/faults.py). Every /api/v1
response, success or error, carries RateLimit-Limit/Remaining/Reset (but the maintenance page, which stands
for a proxy in front of the API). The app is plain ASGI (no framework
request objects) so a 100-row page costs little more than its query."""

from __future__ import annotations

import asyncio
import importlib.abc
import importlib.util
import json
import logging
import secrets
import sys
import threading
import time
import traceback
from collections import Counter, deque
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

import orjson

from simulator.auth import AuthService
from simulator.config import SimConfig
from simulator.faults import (
    FaultDecision,
    FaultInjector,
    as_asked,
    corrupt_utf8,
    replacement_body,
    reshape_body,
    truncate_body,
)
from simulator.params import Query
from simulator.problems import PROBLEM_CONTENT_TYPE, ProblemError, problem_body
from simulator.ratelimit import Decision, FixedWindowLimiter
from simulator.routes import API_PREFIX, ROUTES, Ctx, Reply, control
from simulator.routes import load_all as load_all_routes
from simulator.store import Store

log = logging.getLogger("livello_sim")


class _AbsentModuleFinder(importlib.abc.MetaPathFinder):
    """Answers 'not installed' for known-absent modules without walking sys.path."""

    def __init__(self, names: frozenset[str]) -> None:
        self.names = names

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> None:
        if fullname in self.names:
            raise ModuleNotFoundError(f"No module named {fullname!r}", name=fullname)
        return None


def _skip_missing_pandas_probe() -> None:
    """DuckDB's Python client tries `import pandas` on every query that binds or returns timestamps; without
    pandas installed each failed import walks sys.path (measured: ~1 ms per query, 18 per transactions page).
    A finder that fails fast makes that probe instant; an installed pandas is left alone."""
    if importlib.util.find_spec("pandas") is None and not any(
        isinstance(f, _AbsentModuleFinder) for f in sys.meta_path
    ):
        sys.meta_path.insert(0, _AbsentModuleFinder(frozenset({"pandas"})))


_skip_missing_pandas_probe()

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

TOKEN_PATH = API_PREFIX + "/auth/token"
CONTROL_PREFIX = "/_sim"
MAX_BODY_BYTES = 1_000_000
_NO_FAULT = FaultDecision()
# The operator organizations: CLIENT organizations directly below the platform (not a CLIENT's
# sub-organization).
REQUEST_LOG_LENGTH = 200_000
# Every organization gets an `lv_m2m_org_<id>` client (simulator/auth.py), not only the top-level ones.
ORGANIZATION_IDS_SQL = "SELECT id FROM organizations ORDER BY id"
TOP_LEVEL_CLIENT_ORGS_SQL = """
    SELECT o.id FROM organizations o LEFT JOIN organizations parent ON parent.id = o.parent_id
    WHERE o.type = 'CLIENT' AND (parent.id IS NULL OR parent.type <> 'CLIENT') ORDER BY o.id
"""

# Connections the server can abort for the dropped-connection fault, keyed by (client, server) address and
# filled by server.TrackingH11Protocol. Without an entry (another ASGI server) the fault degrades to a
# cut-off response.
TRANSPORTS: dict[tuple[Any, Any], asyncio.Transport] = {}


@dataclass
class SimState:
    """Everything one simulator instance holds; shared by the app, the control surface and the handle."""

    config: SimConfig
    store: Store
    auth: AuthService
    api_limiter: FixedWindowLimiter
    token_limiter: FixedWindowLimiter
    faults: FaultInjector
    control_key: str
    request_counts: Counter[str] = field(default_factory=Counter)
    # The newest authenticated API requests (client id, path, query, monotonic time), so that a test can check
    # which client asked for what and when (several clients of one sync each reading their own kiosks, at
    # the same time). Bounded: a long benchmark must not grow it without end.
    request_log: deque[tuple[str, str, dict[str, str], float]] = field(
        default_factory=lambda: deque(maxlen=REQUEST_LOG_LENGTH)
    )
    _counts_lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, path: str) -> None:
        with self._counts_lock:
            self.request_counts[path] += 1

    def log_request(self, client_id: str, path: str, query: dict[str, str]) -> None:
        with self._counts_lock:
            self.request_log.append((client_id, path, query, time.monotonic()))

    def log_snapshot(self) -> list[tuple[str, str, dict[str, str], float]]:
        with self._counts_lock:
            return list(self.request_log)

    def counts_snapshot(self) -> dict[str, int]:
        with self._counts_lock:
            return dict(self.request_counts)

    def reset_counts(self) -> None:
        with self._counts_lock:
            self.request_counts.clear()
            self.request_log.clear()


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def dumps(payload: Any) -> bytes:
    return orjson.dumps(payload, default=_json_default)


class SimulatorApp:
    """The ASGI callable."""

    def __init__(self, state: SimState) -> None:
        self.state = state
        load_all_routes()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        path: str = scope["path"]
        self.state.count(path)
        if path == CONTROL_PREFIX or path.startswith(CONTROL_PREFIX + "/"):
            await self._control(scope, receive, send)
        else:
            await self._api(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return

    # -- vendor API -------------------------------------------------------------------------------------
    async def _api(self, scope: Scope, receive: Receive, send: Send) -> None:
        state = self.state
        path: str = scope["path"]
        method: str = scope["method"]
        headers = _headers(scope)
        client_ip = (scope.get("client") or ("unknown", 0))[0]
        token_endpoint = path == TOKEN_PATH
        try:
            body = await _read_body(receive)
        except ProblemError as error:
            await _send_problem(send, error, path, state.api_limiter.peek(f"anon:{client_ip}"))
            return

        fault = state.faults.decide(path) if state.faults.applies_to(token_endpoint) else _NO_FAULT
        if fault.delay_seconds:
            await asyncio.sleep(fault.delay_seconds)
        if fault.kind == "drop":
            await _drop(scope, send)
            return

        principal = None
        auth_error: ProblemError | None = None
        if token_endpoint:
            limiter = state.token_limiter
            client_id = _token_client_id(body, headers)
            key = client_id if client_id else f"anon:{client_ip}"
        else:
            limiter = state.api_limiter
            try:
                principal = state.auth.authenticate(headers.get("authorization"))
                key = principal.client_id
                state.log_request(key, path, _query(scope))
            except ProblemError as error:
                auth_error = error
                key = f"anon:{client_ip}"
        limit = limiter.hit(key)
        if not limit.allowed:
            what = "token requests" if token_endpoint else "requests"
            detail = f"Rate limit exceeded: {limit.limit} {what} per window for this client"
            await _send_problem(send, ProblemError(429, detail), path, limit)
            return
        if fault.kind == "burst_429":
            retry = str(state.faults.config.burst_retry_after_seconds)
            error = ProblemError(429, "Too many requests (burst)", headers={"Retry-After": retry})
            await _send_problem(send, error, path, limit)
            return
        if fault.kind == "error":
            await _send_problem(send, ProblemError(fault.status, "Simulated upstream failure"), path, limit)
            return
        if fault.kind in ("maintenance", "text_body"):
            # A maintenance page comes from a proxy in front of the API: no RateLimit headers.
            body_bytes, content_type = replacement_body(fault.kind)
            await _send(send, 200, body_bytes, content_type, None if fault.kind == "maintenance" else limit)
            return
        query = _query(scope)
        reshape = fault.reshape

        try:
            matched = ROUTES.match(method, path)
            if matched is None:
                raise ProblemError(404, f"No such resource: {path}")
            if auth_error is not None:
                raise auth_error
            route, path_params = matched
            asked = as_asked(reshape, query)
            ctx = Ctx(state, method, path, path_params, Query(asked), headers, body, principal, client_ip)
            reply = await asyncio.to_thread(route.handler, ctx)
        except ProblemError as error:
            await _send_problem(send, error, path, limit)
            return
        except Exception:  # the client gets a problem body; the operator gets the traceback
            log.error("handler failed for %s %s\n%s", method, path, traceback.format_exc())
            await _send_problem(send, ProblemError(500, "Internal server error"), path, limit)
            return
        finally:
            if principal is not None and state.faults.count_authenticated():
                state.auth.invalidate_all_tokens()

        if reply.status == 204 or reply.payload is None:
            await _send(send, reply.status, b"", None, limit)
            return
        payload = dumps(reply.payload)
        if 200 <= reply.status < 300:
            if reshape is not None:
                payload = reshape_body(reshape, payload, query)
            if fault.kind == "truncate":
                payload = truncate_body(payload)
            elif fault.kind == "invalid_utf8":
                payload = corrupt_utf8(payload)
        await _send(send, reply.status, payload, "application/json", limit)

    # -- control surface --------------------------------------------------------------------------------
    async def _control(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        headers = _headers(scope)
        try:
            body = await _read_body(receive)
            given = headers.get("x-sim-control-key", "")
            if not secrets.compare_digest(given.encode(), self.state.control_key.encode()):
                raise ProblemError(401, "Missing or wrong X-Sim-Control-Key")
            reply = await asyncio.to_thread(
                control.dispatch, self.state, scope["method"], path, body, Query(_query(scope))
            )
        except ProblemError as error:
            await _send_problem(send, error, path, None)
            return
        except Exception:
            log.error("control request failed for %s\n%s", path, traceback.format_exc())
            await _send_problem(send, ProblemError(500, "Internal server error"), path, None)
            return
        await _send(send, reply.status, dumps(reply.payload), "application/json", None)


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}


def _query(scope: Scope) -> dict[str, str]:
    raw = scope.get("query_string", b"").decode("latin-1")
    # The last value wins for a repeated parameter, as with most web frameworks.
    return dict(parse_qsl(raw, keep_blank_values=True))


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise ProblemError(413, f"Request body larger than {MAX_BODY_BYTES} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _token_client_id(body: bytes, headers: dict[str, str]) -> str | None:
    """The client id a token request claims, for charging its rate limit (no validation here)."""
    try:
        if "x-www-form-urlencoded" in headers.get("content-type", ""):
            value = dict(parse_qsl(body.decode())).get("client_id")
        else:
            data = json.loads(body) if body else None
            value = data.get("client_id") if isinstance(data, dict) else None
    except (ValueError, UnicodeDecodeError):
        return None
    return value if isinstance(value, str) and value else None


async def _send(
    send: Send,
    status: int,
    body: bytes,
    content_type: str | None,
    limit: Decision | None,
    extra: dict[str, str] | None = None,
) -> None:
    raw_headers: list[tuple[bytes, bytes]] = []
    if content_type:
        raw_headers.append((b"content-type", content_type.encode()))
    raw_headers.append((b"content-length", str(len(body)).encode()))
    if limit is not None:
        raw_headers.extend(limit.headers())
    for name, value in (extra or {}).items():
        if limit is not None and name.lower() == "retry-after":
            raw_headers = [h for h in raw_headers if h[0] != b"retry-after"]
        raw_headers.append((name.lower().encode(), value.encode()))
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


async def _send_problem(send: Send, error: ProblemError, instance: str, limit: Decision | None) -> None:
    body = problem_body(error.status, error.detail, instance, slug=error.slug, title=error.title)
    await _send(send, error.status, body, PROBLEM_CONTENT_TYPE, limit, error.headers)


async def _drop(scope: Scope, send: Send) -> None:
    transport = TRANSPORTS.get((_addr(scope.get("client")), _addr(scope.get("server"))))
    if transport is not None:
        transport.abort()
        # Let connection_lost run so the server marks the request as disconnected and sends nothing.
        for _ in range(3):
            await asyncio.sleep(0)
        return
    # Fallback: announce a body and never send it; the server closes the connection mid-response.
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json"), (b"content-length", b"100")],
        }
    )


def _addr(value: Any) -> Any:
    return tuple(value) if isinstance(value, list | tuple) else value


def build_state(config: SimConfig, store: Store, *, client_org_ids: list[int] | None = None) -> SimState:
    """Wire auth, limits and faults for `config` around an already generated `store`."""
    from simulator.auth import default_clients

    if config.clients:
        clients = list(config.clients)
    else:
        if client_org_ids is None:
            client_org_ids = [r[0] for r in store.query(ORGANIZATION_IDS_SQL)]
        clients = default_clients(config.demo_client_id, config.demo_client_secret, client_org_ids)
    auth = AuthService(clients, token_lifetime_seconds=config.token_lifetime_seconds)
    for client_id in config.faults.revoked_clients:
        auth.revoke(client_id)
    return SimState(
        config=config,
        store=store,
        auth=auth,
        api_limiter=FixedWindowLimiter(config.rate_limit_per_hour, config.rate_limit_window_seconds),
        token_limiter=FixedWindowLimiter(
            config.token_rate_limit_per_minute, config.token_rate_limit_window_seconds
        ),
        faults=FaultInjector(config.faults),
        control_key=config.control_key,
    )


__all__ = ["SimState", "SimulatorApp", "Reply", "build_state", "dumps", "TRANSPORTS"]
