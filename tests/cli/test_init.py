"""`livello-sync init` writes configuration the rest of the project (and dlt itself) reads, keeps secrets
private, never overwrites without --force, keeps the pseudonymization key, and asks on a terminal only."""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from pipelines import init
from pipelines.settings import load_settings, use_project
from tests.cli.conftest import Result, tree

SECRET = "sk_live_not_a_real_secret"
BASE_URL = "http://127.0.0.1:8765/api/v1"


def flags(*extra: str) -> list[str]:
    return ["init", "--no-input", "--client-id", "lv_m2m_acme", "--client-secret-env", "LIVELLO_TEST_SECRET",
            "--base-url", BASE_URL, *extra]  # fmt: skip


@pytest.fixture(autouse=True)
def secret_in_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIVELLO_TEST_SECRET", SECRET)


def key_of(project: Path) -> str:
    import tomlkit

    document = tomlkit.parse((project / ".dlt" / "secrets.toml").read_text(encoding="utf-8"))
    return str(document["sources"]["livello"]["pseudonymization_key"])


def test_non_interactive_init_writes_files_load_settings_and_dlt_read(
    project: Path, cli: Callable[..., Result]
) -> None:
    result = cli(*flags())
    assert result.code == 0, result.text
    secrets_file, config_file = project / ".dlt" / "secrets.toml", project / ".dlt" / "config.toml"
    assert stat.S_IMODE(secrets_file.stat().st_mode) == 0o600
    assert stat.S_IMODE((project / ".dlt").stat().st_mode) == 0o700
    assert SECRET not in result.text and key_of(project) not in result.text
    assert str(secrets_file) in result.out and str(config_file) in result.out
    assert "Keep a copy" in result.out and "new pseudonyms" in result.out  # where the key is, and why
    assert result.out.rstrip().endswith("Next: livello-sync check")

    use_project(project)
    settings = load_settings()  # the files as every command reads them (nothing else is configured)
    assert settings.client.client_id == "lv_m2m_acme" and settings.client.client_secret == SECRET
    assert settings.client.base_url == BASE_URL
    assert settings.source.pseudonymization_key == key_of(project) and len(key_of(project)) >= 43
    assert settings.warehouse.duckdb_path == str(project / "livello_sync.duckdb")
    import dlt

    assert dlt.secrets["sources.livello.client_secret"] == SECRET
    assert dlt.config["sources.livello.base_url"] == BASE_URL
    assert dlt.config["destination.duckdb.credentials"] == str(project / "livello_sync.duckdb")


def test_existing_files_are_kept_without_force_and_updated_in_place_with_it(
    project: Path, cli: Callable[..., Result]
) -> None:
    assert cli(*flags()).code == 0
    key = key_of(project)
    config_file = project / ".dlt" / "config.toml"
    config_file.write_text(
        config_file.read_text(encoding="utf-8").replace(
            "[sources.livello]", "[sources.livello]\n# our own note\nbudget_share = 0.5"
        ),
        encoding="utf-8",
    )
    before = tree(project)

    refused = cli(*flags("--client-id", "lv_m2m_other"))
    assert refused.code == 2 and "secrets.toml already exists" in refused.err and "--force" in refused.err
    assert tree(project) == before

    other_url = "http://127.0.0.1:9999/api/v1"
    forced = cli(*flags("--client-id", "lv_m2m_other", "--base-url", other_url, "--force"))
    assert forced.code == 0, forced.text
    assert key_of(project) == key and "Pseudonymization key (kept)" in forced.out
    config = config_file.read_text(encoding="utf-8")
    assert "# our own note\nbudget_share = 0.5" in config and f'base_url = "{other_url}"' in config
    use_project(project)
    settings = load_settings()
    assert settings.client.client_id == "lv_m2m_other" and settings.client.budget_share == 0.5

    assert cli(*flags("--new-key")).code == 2  # --new-key only with --force
    renewed = cli(*flags("--base-url", other_url, "--force", "--new-key"))
    assert renewed.code == 0 and key_of(project) != key and "replaced by a new one" in renewed.out


def test_an_existing_config_with_the_same_base_url_is_left_alone(
    project: Path, cli: Callable[..., Result]
) -> None:
    repository_config = Path(__file__).resolve().parents[2] / ".dlt" / "config.toml"
    (project / ".dlt").mkdir()
    (project / ".dlt" / "config.toml").write_bytes(repository_config.read_bytes())
    result = cli(*flags("--base-url", "https://my.livello.com/api/v1"))
    assert result.code == 0, result.text
    assert (project / ".dlt" / "config.toml").read_bytes() == repository_config.read_bytes()
    assert "Kept" in result.out


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["init", "--no-input", "--client-secret-env", "LIVELLO_TEST_SECRET"], "--client-id"),
        (["init", "--no-input", "--client-id", "x"], "--client-secret-env"),
        (["init", "--no-input", "--client-id", "x", "--client-secret-env", "UNSET_VARIABLE"], "UNSET_VAR"),
        ([*flags("--destination", "postgres")], "--postgres-dsn"),
        ([*flags("--duckdb-path", "livello.duckdb")], "--duckdb-path"),
        ([*flags("--base-url", "http://api.example.com/api/v1")], "--base-url"),
        ([*flags("--postgres-dsn", "postgres://u:pw@/")], "--postgres-dsn"),
    ],
)
def test_a_missing_or_wrong_value_exits_2_naming_the_flag_and_writes_nothing(
    project: Path, cli: Callable[..., Result], args: list[str], named: str
) -> None:
    result = cli(*args)
    assert result.code == 2 and named in result.err, result.err
    assert len(result.err.strip().splitlines()) == 1 and "Traceback" not in result.text
    assert not (project / ".dlt").exists()
    assert "pw" not in result.text


