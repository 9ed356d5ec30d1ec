"""`livello-sim`: serve the Livello API simulator.

    livello-sim serve --port 8765 [--seed 42 --kiosks 12 --days 90 --now 2026-03-01T12:00:00Z]
                      [--rate-limit 1000 --rate-window-seconds 3600 --token-lifetime 86400]
                      [--client-id ID --client-secret SECRET --control-key KEY]
                      [--fault-5xx-ratio 0.1 --fault-latency-ms 50 --fault-drop-ratio 0.01 ...]

It prints the base URL, the demo credentials and the control key first (flushed, so a parent process can read
them while the history is generated), then `READY <base_url>` once the socket answers.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import sys
import time
from datetime import UTC, datetime

import uvicorn

from simulator.config import FaultConfig, SimConfig


def _parse_now(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--now must be ISO 8601, got {text!r}") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


# `serve`'s fault options: (flag, FaultConfig field, metavar, help). The field's default says the kind of
# option: a bool is a switch, a tuple a repeatable option, a number takes one value.
FAULT_OPTIONS: tuple[tuple[str, str, str, str], ...] = (
    ("--fault-seed", "seed", "N", "seed of the fault sequence"),
    ("--fault-5xx-ratio", "error_ratio", "RATIO", "share of 500/502/503 answers"),
    ("--fault-429-every", "burst_429_every", "N", "a 429 burst after every N requests"),
    ("--fault-429-burst", "burst_429_length", "N", "length of each 429 burst"),
    ("--fault-latency-ms", "latency_ms", "MS", "added latency per request"),
    ("--fault-latency-jitter-ms", "latency_jitter_ms", "MS", "added random latency, up to this many ms"),
    ("--fault-drop-ratio", "drop_ratio", "RATIO", "share of dropped connections"),
    ("--fault-truncate-ratio", "truncate_ratio", "RATIO", "share of cut JSON bodies"),
    ("--fault-expire-tokens-after", "expire_tokens_after", "N", "invalidate all tokens every N API requests"),
    ("--fault-include-token-endpoint", "include_token_endpoint", "", "fault POST /auth/token as well"),
    ("--revoke-client", "revoked_clients", "CLIENT_ID", "a revoked client"),
    # A hostile API: 200 answers that are wrong.
    ("--fault-path", "paths", "PATH", "limit the faults below to this path (below /api/v1, * = a segment)"),
    ("--fault-ignore-paging", "ignore_paging", "", "lists answer the first page whatever skip/offset/page"),
    ("--fault-inflate-total", "inflate_total", "N", "report this total instead of the real one"),
    ("--fault-shrink-total-by", "shrink_total_by", "N", "report a total N smaller on every later page"),
    ("--fault-omit-total", "omit_total", "", "answer the list envelope without its total"),
    ("--fault-maintenance-ratio", "maintenance_ratio", "RATIO", "share of HTML maintenance pages"),
    ("--fault-invalid-utf8-ratio", "invalid_utf8_ratio", "RATIO", "share of JSON bodies with bad UTF-8"),
    ("--fault-text-body-ratio", "text_body_ratio", "RATIO", "share of plain-text bodies sent as JSON"),
    ("--fault-drop-field", "drop_fields", "NAME", "drop this (dotted) field from every item"),
    ("--fault-add-field", "add_fields", "NAME=JSON", "add this field to every item"),
    ("--fault-stringify-field", "stringify_fields", "NAME", 'send this number as a string (12.5 -> "12.50")'),
)


def _name_value(text: str) -> tuple[str, object]:
    """NAME=VALUE with VALUE read as JSON when it is JSON (`tier="gold"`, `rank=3`), else as text."""
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    try:
        return name, json.loads(value)
    except ValueError:
        return name, value


def add_world_arguments(parser: argparse.ArgumentParser, *, kiosks: int = 12, days: int = 90) -> None:
    """--seed, --kiosks and --days: with the clock, what a generated history is a function of (also the
    benchmarks' options, so that they describe a world as `serve` does)."""
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--kiosks", type=int, default=kiosks)
    parser.add_argument("--days", type=int, default=days)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="livello-sim", description="Livello Open Platform API simulator")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="generate a history and serve the API")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8765, help="0 picks a free port (see the READY line)")
    add_world_arguments(serve)
    serve.add_argument(
        "--now",
        dest="now",
        type=_parse_now,
        default=None,
        help="the simulator's clock at start (ISO 8601, UTC if no offset); default: wall clock",
    )
    serve.add_argument("--sessions-per-kiosk-day", type=float, default=None)
    serve.add_argument(
        "--database",
        dest="database_path",
        default=None,
        help="keep the store in this DuckDB file (default: memory)",
    )
    serve.add_argument(
        "--rate-limit",
        dest="rate_limit_per_hour",
        type=int,
        default=1000,
        metavar="PER_WINDOW",
        help="API requests per client and window (default 1000/hour); 0 disables limiting",
    )
    serve.add_argument("--rate-window-seconds", dest="rate_limit_window_seconds", type=int, default=3600)
    serve.add_argument(
        "--token-rate-limit",
        dest="token_rate_limit_per_minute",
        type=int,
        default=10,
        help="token requests per client and window",
    )
    serve.add_argument(
        "--token-rate-window-seconds", dest="token_rate_limit_window_seconds", type=int, default=60
    )
    serve.add_argument(
        "--token-lifetime", dest="token_lifetime_seconds", type=int, default=86_400, help="in seconds"
    )
    serve.add_argument("--client-id", dest="demo_client_id", help="replace the demo client's id")
    serve.add_argument("--client-secret", dest="demo_client_secret", help="replace the demo client's secret")
    serve.add_argument("--control-key", default=None, help="X-Sim-Control-Key (default: random per start)")
    serve.add_argument("--log-level", default="warning")
    faults = serve.add_argument_group(
        "faults",
        "All off by default and composable; deterministic given --fault-seed (simulator/faults.py). The "
        "options from --fault-path on make answers that look successful (status 200) but are wrong.",
    )
    defaults = FaultConfig()
    for flag, name, metavar, help_text in FAULT_OPTIONS:
        default = getattr(defaults, name)
        dest = f"fault__{name}"
        if isinstance(default, bool):
            faults.add_argument(flag, dest=dest, action="store_true", help=help_text)
        elif isinstance(default, tuple):
            kind = _name_value if name == "add_fields" else str
            help_text += " (repeatable)"
            faults.add_argument(
                flag, dest=dest, action="append", type=kind, default=[], metavar=metavar, help=help_text
            )
        else:
            faults.add_argument(
                flag, dest=dest, type=type(default), default=default, metavar=metavar, help=help_text
            )
    return parser


