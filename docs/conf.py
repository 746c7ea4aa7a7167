"""Sphinx configuration of the sb3-sacx documentation: ``sphinx-build -W --keep-going -b html docs docs/_build/html``."""

import inspect
import re
import sys
from pathlib import Path
from typing import Any

from sphinx.application import Sphinx
from sphinx.util import logging

import sb3_sacx

ROOT = Path(__file__).parents[1]

project = "sb3-sacx"
author = "sb3-sacx contributors"
copyright = "2026, sb3-sacx contributors"
release = sb3_sacx.__version__
version = release

extensions = ["sphinx.ext.autodoc", "sphinx.ext.viewcode", "sphinx.ext.mathjax"]
templates_path: list[str] = []
exclude_patterns = ["_build", "_generated"]
html_theme = "sphinx_rtd_theme"
html_title = f"sb3-sacx {release}"

autodoc_default_options = {"members": True, "member-order": "bysource", "show-inheritance": True}
autodoc_typehints = "signature"
# Every cross-reference must resolve: names from outside the package (which the build cannot look up without the
# network) are the only ones exempt
nitpicky = True
nitpick_ignore_regex = [
    (r"py:.*", r"(torch|th|nn|np|numpy|gym|gymnasium|stable_baselines3|optuna|rl_zoo3|collections|typing)\..*"),
    (r"py:.*", r"(Tensor|ndarray|NDArray|Any|Optional|Union|Callable|Sequence|Mapping|Iterable|TypeVar)"),
    (r"py:.*", r"(GymEnv|Schedule|MaybeCallback|PyTorchObs|VecEnv|BasePolicy|ReplayBuffer|ActionNoise|BaseCallback)"),
    (r"py:.*", r"(.*\.)?(Self\w*|T|ObsType|ActType|WrapperObsType|WrapperActType|RenderFrame)"),
    (r"py:.*", r"(callable|optional|default|sequence|array_like|torch|gym|np\.\w+|th\.\w+|spaces\.\w+)"),
    # the standard library, and names in the docstrings that SB3's and torch's overridden methods pass on
    (r"py:.*", r"(abc|io|pathlib|os|enum)\..*"),
    (r"py:mod", r"(?!sb3_sacx).*"),
    (r"py:.*", r"(Module|BaseModel|BaseFeaturesExtractor|FlattenExtractor|NatureCNN|CombinedExtractor)"),
]

_PARAM = re.compile(r"^\s*:param\s+(?:[^:]*\s)?(\*{0,2}\w+)\s*:")
_FIELD = re.compile(r"^\s*:(param|return)")
_logger = logging.getLogger("sb3_sacx.docs")


def check_parameters_documented(app: Sphinx, what: str, name: str, obj: Any, options: Any, lines: list[str]) -> None:
    """
    Warn (an error under ``-W``) when a documented sb3_sacx callable with a docstring of its own leaves a parameter out
    of its ``:param:`` list. A class's parameters are its ``__init__``'s, documented in the class docstring as SB3 does,
    and always checked; a function's or method's once its docstring has a field list (``:param`` or ``:return``): a
    one-paragraph docstring of an internal helper may describe its arguments in prose.
    """
    if what not in ("class", "function", "method") or not getattr(obj, "__module__", "").startswith("sb3_sacx"):
        return
    if what != "method":
        module_name, _, attribute = name.rpartition(".")
        if module_name != obj.__module__ and attribute not in getattr(sys.modules[module_name], "__all__", ()):
            return  # an imported name that autodoc looks at but does not document here
    if what == "class" and "__init__" not in vars(obj):
        return  # the parameters are those of the base class, documented there
    function = obj.__init__ if what == "class" else obj
    own_doc = obj.__doc__ if what == "class" else getattr(inspect.unwrap(function), "__doc__", None)
    if not own_doc or (what == "class" and function is object.__init__):
        return
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return
    if what != "class" and not any(map(_FIELD.match, lines)):
        return
    documented = {match.group(1).lstrip("*") for match in map(_PARAM.match, lines) if match}
    for parameter in parameters:
        if parameter.name in ("self", "cls") or parameter.name.startswith("_"):
            continue
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        if parameter.name not in documented:
            _logger.warning(f"{name}: parameter {parameter.name!r} is not documented")


def setup(app: Sphinx) -> None:
    app.connect("autodoc-process-docstring", check_parameters_documented)
