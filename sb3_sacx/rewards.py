"""
The rewards as the learner sees them (SPEC sections 2 and 3): the main reward scaled by ``main_reward_scale``, the
auxiliary rewards with the value of an absorbing state where an episode ended at rest.
"""

import torch as th

from sb3_sacx.buffers import SnippetSamples

#: ``main_reward_scale="auto"`` counts a main reward as sparse when it is nonzero on at most this share of the stored
#: steps: a sparse task's first gradient step sees none or a handful (LunarLander's and MountainCar's warm-ups: 0 %), a
#: dense reward most (SB3's identity env under random actions: ~44 %)
SPARSE_REWARD_FRACTION = 0.1


def is_sparse(rewarded_fraction: float) -> bool:
    """
    :param rewarded_fraction: the share of the stored steps with a nonzero main reward.
    :return: whether the main reward is sparse: nonzero on at most :data:`SPARSE_REWARD_FRACTION` of the stored steps.
    """
    return rewarded_fraction <= SPARSE_REWARD_FRACTION


def auto_main_reward_scale(rewarded_fraction: float, gamma: float) -> float:
    """
    What ``main_reward_scale="auto"`` decides: ``1/(1-gamma)`` for a sparse main reward (:func:`is_sparse`), so that its
    values live on the scale of the auxiliary tasks' (returns of rewards in [0, 1] reach ``1/(1-gamma)``); 1.0 for a
    dense one, which needs no help.

    :param rewarded_fraction: the share of the stored steps with a nonzero main reward.
    :param gamma: the discount factor.
    :return: the factor on the main reward.
    """
    return 1.0 / (1.0 - gamma) if is_sparse(rewarded_fraction) else 1.0


def learner_rewards(snippets: SnippetSamples, gamma: float, main_reward_scale: float) -> th.Tensor:
    """
    The rewards of every task as the learner sees them. The main reward is scaled by ``main_reward_scale``; an auxiliary
    reward gets the value of an absorbing state added where the episode terminated at rest (``r + gamma * r / (1 -
    gamma)``, SPEC section 3), so that resting is not worth less than flying on. A step flagged absorbing that does not
    terminate the episode (a truncation) gets no bonus.

    :param snippets: ``B`` snippets of ``T`` steps; read are ``main_rewards`` ``[B, T]``, ``aux_rewards``
        ``[B, T, K - 1]``, ``aux_absorbing`` ``[B, T]`` (1.0 where the step ended at rest) and ``terminations``
        ``[B, T]`` (1.0 where the step terminated the episode, not a truncation).
    :param gamma: the discount factor.
    :param main_reward_scale: the factor on the main reward.
    :return: ``[B, T, K]`` rewards, the main task first.
    """
    # Only a step that ends the episode can lead into an absorbing state: elsewhere the bootstrap already values s_{t+1}
    absorbing = snippets.aux_absorbing * snippets.terminations
    absorbing_value = gamma / (1.0 - gamma) * snippets.aux_rewards * absorbing[..., None]
    main = snippets.main_rewards[..., None] * main_reward_scale
    return th.cat([main, snippets.aux_rewards + absorbing_value], dim=-1)
