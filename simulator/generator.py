"""Deterministic, vectorized generation of the simulator's records.

`generate(store, config)` builds the reference data (organizations, catalog, kiosks, load cells, users, ...)
and then plays the history forward in windows of at most a week with `simulate_window`, the same function the
clock uses when time advances. So history and "live" data follow one set of rules, memory stays bounded by the
window size, and ids increase with `created` (which keeps DuckDB's zone maps effective for time-range scans).

Randomness comes from numpy generators seeded by (seed, purpose, window bounds): the same (seed, kiosks, days,
now) always gives the same store. No Python loop runs per purchase; loops run per kiosk or per window only.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa

from simulator import data
from simulator.config import SimConfig
from simulator.store import FACT_TABLES, Store

WINDOW = timedelta(days=7)
MS = 1000
HOUR_MS = 3_600_000

# Share of a day's sessions per local hour: night trickle, breakfast, a lunch peak, afternoon coffee.
_HOUR_WEIGHTS = np.array(
    [
        0.2,
        0.1,
        0.1,
        0.1,
        0.1,
        0.3,
        1.0,
        3.0,
        5.5,
        5.0,
        4.0,
        6.0,
        11.0,
        10.0,
        5.5,
        4.5,
        4.5,
        4.0,
        3.0,
        2.0,
        1.5,
        1.0,
        0.6,
        0.4,
    ]
)
HOUR_SHARE = _HOUR_WEIGHTS / _HOUR_WEIGHTS.sum()
# Monday..Sunday (isoweekday 1..7); mean 1 so `sessions_per_kiosk_day` is the weekly average.
DOW_FACTOR = np.array([1.17, 1.2, 1.2, 1.18, 1.15, 0.6, 0.5])
DOW_FACTOR = DOW_FACTOR / DOW_FACTOR.mean()

PURCHASE_SHARE = 0.93  # sessions that end with a purchase (before stock-outs turn some into empty ones)
UNPAID_SHARE = 0.025  # purchases whose payment failed
ITEMS_PER_PURCHASE_P = np.array([0.45, 0.28, 0.15, 0.08, 0.04])  # 1..5 distinct lines
DISCOUNT_SHARE = 0.08
DISCOUNT_PERCENTS = np.array([10, 20, 30, 50])
EXCURSION_THRESHOLD_C = 7.0

# (paymentType, cardType, paymentCardType, probability) per country.
_CARD_MIX: dict[str, list[tuple[str, str | None, str | None, float]]] = {
    "DE": [
        ("CARD", "Girocard", "Debit", 0.30),
        ("CARD", "Visa", "Credit", 0.22),
        ("CARD", "Visa", "Debit", 0.06),
        ("CARD", "Mastercard", "Credit", 0.16),
        ("CARD", "Maestro", "Debit", 0.04),
        ("CARD", "Amex", "Credit", 0.03),
        ("MEMBERCARD", None, None, 0.13),
        ("MEMBERCARD", "Visa", "Credit", 0.03),
        ("FREE", None, None, 0.03),
    ],
    "CH": [
        ("CARD", "Visa", "Credit", 0.30),
        ("CARD", "Mastercard", "Credit", 0.28),
        ("CARD", "Maestro", "Debit", 0.12),
        ("CARD", "Amex", "Credit", 0.06),
        ("MEMBERCARD", None, None, 0.15),
        ("MEMBERCARD", "Mastercard", "Credit", 0.05),
        ("FREE", None, None, 0.04),
    ],
    "GB": [
        ("CARD", "Visa", "Debit", 0.35),
        ("CARD", "Visa", "Credit", 0.12),
        ("CARD", "Mastercard", "Debit", 0.20),
        ("CARD", "Amex", "Credit", 0.08),
        ("MEMBERCARD", None, None, 0.20),
        ("FREE", None, None, 0.05),
    ],
}


@dataclass(kw_only=True)
class ChangedIds:
    """Records that a stretch of simulated time opened or changed: part of a window's summary and of the
    clock's (which adds up its windows)."""

    new_alert_ids: list[int] = field(default_factory=list)
    changed_alert_ids: list[int] = field(default_factory=list)
    price_changed_product_ids: list[int] = field(default_factory=list)
    price_changed_product_line_ids: list[int] = field(default_factory=list)

    def absorb(self, other: ChangedIds) -> None:
        """Add `other`'s ids: new alerts in the order they opened, the changed ones as sorted sets."""
        self.new_alert_ids.extend(other.new_alert_ids)
        for name in ("changed_alert_ids", "price_changed_product_ids", "price_changed_product_line_ids"):
            setattr(self, name, sorted(set(getattr(self, name)) | set(getattr(other, name))))


@dataclass
class WindowSummary(ChangedIds):
    """What one simulated window added (ids are inclusive ranges; empty ranges have first > last)."""

    start: datetime
    end: datetime
    transaction_ids: list[int] = field(default_factory=list)
    refill_ids: list[int] = field(default_factory=list)


@dataclass
class GenerationSummary:
    seconds: float
    counts: dict[str, int]


# -- helpers -------------------------------------------------------------------------------------------------
def rng_for(seed: int, purpose: str, *bounds: datetime | int) -> np.random.Generator:
    """A generator that depends only on the seed, a purpose label and the window bounds."""
    words = [seed & 0xFFFFFFFF, *(ord(c) for c in purpose)]
    for b in bounds:
        words.append(int(b.timestamp()) if isinstance(b, datetime) else int(b))
    return np.random.default_rng(words)


def to_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def ts_array(ms: np.ndarray) -> pa.Array:
    return pa.array(ms.astype("int64"), type=pa.timestamp("ms", tz="UTC"))


def insert_rows(conn, table: str, rows: list[tuple]) -> None:
    """Bulk insert through Arrow (DuckDB's executemany converts row by row and is ~100x slower)."""
    if not rows:
        return
    columns = list(zip(*rows, strict=True))
    arrow = pa.table({f"c{i}": pa.array(list(col)) for i, col in enumerate(columns)})
    conn.register("_rows", arrow)
    try:
        conn.execute(f"INSERT INTO {table} SELECT * FROM _rows")
    finally:
        conn.unregister("_rows")


def cents_array(cents: np.ndarray, precision: int = 12) -> pa.Array:
    """Integer hundredths (cents, VAT basis points) as an exact DECIMAL(precision, 2) Arrow array."""
    return pa.Array.from_buffers(
        pa.decimal128(precision, 2), len(cents), [None, pa.py_buffer(_to_int128_bytes(cents))]
    )


def _to_int128_bytes(cents: np.ndarray) -> bytes:
    """Little-endian 128-bit two's complement of each value (Arrow's decimal128 storage)."""
    lo = cents.astype(np.int64)
    hi = np.where(lo < 0, -1, 0).astype(np.int64)
    return np.column_stack([lo, hi]).tobytes()


