"""The package's metadata against what its dependencies need."""

import re
from importlib.metadata import metadata
from pathlib import Path

import pytest
from packaging.specifiers import SpecifierSet

PYPROJECT = Path(__file__).parents[1] / "pyproject.toml"
PYTHON_MINORS = [f"3.{minor}" for minor in range(8, 16)]


def allowed_minors(requires_python: str) -> list[str]:
    return [version for version in PYTHON_MINORS if version in SpecifierSet(requires_python)]


def pyproject_setting(name: str) -> str:
    (value,) = re.findall(rf'^{name} = "([^"]+)"', PYPROJECT.read_text(), flags=re.MULTILINE)
    return value


@pytest.mark.parametrize("dependency", ["torch", "stable_baselines3", "gymnasium"])
def test_every_python_the_package_accepts_its_core_dependencies_accept(dependency: str) -> None:
    # The installed versions (torch 2.13, SB3 2.9, gymnasium 1.4 need 3.10): the package must not claim a Python on
    # which the dependencies it is tested with do not install (the learner review's finding 10)
    ours = allowed_minors(pyproject_setting("requires-python"))
    theirs = allowed_minors(metadata(dependency)["Requires-Python"])
    assert ours and set(ours) <= set(theirs), (dependency, ours, theirs)


def test_ruff_targets_the_oldest_python_the_package_accepts() -> None:
    target = pyproject_setting("target-version")
    assert f"py{allowed_minors(pyproject_setting('requires-python'))[0].replace('.', '')}" == target
