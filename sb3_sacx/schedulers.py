"""
Schedulers choose which intention acts for the next ``schedule_period`` steps of an episode
(Riedmiller et al., 2018, section 4.2): SAC-U draws uniformly, SAC-Q learns from main-task returns.

A scheduler is any object with ``reset``, ``select``, ``episode_end`` and ``probabilities`` as in
:class:`Scheduler`; it is pickled with the model, so its state survives ``save``/``load``.
"""

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Optional, Union

import numpy as np

from sb3_sacx.checks import check_number


def softmax(values: np.ndarray, temperature: float) -> np.ndarray:
    """
    Numerically stable ``softmax(values / temperature)``.

    :param values: ``[K]`` preferences.
    :param temperature: ``eta > 0``; lower is greedier.
    :return: ``[K]`` probabilities.
    """
    logits = np.asarray(values, dtype=np.float64) / temperature
    weights = np.exp(logits - logits.max())
    return weights / weights.sum()


def annealed_temperature(initial: float, final: float, progress: float) -> float:
    """
    A temperature that decays geometrically from ``initial`` to ``final`` as ``progress`` goes from 0 to 1, and stays
    at ``final`` after: a learned scheduler that starts near-uniform and turns greedy only as its table fills (as public
    SAC-X code anneals SAC-Q's, from 360 to 0.1).

    :param initial: the temperature at ``progress = 0`` (> 0).
    :param final: the temperature from ``progress = 1`` on (> 0).
    :param progress: the fraction of the decay done (clipped to [0, 1]).
    :return: ``initial ** (1 - p) * final ** p`` with ``p`` the clipped progress.
    """
    fraction = min(max(float(progress), 0.0), 1.0)
    return initial * (final / initial) ** fraction


def returns_from_segments(main_rewards: np.ndarray, segment_starts: list[int]) -> np.ndarray:
    """
    Main-task return collected from the start of each segment to the end of the episode.

    :param main_rewards: ``[episode_length]`` main reward of every step.
    :param segment_starts: step at which each segment started (0, xi, 2 xi, ...).
    :return: ``[n_segments]`` undiscounted returns.
    """
    returns_to_go = np.cumsum(np.asarray(main_rewards, dtype=np.float64)[::-1])[::-1]
    episode_length = len(returns_to_go)
    return np.array([returns_to_go[start] if start < episode_length else 0.0 for start in segment_starts])


class Scheduler(ABC):
    """
    Chooses the acting intention, one schedule per environment.

    :param n_tasks: number of intentions K (main task included).
    :param seed: seed of the scheduler's own random generator.
    :param min_main_probability: a floor on the main intention's share of acting: each segment goes to the main
        intention with this probability, and is otherwise drawn as the scheduler draws it, so that the main head keeps
        acting on its own data however many auxiliary intentions there are (SAC-U gives it ``1/K`` otherwise).
    """

    #: The floor's value for a scheduler pickled before it existed
    min_main_probability: float = 0.0

    def __init__(self, n_tasks: int, seed: Optional[int] = None, min_main_probability: float = 0.0) -> None:
        check_number("n_tasks", n_tasks, minimum=1, integer=True)
        check_number("min_main_probability", min_main_probability, minimum=0.0, maximum=1.0)
        self.n_tasks = n_tasks
        self.min_main_probability = float(min_main_probability)
        self.rng = np.random.default_rng(seed)
        # (step, task) of every segment scheduled so far in the running episode, per environment
        self._histories: dict[int, list[tuple[int, int]]] = {}

    def seed(self, seed: Optional[int]) -> None:
        """
        Restart the scheduler's random generator (``SACX.set_random_seed`` calls it, so that one seed gives one schedule).

        :param seed: the new seed.
        """
        self.rng = np.random.default_rng(seed)

    def reset(self, env_index: int) -> None:
        """
        Environment ``env_index`` starts an episode.

        :param env_index: which environment.
        """
        self._histories[env_index] = []

    def select(self, env_index: int, step: int) -> int:
        """
        :param env_index: which environment.
        :param step: steps taken so far in this episode (0, xi, 2 xi, ...).
        :return: index of the task that acts from ``step`` for the next ``schedule_period`` steps.
        """
        history = self._histories.setdefault(env_index, [])
        task = int(self.rng.choice(self.n_tasks, p=self._with_main_floor(tuple(task for _, task in history))))
        history.append((step, task))
        return task

    def episode_end(self, env_index: int, main_rewards: np.ndarray) -> None:
        """
        :param env_index: which environment's episode ended.
        :param main_rewards: ``[episode_length]`` main reward of every step of the episode.
        """
        self._learn(self._histories.get(env_index, []), np.asarray(main_rewards, dtype=np.float64))
        self._histories[env_index] = []

    def probabilities(self) -> np.ndarray:
        """:return: ``[K]`` choice probabilities at an episode's start."""
        return self._with_main_floor(())

    def _with_main_floor(self, previous_tasks: tuple[int, ...]) -> np.ndarray:
        """The scheduler's own probabilities, mixed with the main intention's floor."""
        probabilities = (1.0 - self.min_main_probability) * self._choice_probabilities(previous_tasks)
        probabilities[0] += self.min_main_probability
        return probabilities

    @abstractmethod
    def _choice_probabilities(self, previous_tasks: tuple[int, ...]) -> np.ndarray:
        """Probabilities of the next task given the tasks already scheduled in this episode."""

    @abstractmethod
    def _learn(self, history: list[tuple[int, int]], main_rewards: np.ndarray) -> None:
        """Update from a finished episode's schedule ``(step, task)`` and its main rewards."""


