"""Bad configuration exits 2 with one line naming the setting both ways and what is allowed; never a
traceback, never a request. Covers wrong types, out-of-range values, unknown names and unreadable TOML."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pipelines.cli import main
from simulator.server import SimulatorServer


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty project folder (no .dlt of the repository) as the working directory, nothing configured."""
    monkeypatch.chdir(tmp_path)
    for key in list(os.environ):
        if key.startswith(("SOURCES__", "DESTINATION__")):
            monkeypatch.delenv(key)
    (tmp_path / ".dlt").mkdir()
    return tmp_path


def configure(monkeypatch: pytest.MonkeyPatch, project: Path, sim: SimulatorServer) -> None:
    client_id, client_secret = sim.demo_credentials
    for key, value in {
        "SOURCES__LIVELLO__BASE_URL": sim.base_url,
        "SOURCES__LIVELLO__CLIENT_ID": client_id,
        "SOURCES__LIVELLO__CLIENT_SECRET": client_secret,
        "SOURCES__LIVELLO__PSEUDONYMIZE_USERS": "false",
        "SOURCES__LIVELLO__PIPELINES_DIR": str(project / "pipelines"),
        "DESTINATION__DUCKDB__CREDENTIALS": str(project / "warehouse.duckdb"),
    }.items():
        monkeypatch.setenv(key, value)


def one_line_error(capsys: pytest.CaptureFixture[str], *expected: str) -> str:
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert len(lines) == 1, captured.err
    assert "Traceback" not in captured.err + captured.out
    for text in expected:
        assert text in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize(
    ("variable", "value", "key", "allowed"),
    [
        ("SOURCES__LIVELLO__BUDGET_SHARE", "abc", "sources.livello.budget_share", "a number"),
        ("SOURCES__LIVELLO__BUDGET_SHARE", "3", "sources.livello.budget_share", "at most 1"),
        (
            "SOURCES__LIVELLO__BACKFILL_WINDOW_ROWS",
            "ten",
            "sources.livello.backfill_window_rows",
            "whole number",
        ),
        ("SOURCES__LIVELLO__BACKFILL_WINDOW_ROWS", "0", "sources.livello.backfill_window_rows", "at least 1"),
        ("SOURCES__LIVELLO__MAX_ATTEMPTS", "0", "sources.livello.max_attempts", "at least 1"),
        ("SOURCES__LIVELLO__LOOKBACK", "soon", "sources.livello.lookback", "48h"),
        (
            "SOURCES__LIVELLO__TEMPERATURE_GRANULARITY",
            "weekly",
            "sources.livello.temperature_granularity",
            "minutely",
        ),
        ("SOURCES__LIVELLO__VERIFY_LOOKBACK", "maybe", "sources.livello.verify_lookback", "true or false"),
        ("SOURCES__LIVELLO__PROMOCODES", "12,abc", "sources.livello.promocodes", "5-digit"),
        ("SOURCES__LIVELLO__BASE_URL", "ftp://example", "sources.livello.base_url", "http(s) URL"),
    ],
)
def test_a_wrong_value_exits_2_naming_the_setting_both_ways(
    project: Path,
    simulator: SimulatorServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    variable: str,
    value: str,
    key: str,
    allowed: str,
) -> None:
    configure(monkeypatch, project, simulator)
    monkeypatch.setenv(variable, value)
    simulator.reset_request_counts()
    assert main(["run", "--no-transform"]) == 2
    one_line_error(capsys, variable, key, allowed)
    assert simulator.request_count == {}  # nothing was asked of the API
    assert not (project / "warehouse.duckdb").exists()


def test_an_unknown_setting_is_refused_with_the_nearest_known_name(
    project: Path,
    simulator: SimulatorServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure(monkeypatch, project, simulator)
    monkeypatch.setenv("SOURCES__LIVELLO__BUDGET_SHAER", "0.5")
    assert main(["run", "--no-transform"]) == 2
    one_line_error(capsys, "SOURCES__LIVELLO__BUDGET_SHAER", "SOURCES__LIVELLO__BUDGET_SHARE")
    monkeypatch.delenv("SOURCES__LIVELLO__BUDGET_SHAER")
    (project / ".dlt" / "config.toml").write_text('[sources.livello]\nlook_back = "24h"\n', encoding="utf-8")
    assert main(["status"]) == 2  # opening the warehouse reads the same settings
    one_line_error(capsys, "sources.livello.look_back", "sources.livello.lookback")


@pytest.mark.parametrize("file_name", ["config.toml", "secrets.toml"])
def test_an_unreadable_toml_file_exits_2_naming_the_file(
    project: Path,
    simulator: SimulatorServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    file_name: str,
) -> None:
    configure(monkeypatch, project, simulator)
    (project / ".dlt" / file_name).write_text(
        '[sources.livello]\nbase_url = "unterminated\n', encoding="utf-8"
    )
    for command in (["run", "--no-transform"], ["status"], ["transform"]):
        assert main(command) == 2, command
        one_line_error(capsys, file_name, "line 2")


def test_missing_credentials_name_both_settings(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", "--no-transform"]) == 2
    one_line_error(
        capsys,
        "SOURCES__LIVELLO__CLIENT_ID (sources.livello.client_id)",
        "SOURCES__LIVELLO__CLIENT_SECRET (sources.livello.client_secret)",
    )


def test_toml_settings_are_typed_and_the_command_line_wins(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipelines.settings import load_settings, use_project

    (project / ".dlt" / "config.toml").write_text(
        '[sources.livello]\nbudget_share = 0.5\nlookback = "12h"\npromocodes = ["12345", 23456]\n'
        "backfill_window_rows = 500\nverify_lookback = false\n",
        encoding="utf-8",
    )
    (project / ".dlt" / "secrets.toml").write_text(
        '[sources.livello]\nclient_id = "id"\nclient_secret = "secret"\n', encoding="utf-8"
    )
    use_project(project)
    settings = load_settings(resources="kiosks", lookback="6h")
    assert settings.client.budget_share == 0.5 and settings.client.client_secret == "secret"
    assert settings.source.lookback_period.total_seconds() == 6 * 3600  # --lookback over the TOML's 12h
    assert settings.source.promocode_list == ("12345", "23456")
    assert settings.pipeline.backfill_window_rows == 500 and settings.pipeline.verify_lookback is False
    assert "secret" not in repr(settings)
