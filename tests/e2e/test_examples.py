"""The feed consumers of ``examples/`` read what the pipeline wrote, as ``imx tail`` does.

A worker delivers a few reports and one correlation to gpd-oc; then the Java consumer (built
with Maven here), the Python consumer (both as ``unit-gpd-oc`` on the secured session
broker, with the settings ``imx security creds`` prints) and the kcat recipe (as the same unit,
with the librdkafka properties it prints; Debian's kcat on confluent-kafka's bundled librdkafka,
tests/support/kcat.py) read ``feed.gpd-oc``. None of them knows the schemas in advance: they
find the writer schema by the fingerprint in each value on the schemas topic, so this also
proves that what imx publishes there lets an outside integrator decode every delivery. Their
lines must be exactly the deliveries that ``imx tail --json`` decodes with imx's own codec.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from imx.kafka.topology import Topology
from imx.schema.loader import default_schemas
from imx.security import secrets
from imx.security.principals import unit_principal
from imx.settings import Settings
from tests.support.kcat import kcat_env
from tests.support.proc import run_imx
from tests.support.reports import crossing, lines, smuggling
from tests.support.secured import SecuredBroker
from tests.support.workers import running_worker

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
JAVA_PROJECT = EXAMPLES / "java-consumer"
JAR = JAVA_PROJECT / "target" / "imx-feed-consumer.jar"
PYTHON_CONSUMER = EXAMPLES / "python-consumer" / "consume.py"
KCAT_FEED = EXAMPLES / "kcat" / "feed.sh"
UNIT = "gpd-oc"  # in the chain of every reporter below, and a recipient of every correlation
#: The first build downloads the Kafka client, Avro and the plugins; later ones are offline.
MAVEN_TIMEOUT_S = 600
CONSUMER_TIMEOUT_S = 90
#: Consumers stop after this long without a record; the feed is complete before they start.
IDLE_S = "4"
DELIVERED_WITHIN_S = 90

Line = tuple[str, str, str, str, str]


def run_bounded(
    argv: Sequence[str], timeout_s: float, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[bytes]:
    """Run ``argv`` in its own process group, killed whole on timeout or any error.

    A group, because ``mvn`` and ``feed.sh`` run their work in child processes that a plain
    kill of the parent would leave behind.
    """
    process = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, start_new_session=True
    )
    try:
        out, err = process.communicate(timeout=timeout_s)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
    return subprocess.CompletedProcess(argv, process.returncode, out, err)


def must_have(tool: str) -> str:
    """The path of ``tool``; a missing one fails the test with what to install (never skips)."""
    path = shutil.which(tool)
    if path is None:
        pytest.fail(f"{tool} is not installed: run 'make setup'", pytrace=False)
    return path


@pytest.fixture(scope="session")
def java_consumer() -> Path:
    """The Java example's runnable jar, built once per session."""
    must_have("java")
    mvn = must_have("mvn")
    try:
        built = run_bounded(
            [mvn, "-q", "-B", "-f", str(JAVA_PROJECT / "pom.xml"), "package"], MAVEN_TIMEOUT_S
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"mvn package of {JAVA_PROJECT} took over {MAVEN_TIMEOUT_S}s", pytrace=False)
    output = (built.stdout + built.stderr).decode(errors="replace")
    assert built.returncode == 0, f"mvn package failed:\n{output[-4000:]}"
    assert JAR.is_file(), f"mvn package made no {JAR}:\n{output[-4000:]}"
    return JAR


def publish(env: dict[str, str], unit: str, reports: list[dict[str, Any]], where: Path) -> None:
    path = where / f"{unit}.jsonl"
    path.write_text(lines(*reports), encoding="utf-8")
    done = run_imx(["publish", "--unit", unit, str(path)], env, timeout=60)
    assert done.returncode == 0, f"publish {unit}: {done.stderr}"


def tail(env: dict[str, str]) -> list[dict[str, Any]]:
    args = ["tail", UNIT, "--from-beginning", "--json", "--idle-timeout", "2"]
    done = run_imx(args, env, timeout=60)
    assert done.returncode == 0, f"imx tail: {done.stderr}"
    return [json.loads(line) for line in done.stdout.splitlines()]


def as_line(delivery: dict[str, Any]) -> Line:
    """What every consumer prints for a delivery, from its ``imx tail --json`` form."""
    if delivery["kind"] == "report":
        subject = delivery["report"]["event_id"]
    else:
        subject = delivery["correlation"]["correlation_id"]
    rules = ",".join(delivery["rules"])
    return (delivery["delivery_id"], delivery["recipient"], delivery["kind"], subject, rules)


def printed_lines(done: subprocess.CompletedProcess[bytes], what: str) -> list[Line]:
    stderr = done.stderr.decode(errors="replace")
    assert done.returncode == 0, f"{what} exited {done.returncode}:\n{stderr[-4000:]}"
    found: list[Line] = []
    for text in done.stdout.decode().splitlines():
        parts = text.split("\t")
        assert len(parts) == 5, f"{what} printed {text!r}; stderr:\n{stderr[-2000:]}"
        found.append((parts[0], parts[1], parts[2], parts[3], parts[4]))
    return sorted(found)


