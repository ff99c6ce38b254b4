"""``imx outbox`` and ``imx publish --outbox`` refusals that need no outbox and no broker."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from imx.cli.main import main

pytestmark = pytest.mark.unit


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("IMX_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("IMX_BOOTSTRAP", "127.0.0.1:9")
    return tmp_path / "home"


def test_publish_outbox_and_no_check_do_not_go_together(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    reports = tmp_path / "r.jsonl"
    reports.write_text(json.dumps({"type": "CrisisSituation"}) + "\n")
    assert main(["publish", "--unit", "bps-presevo", "--outbox", "--no-check", str(reports)]) == 2
    assert "--no-check does not go with --outbox" in capsys.readouterr().err


def test_publish_outbox_says_when_no_outbox_serves_the_unit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    reports = tmp_path / "r.jsonl"
    report = {
        "type": "CrisisSituation",
        "event_id": "9b2f7c66-3a0e-4b55-8d7e-0a4c1f0e2a11",
        "reporting_unit": "bps-presevo",
        "occurred_at": "2026-01-01T00:00:00Z",
        "location": {"lat": 42.3, "lon": 21.65},
        "kind": "INJURY",
        "persons": 1,
        "urgent": True,
    }
    reports.write_text(json.dumps(report) + "\n")
    assert main(["publish", "--unit", "bps-presevo", "--outbox", str(reports)]) == 1
    err = capsys.readouterr().err
    assert "no outbox serves unit bps-presevo" in err
    assert "imx outbox serve --unit bps-presevo" in err


def test_status_of_an_unknown_unit_or_a_missing_database(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["outbox", "status", "--unit", "bps-nowhere"]) == 2
    assert "unknown unit 'bps-nowhere'" in capsys.readouterr().err
    assert main(["outbox", "status", "--unit", "bps-presevo"]) == 1
    assert "no outbox database at" in capsys.readouterr().err
