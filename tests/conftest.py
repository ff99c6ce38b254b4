"""Shared fixtures: one real secured broker per test session, unique topic names per test.

The session broker is secured as ``imx kafka up`` makes it (SASL_SSL, SCRAM-SHA-512, ACLs
enforced). ``settings`` reach it as ``admin``; ``topology`` provisions the test's topics and
schemas and grants its topology's ACLs, so ``pipeline_env`` can run workers as ``svc-worker``
and ``principal_settings`` gives any other principal. Tests about the plaintext broker of
``imx kafka up --insecure`` (and ``apply`` against a broker without the authorizer) ask for
``plaintext_bootstrap``, a broker started only when some test needs it.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from imx.kafka.connection import Connection
from imx.kafka.topology import Topology
from imx.security.local import principal_settings as local_principal_settings
from imx.security.principals import WORKER
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
def session_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecuredBroker]:
    with contextlib.ExitStack() as stack:
        try:
            broker_ = stack.enter_context(
                secured_broker(tmp_path_factory.mktemp("broker"), users=True)
            )
        except Exception as exc:  # noqa: BLE001 - turned into a loud failure with the reason
            pytest.fail(f"no Kafka broker for the integration tests: {exc}", pytrace=False)
        yield broker_


@pytest.fixture(scope="session")
def kafka_bootstrap(session_broker: SecuredBroker) -> str:
    return session_broker.bootstrap


@pytest.fixture(scope="session")
def plaintext_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A plaintext broker (``imx kafka up --insecure``), for the tests that need one."""
    with contextlib.ExitStack() as stack:
        try:
            bootstrap = stack.enter_context(broker(tmp_path_factory.mktemp("plaintext")))
        except Exception as exc:  # noqa: BLE001 - turned into a loud failure with the reason
            pytest.fail(f"no plaintext Kafka broker for the tests: {exc}", pytrace=False)
        yield bootstrap


@pytest.fixture(scope="session")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecuredBroker]:
    """A secured broker of its own, for the security tests that change users and passwords."""
    with secured_broker(tmp_path_factory.mktemp("secured")) as broker_:
        yield broker_


@pytest.fixture
def topic_prefix() -> str:
    """Topics of one test never meet another test's on the shared broker."""
    return f"t{uuid.uuid4().hex[:10]}-"


@pytest.fixture
def settings(session_broker: SecuredBroker, topic_prefix: str, tmp_path: Path) -> Settings:
    """The test's settings, as ``admin`` of the session broker."""
    return session_broker.settings(
        topic_prefix=topic_prefix,
        home=tmp_path / "home",
        app_id=f"imx-{topic_prefix.rstrip('-')}",
    )


@pytest.fixture
def principal_settings(
    session_broker: SecuredBroker, settings: Settings
) -> Callable[[str], Settings]:
    """``settings`` acting as another principal (its ACLs are granted by ``topology``)."""

    def as_(principal: str) -> Settings:
        return local_principal_settings(settings, session_broker.secrets, principal)

    return as_


@pytest.fixture
def connection(settings: Settings) -> Connection:
    return Connection.from_settings(settings)


@pytest.fixture
def cli_env(settings: Settings) -> dict[str, str]:
    """Environment for running ``imx`` as a subprocess against the test's topics."""
    return settings.child_env()


@pytest.fixture
def topology(session_broker: SecuredBroker, settings: Settings) -> Topology:
    """The test's contract topics and released schemas on the broker, and its ACLs granted."""
    return session_broker.provision(settings)


@pytest.fixture
def pipeline_env(
    principal_settings: Callable[[str], Settings], topology: Topology
) -> dict[str, str]:
    """Settings of a worker acting as ``svc-worker``, with the topics provisioned and a key."""
    worker = principal_settings(WORKER).model_copy(
        update={"pseudonym_key": SecretStr("test-only-key"), "session_timeout_s": 6.0}
    )
    return worker.child_env()
