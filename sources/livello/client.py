"""The one HTTP client of the sync: authentication, proactive pacing, retries and paging for the Livello API.

Everything that talks to the Livello Open Platform API goes through `LivelloClient` (the dlt source and
`reconcile`), so the vendor's rate limit is respected in one place:

* Token: POST `token_url` with the contract's TokenRequest (client_id, client_secret, grant_type), reused
  until shortly before `expires_in`; a 401 from an API call refreshes it once, a second 401 is an
  `AuthenticationError`.
* Pacing (`pacing.py`): at most `budget_share` of every rate-limit window, spread so a steady run never gets a
  429.
* Retries with exponential backoff and full jitter on 5xx, 408, dropped connections, timeouts and unparseable
  bodies; a 429 waits `Retry-After`. 400/401/403/404 are not retried.
* JSON numbers with a fraction are parsed as `Decimal`, so money stays exact.
* The client secret and bearer tokens never reach a log line, an exception message or a repr.
"""

from __future__ import annotations

import json
import logging
import math
import random
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from importlib import metadata
from typing import Any, Literal, NoReturn

import httpx

from sources.livello.config import ClientSettings
from sources.livello.errors import (
    AuthenticationError,
    BadRequestError,
    BudgetExhaustedError,
    DeadlineExceededError,
    LivelloError,
    NotFoundError,
    PermissionDeniedError,
    ScopeError,
    TransientError,
    UnexpectedResponseError,
)
from sources.livello.pacing import RateLimitPacer, parse_rate_limit_headers

logger = logging.getLogger("livello_sync.client")

PagingStyle = Literal["page", "skip", "offset"]

# Token requests refresh this long before `expires_in` (capped at 10% of the lifetime for short-lived tokens),
# so a token never expires between our check and the server's.
TOKEN_REFRESH_MARGIN_SECONDS = 60.0
# Transport failures worth another attempt: the request may not have reached the server, or its answer was
# lost.
_RETRYABLE_TRANSPORT_ERRORS: tuple[type[Exception], ...] = (
    httpx.TimeoutException,
    httpx.NetworkError,
    httpx.RemoteProtocolError,
    httpx.DecodingError,
)
# Methods that may be repeated after an ambiguous failure (a 5xx, a lost answer). The token request is a POST
# but idempotent (the server returns its cached token), so it is retried separately.
_IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
_SCOPE_DETAIL = re.compile(r"Insufficient scope\.\s*Required:\s*(?P<scope>[\w:.\-]+)", re.IGNORECASE)
_CREDENTIALS_HINT = "check SOURCES__LIVELLO__CLIENT_ID and SOURCES__LIVELLO__CLIENT_SECRET"


def _package_version() -> str:
    try:
        return metadata.version("livello-sync")
    except metadata.PackageNotFoundError:
        return "0+unknown"


USER_AGENT = f"livello-sync/{_package_version()}"


# -- secrets never leave the process through logs ------------------------------------------------------------
class _SecretRegistry:
    """Every client secret and bearer token seen by any client of this process, for redaction."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._secrets: set[str] = set()

    def add(self, secret: str) -> None:
        # Very short strings would redact ordinary words; a real secret or JWT is far longer.
        if len(secret) >= 6:
            with self._lock:
                self._secrets.add(secret)

    def redact(self, text: str) -> str:
        with self._lock:
            secrets = sorted(self._secrets, key=len, reverse=True)
        for secret in secrets:
            if secret in text:
                text = text.replace(secret, "***")
        return text


SECRETS = _SecretRegistry()


class SecretRedactingFilter(logging.Filter):
    """Replaces registered secrets in a record's message; installed on our and httpx's loggers."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record is the logging module's problem, not a reason to drop it
            return True
        redacted = SECRETS.redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


_REDACTING_FILTER = SecretRedactingFilter()
for _name in ("livello_sync.client", "httpx", "httpcore.connection", "httpcore.http11", "httpcore.http2"):
    logging.getLogger(_name).addFilter(_REDACTING_FILTER)


