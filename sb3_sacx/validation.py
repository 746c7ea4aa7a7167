r"""
SACX's rules for its arguments, its envs and its replay buffers, in one place: clear errors raised before anything
reaches Stable-Baselines3 (whose ``assert``\ s are not clear errors), naming the argument: a ``ValueError`` for a bad
value, a ``TypeError`` for a wrong type.

One table, :data:`HYPERPARAMETER_RULES`, holds the rule of every hyperparameter by name; it is walked at construction
(:func:`check_arguments`) and again when ``learn`` starts (:func:`check_before_learning`), since ``SACX.load(path,
**kwargs)`` and attributes set after construction may have changed them. The env is checked at construction
(:func:`check_env_fits`) and by ``set_env`` (:func:`env_task_names`, :func:`check_env_count`), a loaded replay buffer
by :func:`check_loaded_replay_buffer`.
"""

import warnings
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any, Optional, Union

import numpy as np
from gymnasium import spaces
from stable_baselines3.common.preprocessing import is_image_space
from stable_baselines3.common.vec_env import VecEnv, VecNormalize

from sb3_sacx.buffers import snippet_buffer_class
from sb3_sacx.checks import check_auto_or_number, check_number, check_train_freq, train_frequency_unit
from sb3_sacx.errors import (
    AuxTasksNotFoundError,
    EnvCountError,
    NestedSpaceError,
    PolicySpaceError,
    UnknownTaskError,
    UnsupportedSpaceError,
)
from sb3_sacx.rewards import auto_main_reward_scale, is_sparse
from sb3_sacx.schedulers import check_scheduler
from sb3_sacx.wrappers import MAIN_TASK_NAME

#: A rule: ``rule(name, value)`` raises a clear error naming ``name`` if ``value`` is not allowed
Rule = Callable[[str, Any], None]


def whole_number(minimum: int) -> Rule:
    """The rule of an ``int`` argument of at least ``minimum``."""
    return partial(check_number, minimum=minimum, integer=True)


def fraction(name: str, value: Any) -> None:
    """The rule of a number in [0, 1]."""
    check_number(name, value, minimum=0.0, maximum=1.0)


def optional_dict(name: str, value: Any) -> None:
    """The rule of a keyword-arguments dict that may be None."""
    if value is not None and not isinstance(value, dict):
        raise TypeError(f"{name} must be a dict (or None), got {type(value).__name__}.")


def learning_rate_rule(name: str, value: Any) -> None:
    """A nonnegative number, or a schedule of the progress remaining (SB3's)."""
    if not callable(value):
        check_number(name, value, minimum=0.0)


def ent_coef_rule(name: str, value: Any) -> None:
    """
    ``"auto"``, ``"auto_<initial value>"`` or a number: a fixed temperature of 0 is SAC's too (no entropy bonus), while
    a learned one starts from log(initial value), which must be positive.
    """
    check_auto_or_number(name, value, minimum=0.0, minimum_included=not isinstance(value, str), auto_value=True)


def mixed_precision_rule(name: str, value: Any) -> None:
    """True, False or ``"auto"``."""
    if isinstance(value, str):
        if value != "auto":
            raise ValueError(f"{name} must be True, False or 'auto', got {value!r}.")
    elif not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True, False or 'auto', got {value!r}.")


#: Every hyperparameter of :class:`sb3_sacx.SACX` that has a rule, by its argument name, with the meaning and range that
#: SACX's docstring gives it. The scheduler is checked by its own module (:func:`sb3_sacx.schedulers.check_scheduler`).
HYPERPARAMETER_RULES: dict[str, Rule] = {
    "learning_rate": learning_rate_rule,
    "buffer_size": whole_number(1),
    "learning_starts": whole_number(0),
    "batch_size": whole_number(1),
    "tau": fraction,
    # Absorbing states and the "auto" main reward scale are worth 1 / (1 - gamma): gamma = 1 has no such value
    "gamma": partial(check_number, minimum=0.0, maximum=1.0, maximum_included=False),
    "train_freq": lambda _, value: check_train_freq(value),
    # SB3's -1: as many gradient steps as env steps in the rollout; 0: collect without training
    "gradient_steps": whole_number(-1),
    "ent_coef": ent_coef_rule,
    "target_update_interval": whole_number(1),
    "target_entropy": check_auto_or_number,
    "retrace_steps": whole_number(1),
    "retrace_lambda": fraction,
    "schedule_period": whole_number(1),
    "main_reward_scale": partial(check_auto_or_number, minimum=0.0, minimum_included=False),
    "rewarded_snippet_fraction": fraction,
    "mixed_precision": mixed_precision_rule,
    "stats_window_size": whole_number(1),
    "policy_kwargs": optional_dict,
    "replay_buffer_kwargs": optional_dict,
}

#: Hyperparameters that SB3 stores under another attribute name than their argument's
STORED_AS = {"stats_window_size": "_stats_window_size"}

