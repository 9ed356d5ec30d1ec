"""The endpoint table: every Livello read endpoint the source syncs, on one screen.

Each row says everything that makes one endpoint differ from another: its path, scope, table disposition and
key (snake_case column names), paging style, fan-out, how it is read incrementally (cursor, window parameters,
order, how a planner sizes its windows, whether its lookback can be verified by count), and the reader that
turns its responses into rows. Most rows use the generic readers; the special ones are small named functions
in readers.py. Adding a plain paged endpoint is one row here.

Table names and keys are fixed by docs/decisions.md (users' SQL and the marts depend on them). `decimals`
lists money/measure fields (dotted paths, `[]` for list items) that must arrive as Decimal even when the API
sends an integer, so a column never starts as bigint and later splits into a dlt variant column.

The contract has 31 GET paths; these 14 rows sync 14 of them. The other 17, and why not: the 11 analytics
paths besides temperature (sales, top-kiosks, top-products, transaction kpis, peak-hour, daily-profit,
payment-types, product-lifecycle, refill stats, low-stock, product-stats) are aggregates the marts compute
from the raw rows (`livello-sync reconcile` reads them to prove the marts right);
`/kiosks/{serialNumber}/session` is a kiosk's live session (nothing to keep); the five single-record reads
(`/products/{id}`, `/transactions/{id}`, `/refills/{id}`, `/organizations/{id}`, `/users/{id}`) return rows
the listings hold. `/promocodes/{code}` is synced although it is a single-record read, because the API cannot
list promocodes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal

from sources.livello import readers
from sources.livello.config import SourceSettings
from sources.livello.context import RunContext

Paging = Literal["page", "skip", "offset"]
Reader = Callable[[RunContext, "Endpoint"], Iterator[list[dict[str, Any]]]]


@dataclass(frozen=True)
class Order:
    """The query parameters that ask for oldest-first and newest-first order (reading, probing, counting)."""

    ascending: Mapping[str, Any]
    descending: Mapping[str, Any]


@dataclass(frozen=True)
class Incremental:
    """How an endpoint is read over time windows, advancing a cursor kept in resource state.

    `sizing` says how a planner cuts history into windows (each one load): "rows" sizes them from the data's
    density, measured with two limit=1 probes in `order`; "span" uses the longest span the contract allows one
    request (`max_span`, per temperature granularity), which every request of the endpoint must respect.
    `verify_lookback`: the vendor never deletes these rows nor changes their cursor value, so equal counts of
    a range in the API and the warehouse mean nothing is missing (pipelines/lookback.py)."""

    cursor: str
    start_param: str
    end_param: str
    sizing: Literal["rows", "span"] = "rows"
    order: Order | None = None
    verify_lookback: bool = False
    max_span: Mapping[str, timedelta] = field(default_factory=dict)

    def span(self, settings: SourceSettings) -> timedelta | None:
        """The longest window one request may cover (None: unlimited)."""
        return self.max_span.get(settings.temperature_granularity) if self.sizing == "span" else None


@dataclass(frozen=True)
class Changes:
    """A full listing that can also be read most recently changed first (`newest_first`), so that a run stops
    at the newest `cursor` value the last run loaded (less `margin`: a change committed late with an earlier
    time is still caught). Deleted records leave no trace in such a reading: the listing is read in full on
    the first run and every `full_listing_days`, and that full reading replaces the table (and its child
    tables), which retires what it no longer lists and leaves the table's columns what the API sends."""

    cursor: str
    newest_first: Mapping[str, Any]
    margin: timedelta = timedelta(hours=1)


@dataclass(frozen=True)
class FanOut:
    """One call per row of a shared listing: the row's `key` goes into the path placeholder or query parameter
    named `into`, and into column `column` of every row the call returns when given."""

    over: Endpoint
    key: str
    into: str
    column: str | None = None


@dataclass(frozen=True)
class FleetSplit:
    """Where the fleet and its owners are listed, for splitting the fleet across API clients: each kiosk of
    `kiosks` (its `serial` and the organization `owner` it belongs to) and the tree of `organizations` (each
    row's `id` and `parent`)."""

    kiosks: Endpoint
    serial: str
    owner: str
    organizations: Endpoint
    id: str
    parent: str


