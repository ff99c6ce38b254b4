"""Per-recipient minimisation of delivered content (CONTRACT.md 5.7).

Analytics receives pseudonyms: `pz:` + the first 16 hex digits of HMAC-SHA256(key, value),
where value is the normalised form used for correlation (so the token of a plate or document
in a report equals the token of the correlation's `entity_key` for it) and, for names, the
case- and diacritics-folded name. Values that normalise to nothing are tokenised as given,
never passed through. A person keeps `birth_year` (a new member, null without a birth date)
while `birth_date` becomes null, so the record keeps the report's shape. Every function
returns a deep copy; the input is never changed.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping
from typing import Any

from imx.pipeline.entities import (
    documents_of,
    normalise_document,
    normalise_name,
    normalise_phone,
    normalise_plate,
    persons_of,
    vehicles_of,
)
from imx.pipeline.routing import Rule

PSEUDONYM_PREFIX = "pz:"
PSEUDONYM_HEX_DIGITS = 16
FREE_TEXT_FIELDS = ("notes", "response")


def pseudonym(key: bytes, value: str) -> str:
    """Stable token for a (normalised) value under a secret key."""
    digest = hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()
    return PSEUDONYM_PREFIX + digest[:PSEUDONYM_HEX_DIGITS]


def tree_copy(value: Any) -> Any:
    """A deep copy of decoded data: dicts and lists copied, everything else immutable.

    Decoded reports hold only dicts, lists and immutable scalars (strings, numbers, datetimes),
    so this is ``copy.deepcopy`` without its memo and dispatch, several times faster.
    """
    if isinstance(value, dict):
        return {name: tree_copy(member) for name, member in value.items()}
    if isinstance(value, list):
        return [tree_copy(item) for item in value]
    return value


def drop_free_text(report: Mapping[str, Any]) -> dict[str, Any]:
    """The report without `notes` and `response` (international deliveries)."""
    minimised: dict[str, Any] = tree_copy(dict(report))
    for field in FREE_TEXT_FIELDS:
        if field in minimised:
            minimised[field] = None
    return minimised


def _pseudonymise_person(person: dict[str, Any], key: bytes) -> None:
    person["given_name"] = pseudonym(key, normalise_name(person["given_name"]))
    person["family_name"] = pseudonym(key, normalise_name(person["family_name"]))
    birth_date = person.get("birth_date")
    person["birth_year"] = int(birth_date[:4]) if birth_date else None
    person["birth_date"] = None
    person["phones"] = [pseudonym(key, normalise_phone(p) or p) for p in person["phones"]]


def pseudonymise_report(report: Mapping[str, Any], key: bytes) -> dict[str, Any]:
    """The analytics form of a report: personal identifiers tokenised, free text removed."""
    minimised = drop_free_text(report)
    for person in persons_of(minimised):
        _pseudonymise_person(person, key)
    for document in documents_of(minimised):
        number = document["number"]
        entity = normalise_document(document["issuing_country"], number)
        document["number"] = pseudonym(key, entity or number)
    for vehicle in vehicles_of(minimised):
        plate = vehicle["plate"]
        vehicle["plate"] = pseudonym(key, normalise_plate(plate) or plate)
    return minimised


def pseudonymise_correlation(correlation: Mapping[str, Any], key: bytes) -> dict[str, Any]:
    """A correlation (section 6 form) with its `entity_key` tokenised."""
    minimised: dict[str, Any] = tree_copy(dict(correlation))
    minimised["entity_key"] = pseudonym(key, correlation["entity_key"])
    return minimised


def minimisation(rules: Iterable[Rule | str]) -> Rule | None:
    """The rule whose minimisation applies to a recipient chosen by `rules` (None: none)."""
    chosen = {Rule(rule) for rule in rules}
    for strictest_first in (Rule.ANALYTICS, Rule.INTERNATIONAL):
        if strictest_first in chosen:
            return strictest_first
    return None


def minimise_report(
    report: Mapping[str, Any], rules: Iterable[Rule | str], key: bytes
) -> dict[str, Any]:
    """What a recipient chosen by `rules` may see of a report; the strictest rule wins.

    Recipients with the same `minimisation(rules)` see the same content.
    """
    applied = minimisation(rules)
    if applied is Rule.ANALYTICS:
        return pseudonymise_report(report, key)
    if applied is Rule.INTERNATIONAL:
        return drop_free_text(report)
    copied: dict[str, Any] = tree_copy(dict(report))
    return copied
