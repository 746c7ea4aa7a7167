"""
Optuna search space for SACX, in rl-zoo3's sampler/converter convention.

:func:`sample_sacx_params` draws raw trial parameters and :func:`convert_sacx_params` turns them into
SACX constructor arguments; rl-zoo3 uses the latter on its own too, to rebuild a trial's
hyperparameters from a study (``--storage ... --study-name ... --trial-id N``).

This module does not import rl-zoo3 (nor Optuna, except for type checking).
"""

import inspect
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Optional

from sb3_sacx import schedulers
from sb3_sacx.sacx import SACX

#: Algorithm name of SACX in rl-zoo3: its sampler and converter are registered under it, and ``--algo`` takes it.
ALGO_NAME = "sacx"

if TYPE_CHECKING:
    import optuna

#: Network sizes searched for ``policy_kwargs["net_arch"]`` (rl-zoo3's SAC choices).
NET_ARCH: dict[str, list[int]] = {
    "small": [64, 64],
    "medium": [256, 256],
    "big": [400, 300],
}

#: Schedulers searched for ``scheduler``: every one SACX knows by name, read from its table so that none is left out.
SCHEDULERS: tuple[str, ...] = tuple(schedulers.SCHEDULERS)

#: ``scheduler_kwargs`` keys that only SAC-Q takes: dropped when a trial picks SAC-U, so that a
#: config written for SAC-Q does not break the SAC-U trials. Read from the constructors, so a new SAC-Q option is one too.
SACQ_ONLY_KWARGS: tuple[str, ...] = tuple(
    inspect.signature(schedulers.QScheduler).parameters.keys() - inspect.signature(schedulers.Scheduler).parameters.keys()
)


@dataclass(frozen=True)
class _Searched:
    """
    A row of the search table: how a trial draws one hyperparameter, and what keeps it out of the search.

    :param suggest: Draws the value with a ``trial.suggest_*`` call under the name it is given (the row's name).
    :param pinned_by: Hyperparameter keys (as :func:`pinned_keys` writes them) any of which, pinned by the user,
        keeps the row out of the search.
    :param searched_if: For a conditional row: whether it is searched, given the raw values drawn so far and the
        base hyperparameters. Only earlier rows' values are drawn by then, hence its place in the table.
    """

    suggest: Callable[["optuna.Trial", str], Any]
    pinned_by: tuple[str, ...]
    searched_if: Optional[Callable[[Mapping[str, Any], Mapping[str, Any]], bool]] = None


#: The search space: searched hyperparameter (the Optuna parameter's name) -> its row. Walked in this order, which is
#: the order of the ``trial.suggest_*`` calls: a seeded study draws the same values only as long as it is kept.
_SEARCH_SPACE: dict[str, _Searched] = {
    "one_minus_gamma": _Searched(lambda trial, name: trial.suggest_float(name, 0.0001, 0.03, log=True), ("gamma",)),
    "learning_rate": _Searched(lambda trial, name: trial.suggest_float(name, 1e-5, 0.002, log=True), ("learning_rate",)),
    # 32 to 1024 transitions: at least two snippets of the longest retrace_steps below
    "batch_size_pow": _Searched(lambda trial, name: trial.suggest_int(name, 5, 10), ("batch_size",)),
    "buffer_size": _Searched(
        lambda trial, name: trial.suggest_categorical(name, [100_000, 300_000, 1_000_000]), ("buffer_size",)
    ),
    "tau": _Searched(lambda trial, name: trial.suggest_float(name, 0.001, 0.08, log=True), ("tau",)),
    # train_freq and gradient_steps are searched together (one gradient step per env step)
    "train_freq": _Searched(
        lambda trial, name: trial.suggest_categorical(name, [1, 2, 4, 8]), ("train_freq", "gradient_steps")
    ),
    "learning_starts": _Searched(
        lambda trial, name: trial.suggest_categorical(name, [1_000, 5_000, 10_000, 20_000]), ("learning_starts",)
    ),
    "net_arch": _Searched(lambda trial, name: trial.suggest_categorical(name, list(NET_ARCH)), ("policy_kwargs.net_arch",)),
    "retrace_steps": _Searched(lambda trial, name: trial.suggest_categorical(name, [1, 2, 4, 8, 16]), ("retrace_steps",)),
    "retrace_lambda": _Searched(
        lambda trial, name: trial.suggest_categorical(name, [0.5, 0.75, 0.9, 0.95, 1.0]), ("retrace_lambda",)
    ),
    "scheduler": _Searched(lambda trial, name: trial.suggest_categorical(name, list(SCHEDULERS)), ("scheduler",)),
    # A LunarLander landing takes 200-250 steps; Pendulum's episodes last 200
    "schedule_period": _Searched(
        lambda trial, name: trial.suggest_categorical(name, [50, 100, 250, 500]), ("schedule_period",)
    ),
    # A floor on the main intention's share of acting, for either scheduler (SPEC §8's open idea)
    "min_main_probability": _Searched(
        lambda trial, name: trial.suggest_categorical(name, [0.0, 0.25, 0.5, 0.75]), ("scheduler_kwargs.min_main_probability",)
    ),
    # Only SAC-Q has a temperature, so it is drawn for SAC-Q trials only (a parameter TPE then models for those alone);
    # eta ~ 1 on 0/1 returns barely differs from SAC-U, ~0.1 is more telling. Last: it reads the scheduler drawn above.
    "sacq_temperature": _Searched(
        lambda trial, name: trial.suggest_float(name, 0.01, 2.0, log=True),
        ("scheduler_kwargs.temperature",),
        searched_if=lambda drawn, base: _sacx_value("scheduler", drawn, base) == "sac-q",
    ),
}


