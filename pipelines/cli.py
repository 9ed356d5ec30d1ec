"""`livello-sync`: the command line.

One function per subcommand (`add_<name>` declares its options, `cmd_<name>` runs it); `SUBCOMMANDS` is the
single place where subcommands are registered. Exit codes: 0 success, 1 the run failed, 2 bad usage or
configuration."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pipelines.progress import JsonLogFormatter, Reporter

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

AddSubcommand = Callable[[Any], None]  # receives argparse's subparsers object


class _CurrentStderr:
    """A stream that writes to the process's sys.stderr of the moment."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


CURRENT_STDERR = _CurrentStderr()


def _log_to_stderr(level: int, *, json_lines: bool = False) -> None:
    """Log lines to stderr. A process that runs several commands (tests, an orchestrator) may replace
    sys.stderr between them, so the stream is whatever sys.stderr is when a line is written; dlt's own logger
    (which does not propagate) keeps the handler it made first, pointed the same way."""
    root = logging.getLogger()
    handler = next((h for h in root.handlers if getattr(h, "livello_sync", False)), None)
    if handler is None:
        handler = logging.StreamHandler(CURRENT_STDERR)  # type: ignore[arg-type]
        handler.livello_sync = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    formatter = JsonLogFormatter() if json_lines else logging.Formatter("%(levelname)s %(name)s: %(message)s")
    handler.setFormatter(formatter)  # type: ignore[arg-type]
    root.setLevel(level)
    for handler in logging.getLogger("dlt").handlers:
        if type(handler) is logging.StreamHandler:
            handler.stream = CURRENT_STDERR


REPORTER: Reporter | None = None  # set by main() from --log-format; what _out writes through


def _err(message: str) -> None:
    if REPORTER is not None:
        REPORTER.error(message)
        return
    print(f"livello-sync: {message}", file=sys.stderr, flush=True)


def _failure_line(error: BaseException) -> str:
    """One line for a failure of the warehouse or the API: the innermost cause (a DuckDB file another
    process holds), not dlt's generic advice, and never a password."""
    from pipelines.settings import mask_password
    from pipelines.sync import describe_failure

    return mask_password(describe_failure(error))


def _out(message: str) -> None:
    if REPORTER is not None and REPORTER.log_format == "json":
        REPORTER.event("info", message)
        return
    print(message, flush=True)


def _doc(description: str, *examples: str) -> dict[str, Any]:
    """`add_parser` keywords of a subcommand's help: a one-paragraph description and its example(s)."""
    import textwrap

    lines = [f"  {example}".replace("\n", " \\\n      ") for example in examples]
    return {
        "description": textwrap.fill(" ".join(description.split()), width=80, break_on_hyphens=False),
        "epilog": ("examples:\n" if len(examples) > 1 else "example:\n") + "\n".join(lines),
        "formatter_class": argparse.RawDescriptionHelpFormatter,
    }


def _resource_names() -> str:
    from sources.livello.endpoints import RESOURCE_NAMES

    return ", ".join(RESOURCE_NAMES)


def version_text() -> str:
    """`livello-sync 0.1.0 (dlt 1.31.0, Python 3.11.9)`, without importing dlt."""
    import platform
    from importlib import metadata

    def version(package: str) -> str:
        try:
            return metadata.version(package)
        except metadata.PackageNotFoundError:
            return "unknown"

    return (
        f"livello-sync {version('livello-sync')} (dlt {version('dlt')}, Python {platform.python_version()})"
    )


def add_destination_options(parser: argparse.ArgumentParser, *, remembered: bool = True) -> None:
    """--destination and --dataset, shared by every subcommand that opens the warehouse. `remembered`: when
    neither is given, the command works on the warehouse the last run in this project wrote."""
    fallback = (
        " (default: the warehouse the last run wrote, else duckdb)" if remembered else " (default duckdb)"
    )
    parser.add_argument(
        "--destination",
        choices=("duckdb", "postgres"),
        default=None if remembered else "duckdb",
        help="warehouse engine; credentials from DESTINATION__<NAME>__CREDENTIALS" + fallback,
    )
    parser.add_argument(
        "--dataset",
        default=None if remembered else "livello",
        help="schema of the raw tables (default livello" + (", or the last run's)" if remembered else ")"),
    )


