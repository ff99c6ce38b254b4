"""Shared fixtures: one real broker per test session, unique topic names per test."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from imx.kafka.admin import ensure_topics
from imx.kafka.connection import Connection
from imx.kafka.topology import Topology
from imx.registry import load_registry
from imx.settings import Settings
from tests.support.kafka import broker
from tests.support.secured import SecuredBroker, secured_broker

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


@pytest.fixture(scope="session")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecuredBroker]:
    """A secured broker of its own (CONTRACT.md 10), for the security tests only."""
    with secured_broker(tmp_path_factory.mktemp("secured")) as broker_:
        yield broker_


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
def connection(settings: Settings) -> Connection:
    return Connection.from_settings(settings)


@pytest.fixture
def cli_env(settings: Settings) -> dict[str, str]:
    """Environment for running ``imx`` as a subprocess against the test's topics."""
    return settings.child_env()


@pytest.fixture
def topology(settings: Settings) -> Topology:
    """The test's contract topics, created on the broker."""
    topology = Topology.from_settings(settings, load_registry(settings.registry_path).ids())
    result = asyncio.run(ensure_topics(Connection.from_settings(settings), topology.specs()))
    assert result.ok, result.mismatched
    return topology


@pytest.fixture
def pipeline_env(settings: Settings, topology: Topology) -> dict[str, str]:
    """``cli_env`` with the topics created and a pseudonymisation key: ready for workers."""
    worker = settings.model_copy(
        update={"pseudonym_key": SecretStr("test-only-key"), "session_timeout_s": 6.0}
    )
    return worker.child_env()