def _sacx_value(name: str, *sources: Mapping[str, Any]) -> Any:
    """
    The value SACX gets for one of its constructor arguments.

    :param name: The argument's name.
    :param sources: Hyperparameters, most binding first.
    :return: The value of the first of ``sources`` that sets ``name``, else the default in SACX's signature.
    """
    for source in sources:
        if name in source:
            return source[name]
    return inspect.signature(SACX.__init__).parameters[name].default


def pinned_keys(hyperparams: Optional[Mapping[str, Any]]) -> frozenset[str]:
    """
    Names of the hyperparameters set in ``hyperparams``, nested ones of ``policy_kwargs`` and
    ``scheduler_kwargs`` included as ``"policy_kwargs.net_arch"`` etc.

    Used with rl-zoo3's ``-params`` (command-line overrides): what the user pinned there is not searched.

    :param hyperparams: Hyperparameter overrides, or ``None``.
    :return: The pinned keys.
    """
    keys: set[str] = set()
    for key, value in (hyperparams or {}).items():
        keys.add(key)
        if key in ("policy_kwargs", "scheduler_kwargs") and isinstance(value, Mapping):
            keys.update(f"{key}.{sub_key}" for sub_key in value)
    return frozenset(keys)


def sample_sacx_params(
    trial: "optuna.Trial",
    n_actions: int,
    n_envs: int,
    additional_args: dict[str, Any],
    base_hyperparams: Optional[Mapping[str, Any]] = None,
    fixed: Collection[str] = (),
) -> dict[str, Any]:
    """
    Sampler for SACX hyperparameters (rl-zoo3's ``HYPERPARAMS_SAMPLER`` signature, plus two optional arguments).

    Searches SAC's usual knobs (learning rate, batch and buffer size, gamma, tau, train frequency with
    as many gradient steps, warm-up length, network size) and SAC-X's own (Retrace snippet length and
    lambda, scheduler, schedule period, the floor on the main intention's share of acting and, for SAC-Q, its softmax
    temperature).

    :param trial: The Optuna trial.
    :param n_actions: Action dimension (unused, part of rl-zoo3's signature).
    :param n_envs: Number of training envs (unused, part of rl-zoo3's signature).
    :param additional_args: rl-zoo3's extra arguments (unused: SACX has no HER).
    :param base_hyperparams: The hyperparameters the sampled ones are applied over (config file and
        ``-params``); its ``policy_kwargs`` and ``scheduler_kwargs`` are merged with the sampled
        entries rather than replaced, and it supplies the values of what is not searched.
    :param fixed: Hyperparameter keys (see :func:`pinned_keys`) not to search.
    :return: SACX constructor arguments to apply over ``base_hyperparams``.
    """
    pinned = frozenset(fixed)
    base = dict(base_hyperparams or {})

    params: dict[str, Any] = {}
    for name, row in _SEARCH_SPACE.items():
        if pinned.isdisjoint(row.pinned_by) and (row.searched_if is None or row.searched_if(params, base)):
            params[name] = row.suggest(trial, name)

    hyperparams = convert_sacx_params(params, base)
    # Show the values SACX gets, not only the raw ones searched
    for key in ("gamma", "batch_size", "retrace_steps", "gradient_steps"):
        if key in hyperparams:
            trial.set_user_attr(key, hyperparams[key])
    return hyperparams


