"""Every failure says what to do, with an honest exit code, and never a secret: typos in settings, an
unreachable API or warehouse, a plain-http URL to another host, a transform with PostgreSQL down, a wrong
reconcile window, DuckDB file names that cannot work."""

from __future__ import annotations

import gzip
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.cli import main
from simulator.server import SimulatorServer
from tests.conftest import REPO_ROOT, without_configuration
from tests.sync.conftest import SyncRunner, Warehouse

PASSWORD = "Pg-Secret-4711"


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    capsys.readouterr()
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out + captured.err


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    without_configuration(monkeypatch, tmp_path)
    monkeypatch.setenv("SOURCES__LIVELLO__PIPELINES_DIR", str(tmp_path / "pipelines"))
    monkeypatch.setenv("SOURCES__LIVELLO__PSEUDONYMIZE_USERS", "false")
    return tmp_path


def configure_api(monkeypatch: pytest.MonkeyPatch, sim: SimulatorServer) -> None:
    client_id, client_secret = sim.demo_credentials
    monkeypatch.setenv("SOURCES__LIVELLO__BASE_URL", sim.base_url)
    monkeypatch.setenv("SOURCES__LIVELLO__CLIENT_ID", client_id)
    monkeypatch.setenv("SOURCES__LIVELLO__CLIENT_SECRET", client_secret)


def files_containing(folder: Path, secret: str) -> list[str]:
    """Files under `folder` holding `secret`, dlt's pickled (and gzipped) traces included."""
    found = []
    for path in (p for p in folder.rglob("*") if p.is_file()):
        data = path.read_bytes()
        texts = [data]
        if path.suffix == ".gz":
            texts.append(gzip.decompress(data))
        if path.name.endswith(".pickle"):
            texts.append(repr(pickle.loads(data)).encode())
        if any(secret.encode() in text for text in texts):
            found.append(str(path))
    return found


def test_a_mistyped_postgres_url_never_prints_or_stores_its_password(
    project: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    simulator: SimulatorServer,
) -> None:
    configure_api(monkeypatch, simulator)
    monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS", f"postgresql//postgres:{PASSWORD}@127.0.0.1/db")
    simulator.reset_request_counts()
    code, output = run_cli(capsys, "run", "--destination", "postgres")
    assert code == 2
    assert (
        "is not a PostgreSQL connection string" in output
        and "postgresql//postgres:***@127.0.0.1/db" in output
    )
    assert PASSWORD not in output
    assert simulator.request_count == {}
    assert files_containing(project, PASSWORD) == []


def test_a_full_run_stores_no_secret_anywhere(
    sync: SyncRunner, warehouse: Warehouse, small_sim: SimulatorServer, tmp_path: Path
) -> None:
    env = {"SOURCES__LIVELLO__PSEUDONYMIZATION_KEY": "Pseudo-Key-0815"}
    if warehouse.destination == "postgres":  # trust auth accepts any password: the run works and must hide it
        dsn = warehouse.dsn.replace("postgres@", f"postgres:{PASSWORD}@")
        env["DESTINATION__POSTGRES__CREDENTIALS"] = dsn
    code, output = sync(small_sim, "--resources", "kiosks,users,transactions", env=env)
    assert code == 0, output
    client_secret = small_sim.demo_credentials[1]
    for secret in (PASSWORD, client_secret, "Pseudo-Key-0815"):
        assert secret not in output
        assert files_containing(sync.workdir / "pipelines", secret) == [], secret
        for table in ("sync_runs", "_dlt_loads", "_dlt_pipeline_state"):
            dump = repr(warehouse.query(f"select * from {table}"))
            assert secret not in dump, (secret, table)


