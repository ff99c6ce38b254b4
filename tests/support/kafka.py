"""Where the tests get a real Kafka broker from, in order of preference.

1. ``IMX_TEST_BOOTSTRAP``: a broker someone already runs.
2. testcontainers' Kafka, when a container engine answers.
3. The project's own local broker (``imx kafka up``'s code) on a free port in a temporary folder.

A broker that cannot be had is an error with the reason: integration tests never skip.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from imx.kafka import localbroker
from imx.settings import Settings


def _engine_answers() -> bool:
    try:
        import docker  # noqa: PLC0415 - optional, comes with testcontainers

        client = docker.from_env(timeout=3)
        client.ping()
    except Exception:  # noqa: BLE001 - any failure means "no engine here"
        return False
    return True


@contextlib.contextmanager
def broker(workdir: Path) -> Iterator[str]:
    """Yield a bootstrap address of a serving broker; stop what was started here on exit."""
    given = os.environ.get("IMX_TEST_BOOTSTRAP")
    if given:
        if not localbroker.serves(given, timeout_s=10):
            msg = f"IMX_TEST_BOOTSTRAP={given} does not answer a metadata request"
            raise RuntimeError(msg)
        yield given
        return
    if _engine_answers():
        from testcontainers.kafka import KafkaContainer  # noqa: PLC0415 - needs an engine

        with KafkaContainer().with_kraft() as container:
            yield container.get_bootstrap_server()
        return
    home = workdir / "kafka"
    bootstrap = localbroker.up(
        home, localbroker.free_port(), Settings().jar_cache, progress=lambda _m: None
    )
    try:
        yield bootstrap
    finally:
        localbroker.stop(home)
