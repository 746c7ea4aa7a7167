"""
Multi-head SAC-X policies: one actor head and one Q head per intention on shared networks
(Riedmiller et al., 2018, section 5), with every head computed in one batched forward pass.

Box actions use squashed Gaussian heads and twin critics ``Q(s, a) -> K`` values; Discrete actions use
categorical heads and twin critics ``Q(s) -> K x |A|`` values. What the update computes from the heads of each kind is
in :mod:`sb3_sacx.heads`.
"""

import math
from itertools import pairwise
from typing import Any, Optional, Union

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.policies import BaseModel, BasePolicy
from stable_baselines3.common.preprocessing import get_action_dim
from stable_baselines3.common.torch_layers import (
    BaseFeaturesExtractor,
    CombinedExtractor,
    FlattenExtractor,
    NatureCNN,
    create_mlp,
    get_actor_critic_arch,
)
from stable_baselines3.common.type_aliases import PyTorchObs, Schedule
from torch import nn
from torch.nn import functional as F

from sb3_sacx.heads import LOG_STD_MAX, LOG_STD_MIN, action_family


class CriticEnsemble(nn.Module):
    """
    ``n_critics`` MLPs evaluated as one batched network (one ``baddbmm`` per layer for all of them).

    The action, if any, enters at layer ``action_layer``: 0 is the usual ``Q(concat(s, a))``; with 1, as in
    the original DDPG critic, the first layer sees the state only. A layer that takes the action is split
    into a state part, computed once per state, and an action part, so that evaluating one state with
    ``M`` actions costs the layers before ``action_layer`` once instead of ``M`` times.

    :param n_critics: number of Q networks.
    :param input_dim: size of the state features.
    :param action_dim: size of the action (0 for a state-only network).
    :param net_arch: hidden layer sizes.
    :param output_dim: outputs per network.
    :param activation_fn: activation between layers.
    :param action_layer: index of the layer whose input includes the action, in ``[0, len(net_arch)]``.
    """

    def __init__(
        self,
        n_critics: int,
        input_dim: int,
        action_dim: int,
        net_arch: list[int],
        output_dim: int,
        activation_fn: type[nn.Module] = nn.ReLU,
        action_layer: int = 0,
    ) -> None:
        super().__init__()
        if n_critics < 1:
            raise ValueError(f"n_critics must be >= 1, got {n_critics}.")
        if not 0 <= action_layer <= len(net_arch):
            raise ValueError(
                f"critic_action_layer must be in [0, {len(net_arch)}] for net_arch={net_arch}, got {action_layer}."
            )
        self.n_critics = n_critics
        self.action_layer = action_layer
        self.activation = activation_fn()
        sizes = [input_dim, *net_arch, output_dim]
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        for layer, (n_in, n_out) in enumerate(pairwise(sizes)):
            # Same initialisation as nn.Linear, whose fan-in includes the action where it enters
            bound = 1.0 / math.sqrt(n_in + (action_dim if layer == action_layer else 0))
            self.weights.append(nn.Parameter(th.empty(n_critics, n_in, n_out).uniform_(-bound, bound)))
            self.biases.append(nn.Parameter(th.empty(n_critics, 1, n_out).uniform_(-bound, bound)))
            if layer == action_layer and action_dim > 0:
                self.action_weight = nn.Parameter(th.empty(n_critics, action_dim, n_out).uniform_(-bound, bound))

    def forward(self, features: th.Tensor, actions: Optional[th.Tensor] = None) -> th.Tensor:
        """
        :param features: ``[N, input_dim]``
        :param actions: ``[N, M, action_dim]``, ``M`` actions per state (only if ``action_dim > 0``).
        :return: ``[n_critics, N, M, output_dim]`` with actions, else ``[n_critics, N, output_dim]``.
        """
        n_states = features.shape[0]
        hidden = features.unsqueeze(0).expand(self.n_critics, -1, -1)
        n_layers = len(self.weights)
        for layer in range(n_layers):
            hidden = th.baddbmm(self.biases[layer], hidden, self.weights[layer])
            if actions is not None and layer == self.action_layer:
                # bmm on an expanded view: a broadcasting matmul's backward copies the [n_critics, N * M, width] gradient
                flat_actions = actions.reshape(1, -1, actions.shape[-1]).expand(self.n_critics, -1, -1)
                action_part = th.bmm(flat_actions, self.action_weight)
                hidden = (hidden.unsqueeze(2) + action_part.view(self.n_critics, n_states, actions.shape[1], -1)).flatten(1, 2)
            if layer < n_layers - 1:
                hidden = self.activation(hidden)
        # float32 whatever precision autocast ran the layers in (SACX's mixed_precision), for the losses and Retrace
        if actions is not None:
            return hidden.view(self.n_critics, n_states, actions.shape[1], -1).float()
        return hidden.float()


