r"""
Clear errors for what SACX cannot use, raised before anything reaches Stable-Baselines3 (whose ``assert``\ s are not
clear errors): a ``ValueError`` for a bad value, a ``TypeError`` for a wrong type, naming the argument.
"""

from typing import Any, Optional

import numpy as np
from gymnasium import spaces
from stable_baselines3.common.preprocessing import is_image_space

from sb3_sacx.errors import HyperparameterTypeError, NestedSpaceError, PolicySpaceError, UnsupportedSpaceError

# Options of SAC's policy that only gSDE reads: without use_sde, SAC ignores them, and so does SACX
SDE_ONLY_POLICY_KWARGS = ("log_std_init", "use_expln", "clip_mean")


def accept_sac_policy_kwargs(policy_kwargs: Optional[dict[str, Any]]) -> Optional[dict[str, Any]]:
    """
    ``policy_kwargs`` as SB3's SAC takes them: SAC writes ``use_sde`` into its caller's dict, so one settings dict for
    SAC and SACX carries ``use_sde=False``, which SACX accepts; ``use_sde=True`` is refused. The options of SAC's policy
    that only gSDE reads (:data:`SDE_ONLY_POLICY_KWARGS`, e.g. ``log_std_init`` in rl-zoo3's SAC settings) are accepted
    and ignored, as SAC ignores them without gSDE.

    :param policy_kwargs: the caller's policy keyword arguments (not modified).
    :return: a copy without ``use_sde`` and the gSDE-only options.
    """
    if policy_kwargs is None or not {"use_sde", *SDE_ONLY_POLICY_KWARGS} & set(policy_kwargs):
        return policy_kwargs
    kwargs = {key: value for key, value in policy_kwargs.items() if key not in SDE_ONLY_POLICY_KWARGS}
    refuse_unsupported_options(use_sde=kwargs.pop("use_sde", False))
    return kwargs


def refuse_unsupported_options(**options: Any) -> None:
    """Raise a clear error for SAC options that SACX does not support."""
    defaults = dict(
        action_noise=None,
        optimize_memory_usage=False,
        n_steps=1,
        use_sde=False,
        sde_sample_freq=-1,
        use_sde_at_warmup=False,
    )
    reasons = dict(
        action_noise="Retrace needs the exact behaviour log-probability of each action, which noise would falsify",
        optimize_memory_usage="snippets need stored next observations",
        n_steps="Retrace (retrace_steps) replaces SB3's n-step returns",
        use_sde="state-dependent exploration is not implemented for multi-head policies",
        sde_sample_freq="state-dependent exploration is not implemented for multi-head policies",
        use_sde_at_warmup="state-dependent exploration is not implemented for multi-head policies",
    )
    for name, value in options.items():
        if value is not None and value is not False and value != defaults[name]:
            raise ValueError(f"SACX does not support {name}={value!r}: {reasons[name]}. Leave {name} at its default.")


def check_spaces(observation_space: spaces.Space, action_space: spaces.Space) -> None:
    """
    Raise a clear error for spaces SACX cannot handle.

    :param observation_space: the env's observation space.
    :param action_space: the env's action space.
    :raises UnsupportedSpaceError: for an unbounded Box, a Discrete not starting at 0, another kind of space.
    :raises NestedSpaceError: for a Dict observation space with a Dict or Tuple inside.
    """
    if isinstance(action_space, spaces.Box):
        if not (np.all(np.isfinite(action_space.low)) and np.all(np.isfinite(action_space.high))):
            raise UnsupportedSpaceError(
                f"SACX squashes actions with tanh and needs a bounded Box action space, got {action_space}: "
                "give the action space finite low and high."
            )
    elif isinstance(action_space, spaces.Discrete):
        if action_space.start != 0:
            raise UnsupportedSpaceError(
                f"SACX needs Discrete actions that start at 0, got {action_space}: wrap the env so that its actions are "
                f"Discrete({action_space.n}) and add {action_space.start} to them (as SB3's algorithms need too)."
            )
    else:
        raise UnsupportedSpaceError(
            f"SACX supports Box and Discrete action spaces, got {type(action_space).__name__} ({action_space})."
        )
    if not isinstance(observation_space, (spaces.Box, spaces.Discrete, spaces.MultiDiscrete, spaces.MultiBinary, spaces.Dict)):
        raise UnsupportedSpaceError(f"SACX does not support {type(observation_space).__name__} observation spaces.")
    if isinstance(observation_space, spaces.Dict):
        nested = [key for key, space in observation_space.spaces.items() if isinstance(space, (spaces.Dict, spaces.Tuple))]
        if nested:
            raise NestedSpaceError(
                f"SACX, as SB3, does not support nested observation spaces: {', '.join(map(repr, nested))} of the Dict "
                "observation space is itself a Dict or Tuple. Flatten it into one level of keys."
            )


