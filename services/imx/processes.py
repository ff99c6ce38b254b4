"""Processes that ``imx run``, ``imx bench`` and the tests start and must stop again.

The broker, the pseudonymisation key, the worker, the HTTP gateway.

Everything started here is stopped by ``Teardown`` in reverse order, also after a failure or
Ctrl-C, and with Ctrl-C ignored while stopping: an interrupted shutdown would leave a JVM or a
worker running with nobody to stop it. The worker runs in its own process group, so a Ctrl-C in
the terminal reaches only ``imx run``, which then stops the worker in order (SIGTERM, a bounded
wait, SIGKILL of the group: faust can hang on shutdown).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from imx.kafka import diagnose, localbroker, reading
from imx.kafka.connection import Connection
from imx.security import local
from imx.security.apply import ApplyError, apply
from imx.security.identity import connection_as, uses_local_secrets
from imx.security.principals import ADMIN, Principal
from imx.security.secrets import SecretsError
from imx.settings import Settings
from imx.signals import ignoring_stop_signals

Progress = Callable[[str], None]

LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
WORKER_STOP_GRACE_S = 20.0
#: uvicorn gives open event streams 3 s (imx gateway), then closes them.
GATEWAY_STOP_GRACE_S = 10.0
#: Key material for the HMAC: 32 random bytes, hex, like `openssl rand -hex 32`.
KEY_BYTES = 32


class RunError(RuntimeError):
    """``imx run`` cannot go on; the message says why and what to do."""


@dataclass
class Teardown:
    """Stop steps in reverse order of start; each runs even when an earlier one failed."""

    steps: list[tuple[str, Callable[[], object]]] = field(default_factory=list)

    def add(self, what: str, step: Callable[[], object]) -> None:
        self.steps.append((what, step))

    def run(self, progress: Progress) -> None:
        """Every step, whatever happens to the output or a step: a stop must complete."""
        with ignoring_stop_signals():
            while self.steps:
                what, step = self.steps.pop()
                _say(progress, f"stopping {what}")
                try:
                    step()
                except Exception as exc:  # noqa: BLE001 - report it, go on stopping the rest
                    _say(progress, f"stopping {what} failed: {exc!r}")


def _say(progress: Progress, message: str) -> None:
    """Progress while stopping; output that fails (a closed pipe, a lost terminal) is dropped."""
    with contextlib.suppress(Exception):
        progress(message)


def _loopback_port(bootstrap: str) -> int | None:
    """The port of a single loopback address ("127.0.0.1:9092"), else None."""
    host, _, port = bootstrap.rpartition(":")
    if "," in bootstrap or host.strip("[]") not in LOOPBACK or not port.isdigit():
        return None
    return int(port)


def broker(
    settings: Settings,
    teardown: Teardown,
    progress: Progress,
    table: Sequence[Principal],
    *,
    insecure: bool = False,
) -> Connection:
    """A connection as ``admin`` to a serving broker, starting the local one when needed.

    ``IMX_BOOTSTRAP`` decides: a single loopback address where nothing serves gets the local
    broker of ``$IMX_HOME/kafka`` started on its port (and stopped at the end); a broker that
    already serves there, or any other address, is used as it is and left running.

    The local broker is secured (CONTRACT.md section 10) unless ``insecure``, or
    ``IMX_SECURITY_PROTOCOL=PLAINTEXT`` is set, or its home was formatted plaintext before (a
    home keeps the security it was formatted with). With the local secrets in use, the users
    and ACLs of ``table`` are applied also to a broker that was already running.
    """
    try:
        connection = connection_as(settings, ADMIN)
    except SecretsError as exc:
        raise RunError(str(exc)) from exc
    bootstrap = connection.bootstrap
    if reading.serves(connection, timeout_s=5.0):
        progress(f"using the Kafka broker at {bootstrap}")
        if uses_local_secrets(settings):
            _provision(settings, connection, table, progress)
        return connection
    port = _loopback_port(bootstrap)
    if port is None:
        why = diagnose_sync(connection)
        msg = f"no Kafka broker answers at {bootstrap} (IMX_BOOTSTRAP){why}"
        raise RunError(msg)
    home = settings.kafka_home.resolve()
    formatted = localbroker.BrokerHome(home).read_security()
    explicit_plaintext = (
        "security_protocol" in settings.model_fields_set
        and settings.security_protocol == "PLAINTEXT"
    )
    plaintext = insecure or explicit_plaintext
    if formatted is not None:
        if plaintext and formatted.secured:
            msg = (
                f"the broker home {home} was formatted secured: it cannot start plaintext; "
                "use another IMX_HOME, or 'imx kafka down' and remove the home"
            )
            raise RunError(msg)
        if not formatted.secured and not plaintext:
            progress(f"the broker home {home} was formatted plaintext: running it plaintext")
        plaintext = not formatted.secured
    if not localbroker.status(home).running:
        # Registered before starting: an interrupted start must not leave a JVM behind.
        teardown.add(f"Kafka ({home})", lambda: localbroker.stop(home))
    try:
        if plaintext:
            started = localbroker.up(home, port, settings.jar_cache, progress)
            return Connection.from_settings(settings).with_bootstrap(started)
        return local.start_secured(settings, home, port, table, progress).connection
    except (localbroker.LocalKafkaError, local.LocalSetupError) as exc:
        raise RunError(str(exc)) from exc


def _provision(
    settings: Settings, connection: Connection, table: Sequence[Principal], progress: Progress
) -> None:
    """The users and ACLs of ``table`` on a running broker reached with the local secrets."""
    try:
        outcome = asyncio.run(
            apply(connection, table, settings.secrets_dir, timeout_s=settings.request_timeout_s)
        )
    except (ApplyError, SecretsError) as exc:
        raise RunError(str(exc)) from exc
    changes = len(outcome.plan.lines())
    if changes:
        progress(f"users and ACLs: {changes} change(s) applied")


def diagnose_sync(connection: Connection) -> str:
    """``": <cause>"`` of a failed bootstrap when one can be named, else an empty string."""
    try:
        cause = asyncio.run(diagnose.cause(connection, 5.0))
    except Exception:  # noqa: BLE001 - naming the cause is a courtesy; never hide the error
        return ""
    return f": {cause}" if cause else ""


def pseudonym_key(settings: Settings, progress: Progress) -> str:
    """``IMX_PSEUDONYM_KEY``, else the key kept in ``$IMX_HOME/pseudonym.key``, made on first use.

    A key that changed between runs would give the same person different tokens in the
    analytics feed, so it is kept, readable by its owner only.
    """
    if settings.pseudonym_key is not None:
        return settings.pseudonym_key.get_secret_value()
    path = settings.home / "pseudonym.key"
    settings.home.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_hex(KEY_BYTES) + "\n")
        progress(f"created a pseudonymisation key in {path} (mode 0600)")
    key = path.read_text(encoding="utf-8").strip()
    if not key:
        msg = f"{path} is empty: delete it to have a new key made, or set IMX_PSEUDONYM_KEY"
        raise RunError(msg)
    return key


def bind_error(host: str, port: int) -> OSError | None:
    """Why a server could not listen on ``host:port`` now, or None when it could.

    The probe binds as the worker's and the gateway's servers do, with SO_REUSEADDR: a port in
    TIME_WAIT after a quick restart is free to them, and must be to the probe too, or a restarted
    server moves off the port Prometheus scrapes (or refuses to start).
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            return exc
    return None


