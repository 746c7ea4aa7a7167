"""
``python -m sb3_sacx.zoo``: rl-zoo3's scripts with SACX registered.

The command line is rl-zoo3's, with four defaults changed for SACX: ``--algo sacx``; for ``train``
with ``--algo sacx``, ``--conf-file`` is this package's ``sacx.yml``; for ``enjoy`` and
``record_video``, ``--folder logs`` (where ``train`` writes, instead of the Hugging Face hub's
agents, which have no SACX). Env ids may be written ``module:EnvId``; the env is checked before
rl-zoo3 starts, so that an unknown one gets a clear message instead of a traceback.
"""

import difflib
import importlib
import runpy
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Optional

import gymnasium as gym
import yaml

from sb3_sacx.errors import USAGE_EXIT_STATUS, ZooCommandError
from sb3_sacx.tasks import SPARSE_LUNAR_LANDER_IDS, SPARSE_MOUNTAIN_CAR_ID
from sb3_sacx.zoo.hyperparams_opt import ALGO_NAME

#: How to install what the entry point needs.
ZOO_INSTALL_COMMAND = 'pip install "sb3-sacx[zoo]"'

#: Sub-commands: name -> (rl-zoo3 module to import, help).
COMMANDS: dict[str, tuple[str, str]] = {
    "train": ("rl_zoo3.train", "train an agent, or tune its hyperparameters with -optimize (Optuna)"),
    "enjoy": ("rl_zoo3.enjoy", "replay a trained agent"),
    "record_video": ("rl_zoo3.record_video", "record a video of a trained agent"),
    "plot_train": ("rl_zoo3.plots.plot_train", "plot training curves"),
    "plot_from_file": ("rl_zoo3.plots.plot_from_file", "plot results saved by all_plots"),
    "all_plots": ("rl_zoo3.plots.all_plots", "plot evaluation results of several runs"),
}

#: Sub-commands that load or train an agent on an env (``--algo`` and ``--env`` options).
_AGENT_COMMANDS = ("train", "enjoy", "record_video")


def default_conf_file() -> str:
    """
    Path of the SACX hyperparameter file used when ``train`` is given no ``--conf-file``.

    :return: The ``sacx.yml`` shipped in the package (in a source checkout, a link to ``zoo_hyperparams/sacx.yml``).
    """
    return str(Path(__file__).resolve().parent / "hyperparams" / "sacx.yml")


def missing_rl_zoo_message(error: ImportError) -> str:
    """
    Message for a missing rl-zoo3 (or one of the modules its scripts import).

    :param error: The error raised when importing rl-zoo3.
    :return: What is missing and the command that installs it.
    """
    missing = f"'{error.name}'" if error.name else "a module it needs"
    return (
        f"python -m sb3_sacx.zoo needs rl-zoo3 and its dependencies, but {missing} could not be imported ({error}).\n"
        f"rl-zoo3 is an optional dependency of sb3-sacx; install it with:\n    {ZOO_INSTALL_COMMAND}"
    )


