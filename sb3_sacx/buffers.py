"""
Replay buffers that keep what SAC-X needs on top of SB3's: the auxiliary rewards, the behaviour
log-probability and the acting intention of every transition, and that sample trajectory snippets
for Retrace rather than independent transitions.
"""

from typing import Any, NamedTuple, Optional, Union

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.buffers import DictReplayBuffer, ReplayBuffer
from stable_baselines3.common.vec_env import VecNormalize

TensorOrDict = Union[th.Tensor, dict[str, th.Tensor]]
#: ``intentions`` entry of a transition whose behaviour was not staged (added from outside the algorithm)
UNKNOWN_INTENTION = -1


class SnippetSamples(NamedTuple):
    """
    ``B`` trajectory snippets of ``T`` consecutive steps of one environment each.

    :param observations: ``[B, T, *obs_shape]`` states ``s_t`` (a dict of such tensors for Dict spaces).
    :param next_observations: ``[B, T, *obs_shape]`` states ``s_{t+1}``.
    :param actions: ``[B, T, action_dim]`` actions as stored (squashed to [-1, 1] for Box).
    :param main_rewards: ``[B, T]`` the environment's reward (normalised when VecNormalize is used).
    :param aux_rewards: ``[B, T, n_aux_tasks]`` auxiliary rewards.
    :param terminations: ``[B, T]`` 1 where ``s_{t+1}`` is terminal (not on a time-limit truncation).
    :param aux_absorbing: ``[B, T]`` 1 where ``s_{t+1}`` is absorbing for the auxiliary tasks.
    :param behaviour_log_probs: ``[B, T]`` ``log mu(a_t|s_t)`` of the policy that acted.
    :param mask: ``[B, T]`` 1 for the snippet's steps, 0 after its episode ended or past the write head.
    """

    observations: TensorOrDict
    next_observations: TensorOrDict
    actions: th.Tensor
    main_rewards: th.Tensor
    aux_rewards: th.Tensor
    terminations: th.Tensor
    aux_absorbing: th.Tensor
    behaviour_log_probs: th.Tensor
    mask: th.Tensor