class MultiHeadCritic(BaseModel):
    """
    Twin (``n_critics``) multi-head critics in one batched network.

    Box actions: ``Q(s, a) -> [K]``; Discrete actions: ``Q(s) -> [K, |A|]``.

    :param observation_space: observation space.
    :param action_space: Box or Discrete action space.
    :param net_arch: hidden layer sizes.
    :param features_extractor: network turning observations into features.
    :param features_dim: number of features.
    :param n_tasks: number of intentions K.
    :param activation_fn: activation function.
    :param normalize_images: divide image observations by 255.
    :param n_critics: number of Q networks (the minimum is used, as in TD3/SAC).
    :param share_features_extractor: whether the features extractor is the actor's (then it is not trained here).
    :param critic_action_layer: where the action enters a Box critic (see :class:`CriticEnsemble`).
    """

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        net_arch: list[int],
        features_extractor: BaseFeaturesExtractor,
        features_dim: int,
        n_tasks: int,
        activation_fn: type[nn.Module] = nn.ReLU,
        normalize_images: bool = True,
        n_critics: int = 2,
        share_features_extractor: bool = False,
        critic_action_layer: int = 0,
    ) -> None:
        super().__init__(
            observation_space, action_space, features_extractor=features_extractor, normalize_images=normalize_images
        )
        self.n_tasks = n_tasks
        self.share_features_extractor = share_features_extractor
        self.discrete = isinstance(action_space, spaces.Discrete)
        if self.discrete:
            self.n_actions = int(action_space.n)
            self.q_net = CriticEnsemble(n_critics, features_dim, 0, net_arch, n_tasks * self.n_actions, activation_fn)
        else:
            action_dim = get_action_dim(action_space)
            self.q_net = CriticEnsemble(
                n_critics, features_dim, action_dim, net_arch, n_tasks, activation_fn, action_layer=critic_action_layer
            )

    def forward(self, obs: PyTorchObs, actions: Optional[th.Tensor] = None) -> Union[th.Tensor, tuple[th.Tensor, ...]]:
        """
        :param obs: ``N`` observations.
        :param actions: Box only: ``[N, M, A]`` actions to evaluate for every state, or ``[N, A]``, one per state, as
            SB3's SAC calls its critic.
        :return: Box: ``[n_critics, N, M, K]``; for ``[N, A]`` actions SAC's answer, a tuple of ``n_critics``
            main-task Q-values ``[N, 1]`` (in the learner's units: the main reward times ``main_reward_scale``);
            Discrete: ``[n_critics, N, K, |A|]``.
        """
        # As in SB3, a shared features extractor is trained by the actor only
        with th.set_grad_enabled(not self.share_features_extractor):
            features = self.extract_features(obs, self.features_extractor)
        if actions is not None and actions.dim() == 2 and not self.discrete:
            # Tools written for SAC call critic(obs, actions) and read one [N, 1] Q-value per critic: the main task's
            return tuple(self._q_values(features, actions.unsqueeze(1))[:, :, 0, :1])
        return self._q_values(features, actions)

    def values_for_actor(self, obs: PyTorchObs, actions: Optional[th.Tensor] = None) -> th.Tensor:
        """
        :meth:`forward` for the actor loss: its gradient reaches the actor through the actions only, never the
        critic's weights or its features extractor (a CNN that the actor does not share costs no backward pass).

        :param obs: ``N`` observations.
        :param actions: Box only: ``[N, M, A]`` actions to evaluate for every state.
        :return: Box: ``[n_critics, N, M, K]``; Discrete: ``[n_critics, N, K, |A|]``.
        """
        with th.no_grad():
            features = self.extract_features(obs, self.features_extractor)
        self.q_net.requires_grad_(False)
        try:
            return self._q_values(features, actions)
        finally:
            self.q_net.requires_grad_(True)

    def _q_values(self, features: th.Tensor, actions: Optional[th.Tensor]) -> th.Tensor:
        if self.discrete:
            values = self.q_net(features)
            return values.view(*values.shape[:2], self.n_tasks, self.n_actions)
        return self.q_net(features, actions)


