"""The schedules of deploy/: systemd units that `systemd-analyze verify` accepts without a single warning,
hardened, with the settings the README promises; a crontab that cron can read; an alert hook that works.

The units name /opt/livello-sync/bin/livello-sync and /usr/local/bin/livello-sync-alert; verify insists that
an ExecStart binary exists, so the tests verify copies pointing at this checkout's `livello-sync` and alert
script (nothing is installed on the machine)."""

from __future__ import annotations

import configparser
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
DEPLOY = REPO_ROOT / "deploy"
INSTALLED_CLI = "/opt/livello-sync/bin/livello-sync"
INSTALLED_ALERT = "/usr/local/bin/livello-sync-alert"
UNIT_FILES = sorted(p.name for p in [*DEPLOY.glob("*.service"), *DEPLOY.glob("*.timer")])
SYSTEMD_ANALYZE = shutil.which("systemd-analyze")
needs_systemd_analyze = pytest.mark.skipif(SYSTEMD_ANALYZE is None, reason="systemd-analyze not installed")


def local_cli() -> str:
    """This checkout's `livello-sync` (the venv running the tests), standing in for the installed one."""
    beside = Path(sys.executable).with_name("livello-sync")
    found = str(beside) if beside.exists() else shutil.which("livello-sync")
    if not found:
        pytest.fail("no livello-sync executable beside the test interpreter: install the project (make test)")
    return found


@pytest.fixture
def units(tmp_path: Path) -> Path:
    """The unit files with their binaries pointing into this checkout, in a directory of their own."""
    directory = tmp_path / "units"
    directory.mkdir()
    for name in UNIT_FILES:
        text = (DEPLOY / name).read_text(encoding="utf-8")
        text = text.replace(INSTALLED_CLI, local_cli())
        text = text.replace(INSTALLED_ALERT, str(DEPLOY / "livello-sync-alert"))
        (directory / name).write_text(text, encoding="utf-8")
    return directory


