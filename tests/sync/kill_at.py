"""Run `livello-sync` and SIGKILL it at one of dlt's stage boundaries (for the crash-matrix test).

`python -m tests.sync.kill_at BOUNDARY N -- ARGS...` wraps the function that marks BOUNDARY so the process
kills itself (SIGKILL: no clean-up, no finally) the Nth time it gets there, then runs the CLI with ARGS. The
wrappers observe dlt's and the project's own steps; they change nothing of what those steps do."""

from __future__ import annotations

import functools
import os
import signal
import sys
from collections.abc import Callable
from typing import Any


def _kill() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _wrap(owner: Any, name: str, *, after: bool, at: int, when: Callable[..., bool] | None = None) -> None:
    original = getattr(owner, name)
    seen = 0

    @functools.wraps(original)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        nonlocal seen
        counts = when is None or when(*args, **kwargs)
        if counts and not after:
            seen += 1
            if seen == at:
                _kill()
        result = original(*args, **kwargs)
        if counts and after:
            seen += 1
            if seen == at:
                _kill()
        return result

    setattr(owner, name, wrapper)


def install(boundary: str, at: int) -> None:
    from dlt.common.storages.load_package import PackageStorage
    from dlt.common.storages.load_storage import LoadStorage
    from dlt.load.load import Load
    from dlt.normalize.normalize import Normalize
    from dlt.pipeline.pipeline import Pipeline

    from sources.livello.client import LivelloClient
    from transforms import runner

    boundaries: dict[str, Callable[[], None]] = {
        # an API request of the extract step, rows of the load already yielded
        "during-extract": lambda: _wrap(
            LivelloClient, "get", after=True, at=at, when=lambda self, path, *a, **k: path == "/transactions"
        ),
        "extract-to-normalize": lambda: _wrap(Pipeline, "extract", after=True, at=at),
        # the package copied to load/new, its files not yet written
        "during-normalize": lambda: _wrap(Normalize, "spool_files", after=False, at=at),
        # load/new renamed to load/normalized, normalize/extracted not yet deleted (the hand-over)
        "normalize-to-load": lambda: _wrap(LoadStorage, "commit_new_load_package", after=True, at=at),
        # one job of the package loaded, the others not
        "during-load": lambda: _wrap(PackageStorage, "complete_job", after=True, at=at),
        # the root table's job of a merge loaded, its child tables' and the state's not yet
        "during-load-root": lambda: _wrap(
            PackageStorage,
            "complete_job",
            after=True,
            at=at,
            when=lambda self, load_id, file_name: file_name.startswith("transactions."),
        ),
        # every job loaded, the package (and the state it carries) not yet marked complete
        "after-load-before-state": lambda: _wrap(Load, "complete_package", after=False, at=at),
        # the marts half rebuilt inside their transaction
        "during-mart-build": lambda: _wrap(runner, "_build_model", after=True, at=at),
    }
    boundaries[boundary]()


def main() -> None:
    boundary, at, separator, *args = sys.argv[1:]
    assert separator == "--", "usage: kill_at BOUNDARY N -- ARGS..."
    install(boundary, int(at))
    from pipelines.cli import main as cli

    sys.exit(cli(args))


BOUNDARIES = (
    "during-extract",
    "extract-to-normalize",
    "during-normalize",
    "normalize-to-load",
    "during-load",
    "during-load-root",
    "after-load-before-state",
    "during-mart-build",
)

if __name__ == "__main__":
    main()
