"""The simulator's clock: what "now" is, and what appears when it moves.

`advance(store, config, delta)` plays (old_now, new_now] with the generator's own rules (`simulate_window`):
purchases, refills, price changes, temperature excursions, alerts opening / being acknowledged / escalating /
resolving, plus events that only happen "live": products renamed, a product deleted, a new kiosk, users
changing their accounts (mobile, language, status; `updated` moves to the change's moment).
Everything happens in one store transaction, so a reader sees either the old or the new state.

`upload_backlog(store, serial, hours_late)` is late-arriving data: a kiosk that was offline uploads purchase
sessions whose `created` lies hours in the past. They get new (higher) ids and `uploaded_at` = now, so a
cursor on `created` without a lookback window misses them.

Both return a summary (a dataclass; `asdict` gives JSON) naming what changed, so tests can check it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
import pyarrow as pa

from simulator import generator as gen
from simulator.config import SimConfig, floor_to_minute
from simulator.store import Store

# Live catalog events, expected counts per simulated day.
RENAMES_PER_DAY = 1.0
DELETIONS_PER_DAY = 0.1
NEW_KIOSKS_PER_DAY = 0.05
USER_CHANGES_PER_DAY = 3.0
# The event counts `advance` can force (keyword arguments; also keys of POST /_sim/advance).
EVENTS = ("renames", "price_changes", "deletions", "new_kiosks", "user_changes")


@dataclass
class AdvanceSummary(gen.ChangedIds):
    old_now: datetime
    new_now: datetime
    new_transactions: int = 0
    transaction_id_range: list[int] = field(default_factory=list)  # [first, last] inclusive, [] if none
    new_refills: int = 0
    refill_id_range: list[int] = field(default_factory=list)
    renamed_product_ids: list[int] = field(default_factory=list)
    deleted_product_ids: list[int] = field(default_factory=list)
    new_kiosk_serials: list[str] = field(default_factory=list)
    changed_user_ids: list[int] = field(default_factory=list)


@dataclass
class BacklogSummary:
    kiosk_serial: str
    uploaded_at: datetime
    earliest_created: datetime | None
    latest_created: datetime | None
    transaction_ids: list[int] = field(default_factory=list)


class Clock:
    """A handle on the simulator's time, persisted in the store (`sim_state.now`)."""

    def __init__(self, store: Store, config: SimConfig) -> None:
        self.store = store
        self.config = config

    @property
    def now(self) -> datetime:
        return self.store.now or self.config.now

    def advance(self, delta: timedelta, **events: int | None) -> AdvanceSummary:
        return advance(self.store, self.config, delta, **events)

    def upload_backlog(
        self, kiosk_serial: str, hours_late: float, **options: int | float | None
    ) -> BacklogSummary:
        return upload_backlog(self.store, kiosk_serial, hours_late, **options)


def config_from_store(store: Store) -> SimConfig:
    """The data-shaping configuration the store was generated with (seed, kiosks, days, now)."""
    return SimConfig(
        seed=int(store.get_state("seed") or 42),
        kiosks=int(store.get_state("kiosks") or 1),
        days=int(store.get_state("days") or 1),
        now=store.now or floor_to_minute(datetime.now().astimezone()),
    )


def advance(
    store: Store,
    config: SimConfig,
    delta: timedelta,
    *,
    renames: int | None = None,
    price_changes: int | None = None,
    deletions: int | None = None,
    new_kiosks: int | None = None,
    user_changes: int | None = None,
) -> AdvanceSummary:
    """Moves the clock forward by `delta` (whole seconds) and generates what happened meanwhile.

    The event counts default to random draws at the documented daily rates; pass a number to force exactly
    that many renames / extra product price changes / deletions / new kiosks / changed users (they happen
    at the end of the period)."""
    forced = {
        "renames": renames,
        "price_changes": price_changes,
        "deletions": deletions,
        "new_kiosks": new_kiosks,
        "user_changes": user_changes,
    }
    if delta <= timedelta(0):
        raise ValueError("delta must be positive")
    old = store.now or config.now
    new = old + timedelta(seconds=int(delta.total_seconds()))
    summary = AdvanceSummary(old_now=old, new_now=new)
    with store.write() as cur:
        t = old
        while t < new:
            t_next = min(t + gen.WINDOW, new)
            last = t_next == new
            # A forced count happens in the last window; the windows before get none of that kind.
            events = {k: n if last or n is None else 0 for k, n in forced.items()}
            _catalog_events(cur, store, config, t, t_next, summary, **events)
            window = gen.simulate_window(store, config, t, t_next, cur=cur)
            _merge(summary, window)
            t = t_next
        cur.execute(
            "UPDATE kiosks SET network_last_online = greatest(network_last_online, ? - to_seconds(id % 50))",
            [new],
        )
        store.set_state("now", new.isoformat(), cur)
    return summary


