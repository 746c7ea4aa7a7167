"""The learner's internals: behaviour log-probabilities, rewards as the critics see them, masked means."""

import math

import numpy as np
import pytest
import torch as th
from gymnasium import spaces
from stable_baselines3.common.envs import FakeImageEnv
from test_retrace import naive_retrace
from toy_envs import PointReach, go_right, point_reach

from sb3_sacx import SACX, AuxRewardWrapper
from sb3_sacx.buffers import SnippetSamples
from sb3_sacx.heads import squashed_action_log_prob, terms_at_steps
from sb3_sacx.retrace import masked_mean, snippet_states, take_steps
from sb3_sacx.rewards import learner_rewards


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
        actions, behaviour_log_probs = model.policy.action_family.act(
            model.actor, observations, th.zeros(4_000, dtype=th.long)
        )
        # The action goes through the replay buffer as float32 numpy; the learner recomputes log pi from it
        stored_actions = th.as_tensor(actions.numpy().astype(np.float32)).view(1, -1, 1)
        heads = model.policy.action_family.heads(model.actor, observations, (1, 4_000))
        log_pi = model.policy.action_family.log_prob(heads, stored_actions)[0, :, 0]
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
    gamma, main_reward_scale = 0.9, 10.0
    # A step flagged absorbing that is not a termination (a truncation, a wrapper's choice) keeps its reward: the
    # bootstrap from s_{t+1} already values what follows
    rewards = learner_rewards(snippets_with_flags(terminations=[0.0, 0.0], absorbing=[1.0, 1.0]), gamma, main_reward_scale)
    th.testing.assert_close(rewards[0, :, 1], th.tensor([0.5, 0.25]))
    rewards = learner_rewards(snippets_with_flags(terminations=[0.0, 1.0], absorbing=[0.0, 1.0]), gamma, main_reward_scale)
    th.testing.assert_close(rewards[0, :, 1], th.tensor([0.5, 0.25 + 0.9 * 0.25 / (1 - 0.9)]))
    # The main task is never absorbing: its reward is only scaled
    th.testing.assert_close(rewards[0, :, 0], th.tensor([0.0, 10.0]))


def random_snippets(model: SACX, n_snippets: int, retrace_steps: int, generator: th.Generator) -> SnippetSamples:
    """Snippets of ``model``'s 1-D PointReach env with a termination, a truncation, masked steps and rewards."""
    states = th.rand(n_snippets, retrace_steps + 1, 1, generator=generator) * 2 - 1
    if isinstance(model.action_space, spaces.Discrete):
        actions = th.randint(0, 3, (n_snippets, retrace_steps, 1), generator=generator).float()
    else:
        actions = th.rand(n_snippets, retrace_steps, 1, generator=generator) * 2 - 1
    terminations, mask = th.zeros(n_snippets, retrace_steps), th.ones(n_snippets, retrace_steps)
    terminations[1, 1] = 1.0
    mask[1, 2:] = 0.0
    mask[2, 3:] = 0.0  # step 2 of snippet 2 is a truncation: it ends the snippet but bootstraps
    main_rewards = th.zeros(n_snippets, retrace_steps)
    main_rewards[1, 1] = main_rewards[0, 3] = 1.0
    return SnippetSamples(
        observations=states[:, :-1],
        next_observations=states[:, 1:],
        actions=actions,
        main_rewards=main_rewards,
        aux_rewards=th.rand(n_snippets, retrace_steps, model.n_tasks - 1, generator=generator),
        terminations=terminations,
        aux_absorbing=th.zeros(n_snippets, retrace_steps),
        behaviour_log_probs=th.randn(n_snippets, retrace_steps, generator=generator),
        mask=mask,
    )


