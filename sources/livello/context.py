"""What the resources of one source share: HTTP client, settings, per-run listings, the windows to read.

A `RunContext` lives for one run, however many dlt loads the run makes. It reads each shared listing (the
organizations and the kiosks, which fan-outs and planning need) at most once, and says which time windows an
incremental resource reads in the current load: the windows a planner chose (pipelines/plan.py, one window per
load, so each load commits its rows and the resource's position together), or, when the source is used on its
own in somebody's dlt pipeline, the range from the resource's cursor (minus the lookback) to now."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sources.livello.config import SettingError, SourceSettings, setting_names
from sources.livello.drift import Drift, DriftError
from sources.livello.pseudonymize import Pseudonymizer
from sources.livello.rows import row_key

if TYPE_CHECKING:
    from sources.livello.client import LivelloClient
    from sources.livello.endpoints import Endpoint
    from sources.livello.state import Progress

log = logging.getLogger("livello_sync.source")

PAGE_SIZE = 100  # the contract's maximum page size
# Serial numbers per request of a listing filtered by kiosk: 100 serials of ~10 characters keep the URL near
# 1.2 kB, far below the 8 kB that common proxies accept.
KIOSK_FILTER_CHUNK = 100


# -- time ----------------------------------------------------------------------------------------------------
def to_utc(value: str | datetime) -> datetime:
    moment = (
        value if isinstance(value, datetime) else datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    )
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def api_time(moment: datetime) -> str:
    """ISO 8601 in UTC with milliseconds, the form the contract's examples use."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def floor_hour(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


@dataclass(frozen=True)
class Window:
    """[start, end) in UTC; `end` None is the open newest window (no end date sent: the API's now ends it),
    `start` None reads from the oldest row the API has."""

    start: datetime | None
    end: datetime | None = None
    # Count-verified lookback (pipelines/lookback.py): [start, verified_until) held as many rows in the
    # warehouse as the API reports, except in the `reread` sub-windows; only those and [verified_until, end)
    # are read. None: the whole window is read.
    verified_until: datetime | None = None
    reread: tuple[Window, ...] = ()
    # Verified by position instead (pipelines/lookback.py): the `held` rows of [start, verified_until) are
    # the warehouse's; reading starts at the last of them (re-read to prove the count, not loaded again).
    held: int = 0

    @property
    def read_from(self) -> datetime | None:
        """From when on every row is read again (None: from the oldest row); before it only the `reread`
        sub-windows are, and rows the warehouse already holds are not."""
        return self.verified_until if self.verified_until is not None else self.start

    def ranges(self) -> list[Window]:
        """The plain windows actually requested, oldest first."""
        if self.verified_until is None or self.held:
            return [self]
        return [*self.reread, Window(self.verified_until, self.end)]

    def params(self, start_param: str, end_param: str) -> dict[str, str]:
        out: dict[str, str] = {}
        if self.start is not None:
            out[start_param] = api_time(self.start)
        if self.end is not None:
            # The API's windows are inclusive at both ends; stop 1 ms short so adjacent windows never overlap.
            out[end_param] = api_time(self.end - timedelta(milliseconds=1))
        return out

    def __str__(self) -> str:
        start = api_time(self.start) if self.start else "the oldest row"
        end = api_time(self.end) if self.end else "now"
        return f"{start} .. {end}"


def split(start: datetime, end: datetime, size: timedelta) -> list[Window]:
    """Closed windows of `size` from `start` until the one containing `end`, which is left open."""
    windows: list[Window] = []
    cursor = start
    while cursor + size <= end:
        windows.append(Window(cursor, cursor + size))
        cursor += size
    windows.append(Window(cursor, None))
    return windows


