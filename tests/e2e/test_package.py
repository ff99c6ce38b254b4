"""The built package on its own: a wheel installed into a fresh venv, used from another folder.

`python -m build` makes the sdist and, from it, the wheel; the wheel goes into a new virtual
environment outside the checkout (its dependencies from the package index pip is configured
with), and the installed `imx` runs the schema gate, a local broker, provisioning and the main
job from a folder that is not the checkout, with its own IMX_HOME and a free port. Everything
it started is stopped: `imx kafka down`, then any process still naming the home is killed.
`imx run` gets a home and port of its own, so it starts the broker it runs on.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import time
import venv
import zipfile
from pathlib import Path

import pytest

import imx
from imx import resources
from imx.kafka.localbroker import free_port
from tests.support.proc import kill_all, processes_mentioning

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

BUILD_TIMEOUT_S = 180.0
INSTALL_TIMEOUT_S = 300.0
STEP_TIMEOUT_S = 180.0
RUN_TIMEOUT_S = 300.0


def _run(argv: list[str], env: dict[str, str], cwd: Path, timeout: float) -> str:
    done = subprocess.run(
        argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, f"{argv} exited {done.returncode}:\n{done.stderr[-3000:]}"
    return done.stdout


def _shipped_in(names: list[str], root: str) -> None:
    for relative in resources.SHIPPED:
        assert any(n == f"{root}{relative}" or n.startswith(f"{root}{relative}/") for n in names), (
            f"{relative} missing under {root or 'the archive root'}"
        )


def test_the_wheel_installed_elsewhere_runs_the_exchange(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    base = {k: v for k, v in os.environ.items() if not k.startswith(("IMX_", "VIRTUAL_ENV"))}
    started = time.monotonic()
    _run(
        [sys.executable, "-m", "build", "--outdir", str(dist), str(resources.CHECKOUT)],
        base,
        tmp_path,
        BUILD_TIMEOUT_S,
    )
    (wheel,) = dist.glob("imx-*.whl")
    (sdist,) = dist.glob("imx-*.tar.gz")
    assert wheel.name == f"imx-{imx.__version__}-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as archive:
        _shipped_in(archive.namelist(), f"imx/{resources.PACKAGE_DATA}/")
    with tarfile.open(sdist) as archive:
        _shipped_in(archive.getnames(), f"imx-{imx.__version__}/")
    built = time.monotonic()

    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    bin_dir = env_dir / "bin"
    _run(
        [str(bin_dir / "python"), "-m", "pip", "install", "-q", str(wheel)],
        base,
        tmp_path,
        INSTALL_TIMEOUT_S,
    )
    installed = time.monotonic()

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    home = tmp_path / "home"
    port = free_port()
    env = {**base, "PATH": f"{bin_dir}{os.pathsep}{base.get('PATH', '')}"}
    env.update(IMX_HOME=str(home), IMX_BOOTSTRAP=f"127.0.0.1:{port}", IMX_WEB_PORT=str(free_port()))
    if "IMX_JAR_CACHE" in os.environ:
        env["IMX_JAR_CACHE"] = os.environ["IMX_JAR_CACHE"]
    imx_bin = str(bin_dir / "imx")
    try:
        assert _run([imx_bin, "--version"], env, elsewhere, 30).strip() == (
            f"imx {imx.__version__}"
        )
        where = _run(
            [
                str(bin_dir / "python"),
                "-c",
                "from imx import resources as r; print(r.packaged_root())",
            ],
            env,
            elsewhere,
            30,
        )
        assert where.strip().startswith(str(env_dir)), "the installed imx must use its own data"
        assert "compatible" in _run([imx_bin, "schemas", "check"], env, elsewhere, STEP_TIMEOUT_S)
        up = _run([imx_bin, "kafka", "up", "--port", str(port)], env, elsewhere, STEP_TIMEOUT_S)
        assert f"bootstrap=127.0.0.1:{port}" in up
        ensured = _run([imx_bin, "topics", "ensure"], env, elsewhere, STEP_TIMEOUT_S)
        assert " 0 mismatched" in ensured, ensured
        # The main job on a home and port of its own: it starts (and stops) its own broker.
        run_env = {
            **env,
            "IMX_HOME": str(home / "run"),
            "IMX_BOOTSTRAP": f"127.0.0.1:{free_port()}",
        }
        summary = _run([imx_bin, "run", "--duration", "30"], run_env, elsewhere, RUN_TIMEOUT_S)
        assert "imx run: summary" in summary
    finally:
        subprocess.run(
            [imx_bin, "kafka", "down"],
            env=env,
            cwd=elsewhere,
            capture_output=True,
            timeout=STEP_TIMEOUT_S,
            check=False,
        )
        leftovers = processes_mentioning(f"IMX_HOME={home}")
        kill_all(leftovers)  # whatever a failed run left, so the session goes on clean
    assert leftovers == set(), f"processes of the installed imx still alive: {leftovers}"
    assert not (elsewhere / ".imx").exists(), "runtime data must go to IMX_HOME"
    print(
        f"build {built - started:.0f} s, install {installed - built:.0f} s, "
        f"run {time.monotonic() - installed:.0f} s"
    )
