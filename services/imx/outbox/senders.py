"""The two ways a pending report leaves the station: to ``ingress.U`` as ``unit-U``, or the gateway.

A sender sends a batch in the order taken and says which reports were acknowledged; whatever
it did not confirm stays pending and goes again (the pipeline drops the exact copies).
"""

from __future__ import annotations

import asyncio
import json
import ssl
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from pydantic import SecretStr

from imx.kafka.connection import Connection
from imx.kafka.publisher import Record, ReportPublisher
from imx.kafka.topology import Topology
from imx.outbox.store import Pending, Placed
from imx.schema.loader import SchemaSet

#: The gateway's limits on one request (CONTRACT.md section 11).
GATEWAY_MAX_LINES = 1000
GATEWAY_MAX_BYTES = 1024 * 1024


@dataclass
class Outcome:
    """What a batch came to: the acknowledged reports, and why the rest were not."""

    placed: list[Placed] = field(default_factory=list)
    error: str | None = None


class Sender(Protocol):
    async def start(self) -> None: ...

    async def send(self, batch: Sequence[Pending]) -> Outcome: ...

    async def close(self) -> None: ...


def describe(exc: BaseException) -> str:
    text, name = str(exc).strip(), type(exc).__name__
    if not text:
        return name
    return text if text.startswith(name) else f"{name}: {text}"


class KafkaSender:
    """Through the one report publisher (idempotent, acks=all) as the outbox's connection."""

    def __init__(
        self,
        connection: Connection,
        topology: Topology,
        schemas: SchemaSet,
        unit: str,
        ack_timeout_s: float,
    ) -> None:
        self._unit = unit
        self._ack_timeout_s = ack_timeout_s
        self._publisher = ReportPublisher(connection, topology, schemas, timeout_s=ack_timeout_s)

    async def start(self) -> None:
        await self._publisher.start()

    async def send(self, batch: Sequence[Pending]) -> Outcome:
        futures = []
        outcome = Outcome()
        try:
            for p in batch:
                record = Record(p.key, p.value, p.headers)
                futures.append(await self._publisher.send_record(self._unit, record))
        except Exception as exc:  # noqa: BLE001 - aiokafka's errors share no base; kept as data
            outcome.error = describe(exc)
        if futures:
            await asyncio.wait(futures, timeout=self._ack_timeout_s)
        for p, future in zip(batch, futures, strict=False):
            if future.done() and not future.cancelled() and future.exception() is None:
                meta = future.result()
                outcome.placed.append(Placed(p.seq, meta.partition, meta.offset))
            elif outcome.error is None:
                failed = future.exception() if future.done() and not future.cancelled() else None
                outcome.error = (
                    describe(failed)
                    if failed is not None
                    else f"no acknowledgement within {self._ack_timeout_s:.0f} s"
                )
        return outcome

    async def close(self) -> None:
        await self._publisher.stop()


class GatewaySender:
    """``POST <url>/v1/reports`` with the unit's token; the JSON form encodes to the same bytes."""

    def __init__(self, url: str, token: SecretStr, ca_file: Path | None, timeout_s: float) -> None:
        self._url = url.rstrip("/") + "/v1/reports"
        self._token = token
        self._timeout_s = timeout_s
        self._context = ssl.create_default_context(cafile=str(ca_file)) if ca_file else None

    async def start(self) -> None:
        return None

    async def send(self, batch: Sequence[Pending]) -> Outcome:
        outcome = Outcome()
        for chunk in _chunks(batch):
            try:
                accepted = await asyncio.to_thread(self._post, chunk)
            except Exception as exc:  # noqa: BLE001 - any failure leaves the chunk pending
                outcome.error = describe(exc)
                return outcome
            outcome.placed.extend(
                Placed(p.seq, int(a["partition"]), int(a["offset"]))
                for p, a in zip(chunk, accepted, strict=True)
            )
        return outcome

    def _post(self, chunk: Sequence[Pending]) -> list[dict[str, int]]:
        body = "".join(p.json_text + "\n" for p in chunk).encode()
        request = urllib.request.Request(  # noqa: S310 - the operator's gateway URL
            self._url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/x-ndjson",
                "Authorization": f"Bearer {self._token.get_secret_value()}",
            },
        )
        try:
            with urllib.request.urlopen(  # noqa: S310 - the operator's gateway URL
                request, timeout=self._timeout_s, context=self._context
            ) as response:
                answer = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            detail = exc.read()[:300].decode(errors="replace")
            msg = f"the gateway answered {exc.code}: {detail}"
            raise RuntimeError(msg) from exc
        accepted: list[dict[str, int]] = answer["accepted"]
        if len(accepted) != len(chunk):
            msg = f"the gateway accepted {len(accepted)} of {len(chunk)} reports"
            raise RuntimeError(msg)
        return accepted

    async def close(self) -> None:
        return None


def _chunks(batch: Sequence[Pending]) -> list[list[Pending]]:
    """Requests within the gateway's limits, in order."""
    chunks: list[list[Pending]] = [[]]
    size = 0
    for p in batch:
        length = len(p.json_text.encode()) + 1
        if chunks[-1] and (
            len(chunks[-1]) >= GATEWAY_MAX_LINES or size + length > GATEWAY_MAX_BYTES
        ):
            chunks.append([])
            size = 0
        chunks[-1].append(p)
        size += length
    return [c for c in chunks if c]
