"""Fixtures for the simulator and ``imx run`` tests: the repository registry, a fixed clock."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from imx.registry import Registry, load_registry
from imx.simulator.generator import new_simulator

NOW = datetime(2025, 3, 14, 9, 30, tzinfo=UTC)


@pytest.fixture(scope="session")
def registry() -> Registry:
    return load_registry()


@pytest.fixture(scope="session")
def generate(registry: Registry) -> Callable[..., list[dict[str, Any]]]:
    """``generate(seed, count, now=NOW)``: the first ``count`` reports of a seed at a fixed time."""

    def run(seed: int, count: int, now: datetime = NOW) -> list[dict[str, Any]]:
        return list(itertools.islice(new_simulator(registry, seed, lambda: now), count))

    return run


@pytest.fixture(scope="session")
def stream(generate: Callable[..., list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """5000 reports of seed 7: big enough for proportions, generated once per session."""
    return generate(7, 5000)
