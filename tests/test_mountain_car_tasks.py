import importlib
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.envs.classic_control.continuous_mountain_car import Continuous_MountainCarEnv

import sb3_sacx.tasks
from sb3_sacx import SACX, AuxRewardWrapper
from sb3_sacx.tasks import MOUNTAIN_CAR_TASKS, SparseFlagWrapper, energy_pumping_action, make_sparse_mountain_car
from sb3_sacx.tasks.mountain_car import MAX_SPEED, height, left, speed

ENV_ID = "SparseMountainCarContinuous-v0"
TASK_NAMES = ("speed", "height", "left")
N_SEEDS = 20


#: How the test episodes act: ``policy(env, obs) -> action``.
POLICIES: dict[str, Callable[[gym.Env, np.ndarray], np.ndarray]] = {
    "pumping": lambda env, obs: energy_pumping_action(obs),
    "random": lambda env, obs: env.action_space.sample(),
}


@dataclass(frozen=True)
class Rollout:
    """One episode, one row per step: what the step returned."""

    next_observations: np.ndarray
    rewards: np.ndarray
    aux_rewards: np.ndarray
    dense_rewards: list[Any]
    is_success: list[Any]
    terminated: bool

    @property
    def success(self) -> bool:
        return bool(self.is_success[-1])

    def __len__(self) -> int:
        return len(self.rewards)


def rollout(env: gym.Env, seed: int, policy: str) -> Rollout:
    obs, _ = env.reset(seed=seed)
    env.action_space.seed(seed)
    steps = []
    terminated = truncated = False
    while not (terminated or truncated):
        obs, reward, terminated, truncated, info = env.step(POLICIES[policy](env, obs))
        steps.append((obs, reward, info))
    observations, rewards, infos = zip(*steps)
    return Rollout(
        next_observations=np.stack(observations),
        rewards=np.array(rewards),
        aux_rewards=np.stack([info["aux_rewards"] for info in infos]),
        dense_rewards=[info["dense_reward"] for info in infos],
        is_success=[info["is_success"] for info in infos],
        terminated=terminated,
    )


@pytest.fixture(scope="module")
def rollouts() -> dict[str, list[Rollout]]:
    env = gym.make(ENV_ID)
    return {policy: [rollout(env, seed, policy) for seed in range(N_SEEDS)] for policy in POLICIES}


@pytest.fixture(params=list(POLICIES))
def episodes(request: pytest.FixtureRequest, rollouts: dict[str, list[Rollout]]) -> list[Rollout]:
    return rollouts[request.param]


def test_registered_spaces_and_tasks() -> None:
    env = gym.make(ENV_ID)
    assert env.action_space == gym.spaces.Box(-1.0, 1.0, shape=(1,), dtype=np.float32)
    assert env.observation_space.shape == (2,)
    assert env.spec is not None and env.spec.max_episode_steps == 999
    assert env.get_wrapper_attr("aux_task_names") == TASK_NAMES
    assert tuple(MOUNTAIN_CAR_TASKS) == TASK_NAMES
    assert MAX_SPEED == Continuous_MountainCarEnv().max_speed


def test_module_prefixed_id() -> None:
    env = gym.make(f"sb3_sacx:{ENV_ID}")
    assert env.get_wrapper_attr("aux_task_names") == TASK_NAMES


def test_registration_is_idempotent() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        importlib.reload(sb3_sacx.tasks)
    gym.make(ENV_ID)


def test_aux_rewards_in_unit_interval(episodes: list[Rollout]) -> None:
    for episode in episodes:
        assert episode.aux_rewards.dtype == np.float32 and episode.aux_rewards.shape == (len(episode), 3)
        assert episode.aux_rewards.min() >= 0.0 and episode.aux_rewards.max() <= 1.0


def test_aux_rewards_follow_next_obs(episodes: list[Rollout]) -> None:
    for episode in episodes:
        x, v = episode.next_observations.astype(np.float64).T
        expected = np.stack([np.minimum(np.abs(v) / 0.07, 1.0), (np.sin(3 * x) + 1) / 2, np.clip((-0.5 - x) / 0.7, 0, 1)])
        np.testing.assert_allclose(episode.aux_rewards, expected.T, atol=1e-6)


def test_main_reward_only_on_the_flag_step(episodes: list[Rollout]) -> None:
    for episode in episodes:
        assert all(isinstance(success, bool) for success in episode.is_success)
        assert not any(episode.is_success[:-1])
        assert set(episode.rewards.tolist()) <= {0.0, 1.0}
        assert episode.rewards.sum() == (1.0 if episode.success else 0.0)
        assert episode.rewards[-1] == (1.0 if episode.success else 0.0)
        assert episode.success == episode.terminated
        if episode.success:
            assert episode.next_observations[-1, 0] >= 0.45


def test_dense_reward_is_gymnasiums(episodes: list[Rollout]) -> None:
    for episode in episodes:
        # Any thrust costs up to 0.1 a step; reaching the flag pays +100 on top
        assert all(isinstance(value, float) for value in episode.dense_rewards)
        assert all(-0.1 <= value <= 0.0 for value in episode.dense_rewards[:-1])
        assert (episode.dense_rewards[-1] > 99.0) == episode.success


