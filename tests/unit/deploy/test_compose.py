"""deploy/compose/compose.yaml, checked statically against the code it runs.

Every service, volume, network, mounted file, port and IMX_* variable it names must exist and
agree with the settings, the pinned Kafka and the Prometheus job; health checks and start order
must be what the stack needs (Kafka healthy, then provisioning once, then the services).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from imx import resources
from imx.kafka.localbroker import kafka_version
from imx.settings import Settings

pytestmark = pytest.mark.unit

COMPOSE = resources.CHECKOUT / "deploy" / "compose"
SERVICES = {
    "kafka-1", "kafka-2", "kafka-3", "provision", "worker-1", "worker-2", "gateway",
    "prometheus", "grafana",
}  # fmt: skip
KAFKAS = ("kafka-1", "kafka-2", "kafka-3")
WORKERS = ("worker-1", "worker-2")
#: Made by `imx security init` before the first start, never committed.
GENERATED = ("./.imx/secrets",)


@pytest.fixture(scope="module")
def stack() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((COMPOSE / "compose.yaml").read_text())
    return loaded


def _services(stack: dict[str, Any]) -> dict[str, dict[str, Any]]:
    services: dict[str, dict[str, Any]] = stack["services"]
    return services


def test_exactly_the_services_of_the_stack(stack: dict[str, Any]) -> None:
    assert set(_services(stack)) == SERVICES


def test_kafka_is_the_pinned_version_in_three_kraft_nodes(stack: dict[str, Any]) -> None:
    services = _services(stack)
    script = (COMPOSE / "kafka-start.sh").read_text()
    voters = re.search(r"controller\.quorum\.voters=(\S+)", script)
    assert voters
    expected = ",".join(f"{i}@kafka-{i}:9094" for i in range(1, 4))
    assert voters.group(1) == expected
    assert "CLIENT:SASL_SSL" in script
    assert "allow.everyone.if.no.acl.found=false" in script
    ids = set()
    for name in KAFKAS:
        node = services[name]
        assert node["image"] == f"apache/kafka:{kafka_version()}"
        assert node["hostname"] == name
        ids.add(node["environment"]["NODE_ID"])
        assert "healthcheck" in node
    assert ids == {"1", "2", "3"}


def test_every_imx_variable_is_a_setting(stack: dict[str, Any]) -> None:
    known = {f"IMX_{name.upper()}" for name in Settings.model_fields}
    named = {
        key
        for service in _services(stack).values()
        for key in (service.get("environment") or {})
        if key.startswith("IMX_")
    }
    assert named, "no service names a setting"
    assert named <= known, named - known
    bootstrap = _services(stack)["worker-1"]["environment"]["IMX_BOOTSTRAP"]
    assert bootstrap == ",".join(f"{k}:9093" for k in KAFKAS)


def test_volumes_networks_and_mounted_files_exist(stack: dict[str, Any]) -> None:
    declared_volumes = set(stack["volumes"])
    declared_networks = set(stack["networks"])
    used_volumes = set()
    for name, service in _services(stack).items():
        assert set(service.get("networks", [])) <= declared_networks, name
        assert service.get("networks"), f"{name} is on no network"
        for mount in service.get("volumes", []):
            source = mount.split(":")[0]
            if source.startswith("."):
                if not source.startswith(GENERATED):
                    assert (COMPOSE / source).exists(), f"{name} mounts missing {source}"
            else:
                used_volumes.add(source)
    assert used_volumes == declared_volumes


def test_start_order_and_health_checks(stack: dict[str, Any]) -> None:
    services = _services(stack)
    provision = services["provision"]
    assert provision["depends_on"] == {k: {"condition": "service_healthy"} for k in KAFKAS}
    command = " ".join(provision["entrypoint"])
    assert "imx topics ensure" in command
    assert "imx security apply" in command
    for name in (*WORKERS, "gateway"):
        assert services[name]["depends_on"] == {
            "provision": {"condition": "service_completed_successfully"}
        }
    for name in SERVICES - {"provision"}:
        assert services[name].get("healthcheck", {}).get("test"), f"{name} has no health check"
    assert services["grafana"]["depends_on"]["prometheus"] == {"condition": "service_healthy"}


def test_ports_agree_with_commands_and_scrape_targets(stack: dict[str, Any]) -> None:
    services = _services(stack)
    prometheus = yaml.safe_load((COMPOSE / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in prometheus["scrape_configs"]}
    (workers,) = jobs["imx-worker"]["static_configs"]
    ports = set()
    for name in WORKERS:
        worker = services[name]
        port = worker["environment"]["IMX_WEB_PORT"]
        assert worker["command"] == ["worker", "--web-port", port]
        assert f"127.0.0.1:{port}/metrics" in " ".join(worker["healthcheck"]["test"])
        ports.add(f"{name}:{port}")
    assert set(workers["targets"]) == ports
    gateway = services["gateway"]
    port = gateway["command"][gateway["command"].index("--port") + 1]
    assert gateway["ports"] == [f"{port}:{port}"]
    assert jobs["imx-gateway"]["static_configs"][0]["targets"] == [f"gateway:{port}"]


def test_prometheus_and_grafana_get_the_rules_and_dashboards(stack: dict[str, Any]) -> None:
    services = _services(stack)
    assert "../prometheus/rules:/etc/prometheus/rules:ro" in services["prometheus"]["volumes"]
    prometheus = yaml.safe_load((COMPOSE / "prometheus.yml").read_text())
    assert prometheus["rule_files"] == ["/etc/prometheus/rules/*.yml"]
    provider = yaml.safe_load(
        (resources.CHECKOUT / "deploy/grafana/provisioning/dashboards/imx.yml").read_text()
    )
    path = provider["providers"][0]["options"]["path"]
    assert f"../grafana/dashboards:{path}:ro" in services["grafana"]["volumes"]
    datasource = yaml.safe_load((COMPOSE / "grafana-datasource.yml").read_text())
    assert datasource["datasources"][0]["uid"] == "imx-prometheus"
    assert datasource["datasources"][0]["url"] == "http://prometheus:9090"


def test_the_compose_folder_holds_only_what_the_stack_uses(stack: dict[str, Any]) -> None:
    mounted = {
        Path(mount.split(":")[0]).name
        for service in _services(stack).values()
        for mount in service.get("volumes", [])
    }
    files = {p.name for p in COMPOSE.iterdir() if p.is_file()}
    assert files - {"compose.yaml"} <= mounted | {"prometheus.yml"}
