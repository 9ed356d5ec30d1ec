"""The one HTTP client of the sync: `LivelloClient`, the face of the modules that do the work.

Everything that talks to the Livello Open Platform API goes through it (the dlt source and `reconcile`), so
the vendor's rate limit is respected in one place. One job per module:

* auth.py: the bearer token as an `httpx.Auth`, reused until shortly before `expires_in`; a 401 fetches a new
  one and re-sends once.
* transport.py: every request on the wire paced (pacing.py: at most `budget_share` of each rate-limit window,
  spread so a steady run never gets a 429), and the one retry loop of API and token calls.
* errors.py: the exceptions, and the mapping of a final HTTP status to them.
* paging.py: a paged listing read to its end by `total`.
* redaction.py: the client secret and bearer tokens never reach a log line (`install_redaction()` at
  start-up), an exception message or a repr.
* stats.py: the counters of the run summary.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator, Mapping
from importlib import metadata
from typing import Any

import httpx

from sources.livello import paging
from sources.livello.auth import BearerTokenAuth
from sources.livello.config import ClientSettings
from sources.livello.errors import error_for_status
from sources.livello.paging import Page, PagingStyle, RowKey
from sources.livello.redaction import SECRETS
from sources.livello.stats import ClientStats
from sources.livello.transport import Sender

__all__ = [
    "ClientSettings",
    "ClientStats",
    "LivelloClient",
    "Page",
    "PagingStyle",
]


def _package_version() -> str:
    try:
        return metadata.version("livello-sync")
    except metadata.PackageNotFoundError:
        return "0+unknown"


USER_AGENT = f"livello-sync/{_package_version()}"


class LivelloClient:
    """Synchronous, thread-safe client of the Livello API (see the module docstring for the behaviour)."""

    def __init__(
        self,
        settings: ClientSettings,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        transport: httpx.BaseTransport | None = None,
        rng: random.Random | None = None,
    ) -> None:
        settings.validate()
        self.settings = settings
        self.stats = ClientStats()
        self._base_url = settings.base_url.rstrip("/")
        self._kept: dict[tuple[str, str], Any] = {}
        SECRETS.add(settings.client_secret)
        timeout = settings.timeout_seconds
        self._http = httpx.Client(
            timeout=httpx.Timeout(connect=min(timeout, 10.0), read=timeout, write=timeout, pool=timeout),
            headers={"Accept": "application/json", "User-Agent": USER_AGENT, "x-timezone": "UTC"},
            transport=transport,
            follow_redirects=False,
        )
        self._sender = Sender(
            self._http, settings, stats=self.stats, clock=clock, sleep=sleep, rng=rng or random.Random()
        )
        self._auth = BearerTokenAuth(settings, self._sender, stats=self.stats, clock=clock)

    def __repr__(self) -> str:
        return f"LivelloClient(base_url={self._base_url!r}, client_id={self.settings.client_id!r})"

    # -- lifecycle -------------------------------------------------------------------------------------------
    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> LivelloClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- public API ------------------------------------------------------------------------------------------
    def check_credentials(self) -> None:
        """Fetch a token (or reuse a valid one); AuthenticationError on bad credentials."""
        self._auth.token()

    @property
    def scopes(self) -> frozenset[str] | None:
        """Scopes granted with the current token (None before the first token)."""
        return self._auth.scopes

    def set_deadline(self, seconds_from_now: float | None) -> None:
        """Refuse waits ending later than this (DeadlineExceededError); None removes the deadline."""
        self._sender.set_deadline(seconds_from_now)

    def estimate_seconds(self, requests: int) -> float | None:
        """Lower bound of the time `requests` API calls take within the budget (None before any call)."""
        return self._sender.api_pacer.estimate_seconds(requests)

    def allowed_requests_per_window(self) -> tuple[int, float] | None:
        """(requests this client may use per window, window seconds), None before any API call."""
        pacer = self._sender.api_pacer
        allowed = pacer.allowed_per_window()
        return None if allowed is None else (allowed, pacer.window_seconds)

    def get(
        self,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """GET `path` (relative to base_url, path parameters already URL-quoted); returns the parsed JSON.

        `headers` adds or overrides headers of this call only, e.g. {"x-timezone": "Europe/Berlin"} for
        analytics bucketed in a kiosk's local time (every other call keeps x-timezone: UTC).
        """
        kept = self._kept.pop(_request_key(path, params), _NOTHING) if not headers else _NOTHING
        if kept is not _NOTHING:
            return kept
        return self.request("GET", path, params=params, headers=headers)

    def keep(self, path: str, params: Mapping[str, Any] | None, body: Any) -> None:
        """Answer the next GET of exactly `path` and `params` with `body` (a response already read for another
        purpose, e.g. a planning probe that is also the first page of the rows to load), once."""
        self._kept[_request_key(path, params)] = body

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """Send one API request (paced, token refreshed, retried); returns parsed JSON (None if no body)."""
        response, body = self._sender.send(
            method,
            f"{self._base_url}/{path.lstrip('/')}",
            path=path,
            params=_clean_params(params),
            json_body=json,
            headers=headers,
            auth=self._auth,
        )
        if 200 <= response.status_code < 300:
            return body
        raise error_for_status(
            response.status_code, body, method=method, path=path, client_id=self.settings.client_id
        )

    def paginate(self, *args: Any, **kwargs: Any) -> Iterator[list[dict[str, Any]]]:
        """Yield the `data` list of each page of a paged listing (`pages` takes the same arguments)."""
        return (page.data for page in self.pages(*args, **kwargs))

    def pages(
        self,
        path: str,
        style: PagingStyle,
        params: Mapping[str, Any] | None = None,
        page_size: int = 100,
        *,
        headers: Mapping[str, str] | None = None,
        key: RowKey | None = None,
        start: int = 0,
    ) -> Iterator[Page]:
        """Yield every page of a paged listing with the server's `total`, each page checked (paging.py says
        how it ends and what is refused); `key` identifies a row for the repeat checks.

        Ask for an ascending order in `params` when rows may arrive while paging (new rows then land at the
        end).
        """
        return paging.pages(
            lambda query: self.get(path, query, headers=headers), path, style, params, page_size, key, start
        )


_NOTHING = object()


def _request_key(path: str, params: Mapping[str, Any] | None) -> tuple[str, str]:
    return path, repr(sorted((_clean_params(params) or {}).items()))


def _clean_params(params: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Drop None values; Decimal and other scalars become strings (httpx only knows str/int/float/bool)."""
    if not params:
        return None
    cleaned: dict[str, Any] = {}
    for key, value in params.items():
        if value is None:
            continue
        if isinstance(value, str | int | float | bool | list | tuple):
            cleaned[key] = value
        else:
            cleaned[key] = str(value)
    return cleaned
