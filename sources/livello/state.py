"""What each kind of resource keeps in dlt's resource state, and the one place that reads and writes it.

dlt stores a resource's state in the load package that carries its rows, so data and position commit together.
Three kinds of resource keep something:

* incremental resources keep a `Progress`: the newest cursor value loaded, the start of the first unfinished
  window while a backfill is under way, and the rows per hour the last read saw (the next plan's estimate);
* a resource that re-reads the records it holds as open (alerts) keeps their ids and start dates;
* a full listing whose vanished keys are deleted (product lines) keeps the keys it listed last, and the proof
  that the top organizations' listings cover the others (so only they are read); a listing read by change
  time (users) the newest change loaded (`cursor`) and when it was last read in full (that reading replaces
  its table, so it keeps no keys);

The dict layout on disk is the one release 0.1.0 wrote (`cursor`, `backfill.next`, `rows_per_hour`, `open`,
`listed`), so a state written by it resumes unchanged; its never-read `last_window` is dropped on the next
write. Everything else (the planner, `status`) reads through `of_pipeline`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, MutableMapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import dlt

from sources.livello.context import api_time, to_utc

SOURCE_NAME = "livello"
_OBSOLETE_KEYS = ("last_window",)


@dataclass(frozen=True)
class Progress:
    """Where an incremental resource stands."""

    cursor: datetime | None = None  # newest cursor value loaded
    backfill_next: datetime | None = None  # start of the first unfinished backfill window
    rows_per_hour: float | None = None  # density the last read measured

    @property
    def in_backfill(self) -> bool:
        return self.backfill_next is not None


@dataclass(frozen=True)
class Coverage:
    """A full reading's proof that the top organizations' listings hold every line of the others."""

    checked_at: datetime
    tops: tuple[Any, ...]
    proven: bool


@dataclass
class ResourceState:
    """A typed view of one resource's state dict (dlt's live one during extract, or a copy)."""

    raw: MutableMapping[str, Any] = field(default_factory=dict)

    # -- drift -------------------------------------------------------------------------------------------
    @property
    def sent_columns(self) -> dict[str, frozenset[str]] | None:
        """Per table, the columns the last load's rows carried (None: not recorded yet)."""
        sent = self.raw.get("sent_columns")
        return None if sent is None else {table: frozenset(cols) for table, cols in sent.items()}

    def set_sent_columns(self, sent: Mapping[str, Iterable[str]]) -> None:
        self.raw["sent_columns"] = {table: sorted(cols) for table, cols in sorted(sent.items())}

    # -- incremental progress ----------------------------------------------------------------------------
    @property
    def progress(self) -> Progress:
        backfill = self.raw.get("backfill") or {}
        cursor, resume = self.raw.get("cursor"), backfill.get("next")
        rate = self.raw.get("rows_per_hour")
        return Progress(
            cursor=to_utc(cursor) if cursor else None,
            backfill_next=to_utc(resume) if resume else None,
            rows_per_hour=float(rate) if rate is not None else None,
        )

    def advance(
        self, *, newest: datetime | None, next_window: datetime | None, rows_per_hour: float | None
    ) -> None:
        """Record a finished window: the cursor moves to `newest` (never back), the backfill goes on at
        `next_window` or is complete (None: the open window reached the API's now)."""
        old = self.progress.cursor
        if newest is not None and (old is None or old < newest):
            self.raw["cursor"] = api_time(newest)
        if next_window is None:
            self.raw.pop("backfill", None)
        else:
            self.raw["backfill"] = {"next": api_time(next_window)}
        if rows_per_hour is not None:
            self.raw["rows_per_hour"] = round(rows_per_hour, 3)
        self._drop_obsolete()

    # -- records held open ---------------------------------------------------------------------------------
    @property
    def open_records(self) -> dict[str, datetime]:
        """Id (as text) -> start of every record the warehouse holds as not yet closed."""
        return {key: to_utc(start) for key, start in (self.raw.get("open") or {}).items()}

    def track_open(self, opened: Mapping[str, datetime], closed: Iterable[str]) -> None:
        records = dict(self.raw.get("open") or {})
        for key in closed:
            records.pop(key, None)
        records.update({key: api_time(start) for key, start in opened.items()})
        self.raw["open"] = records
        self._drop_obsolete()

    # -- keys of the last full listing -----------------------------------------------------------------------
    @property
    def listed(self) -> frozenset[str]:
        return frozenset(self.raw.get("listed") or ())

    def set_listed(self, keys: Iterable[str], owners: Mapping[str, Any] | None = None) -> None:
        """The keys a full listing held; `owners`: key -> the organization it was attributed to, so that a
        key missing later can be looked for where it belongs."""
        self.raw["listed"] = sorted(keys)
        if owners is not None:
            by_owner: dict[str, list[str]] = {}
            for key, owner in owners.items():
                by_owner.setdefault(str(owner), []).append(key)
            self.raw["listed_owners"] = {owner: sorted(keys) for owner, keys in sorted(by_owner.items())}
        self._drop_obsolete()

    @property
    def listed_owners(self) -> dict[str, str]:
        """Key -> the organization (as text) it was attributed to when last listed."""
        return {key: owner for owner, keys in (self.raw.get("listed_owners") or {}).items() for key in keys}

    # -- a listing read by change time -------------------------------------------------------------------
    @property
    def full_listing_at(self) -> datetime | None:
        """When the listing was last read in full (None: never)."""
        raw = self.raw.get("full_listing_at")
        return to_utc(raw) if raw else None

    def set_full_listing_at(self, moment: datetime) -> None:
        self.raw["full_listing_at"] = api_time(moment)

    # -- a listing's proof of coverage -----------------------------------------------------------------
    @property
    def coverage(self) -> Coverage | None:
        raw = self.raw.get("coverage")
        if not raw:
            return None
        return Coverage(to_utc(raw["checked_at"]), tuple(raw["tops"]), bool(raw["proven"]))

    def set_coverage(self, coverage: Coverage) -> None:
        self.raw["coverage"] = {
            "checked_at": api_time(coverage.checked_at),
            "tops": list(coverage.tops),
            "proven": coverage.proven,
        }

    def restore(self, snapshot: Mapping[str, Any]) -> None:
        """Put back the state as it was (a reader failed: none of its changes may be committed)."""
        self.raw.clear()
        self.raw.update(snapshot)

    def _drop_obsolete(self) -> None:
        for key in _OBSOLETE_KEYS:
            self.raw.pop(key, None)


def live() -> ResourceState:
    """The state of the resource being extracted (dlt's own dict: writes are committed with the load)."""
    return ResourceState(dlt.current.resource_state())


def of_pipeline(pipeline: Any) -> dict[str, ResourceState]:
    """Every resource's state as the pipeline holds it (copies: changes are not saved)."""
    resources = pipeline.state.get("sources", {}).get(SOURCE_NAME, {}).get("resources", {})
    return {name: ResourceState(dict(raw)) for name, raw in resources.items()}
