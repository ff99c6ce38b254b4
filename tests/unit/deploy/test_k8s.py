"""deploy/k8s/: current with what `imx deploy render k8s` makes, and true to the code's tables."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from imx import resources
from imx.cli.deploy_cmd import plan_for
from imx.cli.main import main
from imx.deploy import k8s
from imx.security.principals import wanted_acls
from imx.settings import Settings
from tests.support.strimzi_model import strimzi_version

pytestmark = pytest.mark.unit

COMMITTED = resources.CHECKOUT / "deploy" / "k8s"
#: The Kubernetes release whose schemas the core kinds are checked against.
KUBERNETES = "1.33"
CORE_APIS = {"v1", "apps/v1", "batch/v1", "networking.k8s.io/v1"}


def _settings() -> Settings:
    return Settings(_env_file=None)  # type: ignore[call-arg]


def _plan() -> k8s.Plan:
    return plan_for(_settings(), "imx", "imx:test", 3, 3)


def _docs(folder: Path) -> list[dict[str, Any]]:
    return [
        doc
        for path in sorted(folder.glob("*.yaml"))
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8"))
    ]


def _of_kind(kind: str) -> list[dict[str, Any]]:
    return [doc for doc in _docs(COMMITTED) if doc["kind"] == kind]


def test_the_committed_files_are_what_render_makes(tmp_path: Path) -> None:
    out = tmp_path / "k8s"
    assert main(["deploy", "render", "k8s", "--out", str(out)]) == 0
    made = {p.name: p.read_text(encoding="utf-8") for p in sorted(out.iterdir())}
    committed = {p.name: p.read_text(encoding="utf-8") for p in sorted(COMMITTED.iterdir())}
    assert sorted(made) == sorted(committed), "render again: imx deploy render k8s"
    for name, text in made.items():
        assert committed[name] == text, f"deploy/k8s/{name} is stale: imx deploy render k8s"


def test_users_grant_exactly_the_acls_security_apply_sets() -> None:
    plan = _plan()
    users = {doc["metadata"]["name"]: doc for doc in k8s.render(plan)["30-users.yaml"]}
    assert sorted(users) == sorted(p.name for p in plan.principals)
    for principal in plan.principals:
        assert k8s.acls_of(users[principal.name]) == set(principal.acls), principal.name
    rendered = set().union(*(k8s.acls_of(user) for user in users.values()))
    assert rendered == wanted_acls(plan.principals)
    supers = [p.name for p in plan.principals if p.super_user]
    cluster = k8s.render(plan)["10-kafka.yaml"][0]
    assert cluster["spec"]["kafka"]["authorization"]["superUsers"] == supers
    for user in users.values():
        assert user["spec"]["authentication"] == {"type": "scram-sha-512"}


def test_the_committed_users_grant_what_principals_derives_from_the_registry() -> None:
    plan = _plan()
    committed = {doc["metadata"]["name"]: k8s.acls_of(doc) for doc in _of_kind("KafkaUser")}
    assert committed == {p.name: set(p.acls) for p in plan.principals}


def test_topics_have_the_settings_topics_ensure_gives_them() -> None:
    plan = _plan()
    topics = {doc["spec"]["topicName"]: doc for doc in _of_kind("KafkaTopic")}
    specs = plan.topology.specs()
    assert sorted(topics) == sorted(spec.name for spec in specs)
    for spec in specs:
        found = topics[spec.name]["spec"]
        assert found["partitions"] == spec.partitions
        assert found["replicas"] == spec.replication == 3
        assert found["config"] == spec.config
        assert topics[spec.name]["metadata"]["labels"]["strimzi.io/cluster"] == k8s.CLUSTER


def test_every_environment_variable_is_a_setting() -> None:
    known = set(_settings().as_env()) | {"IMX_SASL_PASSWORD", "IMX_SSL_CAFILE", "IMX_PSEUDONYM_KEY"}
    known |= {f"IMX_{name.upper()}" for name in Settings.model_fields}
    named = {
        env["name"]
        for doc in _docs(COMMITTED)
        if doc["kind"] in {"StatefulSet", "Deployment", "Job"}
        for container in doc["spec"]["template"]["spec"]["containers"]
        for env in container["env"]
    }
    assert named, "no container names a setting"
    assert named <= known, named - known


def test_the_workers_keep_state_on_a_volume_and_have_a_standby() -> None:
    (statefulset,) = _of_kind("StatefulSet")
    spec = statefulset["spec"]
    assert spec["replicas"] >= 2, "a second worker holds the core's standby"
    (claim,) = spec["volumeClaimTemplates"]
    (container,) = spec["template"]["spec"]["containers"]
    env = {e["name"]: e for e in container["env"]}
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert mounts[claim["metadata"]["name"]] == env["IMX_HOME"]["value"]
    assert env["IMX_SASL_USERNAME"]["value"] == "svc-worker"


def test_the_rule_file_is_the_prometheus_rule() -> None:
    (rule,) = _of_kind("PrometheusRule")
    source = yaml.safe_load(
        (resources.CHECKOUT / "deploy/prometheus/rules/imx.rules.yml").read_text()
    )
    assert rule["spec"]["groups"] == source["groups"]


def test_core_kinds_are_valid_kubernetes() -> None:
    core = [doc for doc in _docs(COMMITTED) if doc["apiVersion"] in CORE_APIS]
    kinds = {doc["kind"] for doc in core}
    assert {"StatefulSet", "Deployment", "Service", "Job", "NetworkPolicy"} <= kinds
    for doc in core:
        kubernetes_validate.validate(doc, KUBERNETES, strict=True)


def test_the_validator_refuses_a_misspelt_field() -> None:
    (deployment,) = _of_kind("Deployment")
    deployment["spec"]["replica"] = deployment["spec"].pop("replicas")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES, strict=True)


def test_the_docs_name_the_strimzi_version_the_validator_is_built_against() -> None:
    version = strimzi_version()
    for doc in ("README.md", "docs/operations.md"):
        text = (resources.CHECKOUT / doc).read_text(encoding="utf-8")
        assert f"Strimzi {version}" in text, f"{doc} does not say 'Strimzi {version}'"
