"""A table in front of a table: reads served from memory, writes applied to the backing in batches.

The core decides a report with ten to twenty table reads and writes. Against a faust table each
one is a RocksDB look-up or write plus, for a write, a changelog record, with its (de)serialising
and sensor calls. In front of it, ``WriteBehind`` keeps the values it has read or written in a
dict and remembers which keys changed; ``flush`` writes each changed key to the backing table
once, however often it changed since the last flush. The worker flushes after every batch of
input records and before their offsets may be committed, so what the changelog holds is what
the processed records wrote: a crash loses at most the unflushed batch, which is replayed.

Values are handed out as stored, not copied: callers treat them as immutable and write a new
value to change one (as ``PipelineState`` does).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, MutableMapping
from typing import Any

#: A key known to be absent from the backing table (deleted here, or looked up and not found).
_ABSENT = object()
#: Entries kept in memory after a flush; beyond that the oldest clean ones are dropped.
DEFAULT_CAPACITY = 50_000


class WriteBehind(MutableMapping[str, Any]):
    """A ``MutableMapping`` over ``backing`` whose changes reach ``backing`` on ``flush``."""

    def __init__(self, backing: MutableMapping[str, Any], capacity: int = DEFAULT_CAPACITY) -> None:
        if capacity < 0:
            msg = f"capacity must not be negative, got {capacity}"
            raise ValueError(msg)
        self._backing = backing
        self._capacity = capacity
        self._cache: dict[str, Any] = {}
        self._dirty: set[str] = set()

    def _lookup(self, key: str) -> Any:
        try:
            return self._cache[key]
        except KeyError:
            pass
        value = self._backing.get(key, _ABSENT)
        self._cache[key] = value
        return value

    def __getitem__(self, key: str) -> Any:
        value = self._lookup(key)
        if value is _ABSENT:
            raise KeyError(key)
        return value

    def get(self, key: str, default: Any = None) -> Any:
        value = self._lookup(key)
        return default if value is _ABSENT else value

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self._lookup(key) is not _ABSENT

    def __setitem__(self, key: str, value: Any) -> None:
        self._cache[key] = value
        self._dirty.add(key)

    def __delitem__(self, key: str) -> None:
        if self._lookup(key) is _ABSENT:
            raise KeyError(key)
        self._cache[key] = _ABSENT
        self._dirty.add(key)

    def pop(self, key: str, default: Any = _ABSENT) -> Any:
        value = self._lookup(key)
        if value is _ABSENT:
            if default is _ABSENT:
                raise KeyError(key)
            return default
        self._cache[key] = _ABSENT
        self._dirty.add(key)
        return value

    def _merged(self) -> dict[str, Any]:
        """The whole table as it stands, backing and unflushed changes (slow: tests, tools)."""
        view = {key: self._backing[key] for key in list(self._backing)}
        for key in self._dirty:
            value = self._cache[key]
            if value is _ABSENT:
                view.pop(key, None)
            else:
                view[key] = value
        return view

    def __iter__(self) -> Iterator[str]:
        return iter(self._merged())

    def __len__(self) -> int:
        return len(self._merged())

    @property
    def in_memory(self) -> int:
        """Entries held in memory: values, and keys known to be absent."""
        return len(self._cache)

    @property
    def pending(self) -> int:
        """Keys changed since the last flush."""
        return len(self._dirty)

    def flush(self) -> int:
        """Write every changed key to the backing table once; returns how many were written."""
        written = len(self._dirty)
        for key in self._dirty:
            value = self._cache[key]
            if value is _ABSENT:
                self._backing.pop(key, None)
            else:
                self._backing[key] = value
        self._dirty.clear()
        self._evict()
        return written

    def _evict(self) -> None:
        """Drop the oldest cached entries beyond the capacity (all clean after a flush)."""
        excess = len(self._cache) - self._capacity
        if excess <= 0:
            return
        for key in list(itertools.islice(self._cache, excess)):
            del self._cache[key]
