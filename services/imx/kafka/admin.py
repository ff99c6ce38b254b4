"""Create and verify the contract topics on a broker (``imx topics ensure``)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import TopicAlreadyExistsError, for_code

from imx.kafka.connection import Connection, started
from imx.kafka.topology import TopicSpec

#: CreateTopics takes a batch; keep each request well inside the default request size.
BATCH = 50


@dataclass
class EnsureResult:
    created: list[str] = field(default_factory=list)
    verified: list[str] = field(default_factory=list)
    mismatched: list[str] = field(default_factory=list)  # "topic: what differs"

    @property
    def ok(self) -> bool:
        return not self.mismatched


async def ensure_topics(
    connection: Connection, specs: Sequence[TopicSpec], timeout_s: float = 30.0
) -> EnsureResult:
    """Create missing topics; check existing ones against their spec. Idempotent."""
    admin = connection.admin(request_timeout_ms=int(timeout_s * 1000))
    async with started(admin, timeout_s):
        result = EnsureResult()
        existing = set(await asyncio.wait_for(admin.list_topics(), timeout_s))
        missing = [s for s in specs if s.name not in existing]
        for start in range(0, len(missing), BATCH):
            batch = missing[start : start + BATCH]
            response = await asyncio.wait_for(
                admin.create_topics(
                    [
                        NewTopic(s.name, s.partitions, s.replication, topic_configs=s.config)
                        for s in batch
                    ]
                ),
                timeout_s,
            )
            for name, code, *rest in response.topic_errors:
                error = for_code(code)
                if code and error is not TopicAlreadyExistsError:
                    detail = rest[0] if rest and rest[0] else error.__name__
                    msg = f"creating topic {name} failed: {detail}"
                    raise RuntimeError(msg)
            result.created.extend(s.name for s in batch)
        if missing:
            await _wait_for_leaders(admin, missing, timeout_s)
        present = [s for s in specs if s.name in existing]
        if present:
            result.mismatched.extend(await _compare(admin, present, timeout_s))
            bad = {m.split(":", 1)[0] for m in result.mismatched}
            result.verified.extend(s.name for s in present if s.name not in bad)
        return result


async def _wait_for_leaders(
    admin: AIOKafkaAdminClient, specs: Sequence[TopicSpec], timeout_s: float
) -> None:
    """Return once every new topic has all its partitions led, so callers can use it at once."""
    waiting = {s.name: s.partitions for s in specs}
    async with asyncio.timeout(timeout_s):
        while waiting:
            for topic in await admin.describe_topics(list(waiting)):
                led = [p for p in topic["partitions"] if p["leader"] >= 0]
                if topic["error_code"] == 0 and len(led) == waiting.get(topic["topic"]):
                    waiting.pop(topic["topic"])
            if waiting:
                await asyncio.sleep(0.1)


async def _compare(
    admin: AIOKafkaAdminClient, specs: Sequence[TopicSpec], timeout_s: float
) -> list[str]:
    by_name = {s.name: s for s in specs}
    problems: list[str] = []
    described = await asyncio.wait_for(admin.describe_topics(list(by_name)), timeout_s)
    for topic in described:
        spec = by_name[topic["topic"]]
        partitions = topic["partitions"]
        if len(partitions) != spec.partitions:
            problems.append(
                f"{spec.name}: {len(partitions)} partitions, expected {spec.partitions}"
            )
        replicas = min((len(p["replicas"]) for p in partitions), default=0)
        if replicas != spec.replication:
            problems.append(f"{spec.name}: replication {replicas}, expected {spec.replication}")
    resources = [ConfigResource(ConfigResourceType.TOPIC, s.name) for s in specs]
    responses = await asyncio.wait_for(admin.describe_configs(resources), timeout_s)
    for response in responses:
        for resource in _resources(response):
            spec = by_name[resource["name"]]
            actual = resource["configs"]
            for key, want in spec.config.items():
                if actual.get(key) != want:
                    problems.append(f"{spec.name}: {key}={actual.get(key)}, expected {want}")
    return problems


def _resources(response: Any) -> list[dict[str, Any]]:
    """Flatten a DescribeConfigs response into ``{"name", "configs": {key: value}}`` items."""
    out = []
    for item in response.resources:
        error_code, _message, _rtype, name, entries = item[:5]
        if error_code:
            msg = f"describing topic {name} failed: {for_code(error_code).__name__}"
            raise RuntimeError(msg)
        out.append({"name": name, "configs": {e[0]: e[1] for e in entries}})
    return out
