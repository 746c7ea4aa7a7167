import importlib
import warnings
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.envs.box2d.lunar_lander import LunarLander
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import SubprocVecEnv

import sb3_sacx.tasks
from sb3_sacx import AuxRewardWrapper
from sb3_sacx.tasks import SparseLandingWrapper, heuristic_action, make_sparse_lunar_lander
from sb3_sacx.tasks.lunar_lander import (
    LUNAR_LANDER_TASKS,
    goal_distance,
    hover_angular,
    hover_planar,
    land_on_pad,
    touch,
    upright,
)

TASK_NAMES = ("touch", "hover_planar", "hover_angular", "upright", "goal_distance")
ENV_IDS = ("SparseLunarLander-v0", "SparseLunarLanderContinuous-v0")
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
    obs, info = env.reset(seed=seed)
    env.action_space.seed(seed)
    np.testing.assert_array_equal(info["leg_contacts"], obs[6:8])
    done = False
    while not done:
        action = heuristic_action(env, obs) if policy == "heuristic" else env.action_space.sample()
        obs, reward, terminated, truncated, info = env.step(action)
        episode.rewards.append(reward)
        episode.infos.append(info)
        episode.observations.append(obs)
        episode.terminated = terminated
        done = terminated or truncated
    return episode


@pytest.fixture(scope="module", params=ENV_IDS)
def env_id(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="module")
def heuristic_episodes(env_id: str) -> list[Episode]:
    env = gym.make(env_id)
    return [run_episode(env, seed, "heuristic") for seed in range(N_SEEDS)]


@pytest.fixture(scope="module")
def random_episodes(env_id: str) -> list[Episode]:
    env = gym.make(env_id)
    return [run_episode(env, seed, "random") for seed in range(N_SEEDS)]


@pytest.fixture(params=["heuristic", "random"])
def episodes(
    request: pytest.FixtureRequest, heuristic_episodes: list[Episode], random_episodes: list[Episode]
) -> list[Episode]:
    return heuristic_episodes if request.param == "heuristic" else random_episodes


def test_registered_spaces_and_tasks(env_id: str) -> None:
    env = gym.make(env_id)
    expected = gym.spaces.Box if env_id.endswith("Continuous-v0") else gym.spaces.Discrete
    assert isinstance(env.action_space, expected)
    assert env.action_space.shape == ((2,) if expected is gym.spaces.Box else ())
    assert env.observation_space.shape == (8,)
    assert env.spec is not None and env.spec.max_episode_steps == 1000
    assert env.get_wrapper_attr("aux_task_names") == TASK_NAMES
    assert tuple(LUNAR_LANDER_TASKS) == TASK_NAMES


def test_module_prefixed_id() -> None:
    env = gym.make("sb3_sacx:SparseLunarLander-v0")
    assert env.action_space == gym.spaces.Discrete(4)


def test_registration_is_idempotent() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        importlib.reload(sb3_sacx.tasks)
    gym.make("SparseLunarLanderContinuous-v0")


def test_heuristic_action_types() -> None:
    discrete = gym.make("SparseLunarLander-v0")
    obs, _ = discrete.reset(seed=0)
    assert isinstance(heuristic_action(discrete, obs), int)
    continuous = gym.make("SparseLunarLanderContinuous-v0")
    obs, _ = continuous.reset(seed=0)
    action = heuristic_action(continuous, obs)
    assert action.dtype == np.float32 and action.shape == (2,)
    assert continuous.action_space.contains(action)


def test_aux_rewards_in_unit_interval(episodes: list[Episode]) -> None:
    for episode in episodes:
        aux = np.stack([info["aux_rewards"] for info in episode.infos])
        assert aux.dtype == np.float32 and aux.shape == (len(episode.rewards), 5)
        assert aux.min() >= 0.0 and aux.max() <= 1.0


def test_leg_contacts_in_info_and_obs(episodes: list[Episode]) -> None:
    for episode in episodes:
        for obs, info in zip(episode.observations, episode.infos):
            assert info["leg_contacts"].dtype == np.float32 and info["leg_contacts"].shape == (2,)
            assert set(info["leg_contacts"].tolist()) <= {0.0, 1.0}
            np.testing.assert_array_equal(info["leg_contacts"], obs[6:8])
            assert info["aux_rewards"][0] == pytest.approx(info["leg_contacts"].mean())


