"""SAC-X: Scheduled Auxiliary Control (Riedmiller et al., 2018, "Learning by Playing")."""

import io
import math
import pathlib
from collections import deque
from typing import Any, ClassVar, Optional, TypeVar, Union

import torch as th
from stable_baselines3.common.base_class import maybe_make_env
from stable_baselines3.common.buffers import ReplayBuffer
from stable_baselines3.common.noise import ActionNoise
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.type_aliases import GymEnv, MaybeCallback, PyTorchObs, Schedule
from stable_baselines3.common.utils import get_parameters_by_name, polyak_update

from sb3_sacx import validation
from sb3_sacx.buffers import SnippetSamples, snippet_buffer_class
from sb3_sacx.hardware import training_hardware
from sb3_sacx.heads import HeadTerms, terms_at_steps
from sb3_sacx.intentions import Intentions, ScheduledActing
from sb3_sacx.logs import record_train
from sb3_sacx.policies import CnnPolicy, MlpPolicy, MultiInputPolicy, SACXPolicy
from sb3_sacx.retrace import masked_mean, next_in_snippet, previous_in_snippet, retrace_targets, snippet_states, take_steps
from sb3_sacx.rewards import auto_main_reward_scale, learner_rewards
from sb3_sacx.schedulers import make_scheduler

SelfSACX = TypeVar("SelfSACX", bound="SACX")


def minimise(optimizer: th.optim.Optimizer, loss_per_task: th.Tensor) -> None:
    """
    One optimiser step on the sum over tasks (each task's head and critic outputs get their own task's gradient).

    :param optimizer: the optimiser of the networks (or temperatures) the loss trains.
    :param loss_per_task: ``[K]`` the loss of every task.
    """
    optimizer.zero_grad()
    loss_per_task.sum().backward()
    optimizer.step()