# ----------------------------------------------------------------------------------------------- run
def add_run(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "run",
        help="extract, load and transform (incremental; resumes backfills)",
        **_doc(
            "Sync the Livello API into the warehouse: every resource the client's scopes allow, incremental "
            "from each cursor minus the lookback, a first run or --since in checkpointed windows that an "
            "interrupted run resumes, then rebuild the marts and record the run in sync_runs. Exit 0 "
            "success (also a backfill paused by --max-duration), 1 the run failed, 2 bad configuration or "
            "credentials (nothing written).",
            "livello-sync run --destination postgres --max-duration 3h30m",
            "livello-sync run --resources kiosks,transactions --since 2026-01-01 --no-transform",
        ),
    )
    add_destination_options(parser, remembered=False)
    parser.add_argument(
        "--resources", help=f"comma-separated resources to sync (default: all): {_resource_names()}"
    )
    parser.add_argument(
        "--since",
        help="backfill start (YYYY-MM-DD or ISO 8601, UTC); default: all history on "
        "the first run, the cursor minus the lookback afterwards",
    )
    parser.add_argument(
        "--lookback", help="history re-read before the cursor on incremental runs (default 48h)"
    )
    parser.add_argument(
        "--max-duration", help="stop cleanly after this long (e.g. 45m, 2h); the next run resumes"
    )
    parser.add_argument(
        "--refresh",
        metavar="RESOURCE[,...]",
        help="re-read these resources from their start and replace their tables (only those)",
    )
    parser.add_argument("--no-transform", action="store_true", help="do not rebuild the marts after loading")
    parser.add_argument("--quiet", action="store_true", help="no per-load progress lines")
    parser.set_defaults(handler=cmd_run)


def cmd_run(args: argparse.Namespace) -> int:
    from pipelines.job import run_job
    from pipelines.settings import load_settings
    from sources.livello.config import SettingError

    try:
        settings = load_settings(
            destination=args.destination,
            dataset=args.dataset,
            resources=args.resources,
            since=args.since,
            lookback=args.lookback,
            max_duration=args.max_duration,
            transform=not args.no_transform,
            progress=not args.quiet,
            refresh=args.refresh,
        )
        return run_job(settings, out=REPORTER or _out, err=_err).exit_code
    except SettingError as error:
        _err(str(error))
        return EXIT_USAGE


# -------------------------------------------------------------------------------------------- status
def add_status(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "status",
        help="per resource: last successful sync, rows, newest record, last failure; API budget",
        **_doc(
            "Where each resource stands, read from the warehouse alone (no API call, no file created). With "
            "--max-age it is a freshness check for monitors: exit 1 when a resource's last successful sync "
            "is older, or when the warehouse cannot be read.",
            "livello-sync status",
            "livello-sync status --json --max-age 26h",
        ),
    )
    add_destination_options(parser)
    parser.add_argument("--json", action="store_true", help="machine-readable output (schema: README)")
    parser.add_argument(
        "--max-age",
        help="exit 1 when a resource's last successful sync is older than this (e.g. 26h); per-resource "
        "values in [sources.livello.max_age]",
    )
    parser.set_defaults(handler=cmd_status)


def cmd_status(args: argparse.Namespace) -> int:
    from pipelines.settings import PipelineSettings, chosen_warehouse, parse_duration, resolve_checked
    from pipelines.status import WarehouseUnavailable, collect
    from sources.livello.config import SettingError

    try:
        pipeline = resolve_checked(PipelineSettings)
        given = parse_duration(args.max_age, what="--max-age") if args.max_age else None
        max_age, overrides = pipeline.max_ages(given)
        warehouse = chosen_warehouse(args.destination, args.dataset, writable=False)
        report = collect(warehouse, max_age=max_age, overrides=overrides)
    except SettingError as error:
        _err(str(error))
        return EXIT_USAGE
    except WarehouseUnavailable as error:
        _err(f"status: {error}")
        return EXIT_FAILED
    _out(report.as_json() if args.json else report.render())
    return EXIT_FAILED if report.stale else EXIT_OK