def convert_sacx_params(
    sampled_params: Mapping[str, Any], base_hyperparams: Optional[Mapping[str, Any]] = None
) -> dict[str, Any]:
    """
    Turn raw trial parameters (as drawn by :func:`sample_sacx_params`) into SACX constructor arguments.

    rl-zoo3's ``HYPERPARAMS_CONVERTER`` entry: rl-zoo3 calls it with a stored trial's ``params``.

    :param sampled_params: Raw trial parameters: ``one_minus_gamma``, ``batch_size_pow``, ``net_arch``
        (a key of :data:`NET_ARCH`), ``sacq_temperature``, ``min_main_probability`` (both into ``scheduler_kwargs``)
        and SACX argument names; any may be missing.
    :param base_hyperparams: Hyperparameters the result is applied over. Its ``policy_kwargs`` and
        ``scheduler_kwargs`` (dicts) are merged with the sampled entries, and ``batch_size`` is kept
        ``>= retrace_steps`` counting its values for what was not sampled.
    :return: The constructor arguments that change.
    """
    base = dict(base_hyperparams or {})
    hyperparams = dict(sampled_params)

    if "one_minus_gamma" in hyperparams:
        hyperparams["gamma"] = 1.0 - hyperparams.pop("one_minus_gamma")
    if "batch_size_pow" in hyperparams:
        hyperparams["batch_size"] = 2 ** hyperparams.pop("batch_size_pow")
    if "train_freq" in hyperparams:
        # One gradient step per env step, as rl-zoo3 does for SAC
        hyperparams["gradient_steps"] = hyperparams["train_freq"]

    if "net_arch" in hyperparams:
        # Merged, not replaced: the config's other policy_kwargs (e.g. critic_action_layer) must survive
        policy_kwargs = dict(_as_dict(base.get("policy_kwargs"), "policy_kwargs"))
        policy_kwargs["net_arch"] = list(NET_ARCH[hyperparams.pop("net_arch")])
        hyperparams["policy_kwargs"] = policy_kwargs

    temperature = hyperparams.pop("sacq_temperature", None)
    main_floor = hyperparams.pop("min_main_probability", None)
    if "scheduler" in hyperparams or temperature is not None or main_floor is not None:
        scheduler_kwargs = dict(_as_dict(base.get("scheduler_kwargs"), "scheduler_kwargs"))
        if temperature is not None:
            scheduler_kwargs["temperature"] = temperature
        if main_floor is not None:
            scheduler_kwargs["min_main_probability"] = main_floor
        if _sacx_value("scheduler", hyperparams, base) == "sac-u":
            for key in SACQ_ONLY_KWARGS:
                scheduler_kwargs.pop(key, None)
        hyperparams["scheduler_kwargs"] = scheduler_kwargs or None

    # SACX refuses batch_size < retrace_steps (a batch holds batch_size // retrace_steps snippets):
    # give way on whichever of the two was sampled rather than lose the trial
    batch_size = _sacx_value("batch_size", hyperparams, base)
    retrace_steps = _sacx_value("retrace_steps", hyperparams, base)
    if isinstance(batch_size, int) and isinstance(retrace_steps, int) and batch_size < retrace_steps:
        if "batch_size" in hyperparams:
            hyperparams["batch_size"] = retrace_steps
        elif "retrace_steps" in hyperparams:
            hyperparams["retrace_steps"] = max(batch_size, 1)
    return hyperparams


def _as_dict(value: Any, name: str) -> Mapping[str, Any]:
    """
    A ``*_kwargs`` hyperparameter as a mapping.

    :param value: ``None``, a mapping, or (as written in a config file) a Python expression string.
    :param name: The hyperparameter's name, for the error message.
    :return: The mapping (empty for ``None``).
    :raises TypeError: when ``value`` is none of these.
    """
    if value is None:
        return {}
    if isinstance(value, str):
        # Same convention as rl-zoo3's for policy_kwargs in config files: a Python expression
        value = _eval_kwargs(value)
    if not isinstance(value, Mapping):
        raise TypeError(f"{name} must be a dict, got {value!r} of type {type(value).__name__}")
    return value


def _eval_kwargs(expression: str) -> Any:
    """
    Evaluate a ``*_kwargs`` string from a config file, e.g. ``"dict(net_arch=[64, 64], activation_fn=nn.ReLU)"``.

    :param expression: The Python expression.
    :return: Its value, with ``nn`` (``torch.nn``) and ``th`` (``torch``) in scope as in rl-zoo3.
    """
    import torch as th
    from torch import nn

    return eval(expression, {"th": th, "nn": nn})