class _PriceBook:
    """Price and cost histories as sorted numpy keys, for as-of lookups at the moment of each sale."""

    def __init__(self, cur) -> None:
        lp = cur.execute(
            """SELECT product_line_id AS id, epoch_ms(valid_from) AS ms, CAST(round(price * 100) AS BIGINT)
            AS cents
               FROM product_line_prices ORDER BY 1, 2, product_line_prices.id"""
        ).fetchnumpy()
        self._line_keys = (lp["id"].astype(np.int64) << 42) + lp["ms"].astype(np.int64)
        self._line_cents = np.asarray(lp["cents"], dtype=np.int64)
        pp = cur.execute(
            """SELECT product_id, epoch_ms(valid_from) AS ms, CAST(round(cost * 100) AS BIGINT) AS cents
               FROM product_prices ORDER BY 1, 2"""
        ).fetchnumpy()
        self._product_keys = (pp["product_id"].astype(np.int64) << 42) + pp["ms"].astype(np.int64)
        self._product_cents = np.asarray(pp["cents"], dtype=np.int64)

    @staticmethod
    def _asof(keys: np.ndarray, values: np.ndarray, ids: np.ndarray, at_ms: np.ndarray) -> np.ndarray:
        if len(ids) == 0:
            return np.zeros(0, dtype=np.int64)
        pos = np.searchsorted(keys, (ids.astype(np.int64) << 42) + at_ms, side="right") - 1
        if (pos < 0).any() or ((keys[np.maximum(pos, 0)] >> 42) != ids).any():
            raise ValueError("a sale or refill happened before its price history starts")
        return values[pos]

    def line_price_cents(self, line_ids: np.ndarray, at_ms: np.ndarray) -> np.ndarray:
        return self._asof(self._line_keys, self._line_cents, line_ids, at_ms)

    def product_cost_cents(self, product_ids: np.ndarray, at_ms: np.ndarray) -> np.ndarray:
        return self._asof(self._product_keys, self._product_cents, product_ids, at_ms)


def product_weight(product_ids: np.ndarray) -> np.ndarray:
    """A stable popularity of each product (golden-ratio scramble of the id), between 0.2 and 2.4."""
    frac = np.mod(product_ids.astype(np.float64) * 0.6180339887498949, 1.0)
    return 0.2 + 2.2 * frac**2


def round_price(value: float, currency: str) -> float:
    """Shelf prices end in .x0 / .x5 (GBP: .x9 is also common, keep one rule for simplicity)."""
    return max(0.3, round(value * 20) / 20)


def _slug(text: str) -> str:
    out = "".join(c.lower() if c.isalnum() and c.isascii() else "-" for c in text)
    return "-".join(p for p in out.split("-") if p)


def _ascii(text: str) -> str:
    table = str.maketrans(
        {
            "ä": "ae",
            "ö": "oe",
            "ü": "ue",
            "ß": "ss",
            "Ä": "Ae",
            "Ö": "Oe",
            "Ü": "Ue",
            "é": "e",
            "è": "e",
            "ë": "e",
            "ê": "e",
            "ç": "c",
            "ï": "i",
            "ø": "o",
            "Ø": "O",
            "æ": "ae",
            "Æ": "Ae",
            "ł": "l",
            "Ł": "L",
            "á": "a",
            "à": "a",
            "ñ": "n",
            "ó": "o",
            "ò": "o",
            "ú": "u",
            "ù": "u",
            "í": "i",
            "â": "a",
            "ô": "o",
            "î": "i",
            "û": "u",
            "'": "",
        }
    )
    return "".join(c for c in text.translate(table) if c.isascii())


# -- reference data ------------------------------------------------------------------------------------------
def _insert_organizations(store: Store, cfg: SimConfig) -> None:
    created = cfg.now - timedelta(days=cfg.days + 900)
    rows = []
    for o in data.ORGANIZATIONS:
        slug = _slug(_ascii(o.name))
        rows.append(
            (
                o.id,
                o.name,
                slug,
                o.type,
                None if o.id % 3 == 0 else f"{o.name} – betreibt smarte Kühlschränke und Kioske.",
                None if o.id % 2 == 0 else f"https://cdn.livello.example/orgs/{slug}.png",
                o.address,
                o.postal_code,
                o.city,
                None,
                o.country,
                o.country_code,
                o.currency,
                o.parent_id,
                f"40{o.id:05d}",
                "Anna Schäfer" if o.lang == "de" else "Chloé Dubois",
                "Operations",
                f"ops@{slug}.example",
                f"+49 211 {o.id:04d}00",
                f"support@{slug}.example",
                f"+49 800 {o.id:04d}",
                "Mo–Fr 08:00–18:00",
                f"https://{slug}.example/privacy",
                f"https://{slug}.example/terms",
                created + timedelta(days=o.id * 11),
                created + timedelta(days=o.id * 11 + 30),
            )
        )
    insert_rows(store.connection, "organizations", rows)
    vat_rows = []
    vat_id = 1
    for o in data.ORGANIZATIONS:
        for name, value in data.VAT_BY_COUNTRY[o.country_code]:
            vat_rows.append((vat_id, o.id, name, value, o.country_code))
            vat_id += 1
    insert_rows(store.connection, "vat_rates", vat_rows)
    insert_rows(store.connection, "alert_types", [tuple(t) for t in data.ALERT_TYPES])


def _insert_catalog(store: Store, cfg: SimConfig) -> None:
    """~50 products per top-level CLIENT organization (~150), each with an opening price-history row."""
    rng = rng_for(cfg.seed, "catalog")
    orgs = {o.id: o for o in data.ORGANIZATIONS}
    history_start = cfg.now - timedelta(days=cfg.days)
    vat_ids = dict(
        ((org_id, float(value)), vid)
        for vid, org_id, value in store.query("SELECT id, organization_id, value FROM vat_rates")
    )
    products, prices = [], []
    pid = 1
    for org_id in data.CATALOG_ORGS:
        org = orgs[org_id]
        (std_name, std), (red_name, red) = data.VAT_BY_COUNTRY[org.country_code]
        for i, t in enumerate(data.PRODUCT_TEMPLATES):
            price = round_price(
                t.price_eur * data.CURRENCY_PRICE_FACTOR[org.currency] * rng.uniform(0.95, 1.08), org.currency
            )
            cost = round(price * t.cost_ratio, 2)
            vat = red if t.reduced_vat else std
            created = history_start - timedelta(
                days=int(rng.integers(200, 700)), minutes=int(rng.integers(0, 1440))
            )
            has_image = rng.random() > 0.15
            nutrition = (
                None
                if t.category in (None, "Getränke") or rng.random() < 0.3
                else json.dumps(
                    {
                        "energy": f"{int(t.weight_grams * rng.uniform(1.2, 3.5))} kcal",
                        "fat": f"{rng.uniform(1, 20):.1f} g",
                        "protein": f"{rng.uniform(1, 25):.1f} g",
                        "salt": f"{rng.uniform(0.1, 2):.1f} g",
                    },
                    ensure_ascii=False,
                )
            )
            dietary = (
                None
                if rng.random() < 0.4
                else json.dumps(
                    {
                        "glutenFree": bool(rng.random() < 0.3),
                        "vegetarian": bool(rng.random() < 0.6),
                        "vegan": bool(rng.random() < 0.3),
                        "allergens": "Milch, Gluten" if rng.random() < 0.5 else "",
                    },
                    ensure_ascii=False,
                )
            )
            products.append(
                (
                    pid,
                    org_id,
                    t.name,
                    None if rng.random() < 0.2 else f"{t.name} – frisch von {t.manufacturer}.",
                    None if t.category is None or rng.random() < 0.05 else t.category,
                    t.manufacturer,
                    None if rng.random() < 0.2 else f"ART-{org_id}{i:03d}",
                    None if rng.random() < 0.1 else f"{4000000000000 + pid * 7919 + org_id:013d}",
                    price,
                    cost,
                    vat,
                    vat_ids.get((org_id, vat)),
                    float(t.weight_grams),
                    "g",
                    t.shelf_life_days,
                    f"https://cdn.livello.example/products/{pid}.jpg" if has_image else None,
                    nutrition,
                    dietary,
                    created,
                    created,
                    False,
                    None,
                )
            )
            prices.append((pid, created, price, cost))
            pid += 1
        del std_name, red_name
    insert_rows(store.connection, "products", products)
    insert_rows(store.connection, "product_prices", prices)


def catalog_org_of(org_id: int) -> int:
    """The top-level CLIENT organization whose catalog a kiosk of `org_id` sells."""
    parents = {o.id: o.parent_id for o in data.ORGANIZATIONS}
    current = org_id
    while current not in data.CATALOG_ORGS and parents.get(current) is not None:
        current = parents[current]
    return current


