"""The shipped files: one lookup, the checkout as the source, pyproject's mapping in step."""

from __future__ import annotations

import tomllib

import pytest

import imx
from imx import resources
from imx.cli.main import main
from imx.settings import Settings

pytestmark = pytest.mark.unit

PYPROJECT = resources.CHECKOUT / "pyproject.toml"


def _pyproject() -> dict[str, object]:
    return tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))


def test_the_wheel_maps_exactly_the_shipped_paths_under_package_data() -> None:
    wheel = _pyproject()["tool"]["hatch"]["build"]["targets"]["wheel"]  # type: ignore[index]
    mapping: dict[str, str] = wheel["force-include"]
    assert sorted(mapping) == sorted(resources.SHIPPED)
    for source, target in mapping.items():
        assert target == f"imx/{resources.PACKAGE_DATA}/{source}"
        assert (resources.CHECKOUT / source).exists(), source


def test_a_checkout_answers_with_its_own_folders() -> None:
    assert resources.in_checkout()
    assert resources.data_path("schemas") == resources.CHECKOUT / "schemas"
    assert resources.data_path("deploy/registry/units.json").is_file()
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.schemas_dir == resources.CHECKOUT / "schemas"
    assert settings.home == resources.CHECKOUT / ".imx"


@pytest.mark.parametrize("relative", ["docs/operations.md", "deploy", "schemas-old", "README.md"])
def test_anything_not_shipped_is_refused(relative: str) -> None:
    with pytest.raises(resources.ResourceError, match="not shipped"):
        resources.data_path(relative)


def test_a_shipped_name_that_is_missing_says_the_installation_is_incomplete() -> None:
    with pytest.raises(resources.ResourceError, match="incomplete"):
        resources.data_path("schemas/NoSuchType.avsc")


def test_the_version_is_written_once_and_printed(capsys: pytest.CaptureFixture[str]) -> None:
    assert _pyproject()["project"]["dynamic"] == ["version"]  # type: ignore[index]
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.strip() == f"imx {imx.__version__}"
