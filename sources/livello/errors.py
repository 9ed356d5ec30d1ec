"""Exceptions raised by the Livello API client, and the one mapping from an HTTP status to them.

Every message says what failed and which setting to check, and never contains the client secret or a bearer
token: the client builds messages itself (no httpx exception text that could carry headers, error bodies
redacted) and chains nothing that holds a request object (`raise ... from None`).

`error_for_status` turns a final answer that is not a 2xx into its exception; the retryable ones (408, 429,
5xx) come here only when they were the last answer of a request that is not repeated.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from sources.livello.redaction import SECRETS

CREDENTIALS_HINT = "check SOURCES__LIVELLO__CLIENT_ID and SOURCES__LIVELLO__CLIENT_SECRET"
_SCOPE_DETAIL = re.compile(r"Insufficient scope\.\s*Required:\s*(?P<scope>[\w:.\-]+)", re.IGNORECASE)


class LivelloError(Exception):
    """Base of every error the Livello client raises.

    `status` is the HTTP status when a response was received, `path` the API path requested and `problem` the
    RFC 7807 body ({type, title, status, detail, instance}) when the server sent one.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        path: str | None = None,
        problem: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.path = path
        self.problem: dict[str, Any] = dict(problem or {})

    @property
    def detail(self) -> str | None:
        detail = self.problem.get("detail")
        return str(detail) if detail is not None else None


class AuthenticationError(LivelloError):
    """The credentials were rejected: 401 on the token request, or 401 again right after a fresh token."""


class PermissionDeniedError(LivelloError):
    """403 that is not about a scope (e.g. a token request from outside the IP allowlist)."""


class ScopeError(PermissionDeniedError):
    """403 "Insufficient scope. Required: <scope>": the client lacks `scope` (skip the resource)."""

    def __init__(self, message: str, *, scope: str, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.scope = scope


class NotFoundError(LivelloError):
    """404: unknown id, serial number or code (or a kiosk without a recent session)."""


class BadRequestError(LivelloError):
    """400 (or another non-retryable 4xx): the request itself is wrong; `problem` says which parameter."""


class BudgetExhaustedError(LivelloError):
    """Continuing needs a wait longer than allowed (`max_wait_seconds`, or the run's deadline).

    `wait_seconds` is the wait that was needed; the caller can checkpoint and resume later.
    """

    def __init__(self, message: str, *, wait_seconds: float, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.wait_seconds = wait_seconds


class DeadlineExceededError(BudgetExhaustedError):
    """A wait would end after the deadline set with `LivelloClient.set_deadline` (`--max-duration`)."""


class TransientError(LivelloError):
    """A retryable failure (5xx, dropped connection, timeout, bad body, 429) outlasted every attempt."""


class UnexpectedResponseError(LivelloError):
    """A well-formed response that breaks the contract (for example a page without `total`)."""


def error_for_status(
    status: int, body: Any, *, method: str, path: str, client_id: str, token_url: str | None = None
) -> LivelloError:
    """The exception for a final non-2xx answer with its parsed `body`.

    `token_url` is given for the token request, whose 401 and 403 say something else than an API call's. A
    401 of an API call comes here only after the authentication flow refreshed the token and sent it again.
    """
    problem = problem_of(body)
    text = problem_text(body)
    where: dict[str, Any] = {"status": status, "path": path, "problem": problem}
    if status == 401 and token_url is not None:
        return AuthenticationError(
            f"Livello rejected the credentials of client {client_id!r} at {token_url} ({text}): "
            f"{CREDENTIALS_HINT}",
            **where,
        )
    if status == 401:
        return AuthenticationError(
            f"The Livello API rejected a freshly issued token for {method} {path} ({text}); the client may "
            f"have been revoked: {CREDENTIALS_HINT}",
            **where,
        )
    if status == 403 and token_url is not None:
        return PermissionDeniedError(
            f"Livello refused a token to client {client_id!r} ({text}); the client's IP allowlist may not "
            "include this machine",
            **where,
        )
    if status == 403:
        match = _SCOPE_DETAIL.search(str(problem.get("detail", "")))
        if match:
            scope = match.group("scope")
            return ScopeError(
                f"{method} {path} needs the scope {scope!r}, which client {client_id!r} lacks; ask Livello "
                "to grant it or leave this resource out",
                scope=scope,
                **where,
            )
        return PermissionDeniedError(
            f"{method} {path} is forbidden for client {client_id!r} ({text})", **where
        )
    if status == 404:
        return NotFoundError(f"{method} {path} found nothing ({text})", **where)
    if 400 <= status < 500:
        return BadRequestError(
            f"{method} {path} was rejected with HTTP {status} ({text}); the request does not match the API "
            "contract (a parameter, a date or an enum value)",
            **where,
        )
    return UnexpectedResponseError(f"{method} {path} answered HTTP {status} ({text})", **where)


def problem_of(body: Any) -> dict[str, Any]:
    """The RFC 7807 problem of an error body ({} when the body is not a JSON object)."""
    return dict(body) if isinstance(body, dict) else {}


def problem_text(body: Any) -> str:
    """A short, redacted description of an error body for messages and logs."""
    if isinstance(body, dict):
        parts = [str(body[key]) for key in ("title", "detail") if body.get(key)]
        text = ": ".join(parts) or json.dumps(body, default=str)[:200]
    else:
        text = str(body or "no body")[:200]
    return SECRETS.redact(text)
