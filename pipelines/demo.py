"""`livello-sync demo`: the README's first command.

Starts the bundled simulator as a subprocess on a free loopback port, syncs it into a local DuckDB file with
the same code path as `livello-sync run` (configured through the environment, exactly as an operator would),
builds the marts, prints what was loaded and a few headline numbers, and stops the simulator whatever
happens.
"""

from __future__ import annotations

import os
import queue
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

READY_TIMEOUT_SECONDS = 90.0
STOP_TIMEOUT_SECONDS = 10.0
DEMO_CLIENT_ID = "lv_m2m_demo"
DEMO_CLIENT_SECRET = "sk_live_demo"  # the simulator's public demo client, printed by `livello-sim serve`
DEMO_DATASET = "livello"

Printer = Callable[[str], None]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _simulator_command(port: int, kiosks: int, days: int, seed: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "simulator.cli",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--kiosks",
        str(kiosks),
        "--days",
        str(days),
        "--seed",
        str(seed),
        # The contract's own limit (1000 requests/hour): the demo shows the pacing and budget of a real run.
    ]


@contextmanager
def running_simulator(kiosks: int, days: int, seed: int, out: Printer) -> Iterator[str]:
    """Start `livello-sim serve`, wait for its READY line, yield the base URL, stop it on exit."""
    port = free_port()
    process = subprocess.Popen(
        _simulator_command(port, kiosks, days, seed),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
    )
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:  # keep draining so the simulator never blocks on a full pipe
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line.rstrip("\n"))
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    try:
        base_url = _wait_ready(lines, port)
        out(f"Simulator ready at {base_url} ({kiosks} kiosks, {days} days of history, seed {seed}).")
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=STOP_TIMEOUT_SECONDS)


def _wait_ready(lines: queue.Queue[str | None], port: int) -> str:
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    seen: list[str] = []
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise RuntimeError(
                f"the simulator did not print READY within {READY_TIMEOUT_SECONDS:.0f}s; "
                "its output:\n" + "\n".join(seen[-20:])
            )
        try:
            line = lines.get(timeout=remaining)
        except queue.Empty:
            continue
        if line is None:
            raise RuntimeError(
                "the simulator exited before it was ready; its output:\n" + "\n".join(seen[-20:])
            )
        seen.append(line)
        if line.startswith("READY"):
            match = re.match(r"^READY (\S+)", line)
            return match.group(1) if match else f"http://127.0.0.1:{port}/api/v1"


def _headlines() -> list[str]:
    from pipelines.destination import open_pipeline

    pipeline = open_pipeline("duckdb", DEMO_DATASET)
    out: list[str] = []
    queries = [
        ("kiosks", "select count(*) from kiosks"),
        ("products (current)", "select count(*) from products where _dlt_valid_to is null"),
        ("purchase sessions", "select count(*) from transactions"),
        (
            "paid purchases",
            "select count(*) from transactions where session__details__ended_with_purchase "
            "and payment_method__is_paid",
        ),
    ]
    with pipeline.sql_client() as client:
        for label, sql in queries:
            try:
                out.append(f"  {label:<20} {client.execute_sql(sql)[0][0]:>12,}")
            except Exception:
                continue
        try:
            for currency, gross in client.execute_sql(
                "select coalesce(currency, '?'), sum(total) from transactions "
                "where payment_method__is_paid group by 1 order by 1"
            ):
                out.append(f"  {'revenue ' + currency:<20} {gross:>12,.2f}")
        except Exception:
            pass
        try:
            rows = client.execute_sql("select count(*), sum(gross_amount) from fct_sales")
            out.append(f"  {'fct_sales lines':<20} {rows[0][0]:>12,}")
        except Exception:
            pass
    return out


def run_demo(*, duckdb_path: str, kiosks: int, days: int, seed: int, out: Printer, err: Printer) -> int:
    from pipelines.cli import main as cli_main

    started = time.monotonic()
    path = Path(duckdb_path).resolve()
    for stale in (path, Path(str(path) + ".wal")):
        stale.unlink(missing_ok=True)  # a new simulator has new history: start the demo warehouse afresh
    work = Path(tempfile.mkdtemp(prefix="livello_demo_"))
    saved = dict(os.environ)
    try:
        with running_simulator(kiosks, days, seed, out) as base_url:
            os.environ.update(
                {
                    "SOURCES__LIVELLO__BASE_URL": base_url,
                    "SOURCES__LIVELLO__CLIENT_ID": DEMO_CLIENT_ID,
                    "SOURCES__LIVELLO__CLIENT_SECRET": DEMO_CLIENT_SECRET,
                    "SOURCES__LIVELLO__PSEUDONYMIZATION_KEY": os.environ.get(
                        "SOURCES__LIVELLO__PSEUDONYMIZATION_KEY", "livello-demo-pseudonymization-key"
                    ),
                    "SOURCES__LIVELLO__PIPELINES_DIR": str(work),
                    "DESTINATION__DUCKDB__CREDENTIALS": str(path),
                }
            )
            code = cli_main(["run", "--destination", "duckdb", "--dataset", DEMO_DATASET])
            if code != 0:
                err("the demo sync failed (see above)")
                return code
            out("\nHeadline numbers:")
            for line in _headlines():
                out(line)
    except RuntimeError as error:
        err(str(error))
        return 1
    finally:
        os.environ.clear()
        os.environ.update(saved)
        shutil.rmtree(work, ignore_errors=True)
    out(
        f"\nDemo finished in {time.monotonic() - started:.0f}s. Explore it: duckdb {path} "
        f"(tables live in schema {DEMO_DATASET}, e.g. select * from {DEMO_DATASET}.fct_sales limit 10)"
    )
    return 0
