"""The gateway's answers that need no broker: authentication, limits, checks, problems.

The broker address is one where nothing listens, so a request that got as far as publishing
would fail with 503: every answer below is decided before any Kafka client is used.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from imx.gateway.app import create_app
from imx.gateway.tokens import TokenStore
from imx.kafka.connection import Connection
from imx.settings import Settings

pytestmark = pytest.mark.unit

NOTHING_SERVES = "127.0.0.1:9"
UNIT = "bps-presevo"
PROBLEM = "application/problem+json"


def crossing(**members: Any) -> dict[str, Any]:
    occurred = (datetime.now(UTC) - timedelta(minutes=5)).isoformat().replace("+00:00", "Z")
    report = {
        "type": "UnauthorisedBorderCrossing",
        "event_id": str(uuid.uuid4()),
        "reporting_unit": UNIT,
        "occurred_at": occurred,
        "location": {"lat": 42.3, "lon": 21.65},
        "stage": "ACTUAL",
        "mode": "OPEN",
        "direction": "ENTRY",
        "detection": "BCP_CHECK",
        "outcome": "PREVENTED",
        "persons": 1,
        "minors": 0,
        "transport": "CAR",
    }
    report.update(members)
    return report


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        bootstrap=NOTHING_SERVES,
        home=tmp_path / "home",
        request_timeout_s=3,
        gateway_rate=1,
        gateway_burst=30,
        gateway_ack_timeout_s=3,
    )


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings, Connection.from_settings(settings))) as client:
        yield client


@pytest.fixture
def auth(settings: Settings) -> dict[str, str]:
    token = TokenStore.of_home(settings.home).issue(UNIT, datetime.now(UTC)).token
    return {"Authorization": f"Bearer {token}"}


def post(client: TestClient, auth: dict[str, str], body: str | bytes, kind: str) -> Any:
    return client.post("/v1/reports", content=body, headers={**auth, "Content-Type": kind})


def test_without_a_live_token_every_unit_route_is_401(
    client: TestClient, auth: dict[str, str], settings: Settings
) -> None:
    unknown = {"Authorization": "Bearer imxgw_000000000000_" + "A" * 43}
    for headers in ({}, unknown, {"Authorization": "Basic dXNlcjpwdw=="}):
        for method, path in (("GET", "/v1/whoami"), ("GET", "/v1/feed"), ("POST", "/v1/reports")):
            answer = client.request(method, path, headers=headers)
            assert answer.status_code == 401, (method, path, headers)
            assert answer.headers["content-type"] == PROBLEM
            assert answer.headers["www-authenticate"].startswith("Bearer")
    assert client.get("/v1/whoami", headers=auth).json()["unit"] == UNIT
    store = TokenStore.of_home(settings.home)
    store.revoke(store.records()[0].id, datetime.now(UTC))
    assert client.get("/v1/whoami", headers=auth).status_code == 401


def test_only_json_and_ndjson_are_taken(client: TestClient, auth: dict[str, str]) -> None:
    answer = post(client, auth, json.dumps(crossing()), "text/plain")
    assert answer.status_code == 415
    assert answer.json()["code"] == "UNSUPPORTED_MEDIA_TYPE"


def test_too_large_bodies_are_413(client: TestClient, auth: dict[str, str]) -> None:
    big = json.dumps(crossing(notes="x" * (1024 * 1024)))
    assert post(client, auth, big, "application/json").status_code == 413
    many = "".join(json.dumps(crossing()) + "\n" for _ in range(1001))
    answer = post(client, auth, many, "application/x-ndjson")
    assert answer.status_code == 413
    assert "1001 reports" in answer.json()["detail"]


def test_invalid_reports_are_422_naming_line_field_and_code(
    client: TestClient, auth: dict[str, str]
) -> None:
    body = "\n".join(
        [json.dumps(crossing()), json.dumps(crossing(persons=0)), '{"type": "Unauth', ""]
    )
    answer = post(client, auth, body, "application/x-ndjson")
    assert answer.status_code == 422
    assert answer.headers["content-type"] == PROBLEM
    problem = answer.json()
    assert problem["detail"] == "2 invalid lines; nothing was published"
    assert [(e["line"], e["field"], e["code"]) for e in problem["errors"]] == [
        (2, "persons", "SCHEMA_VIOLATION"),
        (3, "", "MALFORMED_JSON"),
    ]
    assert problem["errors"][1]["message"].startswith("not JSON: Unterminated string")


def test_malformed_json_names_line_and_column(client: TestClient, auth: dict[str, str]) -> None:
    answer = post(
        client, auth, '{\n  "type": "UnauthorisedBorderCrossing",\n  oops\n}', "application/json"
    )
    assert answer.status_code == 422
    (error,) = answer.json()["errors"]
    assert (error["line"], error["code"]) == (3, "MALFORMED_JSON")
    assert "at column 3" in error["message"]
    for body in (b"", b"\xff\xfe"):
        assert post(client, auth, body, "application/json").status_code == 422


def test_a_report_for_another_unit_is_403_spoofed(client: TestClient, auth: dict[str, str]) -> None:
    answer = post(
        client, auth, json.dumps(crossing(reporting_unit="ps-vranje")), "application/json"
    )
    assert answer.status_code == 403
    problem = answer.json()
    assert problem["code"] == "SPOOFED_UNIT"
    assert problem["type"].endswith("SPOOFED_UNIT")
    assert problem["errors"][0]["field"] == "reporting_unit"


def test_an_unreachable_broker_is_503_and_nothing_accepted(
    client: TestClient, auth: dict[str, str]
) -> None:
    answer = post(client, auth, json.dumps(crossing()), "application/json")
    assert answer.status_code == 503
    assert "accepted" not in answer.json()
    assert int(answer.headers["retry-after"]) >= 1
    assert client.get("/readyz").status_code == 503
    assert client.get("/healthz").json() == {"status": "ok"}


def test_the_rate_limit_answers_429_with_retry_after(
    client: TestClient, auth: dict[str, str]
) -> None:
    statuses = [client.get("/v1/whoami", headers=auth).status_code for _ in range(31)]
    assert statuses == [200] * 30 + [429]
    answer = client.get("/v1/whoami", headers=auth)
    assert answer.status_code == 429
    assert answer.headers["retry-after"] == "1"


def test_bad_query_values_are_400(client: TestClient, auth: dict[str, str]) -> None:
    for path in ("/v1/feed/records?limit=1001", "/v1/feed/records?limit=0", "/v1/feed?from=x"):
        answer = client.get(path, headers=auth)
        assert answer.status_code == 400, path
        assert answer.headers["content-type"] == PROBLEM


def test_metrics_count_requests_by_route_template(client: TestClient, auth: dict[str, str]) -> None:
    client.get("/v1/whoami", headers=auth)
    client.get("/no/such/path")
    text = client.get("/metrics").text
    assert 'imx_gateway_requests_total{route="/v1/whoami",status="200"} 1.0' in text
    assert 'imx_gateway_requests_total{route="other",status="404"} 1.0' in text
    assert "imx_gateway_request_duration_seconds_bucket" in text
    assert "imx_gateway_open_event_streams 0.0" in text
