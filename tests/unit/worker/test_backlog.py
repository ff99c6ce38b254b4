"""The stages' backlog gauge (``imx_consumer_lag_records``) from their consumers, no broker."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka.errors import IllegalStateError
from faust.exceptions import ConsumerNotStarted

from imx.metrics import Metrics
from imx.worker.core import _measure_backlog
from imx.worker.intake import IntakeLoop

pytestmark = pytest.mark.unit


def _lag(metrics: Metrics, stage: str) -> float | None:
    return metrics.registry.get_sample_value("imx_consumer_lag_records", {"stage": stage})


class _IntakeConsumer:
    """aiokafka's consumer as the intake sees it: per partition its ends and position."""

    def __init__(self, parts: dict[str, tuple[int | None, int | None, int]]) -> None:
        self._parts = parts  # tp → (last stable offset, highwater, position)
        self.fail = False

    def assignment(self) -> set[str]:
        return set(self._parts)

    def last_stable_offset(self, tp: str) -> int | None:
        return self._parts[tp][0]

    def highwater(self, tp: str) -> int | None:
        return self._parts[tp][1]

    async def position(self, tp: str) -> int:
        if self.fail:
            msg = f"Partition {tp} is not assigned"
            raise IllegalStateError(msg)
        return self._parts[tp][2]


def _intake(metrics: Metrics) -> IntakeLoop:
    return IntakeLoop(SimpleNamespace(metrics=metrics, session_timeout_s=10.0))  # type: ignore[arg-type]


def test_the_intake_backlog_sums_what_its_partitions_hold_beyond_the_position() -> None:
    metrics = Metrics()
    consumer = _IntakeConsumer({
        "ingress.a-0": (120, 120, 100),  # 20 waiting
        "ingress.a-1": (-1, 57, 50),  # read_uncommitted answers -1: the highwater counts, 7
        "ingress.b-0": (None, None, 0),  # not fetched yet: unknown, left out
    })  # fmt: skip
    asyncio.run(_intake(metrics)._measure_backlog(consumer))
    assert _lag(metrics, "intake") == 27


def test_an_intake_partition_moving_away_keeps_the_last_figure() -> None:
    metrics = Metrics()
    metrics.backlog("intake", 5)
    consumer = _IntakeConsumer({"ingress.a-0": (9, 9, 1)})
    consumer.fail = True
    asyncio.run(_intake(metrics)._measure_backlog(consumer))
    assert _lag(metrics, "intake") == 5


def _stream(highwater: Any) -> Any:
    def answer(_tp: Any) -> int | None:
        if isinstance(highwater, Exception):
            raise highwater
        value: int | None = highwater
        return value

    return SimpleNamespace(app=SimpleNamespace(consumer=SimpleNamespace(highwater=answer)))


def test_the_core_backlog_is_the_highwater_beyond_the_batchs_last_record() -> None:
    metrics = Metrics()
    last = SimpleNamespace(tp=("imx-accepted", 0), offset=99)  # offsets up to 99 decided
    _measure_backlog(_stream(130), last, metrics)
    assert _lag(metrics, "core") == 30
    _measure_backlog(_stream(100), last, metrics)
    assert _lag(metrics, "core") == 0


@pytest.mark.parametrize("answer", [None, ConsumerNotStarted("stopped"), AssertionError()])
def test_an_unknown_core_highwater_keeps_the_last_figure(answer: Any) -> None:
    metrics = Metrics()
    metrics.backlog("core", 4)
    _measure_backlog(_stream(answer), SimpleNamespace(tp=("t", 0), offset=1), metrics)
    assert _lag(metrics, "core") == 4
