"""The simulator's record store: one DuckDB database holding every generated record.

Routes render these tables; `analytics.py` computes the vendor's analytics from them; `mutations.py`,
`generator.py` and `clock.py` write them. Nothing about the history lives in Python objects.

Conventions (a stable interface: other modules query these names with SQL):
- Timestamps are TIMESTAMPTZ and every connection runs with TimeZone=UTC, so Python receives aware UTC
  datetimes and query parameters may be aware datetimes in any zone. `timezone('Europe/Berlin', created)`
  gives the naive local wall time for rendering and bucketing.
- Money is DECIMAL(12,2) (exact); VAT rates DECIMAL(5,2) in percent (19.00 = 19 %).
- Ids are integers (transaction/refill ids BIGINT) and increase with insertion. `transactions`,
  `transaction_items`, `refills` and `refill_items` are appended in `created` order, so DuckDB's min/max zone
  maps make `created` range scans cheap. Late-arriving backlog rows (clock.upload_backlog) get new, higher ids
  with an older `created`.
- `organization_id` and `kiosk_id` are copied onto the facts so organization scoping and kiosk filters need no
  join: scope with `organization_id IN (SELECT unnest(?))` and `Store.descendant_org_ids`.

Tables, and the endpoint that renders each:

organizations: GET/POST/PATCH /organizations. Nested parent -> child (`parent_id`); type CLIENT | GENERAL |
    MANUFACTURER and currency EUR | CHF | GBP | USD | CZK stored upper case; address, contact, support.
vat_rates: GET /organizations/{id}/vat. VAT rates per organization (`value` in percent).
kiosks: GET /kiosks, GET /kiosks/{serial}. Serial LIV-0001..; `object_id` is the 24-hex `_id`; timezone,
    address, controller config, `network_last_online`; the currency is the organization's. `popularity` is
    the generator's demand weight (not rendered).
load_cells: GET /kiosks/{serial}/inventory (LoadCell). 20-40 per kiosk; `cell_id` 1.. within the kiosk;
    planogram position (row letter + column: A1, A2, ..), surface size, capacity in units.
products: GET/POST/PATCH/DELETE /products (Product). Catalog meta; `price` is the current default gross
    price, `vat_rate` in percent; `deleted` products are hidden from the API but kept for history.
product_prices: price history of a product's default price and cost (`valid_from`); the newest row equals
    `products.price` / `products.cost`.
product_lines: a product bound to a load cell (at most one active line per cell); `price` is the current
    price (the newest product_line_prices row). Rendered by GET /organizations/{id}/product-lines
    (OrganizationProductLine) and as ProductLineData in the inventory.
product_line_prices: PATCH /product-lines/{id}/price (ProductLinePrice). Price history; `valid_to` is null
    while current.
inventory: ProductLineData.count / nextExpirationDate and low-stock. Current units per load cell, always
    within [0, capacity].
users: GET/POST/PATCH /users (User). `role` is the role in `organization_id`; `membercards` VARCHAR[].
transactions: GET /transactions (Transaction). Purchase sessions, including those that ended without purchase
    (total 0, no items) and unpaid ones; payment fields; `total` = sum of line totals, `discount_total` = sum
    of line discounts; `uploaded_at` is when the row became visible (later than `created` for a backlog).
transaction_items: Transaction.itemsPurchased (TransactionItem). `line_number` from 1; name and ean as at the
    time of sale; total = quantity * price - discount; `cost` is the unit cost; created, kiosk_id and
    organization_id are copied from the transaction for cheap analytics scans.
refills: GET /refills (Refill). Restocking sessions, type manual | pin, operator.
refill_items: Refill.itemsReplenished (RefillItem). added, removed (including removed_expired), unit cost and
    price, expiration date of the added batch (null for products without shelf life).
alert_types: GET /alerts/types (AlertType).
alerts: GET /alerts (Alert). Status open | raised | resolved, is_ack, start/end dates, updated_at; ack_at,
    raise_at and resolve_at hold the alert's planned future (not rendered).
temperature_sensors: GET /analytics/temperature/*. 2-3 sensors (top | middle | bottom) per kiosk with the
    parameters of a deterministic minutely signal; values are computed on demand by
    `analytics.temperature_minutes`, so minutely and hourly answers always agree.
temperature_excursions: periods in which a sensor runs warm (peaks above 7 degC), added to the base signal.
sessions: GET /kiosks/{serial}/session (Session). The current or most recent session of each kiosk.
promocode_configs: Promocode.config. Enabled flag of an organization's promocode configuration.
promocode_rules: PromocodeConfig.rules (PromocodeRule).
promocodes: GET /promocodes/{code}, POST /promocodes (Promocode). Five-digit codes.
promocode_eligibility: POST /promocodes/eligibility. Which product lines a configuration applies to.
fact_day_counts: rows of `transactions` / `refills` per UTC day and kiosk, kept by the generator, the clock
    and the backlog upload; `Store.page_slice` uses it to count and to narrow a page's `created` range
    without scanning millions of rows.
sim_state: key/value state of the simulator (`now`, `seed`, ...).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

Params = Sequence[Any] | dict[str, Any] | None
# Distinct memo keys are few (scopes x filters x windows in use); the bound (a year of day counts is ~40 kB)
# caps the memory a client that varies its windows endlessly can make the memo hold.
_MEMO_MAX_ENTRIES = 512

# The columns every line of a purchase or a refill has, copied from its header (created, kiosk, organization)
# and from the product line as it was at that moment.
_LINE_COLUMNS = """\
    line_number SMALLINT NOT NULL,
    created TIMESTAMPTZ NOT NULL,
    kiosk_id INTEGER NOT NULL,
    organization_id INTEGER NOT NULL,
    product_line_id INTEGER NOT NULL,
    product_id INTEGER NOT NULL,
    name VARCHAR NOT NULL,
    ean VARCHAR,
    planogram_position VARCHAR NOT NULL,
