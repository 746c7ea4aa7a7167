import pickle

import numpy as np
import pytest

from sb3_sacx.schedulers import (
    QScheduler,
    UniformScheduler,
    annealed_temperature,
    make_scheduler,
    returns_from_segments,
    softmax,
)

N_TASKS = 4
GOOD_TASK = 2
PERIOD = 10


def run_episode(scheduler, env_index: int, n_segments: int = 3) -> None:
    """A synthetic episode: the main reward is 1 on every step that GOOD_TASK acts, 0 otherwise."""
    scheduler.reset(env_index)
    rewards = []
    for segment in range(n_segments):
        task = scheduler.select(env_index, segment * PERIOD)
        rewards += [1.0 if task == GOOD_TASK else 0.0] * PERIOD
    scheduler.episode_end(env_index, np.array(rewards))


def test_returns_from_segments() -> None:
    rewards = np.array([0.0, 1.0, 0.0, 2.0, 0.0])
    np.testing.assert_allclose(returns_from_segments(rewards, [0, 2, 4]), [3.0, 2.0, 0.0])
    # A segment that would start after the episode ended earns nothing
    np.testing.assert_allclose(returns_from_segments(rewards, [0, 10]), [3.0, 0.0])


def test_softmax_is_stable_and_normalised() -> None:
    probabilities = softmax(np.array([1000.0, 1000.0, 0.0]), temperature=0.1)
    np.testing.assert_allclose(probabilities, [0.5, 0.5, 0.0])


def test_sac_q_learns_the_rewarding_intention_and_sac_u_stays_uniform() -> None:
    sac_q, sac_u = QScheduler(N_TASKS, temperature=0.1, epsilon=0.2, seed=0), UniformScheduler(N_TASKS, seed=0)
    np.testing.assert_allclose(sac_q.probabilities(), 1.0 / N_TASKS)  # unvisited entries are 0: starts as SAC-U
    for _ in range(200):
        for env_index in range(2):
            run_episode(sac_q, env_index)
            run_episode(sac_u, env_index)
    assert sac_q.probabilities()[GOOD_TASK] > 0.8
    np.testing.assert_allclose(sac_u.probabilities(), 1.0 / N_TASKS)


def test_sac_q_running_mean_and_constant_step_size() -> None:
    # returns 1 then 3: running mean 2; step size 0.5 from 0: 0.5, then 0.5 + 0.5 * (3 - 0.5)
    for step_size, expected in [(None, 2.0), (0.5, 1.75)]:
        scheduler = QScheduler(2, step_size=step_size, seed=0)
        scheduler.reset(0)
        task = scheduler.select(0, 0)
        scheduler.episode_end(0, np.array([1.0]))
        scheduler.reset(0)
        scheduler._histories[0] = [(0, task)]  # force the same choice again
        scheduler.episode_end(0, np.array([3.0]))
        assert scheduler.q_table[()][task] == pytest.approx(expected)


def test_sac_q_conditions_on_the_schedule_so_far() -> None:
    scheduler = QScheduler(N_TASKS, seed=1)
    run_episode(scheduler, 0, n_segments=3)
    # One table row per prefix of the schedule: (), (T_0,), (T_0, T_1)
    assert sorted(len(key) for key in scheduler.q_table) == [0, 1, 2]


def test_sac_q_table_stays_bounded_however_long_the_run() -> None:
    """schedule_period=1 on 1000-step episodes: a table keyed by whole schedules would grow by ~1000 rows an episode."""
    scheduler = QScheduler(N_TASKS, history_length=2, seed=0)
    sizes = []
    for _ in range(5):
        for _ in range(10):
            scheduler.reset(0)
            tasks = [scheduler.select(0, step) for step in range(1000)]
            scheduler.episode_end(0, np.array([float(task == GOOD_TASK) for task in tasks]))
        sizes.append(len(pickle.dumps(scheduler)))
    assert len(scheduler.q_table) <= 1 + N_TASKS + N_TASKS**2
    assert all(len(key) <= 2 for key in scheduler.q_table)
    assert sizes[-1] == sizes[0]  # full after the first ten episodes, and no larger after fifty
    assert scheduler.probabilities()[GOOD_TASK] > 0.5  # and it still learns which intention pays


def test_sac_q_with_a_short_history_keys_rows_by_the_last_tasks() -> None:
    scheduler = QScheduler(N_TASKS, history_length=1, seed=1)
    scheduler.reset(0)
    scheduler._histories[0] = [(0, 1), (10, 2), (20, 3)]
    scheduler.episode_end(0, np.ones(30))
    assert set(scheduler.q_table) == {(), (1,), (2,)}
    assert scheduler.q_table[(2,)][3] == pytest.approx(10.0)
    np.testing.assert_allclose(scheduler._choice_probabilities((0, 0, 2)), scheduler._choice_probabilities((2,)))


def test_state_survives_pickling() -> None:
    scheduler = QScheduler(N_TASKS, seed=0)
    for _ in range(20):
        run_episode(scheduler, 0)
    restored = pickle.loads(pickle.dumps(scheduler))
    np.testing.assert_allclose(restored.probabilities(), scheduler.probabilities())
    assert restored.select(0, 0) == scheduler.select(0, 0)  # the random generator's state too


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        (dict(temperature=0.0), ValueError),
        (dict(epsilon=1.5), ValueError),
        (dict(step_size=0.0), ValueError),
        (dict(history_length=-1), ValueError),
        (dict(history_length=1.5), TypeError),
        (dict(initial_temperature=0.0, temperature_decay_episodes=10), ValueError),
        (dict(temperature_decay_episodes=0, initial_temperature=1.0), ValueError),
        (dict(temperature_decay_episodes=10), ValueError),
    ],
)
def test_bad_sac_q_parameters(kwargs, error) -> None:
    with pytest.raises(error, match=next(iter(kwargs))):
        QScheduler(N_TASKS, **kwargs)


