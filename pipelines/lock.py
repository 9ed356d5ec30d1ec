"""A per-pipeline lock so two runs on the same pipeline never overlap.

An OS advisory lock (flock) on a file beside the pipeline's working directory: the kernel releases it when the
holder exits for any reason, SIGKILL included, so a crashed run never leaves a stale lock behind.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class LockedError(Exception):
    """Another run holds the lock."""


@contextmanager
def pipeline_lock(directory: str | Path, pipeline_name: str) -> Iterator[Path]:
    path = Path(directory) / f"{pipeline_name}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(path, "a+")  # noqa: SIM115 - held for the duration of the context
    try:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            raise LockedError(
                f"another livello-sync run (pid {holder}) is working on pipeline {pipeline_name}; "
                f"wait for it to finish (lock file {path})"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        yield path
    finally:
        handle.close()
