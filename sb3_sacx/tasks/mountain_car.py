"""
Sparse-reward MountainCar with three auxiliary tasks.

Observation: ``[position, velocity]``; one action in [-1, 1]; the flag is at position 0.45 and gymnasium ends the
episode when the car reaches it. gymnasium's own reward pays +100 there minus an action cost, which SAC commonly answers
by standing still; the sparse env pays 1 at the flag and nothing else, so the only way to a reward is exploration.
"""

from collections import OrderedDict
from collections.abc import Mapping
from typing import Any, Optional, SupportsFloat

import gymnasium as gym
import numpy as np
from gymnasium.envs.classic_control.continuous_mountain_car import Continuous_MountainCarEnv

from sb3_sacx.wrappers import AuxRewardWrapper, AuxTaskFn

#: gymnasium's speed limit: ``|velocity|`` never exceeds it, so ``speed`` is 1 at full speed.
MAX_SPEED = 0.07
#: The valley's bottom is near x = -0.5 and the left wall at x = -1.2: ``left`` rises from 0 to 1 between them.
LEFT_START, LEFT_SPAN = -0.5, 0.7

#: The baseline SACX is measured against here: rl-zoo3's tuned SAC hyperparameters for ``MountainCarContinuous-v0``
#: (gSDE included), as in ``rl_zoo3/hyperparams/sac.yml`` of rl-zoo3 2.9.2 (DLR-RM/rl-baselines3-zoo), for
#: ``stable_baselines3.SAC("MlpPolicy", env, **ZOO_SAC_KWARGS)``.
ZOO_SAC_KWARGS: dict[str, Any] = dict(
    learning_rate=3e-4,
    buffer_size=50_000,
    batch_size=512,
    ent_coef=0.1,
    train_freq=32,
    gradient_steps=32,
    gamma=0.9999,
    tau=0.01,
    learning_starts=0,
    use_sde=True,
    policy_kwargs=dict(log_std_init=-3.67, net_arch=[64, 64], use_expln=True),
)

# Indices into the observation vector
_POSITION, _VELOCITY = range(2)


class SparseFlagWrapper(gym.Wrapper):
    """
    Replace MountainCar's dense reward with the sparse SAC-X main reward.

    Reward is 1.0 on the step the car reaches the flag (gymnasium's ``terminated``) and 0.0 on every other step, with no
    action cost. ``info`` gains, on every step: ``dense_reward`` (gymnasium's reward) and ``is_success`` (True only on
    the step that reaches the flag).

    :param env: A ``Continuous_MountainCarEnv``, possibly wrapped.
    """

    def __init__(self, env: gym.Env) -> None:
        if not isinstance(env.unwrapped, Continuous_MountainCarEnv):
            raise TypeError(
                f"SparseFlagWrapper needs gymnasium's continuous MountainCar env, got {type(env.unwrapped).__name__}"
            )
        super().__init__(env)

    def step(self, action: Any) -> tuple[np.ndarray, SupportsFloat, bool, bool, dict[str, Any]]:
        """
        Step the env and replace its reward with the sparse flag reward.

        :param action: Action for the wrapped env.
        :return: ``(obs, sparse_reward, terminated, truncated, info)``.
        """
        obs, dense_reward, terminated, truncated, info = self.env.step(action)
        # gymnasium terminates only at the flag; a time-limit truncation is not a success
        success = bool(terminated)
        # Set on every step: the outer TimeLimit may truncate the episode, and only then would a last-step-only key be
        # missing where SB3 reads it
        info = {**info, "dense_reward": float(dense_reward), "is_success": success}
        return obs, 1.0 if success else 0.0, terminated, truncated, info


def speed(obs: np.ndarray, action: Any, next_obs: np.ndarray, info: dict[str, Any]) -> float:
    """
    Move fast, either way: ``clip(|v| / 0.07, 0, 1)``.

    :param obs: Observation before the step (unused).
    :param action: Action taken (unused).
    :param next_obs: Observation after the step.
    :param info: Step info (unused).
    :return: Reward in [0, 1].
    """
    return float(np.clip(abs(float(next_obs[_VELOCITY])) / MAX_SPEED, 0.0, 1.0))


def height(obs: np.ndarray, action: Any, next_obs: np.ndarray, info: dict[str, Any]) -> float:
    """
    Be high on either hill: ``(sin(3x) + 1) / 2``, the track's own height profile mapped to [0, 1].

    :param obs: Observation before the step (unused).
    :param action: Action taken (unused).
    :param next_obs: Observation after the step.
    :param info: Step info (unused).
    :return: Reward in [0, 1].
    """
    return (float(np.sin(3.0 * float(next_obs[_POSITION]))) + 1.0) / 2.0


def left(obs: np.ndarray, action: Any, next_obs: np.ndarray, info: dict[str, Any]) -> float:
    """
    Be far up the left hill: ``clip((-0.5 - x) / 0.7, 0, 1)``, 0 right of the valley, 1 at the left wall (x = -1.2).

    Climbing the left hill is the swing that the flag on the right needs.

    :param obs: Observation before the step (unused).
    :param action: Action taken (unused).
    :param next_obs: Observation after the step.
    :param info: Step info (unused).
    :return: Reward in [0, 1].
    """
    return float(np.clip((LEFT_START - float(next_obs[_POSITION])) / LEFT_SPAN, 0.0, 1.0))


#: The three auxiliary tasks, in the order of ``info["aux_rewards"]``.
MOUNTAIN_CAR_TASKS: "OrderedDict[str, AuxTaskFn]" = OrderedDict([("speed", speed), ("height", height), ("left", left)])


def make_sparse_mountain_car(aux_tasks: Optional[Mapping[str, AuxTaskFn]] = None, **kwargs: Any) -> AuxRewardWrapper:
    """
    Build the sparse MountainCar with its auxiliary tasks (no time limit: ``gym.make`` adds gymnasium's 999 steps).

    :param aux_tasks: the auxiliary tasks; ``None`` for the three above (``MOUNTAIN_CAR_TASKS``).
    :param kwargs: Passed on to gymnasium's ``Continuous_MountainCarEnv`` (e.g. ``goal_velocity``, ``render_mode``).
    :return: ``AuxRewardWrapper(SparseFlagWrapper(Continuous_MountainCarEnv(...)), aux_tasks)``.
    """
    tasks = MOUNTAIN_CAR_TASKS if aux_tasks is None else aux_tasks
    return AuxRewardWrapper(SparseFlagWrapper(Continuous_MountainCarEnv(**kwargs)), tasks)


# Lets gym.make validate ``render_mode`` against MountainCar's modes, as for a class entry point
make_sparse_mountain_car.metadata = Continuous_MountainCarEnv.metadata  # type: ignore[attr-defined]


def energy_pumping_action(obs: np.ndarray) -> np.ndarray:
    """
    A hand-written controller that reaches the flag: push along the velocity (``sign(v)``, +1 at ``v = 0``), which adds
    energy on every swing.

    :param obs: The current observation ``[position, velocity]``.
    :return: float32 array of shape (1,), -1 or +1.
    """
    return np.array([-1.0 if obs[_VELOCITY] < 0.0 else 1.0], dtype=np.float32)
