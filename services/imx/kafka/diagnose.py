"""Why a client could not connect, in one line: the cause aiokafka's bootstrap error hides.

aiokafka reports every failed bootstrap as "Unable to bootstrap from …"; whether nothing listens,
the broker wants TLS, its certificate is not trusted, or the password is wrong is only logged.
``explain`` opens one connection the same way and names the cause and the setting to fix.
"""

from __future__ import annotations

import asyncio
import ssl

from aiokafka.conn import create_conn
from aiokafka.errors import KafkaConnectionError, KafkaError, SaslAuthenticationFailed

from imx.kafka.connection import SASL_MECHANISM, Connection


def is_bootstrap_failure(exc: BaseException) -> bool:
    return isinstance(exc, KafkaConnectionError) and "Unable to bootstrap" in str(exc)


async def cause(connection: Connection, timeout_s: float = 10.0) -> str | None:
    """The reason a connection to the first bootstrap server fails, or None when it works."""
    host, _, port_text = connection.servers[0].rpartition(":")
    where = connection.servers[0]
    secured = connection.security_protocol != "PLAINTEXT"
    try:
        ssl_context = connection.ssl_context()
    except (OSError, ssl.SSLError) as exc:
        return f"cannot read the CA file {connection.ca_file} (IMX_SSL_CAFILE): {exc}"
    password = connection.sasl_password.get_secret_value() if connection.sasl_password else None
    try:
        conn = await asyncio.wait_for(
            create_conn(
                host.strip("[]") or "127.0.0.1",
                int(port_text),
                ssl_context=ssl_context,
                security_protocol=connection.security_protocol,
                sasl_mechanism=SASL_MECHANISM if secured else None,
                sasl_plain_username=connection.sasl_username,
                sasl_plain_password=password,
                request_timeout_ms=int(timeout_s * 1000),
            ),
            timeout_s,
        )
    except ssl.SSLCertVerificationError as exc:
        return (
            f"the broker's certificate at {where} is not trusted ({exc.verify_message}):"
            f" IMX_SSL_CAFILE={connection.ca_file} is not the CA that signed it"
        )
    except ssl.SSLError as exc:
        return f"TLS with {where} failed ({exc.reason}): is it a SASL_SSL listener?"
    except SaslAuthenticationFailed:
        return (
            f"the broker at {where} refused user {connection.sasl_username}: wrong password or"
            " unknown user (IMX_SASL_USERNAME, IMX_SASL_PASSWORD; 'imx security apply')"
        )
    except ConnectionRefusedError:
        return f"nothing listens at {where} (IMX_BOOTSTRAP)"
    except (OSError, KafkaError, TimeoutError) as exc:
        if not secured:
            return (
                f"the broker at {where} closed a plaintext connection: it wants TLS"
                " (IMX_SECURITY_PROTOCOL=SASL_SSL, see 'imx security creds')"
            )
        return f"cannot connect to {where}: {exc!r}"
    conn.close()
    return None


def explain(connection: Connection, exc: BaseException, timeout_s: float = 10.0) -> str:
    """One line for ``exc``: the diagnosed cause of a failed bootstrap, else the error itself."""
    if is_bootstrap_failure(exc):
        found = asyncio.run(cause(connection, timeout_s))
        if found:
            return found
    return repr(exc)
