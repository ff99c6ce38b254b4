"""faust's Kafka transport with a short fetch wait for the worker's stream consumer.

faust-streaming 0.15.3 creates its stream consumer with ``fetch_max_wait_ms=1500``, fixed.
aiokafka leaves a partition out of the next fetch request while records fetched for it are still
buffered, so under load the request in flight often names only partitions without new data,
and the broker holds it for the full 1.5 s while accepted reports wait: at 200 reports/s that
was 1.4 s of the median delivery latency (docs/performance.md). With a short wait, a fetch
comes back soon and the next one names the accepted topic again.
"""

from __future__ import annotations

from typing import Any

import aiokafka
from faust.transport.drivers import aiokafka as faust_aiokafka

#: Longest time the broker may hold a fetch of the worker's stream consumer without data.
FETCH_MAX_WAIT_MS = 50


class _ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> aiokafka.AIOKafkaConsumer:
        consumer = super()._create_worker_consumer(transport)
        # Read by AIOKafkaConsumer.start() when it builds its fetcher; faust offers no setting.
        consumer._fetch_max_wait_ms = FETCH_MAX_WAIT_MS
        return consumer


class _Consumer(faust_aiokafka.Consumer):
    def _new_consumer_thread(self) -> faust_aiokafka.AIOKafkaConsumerThread:
        return _ConsumerThread(self, loop=self.loop, beacon=self.beacon)


class Transport(faust_aiokafka.Transport):
    """Use as ``app.transport = Transport(app.conf.broker_consumer, app)``, before any topic."""

    Consumer = _Consumer
