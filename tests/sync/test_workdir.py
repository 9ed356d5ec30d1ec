"""The working directory heals itself after the crash states dlt 1.31.0 cannot finish.

Each state is made exactly as a SIGKILL leaves it (dlt's own steps, with the package copy the kill left
behind put back), on a real DuckDB pipeline whose rows and state are then checked."""

from __future__ import annotations

import shutil
from pathlib import Path

import dlt
import pytest

from pipelines.workdir import heal


@dlt.resource(name="items", primary_key="id", write_disposition="merge")
def items(first: int, count: int):
    state = dlt.current.resource_state()
    yield [{"id": i} for i in range(first, first + count)]
    state["cursor"] = first + count


def new_pipeline(tmp_path: Path) -> dlt.Pipeline:
    return dlt.pipeline(
        "heal",
        destination=dlt.destinations.duckdb(str(tmp_path / "w.duckdb")),
        pipelines_dir=str(tmp_path / "pipelines"),
        dataset_name="ds",
    )


def rows(pipeline: dlt.Pipeline) -> list[int]:
    with pipeline.sql_client() as client:
        return sorted(r[0] for r in client.execute_sql("select id from items"))


def cursor(pipeline: dlt.Pipeline) -> int:
    return pipeline.state["sources"]["heal"]["resources"]["items"]["cursor"]


@pytest.fixture
def loaded_once(tmp_path: Path) -> dlt.Pipeline:
    pipeline = new_pipeline(tmp_path)
    pipeline.run(items(0, 3))  # a committed load, so later runs are not "first runs"
    return pipeline


def extract_and_keep_copy(pipeline: dlt.Pipeline, tmp_path: Path) -> tuple[Path, Path]:
    pipeline.extract(items(3, 2))
    (load_id,) = pipeline.list_extracted_load_packages()
    package = Path(pipeline.working_dir) / "normalize" / "extracted" / load_id
    copy = tmp_path / "copy"
    shutil.copytree(package, copy)
    return package, copy


def test_a_kill_between_normalize_commit_and_cleanup_is_repaired(
    loaded_once: dlt.Pipeline, tmp_path: Path
) -> None:
    pipeline = loaded_once
    package, copy = extract_and_keep_copy(pipeline, tmp_path)
    pipeline.normalize()
    shutil.move(copy, package)  # the extracted copy normalize had not yet deleted
    with pytest.raises(Exception, match="Directory not empty"):  # what dlt alone does, every run
        new_pipeline(tmp_path).normalize()

    pipeline, actions = heal(new_pipeline(tmp_path))
    assert len(actions) == 1 and "leftover extracted copy" in actions[0]
    pipeline.run()
    assert rows(pipeline) == [0, 1, 2, 3, 4] and cursor(pipeline) == 5
    assert heal(pipeline)[1] == []  # nothing left to repair


def test_a_half_deleted_extracted_copy_is_repaired(loaded_once: dlt.Pipeline, tmp_path: Path) -> None:
    pipeline = loaded_once
    package, copy = extract_and_keep_copy(pipeline, tmp_path)
    pipeline.normalize()
    shutil.move(copy, package)
    shutil.rmtree(package / "new_jobs")  # the kill came while the copy was being deleted
    with pytest.raises(Exception, match="new_jobs"):
        new_pipeline(tmp_path).normalize()

    pipeline, actions = heal(new_pipeline(tmp_path))
    assert actions and "leftover extracted copy" in actions[0]
    pipeline.run()
    assert rows(pipeline) == [0, 1, 2, 3, 4] and cursor(pipeline) == 5


def test_an_unfinishable_package_is_discarded_and_its_state_rewound(
    loaded_once: dlt.Pipeline, tmp_path: Path
) -> None:
    pipeline = loaded_once
    package, _ = extract_and_keep_copy(pipeline, tmp_path)
    assert cursor(new_pipeline(tmp_path)) == 5  # extract committed the local state already
    shutil.rmtree(package / "new_jobs")  # and nothing else holds those rows

    pipeline, actions = heal(new_pipeline(tmp_path))
    assert len(actions) == 1 and "read again" in actions[0]
    assert not pipeline.has_pending_data
    assert cursor(pipeline) == 3  # rewound: the lost window is extracted again
    pipeline.run(items(cursor(pipeline), 2))
    assert rows(pipeline) == [0, 1, 2, 3, 4]
