"""
The documentation site builds without a warning, and every public name of the package is documented in it.

The build is Sphinx's with warnings as errors (``-W --keep-going``): a broken reference, a docstring that does not
parse or a parameter missing from a docstring's ``:param:`` list (``docs/conf.py`` checks it) fails it.
"""

import importlib
import inspect
import pkgutil
import re
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

import sb3_sacx

DOCS = Path(__file__).parents[1] / "docs"
# The modules the site documents, each on a page of its own (docs/modules/sacx.rst, docs/common/*.rst)
PUBLIC_MODULES = (
    "sb3_sacx",
    "sb3_sacx.sacx",
    "sb3_sacx.retrace",
    "sb3_sacx.rewards",
    "sb3_sacx.intentions",
    "sb3_sacx.schedulers",
    "sb3_sacx.wrappers",
    "sb3_sacx.tasks",
    "sb3_sacx.tasks.lunar_lander",
    "sb3_sacx.tasks.mountain_car",
    "sb3_sacx.buffers",
    "sb3_sacx.policies",
    "sb3_sacx.heads",
    "sb3_sacx.hardware",
    "sb3_sacx.checkpoints",
    "sb3_sacx.errors",
    "sb3_sacx.zoo",
    "sb3_sacx.zoo.cli",
    "sb3_sacx.zoo.hyperparams_opt",
    "sb3_sacx.zoo.wrappers",
)
# Modules that are not part of the API, and why
INTERNAL_MODULES = {
    "sb3_sacx.checks": "checks of one value, which sb3_sacx.validation's rules and the schedulers use",
    "sb3_sacx.validation": "the rules behind SACX's errors, which the docs describe where the arguments are",
    "sb3_sacx.logs": "the writing of the log keys that the SACX page lists",
    "sb3_sacx.zoo.__main__": "the `python -m sb3_sacx.zoo` entry point",
}


@pytest.fixture(scope="module")
def built_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("sphinx", reason="sphinx is not installed: install the docs extra (pip install -e '.[docs]')")
    pytest.importorskip("sphinx_rtd_theme", reason="sphinx_rtd_theme is not installed: install the docs extra")
    out = tmp_path_factory.mktemp("docs") / "html"
    completed = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", str(DOCS), str(out)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert completed.returncode == 0, f"the documentation build failed:\n{completed.stderr}"
    return out


def inventory(site: Path) -> set[str]:
    """Names of the Python objects in the site's ``objects.inv``."""
    data = (site / "objects.inv").read_bytes()
    body = zlib.decompress(data.split(b"\n", 4)[4]).decode()
    return {line.split(" ", 1)[0] for line in body.splitlines() if " py:" in line}


def public_names(module_name: str) -> dict[str, object]:
    """A module's ``__all__``, or its own public classes and functions when it has none."""
    module = importlib.import_module(module_name)
    if hasattr(module, "__all__"):
        return {name: getattr(module, name) for name in module.__all__ if name != "__version__"}
    return {
        name: obj
        for name, obj in vars(module).items()
        if not name.startswith("_") and (inspect.isclass(obj) or inspect.isfunction(obj)) and obj.__module__ == module_name
    }


def public_methods(cls: type) -> dict[str, object]:
    """Methods and properties a class of the package defines itself."""
    return {
        name: getattr(cls, name)
        for name, attribute in vars(cls).items()
        if not name.startswith("_")
        and (inspect.isfunction(attribute) or isinstance(attribute, (property, classmethod, staticmethod)))
    }


def documented_paths(module_name: str, name: str, obj: object) -> set[str]:
    """The names under which ``obj`` may appear in the inventory: where it is exported and where it is defined."""
    paths = {f"{module_name}.{name}"}
    if inspect.isclass(obj) or inspect.isfunction(obj):
        paths.add(f"{obj.__module__}.{obj.__qualname__}")
    paths |= {f"{other}.{name}" for other in PUBLIC_MODULES if getattr(sys.modules.get(other), name, None) is obj}
    return paths


def test_every_module_is_public_or_internal() -> None:
    modules = {
        info.name
        for info in pkgutil.walk_packages(sb3_sacx.__path__, "sb3_sacx.")
        if not info.name.rsplit(".", 1)[1].startswith("_") or info.name.endswith("__main__")
    }
    unclassified = modules - set(PUBLIC_MODULES) - set(INTERNAL_MODULES)
    assert not unclassified, (
        f"new modules {sorted(unclassified)}: give each a page in docs/ (an automodule directive) and add it to "
        "PUBLIC_MODULES, or say why it is internal in INTERNAL_MODULES"
    )


@pytest.mark.parametrize("module_name", PUBLIC_MODULES)
def test_public_names_have_docstrings(module_name: str) -> None:
    module = importlib.import_module(module_name)
    missing = [] if inspect.getdoc(module) else [module_name]
    for name, obj in public_names(module_name).items():
        if inspect.isclass(obj) or inspect.isfunction(obj):
            if not inspect.getdoc(obj):
                missing.append(f"{module_name}.{name}")
            if inspect.isclass(obj) and obj.__module__.startswith("sb3_sacx"):
                missing += [
                    f"{module_name}.{name}.{method}" for method, o in public_methods(obj).items() if not inspect.getdoc(o)
                ]
    assert not missing, f"public names without a docstring: {missing}"


def test_public_names_are_in_the_site(built_site: Path) -> None:
    documented = inventory(built_site)
    missing = []
    for module_name in PUBLIC_MODULES:
        if module_name not in documented:
            missing.append(module_name)
        for name, obj in public_names(module_name).items():
            paths = documented_paths(module_name, name, obj)
            if not paths & documented:
                missing.append(f"{module_name}.{name}")
            elif inspect.isclass(obj) and obj.__module__.startswith("sb3_sacx"):
                for method in public_methods(obj):
                    if not {f"{path}.{method}" for path in paths} & documented:
                        missing.append(f"{module_name}.{name}.{method}")
    assert not missing, f"public names missing from the documentation (docs/objects.inv): {missing}"


def test_site_shows_the_generated_tables(built_site: Path) -> None:
    benchmarks = (built_site / "misc" / "benchmarks.html").read_text()
    headline = (DOCS / "_generated" / "headline.rst").read_text()
    run = headline.split("``")[3]  # the first row's run
    assert f'<code class="docutils literal notranslate"><span class="pre">{run}</span></code>' in benchmarks
    assert "success_continuous.png" in benchmarks
    assert (built_site / "modules" / "sacx.html").exists()


def test_readme_links_resolve() -> None:
    """Every relative link and image of the README (its plots, the docs pages it points to) is a file of the repository."""
    root = DOCS.parent
    targets = re.findall(r"\]\(([^)#\s]+)\)", (root / "README.md").read_text())
    local = [target for target in targets if "://" not in target]
    assert any(target.endswith(".png") for target in local), "the README shows no plot"
    assert not [target for target in local if not (root / target).exists()]