def insert_kiosks(
    store: Store,
    cfg: SimConfig,
    first_index: int,
    count: int,
    created_from: datetime,
    created_to: datetime,
    *,
    cur=None,
) -> list[int]:
    """Adds kiosks LIV-{first_index+1:04d}.. with load cells, product lines, prices, inventory and sensors.

    Used by the generator (the initial fleet) and the clock (a kiosk appearing later). Returns the new kiosk
    ids.
    """
    conn = cur or store.connection
    rng = rng_for(cfg.seed, "kiosks", first_index, count)
    orgs = {o.id: o for o in data.ORGANIZATIONS}
    org_rows = {
        r[0]: r for r in conn.execute("SELECT id, country_code, currency FROM organizations").fetchall()
    }
    next_cell = int(conn.execute("SELECT coalesce(max(id), 0) + 1 FROM load_cells").fetchone()[0])
    next_line = int(conn.execute("SELECT coalesce(max(id), 0) + 1 FROM product_lines").fetchone()[0])
    next_price = int(conn.execute("SELECT coalesce(max(id), 0) + 1 FROM product_line_prices").fetchone()[0])
    catalog = conn.execute(
        "SELECT id, organization_id, price, vat_rate, shelf_life_days FROM products "
        "WHERE NOT deleted ORDER BY id"
    ).fetchall()
    kiosks, cells, lines, line_prices, inventory, sensors = [], [], [], [], [], []
    new_ids = []
    span = max(1, int((created_to - created_from).total_seconds()))
    for n in range(first_index, first_index + count):
        kid = n + 1
        org_id = data.KIOSK_ORG_CYCLE[n % len(data.KIOSK_ORG_CYCLE)]
        org = orgs.get(org_id)
        country = org_rows[org_id][1]
        tz = {"DE": "Europe/Berlin", "CH": "Europe/Zurich", "GB": "Europe/London"}[country]
        created = created_from + timedelta(seconds=int(rng.integers(0, span)))
        site = data.KIOSK_SITES[n % len(data.KIOSK_SITES)]
        name = site if n < len(data.KIOSK_SITES) else f"{site} {n // len(data.KIOSK_SITES) + 1}"
        street = data.STREETS_BY_COUNTRY[country][n % 5]
        kiosks.append(
            (
                kid,
                f"{(0x65A1F0C0 + kid * 7919):08x}{kid:016x}",
                f"LIV-{kid:04d}",
                name,
                org_id,
                tz,
                f"{street} {int(rng.integers(1, 200))}",
                org.postal_code if org else "00000",
                org.city if org else "",
                country,
                created,
                created,
                {"EUR": 25.0, "CHF": 30.0, "GBP": 20.0}.get(org_rows[org_id][2], 25.0),
                org.lang if org else "en",
                "Roboto",
                "CARD",
                18 if rng.random() < 0.2 else 0,
                bool(rng.random() < 0.7),
                int(rng.choice([7, 14, 30])),
                float(np.clip(rng.lognormal(0.0, 0.3), 0.5, 1.8)),
            )
        )
        new_ids.append(kid)
        n_cells = int(rng.integers(20, 41))
        per_row = int(rng.integers(5, 9))
        products_of_org = [p for p in catalog if p[1] == catalog_org_of(org_id)]
        picks = rng.permutation(len(products_of_org))
        for c in range(n_cells):
            cell_global = next_cell
            next_cell += 1
            position = f"{chr(ord('A') + c // per_row)}{c % per_row + 1}"
            capacity = int(rng.integers(12, 41))
            cells.append(
                (cell_global, kid, c + 1, position, float(rng.choice([0.5, 1.0, 1.5, 2.0])), capacity)
            )
            # A few cells stay empty (no product line), as in real planograms.
            if rng.random() < 0.07 or not products_of_org:
                inventory.append((cell_global, None, 0, None, created))
                continue
            pid, _, price, vat, shelf = products_of_org[int(picks[c % len(picks)])]
            price = float(price) * (1.0 if rng.random() < 0.8 else float(rng.choice([0.9, 1.1])))
            price = round_price(price, "")
            lines.append((next_line, cell_global, kid, pid, price, vat, created, True, False))
            line_prices.append((next_price, next_line, price, created, None))
            count_now = int(rng.integers(capacity * 4 // 10, capacity + 1))
            expiry = (
                None if shelf is None else (created + timedelta(days=int(rng.integers(1, shelf + 1)))).date()
            )
            inventory.append((cell_global, next_line, count_now, expiry, created))
            next_line += 1
            next_price += 1
        positions = ["top", "middle", "bottom"] if rng.random() < 0.7 else ["top", "bottom"]
        for pos in positions:
            base = {"top": 5.0, "middle": 4.3, "bottom": 3.7}[pos] + rng.uniform(-0.4, 0.4)
            sensors.append(
                (
                    kid,
                    pos,
                    round(base, 2),
                    round(rng.uniform(0.3, 0.8), 2),
                    round(rng.uniform(0.1, 0.3), 2),
                    int(rng.integers(1, 2**40)),
                )
            )
    insert_rows(conn, "kiosks", kiosks)
    insert_rows(conn, "load_cells", cells)
    if lines:
        insert_rows(conn, "product_lines", lines)
        insert_rows(conn, "product_line_prices", line_prices)
    insert_rows(conn, "inventory", inventory)
    insert_rows(conn, "temperature_sensors", sensors)
    return new_ids


def _insert_users(store: Store, cfg: SimConfig) -> None:
    """Customers (many with membercards) for every organization with kiosks, plus operators and admins."""
    rng = rng_for(cfg.seed, "users")
    created_base = cfg.now - timedelta(days=cfg.days + 400)
    # Users exist before the history starts and were last changed by then: later changes are the write
    # endpoints' and the clock's, so a user changed now is always the newest `updated`.
    history_start = cfg.now - timedelta(days=cfg.days)
    rows = []
    uid = 1
    kiosk_orgs = dict(store.query("SELECT organization_id, count(*) FROM kiosks GROUP BY 1"))
    langs = {"DE": "de", "CH": "de", "GB": "en"}
    for o in data.ORGANIZATIONS:
        n_customers = 8 + 6 * kiosk_orgs.get(o.id, 0) if o.type == "CLIENT" else 0
        roles = ["ADMIN"] + ["OPERATOR"] * (2 if o.type == "CLIENT" else 0) + ["CUSTOMER"] * n_customers
        if o.type == "MANUFACTURER":
            roles = ["MANAGER"]
        for role in roles:
            first = data.FIRST_NAMES[int(rng.integers(len(data.FIRST_NAMES)))]
            last = data.LAST_NAMES[int(rng.integers(len(data.LAST_NAMES)))]
            email = f"{_ascii(first).lower()}.{_ascii(last).lower()}.{uid}@example.com".replace(" ", "")
            cards = [f"MC-{o.id:02d}-{uid:06d}"] if role == "CUSTOMER" and rng.random() < 0.6 else []
            created = created_base + timedelta(
                days=int(rng.integers(0, 400)), seconds=int(rng.integers(0, 86400))
            )
            lang = "fr" if o.id == 7 and rng.random() < 0.7 else langs[o.country_code]
            if rng.random() < 0.1:
                lang = "it"
            rows.append(
                (
                    uid,
                    email,
                    first,
                    last,
                    "ACTIVE" if rng.random() < 0.95 else "INACTIVE",
                    o.id == 1 and role == "ADMIN",
                    lang,
                    bool(rng.random() < 0.97),
                    None if rng.random() < 0.4 else f"+{41 if o.country_code == 'CH' else 49} 17{uid:08d}",
                    o.id,
                    role,
                    cards,
                    None,
                    None,
                    None
                    if rng.random() < 0.5
                    else f"{data.STREETS_BY_COUNTRY[o.country_code][uid % 5]} {uid % 90 + 1}",
                    o.city,
                    o.postal_code,
                    o.country,
                    created,
                    min(created + timedelta(days=int(rng.integers(0, 30))), history_start),
                )
            )
            uid += 1
    insert_rows(store.connection, "users", rows)


def _insert_promocodes(store: Store, cfg: SimConfig) -> None:
    start = cfg.now - timedelta(days=30)
    conn = store.connection
    rule_id = 1
    for i, org_id in enumerate(data.CATALOG_ORGS, start=1):
        conn.execute("INSERT INTO promocode_configs VALUES (?, ?, ?)", [i, org_id, True])
        for day in range(7):
            conn.execute(
                "INSERT INTO promocode_rules VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    rule_id,
                    i,
                    day,
                    10.0,
                    "percentage" if day < 5 else "flat",
                    day < 5,
                    None if day < 5 else 2.0,
                    15.0 if day < 5 else None,
                    5.0 if day < 5 else None,
                    None,
                    3.0,
                    f"Rabatt Tag {day} – Mitarbeitende",
                ],
            )
            rule_id += 1
        for j in range(3):
            conn.execute(
                "INSERT INTO promocodes VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (i - 1) * 3 + j + 1,
                    f"{10000 + i * 100 + j:05d}",
                    10.0 + 5 * j,
                    j != 2,
                    start,
                    start + timedelta(days=90),
                    org_id,
                    i,
                ],
            )


