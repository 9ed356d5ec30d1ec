"""The report's sections: one function each, reading the marts for the window and returning its explanation,
charts and tables. Money is summed per currency and never across currencies; days are kiosk-local."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from pipelines.report import charts
from pipelines.report.model import Chart, Column, Section, Table, Window
from pipelines.report.reader import Reader

CHILLED_MAX_CELSIUS = 7  # chilled food must stay at or below 7 °C
FALLBACK_FILL_BELOW = Decimal("0.5")  # fallback refill rule: top up cells below 50 % fill
FALLBACK_PERCENT = f"{int(FALLBACK_FILL_BELOW * 100)} %"
TOP_PRODUCTS = 10
MAX_RUNS_CHARTED = 60
MAX_RUNS_LISTED = 30
PALETTE = (
    "#4c78a8",
    "#f58518",
    "#54a24b",
    "#e45756",
    "#72b7b2",
    "#b279a2",
    "#eeca3b",
    "#9d755d",
    "#bab0ac",
    "#ff9da6",
    "#1f3b73",
    "#8c6d31",
    "#2ca02c",
    "#7f7f7f",
    "#17becf",
    "#bcbd22",
)
CENT = Decimal("0.01")


def _d(value: Any) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value or 0))


def _ratio(part: Any, whole: Any) -> Decimal | None:
    whole = _d(whole)
    return None if whole == 0 else _d(part) / whole


def _day(date_key: Any) -> date:
    return datetime.strptime(str(int(date_key)), "%Y%m%d").date()


def _utc(moment: Any) -> datetime | None:
    if moment is None:
        return None
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


class Kiosks:
    """Kiosk labels and one fixed colour per kiosk, the same in every chart."""

    def __init__(self, db: Reader) -> None:
        rows = db.rows(
            f"SELECT kiosk_serial_number, name, currency FROM {db.t('dim_kiosk')} "
            "ORDER BY kiosk_serial_number"
        )
        self.names = {r["kiosk_serial_number"]: r["name"] or "" for r in rows}
        self.currency = {r["kiosk_serial_number"]: r["currency"] for r in rows}
        self._colors = {serial: PALETTE[i % len(PALETTE)] for i, serial in enumerate(self.names)}

    def label(self, serial: str) -> str:
        name = self.names.get(serial, "")
        name = name if len(name) <= 26 else name[:25] + "…"
        return f"{serial} {name}".strip()

    def domain(self, serials: Sequence[str]) -> tuple[list[str], list[str]]:
        ordered = sorted(set(serials))
        return [self.label(s) for s in ordered], [self._colors.get(s, "#9e9e9e") for s in ordered]


def data_window(db: Reader, days: int) -> Window | None:
    """The `days` kiosk-local days ending with the latest day any fact has data for (None: marts empty)."""
    ends = [
        db.scalar(f"SELECT max(date_key) FROM {db.t(table)}")
        for table in ("fct_sales", "fct_inventory_daily", "fct_refills", "fct_temperature_hourly")
    ]
    known = [int(e) for e in ends if e is not None]
    return Window.ending(_day(max(known)), days) if known else None


def _per_currency(rows: Sequence[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        grouped[str(row["currency"])].append(row)
    return dict(sorted(grouped.items()))


def _days(rows: Sequence[dict[str, Any]], w: Window) -> list[str]:
    """Every kiosk-local day from the first one in `rows` to the end of the window, as ISO strings."""
    first = min((r["day"] for r in rows), default=w.end.isoformat())
    day, days = date.fromisoformat(first), []
    while day <= w.end:
        days.append(day.isoformat())
        day += timedelta(days=1)
    return days


def _drawn(rows: Sequence[dict[str, Any]], value: str) -> bool:
    """A chart of `value` would draw a visible mark (all zero draws nothing: say so in words instead)."""
    return any(r.get(value) not in (None, 0) and float(r[value]) != 0 for r in rows)


def _currency_chart(key: str, caption: str, chart: Any, currency: str) -> Chart:
    """A chart of one currency's money (amounts in different currencies are never drawn together)."""
    return Chart(f"{key}-{currency}", caption, charts.render_svg(chart, currency), currency)


def _product_ranking(
    key: str,
    caption: str,
    rows: list[dict[str, Any]],
    currency: str,
    *,
    value: str,
    value_title: str,
    **bars: Any,
) -> Chart:
    """Products ranked by one money value of one currency, each bar labelled with its row's `note`."""
    chart = charts.ranked_bars(
        rows, label="product", value=value, value_title=f"{value_title} ({currency})", note="note", **bars
    )
    return _currency_chart(key, f"{caption}, {currency}", chart, currency)


def _kiosk_chart(
    build: Callable[..., Any],
    rows: list[dict[str, Any]],
    kiosks: Kiosks,
    w: Window,
    *,
    value: str,
    value_title: str,
    title: str,
    **options: Any,
) -> Any:
    """A per-day chart with one series per kiosk (colour fixed per kiosk across the report)."""
    for row in rows:
        row["kiosk"] = kiosks.label(row["kiosk_serial_number"])
        if "day" not in row:
            row["day"] = (row["local_date"] if "local_date" in row else _day(row["date_key"])).isoformat()
    domain, colors = kiosks.domain([r["kiosk_serial_number"] for r in rows])
    series = charts.DailySeries(
        rows, value, value_title, "kiosk", "kiosk", domain, colors, _days(rows, w), title
    )
    return build(series, **options)


