"""The composition root: settings, registry, schemas, metrics and the faust app, wired once.

Two stages (docs/decisions.md sections 2 and 3):

- ``intake`` (a plain aiokafka loop run as an app task, ``imx.worker.intake``) reads every
  ``ingress.<unit>`` topic (all partitions, in parallel across workers), screens each record
  (size, decoding, proof of origin, values, units, clock), sends rejects to ``dlq.ingress`` and
  forwards the rest, bytes untouched, to the internal accepted topic.
- ``core`` (a faust agent with RocksDB tables, ``imx.worker.core``) reads the accepted topic,
  which has ONE partition: exact de-duplication, RFIs, incidents and correlation need to see
  every report, and real volumes (10^4 reports a day at a surge) are far below what one
  partition carries. Its tables therefore have one partition; a second worker holds a standby
  copy and takes over on failure. It writes deliveries to the feeds, disclosures to the audit
  log, and event-id conflicts and unknown RFIs to the DLQ.

Nothing here connects to Kafka at import time; ``build`` returns an app for ``Worker`` to run,
after ``prepare_state`` has chosen (and if need be discarded) the local state folder.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import faust
from faust.sensors.prometheus import setup_prometheus_sensors

from imx.kafka.connection import Connection
from imx.kafka.reading import broker_count, cluster_id, end_offsets
from imx.kafka.schemastore import SchemaNotReleasedError, SchemaStore
from imx.kafka.topology import ACCEPTED_RETENTION_MS, TABLES, Topology, replication_for
from imx.metrics import Metrics
from imx.pipeline.core import Core
from imx.pipeline.state import PipelineState, cached
from imx.registry import Registry, load_registry
from imx.schema.delivery_writer import DeliveryWriter
from imx.schema.loader import SchemaSet, load_schemas
from imx.settings import Settings
from imx.worker import statedir
from imx.worker.core import CoreWiring, core_agent
from imx.worker.intake import IntakeLoop, IntakeWiring
from imx.worker.sink import GapReader, IdempotentSink
from imx.worker.transport import Transport

#: Changelog records faust may hold unsent before it holds back the streams.
CHANGELOG_BUFFER = 16 * 1024
MIB = 1024 * 1024
#: RocksDB's own memory for each state table. faust's defaults (per table: 64 MiB write buffers,
#: up to three of them, and a 2 GiB block cache) let a worker's memory grow with its state for
#: as long as it runs, up to about 11 GiB over the five tables; a replay of 150,000 reports ended
#: 83 MiB higher with them (docs/performance.md). The core reads its state through the
#: write-behind cache and the operating system caches the files, so RocksDB needs little: with
#: these, at most 5 x (2 x 8 + 16) = 160 MiB, and the same replay ran no slower.
ROCKSDB = {
    "write_buffer_size": 8 * MIB,
    "max_write_buffer_number": 2,
    "block_cache_size": 16 * MIB,
}


class WorkerConfigError(ValueError):
    """The worker cannot start with these settings; the message says what to set."""


@dataclass(frozen=True)
class Built:
    app: faust.App
    metrics: Metrics
    topology: Topology


def pseudonym_key(settings: Settings) -> bytes:
    if settings.pseudonym_key is None:
        msg = "IMX_PSEUDONYM_KEY is not set: the HMAC key for pseudonymising analytics deliveries"
        raise WorkerConfigError(msg)
    return settings.pseudonym_key.get_secret_value().encode()


def prepare_state(settings: Settings, connection: Connection, web_port: int) -> Path:
    """The state folder for this cluster and app, emptied when it is ahead of its changelogs.

    Also checks that the schemas of deliveries and disclosures are released on ``imx.schemas``.
    """
    registry = load_registry(settings.registry_path)
    topology = Topology.from_settings(settings, registry.ids())
    found = asyncio.run(cluster_id(connection, settings.request_timeout_s))
    if found is None:
        msg = f"no Kafka broker answers at {connection.bootstrap} (IMX_BOOTSTRAP)"
        raise WorkerConfigError(msg)
    datadir = statedir.state_dir(settings.home, found, topology.app, f"worker-{web_port}")
    dbs = statedir.partition_dbs(datadir, topology)
    if dbs:
        persisted = statedir.persisted_offsets(dbs)
        ends = asyncio.run(end_offsets(connection, list(persisted), settings.request_timeout_s))
        statedir.discard_if_stale(datadir, persisted, ends)
    datadir.mkdir(parents=True, exist_ok=True)
    schemas = load_schemas(settings.schemas_dir)
    store = SchemaStore(connection, topology.schemas, schemas)
    try:  # what the worker writes must be readable by every recipient: released, not added
        asyncio.run(store.require([schemas.delivery(), schemas.disclosure()]))
    except SchemaNotReleasedError as exc:
        raise WorkerConfigError(str(exc)) from exc
    return datadir


def fit_replication(settings: Settings, connection: Connection) -> Settings:
    """``settings`` with the replication of the topics faust declares (its changelogs, the
    accepted topic) fitted to the cluster, as provisioning fits the contract topics."""
    if settings.replication is not None:
        return settings
    brokers = asyncio.run(broker_count(connection, settings.request_timeout_s))
    return settings.model_copy(update={"replication": replication_for(brokers)})


def build(settings: Settings, connection: Connection, web_port: int, datadir: Path) -> Built:
    """Build the faust app and its agents; nothing runs until a ``faust.Worker`` starts it."""
    key = pseudonym_key(settings)
    registry: Registry = load_registry(settings.registry_path)
    schemas: SchemaSet = load_schemas(settings.schemas_dir)
    topology = Topology.from_settings(settings, registry.ids())
    metrics = Metrics()
    app = faust.App(
        topology.app,
        **connection.faust_options(),
        store="rocksdb://",  # faust uses rocksdict for this URL when python-rocksdb is absent
        datadir=str(datadir),
        web_port=web_port,
        web_bind="127.0.0.1",
        web_enabled=True,
        processing_guarantee="at_least_once",  # see imx.worker.sink for why not exactly_once
        topic_partitions=settings.partitions,
        # Fitted to the cluster by ``prepare_state`` when unset: faust declares its changelogs.
        topic_replication_factor=settings.replication or 1,
        topic_allow_declare=True,  # faust declares only its own internal topics here
        producer_acks=-1,
        consumer_auto_offset_reset="earliest",
        broker_session_timeout=settings.session_timeout_s,
        broker_heartbeat_interval=max(settings.session_timeout_s / 10, 0.5),
        broker_rebalance_timeout=settings.session_timeout_s,
        broker_commit_interval=settings.commit_interval_s,
        table_standby_replicas=1,
        web_in_thread=False,
    )
    app.transport = Transport(app.conf.broker_consumer, app)  # before any topic (see module)
    # A batch's state changes reach faust's changelog buffer at once (a few per report); at
    # faust's default threshold of 100 the conductor would pause, with a warning, every batch.
    app.producer.buffer.max_messages = CHANGELOG_BUFFER
    setup_prometheus_sensors(app, "/metrics", metrics.registry, name_prefix="faust")
    raw: dict[str, Any] = {
        "key_type": bytes,
        "value_type": bytes,
        "key_serializer": "raw",
        "value_serializer": "raw",
    }
    accepted = app.topic(
        topology.accepted,
        partitions=1,
        internal=True,
        retention=timedelta(milliseconds=ACCEPTED_RETENTION_MS),
        **raw,
    )
    tables = {
        # A fresh dict each: faust's store takes keys out of the one it is given.
        name: app.Table(name, partitions=1, key_type=str, value_type=None, options=dict(ROCKSDB))
        for name in TABLES
    }
    store = SchemaStore(
        connection, topology.schemas, schemas, on_ignored=metrics.schema_record_ignored
    )
    app.task(IntakeLoop(IntakeWiring(
        connection=connection,
        registry=registry,
        schemas=schemas,
        topology=topology,
        metrics=metrics,
        store=store,
        clock=_now,
        session_timeout_s=settings.session_timeout_s,
    )).run)  # fmt: skip
    # The core reads and writes state in memory and the tables once per batch (writebehind).
    state = PipelineState(**cached(dict(tables), settings.state_cache_entries))
    core = CoreWiring(
        schemas=schemas,
        deliveries=DeliveryWriter(schemas),
        topology=topology,
        metrics=metrics,
        store=store,
        core=Core(registry, key, _now),
        state=state,
        sink=IdempotentSink(
            connection,
            [*(topology.feed(u) for u in registry.ids()), topology.audit, topology.dlq],
        ),
        gaps=GapReader(connection),
        clock=_now,
    )
    app.agent(accepted, name="core")(core_agent(core, connection, store))
    return Built(app, metrics, topology)


def _now() -> datetime:
    return datetime.now(UTC)
