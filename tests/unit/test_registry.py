"""The unit registry: the shipped file matches CONTRACT.md section 1; bad files fail loudly."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from imx.registry import (
    DEFAULT_REGISTRY_PATH,
    Registry,
    RegistryError,
    Unit,
    load_registry,
    registry_from_dict,
)

pytestmark = pytest.mark.unit

# fmt: off
CONTRACT_IDS = {
    "gpd-oc", "gpd-bpd", "gpd-sbpok", "gpd-satit", "ext-europol-emsc",
    "rc-mk", "rc-bg", "rc-hr", "rc-hu", "rc-ro", "rc-me", "rc-ba",
    "pd-vranje", "pd-zajecar", "pd-bor", "pd-sremska-mitrovica", "pd-belgrade",
    "pd-belgrade-coc",
    "bps-presevo", "bps-rujan", "bps-vrska-cuka", "bps-zajecar", "bps-batrovci", "bps-sid",
    "bps-srem",
    "ps-presevo", "ps-vranje", "ps-zajecar", "ps-bor", "ps-sid", "ps-sremska-mitrovica",
}
# fmt: on


@pytest.fixture(scope="module")
def shipped() -> Registry:
    return load_registry()


@pytest.fixture
def document() -> dict[str, Any]:
    """A small valid registry document: a directorate, a border station, a police station."""
    return {
        "sections": [{"id": "s-1", "impact": "HIGH"}],
        "units": [
            {
                "id": "hq",
                "name": "HQ",
                "level": "NATIONAL",
                "line": "OPERATIONS",
                "parents": [],
                "lat": 44.8,
                "lon": 20.47,
            },
            {
                "id": "pd-a",
                "name": "Directorate A",
                "level": "REGIONAL",
                "line": "GENERAL",
                "parents": ["hq"],
                "lat": 43.0,
                "lon": 21.0,
            },
            {
                "id": "bps-a",
                "name": "Border station A",
                "level": "LOCAL",
                "line": "BORDER",
                "parents": ["pd-a"],
                "territorial": "pd-a",
                "border_section": "s-1",
                "lat": 42.0,
                "lon": 21.5,
            },
            {
                "id": "ps-a",
                "name": "Station A",
                "level": "LOCAL",
                "line": "GENERAL",
                "parents": ["pd-a"],
                "territorial": "pd-a",
                "border_section": None,
                "lat": 42.5,
                "lon": 21.7,
            },
        ],
    }


def _unit(document: dict[str, Any], unit_id: str) -> dict[str, Any]:
    return next(u for u in document["units"] if u["id"] == unit_id)


def test_default_path_is_the_repository_file() -> None:
    assert DEFAULT_REGISTRY_PATH.parts[-3:] == ("deploy", "registry", "units.json")
    assert DEFAULT_REGISTRY_PATH.is_file()


def test_shipped_registry_has_exactly_the_contract_units_and_sections(shipped: Registry) -> None:
    assert len(shipped.units) == 31
    assert set(shipped.ids()) == CONTRACT_IDS
    assert shipped.ids() == sorted(CONTRACT_IDS)
    assert dict(shipped.sections) == {
        "rs-mk": "HIGH",
        "rs-bg": "MEDIUM",
        "rs-hr": "HIGH",
        "rs-ba": "LOW",
    }


@pytest.mark.parametrize(
    "expected",
    [
        Unit(
            "gpd-oc",
            "Operations Centre, General Police Directorate",
            "NATIONAL",
            "OPERATIONS",
            (),
            None,
            None,
            44.800,
            20.470,
        ),
        Unit(
            "ext-europol-emsc",
            "Europol European Migrant Smuggling Centre (liaison)",
            "INTERNATIONAL",
            "INTERNATIONAL",
            (),
            None,
            None,
            52.090,
            4.280,
        ),
        Unit(
            "rc-ro",
            "Regional Border Police Centre towards Romania (Vršac)",
            "REGIONAL",
            "BORDER",
            ("gpd-bpd",),
            None,
            None,
            45.120,
            21.300,
        ),
        Unit(
            "rc-ba",
            "Regional Border Police Centre towards Bosnia and Herzegovina (Užice)",
            "REGIONAL",
            "BORDER",
            ("gpd-bpd",),
            None,
            None,
            43.860,
            19.850,
        ),
        Unit(
            "pd-belgrade-coc",
            "Commanding Operations Centre, Police Administration Belgrade",
            "REGIONAL",
            "OPERATIONS",
            ("pd-belgrade",),
            None,
            None,
            44.810,
            20.460,
        ),
        Unit(
            "bps-presevo",
            "Border Police Station Preševo",
            "LOCAL",
            "BORDER",
            ("rc-mk", "pd-vranje"),
            "pd-vranje",
            "rs-mk",
            42.300,
            21.650,
        ),
        Unit(
            "bps-vrska-cuka",
            "Border Police Station Vrška Čuka",
            "LOCAL",
            "BORDER",
            ("rc-bg", "pd-zajecar"),
            "pd-zajecar",
            "rs-bg",
            43.835,
            22.369,
        ),
        Unit(
            "bps-srem",
            "Border Police Station Srem",
            "LOCAL",
            "BORDER",
            ("rc-hr", "pd-sremska-mitrovica"),
            "pd-sremska-mitrovica",
            "rs-ba",
            44.905,
            19.330,
        ),
        Unit(
            "ps-zajecar",
            "Police Station Zaječar",
            "LOCAL",
            "GENERAL",
            ("pd-zajecar",),
            "pd-zajecar",
            None,
            43.904,
            22.285,
        ),
        Unit(
            "ps-sid",
            "Police Station Šid",
            "LOCAL",
            "GENERAL",
            ("pd-sremska-mitrovica",),
            "pd-sremska-mitrovica",
            None,
            45.120,
            19.230,
        ),
    ],
    ids=lambda unit: unit.id,
)
def test_shipped_rows_match_the_contract_field_by_field(shipped: Registry, expected: Unit) -> None:
    assert shipped.get(expected.id) == expected


def test_registry_api(shipped: Registry) -> None:
    assert "bps-presevo" in shipped
    assert "nowhere" not in shipped
    assert 42 not in shipped
    with pytest.raises(KeyError):
        shipped.get("nowhere")
    locals_ = shipped.local_units()
    assert [u.id for u in locals_] == sorted(u.id for u in locals_)
    assert len(locals_) == 13
    assert all(u.level == "LOCAL" for u in locals_)


def test_every_local_unit_has_a_directorate_and_border_units_a_section(shipped: Registry) -> None:
    for unit in shipped.local_units():
        assert shipped.get(unit.territorial or "").line == "GENERAL"
        assert (unit.border_section in shipped.sections) == (unit.line == "BORDER")


def test_load_from_a_file(tmp_path: Path, document: dict[str, Any]) -> None:
    path = tmp_path / "units.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    registry = load_registry(path)
    assert registry.ids() == ["bps-a", "hq", "pd-a", "ps-a"]
    assert registry.get("ps-a").border_section is None
    assert registry.get("bps-a").parents == ("pd-a",)


def test_registry_is_read_only(document: dict[str, Any]) -> None:
    registry = registry_from_dict(document)
    with pytest.raises(TypeError):
        registry.units["x"] = registry.get("hq")  # type: ignore[index]


def _fails(document: dict[str, Any], *fragments: str) -> None:
    with pytest.raises(RegistryError) as caught:
        registry_from_dict(document)
    for fragment in fragments:
        assert fragment in str(caught.value)


def test_valid_document_passes(document: dict[str, Any]) -> None:
    assert len(registry_from_dict(document).units) == 4


def test_unknown_parent(document: dict[str, Any]) -> None:
    _unit(document, "ps-a")["parents"] = ["pd-a", "pd-nowhere"]
    _fails(document, "'ps-a'", "pd-nowhere")


def test_self_parent(document: dict[str, Any]) -> None:
    _unit(document, "hq")["parents"] = ["hq"]
    _fails(document, "'hq'")


def test_cycle_in_parents(document: dict[str, Any]) -> None:
    _unit(document, "hq")["parents"] = ["ps-a"]
    _fails(document, "ancestor", "hq", "pd-a", "ps-a")


def test_duplicate_unit_id(document: dict[str, Any]) -> None:
    document["units"].append(copy.deepcopy(_unit(document, "ps-a")))
    _fails(document, "'ps-a'", "twice")


def test_duplicate_section_id(document: dict[str, Any]) -> None:
    document["sections"].append({"id": "s-1", "impact": "LOW"})
    _fails(document, "'s-1'", "twice")


@pytest.mark.parametrize("field", ["lat", "lon"])
def test_missing_coordinate(document: dict[str, Any], field: str) -> None:
    del _unit(document, "bps-a")[field]
    _fails(document, "'bps-a'", field)


@pytest.mark.parametrize("value", [None, "42.0", True])
def test_non_numeric_coordinate(document: dict[str, Any], value: object) -> None:
    _unit(document, "bps-a")["lat"] = value
    _fails(document, "'bps-a'", "lat")


@pytest.mark.parametrize(
    ("field", "value"),
    [("lat", 90.000001), ("lat", -91), ("lon", 180.5), ("lon", -181), ("lat", float("nan"))],
)
def test_coordinate_out_of_range(document: dict[str, Any], field: str, value: float) -> None:
    _unit(document, "ps-a")[field] = value
    _fails(document, "'ps-a'", field)


@pytest.mark.parametrize(("field", "value"), [("lat", 90), ("lat", -90.0), ("lon", 180.0)])
def test_coordinate_range_is_inclusive(document: dict[str, Any], field: str, value: float) -> None:
    _unit(document, "hq")[field] = value
    assert getattr(registry_from_dict(document).get("hq"), field) == value


@pytest.mark.parametrize(
    ("field", "value"),
    [("level", "DISTRICT"), ("level", "local"), ("line", "TRAFFIC"), ("line", None)],
)
def test_bad_level_or_line(document: dict[str, Any], field: str, value: object) -> None:
    _unit(document, "ps-a")[field] = value
    _fails(document, "'ps-a'", field)


@pytest.mark.parametrize("territorial", [None, "pd-nowhere"])
def test_local_unit_without_known_territorial(
    document: dict[str, Any], territorial: str | None
) -> None:
    _unit(document, "ps-a")["territorial"] = territorial
    _fails(document, "'ps-a'", "territorial")


def test_local_unit_with_territorial_absent(document: dict[str, Any]) -> None:
    del _unit(document, "ps-a")["territorial"]
    _fails(document, "'ps-a'", "territorial")


@pytest.mark.parametrize("territorial", ["hq", "bps-a"])
def test_territorial_must_be_a_regional_general_directorate(
    document: dict[str, Any], territorial: str
) -> None:
    _unit(document, "ps-a")["territorial"] = territorial
    _fails(document, "'ps-a'", "REGIONAL GENERAL")


def test_territorial_only_on_local_units(document: dict[str, Any]) -> None:
    _unit(document, "hq")["territorial"] = "pd-a"
    _fails(document, "'hq'", "territorial")


@pytest.mark.parametrize("section", [None, "s-nowhere"])
def test_border_local_unit_needs_a_known_section(
    document: dict[str, Any], section: str | None
) -> None:
    _unit(document, "bps-a")["border_section"] = section
    _fails(document, "'bps-a'", "border_section")


@pytest.mark.parametrize("unit_id", ["ps-a", "pd-a"])
def test_border_section_only_on_border_local_units(document: dict[str, Any], unit_id: str) -> None:
    _unit(document, unit_id)["border_section"] = "s-1"
    _fails(document, f"'{unit_id}'", "border_section")


@pytest.mark.parametrize("bad_id", ["PS-A", "ps_a", "ps a", "ps.a", "", "pš-a", 7])
def test_bad_unit_id_syntax(document: dict[str, Any], bad_id: object) -> None:
    _unit(document, "ps-a")["id"] = bad_id
    _fails(document, repr(bad_id))


def test_bad_section_id_and_impact(document: dict[str, Any]) -> None:
    document["sections"] = [{"id": "S 1", "impact": "HIGH"}]
    _fails(document, "'S 1'")
    document["sections"] = [{"id": "s-1", "impact": "VERY_HIGH"}]
    _fails(document, "'s-1'", "impact")


def test_unknown_and_missing_fields(document: dict[str, Any]) -> None:
    _unit(document, "ps-a")["parent"] = ["pd-a"]
    _fails(document, "'ps-a'", "parent")
    del _unit(document, "ps-a")["parent"]
    del _unit(document, "ps-a")["name"]
    _fails(document, "'ps-a'", "name")


def test_bad_top_level(document: dict[str, Any]) -> None:
    _fails({"units": document["units"]}, "sections")
    _fails({**document, "extra": 1}, "sections")
    _fails({"sections": [], "units": []}, "units")


def test_unreadable_or_invalid_file(tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match="cannot read"):
        load_registry(tmp_path / "missing.json")
    broken = tmp_path / "broken.json"
    broken.write_text("{", encoding="utf-8")
    with pytest.raises(RegistryError, match="not valid JSON"):
        load_registry(broken)


def test_duplicate_json_member_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "dup.json"
    path.write_text('{"sections": [], "sections": [], "units": []}', encoding="utf-8")
    with pytest.raises(RegistryError, match="duplicate"):
        load_registry(path)
