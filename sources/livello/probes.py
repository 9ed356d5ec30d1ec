"""Cheap questions about an incremental endpoint, one request each: how many rows a range holds, and where its
oldest or newest row lies. The planner sizes backfill windows with them and the count-verified lookback
compares them with the warehouse; both ask in the endpoint's declared order. The oldest-row question is asked
as the reading's own first page (`first_pages`), so that when the whole range is read as one window its
first request is already answered."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sources.livello.context import PAGE_SIZE, Window, to_utc

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
    limit: int = 1,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(query, body) of one request in the endpoint's order; its query is the one `paging.pages` sends for
    the first page of the same range and order, so a full-page probe can answer that page."""
    incremental = endpoint.incremental
    assert incremental is not None and incremental.order is not None and endpoint.paging is not None
    order = incremental.order.descending if newest else incremental.order.ascending
    params = {
        **order,
        **window.params(incremental.start_param, incremental.end_param),
        endpoint.paging: 0 if endpoint.paging != "page" else 1,
        "limit": limit,
        **(kiosks or {}),
    }
    body = client.get(endpoint.path, params)
    return params, body if isinstance(body, dict) else {}


@dataclass(frozen=True)
class Edge:
    """Rows from a start on (summed over the kiosk filters), the cursor value of the oldest or newest of them,
    and the answers themselves: (query, body) of each request."""

    total: int
    moment: datetime | None
    answers: tuple[tuple[dict[str, Any], Any], ...]

    def reuse(self, client: LivelloClient, endpoint: Endpoint) -> None:
        """Let the reading of the open window from the same start take its first pages from these answers
        (asked with a full page: `first_pages`)."""
        for query, body in self.answers:
            client.keep(endpoint.path, query, body)


def _edge(
    client: LivelloClient,
    endpoint: Endpoint,
    start: datetime | None,
    *,
    newest: bool,
    kiosks: Sequence[Mapping[str, str]],
    limit: int,
) -> Edge:
    assert endpoint.incremental is not None
    total, edges, answers = 0, [], []
    for query in kiosks:
        params, body = _probe(client, endpoint, Window(start), newest=newest, kiosks=query, limit=limit)
        answers.append((params, body))
        rows = body.get("data") or []
        total += int(body.get("total") or 0)
        if rows:
            edges.append(to_utc(rows[0][endpoint.incremental.cursor]))
    moment = (max(edges) if newest else min(edges)) if edges else None
    return Edge(total, moment, tuple(answers))


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
    found = _edge(client, endpoint, start, newest=newest, kiosks=kiosks, limit=1)
    return found.total, found.moment


def first_pages(
    client: LivelloClient,
    endpoint: Endpoint,
    start: datetime | None,
    *,
    kiosks: Sequence[Mapping[str, str]] = ({},),
) -> Edge:
    """`edge(..., newest=False)` asked with a full page instead of one row: the same single request per
    filter, and the first page of the reading if one open window from `start` reads the whole range."""
    return _edge(client, endpoint, start, newest=False, kiosks=kiosks, limit=PAGE_SIZE)


def count(
    client: LivelloClient,
    endpoint: Endpoint,
    window: Window,
    *,
    kiosks: Sequence[Mapping[str, str]] = ({},),
) -> int:
    """The API's number of rows in the closed window [start, end) (of the kiosks the filters name)."""
    return sum(
        int(_probe(client, endpoint, window, newest=False, kiosks=query)[1].get("total") or 0)
        for query in kiosks
    )