@pytest.mark.parametrize("discrete", [False, True])
def test_learners_retrace_targets_match_a_step_by_step_reference_from_the_networks(discrete: bool) -> None:
    """SPEC section 4's terms per snippet, step and task, with the target critic called one state at a time."""
    tasks = {"right": go_right, "left": lambda obs, action, next_obs, info: float((1.0 - next_obs[0]) / 2.0)}
    env = AuxRewardWrapper(PointReach(discrete), tasks)
    lambda_, gamma = 0.7, 0.9
    model = SACX(
        "MlpPolicy",
        env,
        seed=0,
        gamma=gamma,
        retrace_lambda=lambda_,
        main_reward_scale=10.0,
        policy_kwargs=dict(net_arch=[16, 16]),
    )
    with th.no_grad():  # a temperature per task, and a target critic that differs from the online one
        model.log_ent_coef.copy_(th.log(th.tensor([0.1, 0.2, 0.4])))
        for parameter in model.critic_target.parameters():
            parameter.add_(0.1 * th.randn_like(parameter))
    n_snippets, retrace_steps, n_tasks = 3, 4, model.n_tasks
    snippets = random_snippets(model, n_snippets, retrace_steps, th.Generator().manual_seed(0))
    states = snippet_states(snippets.observations, snippets.next_observations)
    ent_coefs = model.ent_coefs.detach()
    with th.no_grad():
        heads = model.policy.action_family.heads(
            model.actor, take_steps(states, 0, retrace_steps + 1), (n_snippets, retrace_steps + 1)
        )
        targets = model._retrace_targets(
            snippets, take_steps(states, 1, retrace_steps + 1), terms_at_steps(heads, 1, retrace_steps + 1), ent_coefs
        )
        rewards = learner_rewards(snippets, model.gamma, 10.0)

        def target_q(state: th.Tensor, action: th.Tensor, task: int) -> float:
            """Target critic Q_task(state, action), the minimum of the twins."""
            if discrete:
                return model.critic_target(state.view(1, 1)).min(dim=0).values[0, task, int(action)].item()
            return model.critic_target(state.view(1, 1), action.view(1, 1, 1)).min(dim=0).values[0, 0, task].item()

        def soft_value(snippet: int, step: int, task: int) -> float:
            """V_task(s_step) = E_{a~pi_task}[Q_task(s_step, a) - alpha_task log pi_task(a|s_step)]."""
            state, alpha = states[snippet, step], ent_coefs[task].item()
            if discrete:
                log_probs = heads.log_probs[snippet, step, task]
                return sum(p.exp().item() * (target_q(state, a, task) - alpha * p.item()) for a, p in enumerate(log_probs))
            action = heads.actions[snippet, step, task]
            return target_q(state, action, task) - alpha * heads.expected_log_pi[snippet, step, task].item()

        def log_pi(snippet: int, step: int, task: int) -> float:
            """log pi_task(a_step|s_step) of the action stored at that step."""
            action = snippets.actions[snippet, step]
            if discrete:
                return heads.log_probs[snippet, step, task, int(action)].item()
            return squashed_action_log_prob(heads.mean[snippet, step, task], heads.log_std[snippet, step, task], action).item()

        # Every term of the recursion from the networks, one state at a time; the recursion itself is test_retrace's
        terms = {name: np.zeros((n_snippets, retrace_steps, n_tasks)) for name in ("q_taken", "v_next", "log_rhos")}
        for index in np.ndindex(n_snippets, retrace_steps, n_tasks):
            snippet, step, task = index
            terms["q_taken"][index] = target_q(states[snippet, step], snippets.actions[snippet, step], task)
            terms["v_next"][index] = soft_value(snippet, step + 1, task)
            terms["log_rhos"][index] = log_pi(snippet, step, task) - snippets.behaviour_log_probs[snippet, step].item()
    discounts = gamma * (1.0 - snippets.terminations.numpy())
    expected = naive_retrace(rewards.numpy(), discounts, **terms, mask=snippets.mask.numpy(), lambda_=lambda_)
    valid = snippets.mask.bool().numpy()
    np.testing.assert_allclose(targets.numpy()[valid], expected[valid], rtol=1e-5, atol=1e-5)


def test_masked_mean_ignores_non_finite_values_at_masked_steps() -> None:
    values = th.tensor([[[1.0], [3.0], [math.nan]], [[5.0], [math.inf], [-math.inf]]])
    mask = th.tensor([[1.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    th.testing.assert_close(masked_mean(values, mask), th.tensor([3.0]))
    # Leading dimensions (the twin critics) are kept
    th.testing.assert_close(masked_mean(th.stack([values, 2 * values]), mask), th.tensor([[3.0], [6.0]]))


def test_actor_loss_does_not_backpropagate_through_a_critic_cnn_it_does_not_share() -> None:
    env = AuxRewardWrapper(FakeImageEnv(screen_height=36, screen_width=36, n_channels=1), {"zero": lambda *_: 0.0})
    model = SACX("CnnPolicy", env, learning_starts=30, batch_size=8, retrace_steps=4, buffer_size=100, seed=0)
    assert not model.policy.share_features_extractor
    model.learn(40)
    backward_passes = []
    model.critic.features_extractor.register_full_backward_hook(lambda *_: backward_passes.append(1))
    model._gradient_step(model.replay_buffer.sample_snippets(2, 4))
    assert len(backward_passes) == 1  # the critic loss's, and not the actor loss's


@pytest.mark.parametrize("discrete", [False, True])
def test_mixed_precision_covers_the_forward_passes_not_backward_and_optimiser_steps(discrete: bool) -> None:
    model = SACX("MlpPolicy", point_reach(discrete), learning_starts=30, batch_size=8, retrace_steps=4, mixed_precision=True)
    autocast_in_forward, autocast_in_backward, autocast_in_step = [], [], []
    for network in (model.actor, model.critic, model.critic_target):
        network.register_forward_hook(lambda *_: autocast_in_forward.append(th.is_autocast_enabled("cpu")))
    for network in (model.actor, model.critic):
        network.register_full_backward_hook(lambda *_: autocast_in_backward.append(th.is_autocast_enabled("cpu")))
    for optimizer in (model.actor.optimizer, model.critic.optimizer, model.ent_coef_optimizer):
        optimizer.register_step_pre_hook(lambda *_: autocast_in_step.append(th.is_autocast_enabled("cpu")))
    model.learn(40)  # acting runs in full precision
    autocast_in_forward.clear()
    model._gradient_step(model.replay_buffer.sample_snippets(2, 4))
    assert autocast_in_forward and all(autocast_in_forward)
    assert autocast_in_backward and not any(autocast_in_backward)
    assert len(autocast_in_step) >= 3 and not any(autocast_in_step)


def test_adam_is_fused_unless_the_user_says_otherwise() -> None:
    model = SACX("MlpPolicy", point_reach(), policy_kwargs=dict(net_arch=[8], optimizer_kwargs=dict(eps=1e-5)))
    for optimizer in (model.actor.optimizer, model.critic.optimizer, model.ent_coef_optimizer):
        assert optimizer.defaults["fused"] is True
    assert model.actor.optimizer.defaults["eps"] == 1e-5
    model.learn(150)
    unfused = SACX("MlpPolicy", point_reach(), policy_kwargs=dict(net_arch=[8], optimizer_kwargs=dict(fused=False)))
    assert not unfused.actor.optimizer.defaults["fused"] and not unfused.critic.optimizer.defaults["fused"]
    sgd = SACX("MlpPolicy", point_reach(), policy_kwargs=dict(net_arch=[8], optimizer_class=th.optim.SGD))
    assert "fused" not in sgd.policy_kwargs.get("optimizer_kwargs", {})
