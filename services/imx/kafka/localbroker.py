"""A real single-node Apache Kafka (KRaft) for machines without a container engine.

The pinned server (``deploy/kafka/pom.xml``) is resolved with Maven into a jar cache outside the
checkout, its storage is formatted once, and ``kafka.Kafka`` runs as a combined broker and
controller on loopback with a small heap. Readiness means a metadata request answers, not that a
port is open. Everything about one broker lives in its home folder: configuration, storage,
logs, the pid and the bootstrap address, so ``status`` and ``down`` need nothing else.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from imx import resources
from imx.kafka import reading
from imx.kafka.connection import Connection
from imx.security.principals import ADMIN
from imx.security.secrets import BROKER_SSL_PRINCIPAL, SecretsDir, SecretsError

MIN_JAVA = 17
HEAP = "-Xmx512m"
READY_TIMEOUT_S = 90.0
STOP_GRACE_S = 30.0
#: What marks a folder as a local cluster's (``imx.kafka.localcluster``), never one broker's.
CLUSTER_MANIFEST = "cluster.json"

Progress = Callable[[str], None]


class LocalKafkaError(RuntimeError):
    """The local broker could not be provisioned, started or stopped; the message says why."""


@dataclass(frozen=True)
class BrokerHome:
    """The files of one local broker."""

    root: Path

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def properties(self) -> Path:
        return self.root / "server.properties"

    @property
    def log4j(self) -> Path:
        return self.root / "log4j2.properties"

    @property
    def pidfile(self) -> Path:
        return self.root / "kafka.pid"

    @property
    def bootstrap_file(self) -> Path:
        return self.root / "bootstrap"

    @property
    def security_file(self) -> Path:
        """Whether the storage was formatted secured, and where its secrets are (JSON)."""
        return self.root / "security.json"

    def read_security(self) -> Security | None:
        try:
            found = json.loads(self.security_file.read_text())
        except (OSError, ValueError):
            return None
        secrets_dir = found.get("secrets")
        return Security(Path(secrets_dir)) if secrets_dir else Security(None)

    def read_pid(self) -> int | None:
        try:
            return int(self.pidfile.read_text().strip())
        except (OSError, ValueError):
            return None

    def cluster_id(self) -> str | None:
        """The id the storage was formatted with (``data/meta.properties``), None before that."""
        try:
            text = (self.data / "meta.properties").read_text()
        except OSError:
            return None
        found = re.search(r"^cluster\.id=(\S+)$", text, re.MULTILINE)
        return found.group(1) if found else None

    def read_bootstrap(self) -> str | None:
        try:
            return self.bootstrap_file.read_text().strip() or None
        except OSError:
            return None


@dataclass(frozen=True)
class Security:
    """How the broker's client listener is secured: ``secrets`` None means plaintext."""

    secrets: Path | None

    @property
    def secured(self) -> bool:
        return self.secrets is not None

    def admin_connection(self, bootstrap: str) -> Connection:
        """How imx itself reaches this broker: as ``admin`` when secured."""
        if self.secrets is None:
            return Connection(bootstrap)
        folder = SecretsDir(self.secrets)
        try:
            password = folder.password(ADMIN)
        except SecretsError as exc:
            raise LocalKafkaError(str(exc)) from exc
        return Connection(bootstrap, "SASL_SSL", ADMIN, password, folder.ca_cert)


@dataclass(frozen=True)
class Status:
    running: bool
    serving: bool
    pid: int | None
    bootstrap: str | None
    secured: bool = False


def pinned_pom() -> Path:
    """The Maven file that pins the broker: ``deploy/kafka/pom.xml``, shipped with the package."""
    return resources.data_path("deploy/kafka/pom.xml")


def kafka_version(pom: Path | None = None) -> str:
    """The pinned Kafka version, read from the pom so it is written down once."""
    pom = pom or pinned_pom()
    found = re.search(r"<kafka\.version>([^<]+)</kafka\.version>", pom.read_text())
    if not found:
        msg = f"no <kafka.version> in {pom}"
        raise LocalKafkaError(msg)
    return found.group(1)


