"""The secrets folder (CONTRACT.md section 10): a CA, server certificates, passwords.

Layout under ``$IMX_HOME/secrets/`` (folder 0700, every file 0600)::

    ca.key  ca.crt            the local CA (EC P-256), self-signed
    broker.key  broker.crt    the broker's key and certificate, signed by the CA
    broker.pem                key and certificate chain in one file: Kafka's PEM key store
    gateway.key  gateway.crt  the HTTP gateway's key and certificate (chain), signed by the CA
    passwords/<principal>     one random password per principal (32 random bytes, base64url)

``init`` never overwrites a secret except the one named by ``rotate``; everything it creates is
built in memory first and each file is written to a temporary name and renamed into place, so a
failure leaves no half-written secret. Every reader first checks the permissions and refuses,
naming the path and the fix, when anything there is readable or writable by others.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import re
import secrets
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from pydantic import SecretStr

CA_DAYS = 3650
SERVER_DAYS = 825  # the broker's and the gateway's certificates
BROKER = "broker"  # --rotate broker reissues the broker's key and certificate
GATEWAY_TLS = "gateway"  # --rotate gateway reissues the HTTP gateway's key and certificate
#: The broker certificate's subject as Kafka's SSL principal builder names it (RFC 2253).
BROKER_SSL_PRINCIPAL = "CN=imx broker,O=imx"
DEFAULT_HOSTS = ("localhost", "127.0.0.1")
_LABEL = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
CredsFormat = Literal["env", "librdkafka", "java"]


class SecretsError(RuntimeError):
    """The secrets folder is missing, unsafe or lacks what is asked for; the message says which."""


@dataclass(frozen=True)
class SecretsDir:
    root: Path

    @property
    def ca_key(self) -> Path:
        return self.root / "ca.key"

    @property
    def ca_cert(self) -> Path:
        return self.root / "ca.crt"

    @property
    def broker_key(self) -> Path:
        return self.root / "broker.key"

    @property
    def broker_cert(self) -> Path:
        return self.root / "broker.crt"

    @property
    def broker_pem(self) -> Path:
        return self.root / "broker.pem"

    @property
    def gateway_key(self) -> Path:
        return self.root / "gateway.key"

    @property
    def gateway_cert(self) -> Path:
        """The HTTP gateway's certificate and the CA's, PEM (CONTRACT.md section 11)."""
        return self.root / "gateway.crt"

    @property
    def passwords(self) -> Path:
        return self.root / "passwords"

    def password_file(self, principal: str) -> Path:
        return self.passwords / principal

    def exists(self) -> bool:
        return self.root.is_dir()

    def check(self) -> None:
        """Raise ``SecretsError`` unless the folder exists and nothing in it is open to others."""
        if not self.root.is_dir():
            msg = f"no secrets in {self.root}: run 'imx security init'"
            raise SecretsError(msg)
        check_permissions(self.root)

    def password(self, principal: str) -> SecretStr:
        self.check()
        path = self.password_file(principal)
        try:
            return SecretStr(path.read_text(encoding="ascii").strip())
        except FileNotFoundError:
            msg = f"unknown principal {principal!r}: no password in {self.passwords}"
            raise SecretsError(msg) from None

    def principals(self) -> list[str]:
        self.check()
        if not self.passwords.is_dir():
            return []
        return sorted(p.name for p in self.passwords.iterdir() if not p.name.startswith("."))


def check_permissions(root: Path) -> None:
    """Every folder 0700 and every file 0600 at most, owned by this user; else a one-line error."""
    for path in [root, *sorted(root.rglob("*"))]:
        info = path.lstat()
        is_dir = stat.S_ISDIR(info.st_mode)
        if info.st_uid != os.getuid():
            msg = f"secrets: {path} is owned by uid {info.st_uid}, not by this user"
            raise SecretsError(msg)
        loose = stat.S_IMODE(info.st_mode) & 0o077
        if loose:
            mode = oct(stat.S_IMODE(info.st_mode))
            fix = "700" if is_dir else "600"
            msg = (
                f"secrets: {path} is open to others (mode {mode}), refusing to use it:"
                f" run 'chmod {fix} {path}'"
            )
            raise SecretsError(msg)


@dataclass
class InitResult:
    created: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    rotated: list[str] = field(default_factory=list)


def new_password() -> str:
    return secrets.token_urlsafe(32)


def init(
    root: Path,
    principals: Iterable[str],
    hosts: Iterable[str] = (),
    rotate: str | None = None,
) -> InitResult:
    """Create what is missing under ``root``; replace only ``rotate`` (a principal or "broker")."""
    names = sorted(set(principals))
    if rotate is not None and rotate not in {*names, BROKER, GATEWAY_TLS}:
        known = ", ".join([*names[:3], "…"]) if len(names) > 3 else ", ".join(names)
        msg = f"unknown principal {rotate!r} to rotate (known: {BROKER}, {GATEWAY_TLS}, {known})"
        raise SecretsError(msg)
    folder = SecretsDir(root)
    san = _hosts([*DEFAULT_HOSTS, *hosts])
    if folder.exists():
        check_permissions(root)
    result = InitResult()
    writes: dict[Path, bytes] = {}

    if folder.ca_key.exists() != folder.ca_cert.exists():
        present = folder.ca_key if folder.ca_key.exists() else folder.ca_cert
        msg = f"secrets: {present} exists without its pair; restore the pair or remove {present}"
        raise SecretsError(msg)
    if folder.ca_key.exists():
        ca_key = serialization.load_pem_private_key(folder.ca_key.read_bytes(), None)
        if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
            msg = f"secrets: {folder.ca_key} is not an EC private key"
            raise SecretsError(msg)
        ca_cert = x509.load_pem_x509_certificate(folder.ca_cert.read_bytes())
        result.kept.append("ca")
    else:
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_cert = _ca_certificate(ca_key)
        writes[folder.ca_key] = _key_pem(ca_key)
        writes[folder.ca_cert] = ca_cert.public_bytes(serialization.Encoding.PEM)
        result.created.append("ca")

    ca_pem = ca_cert.public_bytes(serialization.Encoding.PEM)
    servers = (
        (BROKER, "imx broker", (folder.broker_key, folder.broker_cert, folder.broker_pem)),
        (GATEWAY_TLS, "imx gateway", (folder.gateway_key, folder.gateway_cert)),
    )
    for name, common_name, files in servers:
        have = all(p.exists() for p in files)
        if have and rotate != name and "ca" not in result.created:
            result.kept.append(name)
            continue
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _server_certificate(key, ca_key, ca_cert, san, common_name)
        chain = cert.public_bytes(serialization.Encoding.PEM) + ca_pem
        writes[files[0]] = _key_pem(key)
        writes[files[1]] = chain
        if len(files) == 3:  # the broker's PEM key store: key and chain in one file
            writes[files[2]] = _key_pem(key) + chain
        (result.rotated if have else result.created).append(name)

    for name in names:
        path = folder.password_file(name)
        if path.exists() and rotate != name:
            result.kept.append(name)
            continue
        writes[path] = (new_password() + "\n").encode("ascii")
        (result.rotated if path.exists() else result.created).append(name)

    _private_dir(root)
    _private_dir(folder.passwords)
    for path, data in writes.items():
        write_private(path, data)
    return result


def _hosts(hosts: Iterable[str]) -> list[x509.GeneralName]:
    out: list[x509.GeneralName] = []
    seen: set[str] = set()
    for raw in hosts:
        host = raw.strip()
        if not host or host in seen:
            continue
        seen.add(host)
        try:
            out.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            if not all(_LABEL.fullmatch(part) for part in host.split(".")):
                msg = f"--hosts: {host!r} is neither an IP address nor a host name"
                raise SecretsError(msg) from None
            out.append(x509.DNSName(host))
    return out


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    # Unencrypted PKCS#8: the form Kafka's PEM key store reads without ssl.key.password.
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _ca_certificate(key: ec.EllipticCurvePrivateKey) -> x509.Certificate:
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "imx"),
            x509.NameAttribute(NameOID.COMMON_NAME, "imx local CA"),
        ]
    )
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )


def _server_certificate(
    key: ec.EllipticCurvePrivateKey,
    ca_key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    san: list[x509.GeneralName],
    common_name: str,
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, "imx"),
                    x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                ]
            )
        )
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=SERVER_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=True,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        # clientAuth too: the broker presents its certificate to its own controller listener
        # (mutual TLS); the gateway's is never accepted there (its subject is no super user).
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(x509.SubjectAlternativeName(san), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )


def _private_dir(path: Path) -> None:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.chmod(0o700)


def write_private(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    tmp.replace(path)


def creds(root: Path, principal: str, fmt: CredsFormat) -> str:
    """``principal``'s client settings in the asked format (the one place a secret is printed)."""
    folder = SecretsDir(root)
    password = folder.password(principal).get_secret_value()
    ca = folder.ca_cert.resolve()
    if fmt == "env":
        lines = [
            "IMX_SECURITY_PROTOCOL=SASL_SSL",
            f"IMX_SASL_USERNAME={principal}",
            f"IMX_SASL_PASSWORD={password}",
            f"IMX_SSL_CAFILE={ca}",
        ]
    elif fmt == "librdkafka":
        lines = [
            "security.protocol=SASL_SSL",
            "sasl.mechanisms=SCRAM-SHA-512",
            f"sasl.username={principal}",
            f"sasl.password={password}",
            f"ssl.ca.location={ca}",
        ]
    else:
        jaas = (
            "org.apache.kafka.common.security.scram.ScramLoginModule required"
            f' username="{principal}" password="{password}";'
        )
        lines = [
            "security.protocol=SASL_SSL",
            "sasl.mechanism=SCRAM-SHA-512",
            f"sasl.jaas.config={jaas}",
            "ssl.truststore.type=PEM",
            f"ssl.truststore.location={ca}",
        ]
    return "\n".join(lines) + "\n"