# -- counters ----------------------------------------------------------------------------------------------
@dataclass
class ClientStats:
    """Counters of one client, for the run summary."""

    requests: int = 0  # API requests sent, every attempt included (what the vendor's budget counts)
    token_requests: int = 0
    token_refreshes: int = 0  # new tokens fetched after a 401
    retries: int = 0  # attempts repeated after a retryable failure or a 429
    http_429: int = 0
    http_5xx: int = 0
    transport_errors: int = 0  # dropped connections, timeouts, protocol errors
    invalid_bodies: int = 0  # 2xx bodies that did not parse (truncated)
    rate_limit_limit: int | None = None  # the last RateLimit-* headers of an API response
    rate_limit_remaining: int | None = None
    rate_limit_reset: int | None = None
    rate_limit_remaining_min: int | None = None  # the lowest RateLimit-Remaining seen (how close we came)
    slept_seconds_pacing: float = 0.0
    slept_seconds_rate_limited: float = 0.0  # Retry-After waits
    slept_seconds_backoff: float = 0.0


@dataclass(frozen=True)
class Page:
    """One page of a paged listing: its rows and the `total` the server reported with it."""

    number: int  # 1-based
    total: int
    data: list[dict[str, Any]]


class _Retry(Exception):
    """Internal: the attempt failed in a retryable way (`description` is already redacted).

    `reached_server` is False only when the request certainly was not processed (the connection was never
    made), the one case where a non-idempotent request may be repeated safely.
    """

    def __init__(
        self, description: str, retry_after: float | None = None, reached_server: bool = True
    ) -> None:
        super().__init__(description)
        self.description = description
        self.retry_after = retry_after
        self.reached_server = reached_server


class _SecretBody(dict):  # type: ignore[type-arg]
    """The token request's JSON body: a dict whose repr hides the secret (debuggers, `pytest -l`, crash
    reporters that print local variables)."""

    def __repr__(self) -> str:
        return "{<token request body redacted>}"


