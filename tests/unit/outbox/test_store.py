"""The outbox database: atomic take and sent, order, one writer, a full disk, pruning, reopen."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from imx.outbox.store import (
    Entry,
    OutboxLocked,
    Placed,
    Store,
    StoreError,
    StoreUnwritable,
    holder,
    read_figures,
)

pytestmark = pytest.mark.unit

UNIT = "bps-presevo"
NOW = 1_800_000_000.0


def entry(n: int, size: int = 10) -> Entry:
    return Entry(
        event_id=f"e-{n}",
        type_name="CrisisSituation",
        key=f"e-{n}".encode(),
        value=b"\xc3\x01" + bytes([n % 256]) * size,
        headers=(("imx-test", b"\x00\x01"),),
        json_text=f'{{"event_id": "e-{n}"}}',
        occurred_at=NOW - 100 + n,
    )


def test_taken_reports_come_back_in_the_order_taken_byte_for_byte(tmp_path: Path) -> None:
    db = tmp_path / "outbox.db"
    with Store.open(db, UNIT) as store:
        taken = store.take([entry(1), entry(2)], NOW) + store.take([entry(3)], NOW)
        assert [t.event_id for t in taken] == ["e-1", "e-2", "e-3"]
        pending = store.pending(10)
        assert [p.event_id for p in pending] == ["e-1", "e-2", "e-3"]
        assert pending[0].value == entry(1).value
        assert pending[0].key == b"e-1"
        assert pending[0].headers == (("imx-test", b"\x00\x01"),)
        assert [p.seq for p in store.pending(2)] == [taken[0].seq, taken[1].seq]


def test_a_report_is_pending_until_its_ack_is_recorded_and_survives_a_reopen(
    tmp_path: Path,
) -> None:
    db = tmp_path / "outbox.db"
    with Store.open(db, UNIT) as store:
        taken = store.take([entry(1), entry(2), entry(3)], NOW)
        store.mark_sent([Placed(taken[0].seq, 2, 40)], NOW + 1)
    with Store.open(db, UNIT) as store:  # a restart: the database is the only state
        assert [p.event_id for p in store.pending(10)] == ["e-2", "e-3"]
        figures = store.figures()
        assert figures.pending == 2
        assert figures.sent_kept == 1
        assert figures.forwarded_total == 1
        assert figures.last_success_at == NOW + 1
        assert figures.oldest_pending_occurred_at == entry(2).occurred_at
        store.mark_sent([Placed(taken[0].seq, 0, 1)], NOW + 2)  # a late second ack: no change
        row = store._db.execute("SELECT partition, offset FROM reports WHERE seq = 1").fetchone()
        assert row == (2, 40)


def test_a_second_outbox_on_the_same_database_is_refused_and_told_why(tmp_path: Path) -> None:
    db = tmp_path / "outbox.db"
    with Store.open(db, UNIT) as store:
        store.announce(url="http://127.0.0.1:1")
        with pytest.raises(OutboxLocked, match=r"another outbox \(process \d+\) already holds"):
            Store.open(db, UNIT)
        assert holder(db) == {"pid": os.getpid(), "url": "http://127.0.0.1:1"}
    assert holder(db) is None
    Store.open(db, UNIT).close()  # free again once the first closed


def test_a_database_belongs_to_one_unit(tmp_path: Path) -> None:
    db = tmp_path / "outbox.db"
    Store.open(db, UNIT).close()
    with pytest.raises(StoreError, match="is the outbox of unit bps-presevo, not of bps-rujan"):
        Store.open(db, "bps-rujan")
    with pytest.raises(StoreError, match="not of bps-rujan"):
        read_figures(db, "bps-rujan")


def test_a_full_database_refuses_the_whole_take_and_keeps_what_it_had(tmp_path: Path) -> None:
    db = tmp_path / "outbox.db"
    with Store.open(db, UNIT, max_bytes=64 * 1024) as store:
        store.take([entry(1)], NOW)
        refused = None
        for n in range(100):
            try:
                store.take([entry(1000 + 10 * n + k, size=2000) for k in range(10)], NOW)
            except StoreUnwritable as exc:
                refused = str(exc)
                break
        assert refused is not None
        assert "cannot take new reports: database or disk is full" in refused
        before = store.figures().pending
        with pytest.raises(StoreUnwritable):
            store.take([entry(5000 + k, size=2000) for k in range(30)], NOW)
        assert store.figures().pending == before  # all or nothing
        assert before % 10 == 1
        # Forwarding still works on a full database, and what it frees takes new reports.
        store.mark_sent([Placed(p.seq, 0, p.seq) for p in store.pending(1000)], NOW)
        store.prune(NOW + 1)
        store.take([entry(9000, size=2000)], NOW)


def test_a_read_only_database_refuses_new_reports(tmp_path: Path) -> None:
    db = tmp_path / "outbox.db"
    Store.open(db, UNIT).close()
    with Store.open(db, UNIT) as store:
        store._db.execute("PRAGMA query_only = ON")  # what a read-only file does to writes
        with pytest.raises(StoreUnwritable, match="cannot take new reports"):
            store.take([entry(1)], NOW)


def test_pruning_deletes_only_sent_reports_older_than_the_limit(tmp_path: Path) -> None:
    with Store.open(tmp_path / "outbox.db", UNIT) as store:
        taken = store.take([entry(1), entry(2), entry(3)], NOW)
        store.mark_sent([Placed(taken[0].seq, 0, 0)], NOW - 10)
        store.mark_sent([Placed(taken[1].seq, 0, 1)], NOW + 10)
        assert store.prune(NOW) == 1
        assert store.figures().sent_kept == 1
        assert store.figures().pending == 1


def test_status_reads_without_writing_and_sees_committed_rows(tmp_path: Path) -> None:
    db = tmp_path / "outbox.db"
    with Store.open(db, UNIT) as store:
        store.take([entry(1)], NOW)
        store.note_error("KafkaConnectionError: Unable to bootstrap", NOW + 3)
        figures = read_figures(db, UNIT)
        assert figures.pending == 1
        assert figures.last_error == "KafkaConnectionError: Unable to bootstrap"
        assert figures.last_error_at == NOW + 3
    assert sqlite3.connect(db).execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    with pytest.raises(StoreError, match="no outbox database"):
        read_figures(tmp_path / "none.db", UNIT)
