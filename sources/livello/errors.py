"""Exceptions raised by the Livello API client.

Every message says what failed and which setting to check, and never contains the client secret or a bearer
token: the client builds messages itself (no httpx exception text that could carry headers) and chains nothing
that holds a request object (`raise ... from None`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


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