@dataclass
class _Token:
    value: str = field(repr=False)
    refresh_at: float  # clock time after which a new token is fetched
    scopes: frozenset[str]


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
        self._sleep = sleep
        self._clock = clock
        self._rng = rng or random.Random()
        self._base_url = settings.base_url.rstrip("/")
        self._token_url = settings.resolved_token_url
        self._deadline: float | None = None
        self._stats_lock = threading.Lock()
        self._token_lock = threading.Lock()
        self._token: _Token | None = None
        SECRETS.add(settings.client_secret)
        timeout = settings.timeout_seconds
        self._http = httpx.Client(
            timeout=httpx.Timeout(connect=min(timeout, 10.0), read=timeout, write=timeout, pool=timeout),
            headers={"Accept": "application/json", "User-Agent": USER_AGENT, "x-timezone": "UTC"},
            transport=transport,
            follow_redirects=False,
        )
        self._api_pacer = self._make_pacer("API", settings.rate_limit_window_seconds)
        self._token_pacer = self._make_pacer("token endpoint", 60.0)

    def _make_pacer(self, name: str, window_seconds: float) -> RateLimitPacer:
        return RateLimitPacer(
            name,
            budget_share=self.settings.budget_share,
            burst_share=self.settings.burst_share,
            clock=self._clock,
            sleep=self._sleep,
            check_wait=self._check_wait,
            on_sleep=self._count_pacing_sleep,
            default_window_seconds=window_seconds,
        )

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
        self._current_token()

    @property
    def scopes(self) -> frozenset[str] | None:
        """Scopes granted with the current token (None before the first token)."""
        token = self._token
        return token.scopes if token is not None else None

    def set_deadline(self, seconds_from_now: float | None) -> None:
        """Refuse waits ending later than this (DeadlineExceededError); None removes the deadline."""
        self._deadline = None if seconds_from_now is None else self._clock() + seconds_from_now

    def estimate_seconds(self, requests: int) -> float | None:
        """Lower bound of the time `requests` API calls take within the budget (None before any call)."""
        return self._api_pacer.estimate_seconds(requests)

    def allowed_requests_per_window(self) -> tuple[int, float] | None:
        """(requests this client may use per window, window seconds), None before any API call."""
        allowed = self._api_pacer.allowed_per_window()
        return None if allowed is None else (allowed, self._api_pacer.window_seconds)

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
        return self.request("GET", path, params=params, headers=headers)

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
        url = f"{self._base_url}/{path.lstrip('/')}"
        query = _clean_params(params)
        # The bearer token always comes from the client; a caller cannot replace it by accident.
        extra = {k: v for k, v in (headers or {}).items() if k.lower() != "authorization"}
        refreshed = False
        failures = 0
        rate_limited = 0
        while True:
            token = self._current_token()
            try:
                response, body = self._attempt(
                    self._api_pacer,
                    method,
                    url,
                    path,
                    query,
                    json,
                    {**extra, "Authorization": f"Bearer {token}"},
                )
            except _Retry as retry:
                failures += 1
                if retry.reached_server and method.upper() not in _IDEMPOTENT_METHODS:
                    raise TransientError(
                        f"{method} {path} failed ({retry.description}) and is not retried: it may have "
                        "taken effect; check the result before sending it again",
                        path=path,
                    ) from None
                self._backoff_or_raise(method, path, failures, retry)
                continue
            status = response.status_code
            if status == 429:
                rate_limited += 1
                self._wait_after_429(method, path, response, rate_limited)
                continue
            if status == 401:
                if refreshed:
                    raise AuthenticationError(
                        f"The Livello API rejected a freshly issued token for {method} {path} "
                        f"({_problem_text(body)}); the client may have been revoked: {_CREDENTIALS_HINT}",
                        status=401,
                        path=path,
                        problem=_problem(body),
                    ) from None
                refreshed = True
                self._invalidate_token(token)
                with self._stats_lock:
                    self.stats.token_refreshes += 1
                logger.info("%s %s got 401 (%s); fetching a new token", method, path, _problem_text(body))
                continue
            if 200 <= status < 300:
                return body
            self._raise_for_status(method, path, status, body)

    def paginate(
        self,
        path: str,
        style: PagingStyle,
        params: Mapping[str, Any] | None = None,
        page_size: int = 100,
        *,
        headers: Mapping[str, str] | None = None,
    ) -> Iterator[list[dict[str, Any]]]:
        """Yield the `data` list of each page of a paged listing (see `pages`)."""
        for page in self.pages(path, style, params, page_size, headers=headers):
            yield page.data

    def pages(
        self,
        path: str,
        style: PagingStyle,
        params: Mapping[str, Any] | None = None,
        page_size: int = 100,
        *,
        headers: Mapping[str, str] | None = None,
    ) -> Iterator[Page]:
        """Yield every page of a paged listing with the server's `total`.

        Pages are requested by position (page number, or rows seen so far for skip/offset) and the listing
        ends when the rows seen reach `total` or a page comes back empty, never on a short page: the server
        silently clamps `limit` to 100. The page count is bounded from `total`, so a misbehaving server cannot
        loop us forever. Ask for an ascending order in `params` when rows may arrive while paging (new rows
        then land at the end).
        """
        if style not in ("page", "skip", "offset"):
            raise ValueError(f"unknown paging style {style!r}")
        if page_size < 1:
            raise ValueError("page_size must be >= 1")
        base = {k: v for k, v in (params or {}).items() if k not in ("page", "skip", "offset", "limit")}
        seen = 0
        number = 1
        max_total = 0
        first_page_rows = 0
        while True:
            query: dict[str, Any] = {**base, "limit": page_size}
            if style == "page":
                query["page"] = number
            else:
                query[style] = seen
            total, data = _envelope(self.get(path, query, headers=headers), path)
            if not data:
                return
            yield Page(number, total, data)
            seen += len(data)
            if seen >= total:
                return
            first_page_rows = first_page_rows or len(data)
            max_total = max(max_total, total)
            max_pages = 2 * math.ceil(max_total / first_page_rows) + 10
            if number >= max_pages:
                raise UnexpectedResponseError(
                    f"Paging {path} did not converge: {number} pages and {seen} rows read, the server "
                    f"reports total={total}. The listing changed heavily while paging; re-run the sync.",
                    path=path,
                )
            number += 1

    # -- one attempt -----------------------------------------------------------------------------------------
    def _attempt(
        self,
        pacer: RateLimitPacer,
        method: str,
        url: str,
        path: str,
        params: dict[str, Any] | None,
        json_body: Any,
        headers: dict[str, str],
    ) -> tuple[httpx.Response, Any]:
        """Send once, paced; returns (response, parsed body) or raises _Retry for a retryable failure."""
        is_token_request = pacer is self._token_pacer
        pacer.acquire()
        sent_at = self._clock()
        with self._stats_lock:
            if is_token_request:
                self.stats.token_requests += 1
            else:
                self.stats.requests += 1
        try:
            response = self._http.request(method, url, params=params, json=json_body, headers=headers)
        except _RETRYABLE_TRANSPORT_ERRORS as exc:
            pacer.observe(None, sent_at=sent_at, received_at=self._clock())
            with self._stats_lock:
                self.stats.transport_errors += 1
            description = f"{type(exc).__name__}: {SECRETS.redact(str(exc)) or 'no detail'}"
            logger.debug(
                "%s %s failed after %.0f ms: %s", method, path, _ms(sent_at, self._clock()), description
            )
            not_sent = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)
            raise _Retry(description, reached_server=not not_sent) from None
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            pacer.observe(None, sent_at=sent_at, received_at=self._clock())
            raise LivelloError(
                f"{method} {url} cannot be sent ({type(exc).__name__}: {SECRETS.redact(str(exc))}); "
                "check SOURCES__LIVELLO__BASE_URL",
                path=path,
            ) from None
        received_at = self._clock()
        pacer.observe(response.headers, sent_at=sent_at, received_at=received_at)
        status = response.status_code
        if logger.isEnabledFor(logging.DEBUG):
            query = response.request.url.query.decode("ascii", "replace")
            target = f"{path}?{query}" if query else path
            logger.debug("%s %s -> %s in %.0f ms", method, target, status, _ms(sent_at, received_at))
        if not is_token_request:
            self._record_rate_limit(response.headers)
        if status >= 500 or status == 408:
            with self._stats_lock:
                if status >= 500:
                    self.stats.http_5xx += 1
            raise _Retry(f"HTTP {status} ({_problem_text(_parse_lenient(response))})", _retry_after(response))
        if not 200 <= status < 300:
            return response, _parse_lenient(response)
        try:
            return response, _parse_json(response)
        except ValueError:
            with self._stats_lock:
                self.stats.invalid_bodies += 1
            raise _Retry(f"HTTP {status} with an unparseable body ({len(response.content)} bytes)") from None

    def _record_rate_limit(self, headers: httpx.Headers) -> None:
        parsed = parse_rate_limit_headers(headers)
        if parsed is None:
            return
        limit, remaining, reset = parsed
        with self._stats_lock:
            stats = self.stats
            stats.rate_limit_limit, stats.rate_limit_remaining, stats.rate_limit_reset = (
                limit,
                remaining,
                reset,
            )
            if stats.rate_limit_remaining_min is None or remaining < stats.rate_limit_remaining_min:
                stats.rate_limit_remaining_min = remaining

    # -- token -----------------------------------------------------------------------------------------------
    def _current_token(self) -> str:
        with self._token_lock:
            token = self._token
            if token is not None and self._clock() < token.refresh_at:
                return token.value
            fresh = self._fetch_token()
            if token is not None and fresh.value == token.value:
                # The server caches tokens and returned the one about to expire: keep it until it fails with
                # a 401 (refreshed then) instead of asking again on every call of its last seconds.
                fresh = _Token(fresh.value, math.inf, fresh.scopes)
            self._token = fresh
            return fresh.value

    def _invalidate_token(self, rejected: str) -> None:
        with self._token_lock:
            # Another thread may already have replaced the rejected token; keep its fresh one.
            if self._token is not None and self._token.value == rejected:
                self._token = None

    def _fetch_token(self) -> _Token:
        body = _SecretBody(
            client_id=self.settings.client_id,
            client_secret=self.settings.client_secret,
            grant_type="client_credentials",
        )
        path = "/auth/token"
        failures = 0
        rate_limited = 0
        while True:
            try:
                response, parsed = self._attempt(
                    self._token_pacer, "POST", self._token_url, path, None, body, {}
                )
            except _Retry as retry:
                failures += 1
                self._backoff_or_raise("POST", path, failures, retry)
                continue
            status = response.status_code
            if status == 429:
                rate_limited += 1
                self._wait_after_429("POST", path, response, rate_limited)
                continue
            if status == 401:
                raise AuthenticationError(
                    f"Livello rejected the credentials of client {self.settings.client_id!r} at "
                    f"{self._token_url} ({_problem_text(parsed)}): {_CREDENTIALS_HINT}",
                    status=401,
                    path=path,
                    problem=_problem(parsed),
                ) from None
            if status == 403:
                raise PermissionDeniedError(
                    f"Livello refused a token to client {self.settings.client_id!r} "
                    f"({_problem_text(parsed)}); the client's IP allowlist may not include this machine",
                    status=403,
                    path=path,
                    problem=_problem(parsed),
                ) from None
            if not 200 <= status < 300:
                self._raise_for_status("POST", path, status, parsed)
            return self._token_from(parsed, path)

    def _token_from(self, parsed: Any, path: str) -> _Token:
        try:
            value = str(parsed["access_token"])
            expires_in = float(parsed.get("expires_in", 0))
        except (TypeError, KeyError, ValueError):
            raise UnexpectedResponseError(
                f"The token response of {self._token_url} has no access_token/expires_in; "
                "check the token URL",
                path=path,
            ) from None
        SECRETS.add(value)
        margin = min(TOKEN_REFRESH_MARGIN_SECONDS, 0.1 * expires_in)
        scopes = frozenset(str(parsed.get("scope") or "").split())
        logger.debug("token issued: expires in %.0fs, scopes %s", expires_in, " ".join(sorted(scopes)))
        return _Token(value, self._clock() + max(0.0, expires_in - margin), scopes)

    # -- waiting ---------------------------------------------------------------------------------------------
    def _check_wait(self, seconds: float, reason: str) -> None:
        """Raise instead of sleeping when a wait is longer than allowed."""
        if seconds > self.settings.max_wait_seconds:
            raise BudgetExhaustedError(
                f"Continuing needs a {seconds:.0f}s wait ({reason}), more than max_wait_seconds="
                f"{self.settings.max_wait_seconds:.0f}. Re-run after the rate-limit window resets "
                "(finished work is kept), or raise max_wait_seconds or budget_share.",
                wait_seconds=seconds,
            )
        if self._deadline is not None and self._clock() + seconds > self._deadline:
            raise DeadlineExceededError(
                f"Continuing needs a {seconds:.1f}s wait ({reason}) that would end after the run's deadline "
                "(--max-duration). Re-run to resume where this run stopped.",
                wait_seconds=seconds,
            )

    def _count_pacing_sleep(self, seconds: float) -> None:
        with self._stats_lock:
            self.stats.slept_seconds_pacing += seconds

    def _backoff_or_raise(self, method: str, path: str, failures: int, retry: _Retry) -> None:
        settings = self.settings
        if failures >= settings.max_attempts:
            raise TransientError(
                f"{method} {path} failed {failures} times in a row; last failure: {retry.description}. "
                f"The Livello API at {self._base_url} or the network is unstable: re-run later (finished "
                "work is kept) or raise max_attempts."
                + (" Check SOURCES__LIVELLO__BASE_URL." if "ConnectError" in retry.description else ""),
                path=path,
            ) from None
        ceiling = min(settings.backoff_max_seconds, settings.backoff_base_seconds * 2 ** (failures - 1))
        delay = self._rng.uniform(0.0, ceiling)  # full jitter: retries of many clients do not synchronise
        if retry.retry_after is not None:
            delay = max(delay, retry.retry_after)
        self._check_wait(delay, f"backing off after {retry.description}")
        logger.warning(
            "%s %s failed (%s); retry %d of %d in %.2fs",
            method,
            path,
            retry.description,
            failures,
            settings.max_attempts - 1,
            delay,
        )
        self._sleep(delay)
        with self._stats_lock:
            self.stats.retries += 1
            self.stats.slept_seconds_backoff += delay

    def _wait_after_429(self, method: str, path: str, response: httpx.Response, count: int) -> None:
        with self._stats_lock:
            self.stats.http_429 += 1
        if count > self.settings.max_rate_limited_retries:
            raise TransientError(
                f"{method} {path} got {count} 429 responses; another integration may be "
                "using the whole rate limit of this client: re-run later or lower its usage.",
                status=429,
                path=path,
            ) from None
        wait = _retry_after(response)
        if wait is None:
            parsed = parse_rate_limit_headers(response.headers)
            wait = float(parsed[2]) if parsed else self.settings.backoff_base_seconds * 2 ** (count - 1)
        wait = max(wait, 0.0)
        self._check_wait(wait, "the server answered 429 Too Many Requests")
        logger.warning("%s %s got 429 Too Many Requests; waiting %.1fs (Retry-After)", method, path, wait)
        self._sleep(wait)
        with self._stats_lock:
            self.stats.retries += 1
            self.stats.slept_seconds_rate_limited += wait

    # -- errors ----------------------------------------------------------------------------------------------
    def _raise_for_status(self, method: str, path: str, status: int, body: Any) -> NoReturn:
        problem = _problem(body)
        text = _problem_text(body)
        if status == 403:
            match = _SCOPE_DETAIL.search(str(problem.get("detail", "")))
            if match:
                scope = match.group("scope")
                raise ScopeError(
                    f"{method} {path} needs the scope {scope!r}, which client "
                    f"{self.settings.client_id!r} lacks; ask Livello to grant it or leave this resource out",
                    scope=scope,
                    status=status,
                    path=path,
                    problem=problem,
                ) from None
            raise PermissionDeniedError(
                f"{method} {path} is forbidden for client {self.settings.client_id!r} ({text})",
                status=status,
                path=path,
                problem=problem,
            ) from None
        if status == 404:
            raise NotFoundError(
                f"{method} {path} found nothing ({text})", status=status, path=path, problem=problem
            ) from None
        if 400 <= status < 500:
            raise BadRequestError(
                f"{method} {path} was rejected with HTTP {status} ({text}); the request does not match "
                "the API contract (a parameter, a date or an enum value)",
                status=status,
                path=path,
                problem=problem,
            ) from None
        raise UnexpectedResponseError(
            f"{method} {path} answered HTTP {status} ({text})", status=status, path=path, problem=problem
        ) from None


