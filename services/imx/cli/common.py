"""What every command shares: errors that carry an exit code, and progress output."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from aiokafka.errors import KafkaConnectionError

from imx.kafka import diagnose, localbroker, reading
from imx.kafka.connection import Connection
from imx.settings import Settings

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2


class CliError(Exception):
    """A failure to report in one line, with the exit code it maps to."""

    def __init__(self, message: str, exit_code: int = EXIT_FAILURE) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class SafeStream:
    """A text stream whose writes never raise: output lost must not stop a job's shutdown.

    When the reader goes away (``| tee`` ended by the same Ctrl-C, a closed pipe, a terminal that
    is gone) writing fails with EPIPE or EIO. The first failure points the file descriptor at
    /dev/null, so nothing later (rich, a final flush at exit) fails on it again, and the job goes
    on stopping what it started.
    """

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self.broken = False

    def write(self, text: str) -> int:
        if not self.broken:
            try:
                self._stream.write(text)
            except (OSError, ValueError):
                self._break()
        return len(text)

    def flush(self) -> None:
        if not self.broken:
            try:
                self._stream.flush()
            except (OSError, ValueError):
                self._break()

    def _break(self) -> None:
        self.broken = True
        with contextlib.suppress(OSError, ValueError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self._stream.fileno())
            os.close(devnull)

    def isatty(self) -> bool:
        try:
            return not self.broken and self._stream.isatty()
        except (OSError, ValueError):
            return False

    def fileno(self) -> int:
        return self._stream.fileno()

    @property
    def encoding(self) -> str:
        return getattr(self._stream, "encoding", "utf-8") or "utf-8"


def progress(message: str) -> None:
    """Progress goes to stderr so stdout stays machine-readable; it never raises."""
    print(message, file=SafeStream(sys.stderr), flush=True)


def connect(settings: Settings) -> Connection:
    """The connection of ``settings``, checked against the local broker when it is the default.

    With ``IMX_BOOTSTRAP`` unset, a command means the broker that ``imx kafka up`` runs from
    ``$IMX_HOME/kafka``; when that one is stopped, whatever else answers on its port (another
    checkout's broker, a container) is not it, and writing there would be a silent mistake.
    """
    connection = Connection.from_settings(settings)
    if "bootstrap" not in settings.model_fields_set:
        check_local_broker(settings.kafka_home.resolve(), connection)
    return connection


def check_local_broker(root: Path, connection: Connection) -> None:
    """CliError unless what answers at ``connection`` is the local broker of ``root``.

    Nothing to check where no local broker was ever made (no formatted storage).
    """
    home = localbroker.BrokerHome(root)
    local_id = home.cluster_id()
    if local_id is None:
        return
    if not localbroker.status(home.root).running:
        msg = (
            f"the local broker of {home.root} is stopped: start it with 'imx kafka up', "
            "or set IMX_BOOTSTRAP to use another broker"
        )
        raise CliError(msg)
    answering = asyncio.run(reading.cluster_id(connection, connection.request_timeout_s))
    if answering is not None and answering != local_id:
        msg = (
            f"the Kafka cluster at {connection.bootstrap} ({answering}) is not the local broker "
            f"of {home.root} ({local_id}): set IMX_BOOTSTRAP to use it on purpose"
        )
        raise CliError(msg)


def kafka_failure(doing: str, connection: Connection, exc: Exception) -> CliError:
    """One line for a Kafka client's failure, with the cause a failed bootstrap hides.

    aiokafka says "Unable to bootstrap" whether nothing listens, the broker wants TLS, its
    certificate is not trusted or the password is wrong; ``diagnose.cause`` tries once more
    and names which (and the setting to fix).
    """
    if isinstance(exc, KafkaConnectionError):
        found = (
            asyncio.run(diagnose.cause(connection)) if diagnose.is_bootstrap_failure(exc) else None
        )
        if found is None or found.startswith("nothing listens"):
            return CliError(
                f"{doing}: no Kafka broker answers at {connection.bootstrap} (IMX_BOOTSTRAP); "
                "start the local one with 'imx kafka up'"
            )
        return CliError(f"{doing}: {found}")
    return CliError(f"{doing} at {connection.bootstrap} failed: {exc!r}")


@contextlib.contextmanager
def job_failures(name: str) -> Iterator[None]:
    """Turn what can end a long-running job (``imx run``, ``imx bench``) into one-line errors.

    The job stops everything it started before re-raising, so Ctrl-C is reported as such.
    """
    from imx.processes import RunError  # noqa: PLC0415 - only the jobs load the run machinery

    try:
        yield
    except KeyboardInterrupt as exc:
        msg = f"interrupted; everything {name} had started was stopped"
        raise CliError(msg) from exc
    except RunError as exc:
        raise CliError(str(exc)) from exc
    except Exception as exc:  # aiokafka's errors share no common base class
        msg = f"{name} failed: {exc!r}"
        raise CliError(msg) from exc


def acting_as(settings: Settings, principal: str) -> Settings:
    """``settings`` for a command that acts as ``principal`` by default (CONTRACT.md 10)."""
    from imx.security.identity import settings_as  # noqa: PLC0415 - keeps this module light
    from imx.security.secrets import SecretsError  # noqa: PLC0415

    try:
        return settings_as(settings, principal)
    except SecretsError as exc:
        raise CliError(str(exc)) from exc