def test_make_scheduler() -> None:
    assert isinstance(make_scheduler("sac-u", N_TASKS, 0, None), UniformScheduler)
    scheduler = make_scheduler("SAC-Q", N_TASKS, 0, {"temperature": 0.5})
    assert isinstance(scheduler, QScheduler) and scheduler.temperature == 0.5
    with pytest.raises(ValueError, match="sac-x"):
        make_scheduler("sac-x", N_TASKS, 0, None)
    with pytest.raises(TypeError, match="scheduler_kwargs"):
        make_scheduler("sac-u", N_TASKS, 0, {"temperature": 0.5})
    with pytest.raises(TypeError, match="probabilities"):
        make_scheduler(object(), N_TASKS, 0, None)
    with pytest.raises(ValueError, match="scheduler_kwargs"):
        make_scheduler(UniformScheduler(N_TASKS), N_TASKS, 0, {"temperature": 0.5})


@pytest.mark.parametrize("scheduler_class", [UniformScheduler, QScheduler])
def test_the_main_intention_acts_at_least_its_floor(scheduler_class) -> None:
    scheduler = scheduler_class(N_TASKS, seed=0, min_main_probability=0.5)
    expected_main = 0.5 + 0.5 / N_TASKS  # the floor, then its share of the scheduler's own (uniform at first) draw
    np.testing.assert_allclose(scheduler.probabilities(), [expected_main] + [0.5 / N_TASKS] * (N_TASKS - 1))
    tasks = []
    for _ in range(500):
        scheduler.reset(0)
        tasks.append(scheduler.select(0, 0))
        scheduler.episode_end(0, np.zeros(PERIOD))  # SAC-Q's table stays 0: its own draw stays uniform
    assert np.mean(np.array(tasks) == 0) == pytest.approx(expected_main, abs=0.06)


def test_a_sac_q_that_learned_another_intention_still_gives_the_main_one_its_floor() -> None:
    scheduler = make_scheduler("sac-q", N_TASKS, seed=0, scheduler_kwargs={"epsilon": 0.2, "min_main_probability": 0.3})
    for _ in range(300):
        run_episode(scheduler, 0)
    probabilities = scheduler.probabilities()
    assert probabilities.argmax() == GOOD_TASK and probabilities[0] >= 0.3
    assert probabilities.sum() == pytest.approx(1.0)


def test_a_scheduler_pickled_before_the_floor_existed_has_none() -> None:
    scheduler = UniformScheduler(N_TASKS, seed=0)
    del scheduler.min_main_probability  # as unpickled from a model saved by an earlier version
    restored = pickle.loads(pickle.dumps(scheduler))
    np.testing.assert_allclose(restored.probabilities(), 1.0 / N_TASKS)


@pytest.mark.parametrize(("value", "error"), [(-0.1, ValueError), (1.5, ValueError), ("0.5", TypeError), (True, TypeError)])
def test_a_bad_floor_is_refused(value, error) -> None:
    with pytest.raises(error, match="min_main_probability"):
        UniformScheduler(N_TASKS, min_main_probability=value)


def test_annealed_temperature_decays_geometrically_then_stays() -> None:
    naive = [10.0 * (0.1 / 10.0) ** fraction for fraction in (0.0, 0.25, 0.5, 1.0)]
    assert [annealed_temperature(10.0, 0.1, p) for p in (0.0, 0.25, 0.5, 1.0)] == pytest.approx(naive)
    assert annealed_temperature(10.0, 0.1, 3.0) == pytest.approx(0.1) and annealed_temperature(10.0, 0.1, -1.0) == 10.0
    assert annealed_temperature(10.0, 0.1, 0.0) == 10.0


def test_sac_q_with_a_decaying_temperature_stays_near_uniform_then_turns_greedy() -> None:
    """A few lucky returns early do not make it greedy; once the temperature is down, it prefers what pays."""
    # The synthetic episodes' returns reach 30 (10 steps of reward 1 in each of 3 segments): start well above that
    annealed = QScheduler(N_TASKS, temperature=0.05, initial_temperature=300.0, temperature_decay_episodes=100, seed=0)
    fixed = QScheduler(N_TASKS, temperature=0.05, seed=0)
    for scheduler in (annealed, fixed):
        for _ in range(5):
            run_episode(scheduler, 0)
    assert annealed.current_temperature() == pytest.approx(annealed_temperature(300.0, 0.05, 5 / 100))
    assert annealed.probabilities().max() < 0.3 < fixed.probabilities().max()
    for _ in range(200):
        run_episode(annealed, 0)
    assert annealed.current_temperature() == pytest.approx(0.05) and annealed.probabilities()[GOOD_TASK] > 0.8
    # The state of the decay is the scheduler's, pickled with the model
    restored = pickle.loads(pickle.dumps(annealed))
    assert restored.episodes_learned == 205 and restored.current_temperature() == pytest.approx(0.05)


def test_a_sac_q_pickled_before_the_decay_existed_keeps_its_fixed_temperature() -> None:
    old = QScheduler(N_TASKS, temperature=0.3, seed=0)
    for attribute in ("initial_temperature", "temperature_decay_episodes", "episodes_learned"):
        del old.__dict__[attribute]
    restored = pickle.loads(pickle.dumps(old))
    assert restored.current_temperature() == 0.3
    run_episode(restored, 0)
    assert restored.episodes_learned == 1
