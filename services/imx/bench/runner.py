"""``imx bench``: set up a private exchange, measure it three ways, tear everything down.

One run, in this order, on topics and an app id of its own (a random prefix, so runs never mix):

1. pre-load N simulated reports onto the ingress topics, and warm the broker up with a raw
   passthrough over them (not counted: a freshly started JVM spends a core compiling its hot
   paths for the first tens of seconds, which the pipeline, measured first, would otherwise
   pay and the raw passthrough, measured last, would not);
2. start one worker and time it through the backlog (saturation), which also yields how many
   records the pipeline writes per report;
3. with the same worker, publish at a fixed rate and time every delivery at the consuming side;
4. read the worker's peak memory, stop it;
5. run the raw passthrough over the same pre-loaded records with that many writes per record.

Everything started (broker, worker) is stopped by a ``Teardown`` also after a failure.
"""

from __future__ import annotations

import asyncio
import secrets
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from pydantic import SecretStr

from imx import processes, scrape
from imx.bench.outputs import peak_rss_bytes, quantile
from imx.bench.phases import Target, fixed_rate, saturation
from imx.bench.raw import passthrough
from imx.bench.report import Result, git_commit
from imx.bench.speed import reference
from imx.bench.workload import preload
from imx.kafka import localbroker, reading
from imx.kafka.connection import Connection
from imx.kafka.provision import provision
from imx.kafka.topology import TopicSpec, Topology
from imx.registry import load_registry
from imx.schema.loader import load_schemas
from imx.security import local
from imx.security.local import Identities
from imx.security.principals import GATEWAY, WORKER, principals
from imx.settings import Settings
from imx.simulator.generator import new_simulator
from imx.simulator.publisher import Pace

READY_TIMEOUT_S = 90.0
#: Generous bounds for a 2-core machine: start-up plus 20 reports a second at the very least.
SATURATION_BASE_S = 90.0
SATURATION_MIN_RATE = 20.0
#: Writes per input record of the warm-up passthrough: about what the pipeline writes.
WARMUP_WRITES = 12.0


@dataclass(frozen=True)
class Plan:
    reports: int
    rate: float
    duration_s: float
    seed: int
    insecure: bool = False  # a plaintext private broker, for comparison


def run(settings: Settings, plan: Plan, progress: processes.Progress) -> Result:
    """Run the whole benchmark; nothing it started is left running when it returns or raises."""
    registry = load_registry(settings.registry_path)
    schemas = load_schemas(settings.schemas_dir)
    before = reference()
    teardown = processes.Teardown()
    with tempfile.TemporaryDirectory(prefix="imx-bench-") as tmp:
        workdir = Path(tmp)
        try:
            exchange = start_exchange(
                settings, workdir, teardown, progress, insecure=plan.insecure, scratch=True
            )
            connection, topology = exchange.admin, exchange.topology
            scratch = topology.bench_scratch
            publisher = exchange.connection(GATEWAY)
            reports = new_simulator(registry, plan.seed, lambda: datetime.now(UTC))
            progress(f"pre-loading {plan.reports} reports (seed {plan.seed})")
            loaded = asyncio.run(preload(publisher, topology, schemas, reports, count=plan.reports))
            progress("warming the broker up with a raw passthrough over them")
            warmup = asyncio.run(passthrough(connection, loaded.ends, scratch, WARMUP_WRITES))
            worker = processes.start_worker(
                exchange.env(WORKER), localbroker.free_port(), workdir / "logs"
            )
            teardown.add(f"the worker (pid {worker.process.pid})", worker.stop)
            progress(f"worker pid {worker.process.pid} started; measuring saturation")
            limit = SATURATION_BASE_S + plan.reports / SATURATION_MIN_RATE
            sat = saturation(worker, connection, topology, loaded.count, limit)
            progress(f"saturation: {sat.reports} reports in {sat.seconds:.2f} s; fixed rate next")
            fixed = asyncio.run(
                fixed_rate(
                    worker,
                    Target(publisher, topology, schemas, reports),
                    Pace(plan.rate, plan.duration_s),
                    sat.deliveries / sat.reports,
                )
            )
            rss = peak_rss_bytes(worker.process.pid)
            progress("stopping the worker; raw passthrough next")
            worker.stop()
            per_report = sat.records / sat.reports
            raw = asyncio.run(passthrough(connection, loaded.ends, scratch, per_report))
        finally:
            teardown.run(progress)
    after = reference()
    latencies = fixed.latencies_with_missing()
    pipeline_rate = sat.reports / sat.seconds if sat.seconds > 0 else 0.0
    return Result(
        reports=sat.reports,
        raw_passthrough_per_second=raw.per_second,
        raw_seconds=raw.seconds,
        raw_warmup_per_second=warmup.per_second,
        pipeline_reports_per_second=pipeline_rate,
        pipeline_deliveries_per_second=sat.deliveries / sat.seconds if sat.seconds > 0 else 0.0,
        pipeline_seconds=sat.seconds,
        worker_cpu_ms_per_report=1000 * sat.cpu_seconds / sat.reports if sat.reports else 0.0,
        ratio_pipeline_to_raw=pipeline_rate / raw.per_second if raw.per_second > 0 else 0.0,
        deliveries=sat.deliveries,
        records_per_report=per_report,
        fixed_rate_target_per_second=plan.rate,
        fixed_rate_reports_per_second=fixed.reports / fixed.seconds if fixed.seconds > 0 else 0.0,
        fixed_rate_reports=fixed.reports,
        fixed_rate_deliveries=fixed.deliveries,
        p50_delivery_latency_seconds=quantile(latencies, 0.50),
        p90_delivery_latency_seconds=quantile(latencies, 0.90),
        p99_delivery_latency_seconds=quantile(latencies, 0.99),
        max_delivery_latency_seconds=max(latencies, default=0.0),
        fixed_rate_missing_deliveries=fixed.missing,
        worker_p50_delivery_latency_seconds=scrape.quantile(0.50, fixed.worker_latency) or 0.0,
        worker_p99_delivery_latency_seconds=scrape.quantile(0.99, fixed.worker_latency) or 0.0,
        **_stage_quantiles(fixed.stages_s),
        worker_peak_rss_bytes=rss,
        partitions=topology.partitions,
        seed=plan.seed,
        kafka_version=localbroker.kafka_version(),
        security=connection.security_protocol,
        git_commit=git_commit(),
        machine_reference_ms_before=before.ms,
        machine_reference_ms_after=after.ms,
    )


