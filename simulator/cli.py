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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="livello-sim", description="Livello Open Platform API simulator")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="generate a history and serve the API")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8765, help="0 picks a free port (see the READY line)")
    serve.add_argument("--seed", type=int, default=42)
    serve.add_argument("--kiosks", type=int, default=12)
    serve.add_argument("--days", type=int, default=90)
    serve.add_argument(
        "--now",
        type=_parse_now,
        default=None,
        help="the simulator's clock at start (ISO 8601, UTC if no offset); default: wall clock",
    )
    serve.add_argument("--sessions-per-kiosk-day", type=float, default=None)
    serve.add_argument(
        "--database", default=None, help="keep the store in this DuckDB file (default: memory)"
    )
    serve.add_argument(
        "--rate-limit",
        type=int,
        default=1000,
        metavar="PER_WINDOW",
        help="API requests per client and window (default 1000/hour); 0 disables limiting",
    )
    serve.add_argument("--rate-window-seconds", type=int, default=3600)
    serve.add_argument(
        "--token-rate-limit", type=int, default=10, help="token requests per client and window"
    )
    serve.add_argument("--token-rate-window-seconds", type=int, default=60)
    serve.add_argument("--token-lifetime", type=int, default=86_400, help="token lifetime in seconds")
    serve.add_argument("--client-id", default=None, help="replace the demo client's id")
    serve.add_argument("--client-secret", default=None, help="replace the demo client's secret")
    serve.add_argument("--control-key", default=None, help="X-Sim-Control-Key (default: random per start)")
    serve.add_argument("--log-level", default="warning")
    faults = serve.add_argument_group("faults (all off by default; deterministic given --fault-seed)")
    faults.add_argument("--fault-seed", type=int, default=0)
    faults.add_argument("--fault-5xx-ratio", type=float, default=0.0, help="share of 500/502/503 answers")
    faults.add_argument("--fault-429-every", type=int, default=0, help="a 429 burst after every N requests")
    faults.add_argument("--fault-429-burst", type=int, default=0, help="length of each 429 burst")
    faults.add_argument("--fault-latency-ms", type=float, default=0.0, help="added latency per request")
    faults.add_argument("--fault-latency-jitter-ms", type=float, default=0.0)
    faults.add_argument("--fault-drop-ratio", type=float, default=0.0, help="share of dropped connections")
    faults.add_argument("--fault-truncate-ratio", type=float, default=0.0, help="share of cut JSON bodies")
    faults.add_argument(
        "--fault-expire-tokens-after",
        type=int,
        default=0,
        help="invalidate all tokens after every N authenticated requests",
    )
    faults.add_argument("--fault-include-token-endpoint", action="store_true")
    faults.add_argument("--revoke-client", action="append", default=[], metavar="CLIENT_ID")
    return parser


def config_from_args(args: argparse.Namespace) -> SimConfig:
    faults = FaultConfig(
        seed=args.fault_seed,
        error_ratio=args.fault_5xx_ratio,
        burst_429_every=args.fault_429_every,
        burst_429_length=args.fault_429_burst,
        latency_ms=args.fault_latency_ms,
        latency_jitter_ms=args.fault_latency_jitter_ms,
        drop_ratio=args.fault_drop_ratio,
        truncate_ratio=args.fault_truncate_ratio,
        expire_tokens_after=args.fault_expire_tokens_after,
        include_token_endpoint=args.fault_include_token_endpoint,
        revoked_clients=tuple(args.revoke_client),
    )
    faults.validate()
    extra: dict[str, object] = {}
    if args.now is not None:
        extra["now"] = args.now
    if args.sessions_per_kiosk_day is not None:
        extra["sessions_per_kiosk_day"] = args.sessions_per_kiosk_day
    if args.client_id:
        extra["demo_client_id"] = args.client_id
    if args.client_secret:
        extra["demo_client_secret"] = args.client_secret
    if args.control_key:
        extra["control_key"] = args.control_key
    return SimConfig(
        seed=args.seed,
        kiosks=args.kiosks,
        days=args.days,
        database_path=args.database,
        rate_limit_per_hour=args.rate_limit,
        rate_limit_window_seconds=args.rate_window_seconds,
        token_rate_limit_per_minute=args.token_rate_limit,
        token_rate_limit_window_seconds=args.token_rate_window_seconds,
        token_lifetime_seconds=args.token_lifetime,
        faults=faults,
        **extra,  # type: ignore[arg-type]
    )


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
