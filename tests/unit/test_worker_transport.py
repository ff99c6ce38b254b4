"""The worker's stream consumer asks the broker for a short fetch wait (worker/transport.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from pydantic import SecretStr

from imx.kafka.connection import Connection
from imx.settings import Settings
from imx.worker.app import build
from imx.worker.transport import FETCH_MAX_WAIT_MS

pytestmark = pytest.mark.unit


def test_the_stream_consumer_waits_at_most_the_short_fetch_wait(tmp_path: Path) -> None:
    async def created_wait() -> int:
        settings = Settings(pseudonym_key=SecretStr("k" * 64), bootstrap="127.0.0.1:1")
        app = build(settings, Connection.from_settings(settings), 6099, tmp_path).app
        thread = app.consumer._thread  # built, never started: nothing connects
        consumer = thread._create_worker_consumer(app.transport)
        try:
            return int(consumer._fetch_max_wait_ms)
        finally:
            await consumer.stop()

    assert asyncio.run(created_wait()) == FETCH_MAX_WAIT_MS
    assert FETCH_MAX_WAIT_MS <= 100  # well under faust's fixed 1500 ms
