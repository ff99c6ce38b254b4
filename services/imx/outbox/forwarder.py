"""The forwarding loop: oldest pending reports out, acknowledgements in, back off on failure.

It only reads the database, calls the sender and records the outcome; the wait after a
failure comes from ``Backoff``. Whatever the broker did not acknowledge stays pending in the
database, so a stop at any point — a SIGKILL included — loses nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import time
from collections.abc import Callable

import structlog

from imx.outbox.backoff import Backoff
from imx.outbox.figures import prune_before
from imx.outbox.metrics import OutboxMetrics
from imx.outbox.senders import Outcome, Sender, describe
from imx.outbox.store import Pending, Store, StoreUnwritable

log = structlog.get_logger("imx.outbox")

BATCH = 500
IDLE_POLL_S = 1.0
PRUNE_EVERY_S = 3600.0


class Forwarder:
    def __init__(
        self,
        store: Store,
        sender: Callable[[], Sender],
        backoff: Backoff,
        metrics: OutboxMetrics,
        *,
        fault: str = "",
        batch: int = BATCH,
        clock: Callable[[], float] = time.time,
        draw: Callable[[], float] = random.random,
    ) -> None:
        self._store = store
        self._new_sender = sender
        self._backoff = backoff
        self._metrics = metrics
        self._fault = fault
        self._batch = batch
        self._clock = clock
        self._draw = draw
        self._sender: Sender | None = None
        self._failures = 0
        self._pruned_at = 0.0
        self.wake = asyncio.Event()

    def observe(self) -> None:
        self._metrics.observe(self._store.figures(), self._clock())

    async def run(self, stopping: asyncio.Event) -> None:
        try:
            while not stopping.is_set():
                self._prune()
                self.observe()
                batch = self._store.pending(self._batch)
                if not batch:
                    await _wait(self.wake, stopping, IDLE_POLL_S)
                    self.wake.clear()
                    continue
                outcome = await self._send(batch)
                self._record(outcome)
                if outcome.error is not None:
                    await self._back_off(outcome.error, stopping)
                else:
                    self._failures = 0
        finally:
            await self._drop_sender()

    async def _send(self, batch: list[Pending]) -> Outcome:
        try:
            if self._sender is None:
                sender = self._new_sender()
                try:
                    await sender.start()
                except BaseException:
                    with contextlib.suppress(Exception):
                        await sender.close()
                    raise
                self._sender = sender
            self._crash_at("before-send")
            return await self._sender.send(batch)
        except Exception as exc:  # noqa: BLE001 - a failure to forward is data: back off, retry
            return Outcome(error=describe(exc))

    def _record(self, outcome: Outcome) -> None:
        if not outcome.placed:
            return
        self._crash_at("after-ack")
        try:
            self._store.mark_sent(outcome.placed, self._clock())
        except StoreUnwritable as exc:
            # The broker has them; they stay pending here and go again (exact duplicates).
            log.error("outbox.mark_sent_failed", error=str(exc))
            outcome.error = outcome.error or str(exc)
            return
        self._metrics.forwarded(len(outcome.placed))

    async def _back_off(self, error: str, stopping: asyncio.Event) -> None:
        delay = self._backoff.delay(self._failures, self._draw())
        self._failures += 1
        log.warning("outbox.forward_failed", error=error, retry_in_s=round(delay, 2))
        with contextlib.suppress(StoreUnwritable):
            self._store.note_error(error, self._clock())
        await self._drop_sender()
        await _wait(stopping, stopping, delay)

    async def _drop_sender(self) -> None:
        sender, self._sender = self._sender, None
        if sender is not None:
            with contextlib.suppress(Exception):
                await sender.close()

    def _prune(self) -> None:
        now = self._clock()
        if now - self._pruned_at < PRUNE_EVERY_S:
            return
        self._pruned_at = now
        with contextlib.suppress(StoreUnwritable):
            pruned = self._store.prune(prune_before(now))
            if pruned:
                log.info("outbox.pruned", reports=pruned)

    def _crash_at(self, point: str) -> None:
        """The test-only fault hook (``IMX_OUTBOX_FAULT``): die here as a power cut would."""
        if self._fault == point:
            os.kill(os.getpid(), signal.SIGKILL)


async def _wait(event: asyncio.Event, stopping: asyncio.Event, timeout_s: float) -> None:
    """Until ``event`` or ``stopping`` is set, or ``timeout_s`` passed."""
    waits = {asyncio.ensure_future(event.wait()), asyncio.ensure_future(stopping.wait())}
    try:
        await asyncio.wait(waits, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waits:
            w.cancel()