def test_postgres_credentials_are_written_and_never_printed(
    project: Path, cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch
) -> None:
    dsn = "postgresql://loader:pa55word@127.0.0.1:5432/warehouse"
    monkeypatch.setenv("WAREHOUSE_DSN", dsn)
    result = cli(*flags("--postgres-dsn-env", "WAREHOUSE_DSN", "--dataset", "acme"))
    assert result.code == 0, result.text
    assert "pa55word" not in result.text and "postgresql://loader:***@127.0.0.1:5432/warehouse" in result.out
    assert "Next: livello-sync check --destination postgres --dataset acme" in result.out
    use_project(project)
    settings = load_settings(destination="postgres", dataset="acme")
    assert settings.warehouse.postgres_credentials == dsn


def test_the_secret_can_come_from_stdin(
    project: Path, cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    monkeypatch.setattr(sys, "stdin", io.StringIO("sk_from_stdin\n"))
    result = cli("init", "--client-id", "lv_m2m_acme", "--client-secret-stdin", "--base-url", BASE_URL)
    assert result.code == 0, result.text
    use_project(project)
    assert load_settings().client.client_secret == "sk_from_stdin"


def test_prompts_ask_for_what_is_missing_and_the_secret_without_echo(
    project: Path, cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[tuple[str, str]] = []
    answers = {"client id": "lv_m2m_typed", "Warehouse": "", "DuckDB file": "data/warehouse.duckdb"}

    def answer(kind: str) -> Callable[[str], str]:
        def reply(question: str) -> str:
            asked.append((kind, question))
            if kind == "getpass":
                return "sk_typed"
            return next(value for text, value in answers.items() if text in question)

        return reply

    (project / "data").mkdir()
    monkeypatch.setattr(init, "stdin_is_terminal", lambda: True)
    monkeypatch.setattr("builtins.input", answer("input"))
    monkeypatch.setattr("getpass.getpass", answer("getpass"))
    result = cli("init", "--base-url", BASE_URL)
    assert result.code == 0, result.text
    assert [kind for kind, _ in asked] == ["input", "getpass", "input", "input"]
    assert "secret" in asked[1][1] and "[duckdb]" in asked[2][1]
    use_project(project)
    settings = load_settings()
    assert (settings.client.client_id, settings.client.client_secret) == ("lv_m2m_typed", "sk_typed")
    assert settings.warehouse.duckdb_path == str(project / "data" / "warehouse.duckdb")


def test_init_on_a_real_terminal(project: Path) -> None:
    """Through a pseudo-terminal, as a person types it: prompts appear, the secret is not echoed."""
    import pty
    import select
    import time

    pid, fd = pty.fork()
    if pid == 0:  # the child: livello-sync init with the pty as its controlling terminal
        try:
            os.execv(sys.executable, [sys.executable, "-m", "pipelines.cli", "init", "--base-url", BASE_URL])
        finally:
            os._exit(127)
    replies = iter([b"lv_m2m_tty\r", b"sk_tty_secret\r", b"\r", b"\r"])
    seen = b""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 1)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        seen += chunk
        if seen.rstrip().endswith(b":") or seen.rstrip().endswith(b"]:"):
            os.write(fd, next(replies, b"\r"))
    _, status = os.waitpid(pid, 0)
    text = seen.decode(errors="replace")
    assert os.waitstatus_to_exitcode(status) == 0, text
    assert "Livello client id" in text and "client secret (not shown)" in text
    assert "sk_tty_secret" not in text  # getpass: no echo
    assert "lv_m2m_tty" in text  # the id is echoed as typed
    use_project(project)
    assert load_settings().client.client_secret == "sk_tty_secret"


def test_the_project_dir_comes_from_the_option_or_the_environment(
    project: Path, cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert cli(*flags("--project-dir", str(project / "srv"))).code == 0
    assert (project / "srv" / ".dlt" / "secrets.toml").exists() and not (project / ".dlt").exists()
    monkeypatch.setenv("LIVELLO_SYNC_PROJECT_DIR", str(project / "other"))
    result = cli(*flags())
    assert result.code == 0 and (project / "other" / ".dlt" / "secrets.toml").exists()
    assert f"Next: cd {project / 'other'} && livello-sync check" in result.out
    use_project(project / "other")
    assert load_settings().warehouse.duckdb_path == str(project / "other" / "livello_sync.duckdb")
