"""A real Prometheus server for e2e tests: scrapes the test's workers, loads the project's rules.

The server runs on a free loopback port with its own storage folder and a generated config
(JSON, which Prometheus reads as YAML) that scrapes every second, so a test sees fresh samples
within seconds. Stopping is SIGTERM, a bounded wait, then SIGKILL, like the workers.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from imx.kafka.localbroker import free_port

JOB = "imx-worker"  # the job name deploy/prometheus/prometheus.yml uses, which the rules expect
GATEWAY_JOB = "imx-gateway"  # the same for the gateways
KAFKA_JOB = "imx-kafka"  # and for the Kafka health exporter
READY_TIMEOUT_S = 30.0
STOP_GRACE_S = 10.0


def prometheus_binary() -> str:
    """The server binary; its absence is an error naming the fix, never a skip."""
    found = shutil.which("prometheus")
    if found is None:
        msg = "prometheus is not installed: run `make setup` (Debian package `prometheus`)"
        raise RuntimeError(msg)
    return found


@dataclass
class PrometheusServer:
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _get(self, path: str, params: dict[str, str] | None = None) -> dict[str, Any]:
        """The API's JSON answer, also for 4xx: a bad query is an answer, not a crash."""
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        try:
            with urllib.request.urlopen(f"{self.url}{path}{query}", timeout=10) as response:  # noqa: S310
                body: dict[str, Any] = json.load(response)
        except urllib.error.HTTPError as exc:
            body = json.load(exc)
        return body

    def query(self, expr: str) -> dict[str, Any]:
        """``/api/v1/query`` at the current time: ``status``, and ``data`` or ``error``."""
        return self._get("/api/v1/query", {"query": expr})

    def rules(self) -> list[dict[str, Any]]:
        """Every loaded rule as Prometheus parsed it: name, query, type, health, labels..."""
        groups = self._get("/api/v1/rules")["data"]["groups"]
        return [rule for group in groups for rule in group["rules"]]

    def alerts(self) -> list[dict[str, Any]]:
        """Every alert pending or firing now: labels (with ``alertname``), state, value."""
        found: list[dict[str, Any]] = self._get("/api/v1/alerts")["data"]["alerts"]
        return found

    def scrapes(self) -> int:
        """How many scrapes of the workers are stored so far."""
        result = self.query(f'sum(count_over_time(up{{job="{JOB}"}}[1h]))')["data"]["result"]
        return int(float(result[0]["value"][1])) if result else 0

    def wait_scrapes(self, count: int, timeout_s: float = 30.0) -> None:
        """Return once ``count`` more scrapes than now are stored."""
        target = self.scrapes() + count
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.scrapes() >= target:
                return
            time.sleep(0.2)
        msg = f"fewer than {count} scrapes within {timeout_s}s:\n{self.tail()}"
        raise RuntimeError(msg)

    def wait_ready(self, timeout_s: float = READY_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                msg = f"prometheus exited with {self.process.returncode}:\n{self.tail()}"
                raise RuntimeError(msg)
            with (
                contextlib.suppress(OSError),
                urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as response,  # noqa: S310
            ):
                if response.status == 200:
                    return
            time.sleep(0.2)
        msg = f"prometheus was not ready within {timeout_s}s:\n{self.tail()}"
        raise RuntimeError(msg)

    def tail(self, lines: int = 30) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


def write_config(
    workdir: Path,
    targets: Sequence[str],
    rule_files: Sequence[Path],
    interval_s: float,
    gateways: Sequence[str] = (),
    *,
    kafka: Sequence[str] = (),
) -> Path:
    every = f"{round(interval_s * 1000)}ms"  # Prometheus durations are integers with a unit
    jobs = [{"job_name": JOB, "static_configs": [{"targets": list(targets)}]}]
    if gateways:
        jobs.append({"job_name": GATEWAY_JOB, "static_configs": [{"targets": list(gateways)}]})
    if kafka:
        jobs.append({"job_name": KAFKA_JOB, "static_configs": [{"targets": list(kafka)}]})
    config = {
        "global": {
            "scrape_interval": every,
            "scrape_timeout": every,
            "evaluation_interval": every,
        },
        "rule_files": [str(path.resolve()) for path in rule_files],
        "scrape_configs": jobs,
    }
    path = workdir / "prometheus.yml"
    path.write_text(json.dumps(config, indent=2))
    return path


@contextlib.contextmanager
def running_prometheus(
    targets: Sequence[str],
    workdir: Path,
    rule_files: Sequence[Path] = (),
    interval_s: float = 1.0,
    gateways: Sequence[str] = (),
    *,
    kafka: Sequence[str] = (),
) -> Iterator[PrometheusServer]:
    """A ready server scraping ``targets`` (host:port) as job ``imx-worker``, ``gateways``
    as job ``imx-gateway`` and ``kafka`` (health exporters) as ``imx-kafka``; stopped on exit."""
    workdir.mkdir(parents=True, exist_ok=True)
    config = write_config(workdir, targets, rule_files, interval_s, gateways, kafka=kafka)
    port = free_port()
    log = workdir / "prometheus.log"
    with log.open("wb") as handle:
        process = subprocess.Popen(
            [
                prometheus_binary(),
                f"--config.file={config}",
                f"--storage.tsdb.path={workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--log.level=warn",
            ],
            stdout=handle,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    server = PrometheusServer(process, port, log)
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


#: What Grafana puts in for its built-in variables; the test server scrapes every second.
GRAFANA_BUILTINS = {"__rate_interval": "1m", "__interval": "15s", "__range": "1h"}
_GRAFANA_VARIABLE = re.compile(r"\$\{(\w+)\}|\$(\w+)")
_OPENING = {"(": ")", "[": "]", "{": "}"}
_COMPARISONS = ("==", "!=", ">=", "<=", ">", "<")


def grafana_queries(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    """``(panel title / refId, PromQL)`` of every target of every panel, rows included."""
    found = []
    for panel in dashboard.get("panels", []):
        for inner in [panel, *panel.get("panels", [])]:
            for target in inner.get("targets", []):
                if "expr" in target:
                    found.append((f"{inner['title']} / {target['refId']}", target["expr"]))
    return found


def substitute_grafana(expr: str) -> str:
    """The query as Grafana sends it; an unknown variable is left for Prometheus to reject."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        return GRAFANA_BUILTINS.get(name, match.group(0))

    return _GRAFANA_VARIABLE.sub(value, expr)


def without_comparison(expr: str) -> str | None:
    """The left operand of the outermost comparison, e.g. the measured value of an alert rule.

    Brackets and string literals are skipped, so ``{job!="x"}`` is not a comparison. ``None``
    when the expression compares nothing at its top level.
    """
    closing: list[str] = []
    quote = ""
    i = 0
    while i < len(expr):
        char = expr[i]
        if quote:
            if char == "\\":
                i += 1
            elif char == quote:
                quote = ""
        elif char in "\"'`":
            quote = char
        elif char in _OPENING:
            closing.append(_OPENING[char])
        elif closing and char == closing[-1]:
            closing.pop()
        elif not closing:
            for operator in _COMPARISONS:
                if expr.startswith(operator, i):
                    return expr[:i].strip()
        i += 1
    return None
