"""``imx bench`` end to end on a tiny workload: the JSON line's shape, never its timings.

The bench gets a private ``IMX_HOME`` and no ``IMX_BOOTSTRAP``, so it starts (and must stop) a
broker of its own in a temporary folder; afterwards no worker or broker of the run may remain.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from imx.kafka.localbroker import kafka_version
from tests.support.proc import kill_all, processes_mentioning, run_imx

pytestmark = pytest.mark.e2e

BENCH_TIMEOUT_S = 300.0
POSITIVE = (
    "raw_passthrough_per_second",
    "raw_warmup_per_second",
    "pipeline_reports_per_second",
    "pipeline_deliveries_per_second",
    "ratio_pipeline_to_raw",
    "fixed_rate_reports_per_second",
    "p50_delivery_latency_seconds",
    "p90_delivery_latency_seconds",
    "p99_delivery_latency_seconds",
    "worker_peak_rss_bytes",
    "worker_cpu_ms_per_report",
    "reports",
    # where the latency goes (publish to intake, intake to decision, decision to receipt)
    "p50_intake_to_decided_seconds",
    "p99_intake_to_decided_seconds",
    "p50_decided_to_received_seconds",
    "p99_decided_to_received_seconds",
    # the machine's speed around the run
    "machine_reference_ms_before",
    "machine_reference_ms_after",
)
TEXT = ("kafka_version", "git_commit", "security")


def bench(args: list[str], tmp_path: Path) -> tuple[subprocess.CompletedProcess[str], Any]:
    """``imx bench ARGS`` on a broker of its own; it must succeed and leave nothing running.

    Returns the run and its JSON line, parsed.
    """
    before = processes_mentioning("imx-bench-")
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMX_")}
    env["IMX_HOME"] = str(tmp_path / "home")
    if "IMX_JAR_CACHE" in os.environ:
        env["IMX_JAR_CACHE"] = os.environ["IMX_JAR_CACHE"]
    try:
        result = run_imx(["bench", *args], env, timeout=BENCH_TIMEOUT_S)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"imx bench {' '.join(args)} did not finish in {BENCH_TIMEOUT_S:.0f} s: {exc}")
    finally:
        leftovers = processes_mentioning("imx-bench-") - before
        kill_all(leftovers)  # whatever a failed run left, so the session goes on clean

    assert result.returncode == 0, result.stderr[-3000:]
    assert leftovers == set(), f"processes of the bench still alive: {leftovers}"
    assert "Kafka serves at" in result.stderr, "did not start its own broker"
    assert "(SASL_SSL, SCRAM-SHA-512, ACLs enforced)" in result.stderr, "not secured by default"
    return result, json.loads(result.stdout.strip().splitlines()[-1])


def test_bench_prints_every_figure_last_as_one_json_line(tmp_path: Path) -> None:
    result, figures = bench(["--reports", "200", "--rate", "50", "--duration", "5"], tmp_path)
    assert set(POSITIVE) | set(TEXT) <= set(figures), sorted(set(POSITIVE) - set(figures))
    for key in POSITIVE:
        assert isinstance(figures[key], int | float), key
        assert figures[key] > 0, f"{key} = {figures[key]}"
    for key in TEXT:
        assert isinstance(figures[key], str)
        assert figures[key], key
    assert figures["reports"] == 200
    assert figures["kafka_version"] == kafka_version()
    ratio = figures["pipeline_reports_per_second"] / figures["raw_passthrough_per_second"]
    assert math.isclose(figures["ratio_pipeline_to_raw"], ratio, rel_tol=1e-9)
    quantiles = [figures[f"p{q}_delivery_latency_seconds"] for q in (50, 90, 99)]
    assert quantiles == sorted(quantiles), "latency quantiles must not decrease"
    parts = ("to_intake", "intake_to_decided", "decided_to_received")
    for part in parts:
        assert figures[f"p50_{part}_seconds"] <= figures[f"p99_{part}_seconds"], part
    if figures["fixed_rate_missing_deliveries"] == 0:  # then the same deliveries throughout
        # the parts of one delivery add up to its latency: no part's median exceeds the whole's
        assert max(figures[f"p50_{part}_seconds"] for part in parts) <= quantiles[0] + 1e-6
    assert "pipeline at saturation" in result.stdout, "the table comes before the JSON line"


GATEWAY_POSITIVE = (
    "posted_per_second",
    "p50_post_to_sse_seconds",
    "p90_post_to_sse_seconds",
    "p99_post_to_sse_seconds",
    "max_post_to_sse_seconds",
    "p50_post_answer_seconds",
    "p99_post_answer_seconds",
    "gateway_cpu_seconds",
    "gateway_cpu_ms_per_request",
    "gateway_peak_rss_bytes",
    "streams",
    # the same latency split at the worker's decision
    "p50_post_to_decided_seconds",
    "p99_post_to_decided_seconds",
    "p50_decided_to_sse_seconds",
    "p99_decided_to_sse_seconds",
)


def test_bench_gateway_receives_every_posted_report_on_an_event_stream(tmp_path: Path) -> None:
    result, figures = bench(["--gateway", "--rate", "10", "--duration", "3"], tmp_path)
    assert set(GATEWAY_POSITIVE) | set(TEXT) <= set(figures)
    for key in GATEWAY_POSITIVE:
        assert isinstance(figures[key], int | float), key
        assert figures[key] > 0, f"{key} = {figures[key]}"
    for key in TEXT:
        assert isinstance(figures[key], str)
        assert figures[key], key
    assert figures["posted"] == 30  # 10 a second for 3 s
    # Every post was accepted, and every one arrived on its directorate's stream, once.
    assert figures["accepted"] == figures["received"] == figures["posted"]
    assert (figures["refused"], figures["missing"], figures["repeated"]) == (0, 0, 0)
    quantiles = [figures[f"p{q}_post_to_sse_seconds"] for q in (50, 90, 99)]
    assert quantiles == sorted(quantiles), "latency quantiles must not decrease"
    assert quantiles[-1] <= figures["max_post_to_sse_seconds"]
    # A delivery cannot arrive before the broker acknowledged its report.
    assert figures["p50_post_answer_seconds"] <= figures["max_post_to_sse_seconds"]
    cpu = 1000 * figures["gateway_cpu_seconds"] / figures["posted"]
    assert math.isclose(figures["gateway_cpu_ms_per_request"], cpu, rel_tol=1e-9)
    assert "post → SSE delivery p99" in result.stdout, "the table comes before the JSON line"


def test_bench_replay_accounts_for_every_report_and_samples_memory_to_the_end(
    tmp_path: Path,
) -> None:
    result, figures = bench(["--replay", "300", "--seed", "11"], tmp_path)
    assert figures["reports"] == 300
    assert figures["event_days"] == 28
    assert figures["security"] == "SASL_SSL"
    outcomes = figures["accepted"] + figures["exact_duplicates"] + figures["rejected"]
    assert outcomes == 300, figures
    assert sum(figures["rejected_by_code"].values()) == figures["rejected"]
    assert figures["deliveries"] > 0
    assert figures["output_records"] == 2 * figures["deliveries"]  # a delivery and its audit
    for key in (
        "seconds",
        "reports_per_second",
        "worker_cpu_ms_per_report",
        "preload_seconds",
        "machine_reference_ms_before",
        "machine_reference_ms_after",
    ):
        assert figures[key] > 0, key
    assert math.isclose(figures["reports_per_second"], 300 / figures["seconds"], rel_tol=1e-9)
    memory = figures["memory"]
    assert memory, "no memory sample"
    assert memory[-1]["processed"] == 300
    assert [m["processed"] for m in memory] == sorted(m["processed"] for m in memory)
    assert all(m["rss_bytes"] > 0 for m in memory)
    assert figures["rss_at_end_bytes"] == memory[-1]["rss_bytes"]
    assert figures["worker_peak_rss_bytes"] >= max(m["rss_bytes"] for m in memory)
    assert "worker memory through the replay" in result.stdout
