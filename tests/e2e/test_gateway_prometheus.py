"""The gateway's dashboard and alert rule against a real Prometheus scraping real gateways.

Two ``imx gateway`` processes: one on the test's broker, serving reports into a worker and an
open event stream, refusing a bad token (401) and a unit over its rate (429); and one whose
broker does not answer, so its reports and readiness are 503. Prometheus scrapes both as job
``imx-gateway`` (and the worker as ``imx-worker``) every second and loads
deploy/prometheus/rules/gateway.rules.yml. Then every query of the Gateway dashboard returns
data, the rule is healthy, its measure has data, and its condition holds for the broken
gateway only.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from imx import processes
from imx.gateway.tokens import TokenStore
from imx.kafka.localbroker import free_port
from imx.settings import Settings
from tests.support.gateway import FeedStream
from tests.support.prometheus import (
    PrometheusServer,
    grafana_queries,
    running_prometheus,
    substitute_grafana,
    without_comparison,
)
from tests.support.reports import crossing
from tests.support.scenario import wait_until
from tests.support.workers import running_worker

pytestmark = pytest.mark.e2e

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
RULES = DEPLOY / "prometheus" / "rules" / "gateway.rules.yml"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "imx-gateway.json"
READY_TIMEOUT_S = 60.0
DELIVERY_TIMEOUT_S = 60.0
REPORTER, RECIPIENT, GREEDY = "bps-presevo", "pd-vranje", "ps-bor"


@contextlib.contextmanager
def running_gateway(env: dict[str, str], logdir: Path) -> Iterator[processes.Gateway]:
    gateway = processes.start_gateway(env, free_port(), logdir)
    try:
        gateway.wait_ready(READY_TIMEOUT_S)
        yield gateway
    finally:
        gateway.stop()


def _traffic(healthy: str, broken: str, tokens: dict[str, str]) -> None:
    """One round of every kind of answer the dashboard shows."""

    def auth(unit: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {tokens[unit]}"}

    with httpx.Client(timeout=30) as client:
        for base, expected in ((healthy, 202), (broken, 503)):
            answer = client.post(
                f"{base}/v1/reports",
                content=json.dumps(crossing(REPORTER)),
                headers={**auth(REPORTER), "Content-Type": "application/json"},
            )
            assert answer.status_code == expected, answer.text
        assert client.get(f"{broken}/readyz").status_code == 503
        assert client.get(f"{healthy}/readyz").status_code == 200
        unknown = {"Authorization": "Bearer imxgw_000000000000_" + "x" * 43}
        assert client.get(f"{healthy}/v1/whoami", headers=unknown).status_code == 401
        statuses = [
            client.get(f"{healthy}/v1/whoami", headers=auth(GREEDY)).status_code for _ in range(20)
        ]
        assert 429 in statuses, statuses


def _problems(prometheus: PrometheusServer, label: str, expr: str) -> list[str]:
    answer = prometheus.query(expr)
    if answer["status"] != "success":
        return [f"{label}: invalid: {answer.get('error')}\n    {expr}"]
    if not answer["data"]["result"]:
        return [f"{label}: no data\n    {expr}"]
    return []


def test_the_gateway_dashboard_and_alert_work_on_real_gateways(
    settings: Settings, pipeline_env: dict[str, str], tmp_path: Path
) -> None:
    store = TokenStore.of_home(settings.home)
    tokens = {u: store.issue(u, datetime.now(UTC)).token for u in (REPORTER, RECIPIENT, GREEDY)}
    # A small burst, so a few quick requests of one unit meet its rate limit; frequent
    # keep-alives, so the SSE client notices its stop within a second.
    healthy_env = settings.model_copy(
        update={"gateway_burst": 5, "gateway_heartbeat_s": 1.0}
    ).child_env()
    nobody = f"127.0.0.1:{free_port()}"  # nothing listens there: the broker is unreachable
    broken_env = settings.model_copy(
        update={"bootstrap": nobody, "gateway_ack_timeout_s": 2.0}
    ).child_env()
    logs = tmp_path / "logs"
    with (
        running_worker(pipeline_env, logs) as worker,
        running_gateway(healthy_env, logs / "healthy") as healthy,
        running_gateway(broken_env, logs / "broken") as broken,
        running_prometheus(
            [f"127.0.0.1:{worker.web_port}"],
            tmp_path / "prometheus",
            [RULES],
            gateways=[f"127.0.0.1:{healthy.port}", f"127.0.0.1:{broken.port}"],
        ) as prometheus,
    ):
        stream = FeedStream(healthy.url, tokens[RECIPIENT], {"from": "beginning"}).start()
        try:
            # Every series exists before the second round, so rates see it as an increase.
            _traffic(healthy.url, broken.url, tokens)
            prometheus.wait_scrapes(2)
            _traffic(healthy.url, broken.url, tokens)
            wait_until(
                lambda: sum(1 for e in stream.events if e.event == "delivery") >= 2,
                DELIVERY_TIMEOUT_S,
                lambda: f"deliveries on {RECIPIENT}'s stream: {len(stream.events)}",
            )
            prometheus.wait_scrapes(2)

            problems: list[str] = []
            queries = grafana_queries(json.loads(DASHBOARD.read_text()))
            assert queries, "the Gateway dashboard has no queries"
            for label, expr in queries:
                problems += _problems(prometheus, label, substitute_grafana(expr))
            streams = prometheus.query('sum(imx_gateway_open_event_streams{job="imx-gateway"})')
            assert float(streams["data"]["result"][0]["value"][1]) == 1

            rules = prometheus.rules()
            assert [r["name"] for r in rules] == ["ImxGateway5xxRateHigh"]
            rule = rules[0]
            if rule["health"] != "ok":
                problems.append(f"the rule: Prometheus evaluated it with {rule.get('lastError')}")
            measured = without_comparison(rule["query"])
            assert measured is not None, f"the rule compares nothing: {rule['query']}"
            problems += _problems(prometheus, "the rule (measured)", measured)
            assert not problems, "\n".join(problems)

            over = prometheus.query(rule["query"])["data"]["result"]
            assert {s["metric"]["instance"] for s in over} == {f"127.0.0.1:{broken.port}"}
            assert rule["duration"] > 0
            assert rule["labels"].get("severity") == "warning"
            assert {"summary", "description"} <= set(rule["annotations"])
        finally:
            stream.stop()
