"""The learner's internals: behaviour log-probabilities, rewards as the critics see them, masked means."""

import math

import numpy as np
import pytest
import torch as th
from toy_envs import point_reach

from sb3_sacx import SACX
from sb3_sacx.buffers import SnippetSamples
from sb3_sacx.policies import squashed_action_log_prob
from sb3_sacx.sacx import masked_mean


def saturating_actor(model: SACX, pre_squash_mean: float) -> None:
    """Every head's Gaussian: mean ``pre_squash_mean`` and standard deviation 1 before tanh, whatever the state."""
    with th.no_grad():
        for layer in (model.actor.mu, model.actor.log_std):
            layer.weight.zero_()
        model.actor.mu.bias.fill_(pre_squash_mean)
        model.actor.log_std.bias.zero_()


@pytest.mark.parametrize("pre_squash_mean", [0.0, 6.0, 8.0, -10.0])
def test_retrace_trace_is_one_when_the_policy_is_the_behaviour_even_at_saturated_actions(pre_squash_mean: float) -> None:
    model = SACX("MlpPolicy", point_reach(), seed=0, policy_kwargs=dict(net_arch=[8]))
    saturating_actor(model, pre_squash_mean)
    observations = th.zeros(4_000, 1)
    with th.no_grad():
        actions, behaviour_log_probs = model.actor.act(observations, th.zeros(4_000, dtype=th.long))
        mean, log_std = model.actor.gaussian_params(observations)
    # The action goes through the replay buffer as float32 numpy, and the learner recomputes log pi from it
    stored_actions = th.as_tensor(actions.numpy().astype(np.float32))
    log_pi = squashed_action_log_prob(mean[:, 0], log_std[:, 0], stored_actions)
    traces = th.exp(th.clamp(log_pi - behaviour_log_probs, max=0.0))
    # Before the fix, log mu came from the pre-tanh sample: mean c 0.655 at a pre-squash mean of 8
    th.testing.assert_close(traces, th.ones_like(traces), atol=1e-5, rtol=0.0)


def snippets_with_flags(terminations: list[float], absorbing: list[float]) -> SnippetSamples:
    shape = (1, len(terminations))
    return SnippetSamples(
        observations=th.zeros(*shape, 1),
        next_observations=th.zeros(*shape, 1),
        actions=th.zeros(*shape, 1),
        main_rewards=th.tensor([[0.0, 1.0]]),
        aux_rewards=th.tensor([[[0.5], [0.25]]]),
        terminations=th.tensor([terminations]),
        aux_absorbing=th.tensor([absorbing]),
        behaviour_log_probs=th.zeros(shape),
        mask=th.ones(shape),
    )


def test_absorbing_bonus_only_on_a_step_that_terminates() -> None:
    model = SACX("MlpPolicy", point_reach(), seed=0, gamma=0.9, policy_kwargs=dict(net_arch=[8]))
    # A step flagged absorbing that is not a termination (a truncation, a wrapper's choice) keeps its reward: the
    # bootstrap from s_{t+1} already values what follows
    rewards = model._task_rewards(snippets_with_flags(terminations=[0.0, 0.0], absorbing=[1.0, 1.0]))
    th.testing.assert_close(rewards[0, :, 1], th.tensor([0.5, 0.25]))
    rewards = model._task_rewards(snippets_with_flags(terminations=[0.0, 1.0], absorbing=[0.0, 1.0]))
    th.testing.assert_close(rewards[0, :, 1], th.tensor([0.5, 0.25 + 0.9 * 0.25 / (1 - 0.9)]))
    # The main task is never absorbing: its reward is only scaled (main_reward_scale "auto" = 1 / (1 - gamma))
    th.testing.assert_close(rewards[0, :, 0], th.tensor([0.0, 10.0]))


def test_masked_mean_ignores_non_finite_values_at_masked_steps() -> None:
    values = th.tensor([[[1.0], [3.0], [math.nan]], [[5.0], [math.inf], [-math.inf]]])
    mask = th.tensor([[1.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    th.testing.assert_close(masked_mean(values, mask), th.tensor([3.0]))
    # Leading dimensions (the twin critics) are kept
    th.testing.assert_close(masked_mean(th.stack([values, 2 * values]), mask), th.tensor([[3.0], [6.0]]))
