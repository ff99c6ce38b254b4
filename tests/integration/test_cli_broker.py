"""What the command line says about the broker it talks to (real broker)."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

from imx.cli.common import CliError, check_local_broker
from imx.kafka.connection import Connection
from imx.kafka.topology import Topology

pytestmark = pytest.mark.integration


def test_waiting_on_a_terminal_says_for_what_and_how_to_stop(
    cli_env: dict[str, str], topology: Topology
) -> None:
    main, side = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "imx.cli.main", "tail", "gpd-oc", "--idle-timeout", "2"],
        env=cli_env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=side,
    )
    os.close(side)
    seen = b""
    try:
        assert process.wait(timeout=60) == 0
        while select.select([main], [], [], 0.5)[0]:
            try:
                chunk = os.read(main, 4096)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
    finally:
        os.close(main)
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
    text = seen.decode()
    assert f"waiting for records on {topology.feed('gpd-oc')} (for 2 s idle)" in text
    assert "Ctrl-C to stop" in text


def test_off_a_terminal_it_waits_without_a_word(
    cli_env: dict[str, str], topology: Topology
) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "imx.cli.main", "dlq", "--idle-timeout", "1"],
        env=cli_env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stderr == "", "a pipe reader gets records only"


def test_another_cluster_on_the_local_brokers_port_is_refused(
    connection: Connection, tmp_path: Path
) -> None:
    home = tmp_path / "kafka"
    (home / "data").mkdir(parents=True)
    (home / "data" / "meta.properties").write_text("version=1\ncluster.id=NotThisCluster00\n")
    (home / "kafka.pid").write_text(str(os.getpid()))  # a live process, as if it ran
    started = time.monotonic()
    with pytest.raises(CliError, match=r"is not the local broker of .* \(NotThisCluster00\)"):
        check_local_broker(home, connection)
    assert time.monotonic() - started < 15
