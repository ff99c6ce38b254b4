"""CONTRACT.md section 10's authorisation matrix, probed on the secured broker for every principal.

The expectations are written from the contract's words, generated over the registry — not read
from ``imx.security.principals`` — so a wrong table fails here even where the table's own unit
tests agree with it. Every unit of the registry is probed; a denied write must leave no record
on the broker (checked as admin afterwards).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import pytest

from imx.kafka.connection import Connection
from imx.kafka.reading import read_to_end
from imx.kafka.topology import Topology
from imx.registry import load_registry
from imx.security.principals import AUDITOR, GATEWAY, OPS, WORKER, unit_principal
from imx.settings import Settings
from tests.support.authz import (
    Writer,
    can_create,
    can_delete,
    can_join,
    can_read,
    probe_value,
)

pytestmark = pytest.mark.integration

#: Principals probed at once: enough to keep the broker busy, few enough for two cores.
CONCURRENCY = 6


@dataclass(frozen=True)
class Probe:
    kind: str  # write | read | join | create | delete
    target: str
    allowed: bool
    topic: str = ""  # for join: the topic the group reads

    def describe(self, principal: str) -> str:
        verdict = "may" if self.allowed else "may not"
        on = f"group {self.target}" if self.kind == "join" else f"topic {self.target}"
        return f"{principal} {verdict} {self.kind} {on}"


def _unit_probes(t: Topology, unit: str, other: str) -> list[Probe]:
    """Everything the contract says of ``unit-<unit>``, against ``other``'s topics too."""
    own_group = f"{t.prefix}{unit_principal(unit)}.app"
    return [
        Probe("write", t.ingress(unit), True),
        Probe("write", t.ingress(other), False),
        Probe("write", t.feed(unit), False),
        Probe("write", t.feed(other), False),
        Probe("write", t.audit, False),
        Probe("write", t.dlq, False),
        Probe("write", t.schemas, False),
        Probe("read", t.feed(unit), True),
        Probe("read", t.schemas, True),
        Probe("read", t.feed(other), False),
        Probe("read", t.ingress(other), False),
        Probe("read", t.ingress(unit), False),
        Probe("read", t.audit, False),
        Probe("read", t.dlq, False),
        Probe("create", f"{t.prefix}probe-{unit}", False),
        Probe("delete", t.feed(unit), False),
        Probe("join", own_group, True, t.feed(unit)),
        Probe("join", f"{t.prefix}{unit_principal(other)}.app", False, t.feed(unit)),
    ]


def _service_probes(t: Topology, a: str, b: str) -> dict[str, list[Probe]]:
    """svc-worker, svc-gateway, ops and auditor, against two units' topics."""
    app = f"{t.app}-"
    return {
        WORKER: [
            Probe("read", t.ingress(a), True),
            Probe("read", t.ingress(b), True),
            Probe("read", t.schemas, True),
            Probe("write", t.feed(a), True),
            Probe("write", t.audit, True),
            Probe("write", t.dlq, True),
            Probe("write", t.ingress(a), False),
            Probe("write", t.schemas, False),
            Probe("create", f"{app}probe-topic", True),
            Probe("delete", f"{app}probe-topic", True),
            Probe("create", f"{t.prefix}probe-worker", False),
            Probe("delete", t.feed(a), False),
            Probe("join", f"{app}probe", True, t.ingress(a)),
            Probe("join", f"{t.prefix}{unit_principal(a)}.app", False, t.ingress(a)),
        ],
        GATEWAY: [
            Probe("write", t.ingress(a), True),
            Probe("write", t.ingress(b), True),
            Probe("read", t.feed(a), True),
            Probe("read", t.feed(b), True),
            Probe("read", t.schemas, True),
            Probe("write", t.feed(a), False),
            Probe("write", t.audit, False),
            Probe("write", t.dlq, False),
            Probe("write", t.schemas, False),
            Probe("read", t.ingress(a), False),
            Probe("read", t.audit, False),
            Probe("read", t.dlq, False),
            Probe("create", f"{t.prefix}probe-gateway", False),
            Probe("join", f"{t.prefix}{GATEWAY}.probe", True, t.feed(a)),
            Probe("join", f"{t.prefix}{unit_principal(a)}.app", False, t.feed(a)),
        ],
        OPS: [
            Probe("read", t.dlq, True),
            Probe("read", t.feed(a), False),
            Probe("read", t.audit, False),
            Probe("read", t.ingress(a), False),
            Probe("write", t.dlq, False),
            Probe("write", t.ingress(a), False),
            Probe("create", f"{t.prefix}probe-ops", False),
            Probe("delete", t.dlq, False),
        ],
        AUDITOR: [
            Probe("read", t.audit, True),
            Probe("read", t.dlq, False),
            Probe("read", t.feed(a), False),
            Probe("write", t.audit, False),
            Probe("write", t.ingress(a), False),
            Probe("create", f"{t.prefix}probe-auditor", False),
        ],
    }


async def _run(
    connection: Connection, writer: Writer, probe: Probe, written: dict[bytes, str]
) -> bool:
    if probe.kind == "write":
        value = probe_value()
        allowed = await writer.can_write(probe.target, value)
        written[value] = probe.target if allowed else ""
        return allowed
    if probe.kind == "read":
        return await can_read(connection, probe.target)
    if probe.kind == "join":
        return await can_join(connection, probe.target, probe.topic)
    if probe.kind == "create":
        return await can_create(connection, probe.target)
    return await can_delete(connection, probe.target)


async def _probe_all(
    cases: dict[str, list[Probe]], connect: Callable[[str], Connection]
) -> tuple[list[str], dict[bytes, str]]:
    wrong: list[str] = []
    written: dict[bytes, str] = {}  # probe value -> topic it was allowed onto ("" = denied)
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(principal: str, probes: Iterable[Probe]) -> None:
        async with gate:
            connection = connect(principal)
            writer = Writer(connection)
            try:
                for probe in probes:
                    if await _run(connection, writer, probe, written) != probe.allowed:
                        wrong.append(probe.describe(principal) + ", but the broker disagreed")
            finally:
                await writer.close()

    await asyncio.gather(*(one(p, probes) for p, probes in cases.items()))
    return wrong, written


def test_every_principal_may_do_exactly_what_the_contract_says(
    settings: Settings, topology: Topology, principal_settings: Callable[[str], Settings]
) -> None:
    units = load_registry(settings.registry_path).ids()
    cases = {
        unit_principal(u): _unit_probes(topology, u, units[(i + 1) % len(units)])
        for i, u in enumerate(units)
    }
    cases.update(_service_probes(topology, units[0], units[1]))
    assert len(cases) == len(units) + 4

    def connect(principal: str) -> Connection:
        return Connection.from_settings(principal_settings(principal))

    wrong, written = asyncio.run(_probe_all(cases, connect))
    assert wrong == [], "\n".join(wrong)

    # As admin: every allowed write is where it went, and no denied write left a record.
    admin = Connection.from_settings(settings)
    topics = {p.target for probes in cases.values() for p in probes if p.kind == "write"}

    async def everything() -> dict[bytes, str]:
        found: dict[bytes, str] = {}
        for topic in sorted(topics):
            for record in await read_to_end(admin, topic):
                found[record.value] = topic
        return found

    found = asyncio.run(everything())
    allowed = {value: topic for value, topic in written.items() if topic}
    denied = {value for value, topic in written.items() if not topic}
    assert {v: t for v, t in found.items() if v in written} == allowed
    assert not denied & set(found), "a denied write left a record"
