"""The /_sim control surface (outside the vendor API; guarded by X-Sim-Control-Key in app.py).

POST /_sim/advance  {"hours": n} or {"minutes": n}    move the clock; returns what appeared/changed; optional
                    counts force events: renames, price_changes, deletions, new_kiosks, user_changes
POST /_sim/backlog  {"kiosk_serial": "LIV-0001", "hours_late": 6, ...}   late-arriving purchases
GET  /_sim/faults                                     current fault settings
POST /_sim/faults   {"error_ratio": 0.1, ...}          change some settings, FaultConfig's field names as keys
                                                      ({"reset": true} starts from the defaults)
POST /_sim/revoke   {"client_id": "...", "revoked": true}
POST /_sim/erase-user {"id": 7}                         a user account erased at the vendor
POST /_sim/expire-tokens                              invalidate every issued token now
GET  /_sim/state                                      clock, row counts, request counts, faults, revocations
"""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import timedelta
from typing import Any

from simulator.config import FaultConfig
from simulator.params import Query, render_utc
from simulator.problems import ProblemError, bad_request, not_found
from simulator.routes import Reply

# Bounded so a typo cannot make the server generate years of data in one request.
MAX_ADVANCE = timedelta(days=31)


def _json(body: bytes) -> dict[str, Any]:
    if not body:
        return {}
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise bad_request("Request body is not valid JSON") from None
    if not isinstance(data, dict):
        raise bad_request("Request body must be a JSON object")
    return data


def _summary(result: Any) -> Any:
    if result is None:
        return {}
    if hasattr(result, "__dataclass_fields__"):
        return asdict(result)
    return result


def advance(state: Any, delta: timedelta, **events: int | None) -> dict[str, Any]:
    from simulator import clock

    if delta <= timedelta(0):
        raise bad_request("advance needs a positive number of hours or minutes")
    if delta > MAX_ADVANCE:
        raise bad_request(f"advance at most {MAX_ADVANCE.days} days per call")
    unknown = set(events) - set(clock.EVENTS)
    if unknown:
        raise bad_request(f"unknown event(s) {', '.join(sorted(unknown))}; known: {', '.join(clock.EVENTS)}")
    result = _summary(clock.advance(state.store, state.config, delta, **events))
    return {"now": render_utc(state.store.now), "changes": result}


def upload_backlog(state: Any, args: dict[str, Any]) -> dict[str, Any]:
    from simulator import clock

    args = dict(args)
    serial = args.pop("kiosk_serial", None) or args.pop("kioskSerialNumber", None)
    if not isinstance(serial, str) or state.store.kiosk_id(serial) is None:
        raise not_found(f"Kiosk {serial!r} not found")
    hours_late = args.pop("hours_late", args.pop("hoursLate", 6))
    try:
        result = clock.upload_backlog(state.store, serial, float(hours_late), **args)
    except TypeError as error:
        raise bad_request(f"Invalid backlog arguments: {error}") from None
    return {"now": render_utc(state.store.now), "changes": _summary(result)}


def erase_user(state: Any, user_id: Any) -> int:
    from simulator import clock

    if not isinstance(user_id, int) or isinstance(user_id, bool):
        raise bad_request("id (a user id, an integer) is required")
    if not clock.erase_user(state.store, user_id):
        raise not_found(f"User {user_id} not found")
    return user_id


def dispatch(state: Any, method: str, path: str, body: bytes, query: Query) -> Reply:
    if method == "POST" and path == "/_sim/advance":
        data = _json(body)
        try:
            hours = float(data.pop("hours", 0) or 0)
            minutes = float(data.pop("minutes", 0) or 0)
            events = {k: None if v is None else int(v) for k, v in data.items()}
        except (TypeError, ValueError):
            raise bad_request("hours, minutes and event counts must be numbers") from None
        return Reply(200, advance(state, timedelta(hours=hours, minutes=minutes), **events))
    if method == "POST" and path == "/_sim/backlog":
        return Reply(200, upload_backlog(state, _json(body)))
    if path == "/_sim/faults":
        if method == "GET":
            return Reply(200, state.faults.config.as_dict())
        if method == "POST":
            data = _json(body)
            try:
                new = FaultConfig() if data.pop("reset", False) else state.faults.config
                new = new.with_changes(**data)
            except (TypeError, ValueError) as error:
                raise bad_request(str(error)) from None
            state.faults.configure(new)
            for client_id in new.revoked_clients:
                state.auth.revoke(client_id)
            return Reply(200, new.as_dict())
    if method == "POST" and path == "/_sim/revoke":
        data = _json(body)
        client_id = data.get("client_id")
        if not isinstance(client_id, str):
            raise bad_request("client_id is required")
        if data.get("revoked", True):
            if not state.auth.revoke(client_id):
                raise not_found(f"Client {client_id!r} not found")
        else:
            state.auth.reinstate(client_id)
        return Reply(200, {"revoked": state.auth.revoked_clients()})
    if method == "POST" and path == "/_sim/erase-user":
        return Reply(200, {"erased": erase_user(state, _json(body).get("id"))})
    if method == "POST" and path == "/_sim/expire-tokens":
        return Reply(200, {"invalidated": state.auth.invalidate_all_tokens()})
    if method == "GET" and path == "/_sim/state":
        return Reply(
            200,
            {
                "now": render_utc(state.store.now or state.config.now),
                "seed": state.config.seed,
                "kiosks": state.config.kiosks,
                "days": state.config.days,
                "rows": state.store.counts(),
                "requests": state.counts_snapshot(),
                "faults": state.faults.config.as_dict(),
                "revokedClients": state.auth.revoked_clients(),
                "clients": [c.client_id for c in state.auth.clients],
                "rateLimit": {
                    "perWindow": state.api_limiter.limit,
                    "windowSeconds": state.api_limiter.window_seconds,
                    "tokenPerWindow": state.token_limiter.limit,
                    "tokenWindowSeconds": state.token_limiter.window_seconds,
                },
            },
        )
    known = {
        "/_sim/advance",
        "/_sim/backlog",
        "/_sim/faults",
        "/_sim/revoke",
        "/_sim/erase-user",
        "/_sim/expire-tokens",
        "/_sim/state",
    }
    if path in known:
        raise ProblemError(405, f"Method {method} not allowed on {path}")
    raise not_found(f"No such control resource: {path}")
