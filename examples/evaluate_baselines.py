"""
Success rate and auxiliary returns of two reference policies on the sparse LunarLander envs.

gymnasium's hand-written heuristic lander shows what a good policy scores; a uniformly random policy
shows what exploration alone scores (it never lands). Episodes are seeded, so the table is reproducible.

Usage: ``python examples/evaluate_baselines.py [--episodes 20]``
"""

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np

import sb3_sacx  # noqa: F401  (registers the SparseLunarLander ids)
from sb3_sacx.tasks import LUNAR_LANDER_TASKS, SPARSE_LUNAR_LANDER_IDS, heuristic_action

#: A policy maps ``(env, obs)`` to an action.
Policy = Callable[[gym.Env, np.ndarray], Any]


def random_action(env: gym.Env, obs: np.ndarray) -> Any:
    """
    A uniformly random action (the env's action space is seeded with the episode seed).

    :param env: The environment.
    :param obs: The current observation (unused).
    :return: A sample from ``env.action_space``.
    """
    return env.action_space.sample()


@dataclass
class EpisodeResult:
    """Outcome of one episode: whether it landed and the summed reward of each auxiliary task."""

    success: bool
    aux_return: np.ndarray


def run_episode(env: gym.Env, policy: Policy, seed: int) -> EpisodeResult:
    """
    Run one seeded episode.

    :param env: A sparse LunarLander env from ``gym.make``.
    :param policy: The policy to run.
    :param seed: Seed for the env and its action space.
    :return: The episode's outcome.
    """
    obs, _ = env.reset(seed=seed)
    env.action_space.seed(seed)
    aux_return = np.zeros(len(env.get_wrapper_attr("aux_task_names")), dtype=np.float64)
    done = False
    info: dict[str, Any] = {}
    while not done:
        obs, _, terminated, truncated, info = env.step(policy(env, obs))
        aux_return += info["aux_rewards"]
        done = terminated or truncated
    return EpisodeResult(success=bool(info["is_success"]), aux_return=aux_return)


def evaluate(env_id: str, policy: Policy, n_episodes: int) -> tuple[float, np.ndarray]:
    """
    Success rate and mean per-task auxiliary return of ``policy`` over seeds ``0 .. n_episodes - 1``.

    :param env_id: Registered env id.
    :param policy: The policy to run.
    :param n_episodes: Number of episodes.
    :return: ``(success_rate, mean_aux_return)``.
    """
    env = gym.make(env_id)
    results = [run_episode(env, policy, seed) for seed in range(n_episodes)]
    env.close()
    success_rate = float(np.mean([result.success for result in results]))
    mean_aux_return = np.mean([result.aux_return for result in results], axis=0)
    return success_rate, mean_aux_return


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--episodes", type=int, default=20, help="seeded episodes per env and policy (seeds 0..N-1)")
    args = parser.parse_args()
    if args.episodes < 1:
        parser.error("--episodes must be at least 1")

    policies: dict[str, Policy] = {"heuristic": heuristic_action, "random": random_action}
    header = ["env", "policy", "success", *LUNAR_LANDER_TASKS]
    rows = []
    for env_id in SPARSE_LUNAR_LANDER_IDS:
        for policy_name, policy in policies.items():
            success_rate, aux_return = evaluate(env_id, policy, args.episodes)
            rows.append([env_id, policy_name, f"{success_rate:.2f}", *(f"{value:.1f}" for value in aux_return)])

    print(f"{args.episodes} episodes per row; task columns: mean auxiliary return per episode (sum of info['aux_rewards'])")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())


if __name__ == "__main__":
    main()
