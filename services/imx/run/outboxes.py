"""``imx run --outbox``: every simulated station hands its reports to an outbox of its own.

One ``imx outbox serve`` per LOCAL unit, each with its database under ``$IMX_HOME/outbox``;
the simulator posts each report to its station's outbox (202 once committed) instead of
publishing it, and the live view shows how many each outbox still holds.
"""

from __future__ import annotations

import asyncio
import functools
import json
import time
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from imx import processes
from imx.kafka.localbroker import free_port
from imx.schema.jsonform import to_json
from imx.schema.loader import SchemaSet
from imx.security.local import Identities
from imx.security.principals import unit_principal

READY_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Outboxes:
    """Unit → the loopback URL of its outbox."""

    urls: Mapping[str, str]

    def pending(self) -> dict[str, int | None]:
        """Each outbox's pending count now; None for one that does not answer."""
        out: dict[str, int | None] = {}
        for unit, url in self.urls.items():
            try:
                with urllib.request.urlopen(f"{url}/v1/status", timeout=2) as response:  # noqa: S310 - our loopback outbox
                    out[unit] = int(json.loads(response.read())["pending"])
            except (OSError, ValueError, KeyError):
                out[unit] = None
        return out


def pending_row(pending: Mapping[str, int | None]) -> tuple[str, str]:
    """The live view's line: the total, then the stations that hold reports (or do not answer)."""
    total = sum(n for n in pending.values() if n)
    holding = [f"{unit} {'?' if n is None else n}" for unit, n in pending.items() if n != 0]
    return ("outbox pending", f"{total}" + (f" ({', '.join(holding)})" if holding else ""))


def start(
    identities: Identities, units: Iterable[str], teardown: processes.Teardown, progress: Any
) -> Outboxes:
    """An outbox per unit, each serving before this returns; stopped by ``teardown``.

    Each forwards as its own unit's principal (``unit-<id>``) on the secured broker.
    """
    started: dict[str, tuple[str, Any]] = {}
    for unit in units:
        port = free_port()
        settings = identities.settings(unit_principal(unit))
        log = settings.home / "logs" / f"outbox-{unit}.log"
        child = processes._spawn(
            ["outbox", "serve", "--unit", unit, "--port", str(port)], settings.child_env(), log
        )
        teardown.add(
            f"the outbox of {unit} (pid {child.pid})",
            functools.partial(processes.stop_group, child, 10.0),
        )
        started[unit] = (f"http://127.0.0.1:{port}", child)
    deadline = time.monotonic() + READY_TIMEOUT_S
    for unit, (url, child) in started.items():
        while True:
            if child.poll() is not None:
                msg = f"the outbox of {unit} exited with {child.returncode}: see its log"
                raise processes.RunError(msg)
            try:
                with urllib.request.urlopen(f"{url}/healthz", timeout=2):  # noqa: S310 - loopback
                    break
            except OSError:
                if time.monotonic() > deadline:
                    msg = f"the outbox of {unit} did not serve {url} in {READY_TIMEOUT_S:.0f} s"
                    raise processes.RunError(msg) from None
                time.sleep(0.2)
    progress(f"{len(started)} station outboxes serve; databases in {settings.outbox_dir}")
    return Outboxes({unit: url for unit, (url, _child) in started.items()})


class OutboxPublisher:
    """What the simulator publishes through: posts each report to its station's outbox.

    A report counts as published once its outbox answered 202 (committed there): forwarding
    to the broker is the outbox's business, and the view shows what it still holds.
    """

    def __init__(self, outboxes: Outboxes, schemas: SchemaSet) -> None:
        self._outboxes = outboxes
        self._schemas = schemas

    async def __aenter__(self) -> OutboxPublisher:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        return None

    async def send(self, report: dict[str, Any]) -> asyncio.Future[Any]:
        url = self._outboxes.urls[report["reporting_unit"]]
        body = json.dumps(to_json(report, self._schemas)).encode()
        await asyncio.to_thread(_post, url, body)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        future.set_result(None)
        return future

    async def flush(self) -> None:
        return None


def _post(url: str, body: bytes) -> None:
    request = urllib.request.Request(  # noqa: S310 - our loopback outbox
        f"{url}/v1/reports", data=body, method="POST", headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30):  # noqa: S310 - our loopback outbox
        return
