"""Query-parameter validation exactly as the contract's x-contract-notes demand.

400 for: an unparseable date, limit < 1, an unknown enum value, endDate < startDate, a missing required
parameter, an unknown x-timezone. Exceptions kept from the vendor: `sortBy` outside its enum falls back to
the default column, and a limit above 100 is silently clamped to 100."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from simulator.problems import bad_request

MAX_LIMIT = 100
# Beyond any row count: larger skip/page values are clamped here, so they mean "past the end" (an empty page)
# instead of overflowing the database's 64-bit integers.
MAX_POSITION = 10**12
DEFAULT_TIMEZONE = "Europe/Berlin"
_UTC_NAMES = frozenset({"UTC", "Etc/UTC", "Etc/UCT", "UCT", "Zulu", "Etc/Zulu", "Universal", "Etc/Universal"})
_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class Query:
    """Typed access to one request's query string; every accessor raises a 400 ProblemError on bad input."""

    def __init__(self, params: Mapping[str, str]) -> None:
        self._params = params

    def raw(self, name: str) -> str | None:
        value = self._params.get(name)
        return value if value is None else value.strip()

    def string(self, name: str, *, required: bool = False) -> str | None:
        value = self.raw(name)
        if value in (None, ""):
            if required:
                raise bad_request(f"Missing required parameter: {name}")
            return None
        return value

    def _float(self, name: str) -> tuple[str, float] | None:
        """The raw text and its float value; None when the parameter is absent or empty."""
        value = self.raw(name)
        if value in (None, ""):
            return None
        try:
            return value, float(value)
        except ValueError:
            raise bad_request(f"{name} must be a number, got {value!r}") from None

    def number(self, name: str, default: int, *, minimum: int | None = None) -> int:
        given = self._float(name)
        if given is None:
            return default
        value, parsed = given
        if not math.isfinite(parsed) or parsed != int(parsed):
            raise bad_request(f"{name} must be a whole number, got {value!r}")
        number = int(parsed)
        if minimum is not None and number < minimum:
            raise bad_request(f"{name} must be >= {minimum}, got {number}")
        return number

    def real(self, name: str, default: float) -> float:
        """A finite number that may have a fraction (thresholds, minutes)."""
        given = self._float(name)
        if given is None:
            return default
        value, parsed = given
        if not math.isfinite(parsed):
            raise bad_request(f"{name} must be a finite number, got {value!r}")
        return parsed

    def limit(self, default: int = 25) -> int:
        return min(self.number("limit", default, minimum=1), MAX_LIMIT)

    def skip(self, name: str = "skip") -> int:
        return min(self.number(name, 0, minimum=0), MAX_POSITION)

    def page(self) -> int:
        return min(self.number("page", 1, minimum=1), MAX_POSITION)

    def sort_direction(self, default: int) -> int:
        """`sort` is 1 (ascending) or -1 (descending); anything else is an unknown enum value."""
        value = self.raw("sort")
        if value in (None, ""):
            return default
        try:
            parsed = float(value)
        except ValueError:
            parsed = math.nan
        if parsed not in (1.0, -1.0):
            raise bad_request(f"sort must be 1 or -1, got {value!r}")
        return int(parsed)

    def enum(
        self, name: str, allowed: Sequence[str], default: str | None = None, *, required: bool = False
    ) -> str | None:
        value = self.string(name, required=required)
        if value is None:
            return default
        if value not in allowed:
            raise bad_request(f"{name} must be one of {', '.join(allowed)}; got {value!r}")
        return value

    def sort_by(self, allowed: Sequence[str], default: str, name: str = "sortBy") -> str:
        """The vendor's exception: an unknown sortBy silently means the default column."""
        value = self.string(name)
        return value if value in allowed else default

    def boolean(self, name: str, default: bool | None = None) -> bool | None:
        value = self.string(name)
        if value is None:
            return default
        lowered = value.lower()
        if lowered in ("true", "1"):
            return True
        if lowered in ("false", "0"):
            return False
        raise bad_request(f"{name} must be true or false, got {value!r}")

    def csv(self, name: str) -> list[str] | None:
        value = self.string(name)
        if value is None:
            return None
        items = [item.strip() for item in value.split(",") if item.strip()]
        return items or None

    def csv_enum(self, name: str, allowed: Sequence[str]) -> list[str] | None:
        items = self.csv(name)
        if items is None:
            return None
        unknown = [item for item in items if item not in allowed]
        if unknown:
            raise bad_request(f"{name} must contain only {', '.join(allowed)}; got {', '.join(unknown)}")
        return items


@lru_cache(maxsize=256)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def timezone_from_headers(headers: Mapping[str, str]) -> ZoneInfo:
    name = headers.get("x-timezone")
    if name is None:
        return _zone(DEFAULT_TIMEZONE)
    name = name.strip()
    try:
        if not name or name.startswith(("/", ".")) or ".." in name:
            raise ValueError(name)
        return _zone(name)
    except (ZoneInfoNotFoundError, ValueError, OSError, TypeError):
        raise bad_request(f"Unknown x-timezone: {name!r}") from None


def parse_instant(name: str, value: str, tz: ZoneInfo, *, end_of_day: bool) -> datetime:
    """An ISO 8601 query value as an aware UTC datetime.

    A date-only value means the start of that day (or, for an end bound, its last microsecond) in `tz`; a
    value without offset is read in `tz`.
    """
    try:
        if _DATE_ONLY.match(value):
            day = date.fromisoformat(value)
            if end_of_day:
                # Arithmetic on an aware datetime is wall-clock arithmetic; do it in UTC (exact on DST days).
                next_midnight = datetime.combine(day + timedelta(days=1), time.min, tz).astimezone(UTC)
                return next_midnight - timedelta(microseconds=1)
            return datetime.combine(day, time.min, tz).astimezone(UTC)
        parsed = datetime.fromisoformat(value.replace("z", "Z"))
    except ValueError:
        raise bad_request(f"{name} is not an ISO 8601 date: {value!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=tz)
    return parsed.astimezone(UTC)


@dataclass(frozen=True)
class Window:
    """An inclusive time window in UTC; None means unbounded on that side."""

    start: datetime | None
    end: datetime | None


def window(query: Query, tz: ZoneInfo, start_name: str = "startDate", end_name: str = "endDate") -> Window:
    start_raw = query.string(start_name)
    end_raw = query.string(end_name)
    start = parse_instant(start_name, start_raw, tz, end_of_day=False) if start_raw else None
    end = parse_instant(end_name, end_raw, tz, end_of_day=True) if end_raw else None
    if start is not None and end is not None and end < start:
        raise bad_request(f"{end_name} must not be before {start_name}")
    return Window(start, end)


def render_instant(value: datetime, tz: ZoneInfo) -> str:
    """A response date-time in the x-timezone with its offset; `Z` for UTC (contract x-contract-notes)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    local = value.astimezone(tz)
    text = local.isoformat(timespec="milliseconds" if local.microsecond else "seconds")
    if text.endswith("+00:00") and tz.key in _UTC_NAMES:
        text = text[:-6] + "Z"
    return text


def render_utc(value: datetime | None) -> str | None:
    """A date-time the contract states in UTC (networkLastOnline, createdAt...)."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    value = value.astimezone(UTC)
    return value.isoformat(timespec="milliseconds" if value.microsecond else "seconds")[:-6] + "Z"
