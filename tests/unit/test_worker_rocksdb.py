"""Each state table's RocksDB gets bounded memory, not faust's defaults (worker/app.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from imx.kafka.connection import Connection
from imx.kafka.topology import TABLES
from imx.settings import Settings
from imx.worker.app import MIB, ROCKSDB, build

pytestmark = pytest.mark.unit


def test_every_table_opens_rocksdb_with_the_bounded_options(tmp_path: Path) -> None:
    async def options() -> dict[str, tuple[int, int, int]]:
        settings = Settings(pseudonym_key=SecretStr("k" * 64), bootstrap="127.0.0.1:1")
        app = build(settings, Connection.from_settings(settings), 6099, tmp_path / "state").app
        found = {}
        for name in TABLES:
            table: Any = app.tables[name]
            store = table.data  # built, not opened: nothing connects
            o = store.rocksdb_options
            found[name] = (o.write_buffer_size, o.max_write_buffer_number, o.block_cache_size)
            # The options are ones RocksDB takes: open a database with them.
            db = o.open(tmp_path / name)
            db.close()
        return found

    expected = (
        ROCKSDB["write_buffer_size"],
        ROCKSDB["max_write_buffer_number"],
        ROCKSDB["block_cache_size"],
    )
    assert asyncio.run(options()) == dict.fromkeys(TABLES, expected)
    # At most 160 MiB of RocksDB memory for the five tables, against faust's ~11 GiB.
    per_table = expected[0] * expected[1] + expected[2]
    assert len(TABLES) * per_table <= 160 * MIB
