"""Every subcommand explains itself: a description, an example, and `--version` names what runs."""

from __future__ import annotations

import argparse
import platform
import re
from importlib import metadata

import pytest

from pipelines.cli import SUBCOMMANDS, build_parser, main
from sources.livello.endpoints import RESOURCE_NAMES


def subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def test_every_subcommand_has_a_description_and_an_example() -> None:
    commands = subparsers()
    assert len(commands) == len(SUBCOMMANDS)
    assert {"init", "check", "resources", "run", "status"} <= set(commands)
    for name, parser in commands.items():
        assert parser.description and len(parser.description.split()) >= 15, name
        assert parser.formatter_class is argparse.RawDescriptionHelpFormatter, name
        assert parser.epilog and re.match(r"examples?:\n", parser.epilog), name
        assert f"livello-sync {name}" in parser.epilog, name
        shown = parser.format_help()
        assert parser.description.splitlines()[0] in shown and f"  livello-sync {name}" in shown, name
        for action in parser._actions:
            if action.option_strings and action.help != argparse.SUPPRESS:
                assert action.help, f"{name} {action.option_strings[0]} has no help"


def test_run_resources_help_lists_every_resource(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--help"]) == 0
    shown = " ".join(capsys.readouterr().out.split())
    assert ", ".join(RESOURCE_NAMES) in shown


def test_version_names_the_package_dlt_and_python(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    expected = (
        f"livello-sync {metadata.version('livello-sync')} (dlt {metadata.version('dlt')}, "
        f"Python {platform.python_version()})"
    )
    assert capsys.readouterr().out.strip() == expected
    assert re.fullmatch(r"livello-sync \S+ \(dlt 1\.\d+\.\d+, Python 3\.\d+\.\d+\)", expected)
