"""Locks so two runs never write one pipeline or one warehouse at the same time.

An OS advisory lock (flock) on a file beside the pipeline's working directory: the kernel releases it when the
holder exits for any reason, SIGKILL included, so a crashed run never leaves a stale lock behind.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


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


# -- one writer per warehouse --------------------------------------------------------------------------------
@contextmanager
def warehouse_lock(warehouse: Any) -> Iterator[None]:
    """Hold the warehouse's writer lock for a run, or raise LockedError naming who holds it.

    The file lock above is local to one machine; two hosts (or two working directories) syncing one
    PostgreSQL dataset would both proceed and double the API cost. So the run also takes a PostgreSQL
    session-level advisory lock keyed by the dataset, on a connection held open for the whole run: the server
    releases it when that connection ends, the holder killed included. DuckDB serialises writers itself (one
    process may open the file for writing); it is checked here so that a held file is reported before any API
    request, with the holder's PID from DuckDB's message."""
    if warehouse.destination == "duckdb":
        _check_duckdb_writable(warehouse.duckdb_path)
        yield
        return
    import psycopg2

    key = _advisory_key(warehouse.dataset)
    name = f"livello-sync {socket.gethostname()} pid {os.getpid()}"[:63]
    connection = psycopg2.connect(warehouse.postgres_credentials, connect_timeout=10, application_name=name)
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", (key,))
            if not cursor.fetchone()[0]:
                raise LockedError(
                    f"another livello-sync run holds the lock of dataset {warehouse.dataset} in this "
                    f"PostgreSQL database ({_advisory_holder(cursor, key)}); nothing was requested from the "
                    "API. Let it finish, or stop it, then run again."
                )
        yield
    finally:
        connection.close()  # releases the session's advisory lock


def _advisory_key(dataset: str) -> int:
    digest = hashlib.sha256(f"livello-sync/{dataset}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _advisory_holder(cursor: Any, key: int) -> str:
    unsigned = key & 0xFFFFFFFFFFFFFFFF
    cursor.execute(
        "SELECT a.application_name, a.client_addr, a.backend_start FROM pg_locks l "
        "JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted "
        "AND l.classid = %s AND l.objid = %s AND l.objsubid = 1",
        (unsigned >> 32, unsigned & 0xFFFFFFFF),
    )
    row = cursor.fetchone()
    if row is None:
        return "holder unknown"
    application, address, since = row
    who = application or "an unnamed session"
    return f"held by {who} from {address or 'a local socket'} since {since:%Y-%m-%d %H:%M:%S %Z}"


def _check_duckdb_writable(path: str | None) -> None:
    if not path or not Path(path).exists():
        return
    import duckdb

    try:
        duckdb.connect(path).close()
    except duckdb.Error as error:
        detail = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise LockedError(
            f"the DuckDB file {path} cannot be opened for writing ({detail}); another process (a BI tool, a "
            "notebook, the duckdb shell or another run) holds it: close it, then run again. Nothing was "
            "requested from the API."
        ) from None
