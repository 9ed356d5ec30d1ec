"""Charts: Vega-Lite specifications written with altair, rendered to static SVG by vl-convert (in-process, no
browser, no network), inlined into the page. The page needs no JavaScript and loads nothing from elsewhere."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

WIDTH = 860
# vl-convert measures text to lay a chart out; the browser draws it. Liberation Sans (Linux) has the metrics
# of Arial and Helvetica (Windows, macOS), so labels measured here fit wherever the page is opened.
FONT = "'Liberation Sans', Arial, Helvetica, sans-serif"
STATUS_COLORS = {
    "complete": "#2e7d32",
    "partial": "#ef6c00",
    "paused": "#1565c0",
    "failed": "#c62828",
    "running": "#757575",
}


def _day_x(days: Sequence[str]) -> Any:
    """Kiosk-local days (ISO strings) as bands, every day of `days` present, gaps included."""
    import altair as alt

    return alt.X(
        "day:O",
        title="kiosk-local day",
        scale=alt.Scale(domain=list(days)),
        axis=alt.Axis(
            labelAngle=-45, labelOverlap="parity", labelExpr="utcFormat(toDate(datum.value), '%a %d %b')"
        ),
    )


def _plain(value: Any) -> Any:
    """A JSON value for the chart's inline data."""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return value


def _data(rows: Sequence[dict[str, Any]], keys: Sequence[str]) -> Any:
    import altair as alt

    return alt.Data(values=[{k: _plain(r.get(k)) for k in keys} for r in rows])


def _config(chart: Any) -> Any:
    return (
        chart.configure(font=FONT, background="white")
        .configure_view(stroke=None)
        .configure_axis(labelFontSize=11, titleFontSize=12, titleFontWeight="normal", gridColor="#e8e8e8")
        .configure_legend(labelFontSize=11, titleFontSize=12, titleFontWeight="normal", labelLimit=260)
        .configure_title(fontSize=13, anchor="start", fontWeight="bold")
    )


def render_svg(chart: Any, label: str) -> str:
    """The chart as an inline <svg> element (no XML namespace declarations: HTML parses inline SVG itself)."""
    import vl_convert

    # The specifications are built by the functions below from altair's own classes: validating each one
    # against the Vega-Lite JSON schema again costs more than rendering it.
    svg = vl_convert.vegalite_to_svg(_config(chart).to_dict(validate=False))
    svg = re.sub(r'\s+xmlns(:\w+)?="[^"]*"', "", svg, count=0)
    svg = svg.replace(' version="1.1"', "", 1)
    return svg.replace("<svg ", f'<svg role="img" aria-label="{_attr(label)}" ', 1)


def _attr(text: str) -> str:
    return text.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")


def _color(field: str, title: str, domain: Sequence[str], colors: Sequence[str]) -> Any:
    import altair as alt

    return alt.Color(
        f"{field}:N",
        title=title,
        scale=alt.Scale(domain=list(domain), range=list(colors)),
        legend=alt.Legend(orient="right"),
    )


@dataclass(frozen=True)
class DailySeries:
    """Values per kiosk-local day and series (a kiosk): what the day charts draw."""

    rows: Sequence[dict[str, Any]]
    value: str
    value_title: str
    series: str
    series_title: str
    series_domain: Sequence[str]
    colors: Sequence[str]
    days: Sequence[str]
    title: str

    def chart(self) -> Any:
        import altair as alt

        return alt.Chart(_data(self.rows, ["day", self.value, self.series]), title=self.title)

    def color(self) -> Any:
        return _color(self.series, self.series_title, self.series_domain, self.colors)


def daily_stacked_bars(data: DailySeries, *, height: int = 190) -> Any:
    """One bar per kiosk-local day, stacked by `series` (kiosks of one currency add up within a day)."""
    import altair as alt

    return (
        data.chart()
        .mark_bar()
        .encode(
            x=_day_x(data.days),
            y=alt.Y(f"sum({data.value}):Q", title=data.value_title),
            color=data.color(),
        )
        .properties(width=WIDTH - 240, height=height)
    )


def daily_lines(
    data: DailySeries,
    *,
    percent: bool = False,
    threshold: float | None = None,
    threshold_label: str = "",
    height: int = 200,
) -> Any:
    """A line with a point per kiosk-local day and `series`; an optional horizontal threshold rule."""
    import altair as alt

    axis = alt.Axis(format="%", tickCount=5) if percent else alt.Axis()
    scale = alt.Scale(domain=[0, 1]) if percent else alt.Scale(zero=False)
    lines = (
        data.chart()
        .mark_line(point=alt.OverlayMarkDef(size=40), strokeWidth=2)
        .encode(
            x=_day_x(data.days),
            y=alt.Y(f"{data.value}:Q", title=data.value_title, axis=axis, scale=scale),
            color=data.color(),
        )
    )
    layers = [lines]
    if threshold is not None:
        rule_data = alt.Data(values=[{"threshold": threshold, "label": threshold_label}])
        rule = alt.Chart(rule_data).mark_rule(color="#c62828", strokeDash=[6, 4]).encode(y="threshold:Q")
        text = (
            alt.Chart(rule_data)
            .mark_text(align="left", dx=4, dy=-6, color="#c62828", fontSize=11)
            .encode(y="threshold:Q", text="label:N", x=alt.value(0))
        )
        layers += [rule, text]
    return alt.layer(*layers).properties(width=WIDTH - 240, height=height)


