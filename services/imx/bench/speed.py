"""How fast the machine is right now: a fixed CPU workload, timed around every benchmark run.

The development machine's speed drifts by half within minutes (the same ``--logic-only`` run,
back to back, took 0.53 and 0.35 ms per report), so a figure of one run says little about a
change unless the machine's speed at the time is known too. ``imx bench`` times this workload
before it starts anything and again after it stopped everything, and prints both. It flags a
run made in a slow phase rather than correcting it (over thirty runs it followed the logic's
CPU figure at r = 0.76, and its own readings 3 s apart can differ by half): runs compare only
when their references agree.

The workload is plain interpreted Python over fixed data (dicts, strings, JSON, sorting, the
kind of work the worker's own time goes to) and uses no code of imx, so a change to the
pipeline never moves the reference it is judged against.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass
from typing import Any

#: Records of the workload: a round takes about 0.1 s of CPU on the development machine.
RECORDS = 10_000
ROUNDS = 5


@dataclass(frozen=True)
class Reference:
    """CPU milliseconds of one round of the workload, the best of ``ROUNDS``; and its checksum."""

    ms: float
    checksum: int


def workload_records(count: int = RECORDS) -> list[dict[str, Any]]:
    """The fixed input: the same records on every machine and in every run."""
    rng = random.Random(20_261_203)  # noqa: S311 - fixed data, not secrecy
    units = [f"unit-{n:03d}" for n in range(40)]
    return [
        {
            "event_id": f"{rng.getrandbits(64):016x}",
            "unit": rng.choice(units),
            "persons": rng.randrange(1, 40),
            "lat": round(rng.uniform(42.0, 46.2), 5),
            "lon": round(rng.uniform(18.8, 23.0), 5),
            "tags": [rng.choice(units) for _ in range(rng.randrange(0, 6))],
            "text": " ".join(f"w{rng.randrange(500)}" for _ in range(rng.randrange(3, 20))),
        }
        for _ in range(count)
    ]


def one_round(records: list[dict[str, Any]]) -> int:
    """Encode, decode, index and sort ``records``; a checksum of the result (the work done)."""
    by_unit: dict[str, list[dict[str, Any]]] = {}
    total = 0
    for record in records:
        copy = json.loads(json.dumps(record, sort_keys=True))
        key = str(copy["unit"])
        by_unit.setdefault(key, []).append(copy)
        words = str(copy["text"]).split()
        total += len(words) + sum(len(tag) for tag in copy["tags"])
    for group in by_unit.values():
        group.sort(key=lambda r: (-r["persons"], r["event_id"]))
        total += group[0]["persons"]
    return total


def reference(rounds: int = ROUNDS, count: int = RECORDS) -> Reference:
    """Time the workload ``rounds`` times in this process's CPU time; keep the best round."""
    records = workload_records(count)
    best = float("inf")
    checksum = 0
    for _ in range(rounds):
        started = time.process_time()
        checksum = one_round(records)
        best = min(best, time.process_time() - started)
    return Reference(ms=best * 1000, checksum=checksum)
