"""Resources of the Livello source: the generic reader driven by endpoints.py, and the special endpoints.

Every resource reads through one `RunContext`, which owns the HTTP client, caches the organization and kiosk
lists (fetched at most once per run, whatever number of loads the run makes), and says which time window each
incremental resource reads in the current load. Incremental resources keep their position in dlt resource
state, which dlt commits together with the load package, so data and cursor advance atomically per window."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import dlt
from dlt.common.normalizers.naming.snake_case import NamingConvention as SnakeCaseNaming
from dlt.extract.resource import DltResource

from sources.livello.endpoints import BY_NAME, TEMPERATURE_MAX_WINDOW_HOURS, Endpoint
from sources.livello.errors import NotFoundError, ScopeError
from sources.livello.pseudonymize import Pseudonymizer

log = logging.getLogger("livello.source")

PAGE_SIZE = 100  # the contract's maximum page size


# -------------------------------------------------------------------------------------- time helpers
def to_utc(value: str | datetime) -> datetime:
    moment = (
        value if isinstance(value, datetime) else datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    )
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def api_time(moment: datetime) -> str:
    """ISO 8601 in UTC with milliseconds, the form the contract's examples use."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


@dataclass(frozen=True)
class Window:
    """[start, end) in UTC; `end` None is the open newest window (no end date sent: the API's now ends it)."""

    start: datetime
    end: datetime | None = None
    # Count-verified lookback (pipelines/lookback.py): [start, verified_until) held as many rows in the
    # warehouse as the API reports, except in the `reread` sub-windows; only those and [verified_until, end)
    # are read. None: the whole window is read.
    verified_until: datetime | None = None
    reread: tuple[Window, ...] = ()

    def ranges(self) -> list[Window]:
        """The plain windows actually requested, oldest first."""
        if self.verified_until is None:
            return [self]
        return [*self.reread, Window(self.verified_until, self.end)]

    def params(self, start_param: str, end_param: str) -> dict[str, str]:
        out = {start_param: api_time(self.start)}
        if self.end is not None:
            # The API's windows are inclusive at both ends; stop 1 ms short so adjacent windows never overlap.
            out[end_param] = api_time(self.end - timedelta(milliseconds=1))
        return out

    def __str__(self) -> str:
        end = api_time(self.end) if self.end else "now"
        return f"{api_time(self.start)} .. {end}"


@dataclass
class SourceOptions:
    pseudonymizer: Pseudonymizer | None = None
    promocodes: Sequence[str] = ()
    temperature_granularity: str = "hourly"


@dataclass
class RunContext:
    """Everything the resources of one run share. `windows` is set by the pipeline before each load."""

    client: Any  # sources.livello.client.LivelloClient
    options: SourceOptions = field(default_factory=SourceOptions)
    snapshot_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    windows: dict[str, Window] = field(default_factory=dict)
    # Per-run snapshots (inventory, the alert re-read) happen in the run's first load only.
    first_load: bool = True
    skipped: dict[str, str] = field(default_factory=dict)  # resource -> reason (missing scope)
    warnings: list[str] = field(default_factory=list)
    _kiosks: list[dict[str, Any]] | None = None
    _organizations: list[dict[str, Any]] | None = None

    def warn(self, message: str) -> None:
        self.warnings.append(message)
        log.warning(message)

    def skip(self, resource: str, error: ScopeError) -> None:
        scope = getattr(error, "scope", None) or BY_NAME[resource].scope
        reason = f"missing scope {scope}"
        if resource not in self.skipped:
            self.skipped[resource] = reason
            self.warn(f"skipping {resource} for this run: the API client lacks the scope '{scope}'")

    def kiosks(self) -> list[dict[str, Any]]:
        if self._kiosks is None:
            self._kiosks = [
                row
                for page in self.client.paginate("/kiosks", "page", {}, page_size=PAGE_SIZE)
                for row in page
            ]
        return self._kiosks

    def organizations(self) -> list[dict[str, Any]]:
        if self._organizations is None:
            self._organizations = [
                row
                for page in self.client.paginate("/organizations", "skip", {}, page_size=PAGE_SIZE)
                for row in page
            ]
        return self._organizations