# ---------------------------------------------------------------------------------------------- demo
def add_demo(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="start the bundled simulator, sync it into a local DuckDB file, "
        "build the marts and show a summary",
        **_doc(
            "Try everything without credentials: start the bundled Livello API simulator on 127.0.0.1, sync "
            "it into a fresh local DuckDB file (replaced if it exists) with the same code as `run`, build "
            "the marts and print what was loaded and a few headline numbers.",
            "livello-sync demo --kiosks 12 --days 30 --duckdb demo.duckdb",
        ),
    )
    parser.add_argument(
        "--duckdb", default="livello_demo.duckdb", help="DuckDB file (default livello_demo.duckdb)"
    )
    parser.add_argument("--kiosks", type=int, default=6, help="simulated kiosks (default 6)")
    parser.add_argument("--days", type=int, default=14, help="simulated days of history (default 14)")
    parser.add_argument("--seed", type=int, default=42, help="seed of the simulated history (default 42)")
    parser.set_defaults(handler=cmd_demo)


def cmd_demo(args: argparse.Namespace) -> int:
    from pipelines.demo import run_demo

    return run_demo(
        duckdb_path=args.duckdb, kiosks=args.kiosks, days=args.days, seed=args.seed, out=_out, err=_err
    )


# ----------------------------------------------------------------------------------------- transform
def add_transform(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "transform",
        help="rebuild the staging views and marts, then run the data tests",
        **_doc(
            "Rebuild the stg_* views and the dim_*/fct_* marts from what is loaded, in one transaction, and "
            "run the data tests; no API call. A failed data test exits 1 and keeps the previous marts. "
            "fct_transactions and fct_sales are maintained incrementally (only the rows of new loads and of "
            "changed kiosks or product versions are rebuilt); --full-refresh rebuilds them from the history.",
            "livello-sync transform --destination postgres --full-refresh",
        ),
    )
    add_destination_options(parser)
    parser.add_argument(
        "--full-refresh",
        action="store_true",
        help="rebuild every mart from the whole history instead of only the changed rows of the facts",
    )
    parser.set_defaults(handler=cmd_transform)


def cmd_transform(args: argparse.Namespace) -> int:
    from pipelines.destination import make_pipeline
    from pipelines.settings import chosen_warehouse
    from sources.livello.config import SettingError
    from transforms.runner import TransformError, build

    try:
        pipeline = make_pipeline(chosen_warehouse(args.destination, args.dataset, writable=True))
    except SettingError as error:
        _err(str(error))
        return EXIT_USAGE
    try:
        report = build(pipeline, full_refresh=args.full_refresh)
    except TransformError as error:
        _err(str(error))
        return EXIT_FAILED
    except Exception as error:  # the warehouse cannot be reached or opened: one line, never a password
        _err(f"transform: cannot build the marts: {_failure_line(error)}")
        return EXIT_FAILED
    from pipelines.job import describe_build

    _out(describe_build(report))
    return EXIT_OK


# ----------------------------------------------------------------------------------------- reconcile
def add_reconcile(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "reconcile",
        help="compare the marts with the vendor's analytics for a window; exit 1 on any difference",
        **_doc(
            "Prove the marts right: compare them with the vendor's own analytics (transaction KPIs, refill "
            "statistics, payment types, daily profit, sales by kiosk and product line) for a window of "
            "kiosk-local days, per currency and time zone or per kiosk. Exit 1 on any difference above "
            "0.01, or when the API or the warehouse fails.",
            "livello-sync reconcile --start 2026-10-01 --end 2026-10-31 --per-kiosk",
        ),
    )
    add_destination_options(parser)
    parser.add_argument("--start", required=True, help="first kiosk-local date of the window (YYYY-MM-DD)")
    parser.add_argument(
        "--end", required=True, help="last kiosk-local date of the window, inclusive (YYYY-MM-DD)"
    )
    parser.add_argument(
        "--per-kiosk", action="store_true", help="one scope per kiosk (default: per currency and time zone)"
    )
    parser.add_argument(
        "--all-rows", action="store_true", help="also print the per day/kiosk/product line rows that agree"
    )
    parser.set_defaults(handler=cmd_reconcile)