def config_from_args(args: argparse.Namespace) -> SimConfig:
    """The SimConfig of `serve`'s options: each option's dest is the field it sets (unset options, None or
    empty, keep the field's default); the fault options go to FaultConfig."""
    faults = {name: getattr(args, f"fault__{name}") for _, name, _, _ in FAULT_OPTIONS}
    fields = {f.name for f in dataclasses.fields(SimConfig)}
    given = {k: v for k, v in vars(args).items() if k in fields and v not in (None, "")}
    return SimConfig(**given, faults=FaultConfig().with_changes(**faults))


def serve(args: argparse.Namespace) -> int:
    from simulator.app import SimulatorApp, build_state
    from simulator.server import bind_socket, build_store, http_protocol, loop_factory

    config = config_from_args(args)
    sock = bind_socket(args.host, args.port)
    port = sock.getsockname()[1]
    base_url = f"http://{args.host}:{port}/api/v1"
    # Credentials first, flushed: a parent process reads them while the history is generated.
    print(
        f"Livello API simulator (seed {config.seed}, {config.kiosks} kiosks x {config.days} days, "
        f"now {config.now.isoformat()})"
    )
    print(f"base_url: {base_url}")
    print(f"client_id: {config.demo_client_id}")
    print(f"client_secret: {config.demo_client_secret}")
    print(f"control_key: {config.control_key}")
    print("other clients: lv_m2m_limited / sk_live_limited; lv_m2m_org_<orgId> / sk_live_org_<orgId>")
    sys.stdout.flush()
    started = time.monotonic()
    store = build_store(config)
    state = build_state(config, store)
    print(f"generated history in {time.monotonic() - started:.1f} s", flush=True)
    server = uvicorn.Server(
        uvicorn.Config(
            SimulatorApp(state),
            http=http_protocol(),
            lifespan="off",
            log_level=args.log_level,
            access_log=False,
        )
    )

    async def run() -> None:
        task = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started and not task.done():
            await asyncio.sleep(0.01)
        if server.started:
            print(f"READY {base_url}", flush=True)
        await task

    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        runner.run(run())
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        try:
            return serve(args)
        except ValueError as error:
            print(f"livello-sim: {error}", file=sys.stderr)
            return 2
    return 2


if __name__ == "__main__":
    sys.exit(main())
