"""Pure parts of the local broker recipe (localbroker.py)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from imx.kafka import localbroker

pytestmark = pytest.mark.unit


def test_a_cluster_id_never_starts_with_a_dash(monkeypatch: pytest.MonkeyPatch) -> None:
    # 0xF8 encodes to "-" first in base64url: the id a command line would take for an option
    draws: Iterator[uuid.UUID] = iter(
        [uuid.UUID(bytes=b"\xf8" + b"\x00" * 15), uuid.UUID(bytes=b"\x10" * 16)]
    )
    monkeypatch.setattr(localbroker.uuid, "uuid4", lambda: next(draws))
    cluster_id = localbroker._cluster_id()
    assert cluster_id == "EBAQEBAQEBAQEBAQEBAQEA"
    assert len(cluster_id) == 22


def test_random_cluster_ids_have_kafkas_form() -> None:
    for _ in range(200):
        cluster_id = localbroker._cluster_id()
        assert len(cluster_id) == 22
        assert not cluster_id.startswith("-")
        assert set(cluster_id) <= set(
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
        )
