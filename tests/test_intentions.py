"""The schedule of each environment's running episode: who acts when, and what the scheduler hears."""

import numpy as np
import pytest

from sb3_sacx.intentions import Intentions

TASKS = ("main", "a", "b")


class RecordingScheduler:
    """Picks task (env_index + step) % 3 and records every call."""

    def __init__(self, answer=None) -> None:
        self.calls: list[tuple] = []
        self.answer = answer

    def reset(self, env_index: int) -> None:
        self.calls.append(("reset", env_index))

    def select(self, env_index: int, step: int):
        self.calls.append(("select", env_index, step))
        return (env_index + step) % len(TASKS) if self.answer is None else self.answer

    def episode_end(self, env_index: int, main_rewards: np.ndarray) -> None:
        self.calls.append(("end", env_index, main_rewards.tolist()))


def test_a_new_choice_every_period_and_the_episode_told_at_its_end() -> None:
    scheduler = RecordingScheduler()
    intentions = Intentions(TASKS, schedule_period=2, n_envs=2).start(scheduler)
    assert scheduler.calls == [("reset", 0), ("reset", 1)]
    acting, ended = [], []
    for step in range(3):
        acting.append(intentions.schedule(scheduler).tolist())
        rewards, aux = np.array([1.0, 0.0]), [np.array([0.5, 0.0]), np.array([0.0, 0.25])]
        ended += intentions.record(scheduler, rewards, aux, dones=np.array([step == 2, False]))
    # Choices at steps 0 and 2 only; env 1's episode goes on
    assert acting == [[0, 1], [0, 1], [2, 0]]
    assert [call for call in scheduler.calls if call[0] == "select"] == [
        ("select", 0, 0), ("select", 1, 0), ("select", 0, 2), ("select", 1, 2)
    ]  # fmt: skip
    assert ("end", 0, [1.0, 1.0, 1.0]) in scheduler.calls and scheduler.calls[-1] == ("reset", 0)
    assert len(ended) == 1 and ended[0].tolist() == [3.0, 1.5, 0.0]
    assert intentions.episode_steps.tolist() == [0, 3]
    assert intentions.schedule(scheduler).tolist()[0] == 0  # env 0's new episode: a choice at its step 0


@pytest.mark.parametrize("answer", [3, -1, True, 1.0, "a"])
def test_a_scheduler_that_answers_no_task_index_gets_a_clear_error(answer: object) -> None:
    intentions = Intentions(TASKS, schedule_period=5, n_envs=1)
    with pytest.raises(ValueError, match=r"RecordingScheduler.select\(0, 0\) returned .* int in \[0, 2\]"):
        intentions.schedule(RecordingScheduler(answer))
