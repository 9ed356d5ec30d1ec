"""OAuth2 client-credentials authentication of the simulated API (JWT HS256, server-side token cache).

Configured clients (demo values, never real credentials):

- `lv_m2m_demo` / `sk_live_demo`: every scope of the contract; sees every organization.
- `lv_m2m_limited` / `sk_live_limited`: every scope but users:read and reports:read; sees every organization.
- `lv_m2m_org_<orgId>` / `sk_live_org_<orgId>`: every scope; sees organization <orgId> and its descendants.

One `lv_m2m_org_<orgId>` client exists per organization of the generated data, top-level operators (the EUR
and the CHF operator) and their sub-organizations alike, so a test can watch scoping hide the other
organizations' data, and a sync with several clients can give one client an operator and another a
sub-organization of it. Each client has its own rate-limit window (simulator/ratelimit.py, keyed by the
token's client id). `livello-sim
serve --client-id/--client-secret` replaces the demo client's credentials; `SimConfig.clients` replaces the
whole table.

Token rules (contract x-contract-notes): claims sub = client_id, scope (space separated), iat, exp (plus a
random jti, so a token re-issued in the same second after an invalidation is a new token); the same
credentials return the same token until it expires and `expires_in` is its remaining lifetime; an unknown
client, a wrong secret or a revoked client gets 401 (type .../errors/invalid-client); a grant_type other
than client_credentials gets 400. Tokens are checked against the server-side set of issued tokens, so
revocation and a forced expiry take effect on the next call. Lifetimes run on the wall clock (not the
simulated clock) so tests can use lifetimes of seconds."""

from __future__ import annotations

import math
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import jwt

from simulator.config import ClientConfig
from simulator.problems import ProblemError

ALL_SCOPES: tuple[str, ...] = (
    "kiosks:read",
    "inventory:read",
    "products:read",
    "products:write",
    "transactions:read",
    "refills:read",
    "organizations:read",
    "organizations:write",
    "users:read",
    "users:write",
    "alerts:read",
    "reports:read",
    "promocodes:read",
    "promocodes:write",
)
LIMITED_SCOPES: tuple[str, ...] = tuple(s for s in ALL_SCOPES if s not in ("users:read", "reports:read"))

DEMO_CLIENT_ID = "lv_m2m_demo"
DEMO_CLIENT_SECRET = "sk_live_demo"
LIMITED_CLIENT_ID = "lv_m2m_limited"
LIMITED_CLIENT_SECRET = "sk_live_limited"
DEFAULT_TOKEN_LIFETIME_SECONDS = 86_400


def organization_client_id(organization_id: int) -> str:
    return f"lv_m2m_org_{organization_id}"


def organization_client_secret(organization_id: int) -> str:
    return f"sk_live_org_{organization_id}"


# The client table entry lives in config.py so SimConfig can carry custom clients.
ClientSpec = ClientConfig


@dataclass(frozen=True)
class Principal:
    """The authenticated caller of one request."""

    client_id: str
    scopes: frozenset[str]
    organization_id: int | None

    def require(self, scope: str) -> None:
        if scope not in self.scopes:
            raise ProblemError(403, f"Insufficient scope. Required: {scope}", slug="forbidden")


def default_clients(
    demo_client_id: str = DEMO_CLIENT_ID,
    demo_client_secret: str = DEMO_CLIENT_SECRET,
    client_org_ids: Iterable[int] = (),
) -> list[ClientSpec]:
    clients = [
        ClientSpec(demo_client_id, demo_client_secret, ALL_SCOPES),
        ClientSpec(LIMITED_CLIENT_ID, LIMITED_CLIENT_SECRET, LIMITED_SCOPES),
    ]
    clients.extend(
        ClientSpec(organization_client_id(org_id), organization_client_secret(org_id), ALL_SCOPES, org_id)
        for org_id in client_org_ids
    )
    return clients


@dataclass
class _IssuedToken:
    token: str
    client_id: str
    expires_at: float