def check_prerequisites() -> tuple[str, str]:
    """Paths of ``java`` (17+) and ``mvn``, or a one-line error naming what to install."""
    java = shutil.which("java")
    if java is None:
        msg = (
            "Java 17+ is required: install a JDK (Debian: apt-get install openjdk-17-jdk-headless)"
        )
        raise LocalKafkaError(msg)
    out = subprocess.run(  # noqa: S603 - fixed argv
        [java, "-version"], capture_output=True, text=True, check=False, timeout=30
    )
    major = _java_major(out.stderr + out.stdout)
    if major is None or major < MIN_JAVA:
        found = major or "unknown"
        msg = f"Java {MIN_JAVA}+ is required, found {found}: install openjdk-17-jdk-headless"
        raise LocalKafkaError(msg)
    mvn = shutil.which("mvn")
    if mvn is None:
        msg = (
            "Maven is required to fetch the Kafka jars: install it (Debian: apt-get install maven)"
        )
        raise LocalKafkaError(msg)
    return java, mvn


def _java_major(version_text: str) -> int | None:
    found = re.search(r'version "(\d+)(?:\.(\d+))?', version_text)
    if not found:
        return None
    major = int(found.group(1))
    # Java 8 and older call themselves "1.8".
    return int(found.group(2) or 0) if major == 1 else major