def cmd_reconcile(args: argparse.Namespace) -> int:
    from datetime import date
    from pathlib import Path

    from pipelines.destination import make_pipeline
    from pipelines.reconcile import ReconcileError, reconcile
    from pipelines.settings import chosen_warehouse, resolve_checked
    from sources.livello.client import ClientSettings, LivelloClient
    from sources.livello.config import SettingError

    try:
        start, end = date.fromisoformat(args.start), date.fromisoformat(args.end)
    except ValueError as error:
        _err(f"--start/--end must be dates (YYYY-MM-DD): {error}")
        return EXIT_USAGE
    if start > end:
        _err(f"--start {start} is after --end {end}: the window runs from --start to --end, both included")
        return EXIT_USAGE
    try:
        client_settings = resolve_checked(ClientSettings)
        warehouse = chosen_warehouse(args.destination, args.dataset, writable=False)
        if warehouse.destination == "duckdb" and not Path(warehouse.duckdb_path or "").is_file():
            _err(f"reconcile: no warehouse at {warehouse.duckdb_path}: run `livello-sync run` first")
            return EXIT_FAILED
        pipeline = make_pipeline(warehouse)
        client = LivelloClient(client_settings)
    except SettingError as error:
        _err(str(error))
        return EXIT_USAGE
    try:
        with client, pipeline.sql_client() as sql_client:
            report = reconcile(sql_client, client, start, end, per_kiosk=args.per_kiosk)
    except ReconcileError as error:
        _err(str(error))
        return EXIT_FAILED
    except Exception as error:  # API or database failure: one line, no traceback, never a secret
        _err(f"reconcile failed: {_failure_line(error)}")
        return EXIT_FAILED
    _out(report.render(verbose=args.all_rows))
    return report.exit_code


# -------------------------------------------------------------------------------------------- report
def add_report(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "report",
        help="write one self-contained HTML report of the marts (opens without network)",
        **_doc(
            "Write one HTML file from the marts that opens anywhere, offline: revenue per day and kiosk, top "
            "products by margin, fill rates and stock-outs, spoilage, the cold chain, refill suggestions and "
            "pipeline health. It only reads the warehouse; missing marts exit 1.",
            "livello-sync report --days 28 --output /srv/www/livello_report.html",
        ),
    )
    add_destination_options(parser)
    parser.add_argument(
        "--output", default="livello_report.html", help="HTML file to write (default livello_report.html)"
    )
    parser.add_argument("--days", type=int, default=28, help="kiosk-local days in the report (default 28)")
    parser.set_defaults(handler=cmd_report)


def cmd_report(args: argparse.Namespace) -> int:
    from pipelines.report import ReportError, run_report
    from sources.livello.config import SettingError

    if args.days < 1:
        _err("--days must be at least 1")
        return EXIT_USAGE
    try:
        path = run_report(args.destination, args.dataset, args.output, days=args.days)
    except SettingError as error:
        _err(str(error))
        return EXIT_USAGE
    except ReportError as error:
        _err(str(error))
        return EXIT_FAILED
    _out(f"Report written to {path}")
    return EXIT_OK


# ---------------------------------------------------------------------------------------------- init
def add_init(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "init",
        help="write .dlt/secrets.toml (mode 0600) and .dlt/config.toml for a real API client",
        **_doc(
            "Set up a project directory: write .dlt/secrets.toml (client id and secret, a freshly generated "
            "pseudonymization key, the warehouse's credentials; mode 0600) and .dlt/config.toml (the API's "
            "base URL). What no flag gives is asked for when stdin is a terminal, the secret without echo; "
            "with --no-input a missing value exits 2 naming its flag. Existing files are changed only with "
            "--force, and keep their other keys, their comments and the pseudonymization key (unless "
            "--new-key). Then run `livello-sync check`.",
            "livello-sync init",
            "livello-sync init --no-input --client-id lv_m2m_acme --client-secret-env LIVELLO_CLIENT_SECRET"
            "\n--destination postgres --postgres-dsn-env WAREHOUSE_DSN",
        ),
    )
    parser.add_argument(
        "--project-dir",
        default=argparse.SUPPRESS,  # never hides a global --project-dir given before the subcommand
        help="directory where .dlt/ goes (default $LIVELLO_SYNC_PROJECT_DIR, else the working directory)",
    )
    parser.add_argument("--client-id", help="the API client id Livello issued (e.g. lv_m2m_...)")
    secret = parser.add_mutually_exclusive_group()
    secret.add_argument(
        "--client-secret", help="the client secret (visible in shell history: prefer the next two)"
    )
    secret.add_argument("--client-secret-env", metavar="VAR", help="read the client secret from variable VAR")
    secret.add_argument(
        "--client-secret-stdin",
        action="store_true",
        help="read the client secret from the first line of stdin",
    )
    parser.add_argument(
        "--base-url", help="the API's base URL (default the production API, https://my.livello.com/api/v1)"
    )
    parser.add_argument(
        "--destination", choices=("duckdb", "postgres"), help="warehouse engine (default duckdb)"
    )
    parser.add_argument(
        "--duckdb-path", help="DuckDB file; relative to the project dir (default livello_sync.duckdb there)"
    )
    dsn = parser.add_mutually_exclusive_group()
    dsn.add_argument("--postgres-dsn", help="postgresql://user:password@host:5432/database")
    dsn.add_argument(
        "--postgres-dsn-env", metavar="VAR", help="read the PostgreSQL connection string from VAR"
    )
    parser.add_argument(
        "--dataset",
        default="livello",
        help="schema the data goes to (default livello; checked against the file)",
    )
    parser.add_argument("--force", action="store_true", help="update existing files (their other keys stay)")
    parser.add_argument(
        "--new-key",
        action="store_true",
        help="with --force: replace the pseudonymization key (pseudonyms change)",
    )
    parser.add_argument("--no-input", action="store_true", help="never prompt: a missing value exits 2")
    parser.set_defaults(handler=cmd_init)