def check_policy_fits_observations(policy: Any, observation_space: spaces.Space, policy_kwargs: Optional[dict]) -> None:
    """
    Raise a clear error where a policy alias's default features extractor cannot read the observations (SB3's CNN
    asserts; its Dict extractor fails with an ``AttributeError``).

    :param policy: the policy argument (only the aliases ``"CnnPolicy"`` and ``"MultiInputPolicy"`` are checked).
    :param observation_space: the env's observation space.
    :param policy_kwargs: the policy's keyword arguments: a ``features_extractor_class`` of the user's own is not checked.
    :raises PolicySpaceError: ``CnnPolicy`` without image observations, ``MultiInputPolicy`` without Dict ones.
    """
    policy_kwargs = policy_kwargs or {}
    if not isinstance(policy, str) or "features_extractor_class" in policy_kwargs:
        return
    if policy == "MultiInputPolicy" and not isinstance(observation_space, spaces.Dict):
        raise PolicySpaceError(
            f"MultiInputPolicy needs Dict observations, got {observation_space}: use 'MlpPolicy' for a vector, "
            "'CnnPolicy' for an image."
        )
    # SB3 tells the features extractor that images are already normalised when the policy does not normalise them
    extractor_kwargs = policy_kwargs.get("features_extractor_kwargs") or {}
    normalized = not policy_kwargs.get("normalize_images", True) or extractor_kwargs.get("normalized_image", False)
    if policy == "CnnPolicy" and not is_image_space(observation_space, check_channels=False, normalized_image=normalized):
        raise PolicySpaceError(
            f"CnnPolicy needs image observations (a uint8 Box in [0, 255] of shape (H, W, C) or (C, H, W)), got "
            f"{observation_space}: use 'MlpPolicy' for a vector, 'MultiInputPolicy' for a Dict, or pass "
            "normalize_images=False in policy_kwargs for images already normalised."
        )


def check_hyperparameters(
    *,
    learning_rate: Any,
    buffer_size: Any,
    learning_starts: Any,
    batch_size: Any,
    tau: Any,
    gamma: Any,
    train_freq: Any,
    gradient_steps: Any,
    ent_coef: Any,
    target_update_interval: Any,
    target_entropy: Any,
    retrace_steps: Any,
    retrace_lambda: Any,
    schedule_period: Any,
    main_reward_scale: Any,
    rewarded_snippet_fraction: Any,
    mixed_precision: Any,
    stats_window_size: Any,
    policy_kwargs: Any,
    replay_buffer_kwargs: Any,
) -> None:
    """
    Raise a clear error, naming the argument, for a hyperparameter of the wrong type or out of range.

    The arguments are :class:`sb3_sacx.SACX`'s, by name, with the meaning and range its docstring gives them; the
    scheduler's are checked by its own module (``sb3_sacx.schedulers.make_scheduler``).
    """
    hyperparameters = locals()
    for name in (
        "retrace_steps",
        "schedule_period",
        "batch_size",
        "target_update_interval",
        "buffer_size",
        "stats_window_size",
    ):
        check_number(name, hyperparameters[name], minimum=1, integer=True)
    check_number("learning_starts", hyperparameters["learning_starts"], minimum=0, integer=True)
    # SB3's -1: as many gradient steps as env steps in the rollout; 0: collect without training
    check_number("gradient_steps", hyperparameters["gradient_steps"], minimum=-1, integer=True)
    for name in ("policy_kwargs", "replay_buffer_kwargs"):
        if hyperparameters[name] is not None and not isinstance(hyperparameters[name], dict):
            raise TypeError(f"{name} must be a dict (or None), got {type(hyperparameters[name]).__name__}.")
    if hyperparameters["batch_size"] < hyperparameters["retrace_steps"]:
        raise ValueError(
            f"batch_size={hyperparameters['batch_size']} is smaller than retrace_steps={hyperparameters['retrace_steps']}: "
            "a gradient step uses batch_size // retrace_steps snippets, so batch_size must be at least retrace_steps."
        )
    check_number("retrace_lambda", hyperparameters["retrace_lambda"], minimum=0.0, maximum=1.0)
    check_number("tau", hyperparameters["tau"], minimum=0.0, maximum=1.0)
    # Absorbing states and the "auto" main reward scale are worth 1 / (1 - gamma): gamma = 1 has no such value
    check_number("gamma", hyperparameters["gamma"], minimum=0.0, maximum=1.0, maximum_included=False)
    if not callable(hyperparameters["learning_rate"]):
        check_number("learning_rate", hyperparameters["learning_rate"], minimum=0.0)
    check_train_freq(hyperparameters["train_freq"])
    ent_coef = hyperparameters["ent_coef"]
    # A fixed temperature of 0 is SAC's too (no entropy bonus); a learned one starts from log(initial value)
    check_auto_or_number("ent_coef", ent_coef, minimum=0.0, minimum_included=not isinstance(ent_coef, str), auto_value=True)
    check_auto_or_number("target_entropy", hyperparameters["target_entropy"])
    check_auto_or_number("main_reward_scale", hyperparameters["main_reward_scale"], minimum=0.0, minimum_included=False)
    check_number("rewarded_snippet_fraction", hyperparameters["rewarded_snippet_fraction"], minimum=0.0, maximum=1.0)
    mixed_precision = hyperparameters["mixed_precision"]
    if isinstance(mixed_precision, str):
        if mixed_precision != "auto":
            raise ValueError(f"mixed_precision must be True, False or 'auto', got {mixed_precision!r}.")
    elif not isinstance(mixed_precision, (bool, np.bool_)):
        raise TypeError(f"mixed_precision must be True, False or 'auto', got {mixed_precision!r}.")