#: SAC's options that SACX does not support, by argument name: the only value allowed, and why
UNSUPPORTED_OPTIONS: dict[str, tuple[Any, str]] = {
    "action_noise": (None, "Retrace needs the exact behaviour log-probability of each action, which noise would falsify"),
    "optimize_memory_usage": (False, "snippets need stored next observations"),
    "n_steps": (1, "Retrace (retrace_steps) replaces SB3's n-step returns"),
    "use_sde": (False, "state-dependent exploration is not implemented for multi-head policies"),
    "sde_sample_freq": (-1, "state-dependent exploration is not implemented for multi-head policies"),
    "use_sde_at_warmup": (False, "state-dependent exploration is not implemented for multi-head policies"),
}

# Options of SAC's policy that only gSDE reads: without use_sde, SAC ignores them, and so does SACX
SDE_ONLY_POLICY_KWARGS = ("log_std_init", "use_expln", "clip_mean")


def check_arguments(arguments: Mapping[str, Any]) -> None:
    """
    The constructor's checks of everything but the env: unsupported SAC options, every rule of
    :data:`HYPERPARAMETER_RULES`, the scheduler.

    :param arguments: :class:`sb3_sacx.SACX`'s arguments by name (its ``locals()``; other names are ignored).
    """
    refuse_unsupported_options({name: arguments[name] for name in UNSUPPORTED_OPTIONS})
    check_hyperparameters(arguments)
    check_scheduler(arguments["scheduler"], arguments["scheduler_kwargs"])


def check_hyperparameters(values: Mapping[str, Any]) -> None:
    """
    Walk :data:`HYPERPARAMETER_RULES` by name, then the rule that ties two of them.

    :param values: every hyperparameter of the table by name (other names are ignored).
    """
    for name, rule in HYPERPARAMETER_RULES.items():
        rule(name, values[name])
    if values["batch_size"] < values["retrace_steps"]:
        raise ValueError(
            f"batch_size={values['batch_size']} is smaller than retrace_steps={values['retrace_steps']}: a gradient step "
            "uses batch_size // retrace_steps snippets, so batch_size must be at least retrace_steps."
        )


def check_before_learning(model: Any) -> None:
    """
    The constructor's rules again, on the model's current settings, when ``learn`` starts.

    :param model: the :class:`sb3_sacx.SACX` model (``target_entropy`` is a float once set up, "auto" resolved).
    """
    refuse_unsupported_options({name: getattr(model, name, default) for name, (default, _) in UNSUPPORTED_OPTIONS.items()})
    check_hyperparameters({name: getattr(model, STORED_AS.get(name, name)) for name in HYPERPARAMETER_RULES})
    check_episodic_training(model.train_freq, model.n_envs)


def refuse_unsupported_options(options: Mapping[str, Any]) -> None:
    """
    Raise a clear error for a SAC option that SACX does not support, set to anything but its default.

    :param options: options of :data:`UNSUPPORTED_OPTIONS` by name.
    """
    for name, value in options.items():
        default, reason = UNSUPPORTED_OPTIONS[name]
        if value is not None and value is not False and value != default:
            raise ValueError(f"SACX does not support {name}={value!r}: {reason}. Leave {name} at its default.")


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
    refuse_unsupported_options({"use_sde": kwargs.pop("use_sde", False)})
    return kwargs


# ---------------------------------------------------------------------------------------------------------- the env


def check_env_fits(
    policy: Any, env: Union[VecEnv, Any], policy_kwargs: Optional[dict], replay_buffer_class: Optional[type], train_freq: Any
) -> None:
    """
    The constructor's checks of the env, before SB3's own (its asserts, its policy choice for Dict observations):
    spaces SACX can learn, a policy alias that can read the observations, a replay buffer that can sample snippets of
    them, and episodic training with one env only.

    :param policy: the policy argument.
    :param env: the env (made from its id).
    :param policy_kwargs: the policy's keyword arguments.
    :param replay_buffer_class: the replay buffer argument.
    :param train_freq: the ``train_freq`` argument.
    """
    check_spaces(env.observation_space, env.action_space)
    check_policy_fits_observations(policy, env.observation_space, policy_kwargs)
    snippet_buffer_class(replay_buffer_class, env.observation_space)
    check_episodic_training(train_freq, env.num_envs if isinstance(env, VecEnv) else 1)


def env_task_names(env: VecEnv, model_task_names: Sequence[str] = ()) -> tuple[str, ...]:
    """
    The intentions of an environment wrapped in :class:`sb3_sacx.AuxRewardWrapper`: ``("main", *aux_task_names)``,
    which must be the model's own once the model has some (a loaded one, say).

    :param env: the vectorised environment.
    :param model_task_names: the model's tasks, or none yet.
    :return: task names, the main task first.
    """
    if not env.has_attr("aux_task_names"):
        raise AuxTasksNotFoundError(
            "SACX needs to know the auxiliary tasks: wrap your environment in sb3_sacx.AuxRewardWrapper(env, aux_tasks) "
            "(or use a registered Sparse* env of sb3_sacx, e.g. SparseLunarLanderContinuous-v0, which already is)."
        )
    names_per_env = {tuple(names) for names in env.get_attr("aux_task_names")}
    if len(names_per_env) != 1:
        raise ValueError(f"All environments must have the same auxiliary tasks, got {sorted(names_per_env)}.")
    task_names = (MAIN_TASK_NAME, *names_per_env.pop())
    if model_task_names and task_names != tuple(model_task_names):
        raise ValueError(f"The environment's tasks {task_names} differ from the model's {tuple(model_task_names)}.")
    return task_names


