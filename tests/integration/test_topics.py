"""`imx topics ensure` on a real broker: every contract topic, declared settings, idempotent."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka.admin import NewTopic

from imx.kafka.admin import ensure_topics
from imx.kafka.connection import Connection
from imx.kafka.topology import Topology
from imx.registry import load_registry
from imx.settings import Settings
from tests.support.proc import run_imx

pytestmark = pytest.mark.integration


def _topology(settings: Settings) -> Topology:
    return Topology.from_settings(settings, load_registry(settings.registry_path).ids())


async def _describe(connection: Connection, names: list[str]) -> dict[str, int]:
    admin = connection.admin()
    await admin.start()
    try:
        return {t["topic"]: len(t["partitions"]) for t in await admin.describe_topics(names)}
    finally:
        await admin.close()


def test_ensure_creates_every_contract_topic_then_verifies(
    settings: Settings, cli_env: dict[str, str]
) -> None:
    topology = _topology(settings)
    specs = topology.specs()
    registry = load_registry(settings.registry_path)
    # Section 2: ingress and feed per unit, the DLQ, the audit log and the schema log.
    assert len(specs) == 2 * len(registry.ids()) + 3

    first = run_imx(["topics", "ensure"], cli_env)
    assert first.returncode == 0, first.stderr
    assert f"{len(specs)} created, 0 verified, 0 mismatched" in first.stdout

    partitions = asyncio.run(_describe(Connection.from_settings(settings), [s.name for s in specs]))
    assert partitions == {s.name: s.partitions for s in specs}
    assert partitions[topology.ingress("bps-presevo")] == settings.partitions
    assert partitions[topology.schemas] == 1

    again = run_imx(["topics", "ensure"], cli_env)
    assert again.returncode == 0, again.stderr
    assert f"0 created, {len(specs)} verified, 0 mismatched" in again.stdout


def test_ensure_checks_retention_and_compaction(settings: Settings) -> None:
    specs = _topology(settings).specs()
    asyncio.run(ensure_topics(Connection.from_settings(settings), specs))
    result = asyncio.run(ensure_topics(Connection.from_settings(settings), specs))
    assert result.ok
    assert sorted(result.verified) == sorted(s.name for s in specs)


def test_ensure_reports_a_topic_with_wrong_settings(
    settings: Settings, cli_env: dict[str, str]
) -> None:
    topology = _topology(settings)

    async def precreate_wrong() -> None:
        admin = Connection.from_settings(settings).admin()
        await admin.start()
        try:
            await admin.create_topics(
                [
                    NewTopic(topology.dlq, 1, 1),
                    NewTopic(topology.schemas, 1, 1, topic_configs={"cleanup.policy": "delete"}),
                ]
            )
        finally:
            await admin.close()

    asyncio.run(precreate_wrong())
    out = run_imx(["topics", "ensure"], cli_env)
    assert out.returncode == 1
    assert f"MISMATCH {topology.dlq}: 1 partitions, expected {settings.partitions}" in out.stdout
    assert f"MISMATCH {topology.schemas}: cleanup.policy=delete, expected compact" in out.stdout


def test_ensure_fails_clearly_without_a_broker(cli_env: dict[str, str]) -> None:
    env = {**cli_env, "IMX_BOOTSTRAP": "127.0.0.1:1", "IMX_REQUEST_TIMEOUT_S": "3"}
    out = run_imx(["topics", "ensure"], env, timeout=60)
    assert out.returncode == 1
    assert out.stderr.splitlines() == [
        "imx: ensuring the topics: no Kafka broker answers at 127.0.0.1:1 (IMX_BOOTSTRAP); "
        "start the local one with 'imx kafka up'"
    ], "one line, with no client log lines around it"
