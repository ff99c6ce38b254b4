"""Entity key normalisation and extraction (CONTRACT.md 5.5)."""

from __future__ import annotations

import re
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from imx.pipeline.entities import (
    EntityKey,
    extract_entity_keys,
    fold_diacritics,
    normalise_document,
    normalise_name,
    normalise_person,
    normalise_phone,
    normalise_plate,
)

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Čačak Ćuprija Šabac Žabalj Đakovo", "Cacak Cuprija Sabac Zabalj DJakovo"),
        ("čćšžđ", "ccszdj"),
        ("Éçö", "Eco"),
        ("plain", "plain"),
    ],
)
def test_fold_diacritics(raw: str, expected: str) -> None:
    assert fold_diacritics(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("BG 123-AB", "BG123AB"),
        ("bg123ab", "BG123AB"),
        ("NI 456-ČŠ", "NI456CS"),
        ("ni 456-čš", "NI456CS"),
        ("ŽA 1-Đ", "ZA1DJ"),
        ("ža 1-đ", "ZA1DJ"),
        ("Ćć", "CC"),
        ("  ", ""),
        ("VR·12/3", "VR123"),
    ],
)
def test_normalise_plate(raw: str, expected: str) -> None:
    assert normalise_plate(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("+381 64 123 4567", "381641234567"),
        ("00381 64 123 4567", "381641234567"),
        ("064/123-4567", "381641234567"),
        ("0043 1 234567", "431234567"),
        ("1234567", None),  # seven digits
        ("12345678", "12345678"),  # eight digits: kept
        ("0123456", "381123456"),  # short before, 9 digits after: length is checked last
        ("00 1234567", None),  # 7 digits left after dropping 00
        ("000641234567", "381641234567"),  # 00 dropped, then the single 0 rule
        ("", None),
        ("call me", None),
    ],
)
def test_normalise_phone(raw: str, expected: str | None) -> None:
    assert normalise_phone(raw) == expected


def test_normalise_document() -> None:
    assert normalise_document("srb", "p 123-456") == "SRB:P123456"
    assert normalise_document("AFG", "Ž0012") == "AFG:Z0012"
    assert normalise_document("SRB", " - ") is None


def test_normalise_person() -> None:
    assert normalise_person("Petrović", "Marko", "1990-02-03") == "petrovic|marko|1990-02-03"
    assert normalise_person("ĐORĐEVIĆ", "Đorđe", "1985-12-31") == "djordjevic|djordje|1985-12-31"
    assert (
        normalise_person("  Van  der Berg ", "Ana", "2000-01-01") == "van der berg|ana|2000-01-01"
    )
    assert normalise_person("Petrović", "Marko", None) is None
    assert normalise_person("Petrović", "Marko", "") is None
    assert normalise_person(" ", "", "1990-02-03") is None


def test_normalise_name_case_and_diacritics() -> None:
    assert normalise_name("ŠARIĆ") == normalise_name("šarić") == "saric"
    assert normalise_name("Straße") == "strasse"


text = st.text(alphabet=st.characters(codec="utf-8"), max_size=40)


@given(text)
def test_plate_normaliser_is_idempotent_and_in_alphabet(raw: str) -> None:
    plate = normalise_plate(raw)
    assert re.fullmatch(r"[A-Z0-9]*", plate)
    assert normalise_plate(plate) == plate


@given(text)
def test_phone_normaliser_is_idempotent_and_in_alphabet(raw: str) -> None:
    phone = normalise_phone(raw)
    if phone is not None:
        assert re.fullmatch(r"[1-9][0-9]{7,}", phone)
        assert normalise_phone(phone) == phone


@given(st.from_regex(r"(\+|00)?[0-9 ()/-]{0,20}", fullmatch=True))
def test_phone_normaliser_on_phone_like_input(raw: str) -> None:
    phone = normalise_phone(raw)
    assert phone is None or normalise_phone(phone) == phone


@given(text, text)
def test_document_normaliser_is_idempotent_and_in_alphabet(country: str, number: str) -> None:
    key = normalise_document(country, number)
    if key is not None:
        assert re.fullmatch(r"[A-Z0-9]*:[A-Z0-9]+", key)
        folded_country, folded_number = key.split(":")
        assert normalise_document(folded_country, folded_number) == key


@given(text)
def test_name_normaliser_is_idempotent_folded_and_trimmed(raw: str) -> None:
    name = normalise_name(raw)
    assert normalise_name(name) == name
    assert name.casefold() == name
    assert name == name.strip()
    assert "  " not in name
    assert not any(unicodedata.combining(c) for c in unicodedata.normalize("NFKD", name))
    assert "đ" not in name


def test_extracts_every_person_document_phone_and_vehicle(build) -> None:
    report = build.report(
        "UnauthorisedBorderCrossing",
        vehicle=build.vehicle(plate="vr 123-šđ"),
        facilitators=[
            build.person(
                birth_date="1990-02-03",
                phones=["064 123 4567", "12"],
                documents=[build.document(number="p-1", issuing_country="SRB")],
            ),
            build.person(given_name="Ana", family_name="Ilić"),  # no birth date: no person key
        ],
    )
    assert extract_entity_keys(report) == (
        EntityKey("document", "SRB:P1"),
        EntityKey("person", "petrovic|marko|1990-02-03"),
        EntityKey("phone", "381641234567"),
        EntityKey("vehicle", "VR123SDJ"),
    )


def test_extracts_suspects_and_document_fraud(build) -> None:
    smuggling = build.report(
        "MigrantSmuggling",
        suspects=[
            build.person(phones=["+381641234567"]),
            build.person(given_name="Jovan", phones=["0641234567"]),  # same phone: one key
        ],
    )
    assert extract_entity_keys(smuggling) == (EntityKey("phone", "381641234567"),)
    fraud = build.report(
        "DocumentFraud",
        document=build.document(number="X9", issuing_country="AFG"),
        holder=build.person(birth_date="2001-01-01", documents=[build.document()]),
    )
    assert extract_entity_keys(fraud) == (
        EntityKey("document", "AFG:X9"),
        EntityKey("document", "SRB:P1234567"),
        EntityKey("person", "petrovic|marko|2001-01-01"),
    )


def test_reports_without_entities_and_empty_keys(build) -> None:
    assert extract_entity_keys(build.report("CrisisSituation")) == ()
    assert extract_entity_keys(build.report("RfiResponse")) == ()
    sighting = build.report("VehicleSighting", vehicle=build.vehicle(plate=" -- "))
    assert extract_entity_keys(sighting) == ()


def test_extraction_is_order_independent(build) -> None:
    people = [build.person(phones=["0641111111"]), build.person(phones=["0652222222"])]
    forward = build.report("MigrantSmuggling", suspects=people)
    backward = build.report("MigrantSmuggling", suspects=people[::-1])
    assert extract_entity_keys(forward) == extract_entity_keys(backward)
