"""Name-based ids equal the standard library's UUIDv5 (ids.py)."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from imx.pipeline.ids import name_uuid

pytestmark = pytest.mark.unit


@given(namespace=st.uuids(), name=st.text())
def test_equals_uuid5(namespace: uuid.UUID, name: str) -> None:
    assert name_uuid(namespace, name) == str(uuid.uuid5(namespace, name))


def test_known_value() -> None:
    # RFC 9562 appendix A.4: "www.example.com" in the DNS namespace
    assert (
        name_uuid(uuid.NAMESPACE_DNS, "www.example.com") == "2ed6657d-e927-568b-95e1-2665a8aea6a2"
    )
