"""Load the project's scripts (``benchmarks/``, ``examples/``) as modules, as the tests of their functions need."""

import importlib.util
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).parents[1]
BENCHMARKS = ROOT / "benchmarks"
EXAMPLES = ROOT / "examples"


def load_script(path: Path) -> ModuleType:
    """
    Import a script by its path, under its file's stem.

    :param path: the script's ``.py`` file.
    :return: the executed module.
    """
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None, f"cannot import {path}"
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
