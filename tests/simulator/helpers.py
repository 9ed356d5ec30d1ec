"""Helpers shared by the simulator's HTTP tests (fixtures live in tests/simulator/conftest.py)."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import fetch_token

# The demo client's token request (body of POST /auth/token, as JSON or form fields).
DEMO_TOKEN_REQUEST = {
    "client_id": "lv_m2m_demo",
    "client_secret": "sk_live_demo",
    "grant_type": "client_credentials",
}


def bearer_client(sim: Any, *, timeout: float = 20, **headers: str) -> httpx.Client:
    """An httpx.Client on the simulator's base URL with the demo client's token (and `headers`)."""
    return httpx.Client(
        base_url=sim.base_url,
        timeout=timeout,
        headers={"Authorization": f"Bearer {fetch_token(sim)}", **headers},
    )


def status_with(sim: Any, path: str, token: str) -> int:
    """The status of GET `path` with a bearer `token` (a fresh connection, so nothing is shared)."""
    return httpx.get(
        sim.base_url + path, headers={"Authorization": f"Bearer {token}"}, timeout=10
    ).status_code


def read_all(client: httpx.Client, path: str, *, zone: str = "UTC", **params: Any) -> list[dict[str, Any]]:
    """Every row of a skip-paged list, 100 at a time, with x-timezone `zone` (bounded: a paging bug fails)."""
    rows: list[dict[str, Any]] = []
    for _ in range(10_000):
        body = client.get(
            path, params={**params, "limit": "100", "skip": str(len(rows))}, headers={"x-timezone": zone}
        ).json()
        rows.extend(body["data"])
        if len(rows) >= body["total"] or not body["data"]:
            return rows
    raise AssertionError("paging did not end")