@dataclass(frozen=True)
class Endpoint:
    resource: str
    path: str
    scope: str
    write_disposition: Any
    primary_key: tuple[str, ...] = ()
    paging: Paging | None = None  # the contract's pagination style (None: one un-paged response)
    fan_out: FanOut | None = None
    incremental: Incremental | None = None
    changes: Changes | None = None
    # None: the generic reader: `read_windows` (incremental), `read_changes` (changes), else `read_listing`.
    reader: Reader | None = None
    decimals: tuple[str, ...] = ()
    types: Mapping[str, str] = field(
        default_factory=dict
    )  # id fields -> dlt data type (as the contract says)
    drop: tuple[str, ...] = ()
    pii: tuple[str, ...] = ()  # personal data, pseudonymized before it leaves the source
    params: Mapping[str, Any] = field(default_factory=dict)
    path_settings: Mapping[str, str] = field(default_factory=dict)  # path placeholder -> SourceSettings field
    shared: bool = False  # read once per run; fan-outs and planning reuse its rows
    each_run: bool = False  # incremental, and also read in every run's first load (re-reading open records)
    configured_by: str | None = None  # a SourceSettings list naming what to read; nothing named: skipped
    deletes_unlisted: bool = False  # a full listing: keys it no longer lists are deleted
    # The rows come inside another endpoint's response (at `embedded_path`), so one request serves both.
    embedded_in: Endpoint | None = None
    embedded_path: tuple[str, ...] = ()
    # The lists in its rows that dlt loads as child tables `<resource>__<list>` (dlt's snake_case of the API
    # field; a nested object's list is `<object>__<list>`); tests/cli checks them against a real sync.
    child_tables: tuple[str, ...] = ()
    # Per-kiosk ("fleet") data: with several API clients each reads it for the kiosks assigned to it only
    # (a fan-out over the kiosk list over those kiosks; a listing filtered by `kiosk_filter`, the query
    # parameter that takes comma-separated serial numbers). Everything else is organization-wide and read
    # once, by the primary client.
    fleet: bool = False
    kiosk_filter: str | None = None
    # The field of a row naming its kiosk (dotted path into nested objects): lets the warehouse count one
    # client's rows of a range for the count-verified lookback (pipelines/lookback.py).
    kiosk_field: str | None = None

    def __post_init__(self) -> None:
        if self.reader is None:
            generic = (
                readers.read_windows
                if self.incremental
                else readers.read_changes
                if self.changes
                else readers.read_listing
            )
            object.__setattr__(self, "reader", generic)
        if self.fan_out is not None:
            assert self.fan_out.over.shared, f"{self.resource} fans out over an unshared listing"
        assert not self.fleet or self.kiosk_filter or self.fan_out, f"{self.resource}: fleet data how?"

    @property
    def scopes(self) -> tuple[str, ...]:
        """Every scope reading this endpoint needs: its own and the fan-out listing's."""
        own = (self.scope,)
        return (
            own
            if self.fan_out is None or self.fan_out.over.scope == self.scope
            else (
                *own,
                self.fan_out.over.scope,
            )
        )

    def configured(self, settings: SourceSettings) -> tuple[str, ...]:
        """The keys configuration names for a `configured_by` endpoint (empty: nothing to read)."""
        return tuple(getattr(settings, self.configured_by)) if self.configured_by else ()

    def reads_in_load(self, *, first_load: bool, has_window: bool) -> bool:
        """Whether the endpoint has work in a load of a planned run (snapshots go in the first load)."""
        if self.incremental is None:
            return first_load
        return has_window or (self.each_run and first_load)


_CREATED = Incremental(
    "created", "startDate", "endDate", order=Order({"sort": 1}, {"sort": -1}), verify_lookback=True
)
_SCD2 = {"disposition": "merge", "strategy": "scd2"}

# fmt: off
ORGANIZATIONS = Endpoint("organizations", "/organizations", "organizations:read", "merge", ("id",),
                         paging="skip", shared=True, types={"id": "bigint"})
KIOSKS = Endpoint("kiosks", "/kiosks", "kiosks:read", "merge", ("serial_number",), paging="page", shared=True,
                  decimals=("latestTemperature", "todaySalesTotal"),
                  types={"serialNumber": "text", "orgId": "text"})
_EACH_ORGANIZATION = FanOut(ORGANIZATIONS, key="id", into="id", column="organization_id")
KIOSK_DETAILS = Endpoint("kiosk_details", "/kiosks/{serial_number}", "kiosks:read", "merge",
                         ("serial_number",), fan_out=FanOut(KIOSKS, key="serialNumber", into="serial_number"),
                         fleet=True,
                         drop=("inventory",), decimals=("controller.preAuth",),
                         types={"serialNumber": "text", "orgId": "text"})

