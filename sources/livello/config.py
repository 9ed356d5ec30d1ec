"""Typed settings of the Livello source, resolved by dlt's configuration from `sources.livello.*`.

dlt reads every field from its providers in order: environment variables (`SOURCES__LIVELLO__BUDGET_SHARE`),
`.dlt/secrets.toml` and `.dlt/config.toml` (`[sources.livello] budget_share = 0.5`). Each field has its one
default here and its one validation in the spec's `validate()`; `resolve()` turns whatever dlt or a check
rejects into a `SettingError`, whose message names the setting both ways and says what is allowed.

Two specs, so a caller resolves only what it needs: `ClientSettings` (what the HTTP client needs to talk to
the API) and `SourceSettings` (how the source reads what it reads). The pipeline adds its own specs in
pipelines/config.py under the same section."""

from __future__ import annotations

import dataclasses
import difflib
import ipaddress
import json
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal, TypeVar, get_args, get_origin
from urllib.parse import urlsplit

from dlt.common.configuration import configspec, resolve_configuration
from dlt.common.configuration.exceptions import (
    ConfigFieldMissingException,
    ConfigProviderException,
    ConfigurationValueError,
    ConfigValueCannotBeCoercedException,
)
from dlt.common.configuration.specs import BaseConfiguration
from dlt.common.typing import TSecretStrValue

SECTION: tuple[str, ...] = ("sources", "livello")
PRODUCTION_BASE_URL = "https://my.livello.com/api/v1"
TEMPERATURE_GRANULARITIES = ("hourly", "minutely")
SCHEMA_CONTRACTS = ("evolve", "freeze")

Spec = TypeVar("Spec", bound=BaseConfiguration)


class SettingError(ValueError):
    """A setting is missing, unreadable or out of range: bad configuration (the CLI exits 2)."""


def setting_names(field: str, section: Sequence[str] = SECTION) -> str:
    """'SOURCES__LIVELLO__BUDGET_SHARE (sources.livello.budget_share)': how an operator sets `field`."""
    env = "__".join(part.upper() for part in (*section, field))
    return f"{env} ({'.'.join((*section, field))})"


def invalid(field: str, value: Any, allowed: str, section: Sequence[str] = SECTION) -> SettingError:
    shown = "***" if _is_secret_field(field) else repr(value)
    return SettingError(f"{setting_names(field, section)} is {shown}: {allowed}")


def _is_secret_field(field: str) -> bool:
    # `clients` holds every listed client's secret.
    return any(word in field for word in ("secret", "key", "password", "credentials", "clients"))


