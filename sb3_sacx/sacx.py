"""SAC-X: Scheduled Auxiliary Control (Riedmiller et al., 2018, "Learning by Playing")."""

import inspect
import io
import math
import pathlib
import warnings
from collections import deque
from typing import Any, ClassVar, Optional, TypeVar, Union

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.base_class import maybe_make_env
from stable_baselines3.common.buffers import ReplayBuffer
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.noise import ActionNoise
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.type_aliases import GymEnv, MaybeCallback, PyTorchObs, Schedule
from stable_baselines3.common.utils import get_parameters_by_name, polyak_update
from stable_baselines3.common.vec_env import VecEnv

from sb3_sacx.buffers import SnippetSamples, snippet_buffer_class
from sb3_sacx.checks import (
    accept_sac_policy_kwargs,
    check_episodic_training,
    check_hyperparameters,
    check_policy_fits_observations,
    check_spaces,
    refuse_unsupported_options,
)
from sb3_sacx.errors import AuxTasksNotFoundError, EnvCountError, UnknownTaskError
from sb3_sacx.hardware import training_hardware
from sb3_sacx.heads import ActionFamily, HeadTerms, terms_at_steps
from sb3_sacx.intentions import Intentions
from sb3_sacx.policies import CnnPolicy, MlpPolicy, MultiInputPolicy, SACXPolicy
from sb3_sacx.retrace import masked_mean, next_in_snippet, previous_in_snippet, retrace_targets, snippet_states, take_steps
from sb3_sacx.schedulers import check_scheduler, make_scheduler
from sb3_sacx.wrappers import MAIN_TASK_NAME

SelfSACX = TypeVar("SelfSACX", bound="SACX")

# main_reward_scale="auto" counts a main reward as sparse when it is nonzero on at most this share of the stored steps:
# a sparse task's first gradient step sees none or a handful (LunarLander's and MountainCar's warm-ups: 0 %), a dense
# reward most (SB3's identity env under random actions: ~44 %)
SPARSE_REWARD_FRACTION = 0.1


def find_task_names(env: VecEnv) -> tuple[str, ...]:
    """
    The intentions of an environment wrapped in :class:`sb3_sacx.AuxRewardWrapper`: ``("main", *aux_task_names)``.

    :param env: the vectorised environment.
    :return: task names, the main task first.
    """
    if not env.has_attr("aux_task_names"):
        raise AuxTasksNotFoundError(
            "SACX needs to know the auxiliary tasks: wrap your environment in sb3_sacx.AuxRewardWrapper(env, aux_tasks) "
            "(or use a registered Sparse* env of sb3_sacx, e.g. SparseLunarLanderContinuous-v0, which already is)."
        )
    names_per_env = {tuple(names) for names in env.get_attr("aux_task_names")}
    if len(names_per_env) != 1:
        raise ValueError(f"All environments must have the same auxiliary tasks, got {sorted(names_per_env)}.")
    return (MAIN_TASK_NAME, *names_per_env.pop())


