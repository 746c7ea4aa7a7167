"""Retrace targets (Munos et al., 2016), as used by SAC-X for policy evaluation (Riedmiller et al., 2018, eq. 5).

Pure tensor functions, batch-major: ``B`` snippets of ``T`` steps for ``K`` tasks.
"""

import torch as th
from stable_baselines3.common.type_aliases import PyTorchObs


def retrace_targets(
    rewards: th.Tensor,
    discounts: th.Tensor,
    q_taken: th.Tensor,
    v_next: th.Tensor,
    log_rhos: th.Tensor,
    mask: th.Tensor,
    lambda_: float = 1.0,
) -> th.Tensor:
    """
    Retrace targets for every step of a batch of trajectory snippets and every task:

    ``G_t = r_t + d_t * (v_t + c_{t+1} * (G_{t+1} - q_{t+1}))``, with ``c_t = lambda * min(1, exp(log_rhos_t))``
    and ``c_{t+1} = 0`` where step ``t`` is the last real step of its snippet.

    :param rewards: ``[B, T, K]`` reward of task k for the transition taken at step t.
    :param discounts: ``[B, T]`` ``gamma * (1 - terminated_t)``: 0 where ``s_{t+1}`` is terminal,
        ``gamma`` on a time-limit truncation.
    :param q_taken: ``[B, T, K]`` target critic ``Q_k(s_t, a_t)`` (minimum over the twins).
        Only ``t >= 1`` is read: ``q_0`` never enters a target.
    :param v_next: ``[B, T, K]`` target soft value ``V_k(s_{t+1})``.
    :param log_rhos: ``[B, T, K]`` ``log pi_k(a_t|s_t) - log mu(a_t|s_t)``. Only ``t >= 1`` is read.
    :param mask: ``[B, T]`` 1 for the snippet's real steps, 0 after its episode ended.
    :param lambda_: trace decay ``lambda`` in [0, 1]; 0 gives one-step TD targets.
    :return: ``[B, T, K]`` targets; entries at masked steps are meaningless and must not be used.
    """
    retrace_steps = rewards.shape[1]
    valid = mask.bool()
    traces = lambda_ * th.exp(th.clamp(log_rhos, max=0.0))
    targets = th.empty_like(rewards)
    bootstrap = v_next[:, -1]
    for t in reversed(range(retrace_steps)):
        if t < retrace_steps - 1:
            # Retrace correction from the next step, cut where the snippet has no next real step.
            # `where` rather than multiplication: values at masked steps may be garbage (inf, nan).
            correction = traces[:, t + 1] * (targets[:, t + 1] - q_taken[:, t + 1])
            bootstrap = v_next[:, t] + th.where(valid[:, t + 1, None], correction, th.zeros_like(correction))
        targets[:, t] = rewards[:, t] + discounts[:, t, None] * bootstrap
    return targets


def next_in_snippet(values: th.Tensor) -> th.Tensor:
    """
    ``[B, T, ...] -> [B, T, ...]``: at step t, the value of step t + 1 (e.g. the action ``a_{t+1}`` taken at
    ``s_{t+1}``); zeros at ``t = T - 1``, where the snippet has no next step.

    :param values: ``[B, T, ...]`` one value per snippet step.
    """
    return th.cat([values[:, 1:], th.zeros_like(values[:, :1])], dim=1)


def previous_in_snippet(values: th.Tensor) -> th.Tensor:
    """
    ``[B, T, ...] -> [B, T, ...]``: at step t, the value of step t - 1 (e.g. ``Q(s_t, a_t)`` computed at the
    next states ``s_{t'+1}`` of step ``t' = t - 1``); zeros at ``t = 0``.

    :param values: ``[B, T, ...]`` one value per snippet step.
    """
    return th.cat([th.zeros_like(values[:, :1]), values[:, :-1]], dim=1)


def masked_mean(values: th.Tensor, mask: th.Tensor) -> th.Tensor:
    """
    Mean over the snippets' real steps.

    :param values: ``[..., B, T, K]``
    :param mask: ``[B, T]``
    :return: ``[..., K]``
    """
    valid = mask[..., None].bool()
    # `where`, not a product: values at masked steps may be non-finite, and nan * 0 is nan
    total = th.where(valid, values, th.zeros_like(values)).sum(dim=(-3, -2))
    return total / mask.sum().clamp(min=1.0)


def snippet_states(observations: PyTorchObs, next_observations: PyTorchObs) -> PyTorchObs:
    """
    ``[B, T, ...]`` twice -> ``[B, T + 1, ...]``: the states ``s_0..s_T`` of each snippet.
    Within a snippet ``s_{t+1}`` is ``next_observations[t]``; only ``s_0`` comes from ``observations``.

    :param observations: ``[B, T, ...]`` observations ``s_t`` of the snippets (a dict of them for Dict observations).
    :param next_observations: ``[B, T, ...]`` observations ``s_{t+1}``.
    """
    if isinstance(observations, dict):
        return {key: snippet_states(observations[key], next_observations[key]) for key in observations}
    return th.cat([observations[:, :1], next_observations], dim=1)


def take_steps(states: PyTorchObs, start: int, stop: int) -> PyTorchObs:
    """
    ``[B, T + 1, ...] -> [B * (stop - start), ...]``: steps ``start..stop-1`` of every snippet, flattened.

    :param states: ``[B, T + 1, ...]`` snippet states (a dict of them for Dict observations).
    :param start: first step taken.
    :param stop: step after the last one taken.
    """
    if isinstance(states, dict):
        return {key: take_steps(value, start, stop) for key, value in states.items()}
    return states[:, start:stop].flatten(0, 1)
