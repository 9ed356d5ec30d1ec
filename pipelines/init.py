"""`livello-sync init`: write a project's `.dlt/secrets.toml` and `.dlt/config.toml`.

secrets.toml gets the client id and secret, a freshly generated pseudonymization key and the warehouse's
credentials (mode 0600; the `.dlt` folder 0700 when init creates it); config.toml gets the API's base URL.
Values come from flags, else from prompts when stdin is a terminal; with `--no-input` (or without a
terminal) a missing value is an error naming its flag. An existing file is changed only with `--force`, and
then in place (tomlkit keeps its comments and other keys); an existing pseudonymization key is kept unless
`--new-key`. The keys are the ones the rest of the project resolves (docs/decisions.md, Settings):
`sources.livello.client_id`, `client_secret`, `pseudonymization_key`, `base_url`,
`destination.duckdb.credentials` / `destination.postgres.credentials`.

Nothing secret is printed: not the client secret, not the key, and a PostgreSQL password is masked."""

from __future__ import annotations

import getpass
import os
import secrets
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import tomlkit
from tomlkit.exceptions import TOMLKitError
from tomlkit.items import Table

from pipelines.settings import DEFAULT_DATASET, DEFAULT_DUCKDB_FILE, DESTINATIONS, mask_password
from sources.livello.config import PRODUCTION_BASE_URL, ClientSettings, SettingError

PROJECT_DIR_ENV = "LIVELLO_SYNC_PROJECT_DIR"  # the same variable as the global `livello-sync --project-dir`
SECRETS_MODE = 0o600
DLT_DIR_MODE = 0o700
KEY_BYTES = 32

Printer = Callable[[str], None]
Prompt = Callable[[str], str]


class InitError(Exception):
    """init cannot go on: a missing value, a file it may not overwrite, a value it refuses (exit 2)."""


def project_dir(explicit: str | None = None) -> Path:
    """Where `.dlt/` goes: the option given, else $LIVELLO_SYNC_PROJECT_DIR, else the working directory."""
    return Path(explicit or os.environ.get(PROJECT_DIR_ENV) or Path.cwd()).expanduser().resolve()


def stdin_is_terminal() -> bool:
    try:
        return sys.stdin.isatty()
    except (AttributeError, ValueError):
        return False


@dataclass
class InitOptions:
    project_dir: Path
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    base_url: str | None = None
    destination: str | None = None
    duckdb_path: str | None = None
    postgres_dsn: str | None = field(default=None, repr=False)
    dataset: str = DEFAULT_DATASET
    force: bool = False
    new_key: bool = False
    interactive: bool = False


@dataclass
class InitResult:
    secrets_path: Path
    config_path: Path
    key_generated: bool
    destination: str
    config_changed: bool


# -- the values -------------------------------------------------------------------------------------------
def _ask(
    options: InitOptions,
    value: str | None,
    flags: str,
    question: str,
    prompt: Prompt,
    *,
    what: str,
    default: str = "",
) -> str:
    """`value`, else the answer to `question` on a terminal (Enter takes `default`), else `default`, else an
    InitError naming the flags that give it."""
    if value:
        return value.strip()
    if not options.interactive:
        if default:
            return default
        raise InitError(
            f"{what} is missing: pass {flags} (init asks only when stdin is a terminal and --no-input is "
            "not given)"
        )
    shown = f" [{default}]" if default else ""
    for _ in range(3):
        try:
            answer = prompt(f"{question}{shown}: ").strip()
        except EOFError:
            answer = ""
        if answer or default:
            return answer or default
    raise InitError(f"{what} is missing: no answer given; pass {flags}")


def _check_base_url(url: str) -> None:
    try:
        ClientSettings(base_url=url, client_id="-", client_secret="-").validate()
    except SettingError as error:
        raise InitError(f"--base-url: {error}") from None


def _check_dsn(dsn: str) -> None:
    parts = urlsplit(dsn)
    try:
        valid = parts.scheme in ("postgresql", "postgres") and bool(parts.hostname)
        valid = valid and bool(parts.path.strip("/"))
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        valid = False
    if not valid:
        raise InitError(
            "--postgres-dsn: expected postgresql://user:password@host:5432/database, got "
            f"{mask_password(dsn)!r}"
        )