def web_port(preferred: int) -> int:
    """``preferred`` (IMX_WEB_PORT) when it is free on loopback, else any free port."""
    if bind_error("127.0.0.1", preferred) is not None:
        return localbroker.free_port()
    return preferred


@dataclass
class Worker:
    """One ``imx worker`` subprocess, its metrics address and its log file."""

    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/metrics"

    def metrics(self, timeout_s: float = 2.0) -> str:
        with urllib.request.urlopen(self.metrics_url, timeout=timeout_s) as response:  # noqa: S310 - our loopback URL
            body: bytes = response.read()
        return body.decode("utf-8")

    def exited(self) -> int | None:
        return self.process.poll()

    def tail(self, lines: int = 20) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def wait_ready(self, timeout_s: float, assigned_within_s: float, progress: Progress) -> None:
        """Return once /metrics serves and, if it happens in time, partitions are assigned.

        Starting the simulator after the first assignment keeps the start-up backlog out of the
        latency figures; a worker that serves but takes long to be assigned is still usable.
        """
        deadline = time.monotonic() + timeout_s
        assigned_by: float | None = None
        while time.monotonic() < deadline:
            if self.exited() is not None:
                msg = f"the worker exited with code {self.exited()}:\n{self.tail()}"
                raise RunError(msg)
            try:
                text = self.metrics()
            except OSError:
                time.sleep(0.3)
                continue
            assigned_by = assigned_by or time.monotonic() + assigned_within_s
            if 'faust_assignment_operations_total{operation="completed"}' in text:
                return
            if time.monotonic() >= assigned_by:
                progress("the worker serves but has no partitions yet; starting anyway")
                return
            time.sleep(0.3)
        msg = (
            f"the worker did not serve {self.metrics_url} within {timeout_s:.0f} s:\n{self.tail()}"
        )
        raise RunError(msg)

    def stop(self, grace_s: float = WORKER_STOP_GRACE_S) -> None:
        """SIGTERM the worker's group, wait up to ``grace_s``, then SIGKILL the group."""
        stop_group(self.process, grace_s)