class UniformScheduler(Scheduler):
    """SAC-U: every intention is drawn uniformly at random at the start of each segment."""

    def _choice_probabilities(self, previous_tasks: tuple[int, ...]) -> np.ndarray:
        return np.full(self.n_tasks, 1.0 / self.n_tasks)

    def _learn(self, history: list[tuple[int, int]], main_rewards: np.ndarray) -> None:
        """SAC-U learns nothing from episodes."""


class QScheduler(Scheduler):
    """
    SAC-Q (Riedmiller et al., 2018, eq. 8-9): a table ``Q_S(T_0..T_{h-1}, T_h)`` of the main-task return
    earned from segment h on when intention ``T_h`` follows the schedule so far; segment h draws
    ``T_h ~ (1 - epsilon) * softmax(Q_S(T_0..T_{h-1}, .) / temperature) + epsilon / K``.
    Unvisited entries are 0, so it starts as SAC-U.

    The schedule so far is the last ``history_length`` tasks of the episode (the paper's table covers a few
    scheduling points), so the table holds at most ``K^0 + K^1 + ... + K^history_length`` rows of K values, however
    long the run and however short ``schedule_period``: with K = 6 and the default 3, 259 rows. Episodes of at most
    ``history_length + 1`` segments (LunarLander's 1000 steps with ``schedule_period=250``) see the whole schedule.

    :param n_tasks: number of intentions K.
    :param temperature: softmax temperature ``eta``; main returns are 0/1 on sparse tasks, so keep it ~0.1. With
        ``initial_temperature``, the temperature the decay ends at.
    :param epsilon: probability mass spread uniformly, so that every intention keeps acting (0: the paper's
        pure softmax).
    :param step_size: constant step size of the table update; ``None`` uses a running mean.
    :param history_length: how many of the episode's previous tasks a table row is keyed by (>= 0; 0: one row,
        the same choice at every segment).
    :param initial_temperature: where the temperature starts, decaying geometrically to ``temperature`` over
        ``temperature_decay_episodes`` finished episodes (:func:`annealed_temperature`); None: ``temperature``
        throughout. A high start keeps the scheduler near-uniform while its table holds a few lucky returns.
    :param temperature_decay_episodes: the episodes (of all environments) the decay takes.
    :param seed: seed of the scheduler's random generator.
    :param min_main_probability: a floor on the main intention's share of acting (:class:`Scheduler`).
    """

    #: For a scheduler pickled before the temperature could decay
    initial_temperature: Optional[float] = None
    temperature_decay_episodes: int = 0
    episodes_learned: int = 0

    def __init__(
        self,
        n_tasks: int,
        temperature: float = 0.1,
        epsilon: float = 0.0,
        step_size: Optional[float] = None,
        history_length: int = 3,
        seed: Optional[int] = None,
        min_main_probability: float = 0.0,
        initial_temperature: Optional[float] = None,
        temperature_decay_episodes: int = 0,
    ) -> None:
        super().__init__(n_tasks, seed, min_main_probability)
        if initial_temperature is not None:
            check_number("SAC-Q's initial_temperature", initial_temperature, minimum=0.0, minimum_included=False)
            check_number("SAC-Q's temperature_decay_episodes", temperature_decay_episodes, minimum=1, integer=True)
        elif temperature_decay_episodes:
            raise ValueError(
                f"SAC-Q's temperature_decay_episodes={temperature_decay_episodes} needs an initial_temperature to decay from."
            )
        check_number("SAC-Q's history_length", history_length, minimum=0, integer=True)
        check_number("SAC-Q's temperature", temperature, minimum=0.0, minimum_included=False)
        check_number("SAC-Q's epsilon", epsilon, minimum=0.0, maximum=1.0)
        if step_size is not None:
            check_number(
                "SAC-Q's step_size (None: a running mean)", step_size, minimum=0.0, maximum=1.0, minimum_included=False
            )
        self.history_length = int(history_length)
        self.temperature = temperature
        self.epsilon = epsilon
        self.step_size = step_size
        self.initial_temperature = initial_temperature
        self.temperature_decay_episodes = int(temperature_decay_episodes)
        self.episodes_learned = 0
        self.q_table: dict[tuple[int, ...], np.ndarray] = {}
        self.visit_counts: dict[tuple[int, ...], np.ndarray] = {}

    def _row(self, previous_tasks: Sequence[int]) -> tuple[int, ...]:
        """The table row of a schedule so far: its last ``history_length`` tasks."""
        return tuple(previous_tasks[max(0, len(previous_tasks) - self.history_length) :])

    def current_temperature(self) -> float:
        """The softmax temperature now: ``temperature``, or on its way there from ``initial_temperature``."""
        if self.initial_temperature is None:
            return self.temperature
        progress = self.episodes_learned / self.temperature_decay_episodes
        return annealed_temperature(self.initial_temperature, self.temperature, progress)

    def _choice_probabilities(self, previous_tasks: tuple[int, ...]) -> np.ndarray:
        values = self.q_table.get(self._row(previous_tasks), np.zeros(self.n_tasks))
        return (1.0 - self.epsilon) * softmax(values, self.current_temperature()) + self.epsilon / self.n_tasks

    def _learn(self, history: list[tuple[int, int]], main_rewards: np.ndarray) -> None:
        self.episodes_learned += 1
        segment_returns = returns_from_segments(main_rewards, [step for step, _ in history])
        tasks = [task for _, task in history]
        for h, (task, segment_return) in enumerate(zip(tasks, segment_returns)):
            previous_tasks = self._row(tasks[:h])
            values = self.q_table.setdefault(previous_tasks, np.zeros(self.n_tasks))
            counts = self.visit_counts.setdefault(previous_tasks, np.zeros(self.n_tasks, dtype=np.int64))
            counts[task] += 1
            step_size = 1.0 / counts[task] if self.step_size is None else self.step_size
            values[task] += step_size * (segment_return - values[task])