def _merge(summary: AdvanceSummary, window: gen.WindowSummary) -> None:
    if window.transaction_ids:
        first, last = window.transaction_ids
        summary.new_transactions += last - first + 1
        summary.transaction_id_range = [
            summary.transaction_id_range[0] if summary.transaction_id_range else first,
            last,
        ]
    if window.refill_ids:
        first, last = window.refill_ids
        summary.new_refills += last - first + 1
        summary.refill_id_range = [summary.refill_id_range[0] if summary.refill_id_range else first, last]
    summary.absorb(window)


def _draw(rng: np.random.Generator, forced: int | None, per_day: float, days: float) -> int:
    return int(forced) if forced is not None else int(rng.poisson(per_day * days))


def _catalog_events(
    cur,
    store: Store,
    config: SimConfig,
    t0: datetime,
    t1: datetime,
    summary: AdvanceSummary,
    *,
    renames: int | None,
    price_changes: int | None,
    deletions: int | None,
    new_kiosks: int | None,
    user_changes: int | None,
) -> None:
    """Renames, extra price changes, a deletion, new kiosks and changed users within (t0, t1]."""
    rng = gen.rng_for(config.seed, "catalog-events", t0, t1)
    days = (t1 - t0) / timedelta(days=1)
    span = max(1, int((t1 - t0).total_seconds()) - 1)

    def moment(forced: int | None) -> datetime:
        """Forced events happen at the end of the period, drawn ones at a random moment within it."""
        return t1 if forced is not None else t0 + timedelta(seconds=1 + int(rng.integers(0, span)))

    live = [r[0] for r in cur.execute("SELECT id FROM products WHERE NOT deleted ORDER BY id").fetchall()]
    n = min(_draw(rng, renames, RENAMES_PER_DAY, days), len(live))
    for pid in sorted(rng.choice(live, size=n, replace=False).tolist()) if n else []:
        at = moment(renames)
        name = cur.execute("SELECT name FROM products WHERE id = ?", [pid]).fetchone()[0]
        base = name.split(" – ")[0]
        suffix = ["neue Rezeptur", "Édition limitée ✨", "Bio", "XL"][int(rng.integers(4))]
        cur.execute(
            "UPDATE products SET name = ?, updated_at = greatest(updated_at, ?) WHERE id = ?",
            [f"{base} – {suffix}", at, pid],
        )
        summary.renamed_product_ids.append(pid)

    n = min(_draw(rng, price_changes, 0.0, days), len(live))
    if n:
        picks = sorted(rng.choice(live, size=n, replace=False).tolist())
        for pid in picks:
            price, cost = cur.execute("SELECT price, cost FROM products WHERE id = ?", [pid]).fetchone()
            factor = float(rng.choice([0.95, 1.05, 1.1]))
            change_product_price(
                cur,
                pid,
                gen.round_price(float(price) * factor, ""),
                round(float(cost) * factor, 2),
                moment(price_changes),
                summary,
            )

    n = min(_draw(rng, deletions, DELETIONS_PER_DAY, days), len(live))
    for pid in sorted(rng.choice(live, size=n, replace=False).tolist()) if n else []:
        delete_product(cur, pid, moment(deletions))
        summary.deleted_product_ids.append(pid)

    n = _draw(rng, new_kiosks, NEW_KIOSKS_PER_DAY, days)
    if n:
        count = int(cur.execute("SELECT count(*) FROM kiosks").fetchone()[0])
        created_from = t0 if new_kiosks is None else t1 - timedelta(seconds=1)
        ids = gen.insert_kiosks(store, config, count, n, created_from, t1, cur=cur)
        summary.new_kiosk_serials.extend(f"LIV-{i:04d}" for i in ids)
        cur.execute(
            "UPDATE kiosks SET network_last_online = created_at WHERE id IN (SELECT unnest(?))", [ids]
        )

    users = [r[0] for r in cur.execute("SELECT id FROM users ORDER BY id").fetchall()]
    n = min(_draw(rng, user_changes, USER_CHANGES_PER_DAY, days), len(users))
    for uid in sorted(rng.choice(users, size=n, replace=False).tolist()) if n else []:
        change_user(cur, uid, int(rng.integers(3)), moment(user_changes))
        summary.changed_user_ids.append(uid)


