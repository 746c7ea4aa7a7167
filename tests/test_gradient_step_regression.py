"""
The gradient step's numbers, pinned: one update on a fixed batch of snippets from a fixed seed gives the losses it gave
before the learner's refactor (one object per action family instead of Box/Discrete branches in ``SACX``). A change that
moves them changes what SACX learns, and must say so.
"""

from typing import Any

import pytest
import torch as th
from toy_envs import PointReach, go_right

from sb3_sacx import SACX, AuxRewardWrapper
from sb3_sacx.buffers import SnippetSamples

N_SNIPPETS, N_STEPS = 4, 3


def left(obs: Any, action: Any, next_obs: Any, info: dict) -> float:
    return float((1.0 - next_obs[0]) / 2.0)


def fixed_snippets(discrete: bool, n_aux_tasks: int) -> SnippetSamples:
    """A batch with a termination (absorbing for the auxiliary tasks), a truncation and masked steps."""
    generator = th.Generator().manual_seed(0)
    shape = (N_SNIPPETS, N_STEPS)
    if discrete:
        actions = th.randint(0, 3, (*shape, 1), generator=generator).float()
    else:
        actions = th.rand((*shape, 1), generator=generator) * 2 - 1
        actions[0, 0] = 1.0  # a saturated action
    terminations = th.zeros(shape)
    terminations[1, 1] = 1.0
    mask = th.ones(shape)
    mask[1, 2] = 0.0
    mask[2, 1:] = 0.0
    return SnippetSamples(
        observations=th.rand((*shape, 1), generator=generator) * 2 - 1,
        next_observations=th.rand((*shape, 1), generator=generator) * 2 - 1,
        actions=actions,
        main_rewards=(th.rand(shape, generator=generator) > 0.7).float(),
        aux_rewards=th.rand((*shape, n_aux_tasks), generator=generator),
        terminations=terminations,
        aux_absorbing=terminations.clone(),
        behaviour_log_probs=th.randn(shape, generator=generator) - 1.0,
        mask=mask,
    )


def one_gradient_step(discrete: bool, **sacx_kwargs: Any) -> dict[str, list[float]]:
    env = AuxRewardWrapper(PointReach(discrete), {"right": go_right, "left": left})
    # main_reward_scale: what "auto" decides for a sparse reward at SACX's gamma of 0.99, the scale the numbers were
    # pinned with (a gradient step outside learn() finds it undecided)
    settings = dict(batch_size=12, retrace_steps=N_STEPS, main_reward_scale=100.0, policy_kwargs=dict(net_arch=[16, 16]))
    model = SACX("MlpPolicy", env, seed=0, **{**settings, **sacx_kwargs})
    th.manual_seed(1)
    stats = model._gradient_step(fixed_snippets(discrete, n_aux_tasks=2))
    result = {key: value.flatten().tolist() for key, value in stats.items()}
    result["actor_weights"] = [float(sum(p.detach().double().sum() for p in model.actor.parameters()))]
    result["critic_weights"] = [float(sum(p.detach().double().sum() for p in model.critic.parameters()))]
    return result


# Measured with the learner before its refactor (commit 1cece7d), torch 2.13.0 on CPU, float32 (SACX's default on every
# CPU: mixed_precision="auto" would round the matrix multiplies to bfloat16 on a CPU with AVX512-BF16 or AMX, and moved
# critic_loss by 4e-4 there)
PINNED = {
    False: {
        "critic_loss": [17799.955078125, 800.5067749023438, 35.955291748046875],
        "actor_loss": [-0.04191984236240387, -0.7216120362281799, -0.5992124080657959],
        "ent_coef": [1.0, 1.0, 1.0],
        "q_value": [-0.44570863246917725, -0.021710433065891266, -0.15629060566425323],
        "entropy": [0.4876285791397095, 0.743322491645813, 0.7555029988288879],
        "actor_weights": [-1.8910948366392404],
        "critic_weights": [-3.27999846500461],
    },
    True: {
        "critic_loss": [18172.3203125, 807.1353149414062, 38.01532745361328],
        "actor_loss": [-1.023362159729004, -0.8515443801879883, -0.9955568313598633],
        "ent_coef": [1.0, 1.0, 1.0],
        "q_value": [-0.06387002021074295, -0.2402135282754898, -0.08661356568336487],
        "entropy": [1.0872321128845215, 1.091757893562317, 1.0821703672409058],
        "actor_weights": [-2.064419321483001],
        "critic_weights": [-0.8003789541253354],
    },
}


# The tolerance is a bound on float32 rounding, not one machine's output: each pinned value is the end of a chain of at
# most ~1000 roundings of relative size eps (3 layers of width 16 forward and backward over 12 transitions, the Retrace
# recursion, Adam's step), so CPUs whose kernels order or fuse the operations differently agree to within it. Measured:
# 2.7e-7 to 7.1e-7 under ATEN_CPU_CAPABILITY default, avx2 and avx512 on an AVX512-BF16 Xeon (exactly the pinned values
# with AVX-512 kernels); a changed update moves some value by far more (test below).
ROUNDING_TOLERANCE = dict(rel=1000 * th.finfo(th.float32).eps, abs=1e-5)


def matches_pinned(measured: dict[str, list[float]], discrete: bool) -> dict[str, bool]:
    """Per pinned value, whether ``measured`` agrees with it to within float32 rounding."""
    return {key: measured[key] == pytest.approx(expected, **ROUNDING_TOLERANCE) for key, expected in PINNED[discrete].items()}


@pytest.mark.parametrize("discrete", [False, True])
def test_gradient_step_numbers_are_pinned(discrete: bool) -> None:
    matches = matches_pinned(one_gradient_step(discrete), discrete)
    assert all(matches.values()), f"moved beyond float32 rounding: {[key for key, ok in matches.items() if not ok]}"


@pytest.mark.parametrize("discrete", [False, True])
@pytest.mark.parametrize("changed", [dict(retrace_lambda=0.9), dict(gamma=0.98), dict(main_reward_scale=50.0)])
def test_a_changed_update_fails_the_pinned_numbers(discrete: bool, changed: dict[str, Any]) -> None:
    """The tolerance is tight enough to catch a change to what SACX computes: the target's lambda, gamma, reward scale."""
    assert not all(matches_pinned(one_gradient_step(discrete, **changed), discrete).values())
