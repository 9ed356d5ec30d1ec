"""The endpoint table: every Livello read endpoint the source syncs, on one screen.

Table names and keys are fixed by docs/decisions.md (users' SQL and the marts depend on them). Primary keys
are given in dlt's snake_case column names. `paging` is the contract's pagination style (None: one un-paged
response). `fan_out` repeats the call per organization or per kiosk, filling `{id}` / `{serial_number}` in the
path. `window` marks incremental endpoints read in ascending order of `cursor` over [start, end] date windows.
`decimals` lists money/measure fields (dotted paths, `[]` for list items) that must arrive as Decimal even
when the API sends an integer, so a column never starts as bigint and later splits into a dlt variant column.
`builder` names a small function in resources.py for endpoints that need more than the generic reader."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Paging = Literal["page", "skip", "offset"]
FanOut = Literal["organization", "kiosk"]


@dataclass(frozen=True)
class WindowSpec:
    """How an incremental endpoint is read over a time window, in ascending cursor order."""

    start_param: str
    end_param: str
    ascending: dict[str, Any]  # the query parameters that request oldest-first order


@dataclass(frozen=True)
class Endpoint:
    resource: str
    path: str
    scope: str
    write_disposition: Any
    primary_key: tuple[str, ...] = ()
    paging: Paging | None = None
    fan_out: FanOut | None = None
    cursor: str | None = None
    window: WindowSpec | None = None
    decimals: tuple[str, ...] = ()
    drop: tuple[str, ...] = ()
    builder: str | None = None
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def incremental(self) -> bool:
        return self.window is not None or self.builder == "temperature"


_CREATED_ASC = WindowSpec("startDate", "endDate", {"sort": 1})  # default sort column: created
_ALERTS_ASC = WindowSpec("startDateFrom", "startDateTo", {"orderBy": "startDate", "orderDirection": "ASC"})
_SCD2 = {"disposition": "merge", "strategy": "scd2"}

# fmt: off
ENDPOINTS: tuple[Endpoint, ...] = (
    # resource / path / scope / write disposition / primary key (snake_case) / reading
    Endpoint("organizations", "/organizations", "organizations:read", "merge", ("id",), paging="skip"),
    Endpoint("vat_rates", "/organizations/{id}/vat", "organizations:read", "merge", ("organization_id", "id"),
             fan_out="organization", decimals=("value",)),
    Endpoint("organization_product_lines", "/organizations/{id}/product-lines", "products:read", "merge",
             ("_id",), fan_out="organization", builder="organization_product_lines",
             decimals=("price", "vatRate")),
    Endpoint("kiosks", "/kiosks", "kiosks:read", "merge", ("serial_number",), paging="page",
             decimals=("latestTemperature", "todaySalesTotal")),
    Endpoint("kiosk_details", "/kiosks/{serial_number}", "kiosks:read", "merge", ("serial_number",),
             fan_out="kiosk", drop=("inventory",), decimals=("controller.preAuth",)),
    Endpoint("kiosk_inventory", "/kiosks/{serial_number}/inventory", "inventory:read", "append",
             fan_out="kiosk", builder="kiosk_inventory",
             decimals=("surfaceSize", "productLineData.price", "productLineData.vatRate",
                       "productLineData.cost")),
    # A full listing every run: scd2 versions changed rows, retires products missing from the listing.
    Endpoint("products", "/products", "products:read", _SCD2, ("id",), paging="page",
             decimals=("cost", "weight", "vatRate")),
    Endpoint("transactions", "/transactions", "transactions:read", "merge", ("id",), paging="skip",
             cursor="created", window=_CREATED_ASC,
             decimals=("total", "discountTotal", "itemsPurchased[].price", "itemsPurchased[].vatRate",
                       "itemsPurchased[].discount", "itemsPurchased[].total", "itemsPurchased[].cost")),
    Endpoint("refills", "/refills", "refills:read", "merge", ("id",), paging="skip",
             cursor="created", window=_CREATED_ASC,
             decimals=("itemsReplenished[].cost", "itemsReplenished[].price")),
    Endpoint("users", "/users", "users:read", "merge", ("id",), paging="skip", builder="users"),
    Endpoint("alerts", "/alerts", "alerts:read", "merge", ("id",), paging="offset",
             cursor="startDate", window=_ALERTS_ASC, builder="alerts"),
    Endpoint("alert_types", "/alerts/types", "alerts:read", "replace"),
    Endpoint("temperature", "/analytics/temperature/{granularity}", "reports:read", "merge",
             ("kiosk_serial_number", "sensor_position", "granularity", "bucket_start"),
             fan_out="kiosk", cursor="bucket_start", builder="temperature", decimals=("value", "min", "max")),
    Endpoint("promocodes", "/promocodes/{code}", "promocodes:read", "merge", ("code",), builder="promocodes",
             decimals=("balance", "config.rules[].discountFlat", "config.rules[].discountPercentage",
                       "config.rules[].cappingFlat", "config.rules[].cappingPercentage")),
)
# fmt: on

BY_NAME: dict[str, Endpoint] = {e.resource: e for e in ENDPOINTS}
RESOURCE_NAMES: tuple[str, ...] = tuple(BY_NAME)
# Read over date windows (checkpointed backfill, cursor + lookback); everything else is a per-run snapshot.
WINDOWED: tuple[str, ...] = tuple(e.resource for e in ENDPOINTS if e.incremental)

# Temperature: the contract caps one request's window per granularity.
TEMPERATURE_MAX_WINDOW_HOURS = {"hourly": 31 * 24, "minutely": 24}