# -- the run -------------------------------------------------------------------------------------------------
@dataclass
class RunContext:
    """Everything the resources of one run share. `windows` is set by a planner before each load; None means
    no planner: each incremental resource reads from its own cursor (minus the lookback) to now."""

    client: LivelloClient
    settings: SourceSettings = field(default_factory=SourceSettings)
    snapshot_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    windows: dict[str, Window] | None = None
    # Per-run snapshots (inventory, the re-read of open alerts) happen in the run's first load only.
    first_load: bool = True
    skipped: dict[str, str] = field(default_factory=dict)  # resource -> reason (missing scope)
    failed: dict[str, str] = field(default_factory=dict)  # resource -> what its API answers got wrong
    drift: dict[str, Drift] = field(default_factory=dict)  # resource -> how its fields changed
    # Told of every batch a resource yields (resource, rows): a planner's progress display.
    on_rows: Callable[[str, int], None] | None = None
    warnings: list[str] = field(default_factory=list)
    # The resources of the current load (a planner's); None: unknown (the source on its own).
    loading: frozenset[str] | None = None
    # Resources whose reading of this load replaces their tables (a full listing of a `Changes` endpoint).
    replacing: set[str] = field(default_factory=set)
    # With several API clients: the serial numbers of the kiosks this client reads fleet data for (None: every
    # kiosk of the kiosk list), and those a filtered listing names (None: the listing is read unfiltered, as
    # the client's own scope holds exactly its kiosks).
    fleet: frozenset[str] | None = None
    kiosk_filter: tuple[str, ...] | None = None
    _listings: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    _kept: dict[str, Any] = field(default_factory=dict)  # responses read once for two resources of a load
    _pseudonymizer: Pseudonymizer | None = None

    def warn(self, message: str) -> None:
        self.warnings.append(message)
        log.warning(message)

    def skip(self, resource: str, scope: str) -> None:
        if resource not in self.skipped:
            self.skipped[resource] = f"missing scope {scope}"
            self.warn(f"skipping {resource} for this run: the API client lacks the scope '{scope}'")

    def fail(self, resource: str, message: str) -> None:
        """Stop `resource` for the rest of the run (its API answers broke the contract); the others go on."""
        if resource not in self.failed:
            self.failed[resource] = message
            log.error("%s stopped for this run: %s", resource, message)

    def check_drift(self, endpoint: Endpoint, drift: Drift) -> None:
        """Record and report how `endpoint`'s fields drifted in this load; raise DriftError when the warehouse
        cannot take it (a key that is no longer of its type) or strict mode is on."""
        if not drift:
            return
        self.drift.setdefault(endpoint.resource, Drift()).merge(drift)
        message = f"{endpoint.resource}: the API's fields changed: {drift.describe()}"
        if self.settings.strict:
            raise DriftError(
                f"{message}. Strict mode ({setting_names('schema_contract')} = freeze) stops the run before "
                "anything of this load is committed: check the change with the vendor, then switch to evolve "
                "for one run to accept it.",
                stops_run=True,
            )
        keys = [k for k in endpoint.primary_key if k in drift.uncoercible_columns]
        if keys:
            raise DriftError(
                f"{message}. The key {', '.join(keys)} no longer has values of its type, so rows cannot be "
                "merged: nothing of this window was kept.",
                stops_run=False,
            )
        self.warn(message + " (the data tests guard the marts that depend on them)")

    def get(self, endpoint: Endpoint, path: str, params: dict[str, Any] | None = None) -> Any:
        """GET for `endpoint`, answered from a response another resource of this load read for it (an
        endpoint embedded in another's responses: kiosk inventory in the kiosk detail), so that the request
        is made once; the response is kept only until its second reader takes it."""
        if params is None and path in self._kept:
            return self._kept.pop(path)
        body = self.client.get(path, params)
        if params is None and self._shares(endpoint):
            self._kept[path] = body
        return body

    def _shares(self, endpoint: Endpoint) -> bool:
        """Whether another resource of this load reads `endpoint`'s responses (or `endpoint` another's)."""
        if self.loading is None:
            return False
        from sources.livello.endpoints import ENDPOINTS

        partners = {e.resource for e in ENDPOINTS if e.embedded_in is endpoint}
        if endpoint.embedded_in is not None:
            partners.add(endpoint.embedded_in.resource)
        return bool(partners & (self.loading - set(self.failed) - set(self.skipped)))

    def share_listing(self, endpoint: Endpoint, rows: list[dict[str, Any]]) -> None:
        """Use `rows` as this run's reading of a shared listing (another client of the run read it)."""
        self._listings[endpoint.resource] = rows

    def fan_out_rows(self, endpoint: Endpoint) -> list[dict[str, Any]]:
        """The rows of the listing `endpoint` fans out over that this client reads it for: for fleet data
        only the kiosks assigned to this client."""
        assert endpoint.fan_out is not None
        rows = self.listing(endpoint.fan_out.over)
        if not endpoint.fleet or self.fleet is None:
            return rows
        return [row for row in rows if str(row.get(endpoint.fan_out.key)) in self.fleet]

    def kiosk_queries(self, endpoint: Endpoint) -> list[dict[str, str]]:
        """The query parameters restricting a reading of `endpoint` to this client's kiosks, one dict per
        request (bounded URL length): [{}] when unrestricted, [] when the client has no kiosk."""
        if endpoint.kiosk_filter is None or self.kiosk_filter is None:
            return [{}]
        serials = sorted(self.kiosk_filter)
        return [
            {endpoint.kiosk_filter: ",".join(serials[i : i + KIOSK_FILTER_CHUNK])}
            for i in range(0, len(serials), KIOSK_FILTER_CHUNK)
        ]

    def listing(self, endpoint: Endpoint) -> list[dict[str, Any]]:
        """Every row of a shared listing (organizations, kiosks), read at most once per run."""
        if endpoint.resource not in self._listings:
            assert endpoint.paging is not None, f"{endpoint.resource} is not a paged listing"
            self._listings[endpoint.resource] = [
                row
                for page in self.client.paginate(
                    endpoint.path, endpoint.paging, {}, page_size=PAGE_SIZE, key=row_key(endpoint)
                )
                for row in page
            ]
        return self._listings[endpoint.resource]

    @property
    def pseudonymizer(self) -> Pseudonymizer | None:
        """The keyed pseudonymizer for PII fields; None when switched off. A missing key is a SettingError."""
        if not self.settings.pseudonymize_users:
            return None
        if self._pseudonymizer is None:
            key = self.settings.pseudonymization_key
            if not key:
                raise SettingError(
                    f"user PII is pseudonymized by default and needs a key: set "
                    f"{setting_names('pseudonymization_key')}, or opt out with "
                    f"{setting_names('pseudonymize_users')} = false"
                )
            self._pseudonymizer = Pseudonymizer(str(key))
        return self._pseudonymizer

    def windows_to_read(self, endpoint: Endpoint, progress: Progress) -> Iterator[Window]:
        """The windows `endpoint` reads in this load: the planned one, or (no planner) its cursor to now."""
        if self.windows is not None:
            if endpoint.resource in self.windows:
                yield self.windows[endpoint.resource]
            return
        yield from self._unplanned_windows(endpoint, progress)

    def _unplanned_windows(self, endpoint: Endpoint, progress: Progress) -> Iterator[Window]:
        incremental = endpoint.incremental
        assert incremental is not None
        lookback = self.settings.lookback_period
        start = progress.backfill_next or (progress.cursor - lookback if progress.cursor else None)
        span = incremental.span(self.settings)
        if span is None:
            yield Window(start, None)
            return
        # A span-limited endpoint needs a start: the oldest kiosk's creation, else one lookback back.
        if start is None:
            created = [to_utc(k["createdAt"]) for k in self.fan_out_rows(endpoint) if k.get("createdAt")]
            start = min(created) if created else self.snapshot_at - lookback
        yield from split(floor_hour(start), self.snapshot_at, span)
