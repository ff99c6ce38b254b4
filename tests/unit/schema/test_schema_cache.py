"""The writer-schema cache: asks its source on a miss, keeps hits, never trusts a bad entry."""

from __future__ import annotations

import json

import pytest

from imx.schema.cache import SchemaCache
from imx.schema.codec import UnknownSchemaError
from imx.schema.loader import SchemaLoadError, SchemaSet

pytestmark = pytest.mark.unit


class FakeSource:
    """An `imx.schemas` topic as a dict, counting look-ups."""

    def __init__(self, entries: dict[str, str] | None = None) -> None:
        self.entries = dict(entries or {})
        self.asked: list[str] = []

    def lookup(self, fingerprint_hex: str) -> str | None:
        self.asked.append(fingerprint_hex)
        return self.entries.get(fingerprint_hex)


def test_a_miss_asks_the_source_once_and_remembers_the_hit(schemas: SchemaSet) -> None:
    person = schemas.get("Person")
    source = FakeSource({person.fingerprint_hex: person.json})
    cache = SchemaCache(source)
    assert person.fingerprint_hex not in cache
    first = cache.get(person.fingerprint_hex)
    second = cache.get(person.fingerprint_hex)
    assert first is second
    assert first.fingerprint == person.fingerprint
    assert source.asked == [person.fingerprint_hex]
    assert person.fingerprint_hex in cache
    assert len(cache) == 1


def test_misses_are_not_remembered(schemas: SchemaSet) -> None:
    """A schema published just after the first value that uses it must still be found."""
    person = schemas.get("Person")
    source = FakeSource()
    cache = SchemaCache(source)
    with pytest.raises(UnknownSchemaError):
        cache.get(person.fingerprint_hex)
    source.entries[person.fingerprint_hex] = person.json
    assert cache.get(person.fingerprint_hex).name == "rs.mup.imx.Person"
    assert source.asked == [person.fingerprint_hex] * 2


def test_without_a_source_only_known_schemas_are_found(schemas: SchemaSet) -> None:
    cache = SchemaCache.of(schemas)
    assert len(cache) == len(schemas.schemas)
    delivery = schemas.delivery()
    assert cache.get(delivery.fingerprint_hex) is delivery
    with pytest.raises(UnknownSchemaError, match="no writer schema known for fingerprint 00"):
        cache.get("0011223344556677")


def test_known_schemas_are_not_looked_up(schemas: SchemaSet) -> None:
    source = FakeSource()
    cache = SchemaCache.of(schemas, source)
    cache.get(schemas.get("Vehicle").fingerprint_hex)
    assert source.asked == []


def test_an_entry_under_the_wrong_fingerprint_is_refused(schemas: SchemaSet) -> None:
    person, vehicle = schemas.get("Person"), schemas.get("Vehicle")
    cache = SchemaCache(FakeSource({person.fingerprint_hex: vehicle.json}))
    with pytest.raises(UnknownSchemaError, match=f"has fingerprint {vehicle.fingerprint_hex}"):
        cache.get(person.fingerprint_hex)
    assert person.fingerprint_hex not in cache


@pytest.mark.parametrize("text", ["{", '"string"', json.dumps({"type": "enum", "name": "E"})])
def test_an_unusable_entry_is_unknown_schema(text: str) -> None:
    cache = SchemaCache(FakeSource({"0011223344556677": text}))
    with pytest.raises(UnknownSchemaError, match="published schema is unusable"):
        cache.get("0011223344556677")


def test_add_json_remembers_a_pushed_schema(schemas: SchemaSet) -> None:
    cache = SchemaCache()
    added = cache.add_json(schemas.get("Location").json)
    assert cache.get(added.fingerprint_hex) is added
    with pytest.raises(SchemaLoadError):
        cache.add_json("[]")