# ---------------------------------------------------------------------------------------------- revenue
def revenue(db: Reader, w: Window, kiosks: Kiosks) -> Section:
    section = Section(
        "revenue",
        "Revenue per kiosk-local day",
        "Gross revenue of counted sales (paid sessions that ended with a purchase, as in Livello's own "
        "analytics) per kiosk-local day, kiosk and currency. A sale at 23:30 in Zurich counts on that Zurich "
        "day. Each currency has its own chart and totals; amounts in different currencies are never added. "
        "The latest day may still be in progress.",
    )
    rows = db.rows(
        "SELECT s.local_date, s.kiosk_serial_number, s.currency, "
        "count(DISTINCT s.transaction_id) AS purchases, sum(s.quantity) AS units, "
        "sum(s.gross_amount) AS gross, sum(s.net_amount) AS net, sum(s.profit_amount) AS profit "
        f"FROM {db.t('fct_sales')} AS s "
        "WHERE s.is_counted AND s.date_key BETWEEN %s AND %s "
        "GROUP BY s.local_date, s.kiosk_serial_number, s.currency "
        "ORDER BY s.local_date, s.kiosk_serial_number, s.currency",
        w.start_key,
        w.end_key,
    )
    if not rows:
        section.empty = "No counted sales in the window."
        return section
    totals, per_kiosk = [], []
    for currency, group in _per_currency(rows).items():
        totals.append(
            {
                "currency": currency,
                "kiosks": len({r["kiosk_serial_number"] for r in group}),
                "purchases": sum(int(r["purchases"]) for r in group),
                "units": sum(int(r["units"]) for r in group),
                "gross": sum((_d(r["gross"]) for r in group), Decimal(0)),
                "net": sum((_d(r["net"]) for r in group), Decimal(0)),
                "profit": sum((_d(r["profit"]) for r in group), Decimal(0)),
            }
        )
        for serial in sorted({r["kiosk_serial_number"] for r in group}):
            mine = [r for r in group if r["kiosk_serial_number"] == serial]
            gross = sum((_d(r["gross"]) for r in mine), Decimal(0))
            per_kiosk.append(
                {
                    "kiosk": kiosks.label(serial),
                    "currency": currency,
                    "days": len(mine),
                    "purchases": sum(int(r["purchases"]) for r in mine),
                    "units": sum(int(r["units"]) for r in mine),
                    "gross": gross,
                    "net": sum((_d(r["net"]) for r in mine), Decimal(0)),
                    "profit": sum((_d(r["profit"]) for r in mine), Decimal(0)),
                    "per_day": (gross / len(mine)).quantize(CENT, ROUND_HALF_UP),
                }
            )
        chart = _kiosk_chart(
            charts.daily_stacked_bars,
            [dict(r) for r in group],
            kiosks,
            w,
            value="gross",
            value_title=f"gross revenue ({currency})",
            title=f"Gross revenue per kiosk-local day, {currency}",
        )
        section.charts.append(_currency_chart("revenue", f"Gross revenue in {currency}", chart, currency))
    money = [
        Column("gross", "gross", "money"),
        Column("net", "net", "money"),
        Column("profit", "profit", "money"),
    ]
    section.tables.append(
        Table(
            "revenue-totals",
            f"Totals per currency, {w.start} to {w.end}",
            [
                Column("currency", "currency"),
                Column("kiosks", "kiosks", "int"),
                Column("purchases", "purchases", "int"),
                Column("units", "units", "int"),
                *money,
            ],
            totals,
        )
    )
    section.tables.append(
        Table(
            "revenue-kiosks",
            "Per kiosk",
            [
                Column("kiosk", "kiosk"),
                Column("currency", "currency"),
                Column("days", "days with sales", "int"),
                Column("purchases", "purchases", "int"),
                Column("units", "units", "int"),
                *money,
                Column("per_day", "gross per day with sales", "money"),
            ],
            per_kiosk,
        )
    )
    for row in rows:
        row["kiosk"] = kiosks.label(row["kiosk_serial_number"])
    section.tables.append(
        Table(
            "revenue-daily",
            f"Every kiosk-local day ({len(rows)} rows)",
            [
                Column("local_date", "day", "date"),
                Column("kiosk", "kiosk"),
                Column("currency", "currency"),
                Column("purchases", "purchases", "int"),
                Column("units", "units", "int"),
                *money,
            ],
            rows,
            collapsed=True,
        )
    )
    return section


# ----------------------------------------------------------------------------------------- top products
def top_products(db: Reader, w: Window, kiosks: Kiosks) -> Section:
    section = Section(
        "products",
        "Top products by margin",
        f"The {TOP_PRODUCTS} products with the largest margin (net sales minus cost, Livello's profit) in "
        "each currency over the window, from counted sales. Margin % is margin over net sales.",
    )
    rows = db.rows(
        "SELECT s.product_meta_id, s.currency, max(s.product_name) AS receipt_name, "
        "sum(s.quantity) AS units, sum(s.net_amount) AS net, sum(s.cost_amount) AS cost, "
        "sum(s.profit_amount) AS margin "
        f"FROM {db.t('fct_sales')} AS s "
        "WHERE s.is_counted AND s.date_key BETWEEN %s AND %s "
        "GROUP BY s.product_meta_id, s.currency",
        w.start_key,
        w.end_key,
    )
    if not rows:
        section.empty = "No counted sales in the window."
        return section
    names = {
        r["product_meta_id"]: r["name"]
        for r in db.rows(
            f"SELECT product_meta_id, max(name) AS name FROM {db.t('dim_product')} "
            "WHERE is_current OR is_deleted GROUP BY product_meta_id"  # a deleted product: its last name
        )
    }
    table_rows = []
    for currency, group in _per_currency(rows).items():
        group.sort(key=lambda r: (-_d(r["margin"]), r["product_meta_id"]))
        top = group[:TOP_PRODUCTS]
        for rank, row in enumerate(top, 1):
            row["rank"] = rank
            row["product"] = str(
                names.get(row["product_meta_id"]) or row["receipt_name"] or row["product_meta_id"]
            )
            row["margin_pct"] = _ratio(row["margin"], row["net"])
            pct = row["margin_pct"]
            row["note"] = f"{float(pct) * 100:.1f} %" if pct is not None else ""
            table_rows.append(row)
        section.charts.append(
            _product_ranking(
                "products",
                "Top products",
                top,
                currency,
                value="margin",
                value_title="margin",
                title=f"Top {len(top)} products by margin, {currency} (label: margin %)",
            )
        )
    section.tables.append(
        Table(
            "products-top",
            f"Top {TOP_PRODUCTS} per currency, {w.start} to {w.end}",
            [
                Column("currency", "currency"),
                Column("rank", "#", "int"),
                Column("product", "product"),
                Column("units", "units", "int"),
                Column("net", "net sales", "money"),
                Column("cost", "cost", "money"),
                Column("margin", "margin", "money"),
                Column("margin_pct", "margin %", "pct"),
            ],
            table_rows,
        )
    )
    return section