class SACX(OffPolicyAlgorithm):
    """
    Scheduled Auxiliary Control (SAC-X): one policy and one Q head per task, all trained off-policy on every
    transition with Retrace, while a scheduler picks which intention acts.
    Paper: https://arxiv.org/abs/1802.10567 (Riedmiller et al., 2018). Builds on SAC (Haarnoja et al., 2018).

    Task 0 is the main task (the environment's reward); tasks 1..K-1 are the auxiliary tasks of the
    :class:`sb3_sacx.AuxRewardWrapper` around the environment.

    :param policy: the policy model to use (MlpPolicy, CnnPolicy, MultiInputPolicy, ...).
    :param env: the environment to learn from (if registered in Gym, can be str); must carry an ``AuxRewardWrapper``.
    :param learning_rate: learning rate for Adam, the same for actor, critics and temperatures;
        it can be a function of the current progress remaining (from 1 to 0).
    :param buffer_size: size of the replay buffer.
    :param learning_starts: how many steps of uniformly random actions to collect before learning starts (SAC's 100;
        the sparse LunarLander's example, zoo entry and benchmark use 10 000, where that warm-up was measured).
    :param batch_size: transitions per gradient step: ``batch_size // retrace_steps`` snippets of
        ``retrace_steps`` steps.
    :param tau: soft update coefficient of the target critics ("Polyak update", between 0 and 1).
    :param gamma: the discount factor.
    :param train_freq: update the model every ``train_freq`` steps, or ``(n, "episode")``.
    :param gradient_steps: gradient steps after each rollout (-1: as many as environment steps).
    :param action_noise: not supported: the behaviour log-probabilities Retrace needs would be wrong.
    :param replay_buffer_class: ``None`` (SACX's snippet buffer for the observation space) or a subclass of it
        (:func:`sb3_sacx.buffers.snippet_buffer_class`); SB3's own buffers cannot sample snippets.
    :param replay_buffer_kwargs: keyword arguments of the replay buffer (e.g. ``handle_timeout_termination``).
    :param optimize_memory_usage: not supported.
    :param n_steps: not supported (> 1): Retrace replaces SB3's n-step returns.
    :param ent_coef: entropy temperature ``alpha`` of every task (SAC's ``ent_coef``): a float fixes it, ``"auto"``
        (or ``"auto_0.1"`` for an initial value of 0.1) learns one per task.
    :param target_update_interval: update the target critics every ``target_update_interval`` gradient steps.
    :param target_entropy: target entropy when learning the temperatures; ``"auto"`` is ``-|A|`` for Box actions
        and ``0.5 log|A|`` for Discrete actions.
    :param use_sde: not supported.
    :param sde_sample_freq: not supported.
    :param use_sde_at_warmup: not supported.
    :param stats_window_size: window size of the rollout logging (episodes).
    :param tensorboard_log: the log location for tensorboard (if None, no logging).
    :param policy_kwargs: additional arguments for the policy (see :class:`sb3_sacx.policies.SACXPolicy`).
    :param verbose: 0 no output, 1 info messages, 2 debug messages.
    :param seed: seed for the pseudo random generators (also seeds a built-in scheduler).
    :param device: device (cpu, cuda, ...) on which the code should be run.
    :param retrace_steps: snippet length ``T`` of the Retrace targets (1 gives one-step TD targets).
    :param retrace_lambda: Retrace's trace decay ``lambda`` in [0, 1].
    :param scheduler: ``"sac-u"`` (uniform), ``"sac-q"`` (learned) or a scheduler object
        (see :mod:`sb3_sacx.schedulers`).
    :param schedule_period: ``xi``, steps an intention acts before the scheduler chooses again.
    :param scheduler_kwargs: keyword arguments of a scheduler given by name (e.g. ``{"temperature": 0.1}``).
    :param main_reward_scale: factor on the main reward inside the learner, so that a sparse main task's
        values live on the scale of the auxiliary tasks' (returns of rewards in [0, 1] reach ``1/(1-gamma)``).
        ``"auto"`` is decided once, at the first gradient step, from the main rewards in the replay buffer:
        ``1/(1-gamma)`` if at most one stored step in ten has a nonzero main reward (a sparse reward), else 1.0 (a
        dense one, which needs no help). Use 1.0 for a reward that ``VecNormalize`` normalises (``"auto"`` warns when
        it would scale a sparse reward that ``norm_reward=True`` normalises). Logged as
        ``train/main_reward_scale``; logged returns are unscaled.
    :param rewarded_snippet_fraction: fraction of each batch's snippets drawn around transitions with a nonzero
        main reward (once the buffer holds any), the rest uniformly: a sparse main task's rare events then reach
        the main critic every few gradient steps rather than every few hundred (a
        prioritisation without importance weights, so it shifts the state distribution the critics fit). 0: uniform.
    :param mixed_precision: run the gradient step's network passes under ``torch.autocast`` in bfloat16: the
        matrix multiplies take bfloat16 inputs (as JAX does by default on TPUs), while weights, optimiser states,
        network outputs, losses and Retrace stay float32. About twice as fast in ``benchmarks/throughput.py`` on a CPU
        with AVX512-BF16 or AMX, but many times slower on one that emulates bfloat16 (18x on an AVX2 CPU). Off by
        default, so that the defaults compute the same update on every CPU (a speed-up on some CPUs only is an option).
        ``"auto"`` turns it on only where the device multiplies bfloat16 natively
        (:func:`sb3_sacx.hardware.native_bfloat16`: a CPU with AVX512-BF16 or AMX, a CUDA GPU with bfloat16), decided on
        the machine that trains, so a loaded model decides anew; ``verbose >= 1`` says which. Acting and ``predict`` are
        unaffected. (For speed, SACX also keeps the gradient step's temporaries in glibc's heap: see
        :func:`sb3_sacx.hardware.tune_glibc_malloc`, and ``SB3_SACX_TUNE_MALLOC=0`` to opt out.)
    :param _init_setup_model: whether or not to build the network at the creation of the instance.
    """

    policy_aliases: ClassVar[dict[str, type[BasePolicy]]] = {
        "MlpPolicy": MlpPolicy,
        "CnnPolicy": CnnPolicy,
        "MultiInputPolicy": MultiInputPolicy,
    }
    policy: SACXPolicy

    def __init__(
        self,
        policy: Union[str, type[SACXPolicy]],
        env: Union[GymEnv, str],
        learning_rate: Union[float, Schedule] = 3e-4,
        buffer_size: int = 1_000_000,
        learning_starts: int = 100,
        batch_size: int = 256,
        tau: float = 0.005,
        gamma: float = 0.99,
        train_freq: Union[int, tuple[int, str]] = 1,
        gradient_steps: int = 1,
        action_noise: Optional[ActionNoise] = None,
        replay_buffer_class: Optional[type[ReplayBuffer]] = None,
        replay_buffer_kwargs: Optional[dict[str, Any]] = None,
        optimize_memory_usage: bool = False,
        n_steps: int = 1,
        ent_coef: Union[str, float] = "auto",
        target_update_interval: int = 1,
        target_entropy: Union[str, float] = "auto",
        use_sde: bool = False,
        sde_sample_freq: int = -1,
        use_sde_at_warmup: bool = False,
        stats_window_size: int = 100,
        tensorboard_log: Optional[str] = None,
        policy_kwargs: Optional[dict[str, Any]] = None,
        verbose: int = 0,
        seed: Optional[int] = None,
        device: Union[th.device, str] = "auto",
        retrace_steps: int = 8,
        retrace_lambda: float = 1.0,
        scheduler: Union[str, object] = "sac-u",
        schedule_period: int = 250,
        scheduler_kwargs: Optional[dict[str, Any]] = None,
        main_reward_scale: Union[str, float] = "auto",
        rewarded_snippet_fraction: float = 0.0,
        mixed_precision: Union[bool, str] = False,
        _init_setup_model: bool = True,
    ) -> None:
        refuse_unsupported_options(
            action_noise=action_noise,
            optimize_memory_usage=optimize_memory_usage,
            n_steps=n_steps,
            use_sde=use_sde,
            sde_sample_freq=sde_sample_freq,
            use_sde_at_warmup=use_sde_at_warmup,
        )
        check_hyperparameters(
            learning_rate=learning_rate,
            buffer_size=buffer_size,
            learning_starts=learning_starts,
            batch_size=batch_size,
            tau=tau,
            gamma=gamma,
            train_freq=train_freq,
            gradient_steps=gradient_steps,
            ent_coef=ent_coef,
            target_update_interval=target_update_interval,
            target_entropy=target_entropy,
            retrace_steps=retrace_steps,
            retrace_lambda=retrace_lambda,
            schedule_period=schedule_period,
            main_reward_scale=main_reward_scale,
            rewarded_snippet_fraction=rewarded_snippet_fraction,
            mixed_precision=mixed_precision,
            stats_window_size=stats_window_size,
            policy_kwargs=policy_kwargs,
            replay_buffer_kwargs=replay_buffer_kwargs,
        )
        check_scheduler(scheduler, scheduler_kwargs)
        policy_kwargs = accept_sac_policy_kwargs(policy_kwargs)
        if env is not None:
            # Made here rather than by SB3 so that its spaces get a clear error before SB3's asserts see them
            env = maybe_make_env(env, verbose)
            check_spaces(env.observation_space, env.action_space)
            check_policy_fits_observations(policy, env.observation_space, policy_kwargs)
            # Before SB3's own checks of the env (its policy choice for Dict observations, say); _setup_model resolves it
            snippet_buffer_class(replay_buffer_class, env.observation_space)
            check_episodic_training(train_freq, env.num_envs if isinstance(env, VecEnv) else 1)
        super().__init__(
            policy,
            env,
            learning_rate,
            buffer_size,
            learning_starts,
            batch_size,
            tau,
            gamma,
            train_freq,
            gradient_steps,
            action_noise=None,
            replay_buffer_class=replay_buffer_class,
            replay_buffer_kwargs=replay_buffer_kwargs,
            optimize_memory_usage=False,
            policy_kwargs=policy_kwargs,
            stats_window_size=stats_window_size,
            tensorboard_log=tensorboard_log,
            verbose=verbose,
            device=device,
            seed=seed,
            use_sde=False,
            sde_support=False,
            support_multi_env=True,
            supported_action_spaces=None,
        )
        self.ent_coef = ent_coef
        self.target_entropy = target_entropy
        self.target_update_interval = target_update_interval
        self.retrace_steps = retrace_steps
        self.retrace_lambda = retrace_lambda
        self.scheduler = scheduler
        self.schedule_period = schedule_period
        self.scheduler_kwargs = scheduler_kwargs
        self.main_reward_scale = main_reward_scale
        # What "auto" resolved to at the first gradient step; saved with the model so that a loaded one keeps it
        self._auto_main_reward_scale: Optional[float] = None
        self.rewarded_snippet_fraction = rewarded_snippet_fraction
        self.mixed_precision = mixed_precision
        self.task_names: tuple[str, ...] = ()  # the env's, found by _setup_model
        self._intentions: Optional[Intentions] = None
        if _init_setup_model:
            self._setup_model()

    def _setup_model(self) -> None:
        self.task_names = tuple(self.task_names)  # saved models store it as a list
        if self.env is not None:
            self.task_names = self._env_task_names(self.env)
        n_tasks = len(self.task_names)
        if not isinstance(self.scheduler, str):
            # A scheduler object built for another task count would leave tasks unscheduled or pick ones that do not exist
            self._scheduler_probabilities()
        self.replay_buffer_class = snippet_buffer_class(self.replay_buffer_class, self.observation_space)
        self.replay_buffer_kwargs = {**self.replay_buffer_kwargs, "n_aux_tasks": n_tasks - 1}
        if self.policy_kwargs.get("n_tasks", n_tasks) != n_tasks:
            raise ValueError(f"policy_kwargs n_tasks={self.policy_kwargs['n_tasks']} but the environment has {n_tasks} tasks.")
        self._hardware = training_hardware(self.device, self.mixed_precision, self.verbose)
        self.policy_kwargs = {**self.policy_kwargs, "n_tasks": n_tasks, **self._hardware.optimizer_kwargs(self.policy_kwargs)}
        super()._setup_model()
        self._create_aliases()
        self.batch_norm_stats = get_parameters_by_name(self.critic, ["running_"])
        self.batch_norm_stats_target = get_parameters_by_name(self.critic_target, ["running_"])
        self._setup_entropy(n_tasks)
        if isinstance(self.scheduler, str):
            self.scheduler = make_scheduler(self.scheduler, n_tasks, self.seed, self.scheduler_kwargs)
        self._task_returns: deque = deque(maxlen=self._stats_window_size)

    def _env_task_names(self, env: VecEnv) -> tuple[str, ...]:
        """The tasks of ``env``, which must be the model's own once the model has some (a loaded one, say)."""
        env_tasks = find_task_names(env)
        if self.task_names and env_tasks != self.task_names:
            raise ValueError(f"The environment's tasks {env_tasks} differ from the model's {self.task_names}.")
        return env_tasks

    def _scheduler_probabilities(self) -> np.ndarray:
        """The scheduler's choice probabilities at an episode's start, checked: one per task."""
        probabilities = np.asarray(self.scheduler.probabilities(), dtype=np.float64)
        if probabilities.shape != (self.n_tasks,):
            raise ValueError(
                f"{type(self.scheduler).__name__}.probabilities() returned shape {probabilities.shape}: it must return one "
                f"probability per task, shape ({self.n_tasks},) for {self.task_names}; was the scheduler built for "
                "another number of tasks?"
            )
        return probabilities

    def set_random_seed(self, seed: Optional[int] = None) -> None:
        """
        SB3's seeding (Python, NumPy, PyTorch, action space, env), and the scheduler's: one seed, one schedule.
        A scheduler object of your own is reseeded if it has a ``seed(seed)`` method.

        :param seed: the seed.
        """
        super().set_random_seed(seed)
        # Called by SB3's _setup_model before the scheduler exists (it is then built from self.seed)
        seed_scheduler = getattr(getattr(self, "scheduler", None), "seed", None)
        if seed is not None and callable(seed_scheduler):
            seed_scheduler(seed)

    def _setup_entropy(self, n_tasks: int) -> None:
        """One temperature per task, learned (``ent_coef="auto[_init]"``) or fixed, as in SB3's SAC."""
        if self.target_entropy == "auto":
            self.target_entropy = self.action_family.auto_target_entropy(self.action_space)
        self.target_entropy = float(self.target_entropy)
        self.ent_coef_optimizer: Optional[th.optim.Adam] = None
        if isinstance(self.ent_coef, str) and self.ent_coef.startswith("auto"):
            init_value = float(self.ent_coef.split("_")[1]) if "_" in self.ent_coef else 1.0
            self.log_ent_coef = th.full((n_tasks,), math.log(init_value), device=self.device).requires_grad_(True)
            fused = self._hardware.fused_adam
            self.ent_coef_optimizer = th.optim.Adam([self.log_ent_coef], lr=self.lr_schedule(1), fused=fused)
        else:
            self.log_ent_coef = None  # as SB3's SAC: only learned temperatures have one
            self.ent_coef_tensor = th.full((n_tasks,), float(self.ent_coef), device=self.device)

    def _create_aliases(self) -> None:
        self.actor = self.policy.actor
        self.critic = self.policy.critic
        self.critic_target = self.policy.critic_target

    @property
    def n_tasks(self) -> int:
        """Number of intentions K, main task included."""
        return len(self.task_names)

    @property
    def discrete(self) -> bool:
        """Whether the action space is ``Discrete`` (categorical heads) rather than ``Box``."""
        return isinstance(self.action_space, spaces.Discrete)

    def _main_reward_scale(self) -> float:
        """
        The factor on the main reward inside the learner. ``"auto"`` is decided once, from the replay buffer at the
        first gradient step: ``1/(1-gamma)`` for a sparse main reward (nonzero on at most ``SPARSE_REWARD_FRACTION``
        of the stored steps), else 1.0.
        """
        if self.main_reward_scale != "auto":
            return float(self.main_reward_scale)
        if self._auto_main_reward_scale is None:
            sparse = self.replay_buffer.rewarded_fraction() <= SPARSE_REWARD_FRACTION  # type: ignore[union-attr]
            self._auto_main_reward_scale = 1.0 / (1.0 - self.gamma) if sparse else 1.0
            if sparse:
                self._warn_if_main_reward_is_normalised()
        return self._auto_main_reward_scale

    @property
    def ent_coefs(self) -> th.Tensor:
        """``[K]`` the current temperatures ``alpha_k``, one per task (detached)."""
        if self.ent_coef_optimizer is not None:
            return th.exp(self.log_ent_coef.detach())
        return self.ent_coef_tensor

    @property
    def task_returns(self) -> np.ndarray:
        """
        ``[n_episodes, K]`` the return per task of the recent training episodes (at most ``stats_window_size``), the
        main return unscaled: what ``rollout/return_<task>`` logs the mean of.
        """
        return np.array(self._task_returns).reshape(-1, self.n_tasks)

    # ------------------------------------------------------------------ acting

    def task_index(self, task: Union[str, int, None]) -> int:
        """
        :param task: a task name, an index into ``task_names``, or None for the main task.
        :return: the task's index.
        """
        if task is None:
            return 0
        if isinstance(task, str):
            if task not in self.task_names:
                raise UnknownTaskError(f"Unknown task {task!r}: this model's tasks are {self.task_names}.")
            return self.task_names.index(task)
        if isinstance(task, (int, np.integer)) and not isinstance(task, bool):
            if not 0 <= task < self.n_tasks:
                raise UnknownTaskError(
                    f"Task index {task} is out of range: this model has {self.n_tasks} tasks {self.task_names}."
                )
            return int(task)
        raise TypeError(f"task must be a task name, an index or None, got {type(task).__name__}.")

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
        return self.policy.predict(observation, state, episode_start, deterministic, task=self.task_index(task))

    def _setup_learn(
        self,
        total_timesteps: int,
        callback: MaybeCallback = None,
        reset_num_timesteps: bool = True,
        tb_log_name: str = "run",
        progress_bar: bool = False,
    ) -> tuple[int, BaseCallback]:
        env_is_reset = reset_num_timesteps or self._last_obs is None
        # Again here: SACX.load(path, **kwargs) and attributes set since construction may have changed them
        self._check_hyperparameters()
        check_episodic_training(self.train_freq, self.n_envs)
        result = super()._setup_learn(total_timesteps, callback, reset_num_timesteps, tb_log_name, progress_bar)
        # A model saved before the schedule had its own module has none: it starts its episodes' schedules anew
        schedule = getattr(self, "_intentions", None)
        if env_is_reset or not isinstance(schedule, Intentions) or schedule.n_envs != self.n_envs:
            self.replay_buffer.truncate_last_episodes()  # type: ignore[union-attr]
            self._intentions = Intentions(self.task_names, self.schedule_period, self.n_envs).start(self.scheduler)
        return result

    def _check_hyperparameters(self) -> None:
        """The constructor's checks (:func:`sb3_sacx.checks.check_hyperparameters`) on the model's current settings."""
        # target_entropy is a float once set up ("auto" resolved); SB3 keeps stats_window_size private
        names = [name for name in inspect.signature(check_hyperparameters).parameters if name != "stats_window_size"]
        check_hyperparameters(**{name: getattr(self, name) for name in names}, stats_window_size=self._stats_window_size)

    def _warn_if_main_reward_is_normalised(self) -> None:
        """``"auto"`` scales a sparse 0/1 reward; a VecNormalize'd reward is already scaled."""
        if self._vec_normalize_env is not None and self._vec_normalize_env.norm_reward:
            warnings.warn(
                "main_reward_scale='auto' found a sparse main reward and multiplies it by 1/(1-gamma) = "
                f"{self._auto_main_reward_scale:g}, but VecNormalize(norm_reward=True) already normalises it: "
                "pass main_reward_scale=1.0, or VecNormalize(norm_reward=False) for a sparse 0/1 reward."
            )

    def _sample_action(
        self, learning_starts: int, action_noise: Optional[ActionNoise] = None, n_envs: int = 1
    ) -> tuple[np.ndarray, np.ndarray]:
        """
        Act with each environment's scheduled intention, and remember ``log mu(a|s)`` for Retrace.

        :return: the action for the env and the action as stored (squashed to [-1, 1] for Box).
        """
        acting = self._intentions.schedule(self.scheduler)
        if self.num_timesteps < learning_starts:
            env_actions = np.array([self.action_space.sample() for _ in range(n_envs)])
            buffer_action = self.action_family.stored_action(self.policy, env_actions)
            self._behaviour_log_probs = np.full(n_envs, self.action_family.uniform_log_density(self.action_space))
        else:
            buffer_action, self._behaviour_log_probs = self._act(self._last_obs, acting)
        return self.action_family.env_action(self.policy, buffer_action), buffer_action

    def _act(self, observation: Union[np.ndarray, dict[str, np.ndarray]], acting: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each environment's action from its acting intention's head, and its log-probability (``log mu``)."""
        self.policy.set_training_mode(False)
        obs_tensor, _ = self.policy.obs_to_tensor(observation)
        with th.no_grad():
            tasks = th.as_tensor(acting, device=self.device)
            actions, log_probs = self.actor.act(obs_tensor, tasks)
        return actions.cpu().numpy().reshape((-1, *self.action_space.shape)), log_probs.cpu().numpy()

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
        super()._store_transition(replay_buffer, buffer_action, new_obs, reward, dones, infos)
        main_rewards = self._vec_normalize_env.get_original_reward() if self._vec_normalize_env is not None else reward
        aux_rewards = [info["aux_rewards"] for info in infos]
        self._task_returns.extend(self._intentions.record(self.scheduler, main_rewards, aux_rewards, dones))

    def dump_logs(self) -> None:
        if len(self._task_returns) > 0:
            mean_returns = np.mean(self._task_returns, axis=0)
            for name, mean_return in zip(self.task_names, mean_returns):
                self.logger.record(f"rollout/return_{name}", float(mean_return))
        for name, probability in zip(self.task_names, self._scheduler_probabilities()):
            self.logger.record(f"scheduler/p_{name}", float(probability))
        super().dump_logs()

    def set_env(self, env: GymEnv, force_reset: bool = True) -> None:
        env = self._wrap_env(env, self.verbose)
        self._env_task_names(env)
        if env.num_envs != self.n_envs:
            raise EnvCountError(
                f"set_env needs as many envs as the model has ({self.n_envs}), got {env.num_envs}: to continue with a "
                f"different number of envs, use SACX.load(path, env=env)."
            )
        super().set_env(env, force_reset)

    def load_replay_buffer(self, path: Union[str, pathlib.Path, io.BufferedIOBase], truncate_last_traj: bool = True) -> None:
        """
        SB3's ``load_replay_buffer``, refusing a buffer that does not fit the model (another number of tasks or envs,
        or not a SACX buffer); the model keeps its own buffer then.

        :param path: path of the pickled replay buffer.
        :param truncate_last_traj: as in SB3 (for ``HerReplayBuffer``, which SACX does not use).
        """
        own_buffer = self.replay_buffer
        super().load_replay_buffer(path, truncate_last_traj)
        loaded, self.replay_buffer = self.replay_buffer, own_buffer
        if not isinstance(loaded, self.replay_buffer_class):
            raise TypeError(
                f"{path} holds a {type(loaded).__name__}, where this model needs a {self.replay_buffer_class.__name__} "
                "(as SACX.save_replay_buffer saves it)."
            )
        if (loaded.n_aux_tasks + 1, loaded.n_envs) != (self.n_tasks, self.n_envs):
            raise ValueError(
                f"The replay buffer in {path} was filled with {loaded.n_aux_tasks + 1} tasks and {loaded.n_envs} envs; "
                f"this model has {self.n_tasks} tasks ({', '.join(self.task_names)}) and {self.n_envs} envs."
            )
        self.replay_buffer = loaded

    # ------------------------------------------------------------------ learning

    def train(self, gradient_steps: int, batch_size: int = 64) -> None:
        self.policy.set_training_mode(True)
        optimizers = [self.actor.optimizer, self.critic.optimizer]
        if self.ent_coef_optimizer is not None:
            optimizers.append(self.ent_coef_optimizer)
        self._update_learning_rate(optimizers)

        stats: list[dict[str, th.Tensor]] = []
        for _ in range(gradient_steps):
            snippets = self.replay_buffer.sample_snippets(  # type: ignore[union-attr]
                batch_size // self.retrace_steps,
                self.retrace_steps,
                env=self._vec_normalize_env,
                rewarded_fraction=self.rewarded_snippet_fraction,
            )
            stats.append(self._gradient_step(snippets))
            self._n_updates += 1
            if self._n_updates % self.target_update_interval == 0:
                polyak_update(self.critic.parameters(), self.critic_target.parameters(), self.tau)
                polyak_update(self.batch_norm_stats, self.batch_norm_stats_target, 1.0)
        self._record_train_stats(stats)

    def _record_train_stats(self, stats: list[dict[str, th.Tensor]]) -> None:
        self.logger.record("train/n_updates", self._n_updates, exclude="tensorboard")
        means = {key: th.stack([step[key] for step in stats]).mean(dim=0).cpu().numpy() for key in stats[0]}
        # SAC's keys keep SAC's meaning, the one task SAC learns: here the main task's; the sums have keys of their own
        for key in ("actor_loss", "critic_loss", "ent_coef", "ent_coef_loss"):
            if key in means:  # as SAC: only learned temperatures have a loss
                self.logger.record(f"train/{key}", float(means[key][0]))
        self.logger.record("train/total_actor_loss", float(means["actor_loss"].sum()))
        self.logger.record("train/total_critic_loss", float(means["critic_loss"].sum()))
        self.logger.record("train/main_reward_scale", self._main_reward_scale())
        for key in ("critic_loss", "actor_loss", "ent_coef", "q_value", "entropy"):
            for name, value in zip(self.task_names, means[key]):
                self.logger.record(f"train/{key}_{name}", float(value))

    def _mixed_precision(self) -> th.autocast:
        """
        The network passes and losses under ``mixed_precision``; backward passes and optimiser steps stay outside, as
        PyTorch's AMP guidance says. No weight-cast cache: the critics change in place halfway through a step.
        """
        return th.autocast(self.device.type, dtype=th.bfloat16, enabled=self._hardware.bfloat16, cache_enabled=False)

    def _gradient_step(self, snippets: SnippetSamples) -> dict[str, th.Tensor]:
        """
        One update of temperatures, critics and actor on ``B`` snippets of ``T`` steps.

        The snippet's states ``s_0..s_T`` go through the actor once: ``s_0..s_{T-1}`` serve the actor and
        temperature losses, ``s_1..s_T`` the soft values and importance weights of the Retrace targets.
        """
        n_snippets, n_steps = snippets.mask.shape
        states = snippet_states(snippets.observations, snippets.next_observations)
        with self._mixed_precision():
            heads = self.action_family.heads(self.actor, take_steps(states, 0, n_steps + 1), (n_snippets, n_steps + 1))
        current_heads = terms_at_steps(heads, 0, n_steps)
        ent_coefs = self.ent_coefs
        stats: dict[str, th.Tensor] = {}
        if self.ent_coef_optimizer is not None:
            stats["ent_coef_loss"] = self._update_temperatures(current_heads.expected_log_pi, snippets.mask)
        with th.no_grad(), self._mixed_precision():
            targets = self._retrace_targets(
                snippets, take_steps(states, 1, n_steps + 1), terms_at_steps(heads, 1, n_steps + 1), ent_coefs
            )
        current_states = take_steps(states, 0, n_steps)
        critic_loss = self._update_critics(current_states, snippets.actions, targets, snippets.mask)
        actor_loss, q_value = self._update_actor(current_states, current_heads, ent_coefs, snippets.mask)
        return {
            **stats,
            "critic_loss": critic_loss,
            "actor_loss": actor_loss,
            "ent_coef": ent_coefs,
            "q_value": q_value,
            "entropy": -masked_mean(current_heads.expected_log_pi.detach(), snippets.mask),
        }

    @property
    def action_family(self) -> ActionFamily:
        """What the update needs from the heads of this action space (Gaussian or categorical)."""
        return self.policy.action_family

    def _update_temperatures(self, expected_log_pi: th.Tensor, mask: th.Tensor) -> th.Tensor:
        """SAC's temperature loss (Haarnoja et al., 2018b, eq. 18), one temperature per task; returns it per task."""
        ent_coef_loss = -(self.log_ent_coef * masked_mean((expected_log_pi + self.target_entropy).detach(), mask))
        self._optimizer_step(self.ent_coef_optimizer, ent_coef_loss)  # type: ignore[arg-type]
        return ent_coef_loss.detach()

    @staticmethod
    def _optimizer_step(optimizer: th.optim.Optimizer, loss_per_task: th.Tensor) -> None:
        """Minimise the sum over tasks (each task's head and critic outputs get their own task's gradient)."""
        optimizer.zero_grad()
        loss_per_task.sum().backward()
        optimizer.step()

    def _retrace_targets(
        self, snippets: SnippetSamples, next_states: PyTorchObs, next_heads: HeadTerms, ent_coefs: th.Tensor
    ) -> th.Tensor:
        """
        Policy evaluation (SPEC section 4): ``[B, T, K]`` Retrace targets from the target critics.

        At each next state ``s_{t+1}`` one target-critic pass gives the soft value and ``Q(s_{t+1}, a_{t+1})`` of the
        action taken next in the snippet: that is ``q_taken`` and ``log pi(a_t|s_t)`` of step ``t + 1``.
        """
        next_actions = next_in_snippet(snippets.actions)
        v_next, next_q_taken = self.action_family.soft_value_and_taken_q(
            self.critic_target, next_states, next_heads, next_actions, ent_coefs
        )
        next_log_rhos = self.action_family.log_prob(next_heads, next_actions) - next_in_snippet(
            snippets.behaviour_log_probs
        ).unsqueeze(-1)
        return retrace_targets(
            rewards=self._task_rewards(snippets),
            discounts=self.gamma * (1.0 - snippets.terminations),
            q_taken=previous_in_snippet(next_q_taken),
            v_next=v_next,
            log_rhos=previous_in_snippet(next_log_rhos),
            mask=snippets.mask,
            lambda_=self.retrace_lambda,
        )

    def _update_critics(self, states: PyTorchObs, actions: th.Tensor, targets: th.Tensor, mask: th.Tensor) -> th.Tensor:
        """Every twin critic regresses on the targets: per task, 0.5 * sum over critics of the MSE, as SB3's SAC."""
        with self._mixed_precision():
            current_q = self.action_family.taken_q(self.critic, states, actions)
            current_q = current_q.view(current_q.shape[0], *mask.shape, self.n_tasks)
            critic_loss = 0.5 * masked_mean((current_q - targets).pow(2), mask).sum(dim=0)
        self._optimizer_step(self.critic.optimizer, critic_loss)
        return critic_loss.detach()

    def _update_actor(
        self, states: PyTorchObs, heads: HeadTerms, ent_coefs: th.Tensor, mask: th.Tensor
    ) -> tuple[th.Tensor, th.Tensor]:
        """
        Policy improvement (SPEC section 1), per task: ``E_s[ E_{a~pi_k}[ alpha_k log pi_k(a|s) - Q_k(s, a) ] ]``.

        :return: the actor loss and the mean ``Q_k`` of the heads' actions, per task.
        """
        with self._mixed_precision():
            objective, q_value = self.action_family.actor_objective(self.critic, states, heads, ent_coefs)
            actor_loss = masked_mean(objective, mask)
        self._optimizer_step(self.actor.optimizer, actor_loss)
        return actor_loss.detach(), masked_mean(q_value.detach(), mask)

    def _task_rewards(self, snippets: SnippetSamples) -> th.Tensor:
        """
        ``[B, T, K]`` rewards as the learner sees them: the main reward scaled by ``main_reward_scale``; the
        auxiliary rewards with the value of an absorbing state added where the episode terminated at rest
        (``r + gamma * r / (1 - gamma)``, SPEC section 3), so that resting is not worth less than flying on. A step
        flagged ``aux_absorbing`` that does not terminate the episode (a truncation) gets no bonus.
        """
        # Only a step that ends the episode can lead into an absorbing state: elsewhere the bootstrap already values s_{t+1}
        absorbing = snippets.aux_absorbing * snippets.terminations
        absorbing_value = self.gamma / (1.0 - self.gamma) * snippets.aux_rewards * absorbing[..., None]
        main = snippets.main_rewards[..., None] * self._main_reward_scale()
        return th.cat([main, snippets.aux_rewards + absorbing_value], dim=-1)

    # ------------------------------------------------------------------ saving

    def _excluded_save_params(self) -> list[str]:
        # The hardware is decided anew on the machine that loads the model
        return [*super()._excluded_save_params(), "actor", "critic", "critic_target", "_hardware"]

    def _get_torch_save_params(self) -> tuple[list[str], list[str]]:
        state_dicts = ["policy", "actor.optimizer", "critic.optimizer"]
        if self.ent_coef_optimizer is not None:
            return [*state_dicts, "ent_coef_optimizer"], ["log_ent_coef"]
        return state_dicts, ["ent_coef_tensor"]

    def learn(
        self: SelfSACX,
        total_timesteps: int,
        callback: MaybeCallback = None,
        log_interval: int = 4,
        tb_log_name: str = "SACX",
        reset_num_timesteps: bool = True,
        progress_bar: bool = False,
    ) -> SelfSACX:
        return super().learn(
            total_timesteps=total_timesteps,
            callback=callback,
            log_interval=log_interval,
            tb_log_name=tb_log_name,
            reset_num_timesteps=reset_num_timesteps,
            progress_bar=progress_bar,
        )
