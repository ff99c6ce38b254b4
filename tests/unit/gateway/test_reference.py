"""The operations picture's own answers: the page, the registry view, the flow for operators.

No broker: the address is one where nothing listens. The workers' metrics come from a small
HTTP server on loopback serving a fixed Prometheus exposition.
"""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from imx.gateway import reference
from imx.gateway.app import create_app
from imx.gateway.tokens import TokenStore
from imx.kafka.connection import Connection
from imx.registry import load_registry
from imx.settings import Settings

pytestmark = pytest.mark.unit

EXPOSITION = """\
# TYPE imx_reports_rejected_total counter
imx_reports_rejected_total{reason="SCHEMA_VIOLATION"} 3.0
imx_reports_rejected_total{reason="SPOOFED_UNIT"} 1.0
# TYPE imx_delivery_latency_seconds histogram
imx_delivery_latency_seconds_bucket{level="LOCAL",le="+Inf"} 5.0
imx_delivery_latency_seconds_count{level="LOCAL"} 5.0
imx_delivery_latency_seconds_sum{level="LOCAL"} 1.0
imx_delivery_latency_seconds_bucket{level="NATIONAL",le="+Inf"} 9.0
imx_delivery_latency_seconds_count{level="NATIONAL"} 9.0
imx_delivery_latency_seconds_sum{level="NATIONAL"} 2.0
"""


def test_sections_sit_among_their_stations_and_name_their_neighbour() -> None:
    view = reference.registry_view(load_registry())
    sections = {s["id"]: s for s in view["sections"]}
    assert set(sections) == {"rs-mk", "rs-bg", "rs-hr", "rs-ba"}
    mk = sections["rs-mk"]
    assert (mk["impact"], mk["neighbour"]) == ("HIGH", "mk")
    assert mk["stations"] == ["bps-presevo", "bps-rujan"]
    assert mk["lat"] == pytest.approx((42.300 + 42.330) / 2)
    assert mk["lon"] == pytest.approx((21.650 + 21.560) / 2)
    assert sections["rs-ba"]["stations"] == ["bps-srem"]


def test_units_carry_places_not_the_chain() -> None:
    view = reference.registry_view(load_registry())
    assert len(view["units"]) == len(load_registry().units)
    presevo = next(u for u in view["units"] if u["id"] == "bps-presevo")
    assert presevo == {
        "id": "bps-presevo",
        "name": "Border Police Station Preševo",
        "level": "LOCAL",
        "line": "BORDER",
        "border_section": "rs-mk",
        "lat": 42.3,
        "lon": 21.65,
    }


def test_the_flow_sums_every_workers_exposition() -> None:
    flow = reference.flow_view([EXPOSITION, EXPOSITION])
    assert flow == {
        "configured": True,
        "dlq_total": 8,
        "dlq_by_reason": {"SCHEMA_VIOLATION": 6, "SPOOFED_UNIT": 2},
        "deliveries_by_level": {"LOCAL": 10, "NATIONAL": 18},
    }


def test_metrics_urls_are_comma_separated() -> None:
    assert reference.metrics_urls(None) == []
    assert reference.metrics_urls(" http://a/metrics, ,http://b/metrics") == [
        "http://a/metrics",
        "http://b/metrics",
    ]


@pytest.fixture
def metrics_url() -> Iterator[str]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = EXPOSITION.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/metrics"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def client_of(home: Path, **settings: object) -> tuple[TestClient, dict[str, str]]:
    config = Settings(bootstrap="127.0.0.1:9", home=home, **settings)  # type: ignore[arg-type]
    store = TokenStore.of_home(home)
    tokens = {u: store.issue(u, datetime.now(UTC)).token for u in ("gpd-oc", "pd-vranje")}
    return TestClient(create_app(config, Connection.from_settings(config))), tokens


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_the_page_is_served_at_the_root_with_a_strict_policy(tmp_path: Path) -> None:
    client, _ = client_of(tmp_path)
    with client:
        page = client.get("/")
        script = client.get("/static/app.js")
        base = client.get("/static/countries.json")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert '<script src="/static/app.js"' in page.text
    assert script.status_code == 200
    assert "sessionStorage" in script.text
    assert base.json()["countries"]


def test_the_registry_needs_a_token(tmp_path: Path) -> None:
    client, tokens = client_of(tmp_path)
    with client:
        anonymous = client.get("/v1/registry")
        answer = client.get("/v1/registry", headers=bearer(tokens["pd-vranje"]))
    assert anonymous.status_code == 401
    assert answer.status_code == 200
    assert answer.json() == reference.registry_view(load_registry())


def test_the_flow_is_for_operations_centres_only(tmp_path: Path, metrics_url: str) -> None:
    client, tokens = client_of(tmp_path, gateway_metrics_url=metrics_url)
    with client:
        denied = client.get("/v1/flow", headers=bearer(tokens["pd-vranje"]))
        flow = client.get("/v1/flow", headers=bearer(tokens["gpd-oc"]))
    assert denied.status_code == 403
    assert denied.json()["code"] == "NOT_AN_OPERATOR"
    assert flow.status_code == 200
    assert flow.json() == reference.flow_view([EXPOSITION])


def test_without_a_metrics_url_the_flow_says_it_is_not_configured(tmp_path: Path) -> None:
    client, tokens = client_of(tmp_path)
    with client:
        flow = client.get("/v1/flow", headers=bearer(tokens["gpd-oc"]))
    assert flow.status_code == 200
    assert flow.json() == {**reference.NOT_CONFIGURED, "configured": False}


def test_metrics_that_do_not_answer_are_a_503(tmp_path: Path) -> None:
    client, tokens = client_of(tmp_path, gateway_metrics_url="http://127.0.0.1:9/metrics")
    with client:
        flow = client.get("/v1/flow", headers=bearer(tokens["gpd-oc"]))
    assert flow.status_code == 503
    assert flow.json()["code"] == "METRICS_UNAVAILABLE"