# -- durations --------------------------------------------------------------------------------
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$", re.IGNORECASE)
_UNIT_SECONDS = {"": 3600, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
DURATION_EXAMPLES = "a duration such as 48h, 90m, 2d or 3600s (a bare number means hours)"


def parse_duration(text: str | int | float | timedelta) -> timedelta | None:
    """'48h', '90m', '2d', '3600s'; a bare number means hours. None when `text` is not a duration."""
    if isinstance(text, timedelta):
        return text
    if isinstance(text, int | float) and not isinstance(text, bool):
        return timedelta(hours=float(text))
    match = _DURATION.match(str(text))
    if not match:
        return None
    return timedelta(seconds=float(match.group(1)) * _UNIT_SECONDS[match.group(2).lower()])


def as_list(value: Any) -> tuple[str, ...] | None:
    """A list from TOML, a JSON list or a comma-separated string; None when it is neither."""
    if value is None:
        return ()
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                parsed = json.loads(text)
            except ValueError:
                return None
            return as_list(parsed) if isinstance(parsed, list) else None
        return tuple(part.strip() for part in text.split(",") if part.strip())
    if isinstance(value, list | tuple):
        return tuple(str(item).strip() for item in value)
    return None


# -- the specs --------------------------------------------------------------------------------
@configspec
class ClientSettings(BaseConfiguration):
    """What the HTTP client needs to talk to the Livello API."""

    base_url: str = PRODUCTION_BASE_URL
    # Optional to dlt only because a `clients` list may give them instead; `validate` requires one of both.
    client_id: str | None = None
    client_secret: TSecretStrValue | None = None
    # Only if the token endpoint lives elsewhere than f"{base_url}/auth/token".
    token_url: str | None = None
    # Share of each rate-limit window this sync may use; the rest is left to the customer's other
    # integrations.
    budget_share: float = 0.8
    # Share of our allowance per window that may go at full speed before calls are spaced until the reset.
    burst_share: float = 0.5
    timeout_seconds: float = 30.0  # connect/read/write/pool timeouts of every request
    max_attempts: int = 6  # per request, for retryable failures (5xx, transport errors, unparseable bodies)
    backoff_base_seconds: float = 0.5  # exponential backoff with full jitter, capped
    backoff_max_seconds: float = 60.0
    # Longest single sleep (pacing or Retry-After) before giving up with BudgetExhaustedError.
    max_wait_seconds: float = 3600.0
    max_rate_limited_retries: int = 20  # 429s answered to one request before giving up
    # Window length assumed for duration estimates until a window reset is observed (the contract: hourly).
    rate_limit_window_seconds: float = 3600.0
    # Plain http:// sends the client secret in clear text; it is refused unless the host is this machine (the
    # bundled simulator) or this is set, e.g. for a TLS-terminating proxy on a trusted network.
    allow_insecure_http: bool = False
    # Several API clients reading one warehouse: a list of tables (`[[sources.livello.clients]]` with name,
    # client_id, client_secret, optional organization_id and budget_share) or the same as a JSON list in
    # the environment (dlt hands a TOML list to a str field as JSON). The first is the primary; when set,
    # client_id and client_secret above are the primary's and may be left out. See `api_clients()`.
    clients: str | None = None

    def on_resolved(self) -> None:
        listed = self.api_clients()  # a bad list is reported before anything else is checked
        if listed:
            # The list wins over client_id/client_secret: every command that talks to the API with one
            # client (check, reconcile) uses the primary, as `run` does for the organization-wide listings.
            self.client_id, self.client_secret = listed[0].client_id, listed[0].client_secret
        self.validate()

    def api_clients(self) -> tuple[ApiClient, ...]:
        """The configured clients, the primary first; empty when `clients` is not set (one client: client_id
        and client_secret)."""
        return parse_clients(self.clients)

    def for_client(self, api_client: ApiClient) -> ClientSettings:
        """These settings with one listed client's credentials and budget share."""
        copy = ClientSettings()
        for name in self.get_resolvable_fields():
            setattr(copy, name, getattr(self, name))
        copy.client_id, copy.client_secret = api_client.client_id, api_client.client_secret
        if api_client.budget_share is not None:
            copy.budget_share = api_client.budget_share
        copy.clients = None
        copy.validate()
        return copy

    def validate(self) -> None:
        for field in ("base_url", "token_url"):
            self._check_url(field, getattr(self, field), required=field == "base_url")
        missing = [f for f in ("client_id", "client_secret") if not getattr(self, f)]
        if missing:
            names = ", ".join(setting_names(f) for f in missing)
            raise SettingError(
                f"missing setting {names}: set it in the environment, .dlt/secrets.toml or .dlt/config.toml "
                f"(or list several API clients in {setting_names('clients')})"
            )
        _check_range("budget_share", self.budget_share, 0.0, 1.0, low_open=True)
        _check_range("burst_share", self.burst_share, 0.0, 1.0)
        _check_range("timeout_seconds", self.timeout_seconds, 0.0, None, low_open=True)
        _check_range("max_wait_seconds", self.max_wait_seconds, 0.0, None)
        _check_range("backoff_base_seconds", self.backoff_base_seconds, 0.0, None)
        _check_range("backoff_max_seconds", self.backoff_max_seconds, 0.0, None)
        _check_range("rate_limit_window_seconds", self.rate_limit_window_seconds, 0.0, None, low_open=True)
        _check_range("max_attempts", self.max_attempts, 1, None)
        _check_range("max_rate_limited_retries", self.max_rate_limited_retries, 0, None)

    def _check_url(self, field: str, url: str | None, *, required: bool) -> None:
        if not url and not required:
            return
        parts = urlsplit(str(url or ""))
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise invalid(field, url, "must be an http(s) URL such as " + PRODUCTION_BASE_URL)
        if parts.scheme == "http" and not self.allow_insecure_http and not is_loopback(parts.hostname):
            raise invalid(
                field,
                url,
                f"plain http:// would send the client secret in clear text to {parts.hostname}: use "
                f"https://, or set {setting_names('allow_insecure_http')} = true if the network is trusted",
            )

    @property
    def resolved_token_url(self) -> str:
        return self.token_url or f"{self.base_url.rstrip('/')}/auth/token"


CLIENT_NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_CLIENT_KEYS = ("name", "client_id", "client_secret", "organization_id", "budget_share")
CLIENTS_EXAMPLE = (
    "[[sources.livello.clients]] tables with name, client_id, client_secret, optional organization_id and "
    'budget_share, or SOURCES__LIVELLO__CLIENTS=\'[{"name": "main", "client_id": "...", '
    '"client_secret": "..."}]\''
)


@dataclass(frozen=True)
class ApiClient:
    """One API client of a run with several: its credentials, the organization it is scoped to (None: it
    sees every organization) and its own share of its own rate-limit window (None: `budget_share`)."""

    name: str
    client_id: str
    client_secret: str = dataclasses.field(repr=False)
    organization_id: int | None = None
    budget_share: float | None = None


def parse_clients(value: Any) -> tuple[ApiClient, ...]:
    """The `clients` setting as ApiClients, or a SettingError naming the entry and what is wrong with it
    (never its secret). The first client is the primary, which reads every organization's listings: it must
    not be scoped to an organization."""
    if value is None or value == "":
        return ()
    entries = value
    if isinstance(value, str):
        try:
            entries = json.loads(value)
        except ValueError:
            raise SettingError(
                f"{setting_names('clients')} is not a JSON list: expected {CLIENTS_EXAMPLE}"
            ) from None
    if not isinstance(entries, list) or not entries:
        raise SettingError(f"{setting_names('clients')} must be a non-empty list: {CLIENTS_EXAMPLE}")
    # Registered before any check, so that no message or log line of this process can show one.
    from sources.livello.redaction import SECRETS

    for entry in entries:
        if isinstance(entry, dict) and isinstance(entry.get("client_secret"), str):
            SECRETS.add(entry["client_secret"])
    clients: list[ApiClient] = []
    for number, entry in enumerate(entries, start=1):
        where = f"{setting_names('clients')} entry {number}"
        if not isinstance(entry, dict):
            raise SettingError(f"{where} must be a table (an object) with {', '.join(_CLIENT_KEYS)}")
        unknown = sorted(set(entry) - set(_CLIENT_KEYS))
        if unknown:
            raise SettingError(f"{where} has unknown key {unknown[0]!r}: known {', '.join(_CLIENT_KEYS)}")
        name = entry.get("name")
        if not isinstance(name, str) or not CLIENT_NAME.match(name):
            raise SettingError(
                f"{where}: name must be 1-32 lower-case letters, digits or _ starting with a letter (it "
                f"names the client's pipeline and state), not {name!r}"
            )
        where = f"{setting_names('clients')} client {name!r}"
        if any(c.name == name for c in clients):
            raise SettingError(f"{where} is listed twice: every client needs its own name")
        for key in ("client_id", "client_secret"):
            if not isinstance(entry.get(key), str) or not entry[key].strip():
                raise SettingError(f"{where} has no {key}: set the {key.replace('_', ' ')} Livello issued")
        if any(c.client_id == entry["client_id"] for c in clients):
            raise SettingError(f"{where}: client_id {entry['client_id']!r} is listed twice")
        organization = entry.get("organization_id")
        if organization is not None and (
            isinstance(organization, bool) or not str(organization).strip().isdigit()
        ):
            raise SettingError(f"{where}: organization_id must be an organization's id, not {organization!r}")
        share = entry.get("budget_share")
        if share is not None and (
            isinstance(share, bool) or not isinstance(share, int | float) or not 0 < share <= 1
        ):
            raise SettingError(f"{where}: budget_share must be greater than 0 and at most 1, not {share!r}")
        clients.append(
            ApiClient(
                name,
                entry["client_id"].strip(),
                entry["client_secret"],
                int(organization) if organization is not None else None,
                float(share) if share is not None else None,
            )
        )
    if clients[0].organization_id is not None:
        raise SettingError(
            f"{setting_names('clients')}: the first client ({clients[0].name!r}) is the primary, which reads "
            "every organization's listings once for all: it must see every organization (no organization_id);"
            " list a scoped client after it"
        )
    return tuple(clients)


@configspec
class SourceSettings(BaseConfiguration):
    """How the source reads: lookback of incremental resources, temperature granularity, PII, promocodes."""

    # History re-read before the cursor on every incremental run, because kiosks that were offline upload
    # their sessions late (typically within hours; a kiosk offline overnight or a missed nightly run needs
    # about a day more). 48 h catches a backlog of up to two days; the merge on the primary key absorbs the
    # re-reads.
    lookback: str = "48h"
    # "hourly" (up to 31 days per request) or "minutely" (24 hours per request: 24x the calls).
    temperature_granularity: str = "hourly"
    # User e-mail, names, mobile and address are replaced by keyed HMAC tokens unless switched off.
    pseudonymize_users: bool = True
    pseudonymization_key: TSecretStrValue | None = None
    # Listings read incrementally (users by `updated`) are read in full every this many days, so records
    # deleted at the vendor are retired; the product lines' top-organization shortcut is re-proven as often.
    # 0: every run reads them in full.
    full_listing_days: float = 7
    # "evolve" (default): new, missing and retyped API fields are reported (summary, sync_runs, a warning) and
    # the data tests guard the marts; "freeze": any drift fails the run before anything of it is loaded.
    schema_contract: str = "evolve"
    # The API cannot list promocodes: the 5-digit codes to read, one request each. A list in TOML, a JSON list
    # or "12345,23456" in the environment (dlt hands a TOML list to a str field as JSON).
    promocodes: str | None = None

    def on_resolved(self) -> None:
        self.validate()

    def validate(self) -> None:
        period = parse_duration(self.lookback)
        if period is None or period < timedelta(0):
            raise invalid("lookback", self.lookback, f"must be {DURATION_EXAMPLES}, not negative")
        if self.temperature_granularity not in TEMPERATURE_GRANULARITIES:
            raise invalid(
                "temperature_granularity",
                self.temperature_granularity,
                "must be one of " + ", ".join(TEMPERATURE_GRANULARITIES),
            )
        _check_range("full_listing_days", self.full_listing_days, 0, None)
        if self.schema_contract not in SCHEMA_CONTRACTS:
            allowed = "must be one of " + ", ".join(SCHEMA_CONTRACTS)
            raise invalid("schema_contract", self.schema_contract, allowed)
        codes = as_list(self.promocodes)
        if codes is None or any(not re.fullmatch(r"\d{5}", code) for code in codes):
            raise invalid(
                "promocodes",
                self.promocodes,
                'must list 5-digit codes: promocodes = ["12345", "23456"] in TOML, or "12345,23456"',
            )

    @property
    def lookback_period(self) -> timedelta:
        period = parse_duration(self.lookback)
        assert period is not None  # validated
        return period

    @property
    def strict(self) -> bool:
        return self.schema_contract == "freeze"

    @property
    def promocode_list(self) -> tuple[str, ...]:
        return as_list(self.promocodes) or ()


def is_loopback(host: str) -> bool:
    """Whether `host` names this machine (a name is not resolved: only `localhost` counts)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _check_range(field: str, value: float, low: float, high: float | None, *, low_open: bool = False) -> None:
    too_low = value <= low if low_open else value < low
    if too_low or (high is not None and value > high):
        bound = f"greater than {low:g}" if low_open else f"at least {low:g}"
        allowed = f"must be {bound}" + (f" and at most {high:g}" if high is not None else "")
        raise invalid(field, value, allowed)


# -- resolution --------------------------------------------------------------------------------
def resolve(
    spec: type[Spec], *, explicit: dict[str, Any] | None = None, section: Sequence[str] = SECTION
) -> Spec:
    """`spec` resolved from dlt's providers (values in `explicit` win), or a SettingError saying what to
    fix."""
    values = {k: v for k, v in (explicit or {}).items() if v is not None}
    try:
        return resolve_configuration(spec(), sections=tuple(section), explicit_value=values or None)
    except SettingError:
        raise
    except ConfigValueCannotBeCoercedException as error:
        raise invalid(
            error.field_name, error.field_value, "must be " + _describe(error.hint), section
        ) from None
    except ConfigFieldMissingException as error:
        names = ", ".join(setting_names(field, section) for field in error.fields)
        raise SettingError(
            f"missing setting {names}: set it in the environment, .dlt/secrets.toml or .dlt/config.toml"
        ) from None
    except ConfigProviderException as error:
        raise SettingError(provider_problem(error)) from None
    except ConfigurationValueError as error:
        raise SettingError(f"invalid setting in [{'.'.join(section)}]: {_first_line(error)}") from None


def _describe(hint: Any) -> str:
    if get_origin(hint) is Literal:
        return "one of " + ", ".join(str(a) for a in get_args(hint))
    args = [a for a in get_args(hint) if a is not type(None)]
    if args:
        hint = args[0]
    return {
        float: "a number",
        int: "a whole number",
        bool: "true or false",
        str: "text",
    }.get(hint, f"of type {getattr(hint, '__name__', hint)}")


def _first_line(error: BaseException) -> str:
    lines = [line for line in str(error).splitlines() if line.strip()]
    return lines[0] if lines else type(error).__name__


def provider_problem(error: ConfigProviderException) -> str:
    paths = getattr(error, "full_paths", None) or []
    detail = str(error).splitlines()[-1].strip() if str(error).strip() else type(error).__name__
    where = next((p for p in paths if os.path.exists(p)), paths[0] if paths else error.provider_name)
    return f"cannot read {where}: {detail}; fix the file (TOML syntax) or remove it"


def check_known(known: Iterable[str], section: Sequence[str] = SECTION) -> None:
    """Refuse settings under `section` that no spec knows (a typo would otherwise be silently ignored)."""
    known_set = set(known)
    prefix = "__".join(part.upper() for part in section) + "__"
    found: dict[str, str] = {}
    for name in os.environ:
        if name.upper().startswith(prefix):
            found[name[len(prefix) :].lower()] = name
    try:
        for provider_section in _toml_sections(section):
            for key in provider_section:
                found.setdefault(key, ".".join((*section, key)))
    except ConfigProviderException as error:
        raise SettingError(provider_problem(error)) from None
    unknown = sorted(key for key in found if key not in known_set)
    if unknown:
        key = unknown[0]
        close = difflib.get_close_matches(key, sorted(known_set), n=1)
        hint = (
            f"did you mean {setting_names(close[0], section)}?"
            if close
            else "known: " + ", ".join(sorted(known_set))
        )
        raise SettingError(f"unknown setting {found[key]}: {hint}")


def _toml_sections(section: Sequence[str]) -> list[dict[str, Any]]:
    """The tables at `section` of every TOML provider dlt reads (config.toml and secrets.toml)."""
    from dlt.common.configuration.container import Container
    from dlt.common.configuration.specs.pluggable_run_context import PluggableRunContext

    tables = []
    for provider in Container()[PluggableRunContext].providers.providers:
        document = getattr(provider, "_config_doc", None)
        if not isinstance(document, dict):
            continue
        node: Any = document
        for part in section:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict):
            tables.append(node)
    return tables


def known_fields(*specs: type[BaseConfiguration]) -> set[str]:
    return {name for spec in specs for name in spec.get_resolvable_fields()}


__all__ = [
    "ApiClient",
    "ClientSettings",
    "SettingError",
    "SourceSettings",
    "as_list",
    "check_known",
    "invalid",
    "known_fields",
    "parse_clients",
    "parse_duration",
    "resolve",
    "setting_names",
]
