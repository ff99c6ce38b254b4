"""Shared fixtures: one real broker per test session, unique topic names per test."""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from imx.admin import ensure_topics
from imx.registry import load_registry
from imx.settings import Settings
from imx.topology import Topology
from tests.support.kafka import broker

TIERS = ("unit", "integration", "e2e")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test belongs to exactly one tier, by the folder it lives in."""
    for item in items:
        tier = Path(str(item.fspath)).relative_to(Path(__file__).parent).parts[0]
        if tier not in TIERS:
            msg = f"{item.nodeid}: tests live under tests/unit, tests/integration or tests/e2e"
            raise pytest.UsageError(msg)
        if not item.get_closest_marker(tier):
            item.add_marker(getattr(pytest.mark, tier))


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with contextlib.ExitStack() as stack:
        try:
            bootstrap = stack.enter_context(broker(tmp_path_factory.mktemp("broker")))
        except Exception as exc:  # noqa: BLE001 - turned into a loud failure with the reason
            pytest.fail(f"no Kafka broker for the integration tests: {exc}", pytrace=False)
        yield bootstrap


@pytest.fixture
def topic_prefix() -> str:
    """Topics of one test never meet another test's on the shared broker."""
    return f"t{uuid.uuid4().hex[:10]}-"


@pytest.fixture
def settings(kafka_bootstrap: str, topic_prefix: str, tmp_path: Path) -> Settings:
    return Settings(
        bootstrap=kafka_bootstrap,
        topic_prefix=topic_prefix,
        home=tmp_path / "home",
        app_id=f"imx-{topic_prefix.rstrip('-')}",
    )


@pytest.fixture
def cli_env(settings: Settings) -> dict[str, str]:
    """Environment for running ``imx`` as a subprocess against the test's topics."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMX_")}
    env.update(
        IMX_BOOTSTRAP=settings.bootstrap,
        IMX_TOPIC_PREFIX=settings.topic_prefix,
        IMX_HOME=str(settings.home),
        IMX_APP_ID=settings.app_id,
    )
    return env


@pytest.fixture
def topology(settings: Settings) -> Topology:
    """The test's contract topics, created on the broker."""
    topology = Topology.from_settings(settings, load_registry(settings.registry_path).ids())
    result = asyncio.run(ensure_topics(settings.bootstrap, topology.specs()))
    assert result.ok, result.mismatched
    return topology


@pytest.fixture
def pipeline_env(cli_env: dict[str, str], topology: Topology) -> dict[str, str]:
    """``cli_env`` with the topics created and a pseudonymisation key: ready for workers."""
    return {**cli_env, "IMX_PSEUDONYM_KEY": "test-only-key", "IMX_SESSION_TIMEOUT_S": "6"}
