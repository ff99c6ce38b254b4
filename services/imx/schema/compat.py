"""The schema compatibility gate: FULL_TRANSITIVE against every released version.

CONTRACT.md section 3: every change to `schemas/` must let the current schemas read data written
with every released version (backward) and let every released version read data written with the
current schemas (forward). Units upgrade at their own pace, so both directions matter in both
roles. The reference implementation's checker (the `avro` package) decides, not fastavro,
because it reports *why* a pair is incompatible.

A released type that no longer exists is a problem (its readers and writers would be stranded);
a new type is fine.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import avro.schema
from avro.compatibility import ReaderWriterCompatibilityChecker, SchemaCompatibilityType

from imx.schema.loader import AvroSchema, SchemaSet, load_schemas

DEFAULT_RELEASED_DIR = "released"


@dataclass(frozen=True)
class Problem:
    version: str
    """The released version (folder name under the released directory), e.g. `v1`."""
    type_name: str
    detail: str

    def __str__(self) -> str:
        return f"{self.type_name} vs {self.version}: {self.detail}"


def check_compatibility(current_dir: Path, released_dir: Path | None = None) -> list[Problem]:
    """Every incompatibility between `current_dir` and each folder of `released_dir`.

    `released_dir` defaults to `current_dir / "released"`; each of its subfolders is one released
    version. Raises SchemaLoadError when a directory holds unusable schemas.
    """
    current = load_schemas(current_dir)
    released_root = released_dir or current_dir / DEFAULT_RELEASED_DIR
    versions = (
        sorted(p for p in released_root.iterdir() if p.is_dir()) if released_root.is_dir() else []
    )
    problems: list[Problem] = []
    for version_dir in versions:
        problems.extend(_compare(current, load_schemas(version_dir), version_dir.name))
    return problems


def _compare(current: SchemaSet, released: SchemaSet, version: str) -> list[Problem]:
    problems: list[Problem] = []
    for name, old in released.schemas.items():
        new = current.schemas.get(name)
        if new is None:
            problems.append(Problem(version, name, f"deleted: released in {version}, gone now"))
            continue
        if new.fingerprint == old.fingerprint and new.json == old.json:
            continue
        old_avro, new_avro = _parse(old), _parse(new)
        for reader, writer, direction in (
            (new_avro, old_avro, f"the current schema cannot read data written with {version}"),
            (old_avro, new_avro, f"{version} cannot read data written with the current schema"),
        ):
            reason = _incompatibility(reader, writer)
            if reason:
                problems.append(Problem(version, name, f"{direction}: {reason}"))
    return problems


def _parse(schema: AvroSchema) -> avro.schema.Schema:
    return avro.schema.parse(schema.json)


def _incompatibility(reader: avro.schema.Schema, writer: avro.schema.Schema) -> str:
    """Empty when `reader` can read everything `writer` writes, else why not."""
    checker = ReaderWriterCompatibilityChecker()  # type: ignore[no-untyped-call]
    result = checker.get_compatibility(reader, writer)
    if result.compatibility is SchemaCompatibilityType.compatible:
        return ""
    kinds = sorted({kind.value for kind in result.incompatibilities})
    return (
        f"{', '.join(kinds)} at {', '.join(sorted(result.locations))} "
        f"({'; '.join(sorted(result.messages))})"
    )
