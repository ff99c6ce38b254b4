"""Entity keys for correlation (CONTRACT.md 5.5) and the walk over a report's personal data.

Normalisers are idempotent (normalising a key again returns it unchanged), so a key read back
from state compares equal to a freshly extracted one. Decisions the contract leaves open:

- Diacritics: Đ/đ become DJ/dj first (Unicode does not decompose them), then every other mark
  is stripped after NFKD decomposition, so Č→C, Ć→C, Š→S, Ž→Z and also é→e, ö→o.
- Phone: the `00` and single-`0` prefix rules apply once each, in that order; the length check
  ("ignored if shorter than 8 digits") applies to the normalised number, the key actually
  compared. A normalised phone therefore never starts with `0`.
- Document: both parts are folded and reduced to `A-Z0-9`; a document without a number after
  that yields no key.
- Person: names are diacritics-folded and case-folded, and runs of white space become one
  space; no key without `birth_date` or when both names are empty.
- Keys that come out empty are ignored.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

EntityKind = Literal["vehicle", "phone", "document", "person"]

MIN_PHONE_DIGITS = 8
SERBIA_CALLING_CODE = "381"

_NOT_ALPHANUMERIC = re.compile(r"[^A-Z0-9]")
_NOT_DIGIT = re.compile(r"[^0-9]")
_WHITESPACE = re.compile(r"\s+")
_UNDECOMPOSABLE = str.maketrans({"Đ": "DJ", "đ": "dj"})


@dataclass(frozen=True, order=True)
class EntityKey:
    kind: EntityKind
    key: str


def fold_diacritics(text: str) -> str:
    """Latin letters without marks: Đ→DJ, đ→dj, then NFKD with combining marks removed."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_UNDECOMPOSABLE))
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def normalise_plate(plate: str) -> str:
    """Upper-case `A-Z0-9` only: `"bg 123-čš"` → `"BG123CS"`."""
    return _NOT_ALPHANUMERIC.sub("", fold_diacritics(plate).upper())


def normalise_phone(phone: str) -> str | None:
    """International digits (`064 123` → `381641…`), or None when under 8 digits."""
    digits = _NOT_DIGIT.sub("", phone)
    if digits.startswith("00"):
        digits = digits[2:]
    if digits.startswith("0"):
        digits = SERBIA_CALLING_CODE + digits[1:]
    return digits if len(digits) >= MIN_PHONE_DIGITS else None


def normalise_document(issuing_country: str, number: str) -> str | None:
    """`ISSUINGCOUNTRY:NUMBER`, both upper-case alphanumerics; None without a number."""
    country, folded_number = normalise_plate(issuing_country), normalise_plate(number)
    return f"{country}:{folded_number}" if folded_number else None


def normalise_name(name: str) -> str:
    """Case- and diacritics-folded name with single spaces: `" Đorđe  Šarić"` → `"djordje saric"`.

    Folding twice makes the result stable: case-folding can produce marks (İ → i̇) and
    compatibility decomposition can produce capitals (U+210C black-letter H → H).
    """
    folded = fold_diacritics(fold_diacritics(name).casefold()).casefold()
    return _WHITESPACE.sub(" ", folded).strip()


def normalise_person(family_name: str, given_name: str, birth_date: str | None) -> str | None:
    """`family|given|birth_date`, or None without a birth date or without any name."""
    if not birth_date or not birth_date.strip():
        return None
    family, given = normalise_name(family_name), normalise_name(given_name)
    if not family and not given:
        return None
    return f"{family}|{given}|{birth_date.strip()}"


def persons_of(report: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Every Person of a report: facilitators, suspects and a fraudulent document's holder."""
    yield from report.get("facilitators") or ()
    yield from report.get("suspects") or ()
    if report.get("holder") is not None:
        yield report["holder"]


def documents_of(report: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Every Document: those carried by persons and the subject of a DocumentFraud."""
    for person in persons_of(report):
        yield from person.get("documents") or ()
    if report.get("document") is not None:
        yield report["document"]


def vehicles_of(report: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    if report.get("vehicle") is not None:
        yield report["vehicle"]


def phones_of(report: Mapping[str, Any]) -> Iterator[str]:
    for person in persons_of(report):
        yield from person.get("phones") or ()


def extract_entity_keys(report: Mapping[str, Any]) -> tuple[EntityKey, ...]:
    """Distinct entity keys of a report, sorted by (kind, key)."""
    keys: set[EntityKey] = set()
    for vehicle in vehicles_of(report):
        if plate := normalise_plate(vehicle["plate"]):
            keys.add(EntityKey("vehicle", plate))
    for phone in phones_of(report):
        if number := normalise_phone(phone):
            keys.add(EntityKey("phone", number))
    for document in documents_of(report):
        if doc_key := normalise_document(document["issuing_country"], document["number"]):
            keys.add(EntityKey("document", doc_key))
    for person in persons_of(report):
        person_key = normalise_person(
            person["family_name"], person["given_name"], person.get("birth_date")
        )
        if person_key:
            keys.add(EntityKey("person", person_key))
    return tuple(sorted(keys))
