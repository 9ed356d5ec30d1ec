"""Fixtures of the command-line tests: an empty project directory as the working directory (no `.dlt/` of
the repository, nothing configured in the environment), and `cli(...)`, which runs `livello-sync` in-process
and returns its exit code and output."""

from __future__ import annotations

import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from simulator.server import SimulatorServer
from tests.conftest import without_configuration


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err


@pytest.fixture(scope="session", autouse=True)
def dlt_logging_outside_capture(tmp_path_factory: pytest.TempPathFactory) -> None:
    """dlt creates its log handler once per process, on whatever sys.stderr is at that moment. Created by a
    pipeline inside a test's capsys, it would write to a closed capture for the rest of the session (and
    break tests that inspect dlt's handler): create it here, outside any test's capture."""
    import dlt

    dlt.pipeline("livello_cli_tests", pipelines_dir=str(tmp_path_factory.mktemp("dlt")), destination="duckdb")


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "project"
    root.mkdir()
    without_configuration(monkeypatch, root, "LIVELLO_SYNC_PROJECT_DIR")
    # dlt's working directories would go to ~/.dlt/pipelines: point them where a test can see them appear.
    monkeypatch.setenv("SOURCES__LIVELLO__PIPELINES_DIR", str(tmp_path / "pipelines"))
    return root


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., Result]:
    from pipelines.cli import main

    def run(*args: str) -> Result:
        capsys.readouterr()
        code = main(list(args))
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


def init_args(sim: SimulatorServer, client: tuple[str, str] | None = None, *extra: str) -> list[str]:
    """`init` for `sim` without prompts; the secret travels in LIVELLO_TEST_SECRET (set by the caller)."""
    client_id = (client or sim.demo_credentials)[0]
    return ["init", "--no-input", "--client-id", client_id, "--client-secret-env", "LIVELLO_TEST_SECRET",
            "--base-url", sim.base_url, *extra]  # fmt: skip


def closed_port() -> int:
    """A port on 127.0.0.1 nobody listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def tree(root: Path) -> dict[str, bytes | None]:
    """Every file under `root` with its bytes (None for folders): what a command must leave as it was."""
    return {
        str(path.relative_to(root)): (path.read_bytes() if path.is_file() else None)
        for path in sorted(root.rglob("*"))
    }
