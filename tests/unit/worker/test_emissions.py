"""What the core writes for a decision, and what it leaves out after a crash (worker/emissions)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import islice
from typing import Any

import pytest

from imx.kafka.topology import TABLES, Topology
from imx.pipeline.core import ACCEPTED, Core, Outcome
from imx.pipeline.screen import Rejection
from imx.pipeline.state import PipelineState
from imx.registry import load_registry
from imx.schema.delivery_writer import DeliveryWriter
from imx.schema.loader import default_schemas
from imx.simulator.generator import new_simulator
from imx.worker import emissions
from imx.worker import headers as h
from imx.worker.emissions import Accepted

pytestmark = pytest.mark.unit

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
TOPOLOGY = Topology("p-", 3, 1, tuple(load_registry().ids()), "imx")
WRITER = DeliveryWriter(default_schemas())


@pytest.fixture(scope="module")
def outcome() -> Outcome:
    """An accepted report with several deliveries, decided by the real core."""
    registry = load_registry()
    core = Core(registry, b"k" * 32, lambda: NOW)
    state = PipelineState(**{name: {} for name in TABLES})
    for report in islice(new_simulator(registry, 3, lambda: NOW), 50):
        report["reported_at"] = report["reported_at"] or NOW - timedelta(seconds=2)
        decided = core.decide(report, state, ingested_at=NOW, source=0)
        if decided.status == ACCEPTED and len(decided.deliveries) >= 3:
            return decided
    msg = "the simulator made no report with three recipients"
    raise AssertionError(msg)


def never(_: str) -> bool:
    return False


def test_each_delivery_is_a_feed_record_and_a_disclosure(outcome: Outcome) -> None:
    planned = emissions.deliveries(TOPOLOGY, WRITER, 17, outcome, never)
    assert planned.first_time
    assert planned.delivered == outcome.deliveries
    values = WRITER.encode([d.record for d in outcome.deliveries])
    for delivery, value, (feed, audit) in zip(
        outcome.deliveries,
        values,
        zip(planned.records[::2], planned.records[1::2], strict=True),
        strict=True,
    ):
        delivery_id = delivery.record["delivery_id"]
        assert feed.topic == f"p-feed.{delivery.recipient}"
        assert feed.key == delivery.key.encode()
        assert feed.value == value
        assert feed.headers == {h.SRC: b"17", h.ID: delivery_id.encode()}
        assert audit.topic == "p-audit.disclosures"
        assert audit.key == delivery.disclosure["event_id"].encode()
        assert audit.value == WRITER.encode_disclosure(delivery.disclosure)
        assert audit.headers == {h.SRC: b"17", h.ID: f"audit:{delivery_id}".encode()}


def test_what_was_written_before_a_crash_is_not_written_again(outcome: Outcome) -> None:
    first, second, *_ = [d.record["delivery_id"] for d in outcome.deliveries]
    written = {first, f"audit:{first}", f"audit:{second}"}
    planned = emissions.deliveries(TOPOLOGY, WRITER, 17, outcome, written.__contains__)
    ids = [r.headers[h.ID].decode() for r in planned.records]
    assert first not in ids
    assert f"audit:{first}" not in ids
    assert second in ids
    assert f"audit:{second}" not in ids
    assert not planned.first_time, "counted when it was first written"
    assert next(d.record["delivery_id"] for d in planned.delivered) == second
    assert len(planned.delivered) == len(outcome.deliveries) - 1


def test_a_rejection_by_the_core_keeps_the_bytes_and_names_the_origin() -> None:
    origin = h.Origin("p-ingress.ps-bor", 1, 99, "ps-bor")
    message = Accepted(
        "p-imx-accepted", 0, 7, 0, b"\xc3\x01bytes",
        {**h.accepted_headers(origin, b"eid", NOW, NOW)},
    )  # fmt: skip
    record = emissions.dead_letter(TOPOLOGY, message, Rejection("UNKNOWN_RFI", "x"), never)
    assert record is not None
    assert (record.topic, record.key, record.value) == ("p-dlq.ingress", b"eid", b"\xc3\x01bytes")
    assert record.headers == {
        h.ERROR_CODE: b"UNKNOWN_RFI",
        h.ERROR_DETAIL: b"x",
        **origin.headers(),
        h.SRC: b"7",
        h.ID: b"dlq:7",
    }
    written: Any = {"dlq:7"}.__contains__
    assert emissions.dead_letter(TOPOLOGY, message, Rejection("UNKNOWN_RFI", "x"), written) is None
