"""Reading a paged listing to its end, checking every page: by `total`, never stopping on a short page, never
looping on a server that ignores the page position.

The contract's listings answer an envelope {total, data} and come in three styles: `page` (1-based page
number), `skip` and `offset` (rows to pass over). Pages are requested by position, and since the server
silently clamps `limit` to 100 a short page says nothing about the end: the listing ends when the rows seen
reach `total`.

Each page is checked against what came before (`_Progress.account`), because a wrong page is otherwise
silent: a server or caching proxy that ignores `skip` answers the first page for every offset, and a reader
that trusts it stops with a fraction of the rows, or pages identical rows for hours under a huge `total`. So,
when the caller says how to key a row:
* a page whose rows were all read before, while `total` says more exist, is an error (the position is
  ignored);
* rows repeated across pages are allowed only as far as the total grew meanwhile (rows inserted ahead of the
  position shift later rows back by one each, in a newest-first order); more repeats are an error;
and for every listing: an empty page before `total` is reached, a `total` that shrinks between pages, is
missing or is short of the rows its own page reaches, and more pages than the largest `total` allows are
errors. Every error names the listing, the page and what was wrong; the caller keeps nothing of the listing
and its position does not move.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal, get_args

from sources.livello.errors import UnexpectedResponseError

PagingStyle = Literal["page", "skip", "offset"]
RowKey = Callable[[dict[str, Any]], Hashable]
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
    key: RowKey | None = None,
    start: int = 0,
) -> Iterator[Page]:
    """Yield every page of the listing at `path` from row `start` on (skip and offset styles); `fetch(query)`
    returns one page's parsed body and `key` identifies a row (the primary key) for the repeat checks."""
    if style not in get_args(PagingStyle):
        raise ValueError(f"unknown paging style {style!r}")
    if page_size < 1:
        raise ValueError("page_size must be >= 1")
    if start < 0 or (start and style == "page"):
        raise ValueError(f"cannot start a {style}-paged listing at row {start}")
    base = {k: v for k, v in (params or {}).items() if k not in _POSITION_PARAMS}
    progress = _Progress(path, style, key, seen=start)
    while True:
        position = progress.number if style == "page" else progress.seen
        total, data = _envelope(fetch({**base, "limit": page_size, style: position}), path, progress.number)
        page = Page(progress.number, total, data)
        if progress.account(page, position):
            if data:
                yield page
            return
        yield page


@dataclass
class _Progress:
    """Where a listing stands after the pages read so far."""

    path: str
    style: PagingStyle
    key: RowKey | None
    number: int = 1  # of the next page
    seen: int = 0  # rows read
    first_total: int | None = None
    last_total: int = 0
    max_total: int = 0
    first_page_rows: int = 0
    repeats: int = 0
    keys: set[Hashable] = field(default_factory=set)

    def account(self, page: Page, position: int) -> bool:
        """Check and count `page` in; True when the listing is complete."""
        where = f"GET {self.path} page {page.number} ({self.style}={position})"
        if self.first_total is not None and page.total < self.last_total:
            raise self._error(
                f"{where} reports total={page.total:,} after {self.last_total:,} on the page before: the "
                "listing shrank while it was read"
            )
        self.first_total = page.total if self.first_total is None else self.first_total
        self.last_total = page.total
        if not page.data:
            if self.seen < page.total:
                raise self._error(
                    f"{where} is empty although total={page.total:,} and only {self.seen:,} rows were read"
                )
            return True
        self._check_repeats(page, where)
        self.seen += len(page.data)
        if self.seen > page.total:
            # One answer's rows and total disagree: trusting the total would end the listing before its end.
            raise self._error(
                f"{where} brought rows up to row {self.seen:,} of a listing it says holds "
                f"total={page.total:,}: the total is short of its own rows (the listing shrank while it was "
                "read, or its count is wrong)"
            )
        if self.seen >= page.total:
            return True
        self.first_page_rows = self.first_page_rows or len(page.data)
        self.max_total = max(self.max_total, page.total)
        if self.number >= math.ceil(self.max_total / self.first_page_rows) + 1:
            raise self._error(
                f"{where}: paging did not converge, {self.seen:,} rows read in {self.number} pages and the "
                f"listing has not reached total={page.total:,}"
            )
        self.number += 1
        return False

    def _check_repeats(self, page: Page, where: str) -> None:
        if self.key is None:
            return
        keys = [self.key(row) for row in page.data]
        fresh = {k for k in keys if k not in self.keys}
        if not fresh and self.keys:
            raise self._error(
                f"{where} brought no row that was not read before, while total={page.total:,} says "
                f"{page.total - self.seen:,} more exist: the API (or a proxy in front of it) ignores the "
                f"`{self.style}` parameter"
            )
        self.repeats += len(keys) - len(fresh)
        grown = max(0, self.max_total - (self.first_total or 0), page.total - (self.first_total or 0))
        if self.repeats > grown:
            raise self._error(
                f"{where} repeats rows already read ({self.repeats:,} so far) beyond what the {grown:,} rows "
                "added while paging explain: the page positions are not stable"
            )
        self.keys |= fresh

    def _error(self, message: str) -> UnexpectedResponseError:
        return UnexpectedResponseError(
            f"{message}. Nothing of this listing was kept; the next run reads it again.", path=self.path
        )


def _envelope(body: Any, path: str, number: int) -> tuple[int, list[dict[str, Any]]]:
    """(total, data) of a paged response, checking the contract's envelope."""
    if not isinstance(body, dict) or not isinstance(body.get("data"), list):
        raise UnexpectedResponseError(
            f"GET {path} page {number} did not return the paged envelope {{total, data}} the contract "
            "promises",
            path=path,
        )
    total = body.get("total")
    if isinstance(total, bool) or not isinstance(total, int | Decimal) or total < 0:
        shown = "missing" if total is None else repr(total)
        raise UnexpectedResponseError(
            f"GET {path} page {number} has no valid total ({shown}): the end of the listing is unknown",
            path=path,
        )
    return int(total), body["data"]