def test_main_reward_is_sparse(episodes: list[Episode]) -> None:
    for episode in episodes:
        assert all(isinstance(info["is_success"], bool) for info in episode.infos)
        assert not any(info["is_success"] for info in episode.infos[:-1])
        assert set(episode.rewards) <= {0.0, 1.0}
        assert sum(episode.rewards) == (1.0 if episode.success else 0.0)
        assert episode.rewards[-1] == (1.0 if episode.success else 0.0)


def test_heuristic_lands(heuristic_episodes: list[Episode]) -> None:
    success_rate = np.mean([episode.success for episode in heuristic_episodes])
    assert success_rate >= 0.8


def test_successful_landing(heuristic_episodes: list[Episode]) -> None:
    for episode in filter(lambda episode: episode.success, heuristic_episodes):
        last_obs, last_info = episode.observations[-1], episode.infos[-1]
        assert episode.terminated
        assert last_info["aux_absorbing"] is True
        # gymnasium pays +100 for coming to rest; the dense reward is passed on untouched
        assert last_info["dense_reward"] == 100.0
        assert abs(last_obs[0]) <= 0.2
        np.testing.assert_array_equal(last_info["leg_contacts"], [1.0, 1.0])


def test_aux_absorbing_only_at_the_end(episodes: list[Episode]) -> None:
    for episode in episodes:
        assert not any(info["aux_absorbing"] for info in episode.infos[:-1])
        if episode.infos[-1]["aux_absorbing"]:
            assert episode.terminated


def test_random_policy_never_lands(random_episodes: list[Episode]) -> None:
    assert not any(episode.success for episode in random_episodes)


def test_observation_is_lunar_landers_except_leg_flags() -> None:
    plain = LunarLander(continuous=True)
    sparse = make_sparse_lunar_lander(continuous=True)
    plain_obs, _ = plain.reset(seed=4)
    sparse_obs, _ = sparse.reset(seed=4)
    for _ in range(300):
        action = heuristic_action(sparse, sparse_obs)
        plain_obs, dense_reward, plain_terminated, _, _ = plain.step(action)
        sparse_obs, _, terminated, _, info = sparse.step(action)
        np.testing.assert_array_equal(plain_obs[:6], sparse_obs[:6])
        assert info["dense_reward"] == pytest.approx(dense_reward)
        assert terminated == plain_terminated
        if terminated:
            break


def test_truncation_is_not_success() -> None:
    env = gym.make("SparseLunarLanderContinuous-v0", max_episode_steps=5)
    obs, _ = env.reset(seed=0)
    for _ in range(5):
        obs, reward, terminated, truncated, info = env.step(heuristic_action(env, obs))
    assert truncated and not terminated
    assert info["is_success"] is False and info["aux_absorbing"] is False and reward == 0.0


def test_factory() -> None:
    env = make_sparse_lunar_lander(continuous=False, gravity=-5.0)
    assert isinstance(env, AuxRewardWrapper) and isinstance(env.env, SparseLandingWrapper)
    assert env.aux_task_names == TASK_NAMES
    assert env.action_space == gym.spaces.Discrete(4)
    assert env.unwrapped.gravity == -5.0


def test_sparse_wrapper_needs_lunar_lander() -> None:
    with pytest.raises(TypeError, match="LunarLander"):
        SparseLandingWrapper(gym.make("CartPole-v1"))


def next_obs_with(**entries: float) -> np.ndarray:
    names = ("x", "y", "vx", "vy", "angle", "angular_velocity", "leg0", "leg1")
    return np.array([entries.get(name, 0.0) for name in names], dtype=np.float32)


@pytest.mark.parametrize(
    ("task", "entries", "expected"),
    [
        (hover_planar, {}, 1.0),
        (hover_planar, {"vx": 0.5, "vy": -0.5}, 0.5),
        (hover_planar, {"vx": 3.0}, 0.0),
        (hover_angular, {"angular_velocity": -1.0}, 0.5),
        (hover_angular, {"angular_velocity": 5.0}, 0.0),
        (upright, {}, 1.0),
        (upright, {"angle": 0.5}, 0.75),
        (goal_distance, {"x": 0.5, "y": 1.0}, 0.25),
        (goal_distance, {"x": -1.0, "y": 2.0}, 0.0),
    ],
)
def test_task_formulas(task: Any, entries: dict[str, float], expected: float) -> None:
    obs = next_obs_with()
    assert task(obs, None, next_obs_with(**entries), {}) == pytest.approx(expected)