def erase_user(store, user_id: int) -> bool:
    """A user account erased at the vendor (a data-deletion request): gone from /users and /users/{id}, with
    no trace a client could read; their purchase sessions stay (they are the operator's books). False: no
    such user."""
    with store.write() as cur:
        if cur.execute("SELECT 1 FROM users WHERE id = ?", [user_id]).fetchone() is None:
            return False
        cur.execute("DELETE FROM users WHERE id = ?", [user_id])
    return True


def change_user(cur, user_id: int, kind: int, at: datetime) -> None:
    """What users do to their accounts: 0 a new mobile number, 1 another language, 2 (de)activation. Every
    change moves `updated` to `at` (never back), as a write through PATCH /users does."""
    mobile = f"+49 15{(user_id * 7919 + int(at.timestamp())) % 10**8:08d}"
    change, params = (
        ("mobile = ?", [mobile]),
        ("lang = CASE lang WHEN 'de' THEN 'en' WHEN 'en' THEN 'fr' WHEN 'fr' THEN 'it' ELSE 'de' END", []),
        ("status = CASE status WHEN 'ACTIVE' THEN 'INACTIVE' ELSE 'ACTIVE' END", []),
    )[kind]
    cur.execute(
        f"UPDATE users SET {change}, updated = greatest(updated, ?) WHERE id = ?", [*params, at, user_id]
    )


def change_product_price(
    cur, product_id: int, price: float, cost: float, at: datetime, summary: AdvanceSummary | None = None
) -> list[int]:
    """A new default price (and cost) of a product from `at`, propagated to its active product lines."""
    cur.execute("INSERT INTO product_prices VALUES (?, ?, ?, ?)", [product_id, at, price, cost])
    cur.execute(
        "UPDATE products SET price = ?, cost = ?, updated_at = greatest(updated_at, ?) WHERE id = ?",
        [price, cost, at, product_id],
    )
    lines = [
        r[0]
        for r in cur.execute(
            "SELECT id FROM product_lines WHERE product_id = ? AND active ORDER BY id", [product_id]
        ).fetchall()
    ]
    gen.apply_line_prices(cur, [(lid, at, price) for lid in lines])
    if summary is not None:
        changed = gen.ChangedIds(price_changed_product_ids=[product_id], price_changed_product_line_ids=lines)
        summary.absorb(changed)
    return lines


def delete_product(cur, product_id: int, at: datetime) -> None:
    """Marks a product deleted and takes it off the planograms (its lines end, their cells become empty)."""
    cur.execute(
        "UPDATE products SET deleted = true, deleted_at = ?, updated_at = greatest(updated_at, ?) "
        "WHERE id = ?",
        [at, at, product_id],
    )
    cur.execute(
        """UPDATE inventory SET product_line_id = NULL, count = 0, next_expiration_date = NULL, updated_at = ?
           WHERE product_line_id IN (SELECT id FROM product_lines WHERE product_id = ? AND active)""",
        [at, product_id],
    )
    cur.execute("UPDATE product_lines SET active = false WHERE product_id = ?", [product_id])


