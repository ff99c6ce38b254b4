"""The delivery writer joins separately written parts: they must be encode_delivery's bytes."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from fastavro import schemaless_writer
from hypothesis import given
from hypothesis import strategies as st

from imx.schema.codec import EncodingError, encode, encode_delivery
from imx.schema.delivery_writer import DeliveryWriter, compile_writer, split_record
from imx.schema.loader import AvroSchema, SchemaSet

from .samples import ENRICHMENT, correlation_delivery
from .strategies import any_report, timestamps

INLAND = {**ENRICHMENT, "border_section": "inland", "section_impact": None, "territorial": None}
RULES = st.lists(
    st.sampled_from(["chain", "line", "neighbour", "crime", "analytics", "international", "rfi"]),
    unique=True,
)


def _delivery(
    recipient: str,
    rules: list[str],
    report: dict[str, Any],
    enrichment: dict[str, Any],
    at: datetime,
) -> dict[str, Any]:
    return {
        "delivery_id": f"d-{recipient}",
        "recipient": recipient,
        "kind": "report",
        "rules": rules,
        "incident_id": report["event_id"],
        "duplicate_of": None,
        "report": report,
        "correlation": None,
        "enrichment": enrichment,
        "timing": {
            "occurred_at": report["occurred_at"],
            "reported_at": report["reported_at"],
            "ingested_at": at,
            "delivered_at": at,
        },
    }


def _correlation(at: datetime) -> dict[str, Any]:
    return {**correlation_delivery(at), "rules": ["correlation"], "delivery_id": "d-corr"}


@given(
    views=st.lists(any_report(), min_size=1, max_size=3),
    picks=st.lists(st.tuples(st.integers(0, 2), RULES, st.booleans()), min_size=1, max_size=8),
    at=timestamps,
    with_correlation=st.booleans(),
)
def test_joined_parts_are_the_whole_encoding(
    views: list[dict[str, Any]],
    picks: list[tuple[int, list[str], bool]],
    at: datetime,
    with_correlation: bool,
    schemas: SchemaSet,
) -> None:
    # recipients share report objects (one minimised view) and enrichment objects in any mix
    deliveries = [
        _delivery(f"u{n}", rules, views[pick % len(views)], INLAND if inland else ENRICHMENT, at)
        for n, (pick, rules, inland) in enumerate(picks)
    ]
    if with_correlation:
        deliveries.insert(len(deliveries) // 2, _correlation(at))
    expected = [encode_delivery(delivery, schemas) for delivery in deliveries]
    assert DeliveryWriter(schemas).encode(deliveries) == expected


@given(report=any_report(), at=timestamps)
def test_equal_but_distinct_views_are_written_apart_and_alike(
    report: dict[str, Any], at: datetime, schemas: SchemaSet
) -> None:
    copy = dict(report)
    first, second = DeliveryWriter(schemas).encode(
        [_delivery("a", [], report, ENRICHMENT, at), _delivery("a", [], copy, ENRICHMENT, at)]
    )
    assert first == second


def test_a_shared_view_is_written_once(
    schemas: SchemaSet, monkeypatch: pytest.MonkeyPatch, golden: dict[str, Any]
) -> None:
    writer = DeliveryWriter(schemas)
    calls: list[str] = []
    original = writer._encode_body

    def counting(delivery: dict[str, Any]) -> bytes:
        calls.append(delivery["recipient"])
        return original(delivery)

    monkeypatch.setattr(writer, "_encode_body", counting)
    at = golden["occurred_at"]
    other = dict(golden)
    correlation = _correlation(at)
    writer.encode(
        [
            _delivery("a", ["chain"], golden, ENRICHMENT, at),
            _delivery("b", ["line"], golden, ENRICHMENT, at),
            _delivery("c", ["analytics"], other, ENRICHMENT, at),
            _delivery("d", ["chain"], golden, INLAND, at),
            {**correlation, "recipient": "e"},
            {**correlation, "recipient": "f"},
        ]
    )
    assert calls == ["a", "c", "d", "e"]


def test_parts_cover_every_field_in_order(schemas: SchemaSet) -> None:
    delivery = schemas.delivery()
    parts = split_record(delivery, ("report", "timing"))
    names = [field["name"] for part in parts for field in part.parsed["fields"]]
    assert names == [field["name"] for field in delivery.parsed["fields"]]
    assert [part.parsed["fields"][0]["name"] for part in parts] == [
        "delivery_id",
        "report",
        "timing",
    ]


def test_a_cut_at_no_field_is_refused(schemas: SchemaSet) -> None:
    with pytest.raises(ValueError, match="no field"):
        split_record(schemas.delivery(), ("reprot",))


_SMALL = {
    "type": "record",
    "name": "rs.mup.imx.test.Small",
    "fields": [
        {"name": "s", "type": "string"},
        {"name": "n", "type": "long"},
        {"name": "i", "type": "int"},
        {"name": "b", "type": "boolean"},
        {"name": "e", "type": {"type": "enum", "name": "Colour", "symbols": ["red", "green"]}},
        {"name": "a", "type": {"type": "array", "items": "string"}},
        {"name": "o", "type": ["null", "string"]},
        {"name": "t", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {
            "name": "r",
            "type": [
                "null",
                {"type": "record", "name": "Inner", "fields": [{"name": "x", "type": "Colour"}]},
            ],
        },
    ],
}
_LONGS = st.integers(min_value=-(2**63), max_value=2**63 - 1)
_ANY_MOMENT = st.datetimes(
    min_value=datetime(1, 1, 2),  # noqa: DTZ001 - bounds of an aware strategy
    max_value=datetime(9999, 12, 30),  # noqa: DTZ001
    timezones=st.just(UTC),
)


@given(
    datum=st.fixed_dictionaries(
        {
            "s": st.text(),
            "n": _LONGS,
            "i": st.integers(min_value=-(2**31), max_value=2**31 - 1),
            "b": st.booleans(),
            "e": st.sampled_from(["red", "green"]),
            "a": st.lists(st.text(max_size=3)),
            "o": st.none() | st.text(max_size=3),
            "t": _ANY_MOMENT | _LONGS,
            "r": st.none() | st.fixed_dictionaries({"x": st.sampled_from(["red", "green"])}),
        }
    )
)
def test_a_compiled_writer_writes_what_fastavro_writes(datum: dict[str, Any]) -> None:
    schema = AvroSchema.from_json(json.dumps(_SMALL))
    expected = io.BytesIO()
    schemaless_writer(expected, schema.parsed, datum)
    assert compile_writer(schema)(datum) == expected.getvalue()


_TIMING_FIELDS = ("occurred_at", "reported_at", "ingested_at", "delivered_at")


@given(timing=st.fixed_dictionaries(dict.fromkeys(_TIMING_FIELDS, _ANY_MOMENT)))
def test_the_delivery_tail_keeps_fastavros_milliseconds(
    timing: dict[str, datetime], schemas: SchemaSet
) -> None:
    # microseconds are cut the way fastavro cuts them, before and after 1970
    _, _, tail = split_record(schemas.delivery(), ("report", "timing"))
    expected = io.BytesIO()
    schemaless_writer(expected, tail.parsed, {"timing": timing})
    assert compile_writer(tail)({"timing": timing}) == expected.getvalue()


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("s", 3, "not a string"),
        ("n", "3", "not an integer"),
        ("n", True, "not an integer"),
        ("e", "blue", "not one of"),
        ("t", datetime(2024, 1, 1), "no time zone"),  # noqa: DTZ001 - the point of the test
    ],
)
def test_a_compiled_writer_refuses_what_does_not_fit(field: str, value: Any, message: str) -> None:
    schema = AvroSchema.from_json(json.dumps(_SMALL))
    datum = {"s": "", "n": 0, "i": 0, "b": False, "e": "red", "a": [], "o": None, "t": 0, "r": None}
    with pytest.raises(EncodingError, match=message):
        compile_writer(schema)({**datum, field: value})


def test_a_type_it_cannot_compile_is_left_to_fastavro() -> None:
    schema = AvroSchema.from_json(
        json.dumps({"type": "record", "name": "F", "fields": [{"name": "d", "type": "double"}]})
    )
    expected = io.BytesIO()
    schemaless_writer(expected, schema.parsed, {"d": 1.5})
    assert compile_writer(schema)({"d": 1.5}) == expected.getvalue()


_DISCLOSURES = st.fixed_dictionaries(
    {
        "audit_id": st.text(),
        "event_id": st.none() | st.text(),
        "correlation_id": st.none() | st.text(),
        "recipient": st.text(),
        "rules": RULES,
        "justification": st.text(),
        "at": timestamps,
        "contains_personal_data": st.booleans(),
        "pseudonymised": st.booleans(),
    }
)


@given(disclosure=_DISCLOSURES)
def test_disclosures_are_written_as_the_codec_writes_them(
    disclosure: dict[str, Any], schemas: SchemaSet
) -> None:
    expected = encode(schemas.disclosure(), disclosure)
    assert DeliveryWriter(schemas).encode_disclosure(disclosure) == expected


@given(moments=st.lists(st.sampled_from([0, 1, 2]), min_size=1, max_size=8), at=timestamps)
def test_a_remembered_timestamp_is_only_reused_for_the_same_object(
    moments: list[int], at: datetime, schemas: SchemaSet
) -> None:
    # the same datetime object in a row is written from memory; another object, even an
    # equal one, is written afresh
    _, _, tail = split_record(schemas.delivery(), ("report", "timing"))
    objects = [at, at.replace(microsecond=(at.microsecond + 1000) % 1_000_000), at + (at - at)]
    write = compile_writer(tail)
    for pick in moments:
        moment = objects[pick]
        datum = {"timing": dict.fromkeys(_TIMING_FIELDS, moment)}
        expected = io.BytesIO()
        schemaless_writer(expected, tail.parsed, datum)
        assert write(datum) == expected.getvalue()