# ----------------------------------------------------------------------------------- stock-outs, fill rate
def stock(db: Reader, w: Window, kiosks: Kiosks) -> Section:
    section = Section(
        "stock",
        "Stock-outs and fill rates",
        "Fill rate is the units on hand over the capacity of the load cells that hold a product, at the last "
        "sync of each kiosk-local day (fct_inventory_daily; days without a sync have no value). A stock-out "
        "is a cell with a product assigned and no unit available.",
    )
    daily = db.rows(
        "SELECT i.local_date, i.kiosk_serial_number, "
        "sum(CASE WHEN i.product_line_id IS NOT NULL THEN 1 ELSE 0 END) AS cells, "
        "sum(CASE WHEN i.is_stock_out THEN 1 ELSE 0 END) AS stock_outs, "
        "sum(CASE WHEN i.product_line_id IS NOT NULL THEN i.quantity_on_hand ELSE 0 END) AS on_hand, "
        "sum(CASE WHEN i.product_line_id IS NOT NULL THEN i.capacity ELSE 0 END) AS capacity "
        f"FROM {db.t('fct_inventory_daily')} AS i "
        "WHERE i.date_key BETWEEN %s AND %s "
        "GROUP BY i.local_date, i.kiosk_serial_number ORDER BY i.local_date, i.kiosk_serial_number",
        w.start_key,
        w.end_key,
    )
    if not daily:
        section.empty = "No inventory snapshot in the window."
        return section
    for row in daily:
        row["fill_rate"] = _ratio(row["on_hand"], row["capacity"])
    rated = [dict(r) for r in daily if r["fill_rate"] is not None]
    if len({r["local_date"] for r in rated}) > 1:
        chart = _kiosk_chart(
            charts.daily_lines,
            rated,
            kiosks,
            w,
            value="fill_rate",
            value_title="fill rate",
            title="Fill rate at the end of each kiosk-local day",
            percent=True,
        )
        section.charts.append(
            Chart("stock-fill", "Fill rate per kiosk", charts.render_svg(chart, "fill rate"))
        )
    elif rated:  # a single day of snapshots: one bar per kiosk reads better than lone points
        for row in rated:
            row["kiosk"] = kiosks.label(row["kiosk_serial_number"])
            row["note"] = f"{float(row['fill_rate']) * 100:.1f} %"
        chart = charts.ranked_bars(
            rated,
            label="kiosk",
            value="fill_rate",
            value_title="fill rate",
            title=f"Fill rate at the end of {rated[0]['local_date']:%a %d %b %Y} (the only day with a sync)",
            note="note",
            percent=True,
        )
        section.charts.append(
            Chart("stock-fill", "Fill rate per kiosk", charts.render_svg(chart, "fill rate"))
        )
    if _drawn(daily, "stock_outs"):
        cells = [
            {
                "day": r["local_date"].isoformat(),
                "kiosk": kiosks.label(r["kiosk_serial_number"]),
                "stock_outs": int(r["stock_outs"]),
                "label": str(int(r["stock_outs"]) or ""),
            }
            for r in daily
        ]
        chart = charts.day_heatmap(
            cells,
            value="stock_outs",
            value_title="cells out of stock",
            label="label",
            kiosks=[kiosks.label(s) for s in sorted({r["kiosk_serial_number"] for r in daily})],
            days=_days(cells, w),
            title="Cells out of stock at the end of each kiosk-local day",
            scale=charts.count_scale(max(c["stock_outs"] for c in cells)),
            legend=False,
        )
        section.charts.append(
            Chart("stock-outs", "Stock-outs per kiosk", charts.render_svg(chart, "stock-outs"))
        )
    else:
        section.notes.append("No cell ended a kiosk-local day out of stock in the window.")

    per_kiosk = []
    for serial in sorted({r["kiosk_serial_number"] for r in daily}):
        mine = [r for r in daily if r["kiosk_serial_number"] == serial]
        last = mine[-1]
        rates = [r["fill_rate"] for r in mine if r["fill_rate"] is not None]
        per_kiosk.append(
            {
                "kiosk": kiosks.label(serial),
                "local_date": last["local_date"],
                "cells": int(last["cells"]),
                "stock_outs": int(last["stock_outs"]),
                "fill_rate": last["fill_rate"],
                "avg_fill": sum(rates, Decimal(0)) / len(rates) if rates else None,
                "cell_days_out": sum(int(r["stock_outs"]) for r in mine),
            }
        )
    section.tables.append(
        Table(
            "stock-kiosks",
            "Per kiosk, at its latest day in the window",
            [
                Column("kiosk", "kiosk"),
                Column("local_date", "latest day", "date"),
                Column("cells", "cells with a product", "int"),
                Column("stock_outs", "out of stock", "int"),
                Column("fill_rate", "fill rate", "pct"),
                Column("avg_fill", "avg fill (window)", "pct"),
                Column("cell_days_out", "cell-days out (window)", "int"),
            ],
            per_kiosk,
        )
    )
    inv = db.t("fct_inventory_snapshot")
    empty_now = db.rows(
        "SELECT i.kiosk_serial_number, i.load_cell_id, i.planogram_position, i.product_name, "
        "i.snapshot_at_local "
        f"FROM {inv} AS i WHERE i.is_stock_out AND i.snapshot_at_utc = "
        f"(SELECT max(x.snapshot_at_utc) FROM {inv} AS x "
        "WHERE x.kiosk_serial_number = i.kiosk_serial_number) "
        "ORDER BY i.kiosk_serial_number, i.planogram_position, i.load_cell_id"
    )
    days_out = {
        (r["kiosk_serial_number"], r["load_cell_id"]): int(r["days"])
        for r in db.rows(
            "SELECT kiosk_serial_number, load_cell_id, count(*) AS days "
            f"FROM {db.t('fct_inventory_daily')} WHERE is_stock_out AND date_key BETWEEN %s AND %s "
            "GROUP BY kiosk_serial_number, load_cell_id",
            w.start_key,
            w.end_key,
        )
    }
    for row in empty_now:
        row["kiosk"] = kiosks.label(row["kiosk_serial_number"])
        row["days_out"] = days_out.get((row["kiosk_serial_number"], row["load_cell_id"]), 0)
    if empty_now:
        section.tables.append(
            Table(
                "stock-outs-now",
                f"Cells out of stock at each kiosk's latest snapshot ({len(empty_now)})",
                [
                    Column("kiosk", "kiosk"),
                    Column("planogram_position", "position"),
                    Column("product_name", "product"),
                    Column("snapshot_at_local", "snapshot (kiosk-local)", "time"),
                    Column("days_out", "days ended empty (window)", "int"),
                ],
                empty_now,
                collapsed=len(empty_now) > 25,
            )
        )
    elif _drawn(daily, "stock_outs"):
        section.notes.append("No cell is out of stock at the latest snapshot.")
    return section


