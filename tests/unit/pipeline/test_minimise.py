"""Pseudonymisation for analytics and free-text removal for international (CONTRACT.md 5.7)."""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from imx.pipeline.minimise import (
    drop_free_text,
    minimisation,
    minimise_report,
    pseudonym,
    pseudonymise_correlation,
    pseudonymise_report,
    tree_copy,
)
from imx.pipeline.routing import Rule

pytestmark = pytest.mark.unit

KEY = b"analytics-key-1"
OTHER_KEY = b"analytics-key-2"
TOKEN = re.compile(r"pz:[0-9a-f]{16}")


def leaves(value: Any) -> Iterator[Any]:
    """Every scalar in a nested structure of dicts and lists."""
    if isinstance(value, dict):
        for item in value.values():
            yield from leaves(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from leaves(item)
    else:
        yield value


@pytest.fixture
def report(build) -> dict[str, Any]:
    suspect = build.person(
        given_name="Đorđe",
        family_name="Šarić",
        birth_date="1990-02-03",
        nationality="SRB",
        documents=[build.document(number="P 765-4321", issuing_country="SRB")],
        phones=["064 111 2233", "+43 660 1234567", "12"],
    )
    accomplice = build.person(given_name="Ana", family_name="Ilić", phones=["0659876543"])
    return build.report(
        "MigrantSmuggling",
        suspects=[suspect, accomplice],
        vehicle=build.vehicle(plate="VR 123-ŠĐ", registration_country="SRB"),
        notes="Driver Đorđe Šarić admitted the transport.",
        response="Vehicle seized.",
    )


def personal_values(report: dict[str, Any]) -> set[str]:
    values = {report["notes"], report["response"], report["vehicle"]["plate"], "VR123SDJ"}
    for person in report["suspects"]:
        values |= {person["given_name"], person["family_name"], person["birth_date"]}
        values |= {person["given_name"].lower(), person["family_name"].lower()}
        values |= set(person["phones"])
        values |= {d["number"] for d in person["documents"]}
    return values - {None}


def test_no_personal_value_in_clear_anywhere(report) -> None:
    out = pseudonymise_report(report, KEY)
    secret = personal_values(report) | {"djordje", "saric", "ana", "ilic", "381641112233"}
    clear = [leaf for leaf in leaves(out) if isinstance(leaf, str) and leaf in secret]
    assert clear == []
    text = repr(out)
    assert "1990-02-03" not in text
    assert "Šarić" not in text
    assert "7654321" not in text


def test_identifiers_become_tokens_and_birth_year_is_kept(report) -> None:
    out = pseudonymise_report(report, KEY)
    suspect = out["suspects"][0]
    for value in (suspect["given_name"], suspect["family_name"], out["vehicle"]["plate"]):
        assert TOKEN.fullmatch(value)
    assert suspect["birth_date"] is None
    assert suspect["birth_year"] == 1990
    assert out["suspects"][1]["birth_year"] is None
    assert len(suspect["phones"]) == 3
    assert all(TOKEN.fullmatch(p) for p in suspect["phones"])
    assert TOKEN.fullmatch(suspect["documents"][0]["number"])
    assert out["notes"] is None
    assert out["response"] is None
    # Non-identifying content stays.
    assert suspect["nationality"] == "SRB"
    assert suspect["documents"][0]["issuing_country"] == "SRB"
    assert out["vehicle"]["registration_country"] == "SRB"
    assert out["event_id"] == report["event_id"]


def test_tokens_use_the_normalised_value(report) -> None:
    out = pseudonymise_report(report, KEY)
    suspect = out["suspects"][0]
    assert suspect["given_name"] == pseudonym(KEY, "djordje")
    assert suspect["family_name"] == pseudonym(KEY, "saric")
    assert suspect["phones"][0] == pseudonym(KEY, "381641112233")
    assert suspect["phones"][2] == pseudonym(KEY, "12")  # too short for a key: raw value
    assert suspect["documents"][0]["number"] == pseudonym(KEY, "SRB:P7654321")
    assert out["vehicle"]["plate"] == pseudonym(KEY, "VR123SDJ")


def test_tokens_are_stable_and_keyed(report, build) -> None:
    assert pseudonymise_report(report, KEY) == pseudonymise_report(copy.deepcopy(report), KEY)
    other = pseudonymise_report(report, OTHER_KEY)
    assert other["vehicle"]["plate"] != pseudonymise_report(report, KEY)["vehicle"]["plate"]
    respelt = copy.deepcopy(report)
    respelt["vehicle"]["plate"] = "vr123šđ"
    respelt["suspects"][0]["family_name"] = "SARIC"
    a, b = pseudonymise_report(report, KEY), pseudonymise_report(respelt, KEY)
    assert a["vehicle"]["plate"] == b["vehicle"]["plate"]
    assert a["suspects"][0]["family_name"] == b["suspects"][0]["family_name"]


def test_pseudonym_format() -> None:
    assert TOKEN.fullmatch(pseudonym(KEY, "x"))
    assert pseudonym(KEY, "x") != pseudonym(KEY, "y")
    assert pseudonym(KEY, "x") != pseudonym(OTHER_KEY, "x")


def test_input_is_never_mutated(report) -> None:
    before = copy.deepcopy(report)
    pseudonymise_report(report, KEY)
    drop_free_text(report)
    minimise_report(report, [Rule.CHAIN], KEY)
    assert report == before


def test_document_fraud_and_facilitators(build) -> None:
    holder = build.person(given_name="Omar", family_name="Haidari", phones=["0641234567"])
    fraud = build.report("DocumentFraud", document=build.document(number="X99"), holder=holder)
    out = pseudonymise_report(fraud, KEY)
    assert out["document"]["number"] == pseudonym(KEY, "SRB:X99")
    assert out["holder"]["family_name"] == pseudonym(KEY, "haidari")
    crossing = build.report("UnauthorisedBorderCrossing", facilitators=[holder])
    assert pseudonymise_report(crossing, KEY)["facilitators"][0]["given_name"] == pseudonym(
        KEY, "omar"
    )


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    given_name=st.text(min_size=1, max_size=12),
    family_name=st.text(min_size=1, max_size=12),
    phone=st.text(alphabet="0123456789 +-", min_size=1, max_size=16),
    plate=st.text(min_size=1, max_size=10),
)
def test_random_identifiers_never_leak(build, given_name, family_name, phone, plate) -> None:
    base = build.report("UnauthorisedBorderCrossing", vehicle=build.vehicle(plate="-"))
    public = {leaf for leaf in leaves(base) if isinstance(leaf, str)} | {"SUSPECT"}
    secret = {given_name, family_name, phone, plate}
    assume(not secret & public and not any(s.startswith("pz:") for s in secret))
    person = build.person(given_name=given_name, family_name=family_name, phones=[phone])
    report = build.report(
        "UnauthorisedBorderCrossing",
        event_id=base["event_id"],
        facilitators=[person],
        vehicle=build.vehicle(plate=plate),
    )
    out = pseudonymise_report(report, KEY)
    assert not secret & {leaf for leaf in leaves(out) if isinstance(leaf, str)}


