"""The worker's local state folder: a cache of the changelogs, never trusted over them.

faust keeps each table partition in RocksDB together with the offset of the last changelog record
applied, and refuses to start (``ConsistencyError``, for good) when that offset is past the end of
the changelog: state from a broker whose data was removed, or from another cluster. The changelog
is the truth, so:

- the folder is keyed by cluster id and app id, so state of another cluster is never opened;
- before faust starts, a partition whose local offset is at or past its changelog's end means
  the local copy belongs to a history the broker no longer has: the folder is discarded, with one
  warning line, and faust rebuilds it from the changelog.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Mapping
from pathlib import Path

import structlog
from aiokafka import TopicPartition

from imx.kafka.topology import TABLES, Topology

log = structlog.get_logger(__name__)

#: faust's RocksDB store keeps its position under this key (raw mode: bytes).
OFFSET_KEY = b"__faust\x00offset__"
_PARTITION_DB = re.compile(r"^(?P<table>.+)-(?P<partition>\d+)\.db$")


def state_dir(home: Path, cluster_id: str, app: str, name: str) -> Path:
    """``$IMX_HOME/state/<cluster id>/<app id>/<worker name>``."""
    return home / "state" / _safe(cluster_id) / _safe(app) / name


def _safe(part: str) -> str:
    """A cluster id is base64url and an app id ``[a-z0-9-]``; anything else becomes ``_``."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", part) or "_"


def stale(persisted: Mapping[TopicPartition, int], ends: Mapping[TopicPartition, int]) -> list[str]:
    """Why local state cannot be used: partitions whose applied offset the changelog lacks.

    A changelog ending at ``end`` holds offsets below ``end``; a missing changelog ends at 0.
    """
    return [
        f"{tp.topic}[{tp.partition}]: local state at offset {offset}, changelog ends at "
        f"{ends.get(tp, 0)}"
        for tp, offset in sorted(persisted.items())
        if offset >= ends.get(tp, 0)
    ]


def partition_dbs(datadir: Path, topology: Topology) -> dict[TopicPartition, Path]:
    """The RocksDB folder of every table partition under ``datadir``, by changelog partition."""
    found: dict[TopicPartition, Path] = {}
    for path in datadir.rglob("*.db"):
        matched = _PARTITION_DB.match(path.name)
        if matched and matched["table"] in TABLES and path.is_dir():
            tp = TopicPartition(topology.changelog(matched["table"]), int(matched["partition"]))
            found[tp] = path
    return found


def persisted_offsets(dbs: Mapping[TopicPartition, Path]) -> dict[TopicPartition, int]:
    """The changelog offset each table partition was last written at (partitions with one)."""
    from rocksdict import AccessType, Options, Rdict  # noqa: PLC0415 - native, worker only

    out: dict[TopicPartition, int] = {}
    for tp, path in dbs.items():
        db = Rdict(str(path), options=Options(raw_mode=True), access_type=AccessType.read_only())
        try:
            raw = db.get(OFFSET_KEY)
        finally:
            db.close()
        if raw is not None:
            out[tp] = int(raw)
    return out


def discard_if_stale(
    datadir: Path, persisted: Mapping[TopicPartition, int], ends: Mapping[TopicPartition, int]
) -> bool:
    """Remove ``datadir`` when its state is ahead of the changelogs; True if it was removed."""
    reasons = stale(persisted, ends)
    if not reasons:
        return False
    log.warning(
        "local state is ahead of its changelog; discarding it and rebuilding from the changelog",
        datadir=str(datadir),
        reason=reasons[0],
        partitions=len(reasons),
    )
    shutil.rmtree(datadir)
    return True