def in_network_namespace(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """`livello-sync ARGS` in a network namespace of its own: only a loopback exists, whatever it tries."""
    return subprocess.run(
        ["unshare", "-n", sys.executable, "-m", "pipelines.cli", *args],
        env={**os.environ, **env, "PYTHONPATH": str(REPO_ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_plain_http_to_another_host_is_refused_before_any_connection(project: Path) -> None:
    env = {
        "SOURCES__LIVELLO__BASE_URL": "http://203.0.113.9/api/v1",
        "SOURCES__LIVELLO__CLIENT_ID": "lv_m2m_demo",
        "SOURCES__LIVELLO__CLIENT_SECRET": "sk_must_not_travel",
        "SOURCES__LIVELLO__MAX_ATTEMPTS": "2",
        "DESTINATION__DUCKDB__CREDENTIALS": str(project / "warehouse.duckdb"),
    }
    refused = in_network_namespace(env, "run")
    assert refused.returncode == 2, refused.stderr
    assert "clear text" in refused.stderr and "SOURCES__LIVELLO__ALLOW_INSECURE_HTTP" in refused.stderr
    assert "sk_must_not_travel" not in refused.stdout + refused.stderr
    assert not (project / "warehouse.duckdb").exists()
    # Opted in: the host is tried, cannot be reached (no route in the namespace), and the message says so.
    tried = in_network_namespace({**env, "SOURCES__LIVELLO__ALLOW_INSECURE_HTTP": "true"}, "run")
    assert tried.returncode == 1, tried.stderr
    assert "cannot connect to 203.0.113.9:80" in tried.stderr and "SOURCES__LIVELLO__BASE_URL" in tried.stderr


def test_an_unreachable_api_names_its_host_and_setting(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SOURCES__LIVELLO__BASE_URL", "http://127.0.0.1:9/api/v1")  # nothing listens on 9
    monkeypatch.setenv("SOURCES__LIVELLO__CLIENT_ID", "x")
    monkeypatch.setenv("SOURCES__LIVELLO__CLIENT_SECRET", "y-secret")
    monkeypatch.setenv("SOURCES__LIVELLO__MAX_ATTEMPTS", "1")
    code, output = run_cli(capsys, "run", "--no-transform")
    assert code == 1
    assert "cannot connect to 127.0.0.1:9" in output and "SOURCES__LIVELLO__BASE_URL" in output
    assert "Traceback" not in output and "ConnectionRefusedError:" not in output.split("(")[0]


def test_transform_with_postgres_down_is_one_line_without_the_password(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(
        "DESTINATION__POSTGRES__CREDENTIALS", f"postgresql://postgres:{PASSWORD}@127.0.0.1:9/db"
    )
    code, output = run_cli(capsys, "transform", "--destination", "postgres")
    assert code == 1
    assert "cannot build the marts" in output and "127.0.0.1" in output
    assert PASSWORD not in output and "Traceback" not in output
    assert len([line for line in output.splitlines() if line.strip()]) == 1


def test_reconcile_usage_errors_exit_2_and_create_nothing(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SOURCES__LIVELLO__CLIENT_ID", "x")
    monkeypatch.setenv("SOURCES__LIVELLO__CLIENT_SECRET", "y-secret")
    target = project / "warehouse.duckdb"
    monkeypatch.setenv("DESTINATION__DUCKDB__CREDENTIALS", str(target))
    code, output = run_cli(capsys, "reconcile", "--start", "2026-10-02", "--end", "2026-10-01")
    assert code == 2 and "is after --end" in output
    code, output = run_cli(capsys, "reconcile", "--start", "2026-10-01", "--end", "2026-10-02")
    assert code == 1 and "no warehouse at" in output  # nothing synced yet: nothing to compare
    assert not target.exists() and not (project / "pipelines").exists()


@pytest.mark.parametrize(
    ("file_name", "message"),
    [
        ("Livello.duckdb", "must differ from the dataset name"),  # DuckDB compares names case-insensitively
        ("no/such/folder/warehouse.duckdb", "does not exist"),
    ],
)
def test_duckdb_paths_that_cannot_work_are_refused_before_any_request(
    project: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    simulator: SimulatorServer,
    file_name: str,
    message: str,
) -> None:
    configure_api(monkeypatch, simulator)
    monkeypatch.setenv("DESTINATION__DUCKDB__CREDENTIALS", str(project / file_name))
    simulator.reset_request_counts()
    code, output = run_cli(capsys, "run")
    assert code == 2 and message in output and "DESTINATION__DUCKDB__CREDENTIALS" in output
    assert simulator.request_count == {}