# -- late-arriving data --------------------------------------------------------------------------------------
def upload_backlog(
    store: Store,
    kiosk_serial: str,
    hours_late: float,
    *,
    sessions: int | None = None,
    span_hours: float = 1.0,
    config: SimConfig | None = None,
) -> BacklogSummary:
    """A kiosk that was offline uploads now purchase sessions that happened `hours_late` hours ago.

    The sessions' `created` lie in [now - hours_late - span_hours, now - hours_late]; `sessions` defaults to
    the kiosk's usual number for that span (at least 3). Items follow the usual rules (prices valid at
    `created`, stock taken from the current inventory, never below zero)."""
    if hours_late <= 0 or span_hours <= 0:
        raise ValueError("hours_late and span_hours must be positive")
    config = config or config_from_store(store)
    now = store.now or config.now
    kiosk = store.query_one(
        """SELECT k.id, k.organization_id, o.currency, k.country_code, k.popularity FROM kiosks k
           JOIN organizations o ON o.id = k.organization_id WHERE k.serial_number = ?""",
        [kiosk_serial],
    )
    if kiosk is None:
        raise KeyError(f"unknown kiosk {kiosk_serial!r}")
    kiosk_id, org_id, currency, country, popularity = kiosk
    end = now - timedelta(seconds=int(hours_late * 3600))
    start = end - timedelta(seconds=int(span_hours * 3600))
    rng = gen.rng_for(config.seed, "backlog", now, kiosk_id, int(hours_late * 3600), int(span_hours * 3600))
    if sessions is None:
        sessions = max(
            3, int(rng.poisson(config.sessions_per_kiosk_day * popularity * span_hours / 24 * 1.5))
        )
    created = np.sort(rng.integers(gen.to_ms(start), gen.to_ms(end) + 1, size=int(sessions)))
    with store.write() as cur:
        lines = cur.execute(
            """SELECT pl.id, pl.product_id, i.count FROM product_lines pl
               JOIN inventory i ON i.product_line_id = pl.id
               WHERE pl.kiosk_id = ? AND pl.active ORDER BY pl.id""",
            [kiosk_id],
        ).fetchall()
        line_id = np.array([r[0] for r in lines], dtype=np.int64)
        line_product = np.array([r[1] for r in lines], dtype=np.int64)
        stock = np.array([r[2] for r in lines], dtype=np.int64)
        n = len(created)
        n_lines = (
            rng.choice(np.arange(1, 6), size=n, p=gen.ITEMS_PER_PURCHASE_P)
            if len(lines)
            else np.zeros(n, int)
        )
        item_tx = np.repeat(np.arange(n), n_lines)
        weights = gen.product_weight(line_product) if len(lines) else np.ones(0)
        pick = rng.choice(len(lines), size=len(item_tx), p=weights / weights.sum()) if len(lines) else item_tx
        keep_first = np.unique(item_tx * 4096 + pick, return_index=True)[1]
        item_tx, pick = item_tx[keep_first], pick[keep_first]
        qty = 1 + (rng.random(len(item_tx)) < 0.15).astype(np.int64)
        # Stock: in time order, a line is sold only while the cell still holds enough units.
        order = np.lexsort((item_tx, pick))
        csum = np.cumsum(qty[order])
        starts = np.r_[True, pick[order][1:] != pick[order][:-1]]
        base = np.maximum.accumulate(np.where(starts, csum - qty[order], 0))
        cum = np.empty_like(csum)
        cum[order] = csum - base
        keep = cum <= stock[pick] if len(pick) else np.zeros(0, bool)
        item_tx, pick, qty = item_tx[keep], pick[keep], qty[keep]
        order = np.lexsort((pick, item_tx))
        item_tx, pick, qty = item_tx[order], pick[order], qty[order]
        per_tx = np.bincount(item_tx, minlength=n)
        line_number = np.arange(len(item_tx)) - (np.cumsum(per_tx) - per_tx)[item_tx] + 1
        ended = per_tx > 0
        paid = ended & (rng.random(n) >= gen.UNPAID_SHARE)
        mix = gen._CARD_MIX[country]
        probs = np.array([m[3] for m in mix])
        choice = rng.choice(len(mix), size=n, p=probs / probs.sum())
        ptype = [mix[c][0] if mix[c][0] != "MEMBERCARD" else "CARD" for c in choice]
        ctype = [mix[c][1] or "Visa" for c in choice]
        pctype = [mix[c][2] or "Credit" for c in choice]
        ptype = [p if (p != "FREE" or e) else "CARD" for p, e in zip(ptype, ended.tolist(), strict=True)]
        users = [
            r[0]
            for r in cur.execute(
                "SELECT id FROM users WHERE organization_id = ? AND role = 'CUSTOMER' ORDER BY id", [org_id]
            ).fetchall()
        ]
        users = users or [r[0] for r in cur.execute("SELECT min(id) FROM users").fetchall()]
        user_id = np.array(users)[rng.integers(0, len(users), size=n)]
        prices = gen._PriceBook(cur)
        at = created[item_tx]
        price_c = prices.line_price_cents(line_id[pick], at)
        cost_c = prices.product_cost_cents(line_product[pick], at)
        free = np.array([p == "FREE" for p in ptype], dtype=bool)
        pct = np.where(free[item_tx], 100, np.where(rng.random(len(item_tx)) < gen.DISCOUNT_SHARE, 20, 0))
        gross_c = qty * price_c
        discount_c = (gross_c * pct * 2 + 100) // 200
        total_c = gross_c - discount_c
        first_id = int(cur.execute("SELECT coalesce(max(id), 0) + 1 FROM transactions").fetchone()[0])
        tx_ids = first_id + np.arange(n, dtype=np.int64)
        closed = created + rng.integers(15_000, 180_000, size=n)
        now_ms = gen.to_ms(now)
        tx = pa.table(
            {
                "id": tx_ids,
                "created": gen.ts_array(created),
                "kiosk_id": np.full(n, kiosk_id),
                "organization_id": np.full(n, org_id),
                "user_id": user_id,
                "is_paid": paid,
                "ended_with_purchase": ended,
                "payment_type": pa.array(ptype, type=pa.string()),
                "card_type": pa.array(ctype, type=pa.string()),
                "payment_card_type": pa.array(pctype, type=pa.string()),
                "membercard_id": pa.nulls(n, type=pa.string()),
                "external_transaction_id": pa.array([f"ext-late-{i:x}-{kiosk_id}" for i in tx_ids.tolist()]),
                "session_closed_at": gen.ts_array(closed),
                "item_count": per_tx.astype(np.int32),
                "total": gen.cents_array(np.bincount(item_tx, weights=total_c, minlength=n).astype(np.int64)),
                "discount_total": gen.cents_array(
                    np.bincount(item_tx, weights=discount_c, minlength=n).astype(np.int64)
                ),
                "currency": pa.array([currency] * n, type=pa.string()),
                "uploaded_at": gen.ts_array(np.full(n, now_ms)),
            }
        )
        items = pa.table(
            {
                "transaction_id": tx_ids[item_tx],
                "line_number": line_number.astype(np.int16),
                "created": gen.ts_array(at),
                "kiosk_id": np.full(len(item_tx), kiosk_id),
                "organization_id": np.full(len(item_tx), org_id),
                "product_line_id": line_id[pick],
                "quantity": qty.astype(np.int32),
                "price": gen.cents_array(price_c),
                "discount": gen.cents_array(discount_c),
                "total": gen.cents_array(total_c),
                "cost": gen.cents_array(cost_c),
            }
        )
        sold = np.bincount(pick, weights=qty, minlength=len(lines)).astype(np.int64)
        cur.register("_late_tx", tx)
        cur.register("_late_items", items)
        try:
            cur.execute(
                """INSERT INTO transaction_items
                   SELECT i.transaction_id, i.line_number, i.created, i.kiosk_id, i.organization_id,
                          i.product_line_id, pl.product_id, p.name, p.ean, c.planogram_position, i.quantity,
                          i.price,
                          pl.vat_rate, i.discount, i.total, i.cost
                   FROM _late_items i JOIN product_lines pl ON pl.id = i.product_line_id
                   JOIN products p ON p.id = pl.product_id JOIN load_cells c ON c.id = pl.load_cell_id"""
            )
            cur.execute("INSERT INTO transactions SELECT * FROM _late_tx")
        finally:
            cur.unregister("_late_tx")
            cur.unregister("_late_items")
        if n:
            store.refresh_day_counts(
                "transactions", gen.from_ms(int(created[0])).date(), gen.from_ms(int(created[-1])).date(), cur
            )
        for lid, units in zip(line_id.tolist(), sold.tolist(), strict=True):
            if units:
                cur.execute(
                    """UPDATE inventory SET count = count - ?, updated_at = ?,
                           next_expiration_date = CASE WHEN count - ? = 0 THEN NULL ELSE next_expiration_date
                           END
                       WHERE product_line_id = ?""",
                    [units, now, units, lid],
                )
    return BacklogSummary(
        kiosk_serial=kiosk_serial,
        uploaded_at=now,
        earliest_created=gen.from_ms(int(created[0])) if n else None,
        latest_created=gen.from_ms(int(created[-1])) if n else None,
        transaction_ids=tx_ids.tolist(),
    )
