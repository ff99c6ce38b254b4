"""The outbox's SQLite database: the one copy of every report until the broker has it.

One process writes (``Store.open`` takes an exclusive lock on ``<db>.lock`` for its life; a
SIGKILL releases it with the process). Every change is one transaction (WAL,
``synchronous=FULL``): a report is *taken* when its row is committed, *sent* when the
broker's acknowledgement is recorded; nothing lives only in memory between the two.

A row holds the exact record the one publisher sends (key, value bytes, headers) and the
report's JSON form with ``reported_at`` filled in, for forwarding through the gateway, which
encodes it to the same bytes. Re-encoding at send time would not do: a report whose
``reported_at`` was filled in when it was taken would get another one, and the pipeline would
see the same event id with other content (EVENT_ID_CONFLICT) instead of an exact duplicate.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from imx.outbox.figures import Figures

SCHEMA = """
CREATE TABLE IF NOT EXISTS reports (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL,
    type TEXT NOT NULL,
    key BLOB,
    value BLOB NOT NULL,
    headers TEXT NOT NULL,
    json TEXT NOT NULL,
    occurred_at REAL NOT NULL,
    taken_at REAL NOT NULL,
    sent_at REAL,
    partition INTEGER,
    offset INTEGER
);
CREATE INDEX IF NOT EXISTS reports_pending ON reports (seq) WHERE sent_at IS NULL;
CREATE INDEX IF NOT EXISTS reports_sent ON reports (sent_at) WHERE sent_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS reports_event ON reports (event_id);
CREATE TABLE IF NOT EXISTS state (name TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

#: SQLite result codes that mean "this database cannot take a write now".
UNWRITABLE = frozenset(
    {sqlite3.SQLITE_FULL, sqlite3.SQLITE_READONLY, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_CANTOPEN}
)


#: SQLite's own default ``max_page_count``.
UNCAPPED_PAGES = 4294967294


class OutboxLocked(RuntimeError):  # noqa: N818 - the state the database is in
    """Another outbox holds the database; the message names its process."""


class StoreUnwritable(RuntimeError):  # noqa: N818 - the state the database is in
    """The database cannot commit (disk or quota full, read-only): nothing was stored."""


class StoreError(RuntimeError):
    """The database cannot be opened or is not an outbox's."""


Header = tuple[str, bytes]


@dataclass(frozen=True)
class Entry:
    """A checked report as it will be sent, ready to be taken."""

    event_id: str
    type_name: str
    key: bytes | None
    value: bytes
    headers: tuple[Header, ...]
    json_text: str
    occurred_at: float


@dataclass(frozen=True)
class Taken:
    seq: int
    event_id: str


@dataclass(frozen=True)
class Pending:
    seq: int
    event_id: str
    key: bytes | None
    value: bytes
    headers: tuple[Header, ...]
    json_text: str


@dataclass(frozen=True)
class Placed:
    """A pending report the broker acknowledged at ``partition``/``offset``."""

    seq: int
    partition: int
    offset: int


def lock_path(db: Path) -> Path:
    return db.with_name(db.name + ".lock")


def _headers_text(headers: Sequence[Header]) -> str:
    return json.dumps([[name, value.hex()] for name, value in headers])


def _headers(text: str) -> tuple[Header, ...]:
    return tuple((str(name), bytes.fromhex(value)) for name, value in json.loads(text))


def _unwritable(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    return code is not None and (code & 0xFF) in UNWRITABLE


class Store:
    """The writer's handle: use ``Store.open`` and ``close`` (or ``with``)."""

    def __init__(self, db: Path, unit: str, connection: sqlite3.Connection, lock_fd: int) -> None:
        self.db = db
        self.unit = unit
        self._db = connection
        self._lock_fd = lock_fd
        self._max_pages: int | None = None

    @classmethod
    def open(cls, db: Path, unit: str, *, max_bytes: int | None = None) -> Store:
        """Lock and open (or create) the outbox database of ``unit`` at ``db``.

        ``max_bytes`` caps the database file for new reports (SQLite's ``max_page_count``, set
        for the take's transaction only): past it a take is refused as a full disk would refuse
        it, while recording acknowledgements, errors and pruning may still grow the file a
        little. On a disk that really is full those fail too, and acknowledged reports are sent
        again until space is freed: the cap keeps the room for them.
        """
        try:
            db.parent.mkdir(parents=True, exist_ok=True)
            lock_fd = os.open(lock_path(db), os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            msg = f"cannot create the outbox database at {db}: {exc.strerror}"
            raise StoreError(msg) from exc
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            holder = _read_holder(lock_fd)
            os.close(lock_fd)
            who = f"process {holder.get('pid')}" if holder.get("pid") else "another process"
            msg = (
                f"another outbox ({who}) already holds {db}: one outbox writes a database; "
                "stop that one first, or give this one another --db"
            )
            raise OutboxLocked(msg) from exc
        try:
            connection = _connect(db)
            store = cls(db, unit, connection, lock_fd)
            if max_bytes is not None:
                page = int(connection.execute("PRAGMA page_size").fetchone()[0])
                store._max_pages = max(1, max_bytes // page)
            store._claim_unit()
        except BaseException:
            with contextlib.suppress(OSError):
                os.close(lock_fd)
            raise
        return store

    def announce(self, **holder: object) -> None:
        """Write who serves this database (pid, url) into the lock file for ``status``."""
        text = json.dumps({"pid": os.getpid(), **holder}).encode()
        os.ftruncate(self._lock_fd, 0)
        os.pwrite(self._lock_fd, text, 0)

    def close(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self._db.close()
        with contextlib.suppress(OSError):
            os.ftruncate(self._lock_fd, 0)
            os.close(self._lock_fd)

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def _transaction(self, doing: str) -> Iterator[sqlite3.Connection]:
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
                self._db.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    self._db.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            if _unwritable(exc):
                msg = f"the outbox database {self.db} cannot take {doing}: {exc}"
                raise StoreUnwritable(msg) from exc
            raise

    @contextlib.contextmanager
    def _capped(self) -> Iterator[None]:
        if self._max_pages is None:
            yield
            return
        self._db.execute(f"PRAGMA max_page_count = {self._max_pages}")
        try:
            yield
        finally:
            self._db.execute(f"PRAGMA max_page_count = {UNCAPPED_PAGES}")

    def _claim_unit(self) -> None:
        with self._transaction("its set-up") as db:
            row = db.execute("SELECT value FROM state WHERE name = 'unit'").fetchone()
            if row is None:
                db.execute("INSERT INTO state VALUES ('unit', ?)", (self.unit,))
            elif row[0] != self.unit:
                msg = f"{self.db} is the outbox of unit {row[0]}, not of {self.unit}"
                raise StoreError(msg)

    def take(self, entries: Sequence[Entry], now: float) -> list[Taken]:
        """Commit every entry in one transaction, or none (StoreUnwritable)."""
        with self._capped(), self._transaction("new reports") as db:
            taken = []
            for e in entries:
                cursor = db.execute(
                    "INSERT INTO reports (event_id, type, key, value, headers, json,"
                    " occurred_at, taken_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        e.event_id,
                        e.type_name,
                        e.key,
                        e.value,
                        _headers_text(e.headers),
                        e.json_text,
                        e.occurred_at,
                        now,
                    ),
                )
                assert cursor.lastrowid is not None  # noqa: S101 - an INSERT sets it
                taken.append(Taken(cursor.lastrowid, e.event_id))
            return taken

    def reported_at(self, event_ids: Sequence[str]) -> dict[str, str]:
        """Event id → the ``reported_at`` (JSON form) its first row was taken with."""
        out: dict[str, str] = {}
        for event_id in event_ids:
            row = self._db.execute(
                "SELECT json FROM reports WHERE event_id = ? ORDER BY seq LIMIT 1", (event_id,)
            ).fetchone()
            if row is not None:
                stamp = json.loads(row[0]).get("reported_at")
                if isinstance(stamp, str):
                    out[event_id] = stamp
        return out

    def pending(self, limit: int) -> list[Pending]:
        """The oldest ``limit`` reports not yet acknowledged, in the order taken."""
        rows = self._db.execute(
            "SELECT seq, event_id, key, value, headers, json FROM reports"
            " WHERE sent_at IS NULL ORDER BY seq LIMIT ?",
            (limit,),
        ).fetchall()
        return [Pending(r[0], r[1], r[2], r[3], _headers(r[4]), r[5]) for r in rows]

    def mark_sent(self, placed: Sequence[Placed], now: float) -> None:
        """Record the broker's acknowledgements, and the success, in one transaction."""
        with self._transaction("acknowledgements") as db:
            db.executemany(
                "UPDATE reports SET sent_at = ?, partition = ?, offset = ?"
                " WHERE seq = ? AND sent_at IS NULL",
                [(now, p.partition, p.offset, p.seq) for p in placed],
            )
            _set(db, "last_success_at", str(now))
            total = int(_get(db, "forwarded_total") or 0) + len(placed)
            _set(db, "forwarded_total", str(total))

    def note_error(self, message: str, now: float) -> None:
        with self._transaction("an error note") as db:
            _set(db, "last_error_at", str(now))
            _set(db, "last_error", message[:500])

    def prune(self, before: float) -> int:
        """Delete reports sent before ``before``; the number deleted."""
        with self._transaction("pruning") as db:
            cursor = db.execute(
                "DELETE FROM reports WHERE sent_at IS NOT NULL AND sent_at < ?", (before,)
            )
            return cursor.rowcount

    def figures(self) -> Figures:
        return _figures(self._db, self.unit)


def _connect(db: Path) -> sqlite3.Connection:
    try:
        connection = sqlite3.connect(db, isolation_level=None)
        connection.execute("PRAGMA busy_timeout = 5000")
        mode = connection.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            msg = f"{db}: SQLite refused WAL mode (journal_mode is {mode})"
            raise StoreError(msg)
        connection.execute("PRAGMA synchronous = FULL")
        connection.executescript(SCHEMA)
    except sqlite3.Error as exc:
        msg = f"cannot open the outbox database {db}: {exc}"
        raise StoreError(msg) from exc
    return connection


def _get(db: sqlite3.Connection, name: str) -> str | None:
    row = db.execute("SELECT value FROM state WHERE name = ?", (name,)).fetchone()
    return None if row is None else str(row[0])


def _set(db: sqlite3.Connection, name: str, value: str) -> None:
    db.execute("INSERT OR REPLACE INTO state VALUES (?, ?)", (name, value))


def _float(text: str | None) -> float | None:
    return None if text is None else float(text)


def _figures(db: sqlite3.Connection, unit: str) -> Figures:
    db.execute("BEGIN")
    try:
        pending, oldest = db.execute(
            "SELECT count(*), min(occurred_at) FROM reports WHERE sent_at IS NULL"
        ).fetchone()
        (sent,) = db.execute("SELECT count(*) FROM reports WHERE sent_at IS NOT NULL").fetchone()
        return Figures(
            unit=unit,
            pending=int(pending),
            oldest_pending_occurred_at=None if oldest is None else float(oldest),
            sent_kept=int(sent),
            forwarded_total=int(_get(db, "forwarded_total") or 0),
            last_success_at=_float(_get(db, "last_success_at")),
            last_error_at=_float(_get(db, "last_error_at")),
            last_error=_get(db, "last_error"),
        )
    finally:
        db.execute("COMMIT")


def _read_holder(fd: int) -> dict[str, object]:
    try:
        text = os.pread(fd, 4096, 0)
        found = json.loads(text) if text else {}
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}


def holder(db: Path) -> dict[str, object] | None:
    """Who serves ``db`` now (pid, url), or None when no outbox holds it."""
    try:
        fd = os.open(lock_path(db), os.O_RDONLY)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read_holder(fd)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def read_figures(db: Path, unit: str) -> Figures:
    """The figures of ``db`` without writing to it (``imx outbox status``)."""
    if not db.is_file():
        msg = f"no outbox database at {db}: has 'imx outbox serve --unit {unit}' run here?"
        raise StoreError(msg)
    try:
        connection = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)
        connection.isolation_level = None
        try:
            connection.execute("PRAGMA busy_timeout = 5000")
            row = connection.execute("SELECT value FROM state WHERE name = 'unit'").fetchone()
            if row is not None and row[0] != unit:
                msg = f"{db} is the outbox of unit {row[0]}, not of {unit}"
                raise StoreError(msg)
            return _figures(connection, unit)
        finally:
            connection.close()
    except sqlite3.Error as exc:
        msg = f"cannot read the outbox database {db}: {exc}"
        raise StoreError(msg) from exc
