"""Cheap questions about an incremental endpoint, one `limit=1` request each: how many rows a range holds, and
where its oldest or newest row lies. The planner sizes backfill windows with them and the count-verified
lookback compares them with the warehouse; both ask in the endpoint's declared order."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sources.livello.context import Window, to_utc

if TYPE_CHECKING:
    from sources.livello.client import LivelloClient
    from sources.livello.endpoints import Endpoint


def _probe(
    client: LivelloClient,
    endpoint: Endpoint,
    window: Window,
    *,
    newest: bool,
    kiosks: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    incremental = endpoint.incremental
    assert incremental is not None and incremental.order is not None and endpoint.paging is not None
    order = incremental.order.descending if newest else incremental.order.ascending
    params = {
        **order,
        **window.params(incremental.start_param, incremental.end_param),
        endpoint.paging: 0 if endpoint.paging != "page" else 1,
        "limit": 1,
        **(kiosks or {}),
    }
    body = client.get(endpoint.path, params)
    return body if isinstance(body, dict) else {}


def edge(
    client: LivelloClient,
    endpoint: Endpoint,
    start: datetime | None,
    *,
    newest: bool,
    kiosks: Sequence[Mapping[str, str]] = ({},),
) -> tuple[int, datetime | None]:
    """(rows from `start` on, cursor value of the oldest or the newest of them); over several kiosk filters
    (`RunContext.kiosk_queries`) the sum and the oldest or newest of all, one request each."""
    assert endpoint.incremental is not None
    total, edges = 0, []
    for query in kiosks:
        body = _probe(client, endpoint, Window(start), newest=newest, kiosks=query)
        rows = body.get("data") or []
        total += int(body.get("total") or 0)
        if rows:
            edges.append(to_utc(rows[0][endpoint.incremental.cursor]))
    if not edges:
        return total, None
    return total, max(edges) if newest else min(edges)


def count(
    client: LivelloClient,
    endpoint: Endpoint,
    window: Window,
    *,
    kiosks: Sequence[Mapping[str, str]] = ({},),
) -> int:
    """The API's number of rows in the closed window [start, end) (of the kiosks the filters name)."""
    return sum(
        int(_probe(client, endpoint, window, newest=False, kiosks=query).get("total") or 0)
        for query in kiosks
    )
