"""Small environments for fast SACX tests."""

from typing import Any, Optional

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from sb3_sacx import AuxRewardWrapper


class PointReach(gym.Env):
    """
    A point on a line starts at 0 and moves by 0.1 * action per step (actions in [-1, 1], or {-1, 0, 1} when
    discrete). The sparse main reward is 1 on reaching x >= ``goal``, which ends the episode; episodes are
    truncated after 30 steps. A random policy rarely gets there.
    """

    def __init__(self, discrete: bool = False, goal: float = 0.8, max_steps: int = 30) -> None:
        self.discrete = discrete
        self.goal = goal
        self.max_steps = max_steps
        self.observation_space = spaces.Box(-1.0, 1.0, shape=(1,), dtype=np.float32)
        self.action_space = spaces.Discrete(3) if discrete else spaces.Box(-1.0, 1.0, shape=(1,), dtype=np.float32)

    def reset(self, *, seed: Optional[int] = None, options: Optional[dict] = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self.x, self.t = 0.0, 0
        return np.array([self.x], dtype=np.float32), {}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict]:
        move = float(action) - 1.0 if self.discrete else float(np.clip(action, -1.0, 1.0)[0])
        self.x = float(np.clip(self.x + 0.1 * move, -1.0, 1.0))
        self.t += 1
        success = self.x >= self.goal
        info = {"is_success": success}
        return np.array([self.x], dtype=np.float32), float(success), success, self.t >= self.max_steps, info


def go_right(obs: Any, action: Any, next_obs: np.ndarray, info: dict) -> float:
    """Auxiliary task: be as far right as possible."""
    return float((next_obs[0] + 1.0) / 2.0)


def point_reach(discrete: bool = False, **kwargs: Any) -> AuxRewardWrapper:
    return AuxRewardWrapper(PointReach(discrete, **kwargs), {"right": go_right})