# ----------------------------------------------------------------------------------------------- spoilage
def spoilage(db: Reader, w: Window, kiosks: Kiosks) -> Section:
    section = Section(
        "spoilage",
        "Spoilage",
        "Units removed at refills because they were past their expiry date, against the units added, per "
        "product and currency (fct_refills). The cost of spoilage is the removed units at unit cost. "
        "A high rate says the kiosk is stocked with more of the product than it sells before expiry.",
    )
    rows = db.rows(
        "SELECT r.product_meta_id, r.currency, max(r.product_name) AS product, "
        "sum(r.quantity_added) AS added, sum(r.quantity_removed_expired) AS expired, "
        "sum(r.cost_value_added) AS cost_added, sum(r.cost_value_removed_expired) AS cost_expired "
        f"FROM {db.t('fct_refills')} AS r WHERE r.date_key BETWEEN %s AND %s "
        "GROUP BY r.product_meta_id, r.currency",
        w.start_key,
        w.end_key,
    )
    if not rows:
        section.empty = "No refill in the window."
        return section
    totals, top_rows = [], []
    for currency, group in _per_currency(rows).items():
        for row in group:
            row["cost_expired"] = _d(row["cost_expired"])
            row["rate"] = _ratio(row["expired"], row["added"])
            row["product"] = str(row["product"] or row["product_meta_id"])
        added = sum(int(r["added"]) for r in group)
        expired = sum(int(r["expired"]) for r in group)
        cost_added = sum((_d(r["cost_added"]) for r in group), Decimal(0))
        cost_expired = sum((r["cost_expired"] for r in group), Decimal(0))
        totals.append(
            {
                "currency": currency,
                "added": added,
                "expired": expired,
                "rate": _ratio(expired, added),
                "cost_added": cost_added,
                "cost_expired": cost_expired,
                "cost_share": _ratio(cost_expired, cost_added),
            }
        )
        spoiled = sorted(
            (r for r in group if int(r["expired"]) > 0),
            key=lambda r: (-r["cost_expired"], -int(r["expired"]), r["product_meta_id"]),
        )[:TOP_PRODUCTS]
        top_rows += spoiled
        if spoiled:
            for row in spoiled:
                rate = row["rate"]
                row["note"] = f"{row['expired']} units" + (
                    f", {float(rate) * 100:.0f} % of added" if rate else ""
                )
            section.charts.append(
                _product_ranking(
                    "spoilage",
                    "Spoilage",
                    spoiled,
                    currency,
                    value="cost_expired",
                    value_title="cost of spoilage",
                    title=f"Products with the highest cost of spoilage, {currency}",
                    color="#e45756",
                )
            )
    section.tables.append(
        Table(
            "spoilage-totals",
            f"Totals per currency, {w.start} to {w.end}",
            [
                Column("currency", "currency"),
                Column("added", "units added", "int"),
                Column("expired", "units expired", "int"),
                Column("rate", "spoilage rate", "pct"),
                Column("cost_added", "cost of units added", "money"),
                Column("cost_expired", "cost of spoilage", "money"),
                Column("cost_share", "share of cost", "pct"),
            ],
            totals,
        )
    )
    if top_rows:
        section.tables.append(
            Table(
                "spoilage-products",
                f"Products with the highest cost of spoilage (top {TOP_PRODUCTS} per currency)",
                [
                    Column("currency", "currency"),
                    Column("product", "product"),
                    Column("added", "units added", "int"),
                    Column("expired", "units expired", "int"),
                    Column("rate", "spoilage rate", "pct"),
                    Column("cost_expired", "cost of spoilage", "money"),
                ],
                top_rows,
            )
        )
    else:
        section.notes.append("No unit was removed as expired in the window.")
    return section


