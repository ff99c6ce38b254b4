"""The producer's partitioner: the same partition as aiokafka's default, hash remembered."""

from __future__ import annotations

import pytest
from aiokafka.partitioner import DefaultPartitioner
from hypothesis import given
from hypothesis import strategies as st

from imx.kafkaio import KeyHashPartitioner

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
