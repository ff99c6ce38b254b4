"""The local state folder: keyed by cluster and app, discarded when ahead of its changelogs."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiokafka import TopicPartition
from rocksdict import Options, Rdict

from imx.kafka.topology import Topology
from imx.worker import statedir

pytestmark = pytest.mark.unit

TOPOLOGY = Topology("t-", 3, 1, ("ps-bor",), "imx")
EVENTS = TopicPartition("t-imx-events-changelog", 0)


def _table_db(path: Path, offset: int | None) -> None:
    """A RocksDB partition as faust's store writes it (raw mode, offset under its key)."""
    db = Rdict(str(path), options=Options(raw_mode=True))
    db[b"some-key"] = b"{}"
    if offset is not None:
        db[statedir.OFFSET_KEY] = str(offset).encode()
    db.close()


def test_the_folder_is_keyed_by_cluster_and_app(tmp_path: Path) -> None:
    one = statedir.state_dir(tmp_path, "AbC-d_1", "t-imx", "worker-6066")
    other = statedir.state_dir(tmp_path, "XyZ", "t-imx", "worker-6066")
    assert one == tmp_path / "state" / "AbC-d_1" / "t-imx" / "worker-6066"
    assert one != other
    assert statedir.state_dir(tmp_path, "../x", "a/b", "w").parent.parent.name == ".._x"


def test_state_at_or_past_the_changelog_end_is_stale() -> None:
    meta = TopicPartition("t-imx-meta-changelog", 0)
    assert statedir.stale({EVENTS: 9, meta: 3}, {EVENTS: 10, meta: 4}) == []
    assert statedir.stale({EVENTS: 10}, {EVENTS: 10}) != []
    (why,) = statedir.stale({EVENTS: 0}, {})
    assert "changelog ends at 0" in why, "a changelog that is gone ends at 0"


def test_stale_state_is_discarded_and_good_state_kept(tmp_path: Path) -> None:
    datadir = tmp_path / "worker"
    tables = datadir / "t-imx-data" / "v1" / "tables"
    tables.mkdir(parents=True)
    _table_db(tables / "events-0.db", offset=41)
    _table_db(tables / "meta-0.db", offset=None)
    (tables / "unrelated-0.db").mkdir()
    dbs = statedir.partition_dbs(datadir, TOPOLOGY)
    assert set(dbs) == {EVENTS, TopicPartition("t-imx-meta-changelog", 0)}
    persisted = statedir.persisted_offsets(dbs)
    assert persisted == {EVENTS: 41}
    assert not statedir.discard_if_stale(datadir, persisted, {EVENTS: 42})
    assert datadir.exists()
    assert statedir.discard_if_stale(datadir, persisted, {EVENTS: 5})
    assert not datadir.exists()