def _duckdb_file(path: str, root: Path, dataset: str) -> Path:
    """The DuckDB file as an absolute path (a relative one is relative to the project dir, so a job started
    from elsewhere finds it), checked as `load_settings` will check it."""
    file = Path(path).expanduser()
    file = (file if file.is_absolute() else root / file).resolve()
    if file.stem.lower() == dataset.lower():
        raise InitError(
            f"--duckdb-path: the file name {file.name!r} must differ from the dataset name {dataset!r} "
            "(DuckDB cannot tell the catalog from the schema)"
        )
    if file.is_dir():
        raise InitError(
            f"--duckdb-path: {file} is a directory; name a file, e.g. {file / DEFAULT_DUCKDB_FILE}"
        )
    if not file.parent.is_dir() and file.parent != root:
        raise InitError(f"--duckdb-path: the folder {file.parent} does not exist; create it first")
    return file


# -- TOML -------------------------------------------------------------------------------------------------
def _read(path: Path) -> tomlkit.TOMLDocument | None:
    if not path.exists():
        return None
    try:
        return tomlkit.parse(path.read_text(encoding="utf-8"))
    except (TOMLKitError, UnicodeDecodeError, OSError) as error:
        detail = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise InitError(f"cannot read {path}: {detail}; fix the file (TOML syntax) or remove it") from None


def _table(document: tomlkit.TOMLDocument, *names: str) -> Table:
    """The table at `names` (e.g. sources.livello), created as `[sources.livello]` when missing."""
    node: Any = document
    for depth, name in enumerate(names):
        if name not in node:
            node.add(name, tomlkit.table(is_super_table=depth < len(names) - 1))
        node = node[name]
        if not isinstance(node, Table):
            raise InitError(f"{'.'.join(names[: depth + 1])} is not a table in the existing file")
    return node


def _get(document: tomlkit.TOMLDocument | None, *names: str) -> Any:
    node: Any = document
    for name in names:
        if not isinstance(node, dict) or name not in node:
            return None
        node = node[name]
    return node.unwrap() if hasattr(node, "unwrap") else node


def _set(table: Table, key: str, value: str, comment: str | None = None) -> None:
    if key in table:
        table[key] = value
        return
    if comment:
        for line in comment.splitlines():
            table.add(tomlkit.comment(line))
    table.add(key, value)


_KEY_COMMENT = (
    "Key of the keyed hash that pseudonymizes users' e-mail, names, mobile and address. Keep a copy in a\n"
    "safe place: with another key every user gets new pseudonyms and their history no longer joins."
)

_SECRETS_HEADER = """\
livello-sync secrets, written by `livello-sync init`. Keep this file private (mode 0600) and out of git.
Every value can also be set by environment variable instead, e.g. SOURCES__LIVELLO__CLIENT_SECRET."""

_CONFIG_TEMPLATE = """\
# livello-sync configuration, written by `livello-sync init` (dlt conventions: every key can also be set by
# environment variable, e.g. SOURCES__LIVELLO__BASE_URL). Secrets are in .dlt/secrets.toml (mode 0600).

[runtime]
log_level = "WARNING"

[sources.livello]
# The Livello API (the vendor's production API unless you point it at the bundled simulator).
base_url = "https://my.livello.com/api/v1"

# Share of the vendor's 1000 requests/hour this sync may use (the rest stays for your other integrations).
# budget_share = 0.8

# History re-read before the cursor on every incremental run, so late uploads (kiosks that were offline) land.
lookback = "48h"

# Temperature: "hourly" (up to 31 days per request) or "minutely" (24 hours per request: 24x the calls).
temperature_granularity = "hourly"

# User e-mail, names, mobile and address are replaced by keyed HMAC tokens unless you opt out here.
pseudonymize_users = true

# The API cannot list promocodes: name the 5-digit codes to sync, e.g. ["12345", "23456"].
promocodes = []

# Where dlt keeps each pipeline's working state (default ~/.dlt/pipelines).
# pipelines_dir = "/var/lib/livello-sync/pipelines"
"""


