"""Reading a paged listing to its end: by `total`, never stopping on a short page, with a bounded page count.

The contract's listings answer an envelope {total, data} and come in three styles: `page` (1-based page
number), `skip` and `offset` (rows to pass over). Pages are requested by position, and since the server
silently clamps `limit` to 100 a short page says nothing about the end: the listing ends when the rows seen
reach `total`, or on an empty page. The page count is bounded from the largest `total` seen, so a misbehaving
server cannot keep us paging forever.

`_Progress.account` sees every page in order before the next one is requested: checks of a page against
what came before belong there.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal, get_args

from sources.livello.errors import UnexpectedResponseError

PagingStyle = Literal["page", "skip", "offset"]
# Query parameters that place a page; the caller's values of them are replaced.
_POSITION_PARAMS = frozenset({"page", "skip", "offset", "limit"})


@dataclass(frozen=True)
class Page:
    """One page of a paged listing: its rows and the `total` the server reported with it."""

    number: int  # 1-based
    total: int
    data: list[dict[str, Any]]


def pages(
    fetch: Callable[[Mapping[str, Any]], Any],
    path: str,
    style: PagingStyle,
    params: Mapping[str, Any] | None,
    page_size: int,
) -> Iterator[Page]:
    """Yield every page of the listing at `path`; `fetch(query)` returns one page's parsed body."""
    if style not in get_args(PagingStyle):
        raise ValueError(f"unknown paging style {style!r}")
    if page_size < 1:
        raise ValueError("page_size must be >= 1")
    base = {key: value for key, value in (params or {}).items() if key not in _POSITION_PARAMS}
    progress = _Progress(path)
    while True:
        position = progress.number if style == "page" else progress.seen
        total, data = _envelope(fetch({**base, "limit": page_size, style: position}), path)
        if not data:
            return
        page = Page(progress.number, total, data)
        yield page
        if progress.account(page):
            return


@dataclass
class _Progress:
    """Where a listing stands after the pages read so far."""

    path: str
    number: int = 1  # of the next page
    seen: int = 0  # rows read
    max_total: int = 0
    first_page_rows: int = 0

    def account(self, page: Page) -> bool:
        """Count `page` in: True when the listing is complete; UnexpectedResponseError if it never ends."""
        self.seen += len(page.data)
        if self.seen >= page.total:
            return True
        self.first_page_rows = self.first_page_rows or len(page.data)
        self.max_total = max(self.max_total, page.total)
        max_pages = 2 * math.ceil(self.max_total / self.first_page_rows) + 10
        if self.number >= max_pages:
            raise UnexpectedResponseError(
                f"Paging {self.path} did not converge: {self.number} pages and {self.seen} rows read, the "
                f"server reports total={page.total}. The listing changed heavily while paging; re-run the "
                "sync.",
                path=self.path,
            )
        self.number += 1
        return False


def _envelope(body: Any, path: str) -> tuple[int, list[dict[str, Any]]]:
    """(total, data) of a paged response, checking the contract's envelope."""
    if not isinstance(body, dict) or not isinstance(body.get("data"), list):
        raise UnexpectedResponseError(
            f"GET {path} did not return a paged envelope {{total, data}}", path=path
        )
    total = body.get("total")
    if isinstance(total, bool) or not isinstance(total, int | Decimal) or total < 0:
        raise UnexpectedResponseError(
            f"GET {path} returned a page without a valid total ({total!r})", path=path
        )
    return int(total), body["data"]
