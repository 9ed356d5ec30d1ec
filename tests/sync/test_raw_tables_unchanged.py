"""Reading the API with fewer requests must not change what lands: for the same API data, every raw table has
the columns and rows the release before the request savings wrote (commit faeeed1: inventory read per kiosk,
product lines per organization, users in full, temperature from the first data).

The fixture tests/sync/fixtures/raw_tables_faeeed1.json is `python -m tests.sync.raw_digest OUT` run at that
commit (tests/sync/raw_digest.py copied into its checkout); the scenario is a first run and a nightly run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO_ROOT

FIXTURE = Path(__file__).parent / "fixtures" / "raw_tables_faeeed1.json"


def test_every_raw_table_holds_the_rows_and_columns_of_the_release_before(tmp_path: Path) -> None:
    out = tmp_path / "digest.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SOURCES__", "DESTINATION__"))}
    done = subprocess.run(
        [sys.executable, "-m", "tests.sync.raw_digest", str(out)],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    now, before = json.loads(out.read_text()), json.loads(FIXTURE.read_text())
    assert sorted(now) == sorted(before)
    for table in before:
        assert now[table]["columns"] == before[table]["columns"], table
        assert now[table]["rows"] == before[table]["rows"], table
        assert now[table]["sha256"] == before[table]["sha256"], table
