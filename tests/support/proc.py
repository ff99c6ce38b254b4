"""Running ``imx`` as a subprocess in tests, always bounded in time."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence

IMX = [sys.executable, "-m", "imx.cli.main"]


def run_imx(
    args: Sequence[str],
    env: dict[str, str],
    *,
    stdin: str | None = None,
    timeout: float = 120.0,
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*IMX, *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
