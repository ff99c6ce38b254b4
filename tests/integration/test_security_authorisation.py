"""Rows of CONTRACT.md section 10's matrix on a secured broker, through the command line.

With ``$IMX_HOME/secrets`` present and no user set, each command acts as its default principal:
provisioning as admin, ``publish --unit U`` and ``tail U`` as ``unit-U``, ``dlq`` as ``ops``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from imx.cli.main import main
from imx.security import secrets
from tests.support.secured import SecuredBroker, provision_for_cli

pytestmark = pytest.mark.integration

EXAMPLE = Path(__file__).parents[2] / "docs" / "examples" / "UnauthorisedBorderCrossing.json"


@pytest.fixture
def as_cli(
    secured: SecuredBroker, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> SecuredBroker:
    """The secured broker provisioned (users, ACLs, topics); ``imx`` pointed at it."""
    provision_for_cli(secured, monkeypatch)
    capsys.readouterr()
    return secured


def _report(tmp_path: Path, unit: str) -> Path:
    report = json.loads(EXAMPLE.read_text())
    report["reporting_unit"] = unit
    path = tmp_path / f"{unit}.jsonl"
    path.write_text(json.dumps(report) + "\n")
    return path


def _err(capsys: pytest.CaptureFixture[str]) -> str:
    lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("imx:")]
    assert len(lines) == 1, lines
    return lines[0]


def test_a_unit_writes_its_own_ingress_and_reads_its_own_feed(
    as_cli: SecuredBroker, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["publish", "--unit", "bps-presevo", str(_report(tmp_path, "bps-presevo"))]) == 0
    assert "ingress.bps-presevo" in capsys.readouterr().out
    tail = ["tail", "bps-presevo", "--from-beginning", "--idle-timeout", "1"]
    assert main(tail) == 0
    assert main(["dlq", "--idle-timeout", "1"]) == 0  # as ops


def test_a_unit_may_not_write_another_units_ingress_nor_read_its_feed(
    as_cli: SecuredBroker,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    folder = secrets.SecretsDir(as_cli.secrets)
    monkeypatch.setenv("IMX_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("IMX_SASL_USERNAME", "unit-bps-presevo")
    monkeypatch.setenv("IMX_SASL_PASSWORD", folder.password("unit-bps-presevo").get_secret_value())
    monkeypatch.setenv("IMX_SSL_CAFILE", str(folder.ca_cert))
    assert main(["publish", "--unit", "bps-rujan", str(_report(tmp_path, "bps-rujan"))]) == 1
    assert _err(capsys) == (
        "imx: unit-bps-presevo may not WRITE topic ingress.bps-rujan: denied by the broker's ACLs"
    )
    assert main(["tail", "bps-rujan", "--from-beginning", "--idle-timeout", "1"]) == 1
    assert _err(capsys) == (
        "imx: unit-bps-presevo may not READ topic feed.bps-rujan: denied by the broker's ACLs"
    )
    assert main(["dlq", "--idle-timeout", "1"]) == 1
    assert "may not READ topic dlq.ingress" in _err(capsys)


@pytest.mark.parametrize(
    "case",
    [
        ("IMX_SASL_PASSWORD", "wrong", "refused user unit-bps-presevo: wrong password"),
        ("IMX_SASL_USERNAME", "unit-nobody", "refused user unit-nobody"),
        ("IMX_SECURITY_PROTOCOL", "PLAINTEXT", "it wants TLS"),
        ("IMX_SSL_CAFILE", "other", "is not the CA that signed it"),
    ],
)
def test_connection_faults_are_one_clear_line(
    as_cli: SecuredBroker,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    case: tuple[str, str, str],
) -> None:
    variable, value, expected = case
    folder = secrets.SecretsDir(as_cli.secrets)
    settings = {
        "IMX_SECURITY_PROTOCOL": "SASL_SSL",
        "IMX_SASL_USERNAME": "unit-bps-presevo",
        "IMX_SASL_PASSWORD": folder.password("unit-bps-presevo").get_secret_value(),
        "IMX_SSL_CAFILE": str(folder.ca_cert),
    }
    if value == "other":
        secrets.init(tmp_path / "other", ["x"])
        value = str(tmp_path / "other" / "ca.crt")
    settings[variable] = value
    for name, setting in settings.items():
        monkeypatch.setenv(name, setting)
    assert main(["tail", "bps-presevo", "--idle-timeout", "1"]) == 1
    assert expected in _err(capsys)


def test_loose_permissions_stop_a_command_before_it_connects(
    as_cli: SecuredBroker, capsys: pytest.CaptureFixture[str]
) -> None:
    password = secrets.SecretsDir(as_cli.secrets).password_file("unit-bps-presevo")
    password.chmod(0o644)
    try:
        assert main(["tail", "bps-presevo", "--idle-timeout", "1"]) == 1
        assert f"chmod 600 {password}" in _err(capsys)
    finally:
        password.chmod(0o600)