class SnippetStorageMixin:
    """
    The SAC-X part of a replay buffer; mixed into SB3's ``ReplayBuffer`` and ``DictReplayBuffer``.

    Before each ``add``, the algorithm stages the behaviour log-probabilities and intentions of the
    actions it took with :meth:`stage_behaviour`; ``add`` reads the auxiliary rewards from ``infos``.
    A transition added without staged behaviour counts as from an unknown policy (no Retrace trace through it).

    :param buffer_size: maximum number of transitions stored (over all environments).
    :param observation_space: observation space.
    :param action_space: action space.
    :param device: where sampled tensors go.
    :param n_envs: number of parallel environments.
    :param optimize_memory_usage: not supported (snippets need ``next_observations``); must be False.
    :param n_aux_tasks: number of auxiliary tasks (``len(info["aux_rewards"])``).
    :param handle_timeout_termination: tell time-limit truncations from terminations (needed for correct targets).
    """

    buffer_size: int
    n_envs: int
    pos: int
    full: bool
    device: th.device
    dones: np.ndarray
    timeouts: np.ndarray
    observations: Union[np.ndarray, dict[str, np.ndarray]]
    next_observations: Union[np.ndarray, dict[str, np.ndarray]]
    actions: np.ndarray
    rewards: np.ndarray

    def __init__(
        self,
        buffer_size: int,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        device: Union[th.device, str] = "auto",
        n_envs: int = 1,
        optimize_memory_usage: bool = False,
        n_aux_tasks: int = 0,
        handle_timeout_termination: bool = True,
    ) -> None:
        if optimize_memory_usage:
            raise ValueError(f"{type(self).__name__} does not support optimize_memory_usage=True.")
        super().__init__(buffer_size, observation_space, action_space, device, n_envs, False, handle_timeout_termination)  # type: ignore[call-arg]
        self.n_aux_tasks = n_aux_tasks
        self.aux_rewards = np.zeros((self.buffer_size, self.n_envs, n_aux_tasks), dtype=np.float32)
        self.aux_absorbing = np.zeros((self.buffer_size, self.n_envs), dtype=bool)
        self.behaviour_log_probs = np.zeros((self.buffer_size, self.n_envs), dtype=np.float32)
        self.intentions = np.zeros((self.buffer_size, self.n_envs), dtype=np.int16)
        self._staged_behaviour: Optional[tuple[np.ndarray, np.ndarray]] = None
        self._rewarded: Optional[tuple[np.ndarray, np.ndarray]] = None

    def __setstate__(self, state: dict[str, Any]) -> None:
        # The index of rewarded transitions is rebuilt on demand (buffers pickled before it existed lack it)
        self.__dict__.update(state)
        self._rewarded = None

    def stage_behaviour(self, log_probs: np.ndarray, intentions: np.ndarray) -> None:
        """
        Record how the next transition's actions were chosen.

        :param log_probs: ``[n_envs]`` ``log mu(a|s)`` of the actions taken.
        :param intentions: ``[n_envs]`` index of the intention that acted.
        """
        self._staged_behaviour = (np.asarray(log_probs, dtype=np.float32), np.asarray(intentions, dtype=np.int16))

    def add(self, obs: Any, next_obs: Any, action: np.ndarray, reward: np.ndarray, done: np.ndarray, infos: list) -> None:
        """
        SB3's ``add``, storing with the transition its auxiliary rewards and ``aux_absorbing`` flags (from ``infos``)
        and the behaviour staged by :meth:`stage_behaviour` (or, if none was, an unknown behaviour: one-step targets).

        :param obs: observations before the step.
        :param next_obs: observations after the step.
        :param action: actions taken.
        :param reward: main rewards.
        :param done: whether each env's episode ended.
        :param infos: each env's ``info``, with ``"aux_rewards"``.
        """
        if np.any(reward != 0) or np.any(self.rewards[self.pos] != 0):
            self._rewarded = None  # a rewarded transition is added or overwritten
        self._add_snippet_data(infos)
        super().add(obs, next_obs, action, reward, done, infos)  # type: ignore[misc]

    def _add_snippet_data(self, infos: list[dict[str, Any]]) -> None:
        if self._staged_behaviour is None:
            # Transitions added from outside (e.g. demonstrations, or extend()) come from an unknown policy:
            # log mu = +inf makes every Retrace trace weight c = 0 there, so their targets are one-step TD.
            self.behaviour_log_probs[self.pos], self.intentions[self.pos] = np.inf, UNKNOWN_INTENTION
        else:
            self.behaviour_log_probs[self.pos], self.intentions[self.pos] = self._staged_behaviour
        self._staged_behaviour = None
        for env_index, info in enumerate(infos):
            if "aux_rewards" not in info:
                raise KeyError(
                    f"info of env {env_index} has no 'aux_rewards': SACX's replay buffer stores the auxiliary rewards "
                    "of every transition; wrap the environment in sb3_sacx.AuxRewardWrapper."
                )
            self.aux_rewards[self.pos, env_index] = info["aux_rewards"]
            self.aux_absorbing[self.pos, env_index] = bool(info.get("aux_absorbing", False))

    def truncate_last_episodes(self) -> None:
        """
        End the episodes of the newest stored step as time-limit truncations, so that no snippet runs from them
        into the episodes that a reset environment starts next (e.g. on a new ``learn()`` call).
        """
        if self.n_stored() > 0:
            newest = (self.pos - 1) % self.buffer_size
            self.timeouts[newest] = np.where(self.dones[newest] > 0, self.timeouts[newest], 1.0)
            self.dones[newest] = 1.0

    def n_stored(self) -> int:
        """:return: number of steps stored per environment."""
        return self.buffer_size if self.full else self.pos

    def rewarded_transitions(self) -> tuple[np.ndarray, np.ndarray]:
        """:return: buffer positions and environment indices of the stored transitions with a nonzero main reward."""
        if self._rewarded is None:
            self._rewarded = np.nonzero(self.rewards[: self.n_stored()] != 0)
        return self._rewarded

    def rewarded_fraction(self) -> float:
        """:return: share of the stored transitions with a nonzero main reward (0 when none are stored)."""
        n_transitions = self.n_stored() * self.n_envs
        return len(self.rewarded_transitions()[0]) / n_transitions if n_transitions else 0.0

    def snippet_indices(
        self, n_snippets: int, retrace_steps: int, rewarded_fraction: float = 0.0
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """
        Draw snippet start points uniformly over the stored steps, except for a ``rewarded_fraction`` of the
        snippets: these contain a transition with a nonzero main reward, drawn uniformly among the stored ones,
        at a uniformly drawn place in the snippet (as far as its episode's start allows).

        :param n_snippets: ``B``.
        :param retrace_steps: ``T``.
        :param rewarded_fraction: fraction of the snippets drawn around rewarded transitions (if any are stored).
        :return: buffer positions ``[B, T]``, environment indices ``[B, 1]`` and the mask ``[B, T]``:
            a snippet stops at the first step that ended its episode (that step included) and never
            reaches past the newest stored step.
        """
        n_stored = self.n_stored()
        oldest = self.pos if self.full else 0
        starts = np.random.randint(0, n_stored, size=n_snippets)
        env_indices = np.random.randint(0, self.n_envs, size=n_snippets)
        # Only looked up when asked for: with a dense main reward the index changes (and is rebuilt) at every step
        if rewarded_fraction > 0:
            event_positions, event_envs = self.rewarded_transitions()
            if len(event_positions) > 0:
                n_rewarded = round(rewarded_fraction * n_snippets)
                events = np.random.randint(0, len(event_positions), size=n_rewarded)
                event_offsets = (event_positions[events] - oldest) % self.buffer_size
                starts[:n_rewarded] = self._starts_leading_to(event_offsets, event_envs[events], retrace_steps, oldest)
                env_indices[:n_rewarded] = event_envs[events]
        offsets = starts[:, None] + np.arange(retrace_steps)
        positions = (oldest + offsets) % self.buffer_size
        env_indices = env_indices[:, None]
        ended = self.dones[positions, env_indices] > 0
        # A step belongs to the snippet if it is stored and no earlier step of the snippet ended an episode.
        ended_before = np.cumsum(ended, axis=1) - ended
        mask = (offsets < n_stored) & (ended_before == 0)
        return positions, env_indices, mask

    def _starts_leading_to(
        self, event_offsets: np.ndarray, env_indices: np.ndarray, retrace_steps: int, oldest: int
    ) -> np.ndarray:
        """
        Start offsets (from the oldest stored step) of snippets that contain the given steps: ``lead`` steps before
        each, ``lead`` uniform in ``[0, T - 1]``, cut to start after the previous episode's end and at a stored step.
        """
        lead = np.random.randint(0, retrace_steps, size=len(event_offsets))
        window = (event_offsets - lead)[:, None] + np.arange(retrace_steps)
        ended = self.dones[(oldest + window) % self.buffer_size, env_indices[:, None]] > 0
        ended_before_event = ended & (window >= 0) & (np.arange(retrace_steps) < lead[:, None])
        last_end = np.where(
            ended_before_event.any(axis=1), retrace_steps - 1 - np.argmax(ended_before_event[:, ::-1], axis=1), -1
        )
        return np.maximum(event_offsets - lead + last_end + 1, 0)

    def sample_snippets(
        self, n_snippets: int, retrace_steps: int, env: Optional[VecNormalize] = None, rewarded_fraction: float = 0.0
    ) -> SnippetSamples:
        """
        :param n_snippets: number of snippets ``B``.
        :param retrace_steps: steps per snippet ``T``.
        :param env: VecNormalize wrapper whose statistics normalise observations and the main reward.
        :param rewarded_fraction: fraction of the snippets drawn around transitions with a nonzero main reward
            (see :meth:`snippet_indices`).
        :return: the snippets, as tensors on the buffer's device.
        """
        positions, env_indices, mask = self.snippet_indices(n_snippets, retrace_steps, rewarded_fraction)
        terminations = self.dones[positions, env_indices] * (1.0 - self.timeouts[positions, env_indices])
        return SnippetSamples(
            observations=self._gather_observations(self.observations, positions, env_indices, env),
            next_observations=self._gather_observations(self.next_observations, positions, env_indices, env),
            actions=self.to_torch(self.actions[positions, env_indices]),
            main_rewards=self.to_torch(self._normalize_reward(self.rewards[positions, env_indices], env)),
            aux_rewards=self.to_torch(self.aux_rewards[positions, env_indices]),
            terminations=self.to_torch(terminations.astype(np.float32)),
            aux_absorbing=self.to_torch(self.aux_absorbing[positions, env_indices].astype(np.float32)),
            behaviour_log_probs=self.to_torch(self.behaviour_log_probs[positions, env_indices]),
            mask=self.to_torch(mask.astype(np.float32)),
        )

    def _gather_observations(
        self,
        storage: Union[np.ndarray, dict[str, np.ndarray]],
        positions: np.ndarray,
        env_indices: np.ndarray,
        env: Optional[VecNormalize],
    ) -> TensorOrDict:
        if isinstance(storage, dict):
            observations = {key: values[positions, env_indices] for key, values in storage.items()}
            return {key: self.to_torch(value) for key, value in self._normalize_obs(observations, env).items()}
        return self.to_torch(self._normalize_obs(storage[positions, env_indices], env))


class SACXReplayBuffer(SnippetStorageMixin, ReplayBuffer):
    """SB3's ``ReplayBuffer`` plus SAC-X's per-transition data and snippet sampling (see :class:`SnippetStorageMixin`)."""


class SACXDictReplayBuffer(SnippetStorageMixin, DictReplayBuffer):
    """SB3's ``DictReplayBuffer`` plus SAC-X's per-transition data and snippet sampling, for Dict observations."""


def snippet_buffer_class(
    requested: Optional[type], observation_space: spaces.Space
) -> type[Union[SACXReplayBuffer, SACXDictReplayBuffer]]:
    """
    The replay buffer class SACX samples snippets from: ``requested`` if given (a subclass of SACX's buffer for the
    observation space, e.g. with another sampling scheme), else :class:`SACXDictReplayBuffer` for ``Dict``
    observations and :class:`SACXReplayBuffer` otherwise.

    :param requested: the ``replay_buffer_class`` argument, or None.
    :param observation_space: the environment's observation space.
    :raises ValueError: for a class that cannot store and sample snippets for this observation space.
    """
    needed = SACXDictReplayBuffer if isinstance(observation_space, spaces.Dict) else SACXReplayBuffer
    if requested is None:
        return needed
    if not (isinstance(requested, type) and issubclass(requested, needed)):
        raise ValueError(
            f"SACX does not support replay_buffer_class={requested!r}: it samples trajectory snippets for Retrace, "
            f"so the class must be sb3_sacx.buffers.{needed.__name__} (for this observation space) or a subclass of it."
        )
    return requested