class MultiHeadActor(BasePolicy):
    """
    One policy head per intention on a shared trunk: squashed Gaussian heads for Box actions,
    categorical heads for Discrete actions.

    :param observation_space: observation space.
    :param action_space: Box or Discrete action space.
    :param net_arch: hidden layer sizes of the shared trunk.
    :param features_extractor: network turning observations into features.
    :param features_dim: number of features.
    :param n_tasks: number of intentions K.
    :param activation_fn: activation function.
    :param normalize_images: divide image observations by 255.
    """

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        net_arch: list[int],
        features_extractor: BaseFeaturesExtractor,
        features_dim: int,
        n_tasks: int,
        activation_fn: type[nn.Module] = nn.ReLU,
        normalize_images: bool = True,
    ) -> None:
        self.discrete = isinstance(action_space, spaces.Discrete)
        super().__init__(
            observation_space,
            action_space,
            features_extractor=features_extractor,
            normalize_images=normalize_images,
            squash_output=not self.discrete,
        )
        self.action_family = action_family(action_space)
        self.n_tasks = n_tasks
        self.net_arch = net_arch
        self.features_dim = features_dim
        self.activation_fn = activation_fn
        self.latent_pi = nn.Sequential(*create_mlp(features_dim, -1, net_arch, activation_fn))
        last_dim = net_arch[-1] if len(net_arch) > 0 else features_dim
        if self.discrete:
            self.n_actions = int(action_space.n)
            self.logits = nn.Linear(last_dim, n_tasks * self.n_actions)
        else:
            self.action_dim = get_action_dim(action_space)
            self.mu = nn.Linear(last_dim, n_tasks * self.action_dim)
            self.log_std = nn.Linear(last_dim, n_tasks * self.action_dim)

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data.update(
            dict(
                net_arch=self.net_arch,
                features_dim=self.features_dim,
                n_tasks=self.n_tasks,
                activation_fn=self.activation_fn,
                features_extractor=self.features_extractor,
            )
        )
        return data

    def _latent(self, obs: PyTorchObs) -> th.Tensor:
        return self.latent_pi(self.extract_features(obs, self.features_extractor))

    def gaussian_params(self, obs: PyTorchObs) -> tuple[th.Tensor, th.Tensor]:
        """
        Box only.

        :param obs: ``N`` observations.
        :return: mean and log standard deviation before squashing, each ``[N, K, A]``.
        """
        latent = self._latent(obs)
        # float32 whatever precision autocast ran the layers in (SACX's mixed_precision): log-probabilities need it
        mean = self.mu(latent).float().view(-1, self.n_tasks, self.action_dim)
        log_std = th.clamp(self.log_std(latent).float(), LOG_STD_MIN, LOG_STD_MAX).view(-1, self.n_tasks, self.action_dim)
        return mean, log_std

    def log_probs(self, obs: PyTorchObs) -> th.Tensor:
        """
        Discrete only.

        :param obs: ``N`` observations.
        :return: ``[N, K, |A|]`` log-probabilities of every action under every head.
        """
        logits = self.logits(self._latent(obs)).float()  # float32 under SACX's mixed_precision too
        return F.log_softmax(logits.view(-1, self.n_tasks, self.n_actions), dim=-1)

    def forward(self, obs: PyTorchObs, deterministic: bool = False, task: int = 0) -> th.Tensor:
        """
        The actions of one head (intention) at a batch of observations.

        :param obs: the observations.
        :param deterministic: the head's mode (Box: the squashed mean; Discrete: the most likely action), else a sample.
        :param task: the head's index: 0 is the main task, ``1 + i`` the ``i``-th auxiliary task.
        :return: the actions, as the heads give them (Box: in [-1, 1]).
        """
        tasks = th.full((self._batch_size(obs),), task, dtype=th.long, device=self.device)
        return self.action_family.act(self, obs, tasks, deterministic)[0]

    def _predict(self, observation: PyTorchObs, deterministic: bool = False, task: int = 0) -> th.Tensor:
        return self(observation, deterministic, task)

    @staticmethod
    def _batch_size(obs: PyTorchObs) -> int:
        return len(next(iter(obs.values()))) if isinstance(obs, dict) else len(obs)