def resolve_jars(cache: Path, progress: Progress, pom: Path | None = None) -> list[Path]:
    """The broker's class path, fetched with Maven on first use and cached by the pom's content."""
    pom = pom or pinned_pom()
    digest = hashlib.sha256(pom.read_bytes()).hexdigest()[:16]
    lib = cache / f"kafka-{kafka_version(pom)}-{digest}"
    marker = lib / ".complete"
    if not marker.exists():
        _, mvn = check_prerequisites()
        progress(
            f"fetching Apache Kafka {kafka_version(pom)} jars with Maven into {lib} (first run)"
        )
        partial = lib.with_name(lib.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        # Maven runs on a copy: an installed package's folder may be read-only.
        work_pom = partial / "pom.xml"
        shutil.copyfile(pom, work_pom)
        argv = [
            mvn,
            "-B",
            "-f",
            str(work_pom),
            "dependency:copy-dependencies",
            f"-DoutputDirectory={partial}",
            "-DincludeScope=runtime",
        ]
        proc = subprocess.Popen(  # noqa: S603 - fixed argv
            argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        tail: list[str] = []
        for line in proc.stdout or ():
            tail = [*tail[-30:], line.rstrip()]
            if "Downloaded from" in line or "Copying" in line:
                progress(line.strip().removeprefix("[INFO] "))
        if proc.wait() != 0:
            detail = "\n".join(tail)
            msg = f"Maven could not fetch the Kafka jars:\n{detail}"
            raise LocalKafkaError(msg)
        shutil.rmtree(lib, ignore_errors=True)
        partial.rename(lib)
        marker.write_text(digest)
        progress(f"Kafka jars cached in {lib}")
    return sorted(lib.glob("*.jar"))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def alive(pid: int | None) -> bool:
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child still answers kill(0); it is not running.
    with contextlib.suppress(ChildProcessError):
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    return True


def _listener_config(
    home: BrokerHome,
    port: int,
    controller_port: int,
    security: Security,
    advertised_port: int | None = None,
) -> list[str]:
    """The listeners: plaintext as before, or secured (CONTRACT.md section 10).

    Secured, clients see one listener, CLIENT (SASL_SSL, SCRAM-SHA-512), which is also the
    inter-broker listener: the broker talks to itself as ``admin``, whose SCRAM credential the
    storage format bootstraps. The CONTROLLER listener binds loopback, is never advertised, and
    speaks mutual TLS: only a holder of a certificate from the local CA (the broker's own) gets
    in, as the super user named by its subject. No plaintext listener exists, so no anonymous
    super user either; a PLAINTEXT controller would have needed ``User:ANONYMOUS`` as a super
    user, and anyone on the machine could have sent it admin requests (KIP-919).
    """
    if security.secrets is None:
        return [
            f"listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
            f"advertised.listeners=PLAINTEXT://127.0.0.1:{advertised_port or port}",
            "controller.listener.names=CONTROLLER",
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "inter.broker.listener.name=PLAINTEXT",
        ]
    folder = SecretsDir(security.secrets)
    password = folder.password(ADMIN).get_secret_value()
    jaas = (
        "org.apache.kafka.common.security.scram.ScramLoginModule required"
        f' username="{ADMIN}" password="{password}";'
    )
    return [
        f"listeners=CLIENT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
        f"advertised.listeners=CLIENT://127.0.0.1:{port}",
        "controller.listener.names=CONTROLLER",
        "listener.security.protocol.map=CLIENT:SASL_SSL,CONTROLLER:SSL",
        "inter.broker.listener.name=CLIENT",
        "sasl.enabled.mechanisms=SCRAM-SHA-512",
        "sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512",
        f"listener.name.client.scram-sha-512.sasl.jaas.config={jaas}",
        "listener.name.controller.ssl.client.auth=required",
        # Kafka's PEM key store: one file with the PKCS#8 key and the certificate chain.
        "ssl.keystore.type=PEM",
        f"ssl.keystore.location={folder.broker_pem}",
        "ssl.truststore.type=PEM",
        f"ssl.truststore.location={folder.ca_cert}",
        "ssl.enabled.protocols=TLSv1.3,TLSv1.2",
        "ssl.endpoint.identification.algorithm=https",
        "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "allow.everyone.if.no.acl.found=false",
        f"super.users=User:{ADMIN};User:{BROKER_SSL_PRINCIPAL}",
        # A revoked or rotated password stops working on open connections within 10 minutes.
        "connections.max.reauth.ms=600000",
    ]


#: Internal topics of one node: a single replica, nothing else is possible.
SINGLE_NODE_INTERNALS = (
    "offsets.topic.replication.factor=1",
    "transaction.state.log.replication.factor=1",
    "transaction.state.log.min.isr=1",
    "share.coordinator.state.topic.replication.factor=1",
    "share.coordinator.state.topic.min.isr=1",
)


def write_config(
    home: BrokerHome,
    port: int,
    controller_port: int,
    security: Security,
    advertised_port: int | None = None,
    *,
    node_id: int = 1,
    voters: str | None = None,
    node_lines: tuple[str, ...] = SINGLE_NODE_INTERNALS,
) -> None:
    """Write ``server.properties`` and the Log4j file; one node of a cluster passes its id,
    the quorum's ``voters`` and its own lines (replication of internal topics, threads)."""
    home.logs.mkdir(parents=True, exist_ok=True)
    listeners = _listener_config(home, port, controller_port, security, advertised_port)
    # Secured, the file holds admin's password (for the inter-broker listener): owner only.
    home.properties.unlink(missing_ok=True)
    fd = os.open(home.properties, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(
            "\n".join(
                [
                    "process.roles=broker,controller",
                    f"node.id={node_id}",
                    f"controller.quorum.voters={voters or f'1@127.0.0.1:{controller_port}'}",
                    *listeners,
                    f"log.dirs={home.data}",
                    # Topics come only from `imx topics ensure`, never from broker defaults.
                    "auto.create.topics.enable=false",
                    "num.partitions=1",
                    "offsets.topic.num.partitions=10",
                    "transaction.state.log.num.partitions=10",
                    *node_lines,
                    "group.initial.rebalance.delay.ms=0",
                    "message.max.bytes=1048588",
                    "",
                ]
            )
        )
    home.log4j.write_text(
        "\n".join(
            [
                "status = warn",
                "appender.file.type = RollingFile",
                "appender.file.name = file",
                f"appender.file.fileName = {home.logs / 'server.log'}",
                f"appender.file.filePattern = {home.logs / 'server.log.%i'}",
                "appender.file.layout.type = PatternLayout",
                "appender.file.layout.pattern = [%d] %p %m (%c)%n",
                "appender.file.policies.type = Policies",
                "appender.file.policies.size.type = SizeBasedTriggeringPolicy",
                "appender.file.policies.size.size = 20MB",
                "appender.file.strategy.type = DefaultRolloverStrategy",
                "appender.file.strategy.max = 3",
                "rootLogger.level = info",
                "rootLogger.appenderRef.file.ref = file",
                "",
            ]
        )
    )


def _java_argv(
    java: str, home: BrokerHome, jars: list[Path], main: str, heap: str = HEAP
) -> list[str]:
    classpath = os.pathsep.join(str(j) for j in jars)
    return [
        java,
        heap,
        "-Xms128m",
        "-XX:+UseG1GC",
        # Compile with C1 only. This broker lives for one test session, one bench or one
        # `imx run`: a fresh JVM's C2 compiler spent ~22 s of CPU in its first 30 s on a
        # 2-core machine, taking a core from the processes under test; C1 code is slower at
        # its peak, but measured faster over a bench (docs/performance.md, change 9).
        "-XX:TieredStopAtLevel=1",
        "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={home.log4j}",
        "-cp",
        classpath,
        main,
    ]


def format_storage(
    java: str,
    home: BrokerHome,
    jars: list[Path],
    security: Security,
    cluster_id: str | None = None,
) -> None:
    """Format the storage once; secured, bootstrap admin's SCRAM credential with it.

    The nodes of one cluster pass the same ``cluster_id``; a single broker gets a new one.
    """
    if home.cluster_id() is not None:
        formatted = home.read_security() or Security(None)
        if formatted.secured != security.secured:
            was, want = ("secured", "--insecure") if formatted.secured else ("plaintext", "secured")
            msg = (
                f"the broker storage in {home.data} was formatted {was}; it cannot be started"
                f" {want}: remove {home.root} (its data goes) or start it as it was"
            )
            raise LocalKafkaError(msg)
        return
    cluster_id = cluster_id or new_cluster_id()
    argv = [
        *_java_argv(java, home, jars, "kafka.tools.StorageTool"),
        "format",
        f"--cluster-id={cluster_id}",  # one argument: an id may start with "-"
        "-c",
        str(home.properties),
    ]
    if security.secrets is not None:
        password = SecretsDir(security.secrets).password(ADMIN).get_secret_value()
        argv += ["--add-scram", f'SCRAM-SHA-512=[name={ADMIN},password="{password}"]']
    out = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=120)  # noqa: S603
    if out.returncode != 0:
        msg = f"formatting KRaft storage in {home.data} failed:\n{out.stdout}{out.stderr}"
        raise LocalKafkaError(msg)
    home.security_file.write_text(
        json.dumps({"secrets": str(security.secrets) if security.secrets else None})
    )


def new_cluster_id() -> str:
    """A random cluster id in Kafka's form (base64url of 16 bytes), never starting with "-".

    Like Kafka's own ``Uuid.randomUuid``: an id starting with "-" (1 in 64) reads as an
    option on a command line; one did, and a test broker failed to format its storage.
    """
    import base64  # noqa: PLC0415 - only needed once per fresh storage

    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


def serves(bootstrap: str, timeout_s: float = 5.0, security: Security | None = None) -> bool:
    """True when the broker at ``bootstrap`` answers a metadata request (as admin if secured)."""
    connection = (security or Security(None)).admin_connection(bootstrap)
    return reading.serves(connection, timeout_s)


def status(root: Path) -> Status:
    home = BrokerHome(root)
    pid = home.read_pid()
    bootstrap = home.read_bootstrap()
    running = alive(pid)
    security = home.read_security()
    serving = running and bootstrap is not None and serves(bootstrap, security=security)
    return Status(running, serving, pid, bootstrap, security is not None and security.secured)


def up(
    root: Path,
    port: int,
    jar_cache: Path,
    progress: Progress,
    ready_timeout_s: float = READY_TIMEOUT_S,
    *,
    secrets: Path | None = None,
    advertised_port: int | None = None,
) -> str:
    """Start the broker in the background unless it already serves; return its bootstrap address.

    With ``secrets`` (a folder ``imx security init`` made) the broker is secured (CONTRACT.md
    section 10); without, its client listener is plaintext. ``advertised_port`` (plaintext
    only) is the port clients are told to connect to: a relay in front of the broker, for the
    tests that cut a client's link without stopping the broker.
    """
    home = BrokerHome(root)
    security = Security(secrets)
    if (root / CLUSTER_MANIFEST).exists():
        msg = f"{root} holds a cluster of nodes: start it with 'imx kafka up --brokers 3'"
        raise LocalKafkaError(msg)
    if secrets is not None:
        try:
            SecretsDir(secrets).check()
        except SecretsError as exc:
            raise LocalKafkaError(str(exc)) from exc
    current = status(root)
    if current.serving and current.bootstrap:
        if current.secured != security.secured:
            how = "secured" if current.secured else "plaintext"
            msg = f"Kafka already serves {how} at {current.bootstrap}: run 'imx kafka down' first"
            raise LocalKafkaError(msg)
        progress(f"Kafka already serves at {current.bootstrap} (pid {current.pid})")
        return current.bootstrap
    if current.running:
        msg = (
            f"a broker process (pid {current.pid}) runs from {root} but does not serve:"
            " run 'imx kafka down'"
        )
        raise LocalKafkaError(msg)
    if port_open("127.0.0.1", port):
        msg = f"port {port} is already in use on 127.0.0.1: choose another with --port"
        raise LocalKafkaError(msg)
    java, _ = check_prerequisites()
    jars = resolve_jars(jar_cache, progress)
    controller_port = free_port()
    try:
        write_config(home, port, controller_port, security, advertised_port)
        format_storage(java, home, jars, security)
    except SecretsError as exc:
        raise LocalKafkaError(str(exc)) from exc
    bootstrap = f"127.0.0.1:{port}"
    proc = launch(java, home, jars, bootstrap)
    progress(
        f"starting Kafka {kafka_version()} (pid {proc.pid}) at {bootstrap}, logs in {home.logs}"
    )
    deadline = time.monotonic() + ready_timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            msg = f"Kafka exited with code {proc.returncode} while starting:\n{log_tail(home)}"
            raise LocalKafkaError(msg)
        if serves(bootstrap, timeout_s=3.0, security=security):
            how = " (SASL_SSL, SCRAM-SHA-512, ACLs enforced)" if security.secured else ""
            progress(f"Kafka serves at {bootstrap}{how}")
            return bootstrap
        time.sleep(0.5)
    stop(root)
    msg = f"Kafka did not serve within {ready_timeout_s:.0f}s:\n{log_tail(home)}"
    raise LocalKafkaError(msg)


def launch(
    java: str, home: BrokerHome, jars: list[Path], bootstrap: str, heap: str = HEAP
) -> subprocess.Popen[bytes]:
    """Start ``kafka.Kafka`` on the home's configuration, in its own session; record its pid."""
    stdout = (home.logs / "stdout.log").open("ab")
    with stdout:
        proc = subprocess.Popen(  # noqa: S603 - fixed argv
            [*_java_argv(java, home, jars, "kafka.Kafka", heap), str(home.properties)],
            stdout=stdout,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # survives the CLI; `down` stops it by pid
            cwd=home.root,
        )
    home.pidfile.write_text(str(proc.pid))
    home.bootstrap_file.write_text(bootstrap)
    return proc


def log_tail(home: BrokerHome, lines: int = 25) -> str:
    parts = []
    for name in ("stdout.log", "server.log"):
        path = home.logs / name
        if path.exists():
            parts.extend(path.read_text(errors="replace").splitlines()[-lines:])
    return "\n".join(parts)


def stop(root: Path, grace_s: float = STOP_GRACE_S) -> bool:
    """Stop the broker: SIGTERM (a clean controlled shutdown), then SIGKILL after the grace period.

    Returns whether a process was running. Leaves the storage so the next ``up`` keeps the data.
    """
    home = BrokerHome(root)
    pid = home.read_pid()
    if pid is None or not alive(pid):
        home.pidfile.unlink(missing_ok=True)
        return False
    terminate(pid, grace_s)
    home.pidfile.unlink(missing_ok=True)
    return True


def terminate(pid: int, grace_s: float) -> None:
    """SIGTERM the process group, wait up to ``grace_s``, then SIGKILL; return when it is gone."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        if not alive(pid):
            return
        time.sleep(0.2)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