def test_touch_uses_box2d_contacts_from_info() -> None:
    stale = next_obs_with(leg0=0.0, leg1=0.0)
    assert touch(stale, None, stale, {"leg_contacts": np.array([1.0, 0.0], dtype=np.float32)}) == 0.5
    assert touch(stale, None, stale, {"leg_contacts": np.array([1.0, 1.0], dtype=np.float32)}) == 1.0
    with pytest.raises(KeyError, match="leg_contacts"):
        touch(stale, None, stale, {})


def test_make_vec_env() -> None:
    vec_env = make_vec_env("SparseLunarLanderContinuous-v0", n_envs=4)
    assert vec_env.get_attr("aux_task_names") == [TASK_NAMES] * 4
    vec_env.reset()
    _, rewards, _, infos = vec_env.step(np.zeros((4, 2), dtype=np.float32))
    assert all(info["aux_rewards"].shape == (5,) for info in infos)
    assert set(rewards.tolist()) == {0.0}


def test_subproc_vec_env_with_module_prefix() -> None:
    vec_env = make_vec_env("sb3_sacx:SparseLunarLanderContinuous-v0", n_envs=2, vec_env_cls=SubprocVecEnv)
    try:
        assert vec_env.get_attr("aux_task_names") == [TASK_NAMES] * 2
        vec_env.seed(0)
        vec_env.reset()
        done_seen = False
        # Free fall crashes well within 200 steps: the step that resets must carry aux rewards too
        for _ in range(200):
            _, _, dones, infos = vec_env.step(np.zeros((2, 2), dtype=np.float32))
            for done, info in zip(dones, infos):
                assert info["aux_rewards"].shape == (5,)
                if done:
                    assert "terminal_observation" in info and "is_success" in info
                    done_seen = True
            if done_seen:
                break
        assert done_seen
    finally:
        vec_env.close()


BOTH_LEGS = {"leg_contacts": np.array([1.0, 1.0], dtype=np.float32)}


@pytest.mark.parametrize(
    ("action", "x", "info", "expected"),
    [
        (0, 0.1, BOTH_LEGS, 1.0),
        (np.int64(0), -0.2, {"leg_contacts": np.array([0.0, 1.0], dtype=np.float32)}, 0.5),
        (0, 0.25, BOTH_LEGS, 0.0),  # off the pad
        (2, 0.0, BOTH_LEGS, 0.0),  # main engine (Discrete)
        (np.array([-1.0, 0.5], dtype=np.float32), 0.0, BOTH_LEGS, 1.0),  # both engines below their thresholds
        (np.array([0.1, 0.0], dtype=np.float32), 0.0, BOTH_LEGS, 0.0),  # main engine (Box)
        (np.array([-1.0, -0.6], dtype=np.float32), 0.0, BOTH_LEGS, 0.0),  # side engine (Box)
        (0, 0.0, {"leg_contacts": np.zeros(2, dtype=np.float32)}, 0.0),  # hovering over the pad
    ],
)
def test_land_on_pad(action: Any, x: float, info: dict[str, Any], expected: float) -> None:
    assert land_on_pad(next_obs_with(), action, next_obs_with(x=x), info) == expected


def test_land_on_pad_needs_box2d_contacts() -> None:
    with pytest.raises(KeyError, match="leg_contacts"):
        land_on_pad(next_obs_with(), 0, next_obs_with(x=1.0), {})


def test_land_on_pad_is_opt_in_and_rewards_the_heuristics_landing() -> None:
    assert "land_on_pad" not in LUNAR_LANDER_TASKS
    env = gym.make("SparseLunarLander-v0", aux_tasks={**LUNAR_LANDER_TASKS, "land_on_pad": land_on_pad})
    assert env.get_wrapper_attr("aux_task_names") == (*TASK_NAMES, "land_on_pad")
    obs, _ = env.reset(seed=0)
    terminated = truncated = False
    while not (terminated or truncated):
        obs, _, terminated, truncated, info = env.step(heuristic_action(env, obs))
    assert info["is_success"] and info["aux_rewards"][-1] == 1.0
