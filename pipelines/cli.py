"""`livello-sync`: the command line.

One function per subcommand (`add_<name>` declares its options, `cmd_<name>` runs it); `SUBCOMMANDS` is the
single place where subcommands are registered. Exit codes: 0 success, 1 the run failed, 2 bad usage or
configuration."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
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


def _out(message: str) -> None:
    if REPORTER is not None and REPORTER.log_format == "json":
        REPORTER.event("info", message)
        return
    print(message, flush=True)


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
    parser = subparsers.add_parser("run", help="extract, load and transform (incremental; resumes backfills)")
    add_destination_options(parser, remembered=False)
    parser.add_argument("--resources", help="comma-separated resources to sync (default: all)")
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
        description="Where each resource stands, read from the warehouse alone (no API call, no file "
        "created). With --max-age it is a freshness check for monitors: exit 1 when a resource's last "
        "successful sync is older, or when the warehouse cannot be read.",
        epilog="example: livello-sync status --json --max-age 26h",
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
    )
    parser.add_argument(
        "--duckdb", default="livello_demo.duckdb", help="DuckDB file (default livello_demo.duckdb)"
    )
    parser.add_argument("--kiosks", type=int, default=6, help="simulated kiosks (default 6)")
    parser.add_argument("--days", type=int, default=14, help="simulated days of history (default 14)")
    parser.add_argument("--seed", type=int, default=42)
    parser.set_defaults(handler=cmd_demo)


def cmd_demo(args: argparse.Namespace) -> int:
    from pipelines.demo import run_demo

    return run_demo(
        duckdb_path=args.duckdb, kiosks=args.kiosks, days=args.days, seed=args.seed, out=_out, err=_err
    )


# ----------------------------------------------------------------------------------------- transform
def add_transform(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "transform", help="rebuild the staging views and marts, then run the data tests"
    )
    add_destination_options(parser)
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
        report = build(pipeline)
    except TransformError as error:
        _err(str(error))
        return EXIT_FAILED
    except Exception as error:  # the warehouse cannot be reached or opened: one line, never a password
        from pipelines.settings import mask_password
        from pipelines.sync import describe_failure

        _err(f"transform: cannot build the marts: {mask_password(describe_failure(error))}")
        return EXIT_FAILED
    from pipelines.job import describe_build

    _out(describe_build(report))
    return EXIT_OK


# ----------------------------------------------------------------------------------------- reconcile
def add_reconcile(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "reconcile",
        help="compare the marts with the vendor's analytics for a window; exit 1 on any difference",
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
        _err(f"reconcile failed: {str(error).splitlines()[0] if str(error) else type(error).__name__}")
        return EXIT_FAILED
    _out(report.render(verbose=args.all_rows))
    return report.exit_code


# -------------------------------------------------------------------------------------------- report
def add_report(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "report", help="write one self-contained HTML report of the marts (opens without network)"
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


SUBCOMMANDS: list[AddSubcommand] = [add_run, add_status, add_demo, add_transform, add_reconcile, add_report]


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
    from pipelines.settings import use_project
    from sources.livello.config import SettingError
    from sources.livello.redaction import install_redaction

    install_redaction()  # before anything can log: every logger of the process, dlt's and httpx's included
    global REPORTER
    REPORTER = Reporter(sys.stdout, log_format=args.log_format)
    try:
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