# ----------------------------------------------------------------------------------- row preparation
def _coerce_decimal(value: Any) -> Any:
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):  # the client parses floats as Decimal; this is a safety net
        return Decimal(str(value))
    return value


def _coerce_path(node: Any, parts: list[str]) -> None:
    if node is None or not parts:
        return
    head, rest = parts[0], parts[1:]
    many = head.endswith("[]")
    key = head[:-2] if many else head
    if not isinstance(node, dict) or key not in node:
        return
    if many:
        for item in node[key] or ():
            _coerce_path(item, rest)
    elif rest:
        _coerce_path(node[key], rest)
    else:
        node[key] = _coerce_decimal(node[key])


def prepare(endpoint: Endpoint, row: dict[str, Any], extra: dict[str, Any] | None = None) -> dict[str, Any]:
    out = {k: v for k, v in row.items() if k not in endpoint.drop}
    for path in endpoint.decimals:
        _coerce_path(out, path.split("."))
    if extra:
        out.update(extra)
    return out


DELETED_FLAG = "_deleted"  # hard-delete marker: a row carrying it removes the stored row with its key


class _Dedup:
    """Drops rows whose primary key was already seen in this load (skip paging can repeat a row; upsert and
    delete-insert must not get two rows with one key in one load)."""

    def __init__(self, keys: Sequence[str]) -> None:
        self._keys = tuple(keys)
        self.seen: set[tuple[Any, ...]] = set()

    def fresh(self, row: dict[str, Any]) -> bool:
        if not self._keys:
            return True
        key = tuple(row.get(k) for k in self._keys)
        if key in self.seen:
            return False
        self.seen.add(key)
        return True


def _camel(snake: str) -> str:
    head, *rest = snake.split("_")
    return head + "".join(p.title() for p in rest) if head else snake


def _key_fields(endpoint: Endpoint) -> list[str]:
    """API field names of the primary key (`serial_number` -> `serialNumber`, `_id` stays `_id`)."""
    return [k if k.startswith("_") else _camel(k) for k in endpoint.primary_key]


# --------------------------------------------------------------------------------- generic resources
def _pages(ctx: RunContext, endpoint: Endpoint, path: str, params: dict[str, Any]) -> Iterator[list[dict]]:
    if endpoint.paging:
        yield from ctx.client.paginate(path, endpoint.paging, dict(params), page_size=PAGE_SIZE)
        return
    body = ctx.client.get(path, dict(params) or None)
    if isinstance(body, list):
        yield body
    elif body is not None:
        yield [body]


def _fan_out(ctx: RunContext, endpoint: Endpoint) -> Iterator[tuple[str, dict[str, Any]]]:
    """(path, extra columns) for each call of the endpoint."""
    if endpoint.fan_out == "organization":
        for org in ctx.organizations():
            yield endpoint.path.format(id=org["id"]), {"organization_id": org["id"]}
    elif endpoint.fan_out == "kiosk":
        for kiosk in ctx.kiosks():
            yield endpoint.path.format(serial_number=kiosk["serialNumber"]), {}
    else:
        yield endpoint.path, {}


def _listing(ctx: RunContext, endpoint: Endpoint) -> Iterator[list[dict[str, Any]]]:
    dedup = _Dedup(_key_fields(endpoint))
    if endpoint.resource == "kiosks":  # fetched once per run for planning and fan-out: no second request
        yield [prepare(endpoint, r) for r in ctx.kiosks() if dedup.fresh(r)]
        return
    if endpoint.resource == "organizations":
        yield [prepare(endpoint, r) for r in ctx.organizations() if dedup.fresh(r)]
        return
    for path, extra in _fan_out(ctx, endpoint):
        try:
            for page in _pages(ctx, endpoint, path, endpoint.params):
                rows = [prepare(endpoint, r, extra) for r in page]
                batch = [r for r in rows if dedup.fresh(r)]
                if batch:
                    yield batch
        except NotFoundError:  # an organization or kiosk removed since the list was read
            ctx.warn(f"{endpoint.resource}: {path} no longer exists; skipped")


def _scope_guarded(
    ctx: RunContext, name: str, rows: Callable[[], Iterator[Any]]
) -> Callable[[], Iterator[Any]]:
    def guarded() -> Iterator[Any]:
        try:
            yield from rows()
        except ScopeError as error:
            ctx.skip(name, error)

    guarded.__name__ = name
    return guarded


