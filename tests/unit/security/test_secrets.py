"""The secrets folder: what init creates, never overwrites, rotates, and refuses when unsafe."""

from __future__ import annotations

import ipaddress
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID
from cryptography.x509.verification import PolicyBuilder, Store

from imx.security.secrets import BROKER, GATEWAY_TLS, SecretsDir, SecretsError, creds, init

pytestmark = pytest.mark.unit

NAMES = ["admin", "svc-worker", "unit-ps-bor"]


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_init_creates_a_private_folder_with_a_ca_a_broker_certificate_and_passwords(
    tmp_path: Path,
) -> None:
    root = tmp_path / "secrets"
    result = init(root, NAMES, hosts=["kafka.example", "10.0.0.5"])
    assert result.created == ["ca", BROKER, GATEWAY_TLS, *NAMES]
    folder = SecretsDir(root)
    assert _mode(root) == 0o700
    assert _mode(folder.passwords) == 0o700
    for path in root.rglob("*"):
        assert _mode(path) == (0o700 if path.is_dir() else 0o600), path
    for name in NAMES:
        password = folder.password(name).get_secret_value()
        assert len(password) >= 43  # 32 random bytes in base64url
    assert len({folder.password(n).get_secret_value() for n in NAMES}) == len(NAMES)
    assert folder.principals() == sorted(NAMES)


@pytest.mark.parametrize("server", ["broker", "gateway"])
def test_server_certificates_are_signed_by_the_ca_for_every_host(
    tmp_path: Path, server: str
) -> None:
    root = tmp_path / "secrets"
    init(root, NAMES, hosts=["kafka.example", "10.0.0.5"])
    folder = SecretsDir(root)
    ca = x509.load_pem_x509_certificate(folder.ca_cert.read_bytes())
    path = folder.broker_cert if server == "broker" else folder.gateway_cert
    chain = x509.load_pem_x509_certificates(path.read_bytes())
    broker = chain[0]
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert not broker.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert broker.issuer == ca.subject
    eku = broker.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.SERVER_AUTH in eku
    san = broker.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["localhost", "kafka.example"]
    assert san.get_values_for_type(x509.IPAddress) == [
        ipaddress.ip_address("127.0.0.1"),
        ipaddress.ip_address("10.0.0.5"),
    ]
    verifier = PolicyBuilder().store(Store([ca])).build_server_verifier(x509.DNSName("localhost"))
    verifier.verify(broker, chain[1:])  # raises unless a TLS client would accept it
    ip_verifier = (
        PolicyBuilder()
        .store(Store([ca]))
        .build_server_verifier(x509.IPAddress(ipaddress.ip_address("127.0.0.1")))
    )
    ip_verifier.verify(broker, [])
    cn = broker.subject.get_attributes_for_oid(x509.oid.NameOID.COMMON_NAME)[0].value
    assert cn == f"imx {server}"
    if server == "gateway":
        return
    # the key store file holds the key and the chain, for Kafka's ssl.keystore.type=PEM
    pem = folder.broker_pem.read_text()
    assert pem.startswith("-----BEGIN PRIVATE KEY-----")
    assert pem.count("BEGIN CERTIFICATE") == 2


def test_init_never_overwrites_and_adds_only_what_is_missing(tmp_path: Path) -> None:
    root = tmp_path / "secrets"
    init(root, NAMES)
    before = {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}
    again = init(root, [*NAMES, "unit-new"])
    assert again.created == ["unit-new"]
    assert again.kept == ["ca", BROKER, GATEWAY_TLS, *NAMES]
    assert all(p.read_bytes() == data for p, data in before.items())


