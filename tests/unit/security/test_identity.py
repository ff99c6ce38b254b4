"""The default principal: local secrets when no user is set, explicit settings win."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from imx.gateway.tokens import TokenStore
from imx.security import secrets
from imx.security.identity import settings_as
from imx.settings import Settings

pytestmark = pytest.mark.unit


def test_no_secrets_no_change(tmp_path: Path) -> None:
    plain = Settings(home=tmp_path)
    assert settings_as(plain, "ops") is plain


def test_a_folder_with_only_gateway_tokens_changes_nothing(tmp_path: Path) -> None:
    TokenStore.of_home(tmp_path).issue("bps-presevo", datetime.now(UTC))
    plain = Settings(home=tmp_path)
    assert settings_as(plain, "ops") is plain


def test_local_secrets_make_the_default_principal(tmp_path: Path) -> None:
    secrets.init(tmp_path / "secrets", ["ops", "admin"])
    acting = settings_as(Settings(home=tmp_path), "ops")
    assert acting.security_protocol == "SASL_SSL"
    assert acting.sasl_username == "ops"
    assert acting.sasl_password is not None
    assert acting.ssl_cafile == tmp_path / "secrets" / "ca.crt"
    with pytest.raises(secrets.SecretsError, match="unknown principal 'unit-x'"):
        settings_as(Settings(home=tmp_path), "unit-x")


def test_explicit_settings_win(tmp_path: Path) -> None:
    secrets.init(tmp_path / "secrets", ["ops"])
    plain = Settings(home=tmp_path, security_protocol="PLAINTEXT")
    assert settings_as(plain, "ops") is plain
    other = Settings(home=tmp_path, sasl_username="someone")
    assert settings_as(other, "ops") is other


def test_loose_permissions_refuse(tmp_path: Path) -> None:
    secrets.init(tmp_path / "secrets", ["ops"])
    (tmp_path / "secrets").chmod(0o750)
    with pytest.raises(secrets.SecretsError, match="chmod 700"):
        settings_as(Settings(home=tmp_path), "ops")
