"""The benchmark's result: one record, shown as a table for people and one JSON line for tools."""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import asdict, dataclass
from typing import Any

from rich.table import Table

from imx.settings import REPO_ROOT


@dataclass(frozen=True)
class Result:
    """Every figure of one ``imx bench`` run; the field names are the JSON keys."""

    reports: int
    raw_passthrough_per_second: float
    raw_seconds: float
    #: The same passthrough on the freshly started broker, before everything else (warm-up).
    raw_warmup_per_second: float
    pipeline_reports_per_second: float
    pipeline_deliveries_per_second: float
    pipeline_seconds: float
    #: The worker's CPU time (all threads) per pre-loaded report: its cost, free of the noise
    #: that other processes on the machine add to wall-clock figures.
    worker_cpu_ms_per_report: float
    ratio_pipeline_to_raw: float
    deliveries: int
    records_per_report: float
    fixed_rate_target_per_second: float
    fixed_rate_reports_per_second: float
    fixed_rate_reports: int
    fixed_rate_deliveries: int
    #: Deliveries still missing when the drain ended; each counts in the quantiles at the
    #: time waited, so non-zero means the quantiles it reaches are lower bounds.
    fixed_rate_missing_deliveries: int
    p50_delivery_latency_seconds: float
    p90_delivery_latency_seconds: float
    p99_delivery_latency_seconds: float
    max_delivery_latency_seconds: float
    worker_p50_delivery_latency_seconds: float
    worker_p99_delivery_latency_seconds: float
    #: The received deliveries' latency in parts (bench.outputs.STAGES): p50 and p99 of each.
    p50_to_intake_seconds: float
    p99_to_intake_seconds: float
    p50_intake_to_decided_seconds: float
    p99_intake_to_decided_seconds: float
    p50_decided_to_received_seconds: float
    p99_decided_to_received_seconds: float
    worker_peak_rss_bytes: int
    partitions: int
    seed: int
    kafka_version: str
    #: The client listener's protocol: SASL_SSL (the default, as deployed) or PLAINTEXT.
    security: str
    git_commit: str
    #: The machine's speed before and after the run (bench.speed): CPU ms of a fixed workload.
    machine_reference_ms_before: float
    machine_reference_ms_after: float

    def json_line(self) -> str:
        return json_line(self)

    def table(self) -> Table:
        rows = [
            ("raw passthrough (reports/s)", f"{self.raw_passthrough_per_second:,.0f}"),
            ("  records written per report", f"{self.records_per_report:.2f}"),
            ("  time (s)", f"{self.raw_seconds:.2f}"),
            ("  warm-up on the fresh broker (reports/s)", f"{self.raw_warmup_per_second:,.0f}"),
            ("pipeline at saturation (reports/s)", f"{self.pipeline_reports_per_second:,.1f}"),
            ("  deliveries/s", f"{self.pipeline_deliveries_per_second:,.1f}"),
            ("  deliveries", f"{self.deliveries:,}"),
            ("  time (s)", f"{self.pipeline_seconds:.2f}"),
            ("  worker CPU per report (ms)", f"{self.worker_cpu_ms_per_report:.2f}"),
            ("pipeline / raw", f"{self.ratio_pipeline_to_raw:.3f}"),
            (
                "fixed rate: target / achieved (reports/s)",
                f"{self.fixed_rate_target_per_second:g} / {self.fixed_rate_reports_per_second:.1f}",
            ),
            ("  reports / deliveries", f"{self.fixed_rate_reports} / {self.fixed_rate_deliveries}"),
            ("  deliveries missing at the end", f"{self.fixed_rate_missing_deliveries}"),
            ("  delivery latency p50 (ms)", ms(self.p50_delivery_latency_seconds)),
            ("  delivery latency p90 (ms)", ms(self.p90_delivery_latency_seconds)),
            ("  delivery latency p99 (ms)", ms(self.p99_delivery_latency_seconds)),
            ("  delivery latency max (ms)", ms(self.max_delivery_latency_seconds)),
            (
                "  worker's own p50 / p99 (ms, histogram)",
                f"{ms(self.worker_p50_delivery_latency_seconds)}"
                f" / {ms(self.worker_p99_delivery_latency_seconds)}",
            ),
            (
                "  reported → intake, p50 / p99 (ms)",
                f"{ms(self.p50_to_intake_seconds)} / {ms(self.p99_to_intake_seconds)}",
            ),
            (
                "  intake → decided, p50 / p99 (ms)",
                f"{ms(self.p50_intake_to_decided_seconds)}"
                f" / {ms(self.p99_intake_to_decided_seconds)}",
            ),
            (
                "  decided → received, p50 / p99 (ms)",
                f"{ms(self.p50_decided_to_received_seconds)}"
                f" / {ms(self.p99_decided_to_received_seconds)}",
            ),
            ("worker peak RSS (MiB)", f"{self.worker_peak_rss_bytes / 2**20:.0f}"),
            ("partitions", f"{self.partitions}"),
            reference_row(self.machine_reference_ms_before, self.machine_reference_ms_after),
            *provenance_rows(self.kafka_version, self.security, self.git_commit),
        ]
        return figures_table(f"imx bench: {self.reports} reports, seed {self.seed}", rows)


def json_line(result: Any) -> str:
    """A result dataclass as one JSON line, its field names as the keys."""
    return json.dumps(asdict(result), sort_keys=True)


def figures_table(title: str, rows: list[tuple[str, str]]) -> Table:
    """Measures and their values, right-aligned, for people."""
    table = Table(title=title)
    table.add_column("measure")
    table.add_column("value", justify="right")
    for name, value in rows:
        table.add_row(name, value)
    return table


def ms(seconds: float) -> str:
    """Seconds as milliseconds with one decimal, as every table of the benchmark shows them."""
    return f"{seconds * 1000:.1f}"


def reference_row(before_ms: float, after_ms: float) -> tuple[str, str]:
    """The machine's speed around the run: figures of runs compare only when these agree."""
    return ("machine reference before / after (ms)", f"{before_ms:.0f} / {after_ms:.0f}")


def provenance_rows(kafka: str, security: str, commit: str) -> list[tuple[str, str]]:
    """The closing rows of every table: what the figures were measured on."""
    return [("Kafka", kafka), ("client listener", security), ("git commit", commit[:12])]


def git_commit() -> str:
    """The checkout's commit, or "unknown" outside a git checkout."""
    git = shutil.which("git")
    if git is None:
        return "unknown"
    try:
        out = subprocess.run(  # noqa: S603 - fixed argv
            [git, "rev-parse", "HEAD"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=False,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return out.stdout.strip() if out.returncode == 0 and out.stdout.strip() else "unknown"
