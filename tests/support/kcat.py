"""Debian's kcat on a librdkafka that can authenticate to Kafka 4.

Debian 12's kcat (1.7.1) links librdkafka 2.0.2, whose SCRAM handshake Kafka 4 refuses
(librdkafka fixed it in 2.6.1). librdkafka keeps its ABI within ``librdkafka.so.1``, so the same
kcat runs on the newer librdkafka that confluent-kafka's wheel (a test dependency) bundles,
loaded through ``LD_LIBRARY_PATH``: nothing is built or downloaded. The check that kcat really
runs on it is ``kcat -V``, whose banner names the librdkafka it loaded.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import confluent_kafka

#: The first librdkafka whose SCRAM works against Kafka 4.
SCRAM_FIXED = (2, 6, 1)


def kcat_binary() -> str:
    kcat = shutil.which("kcat")
    assert kcat, "kcat is not installed (make setup installs Debian's kcat)"
    return kcat


def bundled_librdkafka() -> Path:
    """The librdkafka shipped in confluent-kafka's wheel (``confluent_kafka.libs``)."""
    libs = Path(confluent_kafka.__file__).resolve().parent.parent / "confluent_kafka.libs"
    found = sorted(libs.glob("librdkafka-*.so.1"))
    assert found, f"no librdkafka in {libs}: is confluent-kafka installed from its wheel?"
    return found[0]


def kcat_env(workdir: Path) -> dict[str, str]:
    """The environment that makes ``kcat`` load the bundled librdkafka (checked with -V)."""
    libdir = workdir / "librdkafka"
    libdir.mkdir(parents=True, exist_ok=True)
    link = libdir / "librdkafka.so.1"
    if not link.exists():
        link.symlink_to(bundled_librdkafka())
    env = {**os.environ, "LD_LIBRARY_PATH": str(libdir)}
    banner = subprocess.run(
        [kcat_binary(), "-V"], env=env, capture_output=True, text=True, timeout=30, check=False
    ).stdout
    version = re.search(r"librdkafka (\d+)\.(\d+)\.(\d+)", banner)
    assert version, f"kcat -V names no librdkafka:\n{banner}"
    loaded = tuple(int(part) for part in version.groups())
    assert loaded >= SCRAM_FIXED, f"kcat loaded librdkafka {loaded}, not the bundled one:\n{banner}"
    return env
