import importlib
import math
import warnings
from dataclasses import dataclass, field
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


@dataclass
class Episode:
    """Everything the tests check about one episode."""

    rewards: list[float] = field(default_factory=list)
    infos: list[dict[str, Any]] = field(default_factory=list)
    observations: list[np.ndarray] = field(default_factory=list)
    terminated: bool = False

    @property
    def success(self) -> bool:
        return bool(self.infos[-1]["is_success"])


def run_episode(env: gym.Env, seed: int, policy: str) -> Episode:
    episode = Episode()
    obs, _ = env.reset(seed=seed)
    env.action_space.seed(seed)
    done = False
    while not done:
        action = energy_pumping_action(obs) if policy == "pumping" else env.action_space.sample()
        obs, reward, terminated, truncated, info = env.step(action)
        episode.rewards.append(reward)
        episode.infos.append(info)
        episode.observations.append(obs)
        episode.terminated = terminated
        done = terminated or truncated
    return episode


@pytest.fixture(scope="module")
def pumping_episodes() -> list[Episode]:
    env = gym.make(ENV_ID)
    return [run_episode(env, seed, "pumping") for seed in range(N_SEEDS)]


@pytest.fixture(scope="module")
def random_episodes() -> list[Episode]:
    env = gym.make(ENV_ID)
    return [run_episode(env, seed, "random") for seed in range(N_SEEDS)]


@pytest.fixture(params=["pumping", "random"])
def episodes(request: pytest.FixtureRequest, pumping_episodes: list[Episode], random_episodes: list[Episode]) -> list[Episode]:
    return pumping_episodes if request.param == "pumping" else random_episodes


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


def test_aux_rewards_in_unit_interval(episodes: list[Episode]) -> None:
    for episode in episodes:
        aux = np.stack([info["aux_rewards"] for info in episode.infos])
        assert aux.dtype == np.float32 and aux.shape == (len(episode.rewards), 3)
        assert aux.min() >= 0.0 and aux.max() <= 1.0


def test_aux_rewards_follow_next_obs(episodes: list[Episode]) -> None:
    for episode in episodes:
        x, v = np.stack(episode.observations).astype(np.float64).T
        expected = np.stack([np.minimum(np.abs(v) / 0.07, 1.0), (np.sin(3 * x) + 1) / 2, np.clip((-0.5 - x) / 0.7, 0, 1)])
        np.testing.assert_allclose(np.stack([info["aux_rewards"] for info in episode.infos]), expected.T, atol=1e-6)


def test_main_reward_only_on_the_flag_step(episodes: list[Episode]) -> None:
    for episode in episodes:
        assert all(isinstance(info["is_success"], bool) for info in episode.infos)
        assert not any(info["is_success"] for info in episode.infos[:-1])
        assert set(episode.rewards) <= {0.0, 1.0}
        assert sum(episode.rewards) == (1.0 if episode.success else 0.0)
        assert episode.rewards[-1] == (1.0 if episode.success else 0.0)
        assert episode.success == episode.terminated
        if episode.success:
            assert episode.observations[-1][0] >= 0.45


def test_dense_reward_is_gymnasiums(episodes: list[Episode]) -> None:
    for episode in episodes:
        # Full thrust every step (pumping) or any thrust (random) costs; reaching the flag pays +100 on top
        dense = [info["dense_reward"] for info in episode.infos]
        assert all(isinstance(value, float) for value in dense)
        assert all(-0.1 <= value <= 0.0 for value in dense[:-1])
        assert (dense[-1] > 99.0) == episode.success


def test_energy_pumping_reaches_the_flag(pumping_episodes: list[Episode]) -> None:
    assert all(episode.success for episode in pumping_episodes)
    # SPEC §3: 106 steps on average over 100 seeds
    assert np.mean([len(episode.rewards) for episode in pumping_episodes]) < 200


def test_random_actions_never_reach_the_flag(random_episodes: list[Episode]) -> None:
    assert not any(episode.success for episode in random_episodes)
    assert all(len(episode.rewards) == 999 and not episode.terminated for episode in random_episodes)


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
