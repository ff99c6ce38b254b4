"""``imx security init`` and ``creds`` through the command line: output and exit codes."""

from __future__ import annotations

from pathlib import Path

import pytest

from imx.cli.main import main

pytestmark = pytest.mark.unit


def test_init_then_creds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("IMX_HOME", str(tmp_path))
    assert main(["security", "init", "--hosts", "kafka.example"]) == 0
    out = capsys.readouterr().out
    assert "created ca" in out
    assert "created unit-ps-bor" in out
    assert "password" not in out.lower()
    assert main(["security", "init"]) == 0
    assert capsys.readouterr().out.startswith("0 created, 0 rotated,")
    assert main(["security", "creds", "unit-ps-bor", "--format", "librdkafka"]) == 0
    assert "sasl.username=unit-ps-bor" in capsys.readouterr().out
    assert main(["security", "creds", "unit-nobody"]) == 2
    assert "unknown principal 'unit-nobody'" in capsys.readouterr().err
    assert main(["security", "init", "--rotate", "unit-nobody"]) == 2
    assert "unknown principal 'unit-nobody' to rotate" in capsys.readouterr().err
    (tmp_path / "secrets").chmod(0o755)
    assert main(["security", "creds", "admin"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "chmod 700" in err
