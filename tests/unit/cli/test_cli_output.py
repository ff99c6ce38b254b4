"""What the command line says, and that saying it never stops a job (no broker needed)."""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from imx import processes
from imx.cli.common import CliError, SafeStream, check_local_broker
from imx.kafka.connection import Connection
from imx.kafka.localbroker import free_port

pytestmark = pytest.mark.unit

NOTHING_SERVES = "127.0.0.1:9"
EXAMPLE = (
    Path(__file__).resolve().parents[3] / "docs" / "examples" / "UnauthorisedBorderCrossing.json"
)


def _imx(
    args: list[str], tmp_path: Path, stdin: str = "", **env: str
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("IMX_")}
    return subprocess.run(
        [sys.executable, "-m", "imx.cli.main", *args],
        env={**base, "IMX_HOME": str(tmp_path / "home"), **env},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_closed_pipe_is_dropped_not_raised() -> None:
    reader, writer = os.pipe()
    os.close(reader)
    stream = SafeStream(io.TextIOWrapper(os.fdopen(writer, "wb"), write_through=True))
    stream.write("first line\n")
    stream.flush()
    assert stream.broken
    stream.write("later lines go nowhere\n")  # and do not raise either
    stream.flush()
    assert not stream.isatty()


def test_one_line_with_two_errors_is_one_invalid_line(tmp_path: Path) -> None:
    report = json.loads(EXAMPLE.read_text())
    report.update(persons=-1, minors=-2)
    done = _imx(["publish", "--unit", report["reporting_unit"], "-"], tmp_path,
                stdin=json.dumps(report) + "\n", IMX_BOOTSTRAP=NOTHING_SERVES)  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.count("line 1: ") == 2, done.stderr
    assert "imx: 1 invalid line; nothing was published" in done.stderr


def test_empty_input_says_so(tmp_path: Path) -> None:
    done = _imx(["publish", "--unit", "bps-presevo", "-"], tmp_path, stdin="\n\n",
                IMX_BOOTSTRAP=NOTHING_SERVES)  # fmt: skip
    assert done.returncode == 0
    assert "standard input has no report lines: nothing to publish" in done.stderr


def test_a_broker_that_does_not_answer_is_one_line_without_client_noise(tmp_path: Path) -> None:
    line = json.dumps(json.loads(EXAMPLE.read_text())) + "\n"
    done = _imx(["publish", "--unit", "bps-presevo", "-"], tmp_path, stdin=line,
                IMX_BOOTSTRAP=NOTHING_SERVES, IMX_REQUEST_TIMEOUT_S="5")  # fmt: skip
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert lines == [
        f"imx: publishing to ingress.bps-presevo: no Kafka broker answers at {NOTHING_SERVES} "
        "(IMX_BOOTSTRAP); start the local one with 'imx kafka up'"
    ], done.stderr


def test_a_stopped_local_broker_is_named_instead_of_using_whatever_answers(
    tmp_path: Path,
) -> None:
    data = tmp_path / "home" / "kafka" / "data"
    data.mkdir(parents=True)
    (data / "meta.properties").write_text("version=1\ncluster.id=LocalCluster0123\nnode.id=1\n")
    done = _imx(["tail", "gpd-oc", "--max", "1"], tmp_path)  # IMX_BOOTSTRAP left to its default
    assert done.returncode == 1
    assert "the local broker of" in done.stderr
    assert "is stopped: start it with 'imx kafka up'" in done.stderr
    with pytest.raises(CliError, match="is stopped"):
        check_local_broker(tmp_path / "home" / "kafka", Connection(NOTHING_SERVES))
    check_local_broker(tmp_path / "never-made", Connection(NOTHING_SERVES))  # nothing to compare


def test_the_metrics_port_is_kept_after_a_quick_restart() -> None:
    """A port in TIME_WAIT (the worker just stopped) is free for the worker's server again."""
    port = free_port()
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", port))
    server.listen()
    client = socket.create_connection(("127.0.0.1", port))
    accepted, _ = server.accept()
    accepted.close()  # the server side closes first: its end of the connection is in TIME_WAIT
    server.close()
    client.close()
    assert processes.web_port(port) == port
