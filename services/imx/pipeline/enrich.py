"""Enrichment of an accepted report (CONTRACT.md 5.3)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from functools import cached_property
from typing import Any

from imx.pipeline.geo import INLAND, nearest_border_section
from imx.registry import Registry


@dataclass(frozen=True)
class Enrichment:
    unit_name: str
    unit_level: str
    unit_line: str
    territorial: str | None
    border_section: str  # a section id or "inland"
    section_impact: str | None  # None for "inland"

    def as_dict(self) -> dict[str, Any]:
        """The delivery record's `enrichment` member (CONTRACT.md section 6).

        The same dict on every call: a report's deliveries share it, so it is encoded once for
        all of them (see ``imx.schema.delivery_writer``); nothing changes it once made.
        """
        return self._member

    @cached_property
    def _member(self) -> dict[str, Any]:
        return asdict(self)


def enrich(registry: Registry, report: Mapping[str, Any]) -> Enrichment:
    """The reporting unit's registry facts plus the border section of the report's location.

    The reporting unit is known: validation rejects unknown units before enrichment.
    """
    unit = registry.get(report["reporting_unit"])
    location = report["location"]
    section = nearest_border_section(registry, location["lat"], location["lon"])
    return Enrichment(
        unit_name=unit.name,
        unit_level=unit.level,
        unit_line=unit.line,
        territorial=unit.territorial,
        border_section=section,
        section_impact=None if section == INLAND else registry.sections[section],
    )
