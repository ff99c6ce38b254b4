"""Which principal a command of imx acts as (CONTRACT.md section 10).

When no user is set (``IMX_SASL_USERNAME``) and ``$IMX_HOME/secrets`` exists, a command acts as
its default principal over SASL_SSL with the local CA: ``imx publish --unit U`` and ``imx tail U``
as ``unit-U``, ``imx dlq`` as ``ops``, ``imx worker`` as ``svc-worker``, ``imx gateway`` as
``svc-gateway``, provisioning commands as ``admin``. Settings given explicitly always win,
including ``IMX_SECURITY_PROTOCOL=PLAINTEXT``.
"""

from __future__ import annotations

from imx.kafka.connection import Connection
from imx.security.local import principal_settings
from imx.security.secrets import SecretsDir
from imx.settings import Settings


def uses_local_secrets(settings: Settings) -> bool:
    """No user set, and ``imx security init`` made a CA there.

    The CA, not the folder: the gateway's token file lives in the same folder, and a token
    issued for a plaintext broker must not turn every command into a SASL client.
    """
    explicit = settings.model_fields_set & {"sasl_username", "security_protocol"}
    return not explicit and SecretsDir(settings.secrets_dir).ca_cert.exists()


def settings_as(settings: Settings, principal: str) -> Settings:
    """``settings`` acting as ``principal`` when the local secrets apply, else unchanged.

    Raises ``SecretsError`` (one line, naming the path and the fix) when the secrets folder is
    unsafe, or when it holds no password for ``principal``.
    """
    if not uses_local_secrets(settings):
        return settings
    return principal_settings(settings, settings.secrets_dir, principal)


def connection_as(settings: Settings, principal: str) -> Connection:
    return Connection.from_settings(settings_as(settings, principal))
