"""``imx simulate`` against a real broker: valid reports on the right ingress topics, seeded."""

from __future__ import annotations

import asyncio
import itertools
import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from imx.kafka.connection import Connection
from imx.kafka.reading import read_to_end
from imx.kafka.schemastore import SchemaStore
from imx.kafka.topology import Topology
from imx.registry import load_registry
from imx.schema.codec import decode_report
from imx.schema.loader import SchemaSet, default_schemas
from imx.schema.validation import check_clock, validate_report
from imx.settings import Settings
from imx.simulator.generator import new_simulator
from tests.support.proc import run_imx

pytestmark = pytest.mark.integration


def _ingress(settings: Settings, topology: Topology, units: list[str]) -> dict[str, list[Any]]:
    async def read() -> dict[str, list[Any]]:
        topics = [
            read_to_end(Connection.from_settings(settings), topology.ingress(u)) for u in units
        ]
        return dict(zip(units, await asyncio.gather(*topics), strict=True))

    return asyncio.run(read())


def test_simulated_reports_land_on_ingress_topics_and_pass_validation(
    settings: Settings, topology: Topology, cli_env: dict[str, str]
) -> None:
    registry = load_registry(settings.registry_path)
    local = [u.id for u in registry.local_units()]
    before = datetime.now(UTC)
    out = run_imx(["simulate", "--duration", "3", "--rate", "20", "--seed", "1"], cli_env)
    after = datetime.now(UTC)
    assert out.returncode == 0, out.stderr
    summary = re.fullmatch(r"published (\d+) reports: (.*) in [\d.]+ s \(seed 1\)\n", out.stdout)
    assert summary, out.stdout
    published = int(summary.group(1))
    assert 50 <= published <= 62, "20 reports/s for 3 s"
    printed = dict(item.split("=") for item in summary.group(2).split())

    records = _ingress(settings, topology, [u.id for u in registry.units.values()])
    assert sum(len(r) for r in records.values()) == published
    assert not any(records[u] for u in registry.ids() if u not in local), "only LOCAL units"

    # A reader that knows no schema resolves every value through imx.schemas alone.
    store = SchemaStore(
        Connection.from_settings(settings), topology.schemas, SchemaSet(settings.schemas_dir, {})
    )
    asyncio.run(store.refresh(force=True))
    by_unit: dict[str, list[dict[str, Any]]] = {}
    for unit, unit_records in records.items():
        for record in unit_records:
            report = decode_report(record.value, store.lookup, default_schemas())
            assert record.key == report["event_id"].encode()
            assert report["reporting_unit"] == unit
            assert validate_report(report, registry) == []
            assert check_clock(report, after) is None
            assert before - timedelta(seconds=1) <= report["reported_at"] <= after
            by_unit.setdefault(unit, []).append(report)
    types = Counter(r["type"] for reports in by_unit.values() for r in reports)
    assert {name: str(n) for name, n in types.items()} == printed

    # The seed fixes the sequence: each unit's topic holds that unit's share of it (in any
    # order: the topics have several partitions).
    expected = itertools.islice(new_simulator(registry, 1, lambda: after), published)
    want: dict[str, list[str]] = {}
    for report in expected:
        want.setdefault(report["reporting_unit"], []).append(report["event_id"])
    got = {u: sorted(r["event_id"] for r in rs) for u, rs in by_unit.items()}
    assert got == {u: sorted(ids) for u, ids in want.items()}
