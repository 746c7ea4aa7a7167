"""
Which intention acts in each environment, and the bookkeeping of its episodes (Riedmiller et al., 2018, section 4.2):
at an episode's start and every ``schedule_period`` steps the scheduler picks the intention that acts; when the episode
ends the scheduler hears its main rewards (SAC-Q learns from them) and the episode's return per task goes to the logs.
"""

from collections import deque
from collections.abc import Sequence
from typing import Any, Optional, Union

import numpy as np
from stable_baselines3.common.buffers import ReplayBuffer
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.noise import ActionNoise
from stable_baselines3.common.type_aliases import MaybeCallback

from sb3_sacx.logs import record_rollout
from sb3_sacx.validation import scheduler_probabilities, task_index


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


class ScheduledActing:
    """
    SAC-X's acting, as hooks of SB3's ``OffPolicyAlgorithm`` (the class it is mixed into before it): each environment
    acts with the intention its schedule chose (section 4.2), the behaviour log-probabilities go to the replay buffer
    for Retrace, the episodes' returns per task to the logs and their main rewards to the scheduler; ``predict`` acts
    with the intention named. The algorithm provides ``task_names``, ``scheduler``, ``schedule_period`` and the
    policy's ``act``.
    """

    # What the algorithm provides (SACX sets them up in _setup_model and __init__)
    task_names: tuple[str, ...]
    scheduler: Any
    schedule_period: int
    _intentions: Optional[Intentions]
    _task_returns: deque

    def set_random_seed(self, seed: Optional[int] = None) -> None:
        """
        SB3's seeding (Python, NumPy, PyTorch, action space, env), and the scheduler's: one seed, one schedule.
        A scheduler object of your own is reseeded if it has a ``seed(seed)`` method.

        :param seed: the seed.
        """
        super().set_random_seed(seed)  # type: ignore[misc]
        # Called by SB3's _setup_model before the scheduler exists (it is then built from self.seed)
        seed_scheduler = getattr(getattr(self, "scheduler", None), "seed", None)
        if seed is not None and callable(seed_scheduler):
            seed_scheduler(seed)

    @property
    def task_returns(self) -> np.ndarray:
        """
        ``[n_episodes, K]`` the return per task of the recent training episodes (at most ``stats_window_size``), the
        main return unscaled: what ``rollout/return_<task>`` logs the mean of.
        """
        return np.array(self._task_returns).reshape(-1, len(self.task_names))

    def predict(
        self,
        observation: Union[np.ndarray, dict[str, np.ndarray]],
        state: Optional[tuple[np.ndarray, ...]] = None,
        episode_start: Optional[np.ndarray] = None,
        deterministic: bool = False,
        task: Union[str, int, None] = None,
    ) -> tuple[np.ndarray, Optional[tuple[np.ndarray, ...]]]:
        """
        Get the action of one intention (the main task's by default) for an observation.

        :param observation: the input observation.
        :param state: unused (no recurrent policies).
        :param episode_start: unused.
        :param deterministic: return deterministic actions.
        :param task: name (or index) of the intention that acts; None for the main task.
        :return: the action and the (unused) state.
        """
        index = task_index(self.task_names, task)
        return self.policy.predict(observation, state, episode_start, deterministic, task=index)

    def _setup_learn(
        self,
        total_timesteps: int,
        callback: MaybeCallback = None,
        reset_num_timesteps: bool = True,
        tb_log_name: str = "run",
        progress_bar: bool = False,
    ) -> tuple[int, BaseCallback]:
        env_is_reset = reset_num_timesteps or self._last_obs is None
        result = super()._setup_learn(total_timesteps, callback, reset_num_timesteps, tb_log_name, progress_bar)  # type: ignore[misc]
        # A model saved before the schedule had its own module has none: it starts its episodes' schedules anew
        schedule = getattr(self, "_intentions", None)
        if env_is_reset or not isinstance(schedule, Intentions) or schedule.n_envs != self.n_envs:
            self.replay_buffer.truncate_last_episodes()
            self._intentions = Intentions(self.task_names, self.schedule_period, self.n_envs).start(self.scheduler)
        return result

    def _sample_action(
        self, learning_starts: int, action_noise: Optional[ActionNoise] = None, n_envs: int = 1
    ) -> tuple[np.ndarray, np.ndarray]:
        """
        Act with each environment's scheduled intention, and remember ``log mu(a|s)`` for Retrace.

        :return: the action for the env and the action as stored (squashed to [-1, 1] for Box).
        """
        acting = self._intentions.schedule(self.scheduler)
        family = self.policy.action_family
        if self.num_timesteps < learning_starts:
            env_actions = np.array([self.action_space.sample() for _ in range(n_envs)])
            buffer_action = family.stored_action(self.policy, env_actions)
            self._behaviour_log_probs = np.full(n_envs, family.uniform_log_density(self.action_space))
        else:
            buffer_action, self._behaviour_log_probs = self.policy.act(self._last_obs, acting)
        return family.env_action(self.policy, buffer_action), buffer_action

    def _store_transition(
        self,
        replay_buffer: ReplayBuffer,
        buffer_action: np.ndarray,
        new_obs: Union[np.ndarray, dict[str, np.ndarray]],
        reward: np.ndarray,
        dones: np.ndarray,
        infos: list[dict[str, Any]],
    ) -> None:
        replay_buffer.stage_behaviour(self._behaviour_log_probs, self._intentions.acting)  # type: ignore[attr-defined]
        super()._store_transition(replay_buffer, buffer_action, new_obs, reward, dones, infos)  # type: ignore[misc]
        main_rewards = self._vec_normalize_env.get_original_reward() if self._vec_normalize_env is not None else reward
        aux_rewards = [info["aux_rewards"] for info in infos]
        self._task_returns.extend(self._intentions.record(self.scheduler, main_rewards, aux_rewards, dones))

    def dump_logs(self) -> None:
        """SB3's logs, with the recent episodes' mean return per task and the scheduler's choice probabilities."""
        probabilities = scheduler_probabilities(self.scheduler, self.task_names)
        record_rollout(self.logger, self.task_names, self.task_returns, probabilities)
        super().dump_logs()  # type: ignore[misc]