def check_env_count(env: VecEnv, n_envs: int) -> None:
    """
    ``set_env`` keeps the model's number of envs (its replay buffer and schedules have one slot per env).

    :param env: the new env.
    :param n_envs: the model's number of envs.
    """
    if env.num_envs != n_envs:
        raise EnvCountError(
            f"set_env needs as many envs as the model has ({n_envs}), got {env.num_envs}: to continue with a "
            f"different number of envs, use SACX.load(path, env=env)."
        )


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


def check_policy_task_count(policy_kwargs: Mapping[str, Any], n_tasks: int) -> None:
    """
    Refuse policy keyword arguments built for another number of tasks than the env's.

    :param policy_kwargs: the model's policy keyword arguments, whose ``n_tasks`` (if any) must be the env's.
    :param n_tasks: the env's number of tasks.
    """
    if policy_kwargs.get("n_tasks", n_tasks) != n_tasks:
        raise ValueError(f"policy_kwargs n_tasks={policy_kwargs['n_tasks']} but the environment has {n_tasks} tasks.")


# ------------------------------------------------------------------------------------------ schedulers, tasks, buffers


def scheduler_probabilities(scheduler: Any, task_names: Sequence[str]) -> np.ndarray:
    """
    The scheduler's choice probabilities at an episode's start, checked: one per task (a scheduler object built for
    another task count would leave tasks unscheduled or pick ones that do not exist).

    :param scheduler: the model's scheduler.
    :param task_names: the model's tasks.
    :return: ``[K]`` probabilities.
    """
    probabilities = np.asarray(scheduler.probabilities(), dtype=np.float64)
    if probabilities.shape != (len(task_names),):
        raise ValueError(
            f"{type(scheduler).__name__}.probabilities() returned shape {probabilities.shape}: it must return one "
            f"probability per task, shape ({len(task_names)},) for {tuple(task_names)}; was the scheduler built for "
            "another number of tasks?"
        )
    return probabilities


def task_index(task_names: Sequence[str], task: Union[str, int, None]) -> int:
    """
    :param task_names: the model's tasks.
    :param task: a task name, an index into ``task_names``, or None for the main task.
    :return: the task's index.
    """
    if task is None:
        return 0
    if isinstance(task, str):
        if task not in task_names:
            raise UnknownTaskError(f"Unknown task {task!r}: this model's tasks are {tuple(task_names)}.")
        return list(task_names).index(task)
    if isinstance(task, (int, np.integer)) and not isinstance(task, bool):
        if not 0 <= task < len(task_names):
            raise UnknownTaskError(
                f"Task index {task} is out of range: this model has {len(task_names)} tasks {tuple(task_names)}."
            )
        return int(task)
    raise TypeError(f"task must be a task name, an index or None, got {type(task).__name__}.")


def check_loaded_replay_buffer(loaded: Any, path: Any, model: Any) -> None:
    """
    Refuse a replay buffer that does not fit the model: not a SACX buffer, or filled with another number of tasks or
    envs.

    :param loaded: the unpickled buffer.
    :param path: where it was read from, for the message.
    :param model: the :class:`sb3_sacx.SACX` model.
    """
    if not isinstance(loaded, model.replay_buffer_class):
        raise TypeError(
            f"{path} holds a {type(loaded).__name__}, where this model needs a {model.replay_buffer_class.__name__} "
            "(as SACX.save_replay_buffer saves it)."
        )
    if (loaded.n_aux_tasks + 1, loaded.n_envs) != (model.n_tasks, model.n_envs):
        raise ValueError(
            f"The replay buffer in {path} was filled with {loaded.n_aux_tasks + 1} tasks and {loaded.n_envs} envs; "
            f"this model has {model.n_tasks} tasks ({', '.join(model.task_names)}) and {model.n_envs} envs."
        )


def warn_if_main_reward_is_normalised(
    vec_normalize_env: Optional[VecNormalize], rewarded_fraction: float, gamma: float
) -> None:
    """
    ``main_reward_scale="auto"`` scales a sparse 0/1 reward; a VecNormalize'd reward is already scaled.

    :param vec_normalize_env: the model's VecNormalize wrapper, if any.
    :param rewarded_fraction: the share of the stored steps with a nonzero main reward, which "auto" decided from.
    :param gamma: the discount factor.
    """
    if is_sparse(rewarded_fraction) and vec_normalize_env is not None and vec_normalize_env.norm_reward:
        warnings.warn(
            f"main_reward_scale='auto' found a sparse main reward and multiplies it by 1/(1-gamma) = "
            f"{auto_main_reward_scale(rewarded_fraction, gamma):g}, but VecNormalize(norm_reward=True) already "
            "normalises it: pass main_reward_scale=1.0, or VecNormalize(norm_reward=False) for a sparse 0/1 reward."
        )
