"""`livello-sync demo`, the README's first command: simulator subprocess, sync, marts, summary, clean stop."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import duckdb


def test_demo_syncs_a_simulator_into_a_local_duckdb_file(tmp_path: Path) -> None:
    target = tmp_path / "demo.duckdb"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pipelines.cli",
            "demo",
            "--duckdb",
            str(target),
            "--kiosks",
            "2",
            "--days",
            "3",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=240,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "Simulator ready" in output and "Headline numbers" in output and "Run complete" in output
    with duckdb.connect(str(target), read_only=True) as conn:
        transactions = conn.execute("select count(*) from livello.transactions").fetchone()
        kiosks = conn.execute("select count(*) from livello.kiosks").fetchone()
    assert transactions is not None and transactions[0] > 0
    assert kiosks == (2,)
    # The simulator was stopped: nothing of it is left listening or running.
    leftover = subprocess.run(
        ["pgrep", "-f", "simulator.cli serve .*--kiosks 2 --days 3"], capture_output=True, text=True
    )
    assert leftover.stdout.strip() == ""