def analyze(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    assert SYSTEMD_ANALYZE is not None
    return subprocess.run(
        [SYSTEMD_ANALYZE, *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )


def unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # systemd keys are case-sensitive
    parser.read(DEPLOY / name, encoding="utf-8")
    return parser


@needs_systemd_analyze
def test_units_pass_systemd_analyze_verify_without_a_warning(units: Path) -> None:
    # verify exits 0 on unknown keys and misplaced settings, printing a warning: any output is a failure.
    # The alert template is verified through the instance OnFailure= starts.
    instance = "livello-sync-alert@livello-sync.service.service"
    result = analyze("verify", "--man=no", *UNIT_FILES, instance, cwd=units)
    output = result.stdout + result.stderr
    assert result.returncode == 0 and not output.strip(), output


@needs_systemd_analyze
def test_verify_catches_what_it_should(units: Path) -> None:
    """The check above is meaningful: a missing binary and a misspelt key are both reported."""
    broken = units / "livello-sync.service"
    broken.write_text(
        broken.read_text().replace(local_cli(), "/nonexistent/livello-sync") + "TimeoutStarSec=1\n"
    )
    result = analyze("verify", "--man=no", "livello-sync.service", cwd=units)
    output = result.stdout + result.stderr
    assert "/nonexistent/livello-sync" in output and "TimeoutStarSec" in output, output


@needs_systemd_analyze
def test_services_are_hardened_and_timers_parse(units: Path) -> None:
    for service in ("livello-sync.service", "livello-sync-freshness.service"):
        # systemd's exposure score, 0 (locked down) to 10 (unprotected); 1.9 as shipped, "OK" up to 2.9.
        result = analyze("security", "--offline=yes", "--threshold=25", service, cwd=units)
        assert result.returncode == 0, result.stdout[-600:] + result.stderr
    for timer in ("livello-sync.timer", "livello-sync-freshness.timer"):
        calendar = unit(timer)["Timer"]["OnCalendar"]
        result = analyze("calendar", calendar, cwd=units)
        assert result.returncode == 0, result.stderr


def test_the_service_runs_the_cli_as_the_readme_says() -> None:
    service = unit("livello-sync.service")
    assert service["Unit"]["OnFailure"] == "livello-sync-alert@%n.service"
    assert (DEPLOY / "livello-sync-alert@.service").exists()
    run = service["Service"]
    assert run["Type"] == "oneshot"
    assert run["User"] not in ("", "root")
    command = shlex.split(run["ExecStart"])
    assert command[:4] == [INSTALLED_CLI, "--project-dir", "/srv/livello", "run"]
    # The run stops itself cleanly (--max-duration) before systemd's timeout would interrupt it.
    assert command[command.index("--max-duration") + 1] == "3h30m"
    assert run["TimeoutStartSec"] == "4h"
    assert run["EnvironmentFile"] == "/etc/livello-sync/livello-sync.env"
    assert run["ProtectSystem"] == "strict"
    # Writable: the project dir (DuckDB file) and the state dir (the user's home: dlt's pipelines dir).
    assert run["ReadWritePaths"].split() == ["/srv/livello"]
    assert run["StateDirectory"] == "livello-sync"
    assert run["ProtectHome"] == "yes"

    timer = unit("livello-sync.timer")["Timer"]
    assert timer["OnCalendar"] == "*-*-* 02:30"
    assert timer["Persistent"] == "true"
    assert timer["RandomizedDelaySec"]
    assert timer["Unit"] == "livello-sync.service"
    assert unit("livello-sync.timer")["Install"]["WantedBy"] == "timers.target"

    freshness = unit("livello-sync-freshness.service")
    assert freshness["Unit"]["OnFailure"] == "livello-sync-alert@%n.service"
    check = shlex.split(freshness["Service"]["ExecStart"])
    assert check[1:] == ["--project-dir", "/srv/livello", "status", "--max-age", "26h"]
    assert unit("livello-sync-freshness.timer")["Timer"]["Persistent"] == "true"

    env_example = (DEPLOY / "livello-sync.env.example").read_text()
    assert "0600" in env_example and "SOURCES__LIVELLO__CLIENT_SECRET=\n" in env_example


def crontab_entries() -> tuple[dict[str, str], list[tuple[str, str, str]]]:
    """(variables, [(schedule, user, command)]) of deploy/livello-sync.cron in /etc/cron.d format."""
    variables: dict[str, str] = {}
    entries = []
    for line in (DEPLOY / "livello-sync.cron").read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        variable = re.fullmatch(r"([A-Z_]+)=(.*)", line)
        if variable:
            variables[variable[1]] = variable[2]
            continue
        fields = line.split(None, 6)
        entries.append((" ".join(fields[:5]), fields[5], fields[6]))
    return variables, entries


def test_crontab_line_runs_nightly_without_flock_and_mails_only_failures(tmp_path: Path) -> None:
    from croniter import croniter  # a dependency of dlt

    variables, entries = crontab_entries()
    assert variables.get("MAILTO")
    assert [schedule for schedule, _, _ in entries] == ["30 2 * * *", "0 8 * * *"]
    for schedule, user, command in entries:
        assert croniter.is_valid(schedule)
        assert user == "livello-sync"
        assert "%" not in command  # cron turns % into a newline
        assert "flock" not in command  # livello-sync locks its pipeline itself
        assert f"{INSTALLED_CLI} --project-dir /srv/livello " in command
        assert ">>/var/log/livello-sync/livello-sync.log 2>&1 ||" in command
        subprocess.run(["sh", "-n", "-c", command], check=True)  # valid /bin/sh
    # Silent on success, one line (mailed by cron) on failure, with the exit code.
    _, _, run_command = entries[0]
    log = tmp_path / "run.log"
    for exit_code, expected in ((0, ""), (1, "exit 1"), (2, "exit 2")):
        fake = run_command.replace(INSTALLED_CLI, f"sh -c 'echo run output; exit {exit_code}' --")
        fake = fake.replace("/var/log/livello-sync/livello-sync.log", str(log))
        printed = subprocess.run(["sh", "-c", fake], capture_output=True, text=True, check=True).stdout
        assert (expected in printed) if expected else printed == ""
    assert log.read_text().count("run output") == 3


def test_alert_hook_sends_the_failed_runs_journal(tmp_path: Path) -> None:
    """livello-sync-alert with stand-ins for systemctl, journalctl and logger (no mail command on PATH)."""
    script = DEPLOY / "livello-sync-alert"
    assert os.access(script, os.X_OK)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    sent = tmp_path / "sent"
    stubs = {
        "systemctl": 'case "$*" in *InvocationID*) echo 0123abcd;; *) echo "x $* - failed";; esac',
        "journalctl": 'echo "journal $*"; echo "run failed: API budget exhausted"',
        "logger": f'echo "logger $*" > {sent}; cat >> {sent}',
    }
    for name, body in stubs.items():
        (bin_dir / name).write_text(f"#!/bin/sh\n{body}\n")
        (bin_dir / name).chmod(0o755)
    for tool in ("hostname", "tail", "cat"):
        real = shutil.which(tool)
        assert real, tool
        (bin_dir / tool).symlink_to(real)
    subprocess.run(
        ["/bin/sh", str(script), "livello-sync.service"],
        env={"PATH": str(bin_dir)},
        check=True,
        timeout=30,
    )
    message = sent.read_text()
    assert "--priority user.err" in message
    assert "_SYSTEMD_INVOCATION_ID=0123abcd" in message  # only the failed run's lines
    assert "run failed: API budget exhausted" in message
    assert "status --no-pager --lines=0 livello-sync.service" in message