def stop_group(process: subprocess.Popen[bytes], grace_s: float) -> None:
    """SIGTERM ``process``'s group, wait up to ``grace_s``, then SIGKILL the group."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def _spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """``python -m imx.cli.main ARGS`` in its own session (process group), logging to ``log``."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as handle:
        return subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "imx.cli.main", *args],
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )


def start_worker(env: dict[str, str], port: int, logdir: Path) -> Worker:
    """``imx worker --web-port N`` in its own session, logging to a file."""
    log = logdir / f"worker-{port}.log"
    return Worker(_spawn(["worker", "--web-port", str(port)], env, log), port, log)


@dataclass
class Gateway:
    """One ``imx gateway`` subprocess on loopback; HTTPS when ``ca_file`` (its CA) is given."""

    process: subprocess.Popen[bytes]
    port: int
    log: Path
    ca_file: Path | None = None

    @property
    def url(self) -> str:
        scheme = "https" if self.ca_file else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    def metrics(self, timeout_s: float = 2.0) -> str:
        """The gateway's ``/metrics`` text."""
        with urllib.request.urlopen(  # noqa: S310 - our loopback URL
            f"{self.url}/metrics", timeout=timeout_s, context=self._tls()
        ) as response:
            body: bytes = response.read()
        return body.decode("utf-8")

    def wait_ready(self, timeout_s: float) -> None:
        """Return once ``/healthz`` answers; RunError if the gateway exits or takes too long."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                tail = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
                msg = f"the gateway exited with code {self.process.poll()}:\n{tail}"
                raise RunError(msg)
            try:
                with urllib.request.urlopen(  # noqa: S310 - our loopback URL
                    f"{self.url}/healthz", timeout=2, context=self._tls()
                ):
                    return
            except OSError:
                time.sleep(0.3)
        msg = f"the gateway did not serve {self.url}/healthz within {timeout_s:.0f} s"
        raise RunError(msg)

    def _tls(self) -> ssl.SSLContext | None:
        return ssl.create_default_context(cafile=self.ca_file) if self.ca_file else None

    def stop(self, grace_s: float = GATEWAY_STOP_GRACE_S) -> None:
        """SIGTERM the gateway's group (it closes its streams), then SIGKILL after ``grace_s``."""
        stop_group(self.process, grace_s)


def start_gateway(
    env: dict[str, str], port: int, logdir: Path, ca_file: Path | None = None
) -> Gateway:
    """``imx gateway --port N`` on loopback in its own session, logging to a file.

    ``ca_file``: the gateway serves HTTPS (it found its certificate in the secrets) and this CA
    signed it.
    """
    log = logdir / f"gateway-{port}.log"
    return Gateway(_spawn(["gateway", "--port", str(port)], env, log), port, log, ca_file)