def test_energy_pumping_reaches_the_flag(rollouts: dict[str, list[Rollout]]) -> None:
    assert all(episode.success for episode in rollouts["pumping"])
    # SPEC §3: 106 steps on average over 100 seeds
    assert np.mean([len(episode) for episode in rollouts["pumping"]]) < 200


def test_random_actions_never_reach_the_flag(rollouts: dict[str, list[Rollout]]) -> None:
    assert not any(episode.success for episode in rollouts["random"])
    assert all(len(episode) == 999 and not episode.terminated for episode in rollouts["random"])


def test_energy_pumping_action() -> None:
    for velocity, expected in [(0.01, 1.0), (0.0, 1.0), (-0.0, 1.0), (-1e-6, -1.0)]:
        action = energy_pumping_action(np.array([-0.5, velocity], dtype=np.float32))
        assert action.dtype == np.float32 and action.shape == (1,) and action[0] == expected


def test_observation_and_dense_reward_are_mountain_cars() -> None:
    plain = Continuous_MountainCarEnv()
    sparse = make_sparse_mountain_car()
    plain_obs, _ = plain.reset(seed=4)
    sparse_obs, _ = sparse.reset(seed=4)
    rng = np.random.default_rng(0)
    for _ in range(200):
        action = rng.uniform(-1.0, 1.0, size=1).astype(np.float32)
        plain_obs, dense_reward, plain_terminated, _, _ = plain.step(action)
        sparse_obs, _, terminated, _, info = sparse.step(action)
        np.testing.assert_array_equal(plain_obs, sparse_obs)
        assert info["dense_reward"] == pytest.approx(dense_reward)
        assert terminated == plain_terminated


def test_truncation_is_not_success() -> None:
    env = gym.make(ENV_ID, max_episode_steps=5)
    obs, _ = env.reset(seed=0)
    for _ in range(5):
        obs, reward, terminated, truncated, info = env.step(energy_pumping_action(obs))
    assert truncated and not terminated
    assert info["is_success"] is False and reward == 0.0


def test_factory() -> None:
    env = make_sparse_mountain_car(goal_velocity=0.01)
    assert isinstance(env, AuxRewardWrapper) and isinstance(env.env, SparseFlagWrapper)
    assert env.aux_task_names == TASK_NAMES
    assert env.unwrapped.goal_velocity == 0.01


def test_factory_takes_aux_tasks() -> None:
    env = gym.make(ENV_ID, aux_tasks={"left": left})
    assert env.get_wrapper_attr("aux_task_names") == ("left",)
    env.reset(seed=0)
    assert env.step(np.zeros(1, dtype=np.float32))[4]["aux_rewards"].shape == (1,)
    assert gym.make(ENV_ID, aux_tasks={}).get_wrapper_attr("aux_task_names") == ()


def test_sparse_wrapper_needs_mountain_car() -> None:
    with pytest.raises(TypeError, match="MountainCar"):
        SparseFlagWrapper(gym.make("Pendulum-v1"))


def next_obs_with(x: float = -0.5, v: float = 0.0) -> np.ndarray:
    return np.array([x, v], dtype=np.float32)


@pytest.mark.parametrize(
    ("task", "x", "v", "expected"),
    [
        (speed, -0.5, 0.0, 0.0),
        (speed, -0.5, 0.035, 0.5),
        (speed, -0.5, -0.035, 0.5),
        (speed, 0.0, 0.07, 1.0),
        (speed, 0.0, -0.07, 1.0),
        (speed, 0.0, 0.2, 1.0),  # beyond gymnasium's speed limit: clipped
        (height, -math.pi / 6, 0.0, 0.0),  # the valley's bottom
        (height, math.pi / 6, 0.0, 1.0),  # the right hill's crest (past the flag)
        (height, 0.0, 0.0, 0.5),
        (height, -1.2, 0.0, (math.sin(-3.6) + 1) / 2),  # the left wall, high on the left hill
        (height, 0.45, 0.0, (math.sin(1.35) + 1) / 2),  # the flag
        (left, 0.45, 0.0, 0.0),
        (left, -0.5, 0.0, 0.0),
        (left, -0.85, 0.0, 0.5),
        (left, -1.2, 0.0, 1.0),  # the left wall
        (left, -1.5, 0.0, 1.0),  # beyond the wall: clipped
    ],
)
def test_task_formulas(task: Any, x: float, v: float, expected: float) -> None:
    reward = task(next_obs_with(), None, next_obs_with(x, v), {})
    assert isinstance(reward, float)
    assert reward == pytest.approx(expected, abs=1e-6)


def test_tasks_read_next_obs_only() -> None:
    for task in MOUNTAIN_CAR_TASKS.values():
        assert task(next_obs_with(-1.2, 0.07), None, next_obs_with(-0.5, 0.0), {}) == pytest.approx(
            task(next_obs_with(0.5, -0.07), np.ones(1), next_obs_with(-0.5, 0.0), {"dense_reward": 1.0})
        )


def test_sacx_learns_briefly() -> None:
    model = SACX("MlpPolicy", ENV_ID, learning_starts=200, batch_size=32, seed=0).learn(300)
    assert model.task_names == ("main", *TASK_NAMES)
    assert model.num_timesteps == 300
    obs, _ = model.get_env().envs[0].reset(seed=0)  # type: ignore[attr-defined]
    for task in model.task_names:
        action, _ = model.predict(obs, deterministic=True, task=task)
        assert action.shape == (1,) and -1.0 <= action[0] <= 1.0
