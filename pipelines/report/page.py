"""The report as one HTML page: inline CSS, inline SVG charts, plain HTML tables; no script, no link."""

from __future__ import annotations

from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from html import escape
from typing import Any

from pipelines.report.model import Column, Report, Section, Table

NUMERIC_KINDS = {"int", "money", "pct", "num", "celsius"}
NOWRAP_KEYS = {"kiosk", "currency", "sensor_position", "status"}

CSS = """
:root { --ink: #1d2330; --muted: #5b6474; --line: #d9dde3; --soft: #f4f6f8; --accent: #1f5fa8; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--ink); background: #fff; line-height: 1.45;
  font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
header, main, footer { max-width: 1120px; margin: 0 auto; padding: 0 24px; }
header { padding-top: 28px; border-bottom: 1px solid var(--line); padding-bottom: 16px; }
h1 { font-size: 26px; margin: 0 0 12px; }
h2 { font-size: 20px; margin: 0 0 8px; }
dl.meta { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; margin: 0 0 16px; }
dl.meta dt { color: var(--muted); }
dl.meta dd { margin: 0; font-variant-numeric: tabular-nums; }
nav.toc h2 { font-size: 14px; text-transform: uppercase; letter-spacing: .04em; color: var(--muted);
  margin: 0 0 4px; }
nav.toc ol { margin: 0; padding-left: 22px; columns: 2; }
a { color: var(--accent); }
section.report-section { padding: 28px 0 12px; border-bottom: 1px solid var(--line); }
p.intro { max-width: 820px; margin: 0 0 8px; }
p.note { max-width: 820px; margin: 0 0 8px; color: var(--muted); font-size: 13.5px; }
p.note.fallback { color: #8a4b00; background: #fff4e0; border-left: 3px solid #ef6c00; padding: 6px 10px; }
p.empty { color: var(--muted); font-style: italic; }
div.charts { display: flex; flex-wrap: wrap; gap: 0 40px; align-items: flex-start; }
figure.chart { margin: 12px 0 16px; }
figure.chart svg { max-width: 100%; height: auto; display: block; overflow: visible; }
.table-wrap { overflow-x: auto; margin: 8px 0 16px; }
table.data { border-collapse: collapse; font-size: 13.5px; font-variant-numeric: tabular-nums;
  min-width: 50%; }
table.data caption { text-align: left; font-weight: 600; padding: 4px 0 6px; }
table.data th, table.data td { border-bottom: 1px solid var(--line); padding: 4px 10px; text-align: left;
  vertical-align: top; }
table.data thead th { background: var(--soft); font-weight: 600; border-bottom: 2px solid var(--line); }
table.data tbody tr:nth-child(even) td { background: #fafbfc; }
table.data .num { text-align: right; white-space: nowrap; }
table.data .nowrap { white-space: nowrap; }
table.data td.na { color: #9aa1ad; }
details { margin: 4px 0 16px; }
details summary { cursor: pointer; color: var(--accent); }
footer { color: var(--muted); font-size: 13px; padding-top: 16px; padding-bottom: 40px; }
@media print { nav.toc { display: none; } section.report-section { break-inside: avoid-page; } }
"""


def fmt(value: Any, kind: str) -> str:
    if value is None or value == "":
        return "–"
    if kind == "money":
        amount = value if isinstance(value, Decimal) else Decimal(str(value))
        return f"{amount.quantize(Decimal('0.01'), ROUND_HALF_UP):,.2f}"
    if kind == "int":
        return f"{int(value):,}"
    if kind == "pct":
        return f"{float(value) * 100:.1f} %"
    if kind == "num":
        return f"{float(value):,.1f}"
    if kind == "celsius":
        return f"{float(value):.1f}"
    if kind == "time" and isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if kind == "date" and isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _cell(tag: str, text: str, column: Column, extra: str = "") -> str:
    classes = ["num"] if column.kind in NUMERIC_KINDS else []
    if column.kind in ("date", "time") or column.key in NOWRAP_KEYS:
        classes.append("nowrap")
    if text == "–" and tag == "td":
        classes.append("na")
    attr = f' class="{" ".join(classes)}"' if classes else ""
    return f'<{tag}{attr} data-col="{escape(column.key)}"{extra}>{escape(text)}</{tag}>'


def render_table(table: Table) -> str:
    head = "".join(_cell("th", c.title, c, f' scope="col" data-kind="{c.kind}"') for c in table.columns)
    body = "\n".join(
        "<tr>" + "".join(_cell("td", fmt(row.get(c.key), c.kind), c) for c in table.columns) + "</tr>"
        for row in table.rows
    )
    html = (
        f'<div class="table-wrap"><table class="data" id="{escape(table.id)}">'
        f"<caption>{escape(table.caption)}</caption><thead><tr>{head}</tr></thead>"
        f"<tbody>\n{body}\n</tbody></table></div>"
    )
    if table.collapsed:
        return f"<details><summary>{escape(table.caption)}</summary>{html}</details>"
    return html


def render_section(number: int, section: Section) -> str:
    parts = [
        f'<section class="report-section" id="{escape(section.id)}">',
        f"<h2>{number}. {escape(section.title)}</h2>",
        f'<p class="intro">{escape(section.intro)}</p>',
    ]
    for note in section.notes:
        kind = "note fallback" if note.startswith("Fallback") else "note"
        parts.append(f'<p class="{kind}">{escape(note)}</p>')
    if section.empty:
        parts.append(f'<p class="empty">{escape(section.empty)}</p>')
    if section.charts:
        parts.append('<div class="charts">')
    for chart in section.charts:
        currency = f' data-currency="{escape(chart.currency)}"' if chart.currency else ""
        parts.append(f'<figure class="chart" id="chart-{escape(chart.id)}"{currency}>{chart.svg}</figure>')
    if section.charts:
        parts.append("</div>")
    parts += [render_table(t) for t in section.tables]
    parts.append("</section>")
    return "\n".join(parts)


def render(report: Report) -> str:
    window = (
        f"{report.window.days} kiosk-local days, {report.window.start} to {report.window.end} "
        "(ending with the latest day the marts hold data for)"
        if report.window
        else "no data in the marts yet"
    )
    meta = [
        ("Warehouse", report.warehouse),
        ("Dataset", report.dataset),
        ("Window", window),
        ("Generated", report.generated_at.strftime("%Y-%m-%d %H:%M UTC")),
    ]
    toc = "".join(f'<li><a href="#{escape(s.id)}">{escape(s.title)}</a></li>' for s in report.sections)
    sections = "\n".join(render_section(i, s) for i, s in enumerate(report.sections, 1))
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(report.title)} – {escape(report.dataset)}</title>
<style>{CSS}</style>
</head>
<body>
<header>
<h1>{escape(report.title)}</h1>
<dl class="meta">{"".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in meta)}</dl>
<nav class="toc"><h2>Contents</h2><ol>{toc}</ol></nav>
</header>
<main>
{sections}
</main>
<footer>Written by <code>livello-sync report</code> from the marts (dim_*, fct_*) and sync_runs. Money is per
currency and never added across currencies; days are kiosk-local. The page is self-contained: it loads nothing
and runs no script.</footer>
</body>
</html>
"""
