"""
The intentions' heads, by kind of action space (Riedmiller et al., 2018, section 5): squashed Gaussian heads for Box
actions and categorical heads for Discrete ones (whose soft values and actor loss are exact expectations over actions,
as in SAC-Discrete, Christodoulou, 2019), behind one :class:`ActionFamily` interface so that the algorithm has no
action-space branches. The networks that compute the heads are in :mod:`sb3_sacx.policies`.
"""

import math
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, NamedTuple, Union

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.type_aliases import PyTorchObs
from torch.nn import functional as F

if TYPE_CHECKING:
    from sb3_sacx.policies import MultiHeadActor, MultiHeadCritic

# Same bounds as SB3's SAC actor
LOG_STD_MAX = 2
LOG_STD_MIN = -20
# Discrete heads aim at this fraction of the maximum entropy log|A| when target_entropy="auto"
# (SAC-Discrete's 0.98 keeps the policies nearly uniform, which is too random for a sparse task).
DISCRETE_TARGET_ENTROPY_FRACTION = 0.5


def squashed_gaussian_log_prob(mean: th.Tensor, log_std: th.Tensor, pre_squash: th.Tensor) -> th.Tensor:
    """
    Log-density of ``tanh(u)`` for ``u ~ N(mean, exp(log_std))``, in the squashed action space (SAC, eq. 26).

    :param mean: ``[..., A]``
    :param log_std: ``[..., A]``
    :param pre_squash: ``[..., A]`` the Gaussian sample ``u`` before ``tanh``.
    :return: ``[...]`` log-probabilities.
    """
    gaussian = -0.5 * ((pre_squash - mean) / log_std.exp()) ** 2 - log_std - 0.5 * math.log(2 * math.pi)
    # log(1 - tanh(u)^2) written so that it stays finite for large |u|
    log_det_jacobian = 2.0 * (math.log(2.0) - pre_squash - F.softplus(-2.0 * pre_squash))
    return (gaussian - log_det_jacobian).sum(dim=-1)


def squashed_gaussian_sample(mean: th.Tensor, log_std: th.Tensor) -> tuple[th.Tensor, th.Tensor]:
    """
    Reparameterised sample of a squashed Gaussian and its log-probability.

    :param mean: ``[..., A]``
    :param log_std: ``[..., A]``
    :return: actions ``[..., A]`` in [-1, 1] and their log-probabilities ``[...]``.
    """
    pre_squash = mean + log_std.exp() * th.randn_like(mean)
    return th.tanh(pre_squash), squashed_gaussian_log_prob(mean, log_std, pre_squash)


def squashed_action_log_prob(mean: th.Tensor, log_std: th.Tensor, actions: th.Tensor) -> th.Tensor:
    """
    Log-probability of given squashed actions (e.g. from the replay buffer).

    :param mean: ``[..., A]``
    :param log_std: ``[..., A]``
    :param actions: ``[..., A]`` in [-1, 1]; clipped away from +-1 so that ``atanh`` stays finite.
    :return: ``[...]`` log-probabilities.
    """
    eps = th.finfo(actions.dtype).eps
    return squashed_gaussian_log_prob(mean, log_std, th.atanh(actions.clamp(-1.0 + eps, 1.0 - eps)))


def task_diagonal(values: th.Tensor) -> th.Tensor:
    """
    ``[..., K, K] -> [..., K]``: the value of head k for the action of head k.

    :param values: ``[..., M, K]`` Q values of every task for ``M >= K`` actions, the first K from heads 0..K-1.
    :return: ``[..., K]``
    """
    n_tasks = values.shape[-1]
    return th.diagonal(values[..., :n_tasks, :], dim1=-2, dim2=-1)


class GaussianTerms(NamedTuple):
    """
    Squashed Gaussian heads at a batch of states, with gradients to the actor; every field ``[*batch, K, ...]``.

    :param expected_log_pi: ``[*batch, K]`` ``E_{a~pi_k}[log pi_k(a|s)]``, estimated by the one reparameterised sample
        in ``actions``.
    :param mean: ``[*batch, K, A]`` Gaussian mean before squashing.
    :param log_std: ``[*batch, K, A]`` Gaussian log standard deviation.
    :param actions: ``[*batch, K, A]`` each head's reparameterised action, squashed to [-1, 1].
    """

    expected_log_pi: th.Tensor
    mean: th.Tensor
    log_std: th.Tensor
    actions: th.Tensor