def test_international_drops_free_text_only(report) -> None:
    out = drop_free_text(report)
    assert out["notes"] is None
    assert out["response"] is None
    assert out["suspects"] == report["suspects"]
    assert {k: v for k, v in out.items() if k not in ("notes", "response")} == {
        k: v for k, v in report.items() if k not in ("notes", "response")
    }


def test_minimise_by_rules(report) -> None:
    assert minimise_report(report, ["analytics"], KEY) == pseudonymise_report(report, KEY)
    assert minimise_report(report, [Rule.INTERNATIONAL], KEY) == drop_free_text(report)
    unchanged = minimise_report(report, [Rule.CHAIN, Rule.CRIME], KEY)
    assert unchanged == report
    assert unchanged is not report


@pytest.mark.parametrize(
    ("rules", "applied"),
    [
        ([Rule.CHAIN, Rule.CRIME], None),
        ([Rule.INTERNATIONAL, Rule.CHAIN], Rule.INTERNATIONAL),
        (["analytics", "international"], Rule.ANALYTICS),
        ([], None),
    ],
)
def test_recipients_with_the_same_minimisation_see_the_same_content(report, rules, applied) -> None:
    assert minimisation(rules) is applied
    strictest = [applied] if applied is not None else [Rule.CHAIN]
    assert minimise_report(report, rules, KEY) == minimise_report(report, strictest, KEY)


def test_correlation_entity_key_is_tokenised() -> None:
    correlation = {
        "correlation_id": "c1",
        "entity_kind": "vehicle",
        "entity_key": "VR123SDJ",
        "event_ids": ["a", "b"],
        "units": ["ps-sid"],
    }
    out = pseudonymise_correlation(correlation, KEY)
    assert out == {**correlation, "entity_key": pseudonym(KEY, "VR123SDJ")}
    assert correlation["entity_key"] == "VR123SDJ"


_TREES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=4),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=12,
)


@given(tree=_TREES)
def test_tree_copy_is_a_deep_copy_of_decoded_data(tree: Any) -> None:
    copied = tree_copy(tree)
    assert copied == copy.deepcopy(tree)
    # no dict or list is shared: changing the copy leaves the original as it was
    before = copy.deepcopy(tree)
    _scribble(copied)
    assert tree == before


def _scribble(node: Any) -> None:
    if isinstance(node, dict):
        for member in list(node.values()):
            _scribble(member)
        node["scribbled"] = True
    elif isinstance(node, list):
        for item in node:
            _scribble(item)
        node.append("scribbled")
