"""The vendor API's operations: each module registers handlers that translate HTTP into store queries.

A handler is a plain synchronous function `handler(ctx) -> Reply` (DuckDB calls block, so the app runs
handlers in worker threads). It raises `ProblemError` for every client error. Registration order does not
matter: a path template is matched segment by segment, literal segments winning over `{param}` segments."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from functools import cached_property
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from simulator.params import Query, Window, timezone_from_headers, window
from simulator.problems import ProblemError, bad_request, not_found

if TYPE_CHECKING:
    from simulator.app import SimState
    from simulator.auth import Principal

API_PREFIX = "/api/v1"


@dataclass
class Reply:
    status: int
    payload: Any = None  # None with 204


@dataclass
class Ctx:
    """One request as a handler sees it."""

    state: SimState
    method: str
    path: str
    path_params: dict[str, str]
    query: Query
    headers: dict[str, str]
    body: bytes
    principal: Principal | None
    client_ip: str = "unknown"

    @cached_property
    def tz(self) -> ZoneInfo:
        return timezone_from_headers(self.headers)

    def window(self, start_name: str = "startDate", end_name: str = "endDate") -> Window:
        return window(self.query, self.tz, start_name, end_name)

    @property
    def store(self):  # noqa: ANN201 - simulator.store.Store, imported lazily to keep this module light
        return self.state.store

    def require(self, scope: str) -> None:
        assert self.principal is not None
        self.principal.require(scope)

    @cached_property
    def org_ids(self) -> list[int] | None:
        """Organizations the caller may see; None means every organization (an unscoped client)."""
        assert self.principal is not None
        if self.principal.organization_id is None:
            return None
        return self.state.store.descendant_org_ids(self.principal.organization_id)

    def org_visible(self, organization_id: int) -> bool:
        ids = self.org_ids
        return ids is None or organization_id in ids

    def visible(self, rows: list[dict[str, Any]], what: str) -> dict[str, Any]:
        """The first of `rows` (a lookup by id) when the caller may see its `organization_id`; otherwise 404
        "`what` not found", so a record of another organization looks like a missing one."""
        if not rows or not self.org_visible(rows[0]["organization_id"]):
            raise not_found(f"{what} not found")
        return rows[0]

    def path_int(self, name: str) -> int:
        raw = self.path_params[name]
        try:
            value = float(raw)
        except ValueError:
            raise bad_request(f"{name} must be a number, got {raw!r}") from None
        if value != value or value in (float("inf"), float("-inf")) or value != int(value):
            raise bad_request(f"{name} must be a whole number, got {raw!r}")
        if abs(value) >= 2**63:
            # A valid number, just no such record (and beyond what the database can compare).
            raise ProblemError(404, f"No resource with {name} {raw}")
        return int(value)

    def json_body(self) -> dict[str, Any]:
        if not self.body:
            raise bad_request("Request body is required")
        try:
            data = json.loads(self.body)
        except (ValueError, UnicodeDecodeError):
            raise bad_request("Request body is not valid JSON") from None
        if not isinstance(data, dict):
            raise bad_request("Request body must be a JSON object")
        return data


Handler = Callable[[Ctx], Reply]


@dataclass
class _Route:
    method: str
    template: str
    pattern: re.Pattern[str]
    handler: Handler
    literal_weight: int


@dataclass
class RouteTable:
    routes: list[_Route] = field(default_factory=list)

    def add(self, method: str, template: str, handler: Handler) -> None:
        parts = [
            f"(?P<{seg[1:-1]}>[^/]+)" if seg.startswith("{") and seg.endswith("}") else re.escape(seg)
            for seg in template.split("/")
        ]
        regex = "^" + "/".join(parts) + "$"
        literal = sum(1 for seg in template.split("/") if seg and not seg.startswith("{"))
        self.routes.append(_Route(method, template, re.compile(regex), handler, literal))
        self.routes.sort(key=lambda r: -r.literal_weight)

    def match(self, method: str, path: str) -> tuple[_Route, dict[str, str]] | None:
        """The route for (method, path); raises 405 when the path exists with other methods."""
        allowed: list[str] = []
        for route in self.routes:
            m = route.pattern.match(path)
            if m is None:
                continue
            if route.method == method:
                return route, m.groupdict()
            allowed.append(route.method)
        if allowed:
            raise ProblemError(
                405,
                f"Method {method} not allowed; allowed: {', '.join(sorted(set(allowed)))}",
                headers={"Allow": ", ".join(sorted(set(allowed)))},
            )
        return None


ROUTES = RouteTable()


def route(method: str, template: str) -> Callable[[Handler], Handler]:
    """Register a handler for `API_PREFIX + template`."""

    def register(handler: Handler) -> Handler:
        ROUTES.add(method, API_PREFIX + template, handler)
        return handler

    return register


# -- rendering helpers shared by the route modules ---------------------------------------------------------
_CENT = Decimal("0.01")


def money(value: Decimal | float | int | None) -> float | None:
    """A money amount as a JSON number; floats of two-decimal values print exactly (shortest repr)."""
    if value is None:
        return None
    if isinstance(value, Decimal):
        # DECIMAL(12,2) columns arrive with two places already; quantizing them would change nothing.
        if value.as_tuple().exponent >= -2:  # type: ignore[operator]
            return float(value)
        return float(value.quantize(_CENT, rounding=ROUND_HALF_UP))
    return float(Decimal(str(value)).quantize(_CENT, rounding=ROUND_HALF_UP))


def money_text(value: Decimal | float | int) -> str:
    """A money amount as the contract's decimal STRING ("1.50")."""
    return str(Decimal(value).quantize(_CENT, rounding=ROUND_HALF_UP))