# --------------------------------------------------------------------------------------------- cold chain
def _find(
    columns: Sequence[str],
    *,
    all_of: Sequence[str] = (),
    any_of: Sequence[str] = (),
    none_of: Sequence[str] = (),
) -> str | None:
    """The first column whose name holds every word of `all_of`, one of `any_of` (if given), none of
    `none_of`: marts added by other versions of the transforms are read by their documented meaning."""
    for column in columns:
        name = column.lower()
        if (
            all(w in name for w in all_of)
            and (not any_of or any(w in name for w in any_of))
            and not any(w in name for w in none_of)
        ):
            return column
    return None


def cold_chain(db: Reader, w: Window, kiosks: Kiosks) -> Section:
    section = Section(
        "cold-chain",
        "Cold chain per kiosk",
        f"Chilled food must stay at or below {CHILLED_MAX_CELSIUS} °C. For each kiosk: the hottest reading "
        "of each kiosk-local day against the limit, and how long it was above the limit. The hours measured, "
        "and the share of hours between a sensor's first and last reading that have a value (no gaps), show "
        "whether the record is complete enough to prove the fridge stayed cold.",
    )
    hourly = db.t("fct_temperature_hourly")
    limit = CHILLED_MAX_CELSIUS
    daily = db.rows(
        "SELECT t.local_date, t.kiosk_serial_number, max(t.max_celsius) AS hottest, "
        f"count(DISTINCT CASE WHEN t.avg_celsius > {limit} THEN t.hour_utc END) AS hours_above, "
        "count(DISTINCT t.hour_utc) AS hours_measured "
        f"FROM {hourly} AS t WHERE t.date_key BETWEEN %s AND %s "
        "GROUP BY t.local_date, t.kiosk_serial_number ORDER BY t.local_date, t.kiosk_serial_number",
        w.start_key,
        w.end_key,
    )
    if not daily:
        section.empty = "No temperature reading in the window."
        return section
    mart = _cold_chain_mart(db)
    if mart is None:
        section.notes.append(
            "Derived from fct_temperature_hourly: an hour counts as above the limit when its average was "
            f"above {limit} °C, and a breach day has at least one such hour (fct_cold_chain_daily, with "
            "minutes above the limit and the longest excursion, is not in this warehouse)."
        )
        labels = {(r["local_date"], r["kiosk_serial_number"]): int(r["hours_above"]) for r in daily}
        section.charts.append(
            _cold_heatmap(
                daily, labels, kiosks, w, f"Hottest reading (colour) and hours above {limit} °C (number)"
            )
        )
        rows = db.rows(
            "SELECT t.kiosk_serial_number, t.sensor_position, count(DISTINCT t.local_date) AS days, "
            "count(*) AS hours_measured, min(t.hour_utc) AS first_hour, max(t.hour_utc) AS last_hour, "
            f"sum(CASE WHEN t.avg_celsius > {limit} THEN 1 ELSE 0 END) AS hours_avg_above, "
            f"sum(CASE WHEN t.max_celsius > {limit} THEN 1 ELSE 0 END) AS hours_peak_above, "
            f"count(DISTINCT CASE WHEN t.avg_celsius > {limit} THEN t.local_date END) AS breach_days, "
            "max(t.max_celsius) AS hottest "
            f"FROM {hourly} AS t WHERE t.date_key BETWEEN %s AND %s "
            "GROUP BY t.kiosk_serial_number, t.sensor_position "
            "ORDER BY t.kiosk_serial_number, t.sensor_position",
            w.start_key,
            w.end_key,
        )
        for row in rows:
            row["kiosk"] = kiosks.label(row["kiosk_serial_number"])
            span = (_utc(row["last_hour"]) - _utc(row["first_hour"])).total_seconds() // 3600 + 1
            row["coverage"] = _ratio(row["hours_measured"], span)
        section.tables.append(
            Table(
                "cold-sensors",
                f"Per kiosk and sensor, {w.start} to {w.end}",
                [
                    Column("kiosk", "kiosk"),
                    Column("sensor_position", "sensor"),
                    Column("days", "days", "int"),
                    Column("hours_measured", "hours measured", "int"),
                    Column("coverage", "no gaps", "pct"),
                    Column("hours_avg_above", f"h avg > {limit} °C", "int"),
                    Column("hours_peak_above", f"h peak > {limit} °C", "int"),
                    Column("breach_days", "breach days", "int"),
                    Column("hottest", "hottest °C", "celsius"),
                ],
                rows,
            )
        )
        return section

    table, cols = db.t("fct_cold_chain_daily"), mart
    section.notes.append(
        "Minutes above the limit, the longest excursion and breach days come from fct_cold_chain_daily."
    )
    breach = f"CASE WHEN c.{cols['breach']} THEN 1 ELSE 0 END" if cols.get("breach") else "0"
    longest = f"max(c.{cols['longest']})" if cols.get("longest") else "NULL"
    per_day = db.rows(
        f"SELECT c.date_key, c.kiosk_serial_number, sum(c.{cols['minutes']}) AS minutes_above, "
        f"{longest} AS longest, max({breach}) AS breach "
        f"FROM {table} AS c WHERE c.date_key BETWEEN %s AND %s "
        "GROUP BY c.date_key, c.kiosk_serial_number ORDER BY c.date_key, c.kiosk_serial_number",
        w.start_key,
        w.end_key,
    )
    for row in per_day:
        row["minutes_above"] = float(row["minutes_above"] or 0)
    labels = {(_day(r["date_key"]), r["kiosk_serial_number"]): int(r["minutes_above"]) for r in per_day}
    section.charts.append(
        _cold_heatmap(
            daily, labels, kiosks, w, "Hottest reading (colour) and minutes above the limit (number)"
        )
    )
    sensor = f"c.{cols['sensor']}" if cols.get("sensor") else "'all'"
    threshold = f"max(c.{cols['threshold']})" if cols.get("threshold") else str(limit)
    rows = db.rows(
        f"SELECT c.kiosk_serial_number, {sensor} AS sensor_position, count(DISTINCT c.date_key) AS days, "
        f"sum(c.{cols['minutes']}) AS minutes_above, {longest} AS longest, "
        f"sum({breach}) AS breach_days, {threshold} AS threshold "
        f"FROM {table} AS c WHERE c.date_key BETWEEN %s AND %s "
        f"GROUP BY c.kiosk_serial_number, {sensor} ORDER BY c.kiosk_serial_number, {sensor}",
        w.start_key,
        w.end_key,
    )
    for row in rows:
        row["kiosk"] = kiosks.label(row["kiosk_serial_number"])
    section.tables.append(
        Table(
            "cold-sensors",
            f"Per kiosk and sensor, {w.start} to {w.end} (fct_cold_chain_daily)",
            [
                Column("kiosk", "kiosk"),
                Column("sensor_position", "sensor"),
                Column("days", "days", "int"),
                Column("threshold", "limit °C", "celsius"),
                Column("minutes_above", "minutes above", "int"),
                Column("longest", "longest excursion (min)", "int"),
                Column("breach_days", "breach days", "int"),
            ],
            rows,
        )
    )
    return section


