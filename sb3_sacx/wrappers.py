"""Gymnasium wrappers that attach SAC-X auxiliary rewards to an environment."""

import copy
import numbers
from collections.abc import Callable, Mapping
from typing import Any, Optional, SupportsFloat

import gymnasium as gym
import numpy as np

#: Signature of an auxiliary task: ``fn(obs, action, next_obs, info) -> float``.
AuxTaskFn = Callable[[Any, Any, Any, dict[str, Any]], SupportsFloat]

#: Name SACX reserves for the environment's own (main) reward.
MAIN_TASK_NAME = "main"


def _validate_aux_tasks(aux_tasks: Mapping[str, AuxTaskFn]) -> None:
    """
    Check the task mapping once, at construction, so that mistakes surface before any step.

    :param aux_tasks: Mapping from task name to reward function.
    :raises TypeError: when ``aux_tasks`` is not a mapping, a name is not a ``str`` or a task is not callable.
    :raises ValueError: when a name is empty or ``"main"``.
    """
    if not isinstance(aux_tasks, Mapping):
        raise TypeError(f"aux_tasks must be a mapping from task name to callable, got {type(aux_tasks).__name__}")
    for name, fn in aux_tasks.items():
        if not isinstance(name, str):
            raise TypeError(f"Auxiliary task names must be str, got {name!r} of type {type(name).__name__}")
        if name == "":
            raise ValueError("Auxiliary task names must not be empty")
        if name == MAIN_TASK_NAME:
            raise ValueError(
                f"Auxiliary task name {MAIN_TASK_NAME!r} is reserved for the environment's own reward; rename the task"
            )
        if not callable(fn):
            raise TypeError(
                f"Auxiliary task {name!r} must be callable fn(obs, action, next_obs, info), got {type(fn).__name__}"
            )


def _check_not_wrapped_twice(env: gym.Env) -> None:
    """
    Refuse an env that already carries an :class:`AuxRewardWrapper`: the outer one would silently
    overwrite the inner one's ``info["aux_rewards"]``.

    :param env: The environment about to be wrapped.
    :raises ValueError: when an :class:`AuxRewardWrapper` is already in the wrapper chain.
    """
    inner: Any = env
    while isinstance(inner, gym.Wrapper):
        if isinstance(inner, AuxRewardWrapper):
            raise ValueError(
                f"The env is already wrapped in AuxRewardWrapper (tasks {inner.aux_task_names}); "
                "put all auxiliary tasks in a single AuxRewardWrapper"
            )
        inner = inner.env


def _to_reward(value: Any, name: str, step: int) -> float:
    """
    Convert what an auxiliary task returned into a finite float, or explain why it cannot.

    Accepted: Python and NumPy booleans, ints and floats (a condition such as ``next_obs[0] > 0.45`` is
    a 0/1 reward, as Python counts ``True`` as 1), and NumPy arrays with exactly one such element
    (e.g. ``np.clip`` of a scalar).

    :param value: The task's return value.
    :param name: The task's name, for the error message.
    :param step: Steps since the last reset (counting from 1), for the error message.
    :return: The reward as a Python float.
    :raises TypeError: when ``value`` is not a number.
    :raises ValueError: when ``value`` is NaN or infinite.
    """
    where = f"auxiliary task {name!r} at step {step} after reset"
    if isinstance(value, np.ndarray):
        if value.size != 1:
            raise TypeError(f"{where} returned an array of shape {value.shape}; it must return a single number")
        if not (value.dtype == np.bool_ or np.issubdtype(value.dtype, np.integer) or np.issubdtype(value.dtype, np.floating)):
            raise TypeError(f"{where} returned an array of dtype {value.dtype}; it must return a real number")
        value = value.reshape(()).item()
    if not isinstance(value, (numbers.Real, np.bool_)):
        raise TypeError(f"{where} returned {value!r} of type {type(value).__name__}; it must return a real number (float)")
    reward = float(value)
    if not np.isfinite(reward):
        raise ValueError(f"{where} returned {reward}; auxiliary rewards must be finite")
    # Rewards are stored as float32: a finite float64 beyond its range would silently become inf there
    if abs(reward) > float(np.finfo(np.float32).max):
        raise ValueError(f"{where} returned {reward}, which is out of float32 range")
    return reward


