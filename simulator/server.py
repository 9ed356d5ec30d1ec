"""Run the simulator on a real socket: in a background thread (`SimulatorServer`, for tests and benchmarks)
or as a child process (`SimulatorProcess`, for tests that SIGKILL a pipeline or the server itself).

    with SimulatorServer(SimConfig(seed=7, kiosks=3, days=5, now=datetime(2026, 3, 2, tzinfo=UTC))) as sim:
        httpx.post(f"{sim.base_url}/auth/token", json={...})
        sim.advance(hours=2)
        sim.set_faults(error_ratio=0.2)
        sim.request_count["/api/v1/transactions"]
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

try:  # uvicorn[standard]: the C parser answers a 100-row page ~1 ms sooner than pure-Python h11
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # pragma: no cover - httptools not installed
    HttpToolsProtocol = None  # type: ignore[assignment,misc]

from simulator import app as app_module
from simulator.app import SimState, SimulatorApp, build_state
from simulator.config import FaultConfig, SimConfig
from simulator.store import Store

STARTUP_TIMEOUT_SECONDS = 60.0
SHUTDOWN_TIMEOUT_SECONDS = 10.0


class _TrackingMixin:
    """Registers each connection's transport so the app can abort it (the dropped-connection fault)."""

    client: Any
    server: Any

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[misc]
        self._sim_key = (_addr(self.client), _addr(self.server))
        app_module.TRANSPORTS[self._sim_key] = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        app_module.TRANSPORTS.pop(getattr(self, "_sim_key", None), None)  # type: ignore[arg-type]
        super().connection_lost(exc)  # type: ignore[misc]


class TrackingH11Protocol(_TrackingMixin, H11Protocol):
    """uvicorn's h11 protocol with connection tracking."""


if HttpToolsProtocol is not None:

    class TrackingHttpToolsProtocol(_TrackingMixin, HttpToolsProtocol):
        """uvicorn's httptools protocol with connection tracking."""


def http_protocol() -> type:
    """The fastest installed HTTP protocol for uvicorn, with connection tracking."""
    return TrackingH11Protocol if HttpToolsProtocol is None else TrackingHttpToolsProtocol


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's event loop when installed (faster request handling), else asyncio's default."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def _addr(value: Any) -> Any:
    return tuple(value) if isinstance(value, list | tuple) else value


def build_store(config: SimConfig) -> Store:
    """Generate the history of `config` into a new store (the data core's generator)."""
    from simulator import generator

    store = Store(config.database_path)
    generator.generate(store, config)
    return store


class SimulatorServer:
    """The simulator served by uvicorn in a daemon thread on 127.0.0.1 (a free port unless `port`)."""

    def __init__(
        self,
        config: SimConfig | None = None,
        *,
        store: Store | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        log_level: str = "warning",
    ) -> None:
        self.config = config or SimConfig()
        self._store = store
        self.host = host
        self._requested_port = port
        self._log_level = log_level
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None
        self.state: SimState | None = None
        self.port: int = 0
        self._owns_store = False

    # -- lifecycle --------------------------------------------------------------------------------------
    def start(self) -> SimulatorServer:
        if self._store is None:
            self._store = build_store(self.config)
            self._owns_store = True
        self.state = build_state(self.config, self._store)
        self._socket = bind_socket(self.host, self._requested_port)
        self.port = self._socket.getsockname()[1]
        uv_config = uvicorn.Config(
            SimulatorApp(self.state),
            http=http_protocol(),
            lifespan="off",
            log_level=self._log_level,
            access_log=False,
            timeout_keep_alive=30,
        )
        self._server = uvicorn.Server(uv_config)
        # uvicorn installs signal handlers only in the main thread; in a worker thread it must not try.
        self._server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
        self._thread = threading.Thread(target=self._run, name=f"livello-sim-{self.port}", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError("simulator server thread exited during start-up")
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"simulator did not start within {STARTUP_TIMEOUT_SECONDS:.0f} s")
            time.sleep(0.01)
        return self

    def _run(self) -> None:
        assert self._server is not None and self._socket is not None
        with asyncio.Runner(loop_factory=loop_factory()) as runner:
            runner.run(self._server.serve(sockets=[self._socket]))

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(SHUTDOWN_TIMEOUT_SECONDS)
            if self._thread.is_alive():
                assert self._server is not None
                self._server.force_exit = True
                self._thread.join(SHUTDOWN_TIMEOUT_SECONDS)
        if self._socket is not None:
            with contextlib.suppress(OSError):
                self._socket.close()
        if (
            self._owns_store
            and self._store is not None
            and (self._thread is None or not self._thread.is_alive())
        ):
            # Free the in-memory database now: a test session starts dozens of simulators.
            with contextlib.suppress(Exception):
                self._store.close()
            self._owns_store = False
        self._thread = None

    def __enter__(self) -> SimulatorServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- what tests use ---------------------------------------------------------------------------------
    @property
    def root_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.root_url}/api/v1"

    @property
    def token_url(self) -> str:
        return f"{self.base_url}/auth/token"

    @property
    def store(self) -> Store:
        assert self._store is not None, "start() the server first"
        return self._store

    @property
    def control_key(self) -> str:
        return self.config.control_key

    @property
    def demo_credentials(self) -> tuple[str, str]:
        return self.config.demo_client_id, self.config.demo_client_secret

    @property
    def request_count(self) -> dict[str, int]:
        """Requests served so far per path (query strings excluded), e.g. {"/api/v1/transactions": 12}."""
        return self._state().counts_snapshot()

    def requests_to(self, path_prefix: str) -> int:
        """Requests whose path starts with `path_prefix` (relative to /api/v1 unless /api... or /_sim...)."""
        if not path_prefix.startswith(("/api/", "/_sim")):
            path_prefix = "/api/v1" + (path_prefix if path_prefix.startswith("/") else "/" + path_prefix)
        return sum(n for p, n in self.request_count.items() if p.startswith(path_prefix))

    def requests_by(self, client_id: str) -> list[tuple[str, dict[str, str]]]:
        """The authenticated API requests `client_id` made (path, query), oldest first; the newest
        REQUEST_LOG_LENGTH of all clients are kept."""
        return [(path, query) for who, path, query, _ in self._state().log_snapshot() if who == client_id]

    def request_times(self, client_id: str) -> list[float]:
        """When (time.monotonic) each logged API request of `client_id` arrived, oldest first."""
        return [at for who, _, _, at in self._state().log_snapshot() if who == client_id]

    def reset_request_counts(self) -> None:
        self._state().reset_counts()

    def advance(self, hours: float = 0.0, minutes: float = 0.0, **events: int | None) -> dict[str, Any]:
        """Move the simulator's clock forward; new purchases, refills, alert changes... appear. `events` force
        counts of the clock's live events (simulator.clock.EVENTS, e.g. `user_changes=3`)."""
        from simulator.routes import control

        return control.advance(self._state(), timedelta(hours=hours, minutes=minutes), **events)

    def upload_backlog(self, **kwargs: Any) -> dict[str, Any]:
        """An offline kiosk uploads purchases whose `created` lies in the past (clock.upload_backlog)."""
        from simulator.routes import control

        return control.upload_backlog(self._state(), kwargs)

    def erase_user(self, user_id: int) -> None:
        """A user account erased at the vendor (clock.erase_user)."""
        from simulator.routes import control

        control.erase_user(self._state(), user_id)

    def set_faults(self, faults: FaultConfig | None = None, **changes: Any) -> FaultConfig:
        """Replace the fault settings (a FaultConfig) or change some of them; restarts the fault sequence."""
        state = self._state()
        new = faults if faults is not None else state.faults.config.with_changes(**changes)
        state.faults.configure(new)
        return new

    def clear_faults(self) -> None:
        self._state().faults.configure(FaultConfig())

    def revoke_client(self, client_id: str, revoked: bool = True) -> None:
        state = self._state()
        if revoked:
            if not state.auth.revoke(client_id):
                raise KeyError(f"unknown client {client_id!r}")
        else:
            state.auth.reinstate(client_id)

    def expire_tokens(self) -> int:
        """Invalidate every issued token now (clients must request new ones)."""
        return self._state().auth.invalidate_all_tokens()

    def set_rate_limit(
        self,
        per_window: int | None = None,
        window_seconds: float | None = None,
        *,
        token_per_window: int | None = None,
        token_window_seconds: float | None = None,
    ) -> None:
        state = self._state()
        state.api_limiter.reconfigure(per_window, window_seconds)
        state.token_limiter.reconfigure(token_per_window, token_window_seconds)

    def _state(self) -> SimState:
        assert self.state is not None, "start() the server first"
        return self.state