def _cold_heatmap(
    daily: list[dict[str, Any]],
    labels: dict[tuple[date, str], int],
    kiosks: Kiosks,
    w: Window,
    title: str,
) -> Chart:
    """Kiosks x kiosk-local days, coloured by the day's hottest reading, numbered with the time above the
    limit (blank: never above)."""
    rows = [
        {
            "day": r["local_date"].isoformat(),
            "kiosk": kiosks.label(r["kiosk_serial_number"]),
            "hottest": r["hottest"],
            "label": str(labels.get((r["local_date"], r["kiosk_serial_number"])) or ""),
        }
        for r in daily
        if r["hottest"] is not None
    ]
    serials = sorted({r["kiosk_serial_number"] for r in daily})
    chart = charts.day_heatmap(
        rows,
        value="hottest",
        value_title="hottest °C",
        label="label",
        kiosks=[kiosks.label(s) for s in serials],
        days=_days(rows, w),
        title=title,
        scale=charts.hot_scale(float(CHILLED_MAX_CELSIUS)),
        legend_format=".0f",
        dark_above=CHILLED_MAX_CELSIUS + 3,
    )
    return Chart("cold-days", "Cold chain per kiosk and day", charts.render_svg(chart, "cold chain"))


def _cold_chain_mart(db: Reader) -> dict[str, str | None] | None:
    columns = db.columns("fct_cold_chain_daily")
    if not columns or "kiosk_serial_number" not in columns or "date_key" not in columns:
        return None
    minutes = _find(columns, all_of=("minute",), any_of=("above", "over", "exceed"), none_of=("longest",))
    if minutes is None:
        return None
    return {
        "minutes": minutes,
        "longest": _find(columns, any_of=("longest", "max_excursion")),
        "breach": _find(columns, all_of=("breach",)),
        "sensor": _find(columns, all_of=("sensor",)),
        "threshold": _find(columns, all_of=("threshold",)),
    }


