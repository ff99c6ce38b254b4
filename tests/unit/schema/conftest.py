"""Fixtures for the schema tests: the repository's schemas, registry, and a fixed report."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from imx.registry import Registry, load_registry
from imx.schema.cache import SchemaCache
from imx.schema.loader import SchemaSet, default_schemas

from .samples import GOLDEN_REPORT


@pytest.fixture(scope="session")
def schemas() -> SchemaSet:
    return default_schemas()


@pytest.fixture(scope="session")
def registry() -> Registry:
    return load_registry()


@pytest.fixture
def cache(schemas: SchemaSet) -> SchemaCache:
    return SchemaCache.of(schemas)


@pytest.fixture
def golden() -> dict[str, Any]:
    return copy.deepcopy(GOLDEN_REPORT)