def _advance_cursor(state: dict[str, Any], window: Window, newest: datetime | None) -> None:
    """Record the window's progress in resource state (stored with the load package that carries its rows)."""
    if newest is not None:
        old = state.get("cursor")
        if old is None or to_utc(old) < newest:
            state["cursor"] = api_time(newest)
    if window.end is None:
        state.pop("backfill", None)  # the open window reached the API's now: the backfill is complete
    else:
        state["backfill"] = {"next": api_time(window.end)}
    state["last_window"] = str(window)


def _windowed(
    ctx: RunContext, endpoint: Endpoint, dedup: _Dedup | None = None
) -> Iterator[list[dict[str, Any]]]:
    window = ctx.windows.get(endpoint.resource)
    if window is None:
        return
    assert endpoint.window is not None and endpoint.cursor is not None and endpoint.paging is not None
    state = dlt.current.resource_state()
    dedup = dedup or _Dedup(_key_fields(endpoint))
    newest: datetime | None = None
    count = 0  # rows of the last (newest) range: the density estimate must not count skipped history
    for part in window.ranges():
        params = {
            **endpoint.window.ascending,
            **part.params(endpoint.window.start_param, endpoint.window.end_param),
        }
        count = 0
        for page in ctx.client.paginate(endpoint.path, endpoint.paging, params, page_size=PAGE_SIZE):
            batch = []
            for row in page:
                if not dedup.fresh(row):
                    continue
                moment = to_utc(row[endpoint.cursor])
                newest = moment if newest is None or moment > newest else newest
                batch.append(prepare(endpoint, row))
            count += len(batch)
            if batch:
                yield batch
    density_start = window.ranges()[-1].start
    if newest is not None and count > 1:  # the density the next run's request estimate is based on
        hours = max(1.0, (newest - density_start).total_seconds() / 3600)
        state["rows_per_hour"] = round(count / hours, 3)
    _advance_cursor(state, window, newest)


# --------------------------------------------------------------------------------- special resources
def kiosk_inventory(ctx: RunContext) -> Iterator[list[dict[str, Any]]]:
    """One snapshot per run: every load cell of every kiosk, stamped with the run's single `snapshot_at`."""
    endpoint = BY_NAME["kiosk_inventory"]
    for kiosk in ctx.kiosks():
        serial = kiosk["serialNumber"]
        try:
            cells = ctx.client.get(endpoint.path.format(serial_number=serial))
        except NotFoundError:
            ctx.warn(f"kiosk_inventory: kiosk {serial} no longer exists; skipped")
            continue
        extra = {"kiosk_serial_number": serial, "snapshot_at": ctx.snapshot_at}
        # An empty cell has productLineData null: leave the key out rather than create an untyped column.
        cells = [
            {k: v for k, v in cell.items() if v is not None or k != "productLineData"} for cell in cells or ()
        ]
        yield [prepare(endpoint, cell, extra) for cell in cells]


def organization_product_lines(ctx: RunContext) -> Iterator[list[dict[str, Any]]]:
    """Product lines (current prices) per organization.

    An organization's listing may include its sub-organizations' kiosks, so one product line can come back
    under several organizations; it is kept once, attributed to the organization that owns its kiosk (from the
    kiosk list), so `organization_id` does not depend on the order the organizations were read in.
    """
    endpoint = BY_NAME["organization_product_lines"]
    try:
        owners = {
            k["serialNumber"]: int(k["orgId"]) for k in ctx.kiosks() if str(k.get("orgId", "")).isdigit()
        }
    except ScopeError:
        owners = {}
    dedup = _Dedup(["_id"])
    for org in ctx.organizations():
        path = endpoint.path.format(id=org["id"])
        try:
            lines = ctx.client.get(path)
        except NotFoundError:
            ctx.warn(f"organization_product_lines: {path} no longer exists; skipped")
            continue
        rows = []
        for line in lines or ():
            owner = owners.get(line.get("kioskSerialNumber"), org["id"])
            if owner != org["id"] and owner in {o["id"] for o in ctx.organizations()}:
                continue  # listed again under a parent organization: the owner's listing carries it
            if dedup.fresh(line):
                rows.append(prepare(endpoint, line, {"organization_id": org["id"]}))
        if rows:
            yield rows
    # The listing is the current price list: a line it no longer contains (its cell now holds another product)
    # is deleted from the table. Sales keep their own copy of the price on every line item.
    state = dlt.current.resource_state()
    listed = sorted(str(key[0]) for key in dedup.seen)
    gone = sorted(set(state.get("listed", [])) - set(listed))
    if gone:
        yield [{"_id": line_id, DELETED_FLAG: True} for line_id in gone]
    state["listed"] = listed