def cmd_init(args: argparse.Namespace) -> int:
    import os

    from pipelines import init

    def from_env(variable: str | None, flag: str) -> str | None:
        if variable is None:
            return None
        value = os.environ.get(variable, "").strip()
        if not value:
            raise init.InitError(f"{flag} {variable}: the environment variable is not set or empty")
        return value

    try:
        if args.new_key and not args.force:
            raise init.InitError("--new-key replaces the pseudonymization key: pass --force with it")
        client_secret = args.client_secret or from_env(args.client_secret_env, "--client-secret-env")
        if args.client_secret_stdin:
            client_secret = sys.stdin.readline().strip()
            if not client_secret:
                raise init.InitError("--client-secret-stdin: the first line of stdin is empty")
        if args.client_secret:
            _err("note: a secret on the command line stays in shell history; --client-secret-env is safer")
        dsn = args.postgres_dsn or from_env(args.postgres_dsn_env, "--postgres-dsn-env")
        destination = args.destination or ("postgres" if dsn else "duckdb" if args.duckdb_path else None)
        options = init.InitOptions(
            project_dir=init.project_dir(getattr(args, "project_dir", None)),
            client_id=args.client_id,
            client_secret=client_secret,
            base_url=args.base_url,
            destination=destination,
            duckdb_path=args.duckdb_path,
            postgres_dsn=dsn,
            dataset=args.dataset,
            force=args.force,
            new_key=args.new_key,
            interactive=not args.no_input and not args.client_secret_stdin and init.stdin_is_terminal(),
        )
        init.run_init(options, out=_out)
    except init.InitError as error:
        _err(f"init: {error}")
        return EXIT_USAGE
    except KeyboardInterrupt:
        _err("init: interrupted; nothing was written")
        return EXIT_USAGE
    return EXIT_OK


