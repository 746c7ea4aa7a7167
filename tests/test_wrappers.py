from collections import OrderedDict
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.wrappers import TimeLimit
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv, VecNormalize

from sb3_sacx import AuxRewardWrapper


def cart_position(obs: Any, action: Any, next_obs: np.ndarray, info: dict[str, Any]) -> float:
    return float(next_obs[0])


def pushed_right(obs: Any, action: Any, next_obs: np.ndarray, info: dict[str, Any]) -> float:
    return float(action)


def half(obs: Any, action: Any, next_obs: np.ndarray, info: dict[str, Any]) -> float:
    return 0.5


# Deliberately not in alphabetical order: the rewards must follow the mapping's order
TASKS = OrderedDict([("position", cart_position), ("half", half), ("action", pushed_right)])


def make_env(tasks: Any = TASKS) -> AuxRewardWrapper:
    return AuxRewardWrapper(gym.make("CartPole-v1"), tasks)


def returning(value: Any) -> dict[str, Any]:
    return {"good": half, "faulty": lambda obs, action, next_obs, info: value}


def test_aux_rewards_values_order_dtype_shape() -> None:
    env = make_env()
    assert env.aux_task_names == ("position", "half", "action")
    env.reset(seed=0)
    for step in range(10):
        action = step % 2
        next_obs, _, terminated, truncated, info = env.step(action)
        aux = info["aux_rewards"]
        assert isinstance(aux, np.ndarray)
        assert aux.dtype == np.float32
        assert aux.shape == (3,)
        np.testing.assert_allclose(aux, [next_obs[0], 0.5, action], rtol=1e-6)
        assert terminated is False and truncated is False


def test_tasks_see_previous_and_next_observation() -> None:
    calls = []

    def record(obs: Any, action: Any, next_obs: Any, info: dict[str, Any]) -> float:
        calls.append((obs.copy(), action, next_obs.copy(), dict(info)))
        return 0.0

    env = make_env({"record": record})
    first_obs, _ = env.reset(seed=1)
    np.testing.assert_array_equal(env.last_obs, first_obs)
    second_obs, *_ = env.step(1)
    third_obs, *_ = env.step(0)
    np.testing.assert_array_equal(calls[0][0], first_obs)
    np.testing.assert_array_equal(calls[0][2], second_obs)
    assert calls[0][1] == 1
    np.testing.assert_array_equal(calls[1][0], second_obs)
    np.testing.assert_array_equal(calls[1][2], third_obs)
    np.testing.assert_array_equal(env.last_obs, third_obs)
    # After a reset the previous observation is the reset one
    reset_obs, _ = env.reset(seed=2)
    env.step(0)
    np.testing.assert_array_equal(calls[2][0], reset_obs)


def test_main_reward_untouched() -> None:
    plain = gym.make("CartPole-v1")
    wrapped = make_env()
    plain_obs, _ = plain.reset(seed=3)
    wrapped_obs, _ = wrapped.reset(seed=3)
    np.testing.assert_array_equal(plain_obs, wrapped_obs)
    for _ in range(5):
        plain_step = plain.step(1)
        wrapped_step = wrapped.step(1)
        np.testing.assert_array_equal(plain_step[0], wrapped_step[0])
        assert plain_step[1:4] == wrapped_step[1:4]
        assert set(wrapped_step[4]) == {*plain_step[4], "aux_rewards"}


def test_task_mapping_copied() -> None:
    tasks = dict(TASKS)
    env = make_env(tasks)
    tasks["late"] = half
    del tasks["position"]
    assert env.aux_task_names == ("position", "half", "action")
    assert list(env.aux_tasks) == ["position", "half", "action"]


def test_empty_task_mapping_gives_empty_rewards() -> None:
    env = make_env({})
    env.reset(seed=0)
    info = env.step(env.action_space.sample())[-1]
    assert env.aux_task_names == ()
    assert info["aux_rewards"].shape == (0,) and info["aux_rewards"].dtype == np.float32


@pytest.mark.parametrize(
    ("tasks", "error", "match"),
    [
        ([("a", half)], TypeError, "mapping"),
        ({"main": half}, ValueError, "'main'"),
        ({"ok": half, 3: half}, TypeError, "3"),
        ({"ok": half, "": half}, ValueError, "empty"),
        ({"ok": half, "broken": 1.0}, TypeError, "'broken'"),
        ({"ok": half, "broken": None}, TypeError, "'broken'"),
    ],
)
def test_bad_tasks_rejected_at_construction(tasks: Any, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        make_env(tasks)


def test_wrapping_twice_rejected() -> None:
    with pytest.raises(ValueError, match="already wrapped"):
        AuxRewardWrapper(Monitor(make_env()), {"other": half})


def test_step_before_reset() -> None:
    env = AuxRewardWrapper(gym.make("CartPole-v1", disable_env_checker=True).unwrapped, TASKS)
    with pytest.raises(RuntimeError, match="reset"):
        env.step(0)


@pytest.mark.parametrize(
    "value",
    [
        None,
        "1.0",
        [1.0],
        (1.0,),
        {"r": 1.0},
        np.array([1.0, 2.0]),
        np.array(["a"]),
        1j,
    ],
)
def test_non_number_is_type_error(value: Any) -> None:
    env = make_env(returning(value))
    env.reset(seed=0)
    with pytest.raises(TypeError, match=r"'faulty'.*step 1 ") as excinfo:
        env.step(0)
    assert "'good'" not in str(excinfo.value)


@pytest.mark.parametrize(
    "value, reward", [(True, 1.0), (np.bool_(False), 0.0), (np.array([True]), 1.0), (np.array(True), 1.0)]
)
def test_condition_is_a_zero_one_reward(value: Any, reward: float) -> None:
    env = make_env(returning(value))
    env.reset(seed=0)
    info = env.step(0)[4]
    assert info["aux_rewards"][1] == reward
    assert info["aux_rewards"].dtype == np.float32


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf, np.float32(np.nan), np.array([np.inf]), 1e300])
def test_non_finite_is_value_error(value: Any) -> None:
    env = make_env(returning(value))
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"'faulty'.*step 1 "):
        env.step(0)