def wait_for_deliveries(env: dict[str, str], event_ids: set[str]) -> list[dict[str, Any]]:
    """The feed once it shows a report delivery of every event and a correlation."""
    deadline = time.monotonic() + DELIVERED_WITHIN_S
    while True:
        feed = tail(env)
        reported = {d["report"]["event_id"] for d in feed if d["kind"] == "report"}
        if reported >= event_ids and any(d["kind"] == "correlation" for d in feed):
            return feed
        if time.monotonic() > deadline:
            msg = f"after {DELIVERED_WITHIN_S}s {UNIT} has only {[as_line(d) for d in feed]}"
            raise TimeoutError(msg)
        time.sleep(1)


@pytest.mark.timeout(MAVEN_TIMEOUT_S + 300)  # the first Maven build counts towards this test
def test_every_example_reads_what_imx_tail_reads(
    java_consumer: Path,
    *,
    pipeline_env: dict[str, str],
    topology: Topology,
    principal_settings: Callable[[str], Settings],
    session_broker: SecuredBroker,
    tmp_path: Path,
) -> None:
    # The same van in two smuggling cases far apart: two incidents sharing a vehicle, so one
    # vehicle correlation. The second suspect differs, or the shared person, phone and document
    # would correlate too.
    other = {"given_name": "Jovan", "family_name": "Ilić", "birth_date": "1990-05-01",
             "nationality": "SRB", "category": "SUSPECT",
             "documents": [], "phones": []}  # fmt: skip
    sent = {
        "bps-presevo": [crossing("bps-presevo")],
        "ps-presevo": [smuggling("ps-presevo")],
        "ps-zajecar": [
            smuggling("ps-zajecar", location={"lat": 43.90, "lon": 22.28}, suspects=[other])
        ],
    }

    def env_of(principal: str) -> dict[str, str]:
        return principal_settings(principal).child_env()

    with ThreadPoolExecutor(max_workers=3) as pool:
        published = [
            pool.submit(publish, env_of(unit_principal(u)), u, r, tmp_path) for u, r in sent.items()
        ]
        for done in published:
            done.result()
    event_ids = {r["event_id"] for reports in sent.values() for r in reports}
    reader = unit_principal(UNIT)
    with running_worker(pipeline_env, tmp_path):
        # The worker is stopped before the consumers run: the feed is then complete, and the
        # two cores are theirs.
        feed = wait_for_deliveries(env_of(reader), event_ids)
    expected = sorted(as_line(d) for d in feed)
    assert [x for x in expected if x[2] == "correlation"], "no correlation to read"

    bootstrap, topic, schemas = session_broker.bootstrap, topology.feed(UNIT), topology.schemas
    # Every consumer reads the secured broker as the unit, with what `imx security creds` prints.
    java_config = tmp_path / "client.properties"
    java_config.write_text(
        secrets.creds(session_broker.secrets, reader, "java") + "client.id=imx-example-java\n"
    )
    password = secrets.SecretsDir(session_broker.secrets).password(reader).get_secret_value()
    ca = str(secrets.SecretsDir(session_broker.secrets).ca_cert)
    kcat_config = tmp_path / "kcat.conf"
    kcat_config.write_text(
        secrets.creds(session_broker.secrets, reader, "librdkafka") + "client.id=imx-example-kcat\n"
    )
    common = ["--bootstrap", bootstrap, "--feed", topic, "--schemas", schemas]
    commands = {
        "java": ["java", "-jar", str(java_consumer), *common, "--idle-timeout", IDLE_S,
                 "--config", str(java_config)],
        "python": [sys.executable, str(PYTHON_CONSUMER), *common, "--idle-timeout", IDLE_S,
                   "--security-protocol", "SASL_SSL", "--sasl-username", reader,
                   "--ssl-cafile", ca],
        "kcat": [str(KCAT_FEED), topic],
    }  # fmt: skip
    env = {
        **kcat_env(tmp_path),
        "KAFKA_BOOTSTRAP": bootstrap,
        "KCAT_CONFIG": str(kcat_config),
        "KAFKA_SASL_PASSWORD": password,
    }
    with ThreadPoolExecutor(max_workers=len(commands)) as pool:
        running = {
            name: pool.submit(run_bounded, argv, CONSUMER_TIMEOUT_S, env)
            for name, argv in commands.items()
        }
        ran = {name: future.result() for name, future in running.items()}

    assert printed_lines(ran["java"], "the Java consumer") == expected
    assert printed_lines(ran["python"], "consume.py") == expected

    kcat_err = ran["kcat"].stderr.decode(errors="replace")
    assert ran["kcat"].returncode == 0, f"feed.sh exited {ran['kcat'].returncode}:\n{kcat_err}"
    records = [text.split("\t") for text in ran["kcat"].stdout.decode().splitlines()]
    assert all(len(r) == 4 and r[1].isdigit() and r[2].isdigit() for r in records), records
    assert sorted(r[3] for r in records) == sorted(x[0] for x in expected)

    # --raw hands one record's value over as bytes: single-object Avro of the Delivery schema.
    _key, partition, offset, _id = records[0]
    raw = run_bounded([str(KCAT_FEED), "--raw", topic, partition, offset], CONSUMER_TIMEOUT_S, env)
    assert raw.returncode == 0, raw.stderr.decode(errors="replace")
    assert raw.stdout[:2] == b"\xc3\x01"
    assert raw.stdout[2:10].hex() == default_schemas().delivery().fingerprint_hex