ENDPOINTS: tuple[Endpoint, ...] = (
    ORGANIZATIONS,
    Endpoint("vat_rates", "/organizations/{id}/vat", "organizations:read", "merge", ("organization_id", "id"),
             fan_out=_EACH_ORGANIZATION, decimals=("value",),
             types={"id": "bigint", "organization_id": "bigint"}),
    Endpoint("organization_product_lines", "/organizations/{id}/product-lines", "products:read", "merge",
             ("_id",), fan_out=_EACH_ORGANIZATION, reader=readers.read_product_lines, deletes_unlisted=True,
             decimals=("price", "vatRate"), types={"_id": "text", "productMetaId": "bigint"},
             child_tables=("images",)),
    KIOSKS,
    KIOSK_DETAILS,
    # The cells come with the kiosk detail (KioskDetail.inventory.loadCells, the same LoadCell schema).
    Endpoint("kiosk_inventory", "/kiosks/{serial_number}/inventory", "inventory:read", "append",
             fan_out=FanOut(KIOSKS, key="serialNumber", into="serial_number", column="kiosk_serial_number"),
             reader=readers.read_inventory, fleet=True,
             embedded_in=KIOSK_DETAILS, embedded_path=("inventory", "loadCells"),
             decimals=("surfaceSize", "productLineData.price", "productLineData.vatRate",
                       "productLineData.cost"),
             types={"loadCellId": "bigint", "productLineData.productLineId": "bigint",
                    "productLineData.productMetaId": "bigint"}),
    # A full listing every run: scd2 versions changed rows, retires products missing from the listing.
    Endpoint("products", "/products", "products:read", _SCD2, ("id",), paging="page",
             decimals=("cost", "weight", "vatRate"), types={"id": "bigint"}, child_tables=("images",)),
    Endpoint("transactions", "/transactions", "transactions:read", "merge", ("id",), paging="skip",
             incremental=_CREATED, child_tables=("items_purchased",), fleet=True,
             kiosk_filter="kioskSerialNumbers", kiosk_field="kiosk.serialNumber",
             decimals=("total", "discountTotal", "itemsPurchased[].price", "itemsPurchased[].vatRate",
                       "itemsPurchased[].discount", "itemsPurchased[].total", "itemsPurchased[].cost"),
             types={"id": "bigint", "itemsPurchased[].productMetaId": "bigint",
                    "itemsPurchased[].productLineId": "bigint", "itemsPurchased[].quantity": "bigint"}),
    Endpoint("refills", "/refills", "refills:read", "merge", ("id",), paging="skip", incremental=_CREATED,
             child_tables=("items_replenished",), fleet=True, kiosk_filter="kioskSerialNumbers",
             kiosk_field="kiosk.serialNumber",
             decimals=("itemsReplenished[].cost", "itemsReplenished[].price"),
             types={"id": "bigint", "itemsReplenished[].productMetaId": "bigint",
                    "itemsReplenished[].productLineId": "bigint", "itemsReplenished[].added": "bigint",
                    "itemsReplenished[].removed": "bigint"}),
    Endpoint("users", "/users", "users:read", "merge", ("id",), paging="skip", types={"id": "bigint"},
             changes=Changes("updated", {"sortBy": "updated", "sort": -1}),
             pii=("email", "firstName", "lastName", "mobile", "address"),
             child_tables=("membercards", "roles_in_organizations")),
    # Alerts change after creation (status, isAck, endDate; never their start date) until they are resolved,
    # and the list has no updated-since filter: new ones by start date, and each run re-reads the alerts it
    # holds as not yet resolved; a resolved alert is final, so the lookback is verified like transactions'.
    Endpoint("alerts", "/alerts", "alerts:read", "merge", ("id",), paging="offset", each_run=True,
             fleet=True, kiosk_filter="kioskSerialNumbers", kiosk_field="kioskSerialNumber",
             incremental=Incremental("startDate", "startDateFrom", "startDateTo", order=Order(
                 {"orderBy": "startDate", "orderDirection": "ASC"},
                 {"orderBy": "startDate", "orderDirection": "DESC"}), verify_lookback=True),
             reader=readers.read_alerts),
    Endpoint("alert_types", "/alerts/types", "alerts:read", "replace"),
    Endpoint("temperature", "/analytics/temperature/{granularity}", "reports:read", "merge",
             ("kiosk_serial_number", "sensor_position", "granularity", "bucket_start"),
             fan_out=FanOut(KIOSKS, key="serialNumber", into="kioskSerialNumber"), fleet=True,
             path_settings={"granularity": "temperature_granularity"},
             incremental=Incremental("bucket_start", "startDate", "endDate", sizing="span", max_span={
                 "hourly": timedelta(days=31), "minutely": timedelta(hours=24)}),
             reader=readers.read_temperature, decimals=("value", "min", "max")),
    Endpoint("promocodes", "/promocodes/{code}", "promocodes:read", "merge", ("code",),
             configured_by="promocode_list", reader=readers.read_configured, types={"code": "text"},
             child_tables=("config__rules",),
             decimals=("balance", "config.rules[].discountFlat", "config.rules[].discountPercentage",
                       "config.rules[].cappingFlat", "config.rules[].cappingPercentage")),
)
# fmt: on

FLEET = FleetSplit(KIOSKS, "serialNumber", "orgId", ORGANIZATIONS, "id", "parentOrg")

BY_NAME: dict[str, Endpoint] = {e.resource: e for e in ENDPOINTS}
RESOURCE_NAMES: tuple[str, ...] = tuple(BY_NAME)


def select(names: Iterator[str] | tuple[str, ...] | list[str] | None = None) -> tuple[Endpoint, ...]:
    """The endpoints named (all when None), in table order (shared listings before their fan-outs)."""
    if names is None:
        return ENDPOINTS
    wanted = set(names)
    unknown = sorted(wanted - set(BY_NAME))
    if unknown:
        raise ValueError(f"unknown resources: {', '.join(unknown)}; known: {', '.join(RESOURCE_NAMES)}")
    return tuple(e for e in ENDPOINTS if e.resource in wanted)