class CategoricalTerms(NamedTuple):
    """
    Categorical heads at a batch of states, with gradients to the actor; every field ``[*batch, K, ...]``.

    :param expected_log_pi: ``[*batch, K]`` ``E_{a~pi_k}[log pi_k(a|s)]`` exactly (the negative entropy).
    :param log_probs: ``[*batch, K, |A|]`` log-probability of every action under every head.
    """

    expected_log_pi: th.Tensor
    log_probs: th.Tensor


#: Every head's terms at every snippet step, for either kind of action space.
HeadTerms = Union[GaussianTerms, CategoricalTerms]


def terms_at_steps(terms: HeadTerms, start: int, stop: int) -> HeadTerms:
    """
    ``[B, T + 1, K, ...] -> [B, stop - start, K, ...]``: the heads at snippet steps ``start..stop-1``.

    :param terms: every head at every snippet state, each field ``[B, T + 1, K, ...]``.
    :param start: the first step kept.
    :param stop: the step after the last one kept.
    """
    return type(terms)(*(field[:, start:stop] for field in terms))


class ActionFamily(ABC):
    """
    What SAC-X's update needs from the heads of one kind of action space, in one layout, so that the algorithm has no
    action-space branches. Batches are ``[B, T]`` snippet steps: states come flattened (``B * T``), heads as
    :data:`HeadTerms` ``[B, T, K, ...]``, and results are ``[B, T, K]`` (one value per step and task) unless stated.
    Critic values are the minimum over the twin critics, except in :meth:`taken_q`.
    """

    @abstractmethod
    def auto_target_entropy(self, action_space: spaces.Space) -> float:
        """
        The target entropy of ``target_entropy="auto"``.

        :param action_space: the env's action space.
        """

    @abstractmethod
    def uniform_log_density(self, action_space: spaces.Space) -> float:
        """
        ``log mu`` of SB3's uniform warm-up actions, in the policy's (for Box: squashed) action space.

        :param action_space: the env's action space.
        """

    @abstractmethod
    def stored_action(self, policy: BasePolicy, env_actions: np.ndarray) -> np.ndarray:
        """
        An action as the env takes it -> as the replay buffer and the heads hold it.

        :param policy: the policy, whose action space gives the scale.
        :param env_actions: ``[n_envs, ...]`` actions in the env's action space.
        """

    @abstractmethod
    def env_action(self, policy: BasePolicy, stored_actions: np.ndarray) -> np.ndarray:
        """
        An action as the heads give it -> as the env takes it.

        :param policy: the policy, whose action space gives the scale.
        :param stored_actions: ``[n_envs, ...]`` actions as the heads give them.
        """

    @abstractmethod
    def act(
        self, actor: "MultiHeadActor", obs: PyTorchObs, tasks: th.Tensor, deterministic: bool = False
    ) -> tuple[th.Tensor, th.Tensor]:
        """
        Act with one head per observation.

        :param actor: the multi-head actor.
        :param obs: ``N`` observations.
        :param tasks: ``[N]`` index of the head that acts on each observation.
        :param deterministic: take the mode instead of sampling.
        :return: actions (``[N, A]`` squashed to [-1, 1] for Box, ``[N]`` for Discrete) and their log-probabilities
            ``[N]`` under the acting head (meaningless when deterministic).
        """

    @abstractmethod
    def heads(self, actor: "MultiHeadActor", states: PyTorchObs, batch_shape: tuple[int, int]) -> HeadTerms:
        """
        Every head at every state, in one actor pass (with a reparameterised sample of each Gaussian head).

        :param actor: the multi-head actor.
        :param states: the snippet states, flattened (``B * T``).
        :param batch_shape: ``(B, T)``, to unflatten the heads' terms.
        """

    @abstractmethod
    def log_prob(self, terms: HeadTerms, actions: th.Tensor) -> th.Tensor:
        """
        ``log pi_k(a|s)`` of the stored actions under every head.

        :param terms: every head at the snippet states.
        :param actions: the stored actions (``[B, T, A]`` Box, ``[B, T, 1]`` Discrete).
        """

    @abstractmethod
    def soft_value_and_taken_q(
        self, critic: "MultiHeadCritic", states: PyTorchObs, terms: HeadTerms, actions: th.Tensor, ent_coefs: th.Tensor
    ) -> tuple[th.Tensor, th.Tensor]:
        """
        In one critic pass: the soft value ``V_k(s) = E_{a~pi_k}[Q_k(s, a) - alpha_k log pi_k(a|s)]`` (Retrace's ``v_next``)
        and ``Q_k(s, a)`` of the stored actions.

        :param critic: the critic that gives the values.
        :param states: the snippet states, flattened (``B * T``).
        :param terms: every head at those states.
        :param actions: the stored actions (``[B, T, A]`` Box, ``[B, T, 1]`` Discrete).
        :param ent_coefs: ``[K]`` temperatures ``alpha_k``.
        """

    @abstractmethod
    def taken_q(self, critic: "MultiHeadCritic", states: PyTorchObs, actions: th.Tensor) -> th.Tensor:
        """
        ``[n_critics, B * T, K]`` every critic's ``Q_k(s, a)`` of the stored actions, with gradients to the critic.

        :param critic: the critic that is trained.
        :param states: the snippet states, flattened (``B * T``).
        :param actions: the stored actions (``[B, T, A]`` Box, ``[B, T, 1]`` Discrete).
        """

    @abstractmethod
    def actor_objective(
        self, critic: "MultiHeadCritic", states: PyTorchObs, terms: HeadTerms, ent_coefs: th.Tensor
    ) -> tuple[th.Tensor, th.Tensor]:
        """
        Policy improvement, per task: ``E_{a~pi_k}[alpha_k log pi_k(a|s) - Q_k(s, a)]`` with gradients to the actor only
        (reparameterised for Gaussian heads, an exact expectation for categorical ones).

        :param critic: the critic that gives the values.
        :param states: the snippet states, flattened (``B * T``).
        :param terms: every head at those states.
        :param ent_coefs: ``[K]`` temperatures ``alpha_k``.
        :return: the objective and ``E_{a~pi_k}[Q_k(s, a)]``, each ``[B, T, K]``.
        """


