"""Cheap questions about an incremental endpoint, one `limit=1` request each: how many rows a range holds, and
where its oldest or newest row lies. The planner sizes backfill windows with them and the count-verified
lookback compares them with the warehouse; both ask in the endpoint's declared order."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sources.livello.context import Window, to_utc

if TYPE_CHECKING:
    from sources.livello.client import LivelloClient
    from sources.livello.endpoints import Endpoint


def _probe(client: LivelloClient, endpoint: Endpoint, window: Window, *, newest: bool) -> dict[str, Any]:
    incremental = endpoint.incremental
    assert incremental is not None and incremental.order is not None and endpoint.paging is not None
    order = incremental.order.descending if newest else incremental.order.ascending
    params = {
        **order,
        **window.params(incremental.start_param, incremental.end_param),
        endpoint.paging: 0 if endpoint.paging != "page" else 1,
        "limit": 1,
    }
    body = client.get(endpoint.path, params)
    return body if isinstance(body, dict) else {}


def edge(
    client: LivelloClient, endpoint: Endpoint, start: datetime | None, *, newest: bool
) -> tuple[int, datetime | None]:
    """(rows from `start` on, cursor value of the oldest or the newest of them)."""
    body = _probe(client, endpoint, Window(start), newest=newest)
    rows = body.get("data") or []
    assert endpoint.incremental is not None
    cursor = to_utc(rows[0][endpoint.incremental.cursor]) if rows else None
    return int(body.get("total") or 0), cursor


def count(client: LivelloClient, endpoint: Endpoint, window: Window) -> int:
    """The API's number of rows in the closed window [start, end)."""
    return int(_probe(client, endpoint, window, newest=False).get("total") or 0)