def users(ctx: RunContext) -> Iterator[list[dict[str, Any]]]:
    endpoint = BY_NAME["users"]
    dedup = _Dedup(["id"])
    for page in ctx.client.paginate(endpoint.path, "skip", {}, page_size=PAGE_SIZE):
        rows = [r for r in page if dedup.fresh(r)]
        if ctx.options.pseudonymizer is not None:
            rows = [ctx.options.pseudonymizer.user(r) for r in rows]
        yield [prepare(endpoint, r) for r in rows]


def _open_alert_ids(state: dict[str, Any]) -> dict[str, str]:
    return state.setdefault("open", {})  # alert id (as text) -> startDate


def _track_alerts(state: dict[str, Any], rows: Sequence[dict[str, Any]]) -> None:
    open_ids = _open_alert_ids(state)
    for row in rows:
        if row.get("status") == "resolved":
            open_ids.pop(str(row["id"]), None)
        else:
            open_ids[str(row["id"])] = row["startDate"]


def alerts(ctx: RunContext) -> Iterator[list[dict[str, Any]]]:
    """New alerts by start date (windowed) and, in a run's first load, every alert not yet resolved re-read.

    The list has no updated-since filter. Re-reading costs two cheap filtered queries, not a full listing:
    the alerts open now (statuses=open,raised), and, for alerts we hold as open that left that list,
    the resolved alerts of just their start-date range.
    """
    endpoint = BY_NAME["alerts"]
    state = dlt.current.resource_state()
    dedup = _Dedup(["id"])
    if ctx.first_load:
        yield from _reread_unresolved_alerts(ctx, state, dedup)
    if "alerts" in ctx.windows:
        for batch in _windowed(ctx, endpoint, dedup):
            _track_alerts(state, batch)
            yield batch


def _reread_unresolved_alerts(ctx: RunContext, state: dict[str, Any], dedup: _Dedup) -> Iterator[list[dict]]:
    endpoint = BY_NAME["alerts"]
    ordering = {"orderBy": "startDate", "orderDirection": "ASC"}
    still_open: list[dict[str, Any]] = []
    for page in ctx.client.paginate(
        endpoint.path, "offset", {**ordering, "statuses": "open,raised"}, page_size=PAGE_SIZE
    ):
        batch = [prepare(endpoint, r) for r in page if dedup.fresh(r)]
        still_open.extend(batch)
        if batch:
            yield batch
    known_open = _open_alert_ids(state)
    now_open = {str(r["id"]) for r in still_open}
    gone = {alert_id: start for alert_id, start in known_open.items() if alert_id not in now_open}
    if gone:
        starts = sorted(to_utc(s) for s in gone.values())
        params = {
            **ordering,
            "statuses": "resolved",
            "startDateFrom": api_time(starts[0]),
            "startDateTo": api_time(starts[-1] + timedelta(milliseconds=1)),
        }
        for page in ctx.client.paginate(endpoint.path, "offset", params, page_size=PAGE_SIZE):
            batch = [prepare(endpoint, r) for r in page if str(r["id"]) in gone and dedup.fresh(r)]
            if batch:
                yield batch
        for alert_id in gone:  # resolved (or deleted at the vendor): stop re-reading either way
            known_open.pop(alert_id, None)
    _track_alerts(state, still_open)


