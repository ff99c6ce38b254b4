"""Dashboards and alert rules against a real Prometheus scraping a real worker.

One worker processes a realistic batch, then a second one with a report delivered 26 h after
it happened, an exact duplicate and two undecodable records. A Prometheus server scrapes the
worker every second and loads deploy/prometheus/rules. Then every PromQL query of every
Grafana panel and every rule must be valid and, where data is expected, return data; the
alerts that this traffic must trip (p99 latency, late delivery) trip and the others stay
quiet; and Prometheus' own numbers reconcile: received = accepted + exact duplicates + rejected.
"""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from imx.kafka.connection import Connection
from imx.kafka.topology import Topology
from imx.registry import load_registry
from imx.settings import Settings
from tests.support.outputs import collect
from tests.support.produce import publish
from tests.support.prometheus import (
    PrometheusServer,
    grafana_queries,
    running_prometheus,
    substitute_grafana,
    without_comparison,
)
from tests.support.reports import stamp
from tests.support.workers import running_worker
from tests.support.workload import paired_workload, workload

pytestmark = pytest.mark.e2e

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
#: The worker's rules and dashboards: the traffic here comes from a worker. The gateway's have a
#: test of their own (tests/e2e/test_gateway_prometheus.py), with a gateway to scrape; the
#: outbox's rules select job imx-outbox, which nothing here serves (promtool's tests cover them).
GATEWAY_FILES = {"gateway.rules.yml", "imx-gateway.json"}
RULE_FILES = [DEPLOY / "prometheus" / "rules" / "imx.rules.yml"]
DASHBOARDS = sorted(
    p for p in (DEPLOY / "grafana" / "dashboards").glob("*.json") if p.name not in GATEWAY_FILES
)
#: What this traffic must trip: every delivery is minutes after reported_at (the workload's
#: reports are back-dated), and one report is delivered 26 h after it occurred.
FIRING = {"ImxDeliveryLatencyP99High", "ImxReportDeliveredLate"}
QUIET = {"ImxUnitSilent", "ImxDlqRateHigh", "ImxWorkerDown"}


async def _publish_garbage(connection: Connection, topics: list[str]) -> None:
    producer = connection.producer()
    await producer.start()
    try:
        for topic in topics:
            await producer.send_and_wait(topic, b"not a single-object Avro record", key=b"junk")
    finally:
        await producer.stop()


def _late_report(registry: Any) -> dict[str, Any]:
    report = workload(registry, 1, seed=99)[0]
    occurred = datetime.now(UTC) - timedelta(hours=26)
    report["occurred_at"] = stamp(occurred)
    report["reported_at"] = stamp(occurred + timedelta(minutes=5))
    return report


def _total(prometheus: PrometheusServer, expr: str) -> float:
    result = prometheus.query(f"sum({expr}) or vector(0)")["data"]["result"]
    return float(result[0]["value"][1])


def _counts(prometheus: PrometheusServer) -> dict[str, float]:
    return {
        "received": _total(prometheus, "imx_reports_received_total"),
        "accepted": _total(prometheus, "imx_reports_accepted_total"),
        "exact": _total(prometheus, 'imx_duplicates_total{kind="exact"}'),
        "rejected": _total(prometheus, "imx_reports_rejected_total"),
    }


def _wait_counts(prometheus: PrometheusServer, expected: dict[str, float]) -> dict[str, float]:
    """Prometheus' totals once they match ``expected`` or 60 s passed, whichever comes first."""
    deadline = time.monotonic() + 60
    counts = _counts(prometheus)
    while counts != expected and time.monotonic() < deadline:
        time.sleep(0.5)
        counts = _counts(prometheus)
    return counts


def _problems(prometheus: PrometheusServer, label: str, expr: str, *, need_data: bool) -> list[str]:
    answer = prometheus.query(expr)
    if answer["status"] != "success":
        return [f"{label}: invalid: {answer.get('error')}\n    {expr}"]
    if need_data and not answer["data"]["result"]:
        return [f"{label}: no data\n    {expr}"]
    return []


def test_every_dashboard_query_and_rule_works_on_real_metrics(
    settings: Settings, topology: Topology, pipeline_env: dict[str, str], tmp_path: Path
) -> None:
    registry = load_registry(settings.registry_path)
    first, second = paired_workload(registry, 12, seed=5)  # incident matches and correlations
    batch = [*first, *second]
    late = _late_report(registry)
    garbage = [topology.ingress("bps-presevo"), topology.ingress("ps-zajecar")]
    with (
        running_worker(pipeline_env, tmp_path) as worker,
        running_prometheus(
            [f"127.0.0.1:{worker.web_port}"], tmp_path / "prometheus", RULE_FILES
        ) as prometheus,
    ):
        asyncio.run(publish(Connection.from_settings(settings), topology, batch))
        collect(
            Connection.from_settings(settings),
            topology,
            deliveries=0,
            analysed={r["event_id"] for r in batch},
        )
        # Every series exists in Prometheus before the second batch, so rates and increases
        # see the late delivery and the rejects as increments.
        prometheus.wait_scrapes(2)
        asyncio.run(publish(Connection.from_settings(settings), topology, [late, first[0]]))
        asyncio.run(_publish_garbage(Connection.from_settings(settings), garbage))
        ids = {r["event_id"] for r in [*batch, late]}
        collect(
            Connection.from_settings(settings),
            topology,
            deliveries=0,
            dlq=len(garbage),
            analysed=ids,
        )
        expected = {
            "received": len(batch) + 2 + len(garbage),
            "accepted": len(batch) + 1,
            "exact": 1,
            "rejected": len(garbage),
        }
        counts = _wait_counts(prometheus, expected)
        prometheus.wait_scrapes(2)

        assert counts == expected
        assert counts["received"] == counts["accepted"] + counts["exact"] + counts["rejected"]

        problems: list[str] = []
        for path in DASHBOARDS:
            queries = grafana_queries(json.loads(path.read_text()))
            assert queries, f"{path.name} has no queries"
            for label, expr in queries:
                problems += _problems(
                    prometheus, f"{path.name}: {label}", substitute_grafana(expr), need_data=True
                )

        rules = prometheus.rules()
        alerts = {rule["name"]: rule for rule in rules if rule["type"] == "alerting"}
        assert set(alerts) == FIRING | QUIET
        for rule in rules:
            label = f"rule {rule['name']}"
            if rule["health"] != "ok":
                problems.append(f"{label}: Prometheus evaluated it with {rule.get('lastError')}")
            if rule["type"] == "recording":
                problems += _problems(prometheus, label, rule["query"], need_data=True)
                continue
            problems += _problems(prometheus, label, rule["query"], need_data=False)
            measured = without_comparison(rule["query"])
            assert measured is not None, f"{label} compares nothing: {rule['query']}"
            problems += _problems(prometheus, f"{label} (measured)", measured, need_data=True)
        assert not problems, "\n".join(problems)

        firing = {
            name
            for name, rule in alerts.items()
            if prometheus.query(rule["query"])["data"]["result"]
        }
        assert firing == FIRING
        for name, rule in alerts.items():
            assert rule["duration"] > 0, f"{name} has no `for`"
            assert rule["labels"].get("severity") in {"warning", "critical"}, name
            assert {"summary", "description"} <= set(rule["annotations"]), name
