"""Load the Avro schemas of `schemas/` and turn every named type into a standalone schema.

The `.avsc` files are the source of truth (CONTRACT.md section 3) and refer to each other by
full name (`rs.mup.imx.Person`). Avro has no include mechanism, so a schema that is published to
`imx.schemas`, fingerprinted or handed to another language must be *standalone*: every named
type it uses defined inline at its first use and referred to by full name afterwards. The loader
builds exactly that for each file, so the fingerprint of a type is the fingerprint any other Avro
implementation computes from the JSON we publish.
"""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from fastavro.schema import fingerprint as _crc64_fingerprint
from fastavro.schema import parse_schema, to_parsing_canonical_form

from imx import resources

NAMESPACE = "rs.mup.imx"
DEFAULT_SCHEMA_DIR = resources.data_path("schemas")

REPORT_TYPES: tuple[str, ...] = (
    "UnauthorisedBorderCrossing",
    "MigrantsDetectedInland",
    "MigrantSmuggling",
    "TraffickingInHumanBeings",
    "DocumentFraud",
    "VehicleSighting",
    "CrisisSituation",
    "RequestForInformation",
    "RfiResponse",
)
DELIVERY = "Delivery"
DISCLOSURE = "Disclosure"

PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})
_NAMED = frozenset({"record", "error", "enum", "fixed"})

ParsedSchema = dict[str, Any]


class SchemaLoadError(ValueError):
    """A schema file or schema JSON is unusable; the message names the file or type at fault."""


def full_name(name: str, namespace: str | None = NAMESPACE) -> str:
    """Qualify `name` the way Avro does: a dotted name is already full."""
    if "." in name or not namespace:
        return name
    return f"{namespace}.{name}"


def short_name(name: str) -> str:
    return name.rpartition(".")[2]


def canonical_form(schema: Mapping[str, Any]) -> str:
    """Avro Parsing Canonical Form: what two schemas must share to be the same on the wire."""
    return str(to_parsing_canonical_form(dict(schema)))


def fingerprint(schema: Mapping[str, Any]) -> bytes:
    """The 8-byte CRC-64-AVRO fingerprint in wire (little-endian) order."""
    return bytes.fromhex(_crc64_fingerprint(canonical_form(schema), "CRC-64-AVRO"))


@dataclass(frozen=True)
class AvroSchema:
    """One standalone schema: its full name, fastavro-parsed form, fingerprint and JSON text.

    The JSON text is what producers publish to `imx.schemas`; the fingerprint is computed once
    here because every encoded value carries it.
    """

    name: str
    parsed: ParsedSchema
    fingerprint: bytes
    json: str
    named: Mapping[str, ParsedSchema]
    """Full name -> definition of every named type inside, to follow references by name."""

    @property
    def fingerprint_hex(self) -> str:
        return self.fingerprint.hex()

    @property
    def short_name(self) -> str:
        return short_name(self.name)

    @classmethod
    def from_json(cls, text: str) -> AvroSchema:
        """Parse a standalone schema, e.g. one read back from `imx.schemas`."""
        try:
            raw = json.loads(text)
            parsed = parse_schema(raw)
        except Exception as exc:  # fastavro raises several unrelated types for bad schemas
            msg = f"not a valid standalone Avro schema: {exc}"
            raise SchemaLoadError(msg) from exc
        if not isinstance(parsed, dict) or parsed.get("type") not in _NAMED:
            msg = "a published schema must be a named type (record, enum or fixed)"
            raise SchemaLoadError(msg)
        named = MappingProxyType(_named_types(parsed, {}))
        return cls(str(parsed["name"]), parsed, fingerprint(parsed), text, named)


@dataclass(frozen=True)
class SchemaSet:
    """Every type of one schema directory, by full name."""

    directory: Path
    schemas: Mapping[str, AvroSchema]

    def get(self, name: str) -> AvroSchema:
        """Look a type up by short or full name (KeyError when the directory lacks it)."""
        return self.schemas[full_name(name)]

    def report(self, type_name: str) -> AvroSchema:
        """The current schema of a report type, by its contract name (KeyError otherwise)."""
        if type_name not in REPORT_TYPES:
            raise KeyError(type_name)
        return self.get(type_name)

    def delivery(self) -> AvroSchema:
        return self.get(DELIVERY)

    def disclosure(self) -> AvroSchema:
        return self.get(DISCLOSURE)

    def written(self) -> list[AvroSchema]:
        """The writer schemas of every record imx writes: the reports, deliveries, disclosures."""
        return [*(self.report(t) for t in REPORT_TYPES), self.delivery(), self.disclosure()]