def _write(path: Path, text: str, mode: int) -> None:
    """Replace `path` atomically with `text`, the new file created with `mode` (never wider for a moment)."""
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(descriptor, mode)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


# -- init -------------------------------------------------------------------------------------------------
def run_init(
    options: InitOptions,
    *,
    out: Printer = print,
    prompt: Prompt | None = None,
    prompt_secret: Prompt | None = None,
) -> InitResult:
    ask = prompt or input
    ask_secret = prompt_secret or getpass.getpass
    root = options.project_dir
    dlt_dir = root / ".dlt"
    secrets_path, config_path = dlt_dir / "secrets.toml", dlt_dir / "config.toml"
    if dlt_dir.exists() and not dlt_dir.is_dir():
        raise InitError(f"{dlt_dir} exists and is not a folder")
    base_url = (options.base_url or PRODUCTION_BASE_URL).strip()
    _check_base_url(base_url)

    # Refuse before asking anything: nobody should type a secret to learn that the file exists.
    existing_secrets, existing_config = _read(secrets_path), _read(config_path)
    config_changes = (
        existing_config is None or _get(existing_config, "sources", "livello", "base_url") != base_url
    )
    blocked = [p for p, doc in ((secrets_path, existing_secrets),) if doc is not None]
    if existing_config is not None and config_changes:
        blocked.append(config_path)
    if blocked and not options.force:
        names = " and ".join(str(p) for p in blocked)
        raise InitError(
            f"{names} already exist{'s' if len(blocked) == 1 else ''}: nothing was changed. Pass --force to "
            "update (other keys and comments are kept, and so is the pseudonymization key unless --new-key)"
        )

    client_id = _ask(
        options, options.client_id, "--client-id", "Livello client id", ask, what="the client id"
    )
    client_secret = _ask(
        options,
        options.client_secret,
        "--client-secret-env VAR or --client-secret-stdin",
        "Livello client secret (not shown)",
        ask_secret,
        what="the client secret",
    )
    destination = _ask(
        options,
        options.destination,
        "--destination",
        "Warehouse, duckdb or postgres",
        ask,
        what="the destination",
        default="duckdb",
    ).lower()
    if destination not in DESTINATIONS:
        raise InitError(f"--destination must be one of {', '.join(DESTINATIONS)}, not {destination!r}")
    if destination == "duckdb":
        if options.postgres_dsn:
            raise InitError("--postgres-dsn is for --destination postgres; for DuckDB pass --duckdb-path")
        known = _get(existing_secrets, "destination", "duckdb", "credentials")
        answer = _ask(
            options,
            options.duckdb_path,
            "--duckdb-path",
            "DuckDB file",
            ask,
            what="the DuckDB file",
            default=str(known or root / DEFAULT_DUCKDB_FILE),
        )
        credentials = str(_duckdb_file(answer, root, options.dataset))
    else:
        if options.duckdb_path:
            raise InitError("--duckdb-path is for --destination duckdb; for PostgreSQL pass --postgres-dsn")
        credentials = _ask(
            options,
            options.postgres_dsn,
            "--postgres-dsn-env VAR or --postgres-dsn",
            "PostgreSQL connection string, postgresql://user:password@host:5432/database (not shown)",
            ask_secret,
            what="the PostgreSQL connection string",
        )
        _check_dsn(credentials)

    old_key = _get(existing_secrets, "sources", "livello", "pseudonymization_key")
    key_generated = options.new_key or not old_key
    key = secrets.token_urlsafe(KEY_BYTES) if key_generated else str(old_key)

    document = existing_secrets if existing_secrets is not None else tomlkit.document()
    if existing_secrets is None:
        for line in _SECRETS_HEADER.splitlines():
            document.add(tomlkit.comment(line))
        document.add(tomlkit.nl())
    livello = _table(document, "sources", "livello")
    _set(livello, "client_id", client_id)
    _set(livello, "client_secret", client_secret)
    _set(livello, "pseudonymization_key", key, _KEY_COMMENT)
    _set(_table(document, "destination", destination), "credentials", credentials)

    # Later commands use this warehouse without --destination/--dataset (an existing choice changes only with
    # --force).
    defaults = {"default_destination": destination, "default_dataset": options.dataset}
    if existing_config is not None and not config_changes:
        current = {key: _get(existing_config, "sources", "livello", key) for key in defaults}
        unset = all(value is None for value in current.values())
        builtin = destination == "duckdb" and options.dataset == DEFAULT_DATASET
        config_changes = current != defaults and (options.force or (unset and not builtin))
    created_dir = not dlt_dir.exists()
    dlt_dir.mkdir(mode=DLT_DIR_MODE, parents=True, exist_ok=True)
    if created_dir:
        dlt_dir.chmod(DLT_DIR_MODE)
    _write(secrets_path, tomlkit.dumps(document), SECRETS_MODE)
    if config_changes:
        config = tomlkit.parse(_CONFIG_TEMPLATE) if existing_config is None else existing_config
        livello = _table(config, "sources", "livello")
        livello["base_url"] = base_url
        for key, value in defaults.items():
            livello[key] = value
        mode = config_path.stat().st_mode & 0o777 if config_path.exists() else 0o644
        _write(config_path, tomlkit.dumps(config), mode)

    _report(
        out,
        options,
        secrets_path=secrets_path,
        config_path=config_path,
        client_id=client_id,
        base_url=base_url,
        destination=destination,
        credentials=credentials,
        key_generated=key_generated,
        key_replaced=key_generated and bool(old_key),
        config_changed=config_changes,
        config_existed=existing_config is not None,
    )
    return InitResult(secrets_path, config_path, key_generated, destination, config_changes)


