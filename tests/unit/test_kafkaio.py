"""The producer recipe: the same partition as aiokafka's default (hash remembered), batch size."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka.partitioner import DefaultPartitioner
from hypothesis import given
from hypothesis import strategies as st

from imx.kafkaio import MAX_BATCH_BYTES, KeyHashPartitioner, make_producer
from imx.topology import MAX_MESSAGE_BYTES

pytestmark = pytest.mark.unit


@given(
    keys=st.lists(st.binary(max_size=40), min_size=1, max_size=30),
    partitions=st.integers(1, 12),
    capacity=st.integers(1, 8),
)
def test_same_partition_as_the_default_partitioner(
    keys: list[bytes], partitions: int, capacity: int
) -> None:
    cached = KeyHashPartitioner(capacity=capacity)
    all_partitions = list(range(partitions))
    for key in keys * 2:  # the second round is served from memory (or recomputed past capacity)
        expected = DefaultPartitioner()(key, all_partitions, all_partitions)
        assert cached(key, all_partitions, all_partitions) == expected


def test_records_without_a_key_go_to_an_available_partition() -> None:
    assert KeyHashPartitioner()(None, [0, 1, 2], [1]) == 1


def test_producer_batches_fit_the_topics_message_limit() -> None:
    # a record batch is one message to the broker: larger than max.message.bytes, it is refused
    async def batch_size() -> int:
        producer = make_producer("127.0.0.1:9")  # never started: nothing connects
        size: int = producer._message_accumulator._batch_size
        await producer.stop()
        return size

    assert asyncio.run(batch_size()) == MAX_BATCH_BYTES
    assert MAX_BATCH_BYTES + 64 * 1024 <= MAX_MESSAGE_BYTES  # room for a batch's overhead