class SACXPolicy(BasePolicy):
    """
    Policy class (multi-head actor and twin multi-head critics, with target critics) for SAC-X.

    :param observation_space: observation space.
    :param action_space: Box or Discrete action space.
    :param lr_schedule: learning rate schedule (could be constant).
    :param n_tasks: number of intentions K (main task first).
    :param net_arch: hidden layer sizes, as SAC's: a list shared by actor and critic or ``dict(pi=..., qf=...)``.
    :param activation_fn: activation function.
    :param features_extractor_class: features extractor to use.
    :param features_extractor_kwargs: keyword arguments of the features extractor.
    :param normalize_images: divide image observations by 255.
    :param optimizer_class: optimizer, ``th.optim.Adam`` by default.
    :param optimizer_kwargs: extra optimizer keyword arguments, excluding the learning rate.
    :param n_critics: number of critic networks.
    :param share_features_extractor: share the features extractor between actor and critic.
    :param critic_action_layer: Box only: index of the critic layer where the action enters. 0 (default)
        concatenates it with the state as SB3's SAC does; 1 feeds it to the second layer as in DDPG,
        which makes the K actions per state that SAC-X evaluates much cheaper (see :class:`CriticEnsemble`).
    """

    actor: MultiHeadActor
    critic: MultiHeadCritic
    critic_target: MultiHeadCritic

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        lr_schedule: Schedule,
        n_tasks: int = 1,
        net_arch: Optional[Union[list[int], dict[str, list[int]]]] = None,
        activation_fn: type[nn.Module] = nn.ReLU,
        features_extractor_class: type[BaseFeaturesExtractor] = FlattenExtractor,
        features_extractor_kwargs: Optional[dict[str, Any]] = None,
        normalize_images: bool = True,
        optimizer_class: type[th.optim.Optimizer] = th.optim.Adam,
        optimizer_kwargs: Optional[dict[str, Any]] = None,
        n_critics: int = 2,
        share_features_extractor: bool = False,
        critic_action_layer: int = 0,
    ) -> None:
        super().__init__(
            observation_space,
            action_space,
            features_extractor_class,
            features_extractor_kwargs,
            optimizer_class=optimizer_class,
            optimizer_kwargs=optimizer_kwargs,
            squash_output=not isinstance(action_space, spaces.Discrete),
            normalize_images=normalize_images,
        )
        if net_arch is None:
            net_arch = [256, 256]
        actor_arch, critic_arch = get_actor_critic_arch(net_arch)
        self.n_tasks = n_tasks
        self.net_arch = net_arch
        self.activation_fn = activation_fn
        self.n_critics = n_critics
        self.critic_action_layer = critic_action_layer
        self.share_features_extractor = share_features_extractor
        common = dict(
            observation_space=self.observation_space,
            action_space=self.action_space,
            n_tasks=n_tasks,
            activation_fn=activation_fn,
            normalize_images=normalize_images,
        )
        self.actor_kwargs = dict(common, net_arch=actor_arch)
        self.critic_kwargs = dict(
            common,
            net_arch=critic_arch,
            n_critics=n_critics,
            share_features_extractor=share_features_extractor,
            critic_action_layer=critic_action_layer,
        )
        self.action_family = action_family(action_space)
        self._build(lr_schedule)

    def _build(self, lr_schedule: Schedule) -> None:
        self.actor = self.make_actor()
        self.actor.optimizer = self.optimizer_class(self.actor.parameters(), lr=lr_schedule(1), **self.optimizer_kwargs)
        if self.share_features_extractor:
            self.critic = self.make_critic(features_extractor=self.actor.features_extractor)
            critic_parameters = [param for name, param in self.critic.named_parameters() if "features_extractor" not in name]
        else:
            self.critic = self.make_critic()
            critic_parameters = list(self.critic.parameters())
        self.critic_target = self.make_critic()
        self.critic_target.load_state_dict(self.critic.state_dict())
        self.critic.optimizer = self.optimizer_class(critic_parameters, lr=lr_schedule(1), **self.optimizer_kwargs)
        self.critic_target.set_training_mode(False)

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data.update(
            dict(
                n_tasks=self.n_tasks,
                net_arch=self.net_arch,
                activation_fn=self.activation_fn,
                n_critics=self.n_critics,
                share_features_extractor=self.share_features_extractor,
                critic_action_layer=self.critic_action_layer,
                lr_schedule=self._dummy_schedule,
                optimizer_class=self.optimizer_class,
                optimizer_kwargs=self.optimizer_kwargs,
                features_extractor_class=self.features_extractor_class,
                features_extractor_kwargs=self.features_extractor_kwargs,
            )
        )
        return data

    def make_actor(self, features_extractor: Optional[BaseFeaturesExtractor] = None) -> MultiHeadActor:
        """
        :param features_extractor: a features extractor to share; ``None`` builds one for the actor.
        :return: a new actor with one head per task.
        """
        return MultiHeadActor(**self._update_features_extractor(self.actor_kwargs, features_extractor)).to(self.device)

    def make_critic(self, features_extractor: Optional[BaseFeaturesExtractor] = None) -> MultiHeadCritic:
        """
        :param features_extractor: a features extractor to share; ``None`` builds one for the critic.
        :return: a new critic (twin critics by default) with one Q head per task.
        """
        return MultiHeadCritic(**self._update_features_extractor(self.critic_kwargs, features_extractor)).to(self.device)

    def forward(self, obs: PyTorchObs, deterministic: bool = False, task: int = 0) -> th.Tensor:
        """
        The actions of one head (intention): :meth:`MultiHeadActor.forward`.

        :param obs: the observations.
        :param deterministic: the head's mode, else a sample.
        :param task: the head's index: 0 is the main task, ``1 + i`` the ``i``-th auxiliary task.
        """
        return self._predict(obs, deterministic=deterministic, task=task)

    def _predict(self, observation: PyTorchObs, deterministic: bool = False, task: int = 0) -> th.Tensor:
        return self.actor(observation, deterministic, task)

    def predict(
        self,
        observation: Union[np.ndarray, dict[str, np.ndarray]],
        state: Optional[tuple[np.ndarray, ...]] = None,
        episode_start: Optional[np.ndarray] = None,
        deterministic: bool = False,
        task: int = 0,
    ) -> tuple[np.ndarray, Optional[tuple[np.ndarray, ...]]]:
        """
        SB3's ``predict`` with the acting head chosen by ``task`` (an index into the algorithm's ``task_names``).
        The task travels as an argument, not as state on the policy, so that threads may predict for different tasks.

        :param observation: the input observation.
        :param state: unused (no recurrent policies).
        :param episode_start: unused.
        :param deterministic: return deterministic actions.
        :param task: index of the acting head.
        :return: the action and the (unused) state.
        """
        if not 0 <= task < self.n_tasks:
            raise ValueError(f"task index {task} is out of range: this policy has {self.n_tasks} heads.")
        if isinstance(observation, tuple) and len(observation) == 2 and isinstance(observation[1], dict):
            raise ValueError("predict() got the (obs, info) tuple of env.reset(): pass the observation only.")
        self.set_training_mode(False)
        obs_tensor, vectorized_env = self.obs_to_tensor(observation)
        with th.no_grad():
            actions = self._predict(obs_tensor, deterministic=deterministic, task=task)
        actions = actions.cpu().numpy().reshape((-1, *self.action_space.shape))
        if isinstance(self.action_space, spaces.Box):
            actions = self.unscale_action(actions)  # the heads' actions are squashed to [-1, 1]
        if not vectorized_env:
            actions = actions.squeeze(axis=0)
        return actions, state

    def act(self, observation: Union[np.ndarray, dict[str, np.ndarray]], tasks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """
        Act in every environment with its intention's head, as SACX collects: a sample, and its log-probability
        ``log mu(a|s)``, which Retrace needs.

        :param observation: one observation per environment.
        :param tasks: ``[n_envs]`` index of each environment's acting head.
        :return: the actions as the replay buffer stores them (Box: squashed to [-1, 1]) and ``[n_envs]``
            log-probabilities.
        """
        self.set_training_mode(False)
        obs_tensor, _ = self.obs_to_tensor(observation)
        with th.no_grad():
            actions, log_probs = self.action_family.act(self.actor, obs_tensor, th.as_tensor(tasks, device=self.device))
        return actions.cpu().numpy().reshape((-1, *self.action_space.shape)), log_probs.cpu().numpy()

    def set_training_mode(self, mode: bool) -> None:
        self.actor.set_training_mode(mode)
        self.critic.set_training_mode(mode)
        self.training = mode


MlpPolicy = SACXPolicy


class CnnPolicy(SACXPolicy):
    """
    :class:`SACXPolicy` with SB3's ``NatureCNN`` features extractor, for image observations.

    :param features_extractor_class: the features extractor; the other arguments are :class:`SACXPolicy`'s.
    """

    def __init__(self, *args: Any, features_extractor_class: type[BaseFeaturesExtractor] = NatureCNN, **kwargs: Any) -> None:
        super().__init__(*args, features_extractor_class=features_extractor_class, **kwargs)


class MultiInputPolicy(SACXPolicy):
    """
    :class:`SACXPolicy` with SB3's ``CombinedExtractor``, for Dict observations.

    :param features_extractor_class: the features extractor; the other arguments are :class:`SACXPolicy`'s.
    """

    def __init__(
        self, *args: Any, features_extractor_class: type[BaseFeaturesExtractor] = CombinedExtractor, **kwargs: Any
    ) -> None:
        super().__init__(*args, features_extractor_class=features_extractor_class, **kwargs)