def day_heatmap(
    rows: Sequence[dict[str, Any]],
    *,
    value: str,
    value_title: str,
    label: str,
    kiosks: Sequence[str],
    days: Sequence[str],
    title: str,
    scale: Any,
    legend_format: str | None = None,
    legend: bool = True,
    dark_above: float | None = None,
) -> Any:
    """One cell per kiosk (row) and kiosk-local day (column) coloured by `value`, with the text `label`."""
    import altair as alt

    base = alt.Chart(_data(rows, ["day", "kiosk", value, label]), title=title).encode(
        x=_day_x(days), y=alt.Y("kiosk:N", title=None, sort=list(kiosks), axis=alt.Axis(labelLimit=300))
    )
    cells = base.mark_rect(stroke="white", strokeWidth=1).encode(
        color=alt.Color(
            f"{value}:Q",
            title=value_title,
            scale=scale,
            legend=alt.Legend(orient="right", **({"format": legend_format} if legend_format else {}))
            if legend
            else None,
        )
    )
    ink: Any = alt.value("#1d2330")
    if dark_above is not None:  # white numbers on the darkest cells
        ink = alt.condition(f"datum.{value} >= {dark_above}", alt.value("white"), alt.value("#1d2330"))
    text = base.mark_text(fontSize=10).encode(text=f"{label}:N", color=ink)
    width = min(WIDTH - 300, max(120, 26 * len(days)))
    return alt.layer(cells, text).properties(width=width, height=26 * max(1, len(kiosks)))


def hot_scale(limit: float) -> Any:
    """Colours of the hottest reading: blue at or below the limit, then warmer with every degree above it."""
    import altair as alt

    return alt.Scale(
        type="threshold",
        domain=[limit + 0.001, limit + 1, limit + 3, limit + 5],
        range=["#c6dbef", "#fdd49e", "#fc8d59", "#d7301f", "#7f0000"],
    )


def count_scale(highest: float) -> Any:
    import altair as alt

    return alt.Scale(domain=[0, max(1.0, highest)], range=["#f7f7f7", "#e6550d"])


def ranked_bars(
    rows: Sequence[dict[str, Any]],
    *,
    label: str,
    value: str,
    value_title: str,
    title: str,
    color: str = "#4c78a8",
    note: str | None = None,
    percent: bool = False,
) -> Any:
    """Horizontal bars, largest first (top products); `note` is a text field printed at each bar's end."""
    import altair as alt

    keys = [label, value] + ([note] if note else [])
    base = alt.Chart(_data(rows, keys), title=title).encode(
        y=alt.Y(f"{label}:N", sort="-x", title=None, axis=alt.Axis(labelLimit=300)),
        x=alt.X(
            f"{value}:Q",
            title=value_title,
            axis=alt.Axis(format="%", tickCount=5) if percent else alt.Axis(),
            scale=alt.Scale(domain=[0, 1]) if percent else alt.Scale(),
        ),
    )
    layers = [base.mark_bar(color=color)]
    if note:
        layers.append(base.mark_text(align="left", dx=4, fontSize=11, color="#333").encode(text=f"{note}:N"))
    height = max(40, 22 * len(rows))
    # the bar-end notes lie outside the plot: room for them on the right
    padding = {"left": 5, "top": 5, "bottom": 5, "right": 150 if note else 5}
    return alt.layer(*layers).properties(width=WIDTH - 360, height=height, padding=padding)


def run_bars(
    rows: Sequence[dict[str, Any]],
    *,
    value: str,
    value_title: str,
    title: str,
    height: int = 160,
) -> Any:
    """One bar per sync run (oldest left), coloured by the run's status."""
    import altair as alt

    statuses = [s for s in STATUS_COLORS if any(r["status"] == s for r in rows)]
    statuses += sorted({str(r["status"]) for r in rows} - set(statuses))
    colors = [STATUS_COLORS.get(s, "#9e9e9e") for s in statuses]
    order = [r["run"] for r in rows]
    width = min(WIDTH - 240, 60 + 36 * len(rows))
    return (
        alt.Chart(_data(rows, ["run", value, "status"]), title=title)
        .mark_bar()
        .encode(
            x=alt.X("run:O", sort=order, title="run start (UTC)", axis=alt.Axis(labelAngle=-40)),
            y=alt.Y(f"{value}:Q", title=value_title),
            color=alt.Color("status:N", title="status", scale=alt.Scale(domain=statuses, range=colors)),
        )
        .properties(width=width, height=height)
    )
