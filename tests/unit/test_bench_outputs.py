"""What imx bench reads from the operating system about the worker (bench/outputs.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from imx.bench.outputs import cpu_seconds, peak_rss_bytes, quantile

pytestmark = pytest.mark.unit

TICK = os.sysconf("SC_CLK_TCK")


def _process(
    proc: Path, pid: int, name: str, *, group: int, ticks: tuple[int, int], hwm_kb: int
) -> None:
    entry = proc / str(pid)
    entry.mkdir()
    # stat: pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime
    # stime ...; the command name may hold spaces and parentheses
    utime, stime = ticks
    after = ["S", "1", str(group), "1", "0", "-1", "0", "0", "0", "0", "0", str(utime),
             str(stime), "0", "0"]  # fmt: skip
    (entry / "stat").write_text(f"{pid} ({name}) {' '.join(after)}\n")
    (entry / "status").write_text(f"Name:\t{name}\nVmHWM:\t{hwm_kb} kB\nVmRSS:\t1 kB\n")


@pytest.fixture
def proc(tmp_path: Path) -> Path:
    _process(
        tmp_path, 100, "python -m imx (worker)", group=100, ticks=(3 * TICK, TICK), hwm_kb=2048
    )
    _process(tmp_path, 101, "rocksdb:low", group=100, ticks=(TICK, 0), hwm_kb=1024)
    _process(tmp_path, 200, "java", group=200, ticks=(50 * TICK, 0), hwm_kb=1)  # another group
    (tmp_path / "self").mkdir()
    return tmp_path


def test_cpu_time_sums_user_and_system_over_the_group(proc: Path) -> None:
    assert cpu_seconds(100, proc) == pytest.approx(5.0)
    assert cpu_seconds(300, proc) == 0.0


def test_peak_memory_sums_over_the_group(proc: Path) -> None:
    assert peak_rss_bytes(100, proc) == 3072 * 1024


def test_quantile_is_a_value_that_was_observed() -> None:
    assert quantile([3.0, 1.0, 2.0], 0.5) == 2.0
    assert quantile([], 0.99) == 0.0
