"""`livello-sync reconcile`: prove, window by window, that the marts agree with Livello's own analytics.

The vendor's analytics add amounts across currencies without converting them, and they bucket days in the
time zone of the `x-timezone` header. So the comparison is made per scope: a group of kiosks sharing one
currency and one time zone (or one kiosk with `--per-kiosk`), asking the API with `kioskSerialNumbers=<the
group>` and `x-timezone=<their zone>`, and asking the warehouse for the same kiosks over the same kiosk-
local dates.

Compared per scope: transaction KPIs, refill statistics, payment types, daily profit (per local day), sales
aggregated by kiosk and by product line (summed over the window). A difference above 0.01 on any number fails.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Protocol

TOLERANCE = Decimal("0.01")
ZERO = Decimal("0")
CENT = Decimal("0.01")
PAYMENT_BUCKETS = ("visa", "mastercard", "girocard", "otherCreditCard", "membercard", "other")


class ApiClient(Protocol):
    def get(
        self, path: str, params: Mapping[str, Any] | None = None, *, headers: Mapping[str, str] | None = None
    ) -> Any: ...


class ReconcileError(RuntimeError):
    """Reconcile could not run (no marts, no kiosks); distinct from a mismatch."""


@dataclass(frozen=True)
class Scope:
    """Kiosks compared together: one currency and one time zone, so API totals are meaningful."""

    currency: str
    timezone: str
    kiosks: tuple[str, ...]

    @property
    def label(self) -> str:
        kiosks = self.kiosks[0] if len(self.kiosks) == 1 else f"{len(self.kiosks)} kiosks"
        return f"{self.currency} {self.timezone} ({kiosks})"


@dataclass(frozen=True)
class Comparison:
    metric: str
    scope: str
    warehouse: Decimal
    api: Decimal
    detail: bool = False  # one day / kiosk / product line: printed only when it differs (or with --verbose)

    @property
    def difference(self) -> Decimal:
        return self.warehouse - self.api

    @property
    def ok(self) -> bool:
        return abs(self.difference) <= TOLERANCE


@dataclass
class ReconcileReport:
    start: date
    end: date
    comparisons: list[Comparison] = field(default_factory=list)

    @property
    def mismatches(self) -> list[Comparison]:
        return [c for c in self.comparisons if not c.ok]

    @property
    def exit_code(self) -> int:
        return 1 if self.mismatches else 0

    def render(self, *, verbose: bool = False) -> str:
        shown = [c for c in self.comparisons if verbose or not c.detail or not c.ok]
        header = ("metric", "scope", "warehouse", "API", "difference")
        rows = [(c.metric, c.scope, _fmt(c.warehouse), _fmt(c.api), _fmt(c.difference)) for c in shown]
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(5)]
        lines = [
            " | ".join(
                h.ljust(w) if i < 2 else h.rjust(w)
                for i, (h, w) in enumerate(zip(header, widths, strict=True))
            )
        ]
        lines.append("-+-".join("-" * w for w in widths))
        for row, comparison in zip(rows, shown, strict=True):
            cells = [
                v.ljust(w) if i < 2 else v.rjust(w) for i, (v, w) in enumerate(zip(row, widths, strict=True))
            ]
            lines.append(" | ".join(cells) + ("" if comparison.ok else "   <-- differs"))
        details = sum(1 for c in self.comparisons if c.detail)
        lines.append("")
        lines.append(
            f"window {self.start} .. {self.end} (kiosk-local dates): "
            f"{len(self.comparisons)} numbers compared "
            f"({details} per day/kiosk/product line, shown only when they differ), "
            f"{len(self.mismatches)} differ by more than {TOLERANCE}"
        )
        if self.mismatches:
            lines.append(
                "If the window reaches past the last sync, run `livello-sync run` first; "
                "otherwise the warehouse and the API disagree."
            )
        return "\n".join(lines)


def _fmt(value: Decimal) -> str:
    # Counts print as integers, money with its two decimals (55,834.80, not 55,834.8), ratios with up to four.
    if value == value.to_integral_value():
        return f"{value:,.0f}"
    if value == value.quantize(Decimal("0.01")):
        return f"{value:,.2f}"
    return f"{value:,.4f}".rstrip("0")


def _dec(value: Any) -> Decimal:
    if value is None:
        return ZERO
    return value if isinstance(value, Decimal) else Decimal(str(value))


def _half_up(value: Decimal, places: str = "0.01") -> Decimal:
    return value.quantize(Decimal(places), rounding=ROUND_HALF_UP)


# --- the warehouse side -----------------------------------------------------------------------------------


class Warehouse:
    """Queries over the marts through dlt's sql_client (same SQL on DuckDB and PostgreSQL)."""

    def __init__(self, sql_client: Any) -> None:
        from transforms.settings import use_marts

        self._client = sql_client
        # the marts live in their own schema (sources.livello.marts_schema): name them unqualified below
        use_marts(sql_client)

    def rows(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        return [tuple(r) for r in (self._client.execute_sql(sql, *args) or [])]

    def scopes(self, per_kiosk: bool) -> list[Scope]:
        try:
            kiosks = self.rows(
                "SELECT kiosk_serial_number, currency, timezone FROM dim_kiosk ORDER BY kiosk_serial_number"
            )
        except Exception as exc:  # noqa: BLE001 - the driver's error says little to an operator
            raise ReconcileError(
                f"the marts are missing ({str(exc).splitlines()[0]}): run `livello-sync run` "
                "or `livello-sync transform` first"
            ) from exc
        if not kiosks:
            raise ReconcileError("dim_kiosk is empty: nothing to reconcile (has a sync run?)")
        groups: dict[tuple[str, str], list[str]] = {}
        for serial, currency, tz in kiosks:
            if per_kiosk:
                groups[(f"{currency}|{serial}", tz)] = [serial]
            else:
                groups.setdefault((currency, tz), []).append(serial)
        return [
            Scope(key[0].split("|")[0], key[1], tuple(serials)) for key, serials in sorted(groups.items())
        ]

    def _in(self, scope: Scope) -> tuple[str, list[Any]]:
        marks = ", ".join(["%s"] * len(scope.kiosks))
        return f"kiosk_serial_number IN ({marks})", list(scope.kiosks)

    def kpis(self, scope: Scope, start: date, end: date) -> dict[str, Decimal]:
        where, args = self._in(scope)
        [(count, gross, quantity)] = self.rows(
            "SELECT count(*), sum(gross_amount), sum(item_count) FROM fct_transactions "
            f"WHERE is_counted AND {where} AND local_date BETWEEN %s AND %s",
            *args,
            start,
            end,
        )
        [(net,)] = self.rows(
            f"SELECT sum(net_amount) FROM fct_sales WHERE is_counted AND {where} "
            "AND local_date BETWEEN %s AND %s",
            *args,
            start,
            end,
        )
        count = _dec(count)
        gross = _dec(gross)
        return {
            "totalNumberOfTransactions": count,
            "totalGrossIncome": gross,
            "totalNetIncome": _dec(net),
            "totalNumberOfProductsSold": _dec(quantity),
            "averagePurchaseValue": _half_up(gross / count) if count else ZERO,
        }

    def refill_stats(self, scope: Scope, start: date, end: date) -> dict[str, Decimal]:
        where, args = self._in(scope)
        [(added, removed, expired, cost_added, sales_added, cost_removed)] = self.rows(
            "SELECT sum(quantity_added), sum(quantity_removed), sum(quantity_removed_expired), "
            "sum(cost_value_added), sum(sales_value_added), sum(cost_value_removed) FROM fct_refills "
            f"WHERE {where} AND local_date BETWEEN %s AND %s",
            *args,
            start,
            end,
        )
        added = _dec(added)
        return {
            "totalNumberOfProductsAdded": added,
            "totalNumberOfProductsRemoved": _dec(removed),
            "defaultTotalCostValueOfRefills": _dec(cost_added),
            "defaultTotalSalesValueOfRefills": _dec(sales_added),
            "defaultTotalCostValueOfRemovedProducts": _dec(cost_removed),
            "averageSpoilageRate": _half_up(_dec(expired) / added, "0.0001") if added else ZERO,
        }

    def payment_types(self, scope: Scope, start: date, end: date) -> dict[str, Decimal]:
        where, args = self._in(scope)
        counts = dict.fromkeys(PAYMENT_BUCKETS, ZERO)
        for bucket, count in self.rows(
            "SELECT p.vendor_category, count(*) FROM fct_transactions AS t "
            "JOIN dim_payment_method AS p ON p.payment_method_key = t.payment_method_key "
            f"WHERE t.is_counted AND t.{where} AND t.local_date BETWEEN %s AND %s GROUP BY p.vendor_category",
            *args,
            start,
            end,
        ):
            counts[bucket] = _dec(count)
        return counts

    def daily_profit(self, scope: Scope, start: date, end: date) -> dict[str, tuple[Decimal, Decimal]]:
        where, args = self._in(scope)
        return {
            str(day): (_dec(net), _dec(cost))
            for day, net, cost in self.rows(
                "SELECT local_date, sum(net_amount), sum(cost_amount) FROM fct_sales "
                f"WHERE is_counted AND {where} AND local_date BETWEEN %s AND %s GROUP BY local_date",
                *args,
                start,
                end,
            )
        }

    def sales_by(self, key: str, scope: Scope, start: date, end: date) -> dict[str, tuple[Decimal, ...]]:
        where, args = self._in(scope)
        return {
            str(k): tuple(_dec(v) for v in values)
            for k, *values in self.rows(
                f"SELECT {key}, sum(gross_amount), sum(net_amount), sum(tax_amount), sum(cost_amount), "
                f"sum(profit_amount) FROM fct_sales WHERE is_counted AND {where} "
                f"AND local_date BETWEEN %s AND %s GROUP BY {key}",
                *args,
                start,
                end,
            )
        }


# --- the API side -----------------------------------------------------------------------------------------


class Api:
    def __init__(self, client: ApiClient) -> None:
        self._client = client

    def _get(self, path: str, scope: Scope, start: date, end: date, **params: Any) -> Any:
        query = {
            "startDate": start.isoformat(),
            "endDate": end.isoformat(),
            "kioskSerialNumbers": ",".join(scope.kiosks),
            **params,
        }
        # Analytics bucket days in the x-timezone, so each scope asks in its kiosks' own zone.
        return self._client.get(path, params=query, headers={"x-timezone": scope.timezone})

    def kpis(self, scope: Scope, start: date, end: date) -> dict[str, Decimal]:
        body = self._get("/analytics/transactions/kpis", scope, start, end)
        return {k: _dec(v) for k, v in body.items()}

    def refill_stats(self, scope: Scope, start: date, end: date) -> dict[str, Decimal]:
        body = self._get("/analytics/refills/stats", scope, start, end)
        return {k: _dec(v) for k, v in body.items()}

    def payment_types(self, scope: Scope, start: date, end: date) -> dict[str, Decimal]:
        body = self._get("/analytics/transactions/payment-types", scope, start, end)
        return {k: _dec(v) for k, v in body.items()}

    def daily_profit(self, scope: Scope, start: date, end: date) -> dict[str, tuple[Decimal, Decimal]]:
        body = self._get("/analytics/transactions/daily-profit", scope, start, end)
        return {str(row["_id"])[:10]: (_dec(row["total_sales"]), _dec(row["total_cost"])) for row in body}

    def sales_by(
        self, aggregate_by: str, scope: Scope, start: date, end: date
    ) -> dict[str, tuple[Decimal, ...]]:
        # Monthly buckets keep the response small; the window total per key is the sum over its buckets.
        body = self._get(
            "/analytics/sales", scope, start, end, granularity="monthly", aggregateBy=aggregate_by
        )
        key = "productLineId" if aggregate_by == "product" else "kioskSerialNumber"
        totals: dict[str, list[Decimal]] = {}
        for row in body:
            values = [
                _dec(row[f]) for f in ("totalSales", "totalNetSales", "totalTax", "totalCost", "profit")
            ]
            acc = totals.setdefault(str(row[key]), [ZERO] * 5)
            totals[str(row[key])] = [a + v for a, v in zip(acc, values, strict=True)]
        return {k: tuple(v) for k, v in totals.items()}


# --- the comparison ---------------------------------------------------------------------------------------

SALES_MEASURES = ("totalSales", "totalNetSales", "totalTax", "totalCost", "profit")


def _compare_maps(
    out: list[Comparison],
    family: str,
    scope: Scope,
    measures: Iterable[str],
    warehouse: Mapping[str, tuple[Decimal, ...]],
    api: Mapping[str, tuple[Decimal, ...]],
) -> None:
    """Per key (day, kiosk, product line) rows, plus a total per measure so every scope shows its size."""
    measures = tuple(measures)
    keys = sorted(set(warehouse) | set(api))
    empty = (ZERO,) * len(measures)
    totals_w = [ZERO] * len(measures)
    totals_a = [ZERO] * len(measures)
    for key in keys:
        w, a = warehouse.get(key, empty), api.get(key, empty)
        for i, measure in enumerate(measures):
            out.append(Comparison(f"{family}[{key}].{measure}", scope.label, w[i], a[i], detail=True))
            totals_w[i] += w[i]
            totals_a[i] += a[i]
    for i, measure in enumerate(measures):
        out.append(
            Comparison(f"{family}.{measure} (sum of {len(keys)})", scope.label, totals_w[i], totals_a[i])
        )


def reconcile(
    sql_client: Any,
    api_client: ApiClient,
    start: date,
    end: date,
    *,
    per_kiosk: bool = False,
    progress: Callable[[str], None] | None = None,
) -> ReconcileReport:
    if end < start:
        raise ReconcileError(f"--end {end} is before --start {start}")
    warehouse = Warehouse(sql_client)
    api = Api(api_client)
    report = ReconcileReport(start, end)
    out = report.comparisons
    for scope in warehouse.scopes(per_kiosk):
        if progress:
            progress(f"reconciling {scope.label}")
        for family, fetch_w, fetch_a in (
            ("kpis", warehouse.kpis, api.kpis),
            ("refills", warehouse.refill_stats, api.refill_stats),
            ("payment-types", warehouse.payment_types, api.payment_types),
        ):
            w, a = fetch_w(scope, start, end), fetch_a(scope, start, end)
            for measure in w:
                out.append(Comparison(f"{family}.{measure}", scope.label, w[measure], a.get(measure, ZERO)))
        _compare_maps(
            out,
            "daily-profit",
            scope,
            ("total_sales", "total_cost"),
            warehouse.daily_profit(scope, start, end),
            api.daily_profit(scope, start, end),
        )
        for metric, column, group in (
            ("sales-by-kiosk", "kiosk_serial_number", "kiosk"),
            ("sales-by-product-line", "product_line_id", "product"),
        ):
            _compare_maps(
                out,
                metric,
                scope,
                SALES_MEASURES,
                warehouse.sales_by(column, scope, start, end),
                api.sales_by(group, scope, start, end),
            )
    return report