def test_error_names_the_step() -> None:
    def fails_on_third_step(obs: Any, action: Any, next_obs: Any, info: dict[str, Any]) -> float:
        fails_on_third_step.calls += 1  # type: ignore[attr-defined]
        return np.nan if fails_on_third_step.calls == 3 else 0.0  # type: ignore[attr-defined]

    fails_on_third_step.calls = 0  # type: ignore[attr-defined]
    env = make_env({"late": fails_on_third_step})
    env.reset(seed=0)
    env.step(0)
    env.step(0)
    with pytest.raises(ValueError, match=r"'late' at step 3 "):
        env.step(0)


@pytest.mark.parametrize(
    ("value", "expected"),
    [(1, 1.0), (0.25, 0.25), (np.int64(2), 2.0), (np.float32(0.5), 0.5), (np.array(0.75), 0.75), (np.array([[3]]), 3.0)],
)
def test_numbers_accepted(value: Any, expected: float) -> None:
    env = make_env(returning(value))
    env.reset(seed=0)
    info = env.step(0)[-1]
    np.testing.assert_array_equal(info["aux_rewards"], np.array([0.5, expected], dtype=np.float32))


@pytest.mark.parametrize("monitor_inside", [True, False])
def test_composes_with_monitor_and_time_limit(monitor_inside: bool) -> None:
    base = TimeLimit(gym.make("CartPole-v1").unwrapped, max_episode_steps=5)
    env = AuxRewardWrapper(Monitor(base), TASKS) if monitor_inside else Monitor(AuxRewardWrapper(base, TASKS))
    env.reset(seed=0)
    for _ in range(5):
        *_, terminated, truncated, info = env.step(0 if _ % 2 else 1)
        assert info["aux_rewards"].shape == (3,)
    assert truncated and not terminated
    assert info["episode"]["l"] == 5
    assert env.get_wrapper_attr("aux_task_names") == ("position", "half", "action")


def check_vec_env(vec_env: Any, n_steps: int = 200) -> None:
    """Step with constant pushes until every env has ended an episode; check infos on every step."""
    assert vec_env.get_attr("aux_task_names") == [("position", "half", "action")] * vec_env.num_envs
    vec_env.seed(0)
    vec_env.reset()
    ended = np.zeros(vec_env.num_envs, dtype=bool)
    for _ in range(n_steps):
        actions = np.ones(vec_env.num_envs, dtype=np.int64)
        _, _, dones, infos = vec_env.step(actions)
        for done, info in zip(dones, infos):
            assert info["aux_rewards"].dtype == np.float32 and info["aux_rewards"].shape == (3,)
            assert info["aux_rewards"][1] == 0.5
            if done:
                # The terminal step's rewards are computed on the terminal observation, not the reset one
                assert "terminal_observation" in info
                terminal_obs = info["terminal_observation"]
                if isinstance(vec_env, VecNormalize):
                    # VecNormalize normalises the terminal observation too; aux rewards stay raw
                    terminal_obs = vec_env.unnormalize_obs(terminal_obs)
                np.testing.assert_allclose(info["aux_rewards"][0], terminal_obs[0], rtol=1e-5, atol=1e-6)
        ended |= dones
        if ended.all():
            break
    assert ended.all()


def test_dummy_vec_env() -> None:
    vec_env = make_vec_env("CartPole-v1", n_envs=2, wrapper_class=AuxRewardWrapper, wrapper_kwargs={"aux_tasks": TASKS})
    assert isinstance(vec_env, DummyVecEnv)
    check_vec_env(vec_env)


class ResetWithoutOptions(gym.Wrapper):
    """An env whose ``reset`` takes a seed only, as some older envs (and one of SB3's tests) have it."""

    def reset(self, seed: Any = None) -> tuple[Any, dict[str, Any]]:  # type: ignore[override]
        return self.env.reset(seed=seed)


def test_options_are_passed_on_only_when_given() -> None:
    env = AuxRewardWrapper(ResetWithoutOptions(gym.make("CartPole-v1")), TASKS)
    obs, _ = env.reset(seed=0)  # as DummyVecEnv resets: no options
    assert env.observation_space.contains(obs)
    with pytest.raises(TypeError, match="options"):
        env.reset(seed=0, options={"low": -0.1})


def test_subproc_vec_env() -> None:
    vec_env = make_vec_env(
        "CartPole-v1",
        n_envs=2,
        wrapper_class=AuxRewardWrapper,
        wrapper_kwargs={"aux_tasks": TASKS},
        vec_env_cls=SubprocVecEnv,
    )
    try:
        check_vec_env(vec_env)
    finally:
        vec_env.close()


def test_vec_normalize_leaves_aux_rewards_alone() -> None:
    vec_env = make_vec_env("CartPole-v1", n_envs=2, wrapper_class=AuxRewardWrapper, wrapper_kwargs={"aux_tasks": TASKS})
    check_vec_env(VecNormalize(vec_env, norm_obs=True, norm_reward=True))
