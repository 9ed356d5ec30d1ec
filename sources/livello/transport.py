"""Getting a request answered: every request on the wire paced, and the one retry loop of API and token calls.

* Pacing: httpx event hooks run around each request that goes on the wire, the re-send of the authentication
  flow (auth.py) included, so nothing reaches the vendor unpaced or uncounted. The token endpoint has its own
  bucket (10/minute) and pacer; the URL decides, as it does on the server. The arithmetic is pacing.py's.
* Retries (`Sender.send`, for API and token calls alike): exponential backoff with full jitter on 5xx, 408,
  dropped connections, timeouts and unparseable 2xx bodies; a 429 waits `Retry-After` (else RateLimit-Reset,
  else backoff). A request that may have reached the server is sent again only when it is repeatable:
  idempotent methods, and whatever the caller declares so (the token request).
* Waits: every sleep (pacing, backoff, Retry-After) is checked first against `max_wait_seconds` and the run's
  deadline, and refused with `BudgetExhaustedError` / `DeadlineExceededError`.
* Bodies: JSON numbers with a fraction become `Decimal`, so money stays exact. Any final answer that is not a
  2xx is returned with its body for the caller to map (errors.error_for_status).
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

import httpx

from sources.livello.config import ClientSettings, setting_names
from sources.livello.errors import (
    BudgetExhaustedError,
    DeadlineExceededError,
    LivelloError,
    TransientError,
    UnexpectedResponseError,
    problem_text,
)
from sources.livello.pacing import RateLimitPacer, parse_rate_limit_headers
from sources.livello.redaction import SECRETS
from sources.livello.stats import ClientStats

logger = logging.getLogger("livello_sync.client")

# The token endpoint's window (10 requests per minute), assumed until a response says otherwise.
TOKEN_WINDOW_SECONDS = 60.0
# Transport failures worth another attempt: the request may not have reached the server, or its answer was
# lost.
_RETRYABLE_TRANSPORT_ERRORS: tuple[type[Exception], ...] = (
    httpx.TimeoutException,
    httpx.NetworkError,
    httpx.RemoteProtocolError,
    httpx.DecodingError,
)
# The one kind of failure after which the server certainly did not process the request.
_NOT_SENT_ERRORS = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
# Methods that may be repeated after an ambiguous failure (a 5xx, a lost answer).
REPEATABLE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
# Request extension: (its pacer, when it went on the wire), until the pacer has been told how it ended.
_IN_FLIGHT = "livello.in_flight"


class _Retry(Exception):
    """The attempt failed in a retryable way (`description` is already redacted).

    `reached_server` is False only when the request certainly was not processed (the connection was never
    made), the one case where a request that is not repeatable may be sent again safely.
    """

    def __init__(
        self,
        description: str,
        retry_after: float | None = None,
        reached_server: bool = True,
        final: LivelloError | None = None,
    ) -> None:
        super().__init__(description)
        self.description = description
        self.retry_after = retry_after
        self.reached_server = reached_server
        # Raised instead of a TransientError when the attempts run out: what the answers were, when that is
        # more than a flaky network (a maintenance page, a body that is not JSON).
        self.final = final


class Sender:
    """Sends requests through `http` paced, retried and within the allowed waits; thread-safe."""

    def __init__(
        self,
        http: httpx.Client,
        settings: ClientSettings,
        *,
        stats: ClientStats,
        clock: Callable[[], float],
        sleep: Callable[[float], None],
        rng: random.Random,
    ) -> None:
        self._http = http
        self._settings = settings
        self._stats = stats
        self._clock = clock
        self._sleep = sleep
        self._rng = rng
        self._token_url = httpx.URL(settings.resolved_token_url)
        self._deadline: float | None = None
        self.api_pacer = self._pacer("API", settings.rate_limit_window_seconds)
        self._token_pacer = self._pacer("token endpoint", TOKEN_WINDOW_SECONDS)
        http.event_hooks = {"request": [self._on_request], "response": [self._on_response]}

    def _pacer(self, name: str, window_seconds: float) -> RateLimitPacer:
        return RateLimitPacer(
            name,
            budget_share=self._settings.budget_share,
            burst_share=self._settings.burst_share,
            clock=self._clock,
            sleep=self._sleep,
            check_wait=self._check_wait,
            on_sleep=lambda seconds: self._stats.add(slept_seconds_pacing=seconds),
            default_window_seconds=window_seconds,
        )

    def set_deadline(self, seconds_from_now: float | None) -> None:
        self._deadline = None if seconds_from_now is None else self._clock() + seconds_from_now

    # -- the retry loop --------------------------------------------------------------------------------------
    def send(
        self,
        method: str,
        url: str,
        *,
        path: str,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
        auth: httpx.Auth | None = None,
        repeatable: bool | None = None,
    ) -> tuple[httpx.Response, Any]:
        """Send until a final answer; returns it with its parsed body (a redacted text if not JSON).

        `path` names the request in messages. `repeatable` says whether a request that may have reached the
        server can be sent again; None leaves it to the method (REPEATABLE_METHODS).
        """
        try:
            request = self._http.build_request(method, url, params=params, json=json_body, headers=headers)
        except httpx.InvalidURL as error:
            raise _unsendable(method, url, path, error) from None
        if repeatable is None:
            repeatable = method.upper() in REPEATABLE_METHODS
        failures = 0
        rate_limited = 0
        while True:
            try:
                response, body = self._attempt(request, path, auth)
            except _Retry as retry:
                failures += 1
                if retry.reached_server and not repeatable:
                    raise TransientError(
                        f"{method} {path} failed ({retry.description}) and is not retried: it may have "
                        "taken effect; check the result before sending it again",
                        path=path,
                    ) from None
                self._back_off(method, path, failures, retry, request.url)
                continue
            if response.status_code == 429:
                rate_limited += 1
                self._wait_after_429(method, path, response, rate_limited)
                continue
            return response, body

    def _attempt(
        self, request: httpx.Request, path: str, auth: httpx.Auth | None
    ) -> tuple[httpx.Response, Any]:
        """Send once; returns (response, parsed body) or raises _Retry for a retryable failure."""
        method = request.method
        try:
            response = self._http.send(request, auth=auth)
        except _RETRYABLE_TRANSPORT_ERRORS as error:
            self._stats.add(transport_errors=1)
            description = f"{type(error).__name__}: {SECRETS.redact(str(error)) or 'no detail'}"
            logger.debug("%s %s failed: %s", method, path, description)
            raise _Retry(description, reached_server=not isinstance(error, _NOT_SENT_ERRORS)) from None
        except httpx.HTTPError as error:
            raise _unsendable(method, str(request.url), path, error) from None
        finally:
            # Whatever failed before the response hook ran still counts as in flight for the pacer (after a
            # response, this finds the send settled already).
            self._settle(request, None)
        status = response.status_code
        if status >= 500 or status == 408:
            if status >= 500:
                self._stats.add(http_5xx=1)
            raise _Retry(f"HTTP {status} ({problem_text(parse_lenient(response))})", _retry_after(response))
        if not 200 <= status < 300:
            return response, parse_lenient(response)
        try:
            return response, parse_json(response)
        except ValueError as error:
            self._stats.add(invalid_bodies=1)
            what = describe_body(response, error)
            final = UnexpectedResponseError(
                f"{method} {path} answered HTTP {status} with {what}, not the JSON the contract promises, "
                f"{self._settings.max_attempts} times in a row: the API, or a proxy in front of it, is "
                "serving something else (a maintenance or login page?). Nothing of this resource's window "
                "was kept; the next run reads it again.",
                status=status,
                path=path,
            )
            raise _Retry(f"HTTP {status} with {what}", final=final) from None

    # -- pacing of each request on the wire (httpx event hooks) ----------------------------------------------
    def _is_token_request(self, request: httpx.Request) -> bool:
        return request.url == self._token_url

    def _on_request(self, request: httpx.Request) -> None:
        token_request = self._is_token_request(request)
        pacer = self._token_pacer if token_request else self.api_pacer
        pacer.acquire()
        request.extensions[_IN_FLIGHT] = (pacer, self._clock())
        if token_request:
            self._stats.add(token_requests=1)
        else:
            self._stats.add(requests=1)

    def _on_response(self, response: httpx.Response) -> None:
        request = response.request
        sent_at = self._settle(request, response.headers)
        if not self._is_token_request(request):
            parsed = parse_rate_limit_headers(response.headers)
            if parsed is not None:
                self._stats.record_rate_limit(*parsed)
        if sent_at is not None and logger.isEnabledFor(logging.DEBUG):
            target = request.url.raw_path.decode("ascii", "replace")
            elapsed_ms = (self._clock() - sent_at) * 1000.0
            logger.debug("%s %s -> %s in %.0f ms", request.method, target, response.status_code, elapsed_ms)

    def _settle(self, request: httpx.Request, headers: httpx.Headers | None) -> float | None:
        """Tell the request's pacer how it ended (its headers, or None for a failure), once per send.

        A failure can come after the response hook (the body is read later), so the send is settled by
        whichever comes first. Returns when the request was sent (None when it was already settled).
        """
        in_flight: tuple[RateLimitPacer, float] | None = request.extensions.pop(_IN_FLIGHT, None)
        if in_flight is None:
            return None
        pacer, sent_at = in_flight
        pacer.observe(headers, sent_at=sent_at, received_at=self._clock())
        return sent_at

    # -- waiting ---------------------------------------------------------------------------------------------
    def _check_wait(self, seconds: float, reason: str) -> None:
        """Raise instead of sleeping when a wait is longer than allowed."""
        max_wait = self._settings.max_wait_seconds
        if seconds > max_wait:
            raise BudgetExhaustedError(
                f"Continuing needs a {seconds:.0f}s wait ({reason}), more than max_wait_seconds="
                f"{max_wait:.0f}. Re-run after the rate-limit window resets (finished work is kept), or "
                "raise max_wait_seconds or budget_share.",
                wait_seconds=seconds,
            )
        if self._deadline is not None and self._clock() + seconds > self._deadline:
            raise DeadlineExceededError(
                f"Continuing needs a {seconds:.1f}s wait ({reason}) that would end after the run's deadline "
                "(--max-duration). Re-run to resume where this run stopped.",
                wait_seconds=seconds,
            )

    def _back_off(self, method: str, path: str, failures: int, retry: _Retry, url: httpx.URL) -> None:
        settings = self._settings
        if failures >= settings.max_attempts:
            if retry.final is not None:
                raise retry.final
            if not retry.reached_server:
                raise TransientError(self._unreachable(url, failures, retry), path=path) from None
            raise TransientError(
                f"{method} {path} failed {failures} times in a row; last failure: {retry.description}. "
                f"The Livello API at {settings.base_url.rstrip('/')} or the network is unstable: re-run "
                f"later (finished work is kept) or raise {setting_names('max_attempts')}.",
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
        self._stats.add(retries=1, slept_seconds_backoff=delay)

    def _unreachable(self, url: httpx.URL, failures: int, retry: _Retry) -> str:
        """The message for a host that never answered: which host, why, and which setting names it."""
        is_token = url == self._token_url and bool(self._settings.token_url)
        setting = setting_names("token_url" if is_token else "base_url")
        port = url.port or (443 if url.scheme == "https" else 80)
        reason = retry.description
        if "[Errno -" in reason or "name resolution" in reason or "not known" in reason:  # getaddrinfo failed
            what = f"cannot resolve the host name {url.host!r}"
        else:
            what = f"cannot connect to {url.host}:{port}"
        return (
            f"{what} ({reason}; {failures} tries): check {setting} and that this machine can reach it. "
            "Nothing was lost; run again when it is reachable."
        )

    def _wait_after_429(self, method: str, path: str, response: httpx.Response, count: int) -> None:
        self._stats.add(http_429=1)
        if count > self._settings.max_rate_limited_retries:
            raise TransientError(
                f"{method} {path} got {count} 429 responses; another integration may be "
                "using the whole rate limit of this client: re-run later or lower its usage.",
                status=429,
                path=path,
            ) from None
        wait = _retry_after(response)
        if wait is None:
            parsed = parse_rate_limit_headers(response.headers)
            wait = float(parsed[2]) if parsed else self._settings.backoff_base_seconds * 2 ** (count - 1)
        wait = max(wait, 0.0)
        self._check_wait(wait, "the server answered 429 Too Many Requests")
        logger.warning("%s %s got 429 Too Many Requests; waiting %.1fs (Retry-After)", method, path, wait)
        self._sleep(wait)
        self._stats.add(retries=1, slept_seconds_rate_limited=wait)


# -- bodies and headers --------------------------------------------------------------------------------------
def parse_json(response: httpx.Response) -> Any:
    """The body as JSON with exact decimals; None for an empty body; ValueError if unparseable."""
    if not response.content:
        return None
    return json.loads(response.content.decode("utf-8"), parse_float=Decimal)


def describe_body(response: httpx.Response, error: ValueError) -> str:
    """What a 2xx body that does not parse is, in words (for the message an operator reads)."""
    content_type = response.headers.get("content-type", "no content type")
    head = response.content[:200].lstrip().lower()
    if "html" in content_type or head.startswith((b"<!doctype html", b"<html")):
        return f"an HTML page ({content_type}, {len(response.content):,} bytes)"
    if isinstance(error, UnicodeDecodeError):
        byte = response.content[error.start]
        return f"a body that is not valid UTF-8 (byte 0x{byte:02x} at position {error.start:,})"
    return f"a body that is not JSON ({content_type}, {len(response.content):,} bytes)"


def parse_lenient(response: httpx.Response) -> Any:
    """An error body parsed if possible (problem+json), else its text (a proxy's HTML page, say), redacted."""
    try:
        return parse_json(response)
    except ValueError:
        return SECRETS.redact(response.text[:200])


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP-date; the RateLimit-Reset header or backoff decides instead


def _unsendable(method: str, url: str, path: str, error: Exception) -> LivelloError:
    return LivelloError(
        f"{method} {url} cannot be sent ({type(error).__name__}: {SECRETS.redact(str(error))}); "
        "check SOURCES__LIVELLO__BASE_URL",
        path=path,
    )