"""

SCHEMA_DDL = """
CREATE TABLE IF NOT EXISTS organizations (
    id INTEGER PRIMARY KEY,
    name VARCHAR NOT NULL,
    slug VARCHAR,
    type VARCHAR NOT NULL,              -- CLIENT | GENERAL | MANUFACTURER
    description VARCHAR,
    image_url VARCHAR,
    address VARCHAR,
    postal_code VARCHAR,
    city VARCHAR,
    state VARCHAR,
    country VARCHAR NOT NULL,
    country_code VARCHAR,
    currency VARCHAR NOT NULL,          -- EUR | CHF | GBP | USD | CZK
    parent_id INTEGER,
    ean_prefix VARCHAR,
    contact_person VARCHAR,
    contact_role VARCHAR,
    contact_email VARCHAR,
    contact_phone VARCHAR,
    support_email VARCHAR,
    support_hotline VARCHAR,
    support_hotline_availability VARCHAR,
    privacy_policy_url VARCHAR,
    terms_url VARCHAR,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE TABLE IF NOT EXISTS vat_rates (
    id INTEGER PRIMARY KEY,
    organization_id INTEGER NOT NULL,
    name VARCHAR NOT NULL,
    value DECIMAL(5,2) NOT NULL,
    country_code VARCHAR NOT NULL
);
CREATE TABLE IF NOT EXISTS kiosks (
    id INTEGER PRIMARY KEY,
    object_id VARCHAR NOT NULL,         -- KioskDetail._id (24 hex)
    serial_number VARCHAR NOT NULL UNIQUE,
    name VARCHAR NOT NULL,
    organization_id INTEGER NOT NULL,
    timezone VARCHAR NOT NULL,
    street VARCHAR,
    postal_code VARCHAR,
    city VARCHAR,
    country_code VARCHAR NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    network_last_online TIMESTAMPTZ NOT NULL,
    pre_auth DECIMAL(12,2),
    tablet_lang VARCHAR,
    tablet_font VARCHAR,
    payment_type VARCHAR,
    minimum_age INTEGER,
    service_check_enabled BOOLEAN,
    service_check_interval_days INTEGER,
    popularity DOUBLE NOT NULL          -- demand weight used by the generator, not rendered
);
CREATE TABLE IF NOT EXISTS load_cells (
    id INTEGER PRIMARY KEY,
    kiosk_id INTEGER NOT NULL,
    cell_id INTEGER NOT NULL,           -- 1.. within the kiosk
    planogram_position VARCHAR NOT NULL,
    surface_size DOUBLE NOT NULL,
    capacity INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS products (
    id INTEGER PRIMARY KEY,
    organization_id INTEGER NOT NULL,
    name VARCHAR NOT NULL,
    description VARCHAR,
    category VARCHAR,
    manufacturer VARCHAR NOT NULL,
    article_number VARCHAR,
    ean VARCHAR,
    price DECIMAL(12,2) NOT NULL,       -- current default gross price
    cost DECIMAL(12,2) NOT NULL,        -- current default unit cost
    vat_rate DECIMAL(5,2),
    vat_id INTEGER,
    weight DOUBLE NOT NULL,
    weight_unit VARCHAR NOT NULL,
    shelf_life_days INTEGER,
    image_url VARCHAR,
    nutrition VARCHAR,                  -- JSON text of ProductMetaNutritionInput, or null
    dietary_info VARCHAR,               -- JSON text of ProductMetaDietaryInfoInput, or null
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    deleted BOOLEAN NOT NULL DEFAULT false,
    deleted_at TIMESTAMPTZ
);
CREATE TABLE IF NOT EXISTS product_prices (
    product_id INTEGER NOT NULL,
    valid_from TIMESTAMPTZ NOT NULL,
    price DECIMAL(12,2) NOT NULL,
    cost DECIMAL(12,2) NOT NULL
);
CREATE TABLE IF NOT EXISTS product_lines (
    id INTEGER PRIMARY KEY,
    load_cell_id INTEGER NOT NULL,
    kiosk_id INTEGER NOT NULL,
    product_id INTEGER NOT NULL,
    price DECIMAL(12,2) NOT NULL,       -- current price (newest product_line_prices row)
    vat_rate DECIMAL(5,2) NOT NULL,
    valid_from TIMESTAMPTZ NOT NULL,    -- when the product was bound to the cell
    active BOOLEAN NOT NULL DEFAULT true,
    promocode_eligible BOOLEAN NOT NULL DEFAULT false
);
CREATE TABLE IF NOT EXISTS product_line_prices (
    id INTEGER PRIMARY KEY,
    product_line_id INTEGER NOT NULL,
    price DECIMAL(12,2) NOT NULL,
    valid_from TIMESTAMPTZ NOT NULL,
    valid_to TIMESTAMPTZ                -- null while current
);
CREATE TABLE IF NOT EXISTS inventory (
    load_cell_id INTEGER PRIMARY KEY,
    product_line_id INTEGER,
    count INTEGER NOT NULL,
    next_expiration_date DATE,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE TABLE IF NOT EXISTS users (
    id INTEGER PRIMARY KEY,
    email VARCHAR NOT NULL,
    first_name VARCHAR NOT NULL,
    last_name VARCHAR NOT NULL,
    status VARCHAR NOT NULL,            -- ACTIVE | INACTIVE
    root BOOLEAN NOT NULL,
    lang VARCHAR NOT NULL,              -- en | de | it | fr
    terms_accepted BOOLEAN NOT NULL,
    mobile VARCHAR,
    organization_id INTEGER NOT NULL,
    role VARCHAR NOT NULL,              -- CUSTOMER | OPERATOR | ADMIN | MANAGER
    membercards VARCHAR[] NOT NULL,
    note VARCHAR,
    avatar_url VARCHAR,
    address VARCHAR,
    city VARCHAR,
    postal_code VARCHAR,
    country VARCHAR,
    created TIMESTAMPTZ NOT NULL,
    updated TIMESTAMPTZ NOT NULL
);
CREATE TABLE IF NOT EXISTS transactions (
    id BIGINT NOT NULL,
    created TIMESTAMPTZ NOT NULL,
    kiosk_id INTEGER NOT NULL,
    organization_id INTEGER NOT NULL,
    user_id INTEGER NOT NULL,
    is_paid BOOLEAN NOT NULL,
    ended_with_purchase BOOLEAN NOT NULL,
    payment_type VARCHAR NOT NULL,      -- CARD | MEMBERCARD | FREE
    card_type VARCHAR,                  -- Visa | Mastercard | Girocard | Amex | Maestro | null
    payment_card_type VARCHAR,          -- Credit | Debit | null
    membercard_id VARCHAR,
    external_transaction_id VARCHAR NOT NULL,
    session_closed_at TIMESTAMPTZ,
    item_count INTEGER NOT NULL,        -- number of lines
    total DECIMAL(12,2) NOT NULL,
    discount_total DECIMAL(12,2) NOT NULL,
    currency VARCHAR NOT NULL,
    uploaded_at TIMESTAMPTZ NOT NULL
);
CREATE TABLE IF NOT EXISTS transaction_items (
    transaction_id BIGINT NOT NULL,
{line_columns}    quantity INTEGER NOT NULL,
    price DECIMAL(12,2) NOT NULL,
    vat_rate DECIMAL(5,2) NOT NULL,
    discount DECIMAL(12,2) NOT NULL,
    total DECIMAL(12,2) NOT NULL,
    cost DECIMAL(12,2) NOT NULL
);
CREATE TABLE IF NOT EXISTS refills (
    id BIGINT NOT NULL,
    created TIMESTAMPTZ NOT NULL,
    kiosk_id INTEGER NOT NULL,
    organization_id INTEGER NOT NULL,
    type VARCHAR NOT NULL,              -- manual | pin
    operator_user_id INTEGER,
    session_closed_at TIMESTAMPTZ,
    uploaded_at TIMESTAMPTZ NOT NULL
);
CREATE TABLE IF NOT EXISTS refill_items (
    refill_id BIGINT NOT NULL,
{line_columns}    added INTEGER NOT NULL,
    removed INTEGER NOT NULL,           -- all units taken out, including the expired ones
    removed_expired INTEGER NOT NULL,
    cost DECIMAL(12,2) NOT NULL,
    price DECIMAL(12,2) NOT NULL,
    expiration_date DATE
);
CREATE TABLE IF NOT EXISTS alert_types (
    type VARCHAR PRIMARY KEY,
    category VARCHAR NOT NULL,
    default_severity VARCHAR NOT NULL,  -- low | mid | high
    description VARCHAR NOT NULL
);
CREATE TABLE IF NOT EXISTS alerts (
    id INTEGER PRIMARY KEY,
    type VARCHAR NOT NULL,
    category VARCHAR NOT NULL,
    severity VARCHAR NOT NULL,          -- low | mid | high
    status VARCHAR NOT NULL,            -- open | raised | resolved
    is_ack BOOLEAN NOT NULL,
    kiosk_id INTEGER NOT NULL,
    organization_id INTEGER NOT NULL,
    message VARCHAR NOT NULL,
    start_date TIMESTAMPTZ NOT NULL,
    end_date TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    -- the alert's planned future (not rendered): the clock applies each step once its time has come
    ack_at TIMESTAMPTZ,
    raise_at TIMESTAMPTZ,
    resolve_at TIMESTAMPTZ
);
CREATE TABLE IF NOT EXISTS temperature_sensors (
    kiosk_id INTEGER NOT NULL,
    position VARCHAR NOT NULL,          -- top | middle | bottom
    base_celsius DOUBLE NOT NULL,       -- mean temperature
    daily_amplitude DOUBLE NOT NULL,    -- warmer in the afternoon (door openings)
    noise_celsius DOUBLE NOT NULL,      -- amplitude of the per-minute noise
    noise_key BIGINT NOT NULL,          -- salt of the deterministic per-minute noise
    PRIMARY KEY (kiosk_id, position)
);
CREATE TABLE IF NOT EXISTS temperature_excursions (
    kiosk_id INTEGER NOT NULL,
    position VARCHAR NOT NULL,
    start_at TIMESTAMPTZ NOT NULL,      -- first affected minute
    end_at TIMESTAMPTZ NOT NULL,        -- first unaffected minute
    peak_celsius DOUBLE NOT NULL        -- temperature added at the middle of the excursion (triangular shape)
);
CREATE TABLE IF NOT EXISTS sessions (
    kiosk_id INTEGER PRIMARY KEY,
    status VARCHAR NOT NULL,            -- OPEN | CLOSED
    type VARCHAR NOT NULL,              -- purchase | refill
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    is_terminal BOOLEAN NOT NULL,
    session_closed_at TIMESTAMPTZ,
    ended_with_purchase BOOLEAN NOT NULL,
    external_transaction_id VARCHAR
);
CREATE TABLE IF NOT EXISTS promocode_configs (
    id INTEGER PRIMARY KEY,
    organization_id INTEGER NOT NULL,
    enabled BOOLEAN NOT NULL
);
CREATE TABLE IF NOT EXISTS promocode_rules (
    id INTEGER PRIMARY KEY,
    config_id INTEGER NOT NULL,
    day INTEGER NOT NULL,
    reset_amount DECIMAL(12,2) NOT NULL,
    type VARCHAR NOT NULL,              -- percentage | flat
    capping_enabled BOOLEAN NOT NULL,
    discount_flat DECIMAL(12,2),
    discount_percentage DECIMAL(5,2),
    capping_flat DECIMAL(12,2),
    capping_percentage DECIMAL(5,2),
    min_cart DECIMAL(12,2),
    description VARCHAR
);
CREATE TABLE IF NOT EXISTS promocodes (
    id INTEGER PRIMARY KEY,
    code VARCHAR NOT NULL UNIQUE,
    balance DECIMAL(12,2) NOT NULL,
    enabled BOOLEAN NOT NULL,
    working_duration_start TIMESTAMPTZ NOT NULL,
    working_duration_end TIMESTAMPTZ NOT NULL,
    organization_id INTEGER NOT NULL,
    config_id INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS promocode_eligibility (
    config_id INTEGER,
    organization_id INTEGER NOT NULL,
    product_line_id INTEGER NOT NULL,
    enabled BOOLEAN NOT NULL,
    valid_to TIMESTAMPTZ,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE TABLE IF NOT EXISTS fact_day_counts (
    fact VARCHAR NOT NULL,              -- transactions | refills
    day DATE NOT NULL,                  -- UTC day of `created`
    kiosk_id INTEGER NOT NULL,
    organization_id INTEGER NOT NULL,
    n BIGINT NOT NULL,
    PRIMARY KEY (fact, day, kiosk_id)
);
CREATE TABLE IF NOT EXISTS sim_state (
    key VARCHAR PRIMARY KEY,
    value VARCHAR NOT NULL
);
""".replace("{line_columns}", _LINE_COLUMNS)

TABLES: tuple[str, ...] = (
    "organizations",
    "vat_rates",
    "kiosks",
    "load_cells",
    "products",
    "product_prices",
    "product_lines",
    "product_line_prices",
    "inventory",
    "users",
    "transactions",
    "transaction_items",
    "refills",
    "refill_items",
    "alert_types",
    "alerts",
    "temperature_sensors",
    "temperature_excursions",
    "sessions",
    "promocode_configs",
    "promocode_rules",
    "promocodes",
    "promocode_eligibility",
    "fact_day_counts",
    "sim_state",
)


FACT_TABLES = ("transactions", "refills")


@dataclass(frozen=True)
class PageSlice:
    """What `Store.page_slice` found: rows skip..skip+limit of the order are rows offset..offset+limit of the
    same order among rows with `lo <= created <= hi` (None = unbounded); `empty` when skip >= total."""

    total: int
    lo: datetime | None
    hi: datetime | None
    offset: int
    empty: bool = False


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_TICK = timedelta(microseconds=1)  # TIMESTAMPTZ resolution: a bucket [a, b) is [a, b - _TICK] inclusive
# Above this many rows on a page's days, `page_slice` narrows the page to whole hours.
_REFINE_ABOVE_ROWS = 2_000


def _walk(counts: dict[Any, int], skip: int, limit: int, descending: bool) -> tuple[Any, Any, int, int]:
    """Over buckets (days, hours) in order, the first and last bucket holding rows skip..skip+limit, the rows
    in the buckets before the first, and the rows in first..last. Requires skip < sum(counts)."""
    keys = sorted((k for k, n in counts.items() if n), reverse=descending)
    before = 0
    first = 0
    while before + counts[keys[first]] <= skip:
        before += counts[keys[first]]
        first += 1
    last, seen = first, before + counts[keys[first]]
    while seen < skip + limit and last + 1 < len(keys):
        last += 1
        seen += counts[keys[last]]
    return keys[first], keys[last], before, seen - before


def add_range(conds: list[str], params: list[Any], column: str, lo: Any, hi: Any) -> None:
    """Append `column >= lo` and `column <= hi` for the bounds that are not None (the API's windows are
    inclusive on both ends)."""
    for operator, bound in ((">=", lo), ("<=", hi)):
        if bound is not None:
            conds.append(f"{column} {operator} ?")
            params.append(bound)


def _int_in(column: str, values: Sequence[int]) -> str:
    if not values:
        return "FALSE"
    return f"{column} IN ({', '.join(str(int(v)) for v in values)})"


class Store:
    """One DuckDB database (in memory unless `path` is given), safe to share between server threads.

    Reads run on a per-thread cursor (DuckDB cursors are independent connections to the same database, so
    reads run concurrently). Writes go through `write()`, which serializes writers with a lock and wraps them
    in one transaction, so a reader never sees half a mutation.
    """

    def __init__(
        self, path: str | None = None, *, threads: int | None = None, memory_limit: str | None = None
    ) -> None:
        self.path = path or ":memory:"
        self._conn = duckdb.connect(self.path)
        self._conn.execute("SET TimeZone = 'UTC'")
        if threads:
            self._conn.execute(f"SET threads = {int(threads)}")
        if memory_limit:
            self._conn.execute(f"SET memory_limit = '{memory_limit}'")
        self._conn.execute(SCHEMA_DDL)
        self._local = threading.local()
        self._write_lock = threading.RLock()
        self._cursors: list[duckdb.DuckDBPyConnection] = []
        self._cursors_lock = threading.Lock()
        # Read-side memo of small derived answers (see `memo`), valid while `_version` is unchanged.
        self._version = 0
        self._memo: dict[Hashable, tuple[int, Any]] = {}

    # -- connections -----------------------------------------------------------------------------------------
    def cursor(self) -> duckdb.DuckDBPyConnection:
        """This thread's cursor (created on first use, TimeZone=UTC)."""
        cur = getattr(self._local, "cursor", None)
        if cur is None:
            cur = self._conn.cursor()
            cur.execute("SET TimeZone = 'UTC'")
            self._local.cursor = cur
            with self._cursors_lock:
                self._cursors.append(cur)
        return cur

    @property
    def connection(self) -> duckdb.DuckDBPyConnection:
        """The owning connection; only for bulk loading by the generator (single-threaded, before serving)."""
        return self._conn

    def close(self) -> None:
        with self._cursors_lock:
            for cur in self._cursors:
                with suppress(duckdb.Error):
                    cur.close()
            self._cursors.clear()
        self._conn.close()

    # -- reads -----------------------------------------------------------------------------------------------
    def query(self, sql: str, params: Params = None) -> list[tuple[Any, ...]]:
        return self.cursor().execute(sql, params or []).fetchall()

    def query_dicts(self, sql: str, params: Params = None) -> list[dict[str, Any]]:
        """Rows as dicts. Goes through Arrow: DuckDB's row-by-row conversion of DECIMAL and TIMESTAMPTZ values
        costs ~40 us per value, Arrow's batch conversion a fraction of that (same Python types)."""
        table = self.cursor().execute(sql, params or []).to_arrow_table()
        # HUGEINT (e.g. sum() of integers) arrives as decimal128(38, 0); fetchall() gives int, so do the same.
        for i, f in enumerate(table.schema):
            if pa.types.is_decimal(f.type) and f.type.scale == 0:
                table = table.set_column(i, f.name, pc.cast(table.column(i), pa.int64()))
        return table.to_pylist()

    def query_records(self, sql: str, params: Params = None) -> list[dict[str, Any]]:
        """Rows as dicts straight from DuckDB's row conversion: cheaper than `query_dicts` for a few rows of
        integers, doubles and strings (no DECIMAL or TIMESTAMPTZ columns, which convert slowly this way)."""
        cur = self.cursor().execute(sql, params or [])
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    def query_one(self, sql: str, params: Params = None) -> tuple[Any, ...] | None:
        return self.cursor().execute(sql, params or []).fetchone()

    def scalar(self, sql: str, params: Params = None) -> Any:
        row = self.query_one(sql, params)
        return None if row is None else row[0]

    # -- writes ----------------------------------------------------------------------------------------------
    @contextmanager
    def write(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A cursor inside one transaction, exclusive among writers;
        commits on success, rolls back on error."""
        with self._write_lock:
            cur = self.cursor()
            cur.execute("BEGIN TRANSACTION")
            try:
                try:
                    yield cur
                except BaseException:
                    cur.execute("ROLLBACK")
                    raise
                cur.execute("COMMIT")
            finally:
                # After the commit: no memo computed from an older snapshot is served again.
                self._version += 1

    def memo(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        """`compute()`, remembered until the next write: for small answers that every request needs (scope,
        per-day counts). The version is read before computing, so a value computed while a write commits is
        stored under the old version and never served afterwards. Callers must not mutate the value."""
        version = self._version
        hit = self._memo.get(key)
        if hit is not None and hit[0] == version:
            return hit[1]
        value = compute()
        if len(self._memo) >= _MEMO_MAX_ENTRIES:
            self._memo.clear()
        self._memo[key] = (version, value)
        return value

    # -- state and helpers -----------------------------------------------------------------------------------
    def get_state(self, key: str) -> str | None:
        return self.scalar("SELECT value FROM sim_state WHERE key = ?", [key])

    def set_state(self, key: str, value: str, cur: duckdb.DuckDBPyConnection | None = None) -> None:
        (cur or self.cursor()).execute("INSERT OR REPLACE INTO sim_state VALUES (?, ?)", [key, value])

    def next_id(self, table: str, cur: duckdb.DuckDBPyConnection | None = None) -> int:
        """The next free integer id of `table` (callers hold `write()`, so two writers never share an id)."""
        if table not in TABLES:
            raise ValueError(f"unknown table {table!r}")
        row = (cur or self.cursor()).execute(f"SELECT coalesce(max(id), 0) + 1 FROM {table}").fetchone()
        return int(row[0])

    @property
    def now(self) -> datetime | None:
        """The simulator's clock as persisted by the generator or the clock (aware UTC); None if empty."""
        value = self.get_state("now")
        return None if value is None else datetime.fromisoformat(value)

    def descendant_org_ids(self, org_id: int) -> list[int]:
        """`org_id` and every organization below it (the scoping rule of the contract); [] if unknown."""
        return list(self.memo(("descendant_org_ids", org_id), lambda: self._descendant_org_ids(org_id)))

    def _descendant_org_ids(self, org_id: int) -> tuple[int, ...]:
        rows = self.query(
            """
            WITH RECURSIVE tree(id) AS (
                SELECT id FROM organizations WHERE id = ?
                UNION
                SELECT o.id FROM organizations o JOIN tree t ON o.parent_id = t.id
            )
            SELECT id FROM tree ORDER BY id
            """,
            [org_id],
        )
        return tuple(r[0] for r in rows)

    def all_org_ids(self) -> list[int]:
        return [r[0] for r in self.query("SELECT id FROM organizations ORDER BY id")]

    def kiosk_id(self, serial_number: str) -> int | None:
        return self.scalar("SELECT id FROM kiosks WHERE serial_number = ?", [serial_number])

    # -- fast paging over the large fact tables --------------------------------------------------------------
    def refresh_day_counts(self, table: str, first_day: date, last_day: date, cur=None) -> None:
        """Recounts `fact_day_counts` of `table` for the UTC days first_day..last_day (after inserts)."""
        if table not in FACT_TABLES:
            raise ValueError(f"not a fact table: {table!r}")
        c = cur or self.cursor()
        self._version += 1
        lo = datetime.combine(first_day, time(), UTC)
        hi = datetime.combine(last_day + timedelta(days=1), time(), UTC)
        c.execute(
            "DELETE FROM fact_day_counts WHERE fact = ? AND day BETWEEN ? AND ?", [table, first_day, last_day]
        )
        c.execute(
            f"""INSERT INTO fact_day_counts
                SELECT ?, CAST(created AS DATE), kiosk_id, any_value(organization_id), count(*)
                FROM {table} WHERE created >= ? AND created < ? GROUP BY 2, 3""",
            [table, lo, hi],
        )

    def _day_counts(
        self,
        table: str,
        org_ids: Sequence[int] | None,
        kiosk_ids: Sequence[int] | None,
        start: datetime | None,
        end: datetime | None,
    ) -> dict[date, int]:
        """Rows of `table` per UTC day matching scope/kiosks/[start, end], exact also for the window's partial
        edge days (those two are counted on the fact table, which zone maps prune to about a day's rows)."""
        if table not in FACT_TABLES:
            raise ValueError(f"not a fact table: {table!r}")
        # Ids are integers: inlined literals are cheaper for DuckDB than a bound list (a semi-join).
        scope = []
        if org_ids is not None:
            scope.append(_int_in("organization_id", org_ids))
        if kiosk_ids is not None:
            scope.append(_int_in("kiosk_id", kiosk_ids))
        conds, params = ["fact = ?", *scope], [table]
        start_day = None if start is None else start.astimezone(UTC).date()
        end_day = None if end is None else end.astimezone(UTC).date()
        add_range(conds, params, "day", start_day, end_day)
        per_day: dict[date, int] = {
            d: int(n)
            for d, n in self.query(
                f"SELECT day, sum(n) FROM fact_day_counts WHERE {' AND '.join(conds)} GROUP BY 1", params
            )
        }
        for day in {d for d in (start_day, end_day) if d is not None and d in per_day}:
            day_start = datetime.combine(day, time(), UTC)
            day_end = datetime.combine(day + timedelta(days=1), time(), UTC)
            where = ["created >= ?", "created < ?", *scope]
            exact_params: list[Any] = [max(day_start, start) if start else day_start, day_end]
            if end is not None and end < day_end:
                where[1] = "created <= ?"
                exact_params[1] = end
            per_day[day] = int(
                self.scalar(f"SELECT count(*) FROM {table} WHERE {' AND '.join(where)}", exact_params)
            )
        return per_day

    def page_slice(
        self,
        table: str,
        *,
        org_ids: Sequence[int] | None = None,
        kiosk_ids: Sequence[int] | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        skip: int = 0,
        limit: int = 100,
        descending: bool = True,
    ) -> PageSlice:
        """Where rows skip..skip+limit (ordered by `created`, then `id`, DESC by default) of `table` matching
        scope/kiosks/[start, end] lie: they are rows offset..offset+limit of the same order restricted to
        `created BETWEEN lo AND hi`. The range is cut at whole UTC days on both sides (so the order inside it
        is the global order) and holds the days of the page only, so a deep skip reads a day or two of rows
        instead of everything before it; when those days hold more than `_REFINE_ABOVE_ROWS` rows it is cut
        further, at whole hours. `empty` when skip is past the last row (no query needed).

        The counts are memoized until the next write, so paging through a window costs one count query, and
        the page query then sorts at most a few thousand rows."""
        scope = None if org_ids is None else tuple(org_ids)
        kiosks = None if kiosk_ids is None else tuple(kiosk_ids)
        # Paging a window asks for the same counts once per page: remember them until the next write.
        per_day: dict[date, int] = self.memo(
            ("day_counts", table, scope, kiosks, start, end),
            lambda: self._day_counts(table, scope, kiosks, start, end),
        )
        total = sum(per_day.values())
        if skip >= total:
            return PageSlice(total, start, end, skip, empty=True)
        first, last, before, rows = _walk(per_day, skip, limit, descending)
        oldest, newest = (last, first) if descending else (first, last)
        lo = datetime.combine(oldest, time(), UTC)
        hi = datetime.combine(newest + timedelta(days=1), time(), UTC) - _TICK
        lo = max(lo, start) if start else lo
        hi = min(hi, end) if end else hi
        if rows <= _REFINE_ABOVE_ROWS:
            return PageSlice(total, lo, hi, skip - before)
        # Many rows on the page's days (an unfiltered fleet: ~15,000 a day): narrow to whole hours as well,
        # so the ORDER BY sorts a few hundred rows and the OFFSET stays small.
        per_hour: dict[int, int] = self.memo(
            ("hour_counts", table, scope, kiosks, lo, hi),
            lambda: self._hour_counts(table, scope, kiosks, lo, hi),
        )
        if sum(per_hour.values()) != rows:  # counts out of step (a write in between): stay with the days
            return PageSlice(total, lo, hi, skip - before)
        first_h, last_h, before_h, _ = _walk(per_hour, skip - before, limit, descending)
        oldest_h, newest_h = (last_h, first_h) if descending else (first_h, last_h)
        lo = max(lo, _EPOCH + timedelta(hours=oldest_h))
        hi = min(hi, _EPOCH + timedelta(hours=newest_h + 1) - _TICK)
        return PageSlice(total, lo, hi, skip - before - before_h)

    def _hour_counts(
        self,
        table: str,
        org_ids: Sequence[int] | None,
        kiosk_ids: Sequence[int] | None,
        lo: datetime,
        hi: datetime,
    ) -> dict[int, int]:
        """Rows of `table` per hour since the epoch in [lo, hi] (a day or two: zone maps limit the scan)."""
        where = ["created >= ?", "created <= ?"]
        if org_ids is not None:
            where.append(_int_in("organization_id", org_ids))
        if kiosk_ids is not None:
            where.append(_int_in("kiosk_id", kiosk_ids))
        rows = self.query(
            f"SELECT epoch_us(created) // 3600000000, count(*) FROM {table} "
            f"WHERE {' AND '.join(where)} GROUP BY 1",
            [lo, hi],
        )
        return {int(h): int(n) for h, n in rows}

    def counts(self) -> dict[str, int]:
        """Row count of every table (for logs, tests and benchmarks)."""
        return {t: int(self.scalar(f"SELECT count(*) FROM {t}")) for t in TABLES}