def usage() -> str:
    """
    :return: The entry point's help text.
    """
    lines = [
        "usage: python -m sb3_sacx.zoo COMMAND [rl-zoo3 options]",
        "",
        "rl-zoo3's scripts with the SACX algorithm ('--algo sacx', the default) registered.",
        "Every rl-zoo3 option works; see 'python -m sb3_sacx.zoo COMMAND --help'.",
        "",
        "commands:",
    ]
    lines += [f"  {name:<15} {text}" for name, (_, text) in COMMANDS.items()]
    lines += [
        "",
        "example:",
        "  python -m sb3_sacx.zoo train --env SparseLunarLanderContinuous-v0 -n 300000",
        "  python -m sb3_sacx.zoo enjoy --env SparseLunarLanderContinuous-v0 -n 2000",
    ]
    return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """
    Run an rl-zoo3 script with SACX registered.

    :param argv: ``[COMMAND, *options]``; ``sys.argv[1:]`` when ``None``.
    :return: Exit status.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(usage())
        return 0 if args else USAGE_EXIT_STATUS
    command, options = args[0], args[1:]
    try:
        if command not in COMMANDS:
            raise ZooCommandError(f"unknown command {command!r}; choose one of: {', '.join(COMMANDS)}\n\n{usage()}")
        run = _load_command(command)
        if command in _AGENT_COMMANDS and not _wants_help(options):
            options = _prepare_options(command, options)
    except ZooCommandError as error:
        print(f"python -m sb3_sacx.zoo {command}: error: {error}", file=sys.stderr)
        return error.exit_code

    saved_argv = sys.argv
    # rl-zoo3's scripts parse sys.argv; the program name shows in their --help
    sys.argv = [f"python -m sb3_sacx.zoo {command}", *options]
    try:
        run()
    finally:
        sys.argv = saved_argv
    return 0


def _load_command(command: str) -> Callable[[], None]:
    """
    Import rl-zoo3, register SACX and return the sub-command's function.

    :param command: A key of :data:`COMMANDS`.
    :return: A function that runs the script on ``sys.argv``.
    :raises ZooCommandError: when rl-zoo3 or one of its dependencies is missing.
    """
    module_name = COMMANDS[command][0]
    try:
        # rl-zoo3 first: an ImportError here is a missing optional dependency, not a bug of sb3-sacx
        importlib.import_module("rl_zoo3")
        if command != "record_video":
            # record_video is a script: it only runs as __main__
            importlib.import_module(module_name)
        if command == "enjoy":
            # rl-zoo3's enjoy imports requests without declaring it
            importlib.import_module("requests")
    except ImportError as error:
        raise ZooCommandError(missing_rl_zoo_message(error), exit_code=1) from error

    from sb3_sacx.zoo._rl_zoo import register_sacx

    register_sacx()
    if command == "record_video":
        return lambda: runpy.run_module(module_name, run_name="__main__", alter_sys=True)
    function_name = module_name.rsplit(".", 1)[-1]
    return getattr(sys.modules[module_name], function_name)


def _wants_help(options: Sequence[str]) -> bool:
    return any(option in ("-h", "--help") for option in options)


def _prepare_options(command: str, options: list[str]) -> list[str]:
    """
    Apply the SACX defaults and check the env, before handing the options to rl-zoo3.

    :param command: ``train``, ``enjoy`` or ``record_video``.
    :param options: The command's options.
    :return: The options rl-zoo3 gets.
    :raises ZooCommandError: for an unknown env, an env without SACX hyperparameters or a module that cannot be imported.
    """
    options = list(options)
    algo = _option_value(options, ("--algo",))
    if algo is None:
        options += ["--algo", ALGO_NAME]
        algo = ALGO_NAME

    # --gym-packages first: they may register the env
    for module in _option_values(options, ("--gym-packages",)):
        _import_env_module(module)

    env_id = _option_value(options, ("--env",))
    if env_id is not None:
        # rl-zoo3 takes the id as a key of gymnasium's registry (a "module:" prefix breaks it):
        # import the module, pass the plain id. SubprocVecEnv workers still find the env, because
        # rl-zoo3 sends them the env's spec, not its id.
        module, separator, plain_id = env_id.rpartition(":")
        if separator:
            _import_env_module(module)
            _set_option_value(options, ("--env",), plain_id)
            env_id = plain_id
        _check_env_registered(env_id)

    if command == "train" and algo == ALGO_NAME:
        conf_file = _option_value(options, ("-conf", "--conf-file"))
        if conf_file is None:
            conf_file = default_conf_file()
            options += ["--conf-file", conf_file]
        _check_conf_has_env(conf_file, env_id if env_id is not None else "CartPole-v1")
    if command in ("enjoy", "record_video") and _option_value(options, ("-f", "--folder")) is None:
        options += ["--folder", "logs"]
    return options


def _import_env_module(module: str) -> None:
    try:
        importlib.import_module(module)
    except ImportError as error:
        raise ZooCommandError(f"cannot import {module!r}, the module named to register the env: {error}") from error


def _check_env_registered(env_id: str) -> None:
    """
    :param env_id: A gymnasium id without ``module:`` prefix.
    :raises ZooCommandError: when gymnasium does not know it, suggesting the closest ids.
    """
    if env_id in gym.registry:
        return
    close = difflib.get_close_matches(env_id, list(gym.registry), n=3)
    hint = f" Did you mean {' or '.join(repr(name) for name in close)}?" if close else ""
    raise ZooCommandError(
        f"unknown environment {env_id!r}: no gymnasium env is registered under that id.{hint}\n"
        f"sb3-sacx registers {', '.join([*SPARSE_LUNAR_LANDER_IDS, SPARSE_MOUNTAIN_CAR_ID])}. An env of another package needs "
        "that package imported first: --gym-packages MODULE, or --env MODULE:ENV_ID."
    )


def _check_conf_has_env(conf_file: str, env_id: str) -> None:
    """
    :param conf_file: The ``--conf-file`` given to ``train``.
    :param env_id: The env to train on.
    :raises ZooCommandError: when a YAML config file is missing, or has neither an entry for the env nor a ``default``.
    """
    if not conf_file.endswith((".yml", ".yaml")):
        # A Python file or package: rl-zoo3 reads it
        return
    path = Path(conf_file)
    if not path.is_file():
        raise ZooCommandError(f"hyperparameter file {conf_file!r} not found")
    entries = yaml.safe_load(path.read_text()) or {}
    if env_id not in entries and "default" not in entries:
        raise ZooCommandError(
            f"no SACX hyperparameters for {env_id!r} in {conf_file} (it has {', '.join(map(repr, entries))}).\n"
            "Add an entry for it to a copy of that file and pass it with --conf-file; SACX needs the env wrapped "
            "in sb3_sacx.AuxRewardWrapper, which an entry's env_wrapper can do (see its Pendulum-v1 entry)."
        )


def _find_option(options: Sequence[str], names: Sequence[str]) -> Optional[tuple[int, bool]]:
    """
    Last occurrence of an option (argparse keeps the last one).

    :param options: Command-line tokens.
    :param names: The option's spellings, e.g. ``("-conf", "--conf-file")``.
    :return: ``(index, inline)``, ``inline`` for the ``--name=value`` form; ``None`` when absent.
    """
    found = None
    for index, token in enumerate(options):
        if token in names:
            found = (index, False)
        elif any(token.startswith(f"{name}=") for name in names):
            found = (index, True)
    return found


def _option_value(options: Sequence[str], names: Sequence[str]) -> Optional[str]:
    found = _find_option(options, names)
    if found is None:
        return None
    index, inline = found
    if inline:
        return options[index].split("=", 1)[1]
    # A missing value is argparse's to report
    return options[index + 1] if index + 1 < len(options) else None


def _option_values(options: Sequence[str], names: Sequence[str]) -> list[str]:
    """
    :return: The values of an ``nargs="+"`` option: the tokens after it up to the next option.
    """
    found = _find_option(options, names)
    if found is None:
        return []
    index, inline = found
    if inline:
        return [options[index].split("=", 1)[1]]
    values = []
    for token in options[index + 1 :]:
        if token.startswith("-"):
            break
        values.append(token)
    return values


def _set_option_value(options: list[str], names: Sequence[str], value: str) -> None:
    found = _find_option(options, names)
    assert found is not None  # only called for an option that was found
    index, inline = found
    if inline:
        options[index] = f"{options[index].split('=', 1)[0]}={value}"
    else:
        options[index + 1] = value