SCHEDULERS: dict[str, type[Scheduler]] = {"sac-u": UniformScheduler, "sac-q": QScheduler}
SCHEDULER_METHODS = ("reset", "select", "episode_end", "probabilities")


def check_scheduler(scheduler: Union[str, object], scheduler_kwargs: Optional[dict]) -> None:
    """
    Raise a clear error for a scheduler argument SACX cannot use.

    :param scheduler: ``"sac-u"``, ``"sac-q"`` or an object with ``reset``, ``select``, ``episode_end`` and
        ``probabilities``.
    :param scheduler_kwargs: keyword arguments of a scheduler given by name.
    """
    if isinstance(scheduler, str):
        if scheduler.lower() not in SCHEDULERS:
            raise ValueError(f"Unknown scheduler {scheduler!r}: use one of {sorted(SCHEDULERS)} or pass a scheduler object.")
    elif isinstance(scheduler, type):
        raise TypeError(
            f"scheduler={scheduler.__name__} is a class: pass an instance, e.g. {scheduler.__name__}(n_tasks), "
            "with one task per entry of the model's task_names."
        )
    else:
        missing = [name for name in SCHEDULER_METHODS if not callable(getattr(scheduler, name, None))]
        if missing:
            raise TypeError(
                f"scheduler must be 'sac-u', 'sac-q' or an object with {', '.join(SCHEDULER_METHODS)}; "
                f"{type(scheduler).__name__} lacks {', '.join(missing)}."
            )
    if scheduler_kwargs is not None and not isinstance(scheduler_kwargs, dict):
        raise TypeError(f"scheduler_kwargs must be a dict, got {type(scheduler_kwargs).__name__}.")
    if scheduler_kwargs and not isinstance(scheduler, str):
        raise ValueError(
            "scheduler_kwargs only applies to a scheduler given by name: configure your scheduler object directly."
        )


def make_scheduler(
    scheduler: Union[str, object], n_tasks: int, seed: Optional[int], scheduler_kwargs: Optional[dict]
) -> object:
    """
    Build a scheduler from its name; a scheduler object is returned as it is.

    :param scheduler: ``"sac-u"``, ``"sac-q"`` or a scheduler object.
    :param n_tasks: number of intentions K.
    :param seed: seed for a built-in scheduler's random generator.
    :param scheduler_kwargs: extra keyword arguments of a built-in scheduler.
    :return: the scheduler.
    """
    check_scheduler(scheduler, scheduler_kwargs)
    if not isinstance(scheduler, str):
        return scheduler
    try:
        return SCHEDULERS[scheduler.lower()](n_tasks, seed=seed, **(scheduler_kwargs or {}))
    except TypeError as error:
        raise TypeError(f"Invalid scheduler_kwargs for {scheduler!r}: {error}") from error
