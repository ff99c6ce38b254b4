"""The local broker, secured and provisioned in one step (CONTRACT.md section 10).

``imx kafka up``, ``imx run`` and ``imx bench`` all start a broker the same way: the secrets that
are missing are made (``imx security init``'s code, never overwriting one), the broker starts
with its SASL_SSL listener, and the users and ACLs of the table are applied (``imx security
apply``'s code, idempotent, well under a second). What the caller gets back is the connection
as ``admin``, for provisioning.

``Identities`` then gives every process of the deployment its own principal: the worker
``svc-worker``, the gateway and the simulator ``svc-gateway``, the tools ``admin``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from imx.kafka import localbroker, localcluster
from imx.kafka.connection import Connection
from imx.security import secrets
from imx.security.apply import ApplyError, Outcome, apply
from imx.security.principals import Principal
from imx.security.secrets import SecretsDir
from imx.settings import Settings

Progress = Callable[[str], None]


class LocalSetupError(RuntimeError):
    """The local broker could not be secured, started or provisioned; the message says why."""


@dataclass(frozen=True)
class Started:
    connection: Connection  # as admin
    outcome: Outcome


def start_secured(
    settings: Settings,
    home: Path,
    port: int,
    table: Sequence[Principal],
    progress: Progress,
    *,
    brokers: int = 1,
) -> Started:
    """Secrets made where missing, the secured broker of ``home`` started, the table applied.

    ``brokers`` above one, or a ``home`` that already holds a cluster: the local cluster
    (``imx.kafka.localcluster``), its nodes on ``port`` and the ports after it.
    """
    folder = settings.secrets_dir
    try:
        created = secrets.init(folder, [p.name for p in table]).created
        if created:
            progress(f"created {len(created)} secret(s) in {folder} (imx security init)")
        if brokers > 1 or localcluster.is_cluster(home):
            bootstrap = localcluster.up(
                home, port, settings.jar_cache, progress, brokers=brokers, secrets=folder
            )
        else:
            bootstrap = localbroker.up(home, port, settings.jar_cache, progress, secrets=folder)
        connection = localbroker.Security(folder).admin_connection(bootstrap)
        outcome = asyncio.run(
            apply(connection, table, folder, timeout_s=settings.request_timeout_s)
        )
    except (secrets.SecretsError, localbroker.LocalKafkaError, ApplyError) as exc:
        raise LocalSetupError(str(exc)) from exc
    changes = len(outcome.plan.lines())
    progress(
        f"users and ACLs: {changes} change(s) applied" if changes else "users and ACLs: up to date"
    )
    return Started(connection, outcome)


def principal_settings(settings: Settings, folder: Path, principal: str) -> Settings:
    """``settings`` acting as ``principal`` with its password from the secrets ``folder``."""
    local = SecretsDir(folder)
    return settings.model_copy(
        update={
            "security_protocol": "SASL_SSL",
            "sasl_username": principal,
            "sasl_password": local.password(principal),  # checks the folder's permissions
            "ssl_cafile": local.ca_cert,
        }
    )


@dataclass(frozen=True)
class Identities:
    """The settings of each principal of one deployment.

    ``folder`` None: every process uses ``base`` as it is — a plaintext broker, or credentials
    given explicitly (``IMX_SASL_USERNAME``), which then serve every process alike.
    """

    base: Settings
    folder: Path | None

    @classmethod
    def of(cls, settings: Settings, connection: Connection) -> Identities:
        """The identities that fit the broker ``connection`` reaches (as admin or plaintext)."""
        if connection.security_protocol == "PLAINTEXT":
            return cls(settings.model_copy(update={"security_protocol": "PLAINTEXT"}), None)
        if settings.sasl_username is not None:
            return cls(settings, None)
        return cls(settings, settings.secrets_dir)

    def settings(self, principal: str) -> Settings:
        if self.folder is None:
            return self.base
        return principal_settings(self.base, self.folder, principal)

    def connection(self, principal: str) -> Connection:
        return Connection.from_settings(self.settings(principal))

    @property
    def secured(self) -> bool:
        return self.base.security_protocol == "SASL_SSL" or self.folder is not None