def _report(
    out: Printer,
    options: InitOptions,
    *,
    secrets_path: Path,
    config_path: Path,
    client_id: str,
    base_url: str,
    destination: str,
    credentials: str,
    key_generated: bool,
    key_replaced: bool,
    config_changed: bool,
    config_existed: bool,
) -> None:
    warehouse = (
        f"DuckDB file {credentials}" + ("" if Path(credentials).exists() else " (the first run creates it)")
        if destination == "duckdb"
        else f"PostgreSQL {mask_password(credentials)}"
    )
    out(
        f"Wrote {secrets_path} (mode 0600): client id {client_id}, client secret, pseudonymization key, "
        f"{destination} credentials"
    )
    if config_changed:
        verb = "Updated" if config_existed else "Wrote"
        out(f"{verb} {config_path}: base_url = {base_url}")
    else:
        out(f"Kept {config_path}: base_url is already {base_url}")
    out(f"Warehouse: {warehouse}, dataset {options.dataset}")
    state = "replaced by a new one" if key_replaced else "new" if key_generated else "kept"
    out(f"Pseudonymization key ({state}): sources.livello.pseudonymization_key in {secrets_path}")
    out(
        "  Keep a copy of it somewhere safe (a password manager, your secret store). User e-mails, names,\n"
        "  mobiles and addresses are stored only as keyed hashes made with it: with a lost or new key the\n"
        "  same user gets new pseudonyms, and their history no longer joins the old one."
    )
    if key_replaced:
        out("  The old key is gone: users synced before now have pseudonyms the new key does not reproduce.")
    shadowed = [
        name
        for name in (
            "SOURCES__LIVELLO__CLIENT_ID",
            "SOURCES__LIVELLO__CLIENT_SECRET",
            "SOURCES__LIVELLO__PSEUDONYMIZATION_KEY",
            "SOURCES__LIVELLO__BASE_URL",
            f"DESTINATION__{destination.upper()}__CREDENTIALS",
        )
        if os.environ.get(name)
    ]
    if shadowed:
        out(f"Note: {', '.join(shadowed)} set in this environment win over the files.")
    flags = "" if destination == "duckdb" else " --destination postgres"
    if options.dataset != DEFAULT_DATASET:
        flags += f" --dataset {options.dataset}"
    where = "" if options.project_dir == Path.cwd().resolve() else f"cd {options.project_dir} && "
    out(f"Next: {where}livello-sync check{flags}")
