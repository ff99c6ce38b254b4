"""The exporter's figures from what a poll found (imx.kafka.health), without a broker."""

from __future__ import annotations

import pytest
from aiokafka import TopicPartition
from prometheus_client.parser import text_string_to_metric_families

from imx.kafka.health import Health, HealthMetrics, group_lag, health_of, partitions_of

pytestmark = pytest.mark.unit

METADATA = [
    {
        "topic": "feed.u1",
        "partitions": [
            {"partition": 0, "leader": 1, "replicas": [1, 2, 3], "isr": [1, 2, 3]},
            {"partition": 1, "leader": 2, "replicas": [2, 3, 1], "isr": [2, 3]},
        ],
    },
    {
        "topic": "ingress.u1",
        "partitions": [{"partition": 0, "leader": -1, "replicas": [3], "isr": []}],
    },
]


def test_a_partition_short_of_in_sync_replicas_is_under_replicated() -> None:
    health = health_of([1, 2], partitions_of(METADATA), controller_id=2)
    assert health.under_replicated == 2  # feed.u1-1 lacks node 1; ingress.u1-0 has no ISR
    assert health.offline == 1  # ingress.u1-0 has no leader


def test_a_broker_holding_replicas_but_not_online_is_lost() -> None:
    health = health_of([1, 2], partitions_of(METADATA), controller_id=1)
    assert (health.brokers_online, health.brokers_expected) == (2, 3)
    assert health_of([1, 2, 3], partitions_of(METADATA), 1).brokers_expected == 3


def test_lag_counts_only_partitions_the_group_has_committed_on() -> None:
    a, b, c = (TopicPartition("feed.u1", p) for p in range(3))
    assert group_lag({a: 10, b: 5}, {a: 15, b: 5, c: 1000}) == 5
    assert group_lag({a: 20}, {a: 15}) == 0  # an end read before the commit: never negative
    assert group_lag({}, {a: 15}) == 0


def _values(metrics: HealthMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = metrics.exposition().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_the_gauges_follow_the_polls_and_a_group_gone_is_dropped() -> None:
    metrics = HealthMetrics()
    metrics.observe(Health(3, 3, 0, 0, 1, {"imx-intake": 4, "old": 9}))
    values = _values(metrics)
    assert values[("imx_kafka_brokers_online", ())] == 3
    assert values[("imx_kafka_consumer_group_lag", (("group", "old"),))] == 9
    assert values[("imx_kafka_exporter_poll_ok", ())] == 1
    metrics.observe(Health(2, 3, 7, 0, 2, {"imx-intake": 6}))
    values = _values(metrics)
    assert values[("imx_kafka_under_replicated_partitions", ())] == 7
    assert values[("imx_kafka_controller_id", ())] == 2
    assert ("imx_kafka_consumer_group_lag", (("group", "old"),)) not in values
    metrics.poll_failed()
    values = _values(metrics)
    assert values[("imx_kafka_exporter_poll_ok", ())] == 0
    assert values[("imx_kafka_brokers_online", ())] == 2  # the last figures stay
