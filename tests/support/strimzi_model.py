"""Strimzi resources checked against Strimzi's own Java model (``tests/support/strimzi-validate``).

The validator is a small Maven project: it is built once into a cache outside the checkout,
keyed by the hash of its files, so a warm run costs one JVM start. A missing ``java`` or
``mvn`` fails the test with what to install; it never skips.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parent / "strimzi-validate"
CACHE = Path.home() / ".cache" / "imx" / "strimzi-validate"
JAR = "strimzi-validate.jar"
#: A cold build resolves the Strimzi model, Jackson and the plugins from Maven Central.
BUILD_TIMEOUT_S = 600
RUN_TIMEOUT_S = 120


def strimzi_version() -> str:
    """The ``io.strimzi:api`` version the validator is built against (from its pom)."""
    found = re.search(r"<strimzi\.version>([^<]+)</strimzi\.version>", _pom())
    assert found, f"{PROJECT / 'pom.xml'} pins no strimzi.version"
    return found.group(1)


def _pom() -> str:
    return (PROJECT / "pom.xml").read_text(encoding="utf-8")


def _digest() -> str:
    sha = hashlib.sha256()
    # Sources only: a target/ left by building the folder by hand is not part of the tool.
    sources = [PROJECT / "pom.xml", *(PROJECT / "src").rglob("*")]
    for path in sorted(p for p in sources if p.is_file()):
        sha.update(path.relative_to(PROJECT).as_posix().encode() + b"\0")
        sha.update(path.read_bytes() + b"\0")
    return sha.hexdigest()[:16]


def _must_have(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.fail(f"{tool} is not installed: run 'make setup'", pytrace=False)
    return path


def _bounded(argv: Sequence[str], timeout_s: float) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` in its own process group, killed whole on timeout (mvn forks)."""
    process = subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = process.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
        pytest.fail(f"{argv[0]} took over {timeout_s}s: {' '.join(argv)}", pytrace=False)
    return subprocess.CompletedProcess(argv, process.returncode, out, err)


def validator_jar() -> Path:
    """The validator's runnable jar, built with Maven on first use of this version of it."""
    _must_have("java")
    mvn = _must_have("mvn")
    built = CACHE / f"{strimzi_version()}-{_digest()}" / JAR
    if built.is_file():
        return built
    built.parent.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=built.parent.parent, prefix="build-") as work:
        # Maven builds a copy: its target/ stays out of the checkout.
        copy = Path(work) / "project"
        shutil.copytree(PROJECT, copy)
        done = _bounded([mvn, "-q", "-B", "-f", str(copy / "pom.xml"), "package"], BUILD_TIMEOUT_S)
        jar = copy / "target" / JAR
        output = done.stdout + done.stderr
        assert done.returncode == 0, f"mvn package of {PROJECT} failed:\n{output[-4000:]}"
        assert jar.is_file(), f"mvn package made no {jar}:\n{output[-4000:]}"
        staged = Path(work) / "staged"
        staged.mkdir()
        shutil.copyfile(jar, staged / JAR)
        try:
            staged.rename(built.parent)
        except OSError:
            # Another run finished the same build first; its jar is the same.
            assert built.is_file(), f"could not place the validator at {built}"
    return built


def validate(paths: Sequence[Path]) -> subprocess.CompletedProcess[str]:
    """Run the validator on files or folders; exit 0 when every Strimzi resource is valid."""
    java = _must_have("java")
    return _bounded([java, "-jar", str(validator_jar()), *map(str, paths)], RUN_TIMEOUT_S)