def bind_socket(host: str, port: int) -> socket.socket:
    # IPPROTO_TCP explicitly: asyncio only sets TCP_NODELAY for that protocol number; without it every
    # reused connection waits ~40 ms for Nagle on each response.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(512)
    sock.set_inheritable(True)
    return sock


# `livello-sim serve` on loopback and a port the OS picks (the READY line tells which).
SERVE_ON_A_FREE_PORT = ("-m", "simulator.cli", "serve", "--host", "127.0.0.1", "--port", "0")
_READY = re.compile(r"^READY (\S+)")
_LINE = re.compile(r"^\s*(client_id|client_secret|control_key|base_url)\s*[:=]\s*(\S+)")


@dataclass
class SimulatorProcess:
    """`livello-sim serve` as a child process; waits (bounded) for its READY line.

    Tests that must kill processes (the pipeline's crash tests) use this so the simulator outlives them, or
    SIGKILL it to check a client's behaviour when the API disappears.
    """

    args: Sequence[str] = ()
    startup_timeout: float = 120.0
    process: subprocess.Popen[str] | None = None
    base_url: str = ""
    client_id: str = ""
    client_secret: str = ""
    control_key: str = ""

    def start(self) -> SimulatorProcess:
        cmd = [sys.executable, *SERVE_ON_A_FREE_PORT, *self.args]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, start_new_session=True
        )
        lines: list[str] = []
        ready = threading.Event()

        def pump() -> None:
            assert self.process is not None and self.process.stdout is not None
            for line in self.process.stdout:
                lines.append(line)
                if match := _LINE.match(line):
                    setattr(self, match.group(1), match.group(2))
                if match := _READY.match(line):
                    self.base_url = match.group(1)
                    ready.set()
            ready.set()

        threading.Thread(target=pump, daemon=True).start()
        if not ready.wait(self.startup_timeout) or self.process.poll() is not None and not self.base_url:
            self.kill()
            raise RuntimeError("simulator process did not become ready:\n" + "".join(lines[-30:]))
        if not self.base_url:
            self.kill()
            raise RuntimeError("simulator process exited before READY:\n" + "".join(lines[-30:]))
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    # As on SimulatorServer, so that test helpers serve both handles.
    @property
    def token_url(self) -> str:
        return f"{self.base_url}/auth/token"

    @property
    def demo_credentials(self) -> tuple[str, str]:
        return self.client_id, self.client_secret

    def kill(self) -> None:
        """SIGKILL the simulator (no clean shutdown)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(SHUTDOWN_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            self.kill()

    def __enter__(self) -> SimulatorProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
