"""The baseline: the cheapest hop Kafka allows, doing the pipeline's volume of I/O and no work.

It reads the very records the pipeline read (the pre-loaded ingress partitions, up to where the
pre-load ended) and writes, per input record, as many records of the input's size as the
pipeline wrote per input (deliveries plus their audit records), with the same producer recipe
(idempotent, ``acks=all``). Fractional ratios are spread evenly: input i gets
``round(k*(i+1)) - round(k*i)`` copies. The clock runs from the first input read to the last
output acknowledged.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from aiokafka import TopicPartition

from imx.kafka.connection import Connection

#: Sends not yet acknowledged before the loop waits: keeps memory bounded, batches full.
MAX_IN_FLIGHT = 5000


@dataclass(frozen=True)
class Passthrough:
    inputs: int
    outputs: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.inputs / self.seconds if self.seconds > 0 else 0.0


async def passthrough(
    connection: Connection,
    sources: dict[TopicPartition, int],
    scratch: str,
    per_input: float,
    timeout_s: float = 300.0,
) -> Passthrough:
    """Read ``sources`` (partition → end offset), write ``per_input`` copies each to ``scratch``."""
    consumer = connection.reader(max_partition_fetch_bytes=4 * 1024 * 1024)
    producer = connection.producer()
    await asyncio.wait_for(asyncio.gather(consumer.start(), producer.start()), 60)
    try:
        async with asyncio.timeout(timeout_s):
            consumer.assign(list(sources))
            await consumer.seek_to_beginning(*sources)
            pending = {tp for tp, end in sources.items() if end > 0}
            inputs = outputs = 0
            in_flight: list[asyncio.Future[object]] = []
            started: float | None = None
            while pending:
                batch = await consumer.getmany(*pending, timeout_ms=500)
                started = started if started is not None or not batch else time.perf_counter()
                for tp, records in batch.items():
                    for record in records[: max(sources[tp] - records[0].offset, 0)]:
                        copies = round(per_input * (inputs + 1)) - round(per_input * inputs)
                        inputs += 1
                        for _ in range(copies):
                            in_flight.append(
                                await producer.send(scratch, record.value, key=record.key)
                            )
                        outputs += copies
                    if len(in_flight) > MAX_IN_FLIGHT:
                        await asyncio.gather(*in_flight)
                        in_flight.clear()
                for tp in list(pending):
                    if await consumer.position(tp) >= sources[tp]:
                        pending.discard(tp)
            await asyncio.gather(*in_flight)
            finished = time.perf_counter()
    finally:
        await asyncio.wait_for(asyncio.gather(consumer.stop(), producer.stop()), 60)
    return Passthrough(inputs, outputs, finished - (started or finished))
