"""The Strimzi kinds of deploy/k8s/ pass Strimzi's own Java model, deserialised strictly.

``io.strimzi:api`` carries no CRD schema, so ``tests/support/strimzi-validate`` (built with Maven,
cached outside the checkout) reads every Kafka, KafkaNodePool, KafkaTopic and KafkaUser into its
model class with unknown fields and enum values refused, and checks the constraints the model's
annotations give the CRD (served API versions, required fields, minimum, pattern, oneOf...).
Marked integration: it needs Java and Maven (and Maven Central on a cold cache), not a broker.
"""

from __future__ import annotations

import copy
import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from imx import resources
from tests.support.strimzi_model import strimzi_version, validate

pytestmark = pytest.mark.integration

COMMITTED = resources.CHECKOUT / "deploy" / "k8s"
STRIMZI_KINDS = {"Kafka", "KafkaNodePool", "KafkaTopic", "KafkaUser"}

Doc = dict[str, Any]


def _committed() -> list[tuple[str, list[Doc]]]:
    return [
        (path.name, list(yaml.safe_load_all(path.read_text(encoding="utf-8"))))
        for path in sorted(COMMITTED.glob("*.yaml"))
    ]


def test_the_committed_strimzi_resources_are_valid_in_strimzis_model() -> None:
    done = validate([COMMITTED])
    assert done.returncode == 0, f"strimzi-validate refused deploy/k8s:\n{done.stderr}{done.stdout}"
    counts: dict[str, int] = {}
    for _, docs in _committed():
        for doc in docs:
            if doc["kind"] in STRIMZI_KINDS:
                counts[doc["kind"]] = counts.get(doc["kind"], 0) + 1
    summary = done.stdout.strip().splitlines()[-1]
    assert f"(Strimzi {strimzi_version()} model)" in summary, summary
    assert f"{sum(counts.values())} Strimzi resource(s) checked" in summary, summary
    for kind, count in counts.items():
        assert re.search(rf"\b{count} {kind}\b", summary), (kind, count, summary)
    assert "0 problem(s)" in summary, summary


# Each case breaks one committed resource; the validator must name the file, the document,
# the kind, the resource's name and the offending field.
Breaker = Callable[[Doc], None]


def _misspell_topic_replicas(doc: Doc) -> None:
    doc["spec"]["replicaz"] = doc["spec"].pop("replicas")


def _unknown_acl_operation(doc: Doc) -> None:
    doc["spec"]["authorization"]["acls"][0]["operations"].append("Reed")


def _deprecated_acl_operation(doc: Doc) -> None:
    acl = doc["spec"]["authorization"]["acls"][0]
    acl["operation"] = acl.pop("operations")[0]


def _partitions_as_text(doc: Doc) -> None:
    doc["spec"]["partitions"] = str(doc["spec"]["partitions"])


def _no_partitions(doc: Doc) -> None:
    doc["spec"]["partitions"] = 0


def _listener_without_port(doc: Doc) -> None:
    del doc["spec"]["kafka"]["listeners"][0]["port"]


def _unknown_storage_type(doc: Doc) -> None:
    doc["spec"]["storage"]["type"] = "jbodd"


def _pool_without_roles(doc: Doc) -> None:
    del doc["spec"]["roles"]


def _unserved_api_version(doc: Doc) -> None:
    doc["apiVersion"] = "kafka.strimzi.io/v1beta1"


def _operator_managed_option(doc: Doc) -> None:
    doc["spec"]["kafka"]["config"]["listeners"] = "PLAINTEXT://:9092"


def _unknown_metadata_field(doc: Doc) -> None:
    doc["metadata"]["labelz"] = doc["metadata"].pop("labels")


