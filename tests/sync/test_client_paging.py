"""paging.pages on its own: the positions it asks for, its bound on a listing that never ends, and a total
short of its own page.

The simulator's listings always end (test_client.py pages them over HTTP); a server whose `total` stays out of
reach is a shape it cannot produce, so these feed `pages` a plain function in place of the HTTP call.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from sources.livello.errors import UnexpectedResponseError
from sources.livello.paging import pages


class Listing:
    """Answers 100 rows on the first page, then `later_rows` per page, always claiming `total` rows."""

    def __init__(self, total: int, later_rows: int) -> None:
        self.total = total
        self.later_rows = later_rows
        self.queries: list[dict[str, Any]] = []

    def __call__(self, query: Mapping[str, Any]) -> dict[str, Any]:
        self.queries.append(dict(query))
        rows = 100 if len(self.queries) == 1 else self.later_rows
        return {"total": self.total, "data": [{"id": len(self.queries)}] * rows}


@pytest.mark.parametrize(("style", "second_position"), [("skip", 100), ("offset", 100), ("page", 2)])
def test_pages_are_asked_for_by_position_and_short_pages_do_not_end_the_listing(
    style: str, second_position: int
) -> None:
    listing = Listing(total=250, later_rows=50)  # 100 + 50 + 50 + 50: short pages all the way
    read = list(pages(listing, "/rows", style, {"sort": 1, "limit": 5, style: 7}, 100))  # type: ignore[arg-type]
    assert [page.number for page in read] == [1, 2, 3, 4]
    assert sum(len(page.data) for page in read) == 250
    assert listing.queries[0] == {"sort": 1, "limit": 100, style: 0 if style != "page" else 1}
    assert listing.queries[1][style] == second_position


def test_a_total_that_stays_out_of_reach_stops_after_a_bounded_number_of_pages() -> None:
    listing = Listing(total=250, later_rows=1)  # 100 rows, then 1 per page: 250 would take 151 pages
    with pytest.raises(UnexpectedResponseError) as caught:
        list(pages(listing, "/rows", "skip", None, 100))
    assert "did not converge" in str(caught.value)
    # Bounded by what `total` allows at the first page's size (3 pages), plus one for rows added meanwhile.
    assert len(listing.queries) == 3 + 1


@pytest.mark.parametrize("start", [0, 434])
def test_a_page_that_runs_past_its_own_total_is_refused(start: int) -> None:
    # A total short of the rows its own answer reaches (the simulator's shrinking total, met on a reading that
    # starts past row 0, as the lookback's proof does) would end the listing with rows still unread.
    listing = Listing(total=start + 93, later_rows=100)
    with pytest.raises(UnexpectedResponseError) as caught:
        list(pages(listing, "/rows", "skip", None, 100, start=start))
    assert "the listing shrank" in str(caught.value)
    assert len(listing.queries) == 1