def _stage_quantiles(stages: Mapping[str, Sequence[float]]) -> dict[str, float]:
    return {
        f"p{round(q * 100)}_{stage}_seconds": quantile(values, q)
        for stage, values in stages.items()
        for q in (0.50, 0.99)
    }


@dataclass(frozen=True)
class Exchange:
    """The bench's own exchange on its broker: topology, admin connection, one principal each."""

    admin: Connection  # provisioning, the probes and the raw passthrough
    own: Settings  # its prefix, app id, home and pseudonymisation key
    topology: Topology
    identities: Identities

    @property
    def secured(self) -> bool:
        return self.admin.security_protocol != "PLAINTEXT"

    def env(self, principal: str) -> dict[str, str]:
        return self.identities.settings(principal).child_env()

    def connection(self, principal: str) -> Connection:
        return self.identities.connection(principal)


def start_exchange(
    settings: Settings,
    workdir: Path,
    teardown: processes.Teardown,
    progress: processes.Progress,
    *,
    insecure: bool = False,
    scratch: bool = False,
) -> Exchange:
    """The broker of ``IMX_BOOTSTRAP`` when set and serving, else a private one in ``workdir``;
    then the bench's topics provisioned and its schemas released.

    The private broker is secured like ``imx kafka up``'s (the configuration a ministry runs)
    unless ``insecure``; every process then acts as its own principal: the worker as
    ``svc-worker``, the publisher and the gateway as ``svc-gateway``, the probes as ``admin``.
    A given broker is used with the given credentials for everything. ``scratch``: the raw
    passthrough's topic too.
    """
    registry = load_registry(settings.registry_path)
    tag = f"bench{secrets.token_hex(4)}"
    own = settings.model_copy(
        update={
            "topic_prefix": f"{tag}-",
            "app_id": f"imx-{tag}",
            "home": workdir / "home",
            "pseudonym_key": SecretStr(secrets.token_hex(processes.KEY_BYTES)),
        }
    )
    topology = Topology.from_settings(own, registry.ids())
    given = Connection.from_settings(settings)
    if "bootstrap" in settings.model_fields_set and reading.serves(given, timeout_s=5.0):
        progress(f"using the Kafka broker at {given.bootstrap}")
        admin, identities = given, Identities(own, None)
    else:
        if "bootstrap" in settings.model_fields_set:
            progress(
                f"nothing serves at IMX_BOOTSTRAP={given.bootstrap}; starting a private broker"
            )
        home = workdir / "kafka"
        teardown.add(f"the private Kafka ({home})", lambda: localbroker.stop(home))
        port = localbroker.free_port()
        try:
            if insecure:
                bootstrap = localbroker.up(home, port, settings.jar_cache, progress)
                admin = Connection(bootstrap, request_timeout_s=settings.request_timeout_s)
            else:
                table = principals(registry, topology)
                admin = local.start_secured(own, home, port, table, progress).connection
        except (localbroker.LocalKafkaError, local.LocalSetupError) as exc:
            raise processes.RunError(str(exc)) from exc
        own = own.model_copy(update={"bootstrap": admin.bootstrap})
        identities = Identities.of(own, admin)
    t = topology
    extra = (TopicSpec(t.bench_scratch, "scratch", "-", t.partitions, t.replication),)
    done = asyncio.run(
        provision(admin, t, own.schemas_dir, own.request_timeout_s, extra if scratch else ())
    )
    if not done.topics.ok:
        raise processes.RunError("; ".join(done.topics.mismatched))
    progress(f"the bench's exchange: prefix {tag}-, {admin.security_protocol} broker")
    return Exchange(admin, own, topology, identities)
