"""The files imx ships besides its code, found the same way in a checkout and in an installed wheel.

The checkout's top-level folders (``schemas/``, ``deploy/registry/``, ``deploy/prometheus/rules/``,
``deploy/grafana/dashboards/``, ``deploy/kafka/pom.xml``) are the single source of truth. A built
wheel carries them as package data under ``imx/_data/`` with the same relative paths (the
``force-include`` table of ``pyproject.toml`` maps them at build time, so nothing is committed
twice). An editable install has no ``_data``: there the checkout itself is the answer.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

#: Where a checkout's top-level folders are when this module runs from ``services/imx``.
CHECKOUT = Path(__file__).resolve().parents[2]
PACKAGE_DATA = "_data"

#: Every checkout path the wheel carries (kept in step with pyproject's force-include).
SHIPPED = (
    "schemas",
    "deploy/registry",
    "deploy/prometheus/rules",
    "deploy/grafana/dashboards",
    "deploy/kafka/pom.xml",
)


class ResourceError(FileNotFoundError):
    """A shipped file is neither in the package nor in a checkout."""


def packaged_root() -> Path | None:
    """``imx/_data`` of an installed wheel, or None (an editable install or a checkout)."""
    root = resources.files("imx") / PACKAGE_DATA
    return Path(str(root)) if root.is_dir() else None


def in_checkout() -> bool:
    """Whether imx runs from a source checkout (an editable install) rather than a wheel."""
    return packaged_root() is None and (CHECKOUT / "pyproject.toml").is_file()


def data_path(relative: str) -> Path:
    """The shipped file or folder at ``relative`` (a checkout path, e.g. ``"schemas"``)."""
    if not any(relative == s or relative.startswith(f"{s}/") for s in SHIPPED):
        msg = f"{relative!r} is not shipped with imx (see imx.resources.SHIPPED)"
        raise ResourceError(msg)
    packaged = packaged_root()
    path = (packaged if packaged is not None else CHECKOUT) / relative
    if not path.exists():
        msg = f"{relative} not found at {path}: the installation is incomplete"
        raise ResourceError(msg)
    return path


def default_home() -> Path:
    """Runtime data: ``.imx`` in a checkout, else the user's state folder (XDG)."""
    if in_checkout():
        return CHECKOUT / ".imx"
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "imx"