@dataclass
class AuthService:
    """Issues and verifies tokens; thread-safe because the test handle calls it from another thread."""

    clients: list[ClientSpec]
    token_lifetime_seconds: int = DEFAULT_TOKEN_LIFETIME_SECONDS
    signing_key: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    wall_clock: Callable[[], float] = time.time
    _by_id: dict[str, ClientSpec] = field(init=False)
    _cache: dict[str, _IssuedToken] = field(init=False, default_factory=dict)
    _active: dict[str, _IssuedToken] = field(init=False, default_factory=dict)
    _revoked: set[str] = field(init=False, default_factory=set)
    _lock: threading.Lock = field(init=False, default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._by_id = {c.client_id: c for c in self.clients}

    # -- administration (control surface and test handle) --------------------------------------------------
    def client(self, client_id: str) -> ClientSpec | None:
        return self._by_id.get(client_id)

    def add_client(self, spec: ClientSpec) -> None:
        with self._lock:
            self._by_id[spec.client_id] = spec
            self.clients = list(self._by_id.values())

    def revoke(self, client_id: str) -> bool:
        """Revoke a client: its tokens get 401 on the next call and new token requests are rejected."""
        with self._lock:
            if client_id not in self._by_id:
                return False
            self._revoked.add(client_id)
            self._drop_tokens_locked(lambda t: t.client_id == client_id)
            return True

    def reinstate(self, client_id: str) -> None:
        with self._lock:
            self._revoked.discard(client_id)

    def revoked_clients(self) -> list[str]:
        with self._lock:
            return sorted(self._revoked)

    def invalidate_all_tokens(self) -> int:
        """Expire every issued token now (the 'token expires mid-run' fault); returns how many were live."""
        with self._lock:
            return self._drop_tokens_locked(lambda t: True)

    def _drop_tokens_locked(self, predicate: Callable[[_IssuedToken], bool]) -> int:
        dropped = [tok for tok, t in self._active.items() if predicate(t)]
        for tok in dropped:
            del self._active[tok]
        for cid in [cid for cid, t in self._cache.items() if predicate(t)]:
            del self._cache[cid]
        return len(dropped)

    # -- token endpoint --------------------------------------------------------------------------------------
    def issue(self, client_id: str, client_secret: str, grant_type: str, remote_ip: str | None) -> dict:
        if grant_type != "client_credentials":
            raise ProblemError(400, "grant_type must be client_credentials", slug="unsupported-grant-type")
        spec = self._by_id.get(client_id)
        # One message for unknown client and wrong secret so the endpoint does not reveal which ids exist.
        if spec is None or not secrets.compare_digest(spec.client_secret.encode(), client_secret.encode()):
            raise ProblemError(401, "Invalid client credentials", slug="invalid-client")
        if spec.allowed_ips and remote_ip not in spec.allowed_ips:
            raise ProblemError(403, "Request from an IP address outside the client's allowlist")
        now = self.wall_clock()
        with self._lock:
            if client_id in self._revoked:
                raise ProblemError(401, "Client has been revoked", slug="invalid-client")
            cached = self._cache.get(client_id)
            if cached is None or cached.expires_at <= now:
                cached = self._mint_locked(spec, now)
        return {
            "access_token": cached.token,
            "token_type": "Bearer",
            "expires_in": max(0, int(cached.expires_at - now)),
            "scope": " ".join(spec.scopes),
        }

    def _mint_locked(self, spec: ClientSpec, now: float) -> _IssuedToken:
        lifetime = spec.token_lifetime_seconds or self.token_lifetime_seconds
        iat = int(now)
        # Rounded up: whole-second claims must never cut the promised lifetime short.
        exp = math.ceil(now + lifetime)
        claims = {
            "sub": spec.client_id,
            "scope": " ".join(spec.scopes),
            "iat": iat,
            "exp": exp,
            "jti": secrets.token_hex(8),
        }
        token = jwt.encode(claims, self.signing_key, algorithm="HS256")
        issued = _IssuedToken(token, spec.client_id, float(exp))
        self._cache[spec.client_id] = issued
        self._active[token] = issued
        return issued

    # -- every other endpoint --------------------------------------------------------------------------------
    def authenticate(self, authorization: str | None) -> Principal:
        if not authorization:
            raise ProblemError(401, "Missing bearer token")
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise ProblemError(401, "Malformed Authorization header, expected 'Bearer <token>'")
        now = self.wall_clock()
        with self._lock:
            issued = self._active.get(token)
            if issued is not None and issued.expires_at <= now:
                del self._active[token]
                issued = None
        if issued is None:
            # Distinguish a token we never issued (or that is malformed) from an expired/revoked one for the
            # client's log, without echoing the token itself.
            try:
                jwt.decode(token, self.signing_key, algorithms=["HS256"], options={"verify_exp": False})
            except jwt.PyJWTError:
                raise ProblemError(401, "Invalid bearer token") from None
            raise ProblemError(401, "Token expired or revoked")
        spec = self._by_id.get(issued.client_id)
        if spec is None or issued.client_id in self._revoked:
            raise ProblemError(401, "Token expired or revoked")
        return Principal(spec.client_id, frozenset(spec.scopes), spec.organization_id)
