"""Write-behind tables: reads always current, the backing changed only by flush."""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from imx.pipeline.writebehind import WriteBehind

pytestmark = pytest.mark.unit

KEYS = st.sampled_from(["a", "b", "c", "d"])
VALUES = st.integers(0, 9) | st.lists(st.integers(0, 9), max_size=3)
OPERATIONS = st.lists(
    st.one_of(
        st.tuples(st.just("set"), KEYS, VALUES),
        st.tuples(st.just("pop"), KEYS),
        st.tuples(st.just("del"), KEYS),
        st.tuples(st.just("get"), KEYS),
        st.tuples(st.just("flush")),
    ),
    max_size=40,
)


class CountingTable(MutableMapping[str, Any]):
    """A dict that counts what reaches it, standing in for a faust table."""

    def __init__(self, initial: dict[str, Any] | None = None) -> None:
        self.data = dict(initial or {})
        self.reads = 0
        self.writes = 0

    def __getitem__(self, key: str) -> Any:
        self.reads += 1
        return self.data[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.writes += 1
        self.data[key] = value

    def __delitem__(self, key: str) -> None:
        self.writes += 1
        del self.data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)


@given(initial=st.dictionaries(KEYS, VALUES), operations=OPERATIONS, capacity=st.integers(0, 5))
def test_behaves_like_a_dict_and_the_backing_catches_up_on_flush(
    initial: dict[str, Any], operations: list[tuple[Any, ...]], capacity: int
) -> None:
    backing = CountingTable(initial)
    table = WriteBehind(backing, capacity=capacity)
    model = dict(initial)
    flushed = dict(initial)
    for operation in operations:
        match operation:
            case ("set", key, value):
                table[key] = value
                model[key] = value
            case ("pop", key):
                assert table.pop(key, "none") == model.pop(key, "none")
            case ("del", key):
                if key in model:
                    del table[key]
                    del model[key]
                else:
                    with pytest.raises(KeyError):
                        del table[key]
            case ("get", key):
                assert table.get(key) == model.get(key)
                assert (key in table) == (key in model)
            case ("flush",):
                table.flush()
                flushed = dict(model)
        assert backing.data == flushed  # nothing reaches the backing before a flush
    assert dict(table.items()) == model
    assert len(table) == len(model)
    table.flush()
    assert backing.data == model
    assert table.pending == 0


def test_a_key_changed_many_times_is_written_once_per_flush() -> None:
    backing = CountingTable()
    table = WriteBehind(backing)
    for value in range(100):
        table["meta"] = value
    assert table.pending == 1
    assert table.flush() == 1
    assert (backing.data, backing.writes) == ({"meta": 99}, 1)


def test_reads_are_served_from_memory_after_the_first() -> None:
    backing = CountingTable({"k": [1, 2]})
    table = WriteBehind(backing)
    for _ in range(10):
        assert table["k"] == [1, 2]
        assert table.get("missing") is None
    assert backing.reads == 2  # one look-up per key: "missing" is remembered as absent


def test_memory_is_bounded_by_the_capacity_after_a_flush() -> None:
    backing = CountingTable({str(n): n for n in range(50)})
    table = WriteBehind(backing, capacity=10)
    for n in range(50):
        assert table[str(n)] == n
    table["new"] = -1
    table.flush()
    reads = backing.reads
    assert table["new"] == -1  # the newest stay in memory
    assert table["49"] == 49
    assert backing.reads == reads
    assert table["0"] == 0  # the oldest were dropped and are read again
    assert backing.reads == reads + 1


def test_a_negative_capacity_is_refused() -> None:
    with pytest.raises(ValueError, match="capacity"):
        WriteBehind({}, capacity=-1)
