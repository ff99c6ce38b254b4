"""deploy/prometheus checked by promtool: the config and rules load, and every alert's tests pass.

Every alert has a case where it fires and one where it stays quiet, and those tests can fail:
a rule with a changed threshold, window or ``for`` fails its own test file. promtool missing
is a failure naming the fix, never a skip.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

PROMETHEUS = Path(__file__).resolve().parents[2] / "deploy" / "prometheus"
RULE_FILES = sorted((PROMETHEUS / "rules").glob("*.yml"))
TEST_FILES = sorted((PROMETHEUS / "tests").glob("*.yml"))
ALERTS = {
    "ImxUnitSilent",
    "ImxDlqRateHigh",
    "ImxDeliveryLatencyP99High",
    "ImxWorkerDown",
    "ImxReportDeliveredLate",
    "ImxGateway5xxRateHigh",
    "ImxOutboxReportWaiting",
    "ImxOutboxDown",
    "ImxKafkaBrokerLost",
    "ImxKafkaUnderReplicatedPartitions",
    "ImxKafkaOfflinePartitions",
    "ImxKafkaUnreachable",
    "ImxConsumerLagGrowing",
}
# A test case: `exp_alerts: []` stays quiet, `exp_alerts:` followed by a list item fires.
CASE = re.compile(r"alertname:[ \t]*(\w+)[ \t]*\n[ \t]*exp_alerts:[ \t]*(\[\]|\n[ \t]*-)")


def promtool(*args: str, cwd: Path = PROMETHEUS) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("promtool")
    if binary is None:
        pytest.fail("promtool is not installed: run `make setup` (Debian package `prometheus`)")
    return subprocess.run(
        [binary, *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


def test_rule_files_are_valid() -> None:
    assert RULE_FILES
    result = promtool("check", "rules", *map(str, RULE_FILES))
    assert result.returncode == 0, result.stdout + result.stderr


def test_config_is_valid_and_loads_the_rules() -> None:
    result = promtool("check", "config", "prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "imx.rules.yml" in result.stdout
    assert "gateway.rules.yml" in result.stdout
    assert "cluster.rules.yml" in result.stdout


def test_rule_unit_tests_pass() -> None:
    assert TEST_FILES
    result = promtool("test", "rules", *map(str, TEST_FILES))
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_has_a_firing_and_a_quiet_case() -> None:
    rules = "".join(path.read_text() for path in RULE_FILES)
    defined = set(re.findall(r"^\s*- alert:\s*(\w+)", rules, re.MULTILINE))
    assert defined == ALERTS
    cases: dict[str, set[str]] = {name: set() for name in ALERTS}
    for path in TEST_FILES:
        text = path.read_text()
        found = CASE.findall(text)
        # Every case must be recognised, or a case in another layout would go uncounted.
        assert len(found) == text.count("alertname:"), f"{path.name}: unrecognised case layout"
        for name, expected in found:
            cases[name].add("quiet" if expected == "[]" else "fires")
    assert cases == {name: {"fires", "quiet"} for name in ALERTS}


@pytest.mark.parametrize(
    ("alert", "old", "new", "file"),
    [
        ("ImxUnitSilent", "expr: vector(10800)", "expr: vector(21600)", "imx.rules.yml"),
        ("ImxDlqRateHigh", "> 0.1\n", "> 0.3\n", "imx.rules.yml"),
        ("ImxDeliveryLatencyP99High", ") > 1\n", ") > 2\n", "imx.rules.yml"),
        ("ImxWorkerDown", "== 0\n        for: 1m", "== 0\n        for: 0m", "imx.rules.yml"),
        ("ImxReportDeliveredLate", "[15m]", "[1h]", "imx.rules.yml"),
        ("ImxGateway5xxRateHigh", "> 0.05\n", "> 0.2\n", "gateway.rules.yml"),
        ("ImxGateway5xxRateHigh", "[5m]", "[1h]", "gateway.rules.yml"),
        ("ImxGateway5xxRateHigh", "for: 10m", "for: 0m", "gateway.rules.yml"),
        ("ImxOutboxReportWaiting", "> 900\n", "> 1800\n", "outbox.rules.yml"),
        ("ImxOutboxDown", "== 0\n        for: 5m", "== 0\n        for: 1m", "outbox.rules.yml"),
        ("ImxKafkaBrokerLost", '"}\n        for: 1m', '"}\n        for: 0m', "cluster.rules.yml"),
        ("ImxKafkaUnderReplicatedPartitions", "for: 2m", "for: 1m", "cluster.rules.yml"),
        ("ImxKafkaOfflinePartitions", "for: 30s", "for: 0s", "cluster.rules.yml"),
        (
            "ImxKafkaUnreachable",
            "== 0\n        for: 1m",
            "== 0\n        for: 0m",
            "cluster.rules.yml",
        ),
        ("ImxConsumerLagGrowing", "> 1000\n", "> 10000\n", "cluster.rules.yml"),
        ("ImxConsumerLagGrowing", "[10m]) > 0", "[10m]) > -1e9", "cluster.rules.yml"),
    ],
)
def test_a_changed_rule_fails_its_tests(
    alert: str, old: str, new: str, file: str, tmp_path: Path
) -> None:
    copy = tmp_path / "prometheus"
    shutil.copytree(PROMETHEUS, copy)
    rules = copy / "rules" / file
    text = rules.read_text()
    assert old in text
    rules.write_text(text.replace(old, new))
    result = promtool("test", "rules", *map(str, sorted((copy / "tests").glob("*.yml"))))
    assert result.returncode != 0
    assert f"alertname: {alert}" in result.stdout + result.stderr
