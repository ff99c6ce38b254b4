"""Event ids of the gateway's feed stream, and where a resumed stream starts (CONTRACT.md 11).

A feed topic has several partitions and a reconnecting client sends back only the id of the
last event it received (``Last-Event-ID``). An id that named only that record's partition and
offset could not say how far the *other* partitions had been read, and a merged order of the
partitions (by timestamp, say) is not stable: a record appended later to one partition can
sort before records already sent from another. So every id carries the whole position::

    <partition>-<offset>[.<partition>-<next offset>]...

The head is the record itself (its partition and offset, as the contract writes ids); each
further part is, for every other partition, the offset of the next record the stream would
have sent from it. Resuming seeks the record's partition to ``offset + 1`` and each other
partition to its next offset: nothing is missed and nothing repeated, whatever the order in
which the partitions' records were interleaved. Example: ``1-57.0-12.2-3``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

_PART = re.compile(r"(\d{1,9})-(\d{1,19})")

Positions = dict[int, int]


class CursorError(ValueError):
    """The text is not an event id of this gateway."""


@dataclass(frozen=True)
class Gone:
    """The id does not name a position the feed still has; ``begins`` is where it starts now."""

    detail: str
    begins: Positions


def event_id(partition: int, offset: int, positions: Mapping[int, int]) -> str:
    """The id of the record at ``partition``/``offset``, the stream being at ``positions``."""
    others = "".join(f".{p}-{positions[p]}" for p in sorted(positions) if p != partition)
    return f"{partition}-{offset}{others}"


def parse(text: str) -> tuple[tuple[int, int], Positions]:
    """The record an id names, and the positions to resume from (every partition it names)."""
    parts = text.strip().split(".")
    matched = [_PART.fullmatch(part) for part in parts]
    if not text.strip() or any(m is None for m in matched):
        msg = f"{text[:80]!r} is not a feed event id (expected e.g. '1-57.0-12.2-3')"
        raise CursorError(msg)
    pairs = [(int(m[1]), int(m[2])) for m in matched if m is not None]
    (partition, offset), rest = pairs[0], pairs[1:]
    positions = dict(rest)
    if len(positions) != len(rest) or partition in positions:
        msg = f"{text[:80]!r} names a partition twice"
        raise CursorError(msg)
    positions[partition] = offset + 1
    return (partition, offset), positions


def resume(text: str, beginnings: Mapping[int, int], ends: Mapping[int, int]) -> Positions | Gone:
    """Where a stream resumed after the event ``text`` starts, given the feed's offsets now.

    The record must still be in the feed, and every other position between the beginning and
    the end of its partition; otherwise records would be missed (expired) or the id was never
    this feed's. A partition the id does not name (added since) starts at its beginning.
    """
    (partition, offset), positions = parse(text)
    begins = dict(beginnings)
    if partition not in beginnings or not beginnings[partition] <= offset < ends[partition]:
        where = "no longer in" if partition in begins and offset < begins[partition] else "not in"
        return Gone(f"the event {partition}-{offset} is {where} the feed", begins)
    for p, position in positions.items():
        if p not in beginnings:
            return Gone(f"the feed has no partition {p}", begins)
        if position < beginnings[p]:
            return Gone(f"partition {p} no longer holds offset {position}: records expired", begins)
        if position > ends[p]:
            return Gone(f"partition {p} has no offset {position} yet", begins)
    return {p: positions.get(p, begin) for p, begin in beginnings.items()}
