"""imx security apply against a secured broker: users and ACLs equal to the table, idempotent."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import replace
from pathlib import Path

import pytest

from imx.cli.main import main
from imx.kafka import reading
from imx.kafka.connection import Connection
from imx.kafka.topology import Topology
from imx.registry import DEFAULT_REGISTRY_PATH as REGISTRY_PATH
from imx.registry import Registry, load_registry
from imx.security import secrets
from imx.security.apply import ApplyError, Outcome, apply
from imx.security.principals import principals
from tests.support.secured import SecuredBroker

pytestmark = pytest.mark.integration

REGISTRY = load_registry()


def _apply(secured: SecuredBroker, registry: Registry = REGISTRY, check: bool = False) -> Outcome:
    table = principals(registry, Topology("", 1, 1, tuple(registry.ids())))
    return asyncio.run(apply(secured.connection("admin"), table, secured.secrets, check=check))


def test_apply_then_nothing_to_change(secured: SecuredBroker) -> None:
    started = time.monotonic()
    first = _apply(secured)
    first_s = time.monotonic() - started
    started = time.monotonic()
    second = _apply(secured)
    second_s = time.monotonic() - started
    assert second.plan.empty, second.plan.lines()
    assert not second.applied
    assert _apply(secured, check=True).plan.empty
    if first.applied:  # the first test to run on the session's broker added everything
        assert "+ user unit-ps-bor" in first.plan.lines()
    print(f"apply: first {first_s:.2f}s, second {second_s:.2f}s")
    assert second_s < 5
    assert reading.serves(secured.connection("unit-ps-bor"), 10)


def test_a_unit_gone_from_the_registry_loses_its_user_and_acls(secured: SecuredBroker) -> None:
    _apply(secured)
    fewer = Registry({u: REGISTRY.get(u) for u in REGISTRY.ids() if u != "ps-sid"}, {})
    check = _apply(secured, fewer, check=True)
    assert not check.applied
    assert "- user unit-ps-sid" in check.plan.lines()
    removed = _apply(secured, fewer)
    assert removed.plan.remove_users == ("unit-ps-sid",)
    assert {a.principal for a in removed.plan.remove_acls} == {"unit-ps-sid"}
    assert not removed.plan.add_acls
    assert not reading.serves(secured.connection("unit-ps-sid"), 5)
    restored = _apply(secured)
    assert restored.plan.add_users == ("unit-ps-sid",)
    assert reading.serves(secured.connection("unit-ps-sid"), 10)


def test_a_rotated_password_replaces_the_old_one(secured: SecuredBroker) -> None:
    _apply(secured)
    old = secured.connection("unit-ps-vranje")
    names = secrets.SecretsDir(secured.secrets).principals()
    secrets.init(secured.secrets, names, rotate="unit-ps-vranje")
    assert _apply(secured, check=True).plan.update_passwords == ("unit-ps-vranje",)
    assert _apply(secured).plan.update_passwords == ("unit-ps-vranje",)
    assert _apply(secured).plan.empty
    assert reading.serves(secured.connection("unit-ps-vranje"), 10)
    assert not reading.serves(old, 5)


def test_apply_against_a_broker_without_an_authorizer_says_so(
    plaintext_bootstrap: str, secured: SecuredBroker, tmp_path: Path
) -> None:
    table = principals(REGISTRY, Topology("", 1, 1, tuple(REGISTRY.ids())))
    with pytest.raises(ApplyError, match="has no authorizer") as raised:
        asyncio.run(apply(Connection(plaintext_bootstrap), table, secured.secrets))
    assert "\n" not in str(raised.value)


def test_apply_as_a_principal_that_is_not_admin_is_refused(secured: SecuredBroker) -> None:
    _apply(secured)
    table = principals(REGISTRY, Topology("", 1, 1, tuple(REGISTRY.ids())))
    with pytest.raises(ApplyError, match="not allowed"):
        asyncio.run(apply(secured.connection("ops"), table, secured.secrets))
    wrong = replace(secured.connection("admin"), sasl_username="unit-nobody")
    with pytest.raises(ApplyError, match=r"cannot reach the broker .* as unit-nobody"):
        asyncio.run(apply(wrong, table, secured.secrets, timeout_s=5))


def test_the_command_line_check_exits_1_on_a_difference(
    secured: SecuredBroker,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _apply(secured)
    monkeypatch.setenv("IMX_HOME", str(secured.secrets.parent))  # its secrets folder
    monkeypatch.setenv("IMX_BOOTSTRAP", secured.bootstrap)
    assert main(["security", "apply", "--check"]) == 0
    assert capsys.readouterr().out.startswith("nothing to change")
    fewer = tmp_path / "units.json"
    data = json.loads(Path(REGISTRY_PATH).read_text())
    data["units"] = [u for u in data["units"] if u["id"] != "ps-zajecar"]
    fewer.write_text(json.dumps(data))
    monkeypatch.setenv("IMX_REGISTRY_PATH", str(fewer))
    assert main(["security", "apply", "--check"]) == 1
    out = capsys.readouterr().out
    assert "- user unit-ps-zajecar" in out
    assert "difference(s)" in out
    password = secrets.SecretsDir(secured.secrets).password("unit-ps-zajecar").get_secret_value()
    assert password not in out
