"""
What SACX writes to SB3's logger beyond SAC's keys (SPEC section 2): per task, the return of the episodes collected,
the losses, temperatures, values and entropies of the gradient steps; the scheduler's choice probabilities.
"""

from collections.abc import Sequence

import numpy as np
import torch as th
from stable_baselines3.common.logger import Logger


def record_rollout(logger: Logger, task_names: Sequence[str], task_returns: np.ndarray, probabilities: np.ndarray) -> None:
    """
    The recent training episodes' mean return per task and the scheduler's choice probabilities.

    :param logger: the model's logger.
    :param task_names: the model's tasks.
    :param task_returns: ``[n_episodes, K]`` the recent training episodes' returns per task (none yet: not logged).
    :param probabilities: ``[K]`` the scheduler's choice probabilities at an episode's start.
    """
    if len(task_returns) > 0:
        for name, mean_return in zip(task_names, task_returns.mean(axis=0)):
            logger.record(f"rollout/return_{name}", float(mean_return))
    for name, probability in zip(task_names, probabilities):
        logger.record(f"scheduler/p_{name}", float(probability))


def record_train(
    logger: Logger, task_names: Sequence[str], steps: Sequence[dict[str, th.Tensor]], n_updates: int, main_reward_scale: float
) -> None:
    """
    The means over a rollout's gradient steps. SAC's keys keep SAC's meaning, the one task SAC learns: here the main
    task's; the sums over tasks have keys of their own, and every task its ``train/<key>_<task>``.

    :param logger: the model's logger.
    :param task_names: the model's tasks.
    :param steps: per gradient step, ``[K]`` values by key (``ent_coef_loss`` only where temperatures are learned).
    :param n_updates: gradient steps so far (SB3's ``train/n_updates``).
    :param main_reward_scale: the factor on the main reward inside the learner.
    """
    logger.record("train/n_updates", n_updates, exclude="tensorboard")
    logger.record("train/main_reward_scale", main_reward_scale)
    means = {key: th.stack([step[key] for step in steps]).mean(dim=0).cpu().numpy() for key in steps[0]}
    for key in ("actor_loss", "critic_loss", "ent_coef", "ent_coef_loss"):
        if key in means:  # as SAC: only learned temperatures have a loss
            logger.record(f"train/{key}", float(means[key][0]))
    logger.record("train/total_actor_loss", float(means["actor_loss"].sum()))
    logger.record("train/total_critic_loss", float(means["critic_loss"].sum()))
    for key in ("critic_loss", "actor_loss", "ent_coef", "q_value", "entropy"):
        for name, value in zip(task_names, means[key]):
            logger.record(f"train/{key}_{name}", float(value))
