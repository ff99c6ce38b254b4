"""A consumer record as the intake reads it, for the intake's fake consumers."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Rec:
    topic: str
    partition: int
    offset: int
    timestamp: int