class GaussianHeads(ActionFamily):
    """Squashed Gaussian heads and ``Q(s, a) -> K`` critics (Box actions): expectations by one reparameterised sample."""

    def auto_target_entropy(self, action_space: spaces.Space) -> float:
        return -float(np.prod(action_space.shape))  # SAC's -|A|

    def uniform_log_density(self, action_space: spaces.Space) -> float:
        return -float(np.prod(action_space.shape)) * math.log(2.0)  # uniform on [-1, 1]^|A|

    def stored_action(self, policy: BasePolicy, env_actions: np.ndarray) -> np.ndarray:
        return policy.scale_action(env_actions)

    def env_action(self, policy: BasePolicy, stored_actions: np.ndarray) -> np.ndarray:
        return policy.unscale_action(stored_actions)

    def act(
        self, actor: "MultiHeadActor", obs: PyTorchObs, tasks: th.Tensor, deterministic: bool = False
    ) -> tuple[th.Tensor, th.Tensor]:
        rows = th.arange(len(tasks), device=tasks.device)
        mean, log_std = actor.gaussian_params(obs)
        mean, log_std = mean[rows, tasks], log_std[rows, tasks]
        actions = th.tanh(mean) if deterministic else squashed_gaussian_sample(mean, log_std)[0]
        # log mu from the float32 action as stored, through the function the learner computes log pi with: from the
        # pre-tanh sample it would disagree with the learner's at saturated actions (|u| > ~7, where tanh rounds to
        # +-1), and Retrace would cut traces that pi = mu leaves whole (SPEC section 8, the review's defect)
        return actions, squashed_action_log_prob(mean, log_std, actions)

    def heads(self, actor: "MultiHeadActor", states: PyTorchObs, batch_shape: tuple[int, int]) -> GaussianTerms:
        mean, log_std = actor.gaussian_params(states)
        actions, log_pi = squashed_gaussian_sample(mean, log_std)
        return GaussianTerms(
            *(field.view(*batch_shape, *field.shape[1:]) for field in (log_pi, mean, log_std, actions))  # type: ignore[arg-type]
        )

    def log_prob(self, terms: GaussianTerms, actions: th.Tensor) -> th.Tensor:  # type: ignore[override]
        return squashed_action_log_prob(terms.mean, terms.log_std, actions.unsqueeze(-2))

    def soft_value_and_taken_q(  # type: ignore[override]
        self, critic: "MultiHeadCritic", states: PyTorchObs, terms: GaussianTerms, actions: th.Tensor, ent_coefs: th.Tensor
    ) -> tuple[th.Tensor, th.Tensor]:
        # The K heads' own actions (soft values), then the stored action, at every state: one pass of K + 1 actions
        all_actions = th.cat([terms.actions, actions.unsqueeze(-2)], dim=-2)
        values = critic(states, all_actions.flatten(0, 1)).min(dim=0).values
        values = values.view(*terms.expected_log_pi.shape[:2], *values.shape[1:])
        return task_diagonal(values) - ent_coefs * terms.expected_log_pi, values[..., -1, :]

    def taken_q(self, critic: "MultiHeadCritic", states: PyTorchObs, actions: th.Tensor) -> th.Tensor:
        return critic(states, actions.flatten(0, 1).unsqueeze(1)).squeeze(2)

    def actor_objective(  # type: ignore[override]
        self, critic: "MultiHeadCritic", states: PyTorchObs, terms: GaussianTerms, ent_coefs: th.Tensor
    ) -> tuple[th.Tensor, th.Tensor]:
        values = critic.values_for_actor(states, terms.actions.flatten(0, 1)).min(dim=0).values
        q_value = task_diagonal(values).view_as(terms.expected_log_pi)
        return ent_coefs * terms.expected_log_pi - q_value, q_value


