"""Where a stage's records go: a small port, so the glue can be tested with an in-memory fake.

The worker writes through ``KafkaOutput``: records of a batch are sent without waiting, then
acknowledged together (``acks=all``, idempotent producer), and only then is the batch's input
committed. ``tests/support/fakes.py`` has the in-memory counterpart.
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

from imx.worker.emissions import Emission
from imx.worker.headers import header_list


class Output(Protocol):
    async def send(self, record: Emission) -> None:
        """Start writing ``record``; a failure surfaces in ``acknowledged``."""

    async def acknowledged(self) -> None:
        """Return once every record sent so far is written; raise if one was not."""


class KafkaOutput:
    """Records sent through an aiokafka producer, acknowledged together."""

    def __init__(self, producer: Any) -> None:
        self._producer = producer
        self._pending: list[asyncio.Future[Any]] = []

    async def send(self, record: Emission) -> None:
        future = await self._producer.send(
            record.topic, record.value, key=record.key, headers=header_list(record.headers)
        )
        self._pending.append(future)

    async def acknowledged(self) -> None:
        pending, self._pending = self._pending, []
        await asyncio.gather(*pending)