CASES: dict[str, tuple[str, str, Breaker, str, str]] = {
    # case: (file, kind, breaker, field, what the message says)
    "misspelt-topic-field": (
        "20-topics.yaml",
        "KafkaTopic",
        _misspell_topic_replicas,
        "spec.replicaz",
        "unknown field 'replicaz'",
    ),
    "unknown-acl-operation": (
        "30-users.yaml",
        "KafkaUser",
        _unknown_acl_operation,
        "spec.authorization.acls[0].operations[1]",
        "'Reed' is not one of the model's values",
    ),
    "deprecated-acl-field": (
        "30-users.yaml",
        "KafkaUser",
        _deprecated_acl_operation,
        "spec.authorization.acls[0].operation",
        "deprecated",
    ),
    "text-for-integer": (
        "20-topics.yaml",
        "KafkaTopic",
        _partitions_as_text,
        "spec.partitions",
        "wrong type",
    ),
    "below-minimum": (
        "20-topics.yaml",
        "KafkaTopic",
        _no_partitions,
        "spec.partitions",
        "below the minimum 1",
    ),
    "required-field": (
        "10-kafka.yaml",
        "Kafka",
        _listener_without_port,
        "spec.kafka.listeners[0].port",
        "required field is missing",
    ),
    "unknown-type": (
        "10-kafka.yaml",
        "KafkaNodePool",
        _unknown_storage_type,
        "spec.storage",
        "unknown or missing type 'jbodd'",
    ),
    "required-in-version": (
        "10-kafka.yaml",
        "KafkaNodePool",
        _pool_without_roles,
        "spec.roles",
        "required field is missing",
    ),
    "unserved-api-version": (  # KafkaTopic still serves v1beta1; Kafka does not
        "10-kafka.yaml",
        "Kafka",
        _unserved_api_version,
        "apiVersion",
        "v1beta1 is not served",
    ),
    "forbidden-config": (
        "10-kafka.yaml",
        "Kafka",
        _operator_managed_option,
        "spec.kafka.config.listeners",
        "the operator manages this option",
    ),
    "strict-metadata": (
        "30-users.yaml",
        "KafkaUser",
        _unknown_metadata_field,
        "metadata.labelz",
        "unknown field 'labelz'",
    ),
}


@pytest.fixture(scope="module")
def refused(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, str], str]:
    """One validator run over one broken copy per case: each case's expected line, and stderr."""
    committed = dict(_committed())
    folder = tmp_path_factory.mktemp("broken")
    expected: dict[str, str] = {}
    for case, (name, kind, breaker, field, _) in CASES.items():
        docs = copy.deepcopy(committed[name])
        index = next(i for i, doc in enumerate(docs) if doc["kind"] == kind)
        breaker(docs[index])
        path = folder / f"{case}.yaml"
        path.write_text(yaml.safe_dump_all(docs, sort_keys=False), encoding="utf-8")
        resource = docs[index]["metadata"]["name"]
        expected[case] = f"{path}: document {index + 1}: {kind} {resource}: {field}: "
    done: subprocess.CompletedProcess[str] = validate([folder])
    assert done.returncode == 1, f"exit {done.returncode}:\n{done.stderr}{done.stdout}"
    return expected, done.stderr


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_broken_resource_is_refused_with_the_field_named(
    refused: tuple[dict[str, str], str], case: str
) -> None:
    expected, stderr = refused
    lines = [line for line in stderr.splitlines() if line.startswith(expected[case])]
    assert lines, f"no line starting {expected[case]!r} in:\n{stderr}"
    assert CASES[case][4] in lines[0], lines[0]


def test_each_broken_copy_is_refused_for_its_one_fault_only(
    refused: tuple[dict[str, str], str],
) -> None:
    expected, stderr = refused
    for line in stderr.splitlines():
        assert any(line.startswith(prefix) for prefix in expected.values()), line


def test_a_missing_folder_is_a_usage_error(tmp_path: Path) -> None:
    done = validate([tmp_path / "nowhere"])
    assert done.returncode == 2, done
    assert "no such file or folder" in done.stderr
