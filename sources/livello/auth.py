"""The bearer token of the Livello API as an `httpx.Auth`.

The token comes from POST `token_url` with the contract's TokenRequest (client_id, client_secret,
grant_type) and is reused, by every thread, until shortly before its `expires_in`. The token request goes
through the same `Sender` as API calls: paced in the token endpoint's own bucket (10/minute) and retried by
the same loop (it is a POST, but repeatable: the server answers with its cached token).

`auth_flow` works the way httpx's own `DigestAuth` does: it yields the request with the current token and,
when the answer is a 401 (the server forgot or expired the token), fetches a new token once and yields the
request again. Whatever that second answer is goes back to the caller, so a second 401 becomes an
`AuthenticationError` where every status is mapped (errors.error_for_status).
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable, Generator
from dataclasses import dataclass, field, replace
from typing import Any

import httpx

from sources.livello.config import ClientSettings
from sources.livello.errors import UnexpectedResponseError, error_for_status, problem_text
from sources.livello.redaction import SECRETS
from sources.livello.stats import ClientStats
from sources.livello.transport import Sender, parse_lenient

logger = logging.getLogger("livello_sync.client")

TOKEN_PATH = "/auth/token"  # how messages name the token request, wherever token_url points
# Tokens are renewed this long before `expires_in` (capped at 10% of the lifetime for short-lived tokens), so
# a token never expires between our check and the server's.
TOKEN_REFRESH_MARGIN_SECONDS = 60.0


class _SecretBody(dict):  # type: ignore[type-arg]
    """The token request's JSON body: a dict whose repr hides the secret (debuggers, `pytest -l`, crash
    reporters that print local variables)."""

    def __repr__(self) -> str:
        return "{<token request body redacted>}"


@dataclass(frozen=True)
class _Token:
    value: str = field(repr=False)
    refresh_at: float  # clock time after which a new token is fetched
    scopes: frozenset[str]


class BearerTokenAuth(httpx.Auth):
    """Adds the current bearer token to each request; on a 401, one new token and one re-send."""

    # The 401's problem goes into the log line; reading it also frees the connection before the re-send.
    requires_response_body = True

    def __init__(
        self, settings: ClientSettings, sender: Sender, *, stats: ClientStats, clock: Callable[[], float]
    ) -> None:
        self._settings = settings
        self._sender = sender
        self._stats = stats
        self._clock = clock
        self._lock = threading.Lock()
        self._token: _Token | None = None

    @property
    def scopes(self) -> frozenset[str] | None:
        """Scopes granted with the current token (None before the first token)."""
        token = self._token
        return token.scopes if token is not None else None

    def token(self) -> str:
        """The current token, fetched when there is none or it is about to expire."""
        with self._lock:
            token = self._token
            if token is not None and self._clock() < token.refresh_at:
                return token.value
            fresh = self._fetch()
            if token is not None and fresh.value == token.value:
                # The server caches tokens and returned the one about to expire: keep it until it fails with
                # a 401 (refreshed then) instead of asking again on every call of its last seconds.
                fresh = replace(fresh, refresh_at=math.inf)
            self._token = fresh
            return fresh.value

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        # Set on every send, so an Authorization header a caller passed never replaces the token.
        token = self.token()
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code != 401:
            return
        self._invalidate(token)
        self._stats.add(token_refreshes=1)
        logger.info(
            "%s %s got 401 (%s); fetching a new token",
            request.method,
            request.url.path,
            problem_text(parse_lenient(response)),
        )
        request.headers["Authorization"] = f"Bearer {self.token()}"
        yield request

    def _invalidate(self, rejected: str) -> None:
        with self._lock:
            # Another thread may already have replaced the rejected token; keep its fresh one.
            if self._token is not None and self._token.value == rejected:
                self._token = None

    def _fetch(self) -> _Token:
        settings = self._settings
        body = _SecretBody(
            client_id=settings.client_id,
            client_secret=settings.client_secret,
            grant_type="client_credentials",
        )
        response, parsed = self._sender.send(
            "POST", settings.resolved_token_url, path=TOKEN_PATH, json_body=body, repeatable=True
        )
        if not 200 <= response.status_code < 300:
            raise error_for_status(
                response.status_code,
                parsed,
                method="POST",
                path=TOKEN_PATH,
                client_id=settings.client_id,
                token_url=settings.resolved_token_url,
            )
        return self._token_from(parsed)

    def _token_from(self, parsed: Any) -> _Token:
        try:
            value = str(parsed["access_token"])
            expires_in = float(parsed.get("expires_in", 0))
        except (TypeError, KeyError, ValueError):
            raise UnexpectedResponseError(
                f"The token response of {self._settings.resolved_token_url} has no access_token/expires_in; "
                "check the token URL",
                path=TOKEN_PATH,
            ) from None
        SECRETS.add(value)
        margin = min(TOKEN_REFRESH_MARGIN_SECONDS, 0.1 * expires_in)
        scopes = frozenset(str(parsed.get("scope") or "").split())
        logger.debug("token issued: expires in %.0fs, scopes %s", expires_in, " ".join(sorted(scopes)))
        return _Token(value, self._clock() + max(0.0, expires_in - margin), scopes)
