"""Auxiliary tasks for dense-reward environments, so that rl-zoo3 can train SACX on them via ``env_wrapper``."""

from typing import Any

import gymnasium as gym
import numpy as np

from sb3_sacx.wrappers import AuxRewardWrapper, AuxTaskFn

# Pendulum-v1's angular velocity is clipped to [-max_speed, max_speed]
_PENDULUM_MAX_SPEED = 8.0


def pendulum_upright(obs: Any, action: Any, next_obs: np.ndarray, info: dict[str, Any]) -> float:
    """
    Pendulum auxiliary task "upright": 1 with the pole straight up, 0 straight down.

    Pendulum-v1's observation is ``[cos(theta), sin(theta), theta_dot]`` with ``theta = 0`` up.

    :param obs: Observation before the step (unused).
    :param action: Action taken (unused).
    :param next_obs: Observation after the step.
    :param info: Step info (unused).
    :return: ``(1 + cos(theta)) / 2`` in [0, 1].
    """
    return float((1.0 + next_obs[0]) / 2.0)


def pendulum_still(obs: Any, action: Any, next_obs: np.ndarray, info: dict[str, Any]) -> float:
    """
    Pendulum auxiliary task "still": 1 when the pole does not rotate, 0 at full speed.

    :param obs: Observation before the step (unused).
    :param action: Action taken (unused).
    :param next_obs: Observation after the step.
    :param info: Step info (unused).
    :return: ``1 - |theta_dot| / 8`` in [0, 1].
    """
    return float(1.0 - min(abs(float(next_obs[2])) / _PENDULUM_MAX_SPEED, 1.0))


#: Pendulum-v1 auxiliary tasks: together they describe the main task's goal (up and still), each
#: rewarding on its own much earlier than a balanced pole does.
PENDULUM_TASKS: dict[str, AuxTaskFn] = {"upright": pendulum_upright, "still": pendulum_still}


def pendulum_aux_wrapper(env: gym.Env) -> AuxRewardWrapper:
    """
    Wrap Pendulum-v1 in an :class:`~sb3_sacx.AuxRewardWrapper` with :data:`PENDULUM_TASKS`.

    For rl-zoo3's ``env_wrapper`` hyperparameter (``env_wrapper: sb3_sacx.zoo.pendulum_aux_wrapper``):
    a module-level function, so that ``SubprocVecEnv`` workers can unpickle it.

    :param env: A Pendulum-v1 env (or one with the same observation layout).
    :return: The env with ``info["aux_rewards"]`` for the tasks "upright" and "still".
    :raises ValueError: when the observation is not Pendulum's ``Box`` of shape (3,).
    """
    space = env.observation_space
    if not isinstance(space, gym.spaces.Box) or space.shape != (3,):
        raise ValueError(
            f"pendulum_aux_wrapper expects Pendulum-v1's observation [cos(theta), sin(theta), theta_dot], "
            f"got observation space {space}"
        )
    return AuxRewardWrapper(env, PENDULUM_TASKS)
