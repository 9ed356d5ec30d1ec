"""What a report is made of: sections, each with an explanation, charts (static SVG) and tables of numbers."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

# Column kinds a table knows how to format: text, int, money (2 decimals, the row has a currency column),
# pct (a ratio 0..1 shown in percent), num (1 decimal), celsius, date, time (UTC timestamp).
KINDS = ("text", "int", "money", "pct", "num", "celsius", "date", "time")


@dataclass(frozen=True)
class Column:
    key: str
    title: str
    kind: str = "text"

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown column kind {self.kind!r}")


@dataclass
class Table:
    id: str
    caption: str
    columns: list[Column]
    rows: list[dict[str, Any]]
    collapsed: bool = False  # rendered inside <details> (long tables; still plain HTML, no JavaScript)

    def __post_init__(self) -> None:
        keys = {c.key for c in self.columns}
        if any(c.kind == "money" for c in self.columns) and "currency" not in keys:
            raise ValueError(f"table {self.id}: money columns need a currency column beside them")


@dataclass
class Chart:
    id: str
    caption: str
    svg: str
    currency: str | None = None  # money charts are drawn for one currency each


@dataclass
class Section:
    id: str
    title: str
    intro: str
    charts: list[Chart] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # e.g. which mart the numbers come from, fallbacks
    empty: str | None = None  # shown instead of charts and tables when the window holds no data


@dataclass(frozen=True)
class Window:
    """`days` kiosk-local days ending with `end` (the latest local day with data in the marts)."""

    start: date
    end: date

    @classmethod
    def ending(cls, end: date, days: int) -> Window:
        return cls(end - timedelta(days=days - 1), end)

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def start_key(self) -> int:
        return int(self.start.strftime("%Y%m%d"))

    @property
    def end_key(self) -> int:
        return int(self.end.strftime("%Y%m%d"))


@dataclass
class Report:
    title: str
    warehouse: str
    dataset: str
    generated_at: datetime
    window: Window | None
    sections: list[Section]