def check_number(
    name: str,
    value: Any,
    minimum: Optional[float] = None,
    maximum: Optional[float] = None,
    integer: bool = False,
    minimum_included: bool = True,
    maximum_included: bool = True,
) -> None:
    """
    Raise :class:`HyperparameterTypeError` (a ``TypeError`` and a ``ValueError``) if ``value`` is not a (whole) number,
    ``ValueError`` if it is outside the range.

    :param name: the argument's name, for the message.
    :param value: the argument's value.
    :param minimum: the lowest value allowed (None: no lower bound).
    :param maximum: the highest value allowed (None: no upper bound).
    :param integer: whether ``value`` must be a whole number (an ``int``, not a float).
    :param minimum_included: whether ``minimum`` itself is allowed.
    :param maximum_included: whether ``maximum`` itself is allowed.
    """
    kinds = (int, np.integer) if integer else (int, float, np.integer, np.floating)
    if not isinstance(value, kinds) or isinstance(value, (bool, np.bool_)):
        raise HyperparameterTypeError(
            f"{name} must be {'an int' if integer else 'a number'}, got {type(value).__name__} ({value!r})."
        )
    below = minimum is not None and (value < minimum if minimum_included else value <= minimum)
    above = maximum is not None and (value > maximum if maximum_included else value >= maximum)
    if below or above or not np.isfinite(value):
        low = "-inf" if minimum is None else f"{'[' if minimum_included else '('}{minimum}"
        high = "inf" if maximum is None else f"{maximum}{']' if maximum_included else ')'}"
        raise ValueError(f"{name} must be in {low}, {high}, got {value}.")


def check_auto_or_number(name: str, value: Any, auto_value: bool = False, **bounds: Any) -> None:
    """
    Check that ``value`` is ``"auto"`` (or ``"auto_<number>"`` where ``auto_value``), or a number within ``bounds``.

    :param name: the argument's name, for the message.
    :param value: the argument's value.
    :param auto_value: whether ``"auto_<initial value>"`` is allowed (SB3's ``ent_coef``).
    :param bounds: :func:`check_number`'s range arguments, for the number or the initial value.
    """
    if isinstance(value, str):
        if value == "auto":
            return
        initial = value[len("auto_") :] if auto_value and value.startswith("auto_") else None
        try:
            check_number(f"the initial value of {name}", float(initial), **bounds)  # type: ignore[arg-type]
        except (TypeError, ValueError) as error:
            usage = "'auto', 'auto_<initial value>' or a number" if auto_value else "'auto' or a number"
            raise ValueError(f"{name} must be {usage}, got {value!r}.") from error
        return
    check_number(name, value, **bounds)


def check_train_freq(train_freq: Any) -> None:
    """
    Check SB3's ``train_freq``: a positive int, or ``(positive int, "step" | "episode")`` (or SB3's ``TrainFreq``).

    :param train_freq: the argument as the user gave it.
    """
    if isinstance(train_freq, tuple):
        if len(train_freq) != 2 or train_frequency_unit(train_freq) not in ("step", "episode"):
            raise ValueError(f"train_freq must be an int or a tuple (frequency, 'step' or 'episode'), got {train_freq!r}.")
        check_number("train_freq", train_freq[0], minimum=1, integer=True)
    else:
        check_number("train_freq", train_freq, minimum=1, integer=True)


def train_frequency_unit(train_freq: Any) -> Any:
    """
    ``"step"`` or ``"episode"`` for ``train_freq`` as the user gives it or as SB3 stores it (``TrainFreq``).

    :param train_freq: an int, a ``(frequency, unit)`` tuple or SB3's ``TrainFreq``.
    :return: the unit, as a string.
    """
    if not isinstance(train_freq, tuple):
        return "step"
    return getattr(train_freq[1], "value", train_freq[1])  # SB3's TrainFrequencyUnit is an Enum of those strings


def check_episodic_training(train_freq: Any, n_envs: int) -> None:
    """
    Refuse ``train_freq=(n, "episode")`` with more than one env: SB3 trains every n episodes with one env only.

    :param train_freq: the model's ``train_freq``.
    :param n_envs: the number of envs the model collects from.
    """
    if n_envs > 1 and train_frequency_unit(train_freq) == "episode":
        raise ValueError(
            f"train_freq={tuple(train_freq)!r} trains every n episodes, which SB3 does with one env only, and the env has "
            f"{n_envs}: give train_freq in steps (e.g. train_freq=1) or use one env."
        )
