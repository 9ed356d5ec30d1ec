"""Self-healing of the pipeline's working directory after a crash.

dlt keeps a run's packages on disk while they move through extract -> normalize -> load. Killed at the wrong
instant, dlt 1.31.0 leaves states its next run cannot finish, and every later run fails the same way until
someone deletes the directory by hand:

* normalize commits a package by renaming `load/new/<id>` to `load/normalized/<id>` and only then deletes
  `normalize/extracted/<id>`. Killed in between, both copies exist; the next normalize re-creates
  `load/new/<id>` and its rename fails with "Directory not empty", or, when the deletion had begun, listing
  the half-deleted package's `new_jobs` fails with FileNotFoundError. The normalized copy is complete (the
  rename is atomic), so the leftover extracted copy is removed and the normalized one is loaded as usual.
* a package missing its schema or job folders (deleted or written half) can never be finished. Such packages
  are aborted with dlt's own `abort_packages`, which also rewinds the local state to before them: their
  windows were never committed to the warehouse, so the next load reads them again.

Nothing that could still be finished is touched: a package whose load failed because the warehouse was down
stays pending and is loaded by the next run."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from dlt.common.storages.load_package import PackageStorage
from dlt.common.storages.load_storage import LoadStorage
from dlt.common.storages.normalize_storage import NormalizeStorage

_EXTRACTED = Path("normalize") / NormalizeStorage.EXTRACTED_FOLDER
_NEW = Path("load") / LoadStorage.NEW_PACKAGES_FOLDER
_NORMALIZED = Path("load") / LoadStorage.NORMALIZED_FOLDER
_LOADED = Path("load") / LoadStorage.LOADED_FOLDER
_EXTRACTED_PARTS = (PackageStorage.SCHEMA_FILE_NAME, PackageStorage.NEW_JOBS_FOLDER)
_NORMALIZED_PARTS = (
    PackageStorage.SCHEMA_FILE_NAME,
    PackageStorage.NEW_JOBS_FOLDER,
    PackageStorage.STARTED_JOBS_FOLDER,
    PackageStorage.COMPLETED_JOBS_FOLDER,
)


def _packages(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir() if p.is_dir()} if folder.is_dir() else set()


def _complete(package: Path, parts: tuple[str, ...]) -> bool:
    return all((package / part).exists() for part in parts)


def heal(pipeline: Any) -> tuple[Any, list[str]]:
    """Repair or discard what a crash left that dlt cannot finish: the pipeline to go on with (a fresh one if
    its working directory had to be wiped) and one line per action taken."""
    root = Path(pipeline.working_dir)
    extracted, new = _packages(root / _EXTRACTED), _packages(root / _NEW)
    normalized, loaded = _packages(root / _NORMALIZED), _packages(root / _LOADED)
    actions: list[str] = []
    for load_id in sorted(extracted & (normalized | loaded)):
        shutil.rmtree(root / _EXTRACTED / load_id)
        shutil.rmtree(root / _NEW / load_id, ignore_errors=True)  # a retry's half-normalized copy
        extracted.discard(load_id)
        new.discard(load_id)
        actions.append(
            f"Package {load_id} was normalized when a crash interrupted its clean-up: removed the leftover "
            "extracted copy; the normalized package is loaded as usual."
        )
    for load_id in sorted(new - extracted):
        shutil.rmtree(root / _NEW / load_id)  # half-normalized, and nothing left to normalize it from
        actions.append(f"Package {load_id} was half-normalized by a crashed run: removed it.")
    broken = sorted(
        [i for i in extracted - normalized - loaded if not _complete(root / _EXTRACTED / i, _EXTRACTED_PARTS)]
        + [i for i in normalized if not _complete(root / _NORMALIZED / i, _NORMALIZED_PARTS)]
    )
    if broken:
        pipeline, action = abort_pending(pipeline, f"package(s) {', '.join(broken)} cannot be finished")
        actions.append(action)
    return pipeline, actions


def abort_pending(pipeline: Any, reason: str) -> tuple[Any, str]:
    """Abort every pending package with dlt, rewinding the local state to before them. Should dlt fail at
    that too, the local working directory is wiped instead: the warehouse holds every committed window with
    its state, which the next `sync_destination` restores."""
    try:
        pipeline.abort_packages()
    except Exception as error:  # noqa: BLE001 - whatever is broken, the warehouse stays the truth
        return pipeline.drop(), (
            f"Wiped the local working directory {pipeline.working_dir} ({reason}; aborting them failed: "
            f"{type(error).__name__}); the state is restored from the warehouse and uncommitted windows "
            "are read again."
        )
    return pipeline, (
        f"Discarded the pending packages left by a crashed run ({reason}); the local state was rewound, so "
        "the windows they held are read again."
    )


def warehouse_unavailable(error: BaseException) -> bool:
    """Whether a failure means the warehouse cannot be reached or written now (down, locked, out of space),
    rather than that the packages themselves cannot be finished: those must be kept for the next run."""
    import errno

    from dlt.destinations.exceptions import DestinationConnectionError

    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        name = type(current).__name__
        if isinstance(current, DestinationConnectionError) or name in ("OperationalError", "IOException"):
            return True  # psycopg2 / DuckDB: connection refused, server gone, file locked
        if isinstance(current, OSError) and current.errno in (errno.ENOSPC, errno.EACCES, errno.EROFS):
            return True
        current = getattr(current, "exception", None) or current.__cause__ or current.__context__
    return False


def remove_repeated_rows(pipeline: Any) -> dict[str, int]:
    """Rows loaded twice while dlt finished a crashed run's package; table -> rows removed.

    dlt 1.31.0 runs a job again when a kill left it in `started_jobs` after the warehouse had already taken
    its rows (a package's first load appends, so nothing merges the second copy away on DuckDB; PostgreSQL
    refuses it with a duplicate `_dlt_id`). dlt gives every extracted row its own `_dlt_id`, in the root and
    the child tables alike, so a repeated `_dlt_id` is always the same row twice: one copy is removed."""
    removed: dict[str, int] = {}
    if not pipeline.default_schema_name:  # dlt dropped the packages of a pipeline that never loaded anything
        return removed
    dialect = "duckdb" if str(pipeline.destination.destination_name).endswith("duckdb") else "postgres"
    row = "rowid" if dialect == "duckdb" else "ctid"
    schema = pipeline.default_schema
    with pipeline.sql_client() as client:
        for table in schema.data_table_names():
            if "_dlt_id" not in schema.tables[table].get("columns", {}):
                continue
            name = client.make_qualified_table_name(table)
            numbered = (
                f"SELECT {row}, row_number() OVER (PARTITION BY _dlt_id ORDER BY {row}) AS n FROM {name}"
            )
            repeated = f"SELECT {row} AS r FROM ({numbered}) AS numbered WHERE n > 1"
            count = int(client.execute_sql(f"SELECT count(*) FROM ({repeated}) AS extra")[0][0])
            if count:
                client.execute_sql(f"DELETE FROM {name} WHERE {row} IN ({repeated})")
                removed[table] = count
    return removed