class AuxRewardWrapper(gym.Wrapper):
    """
    Add SAC-X auxiliary rewards to every step's ``info``.

    After each ``step``, ``info["aux_rewards"]`` holds a float32 array of shape ``(len(aux_tasks),)``
    with one reward per task, in the order of ``aux_tasks``. The environment's own reward (SACX's
    main task) is passed through untouched.

    :param env: The environment to wrap.
    :param aux_tasks: Ordered mapping from task name to ``fn(obs, action, next_obs, info) -> float``,
        where ``obs`` is the observation before the step, ``next_obs`` the one it returned and ``info``
        the wrapped env's info for the step. The name ``"main"`` is reserved. An empty mapping is allowed:
        SACX then learns the main task alone (SAC with Retrace), e.g. as an ablation.
    """

    def __init__(self, env: gym.Env, aux_tasks: Mapping[str, AuxTaskFn]) -> None:
        _validate_aux_tasks(aux_tasks)
        _check_not_wrapped_twice(env)
        super().__init__(env)
        # A private copy: mutating the caller's mapping later must not change the task order SACX relies on
        self._aux_tasks: dict[str, AuxTaskFn] = dict(aux_tasks)
        self.aux_task_names: tuple[str, ...] = tuple(self._aux_tasks)
        self._last_obs: Optional[Any] = None
        self._episode_step = 0

    @property
    def aux_tasks(self) -> dict[str, AuxTaskFn]:
        """A copy of the task mapping, in reward order."""
        return dict(self._aux_tasks)

    @property
    def last_obs(self) -> Optional[Any]:
        """The observation returned by the last ``reset`` or ``step`` (``None`` before the first reset)."""
        return self._last_obs

    def reset(self, *, seed: Optional[int] = None, options: Optional[dict[str, Any]] = None) -> tuple[Any, dict[str, Any]]:
        """
        Reset the wrapped env and remember its first observation.

        :param seed: Seed for the wrapped env.
        :param options: Options for the wrapped env, passed on only when given, as SB3's ``DummyVecEnv`` does: some
            envs' ``reset`` takes no ``options``.
        :return: The wrapped env's ``(obs, info)``.
        """
        obs, info = self.env.reset(seed=seed, **({} if options is None else {"options": options}))
        self._remember(obs)
        self._episode_step = 0
        return obs, info

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        """
        Step the wrapped env and add ``info["aux_rewards"]``.

        :param action: Action for the wrapped env.
        :return: The wrapped env's ``(obs, reward, terminated, truncated, info)``, ``info`` extended.
        """
        if self._last_obs is None:
            raise RuntimeError("AuxRewardWrapper.step() called before reset(): reset the env first")
        obs = self._last_obs
        next_obs, reward, terminated, truncated, info = self.env.step(action)
        self._episode_step += 1
        # A new dict so that an info object the wrapped env keeps and reuses is not modified behind its back
        info = dict(info)
        info["aux_rewards"] = self.compute_aux_rewards(obs, action, next_obs, info)
        self._remember(next_obs)
        return next_obs, reward, terminated, truncated, info

    def compute_aux_rewards(self, obs: Any, action: Any, next_obs: Any, info: dict[str, Any]) -> np.ndarray:
        """
        Evaluate every auxiliary task on one transition.

        :param obs: Observation before the step.
        :param action: Action taken.
        :param next_obs: Observation after the step.
        :param info: The wrapped env's info for the step.
        :return: float32 array of shape ``(len(aux_tasks),)``, in task order.
        """
        rewards = np.empty(len(self._aux_tasks), dtype=np.float32)
        for i, (name, fn) in enumerate(self._aux_tasks.items()):
            rewards[i] = _to_reward(fn(obs, action, next_obs, info), name, self._episode_step)
        return rewards

    def _remember(self, obs: Any) -> None:
        # Copied because some envs update their observation buffer in place, which would make the
        # remembered "previous" observation silently equal to the next one
        self._last_obs = copy.deepcopy(obs)
