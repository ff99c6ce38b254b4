"""`imx kafka up / status / down` as a user runs them: a second, private broker for this test."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from imx.kafka import localbroker
from tests.support.proc import run_imx

pytestmark = pytest.mark.e2e


def _java_pids_under(home: Path) -> list[int]:
    """Java processes whose command line names this broker's home: ours, and only ours."""
    out = subprocess.run(
        ["pgrep", "-f", f"java.*{home}"], capture_output=True, text=True, check=False, timeout=10
    )
    return [int(p) for p in out.stdout.split()]


def test_up_twice_status_down_leaves_nothing(tmp_path: Path) -> None:
    home = tmp_path / "broker"
    port = localbroker.free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMX_")}
    env["IMX_HOME"] = str(tmp_path / "imx-home")
    try:
        first = run_imx(["kafka", "up", "--dir", str(home), "--port", str(port)], env, timeout=180)
        assert first.returncode == 0, first.stderr
        assert first.stdout.strip() == f"bootstrap=127.0.0.1:{port}"
        pid = int((home / "kafka.pid").read_text())

        second = run_imx(["kafka", "up", "--dir", str(home), "--port", str(port)], env)
        assert second.returncode == 0, second.stderr
        assert second.stdout.strip() == f"bootstrap=127.0.0.1:{port}"
        assert int((home / "kafka.pid").read_text()) == pid, (
            "up twice must not start a second broker"
        )
        assert "already serves" in second.stderr

        status = run_imx(["kafka", "status", "--dir", str(home)], env)
        assert status.returncode == 0
        assert f"serving bootstrap=127.0.0.1:{port}" in status.stdout
        assert (home / "logs" / "server.log").exists(), "broker logs go to the data dir"
    finally:
        down = run_imx(["kafka", "down", "--dir", str(home)], env, timeout=90)
    assert down.returncode == 0
    assert _java_pids_under(home) == []
    stopped = run_imx(["kafka", "status", "--dir", str(home)], env)
    assert stopped.returncode == 1
    assert stopped.stdout.strip() == "stopped"


def test_up_refuses_a_port_in_use(tmp_path: Path) -> None:
    import socket  # noqa: PLC0415

    env = {k: v for k, v in os.environ.items() if not k.startswith("IMX_")}
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        out = run_imx(["kafka", "up", "--dir", str(tmp_path / "b"), "--port", str(port)], env)
    assert out.returncode == 1
    assert f"port {port} is already in use" in out.stderr


def test_without_java_a_one_line_error_names_what_to_install(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMX_")}
    env["PATH"] = str(tmp_path / "empty-bin")  # neither java nor mvn on it
    env["IMX_JAR_CACHE"] = str(tmp_path / "jars")
    port = str(localbroker.free_port())
    out = run_imx(["kafka", "up", "--dir", str(tmp_path / "b"), "--port", port], env)
    assert out.returncode == 1
    assert out.stderr.strip().startswith("imx: Java 17+ is required")
    assert len(out.stderr.strip().splitlines()) == 1