# --------------------------------------------------------------------------------------------- check
def add_check(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "check",
        help="verify credentials, scopes, rate-limit budget and warehouse without writing any data",
        **_doc(
            "Check everything a run needs, writing nothing: the configuration, a token for the API "
            "credentials and the scopes granted with it (which resources each enables, which are skipped and "
            "why), the rate-limit budget and how long a first backfill would take, and that the warehouse is "
            "reachable and writable. One line per check. Exit 0 when everything needed works, 1 when the API "
            "or the warehouse cannot be reached, 2 for bad configuration or credentials.",
            "livello-sync check",
            "livello-sync check --destination postgres --json",
        ),
    )
    add_destination_options(parser)
    parser.add_argument("--resources", help="check only these resources (comma-separated, as for run)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(handler=cmd_check)


def cmd_check(args: argparse.Namespace) -> int:
    import json

    from pipelines.check import run_check
    from sources.livello.config import SettingError

    try:
        report = run_check(destination=args.destination, dataset=args.dataset, resources=args.resources)
    except SettingError as error:
        _err(str(error))
        if args.json:
            failed = {"check": "configuration", "status": "FAILED", "message": str(error), "exit_code": 2}
            _out(json.dumps({"schema_version": 1, "exit_code": EXIT_USAGE, "lines": [failed]}, indent=2))
        return EXIT_USAGE
    _out(report.as_json() if args.json else report.render())
    return report.exit_code


# ----------------------------------------------------------------------------------------- resources
def add_resources(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "resources",
        help="the resources: tables, keys, cursors, scopes (offline; --check-access asks the API)",
        **_doc(
            "List every resource a sync reads: its warehouse tables (the root table and the child tables of "
            "its lists), primary key, cursor, write disposition, the scopes it needs, paging and fan-out. "
            "Offline, from the endpoint table; with --check-access it fetches a token (credentials needed) "
            "and says whether this client may read each one.",
            "livello-sync resources",
            "livello-sync resources --check-access --json",
        ),
    )
    parser.add_argument(
        "--check-access", action="store_true", help="ask the API which resources this client's token may read"
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(handler=cmd_resources)


def cmd_resources(args: argparse.Namespace) -> int:
    from pipelines import discover

    if not args.check_access:
        infos = discover.resources()
        _out(discover.as_json(infos) if args.json else discover.render(infos))
        return EXIT_OK
    from pipelines.settings import resolve_checked
    from sources.livello.client import ClientSettings, LivelloClient
    from sources.livello.config import SettingError
    from sources.livello.errors import AuthenticationError, LivelloError, PermissionDeniedError

    try:
        settings = resolve_checked(ClientSettings)
        settings.max_attempts = min(settings.max_attempts, 2)
        with LivelloClient(settings) as client:
            client.check_credentials()
            granted = client.scopes or frozenset()
    except SettingError as error:
        _err(str(error))
        return EXIT_USAGE
    except (AuthenticationError, PermissionDeniedError) as error:
        _err(str(error))
        return EXIT_USAGE
    except LivelloError as error:
        _err(f"resources --check-access: {error}")
        return EXIT_FAILED
    infos = discover.resources(granted)
    out = discover.as_json if args.json else discover.render
    _out(out(infos, client_id=settings.client_id))
    return EXIT_OK


SUBCOMMANDS: list[AddSubcommand] = [
    *(add_init, add_check, add_run, add_status, add_resources),
    *(add_demo, add_transform, add_reconcile, add_report),
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="livello-sync", description="Sync the Livello Open Platform API into DuckDB or PostgreSQL."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log HTTP retries and pacing")
    parser.add_argument(
        "--project-dir",
        metavar="DIR",
        help="the folder holding .dlt/ (default: $LIVELLO_SYNC_PROJECT_DIR, else the working directory); "
        "relative paths in the configuration are resolved against it",
    )
    parser.add_argument(
        "--log-format",
        choices=("text", "json"),
        default="text",
        help="text (default: a live line on a terminal, timestamped lines elsewhere) or json (one object per "
        "line, for log shippers)",
    )
    parser.add_argument(
        "--version",
        action="version",
        version=version_text(),
        help="print the livello-sync, dlt and Python versions",
    )
    subparsers = parser.add_subparsers(dest="command", required=True)
    for add in SUBCOMMANDS:
        add(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # argparse exits 2 on bad usage, 0 on --help
        return int(exit_.code or 0)
    from pipelines.settings import PROJECT_DIR_ENV, use_project
    from sources.livello.config import SettingError
    from sources.livello.redaction import install_redaction

    install_redaction()  # before anything can log: every logger of the process, dlt's and httpx's included
    global REPORTER
    REPORTER = Reporter(sys.stdout, log_format=args.log_format)
    try:
        chosen = args.project_dir or os.environ.get(PROJECT_DIR_ENV)
        if args.command == "init" and chosen:  # init sets a project up: its folder may not exist yet
            Path(chosen).expanduser().mkdir(parents=True, exist_ok=True)
        use_project(args.project_dir)
    except SettingError as error:
        _err(str(error))
        return EXIT_USAGE
    _log_to_stderr(logging.INFO if args.verbose else logging.WARNING, json_lines=args.log_format == "json")
    try:
        return int(args.handler(args))
    finally:
        REPORTER.close()


if __name__ == "__main__":
    sys.exit(main())
