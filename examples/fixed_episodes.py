"""
The examples' evaluation, as the learning benchmark's (SPEC section 7): the deterministic main head on the same
episodes every time, episode ``i`` seeded ``EVAL_SEED + i`` (seeds that training never sees), run side by side in one
vectorised env. On the sparse envs the return is 1 for a success and 0 otherwise, so the mean return is the success
rate.
"""

from typing import Any

from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import EvalCallback
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.vec_env import VecEnv

# Seed of the first evaluation episode, far from those of the training episodes (the benchmark's EVAL_SEED_OFFSET)
EVAL_SEED = 1_000_000


def fixed_episodes_env(env_id: str, n_episodes: int, first_seed: int = EVAL_SEED) -> VecEnv:
    """
    One env per evaluation episode, env ``i`` seeded ``first_seed + i`` at its next reset.

    :param env_id: a registered gymnasium id.
    :param n_episodes: how many episodes an evaluation runs.
    :param first_seed: the first episode's seed.
    """
    env = make_vec_env(env_id, n_envs=n_episodes)
    env.seed(first_seed)
    return env


def success_rate(model: BaseAlgorithm, env_id: str, n_episodes: int, first_seed: int = EVAL_SEED) -> float:
    """
    The deterministic policy's success rate on fixed unseen episodes, with SB3's ``evaluate_policy``.

    :param model: any SB3 model (SACX acts with its main head).
    :param env_id: a registered sparse env (return 1 for a success, else 0).
    :param n_episodes: how many episodes.
    :param first_seed: the first episode's seed.
    """
    env = fixed_episodes_env(env_id, n_episodes, first_seed)
    mean_return, _ = evaluate_policy(model, env, n_eval_episodes=n_episodes, warn=False)
    return float(mean_return)


class FixedEpisodesEvalCallback(EvalCallback):
    """
    An ``EvalCallback`` that evaluates on the same episodes every time: its eval env has one env per episode, and
    before each evaluation env ``i`` is seeded ``EVAL_SEED + i``. A plain ``EvalCallback`` seeds its env once, so each
    evaluation would see other episodes and part of the change between two evaluations would be the episodes' own.

    :param eval_env: one env per evaluation episode (``make_vec_env(env_id, n_envs=n_eval_episodes)``).
    :param kwargs: ``EvalCallback``'s other arguments; ``n_eval_episodes`` is the eval env's number of envs.
    """

    def __init__(self, eval_env: VecEnv, **kwargs: Any) -> None:
        super().__init__(eval_env, n_eval_episodes=eval_env.num_envs, **kwargs)

    def _on_step(self) -> bool:
        if self.eval_freq > 0 and self.n_calls % self.eval_freq == 0:
            # VecEnv.seed applies at the next reset, which evaluate_policy does first
            self.eval_env.seed(EVAL_SEED)
        return super()._on_step()