# -- the per-window simulation -------------------------------------------------------------------------------
@dataclass
class _Fleet:
    kiosk_ids: np.ndarray
    org_ids: np.ndarray
    tzs: list[str]
    countries: list[str]
    currencies: list[str]
    popularity: np.ndarray
    created_ms: np.ndarray


def _load_fleet(cur, t1: datetime) -> _Fleet:
    rows = cur.execute(
        """SELECT k.id, k.organization_id, k.timezone, k.country_code, o.currency, k.popularity, k.created_at
           FROM kiosks k JOIN organizations o ON o.id = k.organization_id
           WHERE k.created_at < ? ORDER BY k.id""",
        [t1],
    ).fetchall()
    return _Fleet(
        kiosk_ids=np.array([r[0] for r in rows], dtype=np.int64),
        org_ids=np.array([r[1] for r in rows], dtype=np.int64),
        tzs=[r[2] for r in rows],
        countries=[r[3] for r in rows],
        currencies=[r[4] for r in rows],
        popularity=np.array([r[5] for r in rows], dtype=np.float64),
        created_ms=np.array([to_ms(r[6]) for r in rows], dtype=np.int64),
    )


def _local_hour_dow(tz: str, slot_ms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    zone = ZoneInfo(tz)
    hours = np.empty(len(slot_ms), dtype=np.int64)
    dows = np.empty(len(slot_ms), dtype=np.int64)
    for i, ms in enumerate(slot_ms.tolist()):
        local = datetime.fromtimestamp(ms / 1000, zone)
        hours[i] = local.hour
        dows[i] = local.isoweekday() - 1
    return hours, dows


def _session_times(cfg: SimConfig, fleet: _Fleet, t0: datetime, t1: datetime, rng: np.random.Generator):
    """Session start times (ms) and kiosk index by a Poisson process per kiosk and UTC hour, in time order."""
    t0_ms, t1_ms = to_ms(t0), to_ms(t1)
    first_slot = t0_ms - t0_ms % HOUR_MS
    slots = np.arange(first_slot, t1_ms, HOUR_MS, dtype=np.int64)
    k = len(fleet.kiosk_ids)
    rate = np.zeros((k, len(slots)))
    shapes: dict[str, np.ndarray] = {}
    for tz in sorted(set(fleet.tzs)):
        hours, dows = _local_hour_dow(tz, slots)
        day_of_year = ((slots // 86_400_000) % 365.25) / 365.25
        season = 1.0 + 0.08 * np.sin(2 * math.pi * (day_of_year - 0.2))
        shapes[tz] = HOUR_SHARE[hours] * DOW_FACTOR[dows] * season
    for i in range(k):
        rate[i] = cfg.sessions_per_kiosk_day * fleet.popularity[i] * shapes[fleet.tzs[i]]
        rate[i, slots + HOUR_MS <= fleet.created_ms[i]] = 0.0
    counts = rng.poisson(rate)
    flat = np.repeat(np.arange(k * len(slots)), counts.ravel())
    kiosk_idx = flat // len(slots)
    created = slots[flat % len(slots)] + rng.integers(0, HOUR_MS, size=len(flat))
    keep = (created > t0_ms) & (created <= t1_ms) & (created > fleet.created_ms[kiosk_idx])
    kiosk_idx, created = kiosk_idx[keep], created[keep]
    order = np.lexsort((kiosk_idx, created))
    return created[order], kiosk_idx[order]


def _refill_times(cur, cfg: SimConfig, fleet: _Fleet, t0: datetime, t1: datetime, rng: np.random.Generator):
    """Refill moments per kiosk: every one or two days, in the local morning. Returns (ms, kiosk index)."""
    last = dict(cur.execute("SELECT kiosk_id, max(created) FROM refills GROUP BY 1").fetchall())
    times, owners = [], []
    for i, kid in enumerate(fleet.kiosk_ids.tolist()):
        zone = ZoneInfo(fleet.tzs[i])
        prev = last.get(kid)
        day = (
            prev.astimezone(zone).date()
            if prev is not None
            else t0.astimezone(zone).date() - timedelta(days=int(rng.integers(0, 2)))
        )
        end_day = t1.astimezone(zone).date()
        while day <= end_day:
            day = day + timedelta(days=1 if rng.random() < 0.7 else 2)
            minute = int(rng.integers(0, 240))
            local = datetime.combine(day, time(6, 0), zone) + timedelta(
                minutes=minute, seconds=int(rng.integers(60))
            )
            moment = local.astimezone(UTC)
            if t0 < moment <= t1 and to_ms(moment) > fleet.created_ms[i]:
                times.append(to_ms(moment))
                owners.append(i)
    times_a = np.array(times, dtype=np.int64)
    owners_a = np.array(owners, dtype=np.int64)
    order = np.lexsort((times_a, owners_a))
    return times_a[order], owners_a[order]


def _apply_price_changes(cur, cfg: SimConfig, t0: datetime, t1: datetime, summary: WindowSummary) -> None:
    """Default price changes of products (propagated to their lines) and single product-line repricings."""
    rng = rng_for(cfg.seed, "prices", t0, t1)
    days = (t1 - t0).total_seconds() / 86400
    products = cur.execute(
        "SELECT id, price, cost, created_at FROM products WHERE NOT deleted AND created_at < ? ORDER BY id",
        [t0],
    ).fetchall()
    span_ms = to_ms(t1) - to_ms(t0)
    changes = []
    for pid, price, cost, _created in products:
        if rng.random() < 1 - math.exp(-days / 240):  # about 1.5 changes per product and year
            factor = float(rng.choice([0.95, 1.05, 1.08, 1.1, 1.12]))
            new_price = round_price(float(price) * factor, "")
            new_cost = round(float(cost) * factor, 2)
            at = from_ms(to_ms(t0) + 1 + int(rng.integers(0, max(1, span_ms - 1))))
            changes.append((pid, at, new_price, new_cost))
    line_changes: list[tuple[int, datetime, float]] = []
    if changes:
        insert_rows(cur, "product_prices", changes)
        cur.execute(
            """UPDATE products SET price = c.price, cost = c.cost, updated_at = greatest(products.updated_at,
            c.at)
               FROM (SELECT product_id, arg_max(price, valid_from) AS price, arg_max(cost, valid_from) AS
               cost,
                            max(valid_from) AS at
                     FROM product_prices WHERE valid_from > ? GROUP BY 1) c
               WHERE products.id = c.product_id""",
            [t0],
        )
        changed = {pid: (at, price) for pid, at, price, _ in changes}
        for lid, pid in cur.execute(
            "SELECT id, product_id FROM product_lines "
            "WHERE active AND product_id IN (SELECT unnest(?)) ORDER BY id",
            [sorted(changed)],
        ).fetchall():
            at, price = changed[pid]
            line_changes.append((lid, at, price))
        summary.price_changed_product_ids.extend(sorted(changed))
    lines = cur.execute("SELECT id, price FROM product_lines WHERE active ORDER BY id").fetchall()
    picks = rng.random(len(lines)) < 1 - math.exp(-days / 900)
    for (lid, price), picked in zip(lines, picks, strict=True):
        if picked:
            at = from_ms(to_ms(t0) + 1 + int(rng.integers(0, max(1, span_ms - 1))))
            line_changes.append((lid, at, round_price(float(price) * float(rng.choice([0.9, 1.1])), "")))
    apply_line_prices(cur, line_changes)
    summary.price_changed_product_line_ids.extend(sorted({c[0] for c in line_changes}))


def apply_line_prices(cur, changes: list[tuple[int, datetime, float]]) -> list[int]:
    """Adds price rows (product_line_id, valid_from, price), re-chains valid_to and updates
    product_lines.price.

    Returns the new product_line_prices ids in the order of `changes`."""
    if not changes:
        return []
    first = int(cur.execute("SELECT coalesce(max(id), 0) + 1 FROM product_line_prices").fetchone()[0])
    ids = list(range(first, first + len(changes)))
    insert_rows(
        cur,
        "product_line_prices",
        [(i, lid, price, at, None) for i, (lid, at, price) in zip(ids, changes, strict=True)],
    )
    affected = sorted({c[0] for c in changes})
    cur.execute(
        """
        UPDATE product_line_prices SET valid_to = n.next_from
        FROM (SELECT id, lead(valid_from) OVER (PARTITION BY product_line_id ORDER BY valid_from, id) AS
        next_from
              FROM product_line_prices WHERE product_line_id IN (SELECT unnest(?::INTEGER[]))) n
        WHERE product_line_prices.id = n.id AND product_line_prices.valid_to IS DISTINCT FROM n.next_from
        """,
        [affected],
    )
    cur.execute(
        """
        UPDATE product_lines SET price = c.price
        FROM (SELECT product_line_id, arg_max(price, (valid_from, id)) AS price FROM product_line_prices
              WHERE product_line_id IN (SELECT unnest(?::INTEGER[])) GROUP BY 1) c
        WHERE product_lines.id = c.product_line_id
        """,
        [affected],
    )
    return ids


def set_line_price(cur, product_line_id: int, price: float, valid_from: datetime) -> int:
    """Closes the line's current price row at `valid_from` and opens a new one; returns the new row's id."""
    return apply_line_prices(cur, [(product_line_id, valid_from, price)])[0]


def simulate_window(store: Store, cfg: SimConfig, t0: datetime, t1: datetime, *, cur=None) -> WindowSummary:
    """Generates everything that happens in (t0, t1]: price changes, purchases, refills, temperature
    excursions, alerts and their state changes, and the kiosks' latest sessions. Inventory carries over from
    the store; `fact_day_counts` is brought up to date for the window's days."""
    conn = cur or store.connection
    summary = WindowSummary(start=t0, end=t1)
    _apply_price_changes(conn, cfg, t0, t1, summary)
    fleet = _load_fleet(conn, t1)
    if len(fleet.kiosk_ids):
        _simulate_sales_and_refills(conn, cfg, fleet, t0, t1, summary)
        _simulate_temperature_and_alerts(conn, cfg, fleet, t0, t1, summary)
    _advance_alert_states(conn, t1, summary)
    _refresh_sessions(conn, cfg, t0, t1)
    for table in FACT_TABLES:
        store.refresh_day_counts(table, t0.astimezone(UTC).date(), t1.astimezone(UTC).date(), conn)
    return summary


def _simulate_sales_and_refills(
    cur, cfg: SimConfig, fleet: _Fleet, t0: datetime, t1: datetime, summary: WindowSummary
) -> None:
    rng = rng_for(cfg.seed, "sales", t0, t1)
    created, kidx = _session_times(cfg, fleet, t0, t1, rng)
    n = len(created)
    refill_ms, refill_k = _refill_times(cur, cfg, fleet, t0, t1, rng)

    # Active product lines with their cell's capacity and current stock, grouped by kiosk index.
    kiosk_pos = {int(k): i for i, k in enumerate(fleet.kiosk_ids.tolist())}
    line_rows = cur.execute(
        """SELECT pl.id, pl.kiosk_id, pl.product_id, c.capacity, coalesce(i.count, 0), p.shelf_life_days,
                  p.name, p.ean, c.planogram_position, CAST(round(pl.vat_rate * 100) AS BIGINT)
           FROM product_lines pl JOIN load_cells c ON c.id = pl.load_cell_id
           LEFT JOIN inventory i ON i.load_cell_id = pl.load_cell_id
           JOIN products p ON p.id = pl.product_id
           WHERE pl.active ORDER BY pl.kiosk_id, pl.id"""
    ).fetchall()
    line_rows = [r for r in line_rows if int(r[1]) in kiosk_pos]
    line_id = np.array([r[0] for r in line_rows], dtype=np.int64)
    line_k = np.array([kiosk_pos[int(r[1])] for r in line_rows], dtype=np.int64)
    line_product = np.array([r[2] for r in line_rows], dtype=np.int64)
    capacity = np.array([r[3] for r in line_rows], dtype=np.int64)
    stock0 = np.minimum(np.array([r[4] for r in line_rows], dtype=np.int64), capacity)
    shelf = np.array([r[5] if r[5] is not None else -1 for r in line_rows], dtype=np.int64)
    # Per-line strings as Arrow dictionaries: item columns index them instead of joining in SQL.
    line_name = pa.array([r[6] for r in line_rows], type=pa.string())
    line_ean = pa.array([r[7] for r in line_rows], type=pa.string())
    line_position = pa.array([r[8] for r in line_rows], type=pa.string())
    line_vat_bp = np.array([r[9] for r in line_rows], dtype=np.int64)
    k_count = len(fleet.kiosk_ids)
    lines_per_k = np.bincount(line_k, minlength=k_count)
    line_start = np.concatenate([[0], np.cumsum(lines_per_k)])[:-1]

    # -- sessions: purchase or not, number of distinct lines, payment ----------------------------------------
    has_lines = lines_per_k[kidx] > 0
    ended = (rng.random(n) < PURCHASE_SHARE) & has_lines
    n_lines = np.where(ended, rng.choice(np.arange(1, 6), size=n, p=ITEMS_PER_PURCHASE_P), 0)

    # -- items: weighted choice of a line within the kiosk ---------------------------------------------------
    w = product_weight(line_product)
    cum = np.empty(len(w))
    for i in range(k_count):
        s, e = line_start[i], line_start[i] + lines_per_k[i]
        if e > s:
            c = np.cumsum(w[s:e])
            cum[s:e] = i + c / c[-1]
            cum[e - 1] = i + 1.0
    item_tx = np.repeat(np.arange(n), n_lines)
    u = kidx[item_tx] + rng.random(len(item_tx)) * 0.999999
    item_line = np.searchsorted(cum, u, side="right")
    # one line per product line and transaction (a second pick of the same cell is the same line)
    key = item_tx * 4096 + (item_line - line_start[kidx[item_tx]])
    _, first = np.unique(key, return_index=True)
    item_tx, item_line = item_tx[first], item_line[first]
    qty = 1 + (rng.random(len(item_tx)) < 0.15).astype(np.int64) + (rng.random(len(item_tx)) < 0.03)
    item_created = created[item_tx]

    # -- stock: sales between two refills never exceed the stock at the period's start -----------------------
    refill_key = refill_k * (1 << 42) + refill_ms
    refills_per_k = np.bincount(refill_k, minlength=k_count)
    refill_first = np.concatenate([[0], np.cumsum(refills_per_k)])[:-1]
    item_k = kidx[item_tx]
    period = (
        np.searchsorted(refill_key, item_k * (1 << 42) + item_created, side="left") - refill_first[item_k]
    )
    periods_per_line = refills_per_k[line_k] + 1
    lp_offset = np.concatenate([[0], np.cumsum(periods_per_line)])[:-1]
    lp = lp_offset[item_line] + period
    order = np.lexsort((item_created, lp))
    lp_sorted, qty_sorted = lp[order], qty[order]
    csum = np.cumsum(qty_sorted)
    group_start = np.r_[True, lp_sorted[1:] != lp_sorted[:-1]]
    base = np.maximum.accumulate(np.where(group_start, csum - qty_sorted, 0))
    cum_in_period = np.empty_like(csum)
    cum_in_period[order] = csum - base
    stock_at_period_start = np.where(period == 0, stock0[item_line], capacity[item_line])
    keep = cum_in_period <= stock_at_period_start
    item_tx, item_line, qty, item_created, lp = (
        item_tx[keep],
        item_line[keep],
        qty[keep],
        item_created[keep],
        lp[keep],
    )
    sold = np.bincount(lp, weights=qty, minlength=int(periods_per_line.sum())).astype(np.int64)

    lines_left = np.bincount(item_tx, minlength=n)
    ended = ended & (lines_left > 0)
    order = np.lexsort((item_line, item_tx))
    item_tx, item_line, qty, item_created = item_tx[order], item_line[order], qty[order], item_created[order]
    tx_first_item = np.concatenate([[0], np.cumsum(lines_left)])[:-1]
    line_number = np.arange(len(item_tx)) - tx_first_item[item_tx] + 1

    paid = np.where(ended, rng.random(n) >= UNPAID_SHARE, False)
    ptype = np.empty(n, dtype=object)
    ctype = np.empty(n, dtype=object)
    pctype = np.empty(n, dtype=object)
    for country in sorted(set(fleet.countries)):
        mix = _CARD_MIX[country]
        sel = np.array([fleet.countries[i] == country for i in range(k_count)])[kidx]
        probs = np.array([m[3] for m in mix])
        pick = rng.choice(len(mix), size=int(sel.sum()), p=probs / probs.sum())
        ptype[sel] = np.array([m[0] for m in mix], dtype=object)[pick]
        ctype[sel] = np.array([m[1] for m in mix], dtype=object)[pick]
        pctype[sel] = np.array([m[2] for m in mix], dtype=object)[pick]
    # Sessions that ended without purchase were never charged; FREE only makes sense for a purchase.
    ptype[(~ended) & (ptype == "FREE")] = "CARD"
    is_free = ptype == "FREE"

    # Users: customers of the kiosk's organization; a membercard payment uses a customer with a card.
    user_rows = cur.execute(
        """SELECT organization_id, id, membercards FROM users WHERE role = 'CUSTOMER'
           ORDER BY organization_id, id"""
    ).fetchall()
    by_org: dict[int, list[tuple[int, str | None]]] = {}
    with_card: dict[int, list[tuple[int, str | None]]] = {}
    for org_id, uid, cards in user_rows:
        by_org.setdefault(org_id, []).append((uid, None))
        if cards:
            with_card.setdefault(org_id, []).append((uid, cards[0]))
    fallback = [(int(r[0]), None) for r in cur.execute("SELECT id FROM users ORDER BY id LIMIT 1").fetchall()]
    user_id = np.zeros(n, dtype=np.int64)
    card_id = np.empty(n, dtype=object)
    org_of_tx = fleet.org_ids[kidx]
    for org_id in np.unique(org_of_tx).tolist():
        sel = org_of_tx == org_id
        pool = by_org.get(org_id) or fallback
        idx = rng.integers(0, len(pool), size=int(sel.sum()))
        user_id[sel] = np.array([p[0] for p in pool])[idx]
        msel = sel & (ptype == "MEMBERCARD")
        cpool = with_card.get(org_id)
        if cpool:
            cidx = rng.integers(0, len(cpool), size=int(msel.sum()))
            user_id[msel] = np.array([p[0] for p in cpool])[cidx]
            card_id[msel] = np.array([p[1] for p in cpool], dtype=object)[cidx]
        else:
            ptype[msel] = "CARD"
            ctype[msel] = "Visa"
            pctype[msel] = "Credit"

    first_id = int(cur.execute("SELECT coalesce(max(id), 0) + 1 FROM transactions").fetchone()[0])
    tx_ids = first_id + np.arange(n, dtype=np.int64)
    closed = created + rng.integers(15_000, 180_000, size=n)
    now_ms = to_ms(t1)
    discount_pct = np.where(
        rng.random(len(item_tx)) < DISCOUNT_SHARE, rng.choice(DISCOUNT_PERCENTS, size=len(item_tx)), 0
    )
    discount_pct = np.where(is_free[item_tx], 100, discount_pct)
    # Money in integer cents: price valid at the moment of sale, discount rounded half-up, exact sums.
    prices = _PriceBook(cur)
    price_c = prices.line_price_cents(line_id[item_line], item_created)
    cost_c = prices.product_cost_cents(line_product[item_line], item_created)
    gross_c = qty * price_c
    discount_c = (gross_c * discount_pct * 2 + 100) // 200
    total_c = gross_c - discount_c
    tx_total_c = np.bincount(item_tx, weights=total_c, minlength=n).astype(np.int64)
    tx_discount_c = np.bincount(item_tx, weights=discount_c, minlength=n).astype(np.int64)
    ext_ids = [
        f"ext-{(i * 2654435761) % 4294967296:08x}-{k}"
        for i, k in zip(tx_ids.tolist(), fleet.kiosk_ids[kidx].tolist(), strict=True)
    ]
    closed_ms = np.minimum(closed, np.maximum(now_ms, created))
    tx_table = pa.table(
        {
            "id": tx_ids,
            "created": ts_array(created),
            "kiosk_id": fleet.kiosk_ids[kidx],
            "organization_id": org_of_tx,
            "user_id": user_id,
            "is_paid": paid,
            "ended_with_purchase": ended,
            "payment_type": pa.array(ptype.tolist(), type=pa.string()),
            "card_type": pa.array(ctype.tolist(), type=pa.string()),
            "payment_card_type": pa.array(pctype.tolist(), type=pa.string()),
            "membercard_id": pa.array(card_id.tolist(), type=pa.string()),
            "external_transaction_id": pa.array(ext_ids, type=pa.string()),
            "session_closed_at": ts_array(closed_ms),
            "item_count": lines_left.astype(np.int32),
            "total": cents_array(tx_total_c),
            "discount_total": cents_array(tx_discount_c),
            "currency": pa.array(np.array(fleet.currencies, dtype=object)[kidx].tolist(), type=pa.string()),
            "uploaded_at": ts_array(closed_ms),
        }
    )
    item_line_idx = pa.array(item_line.astype(np.int32))
    item_table = pa.table(
        {
            "transaction_id": tx_ids[item_tx],
            "line_number": line_number.astype(np.int16),
            "created": ts_array(item_created),
            "kiosk_id": fleet.kiosk_ids[kidx[item_tx]],
            "organization_id": org_of_tx[item_tx],
            "product_line_id": line_id[item_line],
            "product_id": line_product[item_line],
            "name": pa.DictionaryArray.from_arrays(item_line_idx, line_name),
            "ean": pa.DictionaryArray.from_arrays(item_line_idx, line_ean),
            "planogram_position": pa.DictionaryArray.from_arrays(item_line_idx, line_position),
            "quantity": qty.astype(np.int32),
            "price": cents_array(price_c),
            "vat_rate": cents_array(line_vat_bp[item_line], precision=5),
            "discount": cents_array(discount_c),
            "total": cents_array(total_c),
            "cost": cents_array(cost_c),
        }
    )
    cur.register("_new_items", item_table)
    cur.register("_new_tx", tx_table)
    try:
        cur.execute("INSERT INTO transaction_items SELECT * FROM _new_items")
        cur.execute("INSERT INTO transactions SELECT * FROM _new_tx")
    finally:
        cur.unregister("_new_items")
        cur.unregister("_new_tx")
    if n:
        summary.transaction_ids = [first_id, first_id + n - 1]

    # -- refills: top every line up to capacity, taking out expired (and a few damaged) units ----------------
    n_ref = len(refill_ms)
    stock_end = stock0.copy()
    if n_ref:
        ref_rows_r, ref_rows_line = [], []
        for r in range(n_ref):
            k = int(refill_k[r])
            s, e = line_start[k], line_start[k] + lines_per_k[k]
            ref_rows_r.append(np.full(e - s, r))
            ref_rows_line.append(np.arange(s, e))
        rr = np.concatenate(ref_rows_r) if ref_rows_r else np.zeros(0, dtype=np.int64)
        rl = np.concatenate(ref_rows_line) if ref_rows_line else np.zeros(0, dtype=np.int64)
        p_idx = rr - refill_first[refill_k[rr]]
        start_stock = np.where(p_idx == 0, stock0[rl], capacity[rl])
        before = start_stock - sold[lp_offset[rl] + p_idx]
        # Share of the remaining units that expired since the last visit, by shelf life (none without one).
        p_exp = np.select(
            [shelf[rl] < 0, shelf[rl] <= 2, shelf[rl] <= 5, shelf[rl] <= 14], [0.0, 0.15, 0.06, 0.02], 0.003
        )
        expired = rng.binomial(np.maximum(before, 0), p_exp)
        damaged = ((rng.random(len(rr)) < 0.02) & (before - expired > 0)).astype(np.int64)
        removed = expired + damaged
        added = capacity[rl] - (before - removed)
        emit = (added > 0) | (removed > 0)
        rr, rl, added, removed, expired = rr[emit], rl[emit], added[emit], removed[emit], expired[emit]
        order = np.lexsort((rl, rr))
        rr, rl, added, removed, expired = rr[order], rl[order], added[order], removed[order], expired[order]
        lines_per_refill = np.bincount(rr, minlength=n_ref)
        rl_first = np.concatenate([[0], np.cumsum(lines_per_refill)])[:-1]
        first_ref = int(cur.execute("SELECT coalesce(max(id), 0) + 1 FROM refills").fetchone()[0])
        # ids follow time, not kiosk
        time_order = np.argsort(refill_ms, kind="stable")
        ref_id = np.empty(n_ref, dtype=np.int64)
        ref_id[time_order] = first_ref + np.arange(n_ref)
        operators = [
            r[0] for r in cur.execute("SELECT id FROM users WHERE role = 'OPERATOR' ORDER BY id").fetchall()
        ] or [None]
        op_by_org = {}
        for org_id, uid in cur.execute(
            "SELECT organization_id, id FROM users WHERE role = 'OPERATOR' ORDER BY id"
        ).fetchall():
            op_by_org.setdefault(org_id, []).append(uid)
        parents = {o.id: o.parent_id for o in data.ORGANIZATIONS}
        op = []
        for r in range(n_ref):
            org_id = int(fleet.org_ids[refill_k[r]])
            pool = op_by_org.get(org_id) or op_by_org.get(parents.get(org_id) or -1) or operators
            op.append(pool[int(rng.integers(len(pool)))])
        refill_table = pa.table(
            {
                "id": ref_id,
                "created": ts_array(refill_ms),
                "kiosk_id": fleet.kiosk_ids[refill_k],
                "organization_id": fleet.org_ids[refill_k],
                "type": pa.array(
                    np.where(rng.random(n_ref) < 0.8, "pin", "manual").tolist(), type=pa.string()
                ),
                "operator_user_id": pa.array(op, type=pa.int64()),
                "session_closed_at": ts_array(
                    np.minimum(
                        refill_ms + rng.integers(300_000, 1_800_000, n_ref), np.maximum(now_ms, refill_ms)
                    )
                ),
            }
        )
        ritem_table = pa.table(
            {
                "refill_id": ref_id[rr],
                "line_number": (np.arange(len(rr)) - rl_first[rr] + 1).astype(np.int16),
                "created": ts_array(refill_ms[rr]),
                "kiosk_id": fleet.kiosk_ids[refill_k[rr]],
                "organization_id": fleet.org_ids[refill_k[rr]],
                "product_line_id": line_id[rl],
                "added": added.astype(np.int32),
                "removed": removed.astype(np.int32),
                "removed_expired": expired.astype(np.int32),
                "cost": cents_array(prices.product_cost_cents(line_product[rl], refill_ms[rr])),
                "price": cents_array(prices.line_price_cents(line_id[rl], refill_ms[rr])),
            }
        )
        cur.register("_new_refills", refill_table)
        cur.register("_new_refill_items", ritem_table)
        try:
            cur.execute(
                """INSERT INTO refills
                   SELECT id, created, kiosk_id, organization_id, type, operator_user_id, session_closed_at,
                          session_closed_at
                   FROM _new_refills"""
            )
            cur.execute(
                """
                INSERT INTO refill_items
                SELECT i.refill_id, i.line_number, i.created, i.kiosk_id, i.organization_id,
                i.product_line_id,
                       pl.product_id, p.name, p.ean, c.planogram_position, i.added, i.removed,
                       i.removed_expired,
                       i.cost, i.price,
                       CASE WHEN p.shelf_life_days IS NULL OR i.added = 0 THEN NULL
                            ELSE CAST(timezone(k.timezone, i.created) AS DATE) + p.shelf_life_days END
                FROM _new_refill_items i
                JOIN product_lines pl ON pl.id = i.product_line_id
                JOIN products p ON p.id = pl.product_id
                JOIN load_cells c ON c.id = pl.load_cell_id
                JOIN kiosks k ON k.id = i.kiosk_id
                """
            )
        finally:
            cur.unregister("_new_refills")
            cur.unregister("_new_refill_items")
        summary.refill_ids = [first_ref, first_ref + n_ref - 1]

    # -- inventory at t1: stock at the start of the last period minus what sold since ------------------------
    last_p = refills_per_k[line_k]
    stock_end = np.where(last_p == 0, stock0, capacity) - sold[lp_offset + last_p]
    if len(line_id):
        inv = pa.table({"product_line_id": line_id, "count": stock_end.astype(np.int32)})
        cur.register("_inv", inv)
        try:
            cur.execute(
                """
                UPDATE inventory SET count = v.count, updated_at = ?,
                    next_expiration_date = CASE
                        WHEN v.count = 0 THEN NULL
                        ELSE coalesce(
                            (SELECT max(ri.expiration_date) FROM refill_items ri
                             WHERE ri.product_line_id = v.product_line_id AND ri.created > ? AND ri.added >
                             0),
                            inventory.next_expiration_date) END
                FROM _inv v WHERE inventory.product_line_id = v.product_line_id
                """,
                [t1, t0],
            )
        finally:
            cur.unregister("_inv")


def _simulate_temperature_and_alerts(
    cur, cfg: SimConfig, fleet: _Fleet, t0: datetime, t1: datetime, summary: WindowSummary
) -> None:
    rng = rng_for(cfg.seed, "alerts", t0, t1)
    days = (t1 - t0).total_seconds() / 86400
    t0_ms, t1_ms = to_ms(t0), to_ms(t1)
    span = max(1, t1_ms - t0_ms)
    sensors = cur.execute(
        "SELECT kiosk_id, position, base_celsius FROM temperature_sensors ORDER BY kiosk_id, position"
    ).fetchall()
    names = dict(cur.execute("SELECT id, name FROM kiosks").fetchall())
    orgs = dict(zip(fleet.kiosk_ids.tolist(), fleet.org_ids.tolist(), strict=True))
    created_ms = dict(zip(fleet.kiosk_ids.tolist(), fleet.created_ms.tolist(), strict=True))
    types = {t[0]: t for t in data.ALERT_TYPES}
    excursions, alerts = [], []
    next_alert = int(cur.execute("SELECT coalesce(max(id), 0) + 1 FROM alerts").fetchone()[0])

    def new_alert(kid: int, atype: str, start_ms: int, duration_ms: int, message: str) -> None:
        nonlocal next_alert
        _, category, severity, _ = types[atype]
        start = from_ms(start_ms - start_ms % 1000)
        ack_at = start + timedelta(minutes=int(rng.integers(2, 240))) if rng.random() < 0.85 else None
        raise_at = (
            start + timedelta(minutes=30)
            if severity == "high" and (ack_at is None or ack_at > start + timedelta(minutes=30))
            else None
        )
        resolve_at = start + timedelta(milliseconds=duration_ms)
        alerts.append(
            (
                next_alert,
                atype,
                category,
                severity,
                "open",
                False,
                kid,
                orgs[kid],
                message,
                start,
                None,
                start,
                start,
                ack_at,
                raise_at,
                resolve_at,
            )
        )
        summary.new_alert_ids.append(next_alert)
        next_alert += 1

    for kid, position, base in sensors:
        if kid not in orgs:
            continue
        for _ in range(int(rng.poisson(days / 12))):
            start = t0_ms + int(rng.integers(0, span))
            start -= start % 60_000
            if start <= created_ms[kid]:
                continue
            duration = int(rng.integers(20, 181)) * 60_000
            peak = float(rng.uniform(2.5, 7.5))
            excursions.append((kid, position, from_ms(start), from_ms(start + duration), round(peak, 2)))
            if base + peak > EXCURSION_THRESHOLD_C:
                new_alert(
                    kid,
                    "TEMPERATURE_HIGH",
                    start + duration // 4,
                    duration // 2,
                    f"Sensor {position} in {names[kid]} above {EXCURSION_THRESHOLD_C:.0f} °C",
                )
    other_types = [t for t in types if t != "TEMPERATURE_HIGH"]
    for kid in fleet.kiosk_ids.tolist():
        for _ in range(int(rng.poisson(days / 4))):
            start = t0_ms + 1000 + int(rng.integers(0, span))
            if start <= created_ms[kid]:
                continue
            atype = other_types[int(rng.integers(len(other_types)))]
            duration = int(rng.choice([5, 20, 60, 240, 1440, 2880])) * 60_000 + int(rng.integers(0, 600_000))
            new_alert(kid, atype, start, duration, f"{types[atype][3]} ({names[kid]})")
    if excursions:
        insert_rows(cur, "temperature_excursions", excursions)
    if alerts:
        insert_rows(cur, "alerts", alerts)


def _advance_alert_states(cur, t1: datetime, summary: WindowSummary) -> None:
    """Applies every planned acknowledgement, escalation and resolution whose time has come by t1."""
    changed = cur.execute(
        """
        UPDATE alerts SET
            is_ack = is_ack OR (ack_at IS NOT NULL AND ack_at <= ?2),
            status = CASE WHEN resolve_at <= ?2 THEN 'resolved'
                          WHEN raise_at IS NOT NULL AND raise_at <= ?2 THEN 'raised'
                          ELSE status END,
            end_date = CASE WHEN resolve_at <= ?2 THEN resolve_at ELSE end_date END,
            updated_at = greatest(updated_at,
                                  CASE WHEN ack_at <= ?2 THEN ack_at ELSE updated_at END,
                                  CASE WHEN raise_at <= ?2 THEN raise_at ELSE updated_at END,
                                  CASE WHEN resolve_at <= ?2 THEN resolve_at ELSE updated_at END)
        WHERE status <> 'resolved' AND (
            (ack_at IS NOT NULL AND ack_at <= ?2 AND NOT is_ack)
            OR (raise_at IS NOT NULL AND raise_at <= ?2 AND status = 'open')
            OR resolve_at <= ?2)
        RETURNING id
        """.replace("?2", "$1"),
        [t1],
    ).fetchall()
    summary.changed_alert_ids.extend(sorted(r[0] for r in changed))


def _refresh_sessions(cur, cfg: SimConfig, t0: datetime, t1: datetime) -> None:
    """Each kiosk's most recent session: its last transaction, or an open session still in progress at t1."""
    cur.execute(
        """
        INSERT OR REPLACE INTO sessions
        SELECT kiosk_id, 'CLOSED', 'purchase', created, session_closed_at, true, session_closed_at,
               ended_with_purchase, external_transaction_id
        FROM (SELECT *, row_number() OVER (PARTITION BY kiosk_id ORDER BY created DESC, id DESC) AS rn
              FROM transactions WHERE created > ?) t
        WHERE rn = 1
        """,
        [t0],
    )
    rng = rng_for(cfg.seed, "sessions", t0, t1)
    kiosks = [
        r[0] for r in cur.execute("SELECT id FROM kiosks WHERE created_at < ? ORDER BY id", [t1]).fetchall()
    ]
    for kid in kiosks:
        if rng.random() < 0.08:
            started = t1 - timedelta(seconds=int(rng.integers(5, 90)))
            cur.execute(
                "INSERT OR REPLACE INTO sessions VALUES (?, 'OPEN', 'purchase', ?, ?, false, NULL, false, ?)",
                [kid, started, started, f"ext-open-{kid}-{int(started.timestamp())}"],
            )


# -- entry point ---------------------------------------------------------------------------------------------
def generate(store: Store, config: SimConfig) -> GenerationSummary:
    """Fills an empty store with the history [now - days, now] for `config` (deterministic)."""
    import time as _time

    started = _time.perf_counter()
    if store.scalar("SELECT count(*) FROM organizations"):
        raise ValueError("the store is not empty")
    history_start = config.now - timedelta(days=config.days)
    conn = store.connection
    _insert_organizations(store, config)
    _insert_catalog(store, config)
    insert_kiosks(
        store,
        config,
        0,
        config.kiosks,
        history_start - timedelta(days=400),
        history_start - timedelta(days=1),
    )
    _insert_users(store, config)
    _insert_promocodes(store, config)
    t = history_start
    while t < config.now:
        t_next = min(t + WINDOW, config.now)
        simulate_window(store, config, t, t_next, cur=conn)
        t = t_next
    conn.execute("UPDATE kiosks SET network_last_online = ? - to_seconds(id % 50)", [config.now])
    for key, value in (
        ("now", config.now.isoformat()),
        ("seed", str(config.seed)),
        ("kiosks", str(config.kiosks)),
        ("days", str(config.days)),
        ("history_start", history_start.isoformat()),
    ):
        store.set_state(key, value, conn)
    conn.execute("CHECKPOINT")
    return GenerationSummary(seconds=_time.perf_counter() - started, counts=store.counts())


def local_date(moment: datetime, tz: str) -> date:
    return moment.astimezone(ZoneInfo(tz)).date()