# --------------------------------------------------------------------------------------------- refills
def refills(db: Reader, w: Window, kiosks: Kiosks) -> Section:
    section = Section(
        "refills",
        "Refill suggestions for the next day",
        "What to load on the next refill route, per kiosk and load cell: the units to add, what they cost "
        "and what they sell for (in the kiosk's currency).",
    )
    plan = _plan_columns(db)
    if plan is not None:
        rows = _plan_rows(db, plan, kiosks)
        section.notes.append(
            "From fct_replenishment_plan: demand is the average units sold per kiosk-local day; days of "
            "cover and the predicted stock-out date follow from the stock on hand."
        )
        extra = [
            Column("avg_sold", "avg sold / day", "num"),
            Column("cover", "days of cover", "num"),
            Column("stock_out", "predicted stock-out", "date"),
        ]
    else:
        rows = _fallback_rows(db)
        section.notes.append(
            "Fallback (fct_replenishment_plan is not in this warehouse): every cell below "
            f"{FALLBACK_PERCENT} fill at the latest snapshot is topped up to its capacity. "
            "No sales forecast is used."
        )
        extra = [Column("fill_rate", "fill rate", "pct")]
    if not rows:
        section.empty = (
            "Nothing to refill: the plan suggests no units."
            if plan
            else f"Nothing to refill: no cell is below {FALLBACK_PERCENT} fill at the latest snapshot."
        )
        return section
    for row in rows:
        row["kiosk"] = kiosks.label(row["kiosk_serial_number"])
    per_kiosk = []
    for serial in sorted({r["kiosk_serial_number"] for r in rows}):
        mine = [r for r in rows if r["kiosk_serial_number"] == serial]
        per_kiosk.append(
            {
                "kiosk": kiosks.label(serial),
                "kiosk_serial_number": serial,
                "currency": mine[0]["currency"],
                "cells": len(mine),
                "units": sum(int(r["suggested"]) for r in mine),
                "cost": sum((_d(r["cost"]) for r in mine if r["cost"] is not None), Decimal(0)),
                "value": sum((_d(r["value"]) for r in mine if r["value"] is not None), Decimal(0)),
                "snapshot": mine[0].get("snapshot_at_local"),
            }
        )
    for row in per_kiosk:
        row["note"] = f"{row['cells']} cell" + ("s" if row["cells"] != 1 else "")
    chart = charts.ranked_bars(
        per_kiosk,
        label="kiosk",
        value="units",
        value_title="units to add",
        title="Units to add per kiosk (label: cells to refill)",
        color="#54a24b",
        note="note",
    )
    section.charts.append(
        Chart("refills-units", "Units to add per kiosk", charts.render_svg(chart, "refills"))
    )
    section.tables.append(
        Table(
            "refills-kiosks",
            "Per kiosk",
            [
                Column("kiosk", "kiosk"),
                Column("currency", "currency"),
                Column("cells", "cells to refill", "int"),
                Column("units", "units to add", "int"),
                Column("cost", "cost", "money"),
                Column("value", "sales value (gross)", "money"),
            ]
            + ([] if plan else [Column("snapshot", "latest snapshot (kiosk-local)", "time")]),
            per_kiosk,
        )
    )
    section.tables.append(
        Table(
            "refills-cells",
            f"Per load cell ({len(rows)})",
            [
                Column("kiosk", "kiosk"),
                Column("position", "position"),
                Column("product", "product"),
                Column("on_hand", "on hand", "int"),
                Column("capacity", "capacity", "int"),
                *extra,
                Column("suggested", "units to add", "int"),
                Column("cost", "cost", "money"),
                Column("value", "sales value", "money"),
                Column("currency", "currency"),
            ],
            rows,
            collapsed=len(rows) > 25,
        )
    )
    return section


def _plan_columns(db: Reader) -> dict[str, str | None] | None:
    columns = db.columns("fct_replenishment_plan")
    if not columns or "kiosk_serial_number" not in columns:
        return None
    suggested = _find(columns, all_of=("suggest",), none_of=("cost", "value", "amount", "price"))
    suggested = suggested or _find(columns, any_of=("refill_quantity", "quantity_to_add", "units_to_add"))
    if suggested is None:
        return None
    return {
        "suggested": suggested,
        "position": _find(columns, any_of=("planogram_position",))
        or _find(columns, any_of=("load_cell_id",)),
        "product": _find(columns, any_of=("product_name",)),
        "on_hand": _find(columns, any_of=("on_hand",)),
        "capacity": _find(columns, all_of=("capacity",)),
        "avg_sold": _find(columns, any_of=("avg", "average"), none_of=("cost", "value", "price")),
        "cover": _find(columns, all_of=("cover",)),
        "stock_out": _find(columns, all_of=("stock_out",), any_of=("date", "_on", "_at")),
        "cost": _find(columns, all_of=("cost",), none_of=("unit_cost",)),
        "value": _find(columns, any_of=("sales_value", "value_gross", "gross_value", "sales_amount"))
        or _find(columns, all_of=("value",), none_of=("cost",)),
        "currency": _find(columns, any_of=("currency",)),
    }


def _plan_rows(db: Reader, plan: dict[str, str | None], kiosks: Kiosks) -> list[dict[str, Any]]:
    picked = ", ".join(f"p.{col} AS {key}" for key, col in plan.items() if col)
    rows = db.rows(
        f"SELECT p.kiosk_serial_number, {picked} FROM {db.t('fct_replenishment_plan')} AS p "
        f"WHERE p.{plan['suggested']} > 0"
    )
    for row in rows:
        for key in plan:
            row.setdefault(key, None)
        row["currency"] = row["currency"] or kiosks.currency.get(row["kiosk_serial_number"])
    rows.sort(
        key=lambda r: (r["kiosk_serial_number"], str(r["stock_out"] or "9999"), str(r["position"] or ""))
    )
    return rows


def _fallback_rows(db: Reader) -> list[dict[str, Any]]:
    inv = db.t("fct_inventory_snapshot")
    cells = db.rows(
        "SELECT i.kiosk_serial_number, i.planogram_position AS position, i.load_cell_id, "
        "i.product_name AS product, i.quantity_on_hand AS on_hand, i.capacity, i.unit_cost, i.unit_price, "
        "i.currency, i.snapshot_at_local "
        f"FROM {inv} AS i WHERE i.product_line_id IS NOT NULL AND i.capacity > 0 AND i.snapshot_at_utc = "
        f"(SELECT max(x.snapshot_at_utc) FROM {inv} AS x "
        "WHERE x.kiosk_serial_number = i.kiosk_serial_number) "
        "ORDER BY i.kiosk_serial_number, i.planogram_position, i.load_cell_id"
    )
    rows = []
    for cell in cells:
        fill = _ratio(cell["on_hand"], cell["capacity"])
        if fill is None or fill >= FALLBACK_FILL_BELOW:
            continue
        units = int(cell["capacity"]) - int(cell["on_hand"])
        cost = (
            None
            if cell["unit_cost"] is None
            else (units * _d(cell["unit_cost"])).quantize(CENT, ROUND_HALF_UP)
        )
        value = (
            None
            if cell["unit_price"] is None
            else (units * _d(cell["unit_price"])).quantize(CENT, ROUND_HALF_UP)
        )
        rows.append({**cell, "fill_rate": fill, "suggested": units, "cost": cost, "value": value})
    return rows


