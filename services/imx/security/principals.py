"""Every principal of the exchange and its ACLs, derived from the registry and the topology.

CONTRACT.md section 10's table, written down once. Topic names carry the topology's prefix (empty
in production); so do consumer-group prefixes, so that test runs stay apart on one broker.

Three choices the table leaves open:

- The worker may READ what it WRITEs (every ``feed.*``, ``audit.disclosures``, ``dlq.ingress``):
  its idempotent sink (``imx.worker.sink``) reads its own outputs back after a restart to know
  what a replayed input already wrote. Without it a restarted worker would be refused at its
  first replayed record and a recipient could see a delivery twice.

- The worker's "every operation on the app id's prefix" is granted on ``<app>-`` (with the
  dash), plus the literal group ``<app>`` that faust's consumer joins. The bare prefix ``<app>``
  would also match ``imx.schemas`` when the app id is ``imx`` and let the worker rewrite the
  schema log, which only ``admin`` may write. ``<app>-`` covers the intake group
  ``<app>-intake``, the ``<app>-accepted`` topic, faust's changelogs and assignor topic
  (``<app>-<name>-…``) and its transactional ids (``<app>-<group>-<partition>``).
- "Every topic" for ``ops`` is the wildcard ``*`` in production and the prefix of the deployment
  when it has one.
- READ, WRITE, DELETE and ALTER imply DESCRIBE in Kafka, so DESCRIBE is listed only where the
  table grants it on its own or says it; the idempotent producer's IDEMPOTENT_WRITE is implied by
  WRITE on any topic (KIP-679).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from imx.kafka.topology import Topology
from imx.registry import Registry

#: What the table grants uses TOPIC/GROUP/TRANSACTIONAL_ID and ALL/READ/WRITE/DESCRIBE, ALLOW;
#: the wider names let ``apply`` represent (and remove) whatever else a managed principal holds.
ResourceType = Literal["TOPIC", "GROUP", "TRANSACTIONAL_ID", "CLUSTER", "DELEGATION_TOKEN", "USER"]
PatternType = Literal["LITERAL", "PREFIXED"]
Operation = Literal[
    "ALL",
    "READ",
    "WRITE",
    "DESCRIBE",
    "CREATE",
    "DELETE",
    "ALTER",
    "CLUSTER_ACTION",
    "DESCRIBE_CONFIGS",
    "ALTER_CONFIGS",
    "IDEMPOTENT_WRITE",
    "CREATE_TOKENS",
    "DESCRIBE_TOKENS",
    "TWO_PHASE_COMMIT",
]
Permission = Literal["ALLOW", "DENY"]

ADMIN = "admin"
WORKER = "svc-worker"
GATEWAY = "svc-gateway"
OPS = "ops"
AUDITOR = "auditor"
UNIT_PREFIX = "unit-"
SERVICE_PRINCIPALS = (WORKER, GATEWAY, OPS, AUDITOR)
WILDCARD = "*"


@dataclass(frozen=True, order=True)
class AclEntry:
    """One ALLOW rule: ``principal`` may do ``operation`` on the resource, from any host."""

    principal: str
    resource_type: ResourceType
    pattern: PatternType
    name: str
    operation: Operation
    permission: Permission = "ALLOW"
    host: str = "*"

    @property
    def kafka_principal(self) -> str:
        return f"User:{self.principal}"

    def describe(self) -> str:
        pattern = "" if self.pattern == "LITERAL" else " (prefix)"
        return (
            f"{self.principal} {self.permission} {self.operation} "
            f"{self.resource_type} {self.name}{pattern}"
        )


@dataclass(frozen=True)
class Principal:
    """A SCRAM user of the exchange, what it is for, and everything it may do."""

    name: str
    used_by: str
    acls: tuple[AclEntry, ...]
    super_user: bool = False


def unit_principal(unit_id: str) -> str:
    return f"{UNIT_PREFIX}{unit_id}"


def is_managed(principal: str) -> bool:
    """Whether ``apply`` owns this user and its ACLs (and so may remove them)."""
    return principal.startswith(UNIT_PREFIX) or principal in SERVICE_PRINCIPALS


def principals(registry: Registry, topology: Topology) -> list[Principal]:
    """CONTRACT.md section 10's table for the registry's units, ``admin`` last."""
    t = topology
    out: list[Principal] = []
    for unit_id in registry.ids():
        name = unit_principal(unit_id)

        def acl(kind: ResourceType, pattern: PatternType, res: str, op: Operation) -> AclEntry:
            return AclEntry(name, kind, pattern, res, op)  # noqa: B023 - used at once

        out.append(
            Principal(
                name,
                f"the systems of unit {unit_id}",
                (
                    acl("TOPIC", "LITERAL", t.ingress(unit_id), "WRITE"),
                    acl("TOPIC", "LITERAL", t.ingress(unit_id), "DESCRIBE"),
                    acl("TOPIC", "LITERAL", t.feed(unit_id), "READ"),
                    acl("TOPIC", "LITERAL", t.feed(unit_id), "DESCRIBE"),
                    acl("TOPIC", "LITERAL", t.schemas, "READ"),
                    acl("TOPIC", "LITERAL", t.schemas, "DESCRIBE"),
                    acl("GROUP", "PREFIXED", f"{t.prefix}{name}.", "READ"),
                ),
            )
        )
    app = f"{t.app}-"
    out.append(
        Principal(
            WORKER,
            "pipeline workers",
            (
                AclEntry(WORKER, "TOPIC", "PREFIXED", t.ingress(""), "READ"),
                AclEntry(WORKER, "TOPIC", "LITERAL", t.schemas, "READ"),
                AclEntry(WORKER, "TOPIC", "PREFIXED", t.feed(""), "WRITE"),
                AclEntry(WORKER, "TOPIC", "LITERAL", t.audit, "WRITE"),
                AclEntry(WORKER, "TOPIC", "LITERAL", t.dlq, "WRITE"),
                # Read back by the idempotent sink after a restart (see the module's docstring).
                AclEntry(WORKER, "TOPIC", "PREFIXED", t.feed(""), "READ"),
                AclEntry(WORKER, "TOPIC", "LITERAL", t.audit, "READ"),
                AclEntry(WORKER, "TOPIC", "LITERAL", t.dlq, "READ"),
                AclEntry(WORKER, "TOPIC", "PREFIXED", app, "ALL"),
                AclEntry(WORKER, "GROUP", "PREFIXED", app, "ALL"),
                AclEntry(WORKER, "GROUP", "LITERAL", t.app, "ALL"),
                AclEntry(WORKER, "TRANSACTIONAL_ID", "PREFIXED", app, "ALL"),
            ),
        )
    )
    out.append(
        Principal(
            GATEWAY,
            "the HTTP gateway",
            (
                AclEntry(GATEWAY, "TOPIC", "PREFIXED", t.ingress(""), "WRITE"),
                AclEntry(GATEWAY, "TOPIC", "PREFIXED", t.feed(""), "READ"),
                AclEntry(GATEWAY, "TOPIC", "LITERAL", t.schemas, "READ"),
                AclEntry(GATEWAY, "GROUP", "PREFIXED", f"{t.prefix}{GATEWAY}.", "READ"),
            ),
        )
    )
    every: tuple[PatternType, str] = ("PREFIXED", t.prefix) if t.prefix else ("LITERAL", WILDCARD)
    out.append(
        Principal(
            OPS,
            "operators' tools (imx dlq, lag)",
            (
                AclEntry(OPS, "TOPIC", "LITERAL", t.dlq, "READ"),
                AclEntry(OPS, "TOPIC", *every, "DESCRIBE"),
                AclEntry(OPS, "GROUP", *every, "DESCRIBE"),
            ),
        )
    )
    out.append(
        Principal(
            AUDITOR,
            "the data-protection officer",
            (AclEntry(AUDITOR, "TOPIC", "LITERAL", t.audit, "READ"),),
        )
    )
    out.append(Principal(ADMIN, "provisioning: topics, users, ACLs, schema releases", (), True))
    return out


def wanted_acls(table: Iterable[Principal]) -> set[AclEntry]:
    return {entry for principal in table for entry in principal.acls}