def released_schemas(directory: Path) -> list[SchemaSet]:
    """Every released version under ``directory/released/`` (one folder each), oldest first."""
    released = directory / "released"
    folders = sorted(p for p in released.iterdir() if p.is_dir()) if released.is_dir() else []
    return [load_schemas(folder) for folder in folders]


def load_schemas(directory: Path = DEFAULT_SCHEMA_DIR) -> SchemaSet:
    """Read every `*.avsc` directly in `directory` (not its subfolders, e.g. `released/`)."""
    definitions = _read_definitions(directory)
    schemas: dict[str, AvroSchema] = {}
    for name in definitions:
        standalone = _standalone(name, definitions)
        text = json.dumps(standalone, ensure_ascii=False, separators=(",", ":"))
        try:
            schemas[name] = AvroSchema.from_json(text)
        except SchemaLoadError as exc:
            msg = f"{name}: {exc}"
            raise SchemaLoadError(msg) from exc
    return SchemaSet(directory, MappingProxyType(schemas))


@functools.cache
def default_schemas() -> SchemaSet:
    """The repository's schemas, read once per process: they are immutable reference data."""
    return load_schemas(DEFAULT_SCHEMA_DIR)


def _read_definitions(directory: Path) -> dict[str, dict[str, Any]]:
    """Full name -> the raw JSON of each file; one named type per file, named like the file."""
    definitions: dict[str, dict[str, Any]] = {}
    paths = sorted(directory.glob("*.avsc"))
    if not paths:
        msg = f"no .avsc files in {directory}"
        raise SchemaLoadError(msg)
    for path in paths:
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            msg = f"{path}: cannot read schema: {exc}"
            raise SchemaLoadError(msg) from exc
        if not isinstance(raw, dict) or raw.get("type") not in _NAMED:
            msg = f"{path}: a schema file must hold one named type (record, enum or fixed)"
            raise SchemaLoadError(msg)
        name = full_name(str(raw.get("name", "")), raw.get("namespace"))
        if short_name(name) != path.stem:
            msg = f"{path}: defines {name}; the file must be named {short_name(name)}.avsc"
            raise SchemaLoadError(msg)
        definitions[name] = raw
    return definitions


def _standalone(root: str, definitions: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Inline, at first use, every file-level type that `root` refers to.

    Every name in the result is written as a full name so that no definition depends on the
    namespace of whatever it happens to be inlined into.
    """
    defined: set[str] = set()

    def walk(node: Any, namespace: str | None, where: str) -> Any:
        if isinstance(node, str):
            if node in PRIMITIVES:
                return node
            name = full_name(node, namespace)
            if name in defined:
                return name
            if name not in definitions:
                msg = f"{root}: unknown type {name} (at {where})"
                raise SchemaLoadError(msg)
            return walk(definitions[name], namespace, name)
        if isinstance(node, list):
            return [walk(branch, namespace, where) for branch in node]
        if not isinstance(node, Mapping) or "type" not in node:
            msg = f"{root}: malformed schema at {where}"
            raise SchemaLoadError(msg)
        kind = node["type"]
        if kind in _NAMED:
            return named(node, namespace, where)
        out = copy.deepcopy(dict(node))
        if kind == "array":
            out["items"] = walk(node["items"], namespace, f"{where}[]")
        elif kind == "map":
            out["values"] = walk(node["values"], namespace, f"{where}{{}}")
        else:
            out["type"] = walk(kind, namespace, where)
        return out

    def named(node: Mapping[str, Any], namespace: str | None, where: str) -> dict[str, Any]:
        name = full_name(str(node.get("name", "")), node.get("namespace", namespace))
        if name in defined:
            msg = f"{root}: {name} is defined twice (at {where})"
            raise SchemaLoadError(msg)
        defined.add(name)
        out = {k: copy.deepcopy(v) for k, v in node.items() if k not in ("namespace", "fields")}
        out["name"] = name
        inner = name.rpartition(".")[0] or None
        if node["type"] in ("record", "error"):
            out["fields"] = [
                {
                    **copy.deepcopy(field),
                    "type": walk(field["type"], inner, f"{name}.{field['name']}"),
                }
                for field in node.get("fields", [])
            ]
        return out

    return named(definitions[root], None, root)


def _named_types(node: Any, found: dict[str, ParsedSchema]) -> dict[str, ParsedSchema]:
    if isinstance(node, list):
        for branch in node:
            _named_types(branch, found)
    elif isinstance(node, dict):
        kind = node.get("type")
        if kind in _NAMED:
            found[str(node["name"])] = node
            for field in node.get("fields", []):
                _named_types(field["type"], found)
        elif kind == "array":
            _named_types(node["items"], found)
        elif kind == "map":
            _named_types(node["values"], found)
    return found
