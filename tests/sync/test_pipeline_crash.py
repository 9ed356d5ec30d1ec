"""A backfill killed with SIGKILL at several points, then re-run: the warehouse equals the truth, no key is
duplicated, and the windows finished before each kill are not fetched again."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from simulator.server import SimulatorServer
from tests.sync.conftest import (
    SyncRunner,
    Warehouse,
    assert_incremental_tables_equal_api,
)

RESOURCES = "kiosks,transactions,refills,alerts"
KILL_TIMEOUT_SECONDS = 120.0


def _run_until(
    sync: SyncRunner, sim: SimulatorServer, env: dict[str, str], kill_after_load: int | None, delay: float
) -> tuple[int, str]:
    """Run `livello-sync run` in a child process; SIGKILL it `delay` seconds after it reports load N."""
    wh = sync.warehouse
    cmd = [
        sys.executable,
        "-m",
        "pipelines.cli",
        "run",
        "--destination",
        wh.destination,
        "--dataset",
        wh.dataset,
        "--resources",
        RESOURCES,
        "--no-transform",
    ]
    child_env = {**os.environ, **sync.env(sim), **env, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=child_env, cwd=sync.workdir
    )
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    output: list[str] = []
    deadline = time.monotonic() + KILL_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=1)
        except queue.Empty:
            continue
        if line is None:
            break
        output.append(line)
        if kill_after_load is not None and f" [{kill_after_load}/" in f" {line}":  # "<time> [1/14] ..."
            time.sleep(delay)
            process.send_signal(signal.SIGKILL)
            break
    else:
        process.kill()
    code = process.wait(timeout=30)
    return code, "".join(output)


def test_sigkill_mid_backfill_then_rerun_equals_truth(
    sync: SyncRunner, warehouse: Warehouse, small_sim: SimulatorServer, tmp_path: Path
) -> None:
    env = {"SOURCES__LIVELLO__BACKFILL_WINDOW_ROWS": "100"}
    kept: set[tuple[object, object]] = set()
    # Each run resumes the previous one: killed after its first load, a moment into the extract of its third
    # load, and right after its first load again; the last run finishes the backfill.
    for kill_after, delay in ((1, 0.0), (2, 0.15), (1, 0.0)):
        code, output = _run_until(sync, small_sim, env, kill_after, delay)
        assert code == -signal.SIGKILL, output
        if "transactions" in warehouse.tables():
            now = set(warehouse.query("select id, _dlt_load_id from transactions"))
            assert kept <= now, "rows of a finished window were loaded again"
            kept = now
    code, output = _run_until(sync, small_sim, env, None, 0.0)
    assert code == 0, output
    assert kept <= set(warehouse.query("select id, _dlt_load_id from transactions"))

    assert_incremental_tables_equal_api(warehouse, small_sim)
