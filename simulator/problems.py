"""RFC 7807 problem responses: the only error body the simulated API ever sends.

Routes raise `ProblemError`; the app turns it into `application/problem+json` with
{type, title, status, detail, instance}, exactly as the contract's `Problem` schema requires.
"""

from __future__ import annotations

import json
from http import HTTPStatus

PROBLEM_TYPE_BASE = "https://api.livello.com/errors/"
PROBLEM_CONTENT_TYPE = "application/problem+json"

# The type slug per status; the contract names ".../errors/invalid-client" for token 401s and
# ".../errors/forbidden" for scope 403s, the rest follow the same pattern.
_DEFAULT_SLUGS: dict[int, str] = {
    400: "bad-request",
    401: "unauthorized",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    409: "conflict",
    413: "payload-too-large",
    415: "unsupported-media-type",
    429: "too-many-requests",
    500: "internal-server-error",
    502: "bad-gateway",
    503: "service-unavailable",
}


class ProblemError(Exception):
    """An HTTP error the client is meant to see; carries everything the problem body needs."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        slug: str | None = None,
        title: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.slug = slug or _DEFAULT_SLUGS.get(status, "error")
        self.title = title or _title(status)
        self.headers = headers or {}


def _title(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def bad_request(detail: str) -> ProblemError:
    return ProblemError(400, detail)


def not_found(detail: str) -> ProblemError:
    return ProblemError(404, detail)


def problem_body(
    status: int, detail: str, instance: str, *, slug: str | None = None, title: str | None = None
) -> bytes:
    body = {
        "type": PROBLEM_TYPE_BASE + (slug or _DEFAULT_SLUGS.get(status, "error")),
        "title": title or _title(status),
        "status": status,
        "detail": detail,
        "instance": instance,
    }
    return json.dumps(body, ensure_ascii=False).encode()


def problem_from_error(error: ProblemError, instance: str) -> bytes:
    return problem_body(error.status, error.detail, instance, slug=error.slug, title=error.title)
