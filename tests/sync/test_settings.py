"""Bad configuration exits 2 with one line naming the setting both ways and what is allowed; never a
traceback, never a request. Covers wrong types, out-of-range values, unknown names and unreadable TOML."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.cli import main
from simulator.server import SimulatorServer
from tests.conftest import without_configuration


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty project folder (no .dlt of the repository) as the working directory, nothing configured."""
    without_configuration(monkeypatch, tmp_path)
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
    ("setting", "value", "allowed"),
    [
        ("budget_share", "abc", "a number"),
        ("budget_share", "3", "at most 1"),
        ("backfill_window_rows", "ten", "whole number"),
        ("backfill_window_rows", "0", "at least 1"),
        ("max_attempts", "0", "at least 1"),
        ("lookback", "soon", "48h"),
        ("temperature_granularity", "weekly", "minutely"),
        ("verify_lookback", "maybe", "true or false"),
        ("promocodes", "12,abc", "5-digit"),
        ("base_url", "ftp://example", "http(s) URL"),
    ],
)
def test_a_wrong_value_exits_2_naming_the_setting_both_ways(
    project: Path,
    simulator: SimulatorServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    setting: str,
    value: str,
    allowed: str,
) -> None:
    variable, key = f"SOURCES__LIVELLO__{setting.upper()}", f"sources.livello.{setting}"
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