def temperature(ctx: RunContext) -> Iterator[list[dict[str, Any]]]:
    """Flat rows (one per kiosk, sensor and bucket) for the current window, one request per kiosk."""
    window = ctx.windows.get("temperature")
    if window is None:
        return
    endpoint = BY_NAME["temperature"]
    granularity = ctx.options.temperature_granularity
    state = dlt.current.resource_state()
    path = endpoint.path.format(granularity=granularity)
    newest: datetime | None = None
    dedup = _Dedup(endpoint.primary_key)  # the flat rows carry the key columns under their table names
    for kiosk in ctx.kiosks():
        serial = kiosk["serialNumber"]
        params = {"kioskSerialNumber": serial, **_temperature_range(window, granularity)}
        try:
            series_list = ctx.client.get(path, params)
        except NotFoundError:
            ctx.warn(f"temperature: kiosk {serial} no longer exists; skipped")
            continue
        rows = []
        for series in series_list or ():
            for value in series.get("values") or ():
                bucket = to_utc(value["date"])
                newest = bucket if newest is None or bucket > newest else newest
                rows.append(
                    prepare(
                        endpoint,
                        {
                            "kiosk_serial_number": series.get("kioskSerial") or serial,
                            "kiosk_name": series.get("kioskName"),
                            "sensor_position": series.get("sensorPosition"),
                            "granularity": granularity,
                            "bucket_start": bucket,
                            "value": value.get("value"),
                            "min": value.get("min"),
                            "max": value.get("max"),
                        },
                    )
                )
        rows = [row for row in rows if dedup.fresh(row)]
        if rows:
            yield rows
    _advance_cursor(state, window, newest)


def _temperature_range(window: Window, granularity: str) -> dict[str, str]:
    """startDate/endDate of one temperature request; the open (newest) window gets an explicit end too.

    Without endDate the API ends the window at its own "now": when its clock is behind ours, the newest
    window's start can lie after that and the API answers 400 (endDate before startDate). One maximal window
    after the start is always a valid request; buckets after the API's now simply do not exist yet."""
    if window.end is not None:
        return window.params("startDate", "endDate")
    end = window.start + timedelta(hours=TEMPERATURE_MAX_WINDOW_HOURS[granularity])
    return Window(window.start, end).params("startDate", "endDate")


def promocodes(ctx: RunContext) -> Iterator[list[dict[str, Any]]]:
    """The API cannot list promocodes: read the codes named in configuration, one request each."""
    endpoint = BY_NAME["promocodes"]
    for code in ctx.options.promocodes:
        try:
            body = ctx.client.get(endpoint.path.format(code=code))
        except NotFoundError:
            ctx.warn(f"promocodes: code {code} is unknown to the API; skipped")
            continue
        yield [prepare(endpoint, body)]


SPECIAL: dict[str, Callable[[RunContext], Iterator[list[dict[str, Any]]]]] = {
    "organization_product_lines": organization_product_lines,
    "kiosk_inventory": kiosk_inventory,
    "users": users,
    "alerts": alerts,
    "temperature": temperature,
    "promocodes": promocodes,
}


def build_resource(ctx: RunContext, endpoint: Endpoint) -> DltResource:
    if endpoint.builder:
        special = SPECIAL[endpoint.builder]

        def rows() -> Iterator[Any]:
            return special(ctx)
    elif endpoint.window is not None:

        def rows() -> Iterator[Any]:
            return _windowed(ctx, endpoint)
    else:

        def rows() -> Iterator[Any]:
            return _listing(ctx, endpoint)

    return dlt.resource(
        _scope_guarded(ctx, endpoint.resource, rows),
        name=endpoint.resource,
        write_disposition=endpoint.write_disposition,
        primary_key=list(endpoint.primary_key) or None,
        columns={**decimal_hints(endpoint), **_delete_hint(endpoint)},
    )


def _delete_hint(endpoint: Endpoint) -> dict[str, Any]:
    if endpoint.builder != "organization_product_lines":
        return {}
    return {DELETED_FLAG: {"data_type": "bool", "hard_delete": True, "nullable": True}}


_NAMING = SnakeCaseNaming()


def decimal_hints(endpoint: Endpoint) -> dict[str, Any]:
    """Column hints for the decimal fields stored in the root table (nested dicts flattened with `__`), so a
    column that is null in a whole load still gets its type. List items live in child tables, which take their
    type from the coerced values."""
    hints: dict[str, Any] = {}
    for path in endpoint.decimals:
        if "[]" in path:
            continue
        column = "__".join(_NAMING.normalize_identifier(part) for part in path.split("."))
        hints[column] = {"data_type": "decimal", "nullable": True}
    return hints
