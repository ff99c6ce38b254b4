"""``imx outbox serve`` as a subprocess for integration and e2e tests, and what they check.

Started and stopped like every imx child (``imx.processes``): its own process group, SIGTERM
then SIGKILL on stop; ``kill`` is the crash (SIGKILL of the group at once).
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from imx.kafka.localbroker import free_port
from imx.processes import _spawn, stop_group
from tests.support.outputs import Outputs

READY_TIMEOUT_S = 30.0


@dataclass
class OutboxProcess:
    process: subprocess.Popen[bytes]
    unit: str
    port: int
    db: Path | None
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""

    def wait_serving(self, timeout_s: float = READY_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                msg = f"the outbox exited with {self.process.returncode}:\n{self.tail()}"
                raise RuntimeError(msg)
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return
            time.sleep(0.2)
        msg = f"the outbox did not serve {self.url} within {timeout_s:.0f} s:\n{self.tail()}"
        raise RuntimeError(msg)

    def post(self, reports: Sequence[dict[str, Any]]) -> httpx.Response:
        body = "".join(json.dumps(r) + "\n" for r in reports)
        return httpx.post(
            f"{self.url}/v1/reports",
            content=body,
            headers={"Content-Type": "application/x-ndjson"},
            timeout=30,
        )

    def status(self) -> dict[str, Any]:
        answer: dict[str, Any] = httpx.get(f"{self.url}/v1/status", timeout=10).json()
        return answer

    def wait_drained(self, timeout_s: float = 60.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        status: dict[str, Any] = {}
        while time.monotonic() < deadline:
            status = self.status()
            if status["pending"] == 0:
                return status
            time.sleep(0.2)
        msg = f"the outbox still had {status.get('pending')} pending after {timeout_s:.0f} s"
        raise AssertionError(msg)

    def wait_exit(self, timeout_s: float = 30.0) -> int:
        return self.process.wait(timeout=timeout_s)

    def kill(self) -> None:
        """kill -9 the whole group: a crash or a power cut, not a shutdown."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        stop_group(self.process, 10.0)


def start_outbox(
    env: dict[str, str],
    unit: str,
    db: Path | None,
    logdir: Path,
    *extra: str,
    port: int | None = None,
    fault: str = "",
) -> OutboxProcess:
    port = port or free_port()
    log = logdir / f"outbox-{unit}-{port}.log"
    child = {**env, "IMX_OUTBOX_FAULT": fault}
    where = ["--db", str(db)] if db is not None else []
    args = ["outbox", "serve", "--unit", unit, *where, "--port", str(port), *extra]
    return OutboxProcess(_spawn(args, child, log), unit, port, db, log)


@contextlib.contextmanager
def outboxes() -> Iterator[list[OutboxProcess]]:
    """Every outbox a test appends here is stopped at the end, whatever happened."""
    started: list[OutboxProcess] = []
    try:
        yield started
    finally:
        for outbox in started:
            outbox.stop()


def assert_each_recipient_got_each_report_once(outputs: Outputs, event_ids: set[str]) -> None:
    """Delivery ids are unique, and the analytics sector and gpd-oc have every report once."""
    ids = collections.Counter(d["delivery_id"] for d in outputs.deliveries)
    twice = {k: n for k, n in ids.items() if n > 1}
    assert not twice, f"deliveries seen more than once: {twice}"
    for recipient in ("gpd-satit", "gpd-oc"):
        got = collections.Counter(
            d["report"]["event_id"] for d in outputs.to(recipient) if d["kind"] == "report"
        )
        assert set(got) == event_ids, f"{recipient}: missing {event_ids - set(got)}"
        assert all(n == 1 for n in got.values()), f"{recipient} got a report twice"


def assert_in_order_taken(ingress: list[tuple[int, int, str]], taken: list[str]) -> None:
    """Per ingress partition, each report's first copy comes in the order the outbox took it.

    ``ingress``: ``(partition, offset, event_id)`` of every record. The pipeline keeps the
    order of a partition (its records are keyed by event id), so this is the order per unit
    that recipients see; a resend after a crash is a later copy, which the pipeline drops.
    """
    rank = {event_id: n for n, event_id in enumerate(taken)}
    first: dict[int, list[str]] = collections.defaultdict(list)
    seen: set[str] = set()
    for partition, _offset, event_id in sorted(ingress):
        if event_id not in seen:
            seen.add(event_id)
            first[partition].append(event_id)
    assert seen == set(taken)
    for partition, ids in first.items():
        ranks = [rank[e] for e in ids]
        assert ranks == sorted(ranks), f"partition {partition} is out of the order taken"


def read_ingress(
    connection: Any, topic: str, timeout_s: float = 30.0
) -> list[tuple[int, int, str]]:
    """``(partition, offset, event_id)`` of every record on ``topic`` now."""
    records = read_records(connection, topic, timeout_s)
    return [(r.partition, r.offset, r.key.decode()) for r in records]


def read_records(connection: Any, topic: str, timeout_s: float = 30.0) -> list[Any]:
    """Every record on ``topic`` now (aiokafka's ConsumerRecord)."""
    import asyncio  # noqa: PLC0415

    from imx.kafka.reading import topic_partitions  # noqa: PLC0415

    async def read() -> list[Any]:
        consumer = connection.reader()
        await consumer.start()
        try:
            partitions = await topic_partitions(connection, topic)
            consumer.assign(partitions)
            ends = await consumer.end_offsets(partitions)
            # Explicit positions: seek_to_beginning is lazy, and a position() asked before the
            # reset completed answered the reader's default reset, the end.
            for partition, start in (await consumer.beginning_offsets(partitions)).items():
                consumer.seek(partition, start)
            out: list[Any] = []
            deadline = time.monotonic() + timeout_s
            while time.monotonic() < deadline:
                positions = [await consumer.position(p) for p in partitions]
                if all(at >= ends[p] for at, p in zip(positions, partitions, strict=True)):
                    return out
                for records in (await consumer.getmany(timeout_ms=300)).values():
                    out.extend(records)
            msg = f"{topic} not read to its end within {timeout_s:.0f} s"
            raise AssertionError(msg)
        finally:
            await consumer.stop()

    return asyncio.run(read())