def number(value: Decimal | float | int | None) -> float | int | None:
    """A non-money number (rates, weights): integral values as int, others as float."""
    if value is None:
        return None
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def iso_date(value: date | datetime | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        value = value.date()
    return value.isoformat()


def paged(total: int, data: list[Any], **extra: Any) -> Reply:
    return Reply(200, {"total": int(total), **extra, "data": data})


Filters = Callable[[Query, list[str], list[Any]], None]


@dataclass(frozen=True)
class Listing:
    """A list endpoint over one table, declared: GET `path` needs `scope`, sees the rows whose `org_column` is
    in the caller's organizations (and `where`), counts `count_from` (the table and the joins its filters
    need), selects with `select` (SELECT ... FROM ... without WHERE) and answers {total, data} with `render`
    applied to each row. `paging` is the contract's style ("skip" or "page"). Text filters are (parameter,
    column, partial): an exact one ignores case, a partial one is a case-insensitive substring; `filters`
    adds the endpoint's other conditions. Rows are ordered by `sortBy` (`sort_columns`, unknown values mean
    `default_sort`) and `sort` (1, the default, or -1), then by the unique column `unique`, so consecutive
    pages never share or skip a row."""

    path: str
    scope: str
    count_from: str
    select: str
    org_column: str
    render: Callable[[dict[str, Any]], dict[str, Any]]
    sort_columns: dict[str, str]
    default_sort: str
    unique: str
    paging: str = "skip"
    where: tuple[str, ...] = ()
    text_filters: tuple[tuple[str, str, bool], ...] = ()
    filters: Filters | None = None

    def register(self) -> Listing:
        ROUTES.add("GET", API_PREFIX + self.path, self.handle)
        return self

    def handle(self, ctx: Ctx) -> Reply:
        ctx.require(self.scope)
        q = ctx.query
        params: list[Any] = []
        where = [*self.where, in_list_sql(self.org_column, ctx.org_ids, params)]
        for name, column, partial in self.text_filters:
            value = q.string(name)
            if value is None:
                continue
            if partial:
                where.append(ilike_contains(column, value, params))
            else:
                where.append(f"lower({column}) = lower(?)")
                params.append(value)
        if self.filters is not None:
            self.filters(q, where, params)
        direction = "ASC" if q.sort_direction(1) == 1 else "DESC"
        column = self.sort_columns[q.sort_by(list(self.sort_columns), self.default_sort)]
        limit = q.limit()
        offset = q.skip() if self.paging == "skip" else (q.page() - 1) * limit
        order = f"{column} {direction}, {self.unique}"
        total, rows = page_of(ctx, self.count_from, self.select, where, params, order, limit, offset)
        return paged(total, [self.render(r) for r in rows])


def page_of(
    ctx: Ctx,
    count_from: str,
    select: str,
    where: list[str],
    params: list[Any],
    order: str,
    limit: int,
    offset: int,
) -> tuple[int, list[dict[str, Any]]]:
    """The total of `count_from` rows matching `where` and the rows offset..offset+limit of `select` in
    `order` (which must be total: see `Listing`)."""
    where_sql = " AND ".join(where)
    total = ctx.store.scalar(f"SELECT count(*) FROM {count_from} WHERE {where_sql}", params)
    rows = ctx.store.query_dicts(
        f"{select} WHERE {where_sql} ORDER BY {order} LIMIT ? OFFSET ?", [*params, limit, offset]
    )
    return int(total), rows


def in_list_sql(column: str, values: list[Any] | None, params: list[Any]) -> str:
    """`column IN (...)` as SQL with parameters appended; TRUE when `values` is None (no restriction)."""
    if values is None:
        return "TRUE"
    if not values:
        return "FALSE"
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        # Integer literals are safe to inline and much cheaper for DuckDB than binding a list parameter.
        return f"{column} IN ({', '.join(str(int(v)) for v in values)})"
    params.extend(values)
    return f"{column} IN ({', '.join('?' for _ in values)})"


def load_all() -> None:
    """Import every route module so that its handlers register (idempotent)."""
    from simulator.routes import (  # noqa: F401
        alerts,
        analytics,
        auth_token,
        kiosks,
        organizations,
        products,
        promocodes,
        transactions,
        users,
        writes,
    )


def sim_now(ctx: Ctx) -> datetime:
    """The simulator's clock (aware UTC)."""
    return ctx.state.store.now or ctx.state.config.now


def ilike_contains(column: str, text: str, params: list[Any]) -> str:
    """Case-insensitive substring match with LIKE wildcards in `text` taken literally."""
    params.append("%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%")
    return f"{column} ILIKE ? ESCAPE '\\'"