def test_rotate_replaces_only_that_secret(tmp_path: Path) -> None:
    root = tmp_path / "secrets"
    init(root, NAMES)
    folder = SecretsDir(root)
    old = {n: folder.password(n).get_secret_value() for n in NAMES}
    cert = folder.broker_cert.read_bytes()
    result = init(root, NAMES, rotate="unit-ps-bor")
    assert result.rotated == ["unit-ps-bor"]
    assert folder.password("unit-ps-bor").get_secret_value() != old["unit-ps-bor"]
    assert folder.password("admin").get_secret_value() == old["admin"]
    assert folder.broker_cert.read_bytes() == cert
    gateway = folder.gateway_cert.read_bytes()
    assert init(root, NAMES, rotate=BROKER).rotated == [BROKER]
    assert folder.broker_cert.read_bytes() != cert
    assert folder.gateway_cert.read_bytes() == gateway
    assert init(root, NAMES, rotate=GATEWAY_TLS).rotated == [GATEWAY_TLS]
    assert folder.gateway_cert.read_bytes() != gateway


def test_rotating_an_unknown_principal_is_refused_before_anything_is_written(
    tmp_path: Path,
) -> None:
    root = tmp_path / "secrets"
    with pytest.raises(SecretsError, match="unknown principal 'unit-nobody'"):
        init(root, NAMES, rotate="unit-nobody")
    assert not root.exists()


def test_a_bad_host_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    root = tmp_path / "secrets"
    with pytest.raises(SecretsError, match="--hosts: 'bad host!'"):
        init(root, NAMES, hosts=["bad host!"])
    assert not root.exists()


@pytest.mark.parametrize(
    ("relative", "mode", "fix"),
    [(".", 0o755, "chmod 700"), ("passwords/admin", 0o644, "chmod 600"), ("ca.key", 0o640, "600")],
)
def test_loose_permissions_are_refused_naming_the_path_and_the_fix(
    tmp_path: Path, relative: str, mode: int, fix: str
) -> None:
    root = tmp_path / "secrets"
    init(root, NAMES)
    path = (root / relative).resolve()
    path.chmod(mode)
    with pytest.raises(SecretsError, match=f"{path} is open to others.*{fix}"):
        SecretsDir(root).password("admin")
    with pytest.raises(SecretsError, match="open to others"):
        init(root, NAMES)
    with pytest.raises(SecretsError, match="open to others"):
        creds(root, "admin", "env")


def test_a_ca_without_its_pair_is_not_replaced(tmp_path: Path) -> None:
    root = tmp_path / "secrets"
    init(root, NAMES)
    SecretsDir(root).ca_cert.unlink()
    with pytest.raises(SecretsError, match="without its pair"):
        init(root, NAMES)


def test_creds_in_each_format(tmp_path: Path) -> None:
    root = tmp_path / "secrets"
    init(root, NAMES)
    password = SecretsDir(root).password("unit-ps-bor").get_secret_value()
    ca = (root / "ca.crt").resolve()

    def props(text: str) -> dict[str, str]:
        return dict(line.split("=", 1) for line in text.splitlines())

    assert props(creds(root, "unit-ps-bor", "env")) == {
        "IMX_SECURITY_PROTOCOL": "SASL_SSL",
        "IMX_SASL_USERNAME": "unit-ps-bor",
        "IMX_SASL_PASSWORD": password,
        "IMX_SSL_CAFILE": str(ca),
    }
    assert props(creds(root, "unit-ps-bor", "librdkafka")) == {
        "security.protocol": "SASL_SSL",
        "sasl.mechanisms": "SCRAM-SHA-512",
        "sasl.username": "unit-ps-bor",
        "sasl.password": password,
        "ssl.ca.location": str(ca),
    }
    java = props(creds(root, "unit-ps-bor", "java"))
    assert java["security.protocol"] == "SASL_SSL"
    assert java["sasl.mechanism"] == "SCRAM-SHA-512"
    assert java["sasl.jaas.config"] == (
        "org.apache.kafka.common.security.scram.ScramLoginModule required"
        f' username="unit-ps-bor" password="{password}";'
    )
    assert java["ssl.truststore.type"] == "PEM"
    assert java["ssl.truststore.location"] == str(ca)


def test_creds_of_an_unknown_principal_or_without_secrets(tmp_path: Path) -> None:
    with pytest.raises(SecretsError, match="run 'imx security init'"):
        creds(tmp_path / "none", "admin", "env")
    init(tmp_path / "secrets", NAMES)
    with pytest.raises(SecretsError, match="unknown principal 'unit-x'"):
        creds(tmp_path / "secrets", "unit-x", "env")
