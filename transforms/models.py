"""The SQL models of the warehouse: staging views and mart tables, each one file with a YAML header.

Every model file starts with a block comment holding YAML (description, grain, columns, keys, relationships),
followed by one SELECT in DuckDB's dialect. The header is the single source of the data dictionary and of the
generic data tests, so documentation and checks cannot drift from the SQL.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Literal

import yaml

PACKAGE_DIR = Path(__file__).parent
STAGING_DIR = PACKAGE_DIR / "staging"
MARTS_DIR = PACKAGE_DIR / "marts"
TESTS_DIR = PACKAGE_DIR / "tests"

ModelKind = Literal["staging", "mart"]

_HEADER = re.compile(r"\A\s*/\*(?P<yaml>.*?)\*/(?P<body>.*)\Z", re.DOTALL)


class ModelDefinitionError(ValueError):
    """A model or data test file is malformed (a bug in the repository, not in the data)."""


@dataclass(frozen=True)
class Relationship:
    """`column` of this model must match `to_model.to_column` (a foreign key into a dimension)."""

    column: str
    to_model: str
    to_column: str


@dataclass(frozen=True)
class Model:
    name: str
    kind: ModelKind
    path: Path
    sql: str
    description: str
    grain: str
    columns: dict[str, str]
    unique: tuple[tuple[str, ...], ...] = ()
    not_null: tuple[str, ...] = ()
    relationships: tuple[Relationship, ...] = ()
    depends_on: frozenset[str] = field(default_factory=frozenset)

    @property
    def materialization(self) -> str:
        return "view" if self.kind == "staging" else "table"


@dataclass(frozen=True)
class DataTest:
    """A query returning the offending rows; an empty result means the test passes."""

    name: str
    model: str
    description: str
    sql: str


def _split_header(path: Path) -> tuple[dict, str]:
    text = path.read_text(encoding="utf-8")
    match = _HEADER.match(text)
    if not match:
        raise ModelDefinitionError(f"{path.name}: must start with a /* YAML */ header")
    try:
        meta = yaml.safe_load(match.group("yaml")) or {}
    except yaml.YAMLError as exc:
        raise ModelDefinitionError(f"{path.name}: header is not valid YAML: {exc}") from exc
    body = match.group("body").strip().rstrip(";").strip()
    if not body:
        raise ModelDefinitionError(f"{path.name}: has no SQL after its header")
    return meta, body


def _parse_relationship(path: Path, item: object) -> Relationship:
    # Written as "column: model.column" so headers stay one line per foreign key.
    if not isinstance(item, dict) or len(item) != 1:
        raise ModelDefinitionError(f"{path.name}: relationships items are 'column: model.column'")
    ((column, target),) = item.items()
    to_model, _, to_column = str(target).partition(".")
    if not to_column:
        raise ModelDefinitionError(f"{path.name}: relationship target {target!r} must be model.column")
    return Relationship(str(column), to_model, to_column)


def _load_model(path: Path, kind: ModelKind) -> Model:
    meta, sql = _split_header(path)
    columns = meta.get("columns") or {}
    if not isinstance(columns, dict) or not columns:
        raise ModelDefinitionError(f"{path.name}: header needs a 'columns' mapping")
    unique = tuple(tuple(key) if isinstance(key, list) else (str(key),) for key in (meta.get("unique") or []))
    return Model(
        name=path.stem,
        kind=kind,
        path=path,
        sql=sql,
        description=str(meta.get("description", "")).strip(),
        grain=str(meta.get("grain", "")).strip(),
        columns={str(k): str(v).strip() for k, v in columns.items()},
        unique=unique,
        not_null=tuple(meta.get("not_null") or ()),
        relationships=tuple(_parse_relationship(path, r) for r in (meta.get("relationships") or ())),
    )


def _with_dependencies(models: list[Model]) -> list[Model]:
    names = {m.name for m in models}
    resolved = []
    for model in models:
        words = set(re.findall(r"\b[a-z_][a-z0-9_]*\b", model.sql.lower()))
        deps = frozenset((words & names) - {model.name})
        resolved.append(Model(**{**model.__dict__, "depends_on": deps}))
    return resolved


def _topological(models: list[Model]) -> list[Model]:
    by_name = {m.name: m for m in models}
    ordered: list[Model] = []
    state: dict[str, str] = {}

    def visit(name: str, chain: tuple[str, ...]) -> None:
        if state.get(name) == "done":
            return
        if state.get(name) == "visiting":
            raise ModelDefinitionError(f"model dependency cycle: {' -> '.join((*chain, name))}")
        state[name] = "visiting"
        for dep in sorted(by_name[name].depends_on):
            visit(dep, (*chain, name))
        state[name] = "done"
        ordered.append(by_name[name])

    # Staging first, then marts, alphabetical inside each: a stable order makes build logs comparable.
    for model in sorted(models, key=lambda m: (m.kind != "staging", m.name)):
        visit(model.name, ())
    return ordered


@cache
def load_models() -> tuple[Model, ...]:
    """All models in build order (dependencies first)."""
    models = [_load_model(p, "staging") for p in sorted(STAGING_DIR.glob("*.sql"))]
    models += [_load_model(p, "mart") for p in sorted(MARTS_DIR.glob("*.sql"))]
    seen: set[str] = set()
    for model in models:
        if model.name in seen:
            raise ModelDefinitionError(f"duplicate model name {model.name}")
        seen.add(model.name)
    return tuple(_topological(_with_dependencies(models)))


@cache
def load_data_tests() -> tuple[DataTest, ...]:
    """The hand-written data tests of `transforms/tests/*.sql` (generic ones come from model headers)."""
    tests = []
    for path in sorted(TESTS_DIR.glob("*.sql")):
        meta, sql = _split_header(path)
        if "model" not in meta:
            raise ModelDefinitionError(f"{path.name}: data test header needs 'model'")
        tests.append(DataTest(path.stem, str(meta["model"]), str(meta.get("description", "")).strip(), sql))
    return tuple(tests)
