"""
Which intention acts in each environment, and the bookkeeping of its episodes (Riedmiller et al., 2018, section 4.2):
at an episode's start and every ``schedule_period`` steps the scheduler picks the intention that acts; when the episode
ends the scheduler hears its main rewards (SAC-Q learns from them) and the episode's return per task goes to the logs.
"""

from collections.abc import Sequence

import numpy as np


class Intentions:
    """
    The schedule of every environment's running episode. It holds no scheduler: the model's own is passed to each call,
    so that a saved model pickles the scheduler once (and the schedule, with the model, as plain arrays).

    :param task_names: the model's tasks, the main task first.
    :param schedule_period: ``xi``, steps an intention acts before the scheduler chooses again.
    :param n_envs: number of environments.
    """

    def __init__(self, task_names: Sequence[str], schedule_period: int, n_envs: int) -> None:
        self.task_names = tuple(task_names)
        self.schedule_period = schedule_period
        self.n_envs = n_envs
        #: ``[n_envs]`` steps taken so far in each environment's episode
        self.episode_steps = np.zeros(n_envs, dtype=np.int64)
        #: ``[n_envs]`` the intention acting in each environment
        self.acting = np.zeros(n_envs, dtype=np.int64)
        self._main_rewards: list[list[float]] = [[] for _ in range(n_envs)]
        self._task_returns = np.zeros((n_envs, len(self.task_names)))

    def start(self, scheduler: object) -> "Intentions":
        """
        Every environment starts an episode (its env was just reset).

        :param scheduler: the model's scheduler.
        :return: this schedule.
        """
        for env_index in range(self.n_envs):
            scheduler.reset(env_index)  # type: ignore[attr-defined]
        return self

    def schedule(self, scheduler: object) -> np.ndarray:
        """
        The intention that acts in each environment for the next step: the scheduler's new choice where a segment
        starts (at steps 0, xi, 2 xi, ... of an episode), the same intention as before elsewhere.

        :param scheduler: the model's scheduler.
        :return: ``[n_envs]`` task indices.
        """
        for env_index in np.flatnonzero(self.episode_steps % self.schedule_period == 0):
            self.acting[env_index] = self._select(scheduler, int(env_index), int(self.episode_steps[env_index]))
        return self.acting

    def _select(self, scheduler: object, env_index: int, step: int) -> int:
        """The scheduler's choice for ``env_index`` from ``step``, checked: a scheduler of the user's own may err."""
        task = scheduler.select(env_index, step)  # type: ignore[attr-defined]
        n_tasks = len(self.task_names)
        if isinstance(task, (bool, np.bool_)) or not isinstance(task, (int, np.integer)) or not 0 <= task < n_tasks:
            raise ValueError(
                f"{type(scheduler).__name__}.select({env_index}, {step}) returned {task!r}: it must return an index "
                f"into task_names, an int in [0, {n_tasks - 1}] for {self.task_names}."
            )
        return int(task)

    def record(
        self, scheduler: object, main_rewards: np.ndarray, aux_rewards: Sequence[np.ndarray], dones: np.ndarray
    ) -> list[np.ndarray]:
        """
        One step of every environment: add its rewards to the running episode; where the episode ended, tell the
        scheduler and start the next.

        :param scheduler: the model's scheduler.
        :param main_rewards: ``[n_envs]`` the main reward of the step (as the env gave it, before any normalisation).
        :param aux_rewards: per environment, ``[K - 1]`` auxiliary rewards of the step.
        :param dones: ``[n_envs]`` whether the episode ended with the step.
        :return: the ``[K]`` per-task returns of the episodes that ended.
        """
        self.episode_steps += 1
        ended = []
        for env_index in range(self.n_envs):
            self._main_rewards[env_index].append(float(main_rewards[env_index]))
            self._task_returns[env_index] += [main_rewards[env_index], *aux_rewards[env_index]]
            if dones[env_index]:
                ended.append(self._task_returns[env_index].copy())
                scheduler.episode_end(env_index, np.asarray(self._main_rewards[env_index]))  # type: ignore[attr-defined]
                scheduler.reset(env_index)  # type: ignore[attr-defined]
                self.episode_steps[env_index] = 0
                self._main_rewards[env_index] = []
                self._task_returns[env_index] = 0.0
        return ended
