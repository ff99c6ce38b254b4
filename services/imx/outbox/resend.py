"""A report handed over again keeps the ``reported_at`` the outbox gave it the first time.

A station's system that lost the answer to a POST (the link to the outbox dropped, the outbox
was killed after its commit) sends the same report again. When the report leaves
``reported_at`` to the outbox, a second fill-in would give the same event id other bytes, and
the pipeline would reject the copy as EVENT_ID_CONFLICT instead of dropping it as an exact
duplicate. So a known event id without ``reported_at`` gets the stored one. Pure.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence


def event_ids_missing_reported_at(lines: Iterable[tuple[int, str]]) -> dict[int, str]:
    """Line number → event id, for the lines that are JSON objects without ``reported_at``."""
    out = {}
    for number, text in lines:
        try:
            obj = json.loads(text)
        except json.JSONDecodeError:
            continue  # the checks report it
        if isinstance(obj, dict) and obj.get("reported_at") is None:
            event_id = obj.get("event_id")
            if isinstance(event_id, str):
                out[number] = event_id
    return out


def with_stored_reported_at(
    lines: Sequence[tuple[int, str]], stored: Callable[[list[str]], Mapping[str, str]]
) -> list[tuple[int, str]]:
    """``lines`` with ``reported_at`` filled in from ``stored`` (event id → RFC 3339 text)."""
    wanting = event_ids_missing_reported_at(lines)
    if not wanting:
        return list(lines)
    known = stored(sorted(set(wanting.values())))
    out = []
    for number, text in lines:
        event_id = wanting.get(number)
        if event_id is None or event_id not in known:
            out.append((number, text))
            continue
        obj = json.loads(text)
        obj["reported_at"] = known[event_id]
        out.append((number, json.dumps(obj, ensure_ascii=False)))
    return out