class CategoricalHeads(ActionFamily):
    """Categorical heads and ``Q(s) -> K x |A|`` critics (Discrete actions): exact expectations over the actions."""

    def auto_target_entropy(self, action_space: spaces.Space) -> float:
        return DISCRETE_TARGET_ENTROPY_FRACTION * math.log(action_space.n)  # type: ignore[attr-defined]

    def uniform_log_density(self, action_space: spaces.Space) -> float:
        return -math.log(action_space.n)  # type: ignore[attr-defined]

    def stored_action(self, policy: BasePolicy, env_actions: np.ndarray) -> np.ndarray:
        return env_actions

    def env_action(self, policy: BasePolicy, stored_actions: np.ndarray) -> np.ndarray:
        return stored_actions

    def act(
        self, actor: "MultiHeadActor", obs: PyTorchObs, tasks: th.Tensor, deterministic: bool = False
    ) -> tuple[th.Tensor, th.Tensor]:
        log_probs = actor.log_probs(obs)[th.arange(len(tasks), device=tasks.device), tasks]
        if deterministic:
            actions = log_probs.argmax(dim=-1)
        else:
            actions = th.distributions.Categorical(logits=log_probs).sample()
        return actions, log_probs.gather(-1, actions.unsqueeze(-1)).squeeze(-1)

    def heads(self, actor: "MultiHeadActor", states: PyTorchObs, batch_shape: tuple[int, int]) -> CategoricalTerms:
        log_probs = actor.log_probs(states).view(*batch_shape, actor.n_tasks, -1)
        return CategoricalTerms(expected_log_pi=(log_probs.exp() * log_probs).sum(dim=-1), log_probs=log_probs)

    def log_prob(self, terms: CategoricalTerms, actions: th.Tensor) -> th.Tensor:  # type: ignore[override]
        return terms.log_probs.gather(-1, self._per_task(actions, terms.log_probs)).squeeze(-1)

    def soft_value_and_taken_q(  # type: ignore[override]
        self, critic: "MultiHeadCritic", states: PyTorchObs, terms: CategoricalTerms, actions: th.Tensor, ent_coefs: th.Tensor
    ) -> tuple[th.Tensor, th.Tensor]:
        values = critic(states).min(dim=0).values.view_as(terms.log_probs)
        soft_values = (terms.log_probs.exp() * (values - ent_coefs[:, None] * terms.log_probs)).sum(dim=-1)
        return soft_values, values.gather(-1, self._per_task(actions, values)).squeeze(-1)

    def taken_q(self, critic: "MultiHeadCritic", states: PyTorchObs, actions: th.Tensor) -> th.Tensor:
        values = critic(states)
        taken = actions.long().view(1, -1, 1, 1).expand(values.shape[0], -1, values.shape[2], 1)
        return values.gather(-1, taken).squeeze(-1)

    def actor_objective(  # type: ignore[override]
        self, critic: "MultiHeadCritic", states: PyTorchObs, terms: CategoricalTerms, ent_coefs: th.Tensor
    ) -> tuple[th.Tensor, th.Tensor]:
        # An exact expectation: the gradient flows through the probabilities, never through Q
        with th.no_grad():
            values = critic(states).min(dim=0).values.view_as(terms.log_probs)
        probabilities = terms.log_probs.exp()
        objective = (probabilities * (ent_coefs[:, None] * terms.log_probs - values)).sum(dim=-1)
        return objective, (probabilities * values).sum(dim=-1).detach()

    @staticmethod
    def _per_task(actions: th.Tensor, like: th.Tensor) -> th.Tensor:
        """``[B, T, 1]`` action indices -> ``[B, T, K, 1]``, to gather every task's value of the action."""
        return actions.long().unsqueeze(-2).expand(*like.shape[:-1], 1)


def action_family(action_space: spaces.Space) -> ActionFamily:
    """
    The :class:`ActionFamily` of an action space: categorical heads for Discrete actions, Gaussian ones for Box.

    :param action_space: the env's action space (checked by ``sb3_sacx.validation.check_spaces``).
    """
    return CategoricalHeads() if isinstance(action_space, spaces.Discrete) else GaussianHeads()
