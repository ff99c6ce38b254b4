"""Gateway tokens: issued once, stored hashed, verified in constant time, revocable."""

from __future__ import annotations

import json
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest

from imx.cli.common import CliError
from imx.cli.gateway_cmd import listen_plan
from imx.cli.main import main
from imx.gateway.tokens import (
    FILE_NAME,
    TokenError,
    TokenStore,
    digest,
    new_token,
    revoke,
    token_id_of,
    verify,
)
from imx.security import secrets

pytestmark = pytest.mark.unit

NOW = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)


def test_a_token_has_a_public_id_and_256_random_bits() -> None:
    issued = new_token("bps-presevo", NOW)
    prefix, token_id, secret = issued.token.split("_", 2)
    assert prefix == "imxgw"
    assert token_id == issued.record.id == token_id_of(issued.token)
    assert len(secret) >= 43  # base64 of 32 bytes
    assert issued.record.sha256 == digest(issued.token)
    assert issued.token not in json.dumps(issued.record.__dict__)
    assert new_token("bps-presevo", NOW).token != issued.token


def test_verify_accepts_only_the_exact_live_token() -> None:
    one, two = new_token("bps-presevo", NOW), new_token("ps-vranje", NOW)
    records = [one.record, two.record]
    assert verify(records, one.token) == one.record
    assert verify(records, two.token) == two.record
    assert verify(records, one.token[:-1] + ("A" if one.token[-1] != "A" else "B")) is None
    assert verify(records, "") is None
    assert verify(records, "imxgw_000000000000_" + "x" * 43) is None
    revoked = revoke(records, one.record.id, NOW)
    assert verify(revoked, one.token) is None
    assert verify(revoked, two.token) == two.record
    with pytest.raises(TokenError, match="no gateway token"):
        revoke(records, "ffffffffffff", NOW)


def test_the_store_keeps_hashes_in_a_private_file(tmp_path: Path) -> None:
    folder = tmp_path / "secrets"
    store = TokenStore(folder)
    assert store.records() == []
    issued = store.issue("bps-presevo", NOW)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE((folder / FILE_NAME).stat().st_mode) == 0o600
    assert issued.token not in (folder / FILE_NAME).read_text()
    # Another process (the CLI) revokes; this store sees it at the next request.
    reader = TokenStore(folder)
    assert reader.authenticate(issued.token) == issued.record
    TokenStore(folder).revoke(issued.record.id, NOW)
    assert reader.authenticate(issued.token) is None
    assert reader.records()[0].revoked == NOW.isoformat()


def test_the_command_line_issues_lists_and_revokes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("IMX_HOME", str(tmp_path / "home"))
    assert main(["gateway", "token", "issue", "bps-presevo"]) == 0
    token = capsys.readouterr().out.strip()
    token_id = token_id_of(token)
    assert token_id is not None
    assert TokenStore(tmp_path / "home" / "secrets").authenticate(token) is not None
    assert main(["gateway", "token", "list"]) == 0
    listed = capsys.readouterr().out
    assert f"{token_id}\tbps-presevo\t" in listed
    assert token not in listed
    assert main(["gateway", "token", "revoke", token_id]) == 0
    assert main(["gateway", "token", "list"]) == 0
    assert listed.splitlines()[1].rsplit("\t", 1)[1] == "-"
    assert capsys.readouterr().out.splitlines()[1].rsplit("\t", 1)[1] != "-"
    assert main(["gateway", "token", "revoke", "ffffffffffff"]) == 2
    assert main(["gateway", "token", "issue", "no-such-unit"]) == 2


def test_plain_http_is_served_on_loopback_only(tmp_path: Path) -> None:
    folder = tmp_path / "secrets"
    assert listen_plan("127.0.0.1", 8443, folder).url == "http://127.0.0.1:8443"
    assert listen_plan("::1", 8443, folder).url == "http://[::1]:8443"
    assert listen_plan("localhost", 1, folder).certfile is None
    for host in ("0.0.0.0", "10.1.2.3", "gateway.example"):  # noqa: S104
        with pytest.raises(CliError, match="not a loopback address"):
            listen_plan(host, 8443, folder)
    secrets.init(folder, ["admin"])  # the CA issues the gateway's certificate too
    secured = listen_plan("0.0.0.0", 8443, folder)  # noqa: S104
    assert secured.url == "https://0.0.0.0:8443"
    assert secured.keyfile == folder / "gateway.key"
    folder.chmod(0o755)
    with pytest.raises(CliError, match="chmod"):
        listen_plan("127.0.0.1", 8443, folder)
