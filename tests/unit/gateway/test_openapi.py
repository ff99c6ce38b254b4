"""The served OpenAPI document is the committed docs/openapi.json, and valid OpenAPI 3.1.

After a change of the API, regenerate it with
``python -m tests.unit.gateway.test_openapi > docs/openapi.json``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openapi_spec_validator import validate

from imx.gateway.app import create_app
from imx.kafka.connection import Connection
from imx.settings import REPO_ROOT, Settings

pytestmark = pytest.mark.unit

COMMITTED = REPO_ROOT / "docs" / "openapi.json"


def served(home: Path) -> Any:
    settings = Settings(bootstrap="127.0.0.1:9", home=home)
    with TestClient(create_app(settings, Connection.from_settings(settings))) as client:
        answer = client.get("/openapi.json")
    assert answer.status_code == 200
    return answer.json()


def test_the_served_document_is_the_committed_one(tmp_path: Path) -> None:
    document = served(tmp_path)
    assert document == json.loads(COMMITTED.read_text(encoding="utf-8")), (
        "docs/openapi.json is stale: python -m tests.unit.gateway.test_openapi > docs/openapi.json"
    )


def test_it_is_valid_openapi_3_1(tmp_path: Path) -> None:
    document = served(tmp_path)
    assert document["openapi"].startswith("3.1")
    validate(document)
    paths = set(document["paths"])
    assert paths == {
        "/v1/reports",
        "/v1/feed",
        "/v1/feed/records",
        "/v1/whoami",
        "/v1/registry",
        "/v1/flow",
        "/healthz",
        "/readyz",
        "/metrics",
    }


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        print(json.dumps(served(Path(folder)), indent=2, ensure_ascii=False))
