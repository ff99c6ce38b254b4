"""Every topic, consumer group and table name of the exchange, declared once.

``imx topics ensure``, the worker, the CLI, the benchmark and the tests all read this module, so a
topic's name, partitions, retention and clean-up policy are written down in exactly one place,
and so are the stream-processing app's own names (its accepted topic, groups and tables).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from imx.settings import Settings

DAY_MS = 24 * 60 * 60 * 1000

#: Retention by role. Ingress keeps a month so history can be replayed through a new pipeline
#: version; feeds a month so a unit system that was down catches up; the disclosure log three
#: years, the review period we apply to police disclosure logs (LED art. 5 and 25).
INGRESS_RETENTION_MS = 30 * DAY_MS
FEED_RETENTION_MS = 30 * DAY_MS
DLQ_RETENTION_MS = 30 * DAY_MS
AUDIT_RETENTION_MS = 3 * 365 * DAY_MS
#: The intake commits its ingress offsets once a report is on the accepted topic, so that topic
#: must keep it at least as long as ingress would have: a core down for longer than the broker's
#: default week would otherwise lose what the intake had already passed on.
ACCEPTED_RETENTION_MS = INGRESS_RETENTION_MS

#: Largest accepted report is 256 KiB (CONTRACT 5.1 TOO_LARGE); the broker must still accept a
#: slightly larger record so that the pipeline, not the producer, rejects it with a DLQ reason.
MAX_MESSAGE_BYTES = 1024 * 1024

#: Replicas per topic on a cluster of three or more brokers; a write is acknowledged once
#: ``MIN_INSYNC`` of them have it, so one broker may be lost without losing or refusing one.
MAX_REPLICATION = 3
MIN_INSYNC = 2


def replication_for(brokers: int) -> int:
    """The replication factor that fits a cluster of ``brokers``: one per broker, up to three."""
    return max(1, min(MAX_REPLICATION, brokers))


def min_insync_for(replication: int) -> int:
    """Replicas that must have a write before it is acknowledged: two of three, else one.

    Two of two would refuse every write while either broker is down; one of one is all a
    single broker has.
    """
    return MIN_INSYNC if replication > MIN_INSYNC else 1


#: The core's state tables (see ``imx.pipeline.state``); each has a changelog topic.
TABLES = ("events", "candidates", "entities", "journal", "meta")


@dataclass(frozen=True)
class TopicSpec:
    """One topic: its name and the settings `imx topics ensure` creates and verifies."""

    name: str
    role: str
    key: str
    partitions: int
    replication: int
    config: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Topology:
    """The names of one deployment (the prefix isolates test runs on a shared broker)."""

    prefix: str
    partitions: int
    replication: int
    unit_ids: tuple[str, ...]
    app_id: str = "imx"
    #: The replication was not set (``IMX_REPLICATION``): provisioning fits it to the cluster.
    fit_cluster: bool = False

    @classmethod
    def from_settings(cls, settings: Settings, unit_ids: Iterable[str]) -> Topology:
        return cls(
            prefix=settings.topic_prefix,
            partitions=settings.partitions,
            replication=settings.replication or 1,
            unit_ids=tuple(sorted(unit_ids)),
            app_id=settings.app_id,
            fit_cluster=settings.replication is None,
        )

    def fitted(self, brokers: int) -> Topology:
        """This topology on a cluster of ``brokers``; unchanged when the replication was set."""
        if not self.fit_cluster:
            return self
        return replace(self, replication=replication_for(brokers), fit_cluster=False)

    def ingress(self, unit_id: str) -> str:
        return f"{self.prefix}ingress.{unit_id}"

    def feed(self, unit_id: str) -> str:
        return f"{self.prefix}feed.{unit_id}"

    @property
    def dlq(self) -> str:
        return f"{self.prefix}dlq.ingress"

    @property
    def audit(self) -> str:
        return f"{self.prefix}audit.disclosures"

    @property
    def schemas(self) -> str:
        return f"{self.prefix}imx.schemas"

    @property
    def app(self) -> str:
        """The stream-processing app's id: the prefix of its internal topics and groups."""
        return f"{self.prefix}{self.app_id}"

    @property
    def accepted(self) -> str:
        """Internal: screened reports, bytes untouched, from intake to core (1 partition)."""
        return f"{self.app}-accepted"

    @property
    def intake_group(self) -> str:
        return f"{self.app}-intake"

    def changelog(self, table: str) -> str:
        """faust's name for a table's changelog topic."""
        return f"{self.app}-{table}-changelog"

    @property
    def bench_scratch(self) -> str:
        """Where the benchmark's raw passthrough writes."""
        return f"{self.prefix}bench.scratch"

    def unit_of_ingress(self, topic: str) -> str | None:
        """The unit whose ingress topic this is, or None: the topic is the proof of origin."""
        head = f"{self.prefix}ingress."
        if not topic.startswith(head):
            return None
        unit = topic[len(head) :]
        return unit if unit in self.unit_ids else None

    def specs(self) -> list[TopicSpec]:
        """Every contract topic with explicit partitions, replication and retention."""

        def spec(name: str, role: str, key: str, config: dict[str, str], parts: int) -> TopicSpec:
            return TopicSpec(name, role, key, parts, self.replication, config)

        # Set on the topic, not left to the broker's default: a topic keeps its guarantee
        # whatever broker configuration it is moved to. One replica keeps the broker's.
        durability = (
            {"min.insync.replicas": str(min_insync_for(self.replication))}
            if self.replication > 1
            else {}
        )

        def delete_after(ms: int) -> dict[str, str]:
            return {
                "cleanup.policy": "delete",
                "retention.ms": str(ms),
                "max.message.bytes": str(MAX_MESSAGE_BYTES),
                **durability,
            }

        parts = self.partitions
        out = [
            spec(self.ingress(u), "ingress", "event_id", delete_after(INGRESS_RETENTION_MS), parts)
            for u in self.unit_ids
        ]
        out += [
            spec(
                self.feed(u),
                "feed",
                "incident_id|correlation_id",
                delete_after(FEED_RETENTION_MS),
                parts,
            )
            for u in self.unit_ids
        ]
        out.append(spec(self.dlq, "dlq", "source key", delete_after(DLQ_RETENTION_MS), parts))
        out.append(spec(self.audit, "audit", "event_id", delete_after(AUDIT_RETENTION_MS), parts))
        # One partition keeps the schema log totally ordered; it is tiny and compacted.
        out.append(
            spec(
                self.schemas,
                "schemas",
                "fingerprint",
                {"cleanup.policy": "compact", "retention.ms": "-1", **durability},
                1,
            )
        )
        return out