# --------------------------------------------------------------------------------------- pipeline health
RUN_COLUMNS = (
    "started_at",
    "finished_at",
    "status",
    "error",
    "duration_seconds",
    "rows_loaded",
    "requests",
    "http_429",
    "retries",
    "budget_remaining",
    "budget_limit",
    "skipped",
    "failed",
)


def _resources(text: Any) -> str:
    """'resource: reason' pairs of a JSON column of sync_runs (failed, skipped)."""
    if not text:
        return ""
    try:
        value = json.loads(text)
    except (TypeError, ValueError):
        return str(text)
    if isinstance(value, dict):
        return "; ".join(f"{k}: {v}" for k, v in sorted(value.items()))
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


def pipeline_health(db: Reader, w: Window | None, kiosks: Kiosks) -> Section:
    section = Section(
        "health",
        "Pipeline health",
        "Every livello-sync run appends a row to sync_runs: its status (complete, partial when some "
        "resources stopped on broken answers, paused at --max-duration, failed), the rows it loaded, its API "
        "requests and any 429 answers (the client paces itself so a steady run gets none). Times are UTC.",
    )
    columns = [c for c in RUN_COLUMNS if c in db.columns("sync_runs")]
    if "started_at" not in columns or "status" not in columns:
        section.empty = "No run recorded in sync_runs (the warehouse was not loaded by livello-sync run)."
        return section
    runs = db.rows(
        f"SELECT {', '.join(columns)} FROM {db.t('sync_runs')} ORDER BY started_at DESC LIMIT 2000"
    )
    since = datetime.combine(w.start - timedelta(days=1), datetime.min.time(), UTC) if w else None
    runs = [r for r in runs if since is None or (_utc(r["started_at"]) or since) >= since]
    if not runs:
        section.empty = "No run recorded in the window."
        return section
    for run in runs:
        run.setdefault("rows_loaded", None)
        run["started_at"] = _utc(run["started_at"])
        run["run"] = run["started_at"].strftime("%m-%d %H:%M:%S")
        run["failed"] = _resources(run.get("failed"))
        run["skipped"] = _resources(run.get("skipped"))
        run["error"] = (str(run.get("error") or "").splitlines() or [""])[0][:160]
        remaining, budget = run.get("budget_remaining"), run.get("budget_limit")
        run["budget"] = (
            "" if remaining is None else f"{remaining:,} of {budget:,}" if budget else f"{remaining:,}"
        )
        run["problems"] = "; ".join(
            p
            for p in (
                run["error"],
                f"failed {run['failed']}" if run["failed"] else "",
                f"skipped {run['skipped']}" if run["skipped"] else "",
            )
            if p
        )
    charted = list(reversed(runs[:MAX_RUNS_CHARTED]))
    for value, title in (("rows_loaded", "rows loaded"), ("requests", "API requests")):
        if value in columns:
            for run in charted:
                run[value] = int(run[value] or 0)
            if _drawn(charted, value):
                chart = charts.run_bars(
                    charted, value=value, value_title=title, title=f"{title[0].upper()}{title[1:]} per run"
                )
                section.charts.append(
                    Chart(f"health-{value}", f"{title} per run", charts.render_svg(chart, title))
                )
    statuses = defaultdict(int)
    for run in runs:
        statuses[str(run["status"])] += 1
    ok = [r for r in runs if r["status"] == "complete"]
    bad = [r for r in runs if r["status"] in ("failed", "partial")]
    summary = {
        "runs": len(runs),
        "statuses": ", ".join(f"{n} {s}" for s, n in sorted(statuses.items())),
        "rows_loaded": sum(int(r.get("rows_loaded") or 0) for r in runs),
        "requests": sum(int(r.get("requests") or 0) for r in runs),
        "http_429": sum(int(r.get("http_429") or 0) for r in runs),
        "last_ok": ok[0]["started_at"] if ok else None,
        "last_bad": bad[0]["started_at"] if bad else None,
    }
    section.tables.append(
        Table(
            "health-summary",
            "Runs since the start of the window",
            [
                Column("runs", "runs", "int"),
                Column("statuses", "by status"),
                Column("rows_loaded", "rows loaded", "int"),
                Column("requests", "API requests", "int"),
                Column("http_429", "429 answers", "int"),
                Column("last_ok", "last complete run", "time"),
                Column("last_bad", "last failed or partial run", "time"),
            ],
            [summary],
        )
    )
    listed = [Column("started_at", "started (UTC)", "time"), Column("status", "status")]
    listed += [
        c
        for c in (
            Column("duration_seconds", "seconds", "num"),
            Column("rows_loaded", "rows", "int"),
            Column("requests", "requests", "int"),
            Column("http_429", "429s", "int"),
            Column("budget", "budget left"),
        )
        if c.key in columns or (c.key == "budget" and "budget_remaining" in columns)
    ]
    listed.append(Column("problems", "errors, failed and skipped resources"))
    section.tables.append(
        Table(
            "health-runs", f"Latest runs ({min(len(runs), MAX_RUNS_LISTED)})", listed, runs[:MAX_RUNS_LISTED]
        )
    )
    return section


SECTIONS = (revenue, top_products, stock, spoilage, cold_chain, refills)
