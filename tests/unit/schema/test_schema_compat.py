"""The FULL_TRANSITIVE gate: both directions, against every released version."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from imx.schema.compat import Problem, check_compatibility
from imx.schema.loader import DEFAULT_SCHEMA_DIR

pytestmark = pytest.mark.unit

BACKWARD = "the current schema cannot read data written with"
FORWARD = "cannot read data written with the current schema"


def record(*fields: dict[str, Any], name: str = "R") -> dict[str, Any]:
    return {"type": "record", "name": name, "namespace": "t", "fields": list(fields)}


def enum(*symbols: str) -> dict[str, Any]:
    return {"type": "enum", "name": "E", "namespace": "t", "symbols": list(symbols)}


X = {"name": "x", "type": "int"}
Y = {"name": "y", "type": "string"}
Y_DEFAULT = {"name": "y", "type": "string", "default": ""}
Y_OPTIONAL = {"name": "y", "type": ["null", "string"], "default": None}


def write(directory: Path, *schemas: dict[str, Any]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for schema in schemas:
        (directory / f"{schema['name']}.avsc").write_text(json.dumps(schema))


def gate(
    tmp_path: Path, released: list[dict[str, Any]], current: list[dict[str, Any]]
) -> list[Problem]:
    write(tmp_path / "released" / "v1", *released)
    write(tmp_path, *current)
    return check_compatibility(tmp_path, tmp_path / "released")


def test_unchanged_schemas_pass(tmp_path: Path) -> None:
    assert gate(tmp_path, [record(X)], [record(X)]) == []


def test_adding_a_field_without_default_is_refused(tmp_path: Path) -> None:
    problems = gate(tmp_path, [record(X)], [record(X, Y)])
    assert len(problems) == 1
    assert (problems[0].version, problems[0].type_name) == ("v1", "t.R")
    assert problems[0].detail.startswith(f"{BACKWARD} v1: reader_field_missing_default_value")
    assert str(problems[0]).startswith("t.R vs v1: ")


@pytest.mark.parametrize("added", [Y_DEFAULT, Y_OPTIONAL])
def test_adding_a_field_with_a_default_passes(tmp_path: Path, added: dict[str, Any]) -> None:
    assert gate(tmp_path, [record(X)], [record(X, added)]) == []


def test_removing_a_required_field_strands_old_readers(tmp_path: Path) -> None:
    problems = gate(tmp_path, [record(X, Y)], [record(X)])
    assert [p.detail.split(":")[0] for p in problems] == [f"v1 {FORWARD}"]
    assert "reader_field_missing_default_value" in problems[0].detail


def test_removing_a_defaulted_field_passes(tmp_path: Path) -> None:
    assert gate(tmp_path, [record(X, Y_OPTIONAL)], [record(X)]) == []


def test_enum_symbols_can_be_neither_added_nor_removed(tmp_path: Path) -> None:
    added = gate(tmp_path / "a", [enum("A", "B")], [enum("A", "B", "C")])
    assert [p.detail.split(":")[0] for p in added] == [f"v1 {FORWARD}"]
    assert "missing_enum_symbols" in added[0].detail
    removed = gate(tmp_path / "b", [enum("A", "B")], [enum("A")])
    assert [p.detail.split(":")[0] for p in removed] == [f"{BACKWARD} v1"]


def test_type_promotion_only_reads_one_way(tmp_path: Path) -> None:
    problems = gate(tmp_path, [record(X)], [record({"name": "x", "type": "long"})])
    assert [p.detail.split(":")[0] for p in problems] == [f"v1 {FORWARD}"]
    assert "type_mismatch" in problems[0].detail


def test_a_deleted_type_is_a_problem_and_a_new_one_is_not(tmp_path: Path) -> None:
    problems = gate(
        tmp_path, [record(X), record(X, name="Gone")], [record(X), record(X, name="New")]
    )
    assert problems == [Problem("v1", "t.Gone", "deleted: released in v1, gone now")]


def test_every_released_version_is_checked(tmp_path: Path) -> None:
    """v2 added y with a default; dropping that default again is fine for v2 but not for v1."""
    write(tmp_path / "released" / "v1", record(X))
    write(tmp_path / "released" / "v2", record(X, Y_DEFAULT))
    write(tmp_path, record(X, Y))
    problems = check_compatibility(tmp_path)
    assert [(p.version, p.detail.split(":")[0]) for p in problems] == [("v1", f"{BACKWARD} v1")]


def test_no_released_versions_means_nothing_to_break(tmp_path: Path) -> None:
    write(tmp_path, record(X))
    assert check_compatibility(tmp_path) == []
    (tmp_path / "released").mkdir()
    assert check_compatibility(tmp_path) == []


def _repo_copy(tmp_path: Path) -> Path:
    current = tmp_path / "schemas"
    shutil.copytree(DEFAULT_SCHEMA_DIR, current)
    return current


def _add_field(directory: Path, type_name: str, field: dict[str, Any]) -> None:
    path = directory / f"{type_name}.avsc"
    schema = json.loads(path.read_text(encoding="utf-8"))
    schema["fields"].append(field)
    path.write_text(json.dumps(schema), encoding="utf-8")


def test_the_real_schemas_accept_a_defaulted_field(tmp_path: Path) -> None:
    current = _repo_copy(tmp_path)
    _add_field(current, "UnauthorisedBorderCrossing", {**Y_OPTIONAL, "doc": "new"})
    assert check_compatibility(current) == []


def test_a_breaking_change_to_a_shared_record_breaks_every_type_using_it(tmp_path: Path) -> None:
    current = _repo_copy(tmp_path)
    _add_field(current, "Location", {"name": "altitude", "type": "double", "doc": "m"})
    broken = {p.type_name.rpartition(".")[2] for p in check_compatibility(current)}
    assert {"Location", "UnauthorisedBorderCrossing", "RfiResponse", "Delivery"} <= broken
    assert "Disclosure" not in broken