class SACX(ScheduledActing, OffPolicyAlgorithm):
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
    :param main_reward_scale: factor on the main reward inside the learner, so that a sparse main task's values live
        on the auxiliary tasks' scale. ``"auto"``: ``1/(1-gamma)`` if the main reward is sparse in the replay buffer at
        the first gradient step (:func:`sb3_sacx.rewards.auto_main_reward_scale`), else 1.0; use 1.0 for a reward that
        ``VecNormalize`` normalises. Logged as ``train/main_reward_scale``; logged returns are unscaled.
    :param rewarded_snippet_fraction: fraction of each batch's snippets drawn around transitions with a nonzero main
        reward (once the buffer holds any), the rest uniformly: a prioritisation without importance weights. 0: uniform.
    :param mixed_precision: the gradient step's network passes in bfloat16 under ``torch.autocast`` (weights, losses
        and Retrace stay float32): faster on a CPU with AVX512-BF16 or AMX, many times slower where bfloat16 is
        emulated, so off by default. ``"auto"``: on where the device multiplies bfloat16 natively
        (:func:`sb3_sacx.hardware.training_hardware`, decided anew on the machine that loads the model). Acting is
        unaffected. (SACX also keeps the step's temporaries in glibc's heap; ``SB3_SACX_TUNE_MALLOC=0`` opts out.)
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
        # The constructor's arguments by name, checked against one rule table (first: locals() holds the arguments only)
        validation.check_arguments(locals())
        policy_kwargs = validation.accept_sac_policy_kwargs(policy_kwargs)
        if env is not None:
            # Made here rather than by SB3 so that its spaces get a clear error before SB3's asserts see them
            env = maybe_make_env(env, verbose)
            validation.check_env_fits(policy, env, policy_kwargs, replay_buffer_class, train_freq)
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
        # A loaded model stores its tasks as a list; its env (if any) must have the same ones
        self.task_names = tuple(self.task_names) if self.env is None else validation.env_task_names(self.env, self.task_names)
        n_tasks = self.n_tasks
        if not isinstance(self.scheduler, str):  # a scheduler object built for another task count is refused here
            validation.scheduler_probabilities(self.scheduler, self.task_names)
        self.replay_buffer_class = snippet_buffer_class(self.replay_buffer_class, self.observation_space)
        self.replay_buffer_kwargs = {**self.replay_buffer_kwargs, "n_aux_tasks": n_tasks - 1}
        validation.check_policy_task_count(self.policy_kwargs, n_tasks)
        self._hardware = training_hardware(self.device, self.mixed_precision, self.verbose)
        self.policy_kwargs = {**self.policy_kwargs, "n_tasks": n_tasks, **self._hardware.optimizer_kwargs(self.policy_kwargs)}
        super()._setup_model()
        self.actor, self.critic, self.critic_target = self.policy.actor, self.policy.critic, self.policy.critic_target
        self.batch_norm_stats = get_parameters_by_name(self.critic, ["running_"])
        self.batch_norm_stats_target = get_parameters_by_name(self.critic_target, ["running_"])
        # One temperature per task, learned ("auto[_<initial value>]") or fixed, as in SB3's SAC
        if self.target_entropy == "auto":
            self.target_entropy = self.policy.action_family.auto_target_entropy(self.action_space)
        self.target_entropy = float(self.target_entropy)
        self.ent_coef_optimizer: Optional[th.optim.Adam] = None
        if isinstance(self.ent_coef, str) and self.ent_coef.startswith("auto"):
            init_value = float(self.ent_coef.split("_")[1]) if "_" in self.ent_coef else 1.0
            self.log_ent_coef = th.full((n_tasks,), math.log(init_value), device=self.device).requires_grad_(True)
            self.ent_coef_optimizer = th.optim.Adam(
                [self.log_ent_coef], lr=self.lr_schedule(1), fused=self._hardware.fused_adam
            )
        else:
            self.log_ent_coef = None  # as SB3's SAC: only learned temperatures have one
            self.ent_coef_tensor = th.full((n_tasks,), float(self.ent_coef), device=self.device)
        if isinstance(self.scheduler, str):
            self.scheduler = make_scheduler(self.scheduler, n_tasks, self.seed, self.scheduler_kwargs)
        self._task_returns: deque = deque(maxlen=self._stats_window_size)

    @property
    def n_tasks(self) -> int:
        """Number of intentions K, main task included."""
        return len(self.task_names)

    @property
    def ent_coefs(self) -> th.Tensor:
        """``[K]`` the current temperatures ``alpha_k``, one per task (detached)."""
        if self.ent_coef_optimizer is not None:
            return th.exp(self.log_ent_coef.detach())
        return self.ent_coef_tensor

    @property
    def effective_main_reward_scale(self) -> Optional[float]:
        """
        The factor on the main reward inside the learner: ``main_reward_scale``, or what ``"auto"`` decided from the
        replay buffer at the first gradient step (:func:`sb3_sacx.rewards.auto_main_reward_scale`); None until then.
        """
        return self._auto_main_reward_scale if self.main_reward_scale == "auto" else float(self.main_reward_scale)

    # ------------------------------------------------------------------ env and replay buffer

    def set_env(self, env: GymEnv, force_reset: bool = True) -> None:
        env = self._wrap_env(env, self.verbose)
        validation.env_task_names(env, self.task_names)
        validation.check_env_count(env, self.n_envs)
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
        validation.check_loaded_replay_buffer(loaded, path, self)
        self.replay_buffer = loaded

    # ------------------------------------------------------------------ learning

    def learn(
        self: SelfSACX,
        total_timesteps: int,
        callback: MaybeCallback = None,
        log_interval: int = 4,
        tb_log_name: str = "SACX",
        reset_num_timesteps: bool = True,
        progress_bar: bool = False,
    ) -> SelfSACX:
        # The constructor's rules again at every run's start: SACX.load(path, **kwargs) or attributes may have changed
        validation.check_before_learning(self)
        return super().learn(total_timesteps, callback, log_interval, tb_log_name, reset_num_timesteps, progress_bar)

    def train(self, gradient_steps: int, batch_size: int = 64) -> None:
        if self.effective_main_reward_scale is None:  # "auto", decided once from the warm-up in the buffer
            rewarded_fraction = self.replay_buffer.rewarded_fraction()  # type: ignore[union-attr]
            self._auto_main_reward_scale = auto_main_reward_scale(rewarded_fraction, self.gamma)
            validation.warn_if_main_reward_is_normalised(self._vec_normalize_env, rewarded_fraction, self.gamma)
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
        record_train(self.logger, self.task_names, stats, self._n_updates, self.effective_main_reward_scale)

    def _gradient_step(self, snippets: SnippetSamples) -> dict[str, th.Tensor]:
        """
        One update of every task on ``B`` snippets of ``T`` steps, in SB3's SAC order: the heads at the snippet's states,
        the temperatures, the Retrace targets (policy evaluation), the critics, the actor (policy improvement).

        The states ``s_0..s_T`` go through the actor once: ``s_0..s_{T-1}`` serve the actor and temperature losses,
        ``s_1..s_T`` the soft values and importance weights of the targets.
        """
        mask, family, autocast = snippets.mask, self.policy.action_family, self._hardware.autocast  # [B, T] valid steps
        n_snippets, retrace_steps = mask.shape
        states = snippet_states(snippets.observations, snippets.next_observations)
        with autocast(self.device):
            heads = family.heads(self.actor, take_steps(states, 0, retrace_steps + 1), (n_snippets, retrace_steps + 1))
        current_states, current_heads = take_steps(states, 0, retrace_steps), terms_at_steps(heads, 0, retrace_steps)
        ent_coefs = self.ent_coefs
        stats: dict[str, th.Tensor] = {}
        if self.ent_coef_optimizer is not None:
            # SAC's temperature loss (Haarnoja et al., 2018b, eq. 18), one temperature per task
            entropy_error = masked_mean((current_heads.expected_log_pi + self.target_entropy).detach(), mask)
            ent_coef_loss = -(self.log_ent_coef * entropy_error)
            minimise(self.ent_coef_optimizer, ent_coef_loss)
            stats["ent_coef_loss"] = ent_coef_loss.detach()
        with th.no_grad(), autocast(self.device):
            next_states, next_heads = take_steps(states, 1, retrace_steps + 1), terms_at_steps(heads, 1, retrace_steps + 1)
            targets = self._retrace_targets(snippets, next_states, next_heads, ent_coefs)
        # Policy evaluation: every twin critic regresses on the targets, 0.5 * sum over critics of the MSE (SB3's SAC)
        with autocast(self.device):
            current_q = family.taken_q(self.critic, current_states, snippets.actions)
            current_q = current_q.view(current_q.shape[0], *mask.shape, self.n_tasks)
            critic_loss = 0.5 * masked_mean((current_q - targets).pow(2), mask).sum(dim=0)
        minimise(self.critic.optimizer, critic_loss)
        # Policy improvement, per task: E_s[ E_{a~pi_k}[ alpha_k log pi_k(a|s) - Q_k(s, a) ] ] (SPEC section 1)
        with autocast(self.device):
            objective, q_value = family.actor_objective(self.critic, current_states, current_heads, ent_coefs)
            actor_loss = masked_mean(objective, mask)
        minimise(self.actor.optimizer, actor_loss)
        return {
            **stats,
            "critic_loss": critic_loss.detach(),
            "actor_loss": actor_loss.detach(),
            "ent_coef": ent_coefs,
            "q_value": masked_mean(q_value.detach(), mask),
            "entropy": -masked_mean(current_heads.expected_log_pi.detach(), mask),
        }

    def _retrace_targets(
        self, snippets: SnippetSamples, next_states: PyTorchObs, next_heads: HeadTerms, ent_coefs: th.Tensor
    ) -> th.Tensor:
        """
        Policy evaluation (SPEC section 4): ``[B, T, K]`` Retrace targets from the target critics.

        One target-critic pass at each next state ``s_{t+1}`` gives its soft value and ``Q(s_{t+1}, a_{t+1})`` of the
        action taken next in the snippet; ``previous_in_snippet`` moves that Q (and ``log rho``) to index ``t + 1``, where
        :func:`~sb3_sacx.retrace.retrace_targets` reads ``q_taken`` of step ``t + 1`` (index 0 is never read).
        """
        family, next_actions = self.policy.action_family, next_in_snippet(snippets.actions)
        v_next, next_q_taken = family.soft_value_and_taken_q(
            self.critic_target, next_states, next_heads, next_actions, ent_coefs
        )
        next_log_mu = next_in_snippet(snippets.behaviour_log_probs).unsqueeze(-1)
        next_log_rhos = family.log_prob(next_heads, next_actions) - next_log_mu
        return retrace_targets(
            rewards=learner_rewards(snippets, self.gamma, self.effective_main_reward_scale),
            discounts=self.gamma * (1.0 - snippets.terminations),
            q_taken=previous_in_snippet(next_q_taken),
            v_next=v_next,
            log_rhos=previous_in_snippet(next_log_rhos),
            mask=snippets.mask,
            lambda_=self.retrace_lambda,
        )

    # ------------------------------------------------------------------ saving

    def _excluded_save_params(self) -> list[str]:
        # The hardware is decided anew on the machine that loads the model
        return [*super()._excluded_save_params(), "actor", "critic", "critic_target", "_hardware"]

    def _get_torch_save_params(self) -> tuple[list[str], list[str]]:
        state_dicts = ["policy", "actor.optimizer", "critic.optimizer"]
        if self.ent_coef_optimizer is not None:
            return [*state_dicts, "ent_coef_optimizer"], ["log_ent_coef"]
        return state_dicts, ["ent_coef_tensor"]