# -- helpers -------------------------------------------------------------------------------------------------
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


def _parse_json(response: httpx.Response) -> Any:
    """The body as JSON with exact decimals; None for an empty body; ValueError if unparseable."""
    if not response.content:
        return None
    return json.loads(response.content.decode("utf-8"), parse_float=Decimal)


def _parse_lenient(response: httpx.Response) -> Any:
    """An error body parsed if possible (problem+json), else its text (a proxy's HTML page, say), redacted."""
    try:
        return _parse_json(response)
    except ValueError:
        return SECRETS.redact(response.text[:200])


def _problem(body: Any) -> dict[str, Any]:
    return dict(body) if isinstance(body, dict) else {}


def _problem_text(body: Any) -> str:
    """A short, redacted description of an error body for messages and logs."""
    if isinstance(body, dict):
        parts = [str(body[key]) for key in ("title", "detail") if body.get(key)]
        text = ": ".join(parts) or json.dumps(body, default=str)[:200]
    else:
        text = str(body or "no body")[:200]
    return SECRETS.redact(text)


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP-date; the RateLimit-Reset header or backoff decides instead


def _envelope(body: Any, path: str) -> tuple[int, list[dict[str, Any]]]:
    """(total, data) of a paged response, checking the contract's envelope."""
    if not isinstance(body, dict) or not isinstance(body.get("data"), list):
        raise UnexpectedResponseError(
            f"GET {path} did not return a paged envelope {{total, data}}", path=path
        )
    total = body.get("total")
    if isinstance(total, bool) or not isinstance(total, int | Decimal) or total < 0:
        raise UnexpectedResponseError(
            f"GET {path} returned a page without a valid total ({total!r})", path=path
        )
    return int(total), body["data"]


def _ms(start: float, end: float) -> float:
    return (end - start) * 1000.0
