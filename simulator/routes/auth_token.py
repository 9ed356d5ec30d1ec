"""POST /auth/token: OAuth2 client credentials (JSON body per the contract; form encoding accepted too)."""

from __future__ import annotations

import json
from urllib.parse import parse_qsl

from simulator.problems import bad_request
from simulator.routes import Ctx, Reply, route


@route("POST", "/auth/token")
def get_token(ctx: Ctx) -> Reply:
    if "x-www-form-urlencoded" in ctx.headers.get("content-type", ""):
        try:
            data: object = dict(parse_qsl(ctx.body.decode(), keep_blank_values=True))
        except UnicodeDecodeError:
            raise bad_request("Request body is not valid form data") from None
    else:
        try:
            data = json.loads(ctx.body) if ctx.body else None
        except (ValueError, UnicodeDecodeError):
            raise bad_request("Request body is not valid JSON") from None
    if not isinstance(data, dict):
        raise bad_request("Request body must be an object with client_id, client_secret and grant_type")
    for name in ("client_id", "client_secret", "grant_type"):
        if not isinstance(data.get(name), str) or not data[name]:
            raise bad_request(f"Missing required field: {name}")
    token = ctx.state.auth.issue(data["client_id"], data["client_secret"], data["grant_type"], ctx.client_ip)
    return Reply(200, token)
